//! The sans-IO half of a durable link: what a wire protocol must say ([`LinkProtocol`]), what
//! an incoming item means ([`Received`]), and the link's state ([`LinkState`]): the session,
//! the commands awaiting their answer, the last outbox id taken, and the world, saved and
//! restored as one protobuf message. Nothing here does IO: [`task`](super::task) does.

use std::collections::BTreeMap;

use prost::Message;
use weshop_core::{
    fulfilment::{FulfilmentEvent, Refused},
    session::{Protocol, Seqnum, Session, SessionConfig, SessionState},
};
use weshop_proto::WireMessage;

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
        Item: Send + Clone,
    > + Send
    + Sync
    + 'static
{
    /// The link's name in storage, logs and metrics.
    const NAME: &'static str;
    /// The requests of a message this side sent (to read saved state back).
    fn requests_of(message: Self::Message) -> Vec<(Seqnum, Self::Request)>;
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

    /// Applies acks the peer sent.
    pub fn take_acks(&mut self, acks: Vec<Seqnum>) {
        self.session.handle_acks(acks);
    }

    /// Takes one item: `None` when it was seen before (it is acked again), else its meaning. A
    /// rejected item is answered with an error item where the protocol has them. Depends on
    /// nothing but the state and the item, so the same acks and items taken again from the
    /// same state leave the same state (see [`replay`](super::replay)).
    pub fn receive(&mut self, seqnum: Seqnum, item: P::Item) -> Option<Received> {
        if !self.session.receive_seqnum(seqnum) {
            return None;
        }
        let received = P::receive(item, &mut self.open);
        if let Received::Reject(reason) = &received
            && let Some(error) = P::error_item(reason.clone(), seqnum)
        {
            self.send(error, false);
        }
        Some(received)
    }

    /// The domain command a request seqnum carried, if it is still open.
    pub fn open_command(&self, seqnum: Seqnum) -> Option<Refused> {
        self.open.get(&seqnum).and_then(P::refused)
    }

    /// The session configuration the link was made with (to restore a saved state).
    pub fn config(&self) -> SessionConfig {
        self.config.clone()
    }
}
