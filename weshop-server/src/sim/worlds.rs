//! Every world of one simulator, and the handshakes that create or join them (sans-IO).
//!
//! A world is created by whichever side connects first without a `worldid` (the shop with its
//! warehouses, or a UPS with its trucks) and joined by id after that. Each world takes one shop
//! and one UPS connection at a time; a side that reconnects with the same `worldid` resumes its
//! session, and simulated time keeps running while nobody is connected.

use std::{collections::BTreeMap, time::Instant};

use weshop_core::session::SessionConfig;
use weshop_proto::{world_amazon as wa, world_ups as wu};

use super::{
    time_model::TimeModel,
    world::{Outgoing, Side, World},
};

/// The `result` of a successful handshake.
pub const CONNECTED: &str = "connected!";

/// Settings shared by every world of a simulator.
#[derive(Debug, Clone, Default)]
pub struct WorldConfig {
    /// Share (0–99) of incoming requests dropped before they are acked.
    pub flakiness: u8,
    /// Seed of the flakiness and of the sessions' jitter.
    pub seed: u64,
    /// Durations at simspeed 100.
    pub model: TimeModel,
    /// Resend timing of the world's own sessions.
    pub session: SessionConfig,
}

/// All worlds of one simulator.
#[derive(Debug)]
pub struct WorldSim {
    config: WorldConfig,
    worlds: BTreeMap<i64, World>,
    next_id: i64,
}

impl WorldSim {
    /// A simulator with no worlds yet.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            config,
            worlds: BTreeMap::new(),
            next_id: 1,
        }
    }

    /// A world by id.
    pub fn world(&self, id: i64) -> Option<&World> {
        self.worlds.get(&id)
    }

    /// A world by id, to change.
    pub fn world_mut(&mut self, id: i64) -> Option<&mut World> {
        self.worlds.get_mut(&id)
    }

    /// Ids of every world.
    pub fn world_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.worlds.keys().copied()
    }

    fn new_world(&mut self) -> World {
        let id = self.next_id;
        self.next_id += 1;
        World::new(
            id,
            self.config.model,
            self.config.flakiness,
            self.config.seed,
            self.config.session.clone(),
        )
    }

    /// Handles a shop's `AConnect`: the world it is now connected to, or the `error: …` text to
    /// answer (and close) with.
    pub fn connect_amazon(&mut self, hello: &wa::AConnect) -> Result<i64, String> {
        if !hello.is_amazon {
            return Err("error: isAmazon must be true on the Amazon port".into());
        }
        self.connect(Side::Amazon, hello.worldid, |world| {
            hello
                .initwh
                .iter()
                .try_for_each(|wh| world.add_warehouse(wh.id, (wh.x, wh.y)))
        })
    }

    /// Handles a UPS's `UConnect`, like [`WorldSim::connect_amazon`].
    pub fn connect_ups(&mut self, hello: &wu::UConnect) -> Result<i64, String> {
        if hello.is_amazon {
            return Err("error: isAmazon must be false on the UPS port".into());
        }
        self.connect(Side::Ups, hello.worldid, |world| {
            hello
                .trucks
                .iter()
                .try_for_each(|t| world.add_truck(t.id, (t.x, t.y)))
        })
    }

    /// Creates a world (no `worldid`) or joins one, populates it, and marks `side` connected.
    fn connect(
        &mut self,
        side: Side,
        worldid: Option<i64>,
        populate: impl FnOnce(&mut World) -> Result<(), String>,
    ) -> Result<i64, String> {
        let mut created = None;
        let world = match worldid {
            None => created.insert(self.new_world()),
            Some(id) => {
                let world = self
                    .worlds
                    .get_mut(&id)
                    .ok_or_else(|| format!("error: world {id} does not exist"))?;
                if world.connected(side) {
                    let who = match side {
                        Side::Amazon => "an Amazon",
                        Side::Ups => "a UPS",
                    };
                    return Err(format!("error: world {id} already has {who} connected"));
                }
                world
            }
        };
        populate(world)?;
        world.set_connected(side, true);
        let id = world.id();
        if let Some(world) = created {
            self.worlds.insert(id, world);
        }
        Ok(id)
    }

    /// The `side` peer of world `id` went away.
    pub fn disconnect(&mut self, side: Side, id: i64) {
        if let Some(world) = self.worlds.get_mut(&id) {
            world.set_connected(side, false);
        }
    }

    /// An `ACommands` from the shop of world `id`.
    pub fn handle_amazon(&mut self, now: Instant, id: i64, commands: wa::ACommands) {
        if let Some(world) = self.worlds.get_mut(&id) {
            world.handle_timeout(now);
            world.handle_amazon(now, commands);
        }
    }

    /// A `UCommands` from the UPS of world `id`.
    pub fn handle_ups(&mut self, now: Instant, id: i64, commands: wu::UCommands) {
        if let Some(world) = self.worlds.get_mut(&id) {
            world.handle_timeout(now);
            world.handle_ups(now, commands);
        }
    }

    /// Fires due timers in every world; returns the ids of worlds that may have output.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<i64> {
        let mut touched = Vec::new();
        for (id, world) in &mut self.worlds {
            if world.poll_timeout().is_some_and(|at| at <= now) {
                world.handle_timeout(now);
                touched.push(*id);
            }
        }
        touched
    }

    /// The earliest moment any world needs attention.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.worlds.values().filter_map(World::poll_timeout).min()
    }

    /// The next message for the shop of world `id`.
    pub fn poll_amazon(&mut self, now: Instant, id: i64) -> Option<Outgoing<wa::AResponses>> {
        self.worlds.get_mut(&id)?.poll_amazon(now)
    }

    /// The next message for the UPS of world `id`.
    pub fn poll_ups(&mut self, now: Instant, id: i64) -> Option<Outgoing<wu::UResponses>> {
        self.worlds.get_mut(&id)?.poll_ups(now)
    }
}
