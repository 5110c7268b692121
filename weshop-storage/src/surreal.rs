//! The SurrealDB backend: one [`SurrealStore`] for every engine, chosen by URL.
//!
//! - `mem://`: embedded, in memory (tests, demos);
//! - `surrealkv://PATH`: embedded, on disk (the server's default);
//! - `ws://HOST:PORT` (or `wss://`): a SurrealDB server, which can itself run on TiKV when a
//!   shop outgrows one machine. Credentials come with [`SurrealStore::connect_with`].
//!
//! Queryable fields are columns with indexes (email, seller, category, price, status, …); the
//! rest of each record is a JSON document parsed back through the domain (see [`crate::codec`]).
//! Product search uses a full-text index whose analyzer stores every prefix of every word
//! (edge n-grams), so "mu" finds "mug" through the index, not by scanning.
//!
//! Every change that must be atomic runs as one `BEGIN … COMMIT` block. The engines use
//! snapshot isolation and refuse the later of two conflicting commits; such a block is retried
//! (with jittered backoff), so concurrent checkouts serialize on the stock they share and never
//! oversell. Stock checks run inside the block and `THROW` to abort it.

use std::time::Duration;

use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use surrealdb::{
    Surreal,
    engine::any::{self, Any},
    opt::auth::Root,
    types::{QueryError, SurrealValue, Value},
};
use weshop_core::{
    domain::{
        Cart, Category, Email, Location, LoginSession, Order, OrderId, OrderStatus, Product,
        ProductId, Quantity, Stock, StockDelta, Timestamp, TokenHash, User, UserId, WarehouseId,
        WarehouseSite,
    },
    store::{
        AccountStore, CartStore, CatalogStore, NewProduct, NewUser, OrderStore, OutboxEntry, Page,
        PlaceOrder, Placed, ProductQuery, ProductSort, StepCommit, StoreError, search_terms,
    },
};

use crate::codec::{EffectDoc, OrderDoc, ProductDoc, UserDoc, from_json, to_json};

/// The schema, as numbered migrations: each runs once, in order, in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[(
    1,
    r#"
DEFINE TABLE IF NOT EXISTS account SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS email ON account TYPE string;
DEFINE FIELD IF NOT EXISTS customer ON account TYPE bool;
DEFINE FIELD IF NOT EXISTS doc ON account TYPE string;
DEFINE INDEX IF NOT EXISTS account_email ON account FIELDS email UNIQUE;
DEFINE INDEX IF NOT EXISTS account_customer ON account FIELDS customer;
DEFINE SEQUENCE IF NOT EXISTS account_seq START 1;

DEFINE TABLE IF NOT EXISTS session SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS user ON session TYPE int;
DEFINE FIELD IF NOT EXISTS expires ON session TYPE int;

DEFINE TABLE IF NOT EXISTS product SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS seller ON product TYPE int;
DEFINE FIELD IF NOT EXISTS category ON product TYPE string;
DEFINE FIELD IF NOT EXISTS price ON product TYPE int;
DEFINE FIELD IF NOT EXISTS name_key ON product TYPE string;
DEFINE FIELD IF NOT EXISTS terms ON product TYPE string;
DEFINE FIELD IF NOT EXISTS doc ON product TYPE string;
DEFINE INDEX IF NOT EXISTS product_seller ON product FIELDS seller;
DEFINE INDEX IF NOT EXISTS product_category ON product FIELDS category;
DEFINE INDEX IF NOT EXISTS product_price ON product FIELDS price;
DEFINE ANALYZER IF NOT EXISTS product_prefix TOKENIZERS blank FILTERS edgengram(1, 32);
DEFINE INDEX IF NOT EXISTS product_terms ON product FIELDS terms FULLTEXT ANALYZER product_prefix BM25;
DEFINE SEQUENCE IF NOT EXISTS product_seq START 1;

DEFINE TABLE IF NOT EXISTS warehouse SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS x ON warehouse TYPE int;
DEFINE FIELD IF NOT EXISTS y ON warehouse TYPE int;

