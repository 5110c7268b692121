//! The SurrealDB backend: one [`SurrealStore`] for every engine, chosen by URL.
//!
//! - `mem://`: embedded, in memory (tests, demos);
//! - `surrealkv://PATH`: embedded, on disk (the server's default);
//! - `ws://HOST:PORT` (or `wss://`): a SurrealDB server, which can itself run on TiKV when a
//!   shop outgrows one machine. Credentials come with [`SurrealStore::connect_with`].
//!
//! Queryable fields are columns with indexes (email, seller, category, price, an order's
//! stage, …); the rest of each record is a JSON document parsed back through the domain (see
//! [`crate::documents`]). Product search uses a full-text index whose analyzer stores every
//! prefix of every word (edge n-grams), so "mu" finds "mug" through the index, not by scanning.
//!
//! Every change that must be atomic runs as one `BEGIN … COMMIT` block. The engines use
//! snapshot isolation and refuse the later of two conflicting commits; such a block is retried
//! (with jittered backoff), so concurrent checkouts serialize on the stock they share and never
//! oversell. Stock checks run inside the block and `THROW` to abort it. Within one process,
//! the blocks that move stock at checkout and in fulfilment steps first take turns on the
//! rows they write (`stock_locks`), so they do not run only to lose to each other. An embedded
//! engine's database belongs to this process, so the records read on every request (sessions,
//! accounts, carts, products, stock) are kept in memory between writes (`cache`).
//!
//! Most programs open a store through [`crate::open`], which maps these URLs (and
//! `memory://`) to a backend, creates a `surrealkv://` directory and waits for its lock.
//!
//! Inside: this module connects and runs blocks (retrying write conflicts); `schema` holds the
//! versioned migrations, `query` the query builder, `rows` what queries return,
//! `stock_locks` the turns on stock rows, `group_commit` the queues that commit writes
//! together (`placements` of checkouts, and carts),
//! `cache` the records kept in memory, and
//! `accounts`, `catalog`, `carts`, `orders` and `inbox` implement one storage trait each.

mod accounts;
mod cache;
mod campaigns;
mod carts;
mod catalog;
mod changes;
mod embedded;
mod group_commit;
mod ids;
mod inbox;
mod leases;
mod orders;
mod outbox;
mod placements;
mod query;
mod rows;
mod schema;
mod stock_locks;

use std::{sync::Arc, time::Duration};

use surrealdb::{
    Connection, Surreal,
    engine::any::{self, Any},
    engine::local::Db,
    method::Query,
    opt::auth::Root,
    types::{QueryError, SurrealValue, Value},
};
use weshop_core::{
    domain::{ProductId, Stock, StockDelta, WarehouseId},
    store::StoreError,
};

use query::Sql;

pub use embedded::EmbeddedMemory;
pub(crate) use embedded::open_engine;
pub use query::TIMING_TARGET as QUERY_TIMING_TARGET;

/// How long a query may go unanswered before its caller is told the database failed: a
/// query whose answer is lost (a connection in trouble) must not hold its caller, and the
/// locks it holds, forever. A transaction given up on may still commit; the version checks
/// and fences of the writes that matter make a retry of it safe.
const QUERY_PATIENCE: Duration = Duration::from_secs(60);

/// Most attempts of a transaction that keeps losing write conflicts.
const MAX_ATTEMPTS: u32 = 200;

/// A WeShop store on SurrealDB.
#[derive(Clone)]
pub struct SurrealStore {
    db: Handle,
    /// The live queries behind [`weshop_core::changes::ChangeFeed`], once someone follows.
    feed: Arc<changes::Feed>,
    /// Held by a fenced commit while it runs: fenced commits all write the lease's term
    /// record (see leases.rs), so two of one process running at once would conflict, and the
    /// loser, retried, kept losing to the next (a 500-entry outbox mark was retried for 5 s
    /// behind the driver's commits). Taken in turn, they never meet.
    fenced: Arc<tokio::sync::Mutex<()>>,
    /// The ids this process claimed and has not handed out yet (see ids.rs).
    ids: Arc<ids::IdBlocks>,
    /// Placements of one product take turns (see stock_locks.rs).
    stock_locks: Arc<stock_locks::StockLocks>,
    /// Placements waiting to commit together (see placements.rs).
    placements: Arc<placements::Placements>,
    /// Cart saves waiting to commit together (see carts.rs).
    cart_saves: Arc<carts::CartSaves>,
    /// Attempts that lost a write conflict, since the store was opened.
    lost_conflicts: Arc<std::sync::atomic::AtomicU64>,
    /// Commits that marked outbox entries performed, to sweep every so many (see outbox.rs).
    outbox_marks: Arc<std::sync::atomic::AtomicU64>,
    /// Records kept in memory by an embedded store (see cache.rs), by id.
    carts: Arc<cache::RecordCache<i64, weshop_core::domain::Cart>>,
    accounts: Arc<cache::RecordCache<i64, weshop_core::domain::User>>,
    /// By token hash.
    sessions: Arc<cache::RecordCache<String, weshop_core::domain::LoginSession>>,
    products: Arc<cache::RecordCache<i64, weshop_core::domain::Product>>,
    /// A product's stock rows, by product.
    stock: Arc<cache::RecordCache<i64, ProductStock>>,
}

