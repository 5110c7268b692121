//! One durable shop link, protocol-agnostic: a reliable
//! [`Session`](weshop_core::session::Session) plus what the shop must
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
//!
//! [`state`] is the sans-IO part (the session and what is saved with it); [`durable`] the
//! steps that save or commit it (a command taken, a message taken in), with [`replay`]
//! rebuilding the state after any event of a message for the commit that ends there; [`task`]
//! runs them over TCP.

pub mod durable;
pub mod replay;
pub mod state;
pub mod task;

pub use state::{LinkProtocol, LinkState, Received, close};
pub use task::{Connecting, Connector, Link, LinkCall, LinkContext, LinkHandle, load, spawn};
