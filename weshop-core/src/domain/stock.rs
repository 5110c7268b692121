//! Stock of one product in one warehouse, and the rules that keep the shop from overselling.
//!
//! Units are on hand (in the warehouse), incoming (bought from the world, not yet arrived) or
//! reserved (promised to placed orders, not yet packed). A unit may be promised only once:
//! `reserved <= on_hand + incoming` always holds, so the shop never sells what it will not have.

use std::collections::HashMap;

use super::{DomainError, ProductId, Quantity, WarehouseId};

/// Units of one product in one warehouse.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Stock {
    on_hand: u64,
    incoming: u64,
    reserved: u64,
}

/// The units of a product that can still be sold, over all its warehouses.
pub fn sellable(stock: &[(WarehouseId, Stock)]) -> u64 {
    stock.iter().map(|(_, s)| s.available()).sum()
}

/// Not enough units to promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("only {available} available, {wanted} wanted")]
pub struct OutOfStock {
    /// Units that could still be promised.
    pub available: u64,
    /// Units asked for.
    pub wanted: u64,
}

impl Stock {
    /// Stock from stored counts, checking the invariant.
    pub fn from_counts(on_hand: u64, incoming: u64, reserved: u64) -> Result<Self, DomainError> {
        if reserved > on_hand.saturating_add(incoming) {
            return Err(DomainError::StockCounts);
        }
        Ok(Self {
            on_hand,
            incoming,
            reserved,
        })
    }

    /// Units in the warehouse.
    pub fn on_hand(&self) -> u64 {
        self.on_hand
    }

    /// Units bought and on their way.
    pub fn incoming(&self) -> u64 {
        self.incoming
    }

    /// Units promised to orders and not yet packed.
    pub fn reserved(&self) -> u64 {
        self.reserved
    }

    /// Units that can still be promised.
    pub fn available(&self) -> u64 {
        self.on_hand + self.incoming - self.reserved
    }

    /// Units promised beyond what is on hand: orders that must wait for `arrived`.
    pub fn shortfall(&self) -> u64 {
        self.reserved.saturating_sub(self.on_hand)
    }

    /// Promises `quantity` units to an order.
    pub fn reserve(&mut self, quantity: Quantity) -> Result<(), OutOfStock> {
        let wanted = u64::from(quantity.get());
        if wanted > self.available() {
            return Err(OutOfStock {
                available: self.available(),
                wanted,
            });
        }
        self.reserved += wanted;
        Ok(())
    }

    /// Takes back a promise (an order cancelled before packing).
    pub fn release(&mut self, quantity: Quantity) {
        self.reserved = self.reserved.saturating_sub(u64::from(quantity.get()));
    }

    /// Records a purchase from the world (`buy`).
    pub fn expect(&mut self, quantity: Quantity) {
        self.incoming += u64::from(quantity.get());
    }

    /// Records bought units arriving (`arrived`).
    pub fn arrive(&mut self, quantity: Quantity) {
        let units = u64::from(quantity.get());
        let from_incoming = units.min(self.incoming);
        self.incoming -= from_incoming;
        self.on_hand += units;
    }

    /// Packs reserved units: they leave both on hand and reserved (`topack` takes them at once).
    /// Refused when fewer than `quantity` are on hand or reserved.
    pub fn pack(&mut self, quantity: Quantity) -> Result<(), OutOfStock> {
        let units = u64::from(quantity.get());
        if units > self.on_hand || units > self.reserved {
            return Err(OutOfStock {
                available: self.on_hand.min(self.reserved),
                wanted: units,
            });
        }
        self.on_hand -= units;
        self.reserved -= units;
        Ok(())
    }
}

/// A change of one (warehouse, product)'s counts, applied atomically with its invariant check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta {
    /// Where.
    pub warehouse: WarehouseId,
    /// What.
    pub product: ProductId,
    /// Change of units on hand.
    pub on_hand: i64,
    /// Change of units incoming.
    pub incoming: i64,
    /// Change of units reserved.
    pub reserved: i64,
}

