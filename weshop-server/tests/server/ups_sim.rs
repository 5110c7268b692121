//! The simulated UPS, driven by a scripted shop through the simulated world, over real TCP.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::SinkExt;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use weshop_core::session::Session;
use weshop_proto::{codec::DelimitedCodec, ups_amazon as ua};
use weshop_server::{
    protocols::{ShopMessage as S, ShopToUps, UpsMessage as U, WorldEvent as E},
    sim::{ShopEndpoint, UpsConfig, UpsServer},
};

use crate::{
    peer::{Peer, fast_session},
    world_sim::{buy, load, pack, product, shop, world},
};

const WAREHOUSES: [(i32, i32, i32); 3] = [(1, 0, 0), (2, 20, 20), (3, -10, 15)];

struct Package {
    warehouse: i32,
    product: i64,
    count: i32,
    dest: (i32, i32),
    user: Option<String>,
}

/// How the shop and the UPS meet in a flow.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Meet {
    /// The UPS listens, the shop dials.
    Listen,
    /// The shop listens, the UPS dials (`--connect`).
    Dial,
    /// The UPS listens; halfway through, the shop drops the link and dials again.
    ListenAndReconnect,
}

/// Says `ConnectWorldId` on a fresh link and wraps it in a peer with `session`.
async fn greet(socket: TcpStream, world_id: i64, session: Session<ShopToUps>) -> Peer<ShopToUps> {
    socket.set_nodelay(true).unwrap();
    let mut framed = Framed::new(socket, DelimitedCodec::<ua::UtoACommands>::new());
    let world_id = i32::try_from(world_id).expect("world id fits int32");
    let hello = ua::ConnectWorldId {
        world_id,
        seq_num: 0,
    };
    framed.send(hello).await.unwrap();
    Peer::over(framed, session)
}

async fn ups_link(addr: SocketAddr, world_id: i64, seed: u64) -> Peer<ShopToUps> {
    let socket = TcpStream::connect(addr).await.unwrap();
    greet(socket, world_id, Session::new(fast_session(seed), 1)).await
}

