//! One durable shop link, protocol-agnostic: a reliable [`Session`] plus what the shop must
//! remember across a crash, and the tokio task that runs it over TCP.
//!
//! The rules (from [`weshop_core::session`] and [`weshop_core::ports`]):
//! - a command is accepted only once its session state is saved, and a command whose outbox id
//!   is not above the highest one accepted is already in the session: it is not sent twice;
//! - each incoming item is handed to the shop *together with* the session state that marks it
//!   seen, in one commit, before its ack can go out; a failed commit forgets the item (the state
//!   falls back to the last saved one), so the peer resends it;
//! - commands stay in `open` until their answer comes, so an `error` naming a request's seqnum
//!   maps back to the domain command it refused.

use std::{
    collections::{BTreeMap, HashMap},
    future::Future,
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use futures::{SinkExt, StreamExt};
use prost::Message;
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};
use weshop_core::{
    fulfilment::{FulfilmentEvent, Refused},
    ports::PortError,
    session::{Protocol, Seqnum, Session, SessionConfig, SessionEvent, SessionState},
};
use weshop_proto::{WireMessage, codec::DelimitedCodec};

use super::{EventSink, LinkObserver, LinkStore};

/// A framed TCP link that reads `In` and writes any message.
pub type Link<In> = Framed<TcpStream, DelimitedCodec<In>>;

/// A boxed future that yields a connected, greeted link (or why not).
pub type Connecting<In> = Pin<Box<dyn Future<Output = Result<Link<In>, String>> + Send>>;

/// How a link is (re)established: dial and greet, or wait for the peer to dial in.
pub trait Connector<In>: Send + 'static {
    /// Starts one attempt. `world_id` is the link's world, once known.
    fn connect(&mut self, world_id: Option<i64>) -> Connecting<In>;
    /// Called with the world id a successful attempt joined (the world link learns it so).
    fn joined(&mut self) -> Option<i64> {
        None
    }
}

/// What one incoming item means to the shop.
#[derive(Debug)]
pub enum Received {
    /// A fulfilment event to commit.
    Event(FulfilmentEvent),
    /// The answer to a status query about `package`.
    Answer {
        /// The package.
        package: i64,
        /// Its status, or why the query failed.
        status: Result<String, String>,
    },
    /// The item breaks the protocol; the text says how (answered with an error item where the
    /// protocol has one).
    Reject(String),
    /// Nothing to do (an error about a command no longer known, say); the text is logged.
    Ignore(String),
}

/// What a wire protocol must say for the shop to run it as a durable link.
pub trait LinkProtocol:
    Protocol<
        Request: Send + Sync,
        Message: Message + Default + std::fmt::Debug,
        Incoming: WireMessage + std::fmt::Debug,
        Item: Send,
    > + Send
    + Sync
    + 'static
{
    /// The link's name in storage, logs and metrics.
    const NAME: &'static str;
    /// The requests of a message this side sent (to read saved state back).
    fn requests_of(message: Self::Message) -> Vec<(Seqnum, Self::Request)>;
    /// Builds an incoming message (to feed the session one item at a time).
    fn incoming(items: Vec<(Seqnum, Self::Item)>, acks: Vec<Seqnum>) -> Self::Incoming;
    /// Splits an incoming message into items and acks.
    fn split(message: Self::Incoming) -> (Vec<(Seqnum, Self::Item)>, Vec<Seqnum>);
    /// What an item means; answered commands leave `open`.
    fn receive(item: Self::Item, open: &mut BTreeMap<Seqnum, Self::Request>) -> Received;
    /// The domain command behind a request (None for queries).
    fn refused(request: &Self::Request) -> Option<Refused>;
    /// An error item answering a bad item `origin`, if the protocol has them.
    fn error_item(reason: String, origin: Seqnum) -> Option<Self::Request>;
}

