//! The key test: after any sequence of writes, the index answers every query exactly like a
//! brute-force filter over a plain list of products.
//!
//! The model's matching rule is the crate's documented one, restated here independently:
//! a query word `q` (the `i`-th of `n`) matches a product word `w` when `w == q`, or `i` is the
//! last and `w` starts with `q`, or `q` has 5–8 characters and the optimal string alignment
//! distance (insert, delete, substitute, swap adjacent) between `q` and `w` is at most 1, or
//! 9–32 characters and at most 2. The vocabulary is small (no word has more than 64
//! completions or typos), so the index's expansion bounds never cut anything off.

mod common;

use std::collections::BTreeMap;

use common::{cat, product};
use proptest::prelude::*;
use weshop_core::domain::{Product, UserId};
use weshop_core::store::{ProductSort, search_terms};
use weshop_search::{CatalogIndex, IndexedProduct, SearchQuery};

/// Words of names and descriptions: near neighbours on purpose, so typos and prefixes collide.
const VOCABULARY: &[&str] = &[
    "mug",
    "mugs",
    "music",
    "musical",
    "kettle",
    "kettles",
    "settle",
    "blue",
    "blues",
    "glue",
    "lamp",
    "lamps",
    "headphones",
    "headphone",
    "earphones",
    "desk",
    "red",
    "tea",
    "teapot",
    "cup",
    "cups",
    "stove",
    "stoves",
    "store",
    "office",
    "a",
    "x1",
];
const CATEGORIES: &[&str] = &["kitchen", "outdoor", "home-office", "toys"];
const PRICES: &[i64] = &[100, 250, 999, 1_000, 2_500];
const LETTERS: &[char] = &['a', 'e', 'l', 'm', 'o', 's', 't', 'u', 'k', 'x'];
const MAX_ID: i64 = 16;

/// A product to write.
#[derive(Debug, Clone)]
struct Spec {
    id: i64,
    name: Vec<(usize, bool)>,
    description: Vec<usize>,
    category: usize,
    price: usize,
    seller: i64,
    units: u64,
}

