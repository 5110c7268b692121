//! The simulated UPS on TCP.
//!
//! It listens for shops (or dials one, `--connect`). A shop's first frame is a bare
//! `ConnectWorldId`; the UPS then runs one instance per world: it joins that world on the world's
//! UPS port (creating its trucks the first time), and relays between the two links through
//! [`UpsSim`]. Both links reconnect: a shop that comes back with the same world id resumes the
//! same instance, and a lost world link is re-established with backoff.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
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
use weshop_proto::{codec::DelimitedCodec, ups_amazon as ua, world_ups as wu};

use super::{
    ups::{UpsConfig, UpsSim},
    worlds::CONNECTED,
};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

type ShopLink = Framed<TcpStream, DelimitedCodec<ua::AtoUCommands>>;
type WorldLink = Framed<TcpStream, DelimitedCodec<wu::UResponses>>;

/// A shop link handed to a world's instance, with a signal for when the instance drops it.
struct Attach {
    link: ShopLink,
    connect_seqnum: i64,
    closed: oneshot::Sender<()>,
}

/// How the UPS meets its shop.
#[derive(Debug, Clone, Copy)]
pub enum ShopEndpoint {
    /// Listen here for shops (the default).
    Listen(SocketAddr),
    /// Dial the shop here (and again whenever the link drops).
    Connect(SocketAddr),
}

type Instances = Arc<Mutex<HashMap<i64, mpsc::UnboundedSender<Attach>>>>;

/// A running simulated UPS.
#[derive(Debug)]
pub struct UpsServer {
    shop_addr: Option<SocketAddr>,
    created_world: Option<i64>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl UpsServer {
    /// Starts a UPS that serves worlds of the simulator at `world` and meets shops at `shop`.
    pub async fn start(
        world: SocketAddr,
        shop: ShopEndpoint,
        config: UpsConfig,
    ) -> std::io::Result<Self> {
        Self::start_with(world, shop, config, false).await
    }

    /// Like [`UpsServer::start`]; with `create_world`, the UPS first creates a world with its
    /// trucks ([`UpsServer::created_world`]) for shops to join.
    pub async fn start_with(
        world: SocketAddr,
        shop: ShopEndpoint,
        config: UpsConfig,
        create_world: bool,
    ) -> std::io::Result<Self> {
        let (shutdown, stop) = watch::channel(false);
        let instances: Instances = Arc::default();
        let mut created_world = None;
        if create_world {
            let (world_link, world_id) = join_world(world, UpsSim::uconnect_new_world(&config))
                .await
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::ConnectionRefused, e))?;
            info!("ups: created world {world_id}");
            let mut sim = UpsSim::new(config.clone(), world_id);
            sim.world_connected();
            let (tx, rx) = mpsc::unbounded_channel();
            instances
                .lock()
                .expect("instances lock")
                .insert(world_id, tx);
            let (instances, stop) = (instances.clone(), stop.clone());
            tokio::spawn(async move {
                instance(sim, world, Some(world_link), rx, stop).await;
                instances.lock().expect("instances lock").remove(&world_id);
            });
            created_world = Some(world_id);
        }
        let (shop_addr, task) = match shop {
            ShopEndpoint::Listen(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let addr = listener.local_addr()?;
                (
                    Some(addr),
                    tokio::spawn(listen(listener, world, config, instances, stop)),
                )
            }
            ShopEndpoint::Connect(addr) => (
                None,
                tokio::spawn(dial(addr, world, config, instances, stop)),
            ),
        };
        Ok(Self {
            shop_addr,
            created_world,
            shutdown,
            task,
        })
    }

    /// The world this UPS created at start, if asked to.
    pub fn created_world(&self) -> Option<i64> {
        self.created_world
    }

    /// Where shops connect, when listening.
    pub fn shop_addr(&self) -> Option<SocketAddr> {
        self.shop_addr
    }

    /// Stops, closing every link.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn listen(
    listener: TcpListener,
    world: SocketAddr,
    config: UpsConfig,
    instances: Instances,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let (socket, peer) = tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => { warn!("ups: accept failed: {e}"); continue }
            },
        };
        let _ = socket.set_nodelay(true);
        let (config, instances, stop) = (config.clone(), instances.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(reason) = greet(socket, world, config, instances, stop).await {
                warn!("ups: shop {peer} dropped: {reason}");
            }
        });
    }
}

