//! A query that adds a constant to the score of every document its inner query matches.
//!
//! Tantivy's `BoostQuery` multiplies, which cannot put exact matches above typos: BM25 of a
//! word in every document tends to zero, so no factor is big enough. Adding a constant per
//! matched query word puts them in tiers, and wrapping the inner scorer (rather than adding a
//! `ConstScoreQuery` over the same terms) reads each posting list once.

use std::fmt;

use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{
    COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, SeekDangerResult, SegmentReader, Term,
};

/// Matches what `inner` matches, scoring `inner`'s score plus `bonus`.
pub(crate) struct BonusQuery {
    inner: Box<dyn Query>,
    bonus: Score,
}

impl BonusQuery {
    /// `inner` with `bonus` added to every score.
    pub fn new(inner: Box<dyn Query>, bonus: Score) -> Self {
        Self { inner, bonus }
    }
}

impl Clone for BonusQuery {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.box_clone(),
            bonus: self.bonus,
        }
    }
}

impl fmt::Debug for BonusQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bonus({:?} + {})", self.inner, self.bonus)
    }
}

impl Query for BonusQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.inner.weight(enable_scoring)?;
        Ok(if enable_scoring.is_scoring_enabled() {
            Box::new(BonusWeight {
                inner,
                bonus: self.bonus,
            })
        } else {
            inner
        })
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor);
    }
}

struct BonusWeight {
    inner: Box<dyn Weight>,
    bonus: Score,
}

impl Weight for BonusWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(BonusScorer {
            inner: self.inner.scorer(reader, boost)?,
            bonus: self.bonus * boost,
        }))
    }

    fn scorer_danger(
        &self,
        reader: &SegmentReader,
        target: DocId,
        boost: Score,
    ) -> tantivy::Result<(SeekDangerResult, Box<dyn Scorer>)> {
        let (result, inner) = self.inner.scorer_danger(reader, target, boost)?;
        let scorer = BonusScorer {
            inner,
            bonus: self.bonus * boost,
        };
        Ok((result, Box::new(scorer)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let inner = self.inner.explain(reader, doc)?;
        let mut explanation = Explanation::new_with_string(
            format!("{} + ...", self.bonus),
            inner.value() + self.bonus,
        );
        explanation.add_detail(inner);
        Ok(explanation)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.inner.count(reader)
    }
}

struct BonusScorer {
    inner: Box<dyn Scorer>,
    bonus: Score,
}

impl DocSet for BonusScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.inner.seek(target)
    }

    fn seek_danger(&mut self, target: DocId) -> SeekDangerResult {
        self.inner.seek_danger(target)
    }

    fn fill_buffer(&mut self, buffer: &mut [DocId; COLLECT_BLOCK_BUFFER_LEN]) -> usize {
        self.inner.fill_buffer(buffer)
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }

    fn cost(&self) -> u64 {
        self.inner.cost()
    }

    fn count(&mut self, alive_bitset: &AliveBitSet) -> u32 {
        self.inner.count(alive_bitset)
    }

    fn count_including_deleted(&mut self) -> u32 {
        self.inner.count_including_deleted()
    }
}

impl Scorer for BonusScorer {
    fn score(&mut self) -> Score {
        self.inner.score() + self.bonus
    }
}
