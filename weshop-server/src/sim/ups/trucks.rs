//! The trucks of the UPS: which one goes for a package, the commands sent for each (one in
//! flight at a time), arrivals, and departures.

use std::{collections::VecDeque, time::Instant};

use weshop_core::session::Seqnum;
use weshop_proto::{ups_amazon as ua, world_ups as wu};

use super::{Stage, UpsSim};
use crate::{
    protocols::{TruckCommand, UpsMessage},
    sim::time_model::distance,
};

/// What the UPS has a truck doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// Nothing.
    Idle,
    /// Driving to that warehouse.
    ToWarehouse(i32),
    /// Waiting at that warehouse for packages to be loaded and released.
    AtWarehouse(i32),
    /// Delivering.
    Delivering,
}

/// One truck of this UPS.
#[derive(Debug, Clone)]
pub(super) struct Truck {
    /// Last known position.
    pub(super) position: (i32, i32),
    pub(super) plan: Plan,
    /// Packages the truck was called for at its warehouse and that are not released yet.
    pub(super) called_for: Vec<i64>,
    /// Packages released to this truck and not delivered yet.
    pub(super) aboard: Vec<i64>,
    /// Packages the shop was told this truck came for (`TruckArrived`) and that it left their
    /// warehouse without: the shop loads a package on the truck named in its `TruckArrived`
    /// (and may have been doing so as the truck left), so they stay this truck's own, and one
    /// released later is delivered by it. Never given to another truck.
    pub(super) kept: Vec<i64>,
    /// When it arrived at its warehouse (the start of its linger).
    pub(super) arrived_at: Option<Instant>,
    /// Commands for this truck not sent yet, with the shop request that caused each.
    pub(super) queued: VecDeque<(TruckCommand, Option<Seqnum>)>,
    /// The command sent and not yet acked. The world drops requests before acking them, so a
    /// later command could overtake an earlier one; one at a time per truck keeps their order.
    pub(super) in_flight: Option<Seqnum>,
}

impl Truck {
    /// An idle truck at `position`.
    pub(super) fn new(position: (i32, i32)) -> Self {
        Self {
            position,
            plan: Plan::Idle,
            called_for: vec![],
            aboard: vec![],
            kept: vec![],
            arrived_at: None,
            queued: VecDeque::new(),
            in_flight: None,
        }
    }
}

impl UpsSim {
    /// Finds a truck for a waiting shipment; false if none can come now.
    pub(super) fn assign(&mut self, ship_id: i64, except: Option<i32>) -> bool {
        let shipment = &self.shipments[&ship_id];
        let (warehouse, at) = (shipment.warehouse, shipment.warehouse_at);
        let cause = shipment.request_seqnum;
        let heading = self.trucks.iter().find(|(id, t)| {
            Some(**id) != except
                && matches!(t.plan, Plan::ToWarehouse(w) | Plan::AtWarehouse(w) if w == warehouse)
        });
        if let Some((&truckid, truck)) = heading {
            let arrived = truck.plan == Plan::AtWarehouse(warehouse);
            self.trucks
                .get_mut(&truckid)
                .expect("found")
                .called_for
                .push(ship_id);
            let shipment = self.shipments.get_mut(&ship_id).expect("known");
            shipment.truck = Some(truckid);
            shipment.stage = Stage::TruckCalled;
            if arrived {
                self.truck_arrived_for(ship_id, truckid);
            }
            return true;
        }
        let nearest = |plan_ok: &dyn Fn(Plan) -> bool| {
            self.trucks
                .iter()
                .filter(|(id, t)| Some(**id) != except && plan_ok(t.plan))
                .min_by(|a, b| distance(a.1.position, at).total_cmp(&distance(b.1.position, at)))
                .map(|(&id, _)| id)
        };
        let Some(truckid) =
            nearest(&|p| p == Plan::Idle).or_else(|| nearest(&|p| p == Plan::Delivering))
        else {
            return false;
        };
        let truck = self.trucks.get_mut(&truckid).expect("found");
        truck.plan = Plan::ToWarehouse(warehouse);
        truck.called_for.push(ship_id);
        truck.arrived_at = None;
        let shipment = self.shipments.get_mut(&ship_id).expect("known");
        shipment.truck = Some(truckid);
        shipment.stage = Stage::TruckCalled;
        let pickup = TruckCommand::Pickup(wu::UGoPickup {
            truckid,
            whid: warehouse,
            seqnum: 0,
        });
        self.command(truckid, pickup, Some(cause));
        self.stats.pickups += 1;
        true
    }

