//! The index schema: which fields exist and how each is indexed.
//!
//! Every value a search reads for each match is a fast field (a column), which costs a few
//! nanoseconds to read. Only the name as written is kept in tantivy's document store, read for
//! the ten or so suggestions of an autocomplete: a stored document is found directly by its
//! number, where a value of a text column is found by decoding its dictionary block up to it
//! (a few microseconds each).

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};

use crate::document::WORDS_TOKENIZER;

/// Field names, also used to open fast-field columns.
pub(crate) mod names {
    pub const ID: &str = "id";
    pub const SELLER: &str = "seller";
    pub const PRICE: &str = "price";
    pub const IN_STOCK: &str = "in_stock";
    pub const NAME: &str = "name";
    pub const DESCRIPTION: &str = "description";
    pub const CATEGORY_WORDS: &str = "category_words";
    pub const CATEGORY: &str = "category";
    pub const NAME_KEY: &str = "name_key";
    pub const DISPLAY_NAME: &str = "display_name";
    pub const KIND: &str = "kind";
}

/// The value of [`Fields::kind`] in every document.
pub(crate) const PRODUCT_KIND: &str = "product";

/// The schema and its field handles.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub schema: Schema,
    /// Product id: indexed (to delete a product by id) and a column (tie-breaks, newest).
    pub id: Field,
    /// Seller id, a column (filter).
    pub seller: Field,
    /// Unit price in minor units, a column (filter and sort).
    pub price: Field,
    /// 1 if any unit is sellable, else 0; a column (filter).
    pub in_stock: Field,
    /// Words of the name (split by the store's `search_terms`), for matching and BM25 (term
    /// frequencies, no positions: there are no phrase queries).
    pub name: Field,
    /// Words of the description, likewise.
    pub description: Field,
    /// Words of the category slug ("home-office": "home", "office"), likewise.
    pub category_words: Field,
    /// The category slug, untokenized: indexed (filter, counts) and a column (facets).
    pub category: Field,
    /// The lower-cased name, a column whose ordinals sort like the names (name sort).
    pub name_key: Field,
    /// The name as written, stored (suggestions).
    pub display_name: Field,
    /// [`PRODUCT_KIND`] in every document: deleting this term deletes everything written
    /// before, which is how a rebuild clears the index in the same commit that refills it.
    /// (`IndexWriter::delete_all_documents` rewinds the operation stamps, and in tantivy 0.27
    /// an earlier delete of an id can then hit a new document with that id.)
    pub kind: Field,
}

impl Fields {
    /// The schema of this version of the crate.
    pub fn new() -> Self {
        let mut builder = Schema::builder();
        let words = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(WORDS_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let column = TextOptions::default().set_fast("raw");
        let id = builder.add_i64_field(names::ID, INDEXED | FAST);
        let seller = builder.add_i64_field(names::SELLER, FAST);
        let price = builder.add_i64_field(names::PRICE, FAST);
        let in_stock = builder.add_u64_field(names::IN_STOCK, FAST);
        let name = builder.add_text_field(names::NAME, words.clone());
        let description = builder.add_text_field(names::DESCRIPTION, words.clone());
        let category_words = builder.add_text_field(names::CATEGORY_WORDS, words);
        let category = builder.add_text_field(names::CATEGORY, STRING.set_fast("raw"));
        let name_key = builder.add_text_field(names::NAME_KEY, column);
        let display_name = builder.add_text_field(names::DISPLAY_NAME, STORED);
        let kind = builder.add_text_field(names::KIND, STRING);
        Self {
            schema: builder.build(),
            id,
            seller,
            price,
            in_stock,
            name,
            description,
            category_words,
            category,
            name_key,
            display_name,
            kind,
        }
    }

    /// The searchable text fields with their BM25 boosts.
    pub fn text_fields(&self) -> [(Field, f32); 3] {
        [
            (self.name, crate::NAME_BOOST),
            (self.description, 1.0),
            (self.category_words, 1.0),
        ]
    }
}
