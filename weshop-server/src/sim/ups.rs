//! The simulated UPS, as a sans-IO state machine: one instance per world it serves.
//!
//! It stands between a shop (ups_amazon) and the world (world_ups), with a reliable session on
//! each link:
//! - `RequestTruck` → a truck already heading to (or waiting at) that warehouse takes the
//!   package; otherwise the nearest idle truck, otherwise the nearest truck of all (a pickup
//!   interrupts a delivery: its undelivered packages stay aboard) is sent with `UGoPickup`;
//!   with every truck busy at a warehouse, the request waits for one to come free;
//! - the truck's `arrive warehouse` completion → `TruckArrived` for each package it came for;
//! - `DeliverPackage` → once every package the truck came for is released (or after
//!   [`UpsConfig::linger`], with those that are), `UGoDeliver` to each destination — or to the
//!   redirect its UPS user set — and a `FinalDest` for each;
//! - `UDeliveryMade` → `U2ADelivered`;
//! - a faulty shop request → `Err`; a world error caused by a shop request → `Err` naming it.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    fmt,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::warn;
use weshop_core::session::{Seqnum, Session, SessionConfig};
use weshop_proto::{ups_amazon as ua, world_ups as wu};

use super::time_model::distance;
use crate::protocols::{ShopMessage, TruckCommand, TruckEvent, UpsMessage, UpsToShop, UpsToWorld};

/// Settings of a simulated UPS.
#[derive(Debug, Clone)]
pub struct UpsConfig {
    /// Trucks created in each world.
    pub trucks: u32,
    /// Trucks start at random points of `0..grid` × `0..grid` (drawn from `seed`).
    pub grid: i32,
    /// Seed of truck placement and session jitter.
    pub seed: u64,
    /// How long a truck waits at a warehouse for packages it was called for once at least one
    /// is released.
    pub linger: Duration,
    /// The `simspeed` announced to the world after each join (`None`: the world's default).
    pub simspeed: Option<u32>,
    /// Resend timing of both sessions.
    pub session: SessionConfig,
}

