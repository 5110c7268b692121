//! The simulated world on TCP: an Amazon port and a UPS port in front of one [`WorldSim`].
//!
//! One actor task owns the simulator; every connection is a task that does the handshake,
//! forwards decoded messages to the actor and writes what the actor routes back. The actor
//! sleeps until the simulator's next timer, so simulated time runs with nobody connected.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};
use weshop_proto::{SchemaMessage, codec::DelimitedCodec, world_amazon as wa, world_ups as wu};

use super::{
    world::Side,
    worlds::{CONNECTED, WorldConfig, WorldSim},
};

/// How long a new connection may take to send its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

enum Inbound {
    Amazon(wa::ACommands),
    Ups(wu::UCommands),
}

enum Outbound {
    Amazon(wa::AResponses),
    Ups(wu::UResponses),
}

enum ToActor {
    Connect {
        side: Side,
        hello: Hello,
        conn: u64,
        out: mpsc::UnboundedSender<(Outbound, bool)>,
        reply: oneshot::Sender<Result<i64, String>>,
    },
    Message {
        world: i64,
        message: Inbound,
    },
    Closed {
        side: Side,
        world: i64,
        conn: u64,
    },
    /// Units on hand, for tests that check the world's stock against the shop's.
    Stock {
        world: i64,
        warehouse: i32,
        product: i64,
        reply: oneshot::Sender<Option<i64>>,
    },
    /// Every world's stock, for the stock report.
    Report {
        reply: oneshot::Sender<Vec<(i64, i32, i64, i64)>>,
    },
    /// Loses units without telling the shop, for tests.
    Lose {
        world: i64,
        warehouse: i32,
        product: i64,
        units: i64,
        reply: oneshot::Sender<Option<i64>>,
    },
}

enum Hello {
    Amazon(wa::AConnect),
    Ups(wu::UConnect),
}

/// One port's handshake and message types.
trait Port: Send + 'static {
    const SIDE: Side;
    type Hello: SchemaMessage;
    type Incoming: SchemaMessage;
    fn requested_world(hello: &Self::Hello) -> Option<i64>;
    fn hello(hello: Self::Hello) -> Hello;
    fn incoming(message: Self::Incoming) -> Inbound;
    fn connected(worldid: i64, result: String) -> impl SchemaMessage;
}

struct AmazonPort;
impl Port for AmazonPort {
    const SIDE: Side = Side::Amazon;
    type Hello = wa::AConnect;
    type Incoming = wa::ACommands;
    fn requested_world(hello: &wa::AConnect) -> Option<i64> {
        hello.worldid
    }
    fn hello(hello: wa::AConnect) -> Hello {
        Hello::Amazon(hello)
    }
    fn incoming(message: wa::ACommands) -> Inbound {
        Inbound::Amazon(message)
    }
    fn connected(worldid: i64, result: String) -> impl SchemaMessage {
        wa::AConnected { worldid, result }
    }
}

struct UpsPort;
impl Port for UpsPort {
    const SIDE: Side = Side::Ups;
    type Hello = wu::UConnect;
    type Incoming = wu::UCommands;
    fn requested_world(hello: &wu::UConnect) -> Option<i64> {
        hello.worldid
    }
    fn hello(hello: wu::UConnect) -> Hello {
        Hello::Ups(hello)
    }
    fn incoming(message: wu::UCommands) -> Inbound {
        Inbound::Ups(message)
    }
    fn connected(worldid: i64, result: String) -> impl SchemaMessage {
        wu::UConnected { worldid, result }
    }
}

/// A running simulated world. Dropping it does not stop it; call [`WorldServer::shutdown`].
#[derive(Debug)]
pub struct WorldServer {
    amazon_addr: SocketAddr,
    ups_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    to_actor: mpsc::UnboundedSender<ToActor>,
    task: JoinHandle<()>,
}

impl WorldServer {
    /// Binds both ports (port 0 picks free ones) and starts serving.
    pub async fn bind(
        amazon: SocketAddr,
        ups: SocketAddr,
        config: WorldConfig,
    ) -> std::io::Result<Self> {
        let amazon = TcpListener::bind(amazon).await?;
        let ups = TcpListener::bind(ups).await?;
        Ok(Self::serve(amazon, ups, config))
    }

    /// Serves on listeners already bound.
    pub fn serve(amazon: TcpListener, ups: TcpListener, config: WorldConfig) -> Self {
        let amazon_addr = amazon
            .local_addr()
            .expect("a bound listener has an address");
        let ups_addr = ups.local_addr().expect("a bound listener has an address");
        let (shutdown, stop) = watch::channel(false);
        let (to_actor, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(amazon, ups, config, stop, to_actor.clone(), inbox));
        Self {
            amazon_addr,
            ups_addr,
            shutdown,
            to_actor,
            task,
        }
    }

