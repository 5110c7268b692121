//! How many units of a product.

use std::{fmt, num::NonZeroU32};

use super::{DomainError, error::MAX_QUANTITY};

/// A count of units: at least 1, at most [`Quantity::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(NonZeroU32);

impl Quantity {
    /// The largest quantity one line or stock movement may carry (fits the wire's int32).
    pub const MAX: u32 = MAX_QUANTITY;
    /// One unit.
    pub const ONE: Quantity = Quantity(NonZeroU32::MIN);

    /// The quantity, if `units` is in 1..=MAX.
    pub fn new(units: i64) -> Result<Self, DomainError> {
        u32::try_from(units)
            .ok()
            .filter(|u| *u <= Self::MAX)
            .and_then(NonZeroU32::new)
            .map(Self)
            .ok_or(DomainError::Quantity(units))
    }

    /// The number of units.
    pub fn get(self) -> u32 {
        self.0.get()
    }

    /// The sum, if still within MAX.
    pub fn checked_add(self, other: Quantity) -> Result<Quantity, DomainError> {
        Self::new(i64::from(self.get()) + i64::from(other.get()))
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(Quantity::new(1).unwrap(), Quantity::ONE);
        assert_eq!(Quantity::new(1_000_000).unwrap().get(), 1_000_000);
        for bad in [0, -1, 1_000_001, i64::MAX] {
            assert_eq!(Quantity::new(bad), Err(DomainError::Quantity(bad)));
        }
        assert!(
            Quantity::new(999_999)
                .unwrap()
                .checked_add(Quantity::new(2).unwrap())
                .is_err()
        );
    }
}
