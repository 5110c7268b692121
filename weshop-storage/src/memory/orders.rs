//! Orders in memory: placements, fulfilment steps with their outbox and link state, and the
//! payment records.

use std::collections::BTreeMap;

use async_trait::async_trait;
use weshop_core::{
    domain::{Order, OrderId, OrderStatus, ProductId, UserId},
    store::{OrderStore, OutboxEntry, PlaceOrder, Placed, StepCommit, StoreError},
};

use super::{MemoryStore, State, next_id, records::Record};
use crate::{CART_CHANGED, corrupt};

#[async_trait]
impl OrderStore for MemoryStore {
    /// Sealed, not waited for: a counter lost in a crash takes every write sealed after it
    /// along (entries reach the disk in order), so an id given again was never stored anywhere.
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        self.write_sealed(|state| {
            let id = OrderId::new(next_id(&mut state.last_order, "order")?).map_err(corrupt)?;
            state.touch(Record::Counters);
            Ok(id)
        })
    }

    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        self.write(|state| {
            let key = (user, placement.idempotency_key);
            if let Some(id) = state.keys.get(&key) {
                let order = state.orders.get(id).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!("key placed order {id}, now gone"))
                })?;
                return Ok(Placed::Existing(order));
            }
            let order = placement.order;
            let id = order.id();
            if state.orders.contains_key(&id) {
                return Err(StoreError::Duplicate(format!("order {id}")));
            }
            if state.carts.get(&user).cloned().unwrap_or_default() != placement.cart {
                return Err(StoreError::Conflict(CART_CHANGED.into()));
            }
            let staged = state.staged_stock(&placement.reservations)?;
            // Checked: from here on nothing can fail.
            state.put_stock(staged);
            if id.get() > state.last_order {
                state.last_order = id.get();
                state.touch(Record::Counters);
            }
            if state.carts.remove(&user).is_some() {
                state.touch(Record::Cart(user));
            }
            state
                .fingerprints
                .insert(key.clone(), placement.fingerprint);
            state.touch(Record::Key(key.0, key.1.clone()));
            state.keys.insert(key, id);
            state.put_order(order.clone());
            self.feed.stock(&placement.reservations);
            self.feed.order(&order);
            let mut stock = BTreeMap::new();
            for delta in &placement.reservations {
                stock
                    .entry(delta.product)
                    .or_insert_with(|| state.stock_of(delta.product));
            }
            Ok(Placed::Created { order, stock })
        })
        .await
    }

    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Key(user, key.to_string()));
            let id = state.keys.get(&(user, key.to_string()))?;
            state.saw(&Record::OrderState(*id));
            state.orders.get(id).cloned()
        })
        .await
    }

    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Key(user, key.to_string()));
            state.fingerprints.get(&(user, key.to_string())).cloned()
        })
        .await
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::OrderState(id));
            state.orders.get(&id).cloned()
        })
        .await
    }

    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        self.read(|state| {
            state
                .orders
                .values()
                .rev()
                .filter(|o| o.customer() == customer)
                .cloned()
                .collect()
        })
        .await
    }

    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.read(|state| {
            state
                .orders
                .values()
                .rev()
                .filter(|o| o.lines().iter().any(|l| products.contains(&l.product)))
                .take(limit)
                .cloned()
                .collect()
        })
        .await
    }

    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        self.read(|state| {
            state
                .orders
                .values()
                .filter(|o| statuses.contains(&o.status()))
                .cloned()
                .collect()
        })
        .await
    }

    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        self.write(|state| {
            state.check_fence(step.fence.as_ref())?;
            for (order, version) in &step.orders {
                let stored = state.orders.get(&order.id()).map(Order::version);
                if stored != Some(*version) {
                    return Err(StoreError::Conflict(match stored {
                        Some(now) => {
                            format!("order {} is at version {now}, not {version}", order.id())
                        }
                        None => format!("order {} does not exist", order.id()),
                    }));
                }
            }
            let staged = state.staged_stock(&step.stock)?;
            let first = state.last_outbox;
            let count = u64::try_from(step.effects.len()).map_err(corrupt)?;
            let last = first
                .checked_add(count)
                .ok_or_else(|| StoreError::Backend("outbox ids exhausted".into()))?;
            // Checked: from here on nothing can fail.
            state.put_stock(staged);
            self.feed.stock(&step.stock);
            for (order, _) in step.orders {
                self.feed.order(&order);
                state.put_order(order);
            }
            if last != first {
                state.last_outbox = last;
                state.touch(Record::Counters);
            }
            let entries: Vec<OutboxEntry> = (first + 1..)
                .zip(step.effects)
                .map(|(id, effect)| OutboxEntry { id, effect })
                .collect();
            for entry in &entries {
                state.outbox.insert(entry.id, entry.effect.clone());
                state.touch(Record::Outbox(entry.id));
            }
            for id in &step.done {
                if state.outbox.remove(id).is_some() {
                    state.touch(Record::Outbox(*id));
                }
            }
            for (link, bytes) in step.links {
                state.touch(Record::Link(link.clone()));
                state.links.insert(link, bytes);
            }
            Ok(entries)
        })
        .await
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read(|state| {
            state
                .outbox
                .iter()
                .map(|(id, effect)| OutboxEntry {
                    id: *id,
                    effect: effect.clone(),
                })
                .collect()
        })
        .await
    }

    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Link(link.to_string()));
            state.links.get(link).cloned()
        })
        .await
    }

    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        self.write(|state| append_payments(state, lines)).await
    }

    /// Journaled entries reach the disk in the order they were sealed, so the lines are in
    /// place once sealed: every later write waits for them.
    async fn sequence_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        self.write_sealed(|state| append_payments(state, lines))
    }

    async fn payment_records(&self) -> Result<Vec<String>, StoreError> {
        self.read(|state| state.payment_records.clone()).await
    }
}

/// Appends payment journal lines, each its own record.
fn append_payments(state: &mut State, lines: &[String]) -> Result<(), StoreError> {
    for line in lines {
        state.touch(Record::Payment(state.payment_records.len() as u64));
        state.payment_records.push(line.clone());
    }
    Ok(())
}
