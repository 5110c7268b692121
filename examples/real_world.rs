//! The shop against a real world and a real UPS: the course's world server and a partner team's
//! UPS, at addresses given on the command line. It connects (creating a world, or joining the
//! one named), lists a product, buys stock, places one order and follows it to `delivered`.
//!
//! ```sh
//! cargo run --example real_world -- --world world.example.edu:23456 --ups-listen 0.0.0.0:34567
//! cargo run --example real_world -- --help
//! ```

#[path = "common/mod.rs"]
mod common;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clap::Parser;
use tokio::sync::watch;
use weshop::core::assembly::ShopBuilder;
use weshop::server::{
    adapters::{NoObserver, UpsEndpoint},
    app::{PartnerSettings, Partners},
    config::{default_warehouses, parse_warehouses},
};

/// Runs a WeShop against a real world simulator and a partner UPS, places one order and
/// follows it until it is delivered.
///
/// The UPS either dials the shop (`--ups-listen`, the default way: give your UPS partner this
/// address) or listens for it (`--ups-connect`). On every UPS connection the shop first sends
/// `ConnectWorldId` with the world's id.
#[derive(Debug, Parser)]
#[command(name = "real_world")]
struct Args {
    /// The world's Amazon port (HOST:PORT; a name is resolved once).
    #[arg(long)]
    world: String,
    /// The world to join (e.g. one your UPS partner created); without it, a new world is made.
    #[arg(long)]
    world_id: Option<i64>,
    /// Listen here for the UPS to dial in.
    #[arg(long, conflicts_with = "ups_connect", default_value = "0.0.0.0:34567")]
    ups_listen: SocketAddr,
    /// Dial the UPS here instead of listening.
    #[arg(long)]
    ups_connect: Option<String>,
    /// Warehouses to create in a new world, `ID@X,Y;ID@X,Y…`.
    #[arg(long)]
    warehouses: Option<String>,
    /// Simulation speed to ask the world for.
    #[arg(long)]
    simspeed: Option<u32>,
    /// Storage URL (`memory://`, `mem://`, `surrealkv://DIR`, `ws://HOST:PORT`).
    #[arg(long, default_value = "memory://")]
    storage: String,
}

fn resolve(address: &str) -> Result<SocketAddr, common::Error> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{address} resolves to no address").into())
}

#[tokio::main]
async fn main() -> Result<(), common::Error> {
    let args = Args::parse();
    let warehouses = match &args.warehouses {
        Some(text) => parse_warehouses(text)?,
        None => default_warehouses(),
    };
    let ups = match &args.ups_connect {
        Some(address) => UpsEndpoint::Connect(resolve(address)?),
        None => UpsEndpoint::Listen(args.ups_listen),
    };
    let store = weshop::storage::open(&args.storage).await?;
    let assembled = ShopBuilder::new(store.clone())
        .warehouses(warehouses.clone())
        .build()
        .await?;
    let (stop, stopped) = watch::channel(false);
    let partners = Partners::connect(
        PartnerSettings {
            world: resolve(&args.world)?,
            world_id: args.world_id,
            warehouses: warehouses.clone(),
            simspeed: args.simspeed,
            ups,
            resend: Duration::from_millis(500),
            fence: None,
        },
        assembled.driver().clone(),
        store,
        Arc::new(NoObserver),
        stopped,
    )
    .await?;
    if let Some(address) = partners.ups_addr {
        println!("waiting for the UPS to connect to {address}");
    }
    let mut world_id = partners.world_id.clone();
    let running = assembled
        .start(partners.world.clone(), partners.ups.clone())
        .await?;
    if let Ok(id) = world_id.wait_for(Option::is_some).await {
        println!("in world {}", id.unwrap_or_default());
    }
    let outcome = common::sell_buy_and_follow(running.shop().as_ref(), warehouses[0].id).await;
    let _ = stop.send(true);
    for task in partners.tasks {
        let _ = task.await;
    }
    running.shutdown().await;
    outcome
}
