//! Query words and the rules for what they match: the knobs every other module (and the
//! tests' brute-force model) agrees on.

use weshop_core::store::search_terms;

use crate::SearchError;

/// Most words a query may have. The HTTP layer validates this (with a 256-character limit)
/// first; the index refuses more on its own so it can never be made to do unbounded work.
pub const MAX_QUERY_TERMS: usize = 32;

/// Longest query word, in characters, that is matched with typos. Longer words are matched
/// exactly (or as a prefix, if last): a typo automaton grows with the word, and nobody mistypes
/// a 33-letter word expecting it to be found.
pub const MAX_FUZZY_CHARS: usize = 32;

/// Most indexed words one query word expands to, per field and per kind (completions of the
/// last word, typos of any word). Bounds the work of a short prefix like "a".
pub const MAX_EXPANSIONS: usize = 64;

/// Most candidate words looked at, per segment, field and kind, when expanding: the
/// [`MAX_EXPANSIONS`] most frequent of these are kept. Bounds the dictionary walk itself.
pub const EXPANSION_SCAN: usize = 256;

/// Most suggestions [`CatalogIndex::suggest`](crate::CatalogIndex::suggest) returns.
pub const MAX_SUGGESTIONS: usize = 10;

/// How much more a word in the name counts than one in the description or category.
pub const NAME_BOOST: f32 = 3.0;

/// The words of a search text, split like the store splits them
/// ([`search_terms`]: lower-cased alphanumeric runs).
///
/// Refuses more than [`MAX_QUERY_TERMS`] words.
pub fn query_words(text: &str) -> Result<Vec<String>, SearchError> {
    let words = search_terms(text);
    if words.len() > MAX_QUERY_TERMS {
        return Err(SearchError::TooManyTerms {
            words: words.len(),
            max: MAX_QUERY_TERMS,
        });
    }
    Ok(words)
}

/// How many edits a query word tolerates: none under 5 characters (too many short words are
/// one edit apart: "mug", "mud", "bug"), one from 5, two from 9, and none above
/// [`MAX_FUZZY_CHARS`]. An edit inserts, deletes or replaces one character, or swaps two
/// adjacent ones.
pub fn max_edits(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        n if n <= MAX_FUZZY_CHARS => 2,
        _ => 0,
    }
}

/// The smallest byte string greater than every string starting with `prefix`, if any: the
/// exclusive end of a prefix range in a sorted dictionary.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_the_store_and_are_bounded() {
        assert_eq!(query_words("Blue  MUG!").unwrap(), ["blue", "mug"]);
        assert!(query_words("").unwrap().is_empty());
        assert_eq!(query_words(&"a ".repeat(32)).unwrap().len(), 32);
        assert!(matches!(
            query_words(&"a ".repeat(33)),
            Err(SearchError::TooManyTerms { words: 33, max: 32 })
        ));
    }

    #[test]
    fn edit_budget_grows_with_length() {
        assert_eq!(max_edits("mug"), 0);
        assert_eq!(max_edits("kett"), 0);
        assert_eq!(max_edits("kettel"), 1);
        assert_eq!(max_edits("hedphone"), 1);
        assert_eq!(max_edits("hedphones"), 2);
        assert_eq!(max_edits("ééééé"), 1);
        assert_eq!(max_edits(&"x".repeat(32)), 2);
        assert_eq!(max_edits(&"x".repeat(33)), 0);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"mu").unwrap(), b"mv");
        assert_eq!(prefix_end(b"a\xff").unwrap(), b"b");
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(prefix_end(b""), None);
    }
}