/// Removes the first open request `matches` picks (an answer closes the command it answers).
pub fn close<R>(open: &mut BTreeMap<Seqnum, R>, matches: impl Fn(&R) -> bool) -> Option<R> {
    let seqnum = open.iter().find(|(_, r)| matches(r)).map(|(s, _)| *s)?;
    open.remove(&seqnum)
}

/// The saved form of a link (protobuf, so it stays readable across versions).
#[derive(Clone, PartialEq, Message)]
struct SavedLink {
    #[prost(int64, tag = "1")]
    next_seqnum: i64,
    /// The unacked requests, as one outgoing message of the protocol.
    #[prost(bytes = "vec", tag = "2")]
    unacked: Vec<u8>,
    /// Seen peer seqnums as flattened inclusive ranges: first, last, first, last...
    #[prost(int64, repeated, tag = "3")]
    seen: Vec<i64>,
    #[prost(uint64, tag = "4")]
    last_outbox: u64,
    /// Requests awaiting their answer, as one outgoing message.
    #[prost(bytes = "vec", tag = "5")]
    open: Vec<u8>,
    #[prost(int64, optional, tag = "6")]
    world_id: Option<i64>,
}

/// The sans-IO state of a durable link.
pub struct LinkState<P: LinkProtocol> {
    config: SessionConfig,
    session: Session<P>,
    open: BTreeMap<Seqnum, P::Request>,
    last_outbox: u64,
    world_id: Option<i64>,
}

impl<P: LinkProtocol> LinkState<P> {
    /// A link never used: its first request gets `first_seqnum`.
    pub fn new(config: SessionConfig, first_seqnum: Seqnum) -> Self {
        Self {
            session: Session::new(config.clone(), first_seqnum),
            config,
            open: BTreeMap::new(),
            last_outbox: 0,
            world_id: None,
        }
    }

    /// The link as saved by [`LinkState::save`].
    pub fn restore(config: SessionConfig, bytes: &[u8]) -> Result<Self, String> {
        let saved = SavedLink::decode(bytes).map_err(|e| format!("saved {}: {e}", P::NAME))?;
        let requests = |bytes: &[u8]| -> Result<Vec<(Seqnum, P::Request)>, String> {
            P::Message::decode(bytes)
                .map(P::requests_of)
                .map_err(|e| format!("saved {} requests: {e}", P::NAME))
        };
        if saved.seen.len() % 2 != 0 {
            return Err(format!("saved {}: odd seen ranges", P::NAME));
        }
        let state = SessionState {
            next_seqnum: saved.next_seqnum,
            unacked: requests(&saved.unacked)?,
            seen: saved.seen.chunks(2).map(|r| (r[0], r[1])).collect(),
        };
        Ok(Self {
            session: Session::restore(config.clone(), state),
            config,
            open: requests(&saved.open)?.into_iter().collect(),
            last_outbox: saved.last_outbox,
            world_id: saved.world_id,
        })
    }

    /// Everything to save, encoded.
    pub fn save(&self) -> Vec<u8> {
        let state = self.session.state();
        SavedLink {
            next_seqnum: state.next_seqnum,
            unacked: P::assemble(state.unacked, Vec::new()).encode_to_vec(),
            seen: state.seen.into_iter().flat_map(|(a, b)| [a, b]).collect(),
            last_outbox: self.last_outbox,
            open: P::assemble(
                self.open.iter().map(|(s, r)| (*s, r.clone())).collect(),
                Vec::new(),
            )
            .encode_to_vec(),
            world_id: self.world_id,
        }
        .encode_to_vec()
    }

    /// The world this link belongs to, once known.
    pub fn world_id(&self) -> Option<i64> {
        self.world_id
    }

    /// Records the world this link joined.
    pub fn set_world_id(&mut self, world_id: i64) {
        self.world_id = Some(world_id);
    }

    /// Takes a command from the outbox; false if it was taken before (same or lower id).
    pub fn accept(&mut self, outbox_id: u64, request: P::Request) -> bool {
        if outbox_id <= self.last_outbox {
            return false;
        }
        let seqnum = self.session.send(request.clone());
        self.open.insert(seqnum, request);
        self.last_outbox = outbox_id;
        true
    }

