//! The in-memory backend: every storage trait of [`weshop_core::store`] over plain maps behind
//! one mutex, for tests, demos and embedding.
//!
//! Each call takes the lock once and does all its work under it (it is never held across an
//! await), so every call is atomic, and the calls that can fail part-way (stock changes,
//! placements, fulfilment steps) check everything before they change anything.

use std::{
    cell::Cell,
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use weshop_core::{
    domain::{
        Campaign, CampaignId, Cart, Email, LoginSession, NotificationId, Order, OrderId, Picture,
        PictureId, Product, ProductId, Stock, StockDelta, Timestamp, TokenHash, User, UserId,
        WarehouseId, WarehouseSite,
    },
    fulfilment::Effect,
    inbox::InboxEntry,
    store::{AccountStore, CartStore, NewUser, StoreError, StoreLifecycle},
};

use crate::corrupt;

mod campaigns;
mod catalog;
mod changes;
mod inbox;
#[cfg(feature = "surrealdb")]
mod journal;
mod leases;
mod orders;
// Encoding and loading serve only the journal, which needs the `surrealdb` feature.
#[cfg_attr(not(feature = "surrealdb"), allow(dead_code))]
mod records;

use records::Record;

/// Everything a shop stores, in memory, lost when dropped.
///
/// Ids (users, products, orders, outbox entries) count up from 1 and are never reused. Search
/// matches a product when every query word is the start of a word of its name, description or
/// category; `Relevance` with words ranks products by how many of them start a word of the
/// name, then newest first.
///
/// Opened as `memory+surrealkv://PATH` ([`crate::open`]), the same store is durable: every
/// write is on disk before it returns (see `journal.rs`), and the store is loaded from disk
/// when it opens, so it must fit in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    feed: changes::Feed,
    #[cfg(feature = "surrealdb")]
    journal: Option<journal::Journal>,
}

/// A journaled store's bookkeeping (a plain one has none): what writes changed since the last
/// seal, the last entry sealed, and which entry last changed each record while it may not be
/// on disk yet, so that a read waits only for the writes it saw.
#[derive(Debug, Default)]
struct Pending {
    changed: Vec<Record>,
    sealed: u64,
    records: HashMap<Record, u64>,
    /// `records` is pruned of what is on disk when it grows this big.
    #[cfg_attr(not(feature = "surrealdb"), allow(dead_code))]
    prune_at: usize,
    /// The newest entry the read in progress saw (reads run one at a time, under the lock).
    seen: Cell<u64>,
}

