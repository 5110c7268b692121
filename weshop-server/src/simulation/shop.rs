//! The shop as one simulated process: its service and fulfilment driver over the store, and
//! its world and UPS links, run by the very steps the TCP tasks run
//! ([`durable`](crate::adapters::link::durable)) but fed by the simulated network.
//!
//! Everything here lives in memory and dies with the process ([`ShopNode`] is dropped at a
//! crash); only the store survives, and [`ShopNode::start`] resumes from it the way
//! `weshop serve` does after a restart.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use tokio::sync::Mutex;
use weshop_core::{
    assembly::ShopBuilder,
    domain::{CardNumber, Money},
    domain::{ShipId, WarehouseSite},
    driver::{FulfilmentDriver, Ports},
    fulfilment::{ShippingCommand, WarehouseCommand},
    notify::InMemoryNotifier,
    payments::{
        Authorization, CardToken, IdempotencyKey, PaymentError, Payments, SimulatedGateway,
    },
    ports::{Clock, PartlyTaken, PortError, Shipping, Warehouse},
    service::ShopService,
    session::{Seqnum, SessionConfig},
};
use weshop_storage::{Interleaved, MemoryStore};

use crate::adapters::{
    EventSink, LinkStore,
    link::{
        self, LinkProtocol, LinkState,
        durable::{Waiters, take_commands, take_in},
    },
    ups::{self as ups_adapter, CONNECT_SEQNUM},
    world as world_adapter,
};
use crate::protocols::{ShopToUps, ShopToWorld};

/// The shop's store: memory (the "disk" that survives a crash) behind a wrapper that can fail
/// every commit from a chosen point on (a crash in the middle of an operation) and that
/// yields at every call (so checkouts that run together interleave).
pub type SimStore = Interleaved<MemoryStore>;

/// One link's state as its task would hold it: the state, the bytes saved last, and callers
/// waiting for query answers.
struct LinkSlot<P: LinkProtocol> {
    state: LinkState<P>,
    saved: Vec<u8>,
    waiters: Waiters,
}

/// A link shared by the port that submits to it and the loop that feeds it messages; the lock
/// makes them take turns, as the link task's loop does.
pub struct SimLink<P: LinkProtocol> {
    slot: Mutex<LinkSlot<P>>,
    store: Arc<SimStore>,
}

impl<P: LinkProtocol> SimLink<P> {
    async fn load(
        store: Arc<SimStore>,
        config: SessionConfig,
        first: Seqnum,
    ) -> Result<Self, String> {
        let state = link::load::<P>(store.as_ref() as &dyn LinkStore, config, first).await?;
        Ok(Self {
            slot: Mutex::new(LinkSlot {
                saved: state.save(),
                state,
                waiters: Waiters::new(),
            }),
            store,
        })
    }

    async fn submit(&self, commands: Vec<(u64, P::Request)>) -> Result<(), PartlyTaken> {
        let mut slot = self.slot.lock().await;
        let LinkSlot { state, saved, .. } = &mut *slot;
        take_commands(state, saved, commands, self.store.as_ref())
            .await
            .map_err(|error| PartlyTaken { taken: 0, error })
    }

    /// Takes in a message from the peer (its events committed through `sink`).
    pub async fn receive(&self, message: P::Incoming, sink: &dyn EventSink) -> Result<(), String> {
        let mut slot = self.slot.lock().await;
        let LinkSlot {
            state,
            saved,
            waiters,
        } = &mut *slot;
        take_in(state, saved, [message], sink, waiters).await
    }

    /// The messages due at `now` (requests, resends, acks).
    pub fn transmit(&self, now: Instant) -> Vec<P::Message> {
        let mut slot = self
            .slot
            .try_lock()
            .expect("no step runs while the loop transmits");
        std::iter::from_fn(|| slot.state.session().poll_transmit(now)).collect()
    }

    /// When the session next wants to resend.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut slot = self
            .slot
            .try_lock()
            .expect("no step runs while the loop asks");
        slot.state.session().poll_timeout()
    }

    /// The connection came back: everything unacked goes again at once.
    pub fn reconnected(&self) {
        let mut slot = self
            .slot
            .try_lock()
            .expect("no step runs while the loop reconnects");
        slot.state.session().resend_all_now();
    }

    /// True when nothing waits for an ack and no ack waits to go.
    pub fn is_idle(&self) -> bool {
        let mut slot = self
            .slot
            .try_lock()
            .expect("no step runs while the loop asks");
        slot.state.session().is_idle()
    }
}

/// The bank as a process sees it: once the process is dead (its store refuses commits), it
/// cannot call the bank either — so a checkout killed between its authorization and its order
/// cannot void its hold on the way out, as a real `kill -9` would not let it.
struct DyingPayments {
    bank: Arc<SimulatedGateway>,
    store: Arc<SimStore>,
}

