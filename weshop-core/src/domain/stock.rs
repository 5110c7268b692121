//! Stock of one product in one warehouse, and the rules that keep the shop from overselling.
//!
//! Units are on hand (in the warehouse), incoming (bought from the world, not yet arrived) or
//! reserved (promised to placed orders, not yet packed). A unit may be promised only once:
//! `reserved <= on_hand + incoming` always holds, so the shop never sells what it will not have.

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

#[cfg(test)]
mod tests {
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

    proptest! {
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
