//! The storage integration tests: the conformance suite and the shop's checkout against every
//! backend, and a crash in the middle of fulfilment on an embedded on-disk database.
//!
//! One test per backend, each running [`conformance::run_all`] (the storage traits) and then
//! [`shop::run_all`] (checkout through a shop assembled over the store) with a constructor of
//! fresh, empty stores. To add a backend, add a test like `memory` below.

#[cfg(feature = "surrealdb")]
#[path = "support/crash_resume.rs"]
mod crash_resume;
mod shop;

use std::sync::Arc;
#[cfg(feature = "surrealdb")]
use std::sync::atomic::{AtomicUsize, Ordering};

#[cfg(feature = "surrealdb")]
use weshop_storage::{AuthLevel, Credentials, OpenOptions, SurrealStore, open, open_with};
use weshop_storage::{MemoryStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory() {
    let new_store = || async { Arc::new(MemoryStore::new()) };
    conformance::run_all(&new_store).await;
    // Shared within one process: the same handle writes and follows.
    let store = new_store().await;
    conformance::changes(store.clone(), store).await;
    shop::run_all(&new_store).await;
}

/// Embedded in memory, as a concrete [`SurrealStore`].
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_mem() {
    let made = std::sync::Mutex::new(Vec::new());
    let new_store = || async {
        let store = Arc::new(SurrealStore::connect("mem://").await.unwrap());
        made.lock().unwrap().push(store.clone());
        store
    };
    conformance::run_all(&new_store).await;
    // Placements of one product in one process take turns: none ran for nothing.
    let store = new_store().await;
    conformance::concurrent_placements(store.clone()).await;
    assert_eq!(store.lost_conflicts(), 0, "placements lost write conflicts");
    // So do fulfilment steps that move the same stock.
    steps_take_turns(store).await;
    shop::run_all(&new_store).await;
    // The tables that no longer refuse undeclared fields got none from all of the above.
    let stores = std::mem::take(&mut *made.lock().unwrap());
    for store in stores {
        assert_eq!(
            store.undeclared_fields().await.unwrap(),
            Vec::<String>::new()
        );
    }
}

/// Fulfilment steps moving one stock row at once all commit, none losing a write conflict
/// (each takes its turn on the row).
#[cfg(feature = "surrealdb")]
async fn steps_take_turns(store: Arc<SurrealStore>) {
    use weshop_core::{
        domain::{ProductId, StockDelta, WarehouseId},
        store::{CatalogStore, OrderStore, StepCommit},
    };
    let (warehouse, product) = (WarehouseId::new(3).unwrap(), ProductId::new(4242).unwrap());
    let lost = store.lost_conflicts();
    let steps: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let step = StepCommit {
                    stock: vec![StockDelta {
                        warehouse,
                        product,
                        on_hand: 1,
                        incoming: 0,
                        reserved: 0,
                    }],
                    ..StepCommit::default()
                };
                store.commit_step(step).await
            })
        })
        .collect();
    for step in steps {
        step.await.unwrap().expect("the step commits");
    }
    let rows = store.stock(product).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.on_hand(), 8, "every step applied once");
    assert_eq!(store.lost_conflicts(), lost, "steps lost write conflicts");
}

/// Embedded on disk, each store in a directory of its own, opened by URL (a `dyn Store`).
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_kv() {
    let directories = Directories::new("surrealkv");
    let new_store = || directories.open_next();
    conformance::run_all(&new_store).await;
    shop::run_all(&new_store).await;
}

/// The memory store made durable (`memory+surrealkv://`), each in a directory of its own.
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_kv() {
    let directories = Directories::new("memory+surrealkv");
    let new_store = || directories.open_next();
    conformance::run_all(&new_store).await;
    let store = new_store().await;
    conformance::changes(store.clone(), store).await;
    shop::run_all(&new_store).await;
}

