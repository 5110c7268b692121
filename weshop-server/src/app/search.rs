//! The shop's search index: where it lives for a storage URL, and `weshop reindex`.
//!
//! The index is a read model of the catalog (see `weshop_core::catalog_index`); the store is
//! the source of truth. For an on-disk database `surrealkv://DIR` (or `memory+surrealkv://DIR`) the index lives on disk in
//! the sibling directory `DIR-search`, so it survives restarts (the shop still rebuilds it at
//! every start, which heals whatever a crash kept from reaching it). For every other storage
//! URL it lives in RAM and is rebuilt at start.

use std::{path::PathBuf, sync::Arc};

use weshop_core::catalog_index::rebuild_index;
use weshop_search::CatalogIndex;

use super::StartError;

/// Where the search index of the storage at `url` lives: `DIR-search` next to a
/// `surrealkv://DIR` or `memory+surrealkv://DIR` database; `None` (in RAM) for every other URL.
pub fn index_dir(url: &str) -> Option<PathBuf> {
    let dir = url
        .strip_prefix("surrealkv://")
        .or_else(|| url.strip_prefix("memory+surrealkv://"))?
        .trim_end_matches('/');
    (!dir.is_empty()).then(|| PathBuf::from(format!("{dir}-search")))
}

/// Opens (or creates) the search index for the storage at `url` (see [`index_dir`]).
pub fn open_index(url: &str) -> Result<Arc<CatalogIndex>, StartError> {
    let index = match index_dir(url) {
        Some(dir) => CatalogIndex::open_or_create(&dir)
            .map_err(|e| StartError::Storage(format!("search index in {}: {e}", dir.display())))?,
        None => CatalogIndex::in_memory()
            .map_err(|e| StartError::Storage(format!("search index: {e}")))?,
    };
    Ok(Arc::new(index))
}

/// `weshop reindex`: rebuilds the search index of the storage at `url` from the store, and
/// returns how many products it holds. Only useful for an on-disk index (an in-RAM one is
/// rebuilt at every start anyway), e.g. after restoring a database backup.
pub async fn reindex(url: &str, options: weshop_storage::OpenOptions) -> Result<usize, StartError> {
    let store = weshop_storage::open_with(url, options)
        .await
        .map_err(|e| StartError::Storage(e.to_string()))?;
    let index = open_index(url)?;
    rebuild_index(&*index, &*store)
        .await
        .map_err(|e| StartError::Storage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_sits_beside_an_on_disk_database() {
        assert_eq!(
            index_dir("surrealkv:///var/lib/weshop/db/"),
            Some(PathBuf::from("/var/lib/weshop/db-search"))
        );
        assert_eq!(
            index_dir("surrealkv://data"),
            Some(PathBuf::from("data-search"))
        );
        assert_eq!(
            index_dir("memory+surrealkv://data"),
            Some(PathBuf::from("data-search"))
        );
        assert_eq!(index_dir("mem://"), None);
        assert_eq!(index_dir("memory://"), None);
        assert_eq!(index_dir("ws://localhost:8000"), None);
    }
}