impl StockDelta {
    /// Applies the delta to `stock`; `None` if a count would go negative or more would be
    /// reserved than is on hand and incoming.
    pub fn apply(&self, stock: Stock) -> Option<Stock> {
        let add = |count: u64, delta: i64| -> Option<u64> {
            let value = i64::try_from(count).ok()?.checked_add(delta)?;
            u64::try_from(value).ok()
        };
        Stock::from_counts(
            add(stock.on_hand(), self.on_hand)?,
            add(stock.incoming(), self.incoming)?,
            add(stock.reserved(), self.reserved)?,
        )
        .ok()
    }
}

/// Merges runs of each (warehouse, product)'s deltas into one delta each, for a store that
/// pays per row written. Applied in order from valid counts, the merged deltas are refused
/// exactly when the originals are and leave the same counts (a refusal may name a different
/// delta). A run grows while, for each checked count (on hand, incoming, reserved, and on
/// hand + incoming − reserved), no state inside it is lower than both of its ends: then the
/// originals' checks pass wherever the two ends' do, and the start was checked already. So
/// an arrival then a packing merge, a packing then an arrival do not (the counts dip between).
/// Rows keep their first delta's place in the list.
pub fn coalesce(deltas: &[StockDelta]) -> Vec<StockDelta> {
    let mut runs: Vec<Run> = Vec::with_capacity(deltas.len());
    // Where each row's last run is in `runs`.
    let mut last_run: HashMap<(WarehouseId, ProductId), usize> =
        HashMap::with_capacity(deltas.len());
    for delta in deltas {
        let row = (delta.warehouse, delta.product);
        if let Some(&at) = last_run.get(&row)
            && runs[at].extend(delta)
        {
            continue;
        }
        last_run.insert(row, runs.len());
        runs.push(Run::new(*delta));
    }
    runs.into_iter().map(|run| run.delta).collect()
}

/// One row's deltas merged, with how the checked counts moved along them.
struct Run {
    delta: StockDelta,
    /// Each checked count's change from the run's start to its end, and its lowest on the way
    /// (0: the start).
    total: [i128; 4],
    lowest: [i128; 4],
}

impl Run {
    fn new(delta: StockDelta) -> Self {
        let total = delta.checked_moves();
        Run {
            delta,
            total,
            lowest: total.map(|t| t.min(0)),
        }
    }

    /// Adds `delta` if the run stays one that may be checked at its ends only.
    fn extend(&mut self, delta: &StockDelta) -> bool {
        let Some(merged) = (|| {
            Some(StockDelta {
                on_hand: self.delta.on_hand.checked_add(delta.on_hand)?,
                incoming: self.delta.incoming.checked_add(delta.incoming)?,
                reserved: self.delta.reserved.checked_add(delta.reserved)?,
                ..self.delta
            })
        })() else {
            return false;
        };
        let moves = delta.checked_moves();
        let mut total = self.total;
        let mut lowest = self.lowest;
        for i in 0..4 {
            total[i] += moves[i];
            lowest[i] = lowest[i].min(total[i]);
            if lowest[i] < total[i].min(0) {
                return false;
            }
        }
        *self = Run {
            delta: merged,
            total,
            lowest,
        };
        true
    }
}

