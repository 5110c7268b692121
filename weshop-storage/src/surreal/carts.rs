//! Carts.

use async_trait::async_trait;
use weshop_core::{
    domain::{Cart, ProductId, Quantity, UserId},
    store::{CartStore, StoreError},
};

use super::{SurrealStore, backend, message, query::Sql, rows::CartRow, written};
use crate::corrupt;

/// A cart as stored: `[product, quantity]` pairs by product id.
pub(super) fn cart_lines(cart: &Cart) -> Vec<Vec<i64>> {
    cart.lines()
        .map(|(p, q)| vec![p.get(), i64::from(q.get())])
        .collect()
}

#[async_trait]
impl CartStore for SurrealStore {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        let seen = match self.carts.get(user.get()) {
            Ok(cart) => return Ok(cart),
            Err(seen) => seen,
        };
        let mut sql = Sql::default();
        let v = sql.var(user.get());
        sql.push(&format!("SELECT lines FROM type::record('cart', {v})"));
        let rows: Vec<CartRow> = self.read(sql).await?;
        let mut cart = Cart::new();
        for row in rows {
            for line in row.lines {
                let [product, quantity] = line[..] else {
                    return Err(StoreError::Corrupt("cart line".into()));
                };
                let product = ProductId::new(product).map_err(corrupt)?;
                let quantity = Quantity::new(quantity).map_err(corrupt)?;
                cart.add(product, quantity).map_err(corrupt)?;
            }
        }
        self.carts.fill(user.get(), seen, cart.clone());
        Ok(cart)
    }

    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(user.get());
        if cart.is_empty() {
            sql.push(&format!("DELETE type::record('cart', {v})"));
        } else {
            let lines = sql.var(cart_lines(cart));
            sql.push(&format!(
                "UPSERT type::record('cart', {v}) SET lines = {lines} RETURN NONE"
            ));
        }
        let writing = self.carts.writing(user.get());
        let result = self.transact(|| sql.clone()).await;
        written(writing, &result, || Some(cart.clone()));
        result.map_err(|e| backend(message(e)))?;
        Ok(())
    }
}