    /// Units of `product` on hand in `warehouse` of world `world` (`None`: no such world).
    pub async fn stock(&self, world: i64, warehouse: i32, product: i64) -> Option<i64> {
        let (reply, answer) = oneshot::channel();
        self.to_actor
            .send(ToActor::Stock {
                world,
                warehouse,
                product,
                reply,
            })
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Every world's stock: (world, warehouse, product, units on hand), in order.
    pub async fn stock_report(&self) -> Vec<(i64, i32, i64, i64)> {
        let (reply, answer) = oneshot::channel();
        if self.to_actor.send(ToActor::Report { reply }).is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }

    /// Loses up to `units` of `product` in `warehouse` of world `world` without telling the
    /// shop (a fault for tests); how many were lost (`None`: no such world).
    pub async fn lose(&self, world: i64, warehouse: i32, product: i64, units: i64) -> Option<i64> {
        let (reply, answer) = oneshot::channel();
        self.to_actor
            .send(ToActor::Lose {
                world,
                warehouse,
                product,
                units,
                reply,
            })
            .ok()?;
        answer.await.ok().flatten()
    }

    /// Where shops connect.
    pub fn amazon_addr(&self) -> SocketAddr {
        self.amazon_addr
    }

    /// Where UPSes connect.
    pub fn ups_addr(&self) -> SocketAddr {
        self.ups_addr
    }

    /// Stops accepting, closes every connection and waits for the tasks to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    amazon: TcpListener,
    ups: TcpListener,
    config: WorldConfig,
    mut stop: watch::Receiver<bool>,
    to_actor: mpsc::UnboundedSender<ToActor>,
    inbox: mpsc::UnboundedReceiver<ToActor>,
) {
    let next_conn = std::sync::Arc::new(AtomicU64::new(1));
    let actor = tokio::spawn(actor(WorldSim::new(config), inbox, stop.clone()));
    loop {
        let (socket, peer, side) = tokio::select! {
            _ = stop.changed() => break,
            accepted = amazon.accept() => match accepted {
                Ok((socket, peer)) => (socket, peer, Side::Amazon),
                Err(e) => { warn!("world: accept on the Amazon port failed: {e}"); continue }
            },
            accepted = ups.accept() => match accepted {
                Ok((socket, peer)) => (socket, peer, Side::Ups),
                Err(e) => { warn!("world: accept on the UPS port failed: {e}"); continue }
            },
        };
        let _ = socket.set_nodelay(true);
        let conn = next_conn.fetch_add(1, Ordering::Relaxed);
        let to_actor = to_actor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let result = match side {
                Side::Amazon => connection::<AmazonPort>(socket, conn, to_actor, stop).await,
                Side::Ups => connection::<UpsPort>(socket, conn, to_actor, stop).await,
            };
            match result {
                Ok(()) => debug!("world: {side} connection {conn} from {peer} closed"),
                Err(reason) => {
                    warn!("world: {side} connection {conn} from {peer} closed: {reason}")
                }
            }
        });
    }
    drop(to_actor);
    let _ = actor.await;
}

async fn connection<P: Port>(
    socket: TcpStream,
    conn: u64,
    to_actor: mpsc::UnboundedSender<ToActor>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let mut framed = Framed::new(socket, DelimitedCodec::<P::Hello>::new());
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => return Err("no handshake in time".into()),
        Ok(None) => return Err("closed before the handshake".into()),
        Ok(Some(Err(e))) => return Err(format!("bad handshake: {e}")),
        Ok(Some(Ok(hello))) => hello,
    };
    debug!("world: {} connection {conn} handshake {hello:?}", P::SIDE);
    let requested = P::requested_world(&hello);
    let (out, mut outbox) = mpsc::unbounded_channel();
    let (reply, answer) = oneshot::channel();
    to_actor
        .send(ToActor::Connect {
            side: P::SIDE,
            hello: P::hello(hello),
            conn,
            out,
            reply,
        })
        .map_err(|_| "world is shutting down")?;
    let world = match answer.await.map_err(|_| "world is shutting down")? {
        Ok(world) => world,
        Err(text) => {
            let _ = framed
                .send(P::connected(requested.unwrap_or(0), text.clone()))
                .await;
            return Err(format!("handshake refused: {text}"));
        }
    };
    framed
        .send(P::connected(world, CONNECTED.into()))
        .await
        .map_err(|e| e.to_string())?;
    info!(
        "world: {} connected to world {world} (connection {conn})",
        P::SIDE
    );
    let mut framed = framed.map_codec(|_| DelimitedCodec::<P::Incoming>::new());
    let result = loop {
        tokio::select! {
            _ = stop.changed() => break Ok(()),
            frame = framed.next() => match frame {
                Some(Ok(message)) => {
                    debug!("world {world}: <- {} {message:?}", P::SIDE);
                    if to_actor.send(ToActor::Message { world, message: P::incoming(message) }).is_err() {
                        break Ok(());
                    }
                }
                Some(Err(e)) => break Err(format!("bad frame: {e}")),
                None => break Ok(()),
            },
            outgoing = outbox.recv() => match outgoing {
                Some((message, close)) => {
                    let sent = match message {
                        Outbound::Amazon(m) => { debug!("world {world}: -> amazon {m:?}"); framed.send(m).await }
                        Outbound::Ups(m) => { debug!("world {world}: -> ups {m:?}"); framed.send(m).await }
                    };
                    if let Err(e) = sent {
                        break Err(format!("write failed: {e}"));
                    }
                    if close {
                        break Ok(());
                    }
                }
                None => break Ok(()),
            },
        }
    };
    let _ = to_actor.send(ToActor::Closed {
        side: P::SIDE,
        world,
        conn,
    });
    result
}

