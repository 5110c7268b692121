//! How many messages the simulated world sustains over TCP on this machine.
//!
//! Each of `CLIENTS` shops creates its own world with one packed package, then keeps WINDOW
//! requests in flight: batches of BATCH package queries, each answered by the world with an ack
//! and a `packagestatus` event that the shop acks in turn — four sequenced items per query.
//! Everything goes through real sockets, the codec and core's sessions on both ends.
//! Prints requests/s, items/s (requests + events + both acks) and frames/s.
//!
//! `cargo bench -p weshop-server --bench world_sim [-- SECONDS [BATCH [WINDOW]]]`

#![allow(missing_docs)] // a bench binary

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use weshop_core::session::{Session, SessionConfig};
use weshop_proto::{codec::DelimitedCodec, world_amazon as wa};
use weshop_server::{
    protocols::{ShopToWorld, WorldCommand, WorldEvent},
    sim::{WorldConfig, WorldServer},
};

const CLIENTS: usize = 8;

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    events: AtomicU64,
    frames_out: AtomicU64,
    frames_in: AtomicU64,
}

async fn client(
    addr: SocketAddr,
    id: usize,
    until: Instant,
    (batch, window): (usize, usize),
    counters: Arc<Counters>,
) {
    let socket = TcpStream::connect(addr).await.unwrap();
    socket.set_nodelay(true).unwrap();
    let mut hello = Framed::new(socket, DelimitedCodec::<wa::AConnected>::new());
    let connect = wa::AConnect {
        worldid: None,
        initwh: vec![wa::AInitWarehouse { id: 1, x: 0, y: 0 }],
        is_amazon: true,
    };
    hello.send(connect).await.unwrap();
    assert_eq!(hello.next().await.unwrap().unwrap().result, "connected!");
    let mut link = hello.map_codec(|_| DelimitedCodec::<wa::AResponses>::new());
    link.send(wa::ACommands {
        simspeed: Some(u32::MAX),
        ..Default::default()
    })
    .await
    .unwrap();
    let config = SessionConfig {
        seed: id as u64,
        max_requests_per_message: batch,
        ..SessionConfig::default()
    };
    let mut session = Session::<ShopToWorld>::new(config, 1);
    let thing = wa::AProduct {
        id: 1,
        description: "mug".into(),
        count: 1,
    };
    session.send(WorldCommand::Buy(wa::APurchaseMore {
        whnum: 1,
        things: vec![thing.clone()],
        seqnum: 0,
    }));
    let mut ready = false;
    let mut packed = false;
    loop {
        if ready && Instant::now() >= until {
            break;
        }
        while ready && session.unacked_len() < window {
            session.send(WorldCommand::Query(wa::AQuery {
                packageid: 1,
                seqnum: 0,
            }));
        }
        while let Some(message) = session.poll_transmit(Instant::now()) {
            link.feed(message).await.unwrap();
            counters.frames_out.fetch_add(1, Ordering::Relaxed);
        }
        SinkExt::<wa::ACommands>::flush(&mut link).await.unwrap();
        let Some(Ok(responses)) = link.next().await else {
            break;
        };
        counters.frames_in.fetch_add(1, Ordering::Relaxed);
        let before = session.unacked_len();
        for (_, event) in session.handle_message(responses) {
            match event {
                WorldEvent::Arrived(_) if !packed => {
                    packed = true;
                    session.send(WorldCommand::Pack(wa::APack {
                        whnum: 1,
                        things: vec![thing.clone()],
                        shipid: 1,
                        seqnum: 0,
                    }));
                }
                WorldEvent::Ready(_) => ready = true,
                WorldEvent::PackageStatus(_) => {
                    counters.events.fetch_add(1, Ordering::Relaxed);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if ready {
            let acked = before.saturating_sub(session.unacked_len());
            counters.requests.fetch_add(acked as u64, Ordering::Relaxed);
        }
    }
}

fn main() {
    let numbers: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = numbers.first().copied().unwrap_or(5);
    let batch = numbers.get(1).copied().unwrap_or(16) as usize;
    let window = numbers.get(2).copied().unwrap_or(256) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let world = WorldServer::bind(any, any, WorldConfig::default())
            .await
            .unwrap();
        let counters = Arc::new(Counters::default());
        // Warm up (handshakes, the first buy and pack) outside the measured window.
        let start = Instant::now() + Duration::from_millis(500);
        let until = start + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..CLIENTS)
            .map(|id| {
                tokio::spawn(client(
                    world.amazon_addr(),
                    id,
                    until,
                    (batch, window),
                    counters.clone(),
                ))
            })
            .collect();
        tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
        let base = (
            counters.requests.load(Ordering::Relaxed),
            counters.events.load(Ordering::Relaxed),
            counters.frames_out.load(Ordering::Relaxed),
            counters.frames_in.load(Ordering::Relaxed),
        );
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let requests = counters.requests.load(Ordering::Relaxed) - base.0;
        let events = counters.events.load(Ordering::Relaxed) - base.1;
        let frames = counters.frames_out.load(Ordering::Relaxed)
            + counters.frames_in.load(Ordering::Relaxed)
            - base.2
            - base.3;
        println!(
            "world sim, {CLIENTS} shops x window {window}, batches of {batch}, {elapsed:.1} s:"
        );
        println!(
            "  requests acked      {:>12.0} /s",
            requests as f64 / elapsed
        );
        println!("  events received     {:>12.0} /s", events as f64 / elapsed);
        println!(
            "  sequenced items     {:>12.0} /s (requests + events + their acks)",
            (2 * requests + 2 * events) as f64 / elapsed
        );
        println!(
            "  frames              {:>12.0} /s (both directions)",
            frames as f64 / elapsed
        );
        world.shutdown().await;
    });
}
