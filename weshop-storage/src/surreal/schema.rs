//! The schema, as numbered migrations, and the migration runner.

use weshop_core::store::StoreError;

use super::{
    SurrealStore, backend, message,
    orders::products_of,
    query::Sql,
    rows::{DocRow, VersionRow, orders_from},
};

/// The schema, as numbered migrations: each runs once, in order, in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (
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
    ),
    // Ending every other session of a user (on a password change) without a scan.
    (
        2,
        "DEFINE INDEX IF NOT EXISTS session_user ON session FIELDS user;",
    ),
    // Product pictures, both sizes of each (base64 JPEG), keyed by their content-derived id.
    (
        3,
        r#"
DEFINE TABLE IF NOT EXISTS picture SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS thumbnail ON picture TYPE string;
DEFINE FIELD IF NOT EXISTS large ON picture TYPE string;
"#,
    ),
    // The products each order has lines of, for sellers' sales (older orders are filled in
    // by `backfill_order_products` after this runs).
    (
        4,
        r#"
DEFINE FIELD IF NOT EXISTS products ON customer_order TYPE option<array<int>>;
DEFINE INDEX IF NOT EXISTS order_products ON customer_order FIELDS products;
"#,
    ),
    // What each idempotency key is bound to (keys kept before have none, and are not checked).
    (
        5,
        "DEFINE FIELD IF NOT EXISTS fingerprint ON checkout_key TYPE option<string>;",
    ),
    // Promotions go only to customers who opted in (nobody had, before this).
    (
        6,
        r#"
DEFINE FIELD IF NOT EXISTS promotions ON account TYPE bool DEFAULT false;
UPDATE account SET promotions = false WHERE promotions = NONE;
DEFINE INDEX IF NOT EXISTS account_promotions ON account FIELDS customer, promotions;
"#,
    ),
    // The simulated payment gateway's journal: every call, in order, so its cards and
    // authorizations survive a restart.
    (
        7,
        r#"
DEFINE TABLE IF NOT EXISTS payment_record SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS line ON payment_record TYPE string;
DEFINE SEQUENCE IF NOT EXISTS payment_seq START 1;
"#,
    ),
    // Users' inboxes, and the mail queue they hold (`pending`); each key filed once.
    (
        8,
        r#"
DEFINE TABLE IF NOT EXISTS notification SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS user ON notification TYPE int;
DEFINE FIELD IF NOT EXISTS read ON notification TYPE bool;
DEFINE FIELD IF NOT EXISTS pending ON notification TYPE bool;
DEFINE FIELD IF NOT EXISTS doc ON notification TYPE string;
DEFINE FIELD IF NOT EXISTS mail ON notification TYPE string;
DEFINE INDEX IF NOT EXISTS notification_user ON notification FIELDS user, read;
DEFINE INDEX IF NOT EXISTS notification_pending ON notification FIELDS pending;
DEFINE SEQUENCE IF NOT EXISTS notification_seq START 1;

DEFINE TABLE IF NOT EXISTS notification_key SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS notification ON notification_key TYPE record<notification>;
"#,
    ),
    // Sellers' campaigns, and each seller's rate-limit slot (one record per seller, so two
    // racing starts write the same record and one of them loses).
    (
        9,
        r#"
DEFINE TABLE IF NOT EXISTS campaign SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS seller ON campaign TYPE int;
DEFINE FIELD IF NOT EXISTS text ON campaign TYPE string;
DEFINE FIELD IF NOT EXISTS at ON campaign TYPE int;
DEFINE FIELD IF NOT EXISTS recipients ON campaign TYPE int;
DEFINE FIELD IF NOT EXISTS sent ON campaign TYPE bool;
DEFINE INDEX IF NOT EXISTS campaign_seller ON campaign FIELDS seller;
DEFINE INDEX IF NOT EXISTS campaign_sent ON campaign FIELDS sent;
DEFINE SEQUENCE IF NOT EXISTS campaign_seq START 1;

DEFINE TABLE IF NOT EXISTS campaign_clock SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS at ON campaign_clock TYPE int;
"#,
    ),
    // Leases: which node plays a one-player role (the fulfilment leader), until when, at
    // which term; `commits` was written by every commit fenced by the lease (until 13).
    (
        10,
        r#"
DEFINE TABLE IF NOT EXISTS lease SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS holder ON lease TYPE string;
DEFINE FIELD IF NOT EXISTS term ON lease TYPE int;
DEFINE FIELD IF NOT EXISTS until ON lease TYPE int;
DEFINE FIELD IF NOT EXISTS commits ON lease TYPE int DEFAULT 0;
"#,
    ),
    // The payment journal's head: the last record's position, written by every append in
    // the same transaction, so appends from several nodes commit in position order.
    (
        11,
        r#"
DEFINE TABLE IF NOT EXISTS payment_head SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS last ON payment_head TYPE int;
"#,
    ),
    // The change journal the change feed follows (see changes.rs): every transaction that
    // touches orders, products or stock also writes what it touched (and which process wrote
    // it) to one of a bounded set of slots, so a live query hears one notification per
    // transaction.
    (
        12,
        r#"
DEFINE TABLE IF NOT EXISTS change SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS origin ON change TYPE string;
DEFINE FIELD IF NOT EXISTS orders ON change TYPE array<array<int>>;
DEFINE FIELD IF NOT EXISTS products ON change TYPE array<int>;
DEFINE FIELD IF NOT EXISTS stock ON change TYPE array<int>;
"#,
    ),
    // A lease's term apart from its expiry (see leases.rs): fenced commits write the term's
    // record, renewals only the lease's, so the two never conflict.
    (
        13,
        r#"
DEFINE TABLE IF NOT EXISTS lease_term SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS term ON lease_term TYPE int;
DEFINE FIELD IF NOT EXISTS commits ON lease_term TYPE int DEFAULT 0;
FOR $lease IN (SELECT id, term FROM lease) {
    UPSERT type::record('lease_term', record::id($lease.id)) SET term = $lease.term;
};
"#,
    ),
    // The outbox as one record per fulfilment step (see outbox.rs); the entries written one
    // per record move in, keeping their ids (entry n mod 2^20 of step floor(n / 2^20)).
    (
        14,
        r#"
DEFINE TABLE IF NOT EXISTS outbox_step SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS entries ON outbox_step TYPE array<{ i: int, doc: string }>;
FOR $r IN (SELECT record::id(id) AS id, doc FROM outbox) {
    UPSERT type::record('outbox_step', <int> math::floor($r.id / 1048576))
        SET entries = (entries ?? []).concat([{ i: $r.id % 1048576, doc: $r.doc }]);
};
DELETE outbox;
"#,
    ),
    // Ids claimed in blocks (see ids.rs) and outbox steps numbered from a head written in
    // each step's transaction (see outbox.rs), instead of sequences that commit every value
    // apart; each starts past every value its sequence gave.
    (
        15,
        r#"
DEFINE TABLE IF NOT EXISTS id_block SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS next ON id_block TYPE int;
FOR $s IN ['account_seq', 'product_seq', 'order_seq', 'notification_seq', 'campaign_seq'] {
    UPSERT type::record('id_block', $s) SET next = sequence::nextval($s);
};
DEFINE TABLE IF NOT EXISTS outbox_head SCHEMAFULL;
DEFINE FIELD IF NOT EXISTS last ON outbox_head TYPE int;
UPSERT outbox_head:head SET last = sequence::nextval('outbox_seq');
"#,
    ),
    // An outbox step lists its effects not yet performed by index (see outbox.rs), so a
    // pass marks them with a native array function instead of a closure over the entries.
    (
        16,
        r#"
DEFINE FIELD IF NOT EXISTS pending ON outbox_step TYPE array<int>;
UPDATE outbox_step SET pending = entries.i;
"#,
    ),
    // The tables an order's path writes stop pruning undeclared fields: on each write to a
    // SCHEMAFULL table SurrealDB 3.3 walks every field path of the record (each element of
    // an outbox step's entries, of a cart's lines) to find undeclared ones, ~4% of the CPU
    // per order in the orders bench. Nothing here writes an undeclared field; the declared
    // fields keep their types, which every write is still checked against.
    // (`SCHEMALESS_TABLES` lists them, for `undeclared_fields`.)
    (
        17,
        r#"
ALTER TABLE customer_order SCHEMALESS;
ALTER TABLE checkout_key SCHEMALESS;
ALTER TABLE cart SCHEMALESS;
ALTER TABLE stock SCHEMALESS;
ALTER TABLE outbox_step SCHEMALESS;
ALTER TABLE outbox_head SCHEMALESS;
ALTER TABLE link SCHEMALESS;
ALTER TABLE change SCHEMALESS;
ALTER TABLE notification SCHEMALESS;
ALTER TABLE notification_key SCHEMALESS;
ALTER TABLE payment_record SCHEMALESS;
ALTER TABLE payment_head SCHEMALESS;
ALTER TABLE id_block SCHEMALESS;
"#,
    ),
    // Orders are found by their stage (`orders::stage_of`), which changes twice on an order's
    // way, instead of by their status, which changes six times, each change an index entry
    // deleted and one inserted.
    (
        18,
        r#"
DEFINE FIELD IF NOT EXISTS stage ON customer_order TYPE string DEFAULT 'open';
UPDATE customer_order SET stage = 'moving' WHERE status IN ['packing', 'packed', 'truck_requested', 'loading', 'loaded', 'delivering'] RETURN NONE;
UPDATE customer_order SET stage = 'ended' WHERE status IN ['delivered', 'cancelled', 'failed'] RETURN NONE;
UPDATE customer_order SET stage = 'open' WHERE status IN ['placed', 'waiting_for_stock'] RETURN NONE;
DEFINE INDEX IF NOT EXISTS order_stage ON customer_order FIELDS stage;
REMOVE INDEX IF EXISTS order_status ON customer_order;
"#,
    ),
];

