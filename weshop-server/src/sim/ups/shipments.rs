//! The package side of the UPS: a shipment's stages from the shop's `RequestTruck` to
//! `U2ADelivered`, and the shop requests that move it on.

use weshop_core::session::Seqnum;
use weshop_proto::{ups_amazon as ua, world_ups as wu};

use super::{UpsSim, trucks::Plan};
use crate::protocols::UpsMessage;

/// Where a package stands with the UPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    /// Requested; no truck can come yet.
    Waiting,
    /// A truck is on its way to the warehouse for it.
    TruckCalled,
    /// `TruckArrived` went out: the shop loads it on that truck.
    TruckArrived,
    /// The shop released it (`DeliverPackage`); its truck has not left with it yet.
    Released,
    /// Sent off with `UGoDeliver` (and `FinalDest`).
    Delivering,
    /// `U2ADelivered` went out.
    Delivered,
}

/// A package the shop asked a truck for.
#[derive(Debug, Clone)]
pub(super) struct Shipment {
    pub(super) warehouse: i32,
    pub(super) warehouse_at: (i32, i32),
    pub(super) destination: (i32, i32),
    pub(super) user: Option<String>,
    /// The shop request that world errors about it answer (`RequestTruck`, then
    /// `DeliverPackage`).
    pub(super) request_seqnum: Seqnum,
    pub(super) truck: Option<i32>,
    pub(super) stage: Stage,
}

impl UpsSim {
    /// `RequestTruck`: a new shipment gets a truck, or waits for one. A repeat is ignored,
    /// unless the truck announced for the package has left its warehouse without the shop
    /// releasing it: the world refused the shop's load, so the package is still at the
    /// warehouse and another truck is called.
    pub(super) fn request_truck(&mut self, seqnum: Seqnum, request: ua::RequestTruck) {
        let destination = (request.dest_x, request.dest_y);
        if let Some(known) = self.shipments.get(&request.ship_id) {
            if known.warehouse != request.warehouse_id || known.destination != destination {
                let err = format!(
                    "error: ship_id {} was already requested with another warehouse or destination",
                    request.ship_id
                );
                self.shop_error(seqnum, err);
                return;
            }
            if known.stage == Stage::TruckArrived {
                self.truck_again(request.ship_id, seqnum);
            }
            return;
        }
        let shipment = Shipment {
            warehouse: request.warehouse_id,
            warehouse_at: (request.warehouse_x, request.warehouse_y),
            destination,
            user: request
                .ups_order
                .map(|order| order.up_suser_id)
                .filter(|u| !u.is_empty()),
            request_seqnum: seqnum,
            truck: None,
            stage: Stage::Waiting,
        };
        self.shipments.insert(request.ship_id, shipment);
        if !self.assign(request.ship_id, None) {
            self.waiting.push_back(request.ship_id);
        }
    }

    /// The shop asks again for a truck for a package whose truck was announced: it could not
    /// load it there (the truck had left). If that truck is back at the warehouse, it is
    /// announced again; if it is on its way there, it takes the package again; otherwise
    /// another truck is called. Either way the truck waits for the package before it leaves.
    fn truck_again(&mut self, ship_id: i64, seqnum: Seqnum) {
        let shipment = self.shipments.get_mut(&ship_id).expect("known");
        let warehouse = shipment.warehouse;
        let Some(truckid) = shipment.truck else {
            return self.call_another_truck(ship_id, seqnum);
        };
        shipment.request_seqnum = seqnum;
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        let plan = truck.plan;
        if !matches!(plan, Plan::AtWarehouse(w) | Plan::ToWarehouse(w) if w == warehouse) {
            return self.call_another_truck(ship_id, seqnum);
        }
        truck.kept.retain(|s| *s != ship_id);
        if !truck.called_for.contains(&ship_id) {
            truck.called_for.push(ship_id);
        }
        if plan == Plan::AtWarehouse(warehouse) {
            self.truck_arrived_for(ship_id, truckid);
        } else {
            self.shipments.get_mut(&ship_id).expect("known").stage = Stage::TruckCalled;
        }
    }

    /// Takes a package off the truck that left without it and calls another one.
    fn call_another_truck(&mut self, ship_id: i64, seqnum: Seqnum) {
        let shipment = self.shipments.get_mut(&ship_id).expect("known");
        let old = shipment.truck.take();
        shipment.stage = Stage::Waiting;
        shipment.request_seqnum = seqnum;
        if let Some(truck) = old.and_then(|t| self.trucks.get_mut(&t)) {
            truck.called_for.retain(|s| *s != ship_id);
            truck.kept.retain(|s| *s != ship_id);
        }
        // Another truck if there is one; else the same one comes back (with one truck, or
        // all others busy, excluding it would leave the package waiting for ever).
        if !self.assign(ship_id, old) && !self.assign(ship_id, None) {
            self.waiting.push_back(ship_id);
        }
    }

    /// Tells the shop that the truck is at the warehouse for this package.
    pub(super) fn truck_arrived_for(&mut self, ship_id: i64, truck_id: i32) {
        let shipment = self.shipments.get_mut(&ship_id).expect("known");
        shipment.stage = Stage::TruckArrived;
        self.shop.send(UpsMessage::TruckArrived(ua::TruckArrived {
            seq_num: 0,
            ship_id,
            truck_id,
        }));
    }

    /// `DeliverPackage`: the package is on its truck and may leave.
    pub(super) fn release(&mut self, seqnum: Seqnum, ship_id: i64) {
        let Some(shipment) = self.shipments.get_mut(&ship_id) else {
            return self.shop_error(seqnum, format!("error: unknown ship_id {ship_id}"));
        };
        match shipment.stage {
            Stage::TruckArrived => {}
            Stage::Released | Stage::Delivering | Stage::Delivered => return,
            Stage::Waiting | Stage::TruckCalled => {
                let err = format!("error: no truck has arrived for ship_id {ship_id} yet");
                return self.shop_error(seqnum, err);
            }
        }
        shipment.stage = Stage::Released;
        shipment.request_seqnum = seqnum;
        let truckid = shipment.truck.expect("a truck arrived for it");
        self.released(truckid, ship_id);
    }

    /// The world dropped a package: `U2ADelivered`, once.
    pub(super) fn delivered(&mut self, made: wu::UDeliveryMade) {
        if let Some(truck) = self.trucks.get_mut(&made.truckid) {
            truck.aboard.retain(|s| *s != made.packageid);
        }
        if let Some(shipment) = self.shipments.get_mut(&made.packageid)
            && shipment.stage != Stage::Delivered
        {
            shipment.stage = Stage::Delivered;
            self.stats.delivered += 1;
            let delivered = ua::U2aDelivered {
                seq_num: 0,
                ship_id: made.packageid,
            };
            self.shop.send(UpsMessage::Delivered(delivered));
        }
    }
}
