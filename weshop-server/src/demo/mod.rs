//! `weshop demo`: the whole system in one process — the simulated world and UPS on free ports,
//! the server on an embedded database, and a seeded catalog — so a newcomer can shop at once.

//!
//! [`catalog`] holds what is seeded (sellers, products, the demo customer); [`assets`] serves
//! the products' pictures and [`mailbox`] the mails the shop sent (its SMTP server runs in the
//! demo too), both mounted on the demo's server only.

pub mod assets;
pub mod catalog;
pub mod mailbox;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use weshop_core::shop::ShopError;

use crate::{
    adapters::UpsEndpoint,
    app::{App, StartError},
    config::{Settings, default_warehouses},
    mail::catcher::MailCatcher,
    sim::{ShopEndpoint, UpsConfig, UpsServer, WorldConfig, WorldServer},
};

pub use assets::{app_options, demo_image};
pub use catalog::{DEMO_CARD, DEMO_EMAIL, DEMO_PASSWORD, SELLER_PASSWORD, seed};

/// How the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// HTTP port (0 picks a free one).
    pub port: u16,
    /// Database directory; `None` uses a new temporary directory (the simulated world starts
    /// afresh every run, so old shop data would name a world that no longer exists).
    pub data: Option<PathBuf>,
    /// Share (0-99) of requests the world drops.
    pub flakiness: u8,
    /// Simulation speed (warehouse work and trucks).
    pub simspeed: u32,
    /// Units bought of each product in each warehouse.
    pub stock_per_warehouse: u32,
    /// Seed of the world and the UPS.
    pub seed: u64,
    /// Storage URL; `None` is SurrealDB on disk in `data` (benchmarks compare `mem://` and
    /// `memory://`).
    pub storage: Option<String>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            port: 8000,
            data: None,
            flakiness: 0,
            simspeed: u32::MAX,
            stock_per_warehouse: 50,
            seed: 1,
            storage: None,
        }
    }
}

/// A running demo: world, UPS and server.
pub struct Demo {
    /// The server.
    pub app: App,
    world: WorldServer,
    ups: UpsServer,
    /// The demo's SMTP server, holding every mail the shop sent.
    pub mail: Arc<MailCatcher>,
    _data: Option<tempfile::TempDir>,
    /// The database directory.
    pub data_dir: PathBuf,
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A simulator could not start.
    #[error("simulator: {0}")]
    Sim(#[from] std::io::Error),
    /// The server could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// Seeding the catalog failed.
    #[error("seeding the catalog: {0}")]
    Seed(#[from] ShopError),
}

impl Demo {
    /// Starts the world, the server and the UPS, and seeds the catalog.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        let (temp, data_dir) = match &options.data {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new().prefix("weshop-demo-").tempdir()?;
                let dir = temp.path().to_path_buf();
                (Some(temp), dir)
            }
        };
        let any: SocketAddr = ([127, 0, 0, 1], 0).into();
        let world = WorldServer::bind(
            any,
            any,
            WorldConfig {
                flakiness: options.flakiness,
                seed: options.seed,
                ..WorldConfig::default()
            },
        )
        .await?;
        let mail = Arc::new(MailCatcher::bind(any).await?);
        let settings = Settings {
            http: ([127, 0, 0, 1], options.port).into(),
            storage: options
                .storage
                .clone()
                .unwrap_or_else(|| format!("surrealkv://{}", data_dir.join("db").display())),
            world: world.amazon_addr(),
            world_id: None,
            simspeed: Some(options.simspeed),
            warehouses: default_warehouses(),
            ups: UpsEndpoint::Listen(any),
            resend: Duration::from_millis(200),
            // The catcher is on loopback, in this process.
            smtp: Some(mail.settings("WeShop demo <shop@weshop.test>")),
            ..Settings::default()
        };
        let app = App::start(settings, mailbox::mount(app_options(), mail.clone())).await?;
        let ups = UpsServer::start(
            world.ups_addr(),
            ShopEndpoint::Connect(app.ups_addr().expect("the demo shop listens for its UPS")),
            UpsConfig {
                seed: options.seed,
                simspeed: Some(options.simspeed),
                session: weshop_core::session::SessionConfig {
                    initial_resend: Duration::from_millis(200),
                    ..Default::default()
                },
                ..UpsConfig::default()
            },
        )
        .await?;
        seed(app.shop().as_ref(), options.stock_per_warehouse).await?;
        Ok(Demo {
            app,
            world,
            ups,
            mail,
            _data: temp,
            data_dir,
        })
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        self.app.shutdown().await;
        self.ups.shutdown().await;
        self.world.shutdown().await;
    }
}