/// `Pending::records` is never pruned below this many.
#[cfg(feature = "surrealdb")]
const PRUNE_MIN: usize = 4096;

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<UserId, User>,
    emails: HashMap<Email, UserId>,
    sessions: HashMap<TokenHash, LoginSession>,
    products: BTreeMap<ProductId, Product>,
    warehouses: BTreeMap<WarehouseId, WarehouseSite>,
    stock: BTreeMap<(ProductId, WarehouseId), Stock>,
    carts: HashMap<UserId, Cart>,
    orders: BTreeMap<OrderId, Order>,
    keys: HashMap<(UserId, String), OrderId>,
    fingerprints: HashMap<(UserId, String), String>,
    outbox: BTreeMap<u64, Effect>,
    links: HashMap<String, Vec<u8>>,
    pictures: HashMap<PictureId, Picture>,
    payment_records: Vec<String>,
    inbox: BTreeMap<NotificationId, InboxEntry>,
    inbox_keys: HashMap<String, NotificationId>,
    /// The same the other way (the journal stores each entry with its key).
    filed_as: HashMap<NotificationId, String>,
    /// The entries whose mail is pending, so the queue is not a scan of every inbox.
    mail_queue: BTreeSet<NotificationId>,
    campaigns: BTreeMap<CampaignId, Campaign>,
    /// When each seller's last campaign went out (their rate-limit slot).
    campaign_clock: HashMap<UserId, Timestamp>,
    leases: HashMap<String, weshop_core::lease::Lease>,
    last_campaign: i64,
    last_notification: i64,
    last_user: i64,
    last_product: i64,
    last_order: i64,
    last_outbox: u64,
    /// `Some` when the store is journaled.
    pending: Option<Pending>,
    /// While loading: what waits to be put together.
    loading: records::Loading,
    /// Orders loaded from a whole record (stored before their parts were kept apart), until
    /// their next change writes them in parts.
    whole: HashSet<OrderId>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store kept in `engine` (raw keys in SurrealDB's embedded engine, see `journal.rs`):
    /// loads every record, then makes each write durable before it returns.
    #[cfg(feature = "surrealdb")]
    pub(crate) async fn journaled(
        engine: std::sync::Arc<surrealdb_engine_local::Datastore>,
    ) -> Result<Self, StoreError> {
        let (journal, mut state) = journal::Journal::open(engine).await?;
        state.pending = Some(Pending::default());
        Ok(Self {
            state: Mutex::new(state),
            feed: changes::Feed::default(),
            journal: Some(journal),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        #[cfg(feature = "surrealdb")]
        if let Some(journal) = &self.journal {
            journal.check()?;
        }
        // Nothing panics while the lock is held with a change half made, but if something
        // ever did, refusing to go on is safer than serving what it left.
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned by a panic".into()))
    }

    /// Runs a write under the lock; journaled, it returns once what it changed is on disk
    /// (and a write that changed nothing, once what it saw is).
    async fn write<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let (result, sealed) = {
            let mut state = self.lock()?;
            let result = change(&mut state);
            (result, self.seal(&mut state)?)
        };
        self.settle(sealed).await?;
        result
    }

    /// Runs a write under the lock and seals what it changed, without waiting for the disk:
    /// what it changed is durable once any write sealed after it returns (entries reach the
    /// disk in order), and lost in a crash before that, with everything sealed after it.
    fn write_sealed<T>(
        &self,
        change: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut state = self.lock()?;
        let result = change(&mut state);
        self.seal(&mut state)?;
        result
    }

    /// Runs a read under the lock; journaled, it returns once everything it may have seen is
    /// on disk, so nothing is seen that a crash could take back. This waits for every write
    /// sealed so far; [`Self::read_seen`] waits for fewer.
    async fn read<T>(&self, look: impl FnOnce(&State) -> T) -> Result<T, StoreError> {
        let (value, sealed) = {
            let state = self.lock()?;
            (look(&state), state.pending.as_ref().map(|p| p.sealed))
        };
        self.settle(sealed).await?;
        Ok(value)
    }

    /// A read that names what it looks at ([`State::saw`]): journaled, it
    /// waits only for the writes that changed those. Anything `look` returns must come from
    /// what it names (an absent record counts: its deletion is a change like any other).
    async fn read_seen<T>(&self, look: impl FnOnce(&State) -> T) -> Result<T, StoreError> {
        let (value, seen) = {
            let state = self.lock()?;
            let value = look(&state);
            (value, state.pending.as_ref().map(|p| p.seen.replace(0)))
        };
        self.settle(seen).await?;
        Ok(value)
    }

    /// Seals what the writes since the last seal changed as the journal's next entry; the
    /// entry to wait for (`None` when not journaled).
    #[cfg(feature = "surrealdb")]
    fn seal(&self, state: &mut State) -> Result<Option<u64>, StoreError> {
        let (Some(journal), Some(pending)) = (&self.journal, state.pending.as_mut()) else {
            return Ok(None);
        };
        if pending.changed.is_empty() {
            return Ok(Some(pending.sealed));
        }
        let mut changed = std::mem::take(&mut pending.changed);
        changed.sort_unstable();
        changed.dedup();
        let writes = changed.iter().map(|r| state.encode(r)).collect();
        let pending = state.pending.as_mut().expect("checked above");
        pending.sealed += 1;
        let seq = pending.sealed;
        journal.seal(seq, writes)?;
        if pending.records.len() >= pending.prune_at {
            let on_disk = journal.on_disk();
            pending.records.retain(|_, sealed| *sealed > on_disk);
            pending.prune_at = (pending.records.len() * 2).max(PRUNE_MIN);
        }
        // Reads name an order by its state, which every change of the order touches.
        for record in changed {
            if !matches!(record, Record::OrderTerms(_) | Record::OrderEvent(..)) {
                pending.records.insert(record, seq);
            }
        }
        Ok(Some(seq))
    }

    #[cfg(not(feature = "surrealdb"))]
    fn seal(&self, _state: &mut State) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    /// Waits until entry `sealed` is on disk.
    async fn settle(&self, sealed: Option<u64>) -> Result<(), StoreError> {
        #[cfg(feature = "surrealdb")]
        if let (Some(journal), Some(seq)) = (&self.journal, sealed) {
            return journal.durable(seq).await;
        }
        let _ = sealed;
        Ok(())
    }
}

/// The next id after `last`, which becomes the new last.
fn next_id(last: &mut i64, what: &str) -> Result<i64, StoreError> {
    *last = last
        .checked_add(1)
        .ok_or_else(|| StoreError::Backend(format!("{what} ids exhausted")))?;
    Ok(*last)
}

impl State {
    /// Notes that a read looked at `record` (see [`MemoryStore::read_seen`]).
    fn saw(&self, record: &Record) {
        if let Some(pending) = &self.pending
            && let Some(sealed) = pending.records.get(record)
        {
            pending.seen.set(pending.seen.get().max(*sealed));
        }
    }

    /// Stores `order`, noting what the journal must write: a new order's terms, its state,
    /// and each event the stored one had not (histories only grow; a shorter one deletes the
    /// events it lacks). An order loaded whole is written in parts, and its whole record goes.
    fn put_order(&mut self, order: Order) {
        let id = order.id();
        let stored = match self.whole.remove(&id) {
            true => {
                self.touch(Record::Order(id));
                None
            }
            false => self.orders.get(&id).map(|o| o.history().len() as u64),
        };
        let after = order.history().len() as u64;
        self.orders.insert(id, order);
        if stored.is_none() {
            self.touch(Record::OrderTerms(id));
        }
        self.touch(Record::OrderState(id));
        let before = stored.unwrap_or(0);
        for position in before.min(after)..before.max(after) {
            self.touch(Record::OrderEvent(id, position));
        }
    }

    /// Notes that a write changed `record`, for the journal (nothing when not journaled).
    fn touch(&mut self, record: Record) {
        if let Some(pending) = &mut self.pending {
            pending.changed.push(record);
        }
    }

    /// Writes staged stock rows.
    fn put_stock(&mut self, staged: BTreeMap<(ProductId, WarehouseId), Stock>) {
        for ((product, warehouse), stock) in staged {
            self.stock.insert((product, warehouse), stock);
            self.touch(Record::Stock(product, warehouse));
        }
    }

    /// A product's stock in every warehouse that has a record of it, by warehouse.
    fn stock_of(&self, product: ProductId) -> Vec<(WarehouseId, Stock)> {
        self.stock
            .range(
                (
                    product,
                    WarehouseId::new(1).expect("the lowest warehouse id"),
                )..,
            )
            .take_while(|((p, _), _)| *p == product)
            .map(|((_, w), s)| (*w, *s))
            .collect()
    }

    /// The stock rows `deltas` lead to, applied in order, each with its invariant check; the
    /// state itself is not changed. A missing row counts as empty stock.
    fn staged_stock(
        &self,
        deltas: &[StockDelta],
    ) -> Result<BTreeMap<(ProductId, WarehouseId), Stock>, StoreError> {
        let mut staged: BTreeMap<(ProductId, WarehouseId), Stock> = BTreeMap::new();
        for delta in deltas {
            let row = (delta.product, delta.warehouse);
            let before = staged
                .get(&row)
                .or_else(|| self.stock.get(&row))
                .copied()
                .unwrap_or_default();
            let after = delta.apply(before).ok_or(StoreError::OutOfStock {
                product: delta.product,
                warehouse: delta.warehouse,
                available: before.available(),
            })?;
            staged.insert(row, after);
        }
        Ok(staged)
    }
}

/// Journaled, closing makes every write durable and releases the database; a plain store
/// has nothing to release.
#[async_trait]
impl StoreLifecycle for MemoryStore {
    async fn close(&self) -> Result<(), StoreError> {
        #[cfg(feature = "surrealdb")]
        if let Some(journal) = &self.journal {
            return journal.close().await;
        }
        Ok(())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.write(|state| {
            if state.emails.contains_key(&user.email) {
                return Err(StoreError::Duplicate(format!("email {}", user.email)));
            }
            let id = UserId::new(next_id(&mut state.last_user, "user")?).map_err(corrupt)?;
            let user = user.with_id(id);
            state.emails.insert(user.email.clone(), id);
            state.users.insert(id, user.clone());
            state.touch(Record::User(id));
            state.touch(Record::Counters);
            Ok(user)
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::User(id));
            state.users.get(&id).cloned()
        })
        .await
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        // Users are never deleted: an email not found has nothing on its way to disk.
        self.read_seen(|state| {
            let id = state.emails.get(email)?;
            state.saw(&Record::User(*id));
            state.users.get(id).cloned()
        })
        .await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.write(|state| {
            let stored = state
                .users
                .get_mut(&user.id)
                .ok_or_else(|| StoreError::NotFound(format!("user {}", user.id)))?;
            // The id and the email stay; the rest is the profile.
            *stored = User {
                id: stored.id,
                email: stored.email.clone(),
                ..user.clone()
            };
            state.touch(Record::User(user.id));
            Ok(())
        })
        .await
    }

    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError> {
        self.read(|state| {
            state
                .users
                .values()
                .filter(|u| u.roles.customer && u.promotions)
                .map(|u| u.id)
                .collect()
        })
        .await
    }

    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        self.write(|state| {
            state
                .sessions
                .insert(session.token.clone(), session.clone());
            state.touch(Record::Session(session.token.clone()));
            Ok(())
        })
        .await
    }

    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Session(token.clone()));
            state.sessions.get(token).cloned()
        })
        .await
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.write(|state| {
            let removed = state.sessions.remove(token).is_some();
            if removed {
                state.touch(Record::Session(token.clone()));
            }
            Ok(removed)
        })
        .await
    }

    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError> {
        self.write(|state| {
            let gone: Vec<TokenHash> = state
                .sessions
                .iter()
                .filter(|(token, session)| session.user == user && *token != keep)
                .map(|(token, _)| token.clone())
                .collect();
            for token in &gone {
                state.sessions.remove(token);
                state.touch(Record::Session(token.clone()));
            }
            Ok(gone.len() as u64)
        })
        .await
    }
}

