//! What the index is told about a product, and the tantivy document it becomes.

use tantivy::TantivyDocument;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use weshop_core::store::search_terms;

use crate::schema::{Fields, PRODUCT_KIND};

/// A product as the index sees it; the port's own type, so the shop and this crate agree.
pub use weshop_core::catalog_index::IndexedProduct;

/// The tantivy document for `item`.
pub(crate) fn to_document(fields: &Fields, item: &IndexedProduct) -> TantivyDocument {
    let product = &item.product;
    let name = product.name.as_str();
    let mut doc = TantivyDocument::new();
    doc.add_i64(fields.id, product.id.get());
    doc.add_i64(fields.seller, product.seller.get());
    doc.add_i64(fields.price, product.price.minor());
    doc.add_u64(fields.in_stock, u64::from(item.units_available > 0));
    doc.add_text(fields.name, name);
    doc.add_text(fields.description, product.description.as_str());
    doc.add_text(fields.category_words, product.category.as_str());
    doc.add_text(fields.category, product.category.as_str());
    doc.add_text(fields.name_key, name.to_lowercase());
    doc.add_text(fields.display_name, name);
    doc.add_text(fields.kind, PRODUCT_KIND);
    doc
}

/// The name the [`WordTokenizer`] is registered under.
pub(crate) const WORDS_TOKENIZER: &str = "weshop_words";

/// Splits text with the store's own [`search_terms`] (lower-cased alphanumeric runs), so the
/// index and the store — and the query side, which calls the same function — can never
/// disagree on what a word is. Positions are counted; offsets are not (nothing highlights).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WordTokenizer;

impl Tokenizer for WordTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        WordStream {
            words: search_terms(text).into_iter(),
            token: Token::default(),
            next_position: 0,
        }
    }
}

/// The words of one text, as tantivy tokens.
pub(crate) struct WordStream {
    words: std::vec::IntoIter<String>,
    token: Token,
    next_position: usize,
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        let Some(word) = self.words.next() else {
            return false;
        };
        self.token.text = word;
        self.token.position = self.next_position;
        self.next_position += 1;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_the_store_words() {
        let mut tokenizer = WordTokenizer;
        let mut stream = tokenizer.token_stream("Blue MUG, 2-pack: ÉTÉ");
        let mut tokens = Vec::new();
        while let Some(token) = stream.next() {
            tokens.push((token.text.clone(), token.position));
        }
        let words = search_terms("Blue MUG, 2-pack: ÉTÉ");
        assert_eq!(
            tokens.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>(),
            words
        );
        assert_eq!(
            tokens.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4]
        );
    }
}