DEFINE TABLE IF NOT EXISTS stock SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS warehouse ON stock TYPE int;
DEFINE FIELD IF NOT EXISTS product ON stock TYPE int;
DEFINE FIELD IF NOT EXISTS on_hand ON stock TYPE int;
DEFINE FIELD IF NOT EXISTS incoming ON stock TYPE int;
DEFINE FIELD IF NOT EXISTS reserved ON stock TYPE int;
DEFINE INDEX IF NOT EXISTS stock_product ON stock FIELDS product;

DEFINE TABLE IF NOT EXISTS cart SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS lines ON cart TYPE array<array<int>>;

DEFINE TABLE IF NOT EXISTS customer_order SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS customer ON customer_order TYPE int;
DEFINE FIELD IF NOT EXISTS status ON customer_order TYPE string;
DEFINE FIELD IF NOT EXISTS version ON customer_order TYPE int;
DEFINE FIELD IF NOT EXISTS doc ON customer_order TYPE string;
DEFINE INDEX IF NOT EXISTS order_customer ON customer_order FIELDS customer;
DEFINE INDEX IF NOT EXISTS order_status ON customer_order FIELDS status;
DEFINE SEQUENCE IF NOT EXISTS order_seq START 1;

DEFINE TABLE IF NOT EXISTS checkout_key SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS placed ON checkout_key TYPE int;

DEFINE TABLE IF NOT EXISTS outbox SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS doc ON outbox TYPE string;
DEFINE SEQUENCE IF NOT EXISTS outbox_seq START 1;

DEFINE TABLE IF NOT EXISTS link SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS state ON link TYPE string;
"#,
)];

/// Most attempts of a transaction that keeps losing write conflicts.
const MAX_ATTEMPTS: u32 = 200;

/// A WeShop store on SurrealDB.
#[derive(Clone)]
pub struct SurrealStore {
    db: Surreal<Any>,
}

/// Credentials and names for a SurrealDB server.
#[derive(Debug, Clone)]
pub struct SurrealOptions {
    /// Namespace.
    pub namespace: String,
    /// Database.
    pub database: String,
    /// Root user and password, for servers (embedded engines need none).
    pub root: Option<(String, String)>,
}

