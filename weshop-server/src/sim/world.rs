//! One simulated world: warehouses, stock, packages and trucks, as a sans-IO state machine.
//!
//! The world holds one reliable session towards its shop and one towards its UPS. Commands come
//! in through [`World::handle_amazon`] and [`World::handle_ups`]; work that takes time becomes a
//! timer, fired by [`World::handle_timeout`]; what the world has to say leaves through
//! [`World::poll_amazon`] and [`World::poll_ups`]. Sessions outlive connections, so events that
//! happen while a side is away are delivered when it reconnects.
//!
//! Every rule of PROTOCOL.md is enforced with an `error` item naming the request's seqnum; the
//! texts are in [`errors`].

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap, VecDeque},
    fmt,
    time::Instant,
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weshop_core::session::{Protocol, Seqnum, Session, SessionConfig};
use weshop_proto::{world_amazon as wa, world_ups as wu};

use super::time_model::{DEFAULT_SIMSPEED, TimeModel};
use crate::protocols::{
    TruckCommand, TruckEvent, WorldCommand, WorldEvent, WorldToShop, WorldToUps,
};

/// The error texts the world sends (each is the `err` of an `AErr`/`UErr`).
pub mod errors {
    /// `buy`/`topack`/`load` named a warehouse the world does not have.
    pub fn unknown_warehouse(whnum: i32) -> String {
        format!("error: unknown warehouse {whnum}")
    }
    /// A product count that is zero or negative.
    pub fn bad_count(product: i64, count: i32) -> String {
        format!("error: product {product} count must be positive, got {count}")
    }
    /// `topack` with no products.
    pub fn empty_package(shipid: i64) -> String {
        format!("error: package {shipid} has no products")
    }
    /// `topack` reusing a package id.
    pub fn shipid_in_use(shipid: i64) -> String {
        format!("error: shipid {shipid} is already used in this world")
    }
    /// `topack` asking for more than the warehouse holds.
    pub fn insufficient_stock(whnum: i32, product: i64, have: i64, need: i64) -> String {
        format!(
            "error: insufficient stock of product {product} in warehouse {whnum}: have {have}, need {need}"
        )
    }
    /// `load`/`queries`/`deliveries` naming a package the world does not know.
    pub fn unknown_package(shipid: i64) -> String {
        format!("error: unknown package {shipid}")
    }
    /// `load` of a package that is not packed (yet, or any more).
    pub fn not_packed(shipid: i64, status: &str) -> String {
        format!("error: package {shipid} is not packed (it is {status})")
    }
    /// `load` naming another warehouse than the package's.
    pub fn wrong_warehouse(shipid: i64, actual: i32, named: i32) -> String {
        format!("error: package {shipid} is in warehouse {actual}, not {named}")
    }
    /// A truck id the world does not have.
    pub fn unknown_truck(truckid: i32) -> String {
        format!("error: unknown truck {truckid}")
    }
    /// `load` onto a truck that is not at the warehouse.
    pub fn truck_not_at_warehouse(truckid: i32, whnum: i32, status: &str) -> String {
        format!("error: truck {truckid} is not at warehouse {whnum} (it is {status})")
    }
    /// `deliveries` with no packages.
    pub fn empty_delivery(truckid: i32) -> String {
        format!("error: delivery for truck {truckid} lists no packages")
    }
    /// `deliveries` naming a package that is not loaded on that truck.
    pub fn not_on_truck(shipid: i64, truckid: i32, status: &str) -> String {
        format!("error: package {shipid} is not loaded on truck {truckid} (it is {status})")
    }
}

/// A package's life, as `queries` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackageStatus {
    /// Being packed.
    Packing,
    /// Packed, waiting for a truck.
    Packed,
    /// Being put on a truck.
    Loading,
    /// On a truck.
    Loaded,
    /// On its way to its destination.
    Delivering,
    /// At its destination.
    Delivered,
}

impl PackageStatus {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            PackageStatus::Packing => "packing",
            PackageStatus::Packed => "packed",
            PackageStatus::Loading => "loading",
            PackageStatus::Loaded => "loaded",
            PackageStatus::Delivering => "delivering",
            PackageStatus::Delivered => "delivered",
        }
    }
}

