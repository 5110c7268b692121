//! What one order update costs the embedded engine, written the two ways that engine takes
//! writes: as the SurrealQL a fulfilment step commits (the order part of `commit_step`: one read
//! of the block's versions, then an `UPDATE … CONTENT` per order, over bound arrays), and as
//! raw keys in the engine's own transactions (read the old value and check its version, write
//! the new one, move its stage entry). The orders bench spends most of its CPU in the engine's
//! statement execution; this measures how much of one hot write that is (issue 14's floor).
//!
//! `cargo bench -p weshop-storage --bench order_write -- [ORDERS] [ROUNDS]` (defaults 4000
//! and 6). Both run on one surrealkv datastore in a fresh directory, opened with the caps the
//! store uses and the store's own schema (the store migrates it first), a commit per block of
//! 100 orders, every commit synced to disk. The rounds alternate the two ways; every third
//! round moves each order to another stage (an index entry deleted and one inserted), as two
//! of an order's seven steps do. Prints wall and CPU time per order for each round.

use std::{sync::Arc, time::Instant};

use serde::{Deserialize, Serialize};
use surrealdb::{
    Surreal,
    engine::local::Db,
    types::{RecordId, SurrealValue},
};
use surrealdb_engine_local::Datastore;
use surrealdb_kvs::{Key, TransactionType};

/// Orders per commit, as in a busy step.
const BLOCK: usize = 100;

/// An order row as `commit_step` writes it (`OrderWrite`); as raw bytes, the same row as JSON.
#[derive(Clone, Serialize, Deserialize, SurrealValue)]
struct Row {
    id: RecordId,
    customer: i64,
    status: String,
    stage: String,
    version: i64,
    products: Vec<i64>,
    doc: String,
}

fn row(n: usize, version: i64, stage: &str, doc: &str) -> Row {
    Row {
        id: RecordId::new("customer_order", n as i64 + 1),
        customer: (n % 100) as i64 + 1,
        status: format!("status{version}"),
        stage: stage.to_string(),
        version,
        products: vec![(n % 50) as i64 + 1, (n % 7) as i64 + 51],
        doc: doc.to_string(),
    }
}

fn order_key(n: usize) -> Key<'static> {
    let mut key = b"/*bench/order/".to_vec();
    key.extend_from_slice(&(n as u64 + 1).to_be_bytes());
    Key::from(key)
}

fn stage_key(stage: &str, n: usize) -> Key<'static> {
    let mut key = format!("/*bench/stage/{stage}/").into_bytes();
    key.extend_from_slice(&(n as u64 + 1).to_be_bytes());
    Key::from(key)
}

