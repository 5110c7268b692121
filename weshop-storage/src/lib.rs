//! WeShop storage: backends behind `weshop-core`'s storage traits.
//!
//! - [`open`]: a store from a URL (`memory://`, `memory+surrealkv://PATH`, `mem://`,
//!   `surrealkv://PATH`, `ws://HOST:PORT`), the one place that maps URLs to backends;
//! - [`MemoryStore`]: everything in memory, for tests and embedding; opened as
//!   `memory+surrealkv://PATH`, durable too (every write synced to disk before it returns);
//! - [`SurrealStore`] (feature `surrealdb`, on by default): SurrealDB, embedded in memory
//!   (`mem://`), embedded on disk (`surrealkv://PATH`) or a server (`ws://HOST:PORT`);
//! - `conformance` (feature `testing`, off by default): one suite of checks that every backend
//!   passes, public so that other backends can run it too.
#![forbid(unsafe_code)]

pub mod memory;
pub use memory::MemoryStore;

pub mod interleaved;
pub use interleaved::Interleaved;

mod open;
pub use open::{OpenError, OpenOptions, SUPPORTED_SCHEMES, open, open_with};

#[cfg(feature = "testing")]
pub mod conformance;

pub mod documents;
#[cfg(feature = "surrealdb")]
pub mod surreal;
#[cfg(feature = "surrealdb")]
pub use surreal::{AuthLevel, Credentials, SurrealOptions, SurrealStore};

pub use weshop_core as core;

use weshop_core::store::StoreError;

/// Stored data that does not parse back into the domain.
/// Why a placement was refused when the cart changed since the order was priced from it.
pub(crate) const CART_CHANGED: &str = "the cart changed since it was priced";

pub(crate) fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}