impl Default for UpsConfig {
    fn default() -> Self {
        Self {
            trucks: 10,
            grid: 20,
            seed: 0,
            linger: Duration::from_secs(10),
            simspeed: None,
            session: SessionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Idle,
    ToWarehouse(i32),
    AtWarehouse(i32),
    Delivering,
}

#[derive(Debug, Clone)]
struct Truck {
    position: (i32, i32),
    plan: Plan,
    /// Packages the truck was called for at its warehouse and that are not released yet.
    called_for: Vec<i64>,
    /// Packages released to this truck and not delivered yet.
    aboard: Vec<i64>,
    arrived_at: Option<Instant>,
    /// Commands for this truck not sent yet, with the shop request that caused each.
    queued: VecDeque<(TruckCommand, Option<Seqnum>)>,
    /// The command sent and not yet acked. The world drops requests before acking them, so a
    /// later command could overtake an earlier one; one at a time per truck keeps their order.
    in_flight: Option<Seqnum>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Waiting,
    TruckCalled,
    TruckArrived,
    Released,
    Delivering,
    Delivered,
}

#[derive(Debug, Clone)]
struct Shipment {
    warehouse: i32,
    warehouse_at: (i32, i32),
    destination: (i32, i32),
    user: Option<String>,
    request_seqnum: Seqnum,
    truck: Option<i32>,
    stage: Stage,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsStats {
    /// Pickups sent to the world.
    pub pickups: u64,
    /// Deliveries sent to the world.
    pub deliveries: u64,
    /// Packages delivered.
    pub delivered: u64,
    /// Errors sent to the shop.
    pub errors: u64,
}

/// One world's UPS. See the [module docs](self).
pub struct UpsSim {
    config: UpsConfig,
    world_id: i64,
    trucks: BTreeMap<i32, Truck>,
    trucks_created: bool,
    shipments: HashMap<i64, Shipment>,
    waiting: VecDeque<i64>,
    shop: Session<UpsToShop>,
    world: Session<UpsToWorld>,
    /// World request seqnum -> the shop request that caused it.
    causes: HashMap<Seqnum, Seqnum>,
    redirects: HashMap<String, (i32, i32)>,
    announce_speed: bool,
    /// The seqnum of the shop's latest `ConnectWorldId`, which a refused join answers.
    connect_seqnum: Option<Seqnum>,
    stats: UpsStats,
}

impl fmt::Debug for UpsSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpsSim")
            .field("world_id", &self.world_id)
            .field("trucks", &self.trucks)
            .field("waiting", &self.waiting)
            .field("shop", &self.shop)
            .field("world", &self.world)
            .field("stats", &self.stats)
            .finish()
    }
}

impl UpsSim {
    /// A UPS for world `world_id`, with `config.trucks` trucks not yet created in the world.
    pub fn new(config: UpsConfig, world_id: i64) -> Self {
        // Truck placement depends on the seed alone, so a UPS can describe its trucks before it
        // knows the id of the world it creates.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let seed = config.seed ^ (world_id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let grid = config.grid.max(1);
        let trucks = (1..=config.trucks as i32)
            .map(|id| {
                let position = (rng.random_range(0..grid), rng.random_range(0..grid));
                let truck = Truck {
                    position,
                    plan: Plan::Idle,
                    called_for: vec![],
                    aboard: vec![],
                    arrived_at: None,
                    queued: VecDeque::new(),
                    in_flight: None,
                };
                (id, truck)
            })
            .collect();
        Self {
            shop: Session::new(
                SessionConfig {
                    seed: seed ^ 1,
                    ..config.session.clone()
                },
                1,
            ),
            world: Session::new(
                SessionConfig {
                    seed: seed ^ 2,
                    ..config.session.clone()
                },
                1,
            ),
            config,
            world_id,
            trucks,
            trucks_created: false,
            shipments: HashMap::new(),
            waiting: VecDeque::new(),
            causes: HashMap::new(),
            redirects: HashMap::new(),
            announce_speed: false,
            connect_seqnum: None,
            stats: UpsStats::default(),
        }
    }

    /// The world this UPS serves.
    pub fn world_id(&self) -> i64 {
        self.world_id
    }

    /// The `UConnect` to (re)join the world with: trucks are created on the first one only.
    pub fn uconnect(&self) -> wu::UConnect {
        let trucks = if self.trucks_created {
            Vec::new()
        } else {
            self.trucks
                .iter()
                .map(|(&id, t)| wu::UInitTruck {
                    id,
                    x: t.position.0,
                    y: t.position.1,
                })
                .collect()
        };
        wu::UConnect {
            worldid: Some(self.world_id),
            trucks,
            is_amazon: false,
        }
    }

    /// The `UConnect` that creates a new world with this UPS's trucks.
    pub fn uconnect_new_world(config: &UpsConfig) -> wu::UConnect {
        let mut hello = UpsSim::new(config.clone(), 0).uconnect();
        hello.worldid = None;
        hello
    }

    /// The world accepted a `UConnect`: trucks exist now, and unacked commands go out again.
    pub fn world_connected(&mut self) {
        self.trucks_created = true;
        self.announce_speed = self.config.simspeed.is_some();
        self.world.resend_all_now();
    }

    /// A shop (re)connected with `ConnectWorldId` numbered `seqnum`: ack it, resend what waits.
    pub fn shop_connected(&mut self, seqnum: Seqnum) {
        self.connect_seqnum = Some(seqnum);
        self.shop.receive_seqnum(seqnum);
        self.shop.resend_all_now();
    }

    /// The world refused to let this UPS join: tell the shop, against its `ConnectWorldId`.
    pub fn report_world_refused(&mut self, reason: &str) {
        let err = format!("error: cannot join world {}: {reason}", self.world_id);
        self.shop_error(self.connect_seqnum.unwrap_or(0), err);
    }