#[async_trait]
impl CartStore for MemoryStore {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Cart(user));
            state.carts.get(&user).cloned().unwrap_or_default()
        })
        .await
    }

    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        self.write(|state| {
            if cart.is_empty() {
                state.carts.remove(&user);
            } else {
                state.carts.insert(user, cart.clone());
            }
            state.touch(Record::Cart(user));
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use weshop_core::{
        domain::{
            Category, Currency, Description, Money, PasswordHash, PersonName, ProductName, Roles,
            Timestamp, Weight,
        },
        store::{CatalogStore, NewProduct, OrderStore, StepCommit},
    };

    use super::*;

    fn hash() -> PasswordHash {
        // A valid PHC string; nothing here verifies passwords.
        PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
            .unwrap()
    }

    #[tokio::test]
    async fn ids_start_at_one_and_count_up() {
        let store = MemoryStore::new();
        for n in 1..=3 {
            let user = store
                .create_user(NewUser {
                    email: Email::parse(&format!("u{n}@example.com")).unwrap(),
                    name: PersonName::parse("U").unwrap(),
                    roles: Roles::new(true, false).unwrap(),
                    password: hash(),
                    created: Timestamp(0),
                })
                .await
                .unwrap();
            assert_eq!(user.id.get(), n);
            let product = store
                .create_product(NewProduct {
                    seller: user.id,
                    name: ProductName::parse("Mug").unwrap(),
                    description: Description::parse("").unwrap(),
                    category: Category::parse("kitchen").unwrap(),
                    price: Money::from_minor(100, Currency::USD).unwrap(),
                    weight: Weight::grams(1).unwrap(),
                    images: vec![],
                })
                .await
                .unwrap();
            assert_eq!(product.id.get(), n);
            assert_eq!(store.allocate_order_id().await.unwrap().get(), n);
        }
        let entries = store
            .commit_step(StepCommit {
                effects: vec![Effect::Notify {
                    user: UserId::new(1).unwrap(),
                    notification: weshop_core::notify::Notification::Promotion {
                        seller: UserId::new(1).unwrap(),
                        text: "hi".into(),
                    },
                }],
                ..StepCommit::default()
            })
            .await
            .unwrap();
        assert_eq!(entries[0].id, 1);
    }
}