impl fmt::Display for PackageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a truck is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruckStatus {
    /// Nothing.
    Idle,
    /// Driving to a warehouse.
    Traveling,
    /// At a warehouse, ready to be loaded.
    ArriveWarehouse,
    /// At a warehouse, being loaded.
    Loading,
    /// Driving packages to their destinations.
    Delivering,
}

impl TruckStatus {
    /// The wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            TruckStatus::Idle => "idle",
            TruckStatus::Traveling => "traveling",
            TruckStatus::ArriveWarehouse => "arrive warehouse",
            TruckStatus::Loading => "loading",
            TruckStatus::Delivering => "delivering",
        }
    }
}

#[derive(Debug, Clone)]
struct Package {
    warehouse: i32,
    status: PackageStatus,
    truck: Option<i32>,
}

/// A straight drive between two points.
#[derive(Debug, Clone, Copy)]
struct Leg {
    from: (i32, i32),
    to: (i32, i32),
    depart: Instant,
    arrive: Instant,
}

#[derive(Debug, Clone)]
struct Truck {
    /// Where the truck was when its current leg started (or where it stands).
    position: (i32, i32),
    status: TruckStatus,
    /// The warehouse it is at, when at one.
    at_warehouse: Option<i32>,
    leg: Option<Leg>,
    /// Bumped by every new order to the truck, so timers of an interrupted plan are ignored.
    trip: u64,
    loading: u32,
    drops: VecDeque<(i64, (i32, i32))>,
}

impl Truck {
    fn position_at(&self, now: Instant) -> (i32, i32) {
        let Some(leg) = self.leg else {
            return self.position;
        };
        if now >= leg.arrive || leg.arrive <= leg.depart {
            return leg.to;
        }
        let done = (now - leg.depart).as_secs_f64() / (leg.arrive - leg.depart).as_secs_f64();
        let lerp =
            |a: i32, b: i32| (f64::from(a) + (f64::from(b) - f64::from(a)) * done).round() as i32;
        (lerp(leg.from.0, leg.to.0), lerp(leg.from.1, leg.to.1))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Work {
    Arrive {
        warehouse: i32,
        things: Vec<(i64, String, i32)>,
    },
    Packed {
        shipid: i64,
    },
    Loaded {
        shipid: i64,
        truck: i32,
    },
    AtWarehouse {
        truck: i32,
        trip: u64,
        warehouse: i32,
    },
    AtDrop {
        truck: i32,
        trip: u64,
    },
}

/// Counters for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Incoming request items dropped on purpose (flakiness).
    pub dropped: u64,
    /// Requests acted on.
    pub requests: u64,
    /// Requests refused with an error.
    pub errors: u64,
}

/// A message for one side, and whether the connection must close after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing<M> {
    /// The message.
    pub message: M,
    /// True after a `disconnect`: this message carries `finished` and is the last.
    pub close: bool,
}

/// Which side of a world a link serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The shop (world_amazon).
    Amazon,
    /// The UPS (world_ups).
    Ups,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Amazon => "amazon",
            Side::Ups => "ups",
        })
    }
}

/// A response message that can say `finished` (the world's last word after a `disconnect`).
pub trait Finishing: Default {
    /// Sets `finished`.
    fn finish(&mut self);
}

impl Finishing for wa::AResponses {
    fn finish(&mut self) {
        self.finished = Some(true);
    }
}

impl Finishing for wu::UResponses {
    fn finish(&mut self) {
        self.finished = Some(true);
    }
}

/// The world's end of one link: its session, whether the peer is there, and the simspeed the
/// peer asked for.
struct Link<P: Protocol> {
    session: Session<P>,
    connected: bool,
    finishing: bool,
    speed: u32,
}

