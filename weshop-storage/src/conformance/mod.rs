//! The conformance suite: what every backend of [`weshop_core::store`] must do, as checks
//! that any backend can run (in the style of `object_store`'s and `tower-sessions`' suites).
//!
//! Each check is a public async function that takes a fresh, empty store and panics on the
//! first violation; [`run_all`] runs every check, each on its own fresh store:
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use weshop_storage::{MemoryStore, conformance};
//!
//! // In a `#[tokio::test]` test:
//! # async fn memory_store_conforms() {
//! conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
//! // Or any store behind `dyn Store`, such as what `weshop_storage::open` returns:
//! conformance::run_all(|| async { weshop_storage::open("mem://").await.unwrap() }).await;
//! # }
//! ```
//!
//! The checks test the storage traits alone, one module of checks per trait (accounts,
//! catalog, carts, orders, fulfilment steps, inboxes, campaigns and leases); they need a tokio runtime (a password is
//! hashed on a blocking thread). Checks only compare ids with each other (they increase),
//! never with fixed numbers, so a store need not start counting at 1.

use std::{future::Future, sync::Arc};

use weshop_core::store::Store;

mod accounts;
mod campaigns;
mod carts;
mod catalog;
mod changes;
mod common;
mod fulfilment;
mod inbox;
mod leases;
mod orders;
mod placing;

pub use accounts::{sessions, users};
pub use campaigns::campaigns;
pub use carts::{carts, carts_at_once, carts_at_once_kept};
pub use catalog::{catalog_listing, categories, pictures, products, search, stock, warehouses};
pub use changes::changes;
pub use fulfilment::{commit_step, link_states, outbox_ids};
pub use inbox::{inbox_filing, inbox_racing, inbox_reading, mail_queue};
pub use leases::leases;
pub use orders::{order_ids, order_queries, order_round_trip, payment_journal, place_order};
pub use placing::{concurrent_placements, placements_at_once};

/// Runs every check, each on a fresh store from `new_store`, printing each check's name
/// before it runs (so a failure's captured output names the check).
pub async fn run_all<S, F, Fut>(new_store: F)
where
    S: Store + ?Sized + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            println!("conformance: {}", stringify!($check));
            $check(new_store().await).await;
        )*};
    }
    run!(
        users,
        sessions,
        products,
        search,
        categories,
        warehouses,
        stock,
        catalog_listing,
        pictures,
        carts,
        carts_at_once,
        order_round_trip,
        place_order,
        concurrent_placements,
        placements_at_once,
        order_ids,
        commit_step,
        outbox_ids,
        link_states,
        order_queries,
        payment_journal,
        inbox_filing,
        inbox_racing,
        inbox_reading,
        mail_queue,
        campaigns,
        leases,
    );
}
