//! A store from a URL: the one place that maps storage URLs to backends (in the style of
//! `object_store::parse_url`). See [`open`] for the URLs.

use std::{path::PathBuf, sync::Arc, time::Duration};

use weshop_core::store::{Store, StoreError};

use crate::MemoryStore;

/// The URL forms [`open`] understands in this build.
#[cfg(feature = "surrealdb")]
pub const SUPPORTED_SCHEMES: &[&str] = &[
    "memory://",
    "memory+surrealkv://PATH",
    "mem://",
    "surrealkv://PATH",
    "ws://HOST:PORT",
    "wss://HOST:PORT",
];

/// The URL forms [`open`] understands in this build.
#[cfg(not(feature = "surrealdb"))]
pub const SUPPORTED_SCHEMES: &[&str] = &["memory://"];

/// How often [`open`] tries a locked on-disk database again.
#[cfg(feature = "surrealdb")]
const LOCK_POLL: Duration = Duration::from_millis(200);

/// What [`open_with`] needs besides the URL. [`OpenOptions::default`] is what [`open`] uses.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// SurrealDB namespace (default `weshop`); the in-memory store ignores it.
    pub namespace: String,
    /// SurrealDB database (default `shop`); the in-memory store ignores it.
    pub database: String,
    /// Who signs in to a SurrealDB server (embedded engines need nobody); `None`: anonymous.
    #[cfg(feature = "surrealdb")]
    pub credentials: Option<crate::surreal::Credentials>,
    /// How long to wait for an on-disk database that is still locked (default 10 s): an
    /// embedded database is released a moment after its last handle drops, and a process
    /// being replaced may still hold it.
    pub lock_wait: Duration,
    /// Cache sizes of the embedded on-disk engine (`surrealkv://`); see [`open`].
    #[cfg(feature = "surrealdb")]
    pub embedded_memory: crate::surreal::EmbeddedMemory,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            namespace: "weshop".into(),
            database: "shop".into(),
            #[cfg(feature = "surrealdb")]
            credentials: None,
            lock_wait: Duration::from_secs(10),
            #[cfg(feature = "surrealdb")]
            embedded_memory: crate::surreal::EmbeddedMemory::default(),
        }
    }
}

/// Why [`open`] could not open a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL names no backend this crate knows.
    #[error(
        "unsupported storage URL {url:?}: expected one of {}",
        SUPPORTED_SCHEMES.join(", ")
    )]
    UnknownScheme {
        /// The URL.
        url: String,
    },
    /// The URL names a backend that this build leaves out.
    #[error("storage URL {url:?} needs weshop-storage's `{feature}` feature, not in this build")]
    Disabled {
        /// The URL.
        url: String,
        /// The feature it needs.
        feature: &'static str,
    },
    /// The URL names a backend but not where it is.
    #[error("storage URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL.
        url: String,
        /// What is missing.
        reason: &'static str,
    },
    /// The directory of an on-disk database could not be created.
    #[error("cannot create the database directory {}: {error}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// An on-disk database stayed locked (by another handle or process) for the whole wait.
    #[error("{url} is still locked after waiting {waited:?}: {error}")]
    Locked {
        /// The URL.
        url: String,
        /// How long [`open`] waited.
        waited: Duration,
        /// The last refusal.
        error: StoreError,
    },
    /// The backend could not be opened (unreachable, refused the credentials, a schema newer
    /// than this program, …).
    #[error("{url}: {error}")]
    Backend {
        /// The URL.
        url: String,
        /// Why.
        error: StoreError,
    },
}

