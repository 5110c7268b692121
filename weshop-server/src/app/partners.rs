//! The shop's two partners, connected: the world client and the UPS link, both feeding the
//! fulfilment driver and saving their session state in the shop's store. `App` uses this, and
//! so can an embedder that wants the shop without HTTP (`examples/embedded_shop.rs`).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::{sync::watch, task::JoinHandle};
use weshop_core::{
    domain::WarehouseSite,
    driver::{BatchFailed, FulfilmentDriver, LinkState},
    fulfilment::FulfilmentEvent,
    lease::Fence,
    session::SessionConfig,
    store::{StepCommit, Store, StoreError},
};

use crate::{
    adapters::{
        EventSink, LinkObserver, LinkStore, UpsEndpoint, UpsLink, WorldClient, WorldSettings,
        link::LinkContext,
    },
    config::Settings,
};

/// Where the partners are and how to talk to them.
#[derive(Debug, Clone)]
pub struct PartnerSettings {
    /// The world's Amazon port.
    pub world: SocketAddr,
    /// The world to join; `None` rejoins the saved one, or creates one.
    pub world_id: Option<i64>,
    /// The warehouses to create in a new world.
    pub warehouses: Vec<WarehouseSite>,
    /// The simspeed to ask the world for.
    pub simspeed: Option<u32>,
    /// Listen for the UPS, or dial it.
    pub ups: UpsEndpoint,
    /// First resend wait on both links.
    pub resend: Duration,
    /// The fulfilment lease's fence the links save their state under (a node of several);
    /// `None` for the only node.
    pub fence: Option<Fence>,
}

impl From<&Settings> for PartnerSettings {
    fn from(settings: &Settings) -> Self {
        Self {
            world: settings.world,
            world_id: settings.world_id,
            warehouses: settings.warehouses.clone(),
            simspeed: settings.simspeed,
            ups: settings.ups,
            resend: settings.resend,
            fence: None,
        }
    }
}

/// The connected partners: hand `world` and `ups` to `AssembledShop::start` as its ports.
pub struct Partners {
    /// The world, as the shop's `Warehouse` port.
    pub world: Arc<WorldClient>,
    /// The UPS, as the shop's `Shipping` port.
    pub ups: Arc<UpsLink>,
    /// Where the shop listens for the UPS (when it listens).
    pub ups_addr: Option<SocketAddr>,
    /// The world the shop is in, once the world link has connected.
    pub world_id: watch::Receiver<Option<i64>>,
    /// The links' tasks; they end when `shutdown` turns true.
    pub tasks: Vec<JoinHandle<()>>,
}

impl Partners {
    /// Starts the world client and the UPS link: events go to `driver`, session state is saved
    /// in `store`, `observer` watches both, and both stop when `shutdown` turns true.
    pub async fn connect<S: Store + ?Sized + 'static>(
        settings: PartnerSettings,
        driver: Arc<FulfilmentDriver<S>>,
        store: Arc<dyn Store>,
        observer: Arc<dyn LinkObserver>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Partners, String> {
        let session = SessionConfig {
            initial_resend: settings.resend,
            seed: rand::random(),
            ..SessionConfig::default()
        };
        let context = LinkContext {
            sink: driver,
            store: Arc::new(StoreLinks(store, settings.fence)),
            observer,
            shutdown,
        };
        let (world, world_task) = WorldClient::start(
            WorldSettings {
                address: settings.world,
                world_id: settings.world_id,
                warehouses: settings.warehouses,
                simspeed: settings.simspeed,
                session: session.clone(),
            },
            context.clone(),
        )
        .await?;
        let world_id = world.world_id();
        let (ups, mut tasks) =
            UpsLink::start(settings.ups, world_id.clone(), session, context).await?;
        tasks.push(world_task);
        let ups_addr = match settings.ups {
            UpsEndpoint::Listen(_) => ups.listen_addr(),
            UpsEndpoint::Connect(_) => None,
        };
        Ok(Partners {
            world: Arc::new(world),
            ups: Arc::new(ups),
            ups_addr,
            world_id,
            tasks,
        })
    }
}

/// The links hand their events to the fulfilment driver, with their state, in one commit.
#[async_trait]
impl<S: Store + ?Sized + 'static> EventSink for FulfilmentDriver<S> {
    async fn handle(&self, event: FulfilmentEvent, link: LinkState) -> Result<(), StoreError> {
        FulfilmentDriver::handle(self, event, Some(link)).await
    }

    async fn handle_batch(
        &self,
        events: Vec<(FulfilmentEvent, LinkState)>,
    ) -> Result<(), BatchFailed> {
        let events = events
            .into_iter()
            .map(|(event, link)| (event, Some(link)))
            .collect();
        FulfilmentDriver::handle_batch(self, events).await
    }
}

/// The shop's store as the links' [`LinkStore`] (an `Arc<dyn Store>` cannot be cast to an
/// `Arc<dyn LinkStore>`, as `LinkStore` is not a supertrait of `Store`), saving under the
/// leader's fence when there is one.
struct StoreLinks(Arc<dyn Store>, Option<Fence>);

#[async_trait]
impl LinkStore for StoreLinks {
    async fn load(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        LinkStore::load(self.0.as_ref(), link).await
    }

    async fn save(&self, link: &str, state: Vec<u8>) -> Result<(), StoreError> {
        self.0
            .commit_step(StepCommit {
                links: vec![(link.to_string(), state)],
                fence: self.1.clone(),
                ..StepCommit::default()
            })
            .await
            .map(|_| ())
    }
}
