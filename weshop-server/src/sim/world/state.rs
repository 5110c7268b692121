//! What a world holds: warehouses and their stock, packages, trucks, and the timers of work in
//! progress. Commands ([`super::cmd`]) read and change it; it knows nothing of sessions.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap, VecDeque},
    fmt,
    time::Instant,
};

use super::errors;
use crate::sim::time_model::TimeModel;

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
pub(super) struct Package {
    pub(super) warehouse: i32,
    pub(super) status: PackageStatus,
    pub(super) truck: Option<i32>,
}

/// A straight drive between two points.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leg {
    pub(super) from: (i32, i32),
    pub(super) to: (i32, i32),
    pub(super) depart: Instant,
    pub(super) arrive: Instant,
}

#[derive(Debug, Clone)]
pub(super) struct Truck {
    /// Where the truck was when its current leg started (or where it stands).
    pub(super) position: (i32, i32),
    pub(super) status: TruckStatus,
    /// The warehouse it is at, when at one.
    pub(super) at_warehouse: Option<i32>,
    pub(super) leg: Option<Leg>,
    /// Bumped by every new order to the truck, so timers of an interrupted plan are ignored.
    pub(super) trip: u64,
    pub(super) loading: u32,
    pub(super) drops: VecDeque<(i64, (i32, i32))>,
}

impl Truck {
    pub(super) fn position_at(&self, now: Instant) -> (i32, i32) {
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

/// Work that takes time: each becomes a timer, and the command that started it finishes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Work {
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

/// Everything in one world but its sessions.
#[derive(Debug)]
pub(super) struct State {
    pub(super) model: TimeModel,
    pub(super) warehouses: BTreeMap<i32, (i32, i32)>,
    pub(super) stock: HashMap<(i32, i64), i64>,
    pub(super) products: HashMap<i64, String>,
    pub(super) packages: HashMap<i64, Package>,
    pub(super) trucks: BTreeMap<i32, Truck>,
    timers: BinaryHeap<Reverse<(Instant, u64, Work)>>,
    timer_seq: u64,
}

impl State {
    pub(super) fn new(model: TimeModel) -> Self {
        Self {
            model,
            warehouses: BTreeMap::new(),
            stock: HashMap::new(),
            products: HashMap::new(),
            packages: HashMap::new(),
            trucks: BTreeMap::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
        }
    }

    /// Adds a warehouse; an id already used elsewhere is refused.
    pub(super) fn add_warehouse(&mut self, id: i32, at: (i32, i32)) -> Result<(), String> {
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
    pub(super) fn add_truck(&mut self, id: i32, at: (i32, i32)) -> Result<(), String> {
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

    /// Where a warehouse is, or the error naming it unknown.
    pub(super) fn warehouse(&self, id: i32) -> Result<(i32, i32), String> {
        self.warehouses
            .get(&id)
            .copied()
            .ok_or_else(|| errors::unknown_warehouse(id))
    }

    /// Units of `product` on hand in `warehouse`.
    pub(super) fn stock(&self, warehouse: i32, product: i64) -> i64 {
        self.stock.get(&(warehouse, product)).copied().unwrap_or(0)
    }

    /// Takes up to `units` of `product` out of `warehouse`; how many it took.
    pub(super) fn lose(&mut self, warehouse: i32, product: i64, units: i64) -> i64 {
        let Some(on_hand) = self.stock.get_mut(&(warehouse, product)) else {
            return 0;
        };
        let lost = units.clamp(0, *on_hand);
        *on_hand -= lost;
        lost
    }

    /// Runs `work` at `at`.
    pub(super) fn schedule(&mut self, at: Instant, work: Work) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, work)));
    }

    /// When the next timer is due.
    pub(super) fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Takes the earliest timer due at `now`, with the moment it was due.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Work)> {
        if self.next_timer()? > now {
            return None;
        }
        let Reverse((at, _, work)) = self.timers.pop().expect("peeked");
        Some((at, work))
    }

    /// Timers waiting.
    pub(super) fn timers(&self) -> usize {
        self.timers.len()
    }
}
