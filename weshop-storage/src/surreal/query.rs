//! Building a query: SQL text with numbered variables bound to it.

use surrealdb::types::{SurrealValue, Value};

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
}
