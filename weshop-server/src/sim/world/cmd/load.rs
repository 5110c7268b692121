//! `load`: a packed package goes onto a truck waiting at its warehouse, which takes
//! [`TimeModel::load`](crate::sim::TimeModel).

use std::time::Instant;

use weshop_proto::world_amazon as wa;

use super::ToShop;
use crate::{
    protocols::WorldEvent,
    sim::{
        TimeModel,
        world::{
            PackageStatus, TruckStatus, errors,
            state::{State, Work},
        },
    },
};

/// Checks the package and the truck, and starts loading.
pub(super) fn apply(
    state: &mut State,
    shop: &mut ToShop,
    now: Instant,
    load: wa::APutOnTruck,
) -> Result<(), String> {
    state.warehouse(load.whnum)?;
    let package = state
        .packages
        .get(&load.shipid)
        .ok_or_else(|| errors::unknown_package(load.shipid))?;
    if package.warehouse != load.whnum {
        return Err(errors::wrong_warehouse(
            load.shipid,
            package.warehouse,
            load.whnum,
        ));
    }
    if package.status != PackageStatus::Packed {
        return Err(errors::not_packed(load.shipid, package.status.as_str()));
    }
    let truck = state
        .trucks
        .get_mut(&load.truckid)
        .ok_or_else(|| errors::unknown_truck(load.truckid))?;
    let at_warehouse = truck.at_warehouse == Some(load.whnum)
        && matches!(
            truck.status,
            TruckStatus::ArriveWarehouse | TruckStatus::Loading
        );
    if !at_warehouse {
        return Err(errors::truck_not_at_warehouse(
            load.truckid,
            load.whnum,
            truck.status.as_str(),
        ));
    }
    truck.status = TruckStatus::Loading;
    truck.loading += 1;
    let package = state.packages.get_mut(&load.shipid).expect("checked above");
    package.status = PackageStatus::Loading;
    package.truck = Some(load.truckid);
    let at = now + TimeModel::scale(state.model.load, shop.speed);
    state.schedule(
        at,
        Work::Loaded {
            shipid: load.shipid,
            truck: load.truckid,
        },
    );
    Ok(())
}

/// The package is on the truck: `loaded`.
pub(super) fn loaded(state: &mut State, shop: &mut ToShop, shipid: i64, truck: i32) {
    if let Some(package) = state.packages.get_mut(&shipid)
        && package.status == PackageStatus::Loading
    {
        package.status = PackageStatus::Loaded;
    }
    if let Some(t) = state.trucks.get_mut(&truck) {
        t.loading = t.loading.saturating_sub(1);
        if t.loading == 0 && t.status == TruckStatus::Loading {
            t.status = TruckStatus::ArriveWarehouse;
        }
    }
    shop.session
        .send(WorldEvent::Loaded(wa::ALoaded { shipid, seqnum: 0 }));
}
