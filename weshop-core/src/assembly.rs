//! One way to assemble a shop: the store, the fulfilment driver, the [`ShopService`] and the
//! outbox loop, wired the same way for the server, tests, benches and embedders.
//!
//! Assembly has two phases because the world and UPS links need the driver (they feed it
//! events) before they exist as the ports the outbox performs through:
//!
//! ```text
//! let shop = ShopBuilder::new(store).warehouses(sites).build().await?;   // phase 1
//! let (world, ups) = start_links(shop.driver().clone()).await;          // your links
//! let running = shop.start(world, ups).await?;                           // phase 2
//! running.shop().checkout(…).await?;
//! running.shutdown().await;
//! ```

use std::{sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};

use crate::catalog_index::{IndexKeeper, SearchIndex};
use crate::domain::WarehouseSite;
use crate::driver::{FulfilmentDriver, Ports};
use crate::fulfilment::Fulfilment;
use crate::inbox::InboxNotifier;
use crate::notify::Notifier;
use crate::payments::{Payments, SimulatedGateway};
use crate::ports::{Clock, Shipping, SystemClock, Warehouse};
use crate::service::{ShopConfig, ShopService};
use crate::store::{Store, StoreError};

/// Wait before offering the outbox again after a port refused.
const DEFAULT_OUTBOX_RETRY: Duration = Duration::from_millis(200);

/// Collects a shop's parts; every part but the store has a default.
pub struct ShopBuilder<S: ?Sized> {
    store: Arc<S>,
    warehouses: Vec<WarehouseSite>,
    clock: Arc<dyn Clock>,
    payments: Arc<dyn Payments>,
    notifier: Option<Arc<dyn Notifier>>,
    config: ShopConfig,
    outbox_retry: Duration,
    index: Option<Arc<dyn SearchIndex>>,
}

impl<S: Store + ?Sized + 'static> ShopBuilder<S> {
    /// A shop over `store`, with no warehouses yet, the system clock, a simulated payment
    /// gateway, notifications filed in the store's inboxes (not mailed) and the default
    /// configuration.
    pub fn new(store: Arc<S>) -> Self {
        Self {
            store,
            warehouses: Vec::new(),
            clock: Arc::new(SystemClock),
            payments: Arc::new(SimulatedGateway::new()),
            notifier: None,
            config: ShopConfig::default(),
            outbox_retry: DEFAULT_OUTBOX_RETRY,
            index: None,
        }
    }

    /// The world's warehouses the shop ships from (registered in the store at build).
    pub fn warehouses(mut self, sites: impl IntoIterator<Item = WarehouseSite>) -> Self {
        self.warehouses = sites.into_iter().collect();
        self
    }

    /// The clock (a fixed or virtual one in tests and simulations).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The payment gateway.
    pub fn payments(mut self, payments: Arc<dyn Payments>) -> Self {
        self.payments = payments;
        self
    }

    /// Where notifications go.
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Prices, shipping rates, login lifetime, thresholds.
    pub fn config(mut self, config: ShopConfig) -> Self {
        self.config = config;
        self
    }

    /// How long the outbox waits after a port refused before it tries again.
    pub fn outbox_retry(mut self, retry: Duration) -> Self {
        self.outbox_retry = retry;
        self
    }

    /// Serves the catalog's read path (search, browsing, categories, suggestions) from a
    /// search index, kept in step with every catalog and stock write. Without one, the store
    /// searches.
    pub fn search_index(mut self, index: Arc<dyn SearchIndex>) -> Self {
        self.index = Some(index);
        self
    }

    /// Registers the warehouses in the store, rebuilds the search index (if any) from the
    /// store — so whatever a crash kept from reaching the index is healed here — and builds
    /// the driver and the service. Nothing runs yet: [`AssembledShop::start`] starts the
    /// outbox once the ports exist.
    pub async fn build(self) -> Result<AssembledShop<S>, StoreError> {
        for site in &self.warehouses {
            self.store.put_warehouse(*site).await?;
        }
        let keeper = self
            .index
            .map(|index| Arc::new(IndexKeeper::new(index, self.config.product_cache)));
        if let Some(keeper) = &keeper {
            let count = keeper.rebuild(&*self.store).await?;
            tracing::info!(products = count, "search index rebuilt from the store");
        }
        let notifier = self.notifier.unwrap_or_else(|| {
            Arc::new(InboxNotifier::new(
                self.store.clone(),
                self.clock.clone(),
                false,
            ))
        });
        let driver = Arc::new(
            FulfilmentDriver::new(
                self.store.clone(),
                Fulfilment::new(self.warehouses),
                self.clock.clone(),
            )
            .with_index(keeper.clone()),
        );
        let shop = Arc::new(
            ShopService::new(
                self.store.clone(),
                self.payments.clone(),
                notifier.clone(),
                driver.clone(),
                self.clock,
                self.config,
            )
            .with_index(keeper),
        );
        Ok(AssembledShop {
            shop,
            driver,
            payments: self.payments,
            notifier,
            outbox_retry: self.outbox_retry,
        })
    }
}

