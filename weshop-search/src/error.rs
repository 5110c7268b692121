//! Why an index operation failed.

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query has more words than the index will search for
    /// ([`MAX_QUERY_TERMS`](crate::MAX_QUERY_TERMS)); nothing was searched.
    #[error("the query has {words} words; at most {max} are searched")]
    TooManyTerms {
        /// Words in the query.
        words: usize,
        /// The limit.
        max: usize,
    },
    /// The index directory could not be created or opened.
    #[error("search index directory: {0}")]
    Directory(String),
    /// Tantivy failed: I/O, a corrupt or foreign index, a schema that does not match this
    /// version (delete the directory and rebuild: the store is the source of truth).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index holds a value this crate never writes (a corrupt or foreign index).
    #[error("corrupt search index: {0}")]
    Corrupt(String),
}

impl From<std::io::Error> for SearchError {
    fn from(error: std::io::Error) -> Self {
        Self::Index(error.into())
    }
}
