//! Deterministic simulation of the whole system (in the style of FoundationDB and
//! TigerBeetle): the shop's service, fulfilment driver, links and store, the world and the UPS,
//! all sans-IO, in one seeded loop with virtual time.
//!
//! The loop ([`run`]) jumps from one moment something is due to the next: a message arriving
//! over the faulty [`net`], a world or UPS timer, a session resend, a checkout, a crash. The
//! network loses, doubles, delays and reorders messages and resets connections; the shop is
//! killed at random points — between operations, or in the middle of one (a store that refuses
//! every commit from a chosen point on) — and restarted from its store; the UPS leaves eagerly
//! or lingers; checkouts race one another. Everything random comes from the one seed, and the
//! async shop code runs on a single-threaded runtime with no timers, so a seed replays exactly.
//!
//! Checked at every step: no package command performed twice and no seqnum reused
//! ([`ledger`]), world stock never negative. Checked at the end: every paid order delivered
//! exactly once (its money captured once) or failed with its payment voided; no hold left
//! without an order; captured total = total of delivered orders; the world's stock is the
//! shop's; every session quiescent, the outbox empty.

mod customers;
pub mod ledger;
pub mod net;
mod parties;
pub mod shop;

use std::{
    collections::BTreeMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weshop_core::{
    domain::{Timestamp, WarehouseSite},
    payments::SimulatedGateway,
    ports::Clock,
    session::SessionConfig,
};
use weshop_storage::{Interleaved, MemoryStore};

use crate::config::default_warehouses;
use customers::{Customers, Outcome};
pub use net::{Faults, NetStats};
use parties::Parties;
use shop::{ShopNode, SimStore};

/// One simulation's settings, all drawn from its seed by [`SimConfig::from_seed`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed of everything random.
    pub seed: u64,
    /// Orders the customers try to place.
    pub orders: usize,
    /// Products listed.
    pub products: usize,
    /// What the network does.
    pub faults: Faults,
    /// Times the shop is killed.
    pub crashes: usize,
    /// Trucks of the UPS.
    pub trucks: u32,
    /// The UPS leaves on the first `DeliverPackage`.
    pub eager_ups: bool,
    /// How long a lingering truck waits.
    pub linger: Duration,
    /// Checkouts happen within this much virtual time from the start.
    pub place_over: Duration,
    /// Most virtual time allowed for everything to settle after that.
    pub settle: Duration,
    /// Prints every message delivered, crash and restart to stderr (to study a failing seed).
    pub trace: bool,
}

impl SimConfig {
    /// A configuration drawn from `seed`: loss up to 50 %, duplicates, delays, resets, up to
    /// five crashes, eager or lingering UPS, 1–6 trucks.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5157_u64);
        Self {
            seed,
            orders: rng.random_range(4..=24),
            products: rng.random_range(1..=4),
            faults: Faults {
                loss: rng.random_range(0.0..0.5),
                duplicate: rng.random_range(0.0..0.2),
                max_delay: Duration::from_millis(rng.random_range(1..2_000)),
                reset: rng.random_range(0.0..0.02),
                max_down: Duration::from_millis(rng.random_range(100..5_000)),
            },
            crashes: rng.random_range(0..=5),
            trucks: rng.random_range(1..=6),
            eager_ups: rng.random_bool(0.5),
            linger: Duration::from_millis(rng.random_range(1_000..15_000)),
            place_over: Duration::from_secs(rng.random_range(1..60)),
            settle: Duration::from_secs(3_600),
            trace: false,
        }
    }
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its seed.
    pub seed: u64,
    /// Orders placed.
    pub placed: usize,
    /// Orders delivered.
    pub delivered: usize,
    /// Orders failed (payment voided).
    pub failed: usize,
    /// Checkouts refused for lack of stock.
    pub refused: usize,
    /// Times the shop was killed.
    pub crashes: usize,
    /// The network's counters.
    pub net: NetStats,
    /// Virtual time from start to quiescence.
    pub virtual_time: Duration,
    /// Loop steps.
    pub steps: u64,
    /// Package commands sent (pack, load, truck requests, deliveries).
    pub package_commands: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {}: {} placed, {} delivered, {} failed, {} refused; {} crashes; {} messages, {} lost, {} doubled, {} resets; {:.0?} virtual, {} steps",
            self.seed,
            self.placed,
            self.delivered,
            self.failed,
            self.refused,
            self.crashes,
            self.net.sent,
            self.net.lost,
            self.net.duplicated,
            self.net.resets,
            self.virtual_time,
            self.steps
        )
    }
}