    /// Packages of UPS user `user` go to `to` instead of their destination from now on.
    pub fn set_redirect(&mut self, user: &str, to: (i32, i32)) {
        self.redirects.insert(user.to_string(), to);
    }

    /// Counters.
    pub fn stats(&self) -> UpsStats {
        self.stats
    }

    /// Packages known and not yet delivered.
    pub fn undelivered(&self) -> usize {
        self.shipments
            .values()
            .filter(|s| s.stage != Stage::Delivered)
            .count()
    }

    fn shop_error(&mut self, originseqnum: Seqnum, err: String) {
        self.stats.errors += 1;
        self.shop.send(UpsMessage::Error(ua::Err {
            err,
            originseqnum,
            seqnum: 0,
        }));
    }

    /// Takes in an `AtoUCommands` from the shop.
    pub fn handle_shop(&mut self, _now: Instant, commands: ua::AtoUCommands) {
        for (seqnum, message) in self.shop.handle_message(commands) {
            match message {
                ShopMessage::RequestTruck(request) => self.request_truck(seqnum, request),
                ShopMessage::Deliver(deliver) => self.release(seqnum, deliver.ship_id),
                ShopMessage::Error(err) => {
                    warn!(
                        "ups (world {}): the shop reports an error on {}: {}",
                        self.world_id, err.originseqnum, err.err
                    )
                }
            }
        }
    }

