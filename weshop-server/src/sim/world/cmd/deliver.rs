//! A UPS's `deliveries`: packages loaded on a truck are dropped one after the other, each
//! reported `delivered`; a truck with no drops left reports `idle`.

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

/// Checks that every package is loaded on that truck (once), and adds them to its drops.
pub(super) fn apply(
    state: &mut State,
    ups: &mut ToUps,
    now: Instant,
    deliver: wu::UGoDeliver,
) -> Result<(), String> {
    let truck = state
        .trucks
        .get(&deliver.truckid)
        .ok_or_else(|| errors::unknown_truck(deliver.truckid))?;
    if deliver.packages.is_empty() {
        return Err(errors::empty_delivery(deliver.truckid));
    }
    let already: Vec<i64> = truck.drops.iter().map(|(p, _)| *p).collect();
    for (i, location) in deliver.packages.iter().enumerate() {
        let package = state
            .packages
            .get(&location.packageid)
            .ok_or_else(|| errors::unknown_package(location.packageid))?;
        let repeated = deliver.packages[..i]
            .iter()
            .any(|l| l.packageid == location.packageid)
            || already.contains(&location.packageid);
        if package.truck != Some(deliver.truckid)
            || package.status != PackageStatus::Loaded
            || repeated
        {
            let status = if repeated {
                PackageStatus::Delivering
            } else {
                package.status
            };
            return Err(errors::not_on_truck(
                location.packageid,
                deliver.truckid,
                status.as_str(),
            ));
        }
    }
    for location in &deliver.packages {
        state
            .packages
            .get_mut(&location.packageid)
            .expect("checked")
            .status = PackageStatus::Delivering;
    }
    let truck = state
        .trucks
        .get_mut(&deliver.truckid)
        .expect("checked above");
    let was_delivering = truck.status == TruckStatus::Delivering && !truck.drops.is_empty();
    truck
        .drops
        .extend(deliver.packages.iter().map(|l| (l.packageid, (l.x, l.y))));
    if !was_delivering {
        start_next_drop(state, ups, now, deliver.truckid);
    }
    Ok(())
}

/// The truck reached its next drop (unless a newer order interrupted it): `delivered`, and on
/// to the drop after.
pub(super) fn at_drop(state: &mut State, ups: &mut ToUps, at: Instant, truck: i32, trip: u64) {
    let Some(t) = state.trucks.get_mut(&truck) else {
        return;
    };
    if t.trip != trip {
        return;
    }
    let Some((shipid, _)) = t.drops.pop_front() else {
        return;
    };
    if let Some(leg) = t.leg.take() {
        t.position = leg.to;
    }
    if let Some(package) = state.packages.get_mut(&shipid) {
        package.status = PackageStatus::Delivered;
    }
    ups.session.send(TruckEvent::Delivered(wu::UDeliveryMade {
        truckid: truck,
        packageid: shipid,
        seqnum: 0,
    }));
    start_next_drop(state, ups, at, truck);
}

/// Sends a truck towards its next drop, or reports it idle when there is none.
fn start_next_drop(state: &mut State, ups: &mut ToUps, now: Instant, truckid: i32) {
    let model = state.model;
    let truck = state.trucks.get_mut(&truckid).expect("caller checked");
    let from = truck.position_at(now);
    truck.position = from;
    truck.at_warehouse = None;
    truck.trip += 1;
    let trip = truck.trip;
    match truck.drops.front() {
        Some(&(_, to)) => {
            truck.status = TruckStatus::Delivering;
            let arrive = now + model.travel(from, to, ups.speed);
            truck.leg = Some(Leg {
                from,
                to,
                depart: now,
                arrive,
            });
            state.schedule(
                arrive,
                Work::AtDrop {
                    truck: truckid,
                    trip,
                },
            );
        }
        None => {
            truck.status = TruckStatus::Idle;
            truck.leg = None;
            let completion = wu::UFinished {
                truckid,
                x: from.0,
                y: from.1,
                status: TruckStatus::Idle.as_str().into(),
                seqnum: 0,
            };
            ups.session.send(TruckEvent::Completion(completion));
        }
    }
}
