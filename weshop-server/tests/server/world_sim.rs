//! A scripted shop and a scripted UPS against the simulated world, over real TCP.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use futures::SinkExt;
use weshop_core::session::{Seqnum, Session};
use weshop_proto::{world_amazon as wa, world_ups as wu};
use weshop_server::{
    protocols::{
        ShopToWorld, TruckCommand as TC, TruckEvent as TE, UpsToWorld, WorldCommand as C,
        WorldEvent as E,
    },
    sim::{WorldConfig, WorldServer, world::errors},
};

use crate::peer::{Peer, fast_session};

const LIMIT: Duration = Duration::from_secs(20);
const FAST: u32 = 100_000;

pub type Shop = Peer<ShopToWorld>;
pub type Ups = Peer<UpsToWorld>;

pub async fn world(flakiness: u8, seed: u64) -> WorldServer {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = WorldConfig {
        flakiness,
        seed,
        session: fast_session(seed),
        ..WorldConfig::default()
    };
    WorldServer::bind(any, any, config).await.unwrap()
}

pub fn product(id: i64, count: i32) -> wa::AProduct {
    wa::AProduct {
        id,
        description: format!("product {id}"),
        count,
    }
}

pub fn buy(whnum: i32, things: Vec<wa::AProduct>) -> C {
    C::Buy(wa::APurchaseMore {
        whnum,
        things,
        seqnum: 0,
    })
}

pub fn pack(whnum: i32, shipid: i64, things: Vec<wa::AProduct>) -> C {
    C::Pack(wa::APack {
        whnum,
        things,
        shipid,
        seqnum: 0,
    })
}

pub fn load(whnum: i32, truckid: i32, shipid: i64) -> C {
    C::Load(wa::APutOnTruck {
        whnum,
        truckid,
        shipid,
        seqnum: 0,
    })
}

fn query(packageid: i64) -> C {
    C::Query(wa::AQuery {
        packageid,
        seqnum: 0,
    })
}

/// Connects a shop that creates (or joins) a world with warehouses, and speeds its time up.
/// Connects a peer that creates (or joins) a world and, once in, speeds its side's time up.
async fn join<P, A>(
    addr: SocketAddr,
    hello: impl weshop_proto::prost::Message,
    faster: impl weshop_proto::prost::Message,
    result: fn(&A) -> &str,
    seed: u64,
) -> (Peer<P>, A)
where
    P: weshop_core::session::Protocol,
    P::Message: weshop_proto::prost::Message,
    P::Incoming: weshop_proto::SchemaMessage,
    A: weshop_proto::SchemaMessage,
{
    let (mut peer, answer): (Peer<P>, A) =
        Peer::connect(addr, hello, Session::new(fast_session(seed), 1)).await;
    if result(&answer) == "connected!" {
        peer.link.send(faster).await.unwrap();
    }
    (peer, answer)
}

/// Connects a shop that creates (or joins) a world with warehouses.
pub async fn shop(
    addr: SocketAddr,
    worldid: Option<i64>,
    warehouses: &[(i32, i32, i32)],
    seed: u64,
) -> (Shop, wa::AConnected) {
    let initwh = warehouses
        .iter()
        .map(|&(id, x, y)| wa::AInitWarehouse { id, x, y })
        .collect();
    let hello = wa::AConnect {
        worldid,
        initwh,
        is_amazon: true,
    };
    let faster = wa::ACommands {
        simspeed: Some(FAST),
        ..Default::default()
    };
    join(addr, hello, faster, |c: &wa::AConnected| &c.result, seed).await
}

/// Connects a UPS that joins (or creates) a world with trucks.
pub async fn ups(
    addr: SocketAddr,
    worldid: Option<i64>,
    trucks: &[(i32, i32, i32)],
    seed: u64,
) -> (Ups, wu::UConnected) {
    let trucks = trucks
        .iter()
        .map(|&(id, x, y)| wu::UInitTruck { id, x, y })
        .collect();
    let hello = wu::UConnect {
        worldid,
        trucks,
        is_amazon: false,
    };
    let faster = wu::UCommands {
        simspeed: Some(FAST),
        ..Default::default()
    };
    join(addr, hello, faster, |c: &wu::UConnected| &c.result, seed).await
}