/// Buys exactly what `n` packages need, runs each through pack, truck, load and delivery, and
/// checks every package was delivered once, to its destination, and no stock is left over.
async fn full_flow(flakiness: u8, seed: u64, n: i64, meet: Meet) {
    let world = world(flakiness, seed).await;
    let (mut shop, connected) = shop(world.amazon_addr(), None, &WAREHOUSES, seed).await;
    assert_eq!(connected.result, "connected!");
    let config = UpsConfig {
        trucks: 4,
        seed,
        simspeed: Some(100_000),
        linger: Duration::from_secs(5),
        session: fast_session(seed ^ 7),
        ..UpsConfig::default()
    };
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let (ups_server, mut ups) = match meet {
        Meet::Listen | Meet::ListenAndReconnect => {
            let server = UpsServer::start(world.ups_addr(), ShopEndpoint::Listen(any), config)
                .await
                .unwrap();
            let link = ups_link(server.shop_addr().unwrap(), connected.worldid, seed).await;
            (server, link)
        }
        Meet::Dial => {
            let listener = tokio::net::TcpListener::bind(any).await.unwrap();
            let shop_at = ShopEndpoint::Connect(listener.local_addr().unwrap());
            let server = UpsServer::start(world.ups_addr(), shop_at, config)
                .await
                .unwrap();
            let (socket, _) = listener.accept().await.unwrap();
            let session = Session::new(fast_session(seed), 1);
            (server, greet(socket, connected.worldid, session).await)
        }
    };
    let mut reconnected = meet != Meet::ListenAndReconnect;

    let packages: BTreeMap<i64, Package> = (0..n)
        .map(|i| {
            let package = Package {
                warehouse: WAREHOUSES[(i % 3) as usize].0,
                product: 1 + i % 5,
                count: 1 + (i % 3) as i32,
                dest: ((i * 7 % 41) as i32 - 20, (i * 13 % 37) as i32 - 18),
                user: (i % 4 == 0).then(|| format!("user{i}")),
            };
            (1000 + i, package)
        })
        .collect();
    let mut need: BTreeMap<(i32, i64), i32> = BTreeMap::new();
    for p in packages.values() {
        *need.entry((p.warehouse, p.product)).or_default() += p.count;
    }
    for &(wh, _, _) in &WAREHOUSES {
        let things = need
            .iter()
            .filter(|((w, _), _)| *w == wh)
            .map(|((_, id), count)| product(*id, *count))
            .collect();
        shop.send(buy(wh, things));
    }

    let mut arrived = 0;
    let mut delivered: HashMap<i64, u32> = HashMap::new();
    let mut final_dest: HashMap<i64, (i32, i32)> = HashMap::new();
    let start = Instant::now();
    while delivered.len() < packages.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stuck: {} of {n} delivered",
            delivered.len()
        );
        shop.flush().await;
        ups.flush().await;
        tokio::select! {
            _ = shop.receive() => {}
            _ = ups.receive() => {}
        }
        for (_, event) in shop.take() {
            match event {
                E::Arrived(_) => {
                    arrived += 1;
                    if arrived == WAREHOUSES.len() {
                        for (&shipid, p) in &packages {
                            shop.send(pack(p.warehouse, shipid, vec![product(p.product, p.count)]));
                        }
                    }
                }
                E::Ready(ready) => {
                    let p = &packages[&ready.shipid];
                    let (_, x, y) = WAREHOUSES
                        .iter()
                        .copied()
                        .find(|w| w.0 == p.warehouse)
                        .unwrap();
                    let ups_order = p.user.clone().map(|user| ua::UpsOrder {
                        up_suser_id: user,
                        product: vec![ua::Product {
                            product_id: p.product,
                            product_count: i64::from(p.count),
                            product_description: "thing".into(),
                        }],
                    });
                    ups.send(S::RequestTruck(ua::RequestTruck {
                        seq_num: 0,
                        warehouse_id: p.warehouse,
                        warehouse_x: x,
                        warehouse_y: y,
                        dest_x: p.dest.0,
                        dest_y: p.dest.1,
                        ship_id: ready.shipid,
                        ups_order,
                    }));
                }
                E::Loaded(loaded) => {
                    ups.send(S::Deliver(ua::DeliverPackage {
                        seq_num: 0,
                        ship_id: loaded.shipid,
                    }));
                }
                E::Error(err) => panic!("world error: {err:?}"),
                E::PackageStatus(_) => {}
            }
        }
        for (_, message) in ups.take() {
            match message {
                U::TruckArrived(t) => {
                    shop.send(load(packages[&t.ship_id].warehouse, t.truck_id, t.ship_id));
                }
                U::Delivered(d) => *delivered.entry(d.ship_id).or_default() += 1,
                U::FinalDest(f) => {
                    final_dest.insert(f.ship_id, (f.dest_x, f.dest_y));
                }
                U::Error(err) => panic!("ups error: {err:?}"),
            }
        }
        if !reconnected && delivered.len() as i64 >= n / 2 {
            // The shop loses its UPS link and comes back with its saved session state (saved
            // after acting on everything received, as the session's contract requires).
            reconnected = true;
            let state = ups.session.state();
            drop(ups);
            let socket = TcpStream::connect(ups_server.shop_addr().unwrap())
                .await
                .unwrap();
            ups = greet(
                socket,
                connected.worldid,
                Session::restore(fast_session(seed), state),
            )
            .await;
        }
    }
    assert!(reconnected, "the reconnect step ran");
    // Settle: let late duplicates arrive, then check each package was delivered exactly once.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(300) {
        shop.flush().await;
        ups.flush().await;
        tokio::select! { _ = shop.receive() => {}, _ = ups.receive() => {} }
    }
    for (_, message) in &ups.items {
        if let U::Delivered(d) = message {
            *delivered.entry(d.ship_id).or_default() += 1;
        }
    }
    for shipid in packages.keys() {
        assert_eq!(delivered.get(shipid), Some(&1), "package {shipid}");
        assert_eq!(
            final_dest.get(shipid),
            Some(&packages[shipid].dest),
            "final destination of {shipid}"
        );
    }
    // The world's stock is exact: everything bought was packed, nothing is left anywhere.
    for &(wh, product_id) in need.keys() {
        let seq = shop.send(pack(
            wh,
            1_000_000 + i64::from(wh) * 100 + product_id,
            vec![product(product_id, 1)],
        ));
        shop.pump_until(Duration::from_secs(20), |items| {
            items
                .iter()
                .any(|(_, e)| matches!(e, E::Error(err) if err.originseqnum == seq))
        })
        .await;
        let text = shop
            .items
            .iter()
            .find_map(|(_, e)| match e {
                E::Error(err) if err.originseqnum == seq => Some(err.err.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            text,
            format!(
                "error: insufficient stock of product {product_id} in warehouse {wh}: have 0, need 1"
            )
        );
    }
    ups_server.shutdown().await;
    world.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_packages_are_delivered_exactly_once() {
    full_flow(0, 11, 100, Meet::Listen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_packages_are_delivered_exactly_once_at_flakiness_50() {
    full_flow(50, 12, 100, Meet::Listen).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ups_can_dial_the_shop() {
    full_flow(0, 14, 20, Meet::Dial).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_that_reconnects_to_the_ups_mid_flow_loses_nothing() {
    full_flow(30, 15, 40, Meet::ListenAndReconnect).await;
}

#[tokio::test]
async fn faulty_shop_requests_get_an_err() {
    let world = world(0, 13).await;
    let (_shop, connected) = shop(world.amazon_addr(), None, &WAREHOUSES, 13).await;
    let config = UpsConfig {
        trucks: 1,
        session: fast_session(3),
        ..UpsConfig::default()
    };
    let ups_server = UpsServer::start(
        world.ups_addr(),
        ShopEndpoint::Listen("127.0.0.1:0".parse().unwrap()),
        config,
    )
    .await
    .unwrap();
    let mut ups = ups_link(ups_server.shop_addr().unwrap(), connected.worldid, 13).await;
    let unknown = ups.send(S::Deliver(ua::DeliverPackage {
        seq_num: 0,
        ship_id: 77,
    }));
    ups.pump_until(Duration::from_secs(20), |items| {
        items
            .iter()
            .any(|(_, m)| matches!(m, U::Error(e) if e.originseqnum == unknown))
    })
    .await;
    let err = ups
        .items
        .iter()
        .find_map(|(_, m)| match m {
            U::Error(e) => Some(e.err.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(err, "error: unknown ship_id 77");
    ups_server.shutdown().await;
    world.shutdown().await;
}
