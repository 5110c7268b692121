//! The assembled server: storage, fulfilment, the world and UPS links, the outbox and the HTTP
//! API, started together and stopped together (what `weshop serve` runs, and what tests and
//! embedders start on port 0).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use poem::{
    EndpointExt, IntoEndpoint, Route,
    listener::{Acceptor, Listener, TcpListener},
};
use tokio::{
    sync::{broadcast, watch},
    task::JoinHandle,
};
use tracing::{info, warn};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{DeliveryPace, OrderStatus},
    driver::FulfilmentDriver,
    durable_gateway::DurableGateway,
    inbox::InboxNotifier,
    ports::SystemClock,
    service::ShopConfig,
    shop::{OrderUpdate, Shop},
    store::{Store, StoreError},
};

mod leader;
mod partners;
mod search;

pub use partners::{PartnerSettings, Partners};
pub use search::{index_dir, open_index, reindex};

use crate::{
    adapters::LinkObserver,
    api::{ApiState, routes},
    config::Settings,
    http_guard::GuardedAcceptor,
    mail::{
        compose::Composer,
        mailer::{self, Mailer},
    },
    metrics::Metrics,
    sim::time_model::DEFAULT_SIMSPEED,
};

/// How long in-flight HTTP requests get to finish on shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(5);

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
    /// The mail settings do not work (a sender that is not a mailbox, an unreadable CA).
    #[error("mail: {0}")]
    Mail(String),
}

/// The pace delivery estimates plan with: the world's default pace, scaled by the simspeed
/// the shop asks the world for (the simulated world's durations scale inversely with it).
fn pace(simspeed: Option<u32>) -> DeliveryPace {
    let speed = simspeed.unwrap_or(DEFAULT_SIMSPEED).max(1);
    DeliveryPace::default().slower(f64::from(DEFAULT_SIMSPEED) / f64::from(speed))
}

/// The routes, answering CORS requests from `origins` only (none: no CORS headers at all, so
/// other sites' pages cannot read the API's answers). Credentials are never allowed
/// cross-site: such callers use bearer tokens.
fn cors(routes: Route, origins: &[String]) -> poem::endpoint::BoxEndpoint<'static> {
    if origins.is_empty() {
        return routes.boxed();
    }
    let cors = poem::middleware::Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_credentials(false)
        .allow_headers(["authorization", "content-type", "idempotency-key"])
        .expose_headers(["location", "etag", "retry-after"])
        .max_age(600);
    routes.with(cors).boxed()
}

/// What an embedder serves besides the shop's own routes: extra HTTP routes, mounted in front
/// of the API (outside its metrics and problem mapping), such as the demo's product pictures.
#[derive(Default)]
pub struct AppOptions {
    routes: Route,
}

impl AppOptions {
    /// Nothing extra: the shop's API only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also serves `endpoint` at `path` (a poem path pattern, e.g. `/images/demo/:file`).
    pub fn route<E>(mut self, path: &str, endpoint: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.routes = self.routes.at(path, endpoint);
        self
    }
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
    /// The store everything runs on.
    store: Arc<dyn Store>,
    /// Whether [`App::start`] opened the store, so [`App::shutdown`] closes it (a store handed
    /// to [`App::start_with`] stays the caller's to close).
    owns_store: bool,
    leadership: Leadership,
    driver: Arc<FulfilmentDriver<dyn Store>>,
    lost: watch::Receiver<Option<String>>,
    gateway: Arc<DurableGateway>,
}

/// Who runs fulfilment (see `leader.rs`).
enum Leadership {
    /// The only node: it leads from the start.
    Alone(leader::Led),
    /// One of several: a task that leads while this node holds the lease.
    Elected(JoinHandle<()>),
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
    /// Opens the storage named by `settings.storage` and starts everything, serving `options`'
    /// extra routes too.
    pub async fn start(settings: Settings, options: AppOptions) -> Result<App, StartError> {
        let store = weshop_storage::open_with(&settings.storage, settings.open_options())
            .await
            .map_err(|e| StartError::Storage(e.to_string()))?;
        let mut app = Self::start_with(store, settings, options).await?;
        app.owns_store = true;
        Ok(app)
    }

