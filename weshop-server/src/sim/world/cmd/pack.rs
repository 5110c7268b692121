//! `topack`: units leave the warehouse's stock at once and are packed after
//! [`TimeModel::packing`](crate::sim::TimeModel::packing).

use std::{collections::BTreeMap, time::Instant};

use weshop_proto::world_amazon as wa;

use super::ToShop;
use crate::{
    protocols::WorldEvent,
    sim::world::{
        PackageStatus, errors,
        state::{Package, State, Work},
    },
};

/// Checks a package against the stock, takes its units and schedules its packing.
pub(super) fn apply(
    state: &mut State,
    shop: &mut ToShop,
    now: Instant,
    pack: wa::APack,
) -> Result<(), String> {
    state.warehouse(pack.whnum)?;
    if state.packages.contains_key(&pack.shipid) {
        return Err(errors::shipid_in_use(pack.shipid));
    }
    if pack.things.is_empty() {
        return Err(errors::empty_package(pack.shipid));
    }
    let mut need: BTreeMap<i64, i64> = BTreeMap::new();
    for thing in &pack.things {
        if thing.count <= 0 {
            return Err(errors::bad_count(thing.id, thing.count));
        }
        *need.entry(thing.id).or_default() += i64::from(thing.count);
    }
    for (&product, &count) in &need {
        let have = state.stock(pack.whnum, product);
        if have < count {
            return Err(errors::insufficient_stock(pack.whnum, product, have, count));
        }
    }
    for (&product, &count) in &need {
        *state.stock.entry((pack.whnum, product)).or_default() -= count;
    }
    let units = need.values().map(|&c| c as u64).sum();
    let package = Package {
        warehouse: pack.whnum,
        status: PackageStatus::Packing,
        truck: None,
    };
    state.packages.insert(pack.shipid, package);
    let at = now + state.model.packing(units, shop.speed);
    state.schedule(
        at,
        Work::Packed {
            shipid: pack.shipid,
        },
    );
    Ok(())
}

/// The package is packed: `ready`.
pub(super) fn packed(state: &mut State, shop: &mut ToShop, shipid: i64) {
    if let Some(package) = state.packages.get_mut(&shipid) {
        package.status = PackageStatus::Packed;
    }
    shop.session
        .send(WorldEvent::Ready(wa::APacked { shipid, seqnum: 0 }));
}