    /// Sends a request that needs no outbox id: a query (kept open until answered) or an
    /// error item (not).
    pub fn send(&mut self, request: P::Request, open: bool) -> Seqnum {
        let seqnum = self.session.send(request.clone());
        if open {
            self.open.insert(seqnum, request);
        }
        seqnum
    }

    /// The session.
    pub fn session(&mut self) -> &mut Session<P> {
        &mut self.session
    }

    /// Applies a message's acks and returns its items, which [`LinkState::receive`] takes one
    /// at a time.
    pub fn acks_and_items(&mut self, message: P::Incoming) -> Vec<(Seqnum, P::Item)> {
        let (items, acks) = P::split(message);
        self.session.handle_message(P::incoming(Vec::new(), acks));
        items
    }

    /// Takes one item: `None` when it was seen before (it is acked again), else its meaning.
    pub fn receive(&mut self, seqnum: Seqnum, item: P::Item) -> Option<Received> {
        let mut fresh = self
            .session
            .handle_message(P::incoming(vec![(seqnum, item)], vec![]));
        let (_, item) = fresh.pop()?;
        Some(P::receive(item, &mut self.open))
    }

    /// The domain command a request seqnum carried, if it is still open.
    pub fn open_command(&self, seqnum: Seqnum) -> Option<Refused> {
        self.open.get(&seqnum).and_then(P::refused)
    }

    fn config(&self) -> SessionConfig {
        self.config.clone()
    }
}

/// The link's state as saved in `store`, or a fresh one whose first request gets
/// `first_seqnum`.
pub async fn load<P>(
    store: &dyn LinkStore,
    config: SessionConfig,
    first_seqnum: Seqnum,
) -> Result<LinkState<P>, String>
where
    P: LinkProtocol,
{
    match store.load(P::NAME).await.map_err(|e| e.to_string())? {
        Some(bytes) => LinkState::restore(config, &bytes),
        None => Ok(LinkState::new(config, first_seqnum)),
    }
}

/// A request to the link task.
pub enum LinkCall<R> {
    /// Accept a command from the outbox (answered once it is saved).
    Submit {
        /// Its outbox id.
        outbox_id: u64,
        /// The request.
        request: R,
        /// Saved, or why not.
        reply: oneshot::Sender<Result<(), PortError>>,
    },
    /// Ask a package's status.
    Query {
        /// The package.
        package: i64,
        /// The request to send.
        request: R,
        /// The status, or why not.
        reply: oneshot::Sender<Result<String, PortError>>,
    },
}

/// The handle of a running link: submits commands to its task.
pub struct LinkHandle<R> {
    calls: mpsc::Sender<LinkCall<R>>,
    name: &'static str,
}

impl<R> Clone for LinkHandle<R> {
    fn clone(&self) -> Self {
        Self {
            calls: self.calls.clone(),
            name: self.name,
        }
    }
}

impl<R> LinkHandle<R> {
    /// Hands a command to the link; `Ok` once it is saved and will reach the peer.
    pub async fn submit(&self, outbox_id: u64, request: R) -> Result<(), PortError> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(LinkCall::Submit {
                outbox_id,
                request,
                reply,
            })
            .await
            .map_err(|_| PortError(format!("the {} link is stopped", self.name)))?;
        answer
            .await
            .map_err(|_| PortError(format!("the {} link stopped", self.name)))?
    }

    /// Sends a query and waits for its answer.
    pub async fn query(
        &self,
        package: i64,
        request: R,
        wait: Duration,
    ) -> Result<String, PortError> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(LinkCall::Query {
                package,
                request,
                reply,
            })
            .await
            .map_err(|_| PortError(format!("the {} link is stopped", self.name)))?;
        match tokio::time::timeout(wait, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(PortError(format!("the {} link stopped", self.name))),
            Err(_) => Err(PortError(format!(
                "no answer from the {} link in {wait:?}",
                self.name
            ))),
        }
    }
}