async fn dial(
    shop: SocketAddr,
    world: SocketAddr,
    config: UpsConfig,
    instances: Instances,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let socket = tokio::select! {
            _ = stop.changed() => return,
            socket = TcpStream::connect(shop) => socket,
        };
        match socket {
            Ok(socket) => {
                backoff = RECONNECT_MIN;
                let _ = socket.set_nodelay(true);
                match greet(
                    socket,
                    world,
                    config.clone(),
                    instances.clone(),
                    stop.clone(),
                )
                .await
                {
                    Ok(closed) => {
                        tokio::select! { _ = stop.changed() => return, _ = closed => {} }
                    }
                    Err(reason) => warn!("ups: shop {shop}: {reason}"),
                }
            }
            Err(e) => debug!("ups: cannot reach the shop at {shop}: {e}"),
        }
        tokio::select! { _ = stop.changed() => return, _ = tokio::time::sleep(backoff) => {} }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// Reads a shop's `ConnectWorldId` and hands the link to that world's instance; resolves the
/// returned receiver when the instance lets go of the link.
async fn greet(
    socket: TcpStream,
    world: SocketAddr,
    config: UpsConfig,
    instances: Instances,
    stop: watch::Receiver<bool>,
) -> Result<oneshot::Receiver<()>, String> {
    let mut framed = Framed::new(socket, DelimitedCodec::<ua::ConnectWorldId>::new());
    let hello = match tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()).await {
        Err(_) => return Err("no ConnectWorldId in time".into()),
        Ok(None) => return Err("closed before ConnectWorldId".into()),
        Ok(Some(Err(e))) => return Err(format!("bad ConnectWorldId: {e}")),
        Ok(Some(Ok(hello))) => hello,
    };
    info!(
        "ups: shop asks for world {} (seq_num {})",
        hello.world_id, hello.seq_num
    );
    let link = framed.map_codec(|_| DelimitedCodec::<ua::AtoUCommands>::new());
    let world_id = i64::from(hello.world_id);
    let (closed_tx, closed) = oneshot::channel();
    let attach = Attach {
        link,
        connect_seqnum: hello.seq_num,
        closed: closed_tx,
    };
    let mut instances_guard = instances.lock().expect("instances lock");
    let attach = match instances_guard.get(&world_id) {
        Some(tx) => match tx.send(attach) {
            Ok(()) => return Ok(closed),
            Err(mpsc::error::SendError(attach)) => attach, // that instance ended: start anew
        },
        None => attach,
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(attach).expect("receiver alive");
    instances_guard.insert(world_id, tx);
    drop(instances_guard);
    let sim = UpsSim::new(config, world_id);
    tokio::spawn(async move {
        instance(sim, world, None, rx, stop).await;
        instances.lock().expect("instances lock").remove(&world_id);
    });
    Ok(closed)
}

async fn next_frame<T, C>(
    link: &mut Option<Framed<TcpStream, C>>,
) -> Option<Result<T, weshop_proto::FrameError>>
where
    C: tokio_util::codec::Decoder<Item = T, Error = weshop_proto::FrameError>,
{
    match link {
        Some(link) => link.next().await,
        None => std::future::pending().await,
    }
}

/// Connects to the world's UPS port and does the handshake; returns the link and the world id.
async fn join_world(addr: SocketAddr, hello: wu::UConnect) -> Result<(WorldLink, i64), String> {
    let socket = tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("cannot reach the world at {addr}: {e}"))?;
    let _ = socket.set_nodelay(true);
    let mut framed = Framed::new(socket, DelimitedCodec::<wu::UConnected>::new());
    framed.send(hello).await.map_err(|e| e.to_string())?;
    let connected = tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next())
        .await
        .map_err(|_| "no UConnected in time".to_string())?
        .ok_or("the world closed during the handshake")?
        .map_err(|e| e.to_string())?;
    if connected.result != CONNECTED {
        return Err(connected.result);
    }
    Ok((
        framed.map_codec(|_| DelimitedCodec::<wu::UResponses>::new()),
        connected.worldid,
    ))
}