    /// Starts everything over `store`: the shop (assembled by [`ShopBuilder`]), the world and
    /// UPS links feeding its fulfilment driver, its outbox performing through them, and the
    /// HTTP API with `options`' extra routes.
    pub async fn start_with(
        store: Arc<dyn Store>,
        settings: Settings,
        options: AppOptions,
    ) -> Result<App, StartError> {
        let storage = |e: StoreError| StartError::Storage(e.to_string());
        let (stop, stopped) = watch::channel(false);
        let metrics = Arc::new(Metrics::new());
        let index = open_index(&settings.storage)?;
        // The (simulated) payment gateway keeps its journal in the store, so saved cards and
        // authorizations outlive the process.
        let gateway = DurableGateway::open(store.clone())
            .await
            .map_err(|e| StartError::Storage(e.to_string()))?;
        let gateway = Arc::new(match settings.cluster {
            Some(_) => gateway.shared(),
            None => gateway,
        });
        // Notifications are filed in the store's inboxes; mailed too when SMTP is set up.
        let notifier = Arc::new(InboxNotifier::new(
            store.clone(),
            Arc::new(SystemClock),
            settings.smtp.is_some(),
        ));
        let mail_queued = notifier.mail_queued();
        // With several nodes, what the others commit (the leader's order steps, products
        // listed elsewhere) comes through the store's change feed: followed from before the
        // build rebuilds the search index, so no change falls in between.
        let feed = match settings.cluster {
            Some(_) => Some(store.changes().await.map_err(storage)?),
            None => None,
        };
        let assembled = ShopBuilder::new(store.clone())
            .notifier(notifier)
            .warehouses(settings.warehouses.clone())
            .payments(gateway.clone())
            .config(ShopConfig {
                grid_limit: settings.grid_limit,
                pace: pace(settings.simspeed),
                ..ShopConfig::default()
            })
            .search_index(index)
            .build()
            .await
            .map_err(storage)?;

        let driver = assembled.driver().clone();
        // Subscribed before the shop starts, so the metrics see what resuming changes.
        let mut tasks = vec![tokio::spawn(count_orders(
            metrics.clone(),
            assembled.shop().order_updates(),
            stopped.clone(),
        ))];
        let shop: Arc<dyn Shop> = assembled.shop().clone();
        if let Some(feed) = feed {
            let (shop, stopped) = (assembled.shop().clone(), stopped.clone());
            tasks.push(tokio::spawn(async move {
                shop.follow_changes(feed, stopped).await;
            }));
        }

        let acceptor = TcpListener::bind(settings.http.to_string())
            .into_acceptor()
            .await
            .map_err(|source| StartError::Bind {
                address: settings.http,
                source,
            })?;
        let acceptor = GuardedAcceptor::new(acceptor, settings.http_limits);
        let idle_timeout = settings.http_limits.idle_timeout;
        let http = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .unwrap_or(settings.http);
        let mailer = match &settings.smtp {
            Some(smtp) => {
                let composer = Composer::new(&smtp.from, &settings.public_url_or(http))
                    .map_err(StartError::Mail)?;
                let transport = mailer::transport(smtp).map_err(StartError::Mail)?;
                info!(
                    "mail: sending through {}:{} ({:?}) as {}",
                    smtp.host,
                    smtp.port(),
                    smtp.tls,
                    smtp.from
                );
                Some(
                    Mailer::new(
                        store.clone(),
                        composer,
                        transport,
                        Arc::new(SystemClock),
                        mail_queued,
                    )
                    .with_shop(shop.clone()),
                )
            }
            None => {
                info!(
                    "mail: no SMTP settings (WESHOP_SMTP_HOST or [smtp]): notifications stay \
                     in the inbox only"
                );
                None
            }
        };
        let leading = leader::Leading {
            assembled,
            partners: PartnerSettings::from(&settings),
            store: store.clone(),
            metrics: metrics.clone(),
            stopped: stopped.clone(),
            mailer,
        };
        let (lost_tx, lost) = watch::channel(None);
        let (leadership, ups, world_id) = match settings.cluster.clone() {
            None => {
                let (led, ups, world_id) = leader::lead(leading, None).await?;
                (Leadership::Alone(led), ups, world_id)
            }
            Some(cluster) => {
                driver.share_store(leader::PICKUP);
                let (world_tx, world_id) = watch::channel(None);
                let task = tokio::spawn(leader::elect(cluster, leading, world_tx, lost_tx.clone()));
                (Leadership::Elected(task), None, world_id)
            }
        };
        // Kept open so that `lost` never reads as closed while the app runs.
        tasks.push(tokio::spawn({
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
                drop(lost_tx);
            }
        }));