/// A broken invariant, with what it takes to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The seed that shows it.
    pub seed: u64,
    /// The loop step it was seen at.
    pub step: u64,
    /// Virtual time then.
    pub at: Duration,
    /// What broke.
    pub what: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} failed at step {} ({:.1?} virtual): {}\n  replay: cargo run --release --example simulate -- --seed {}",
            self.seed, self.step, self.at, self.what, self.seed
        )
    }
}

impl std::error::Error for Failure {}

/// Virtual time as the shop's clock.
struct VirtualClock {
    start: Instant,
    now: Mutex<Instant>,
}

/// 2026-01-01, so timestamps look like real ones.
const EPOCH_MS: u64 = 1_767_225_600_000;

impl Clock for VirtualClock {
    fn now(&self) -> Timestamp {
        let now = *self.now.lock().unwrap_or_else(|e| e.into_inner());
        let since = now.saturating_duration_since(self.start).as_millis();
        Timestamp::from_millis(EPOCH_MS + u64::try_from(since).unwrap_or(u64::MAX))
    }
}

/// How often the outbox is offered again when nothing else happens (as `run_outbox` does).
const OUTBOX_RETRY: Duration = Duration::from_millis(200);

/// Most loop steps before a run counts as stuck.
const MAX_STEPS: u64 = 2_000_000;

/// Runs one simulation to quiescence and checks it. See the [module docs](self).
pub fn run(config: &SimConfig) -> Result<Report, Failure> {
    let mut sim = Sim::new(config.clone()).map_err(|what| Failure {
        seed: config.seed,
        step: 0,
        at: Duration::ZERO,
        what,
    })?;
    loop {
        match sim.step() {
            Ok(Some(report)) => return Ok(report),
            Ok(None) => {}
            Err(what) => {
                return Err(Failure {
                    seed: config.seed,
                    step: sim.steps,
                    at: sim.now - sim.start,
                    what,
                });
            }
        }
    }
}

/// The whole system at one moment.
struct Sim {
    config: SimConfig,
    rng: ChaCha8Rng,
    start: Instant,
    now: Instant,
    clock: Arc<VirtualClock>,
    runtime: tokio::runtime::Runtime,
    store: Arc<SimStore>,
    gateway: Arc<SimulatedGateway>,
    warehouses: Vec<WarehouseSite>,
    session: SessionConfig,
    /// The shop, while it runs.
    shop: Option<ShopNode>,
    restart_at: Option<Instant>,
    crash_at: Vec<Instant>,
    crashes: usize,
    /// The shop dies in the middle of the next checkouts.
    die_in_checkout: bool,
    parties: Parties,
    customers: Customers,
    steps: u64,
}

impl Sim {
    fn new(config: SimConfig) -> Result<Self, String> {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let start = Instant::now();
        let clock = Arc::new(VirtualClock {
            start,
            now: Mutex::new(start),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?;
        let store = Arc::new(Interleaved::new(Arc::new(MemoryStore::new())));
        let gateway = Arc::new(SimulatedGateway::new());
        let warehouses = default_warehouses();
        let session = SessionConfig {
            seed: rng.random(),
            ..SessionConfig::default()
        };
        let node = runtime.block_on(ShopNode::start(
            store.clone(),
            warehouses.clone(),
            gateway.clone(),
            clock.clone(),
            session.clone(),
        ))?;
        let mut parties = Parties::new(&config, &warehouses, &mut rng);
        let (customers, products) = runtime.block_on(Customers::set_up(
            &config,
            &node,
            &warehouses,
            &mut rng,
            start,
        ))?;
        parties.products = products;
        parties.trace = config.trace.then_some(start);
        let horizon = config.place_over + Duration::from_secs(30);
        let mut crash_at: Vec<Instant> = (0..config.crashes)
            .map(|_| start + horizon.mul_f64(rng.random_range(0.0..1.0)))
            .collect();
        crash_at.sort();
        let mut sim = Self {
            config,
            rng,
            start,
            now: start,
            clock,
            runtime,
            store,
            gateway,
            warehouses,
            session,
            shop: Some(node),
            restart_at: None,
            crash_at,
            crashes: 0,
            die_in_checkout: false,
            parties,
            customers,
            steps: 0,
        };
        sim.sync_wires();
        Ok(sim)
    }

    /// One moment: advance to the next thing due and do everything due then.
    fn step(&mut self) -> Result<Option<Report>, String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!("no quiescence after {MAX_STEPS} steps"));
        }
        let next = self.next_moment();
        self.now = self.now.max(next);
        *self.clock.now.lock().unwrap_or_else(|e| e.into_inner()) = self.now;
        if self.now - self.start > self.config.place_over + self.config.settle {
            return Err(format!("not settled: {}", self.unsettled()));
        }

