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
//!   [`UpsConfig::linger`], or at once with [`UpsConfig::eager_dispatch`], with those that
//!   are), `UGoDeliver` to each destination — or to the redirect its UPS user set — and a
//!   `FinalDest` for each. A package the truck leaves without stays its own, since the shop
//!   loads it on the truck its `TruckArrived` named: once released, that truck delivers it;
//! - `UDeliveryMade` → `U2ADelivered`;
//! - a faulty shop request → `Err`; a world error caused by a shop request → `Err` naming it.
//!
//! The package side (a shipment's stages from `RequestTruck` to `U2ADelivered`) is in
//! `shipments`; the trucks (which one goes, the commands sent for each, departures) in `trucks`.

mod shipments;
mod trucks;

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

use crate::protocols::{ShopMessage, TruckEvent, UpsMessage, UpsToShop, UpsToWorld};
use shipments::{Shipment, Stage};
use trucks::Truck;

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
    /// is released. It then leaves with those released; the others stay its own (the shop was
    /// told to load them on it), and it delivers any of them released later.
    pub linger: Duration,
    /// A truck leaves on the first `DeliverPackage` for it instead of waiting for every package
    /// it was called for (as some UPSes do); those stay its own, as after
    /// [`linger`](UpsConfig::linger).
    pub eager_dispatch: bool,
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
            eager_dispatch: false,
            simspeed: None,
            session: SessionConfig::default(),
        }
    }
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
                (id, Truck::new(position))
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

    /// True when nothing is left to do: no request waits for a truck and neither session
    /// waits for an ack or owes one. (A package the shop gave up on may stay undelivered.)
    pub fn is_quiescent(&self) -> bool {
        self.waiting.is_empty() && self.shop.is_idle() && self.world.is_idle()
    }

    /// Packages known and not yet delivered.
    pub fn undelivered(&self) -> usize {
        self.shipments
            .values()
            .filter(|s| s.stage != Stage::Delivered)
            .count()
    }

    pub(super) fn shop_error(&mut self, originseqnum: Seqnum, err: String) {
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
                TruckEvent::Delivered(made) => self.delivered(made),
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

    /// Trucks that waited [`UpsConfig::linger`] leave with what was released (the rest stays
    /// theirs).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.leave_expired(now);
    }

    /// When the UPS next needs [`UpsSim::handle_timeout`] or a poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.next_departure(),
            self.shop.poll_timeout(),
            self.world.poll_timeout(),
        ]
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
mod tests;