impl Default for SurrealOptions {
    fn default() -> Self {
        Self {
            namespace: "weshop".into(),
            database: "shop".into(),
            root: None,
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

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// A query under construction: SQL text plus numbered variables.
#[derive(Clone, Default)]
struct Sql {
    text: String,
    vars: Vec<(String, Value)>,
    statements: usize,
}

impl Sql {
    /// Binds a value; returns its `$name`.
    fn var(&mut self, value: impl SurrealValue) -> String {
        let name = format!("v{}", self.vars.len());
        self.vars.push((name.clone(), value.into_value()));
        format!("${name}")
    }

    /// Adds one statement; returns its index in the results.
    fn push(&mut self, statement: &str) -> usize {
        self.text.push_str(statement);
        self.text.push_str(";\n");
        self.statements += 1;
        self.statements - 1
    }
}

#[derive(SurrealValue)]
struct DocRow {
    doc: String,
}

#[derive(SurrealValue)]
struct UserRow {
    doc: String,
    email: String,
}

#[derive(SurrealValue)]
struct ProductRow {
    doc: String,
    seller: i64,
}

#[derive(SurrealValue)]
struct IdRow {
    id: i64,
}

#[derive(SurrealValue)]
struct StockRow {
    warehouse: i64,
    on_hand: i64,
    incoming: i64,
    reserved: i64,
}

#[derive(SurrealValue)]
struct SessionRow {
    user: i64,
    expires: i64,
}

#[derive(SurrealValue)]
struct WarehouseRow {
    id: i64,
    x: i64,
    y: i64,
}

#[derive(SurrealValue)]
struct CountRow {
    count: i64,
}

#[derive(SurrealValue)]
struct CategoryRow {
    category: String,
    count: i64,
}

#[derive(SurrealValue)]
struct CartRow {
    lines: Vec<Vec<i64>>,
}

#[derive(SurrealValue)]
struct OutboxRow {
    id: i64,
    doc: String,
}

#[derive(SurrealValue)]
struct LinkRow {
    state: String,
}

#[derive(SurrealValue)]
struct PlacedRow {
    placed: i64,
}

#[derive(SurrealValue)]
struct VersionRow {
    version: i64,
}

fn int<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

fn stock_of(row: &StockRow) -> Result<Stock, StoreError> {
    Stock::from_counts(
        int(row.on_hand, "on hand")?,
        int(row.incoming, "incoming")?,
        int(row.reserved, "reserved")?,
    )
    .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The words a product is found by: its name, description and category.
fn product_terms(name: &str, description: &str, category: &str) -> String {
    let mut terms = search_terms(name);
    terms.extend(search_terms(description));
    terms.extend(search_terms(category));
    terms.join(" ")
}

impl SurrealStore {
    /// Opens the database at `url` (see the [module docs](self)) with default names, and runs
    /// any pending migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, SurrealOptions::default()).await
    }

    /// Opens the database at `url` with these names and credentials.
    pub async fn connect_with(url: &str, options: SurrealOptions) -> Result<Self, StoreError> {
        let db = any::connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot open {url}: {e}")))?;
        if let Some((username, password)) = options.root {
            db.signin(Root { username, password })
                .await
                .map_err(|e| StoreError::Backend(format!("sign-in to {url}: {e}")))?;
        }
        db.use_ns(options.namespace)
            .use_db(options.database)
            .await
            .map_err(backend)?;
        let store = Self { db };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema version this code writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let mut response = self
            .db
            .query("SELECT version FROM ONLY meta:schema")
            .await
            .map_err(backend)?;
        let row: Option<VersionRow> = response.take(0).map_err(backend)?;
        Ok(row.map(|r| r.version).unwrap_or(0))
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.db
            .query("DEFINE TABLE IF NOT EXISTS meta SCHEMALESS")
            .await
            .and_then(|r| r.check())
            .map_err(backend)?;
        let current = self.schema_version().await?;
        if current > Self::SCHEMA_VERSION {
            return Err(StoreError::Backend(format!(
                "the database has schema version {current}, newer than this program's {}",
                Self::SCHEMA_VERSION
            )));
        }
        for (version, script) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            let mut sql = Sql::default();
            sql.push("BEGIN TRANSACTION");
            for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sql.push(statement);
            }
            let v = sql.var(*version);
            sql.push(&format!("UPSERT meta:schema SET version = {v}"));
            sql.push("COMMIT TRANSACTION");
            self.run(&sql)
                .await
                .map_err(|e| StoreError::Backend(format!("migration {version}: {}", message(e))))?;
            tracing::info!(version, "storage schema migrated");
        }
        Ok(())
    }

    /// The next value of a sequence (ids are never reused; a crash may leave gaps).
    async fn next_id(&self, sequence: &str) -> Result<i64, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(sequence.to_string());
        sql.push(&format!("RETURN sequence::nextval({v})"));
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let id: Option<i64> = response.take(0).map_err(backend)?;
        id.ok_or_else(|| backend(format!("{sequence} returned nothing")))
    }