type Routes = HashMap<(i64, Side), (u64, mpsc::UnboundedSender<(Outbound, bool)>)>;

async fn actor(
    mut sim: WorldSim,
    mut inbox: mpsc::UnboundedReceiver<ToActor>,
    mut stop: watch::Receiver<bool>,
) {
    let mut routes: Routes = HashMap::new();
    loop {
        let deadline = sim.poll_timeout().map(Instant::from_std);
        let message = tokio::select! {
            _ = stop.changed() => return,
            message = inbox.recv() => match message { Some(m) => Some(m), None => return },
            _ = sleep_until(deadline) => None,
        };
        let now = Instant::now().into_std();
        let touched = match message {
            None => sim.handle_timeout(now),
            Some(ToActor::Connect {
                side,
                hello,
                conn,
                out,
                reply,
            }) => {
                let result = match hello {
                    Hello::Amazon(hello) => sim.connect_amazon(&hello),
                    Hello::Ups(hello) => sim.connect_ups(&hello),
                };
                if let Ok(world) = result {
                    routes.insert((world, side), (conn, out));
                }
                let touched = result.as_ref().map(|w| vec![*w]).unwrap_or_default();
                let _ = reply.send(result);
                touched
            }
            Some(ToActor::Message { world, message }) => {
                match message {
                    Inbound::Amazon(m) => sim.handle_amazon(now, world, m),
                    Inbound::Ups(m) => sim.handle_ups(now, world, m),
                }
                vec![world]
            }
            Some(ToActor::Closed { side, world, conn }) => {
                if routes.get(&(world, side)).is_some_and(|(c, _)| *c == conn) {
                    routes.remove(&(world, side));
                    sim.disconnect(side, world);
                    info!("world {world}: {side} disconnected");
                }
                Vec::new()
            }
            Some(ToActor::Stock {
                world,
                warehouse,
                product,
                reply,
            }) => {
                let _ = reply.send(sim.world(world).map(|w| w.stock(warehouse, product)));
                Vec::new()
            }
            Some(ToActor::Report { reply }) => {
                let ids: Vec<i64> = sim.world_ids().collect();
                let report = ids
                    .into_iter()
                    .filter_map(|id| sim.world(id).map(|w| (id, w.stock_levels())))
                    .flat_map(|(id, levels)| levels.into_iter().map(move |(w, p, n)| (id, w, p, n)))
                    .collect();
                let _ = reply.send(report);
                Vec::new()
            }
            Some(ToActor::Lose {
                world,
                warehouse,
                product,
                units,
                reply,
            }) => {
                let lost = sim
                    .world_mut(world)
                    .map(|w| w.lose(warehouse, product, units));
                let _ = reply.send(lost);
                Vec::new()
            }
        };
        for world in touched {
            flush(&mut sim, &mut routes, now, world);
        }
    }
}

/// Sends everything world `world` has to say to whoever is connected.
fn flush(sim: &mut WorldSim, routes: &mut Routes, now: std::time::Instant, world: i64) {
    while let Some(out) = sim.poll_amazon(now, world) {
        route(
            sim,
            routes,
            world,
            Side::Amazon,
            Outbound::Amazon(out.message),
            out.close,
        );
    }
    while let Some(out) = sim.poll_ups(now, world) {
        route(
            sim,
            routes,
            world,
            Side::Ups,
            Outbound::Ups(out.message),
            out.close,
        );
    }
}

fn route(
    sim: &mut WorldSim,
    routes: &mut Routes,
    world: i64,
    side: Side,
    message: Outbound,
    close: bool,
) {
    let delivered = routes
        .get(&(world, side))
        .is_some_and(|(_, out)| out.send((message, close)).is_ok());
    if close || !delivered {
        routes.remove(&(world, side));
        sim.disconnect(side, world);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
