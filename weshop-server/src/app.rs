//! The assembled server: storage, fulfilment, the world and UPS links, the outbox and the HTTP
//! API, started together and stopped together (what `weshop serve` runs, and what tests and
//! embedders start on port 0).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use poem::listener::{Acceptor, Listener, TcpListener};
use tokio::{sync::watch, task::JoinHandle};
use tracing::{info, warn};
use weshop_core::{
    domain::OrderStatus,
    driver::{FulfilmentDriver, Ports},
    fulfilment::Fulfilment,
    notify::InMemoryNotifier,
    payments::SimulatedGateway,
    ports::{Clock, SystemClock},
    service::{ShopConfig, ShopService},
    session::SessionConfig,
    shop::Shop,
    store::Store,
};
use weshop_storage::{memory::MemoryStore, surreal::SurrealStore};

use crate::{
    adapters::{LinkObserver, UpsEndpoint, UpsLink, WorldClient, WorldSettings, link::LinkContext},
    api::{ApiState, routes},
    config::Settings,
    metrics::Metrics,
};

/// How long in-flight HTTP requests get to finish on shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(5);
/// Wait before offering the outbox again after a port refused.
const OUTBOX_RETRY: Duration = Duration::from_millis(200);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The storage could not be opened.
    #[error("storage: {0}")]
    Storage(String),
    /// A link could not start (its saved state is unreadable, say).
    #[error("{0}")]
    Link(String),
    /// A port could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// Where.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server.
pub struct App {
    http: SocketAddr,
    ups: Option<SocketAddr>,
    world_id: watch::Receiver<Option<i64>>,
    shop: Arc<dyn Shop>,
    metrics: Arc<Metrics>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LinkObserver for Metrics {
    fn link_up(&self, link: &str, up: bool) {
        self.set_link_up(link, up);
    }

    fn message(&self, link: &str, direction: &str) {
        self.link_message(link, direction);
    }
}

impl App {
    /// Opens the storage named by `settings.storage` and starts everything.
    pub async fn start(settings: Settings) -> Result<App, StartError> {
        let url = settings.storage.clone();
        if url.starts_with("memory:") {
            info!("storage: in memory (nothing survives a restart)");
            return Self::start_with(Arc::new(MemoryStore::new()), settings).await;
        }
        if let Some(dir) = url.strip_prefix("surrealkv://") {
            std::fs::create_dir_all(dir)
                .map_err(|e| StartError::Storage(format!("cannot create {dir}: {e}")))?;
        }
        // An embedded database is released a moment after its last handle drops (and a
        // process being replaced may still hold it): wait for its lock a little.
        let mut attempt = 0;
        let store = loop {
            match SurrealStore::connect(&url).await {
                Ok(store) => break store,
                Err(e) if e.to_string().contains("locked") && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(StartError::Storage(e.to_string())),
            }
        };
        info!("storage: {url}");
        Self::start_with(Arc::new(store), settings).await
    }

    /// Starts everything over `store`.
    pub async fn start_with<S: Store + 'static>(
        store: Arc<S>,
        settings: Settings,
    ) -> Result<App, StartError> {
        let (stop, stopped) = watch::channel(false);
        for site in &settings.warehouses {
            store
                .put_warehouse(*site)
                .await
                .map_err(|e| StartError::Storage(e.to_string()))?;
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let metrics = Arc::new(Metrics::new());
        let driver = Arc::new(FulfilmentDriver::new(
            store.clone(),
            Fulfilment::new(settings.warehouses.clone()),
            clock.clone(),
        ));
        let payments = Arc::new(SimulatedGateway::new());
        let notifier = Arc::new(InMemoryNotifier::new());
        let shop: Arc<dyn Shop> = Arc::new(ShopService::new(
            store.clone(),
            payments.clone(),
            notifier.clone(),
            driver.clone(),
            clock,
            ShopConfig::default(),
        ));

        let session = SessionConfig {
            initial_resend: settings.resend,
            seed: rand::random(),
            ..SessionConfig::default()
        };
        let context = LinkContext {
            sink: driver.clone(),
            store: store.clone(),
            observer: metrics.clone(),
            shutdown: stopped.clone(),
        };
        let mut tasks = Vec::new();
        let (world, world_task) = WorldClient::start(
            WorldSettings {
                address: settings.world,
                world_id: settings.world_id,
                warehouses: settings.warehouses.clone(),
                simspeed: settings.simspeed,
                session: session.clone(),
            },
            context.clone(),
        )
        .await
        .map_err(StartError::Link)?;
        tasks.push(world_task);
        let world_id = world.world_id();
        let (ups_link, ups_tasks) =
            UpsLink::start(settings.ups, world_id.clone(), session, context)
                .await
                .map_err(StartError::Link)?;
        tasks.extend(ups_tasks);
        let ups = match settings.ups {
            UpsEndpoint::Listen(_) => ups_link.listen_addr(),
            UpsEndpoint::Connect(_) => None,
        };

        let ports = Ports {
            warehouse: Arc::new(world),
            shipping: Arc::new(ups_link),
            payments,
            notifier,
        };
        {
            let (driver, mut stopped) = (driver.clone(), stopped.clone());
            tasks.push(tokio::spawn(async move {
                driver
                    .run_outbox(ports, OUTBOX_RETRY, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
            }));
        }
        {
            let (metrics, mut updates, mut stopped) =
                (metrics.clone(), driver.subscribe(), stopped.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        update = updates.recv() => match update {
                            Ok(update) => {
                                let status = update.order.status();
                                if status == OrderStatus::Placed {
                                    metrics.order_placed();
                                }
                                metrics.order_status(status.as_str());
                            }
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                                warn!("metrics missed {n} order updates");
                            }
                            Err(_) => return,
                        },
                    }
                }
            }));
        }
        driver
            .resume()
            .await
            .map_err(|e| StartError::Storage(e.to_string()))?;

        let updates = {
            let driver = driver.clone();
            Arc::new(move || driver.subscribe())
        };
        let api = poem::Route::new()
            .at("/images/demo/:file", poem::get(crate::demo::demo_image))
            .nest(
                "/",
                routes(ApiState {
                    shop: shop.clone(),
                    updates,
                    metrics: metrics.clone(),
                    secure_cookies: settings.secure_cookies,
                }),
            );
        let acceptor = TcpListener::bind(settings.http.to_string())
            .into_acceptor()
            .await
            .map_err(|source| StartError::Bind {
                address: settings.http,
                source,
            })?;
        let http = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(settings.http);
        {
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let signal = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = poem::Server::new_with_acceptor(acceptor)
                    .run_with_graceful_shutdown(api, signal, Some(HTTP_GRACE))
                    .await
                {
                    warn!("http server: {e}");
                }
            }));
        }
        info!("http: listening on http://{http}");
        Ok(App {
            http,
            ups,
            world_id,
            shop,
            metrics,
            stop,
            tasks,
        })
    }

    /// Where the HTTP API listens.
    pub fn http_addr(&self) -> SocketAddr {
        self.http
    }

    /// Where the shop listens for the UPS (when it listens).
    pub fn ups_addr(&self) -> Option<SocketAddr> {
        self.ups
    }

    /// The shop service (for seeding and embedding).
    pub fn shop(&self) -> Arc<dyn Shop> {
        self.shop.clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// The world the shop is in, once the world link has connected.
    pub async fn world_id(&self) -> Option<i64> {
        let mut world = self.world_id.clone();
        world.wait_for(Option::is_some).await.ok().and_then(|w| *w)
    }

    /// Stops the HTTP server (letting requests finish), the outbox and the links.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        info!("stopped");
    }
}
