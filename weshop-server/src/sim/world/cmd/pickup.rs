//! A UPS's `pickups`: a truck drives to a warehouse (interrupting whatever it was doing; its
//! undelivered packages stay aboard) and reports `arrive warehouse` there.

use std::time::Instant;

use weshop_proto::world_ups as wu;

use super::ToUps;
use crate::{
    protocols::TruckEvent,
    sim::world::{
        PackageStatus, TruckStatus, errors,
        state::{Leg, State, Work},
    },
};

/// Sends the truck on its way.
pub(super) fn apply(
    state: &mut State,
    ups: &mut ToUps,
    now: Instant,
    pickup: wu::UGoPickup,
) -> Result<(), String> {
    let target = state.warehouse(pickup.whid)?;
    let model = state.model;
    let truck = state
        .trucks
        .get_mut(&pickup.truckid)
        .ok_or_else(|| errors::unknown_truck(pickup.truckid))?;
    // A pickup interrupts whatever the truck was doing; undelivered packages stay on it.
    let from = truck.position_at(now);
    let interrupted: Vec<i64> = truck.drops.drain(..).map(|(p, _)| p).collect();
    truck.trip += 1;
    truck.position = from;
    truck.status = TruckStatus::Traveling;
    truck.at_warehouse = None;
    let arrive = now + model.travel(from, target, ups.speed);
    truck.leg = Some(Leg {
        from,
        to: target,
        depart: now,
        arrive,
    });
    let trip = truck.trip;
    for shipid in interrupted {
        if let Some(p) = state.packages.get_mut(&shipid) {
            p.status = PackageStatus::Loaded;
        }
    }
    state.schedule(
        arrive,
        Work::AtWarehouse {
            truck: pickup.truckid,
            trip,
            warehouse: pickup.whid,
        },
    );
    Ok(())
}

/// The truck reached the warehouse (unless a newer order interrupted it): `arrive warehouse`.
pub(super) fn at_warehouse(
    state: &mut State,
    ups: &mut ToUps,
    truck: i32,
    trip: u64,
    warehouse: i32,
) {
    let Some(t) = state.trucks.get_mut(&truck) else {
        return;
    };
    if t.trip != trip {
        return; // interrupted by a newer order
    }
    let to = t.leg.map_or(t.position, |leg| leg.to);
    t.position = to;
    t.leg = None;
    t.status = if t.loading > 0 {
        TruckStatus::Loading
    } else {
        TruckStatus::ArriveWarehouse
    };
    t.at_warehouse = Some(warehouse);
    let completion = wu::UFinished {
        truckid: truck,
        x: to.0,
        y: to.1,
        status: TruckStatus::ArriveWarehouse.as_str().into(),
        seqnum: 0,
    };
    ups.session.send(TruckEvent::Completion(completion));
}
