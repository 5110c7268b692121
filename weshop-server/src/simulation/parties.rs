//! The shop's partners and what lies between: the simulated world and UPS (the same sans-IO
//! machines `weshop world-sim` and `weshop ups-sim` run), the faulty network, the connections'
//! ups and downs, and the ledger of package commands seen on the wire.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weshop_core::{domain::WarehouseSite, session::SessionConfig};

use super::{
    SimConfig,
    ledger::{Kind, Ledger},
    net::{Network, Packet, Wire},
    shop::ShopNode,
};
use crate::adapters::ups::CONNECT_SEQNUM;
use crate::sim::{Side, TimeModel, UpsConfig, UpsSim, World};

/// The world id of every simulation.
const WORLD_ID: i64 = 1;

/// The world, the UPS, the network and the ledger.
pub struct Parties {
    /// The world.
    pub world: World,
    /// The UPS.
    pub ups: UpsSim,
    /// The network.
    pub net: Network,
    ledger: Ledger,
    /// Each connection as its ends last saw it.
    up: BTreeMap<Wire, bool>,
    warehouses: Vec<i32>,
    /// Products to watch the world's stock of.
    pub products: Vec<i64>,
    /// When tracing, the start of virtual time (deliveries are printed to stderr).
    pub trace: Option<Instant>,
}

impl Parties {
    /// A world with the shop's warehouses and the UPS's trucks, all connections down until
    /// [`Parties::sync`] sees them up.
    pub fn new(config: &SimConfig, warehouses: &[WarehouseSite], rng: &mut ChaCha8Rng) -> Self {
        let mut world = World::new(
            WORLD_ID,
            TimeModel::default(),
            0,
            rng.random(),
            SessionConfig::default(),
        );
        for site in warehouses {
            world
                .add_warehouse(site.id.get(), (site.location.x, site.location.y))
                .expect("distinct warehouses");
        }
        let ups = UpsSim::new(
            UpsConfig {
                trucks: config.trucks,
                grid: 80,
                seed: rng.random(),
                linger: config.linger,
                eager_dispatch: config.eager_ups,
                simspeed: None,
                session: SessionConfig::default(),
            },
            WORLD_ID,
        );
        for truck in ups.uconnect().trucks {
            world
                .add_truck(truck.id, (truck.x, truck.y))
                .expect("distinct trucks");
        }
        Self {
            world,
            ups,
            net: Network::new(config.faults, ChaCha8Rng::seed_from_u64(rng.random())),
            ledger: Ledger::default(),
            up: [Wire::ShopWorld, Wire::ShopUps, Wire::UpsWorld]
                .into_iter()
                .map(|w| (w, false))
                .collect(),
            warehouses: warehouses.iter().map(|w| w.id.get()).collect(),
            products: Vec::new(),
            trace: None,
        }
    }

    /// Tells each end of a connection that came up or went down (the shop's ends only while it
    /// runs).
    pub fn sync(&mut self, shop: Option<&ShopNode>) {
        for wire in [Wire::ShopWorld, Wire::ShopUps, Wire::UpsWorld] {
            let up = self.net.is_up(wire) && (wire == Wire::UpsWorld || shop.is_some());
            if self.up[&wire] == up {
                continue;
            }
            self.up.insert(wire, up);
            match (wire, up) {
                (Wire::ShopWorld, _) => {
                    self.world.set_connected(Side::Amazon, up);
                    if let (true, Some(shop)) = (up, shop) {
                        shop.world.reconnected();
                    }
                }
                (Wire::ShopUps, true) => {
                    self.ups.shop_connected(CONNECT_SEQNUM);
                    if let Some(shop) = shop {
                        shop.ups.reconnected();
                    }
                }
                (Wire::UpsWorld, _) => {
                    self.world.set_connected(Side::Ups, up);
                    if up {
                        self.ups.world_connected();
                    }
                }
                (Wire::ShopUps, false) => {}
            }
        }
    }