/// The SDK's handle: embedded engines are opened by [`embedded`] (to cap their memory), a
/// server through the SDK's `any` engine.
///
/// The SDK's handle is shared behind an `Arc`, not cloned: each clone of it is a session of
/// its own, which the SDK creates (and a server sets up: namespace, database, credentials)
/// before the clone's first query and ends when it is dropped; cloned per query, as it was,
/// every query cost a session opened and closed.
#[derive(Clone)]
enum Handle {
    /// The SDK's handle and the engine under it, to close it.
    Embedded(Arc<Surreal<Db>>, Arc<surrealdb_engine_local::Datastore>),
    Server(Arc<Surreal<Any>>),
}

impl Handle {
    /// Runs `text` with `vars` bound (moved into the query, not copied: a fulfilment step
    /// binds every order it writes).
    async fn query(
        &self,
        text: String,
        vars: Vec<(String, Value)>,
    ) -> surrealdb::Result<surrealdb::IndexedResults> {
        fn bound<'r, C: Connection>(
            mut query: Query<'r, C>,
            vars: Vec<(String, Value)>,
        ) -> Query<'r, C> {
            for binding in vars {
                query = query.bind(binding);
            }
            query
        }
        // The query runs in a task of its own: an embedded engine executes it in the
        // caller's task, and SurrealDB's executor is deep, so under an HTTP handler's stack
        // (poem's layers, the shop's service) a debug build overflowed a worker's 2 MiB
        // stack. A task starts from the bottom of a worker's stack. It also means a caller
        // that gives up (a client gone) cannot cut a transaction off half-run.
        let task = match self {
            Handle::Embedded(db, _) => {
                let db = Arc::clone(db);
                tokio::spawn(async move {
                    tokio::time::timeout(QUERY_PATIENCE, bound(db.query(text), vars)).await
                })
            }
            Handle::Server(db) => {
                let db = Arc::clone(db);
                tokio::spawn(async move {
                    tokio::time::timeout(QUERY_PATIENCE, bound(db.query(text), vars)).await
                })
            }
        };
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(surrealdb::Error::internal(format!(
                "the database did not answer within {QUERY_PATIENCE:?}"
            ))),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a storage query task was cancelled: {error}"),
        }
    }
}

/// Who signs in to a SurrealDB server: a user defined at the root, on the namespace or on
/// the database (`DEFINE USER … ON ROOT | NAMESPACE | DATABASE`). The password is never shown
/// by `Debug`, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user.
    pub user: String,
    /// The password.
    pub password: String,
    /// Where the user is defined.
    pub level: AuthLevel,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("level", &self.level)
            .finish()
    }
}

/// Where a SurrealDB user is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthLevel {
    /// `ON ROOT` (the server's `--user`/`--pass`).
    #[default]
    Root,
    /// `ON NAMESPACE`: the store's namespace.
    Namespace,
    /// `ON DATABASE`: the store's database.
    Database,
}

impl AuthLevel {
    /// Parses `root`, `namespace` or `database`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "root" => Some(Self::Root),
            "namespace" | "ns" => Some(Self::Namespace),
            "database" | "db" => Some(Self::Database),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Namespace => "namespace",
            Self::Database => "database",
        }
    }
}

/// Credentials and names for a SurrealDB server.
#[derive(Debug, Clone)]
pub struct SurrealOptions {
    /// Namespace.
    pub namespace: String,
    /// Database.
    pub database: String,
    /// Who signs in to a server (embedded engines need nobody); `None`: anonymous.
    pub credentials: Option<Credentials>,
    /// Cache sizes of the embedded on-disk engine (servers size their own).
    pub embedded_memory: EmbeddedMemory,
}

