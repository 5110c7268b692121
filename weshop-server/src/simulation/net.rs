//! The simulated network between the shop, the world and the UPS: whole messages in flight,
//! each lost, doubled, delayed (and so reordered) at random, and connections that reset.
//!
//! A message is encoded when sent and decoded when delivered, so what crosses is exactly what
//! a socket would carry. A connection that resets loses what is in flight on it and stays down
//! for a while; both ends are told when it comes back ([`Network::came_up`]), as a TCP peer
//! would see a fresh connection.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use prost::Message;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use weshop_proto::{ups_amazon as ua, world_amazon as wa, world_ups as wu};

/// A message on its way, by direction.
#[derive(Debug, Clone)]
pub enum Packet {
    /// Shop → world.
    ShopToWorld(wa::ACommands),
    /// World → shop.
    WorldToShop(wa::AResponses),
    /// Shop → UPS.
    ShopToUps(ua::AtoUCommands),
    /// UPS → shop.
    UpsToShop(ua::UtoACommands),
    /// UPS → world.
    UpsToWorld(wu::UCommands),
    /// World → UPS.
    WorldToUps(wu::UResponses),
}

impl Packet {
    /// The connection it travels on.
    pub fn wire(&self) -> Wire {
        match self {
            Packet::ShopToWorld(_) | Packet::WorldToShop(_) => Wire::ShopWorld,
            Packet::ShopToUps(_) | Packet::UpsToShop(_) => Wire::ShopUps,
            Packet::UpsToWorld(_) | Packet::WorldToUps(_) => Wire::UpsWorld,
        }
    }

    /// The same message after a trip through its encoding.
    fn through_the_wire(self) -> Self {
        fn trip<M: Message + Default>(m: M) -> M {
            M::decode(m.encode_to_vec().as_slice()).expect("a message decodes as encoded")
        }
        match self {
            Packet::ShopToWorld(m) => Packet::ShopToWorld(trip(m)),
            Packet::WorldToShop(m) => Packet::WorldToShop(trip(m)),
            Packet::ShopToUps(m) => Packet::ShopToUps(trip(m)),
            Packet::UpsToShop(m) => Packet::UpsToShop(trip(m)),
            Packet::UpsToWorld(m) => Packet::UpsToWorld(trip(m)),
            Packet::WorldToUps(m) => Packet::WorldToUps(trip(m)),
        }
    }
}

/// One of the three connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wire {
    /// Shop – world.
    ShopWorld,
    /// Shop – UPS.
    ShopUps,
    /// UPS – world.
    UpsWorld,
}

/// How unkind the network is.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// Share of messages lost (0–1).
    pub loss: f64,
    /// Share of messages delivered twice.
    pub duplicate: f64,
    /// Longest delay of a message (each is delayed by a random share of it).
    pub max_delay: Duration,
    /// Chance that sending a message resets its connection.
    pub reset: f64,
    /// Longest time a reset connection stays down.
    pub max_down: Duration,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages lost (on purpose, or in flight on a connection that reset or was down).
    pub lost: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Connections reset.
    pub resets: u64,
}

/// The network. See the [module docs](self).
pub struct Network {
    faults: Faults,
    rng: ChaCha8Rng,
    in_flight: BTreeMap<(Instant, u64), Packet>,
    next_id: u64,
    down_until: BTreeMap<Wire, Instant>,
    stats: NetStats,
}

impl Network {
    /// A network with every connection up; `rng` rolls the dice.
    pub fn new(faults: Faults, rng: ChaCha8Rng) -> Self {
        Self {
            faults,
            rng,
            in_flight: BTreeMap::new(),
            next_id: 0,
            down_until: BTreeMap::new(),
            stats: NetStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// True while the connection is up.
    pub fn is_up(&self, wire: Wire) -> bool {
        !self.down_until.contains_key(&wire)
    }

    /// Takes the connection down until `until` (a reset, or a peer that died): what is in
    /// flight on it is lost.
    pub fn take_down(&mut self, wire: Wire, until: Instant) {
        let lost: Vec<_> = self
            .in_flight
            .iter()
            .filter(|(_, p)| p.wire() == wire)
            .map(|(k, _)| *k)
            .collect();
        self.stats.lost += lost.len() as u64;
        for key in lost {
            self.in_flight.remove(&key);
        }
        let until = self
            .down_until
            .get(&wire)
            .map_or(until, |&at| at.max(until));
        self.down_until.insert(wire, until);
    }

    /// Keeps a connection down until [`Network::bring_up`] (a crashed shop).
    pub fn hold_down(&mut self, wire: Wire, far: Instant) {
        self.take_down(wire, far);
    }

    /// Brings a held connection up at `at`.
    pub fn bring_up(&mut self, wire: Wire, at: Instant) {
        if let Some(until) = self.down_until.get_mut(&wire) {
            *until = at;
        }
    }

    /// Sends a message at `now`; the dice decide its fate.
    pub fn send(&mut self, now: Instant, packet: Packet) {
        self.stats.sent += 1;
        let wire = packet.wire();
        if !self.is_up(wire) || self.rng.random_bool(self.faults.loss) {
            self.stats.lost += 1;
            return;
        }
        if self.rng.random_bool(self.faults.reset) {
            self.stats.resets += 1;
            let down = self
                .faults
                .max_down
                .mul_f64(self.rng.random_range(0.05..1.0));
            self.take_down(wire, now + down);
            return;
        }
        let copies = if self.rng.random_bool(self.faults.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let packet = packet.through_the_wire();
        for _ in 0..copies {
            let delay = self
                .faults
                .max_delay
                .mul_f64(self.rng.random_range(0.0..1.0));
            self.in_flight
                .insert((now + delay, self.next_id), packet.clone());
            self.next_id += 1;
        }
    }

    /// When something next happens on the network.
    pub fn next_event(&self) -> Option<Instant> {
        let delivery = self.in_flight.keys().next().map(|(at, _)| *at);
        let up = self.down_until.values().min().copied();
        [delivery, up].into_iter().flatten().min()
    }

    /// The connections whose down time is over at `now`; they count as up again from here.
    pub fn came_up(&mut self, now: Instant) -> Vec<Wire> {
        let up: Vec<Wire> = self
            .down_until
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(w, _)| *w)
            .collect();
        for wire in &up {
            self.down_until.remove(wire);
        }
        up
    }

    /// The next message due at `now`.
    pub fn deliver(&mut self, now: Instant) -> Option<Packet> {
        let (&key, _) = self.in_flight.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.in_flight.remove(&key)
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty()
    }
}