impl StockDelta {
    /// How the delta moves each checked count: on hand, incoming, reserved, and the units that
    /// can still be promised (on hand + incoming − reserved).
    fn checked_moves(&self) -> [i128; 4] {
        let (on_hand, incoming, reserved) = (
            i128::from(self.on_hand),
            i128::from(self.incoming),
            i128::from(self.reserved),
        );
        [on_hand, incoming, reserved, on_hand + incoming - reserved]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn q(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn reserve_pack_and_arrive() {
        let mut s = Stock::default();
        assert_eq!(
            s.reserve(q(1)),
            Err(OutOfStock {
                available: 0,
                wanted: 1
            })
        );
        s.expect(q(5));
        s.reserve(q(3)).unwrap();
        assert_eq!((s.available(), s.shortfall()), (2, 3));
        assert!(s.pack(q(3)).is_err(), "nothing on hand yet");
        s.arrive(q(5));
        s.pack(q(3)).unwrap();
        assert_eq!(
            (s.on_hand(), s.incoming(), s.reserved(), s.available()),
            (2, 0, 0, 2)
        );
        assert!(Stock::from_counts(1, 1, 3).is_err());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve(i64),
        Release(i64),
        Expect(i64),
        Arrive(i64),
        Pack(i64),
    }

    fn apply_all(start: Stock, deltas: &[StockDelta]) -> Option<BTreeMap<(i32, i64), Stock>> {
        let mut rows = BTreeMap::new();
        for d in deltas {
            let row = rows
                .entry((d.warehouse.get(), d.product.get()))
                .or_insert(start);
            *row = d.apply(*row)?;
        }
        Some(rows)
    }

    fn delta_strategy() -> impl Strategy<Value = StockDelta> {
        (1i32..3, 1i64..3, -6i64..7, -6i64..7, -6i64..7).prop_map(
            |(w, p, on_hand, incoming, reserved)| StockDelta {
                warehouse: WarehouseId::new(w).unwrap(),
                product: ProductId::new(p).unwrap(),
                on_hand,
                incoming,
                reserved,
            },
        )
    }

    /// A placement batch's reservations of one row become one delta; a row's runs break
    /// where a count would dip inside them.
    #[test]
    fn coalesce_merges_runs_whose_counts_do_not_dip() {
        let d = |w: i32, p: i64, on_hand, incoming, reserved| StockDelta {
            warehouse: WarehouseId::new(w).unwrap(),
            product: ProductId::new(p).unwrap(),
            on_hand,
            incoming,
            reserved,
        };
        assert_eq!(
            coalesce(&[d(1, 1, 0, 0, 2), d(2, 1, 0, 0, 1), d(1, 1, 0, 0, 3)]),
            vec![d(1, 1, 0, 0, 5), d(2, 1, 0, 0, 1)]
        );
        // On hand dips between a packing and a later arrival, so they stay apart; an arrival
        // and the packing after it merge.
        let pack = d(1, 1, -1, 0, -1);
        let arrive = d(1, 1, 2, -2, 0);
        assert_eq!(
            coalesce(&[pack, pack, arrive, pack]),
            vec![d(1, 1, -2, 0, -2), d(1, 1, 1, -2, -1)]
        );
        let huge = d(1, 1, i64::MAX, 0, 0);
        assert_eq!(
            coalesce(&[huge, huge]),
            vec![huge, huge],
            "a sum that overflows"
        );
        assert_eq!(coalesce(&[]), vec![]);
    }

    proptest! {
        /// Merged deltas are refused exactly when the originals are, and leave the same counts.
        #[test]
        fn coalesced_deltas_apply_as_the_originals(
            counts in (0u64..8, 0u64..8, 0u64..16),
            deltas in prop::collection::vec(delta_strategy(), 0..12),
        ) {
            let (on_hand, incoming, reserved) = counts;
            let Ok(start) = Stock::from_counts(on_hand, incoming, reserved.min(on_hand + incoming)) else {
                unreachable!("reserved is capped")
            };
            let merged = coalesce(&deltas);
            prop_assert!(merged.len() <= deltas.len());
            prop_assert_eq!(apply_all(start, &merged), apply_all(start, &deltas));
        }

        /// Whatever happens, nothing is promised twice and no count goes negative.
        #[test]
        fn never_oversells(ops in prop::collection::vec(prop_oneof![
            (1i64..20).prop_map(Op::Reserve), (1i64..20).prop_map(Op::Release),
            (1i64..20).prop_map(Op::Expect), (1i64..20).prop_map(Op::Arrive), (1i64..20).prop_map(Op::Pack),
        ], 0..60)) {
            let mut s = Stock::default();
            for op in ops {
                match op {
                    Op::Reserve(n) => { let _ = s.reserve(q(n)); }
                    Op::Release(n) => s.release(q(n)),
                    Op::Expect(n) => s.expect(q(n)),
                    Op::Arrive(n) => s.arrive(q(n)),
                    Op::Pack(n) => { let _ = s.pack(q(n)); }
                }
                prop_assert!(s.reserved() <= s.on_hand() + s.incoming());
                prop_assert_eq!(Stock::from_counts(s.on_hand(), s.incoming(), s.reserved()).unwrap(), s);
            }
        }
    }
}