/// Opens the store at `url` with [`OpenOptions::default`]:
///
/// | URL                | Backend                                                        |
/// |--------------------|----------------------------------------------------------------|
/// | `memory://`        | [`MemoryStore`] (also `memory:`); nothing survives a restart   |
/// | `memory+surrealkv://PATH` | [`MemoryStore`], every write synced to raw keys of SurrealDB's embedded engine in `PATH` before it returns; loaded from there on open |
/// | `mem://`           | `SurrealStore`, embedded, in memory                            |
/// | `surrealkv://PATH` | SurrealDB embedded on disk in directory `PATH` (created)       |
/// | `ws://HOST:PORT`   | a SurrealDB server (also `wss://`); see [`OpenOptions`]        |
///
/// The SurrealDB URLs need the `surrealdb` feature (on by default). An on-disk database that
/// is still locked (its last handle dropped a moment ago, or a process being replaced holds
/// it) is tried again for up to [`OpenOptions::lock_wait`].
///
/// **Memory.** Left to itself, SurrealDB 3.3's embedded surrealkv engine sizes its caches from
/// the machine's RAM (a block cache of RAM/2 − 1 GiB, a memtable of up to 1 GiB on a 24 GiB
/// machine). Embedded engines are therefore opened with the sizes in
/// [`OpenOptions::embedded_memory`] (16 MiB each by default; raise them for a large, busy
/// shop). A SurrealDB server (`ws://`) sizes its own, from
/// `SURREAL_SURREALKV_BLOCK_CACHE_CAPACITY` and `SURREAL_SURREALKV_MAX_MEMTABLE_SIZE`.
///
/// ```no_run
/// # async fn run() -> Result<(), weshop_storage::OpenError> {
/// let store = weshop_storage::open("surrealkv://data").await?;
/// let shop = weshop_storage::core::assembly::ShopBuilder::new(store);
/// # Ok(()) }
/// ```
pub async fn open(url: &str) -> Result<Arc<dyn Store>, OpenError> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store at `url` (see [`open`]) with these names, credentials and lock wait.
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Arc<dyn Store>, OpenError> {
    if url.starts_with("memory:") {
        tracing::info!("storage: in memory (nothing survives a restart)");
        return Ok(Arc::new(MemoryStore::new()));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(OpenError::UnknownScheme { url: url.into() });
    };
    match scheme {
        "mem" => {}
        "surrealkv" | "memory+surrealkv" => {
            if rest.is_empty() {
                return Err(OpenError::InvalidUrl {
                    url: url.into(),
                    reason: "surrealkv:// needs the path of a directory",
                });
            }
            std::fs::create_dir_all(rest).map_err(|error| OpenError::CreateDir {
                path: rest.into(),
                error,
            })?;
            if scheme == "memory+surrealkv" {
                let store = journaled(url, rest, &options).await?;
                tracing::info!("storage: {url} (in memory, every write synced to disk)");
                return Ok(store);
            }
        }
        "ws" | "wss" => {
            if rest.is_empty() {
                return Err(OpenError::InvalidUrl {
                    url: url.into(),
                    reason: "a SurrealDB server URL needs HOST:PORT",
                });
            }
        }
        _ => return Err(OpenError::UnknownScheme { url: url.into() }),
    }
    let store = surreal(url, options, scheme == "surrealkv").await?;
    tracing::info!("storage: {url}");
    Ok(store)
}

/// Retries `attempt` while it fails because the database is locked, for up to `lock_wait`
/// (`None`: an on-disk lock cannot be the reason, so every failure is the backend's).
#[cfg(feature = "surrealdb")]
async fn waiting_for_lock<T, F: Future<Output = Result<T, StoreError>>>(
    url: &str,
    lock_wait: Option<Duration>,
    mut attempt: impl FnMut() -> F,
) -> Result<T, OpenError> {
    let started = tokio::time::Instant::now();
    loop {
        match (attempt().await, lock_wait) {
            (Ok(opened), _) => return Ok(opened),
            (Err(error), Some(lock_wait)) if error.to_string().contains("locked") => {
                let waited = started.elapsed();
                if waited + LOCK_POLL > lock_wait {
                    return Err(OpenError::Locked {
                        url: url.into(),
                        waited,
                        error,
                    });
                }
                tracing::debug!(%url, "storage locked, waiting");
                tokio::time::sleep(LOCK_POLL).await;
            }
            (Err(error), _) => {
                return Err(OpenError::Backend {
                    url: url.into(),
                    error,
                });
            }
        }
    }
}

/// The durable memory store in directory `path` (see [`MemoryStore`]).
#[cfg(feature = "surrealdb")]
async fn journaled(
    url: &str,
    path: &str,
    options: &OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    let engine = waiting_for_lock(url, Some(options.lock_wait), || {
        crate::surreal::open_engine(path, options.embedded_memory)
    })
    .await?;
    let store = MemoryStore::journaled(engine)
        .await
        .map_err(|error| OpenError::Backend {
            url: url.into(),
            error,
        })?;
    Ok(Arc::new(store))
}

/// Without SurrealDB in the build, the durable memory store is refused.
#[cfg(not(feature = "surrealdb"))]
async fn journaled(
    url: &str,
    _path: &str,
    _options: &OpenOptions,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::Disabled {
        url: url.into(),
        feature: "surrealdb",
    })
}

