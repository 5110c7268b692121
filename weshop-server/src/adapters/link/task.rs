//! The IO half of a durable link: the tokio task that runs a [`LinkState`] over TCP
//! connections (reconnecting with backoff), saves it before a command is accepted, commits
//! each incoming item with it through the [`EventSink`], and answers queries; and the
//! [`LinkHandle`] the ports submit through.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::{
    io::AsyncWriteExt,
    net::TcpStream,
    sync::{mpsc, oneshot, watch},
    time::Instant,
};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};
use weshop_core::{
    ports::{PartlyTaken, PortError},
    session::{Seqnum, SessionConfig, SessionEvent},
};
use weshop_proto::{WireMessage, codec::DelimitedCodec};

use super::durable::{Waiters, persist, take_commands, take_in};
use super::state::{LinkProtocol, LinkState};
use crate::adapters::{EventSink, LinkObserver, LinkStore};

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
    /// Accept commands from the outbox, in order (answered once they are saved, with one
    /// write for all of them).
    Submit {
        /// Each command's outbox id and request.
        commands: Vec<(u64, R)>,
        /// Saved, or why not (then none of them is taken).
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
        self.submit_all(vec![(outbox_id, request)])
            .await
            .map_err(|partly| partly.error)
    }

    /// Hands commands to the link, in order; `Ok` once all are saved (one write), else none
    /// is taken.
    pub async fn submit_all(&self, commands: Vec<(u64, R)>) -> Result<(), PartlyTaken> {
        let taken_none = |error| PartlyTaken { taken: 0, error };
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(LinkCall::Submit { commands, reply })
            .await
            .map_err(|_| taken_none(PortError(format!("the {} link is stopped", self.name))))?;
        answer
            .await
            .map_err(|_| taken_none(PortError(format!("the {} link stopped", self.name))))?
            .map_err(taken_none)
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
    let mut queries = Waiters::new();
    cx.observer.link_up(name, false);
    loop {
        let deadline = [
            state.session().poll_timeout().map(Instant::from_std),
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
                            if let Err(error) = persist(&mut state, &mut saved, cx.store.as_ref()).await {
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
                        state.session().resend_all_now();
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
                Some(LinkCall::Submit { commands, reply }) => {
                    let result = take_commands(&mut state, &mut saved, commands, cx.store.as_ref()).await;
                    let _ = reply.send(result);
                }
                Some(LinkCall::Query { package, request, reply }) => {
                    state.send(request, true);
                    queries.entry(package).or_default().push(reply);
                }
            },
            frame = next_frame(&mut link) => match frame {
                Some(Ok(message)) => {
                    let (messages, ended) = with_ready(&mut link, message);
                    for message in &messages {
                        cx.observer.message(name, "in");
                        debug!("{name}: <- {message:?}");
                    }
                    if let Err(error) = take_in(&mut state, &mut saved, messages, cx.sink.as_ref(), &mut queries).await {
                        warn!("{name}: {error}; dropping the link so the peer resends");
                        link = None;
                        retry_at = Some(Instant::now() + backoff);
                        cx.observer.link_up(name, false);
                    } else if let Some(error) = ended {
                        log_end(name, error);
                        link = None;
                        retry_at = Some(Instant::now() + backoff);
                        cx.observer.link_up(name, false);
                    }
                }
                other => {
                    log_end(name, other.and_then(Result::err));
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
        }) = state.session().poll_event()
        {
            warn!("{name}: request {seqnum} still unacked after {attempts} sends over {since:?}");
        }
        let Some(open) = &mut link else { continue };
        let now = Instant::now().into_std();
        while let Some(message) = state.session().poll_transmit(now) {
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

/// Most messages taken in together: a bound on one commit's size when the peer floods.
const MAX_READY: usize = 256;

/// `first` and the messages already readable behind it (decoded from the buffer or from a
/// read that need not wait), so that what queued up while the last batch committed goes in
/// one commit. Also says whether the link ended behind them (with the error, if any).
#[allow(clippy::type_complexity)]
fn with_ready<In: WireMessage>(
    link: &mut Option<Link<In>>,
    first: In,
) -> (Vec<In>, Option<Option<weshop_proto::FrameError>>) {
    let mut messages = vec![first];
    let Some(open) = link else {
        return (messages, None);
    };
    while messages.len() < MAX_READY {
        match open.next().now_or_never() {
            Some(Some(Ok(message))) => messages.push(message),
            Some(Some(Err(e))) => return (messages, Some(Some(e))),
            Some(None) => return (messages, Some(None)),
            None => break,
        }
    }
    (messages, None)
}

/// Says why a link ended: a frame error, or (`None`) the peer closed it.
fn log_end(name: &str, error: Option<weshop_proto::FrameError>) {
    match error {
        Some(e) => warn!("{name}: closing the link: {e}"),
        None => info!("{name}: the peer closed the link"),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use tokio::{io::AsyncWriteExt, net::TcpListener};
    use weshop_proto::{codec::DelimitedCodec, world_amazon as wa};

    use super::*;

    /// A link reading `AResponses` from a peer that wrote `frames` and then, if `close`,
    /// closed its side.
    async fn link_after(frames: &[wa::AResponses], close: bool) -> Link<wa::AResponses> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (ours, _) = listener.accept().await.unwrap();
        let mut bytes = Vec::new();
        for frame in frames {
            prost::Message::encode_length_delimited(frame, &mut bytes).unwrap();
        }
        peer.write_all(&bytes).await.unwrap();
        if close {
            peer.shutdown().await.unwrap();
        } else {
            // Kept open (and so not closing the link) for the test's length.
            std::mem::forget(peer);
        }
        let mut link = Framed::new(ours, DelimitedCodec::<wa::AResponses>::new());
        // Wait until the first frame is in, as the task's select does.
        let first = link.next().await.unwrap().unwrap();
        assert_eq!(first, frames[0]);
        // Let the rest of the bytes land in the socket.
        tokio::time::sleep(Duration::from_millis(50)).await;
        link
    }

    fn acks(n: i64) -> wa::AResponses {
        wa::AResponses {
            acks: vec![n],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn messages_already_sent_are_taken_with_the_first() {
        let frames = [acks(1), acks(2), acks(3)];
        let mut link = Some(link_after(&frames, false).await);
        let (messages, ended) = with_ready(&mut link, frames[0].clone());
        assert_eq!(messages, frames);
        assert!(ended.is_none(), "the link is still open");
        // Nothing more is ready: the next call takes only what it is given.
        let (messages, ended) = with_ready(&mut link, acks(4));
        assert_eq!(messages, [acks(4)]);
        assert!(ended.is_none());
    }

    #[tokio::test]
    async fn a_peer_that_closed_behind_its_messages_ends_the_link_after_them() {
        let frames = [acks(1), acks(2)];
        let mut link = Some(link_after(&frames, true).await);
        let (messages, ended) = with_ready(&mut link, frames[0].clone());
        assert_eq!(
            messages, frames,
            "what came before the close is still taken"
        );
        assert!(matches!(ended, Some(None)), "closed without an error");
    }
}
