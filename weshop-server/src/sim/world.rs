//! One simulated world: warehouses, stock, packages and trucks, as a sans-IO state machine.
//!
//! The world holds one reliable session towards its shop and one towards its UPS (module
//! `peer`). Commands come in through [`World::handle_amazon`] and [`World::handle_ups`] and are
//! carried out one at a time, each by its own module under `cmd` (in the style of mini-redis),
//! on the world's state (module `state`: warehouses, stock, packages, trucks, timers); work that
//! takes time becomes a timer, fired by [`World::handle_timeout`] and finished by the command
//! that started it; what the world has to say leaves through [`World::poll_amazon`] and
//! [`World::poll_ups`]. Sessions outlive connections, so events that happen while a side is
//! away are delivered when it reconnects.
//!
//! Every rule of PROTOCOL.md is enforced with an `error` item naming the request's seqnum; the
//! texts are in [`errors`].

mod cmd;
pub mod errors;
mod peer;
mod state;

use std::{fmt, time::Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weshop_core::session::{Seqnum, Session, SessionConfig};
use weshop_proto::{world_amazon as wa, world_ups as wu};

pub use peer::{Finishing, Outgoing, Side};
pub use state::{PackageStatus, TruckStatus};

use super::time_model::TimeModel;
use crate::protocols::{TruckEvent, WorldEvent};
use cmd::{ToShop, ToUps};
use peer::Peer;
use state::State;

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

/// One world. See the [module docs](self).
pub struct World {
    id: i64,
    flakiness: u8,
    rng: ChaCha8Rng,
    state: State,
    amazon: ToShop,
    ups: ToUps,
    stats: WorldStats,
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("id", &self.id)
            .field("warehouses", &self.state.warehouses.len())
            .field("packages", &self.state.packages.len())
            .field("trucks", &self.state.trucks.len())
            .field("timers", &self.state.timers())
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
            flakiness: flakiness.min(99),
            rng: ChaCha8Rng::seed_from_u64(seed),
            state: State::new(model),
            amazon: Peer::new(Session::new(
                SessionConfig {
                    seed: seed ^ 1,
                    ..session.clone()
                },
                1,
            )),
            ups: Peer::new(Session::new(
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
        self.state.add_warehouse(id, at)
    }

    /// Adds an idle truck; an id already used is refused.
    pub fn add_truck(&mut self, id: i32, at: (i32, i32)) -> Result<(), String> {
        self.state.add_truck(id, at)
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
        self.state.stock(warehouse, product)
    }

    /// Every (warehouse, product, units on hand) it holds, in order.
    pub fn stock_levels(&self) -> Vec<(i32, i64, i64)> {
        let mut levels: Vec<_> = self
            .state
            .stock
            .iter()
            .map(|(&(warehouse, product), &units)| (warehouse, product, units))
            .collect();
        levels.sort_unstable();
        levels
    }

    /// Loses up to `units` of `product` in `warehouse` without telling anyone (theft, breakage,
    /// a miscount): a fault for tests, so the shop's belief and the world's stock part ways.
    /// Returns how many were lost.
    pub fn lose(&mut self, warehouse: i32, product: i64, units: i64) -> i64 {
        self.state.lose(warehouse, product, units)
    }

    /// A package's status.
    pub fn package_status(&self, shipid: i64) -> Option<PackageStatus> {
        self.state.packages.get(&shipid).map(|p| p.status)
    }

    /// A truck's status and position at `now`.
    pub fn truck(&self, truckid: i32, now: Instant) -> Option<(TruckStatus, (i32, i32))> {
        self.state
            .trucks
            .get(&truckid)
            .map(|t| (t.status, t.position_at(now)))
    }

    /// True when nothing is left to do: no timer runs and neither session waits for an ack or
    /// owes one (a simulation's end state).
    pub fn is_quiescent(&self) -> bool {
        self.state.timers() == 0 && self.amazon.session.is_idle() && self.ups.session.is_idle()
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

    /// Takes in an `ACommands` from the shop.
    pub fn handle_amazon(&mut self, now: Instant, mut commands: wa::ACommands) {
        self.amazon.control(commands.simspeed, commands.disconnect);
        commands.buy.retain(|_| !self.drop_on_purpose());
        commands.topack.retain(|_| !self.drop_on_purpose());
        commands.load.retain(|_| !self.drop_on_purpose());
        commands.queries.retain(|_| !self.drop_on_purpose());
        for (seqnum, command) in self.amazon.session.handle_message(commands) {
            self.stats.requests += 1;
            if let Err(err) = cmd::shop(&mut self.state, &mut self.amazon, now, command) {
                self.amazon_error(seqnum, err);
            }
        }
    }

    /// Takes in a `UCommands` from the UPS.
    pub fn handle_ups(&mut self, now: Instant, mut commands: wu::UCommands) {
        self.ups.control(commands.simspeed, commands.disconnect);
        commands.pickups.retain(|_| !self.drop_on_purpose());
        commands.deliveries.retain(|_| !self.drop_on_purpose());
        commands.queries.retain(|_| !self.drop_on_purpose());
        for (seqnum, command) in self.ups.session.handle_message(commands) {
            self.stats.requests += 1;
            if let Err(err) = cmd::ups(&mut self.state, &mut self.ups, now, command) {
                self.ups_error(seqnum, err);
            }
        }
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

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, work)) = self.state.pop_due(now) {
            cmd::finish(&mut self.state, &mut self.amazon, &mut self.ups, at, work);
        }
    }

    /// When the world next needs [`World::handle_timeout`] or a poll.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.state.next_timer(),
            self.amazon.poll_timeout(),
            self.ups.poll_timeout(),
        ]
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
