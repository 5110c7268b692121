//! `queries` of both sides: a package's status for the shop, a truck's for the UPS, answered
//! at once.

use std::time::Instant;

use weshop_proto::{world_amazon as wa, world_ups as wu};

use super::{ToShop, ToUps};
use crate::{
    protocols::{TruckEvent, WorldEvent},
    sim::world::{errors, state::State},
};

/// The shop asks a package's status: `packagestatus`.
pub(super) fn package(state: &State, shop: &mut ToShop, query: wa::AQuery) -> Result<(), String> {
    let package = state
        .packages
        .get(&query.packageid)
        .ok_or_else(|| errors::unknown_package(query.packageid))?;
    let status = package.status.as_str().to_string();
    shop.session.send(WorldEvent::PackageStatus(wa::APackage {
        packageid: query.packageid,
        status,
        seqnum: 0,
    }));
    Ok(())
}

/// The UPS asks a truck's status and position: `truckstatus`.
pub(super) fn truck(
    state: &State,
    ups: &mut ToUps,
    now: Instant,
    query: wu::UQuery,
) -> Result<(), String> {
    let truck = state
        .trucks
        .get(&query.truckid)
        .ok_or_else(|| errors::unknown_truck(query.truckid))?;
    let (x, y) = truck.position_at(now);
    let status = truck.status.as_str().to_string();
    ups.session.send(TruckEvent::Status(wu::UTruck {
        truckid: query.truckid,
        status,
        x,
        y,
        seqnum: 0,
    }));
    Ok(())
}
