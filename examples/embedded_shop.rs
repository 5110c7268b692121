//! The shop as a library, without HTTP: an in-memory store, the simulated world and UPS in this
//! process (on loopback ports), a seller who lists and restocks a product, and a customer who
//! buys it. The example prints the order's status changes as the world and the UPS move it, and
//! exits 0 once it is delivered.
//!
//! ```sh
//! cargo run --example embedded_shop
//! ```

#[path = "common/mod.rs"]
mod common;

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;
use weshop::core::{assembly::ShopBuilder, store::Store};
use weshop::server::{
    adapters::{NoObserver, UpsEndpoint},
    app::{PartnerSettings, Partners},
    config::default_warehouses,
    sim::{ShopEndpoint, UpsConfig, UpsServer, WorldConfig, WorldServer},
};
use weshop::storage::MemoryStore;

/// Fast enough to finish in seconds, slow enough to see each step.
const SIMSPEED: u32 = 2_000;

#[tokio::main]
async fn main() -> Result<(), common::Error> {
    // The world and the UPS, simulated in this process on free loopback ports.
    let any = ([127, 0, 0, 1], 0).into();
    let world_sim = WorldServer::bind(any, any, WorldConfig::default()).await?;

    // The shop: a store, then the service and its fulfilment driver.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let warehouses = default_warehouses();
    let assembled = ShopBuilder::new(store.clone())
        .warehouses(warehouses.clone())
        .build()
        .await?;

    // Its partners: the world client and the UPS link, feeding the driver.
    let (stop, stopped) = watch::channel(false);
    let partners = Partners::connect(
        PartnerSettings {
            world: world_sim.amazon_addr(),
            world_id: None,
            warehouses,
            simspeed: Some(SIMSPEED),
            ups: UpsEndpoint::Listen(any),
            resend: Duration::from_millis(200),
            fence: None,
        },
        assembled.driver().clone(),
        store,
        Arc::new(NoObserver),
        stopped,
    )
    .await?;
    let shop_for_ups = partners.ups_addr.ok_or("the shop listens for the UPS")?;
    let ups_sim = UpsServer::start(
        world_sim.ups_addr(),
        ShopEndpoint::Connect(shop_for_ups),
        UpsConfig {
            simspeed: Some(SIMSPEED),
            ..UpsConfig::default()
        },
    )
    .await?;
    let running = assembled
        .start(partners.world.clone(), partners.ups.clone())
        .await?;
    let shop = running.shop().clone();

    let outcome = common::sell_buy_and_follow(shop.as_ref(), default_warehouses()[0].id).await;

    // Stop everything: links first, then the outbox, then the simulators.
    let _ = stop.send(true);
    for task in partners.tasks {
        let _ = task.await;
    }
    running.shutdown().await;
    ups_sim.shutdown().await;
    world_sim.shutdown().await;
    outcome?;
    println!("the shop ran as a library, without HTTP");
    Ok(())
}