impl<P: Protocol> Link<P>
where
    P::Message: Finishing,
{
    fn new(session: Session<P>) -> Self {
        Self {
            session,
            connected: false,
            finishing: false,
            speed: DEFAULT_SIMSPEED,
        }
    }

    fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.finishing = false;
        if connected {
            self.session.resend_all_now();
        }
    }

    /// Applies a message's non-sequenced fields.
    fn control(&mut self, simspeed: Option<u32>, disconnect: Option<bool>) {
        if let Some(speed) = simspeed {
            self.speed = speed.max(1);
        }
        if disconnect == Some(true) {
            self.finishing = true;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.connected
            .then(|| self.session.poll_timeout())
            .flatten()
    }

    fn poll(&mut self, now: Instant) -> Option<Outgoing<P::Message>> {
        if !self.connected {
            return None;
        }
        let message = self.session.poll_transmit(now);
        if !std::mem::take(&mut self.finishing) {
            return message.map(|message| Outgoing {
                message,
                close: false,
            });
        }
        let mut message = message.unwrap_or_default();
        message.finish();
        Some(Outgoing {
            message,
            close: true,
        })
    }
}

/// One world. See the [module docs](self).
pub struct World {
    id: i64,
    model: TimeModel,
    flakiness: u8,
    rng: ChaCha8Rng,
    warehouses: BTreeMap<i32, (i32, i32)>,
    stock: HashMap<(i32, i64), i64>,
    products: HashMap<i64, String>,
    packages: HashMap<i64, Package>,
    trucks: BTreeMap<i32, Truck>,
    timers: BinaryHeap<Reverse<(Instant, u64, Work)>>,
    timer_seq: u64,
    amazon: Link<WorldToShop>,
    ups: Link<WorldToUps>,
    stats: WorldStats,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("id", &self.id)
            .field("warehouses", &self.warehouses.len())
            .field("packages", &self.packages.len())
            .field("trucks", &self.trucks.len())
            .field("timers", &self.timers.len())
            .field("amazon", &self.amazon.session)
            .field("ups", &self.ups.session)
            .finish()
    }
}