/// The durable memory store keeps carts saved at once across a close and reopen, and refuses
/// a directory that holds a SurrealQL store (rather than showing it as an empty shop).
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_kv_carts_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("memory+surrealkv://{}", dir.path().join("carts").display());
    let store = open(&url).await.unwrap();
    conformance::carts_at_once(store.clone()).await;
    store.close().await.unwrap();
    assert!(
        store
            .cart(weshop_core::domain::UserId::new(1).unwrap())
            .await
            .is_err(),
        "closed"
    );
    drop(store);
    conformance::carts_at_once_kept(open(&url).await.unwrap()).await;

    let surrealql = dir.path().join("surrealql");
    let other = open(&format!("surrealkv://{}", surrealql.display()))
        .await
        .unwrap();
    other.close().await.unwrap();
    drop(other);
    let refused = open(&format!("memory+surrealkv://{}", surrealql.display()))
        .await
        .err()
        .expect("a SurrealQL directory is refused");
    assert!(refused.to_string().contains("surrealkv://"), "{refused}");
}

/// Drop the shop mid-flow and reopen the durable memory store's directory: every order is
/// still delivered, each packed, loaded, delivered and charged exactly once.
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_kv_crash_resume() {
    crash_resume_on("memory+surrealkv").await;
}

/// Against a SurrealDB server, when `WESHOP_TEST_SURREAL_URL` is set (e.g.
/// `ws://127.0.0.1:8000`); each store gets a database of its own.
#[cfg(feature = "surrealdb")]
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
    let options = |database: String| OpenOptions {
        namespace: "weshop_test".into(),
        database,
        credentials: Some(Credentials {
            user: user.clone(),
            password: pass.clone(),
            level: AuthLevel::Root,
        }),
        ..OpenOptions::default()
    };
    let new_store = || {
        let options = options(format!("run{run}_{}", next.fetch_add(1, Ordering::Relaxed)));
        let url = url.clone();
        async move { open_with(&url, options).await.unwrap() }
    };
    conformance::run_all(&new_store).await;
    // Two connections on one database, as two nodes have: one writes, the other follows.
    let shared = format!("run{run}_changes");
    let writer = open_with(&url, options(shared.clone())).await.unwrap();
    let follower = open_with(&url, options(shared)).await.unwrap();
    conformance::changes(writer, follower).await;
    shop::run_all(&new_store).await;
}

/// Carts saved at once (committed together) are on disk: the same directory reopened has
/// each customer's last cart (an embedded store answers reads from memory while open).
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_kv_carts_kept() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("surrealkv://{}", dir.path().join("carts").display());
    let store = open(&url).await.unwrap();
    conformance::carts_at_once(store.clone()).await;
    store.close().await.unwrap();
    drop(store);
    conformance::carts_at_once_kept(open(&url).await.unwrap()).await;
}

/// Drop the shop mid-flow and reopen the same surrealkv directory: every order is still
/// delivered, each packed, loaded, delivered and charged exactly once.
#[cfg(feature = "surrealdb")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surreal_kv_crash_resume() {
    crash_resume_on("surrealkv").await;
}

/// [`crash_resume::crash_resume`] on a store of `scheme` in a fresh directory.
#[cfg(feature = "surrealdb")]
async fn crash_resume_on(scheme: &str) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{scheme}://{}", dir.path().join("shop").display());
    crash_resume::crash_resume(|| {
        let url = url.clone();
        async move { open(&url).await.unwrap() }
    })
    .await;
}

/// Stores of one on-disk scheme opened by URL, each in a fresh directory of its own.
#[cfg(feature = "surrealdb")]
struct Directories {
    root: tempfile::TempDir,
    scheme: &'static str,
    next: AtomicUsize,
}

#[cfg(feature = "surrealdb")]
impl Directories {
    fn new(scheme: &'static str) -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            scheme,
            next: AtomicUsize::new(0),
        }
    }

    async fn open_next(&self) -> Arc<dyn weshop_core::store::Store> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let path = self.root.path().join(format!("db{n}"));
        open(&format!("{}://{}", self.scheme, path.display()))
            .await
            .unwrap()
    }
}