/// This process's user + system CPU seconds (Linux: `/proc/self/stat`, in clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// One round of SurrealQL updates: `commit_step`'s statements for the orders of each block.
async fn sql_round(db: &Surreal<Db>, orders: usize, version: i64, stage: &str, doc: &str) {
    for block in (0..orders).collect::<Vec<_>>().chunks(BLOCK) {
        let rows: Vec<Row> = block.iter().map(|&n| row(n, version, stage, doc)).collect();
        let ids: Vec<RecordId> = rows.iter().map(|r| r.id.clone()).collect();
        let expected: Vec<i64> = vec![version - 1; rows.len()];
        let mut response = db
            .query(
                "BEGIN TRANSACTION;\n\
                 LET $found = (SELECT VALUE version FROM $ids);\n\
                 IF $found != $expected { THROW 'conflict' };\n\
                 FOR $o IN $writes { UPDATE $o.id CONTENT $o RETURN NONE };\n\
                 COMMIT TRANSACTION;",
            )
            .bind(("ids", ids))
            .bind(("expected", expected))
            .bind(("writes", rows))
            .await
            .expect("query");
        let errors = response.take_errors();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

/// One round of the same updates as raw keys.
async fn raw_round(ds: &Datastore, orders: usize, version: i64, stage: &str, doc: &str) {
    for block in (0..orders).collect::<Vec<_>>().chunks(BLOCK) {
        let tx = ds.transaction(TransactionType::Write).await.expect("tx");
        for &n in block {
            let old = tx.get(order_key(n), None).await.expect("get").expect("row");
            let old: Row = serde_json::from_slice(&old).expect("decode");
            assert_eq!(old.version, version - 1, "conflict");
            let raw = row(n, version, stage, doc);
            tx.set(order_key(n), serde_json::to_vec(&raw).expect("encode"))
                .await
                .expect("set");
            // Only the stage changes: its entry moves; customer and products stay.
            if old.stage != raw.stage {
                tx.del(stage_key(&old.stage, n)).await.expect("del");
                tx.set(stage_key(&raw.stage, n), Vec::new())
                    .await
                    .expect("set");
            }
        }
        tx.commit().await.expect("commit");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let orders = args.first().copied().unwrap_or(4000);
    let rounds = args.get(1).copied().unwrap_or(6);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = format!("surrealkv://{}", dir.path().join("db").display());

    // The store's schema, as its migrations leave it.
    let store = weshop_storage::open(&path).await.expect("open store");
    store.close().await.expect("close store");
    drop(store);

    // The caps the store opens its embedded engine with.
    let config = weshop_storage::OpenOptions::default()
        .embedded_memory
        .engine_config();
    let ds = loop {
        match Datastore::builder()
            .with_config(config.clone())
            .build_with_path(&path)
            .await
        {
            Ok(ds) => break Arc::new(ds),
            // The store's engine lets go of its directory a moment after closing.
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    };
    Box::pin(ds.bootstrap()).await.expect("bootstrap");
    let db = Surreal::<Db>::unstable_from_datastore(Arc::clone(&ds), None)
        .await
        .expect("sdk");
    let names = weshop_storage::OpenOptions::default();
    db.use_ns(names.namespace)
        .use_db(names.database)
        .await
        .expect("use");

    let doc = format!("{{\"history\":\"{}\"}}", "x".repeat(880));
    let first: Vec<Row> = (0..orders).map(|n| row(n, 0, "open", &doc)).collect();
    db.query("INSERT INTO customer_order $rows RETURN NONE")
        .bind(("rows", first))
        .await
        .expect("insert")
        .check()
        .expect("inserted");
    {
        let tx = ds.transaction(TransactionType::Write).await.expect("tx");
        for n in 0..orders {
            let raw = row(n, 0, "open", &doc);
            tx.set(order_key(n), serde_json::to_vec(&raw).expect("encode"))
                .await
                .expect("set");
            tx.set(stage_key("open", n), Vec::new()).await.expect("set");
        }
        tx.commit().await.expect("commit");
    }

    println!(
        "{orders} orders, blocks of {BLOCK}, {}-byte documents, surrealkv synced on commit",
        doc.len()
    );
    let mut totals = [(0.0, 0.0, 0usize); 2];
    for version in 1..=rounds as i64 {
        let stage = if version % 3 == 0 { "moving" } else { "open" };
        for (way, name) in ["SurrealQL", "raw keys"].iter().enumerate() {
            let (wall, cpu) = (Instant::now(), cpu_seconds());
            match way {
                0 => sql_round(&db, orders, version, stage, &doc).await,
                _ => raw_round(&ds, orders, version, stage, &doc).await,
            }
            let wall = wall.elapsed().as_secs_f64() * 1e6 / orders as f64;
            let cpu = (cpu_seconds() - cpu) * 1e6 / orders as f64;
            totals[way] = (totals[way].0 + wall, totals[way].1 + cpu, totals[way].2 + 1);
            println!(
                "round {version} {name:>9}: {wall:6.1} µs wall, {cpu:6.1} µs CPU per order{}",
                if version % 3 == 0 {
                    " (stage moved)"
                } else {
                    ""
                }
            );
        }
    }
    for (way, name) in ["SurrealQL", "raw keys"].iter().enumerate() {
        let (wall, cpu, n) = totals[way];
        println!(
            "mean {name:>9}: {:6.1} µs wall, {:6.1} µs CPU per order",
            wall / n as f64,
            cpu / n as f64
        );
    }
    drop(db);
    ds.shutdown().await.expect("shutdown");
}