/// A shop whose parts exist but whose outbox does not run yet.
pub struct AssembledShop<S: ?Sized> {
    shop: Arc<ShopService<S>>,
    driver: Arc<FulfilmentDriver<S>>,
    payments: Arc<dyn Payments>,
    notifier: Arc<dyn Notifier>,
    outbox_retry: Duration,
}

impl<S: Store + ?Sized + 'static> AssembledShop<S> {
    /// The shop service.
    pub fn shop(&self) -> &Arc<ShopService<S>> {
        &self.shop
    }

    /// The fulfilment driver, which world and UPS events go into.
    pub fn driver(&self) -> &Arc<FulfilmentDriver<S>> {
        &self.driver
    }

    /// Starts the outbox over the world and the UPS, then resumes what a previous run left
    /// (orders placed just before a crash are served, the outbox is offered again).
    pub async fn start(
        self,
        warehouse: Arc<dyn Warehouse>,
        shipping: Arc<dyn Shipping>,
    ) -> Result<RunningShop<S>, StoreError> {
        let ports = Ports {
            warehouse,
            shipping,
            payments: self.payments,
            notifier: self.notifier,
        };
        let (stop, mut stopped) = watch::channel(false);
        let outbox = {
            let driver = self.driver.clone();
            let retry = self.outbox_retry;
            tokio::spawn(async move {
                driver
                    .run_outbox(ports, retry, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        let serving = {
            let driver = self.driver.clone();
            let retry = self.outbox_retry;
            let mut stopped = stop.subscribe();
            tokio::spawn(async move {
                driver
                    .run_serving(retry, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        let summaries = {
            let shop = self.shop.clone();
            let mut stopped = stop.subscribe();
            tokio::spawn(async move {
                shop.run_summaries(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await;
            })
        };
        // With several nodes, a hold no order stands behind yet may be another node's
        // checkout in flight: only one still stray after a grace period is released.
        let holds = match self.driver.is_shared() {
            true => {
                let shop = self.shop.clone();
                let mut stopped = stop.subscribe();
                Some(tokio::spawn(async move {
                    let stop = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    shop.release_stray_holds_while_leading(stop).await;
                }))
            }
            false => None,
        };
        let running = RunningShop {
            shop: self.shop,
            driver: self.driver,
            stop,
            outbox,
            serving,
            summaries,
            holds,
        };
        running.driver.resume().await?;
        if running.holds.is_none()
            && let Err(error) = running.shop.release_stray_holds().await
        {
            tracing::warn!("stray holds not released (tried again at the next start): {error}");
        }
        if let Err(error) = running.shop.resume_campaigns().await {
            tracing::warn!(
                "cut-off campaigns not finished (tried again at the next start): {error}"
            );
        }
        Ok(running)
    }
}

/// A shop whose outbox runs: orders move as the world and the UPS answer.
pub struct RunningShop<S: ?Sized> {
    shop: Arc<ShopService<S>>,
    driver: Arc<FulfilmentDriver<S>>,
    stop: watch::Sender<bool>,
    outbox: JoinHandle<()>,
    serving: JoinHandle<()>,
    /// Sellers' daily summaries.
    summaries: JoinHandle<()>,
    /// With several nodes, the release of holds still stray after a grace period, while
    /// this node leads.
    holds: Option<JoinHandle<()>>,
}

impl<S: Store + ?Sized + 'static> RunningShop<S> {
    /// The shop service.
    pub fn shop(&self) -> &Arc<ShopService<S>> {
        &self.shop
    }

    /// The fulfilment driver, which world and UPS events go into.
    pub fn driver(&self) -> &Arc<FulfilmentDriver<S>> {
        &self.driver
    }

    /// Stops the outbox after the effect it is performing, the serving of warehouses and the
    /// daily summaries.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.outbox.await;
        let _ = self.serving.await;
        let _ = self.summaries.await;
        if let Some(holds) = self.holds {
            let _ = holds.await;
        }
    }

    /// Stops the outbox wherever it is, as a crash would (for crash-resume tests).
    pub async fn abort(self) {
        self.outbox.abort();
        self.serving.abort();
        self.summaries.abort();
        let _ = self.outbox.await;
        let _ = self.serving.await;
        let _ = self.summaries.await;
        if let Some(holds) = self.holds {
            holds.abort();
            let _ = holds.await;
        }
    }
}
