//! Opening an embedded engine ourselves, so that its memory can be capped.
//!
//! SurrealDB 3.3's surrealkv engine sizes its caches from the machine's RAM (a block cache of
//! RAM/2 − 1 GiB and a memtable of up to 1 GiB on this 24 GiB machine; the memtable's arena
//! fills as writes arrive, so a write-heavy server's RSS climbs towards it). It reads its sizes
//! only from the datastore's configuration map, which the SDK's `connect` always starts empty
//! (a URL's `?key=value` parameters become `datastore_*` keys, which the engine does not read).
//! So the store builds the datastore itself with those keys set, then hands it to the SDK
//! through `unstable_from_datastore`, doing what the SDK's `connect` does in between (check the
//! on-disk version, bootstrap, start the maintenance tasks). `unstable_from_datastore` is
//! hidden from the SDK's docs and outside its semver promise: `surrealdb` is pinned to 3.3 and
//! the conformance suite runs against this path on every backend.

use std::sync::Arc;

use surrealdb::{Surreal, engine::local::Db};
use surrealdb_cnf::ConfigMap;
use surrealdb_engine_local::Datastore;
use weshop_core::store::StoreError;

/// Memory the embedded surrealkv engine may use for caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedMemory {
    /// Decompressed data blocks kept for reads (surrealkv's block cache).
    pub block_cache_bytes: u64,
    /// Writes buffered in memory before they are flushed to a table file (the memtable). A
    /// single transaction must fit in it.
    pub memtable_bytes: u64,
}

impl EmbeddedMemory {
    /// The engine's configuration with these cache sizes (public for the storage benches,
    /// which open the engine as the store does).
    pub fn engine_config(self) -> ConfigMap {
        ConfigMap::empty()
            .with_key_value(
                "surrealkv_block_cache_capacity",
                self.block_cache_bytes.to_string(),
            )
            .with_key_value(
                "surrealkv_max_memtable_size",
                self.memtable_bytes.to_string(),
            )
    }
}

impl Default for EmbeddedMemory {
    /// 16 MiB each. Catalog pages are served from the search index and the shop's product
    /// cache, and blocks missing from this cache come from the OS page cache, so more buys
    /// little: measured with 100,000 products, 8, 16 and 32 MiB served the catalog at the same
    /// rate, and 16 MiB kept the server near 210 MB (SurrealDB's own sizing: 370+ MB at 10,000).
    fn default() -> Self {
        Self {
            block_cache_bytes: 16 << 20,
            memtable_bytes: 16 << 20,
        }
    }
}

/// Opens `url` (`mem://` or `surrealkv://PATH`, with any `?key=value` parameters) with these
/// limits: the SDK's handle, and the engine under it (to shut it down).
pub(super) async fn open(
    url: &str,
    memory: EmbeddedMemory,
) -> Result<(Surreal<Db>, Arc<Datastore>), StoreError> {
    let path = match url.split_once("://") {
        Some(("mem", _)) => "memory".to_string(),
        _ => url.to_string(),
    };
    let config = memory.engine_config();
    let failed = |e: &dyn std::fmt::Display| StoreError::Backend(format!("cannot open {url}: {e}"));
    // Live queries (the change feed, see `changes`) need the engine to send notifications,
    // which the SDK then routes to each subscription.
    let (notify, notifications) = async_channel::bounded(surrealdb_cnf::NOTIFICATIONS_CHANNEL_SIZE);
    // The engine's futures are large: each is boxed, as the SDK's own connect is, so that
    // awaiting them does not put them on the caller's stack (a debug build overflows it).
    let datastore = Box::pin(
        Datastore::builder()
            .with_config(config)
            .with_notify(notify)
            // Started below, once the version is settled (as the SDK's own connect does).
            .without_maintenance_tasks()
            .build_with_path(&path),
    )
    .await
    .map_err(|e| failed(&e))?;
    Box::pin(datastore.check_version())
        .await
        .map_err(|e| failed(&e))?;
    Box::pin(datastore.bootstrap())
        .await
        .map_err(|e| failed(&e))?;
    datastore.start_maintenance_tasks();
    let db = Box::pin(Surreal::<Db>::unstable_from_datastore(
        Arc::clone(&datastore),
        Some(notifications),
    ))
    .await
    .map_err(|e| failed(&e))?;
    Ok((db, datastore))
}

/// The bare engine on disk in directory `path`, with these limits, for raw keys (the durable
/// memory store's journal): no SurrealQL, so no bootstrap, notifications or maintenance tasks.
pub(crate) async fn open_engine(
    path: &str,
    memory: EmbeddedMemory,
) -> Result<Arc<Datastore>, StoreError> {
    Box::pin(
        Datastore::builder()
            .with_config(memory.engine_config())
            .without_maintenance_tasks()
            .build_with_path(&format!("surrealkv://{path}")),
    )
    .await
    .map_err(|e| StoreError::Backend(format!("cannot open surrealkv://{path}: {e}")))
}