    /// Runs a query once; per-statement errors become a [`TxError`].
    async fn run(&self, sql: &Sql) -> Result<surrealdb::IndexedResults, TxError> {
        let mut query = self.db.query(sql.text.as_str());
        for (name, value) in &sql.vars {
            query = query.bind((name.clone(), value.clone()));
        }
        let mut response = query.await.map_err(|e| classify(&e))?;
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
        let mut backoff = Duration::from_millis(1);
        for attempt in 1..=MAX_ATTEMPTS {
            match self.run(&build()).await {
                Err(TxError::Conflict) if attempt < MAX_ATTEMPTS => {
                    let jitter = rand_millis(backoff.as_millis() as u64 + 1);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                    backoff = (backoff * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
        Err(TxError::Conflict)
    }

    async fn read<T: SurrealValue>(&self, sql: Sql) -> Result<Vec<T>, StoreError> {
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        response.take(0).map_err(backend)
    }

    /// Appends stock changes to a block: each upserts its row and throws
    /// `stock:PRODUCT:WAREHOUSE:AVAILABLE_BEFORE` if its counts would break the invariant.
    fn push_stock(sql: &mut Sql, deltas: &[StockDelta]) {
        for d in deltas {
            let w = sql.var(i64::from(d.warehouse.get()));
            let p = sql.var(d.product.get());
            let oh = sql.var(d.on_hand);
            let inc = sql.var(d.incoming);
            let res = sql.var(d.reserved);
            let net = sql.var(d.on_hand + d.incoming - d.reserved);
            let row = format!("$s{}", sql.statements);
            sql.push(&format!(
                "LET {row} = (UPSERT ONLY type::record('stock', [{w}, {p}]) SET \
                 warehouse = {w}, product = {p}, on_hand = (on_hand ?? 0) + {oh}, \
                 incoming = (incoming ?? 0) + {inc}, reserved = (reserved ?? 0) + {res} \
                 RETURN AFTER)"
            ));
            sql.push(&format!(
                "IF {row}.on_hand < 0 OR {row}.incoming < 0 OR {row}.reserved < 0 \
                 OR {row}.reserved > {row}.on_hand + {row}.incoming {{ \
                 THROW 'stock:' + <string>{p} + ':' + <string>{w} + ':' + \
                 <string>({row}.on_hand + {row}.incoming - {row}.reserved - {net}) }}"
            ));
        }
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

#[async_trait]
impl AccountStore for SurrealStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let id = self.next_id("account_seq").await?;
        let user = user.with_id(UserId::new(id).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        let mut sql = Sql::default();
        let id = sql.var(user.id.get());
        let email = sql.var(user.email.as_str().to_string());
        let customer = sql.var(user.roles.customer);
        let doc = sql.var(to_json(&UserDoc::from(&user)));
        sql.push(&format!(
            "CREATE type::record('account', {id}) SET email = {email}, customer = {customer}, \
             doc = {doc}"
        ));
        match self.run(&sql).await {
            Ok(_) => Ok(user),
            // The unique index on email refuses a second account.
            Err(TxError::Other(text)) if text.contains("account_email") => {
                Err(StoreError::Duplicate(format!("email {}", user.email)))
            }
            Err(e) => Err(backend(message(e))),
        }
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc, email FROM type::record('account', {v})"
        ));
        let rows: Vec<UserRow> = self.read(sql).await?;
        rows.into_iter().next().map(user_of).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(email.as_str().to_string());
        sql.push(&format!("SELECT doc, email FROM account WHERE email = {v}"));
        let rows: Vec<UserRow> = self.read(sql).await?;
        rows.into_iter().next().map(user_of).transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let id = sql.var(user.id.get());
        let customer = sql.var(user.roles.customer);
        let doc = sql.var(to_json(&UserDoc::from(user)));
        let updated = sql.push(&format!(
            "UPDATE type::record('account', {id}) SET customer = {customer}, doc = {doc} \
             RETURN VALUE record::id(id)"
        ));
        let mut response = self
            .transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        let ids: Vec<i64> = response.take(updated).map_err(backend)?;
        if ids.is_empty() {
            return Err(StoreError::NotFound(format!("user {}", user.id)));
        }
        Ok(())
    }

    async fn customers(&self) -> Result<Vec<UserId>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT record::id(id) AS id FROM account WHERE customer = true ORDER BY id");
        let rows: Vec<IdRow> = self.read(sql).await?;
        let mut ids = rows
            .into_iter()
            .map(|r| UserId::new(r.id).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let token = sql.var(session.token.as_str().to_string());
        let user = sql.var(session.user.get());
        let expires = sql.var(i64::try_from(session.expires.millis()).unwrap_or(i64::MAX));
        sql.push(&format!(
            "UPSERT type::record('session', {token}) SET user = {user}, expires = {expires}"
        ));
        self.run(&sql).await.map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(token.as_str().to_string());
        sql.push(&format!(
            "SELECT user, expires FROM type::record('session', {v})"
        ));
        let rows: Vec<SessionRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| {
                Ok(LoginSession {
                    user: UserId::new(r.user).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    token: token.clone(),
                    expires: Timestamp(int(r.expires, "expiry")?),
                })
            })
            .transpose()
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(token.as_str().to_string());
        sql.push(&format!(
            "DELETE type::record('session', {v}) RETURN BEFORE"
        ));
        let rows: Vec<Value> = self.read(sql).await?;
        Ok(!rows.is_empty())
    }
}

#[async_trait]
impl CatalogStore for SurrealStore {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        let id = ProductId::new(self.next_id("product_seq").await?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let product = product.with_id(id);
        let mut sql = Sql::default();
        let statement = product_write(&mut sql, &product, "CREATE");
        sql.push(&statement);
        self.run(&sql).await.map_err(|e| backend(message(e)))?;
        Ok(product)
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc, seller FROM type::record('product', {v})"
        ));
        let rows: Vec<ProductRow> = self.read(sql).await?;
        rows.into_iter().next().map(product_of).transpose()
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let statement = product_write(&mut sql, product, "UPDATE");
        let updated = sql.push(&format!("{statement} RETURN VALUE record::id(id)"));
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let ids: Vec<i64> = response.take(updated).map_err(backend)?;
        if ids.is_empty() {
            return Err(StoreError::NotFound(format!("product {}", product.id)));
        }
        Ok(())
    }

    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "DELETE type::record('product', {v}) RETURN BEFORE"
        ));
        let rows: Vec<Value> = self.read(sql).await?;
        Ok(!rows.is_empty())
    }

    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let mut sql = Sql::default();
        let mut filters = Vec::new();
        let terms = query.text.as_deref().map(search_terms).unwrap_or_default();
        let text = !terms.is_empty();
        if text {
            let q = sql.var(terms.join(" "));
            filters.push(format!("terms @1@ {q}"));
        }
        if let Some(category) = &query.category {
            let v = sql.var(category.as_str().to_string());
            filters.push(format!("category = {v}"));
        }
        if let Some(seller) = query.seller {
            let v = sql.var(seller.get());
            filters.push(format!("seller = {v}"));
        }
        if let Some(min) = query.min_price {
            let v = sql.var(min);
            filters.push(format!("price >= {v}"));
        }
        if let Some(max) = query.max_price {
            let v = sql.var(max);
            filters.push(format!("price <= {v}"));
        }
        let filter = if filters.is_empty() {
            "true".to_string()
        } else {
            filters.join(" AND ")
        };
        let order = match query.sort {
            ProductSort::Relevance if text => "score DESC, pid DESC",
            ProductSort::Relevance | ProductSort::Newest => "pid DESC",
            ProductSort::PriceAsc => "price ASC, pid ASC",
            ProductSort::PriceDesc => "price DESC, pid ASC",
            ProductSort::Name => "name_key ASC, pid ASC",
        };
        let score = if text {
            ", search::score(1) AS score"
        } else {
            ""
        };
        let limit = sql.var(query.limit as i64);
        let start = sql.var(query.offset as i64);
        let rows_at = sql.push(&format!(
            "SELECT doc, seller, record::id(id) AS pid, price, name_key{score} FROM product \
             WHERE {filter} ORDER BY {order} LIMIT {limit} START {start}"
        ));
        let count_at = sql.push(&format!(
            "SELECT count() AS count FROM product WHERE {filter} GROUP ALL"
        ));
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let rows: Vec<ProductRow> = response.take(rows_at).map_err(backend)?;
        let count: Option<CountRow> = response.take(count_at).map_err(backend)?;
        let items = rows
            .into_iter()
            .map(product_of)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total: count.map(|c| c.count.max(0) as u64).unwrap_or(0),
        })
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT category, count() AS count FROM product GROUP BY category");
        let rows: Vec<CategoryRow> = self.read(sql).await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok((
                    Category::parse(&r.category).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    r.count.max(0) as u64,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        Ok(out)
    }

    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let id = sql.var(i64::from(warehouse.id.get()));
        let x = sql.var(i64::from(warehouse.location.x));
        let y = sql.var(i64::from(warehouse.location.y));
        sql.push(&format!(
            "UPSERT type::record('warehouse', {id}) SET x = {x}, y = {y}"
        ));
        self.run(&sql).await.map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT record::id(id) AS id, x, y FROM warehouse");
        let rows: Vec<WarehouseRow> = self.read(sql).await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(WarehouseSite {
                    id: WarehouseId::new(int(r.id, "warehouse id")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    location: Location::new(int(r.x, "x")?, int(r.y, "y")?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|w| w.id);
        Ok(out)
    }

    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(product.get());
        sql.push(&format!(
            "SELECT warehouse, on_hand, incoming, reserved FROM stock WHERE product = {v}"
        ));
        let rows: Vec<StockRow> = self.read(sql).await?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok((
                    WarehouseId::new(int(r.warehouse, "warehouse id")?)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    stock_of(r)?,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by_key(|(w, _)| *w);
        Ok(out)
    }

    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        self.transact(|| {
            let mut sql = Sql::default();
            sql.push("BEGIN TRANSACTION");
            Self::push_stock(&mut sql, deltas);
            sql.push("COMMIT TRANSACTION");
            sql
        })
        .await
        .map_err(Self::failure)?;
        Ok(())
    }
}

/// A CREATE or UPDATE of a product record, without its terminator.
fn product_write(sql: &mut Sql, product: &Product, verb: &str) -> String {
    let id = sql.var(product.id.get());
    let seller = sql.var(product.seller.get());
    let category = sql.var(product.category.as_str().to_string());
    let price = sql.var(product.price.minor());
    let name_key = sql.var(product.name.as_str().to_lowercase());
    let terms = sql.var(product_terms(
        product.name.as_str(),
        product.description.as_str(),
        product.category.as_str(),
    ));
    let doc = sql.var(to_json(&ProductDoc::from(product)));
    // The seller of a product never changes: only CREATE sets it.
    let seller = if verb == "CREATE" {
        format!("seller = {seller}, ")
    } else {
        String::new()
    };
    format!(
        "{verb} type::record('product', {id}) SET {seller}category = {category}, \
         price = {price}, name_key = {name_key}, terms = {terms}, doc = {doc}"
    )
}

#[async_trait]
impl CartStore for SurrealStore {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(user.get());
        sql.push(&format!("SELECT lines FROM type::record('cart', {v})"));
        let rows: Vec<CartRow> = self.read(sql).await?;
        let mut cart = Cart::new();
        for row in rows {
            for line in row.lines {
                let [product, quantity] = line[..] else {
                    return Err(StoreError::Corrupt("cart line".into()));
                };
                let product =
                    ProductId::new(product).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                let quantity =
                    Quantity::new(quantity).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                cart.add(product, quantity)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            }
        }
        Ok(cart)
    }

    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(user.get());
        if cart.is_empty() {
            sql.push(&format!("DELETE type::record('cart', {v})"));
        } else {
            let lines: Vec<Vec<i64>> = cart
                .lines()
                .map(|(p, q)| vec![p.get(), i64::from(q.get())])
                .collect();
            let lines = sql.var(lines);
            sql.push(&format!(
                "UPSERT type::record('cart', {v}) SET lines = {lines}"
            ));
        }
        self.transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        Ok(())
    }
}