/// What a link task shares with the rest of the server.
#[derive(Clone)]
pub struct LinkContext {
    /// Where events go.
    pub sink: Arc<dyn EventSink>,
    /// Where link state is saved.
    pub store: Arc<dyn LinkStore>,
    /// Who watches the link.
    pub observer: Arc<dyn LinkObserver>,
    /// Stops the task.
    pub shutdown: watch::Receiver<bool>,
}

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Starts the task that runs `state` over connections from `connector`; `world_id` tells
/// others which world the link is in (the world link learns it on connect).
pub fn spawn<P, C>(
    state: LinkState<P>,
    connector: C,
    context: LinkContext,
    world_id: watch::Sender<Option<i64>>,
) -> (LinkHandle<P::Request>, tokio::task::JoinHandle<()>)
where
    P: LinkProtocol,
    C: Connector<P::Incoming>,
{
    let (calls, receiver) = mpsc::channel(256);
    let task = tokio::spawn(run(state, connector, context, receiver, world_id));
    (
        LinkHandle {
            calls,
            name: P::NAME,
        },
        task,
    )
}

async fn run<P, C>(
    mut state: LinkState<P>,
    mut connector: C,
    mut cx: LinkContext,
    mut calls: mpsc::Receiver<LinkCall<P::Request>>,
    world_id: watch::Sender<Option<i64>>,
) where
    P: LinkProtocol,
    C: Connector<P::Incoming>,
{
    let name = P::NAME;
    let mut saved = state.save();
    let mut link: Option<Link<P::Incoming>> = None;
    let mut connecting: Option<Connecting<P::Incoming>> = Some(connector.connect(state.world_id()));
    let mut retry_at: Option<Instant> = None;
    let mut backoff = RECONNECT_MIN;
    let mut queries: HashMap<i64, Vec<oneshot::Sender<Result<String, PortError>>>> = HashMap::new();
    cx.observer.link_up(name, false);
    loop {
        let deadline = [
            state.session.poll_timeout().map(Instant::from_std),
            retry_at,
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            _ = cx.shutdown.changed() => {
                if let Some(link) = link.take() {
                    let _ = link.into_inner().shutdown().await;
                }
                info!("{name}: stopped");
                return;
            }
            connected = maybe(&mut connecting) => {
                connecting = None;
                match connected {
                    Ok(new_link) => {
                        if let Some(id) = connector.joined()
                            && state.world_id() != Some(id)
                        {
                            state.set_world_id(id);
                            if let Err(error) = persist(&cx, &mut state, &mut saved).await {
                                warn!("{name}: cannot save the world id {id}: {error}");
                            }
                        }
                        if state.world_id().is_some() {
                            let _ = world_id.send(state.world_id());
                            info!("{name}: connected to world {}", state.world_id().unwrap_or_default());
                        } else {
                            info!("{name}: connected");
                        }
                        link = Some(new_link);
                        backoff = RECONNECT_MIN;
                        state.session.resend_all_now();
                        cx.observer.link_up(name, true);
                    }
                    Err(reason) => {
                        warn!("{name}: cannot connect: {reason}; again in {backoff:?}");
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(RECONNECT_MAX);
                    }
                }
            }
            call = calls.recv() => match call {
                None => return,
                Some(LinkCall::Submit { outbox_id, request, reply }) => {
                    let result = if state.accept(outbox_id, request) {
                        persist(&cx, &mut state, &mut saved).await
                    } else {
                        debug!("{name}: outbox entry {outbox_id} was taken before");
                        Ok(())
                    };
                    let _ = reply.send(result);
                }
                Some(LinkCall::Query { package, request, reply }) => {
                    state.send(request, true);
                    queries.entry(package).or_default().push(reply);
                }
            },
            frame = next_frame(&mut link) => match frame {
                Some(Ok(message)) => {
                    cx.observer.message(name, "in");
                    debug!("{name}: <- {message:?}");
                    if let Err(error) = take_in(&mut state, &mut saved, message, &cx, &mut queries).await {
                        warn!("{name}: {error}; dropping the link so the peer resends");
                        link = None;
                        retry_at = Some(Instant::now() + backoff);
                        cx.observer.link_up(name, false);
                    }
                }
                other => {
                    match other {
                        Some(Err(e)) => warn!("{name}: closing the link: {e}"),
                        _ => info!("{name}: the peer closed the link"),
                    }
                    link = None;
                    retry_at = Some(Instant::now() + backoff);
                    cx.observer.link_up(name, false);
                }
            },
            _ = sleep_until(deadline) => {
                if retry_at.is_some_and(|at| at <= Instant::now()) && link.is_none() {
                    retry_at = None;
                    connecting = Some(connector.connect(state.world_id()));
                }
            }
        }
        while let Some(SessionEvent::Stuck {
            seqnum,
            attempts,
            since,
        }) = state.session.poll_event()
        {
            warn!("{name}: request {seqnum} still unacked after {attempts} sends over {since:?}");
        }
        let Some(open) = &mut link else { continue };
        let now = Instant::now().into_std();
        while let Some(message) = state.session.poll_transmit(now) {
            debug!("{name}: -> {message:?}");
            cx.observer.message(name, "out");
            if let Err(e) = open.send(message).await {
                warn!("{name}: write failed: {e}");
                link = None;
                retry_at = Some(Instant::now() + backoff);
                cx.observer.link_up(name, false);
                break;
            }
        }
    }
}

