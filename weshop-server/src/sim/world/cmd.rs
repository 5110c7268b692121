//! The world's commands, one module each (in the style of mini-redis's `cmd`): a command's
//! `apply` checks a request against the [`State`], changes it and schedules the [`Work`] that
//! takes time; when that work's timer fires, the same module finishes it and says so.
//!
//! - [`purchase`]: `buy` → `arrived`;
//! - [`pack`]: `topack` → `ready`;
//! - [`load`]: `load` → `loaded`;
//! - [`pickup`]: a UPS's `pickups` → the `arrive warehouse` completion;
//! - [`deliver`]: a UPS's `deliveries` → `delivered` per drop, then the `idle` completion;
//! - [`query`]: `queries` of either side, answered at once.
//!
//! A command that breaks a rule returns the `err` text to answer it with (see
//! [`super::errors`]).

mod deliver;
mod load;
mod pack;
mod pickup;
mod purchase;
mod query;

use std::time::Instant;

use super::{
    peer::Peer,
    state::{State, Work},
};
use crate::protocols::{TruckCommand, WorldCommand, WorldToShop, WorldToUps};

/// The world's end towards its shop.
pub(super) type ToShop = Peer<WorldToShop>;
/// The world's end towards its UPS.
pub(super) type ToUps = Peer<WorldToUps>;

/// Carries out one command of the shop.
pub(super) fn shop(
    state: &mut State,
    shop: &mut ToShop,
    now: Instant,
    command: WorldCommand,
) -> Result<(), String> {
    match command {
        WorldCommand::Buy(buy) => purchase::apply(state, shop, now, buy),
        WorldCommand::Pack(pack) => pack::apply(state, shop, now, pack),
        WorldCommand::Load(load) => load::apply(state, shop, now, load),
        WorldCommand::Query(query) => query::package(state, shop, query),
    }
}

/// Carries out one command of the UPS.
pub(super) fn ups(
    state: &mut State,
    ups: &mut ToUps,
    now: Instant,
    command: TruckCommand,
) -> Result<(), String> {
    match command {
        TruckCommand::Pickup(pickup) => pickup::apply(state, ups, now, pickup),
        TruckCommand::Deliver(deliver) => deliver::apply(state, ups, now, deliver),
        TruckCommand::Query(query) => query::truck(state, ups, now, query),
    }
}

/// Finishes work whose timer was due `at`.
pub(super) fn finish(
    state: &mut State,
    shop: &mut ToShop,
    ups: &mut ToUps,
    at: Instant,
    work: Work,
) {
    match work {
        Work::Arrive { warehouse, things } => purchase::arrived(state, shop, warehouse, things),
        Work::Packed { shipid } => pack::packed(state, shop, shipid),
        Work::Loaded { shipid, truck } => load::loaded(state, shop, shipid, truck),
        Work::AtWarehouse {
            truck,
            trip,
            warehouse,
        } => pickup::at_warehouse(state, ups, truck, trip, warehouse),
        Work::AtDrop { truck, trip } => deliver::at_drop(state, ups, at, truck, trip),
    }
}
