//! A link's state after any event of the messages it took in, rebuilt when a commit asks for
//! it.
//!
//! The driver commits a message's events in a few commits, each with the link's state after
//! its last event, so the state after every event must be at hand, but only a few are ever
//! encoded. Encoding the whole state (the open commands: hundreds with orders in flight) after
//! each event made a message of n events cost n encodings, 9% of the CPU of the orders
//! bench with 2,000 orders. Instead the acks and items taken in are kept in order, and the
//! state after the k-th is rebuilt from the state before the first, taking them again:
//! [`LinkState::take_acks`] and [`LinkState::receive`] depend only on the state and what they
//! take, so the rebuilt state is the one the link had.

use std::sync::{Arc, Mutex, PoisonError};

use weshop_core::{
    driver::LinkSnapshot,
    session::{Seqnum, SessionConfig},
};

use super::state::{LinkProtocol, LinkState};

/// One thing a link took in, in order.
pub enum Taken<P: LinkProtocol> {
    /// A message's acks (taken before its items).
    Acks(Vec<Seqnum>),
    /// An item.
    Item(Seqnum, P::Item),
}

/// What a link took in since a saved state, to rebuild its state after any of it.
pub struct Replay<P: LinkProtocol> {
    config: SessionConfig,
    cursor: Mutex<Cursor<P>>,
}

/// The state rebuilt so far: commits ask for states in order, so each step moves it forward.
struct Cursor<P: LinkProtocol> {
    /// The state before the first thing taken, as saved.
    base: Vec<u8>,
    taken: Vec<Taken<P>>,
    /// `base` with the first `at` things taken applied; `None` until first needed.
    state: Option<LinkState<P>>,
    at: usize,
    /// The last state encoded, and after how many things: asked for again when the commit
    /// that saved it succeeds.
    last: Option<(usize, Vec<u8>)>,
}

impl<P: LinkProtocol> Replay<P> {
    /// `taken`, taken in by a link (made with `config`) whose state before them `base` is.
    pub fn new(config: SessionConfig, base: Vec<u8>, taken: Vec<Taken<P>>) -> Self {
        Self {
            config,
            cursor: Mutex::new(Cursor {
                base,
                taken,
                state: None,
                at: 0,
                last: None,
            }),
        }
    }

    /// The link's state after the first `after` things it took, encoded.
    pub fn encode(&self, after: usize) -> Vec<u8> {
        let mut cursor = self.cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let cursor = &mut *cursor;
        if let Some((at, bytes)) = &cursor.last
            && *at == after
        {
            return bytes.clone();
        }
        if cursor.at > after {
            cursor.state = None;
        }
        let state = match &mut cursor.state {
            Some(state) => state,
            None => {
                cursor.at = 0;
                cursor.state.insert(
                    LinkState::restore(self.config.clone(), &cursor.base)
                        .expect("a state just saved reads back"),
                )
            }
        };
        for taken in &cursor.taken[cursor.at..after] {
            match taken {
                Taken::Acks(acks) => state.take_acks(acks.clone()),
                Taken::Item(seqnum, item) => {
                    state.receive(*seqnum, item.clone());
                }
            }
        }
        cursor.at = after;
        let bytes = state.save();
        cursor.last = Some((after, bytes.clone()));
        bytes
    }

    /// The state after the first `after` things taken, encoded only if it is asked for.
    pub fn snapshot(self: &Arc<Self>, after: usize) -> LinkSnapshot {
        let replay = Arc::clone(self);
        LinkSnapshot::Deferred(Arc::new(move || replay.encode(after)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weshop_core::session::SessionConfig;
    use weshop_proto::ups_amazon as ua;

    use super::{Replay, Taken};
    use crate::{
        adapters::link::LinkState,
        protocols::{ShopMessage, ShopToUps, UpsMessage},
    };

    /// The state rebuilt after any number of things taken is the one the link had then,
    /// asked for in any order: acks, answers closing open commands, an item seen twice, a
    /// bad item answered with an error item, an error refusing a command.
    #[test]
    fn rebuilds_the_state_after_anything_taken() {
        let config = SessionConfig::default();
        let mut state = LinkState::<ShopToUps>::new(config.clone(), 1);
        for ship_id in 1..=6 {
            let deliver = ShopMessage::Deliver(ua::DeliverPackage {
                seq_num: 0,
                ship_id,
            });
            assert!(state.accept(ship_id as u64, deliver));
        }
        let base = state.save();
        let delivered =
            |seq_num, ship_id| UpsMessage::Delivered(ua::U2aDelivered { seq_num, ship_id });
        let messages = vec![
            (
                vec![1, 2, 3],
                vec![
                    delivered(10, 1),
                    delivered(11, 2),
                    delivered(10, 1),
                    // Truck 0 does not exist: rejected, answered with an error item.
                    UpsMessage::TruckArrived(ua::TruckArrived {
                        seq_num: 12,
                        ship_id: 4,
                        truck_id: 0,
                    }),
                ],
            ),
            (
                vec![4, 7],
                vec![
                    delivered(13, 3),
                    UpsMessage::Error(ua::Err {
                        err: "no such package".into(),
                        originseqnum: 5,
                        seqnum: 14,
                    }),
                ],
            ),
        ];
        let mut taken: Vec<Taken<ShopToUps>> = Vec::new();
        let mut live = vec![base.clone()];
        for (acks, items) in messages {
            state.take_acks(acks.clone());
            taken.push(Taken::Acks(acks));
            live.push(state.save());
            for item in items {
                let seqnum = item.seqnum();
                taken.push(Taken::Item(seqnum, item.clone()));
                state.receive(seqnum, item);
                live.push(state.save());
            }
        }
        assert_ne!(live[4], live[5], "the bad item sent an error item");
        let replay = Arc::new(Replay::new(config, base, taken));
        for after in [1, 3, 4, 4, 8, 2, 0, 5, 8] {
            assert_eq!(replay.encode(after), live[after], "after {after}");
        }
        assert_eq!(replay.snapshot(6).encode(), live[6]);
    }
}