impl Default for SurrealOptions {
    fn default() -> Self {
        Self {
            namespace: "weshop".into(),
            database: "shop".into(),
            credentials: None,
            embedded_memory: EmbeddedMemory::default(),
        }
    }
}

/// Why a block failed.
enum TxError {
    /// Lost a write conflict: try again.
    Conflict,
    /// A `THROW`n message.
    Thrown(String),
    /// Anything else.
    Other(String),
}

/// Signs in at the credentials' level.
async fn sign_in(
    db: &Surreal<Any>,
    credentials: &Credentials,
    namespace: &str,
    database: &str,
) -> Result<(), surrealdb::Error> {
    use surrealdb::opt::auth::{Database, Namespace};
    let (username, password) = (credentials.user.clone(), credentials.password.clone());
    match credentials.level {
        AuthLevel::Root => db.signin(Root { username, password }).await.map(drop),
        AuthLevel::Namespace => db
            .signin(Namespace {
                namespace: namespace.to_string(),
                username,
                password,
            })
            .await
            .map(drop),
        AuthLevel::Database => db
            .signin(Database {
                namespace: namespace.to_string(),
                database: database.to_string(),
                username,
                password,
            })
            .await
            .map(drop),
    }
}

/// Makes `attempt` again while it loses write conflicts (up to [`MAX_ATTEMPTS`] in all), after
/// a growing, randomised pause so that the writers it lost to go first.
async fn retry_conflicts<T, F>(mut attempt: impl FnMut() -> F) -> Result<T, TxError>
where
    F: std::future::Future<Output = Result<T, TxError>>,
{
    let mut backoff = Duration::from_millis(1);
    for n in 1..=MAX_ATTEMPTS {
        match attempt().await {
            Err(TxError::Conflict) if n < MAX_ATTEMPTS => {
                tracing::debug!(attempt = n, "lost a write conflict; trying again");
                let jitter = rand_millis(backoff.as_millis() as u64 + 1);
                tokio::time::sleep(Duration::from_millis(jitter)).await;
                backoff = (backoff * 2).min(Duration::from_millis(50));
            }
            other => return other,
        }
    }
    Err(TxError::Conflict)
}