fn shop_error(items: &[(Seqnum, E)], origin: Seqnum) -> Option<String> {
    items.iter().find_map(|(_, e)| match e {
        E::Error(err) if err.originseqnum == origin => Some(err.err.clone()),
        _ => None,
    })
}

fn ups_error(items: &[(Seqnum, TE)], origin: Seqnum) -> Option<String> {
    items.iter().find_map(|(_, e)| match e {
        TE::Error(err) if err.originseqnum == origin => Some(err.err.clone()),
        _ => None,
    })
}

/// Sends one request and waits for its error; returns the text.
async fn expect_shop_error(shop: &mut Shop, command: C) -> String {
    let seq = shop.send(command);
    shop.pump_until(LIMIT, |items| shop_error(items, seq).is_some())
        .await;
    shop_error(&shop.items, seq).unwrap()
}

async fn expect_ups_error(ups: &mut Ups, command: TC) -> String {
    let seq = ups.send(command);
    ups.pump_until(LIMIT, |items| ups_error(items, seq).is_some())
        .await;
    ups_error(&ups.items, seq).unwrap()
}

async fn package_status(shop: &mut Shop, shipid: i64) -> String {
    let before = shop.items.len();
    shop.send(query(shipid));
    let find = |items: &[(Seqnum, E)]| {
        items[before..].iter().find_map(|(_, e)| match e {
            E::PackageStatus(p) if p.packageid == shipid => Some(p.status.clone()),
            _ => None,
        })
    };
    shop.pump_until(LIMIT, |items| find(items).is_some()).await;
    find(&shop.items).unwrap()
}