/// A SurrealDB store; `wait_for_lock` retries while the database is locked.
#[cfg(feature = "surrealdb")]
async fn surreal(
    url: &str,
    options: OpenOptions,
    wait_for_lock: bool,
) -> Result<Arc<dyn Store>, OpenError> {
    use crate::{SurrealOptions, SurrealStore};

    let surreal = SurrealOptions {
        namespace: options.namespace,
        database: options.database,
        credentials: options.credentials,
        embedded_memory: options.embedded_memory,
    };
    let lock_wait = wait_for_lock.then_some(options.lock_wait);
    let store = waiting_for_lock(url, lock_wait, || {
        SurrealStore::connect_with(url, surreal.clone())
    })
    .await?;
    Ok(Arc::new(store))
}

/// Without SurrealDB in the build, its URLs are refused.
#[cfg(not(feature = "surrealdb"))]
async fn surreal(
    url: &str,
    _options: OpenOptions,
    _wait_for_lock: bool,
) -> Result<Arc<dyn Store>, OpenError> {
    Err(OpenError::Disabled {
        url: url.into(),
        feature: "surrealdb",
    })
}

#[cfg(test)]
mod tests {
    use weshop_core::domain::{Location, WarehouseId, WarehouseSite};

    use super::*;

    fn site(id: i32) -> WarehouseSite {
        WarehouseSite {
            id: WarehouseId::new(id).unwrap(),
            location: Location::new(id, -id),
        }
    }

    /// The store works: what is put is there.
    async fn works(store: &Arc<dyn Store>) {
        store.put_warehouse(site(7)).await.unwrap();
        assert_eq!(store.warehouses().await.unwrap(), vec![site(7)]);
    }

    #[tokio::test]
    async fn memory_urls() {
        for url in ["memory://", "memory:"] {
            let store = open(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(store.warehouses().await.unwrap().is_empty(), "{url}: empty");
            works(&store).await;
        }
    }

    #[tokio::test]
    async fn unknown_scheme() {
        for url in ["postgres://localhost/shop", "data", "", "file:///tmp/x"] {
            match open(url).await {
                Err(error @ OpenError::UnknownScheme { .. }) => {
                    let message = error.to_string();
                    for scheme in SUPPORTED_SCHEMES {
                        assert!(message.contains(scheme), "{message:?} lists {scheme}");
                    }
                }
                Err(other) => panic!("{url:?}: {other}"),
                Ok(_) => panic!("{url:?} opened"),
            }
        }
    }

    #[cfg(not(feature = "surrealdb"))]
    #[tokio::test]
    async fn surreal_urls_need_the_feature() {
        for url in ["mem://", "surrealkv://data", "ws://127.0.0.1:8000"] {
            assert!(
                matches!(open(url).await, Err(OpenError::Disabled { .. })),
                "{url}"
            );
        }
    }

    #[cfg(feature = "surrealdb")]
    mod surreal {
        use super::*;

        #[tokio::test]
        async fn mem() {
            let store = open("mem://").await.unwrap();
            works(&store).await;
            // Each open is a database of its own.
            let other = open("mem://").await.unwrap();
            assert!(other.warehouses().await.unwrap().is_empty());
        }

        #[tokio::test]
        async fn missing_location() {
            for url in ["surrealkv://", "ws://", "wss://"] {
                assert!(
                    matches!(open(url).await, Err(OpenError::InvalidUrl { .. })),
                    "{url}"
                );
            }
        }

        /// The directory is created (parents too); the data survives a reopen, which waits
        /// for the lock of the dropped handle.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn surrealkv() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("a").join("b");
            let url = format!("surrealkv://{}", path.display());
            let store = open(&url).await.unwrap();
            assert!(path.is_dir());
            works(&store).await;
            drop(store);
            let again = open(&url).await.unwrap();
            assert_eq!(again.warehouses().await.unwrap(), vec![site(7)]);
        }

        /// A closed database is flushed and unlocked at once: it opens again without waiting,
        /// with what was written.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn surrealkv_closed() {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("surrealkv://{}", dir.path().join("db").display());
            let store = open(&url).await.unwrap();
            works(&store).await;
            store.close().await.expect("closes");
            let impatient = OpenOptions {
                lock_wait: Duration::ZERO,
                ..OpenOptions::default()
            };
            let again = open_with(&url, impatient)
                .await
                .expect("unlocked by close, while the old handle is still alive");
            assert_eq!(again.warehouses().await.unwrap(), vec![site(7)]);
            drop(store);
        }

