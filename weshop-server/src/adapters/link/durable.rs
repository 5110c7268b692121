//! The durable steps of a link, apart from its socket: taking commands from the outbox and
//! taking in a peer's message, each saved (or committed with its events) before anything can
//! go out. The tokio task runs them over TCP; the deterministic simulation runs the very same
//! steps over its simulated network.

use std::{collections::HashMap, sync::Arc};

use tokio::sync::oneshot;
use tracing::{debug, warn};
use weshop_core::{fulfilment::FulfilmentEvent, ports::PortError, session::Inbound};

use super::{
    replay::{Replay, Taken},
    state::{LinkProtocol, LinkState, Received},
};
use crate::adapters::{EventSink, LinkStore};

/// Callers waiting for the answer to a status query, by package.
pub type Waiters = HashMap<i64, Vec<oneshot::Sender<Result<String, PortError>>>>;

/// Takes commands from the outbox, in order, and saves the link once for all of them: `Ok`
/// once saved (each will reach the peer), else none is taken. An entry taken before (its
/// outbox id is not above the last one taken) is skipped, so a retried outbox run sends
/// nothing twice.
pub async fn take_commands<P: LinkProtocol>(
    state: &mut LinkState<P>,
    saved: &mut Vec<u8>,
    commands: Vec<(u64, P::Request)>,
    store: &dyn LinkStore,
) -> Result<(), PortError> {
    let mut taken = false;
    for (outbox_id, request) in commands {
        if state.accept(outbox_id, request) {
            taken = true;
        } else {
            debug!("{}: outbox entry {outbox_id} was taken before", P::NAME);
        }
    }
    if taken {
        persist(state, saved, store).await
    } else {
        Ok(())
    }
}

/// Takes in messages, in the order they came: their events go to the sink together, each
/// with the state that marks it seen (the sink commits them in as few commits as it can, and
/// encodes the state after each commit's last event only: see [`replay`](super::replay));
/// answers and refusals are handled as they come. The task hands over every message already
/// read off the socket, so messages that queued up during a commit share the next one.
pub async fn take_in<P>(
    state: &mut LinkState<P>,
    saved: &mut Vec<u8>,
    messages: impl IntoIterator<Item = P::Incoming>,
    sink: &dyn EventSink,
    queries: &mut Waiters,
) -> Result<(), String>
where
    P: LinkProtocol,
{
    let messages: Vec<Inbound<P::Item>> = messages.into_iter().map(P::disassemble).collect();
    // The state before them, to rebuild the state after any event; not needed without items.
    let base = messages
        .iter()
        .any(|m| !m.items.is_empty())
        .then(|| state.save());
    let mut taken = Vec::new();
    // Each event, with how many things were taken when it was.
    let mut events = Vec::new();
    for message in messages {
        take_items(state, message, &mut taken, &mut events, queries);
    }
    let (Some(base), Some(&(_, last))) = (base, events.last()) else {
        return Ok(());
    };
    let replay = Arc::new(Replay::new(state.config(), base, taken));
    let after: Vec<usize> = events.iter().map(|(_, after)| *after).collect();
    let events: Vec<_> = events
        .into_iter()
        .map(|(event, after)| (event, (P::NAME.to_string(), replay.snapshot(after))))
        .collect();
    let count = events.len();
    match sink.handle_batch(events).await {
        Ok(()) => {
            *saved = replay.encode(last);
            Ok(())
        }
        Err(failed) => {
            // Back to the state committed last: the peer resends the rest, taken then.
            if let Some(committed) = failed.committed.checked_sub(1) {
                *saved = replay.encode(after[committed]);
            }
            *state =
                LinkState::restore(state.config(), saved).expect("the state saved last reads back");
            Err(format!(
                "committed {} of {count} events, then: {}",
                failed.committed, failed.error
            ))
        }
    }
}

/// Takes in one message's acks and items, in order, each also kept in `taken`: its events
/// join `events`, each with the number of things taken once it was.
fn take_items<P: LinkProtocol>(
    state: &mut LinkState<P>,
    message: Inbound<P::Item>,
    taken: &mut Vec<Taken<P>>,
    events: &mut Vec<(FulfilmentEvent, usize)>,
    queries: &mut Waiters,
) {
    let name = P::NAME;
    let Inbound { items, acks } = message;
    state.take_acks(acks.clone());
    taken.push(Taken::Acks(acks));
    for (seqnum, item) in items {
        taken.push(Taken::Item(seqnum, item.clone()));
        let Some(received) = state.receive(seqnum, item) else {
            continue;
        };
        match received {
            Received::Event(event) => events.push((event, taken.len())),
            Received::Answer { package, status } => {
                for waiter in queries.remove(&package).unwrap_or_default() {
                    let _ = waiter.send(status.clone().map_err(PortError));
                }
            }
            Received::Reject(reason) => warn!("{name}: item {seqnum} rejected: {reason}"),
            Received::Ignore(reason) => warn!("{name}: item {seqnum}: {reason}"),
        }
    }
}

/// Saves the link; on failure it falls back to the state saved last, so nothing unsaved is
/// ever sent.
pub async fn persist<P>(
    state: &mut LinkState<P>,
    saved: &mut Vec<u8>,
    store: &dyn LinkStore,
) -> Result<(), PortError>
where
    P: LinkProtocol,
{
    let started = std::time::Instant::now();
    let bytes = state.save();
    let saving = started.elapsed();
    let outcome = store.save(P::NAME, bytes.clone()).await;
    debug!(link = P::NAME, bytes = bytes.len(), ?saving, took = ?started.elapsed(), "link saved");
    match outcome {
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