        self.parties.net.came_up(self.now);
        if self.restart_at.is_some_and(|at| at <= self.now) {
            self.restart()?;
        }
        if self.crash_at.first().is_some_and(|at| *at <= self.now) {
            self.crash_at.remove(0);
            self.crash_somewhere();
        }
        self.sync_wires();

        while let Some(packet) = self.parties.net.deliver(self.now) {
            let failed = self
                .shop
                .as_ref()
                .and_then(|shop| self.parties.deliver(self.now, packet, shop, &self.runtime));
            if let Some(failed) = failed {
                self.link_failed(failed);
            }
            if self.died() {
                break;
            }
        }
        self.parties.timers(self.now);

        if let Some(shop) = &self.shop {
            let due = self.customers.due(self.now);
            if due > 0 && std::mem::take(&mut self.die_in_checkout) {
                self.store.crash_after(self.rng.random_range(0..due));
            }
            self.customers
                .check_out(self.now, shop, &self.runtime, &mut self.rng)?;
        }
        self.died();
        if let Some(shop) = &self.shop {
            // A refusal (a store that failed) is retried at the next moment.
            let _ = self.runtime.block_on(shop.perform_outbox());
        }
        self.died();

        self.parties.transmit(self.now, self.shop.as_ref());
        self.sync_wires();
        self.parties.check_step()?;
        self.finished()
    }

    /// The earliest moment after now that anything is due (what was due now is done, or
    /// waits for a connection, which comes up at a moment of its own).
    fn next_moment(&self) -> Instant {
        let shop = self.shop.as_ref().map_or([None, None], |s| {
            [s.world.poll_timeout(), s.ups.poll_timeout()]
        });
        let outbox_retry = self.shop.as_ref().map(|_| self.now + OUTBOX_RETRY);
        self.parties
            .next_moment()
            .into_iter()
            .chain([
                self.restart_at,
                self.crash_at.first().copied(),
                self.customers.next_due(),
            ])
            .chain(shop)
            .flatten()
            .filter(|at| *at > self.now)
            .min()
            .or(outbox_retry)
            .unwrap_or(self.now + OUTBOX_RETRY)
    }

    /// Kills the shop now, or arms the store to fail from a few commits on (killed then).
    fn crash_somewhere(&mut self) {
        if self.shop.is_none() {
            return;
        }
        match self.rng.random_range(0..3) {
            0 => self.kill(),
            1 => self.store.crash_after(self.rng.random_range(1..4)),
            // In the middle of the next checkouts: some place their orders, the rest die
            // between their payment's authorization and their order.
            _ => self.die_in_checkout = true,
        }
    }

    /// True (and the shop killed) once the store refuses commits: the process died there.
    fn died(&mut self) -> bool {
        if self.shop.is_some() && self.store.crashed() {
            self.kill();
        }
        self.shop.is_none()
    }

    fn kill(&mut self) {
        if self.config.trace {
            eprintln!("{:>10.3?} CRASH", self.now - self.start);
        }
        self.shop = None;
        self.crashes += 1;
        let far = self.now + Duration::from_secs(365 * 24 * 3600);
        self.parties.net.hold_down(net::Wire::ShopWorld, far);
        self.parties.net.hold_down(net::Wire::ShopUps, far);
        self.restart_at = Some(self.now + Duration::from_millis(self.rng.random_range(50..3_000)));
        self.sync_wires();
    }

    fn restart(&mut self) -> Result<(), String> {
        if self.config.trace {
            eprintln!("{:>10.3?} RESTART", self.now - self.start);
        }
        self.restart_at = None;
        self.store.restart();
        let node = self.runtime.block_on(ShopNode::start(
            self.store.clone(),
            self.warehouses.clone(),
            self.gateway.clone(),
            self.clock.clone(),
            self.session.clone(),
        ))?;
        self.shop = Some(node);
        self.parties.net.bring_up(net::Wire::ShopWorld, self.now);
        self.parties.net.bring_up(net::Wire::ShopUps, self.now);
        self.parties.net.came_up(self.now);
        Ok(())
    }

    /// A link step failed (a store error): like the link task, drop that connection so the
    /// peer resends.
    fn link_failed(&mut self, wire: net::Wire) {
        if self.died() {
            return;
        }
        let back = self.now + Parties::REDIAL;
        self.parties.net.take_down(wire, back);
        self.sync_wires();
    }

    fn sync_wires(&mut self) {
        self.parties.sync(self.shop.as_ref());
    }

    /// Why the run has not settled, in words.
    fn unsettled(&self) -> String {
        let orders = self
            .runtime
            .block_on(self.customers.open_orders(&self.store));
        format!(
            "{}; pending checkouts {}; world quiescent {}, UPS quiescent {}, network empty {}, shop up {}",
            orders,
            self.customers.pending(),
            self.parties.world.is_quiescent(),
            if self.parties.ups.is_quiescent() {
                "true".to_string()
            } else {
                format!("false: {:?}", self.parties.ups)
            },
            self.parties.net.is_empty(),
            self.shop.is_some()
        )
    }

    /// The report once everything is at rest and checked; `None` while something moves.
    fn finished(&mut self) -> Result<Option<Report>, String> {
        let Some(shop) = &self.shop else {
            return Ok(None);
        };
        if self.customers.pending() > 0 || !self.crash_at.is_empty() || !self.parties.at_rest(shop)
        {
            return Ok(None);
        }
        let outbox = self
            .runtime
            .block_on(weshop_core::store::OrderStore::outbox(self.store.as_ref()))
            .map_err(|e| e.to_string())?;
        let settled = self.runtime.block_on(self.customers.settle(
            &self.store,
            &self.gateway,
            &self.parties,
            &self.warehouses,
        ))?;
        let Some(outcome) = settled else {
            return Ok(None);
        };
        if !outbox.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.report(outcome)))
    }

    fn report(&self, outcome: Outcome) -> Report {
        Report {
            seed: self.config.seed,
            placed: outcome.placed,
            delivered: outcome.delivered,
            failed: outcome.failed,
            refused: outcome.refused,
            crashes: self.crashes,
            net: self.parties.net.stats(),
            virtual_time: self.now - self.start,
            steps: self.steps,
            package_commands: self.parties.package_commands(),
        }
    }
}

/// Runs `seeds` one after another and returns the reports, or the first failure.
pub fn run_seeds(seeds: impl IntoIterator<Item = u64>) -> Result<Vec<Report>, Failure> {
    seeds
        .into_iter()
        .map(|seed| run(&SimConfig::from_seed(seed)))
        .collect()
}

/// Counts of a batch of reports, for a summary line.
pub fn summary(reports: &[Report]) -> BTreeMap<&'static str, u64> {
    let mut totals = BTreeMap::new();
    for r in reports {
        *totals.entry("runs").or_default() += 1;
        *totals.entry("placed").or_default() += r.placed as u64;
        *totals.entry("delivered").or_default() += r.delivered as u64;
        *totals.entry("failed").or_default() += r.failed as u64;
        *totals.entry("refused").or_default() += r.refused as u64;
        *totals.entry("crashes").or_default() += r.crashes as u64;
        *totals.entry("messages").or_default() += r.net.sent;
        *totals.entry("lost").or_default() += r.net.lost;
        *totals.entry("resets").or_default() += r.net.resets;
    }
    totals
}