        /// A database held open is locked: without a wait the open fails as `Locked`; with
        /// one it succeeds once the holder lets go.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn surrealkv_locked() {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("surrealkv://{}", dir.path().join("db").display());
            let holder = open(&url).await.unwrap();
            works(&holder).await;
            let impatient = OpenOptions {
                lock_wait: Duration::ZERO,
                ..OpenOptions::default()
            };
            match open_with(&url, impatient).await {
                Err(error @ OpenError::Locked { .. }) => {
                    assert!(error.to_string().contains(&url), "{error}");
                }
                Err(other) => panic!("expected Locked, got {other}"),
                Ok(_) => panic!("opened a locked database"),
            }
            let release = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                drop(holder);
            });
            let patient = open(&url).await.expect("opens once released");
            assert_eq!(patient.warehouses().await.unwrap(), vec![site(7)]);
            release.await.unwrap();
        }

        /// A server URL reaches for the server: nothing listens here, so it is a backend
        /// error naming the URL.
        #[tokio::test]
        async fn ws_unreachable() {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let url = format!("ws://127.0.0.1:{port}");
            match open(&url).await {
                Err(error @ OpenError::Backend { .. }) => {
                    assert!(error.to_string().contains(&url), "{error}");
                }
                Err(other) => panic!("expected Backend, got {other}"),
                Ok(_) => panic!("opened {url} with nothing there"),
            }
        }

        /// Against a SurrealDB server, when `WESHOP_TEST_SURREAL_URL` is set.
        #[tokio::test]
        async fn ws_server() {
            let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
                eprintln!("WESHOP_TEST_SURREAL_URL not set: skipping");
                return;
            };
            let user = std::env::var("WESHOP_TEST_SURREAL_USER").unwrap_or_else(|_| "root".into());
            let pass = std::env::var("WESHOP_TEST_SURREAL_PASS").unwrap_or_else(|_| "root".into());
            let options = OpenOptions {
                namespace: "weshop_test".into(),
                database: format!("open{}", std::process::id()),
                credentials: Some(crate::surreal::Credentials {
                    user,
                    password: pass,
                    level: crate::surreal::AuthLevel::Root,
                }),
                ..OpenOptions::default()
            };
            works(&open_with(&url, options).await.unwrap()).await;
        }

        /// Against a SurrealDB server: stores opened at once — new databases side by side in
        /// a new namespace, and several on one database, as nodes starting together — all
        /// open (defining the namespace and databases on `USE`, and migrating them, conflict,
        /// and are retried: before `USE` was, about one run in ten failed).
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ws_server_opens_at_once() {
            let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
                eprintln!("WESHOP_TEST_SURREAL_URL not set: skipping");
                return;
            };
            let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "root".into());
            let namespace = format!("weshop_race{}", std::process::id());
            let opens: Vec<_> = (0..8)
                .map(|i| {
                    let options = OpenOptions {
                        namespace: namespace.clone(),
                        database: format!("db{}", i % 4),
                        credentials: Some(crate::surreal::Credentials {
                            user: var("WESHOP_TEST_SURREAL_USER"),
                            password: var("WESHOP_TEST_SURREAL_PASS"),
                            level: crate::surreal::AuthLevel::Root,
                        }),
                        ..OpenOptions::default()
                    };
                    let url = url.clone();
                    tokio::spawn(async move { open_with(&url, options).await })
                })
                .collect();
            for open in opens {
                let store = open.await.unwrap().expect("opens despite the others");
                works(&store).await;
            }
        }

        /// Against a SurrealDB server: a wrong password, and no credentials at all, stop the
        /// open with errors that say what to set.
        #[tokio::test]
        async fn ws_server_refusals_say_what_to_set() {
            let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
                eprintln!("WESHOP_TEST_SURREAL_URL not set: skipping");
                return;
            };
            let wrong = OpenOptions {
                credentials: Some(crate::surreal::Credentials {
                    user: "root".into(),
                    password: "not the password".into(),
                    level: crate::surreal::AuthLevel::Root,
                }),
                ..OpenOptions::default()
            };
            let error = open_with(&url, wrong).await.err().expect("refused");
            let text = error.to_string();
            assert!(
                text.contains("cannot sign in to") && text.contains("WESHOP_STORAGE_PASSWORD"),
                "{text}"
            );
            assert!(!text.contains("not the password"), "never shown: {text}");
            let error = open_with(&url, OpenOptions::default())
                .await
                .err()
                .expect("refused");
            assert!(
                error.to_string().contains("refuses anonymous access"),
                "{error}"
            );
        }
    }
}
