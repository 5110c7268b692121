//! A customer's cart: products and quantities, before checkout.

use std::collections::BTreeMap;

use super::{DomainError, ProductId, Quantity};

/// Products and how many of each; one line per product.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cart {
    lines: BTreeMap<ProductId, Quantity>,
}

impl Cart {
    /// Most distinct products in a cart.
    pub const MAX_LINES: usize = 100;

    /// An empty cart.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `quantity` of `product` (to what is already there).
    pub fn add(&mut self, product: ProductId, quantity: Quantity) -> Result<Quantity, DomainError> {
        let total = match self.lines.get(&product) {
            Some(existing) => existing.checked_add(quantity)?,
            None if self.lines.len() >= Self::MAX_LINES => return Err(DomainError::CartFull),
            None => quantity,
        };
        self.lines.insert(product, total);
        Ok(total)
    }

    /// Sets the quantity of a product already in the cart; false if it is not there.
    pub fn set(&mut self, product: ProductId, quantity: Quantity) -> bool {
        match self.lines.get_mut(&product) {
            Some(line) => {
                *line = quantity;
                true
            }
            None => false,
        }
    }

    /// Removes a product; false if it was not there.
    pub fn remove(&mut self, product: ProductId) -> bool {
        self.lines.remove(&product).is_some()
    }

    /// The lines, by product id.
    pub fn lines(&self) -> impl Iterator<Item = (ProductId, Quantity)> + '_ {
        self.lines.iter().map(|(p, q)| (*p, *q))
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Empties the cart (after checkout).
    pub fn clear(&mut self) {
        self.lines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_merge_and_are_bounded() {
        let p = |n| ProductId::new(n).unwrap();
        let q = |n| Quantity::new(n).unwrap();
        let mut cart = Cart::new();
        assert_eq!(cart.add(p(1), q(2)).unwrap(), q(2));
        assert_eq!(cart.add(p(1), q(3)).unwrap(), q(5));
        assert!(cart.set(p(1), q(1)) && !cart.set(p(2), q(1)));
        for n in 2..=100 {
            cart.add(p(n), q(1)).unwrap();
        }
        assert_eq!(cart.add(p(101), q(1)), Err(DomainError::CartFull));
        assert!(cart.add(p(1), q(1_000_000)).is_err(), "quantity bound");
        assert!(cart.remove(p(1)) && !cart.remove(p(1)));
        cart.clear();
        assert!(cart.is_empty());
    }
}