        let api = options.routes.nest(
            "/",
            routes(ApiState {
                shop: shop.clone(),
                metrics: metrics.clone(),
                secure_cookies: settings.secure_cookies,
            }),
        );
        let api = cors(api, &settings.cors_origins);
        {
            let mut stopped = stopped.clone();
            tasks.push(tokio::spawn(async move {
                let signal = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = poem::Server::new_with_acceptor(acceptor)
                    .idle_timeout(idle_timeout)
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
            leadership,
            driver,
            lost,
            store: store.clone(),
            owns_store: false,
            gateway,
        })
    }

    /// The payment gateway the shop charges through (its ledger, for checks).
    pub fn gateway(&self) -> &Arc<DurableGateway> {
        &self.gateway
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

    /// How long each stage of an order's path took so far (checkout, commits, outbox).
    pub fn stage_times(&self) -> Arc<weshop_core::stage_times::StageTimes> {
        self.driver.stage_times().clone()
    }

    /// The metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Resolves if this node, one of several, lost the fulfilment lease (or could not lead
    /// once it got it), with why; never for the only node. The node then serves HTTP but
    /// runs no fulfilment: restart it to follow.
    pub async fn leadership_lost(&self) -> String {
        let mut lost = self.lost.clone();
        match lost.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// Whether this node runs fulfilment now.
    pub fn leads(&self) -> bool {
        match &self.leadership {
            Leadership::Alone(_) => true,
            Leadership::Elected(task) => !task.is_finished() && self.driver.is_serving(),
        }
    }

    /// The store the shop runs on.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The world the shop is in, once the world link has connected.
    pub async fn world_id(&self) -> Option<i64> {
        let mut world = self.world_id.clone();
        world.wait_for(Option::is_some).await.ok().and_then(|w| *w)
    }

    /// Stops the HTTP server (letting requests finish) and the links, then the outbox, and
    /// closes the store if [`App::start`] opened it.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        match self.leadership {
            Leadership::Alone(led) => led.shutdown().await,
            Leadership::Elected(task) => {
                let _ = task.await;
            }
        }
        // Dropping the shop's parts releases their store handles; closing here, with the
        // runtime still up, lets an embedded database flush and unlock cleanly.
        if self.owns_store
            && let Err(error) = self.store.close().await
        {
            warn!("{error}");
        }
        info!("stopped");
    }
}

/// Counts placed orders and order statuses from the shop's order updates, until `stopped`.
async fn count_orders(
    metrics: Arc<Metrics>,
    mut updates: broadcast::Receiver<OrderUpdate>,
    mut stopped: watch::Receiver<bool>,
) {
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
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!("metrics missed {n} order updates");
                }
                Err(_) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::{get, handler, http::StatusCode, test::TestClient};

    use super::*;

    #[handler]
    fn hello() -> &'static str {
        "hello"
    }

    #[tokio::test]
    async fn cors_is_off_unless_origins_are_set() {
        let off = TestClient::new(cors(Route::new().at("/x", get(hello)), &[]));
        let response = off
            .get("/x")
            .header("origin", "https://a.example")
            .send()
            .await;
        response.assert_status_is_ok();
        assert!(
            !response
                .0
                .headers()
                .contains_key("access-control-allow-origin")
        );

        let on = TestClient::new(cors(
            Route::new().at("/x", get(hello)),
            &["https://a.example".to_string()],
        ));
        let allowed = on
            .get("/x")
            .header("origin", "https://a.example")
            .send()
            .await;
        allowed.assert_status_is_ok();
        allowed.assert_header("access-control-allow-origin", "https://a.example");
        let other = on
            .get("/x")
            .header("origin", "https://evil.example")
            .send()
            .await;
        assert!(
            other.0.status() == StatusCode::FORBIDDEN
                || !other
                    .0
                    .headers()
                    .contains_key("access-control-allow-origin"),
            "another origin is not allowed"
        );
    }
}