#[tokio::test]
async fn every_command_and_every_error() {
    let world = world(0, 1).await;
    let (mut shop, connected) = shop(world.amazon_addr(), None, &[(1, 0, 0), (2, 10, 10)], 1).await;
    assert_eq!(connected.result, "connected!");
    let (mut ups, joined) = ups(
        world.ups_addr(),
        Some(connected.worldid),
        &[(1, 3, 4), (2, 50, 50)],
        2,
    )
    .await;
    assert_eq!(
        (joined.result.as_str(), joined.worldid),
        ("connected!", connected.worldid)
    );

    // buy -> arrived, with the same items.
    let seq = shop.send(buy(1, vec![product(7, 10)]));
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, E::Arrived(a) if a.whnum == 1))
    })
    .await;
    let arrived = shop.take();
    assert!(
        matches!(&arrived[..], [(_, E::Arrived(a))] if a.things == vec![product(7, 10)]),
        "{arrived:?} for {seq}"
    );

    assert_eq!(
        expect_shop_error(&mut shop, buy(9, vec![product(7, 1)])).await,
        errors::unknown_warehouse(9)
    );
    assert_eq!(
        expect_shop_error(&mut shop, buy(1, vec![product(7, 0)])).await,
        errors::bad_count(7, 0)
    );

    // topack takes stock at once; ready when packed.
    shop.send(pack(1, 100, vec![product(7, 3)]));
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, E::Ready(r) if r.shipid == 100))
    })
    .await;
    assert_eq!(
        expect_shop_error(&mut shop, pack(1, 101, vec![product(7, 8)])).await,
        errors::insufficient_stock(1, 7, 7, 8)
    );
    assert_eq!(
        expect_shop_error(&mut shop, pack(2, 101, vec![product(7, 1)])).await,
        errors::insufficient_stock(2, 7, 0, 1)
    );
    assert_eq!(
        expect_shop_error(&mut shop, pack(1, 100, vec![product(7, 1)])).await,
        errors::shipid_in_use(100)
    );
    assert_eq!(
        expect_shop_error(&mut shop, pack(1, 102, vec![])).await,
        errors::empty_package(102)
    );
    assert_eq!(
        expect_shop_error(&mut shop, pack(5, 103, vec![product(7, 1)])).await,
        errors::unknown_warehouse(5)
    );
    assert_eq!(package_status(&mut shop, 100).await, "packed");
    assert_eq!(
        expect_shop_error(&mut shop, query(999)).await,
        errors::unknown_package(999)
    );

    // load needs a packed package and the truck at its warehouse.
    assert_eq!(
        expect_shop_error(&mut shop, load(1, 1, 100)).await,
        errors::truck_not_at_warehouse(1, 1, "idle")
    );
    assert_eq!(
        expect_shop_error(&mut shop, load(1, 1, 555)).await,
        errors::unknown_package(555)
    );
    assert_eq!(
        expect_shop_error(&mut shop, load(1, 9, 100)).await,
        errors::unknown_truck(9)
    );
    assert_eq!(
        expect_shop_error(&mut shop, load(2, 1, 100)).await,
        errors::wrong_warehouse(100, 1, 2)
    );

    // The UPS sends truck 1 to warehouse 1.
    assert_eq!(
        expect_ups_error(
            &mut ups,
            TC::Pickup(wu::UGoPickup {
                truckid: 7,
                whid: 1,
                seqnum: 0
            })
        )
        .await,
        errors::unknown_truck(7)
    );
    assert_eq!(
        expect_ups_error(
            &mut ups,
            TC::Pickup(wu::UGoPickup {
                truckid: 1,
                whid: 8,
                seqnum: 0
            })
        )
        .await,
        errors::unknown_warehouse(8)
    );
    ups.send(TC::Pickup(wu::UGoPickup {
        truckid: 1,
        whid: 1,
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items.iter().any(|(_, e)| matches!(e, TE::Completion(f) if f.truckid == 1 && f.status == "arrive warehouse" && (f.x, f.y) == (0, 0)))
    })
    .await;

    // A package still packing cannot be loaded (pack and load travel in one message).
    shop.send(pack(1, 104, vec![product(7, 1)]));
    assert_eq!(
        expect_shop_error(&mut shop, load(1, 1, 104)).await,
        errors::not_packed(104, "packing")
    );
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, E::Ready(r) if r.shipid == 104))
    })
    .await;

    shop.send(load(1, 1, 100));
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, E::Loaded(l) if l.shipid == 100))
    })
    .await;
    assert_eq!(package_status(&mut shop, 100).await, "loaded");

    // Deliveries: only packages loaded on that truck.
    let to = |packageid, x, y| wu::UDeliveryLocation { packageid, x, y };
    assert_eq!(
        expect_ups_error(
            &mut ups,
            TC::Deliver(wu::UGoDeliver {
                truckid: 2,
                packages: vec![to(100, 1, 1)],
                seqnum: 0
            })
        )
        .await,
        errors::not_on_truck(100, 2, "loaded")
    );
    assert_eq!(
        expect_ups_error(
            &mut ups,
            TC::Deliver(wu::UGoDeliver {
                truckid: 1,
                packages: vec![to(104, 1, 1)],
                seqnum: 0
            })
        )
        .await,
        errors::not_on_truck(104, 1, "packed")
    );
    assert_eq!(
        expect_ups_error(
            &mut ups,
            TC::Deliver(wu::UGoDeliver {
                truckid: 1,
                packages: vec![],
                seqnum: 0
            })
        )
        .await,
        errors::empty_delivery(1)
    );
    ups.send(TC::Deliver(wu::UGoDeliver {
        truckid: 1,
        packages: vec![to(100, 5, 5)],
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, TE::Completion(f) if f.truckid == 1 && f.status == "idle"))
    })
    .await;
    let delivered: Vec<_> = ups
        .items
        .iter()
        .filter(|(_, e)| matches!(e, TE::Delivered(d) if d.packageid == 100))
        .collect();
    assert_eq!(delivered.len(), 1);
    assert_eq!(package_status(&mut shop, 100).await, "delivered");

    ups.send(TC::Query(wu::UQuery {
        truckid: 1,
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items.iter().any(|(_, e)| matches!(e, TE::Status(_)))
    })
    .await;
    let status = ups
        .items
        .iter()
        .find_map(|(_, e)| match e {
            TE::Status(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!((status.status.as_str(), status.x, status.y), ("idle", 5, 5));

    // disconnect -> finished, then the world closes the link.
    shop.link
        .send(wa::ACommands {
            disconnect: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    let finished = loop {
        match futures::StreamExt::next(&mut shop.link).await {
            Some(Ok(r)) if r.finished == Some(true) => break true,
            Some(Ok(_)) => continue,
            _ => break false,
        }
    };
    assert!(finished, "the world answers disconnect with finished");
    assert!(
        futures::StreamExt::next(&mut shop.link).await.is_none(),
        "and closes"
    );
    world.shutdown().await;
}

#[tokio::test]
async fn handshakes_are_checked() {
    let world = world(0, 2).await;
    let (_shop, created) = shop(world.amazon_addr(), None, &[(1, 0, 0)], 1).await;
    let (_, refused) = shop(world.amazon_addr(), Some(created.worldid), &[], 2).await;
    assert_eq!(
        refused.result,
        format!(
            "error: world {} already has an Amazon connected",
            created.worldid
        )
    );
    let (_, unknown) = shop(world.amazon_addr(), Some(999), &[], 3).await;
    assert_eq!(unknown.result, "error: world 999 does not exist");
    let (_, moved) = shop(world.amazon_addr(), None, &[(1, 0, 0), (1, 2, 2)], 4).await;
    assert_eq!(moved.result, "error: warehouse 1 already exists at (0, 0)");

    // A UPS can create a world that a shop joins later.
    let (_ups, ups_world) = ups(world.ups_addr(), None, &[(1, 0, 0)], 5).await;
    assert_eq!(ups_world.result, "connected!");
    assert_ne!(ups_world.worldid, created.worldid, "worlds are separate");
    let (_shop2, joined) = shop(
        world.amazon_addr(),
        Some(ups_world.worldid),
        &[(3, 1, 1)],
        6,
    )
    .await;
    assert_eq!(joined.result, "connected!");
    world.shutdown().await;
}

#[tokio::test]
async fn a_reconnecting_shop_resumes_and_gets_what_happened_meanwhile() {
    let world = world(0, 3).await;
    let (mut shop1, created) = shop(world.amazon_addr(), None, &[(1, 0, 0)], 1).await;
    shop1.send(buy(1, vec![product(1, 5)]));
    shop1.flush().await;
    // Wait until the world acked the buy, then vanish before `arrived` can be acked.
    shop1.pump_until(LIMIT, |_| true).await;
    let state = shop1.session.state();
    drop(shop1);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let (mut shop2, joined) = shop(world.amazon_addr(), Some(created.worldid), &[], 1).await;
    assert_eq!(joined.result, "connected!");
    shop2.session = Session::restore(fast_session(1), state);
    shop2
        .pump_until(LIMIT, |items| {
            items.iter().any(|(_, e)| matches!(e, E::Arrived(_)))
        })
        .await;
    // The stock is there exactly once: packing 5 works, a sixth does not.
    shop2.send(pack(1, 1, vec![product(1, 5)]));
    shop2
        .pump_until(LIMIT, |items| {
            items.iter().any(|(_, e)| matches!(e, E::Ready(_)))
        })
        .await;
    assert_eq!(
        expect_shop_error(&mut shop2, pack(1, 2, vec![product(1, 1)])).await,
        errors::insufficient_stock(1, 1, 0, 1)
    );
    world.shutdown().await;
}

#[tokio::test]
async fn flakiness_50_loses_nothing_and_does_nothing_twice() {
    let world = world(50, 4).await;
    let (mut shop, _) = shop(world.amazon_addr(), None, &[(1, 0, 0)], 7).await;
    for i in 0..40 {
        shop.send(buy(1, vec![product(1 + i % 4, 1)]));
    }
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .filter(|(_, e)| matches!(e, E::Arrived(_)))
            .count()
            >= 40
    })
    .await;
    let arrived = shop
        .items
        .iter()
        .filter(|(_, e)| matches!(e, E::Arrived(_)))
        .count();
    assert_eq!(arrived, 40, "each buy arrives exactly once");
    // 10 units of each product: exactly 10 packs of one unit succeed per product, an 11th fails.
    let mut seqs = HashMap::new();
    for shipid in 0..40i64 {
        seqs.insert(
            shop.send(pack(1, shipid, vec![product(1 + shipid % 4, 1)])),
            shipid,
        );
    }
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .filter(|(_, e)| matches!(e, E::Ready(_)))
            .count()
            >= 40
    })
    .await;
    assert!(
        shop.items.iter().all(|(_, e)| !matches!(e, E::Error(_))),
        "{:?}",
        shop.items
    );
    assert_eq!(
        expect_shop_error(&mut shop, pack(1, 99, vec![product(2, 1)])).await,
        errors::insufficient_stock(1, 2, 0, 1)
    );
    world.shutdown().await;
}

#[tokio::test]
async fn a_pickup_interrupts_a_delivery_over_tcp() {
    let world = world(0, 5).await;
    let (mut shop, connected) = shop(world.amazon_addr(), None, &[(1, 0, 0)], 1).await;
    let (mut ups, _) = ups(world.ups_addr(), Some(connected.worldid), &[(1, 0, 0)], 2).await;
    shop.send(buy(1, vec![product(1, 2)]));
    shop.pump_until(LIMIT, |items| {
        items.iter().any(|(_, e)| matches!(e, E::Arrived(_)))
    })
    .await;
    shop.send(pack(1, 1, vec![product(1, 1)]));
    shop.send(pack(1, 2, vec![product(1, 1)]));
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .filter(|(_, e)| matches!(e, E::Ready(_)))
            .count()
            == 2
    })
    .await;
    ups.send(TC::Pickup(wu::UGoPickup {
        truckid: 1,
        whid: 1,
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items.iter().any(|(_, e)| matches!(e, TE::Completion(_)))
    })
    .await;
    shop.send(load(1, 1, 1));
    shop.send(load(1, 1, 2));
    shop.pump_until(LIMIT, |items| {
        items
            .iter()
            .filter(|(_, e)| matches!(e, E::Loaded(_)))
            .count()
            == 2
    })
    .await;

    // Slow trucks down (0.1 s per unit): the first drop is 1 unit away, the second 10 000.
    ups.link
        .send(wu::UCommands {
            simspeed: Some(100),
            ..Default::default()
        })
        .await
        .unwrap();
    let to = |packageid, x, y| wu::UDeliveryLocation { packageid, x, y };
    ups.send(TC::Deliver(wu::UGoDeliver {
        truckid: 1,
        packages: vec![to(1, 0, 1), to(2, 0, 10_000)],
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, TE::Delivered(d) if d.packageid == 1))
    })
    .await;
    ups.send(TC::Query(wu::UQuery {
        truckid: 1,
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items.iter().any(|(_, e)| matches!(e, TE::Status(_)))
    })
    .await;
    assert!(
        ups.items
            .iter()
            .any(|(_, e)| matches!(e, TE::Status(t) if t.status == "delivering")),
        "{:?}",
        ups.items
    );
    ups.send(TC::Pickup(wu::UGoPickup {
        truckid: 1,
        whid: 1,
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items
            .iter()
            .filter(|(_, e)| matches!(e, TE::Completion(f) if f.status == "arrive warehouse"))
            .count()
            == 2
    })
    .await;
    assert_eq!(
        package_status(&mut shop, 2).await,
        "loaded",
        "package 2 stayed aboard, undelivered"
    );
    ups.link
        .send(wu::UCommands {
            simspeed: Some(FAST),
            ..Default::default()
        })
        .await
        .unwrap();
    ups.send(TC::Deliver(wu::UGoDeliver {
        truckid: 1,
        packages: vec![to(2, 3, 3)],
        seqnum: 0,
    }));
    ups.pump_until(LIMIT, |items| {
        items
            .iter()
            .any(|(_, e)| matches!(e, TE::Delivered(d) if d.packageid == 2))
    })
    .await;
    assert_eq!(package_status(&mut shop, 2).await, "delivered");
    world.shutdown().await;
}