/// Takes in one message, item by item, each committed with the state that marks it seen.
async fn take_in<P>(
    state: &mut LinkState<P>,
    saved: &mut Vec<u8>,
    message: P::Incoming,
    cx: &LinkContext,
    queries: &mut HashMap<i64, Vec<oneshot::Sender<Result<String, PortError>>>>,
) -> Result<(), String>
where
    P: LinkProtocol,
{
    let name = P::NAME;
    for (seqnum, item) in state.acks_and_items(message) {
        let Some(received) = state.receive(seqnum, item) else {
            continue;
        };
        match received {
            Received::Event(event) => {
                let bytes = state.save();
                if let Err(error) = cx
                    .sink
                    .handle(event, (name.to_string(), bytes.clone()))
                    .await
                {
                    // Forget the item: the peer resends it and it is taken then.
                    *state = LinkState::restore(state.config(), saved)
                        .expect("the state saved last reads back");
                    return Err(format!("cannot commit item {seqnum}: {error}"));
                }
                *saved = bytes;
            }
            Received::Answer { package, status } => {
                for waiter in queries.remove(&package).unwrap_or_default() {
                    let _ = waiter.send(status.clone().map_err(PortError));
                }
            }
            Received::Reject(reason) => {
                warn!("{name}: item {seqnum} rejected: {reason}");
                if let Some(error) = P::error_item(reason, seqnum) {
                    state.send(error, false);
                }
            }
            Received::Ignore(reason) => warn!("{name}: item {seqnum}: {reason}"),
        }
    }
    Ok(())
}

async fn persist<P>(
    cx: &LinkContext,
    state: &mut LinkState<P>,
    saved: &mut Vec<u8>,
) -> Result<(), PortError>
where
    P: LinkProtocol,
{
    let bytes = state.save();
    match cx.store.save(P::NAME, bytes.clone()).await {
        Ok(()) => {
            *saved = bytes;
            Ok(())
        }
        Err(error) => {
            *state =
                LinkState::restore(state.config(), saved).expect("the state saved last reads back");
            Err(PortError(format!(
                "cannot save the {} link: {error}",
                P::NAME
            )))
        }
    }
}

async fn maybe<T>(future: &mut Option<Pin<Box<dyn Future<Output = T> + Send>>>) -> T {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

async fn next_frame<In: WireMessage>(
    link: &mut Option<Link<In>>,
) -> Option<Result<In, weshop_proto::FrameError>> {
    match link {
        Some(link) => link.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