impl Spec {
    fn build(&self) -> IndexedProduct {
        let name: Vec<String> = self
            .name
            .iter()
            .map(|&(word, capital)| {
                let word = VOCABULARY[word];
                if capital {
                    capitalise(word)
                } else {
                    word.to_string()
                }
            })
            .collect();
        let description: Vec<&str> = self.description.iter().map(|&w| VOCABULARY[w]).collect();
        let mut product = product(
            self.id,
            &name.join(" "),
            &description.join(", "),
            CATEGORIES[self.category],
            PRICES[self.price],
        );
        product.seller = UserId::new(self.seller).unwrap();
        IndexedProduct::new(product, self.units)
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A write, applied to both the index and the model.
#[derive(Debug, Clone)]
enum Op {
    /// Create or edit (one product: `upsert`; more: `upsert_many`).
    Upsert(Vec<Spec>),
    /// Withdraw.
    Remove(i64),
    /// Stock change of a product, if it exists.
    Stock(i64, u64),
    /// Replace everything.
    Rebuild(Vec<Spec>),
}

fn spec() -> impl Strategy<Value = Spec> {
    let word = 0..VOCABULARY.len();
    (
        1..=MAX_ID,
        prop::collection::vec((word.clone(), any::<bool>()), 1..=3),
        prop::collection::vec(word, 0..=4),
        0..CATEGORIES.len(),
        0..PRICES.len(),
        1..=3i64,
        0..=2u64,
    )
        .prop_map(
            |(id, name, description, category, price, seller, units)| Spec {
                id,
                name,
                description,
                category,
                price,
                seller,
                units,
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec(spec(), 1..=4).prop_map(Op::Upsert),
        2 => (1..=MAX_ID).prop_map(Op::Remove),
        2 => (1..=MAX_ID, 0..=2u64).prop_map(|(id, units)| Op::Stock(id, units)),
        1 => prop::collection::vec(spec(), 0..=12).prop_map(Op::Rebuild),
    ]
}

/// How a query word is made from a base word.
#[derive(Debug, Clone)]
enum Change {
    Keep,
    /// The first `n` characters.
    Prefix(usize),
    /// One edit (see [`mutate`]).
    Edit(u8, usize, char),
    /// Two edits.
    TwoEdits(u8, usize, u8, usize),
    /// A word nothing has.
    Nonsense,
}

/// A query word: from the vocabulary, or (`None`) a word of the product the text picked, so
/// that multi-word queries often match something.
#[derive(Debug, Clone)]
struct WordSpec {
    vocabulary: Option<usize>,
    word: usize,
    change: Change,
}

/// A query text, resolved against the catalog when asked.
#[derive(Debug, Clone)]
struct TextSpec {
    pick: usize,
    shout: bool,
    words: Vec<WordSpec>,
}

impl TextSpec {
    fn resolve(&self, model: &Model) -> String {
        let picked: Vec<String> = match model
            .products
            .values()
            .nth(self.pick % model.products.len().max(1))
        {
            Some((p, _)) => {
                let mut words = search_terms(p.name.as_str());
                words.extend(search_terms(p.description.as_str()));
                words.extend(search_terms(p.category.as_str()));
                words
            }
            None => Vec::new(),
        };
        let words: Vec<String> = self
            .words
            .iter()
            .map(|spec| {
                let base = match spec.vocabulary {
                    None if !picked.is_empty() => picked[spec.word % picked.len()].clone(),
                    source => {
                        VOCABULARY[source.unwrap_or(spec.word) % VOCABULARY.len()].to_string()
                    }
                };
                match spec.change {
                    Change::Keep => base,
                    Change::Prefix(n) => base.chars().take(n).collect(),
                    Change::Edit(edit, at, letter) => mutate(&base, edit, at, letter),
                    Change::TwoEdits(e1, a1, e2, a2) => {
                        mutate(&mutate(&base, e1, a1, 'o'), e2, a2, 'e')
                    }
                    Change::Nonsense => "zzz".to_string(),
                }
            })
            .collect();
        let text = words.join(" ,");
        if self.shout {
            text.to_uppercase()
        } else {
            text
        }
    }
}

fn word_spec() -> impl Strategy<Value = WordSpec> {
    let change = prop_oneof![
        6 => Just(Change::Keep),
        2 => (1..8usize).prop_map(Change::Prefix),
        3 => (0..4u8, 0..12usize, 0..LETTERS.len())
            .prop_map(|(edit, at, letter)| Change::Edit(edit, at, LETTERS[letter])),
        1 => (0..4u8, 0..12usize, 0..4u8, 0..12usize)
            .prop_map(|(e1, a1, e2, a2)| Change::TwoEdits(e1, a1, e2, a2)),
        1 => Just(Change::Nonsense),
    ];
    (
        prop::option::weighted(0.2, 0..VOCABULARY.len()),
        0..16usize,
        change,
    )
        .prop_map(|(vocabulary, word, change)| WordSpec {
            vocabulary,
            word,
            change,
        })
}

/// `word` with one edit at `at`: 0 delete, 1 insert, 2 substitute, 3 swap with the next.
fn mutate(word: &str, edit: u8, at: usize, letter: char) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let at = at % (chars.len() + 1);
    match edit {
        0 if at < chars.len() => {
            chars.remove(at);
        }
        1 => chars.insert(at, letter),
        2 if at < chars.len() => chars[at] = letter,
        3 if at + 1 < chars.len() => chars.swap(at, at + 1),
        _ => {}
    }
    chars.into_iter().collect()
}

/// A query whose text is resolved against the catalog when it is asked.
#[derive(Debug, Clone)]
struct QuerySpec {
    text: Option<TextSpec>,
    rest: SearchQuery,
}

impl QuerySpec {
    fn resolve(&self, model: &Model) -> SearchQuery {
        SearchQuery {
            text: self.text.as_ref().map(|t| t.resolve(model)),
            ..self.rest.clone()
        }
    }
}

fn query() -> impl Strategy<Value = QuerySpec> {
    let words = prop_oneof![4 => 0..=2usize, 1 => 3..=4usize]
        .prop_flat_map(|n| prop::collection::vec(word_spec(), n));
    let text = prop::option::weighted(
        0.85,
        (any::<usize>(), any::<bool>(), words).prop_map(|(pick, shout, words)| TextSpec {
            pick,
            shout,
            words,
        }),
    );
    let price = prop::option::weighted(0.15, prop::sample::select(PRICES));
    let sort = prop::sample::select(vec![
        ProductSort::Relevance,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::Name,
        ProductSort::Newest,
    ]);
    (
        text,
        prop::option::weighted(0.25, 0..CATEGORIES.len()),
        prop::option::weighted(0.15, 1..=3i64),
        (price.clone(), price),
        prop::bool::weighted(0.25),
        sort,
        (prop_oneof![3 => Just(0usize), 2 => 0..8usize], 0..10usize),
    )
        .prop_map(
            |(
                text,
                category,
                seller,
                (min_price, max_price),
                in_stock_only,
                sort,
                (offset, limit),
            )| {
                QuerySpec {
                    text,
                    rest: SearchQuery {
                        text: None,
                        category: category.map(|c| cat(CATEGORIES[c])),
                        seller: seller.map(|s| UserId::new(s).unwrap()),
                        min_price,
                        max_price,
                        in_stock_only,
                        sort,
                        offset,
                        limit,
                    },
                }
            },
        )
}

/// The catalog as a plain map, searched by brute force.
#[derive(Default)]
struct Model {
    products: BTreeMap<i64, (Product, u64)>,
}

impl Model {
    fn apply(&mut self, op: &Op, index: &CatalogIndex) {
        match op {
            Op::Upsert(specs) => {
                let built: Vec<IndexedProduct> = specs.iter().map(Spec::build).collect();
                for item in &built {
                    self.products.insert(
                        item.product.id.get(),
                        (item.product.clone(), item.units_available),
                    );
                }
                if let [one] = built.as_slice() {
                    index.upsert(one.clone()).unwrap();
                } else {
                    index.upsert_many(built).unwrap();
                }
            }
            Op::Remove(id) => {
                self.products.remove(id);
                index.remove(common::pid(*id)).unwrap();
            }
            Op::Stock(id, units) => {
                if let Some((product, stock)) = self.products.get_mut(id) {
                    *stock = *units;
                    index
                        .upsert(IndexedProduct::new(product.clone(), *units))
                        .unwrap();
                }
            }
            Op::Rebuild(specs) => {
                let built: Vec<IndexedProduct> = specs.iter().map(Spec::build).collect();
                self.products.clear();
                for item in &built {
                    self.products.insert(
                        item.product.id.get(),
                        (item.product.clone(), item.units_available),
                    );
                }
                index.rebuild(built).unwrap();
            }
        }
    }

    /// Products passing every filter except the category one, with their text matched.
    fn candidates(&self, query: &SearchQuery) -> Vec<&Product> {
        let words = search_terms(query.text.as_deref().unwrap_or(""));
        self.products
            .values()
            .filter(|(p, _)| query.seller.is_none_or(|s| p.seller == s))
            .filter(|(p, _)| query.min_price.is_none_or(|min| p.price.minor() >= min))
            .filter(|(p, _)| query.max_price.is_none_or(|max| p.price.minor() <= max))
            .filter(|(_, units)| !query.in_stock_only || *units > 0)
            .filter(|(p, _)| matches_text(p, &words))
            .map(|(p, _)| p)
            .collect()
    }

    /// (all matching ids in order — relevance order is left as newest first, facets).
    fn search(&self, query: &SearchQuery) -> (Vec<i64>, Vec<(String, u64)>) {
        let candidates = self.candidates(query);
        let mut facets: BTreeMap<String, u64> = BTreeMap::new();
        for p in &candidates {
            *facets.entry(p.category.to_string()).or_default() += 1;
        }
        let mut hits: Vec<&Product> = candidates
            .into_iter()
            .filter(|p| query.category.as_ref().is_none_or(|c| p.category == *c))
            .collect();
        match query.sort {
            ProductSort::Relevance | ProductSort::Newest => {
                hits.sort_by_key(|p| std::cmp::Reverse(p.id))
            }
            ProductSort::PriceAsc => hits.sort_by_key(|p| (p.price.minor(), p.id)),
            ProductSort::PriceDesc => {
                hits.sort_by_key(|p| (std::cmp::Reverse(p.price.minor()), p.id))
            }
            ProductSort::Name => hits.sort_by_key(|p| (p.name.as_str().to_lowercase(), p.id)),
        }
        (
            hits.iter().map(|p| p.id.get()).collect(),
            facets.into_iter().collect(),
        )
    }
}

fn matches_text(product: &Product, query: &[String]) -> bool {
    let mut words = search_terms(product.name.as_str());
    words.extend(search_terms(product.description.as_str()));
    words.extend(search_terms(product.category.as_str()));
    query.iter().enumerate().all(|(i, q)| {
        let last = i + 1 == query.len();
        words.iter().any(|w| word_matches(q, w, last))
    })
}

fn word_matches(query: &str, word: &str, last: bool) -> bool {
    let budget = match query.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        9..=32 => 2,
        _ => 0,
    };
    word == query
        || (last && word.starts_with(query))
        || (budget > 0 && osa_distance(query, word) <= budget)
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
/// adjacent characters, each costing one, no substring edited twice.
fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

fn check(index: &CatalogIndex, model: &Model, query: &SearchQuery) -> Result<(), TestCaseError> {
    let (expected, facets) = model.search(query);
    let results = index
        .search(query)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    // Asked again on the same state, the answer comes from the cache: the same.
    prop_assert_eq!(
        &index.search(query).unwrap(),
        &results,
        "cached {:?}",
        query
    );
    let got: Vec<i64> = results.ids.iter().map(|id| id.get()).collect();
    let got_facets: Vec<(String, u64)> = results
        .category_facets
        .iter()
        .map(|(c, n)| (c.to_string(), *n))
        .collect();
    prop_assert_eq!(results.total, expected.len() as u64, "total of {:?}", query);
    prop_assert_eq!(&got_facets, &facets, "facets of {:?}", query);
    let page = |all: &[i64]| -> Vec<i64> {
        all.iter()
            .copied()
            .skip(query.offset)
            .take(query.limit)
            .collect()
    };
    let ranked = query.sort == ProductSort::Relevance
        && query
            .text
            .as_deref()
            .is_some_and(|t| !search_terms(t).is_empty());
    if ranked {
        // Scores are the index's own business: the same set, and pages cut from one order.
        let everything = SearchQuery {
            offset: 0,
            limit: usize::MAX,
            ..query.clone()
        };
        let all: Vec<i64> = index
            .search(&everything)
            .unwrap()
            .ids
            .iter()
            .map(|id| id.get())
            .collect();
        let mut set = all.clone();
        set.sort_unstable_by(|a, b| b.cmp(a));
        prop_assert_eq!(&set, &expected, "matches of {:?}", query);
        prop_assert_eq!(got, page(&all), "page of {:?}", query);
    } else {
        prop_assert_eq!(got, page(&expected), "order of {:?}", query);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_index_answers_like_a_brute_force_model(
        start in prop::collection::vec(spec(), 4..=16),
        ops in prop::collection::vec(op(), 1..=8),
        queries in prop::collection::vec(query(), 8..=32),
    ) {
        let index = CatalogIndex::in_memory().unwrap();
        let mut model = Model::default();
        model.apply(&Op::Rebuild(start), &index);
        for (step, op) in ops.iter().enumerate() {
            model.apply(op, &index);
            // A few queries after every write, all of them at the end.
            let asked = if step + 1 == ops.len() { &queries[..] } else { &queries[..4] };
            for query in asked {
                check(&index, &model, &query.resolve(&model))?;
            }
        }
        let categories: Vec<(String, u64)> =
            index.categories().unwrap().iter().map(|(c, n)| (c.to_string(), *n)).collect();
        let everything = model.search(&SearchQuery::default()).1;
        prop_assert_eq!(categories, everything);
        prop_assert_eq!(index.len(), model.products.len() as u64);
    }
}

#[test]
fn the_model_distance_is_optimal_string_alignment() {
    assert_eq!(osa_distance("kettel", "kettle"), 1);
    assert_eq!(osa_distance("hedphones", "headphones"), 1);
    assert_eq!(osa_distance("ca", "abc"), 3);
    assert_eq!(osa_distance("", "abc"), 3);
    assert!(word_matches("mu", "mug", true) && !word_matches("mu", "mug", false));
}
