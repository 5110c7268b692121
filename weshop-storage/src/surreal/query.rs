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
