//! The storage integration tests: the conformance suite against every backend, and a crash in
//! the middle of fulfilment on an embedded on-disk database.
//!
//! One test per backend, each running [`conformance::run_all`] with a constructor of fresh,
//! empty stores. To add a backend, add a test like `memory` below.

#[path = "support/crash_resume.rs"]
mod crash_resume;

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use weshop_storage::{MemoryStore, SurrealOptions, SurrealStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_mem() {
    conformance::run_all(|| async { Arc::new(SurrealStore::connect("mem://").await.unwrap()) })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_kv() {
    let dir = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    let root = dir.path().to_path_buf();
    conformance::run_all(|| {
        let path = root.join(format!("db{}", next.fetch_add(1, Ordering::Relaxed)));
        async move {
            Arc::new(
                SurrealStore::connect(&format!("surrealkv://{}", path.display()))
                    .await
                    .unwrap(),
            )
        }
    })
    .await;
}

/// Against a SurrealDB server, when `WESHOP_TEST_SURREAL_URL` is set (e.g.
/// `ws://127.0.0.1:8000`); each store gets a database of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_server() {
    let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
        eprintln!("WESHOP_TEST_SURREAL_URL not set: skipping the SurrealDB server run");
        return;
    };
    let user = std::env::var("WESHOP_TEST_SURREAL_USER").unwrap_or_else(|_| "root".into());
    let pass = std::env::var("WESHOP_TEST_SURREAL_PASS").unwrap_or_else(|_| "root".into());
    let run = std::process::id();
    let next = AtomicUsize::new(0);
    conformance::run_all(|| {
        let options = SurrealOptions {
            namespace: "weshop_test".into(),
            database: format!("run{run}_{}", next.fetch_add(1, Ordering::Relaxed)),
            root: Some((user.clone(), pass.clone())),
        };
        let url = url.clone();
        async move { Arc::new(SurrealStore::connect_with(&url, options).await.unwrap()) }
    })
    .await;
}

/// Drop the shop mid-flow and reopen the same surrealkv directory: every order is still
/// delivered, each packed, loaded, delivered and charged exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_kv_crash_resume() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("shop").display());
    crash_resume::crash_resume(|| {
        let url = url.clone();
        async move { Arc::new(SurrealStore::connect(&url).await.unwrap()) }
    })
    .await;
}