impl DyingPayments {
    fn alive(&self) -> Result<(), PaymentError> {
        if self.store.crashed() {
            Err(PaymentError::Unavailable("the process died".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Payments for DyingPayments {
    async fn tokenize(&self, card: &CardNumber) -> Result<CardToken, PaymentError> {
        self.alive()?;
        self.bank.tokenize(card).await
    }

    async fn authorize(
        &self,
        token: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<Authorization, PaymentError> {
        self.alive()?;
        self.bank.authorize(token, amount, key).await
    }

    async fn capture(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.alive()?;
        self.bank.capture(authorization, amount, key).await
    }

    async fn refund(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.alive()?;
        self.bank.refund(authorization, amount, key).await
    }

    async fn void(&self, authorization: &str, key: &IdempotencyKey) -> Result<(), PaymentError> {
        self.alive()?;
        self.bank.void(authorization, key).await
    }

    async fn open_authorizations(&self) -> Result<Vec<String>, PaymentError> {
        self.alive()?;
        self.bank.open_authorizations().await
    }
}

/// The world port over the simulated world link.
struct SimWarehouse(Arc<SimLink<ShopToWorld>>);

#[async_trait]
impl Warehouse for SimWarehouse {
    async fn submit(&self, outbox_id: u64, command: WarehouseCommand) -> Result<(), PortError> {
        self.submit_all(vec![(outbox_id, command)])
            .await
            .map_err(|partly| partly.error)
    }

    async fn submit_all(&self, commands: Vec<(u64, WarehouseCommand)>) -> Result<(), PartlyTaken> {
        let requests = commands
            .iter()
            .map(|(id, c)| (*id, world_adapter::request(c)))
            .collect();
        self.0.submit(requests).await
    }

    async fn query(&self, _ship_id: ShipId) -> Result<String, PortError> {
        Err(PortError("status queries are not simulated".into()))
    }
}

/// The UPS port over the simulated UPS link.
struct SimShipping(Arc<SimLink<ShopToUps>>);

#[async_trait]
impl Shipping for SimShipping {
    async fn submit(&self, outbox_id: u64, command: ShippingCommand) -> Result<(), PortError> {
        self.submit_all(vec![(outbox_id, command)])
            .await
            .map_err(|partly| partly.error)
    }

    async fn submit_all(&self, commands: Vec<(u64, ShippingCommand)>) -> Result<(), PartlyTaken> {
        let requests = commands
            .iter()
            .map(|(id, c)| (*id, ups_adapter::request(c)))
            .collect();
        self.0.submit(requests).await
    }
}

/// The shop process. See the [module docs](self).
pub struct ShopNode {
    /// The service customers and sellers use.
    pub shop: Arc<ShopService<SimStore>>,
    /// The fulfilment driver.
    pub driver: Arc<FulfilmentDriver<SimStore>>,
    /// The world link.
    pub world: Arc<SimLink<ShopToWorld>>,
    /// The UPS link.
    pub ups: Arc<SimLink<ShopToUps>>,
    ports: Ports,
}

impl ShopNode {
    /// Starts the shop from what `store` holds, as `weshop serve` does: registers the
    /// warehouses, loads both links and resumes fulfilment (serving every warehouse once).
    pub async fn start(
        store: Arc<SimStore>,
        warehouses: Vec<WarehouseSite>,
        gateway: Arc<SimulatedGateway>,
        clock: Arc<dyn Clock>,
        session: SessionConfig,
    ) -> Result<Self, String> {
        let payments: Arc<dyn Payments> = Arc::new(DyingPayments {
            bank: gateway,
            store: store.clone(),
        });
        let notifier = Arc::new(InMemoryNotifier::new());
        let assembled = ShopBuilder::new(store.clone())
            .warehouses(warehouses)
            .clock(clock)
            .payments(payments.clone())
            .notifier(notifier.clone())
            .build()
            .await
            .map_err(|e| format!("build: {e}"))?;
        let world = Arc::new(SimLink::load(store.clone(), session.clone(), 1).await?);
        let ups = Arc::new(SimLink::load(store, session, CONNECT_SEQNUM + 1).await?);
        let driver = assembled.driver().clone();
        driver.resume().await.map_err(|e| format!("resume: {e}"))?;
        // As `AssembledShop::start` does, before any checkout of this process.
        assembled
            .shop()
            .release_stray_holds()
            .await
            .map_err(|e| format!("stray holds: {e}"))?;
        Ok(Self {
            shop: assembled.shop().clone(),
            ports: Ports {
                warehouse: Arc::new(SimWarehouse(world.clone())),
                shipping: Arc::new(SimShipping(ups.clone())),
                payments,
                notifier,
            },
            driver,
            world,
            ups,
        })
    }

    /// Performs the outbox until it is empty or a port refuses.
    pub async fn perform_outbox(&self) -> Result<usize, String> {
        self.driver
            .perform_outbox(&self.ports)
            .await
            .map_err(|e| e.to_string())
    }

    /// The driver as the links' event sink.
    pub fn sink(&self) -> &dyn EventSink {
        self.driver.as_ref()
    }
}