    fn request_truck(&mut self, seqnum: Seqnum, request: ua::RequestTruck) {
        let destination = (request.dest_x, request.dest_y);
        if let Some(known) = self.shipments.get(&request.ship_id) {
            if known.warehouse != request.warehouse_id || known.destination != destination {
                let err = format!(
                    "error: ship_id {} was already requested with another warehouse or destination",
                    request.ship_id
                );
                self.shop_error(seqnum, err);
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

    /// Finds a truck for a waiting shipment; false if none can come now.
    fn assign(&mut self, ship_id: i64, except: Option<i32>) -> bool {
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
    fn command(&mut self, truckid: i32, command: TruckCommand, cause: Option<Seqnum>) {
        let truck = self
            .trucks
            .get_mut(&truckid)
            .expect("commands go to known trucks");
        truck.queued.push_back((command, cause));
        self.dispatch(truckid);
    }

    /// Sends a truck's next queued command if nothing for it is in flight.
    fn dispatch(&mut self, truckid: i32) {
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

    fn truck_arrived_for(&mut self, ship_id: i64, truck_id: i32) {
        let shipment = self.shipments.get_mut(&ship_id).expect("known");
        shipment.stage = Stage::TruckArrived;
        self.shop.send(UpsMessage::TruckArrived(ua::TruckArrived {
            seq_num: 0,
            ship_id,
            truck_id,
        }));
    }

    fn release(&mut self, seqnum: Seqnum, ship_id: i64) {
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
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        truck.called_for.retain(|s| *s != ship_id);
        truck.aboard.push(ship_id);
        if truck.called_for.is_empty() {
            self.depart(truckid);
        }
    }

    /// Sends a truck off with everything aboard.
    fn depart(&mut self, truckid: i32) {
        let truck = self.trucks.get_mut(&truckid).expect("known truck");
        if truck.aboard.is_empty() {
            truck.plan = if truck.called_for.is_empty() {
                Plan::Idle
            } else {
                truck.plan
            };
            return;
        }
        truck.plan = Plan::Delivering;
        truck.arrived_at = None;
        let aboard = truck.aboard.clone();
        let mut packages = Vec::new();
        let mut cause = None;
        for ship_id in aboard {
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

    /// Takes in a `UResponses` from the world.
    pub fn handle_world(&mut self, now: Instant, responses: wu::UResponses) {
        let events = self.world.handle_message(responses);
        let waiting: Vec<i32> = self
            .trucks
            .iter()
            .filter(|(_, t)| t.in_flight.is_some())
            .map(|(&id, _)| id)
            .collect();
        for truckid in waiting {
            self.dispatch(truckid);
        }
        for (_, event) in events {
            match event {
                TruckEvent::Completion(done) => self.completion(now, done),
                TruckEvent::Delivered(made) => {
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
                TruckEvent::Status(truck) => {
                    if let Some(t) = self.trucks.get_mut(&truck.truckid) {
                        t.position = (truck.x, truck.y);
                    }
                }
                TruckEvent::Error(err) => {
                    warn!(
                        "ups (world {}): the world refused {}: {}",
                        self.world_id, err.originseqnum, err.err
                    );
                    if let Some(&cause) = self.causes.get(&err.originseqnum) {
                        self.shop_error(cause, err.err);
                    }
                }
            }
        }
    }

    fn completion(&mut self, now: Instant, done: wu::UFinished) {
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

    fn serve_waiting(&mut self, except: Option<i32>) {
        while let Some(&ship_id) = self.waiting.front() {
            if !self.assign(ship_id, except) {
                break;
            }
            self.waiting.pop_front();
        }
    }

    /// Trucks that waited [`UpsConfig::linger`] leave with what was released; the packages they
    /// still wait for get another truck.
    pub fn handle_timeout(&mut self, now: Instant) {
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
            let left: Vec<i64> =
                std::mem::take(&mut self.trucks.get_mut(&truckid).expect("listed").called_for);
            self.depart(truckid);
            for ship_id in left {
                let shipment = self.shipments.get_mut(&ship_id).expect("known");
                shipment.stage = Stage::Waiting;
                shipment.truck = None;
                self.waiting.push_back(ship_id);
            }
            self.serve_waiting(Some(truckid));
        }
    }

    /// When the UPS next needs [`UpsSim::handle_timeout`] or a poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let linger = self
            .trucks
            .values()
            .filter(|t| matches!(t.plan, Plan::AtWarehouse(_)) && !t.aboard.is_empty())
            .filter_map(|t| t.arrived_at.map(|at| at + self.config.linger))
            .min();
        [linger, self.shop.poll_timeout(), self.world.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next message for the shop.
    pub fn poll_shop(&mut self, now: Instant) -> Option<ua::UtoACommands> {
        self.shop.poll_transmit(now)
    }

    /// The next message for the world (the first after a join carries the simspeed).
    pub fn poll_world(&mut self, now: Instant) -> Option<wu::UCommands> {
        let message = self.world.poll_transmit(now);
        if !std::mem::take(&mut self.announce_speed) {
            return message;
        }
        let mut message = message.unwrap_or_default();
        message.simspeed = self.config.simspeed;
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *T0.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    fn request(
        ship_id: i64,
        warehouse: (i32, i32, i32),
        dest: (i32, i32),
        user: Option<&str>,
    ) -> ShopMessage {
        ShopMessage::RequestTruck(ua::RequestTruck {
            seq_num: 0,
            warehouse_id: warehouse.0,
            warehouse_x: warehouse.1,
            warehouse_y: warehouse.2,
            dest_x: dest.0,
            dest_y: dest.1,
            ship_id,
            ups_order: user.map(|u| ua::UpsOrder {
                up_suser_id: u.into(),
                product: vec![],
            }),
        })
    }

    fn world_commands(ups: &mut UpsSim, now: Instant) -> Vec<TruckCommand> {
        std::iter::from_fn(|| ups.poll_world(now))
            .flat_map(|m| {
                TruckCommand::disassemble(m)
                    .items
                    .into_iter()
                    .map(|(_, c)| c)
            })
            .collect()
    }

    fn shop_messages(ups: &mut UpsSim, now: Instant) -> Vec<UpsMessage> {
        std::iter::from_fn(|| ups.poll_shop(now))
            .flat_map(|m| UpsMessage::disassemble(m).items.into_iter().map(|(_, c)| c))
            .collect()
    }

    fn arrive(ups: &mut UpsSim, seq: i64, truckid: i32, at_: (i32, i32), now: Instant) {
        let done = wu::UFinished {
            truckid,
            x: at_.0,
            y: at_.1,
            status: "ARRIVE WAREHOUSE".into(),
            seqnum: 0,
        };
        // Like the world, ack every command it has received along with the event.
        let acks = ups
            .world
            .state()
            .unacked
            .iter()
            .map(|(seqnum, _)| *seqnum)
            .collect();
        ups.handle_world(
            now,
            TruckEvent::assemble(vec![(seq, TruckEvent::Completion(done))], acks),
        );
    }

    #[test]
    fn nearest_idle_truck_goes_and_a_second_package_rides_along() {
        let mut ups = UpsSim::new(
            UpsConfig {
                trucks: 3,
                grid: 50,
                ..UpsConfig::default()
            },
            1,
        );
        let positions: Vec<(i32, (i32, i32))> =
            ups.trucks.iter().map(|(id, t)| (*id, t.position)).collect();
        let nearest = positions
            .iter()
            .min_by(|a, b| distance(a.1, (10, 10)).total_cmp(&distance(b.1, (10, 10))))
            .unwrap()
            .0;
        let msg = ShopMessage::assemble(
            vec![
                (1, request(7, (1, 10, 10), (0, 0), None)),
                (2, request(8, (1, 10, 10), (5, 5), None)),
            ],
            vec![],
        );
        ups.handle_shop(at(0), msg);
        let pickups = world_commands(&mut ups, at(0));
        assert!(
            matches!(&pickups[..], [TruckCommand::Pickup(p)] if p.truckid == nearest && p.whid == 1),
            "{pickups:?}"
        );
        arrive(&mut ups, 1, nearest, (10, 10), at(10));
        let arrived: Vec<i64> = shop_messages(&mut ups, at(10))
            .into_iter()
            .filter_map(|m| match m {
                UpsMessage::TruckArrived(t) => Some(t.ship_id),
                _ => None,
            })
            .collect();
        assert_eq!(arrived, vec![7, 8]);
    }

    #[test]
    fn a_truck_leaves_once_all_its_packages_are_released_and_honours_redirects() {
        let mut ups = UpsSim::new(
            UpsConfig {
                trucks: 1,
                ..UpsConfig::default()
            },
            1,
        );
        ups.set_redirect("alice", (42, 43));
        let msg = ShopMessage::assemble(
            vec![
                (1, request(7, (1, 0, 0), (1, 1), Some("alice"))),
                (2, request(8, (1, 0, 0), (5, 5), None)),
            ],
            vec![],
        );
        ups.handle_shop(at(0), msg);
        world_commands(&mut ups, at(0));
        arrive(&mut ups, 1, 1, (0, 0), at(10));
        shop_messages(&mut ups, at(10));
        let release = |ship_id| {
            ShopMessage::Deliver(ua::DeliverPackage {
                seq_num: 0,
                ship_id,
            })
        };
        ups.handle_shop(at(20), ShopMessage::assemble(vec![(3, release(7))], vec![]));
        assert!(
            world_commands(&mut ups, at(20)).is_empty(),
            "still waiting for package 8"
        );
        ups.handle_shop(at(30), ShopMessage::assemble(vec![(4, release(8))], vec![]));
        let deliveries = world_commands(&mut ups, at(30));
        let [TruckCommand::Deliver(deliver)] = &deliveries[..] else {
            panic!("{deliveries:?}")
        };
        let drops: Vec<(i64, i32, i32)> = deliver
            .packages
            .iter()
            .map(|l| (l.packageid, l.x, l.y))
            .collect();
        assert_eq!(drops, vec![(7, 42, 43), (8, 5, 5)]);
        let dests: Vec<(i64, i32, i32)> = shop_messages(&mut ups, at(30))
            .into_iter()
            .filter_map(|m| match m {
                UpsMessage::FinalDest(f) => Some((f.ship_id, f.dest_x, f.dest_y)),
                _ => None,
            })
            .collect();
        assert_eq!(dests, vec![(7, 42, 43), (8, 5, 5)]);
    }

    #[test]
    fn one_command_per_truck_in_flight_keeps_their_order() {
        let mut ups = UpsSim::new(
            UpsConfig {
                trucks: 1,
                ..UpsConfig::default()
            },
            1,
        );
        let msg = ShopMessage::assemble(vec![(1, request(7, (1, 0, 0), (1, 1), None))], vec![]);
        ups.handle_shop(at(0), msg);
        world_commands(&mut ups, at(0));
        arrive(&mut ups, 1, 1, (0, 0), at(10));
        shop_messages(&mut ups, at(10));
        let release = ShopMessage::Deliver(ua::DeliverPackage {
            seq_num: 0,
            ship_id: 7,
        });
        ups.handle_shop(at(20), ShopMessage::assemble(vec![(2, release)], vec![]));
        let deliver = world_commands(&mut ups, at(20));
        assert!(
            matches!(&deliver[..], [TruckCommand::Deliver(_)]),
            "{deliver:?}"
        );
        // The only truck is now needed elsewhere while its delivery is still unacked: the
        // pickup waits until the world has acked (executed) the delivery.
        let msg = ShopMessage::assemble(vec![(3, request(8, (2, 50, 50), (1, 1), None))], vec![]);
        ups.handle_shop(at(30), msg);
        let resent = world_commands(&mut ups, at(5000));
        assert!(
            resent.iter().all(|c| matches!(c, TruckCommand::Deliver(_))),
            "{resent:?}"
        );
        let acks = ups
            .world
            .state()
            .unacked
            .iter()
            .map(|(seqnum, _)| *seqnum)
            .collect();
        ups.handle_world(at(5001), TruckEvent::assemble(vec![], acks));
        let next = world_commands(&mut ups, at(5001));
        assert!(
            matches!(&next[..], [TruckCommand::Pickup(p)] if p.whid == 2),
            "{next:?}"
        );
    }

    #[test]
    fn a_truck_that_lingers_too_long_leaves_with_what_it_has() {
        let mut ups = UpsSim::new(
            UpsConfig {
                trucks: 2,
                linger: Duration::from_secs(1),
                ..UpsConfig::default()
            },
            1,
        );
        let msg = ShopMessage::assemble(
            vec![
                (1, request(7, (1, 0, 0), (1, 1), None)),
                (2, request(8, (1, 0, 0), (5, 5), None)),
            ],
            vec![],
        );
        ups.handle_shop(at(0), msg);
        let truck = match &world_commands(&mut ups, at(0))[..] {
            [TruckCommand::Pickup(p)] => p.truckid,
            other => panic!("{other:?}"),
        };
        arrive(&mut ups, 1, truck, (0, 0), at(10));
        shop_messages(&mut ups, at(10));
        ups.handle_shop(
            at(20),
            ShopMessage::assemble(
                vec![(
                    3,
                    ShopMessage::Deliver(ua::DeliverPackage {
                        seq_num: 0,
                        ship_id: 7,
                    }),
                )],
                vec![],
            ),
        );
        world_commands(&mut ups, at(20));
        ups.handle_timeout(at(900));
        let early = world_commands(&mut ups, at(900));
        assert!(
            !early.iter().any(|c| matches!(c, TruckCommand::Deliver(_))),
            "left too early: {early:?}"
        );
        ups.handle_timeout(at(1010));
        let commands = world_commands(&mut ups, at(1010));
        assert!(commands.iter().any(|c| matches!(c, TruckCommand::Deliver(d) if d.truckid == truck && d.packages.len() == 1)), "{commands:?}");
        assert!(
            commands
                .iter()
                .any(|c| matches!(c, TruckCommand::Pickup(p) if p.truckid != truck)),
            "package 8 gets another truck: {commands:?}"
        );
    }
}
