//! Building a query: SQL text with numbered variables bound to it.

use surrealdb::types::{SurrealValue, Value};

/// The tracing target of each query's kind and duration (debug level:
/// `tracing`'s static maximum in this build, which a dependency sets): `kind`, its first
/// statement after `BEGIN`/`LET`s, cut at 64 bytes; `micros`, from sending it to its results.
pub const TIMING_TARGET: &str = "weshop_storage::query";

/// A query under construction: SQL text plus numbered variables.
#[derive(Clone, Default)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) vars: Vec<(String, Value)>,
    pub(super) statements: usize,
}

/// An `UPSERT` of `record`, as an expression: an `UPDATE` setting `update`, or, when the record
/// does not exist, a `CREATE` setting `create`; both `RETURN ret`, which must not be NONE for a
/// record that exists (`??` evaluates its right side only when its left is NONE or NULL).
///
/// For records that nearly always exist (stock rows, carts, heads, link states): SurrealDB 3.3
/// runs an `UPSERT` of an existing record as a `CREATE` that fails (an error raised, with a
/// backtrace captured when `RUST_BACKTRACE` is set) and is rolled back to a save point before
/// the `UPDATE`, ~58 µs of the engine's CPU a record against ~40 for this (mem://, 100 records
/// a transaction).
pub(super) fn upsert(record: &str, update: &str, create: &str, ret: &str) -> String {
    format!(
        "((UPDATE ONLY {record} SET {update} RETURN {ret}) ?? \
         (CREATE ONLY {record} SET {create} RETURN {ret}))"
    )
}

/// [`upsert`] setting the same `fields` whether the record exists or not, for a statement
/// whose value nobody reads (it returns the record's id, so the `CREATE` never runs after an
/// `UPDATE` that found the record).
pub(super) fn put(record: &str, fields: &str) -> String {
    upsert(record, fields, fields, "VALUE id")
}

impl Sql {
    /// Binds a value; returns its `$name`.
    pub(super) fn var(&mut self, value: impl SurrealValue) -> String {
        let name = format!("v{}", self.vars.len());
        self.vars.push((name.clone(), value.into_value()));
        format!("${name}")
    }

    /// Adds one statement; returns its index in the results.
    pub(super) fn push(&mut self, statement: &str) -> usize {
        self.text.push_str(statement);
        self.text.push_str(";\n");
        self.statements += 1;
        self.statements - 1
    }

    /// What this query does, for timings: its first statement other than `BEGIN` and `LET`,
    /// cut short (variables are `$vN`, so queries of one kind share it).
    pub(super) fn kind(&self) -> &str {
        let first = self
            .text
            .split(";\n")
            .map(str::trim)
            .find(|s| !s.is_empty() && !s.starts_with("BEGIN") && !s.starts_with("LET "))
            .unwrap_or("");
        let mut end = first.len().min(64);
        while !first.is_char_boundary(end) {
            end -= 1;
        }
        &first[..end]
    }
}
