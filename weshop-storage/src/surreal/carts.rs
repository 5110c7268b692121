//! Carts. Saves are group-committed (see [`GroupCommit`]): under the orders bench's 100
//! concurrent customers, a cart saved in a block of its own was the busiest query (one per
//! order, a write transaction each, 22 ms on average as they queued for the commit).

use async_trait::async_trait;
use surrealdb::types::SurrealValue;
use tokio::sync::oneshot;
use weshop_core::{
    domain::{Cart, ProductId, Quantity, UserId},
    store::{CartStore, StoreError},
};

use super::{
    SurrealStore, TxError, backend,
    group_commit::GroupCommit,
    message,
    query::{Sql, put},
    rows::CartRow,
    written,
};
use crate::corrupt;

/// Most carts saved in one block.
const MAX_BATCH: usize = 128;

/// Cart saves waiting to be committed together.
pub(super) type CartSaves = GroupCommit<Saving>;

/// A cart to save and where its answer goes.
pub(super) struct Saving {
    row: CartSave,
    answer: oneshot::Sender<Result<(), TxError>>,
}

/// One cart as the batch block binds it: no lines removes the cart.
#[derive(Clone, SurrealValue)]
struct CartSave {
    user: i64,
    lines: Vec<Vec<i64>>,
}

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
        // Marked before it is queued, so saves of one cart end in the order they were made.
        let writing = self.carts.writing(user.get());
        let (answer, answered) = oneshot::channel();
        let row = CartSave {
            user: user.get(),
            lines: cart_lines(cart),
        };
        if self.cart_saves.push(Saving { row, answer }) {
            let store = self.clone();
            tokio::spawn(async move {
                store
                    .cart_saves
                    .drain(MAX_BATCH, |batch| store.commit_carts(batch))
                    .await
            });
        }
        let result = answered.await.unwrap_or_else(|_| {
            Err(TxError::Other(
                "the cart save was abandoned (its committing task ended)".into(),
            ))
        });
        written(writing, &result, || Some(cart.clone()));
        result.map_err(|e| backend(message(e)))
    }
}

impl SurrealStore {
    /// Saves a batch of carts in one block, in the order they came; if the block fails, each
    /// is saved alone, in turn, so a save fails only when it fails by itself.
    async fn commit_carts(&self, batch: Vec<Saving>) {
        let (rows, senders): (Vec<CartSave>, Vec<_>) =
            batch.into_iter().map(|s| (s.row, s.answer)).unzip();
        let answers = match self.save_carts(&rows).await {
            Ok(()) => rows.iter().map(|_| Ok(())).collect(),
            Err(error) if rows.len() == 1 => vec![Err(error)],
            Err(_) => {
                // One after another: a customer's two saves in a batch stay in their order.
                let mut answers = Vec::with_capacity(rows.len());
                for row in rows.chunks(1) {
                    answers.push(self.save_carts(row).await);
                }
                answers
            }
        };
        for (sender, answer) in senders.into_iter().zip(answers) {
            // A caller that gave up is not waiting for its answer.
            let _ = sender.send(answer);
        }
    }

    async fn save_carts(&self, rows: &[CartSave]) -> Result<(), TxError> {
        let mut sql = Sql::default();
        let v = sql.var(rows.to_vec());
        // A customer's cart exists from their first save on (a checkout empties it).
        let save = put("type::record('cart', $c.user)", "lines = $c.lines");
        sql.push(&format!(
            "FOR $c IN {v} {{ IF $c.lines == [] {{ DELETE type::record('cart', $c.user) }} \
             ELSE {{ {save} }} }}"
        ));
        self.transact(|| sql.clone()).await.map(drop)
    }
}