fn push_order(sql: &mut Sql, order: &Order, verb: &str) -> String {
    let id = sql.var(order.id().get());
    let customer = sql.var(order.customer().get());
    let status = sql.var(order.status().as_str().to_string());
    let version = sql.var(order.version() as i64);
    let doc = sql.var(to_json(&OrderDoc::from(order)));
    format!(
        "{verb} type::record('customer_order', {id}) SET customer = {customer}, \
         status = {status}, version = {version}, doc = {doc}"
    )
}

/// A user from its row: the email column is the truth (it is the login and never changes).
fn user_of(row: UserRow) -> Result<User, StoreError> {
    let mut user = from_json::<UserDoc>(&row.doc)?.parse()?;
    user.email = Email::parse(&row.email).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(user)
}

/// A product from its row: the seller column is the truth (it never changes).
fn product_of(row: ProductRow) -> Result<Product, StoreError> {
    let mut product = from_json::<ProductDoc>(&row.doc)?.parse()?;
    product.seller = UserId::new(row.seller).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(product)
}

fn orders_from(rows: Vec<DocRow>) -> Result<Vec<Order>, StoreError> {
    rows.into_iter()
        .map(|r| from_json::<OrderDoc>(&r.doc)?.parse())
        .collect()
}

#[async_trait]
impl OrderStore for SurrealStore {
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        OrderId::new(self.next_id("order_seq").await?)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        let result = self
            .transact(|| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                let u = sql.var(user.get());
                let key = sql.var(placement.idempotency_key.clone());
                let placed = sql.var(placement.order.id().get());
                sql.push(&format!(
                    "IF (SELECT placed FROM type::record('checkout_key', [{u}, {key}])) != [] \
                     {{ THROW 'idempotent' }}"
                ));
                sql.push(&format!(
                    "CREATE type::record('checkout_key', [{u}, {key}]) SET placed = {placed}"
                ));
                Self::push_stock(&mut sql, &placement.reservations);
                let create = push_order(&mut sql, &placement.order, "CREATE");
                sql.push(&create);
                sql.push(&format!("DELETE type::record('cart', {u})"));
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        match result {
            Ok(_) => Ok(Placed::Created(placement.order)),
            Err(TxError::Thrown(text)) if text == "idempotent" => {
                let order = self
                    .order_for_key(user, &placement.idempotency_key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("idempotency key without order".into()))?;
                Ok(Placed::Existing(order))
            }
            Err(error) => Err(Self::failure(error)),
        }
    }

    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        let k = sql.var(key.to_string());
        sql.push(&format!(
            "SELECT placed FROM type::record('checkout_key', [{u}, {k}])"
        ));
        let rows: Vec<PlacedRow> = self.read(sql).await?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => {
                let id =
                    OrderId::new(row.placed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                self.order(id).await
            }
        }
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc FROM type::record('customer_order', {v})"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        Ok(orders_from(rows)?.into_iter().next())
    }

    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(customer.get());
        sql.push(&format!(
            "SELECT doc, record::id(id) AS oid FROM customer_order WHERE customer = {v} \
             ORDER BY oid DESC"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        let mut sql = Sql::default();
        let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_string()).collect();
        let v = sql.var(names);
        sql.push(&format!(
            "SELECT doc, record::id(id) AS oid FROM customer_order WHERE status IN {v} \
             ORDER BY oid ASC"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        let docs: Vec<String> = step
            .effects
            .iter()
            .map(|e| to_json(&EffectDoc::from(e)))
            .collect();
        let mut created = Vec::new();
        let mut response = self
            .transact(|| {
                let mut sql = Sql::default();
                created.clear();
                sql.push("BEGIN TRANSACTION");
                for (order, version) in &step.orders {
                    let id = sql.var(order.id().get());
                    let expected = sql.var(*version as i64);
                    let row = format!("$o{}", sql.statements);
                    sql.push(&format!(
                        "LET {row} = (SELECT version FROM ONLY type::record('customer_order', {id}))"
                    ));
                    sql.push(&format!(
                        "IF {row}.version != {expected} {{ THROW 'conflict:order ' + <string>{id} + ' changed meanwhile' }}"
                    ));
                    let update = push_order(&mut sql, order, "UPDATE");
                    sql.push(&update);
                }
                Self::push_stock(&mut sql, &step.stock);
                for doc in &docs {
                    let d = sql.var(doc.clone());
                    created.push(sql.push(&format!(
                        "CREATE type::record('outbox', sequence::nextval('outbox_seq')) \
                         SET doc = {d} RETURN record::id(id) AS id"
                    )));
                }
                for id in &step.done {
                    let v = sql.var(*id as i64);
                    sql.push(&format!("DELETE type::record('outbox', {v})"));
                }
                for (name, state) in &step.links {
                    let n = sql.var(name.clone());
                    let s = sql.var(BASE64.encode(state));
                    sql.push(&format!(
                        "UPSERT type::record('link', {n}) SET state = {s}"
                    ));
                }
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await
            .map_err(Self::failure)?;
        let mut entries = Vec::new();
        for (index, effect) in created.into_iter().zip(step.effects) {
            let rows: Vec<IdRow> = response.take(index).map_err(backend)?;
            let id = rows.first().ok_or_else(|| backend("no outbox id"))?.id;
            entries.push(OutboxEntry {
                id: int(id, "outbox id")?,
                effect,
            });
        }
        Ok(entries)
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT record::id(id) AS id, doc FROM outbox ORDER BY id ASC");
        let rows: Vec<OutboxRow> = self.read(sql).await?;
        let mut entries = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxEntry {
                    id: int(r.id, "outbox id")?,
                    effect: from_json::<EffectDoc>(&r.doc)?.parse()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }

    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(link.to_string());
        sql.push(&format!("SELECT state FROM type::record('link', {v})"));
        let rows: Vec<LinkRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| {
                BASE64
                    .decode(r.state)
                    .map_err(|e| StoreError::Corrupt(format!("link state: {e}")))
            })
            .transpose()
    }
}