    /// Queues a command for a truck, sent once the truck's previous command is acked.
    pub(super) fn command(&mut self, truckid: i32, command: TruckCommand, cause: Option<Seqnum>) {
        let truck = self
            .trucks
            .get_mut(&truckid)
            .expect("commands go to known trucks");
        truck.queued.push_back((command, cause));
        self.dispatch(truckid);
    }

    /// Sends a truck's next queued command if nothing for it is in flight.
    pub(super) fn dispatch(&mut self, truckid: i32) {
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        if truck
            .in_flight
            .is_some_and(|seqnum| self.world.is_unacked(seqnum))
        {
            return;
        }
        truck.in_flight = None;
        if let Some((command, cause)) = truck.queued.pop_front() {
            let seqnum = self.world.send(command);
            truck.in_flight = Some(seqnum);
            if let Some(cause) = cause {
                self.causes.insert(seqnum, cause);
            }
        }
    }

    /// Sends a truck off with everything aboard.
    pub(super) fn depart(&mut self, truckid: i32) {
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        if truck.aboard.is_empty() {
            truck.plan = if truck.called_for.is_empty() {
                Plan::Idle
            } else {
                truck.plan
            };
            return;
        }
        truck.arrived_at = None;
        let aboard = truck.aboard.clone();
        self.send_off(truckid, aboard);
    }

    /// `UGoDeliver` for these packages aboard a truck, and a `FinalDest` for each one not sent
    /// off before.
    ///
    /// Packages sent off before (a pickup interrupted their delivery) each go in a command of
    /// their own that answers to no shop request: the world may have delivered one just before
    /// the pickup, with its `delivered` still on the way, and then refuses the command naming
    /// it. Alone, that refusal costs nothing; in one command with other packages it would
    /// refuse them too, and the shop would be told their delivery failed.
    fn send_off(&mut self, truckid: i32, ship_ids: Vec<i64>) {
        let (again, fresh): (Vec<i64>, Vec<i64>) = ship_ids
            .into_iter()
            .partition(|s| self.shipments[s].stage == Stage::Delivering);
        for ship_id in again {
            self.deliver_command(truckid, vec![ship_id]);
        }
        if !fresh.is_empty() {
            self.deliver_command(truckid, fresh);
        }
    }

    /// One `UGoDeliver`, with the shop request behind its newly released packages (if any) as
    /// its cause.
    fn deliver_command(&mut self, truckid: i32, ship_ids: Vec<i64>) {
        self.trucks.get_mut(&truckid).expect("known truck").plan = Plan::Delivering;
        let mut packages = Vec::new();
        let mut cause = None;
        for ship_id in ship_ids {
            let shipment = self.shipments.get_mut(&ship_id).expect("aboard is known");
            let to = shipment
                .user
                .as_ref()
                .and_then(|user| self.redirects.get(user))
                .copied()
                .unwrap_or(shipment.destination);
            packages.push(wu::UDeliveryLocation {
                packageid: ship_id,
                x: to.0,
                y: to.1,
            });
            if shipment.stage == Stage::Released {
                shipment.stage = Stage::Delivering;
                cause = Some(shipment.request_seqnum);
                let dest = ua::FinalDest {
                    seq_num: 0,
                    ship_id,
                    dest_x: to.0,
                    dest_y: to.1,
                };
                self.shop.send(UpsMessage::FinalDest(dest));
            }
        }
        let deliver = TruckCommand::Deliver(wu::UGoDeliver {
            truckid,
            packages,
            seqnum: 0,
        });
        self.command(truckid, deliver, cause);
        self.stats.deliveries += 1;
    }