/// Selects the namespace and database, retried while it loses write conflicts: `USE`
/// defines either if missing, and stores opening at once into a new namespace (databases
/// created side by side, nodes starting together) conflict on defining it.
async fn use_names<C: surrealdb::Connection>(
    db: &Surreal<C>,
    namespace: &str,
    database: &str,
) -> Result<(), StoreError> {
    retry_conflicts(|| async {
        db.use_ns(namespace)
            .use_db(database)
            .await
            .map(drop)
            .map_err(|e| classify(&e))
    })
    .await
    .map_err(|e| backend(message(e)))
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// An embedded engine is shut down here, flushing its memtable to disk and releasing its
/// lock; a server connection just ends when the store is dropped.
#[async_trait::async_trait]
impl weshop_core::store::StoreLifecycle for SurrealStore {
    async fn close(&self) -> Result<(), StoreError> {
        self.feed.stop();
        match &self.db {
            Handle::Embedded(_, datastore) => Box::pin(datastore.shutdown())
                .await
                .map_err(|e| StoreError::Backend(format!("closing the database: {e}"))),
            Handle::Server(_) => Ok(()),
        }
    }
}

impl SurrealStore {
    /// Opens the database at `url` (see the [module docs](self)) with default names, and runs
    /// any pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SurrealOptions::default()).await
    }

    /// Opens the database at `url` with these names and credentials.
    pub async fn connect_with(url: &str, options: SurrealOptions) -> Result<Self, StoreError> {
        let db = if url.starts_with("mem://") || url.starts_with("surrealkv://") {
            let (db, datastore) = Box::pin(embedded::open(url, options.embedded_memory)).await?;
            use_names(&db, &options.namespace, &options.database).await?;
            Handle::Embedded(Arc::new(db), datastore)
        } else {
            let db = any::connect(url)
                .await
                .map_err(|e| StoreError::Backend(format!("cannot open {url}: {e}")))?;
            if let Some(credentials) = &options.credentials {
                sign_in(&db, credentials, &options.namespace, &options.database)
                    .await
                    .map_err(|e| {
                        StoreError::Backend(format!(
                            "cannot sign in to {url} as {} user {:?}: {e} (check the storage \
                             user, password and auth level: WESHOP_STORAGE_USER, \
                             WESHOP_STORAGE_PASSWORD, WESHOP_STORAGE_AUTH)",
                            credentials.level.as_str(),
                            credentials.user
                        ))
                    })?;
            }
            use_names(&db, &options.namespace, &options.database).await?;
            Handle::Server(Arc::new(db))
        };
        let anonymous = options.credentials.is_none() && matches!(db, Handle::Server(_));
        let embedded = matches!(db, Handle::Embedded(..));
        let store = Self {
            feed: Arc::new(changes::Feed::new(matches!(db, Handle::Server(_)))),
            db,
            fenced: Arc::default(),
            ids: Arc::default(),
            stock_locks: Arc::default(),
            placements: Arc::default(),
            cart_saves: Arc::default(),
            lost_conflicts: Arc::default(),
            outbox_marks: Arc::default(),
            carts: Arc::new(cache::RecordCache::new(embedded)),
            accounts: Arc::new(cache::RecordCache::new(embedded)),
            sessions: Arc::new(cache::RecordCache::new(embedded)),
            products: Arc::new(cache::RecordCache::new(embedded)),
            stock: Arc::new(cache::RecordCache::new(embedded)),
        };
        match store.migrate().await {
            Err(StoreError::Backend(e)) if anonymous && e.contains("Anonymous access") => {
                Err(StoreError::Backend(format!(
                    "{url} refuses anonymous access: give the storage a user and password \
                     (WESHOP_STORAGE_USER and WESHOP_STORAGE_PASSWORD, or user and password \
                     under [storage] in the settings file) ({e})"
                )))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(store),
        }
    }

    /// How many transaction attempts of this handle lost a write conflict and were run again
    /// (or given up), since it was opened: work the engine did for nothing.
    pub fn lost_conflicts(&self) -> u64 {
        self.lost_conflicts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs a query once; per-statement errors become a [`TxError`].
    async fn run(&self, sql: &Sql) -> Result<surrealdb::IndexedResults, TxError> {
        self.execute(sql.clone()).await
    }

    /// [`Self::run`] for a query that is not needed after it.
    async fn execute(&self, sql: Sql) -> Result<surrealdb::IndexedResults, TxError> {
        let started = std::time::Instant::now();
        // Per-query timings for profiling: perf cannot attribute the engine's work to a query
        // (each runs in a task of its own), so the orders bench sums these by kind. An attempt
        // that lost a write conflict is its own kind: its time was wasted.
        let kind = tracing::enabled!(target: query::TIMING_TARGET, tracing::Level::DEBUG)
            .then(|| sql.kind().to_string());
        let response = self.db.query(sql.text, sql.vars).await;
        let result = Self::outcome(response);
        if matches!(result, Err(TxError::Conflict)) {
            self.lost_conflicts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(kind) = kind {
            let kind = match &result {
                Err(TxError::Conflict) => format!("(lost a conflict) {kind}"),
                _ => kind,
            };
            tracing::debug!(
                target: query::TIMING_TARGET,
                kind,
                micros = started.elapsed().as_micros() as u64,
            );
        }
        result
    }

    /// A query's response, or the [`TxError`] its statements' errors amount to.
    fn outcome(
        response: surrealdb::Result<surrealdb::IndexedResults>,
    ) -> Result<surrealdb::IndexedResults, TxError> {
        let mut response = response.map_err(|e| classify(&e))?;
        let mut errors: Vec<(usize, surrealdb::Error)> =
            response.take_errors().into_iter().collect();
        if errors.is_empty() {
            return Ok(response);
        }
        errors.sort_by_key(|(i, _)| *i);
        let conflict = errors
            .iter()
            .any(|(_, e)| e.query_details() == Some(&QueryError::TransactionConflict));
        let real = errors.iter().map(|(_, e)| e).find(|e| {
            !matches!(
                e.query_details(),
                Some(QueryError::NotExecuted) | Some(QueryError::Cancelled)
            )
        });
        Err(match real {
            Some(e) if e.is_thrown() => TxError::Thrown(
                e.message()
                    .trim_start_matches("An error occurred: ")
                    .to_string(),
            ),
            _ if conflict => TxError::Conflict,
            Some(e) => classify(e),
            None => TxError::Other(errors[0].1.to_string()),
        })
    }

    /// Runs a block, retrying it while it loses write conflicts. `build` makes the block anew
    /// for each attempt.
    async fn transact(
        &self,
        mut build: impl FnMut() -> Sql,
    ) -> Result<surrealdb::IndexedResults, TxError> {
        retry_conflicts(|| {
            let sql = build();
            self.execute(sql)
        })
        .await
    }

    async fn read<T: SurrealValue>(&self, sql: Sql) -> Result<Vec<T>, StoreError> {
        let mut response = self.execute(sql).await.map_err(|e| backend(message(e)))?;
        response.take(0).map_err(backend)
    }

    /// The plan SurrealDB makes for `statement` (`EXPLAIN`), as text, for tests that check
    /// which index a read walks.
    #[cfg(test)]
    async fn plan(&self, statement: &str) -> String {
        let mut sql = Sql::default();
        sql.push(&format!("{statement} EXPLAIN"));
        let plan: Vec<surrealdb::types::Value> = self.read(sql).await.unwrap();
        format!("{plan:?}")
    }

    /// Maps a block's failure, reading `stock:` throws as out-of-stock.
    fn failure(error: TxError) -> StoreError {
        match error {
            TxError::Thrown(text) => {
                let mut parts = text.split(':');
                if parts.next() == Some("stock") {
                    let numbers: Vec<i64> = parts.filter_map(|p| p.parse().ok()).collect();
                    if let [product, warehouse, available] = numbers[..]
                        && let (Ok(product), Ok(warehouse)) =
                            (ProductId::new(product), WarehouseId::new(warehouse as i32))
                    {
                        return StoreError::OutOfStock {
                            product,
                            warehouse,
                            available: available.max(0) as u64,
                        };
                    }
                }
                if let Some(what) = text.strip_prefix("conflict:") {
                    return StoreError::Conflict(what.to_string());
                }
                StoreError::Backend(text)
            }
            other => StoreError::Backend(message(other)),
        }
    }
}

fn classify(error: &surrealdb::Error) -> TxError {
    if error.query_details() == Some(&QueryError::TransactionConflict) {
        TxError::Conflict
    } else if error.is_thrown() {
        TxError::Thrown(
            error
                .message()
                .trim_start_matches("An error occurred: ")
                .to_string(),
        )
    } else {
        TxError::Other(error.to_string())
    }
}

impl TxError {
    /// The transaction certainly did not commit: it threw, or lost every attempt. (Anything
    /// else, such as a query given up on, may still have committed.)
    fn aborted(&self) -> bool {
        matches!(self, TxError::Thrown(_) | TxError::Conflict)
    }
}

/// Ends a cached record's write by how its transaction ended (see cache.rs): a commit leaves
/// `value()` cached, or the record forgotten when that is `None` (the write returns no copy of
/// it); a block that certainly did not commit leaves it as it was; any other failure may still
/// commit, and the record is not cached until a write succeeds.
fn written<K: cache::Key, V: Clone, T>(
    writing: cache::Writing<K, V>,
    result: &Result<T, TxError>,
    value: impl FnOnce() -> Option<V>,
) {
    match result {
        Ok(_) => match value() {
            Some(value) => writing.committed(value),
            None => writing.forgotten(),
        },
        Err(error) if error.aborted() => writing.unchanged(),
        Err(_) => drop(writing),
    }
}

/// A product's stock in each warehouse that has a row for it.
type ProductStock = Vec<(WarehouseId, Stock)>;

impl SurrealStore {
    /// Starts the cache's writes of the stock rows `deltas` change, one per product.
    fn stock_writing(
        &self,
        deltas: &[StockDelta],
    ) -> Vec<(i64, cache::Writing<i64, ProductStock>)> {
        let products: std::collections::BTreeSet<i64> =
            deltas.iter().map(|d| d.product.get()).collect();
        products
            .into_iter()
            .map(|product| (product, self.stock.writing(product)))
            .collect()
    }
}

fn message(error: TxError) -> String {
    match error {
        TxError::Conflict => "gave up after repeated write conflicts".into(),
        TxError::Thrown(text) | TxError::Other(text) => text,
    }
}

/// A little randomness for backoff, without a dependency: the clock's nanoseconds.
fn rand_millis(below: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    u64::from(nanos) % below.max(1)
}