/// The tables migration 17 made SCHEMALESS: SurrealDB no longer refuses a field they do not
/// declare, so [`SurrealStore::undeclared_fields`] looks for one.
const SCHEMALESS_TABLES: &[&str] = &[
    "customer_order",
    "checkout_key",
    "cart",
    "stock",
    "outbox_step",
    "outbox_head",
    "link",
    "change",
    "notification",
    "notification_key",
    "payment_record",
    "payment_head",
    "id_block",
];

impl SurrealStore {
    /// The schema version this code writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

    /// The schema version of the open database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let mut response = self
            .db
            .query("SELECT version FROM ONLY meta:schema".into(), Vec::new())
            .await
            .map_err(backend)?;
        let row: Option<VersionRow> = response.take(0).map_err(backend)?;
        Ok(row.map(|r| r.version).unwrap_or(0))
    }

    /// The fields stored in records of the SCHEMALESS tables that their table does not
    /// declare, as `table.field` (top-level fields; nested ones are checked by the declared
    /// types): none, unless something other than this code wrote them.
    pub async fn undeclared_fields(&self) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        for table in SCHEMALESS_TABLES {
            let mut sql = Sql::default();
            sql.push(&format!(
                "LET $declared = object::keys((INFO FOR TABLE {table}).fields)"
            ));
            let at = sql.push(&format!(
                "array::distinct(array::flatten(SELECT VALUE object::keys($this) FROM {table}))\
                 .filter(|$f| $f != 'id' AND $f NOTINSIDE $declared)"
            ));
            let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
            let fields: Vec<String> = response.take(at).map_err(backend)?;
            found.extend(fields.into_iter().map(|f| format!("{table}.{f}")));
        }
        Ok(found)
    }

    /// Brings the schema up to date. Retried while it loses write conflicts: on a server,
    /// stores opening at once (several nodes starting, or databases being created side by
    /// side in one namespace) conflict on defining what they share, and every step here is
    /// idempotent (`IF NOT EXISTS`, the version read again).
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        let mut backoff = std::time::Duration::from_millis(5);
        let mut attempt = 1;
        let mut reached = 0;
        loop {
            match self.migrate_once().await {
                Err(StoreError::Backend(error))
                    if attempt < 30 && error.to_lowercase().contains("conflict") =>
                {
                    tracing::debug!(attempt, "schema migration lost a write conflict: {error}");
                    // Counted afresh after each migration that lands: stores opening
                    // together take turns winning, and every migration is another chance to
                    // conflict (eight opening at once on a server ran out of ten in all).
                    let now = self.schema_version().await.unwrap_or(reached);
                    if now > reached {
                        reached = now;
                        attempt = 1;
                    }
                    let jitter = super::rand_millis(backoff.as_millis() as u64 + 1);
                    tokio::time::sleep(backoff + std::time::Duration::from_millis(jitter)).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_millis(500));
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn migrate_once(&self) -> Result<(), StoreError> {
        self.db
            .query(
                "DEFINE TABLE IF NOT EXISTS meta SCHEMALESS".into(),
                Vec::new(),
            )
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
            if *version == 4 {
                self.backfill_order_products().await?;
            }
        }
        Ok(())
    }

    /// Fills in `products` for orders stored before migration 4 (read from their documents).
    async fn backfill_order_products(&self) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT doc, record::id(id) AS oid FROM customer_order WHERE products = NONE");
        let rows: Vec<DocRow> = self.read(sql).await?;
        let orders = orders_from(rows)?;
        for chunk in orders.chunks(500) {
            let mut sql = Sql::default();
            sql.push("BEGIN TRANSACTION");
            for order in chunk {
                let id = sql.var(order.id().get());
                let products = sql.var(products_of(order));
                sql.push(&format!(
                    "UPDATE type::record('customer_order', {id}) SET products = {products}"
                ));
            }
            sql.push("COMMIT TRANSACTION");
            self.run(&sql)
                .await
                .map_err(|e| StoreError::Backend(format!("migration 4: {}", message(e))))?;
        }
        if !orders.is_empty() {
            tracing::info!(orders = orders.len(), "orders' products filled in");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use surrealdb::types::SurrealValue;
    use weshop_core::domain::OrderStatus;

    use super::*;

    /// The audit covers exactly the tables migration 17 made SCHEMALESS.
    #[test]
    fn the_audit_covers_migration_17() {
        let (_, script) = MIGRATIONS.iter().find(|(v, _)| *v == 17).unwrap();
        let altered: Vec<&str> = script
            .lines()
            .filter_map(|l| l.strip_prefix("ALTER TABLE ")?.strip_suffix(" SCHEMALESS;"))
            .collect();
        assert_eq!(altered, SCHEMALESS_TABLES);
    }

    /// Orders stored before migration 18 (with the `order_status` index, without a stage)
    /// get the stage of their status, and are found through the `order_stage` index.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migration_18_gives_orders_their_stage() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        let mut sql = Sql::default();
        sql.push("REMOVE INDEX order_stage ON customer_order");
        sql.push("REMOVE FIELD stage ON customer_order");
        sql.push("DEFINE INDEX order_status ON customer_order FIELDS status");
        for (id, status) in OrderStatus::ALL.iter().enumerate() {
            let status = sql.var(status.as_str().to_string());
            sql.push(&format!(
                "CREATE type::record('customer_order', {}) SET customer = 1, status = {status}, \
                 version = 0, products = [1], doc = '{{}}'",
                id + 1
            ));
        }
        sql.push("UPSERT meta:schema SET version = 17");
        assert!(store.run(&sql).await.is_ok(), "schema 17 written");
        store.migrate().await.unwrap();

        #[derive(SurrealValue)]
        struct Staged {
            status: String,
            stage: String,
        }
        let mut sql = Sql::default();
        sql.push("SELECT status, stage FROM customer_order ORDER BY id");
        let staged: Vec<Staged> = store.read(sql).await.unwrap();
        assert_eq!(staged.len(), OrderStatus::ALL.len());
        for (row, status) in staged.iter().zip(OrderStatus::ALL) {
            assert_eq!(row.status, status.as_str());
            assert_eq!(
                row.stage,
                super::super::orders::stage_of(status),
                "{status:?}"
            );
        }
        let mut sql = Sql::default();
        sql.push("RETURN object::keys((INFO FOR TABLE customer_order).indexes)");
        let indexes: Vec<String> = store.read(sql).await.unwrap();
        assert!(indexes.contains(&"order_stage".to_string()), "{indexes:?}");
        assert!(
            !indexes.contains(&"order_status".to_string()),
            "{indexes:?}"
        );
    }

    /// A SCHEMALESS table keeps a field it does not declare, and the audit names it; the
    /// declared fields' types are still enforced.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn undeclared_fields_are_found() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        assert_eq!(
            store.undeclared_fields().await.unwrap(),
            Vec::<String>::new()
        );
        let mut sql = Sql::default();
        sql.push("UPSERT cart:1 SET lines = [[1, 2]], stray = 1");
        sql.push("UPSERT stock:[1, 2] SET warehouse = 1, product = 2, on_hand = 0, incoming = 0, reserved = 0");
        assert!(store.run(&sql).await.is_ok());
        assert_eq!(store.undeclared_fields().await.unwrap(), vec!["cart.stray"]);

        let mut sql = Sql::default();
        sql.push("UPSERT cart:2 SET lines = 'not lines'");
        assert!(
            store.run(&sql).await.is_err(),
            "a declared type is enforced"
        );
    }
}