    /// Hands a message to its receiver; `Some(wire)` when the shop's link step failed there.
    pub fn deliver(
        &mut self,
        now: Instant,
        packet: Packet,
        shop: &ShopNode,
        runtime: &tokio::runtime::Runtime,
    ) -> Option<Wire> {
        let wire = packet.wire();
        if !self.up[&wire] {
            return None;
        }
        if let Some(start) = self.trace {
            eprintln!("{:>10.3?} {packet:?}", now - start);
        }
        let failed = match packet {
            Packet::ShopToWorld(m) => {
                self.world.handle_amazon(now, m);
                Ok(())
            }
            Packet::UpsToWorld(m) => {
                self.world.handle_ups(now, m);
                Ok(())
            }
            Packet::ShopToUps(m) => {
                self.ups.handle_shop(now, m);
                Ok(())
            }
            Packet::WorldToUps(m) => {
                self.ups.handle_world(now, m);
                Ok(())
            }
            Packet::WorldToShop(m) => runtime.block_on(shop.world.receive(m, shop.sink())),
            Packet::UpsToShop(m) => runtime.block_on(shop.ups.receive(m, shop.sink())),
        };
        failed.err().map(|_| wire)
    }

    /// Fires the world's and the UPS's timers due at `now`.
    pub fn timers(&mut self, now: Instant) {
        self.world.handle_timeout(now);
        self.ups.handle_timeout(now);
    }

    /// Sends everything due at `now` on every connection that is up.
    pub fn transmit(&mut self, now: Instant, shop: Option<&ShopNode>) {
        if self.up[&Wire::ShopWorld] {
            while let Some(out) = self.world.poll_amazon(now) {
                self.ledger.world_to_shop(&out.message);
                self.net.send(now, Packet::WorldToShop(out.message));
            }
            if let Some(shop) = shop {
                for message in shop.world.transmit(now) {
                    self.ledger.shop_to_world(&message);
                    self.net.send(now, Packet::ShopToWorld(message));
                }
            }
        }
        if self.up[&Wire::ShopUps] {
            while let Some(message) = self.ups.poll_shop(now) {
                self.ledger.ups_to_shop(&message);
                self.net.send(now, Packet::UpsToShop(message));
            }
            if let Some(shop) = shop {
                for message in shop.ups.transmit(now) {
                    self.ledger.shop_to_ups(&message);
                    self.net.send(now, Packet::ShopToUps(message));
                }
            }
        }
        if self.up[&Wire::UpsWorld] {
            while let Some(out) = self.world.poll_ups(now) {
                self.net.send(now, Packet::WorldToUps(out.message));
            }
            while let Some(message) = self.ups.poll_world(now) {
                self.net.send(now, Packet::UpsToWorld(message));
            }
        }
    }

    /// When the world, the UPS or the network next has something to do.
    pub fn next_moment(&self) -> [Option<Instant>; 3] {
        [
            self.net.next_event(),
            self.world.poll_timeout(),
            self.ups.poll_timeout(),
        ]
    }

    /// The invariants checked at every step.
    pub fn check_step(&self) -> Result<(), String> {
        if let Some(violation) = self.ledger.violation() {
            return Err(violation.to_string());
        }
        for &warehouse in &self.warehouses {
            for &product in &self.products {
                let stock = self.world.stock(warehouse, product);
                if stock < 0 {
                    return Err(format!(
                        "the world's stock of product {product} at warehouse {warehouse} is {stock}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// True when nothing moves: every connection up, nothing in flight, the world and the UPS
    /// quiescent, the shop's sessions idle.
    pub fn at_rest(&self, shop: &ShopNode) -> bool {
        self.up.values().all(|up| *up)
            && self.net.is_empty()
            && self.world.is_quiescent()
            && self.ups.is_quiescent()
            && shop.world.is_idle()
            && shop.ups.is_idle()
    }

    /// Package commands sent, all kinds.
    pub fn package_commands(&self) -> usize {
        [Kind::Pack, Kind::Load, Kind::RequestTruck, Kind::Deliver]
            .into_iter()
            .map(|k| self.ledger.commands(k))
            .sum()
    }

    /// The delay after which a shop link whose step failed is dialled again.
    pub const REDIAL: Duration = Duration::from_millis(100);
}