async fn instance(
    mut sim: UpsSim,
    world_addr: SocketAddr,
    mut world: Option<WorldLink>,
    mut attach: mpsc::UnboundedReceiver<Attach>,
    mut stop: watch::Receiver<bool>,
) {
    let world_id = sim.world_id();
    let mut shop: Option<ShopLink> = None;
    let mut shop_closed: Option<oneshot::Sender<()>> = None;
    let mut reconnect_at = world.is_none().then(Instant::now);
    let mut backoff = RECONNECT_MIN;
    let mut refused_once = false;
    loop {
        let deadline = [sim.poll_timeout().map(Instant::from_std), reconnect_at]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            _ = stop.changed() => return,
            attached = attach.recv() => match attached {
                Some(a) => {
                    info!("ups (world {world_id}): shop attached");
                    shop = Some(a.link);
                    if let Some(old) = shop_closed.replace(a.closed) {
                        let _ = old.send(());
                    }
                    sim.shop_connected(a.connect_seqnum);
                }
                None => return,
            },
            frame = next_frame(&mut shop) => match frame {
                Some(Ok(message)) => {
                    debug!("ups (world {world_id}): <- shop {message:?}");
                    sim.handle_shop(Instant::now().into_std(), message);
                }
                other => {
                    if let Some(Err(e)) = other { warn!("ups (world {world_id}): shop link: {e}"); }
                    info!("ups (world {world_id}): shop detached");
                    detach(&mut shop, &mut shop_closed);
                }
            },
            frame = next_frame(&mut world) => match frame {
                Some(Ok(message)) => {
                    debug!("ups (world {world_id}): <- world {message:?}");
                    sim.handle_world(Instant::now().into_std(), message);
                }
                other => {
                    if let Some(Err(e)) = other { warn!("ups (world {world_id}): world link: {e}"); }
                    world = None;
                    reconnect_at = Some(Instant::now() + backoff);
                }
            },
            _ = sleep_until(deadline) => {
                let now = Instant::now();
                if reconnect_at.is_some_and(|at| at <= now) {
                    reconnect_at = None;
                    match join_world(world_addr, sim.uconnect()).await {
                        Ok((link, _)) => {
                            info!("ups: joined world {world_id}");
                            world = Some(link);
                            backoff = RECONNECT_MIN;
                            sim.world_connected();
                        }
                        Err(reason) => {
                            warn!("ups: cannot join world {world_id}: {reason}");
                            if !refused_once && reason.starts_with("error:") {
                                refused_once = true;
                                sim.report_world_refused(&reason);
                            }
                            reconnect_at = Some(Instant::now() + backoff);
                            backoff = (backoff * 2).min(RECONNECT_MAX);
                        }
                    }
                }
                sim.handle_timeout(now.into_std());
            }
        }
        let now = Instant::now().into_std();
        while let Some(message) = sim.poll_world(now) {
            match &mut world {
                Some(link) => {
                    debug!("ups (world {world_id}): -> world {message:?}");
                    if let Err(e) = link.send(message).await {
                        warn!("ups (world {world_id}): world write: {e}");
                        world = None;
                        reconnect_at = Some(Instant::now() + backoff);
                    }
                }
                None => break,
            }
        }
        while let Some(message) = sim.poll_shop(now) {
            match &mut shop {
                Some(link) => {
                    debug!("ups (world {world_id}): -> shop {message:?}");
                    if let Err(e) = link.send(message).await {
                        warn!("ups (world {world_id}): shop write: {e}");
                        detach(&mut shop, &mut shop_closed);
                    }
                }
                None => break,
            }
        }
    }
}

/// Lets go of the shop's link and tells whoever handed it over (a dialer waits for this before
/// it dials again: a link dropped without it would leave the UPS never dialling the shop again).
fn detach(shop: &mut Option<ShopLink>, closed: &mut Option<oneshot::Sender<()>>) {
    *shop = None;
    if let Some(closed) = closed.take() {
        let _ = closed.send(());
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
