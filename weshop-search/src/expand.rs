//! From query words to a tantivy query: each word expands, against the term dictionaries of
//! the current searcher, to the indexed words it matches (exact, completions, typos), bounded
//! by [`MAX_EXPANSIONS`] and [`EXPANSION_SCAN`]; the query is then "every word matches"
//! (a conjunction) of "any of its expansions in any text field" (disjunctions), scored by BM25
//! in tiers (see [`BonusQuery`]).
//!
//! Expanding ourselves, instead of using tantivy's `FuzzyTermQuery` (which matches every term
//! its automaton accepts and scores them all alike), bounds the work and lets each expansion
//! be scored by BM25 like an exact term.

use std::collections::HashMap;

use tantivy::query::{BooleanQuery, BoostQuery, DfaWrapper, FuzzyTermQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::termdict::TermDictionary;
use tantivy::{Score, Searcher, Term};

use crate::SearchError;
use crate::bonus::BonusQuery;
use crate::words::{EXPANSION_SCAN, MAX_EXPANSIONS, max_edits, prefix_end};

/// Score added for each query word a product has exactly.
const EXACT_BONUS: Score = 10_000.0;
/// Score added when the last query word is completed (but not exact) in a product.
const COMPLETION_BONUS: Score = 5_000.0;
/// BM25 weight of a completion or typo relative to an exact word, within its tier.
const EXPANSION_WEIGHT: Score = 0.5;

/// The words one query word matches in one field.
#[derive(Debug, Default)]
struct Expansion {
    /// The word itself is in the field.
    exact: bool,
    /// Longer words it is a prefix of (only for the last query word).
    completions: Vec<String>,
    /// Other words within its edit budget (not exact, not completions).
    typos: Vec<String>,
}

/// The query for `words` over `fields` (each with its BM25 boost), or `None` when some word
/// matches nothing at all, so no product can match.
pub(crate) fn text_query(
    searcher: &Searcher,
    fields: &[(Field, Score)],
    words: &[String],
) -> Result<Option<Box<dyn Query>>, SearchError> {
    let mut conjunction: Vec<Box<dyn Query>> = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let last = i + 1 == words.len();
        // Built once per word (it depends on the word only): building it takes longer than
        // running it over a dictionary.
        let typos_of = typo_automaton(word, fields)?;
        let mut exact = Vec::new();
        let mut completions = Vec::new();
        let mut typos = Vec::new();
        for &(field, boost) in fields {
            let expansion = expand(searcher, field, word, last, typos_of.as_ref())?;
            if expansion.exact {
                exact.push(term_query(field, word, boost));
            }
            let weight = boost * EXPANSION_WEIGHT;
            completions.extend(
                expansion
                    .completions
                    .iter()
                    .map(|w| term_query(field, w, weight)),
            );
            typos.extend(expansion.typos.iter().map(|w| term_query(field, w, weight)));
        }
        let mut disjunction: Vec<Box<dyn Query>> = Vec::with_capacity(3);
        if !exact.is_empty() {
            disjunction.push(Box::new(BonusQuery::new(union(exact), EXACT_BONUS)));
        }
        if !completions.is_empty() {
            disjunction.push(Box::new(BonusQuery::new(
                union(completions),
                COMPLETION_BONUS,
            )));
        }
        if !typos.is_empty() {
            disjunction.push(union(typos));
        }
        if disjunction.is_empty() {
            return Ok(None);
        }
        conjunction.push(union(disjunction));
    }
    Ok(Some(if conjunction.len() == 1 {
        conjunction.remove(0)
    } else {
        Box::new(BooleanQuery::intersection(conjunction))
    }))
}

fn term_query(field: Field, word: &str, boost: Score) -> Box<dyn Query> {
    let term = TermQuery::new(
        Term::from_field_text(field, word),
        IndexRecordOption::WithFreqs,
    );
    if boost == 1.0 {
        Box::new(term)
    } else {
        Box::new(BoostQuery::new(Box::new(term), boost))
    }
}

fn union(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        queries.remove(0)
    } else {
        Box::new(BooleanQuery::union(queries))
    }
}

/// The automaton of the words within `word`'s edit budget (see [`max_edits`]), if any:
/// Levenshtein distance with a swap of adjacent characters counting as one edit.
fn typo_automaton(
    word: &str,
    fields: &[(Field, Score)],
) -> Result<Option<DfaWrapper>, SearchError> {
    let edits = max_edits(word);
    let Some(&(field, _)) = fields.first().filter(|_| edits > 0) else {
        return Ok(None);
    };
    let query = FuzzyTermQuery::new(Term::from_field_text(field, word), edits, true);
    Ok(Some(query.automaton()?))
}

/// What `word` matches in `field`, over every segment of `searcher`.
fn expand(
    searcher: &Searcher,
    field: Field,
    word: &str,
    last: bool,
    typo_automaton: Option<&DfaWrapper>,
) -> Result<Expansion, SearchError> {
    let end = prefix_end(word.as_bytes());
    let mut exact = false;
    let mut completions: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut typos: HashMap<Vec<u8>, u64> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(field)?;
        let terms: &TermDictionary = inverted.terms();
        exact |= terms.get(word)?.is_some();
        if last {
            let mut range = terms.range().gt(word);
            if let Some(end) = &end {
                range = range.lt(end);
            }
            let mut stream = range.into_stream()?;
            let mut seen = 0;
            while seen < EXPANSION_SCAN && stream.advance() {
                seen += 1;
                *completions.entry(stream.key().to_vec()).or_default() +=
                    u64::from(stream.value().doc_freq);
            }
        }
        if let Some(automaton) = typo_automaton {
            let mut stream = terms.search(automaton).into_stream()?;
            let mut seen = 0;
            while seen < EXPANSION_SCAN && stream.advance() {
                seen += 1;
                let key = stream.key();
                // The exact word and its completions are matched (and ranked) as such.
                if key == word.as_bytes() || (last && key.starts_with(word.as_bytes())) {
                    continue;
                }
                *typos.entry(key.to_vec()).or_default() += u64::from(stream.value().doc_freq);
            }
        }
    }
    Ok(Expansion {
        exact,
        completions: most_frequent(completions)?,
        typos: most_frequent(typos)?,
    })
}

/// The [`MAX_EXPANSIONS`] most frequent words (ties in dictionary order).
fn most_frequent(words: HashMap<Vec<u8>, u64>) -> Result<Vec<String>, SearchError> {
    let mut words: Vec<(Vec<u8>, u64)> = words.into_iter().collect();
    words.sort_unstable_by(|(a, fa), (b, fb)| fb.cmp(fa).then_with(|| a.cmp(b)));
    words.truncate(MAX_EXPANSIONS);
    words
        .into_iter()
        .map(|(word, _)| {
            String::from_utf8(word)
                .map_err(|e| SearchError::Corrupt(format!("indexed word is not UTF-8: {e}")))
        })
        .collect()
}