impl World {
    /// An empty world. `flakiness` (0–99) is the share of incoming requests dropped unacked.
    pub fn new(
        id: i64,
        model: TimeModel,
        flakiness: u8,
        seed: u64,
        session: SessionConfig,
    ) -> Self {
        let seed = seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            id,
            model,
            flakiness: flakiness.min(99),
            rng: ChaCha8Rng::seed_from_u64(seed),
            warehouses: BTreeMap::new(),
            stock: HashMap::new(),
            products: HashMap::new(),
            packages: HashMap::new(),
            trucks: BTreeMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            amazon: Link::new(Session::new(
                SessionConfig {
                    seed: seed ^ 1,
                    ..session.clone()
                },
                1,
            )),
            ups: Link::new(Session::new(
                SessionConfig {
                    seed: seed ^ 2,
                    ..session
                },
                1,
            )),
            stats: WorldStats::default(),
        }
    }

    /// The world id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Adds a warehouse; an id already used elsewhere is refused.
    pub fn add_warehouse(&mut self, id: i32, at: (i32, i32)) -> Result<(), String> {
        match self.warehouses.get(&id) {
            Some(&existing) if existing != at => Err(format!(
                "error: warehouse {id} already exists at ({}, {})",
                existing.0, existing.1
            )),
            _ => {
                self.warehouses.insert(id, at);
                Ok(())
            }
        }
    }

    /// Adds an idle truck; an id already used is refused.
    pub fn add_truck(&mut self, id: i32, at: (i32, i32)) -> Result<(), String> {
        if self.trucks.contains_key(&id) {
            return Err(format!("error: truck {id} already exists"));
        }
        let truck = Truck {
            position: at,
            status: TruckStatus::Idle,
            at_warehouse: None,
            leg: None,
            trip: 0,
            loading: 0,
            drops: VecDeque::new(),
        };
        self.trucks.insert(id, truck);
        Ok(())
    }

    /// True while that side's peer is connected.
    pub fn connected(&self, side: Side) -> bool {
        match side {
            Side::Amazon => self.amazon.connected,
            Side::Ups => self.ups.connected,
        }
    }

    /// That side's peer connected (or went away); while away, its events wait in the session.
    pub fn set_connected(&mut self, side: Side, connected: bool) {
        match side {
            Side::Amazon => self.amazon.set_connected(connected),
            Side::Ups => self.ups.set_connected(connected),
        }
    }

    /// Units of `product` on hand in `warehouse`.
    pub fn stock(&self, warehouse: i32, product: i64) -> i64 {
        self.stock.get(&(warehouse, product)).copied().unwrap_or(0)
    }

    /// A package's status.
    pub fn package_status(&self, shipid: i64) -> Option<PackageStatus> {
        self.packages.get(&shipid).map(|p| p.status)
    }

    /// A truck's status and position at `now`.
    pub fn truck(&self, truckid: i32, now: Instant) -> Option<(TruckStatus, (i32, i32))> {
        self.trucks
            .get(&truckid)
            .map(|t| (t.status, t.position_at(now)))
    }

    /// Counters.
    pub fn stats(&self) -> WorldStats {
        self.stats
    }

    fn drop_on_purpose(&mut self) -> bool {
        let drop = self.flakiness > 0 && self.rng.random_range(0..100u8) < self.flakiness;
        if drop {
            self.stats.dropped += 1;
        }
        drop
    }

    fn schedule(&mut self, at: Instant, work: Work) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, work)));
    }

    fn amazon_error(&mut self, originseqnum: Seqnum, err: String) {
        self.stats.errors += 1;
        self.amazon.session.send(WorldEvent::Error(wa::AErr {
            err,
            originseqnum,
            seqnum: 0,
        }));
    }

    fn ups_error(&mut self, originseqnum: Seqnum, err: String) {
        self.stats.errors += 1;
        self.ups.session.send(TruckEvent::Error(wu::UErr {
            err,
            originseqnum,
            seqnum: 0,
        }));
    }

    /// Takes in an `ACommands` from the shop.
    pub fn handle_amazon(&mut self, now: Instant, mut commands: wa::ACommands) {
        self.amazon.control(commands.simspeed, commands.disconnect);
        commands.buy.retain(|_| !self.drop_on_purpose());
        commands.topack.retain(|_| !self.drop_on_purpose());
        commands.load.retain(|_| !self.drop_on_purpose());
        commands.queries.retain(|_| !self.drop_on_purpose());
        for (seqnum, command) in self.amazon.session.handle_message(commands) {
            self.stats.requests += 1;
            if let Err(err) = self.execute_amazon(now, command) {
                self.amazon_error(seqnum, err);
            }
        }
    }

    fn execute_amazon(&mut self, now: Instant, command: WorldCommand) -> Result<(), String> {
        match command {
            WorldCommand::Buy(buy) => {
                self.warehouse(buy.whnum)?;
                for thing in &buy.things {
                    if thing.count <= 0 {
                        return Err(errors::bad_count(thing.id, thing.count));
                    }
                }
                for thing in &buy.things {
                    self.products
                        .entry(thing.id)
                        .or_insert_with(|| thing.description.clone());
                }
                let things = buy
                    .things
                    .into_iter()
                    .map(|t| (t.id, t.description, t.count))
                    .collect();
                let at = now + TimeModel::scale(self.model.buy, self.amazon.speed);
                self.schedule(
                    at,
                    Work::Arrive {
                        warehouse: buy.whnum,
                        things,
                    },
                );
            }
            WorldCommand::Pack(pack) => {
                self.warehouse(pack.whnum)?;
                if self.packages.contains_key(&pack.shipid) {
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
                    let have = self.stock(pack.whnum, product);
                    if have < count {
                        return Err(errors::insufficient_stock(pack.whnum, product, have, count));
                    }
                }
                for (&product, &count) in &need {
                    *self.stock.entry((pack.whnum, product)).or_default() -= count;
                }
                let units = need.values().map(|&c| c as u64).sum();
                let package = Package {
                    warehouse: pack.whnum,
                    status: PackageStatus::Packing,
                    truck: None,
                };
                self.packages.insert(pack.shipid, package);
                let at = now + self.model.packing(units, self.amazon.speed);
                self.schedule(
                    at,
                    Work::Packed {
                        shipid: pack.shipid,
                    },
                );
            }
            WorldCommand::Load(load) => {
                self.warehouse(load.whnum)?;
                let package = self
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
                let truck = self
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
                let package = self.packages.get_mut(&load.shipid).expect("checked above");
                package.status = PackageStatus::Loading;
                package.truck = Some(load.truckid);
                let at = now + TimeModel::scale(self.model.load, self.amazon.speed);
                self.schedule(
                    at,
                    Work::Loaded {
                        shipid: load.shipid,
                        truck: load.truckid,
                    },
                );
            }
            WorldCommand::Query(query) => {
                let package = self
                    .packages
                    .get(&query.packageid)
                    .ok_or_else(|| errors::unknown_package(query.packageid))?;
                let status = package.status.as_str().to_string();
                self.amazon
                    .session
                    .send(WorldEvent::PackageStatus(wa::APackage {
                        packageid: query.packageid,
                        status,
                        seqnum: 0,
                    }));
            }
        }
        Ok(())
    }

    fn warehouse(&self, id: i32) -> Result<(i32, i32), String> {
        self.warehouses
            .get(&id)
            .copied()
            .ok_or_else(|| errors::unknown_warehouse(id))
    }

    /// Takes in a `UCommands` from the UPS.
    pub fn handle_ups(&mut self, now: Instant, mut commands: wu::UCommands) {
        self.ups.control(commands.simspeed, commands.disconnect);
        commands.pickups.retain(|_| !self.drop_on_purpose());
        commands.deliveries.retain(|_| !self.drop_on_purpose());
        commands.queries.retain(|_| !self.drop_on_purpose());
        for (seqnum, command) in self.ups.session.handle_message(commands) {
            self.stats.requests += 1;
            if let Err(err) = self.execute_ups(now, command) {
                self.ups_error(seqnum, err);
            }
        }
    }

    fn execute_ups(&mut self, now: Instant, command: TruckCommand) -> Result<(), String> {
        match command {
            TruckCommand::Pickup(pickup) => {
                let target = self.warehouse(pickup.whid)?;
                let speed = self.ups.speed;
                let model = self.model;
                let truck = self
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
                let arrive = now + model.travel(from, target, speed);
                truck.leg = Some(Leg {
                    from,
                    to: target,
                    depart: now,
                    arrive,
                });
                let trip = truck.trip;
                for shipid in interrupted {
                    if let Some(p) = self.packages.get_mut(&shipid) {
                        p.status = PackageStatus::Loaded;
                    }
                }
                self.schedule(
                    arrive,
                    Work::AtWarehouse {
                        truck: pickup.truckid,
                        trip,
                        warehouse: pickup.whid,
                    },
                );
            }
            TruckCommand::Deliver(deliver) => {
                let truck = self
                    .trucks
                    .get(&deliver.truckid)
                    .ok_or_else(|| errors::unknown_truck(deliver.truckid))?;
                if deliver.packages.is_empty() {
                    return Err(errors::empty_delivery(deliver.truckid));
                }
                let already: Vec<i64> = truck.drops.iter().map(|(p, _)| *p).collect();
                for (i, location) in deliver.packages.iter().enumerate() {
                    let package = self
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
                    self.packages
                        .get_mut(&location.packageid)
                        .expect("checked")
                        .status = PackageStatus::Delivering;
                }
                let truck = self
                    .trucks
                    .get_mut(&deliver.truckid)
                    .expect("checked above");
                let was_delivering =
                    truck.status == TruckStatus::Delivering && !truck.drops.is_empty();
                truck
                    .drops
                    .extend(deliver.packages.iter().map(|l| (l.packageid, (l.x, l.y))));
                if !was_delivering {
                    self.start_next_drop(now, deliver.truckid);
                }
            }
            TruckCommand::Query(query) => {
                let truck = self
                    .trucks
                    .get(&query.truckid)
                    .ok_or_else(|| errors::unknown_truck(query.truckid))?;
                let (x, y) = truck.position_at(now);
                let status = truck.status.as_str().to_string();
                self.ups.session.send(TruckEvent::Status(wu::UTruck {
                    truckid: query.truckid,
                    status,
                    x,
                    y,
                    seqnum: 0,
                }));
            }
        }
        Ok(())
    }

    /// Sends a truck towards its next drop, or reports it idle when there is none.
    fn start_next_drop(&mut self, now: Instant, truckid: i32) {
        let speed = self.ups.speed;
        let model = self.model;
        let truck = self.trucks.get_mut(&truckid).expect("caller checked");
        let from = truck.position_at(now);
        truck.position = from;
        truck.at_warehouse = None;
        truck.trip += 1;
        let trip = truck.trip;
        match truck.drops.front() {
            Some(&(_, to)) => {
                truck.status = TruckStatus::Delivering;
                let arrive = now + model.travel(from, to, speed);
                truck.leg = Some(Leg {
                    from,
                    to,
                    depart: now,
                    arrive,
                });
                self.schedule(
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
                self.ups.session.send(TruckEvent::Completion(completion));
            }
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((at, _, work)) = self.timers.pop().expect("peeked");
            self.fire(at, work);
        }
    }

    fn fire(&mut self, at: Instant, work: Work) {
        match work {
            Work::Arrive { warehouse, things } => {
                for (product, _, count) in &things {
                    *self.stock.entry((warehouse, *product)).or_default() += i64::from(*count);
                }
                let things = things
                    .into_iter()
                    .map(|(id, description, count)| wa::AProduct {
                        id,
                        description,
                        count,
                    })
                    .collect();
                self.amazon
                    .session
                    .send(WorldEvent::Arrived(wa::APurchaseMore {
                        whnum: warehouse,
                        things,
                        seqnum: 0,
                    }));
            }
            Work::Packed { shipid } => {
                if let Some(package) = self.packages.get_mut(&shipid) {
                    package.status = PackageStatus::Packed;
                }
                self.amazon
                    .session
                    .send(WorldEvent::Ready(wa::APacked { shipid, seqnum: 0 }));
            }
            Work::Loaded { shipid, truck } => {
                if let Some(package) = self.packages.get_mut(&shipid)
                    && package.status == PackageStatus::Loading
                {
                    package.status = PackageStatus::Loaded;
                }
                if let Some(t) = self.trucks.get_mut(&truck) {
                    t.loading = t.loading.saturating_sub(1);
                    if t.loading == 0 && t.status == TruckStatus::Loading {
                        t.status = TruckStatus::ArriveWarehouse;
                    }
                }
                self.amazon
                    .session
                    .send(WorldEvent::Loaded(wa::ALoaded { shipid, seqnum: 0 }));
            }
            Work::AtWarehouse {
                truck,
                trip,
                warehouse,
            } => {
                let Some(t) = self.trucks.get_mut(&truck) else {
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
                self.ups.session.send(TruckEvent::Completion(completion));
            }
            Work::AtDrop { truck, trip } => {
                let Some(t) = self.trucks.get_mut(&truck) else {
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
                if let Some(package) = self.packages.get_mut(&shipid) {
                    package.status = PackageStatus::Delivered;
                }
                self.ups
                    .session
                    .send(TruckEvent::Delivered(wu::UDeliveryMade {
                        truckid: truck,
                        packageid: shipid,
                        seqnum: 0,
                    }));
                self.start_next_drop(at, truck);
            }
        }
    }

    /// When the world next needs [`World::handle_timeout`] or a poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        [timer, self.amazon.poll_timeout(), self.ups.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next `AResponses` for the connected shop, if any is due.
    pub fn poll_amazon(&mut self, now: Instant) -> Option<Outgoing<wa::AResponses>> {
        self.amazon.poll(now)
    }

    /// The next `UResponses` for the connected UPS, if any is due.
    pub fn poll_ups(&mut self, now: Instant) -> Option<Outgoing<wu::UResponses>> {
        self.ups.poll(now)
    }
}

#[cfg(test)]
mod tests;
