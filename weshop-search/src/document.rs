//! What the index is told about a product, and the tantivy document it becomes.

use tantivy::TantivyDocument;
use tantivy::tokenizer::{PreTokenizedString, Token};
use weshop_core::domain::Product;
use weshop_core::store::search_terms;

use crate::schema::{Fields, PRODUCT_KIND};

/// A product as the index sees it: the product and whether it can be bought now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedProduct {
    /// The product, as stored.
    pub product: Product,
    /// Units that can be sold now, over all warehouses. Only "any" or "none" is indexed (for
    /// the in-stock filter), so a stock change needs an [`upsert`](crate::CatalogIndex::upsert)
    /// only when it crosses zero.
    pub units_available: u64,
}

impl IndexedProduct {
    /// `product` with `units_available` sellable units.
    pub fn new(product: Product, units_available: u64) -> Self {
        Self {
            product,
            units_available,
        }
    }
}

/// The tantivy document for `item`.
///
/// Text is split with the store's own [`search_terms`] and handed over pre-tokenized, so the
/// index and the store (and the query side, which uses the same function) can never disagree
/// on what a word is.
pub(crate) fn to_document(fields: &Fields, item: &IndexedProduct) -> TantivyDocument {
    let product = &item.product;
    let name = product.name.as_str();
    let mut doc = TantivyDocument::new();
    doc.add_i64(fields.id, product.id.get());
    doc.add_i64(fields.seller, product.seller.get());
    doc.add_i64(fields.price, product.price.minor());
    doc.add_u64(fields.in_stock, u64::from(item.units_available > 0));
    doc.add_pre_tokenized_text(fields.name, pre_tokenized(name));
    doc.add_pre_tokenized_text(
        fields.description,
        pre_tokenized(product.description.as_str()),
    );
    doc.add_pre_tokenized_text(
        fields.category_words,
        pre_tokenized(product.category.as_str()),
    );
    doc.add_text(fields.category, product.category.as_str());
    doc.add_text(fields.name_key, name.to_lowercase());
    doc.add_text(fields.display_name, name);
    doc.add_text(fields.kind, PRODUCT_KIND);
    doc
}

/// `text` split into [`search_terms`], as tantivy tokens. Offsets are not recorded (nothing
/// highlights), only positions.
fn pre_tokenized(text: &str) -> PreTokenizedString {
    let tokens = search_terms(text)
        .into_iter()
        .enumerate()
        .map(|(position, word)| Token {
            offset_from: 0,
            offset_to: 0,
            position,
            text: word,
            position_length: 1,
        })
        .collect();
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}