    /// A truck's completion: at the warehouse (`TruckArrived` for what it came for) or idle
    /// (it can take waiting packages).
    pub(super) fn completion(&mut self, now: Instant, done: wu::UFinished) {
        let Some(truck) = self.trucks.get_mut(&done.truckid) else {
            return;
        };
        truck.position = (done.x, done.y);
        let status = done.status.to_ascii_lowercase();
        if status == "arrive warehouse" {
            let Plan::ToWarehouse(warehouse) = truck.plan else {
                return;
            };
            truck.plan = Plan::AtWarehouse(warehouse);
            truck.arrived_at = Some(now);
            let called: Vec<i64> = truck.called_for.clone();
            if called.is_empty() {
                self.depart(done.truckid);
            }
            for ship_id in called {
                if self.shipments[&ship_id].stage == Stage::TruckCalled {
                    self.truck_arrived_for(ship_id, done.truckid);
                }
            }
        } else if status == "idle" {
            if truck.plan == Plan::Delivering {
                truck.plan = Plan::Idle;
            }
            self.serve_waiting(None);
        }
    }

    /// Gives waiting shipments a truck (not `except`), first come first served.
    pub(super) fn serve_waiting(&mut self, except: Option<i32>) {
        while let Some(&ship_id) = self.waiting.front() {
            if !self.assign(ship_id, except) {
                break;
            }
            self.waiting.pop_front();
        }
    }

    /// The shop released a package `TruckArrived` announced on this truck. At its warehouse,
    /// the truck leaves once every package it was called for is released (in eager mode, on
    /// the first); a package it left without goes now if the truck is idle or delivering, and
    /// otherwise with its next departure.
    pub(super) fn released(&mut self, truckid: i32, ship_id: i64) {
        let eager = self.config.eager_dispatch;
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        truck.aboard.push(ship_id);
        if let Some(kept) = truck.kept.iter().position(|s| *s == ship_id) {
            truck.kept.remove(kept);
            if matches!(truck.plan, Plan::Idle | Plan::Delivering) {
                self.send_off(truckid, vec![ship_id]);
            }
            return;
        }
        truck.called_for.retain(|s| *s != ship_id);
        if truck.called_for.is_empty() {
            self.depart(truckid);
        } else if eager {
            self.leave_early(truckid);
        }
    }

    /// Sends a truck off with what was released before all it was called for is. The packages
    /// already announced to the shop on it stay its own ([`Truck::kept`]); any other gets
    /// another truck.
    fn leave_early(&mut self, truckid: i32) {
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        let (announced, not_yet): (Vec<i64>, Vec<i64>) = std::mem::take(&mut truck.called_for)
            .into_iter()
            .partition(|s| self.shipments[s].stage == Stage::TruckArrived);
        truck.kept.extend(announced);
        self.depart(truckid);
        for ship_id in not_yet {
            let shipment = self.shipments.get_mut(&ship_id).expect("known");
            shipment.stage = Stage::Waiting;
            shipment.truck = None;
            self.waiting.push_back(ship_id);
        }
        self.serve_waiting(Some(truckid));
    }

    /// Trucks that waited [`UpsConfig::linger`](super::UpsConfig::linger) leave with what was
    /// released; the packages they still wait for stay theirs (see [`UpsSim::leave_early`]).
    pub(super) fn leave_expired(&mut self, now: Instant) {
        let expired: Vec<i32> = self
            .trucks
            .iter()
            .filter(|(_, t)| {
                matches!(t.plan, Plan::AtWarehouse(_))
                    && !t.aboard.is_empty()
                    && t.arrived_at
                        .is_some_and(|at| at + self.config.linger <= now)
            })
            .map(|(&id, _)| id)
            .collect();
        for truckid in expired {
            self.leave_early(truckid);
        }
    }

    /// When the next lingering truck leaves.
    pub(super) fn next_departure(&self) -> Option<Instant> {
        self.trucks
            .values()
            .filter(|t| matches!(t.plan, Plan::AtWarehouse(_)) && !t.aboard.is_empty())
            .filter_map(|t| t.arrived_at.map(|at| at + self.config.linger))
            .min()
    }
}
