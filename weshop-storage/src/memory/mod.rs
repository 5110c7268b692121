//! The in-memory backend: every storage trait of [`weshop_core::store`] over plain maps behind
//! one mutex, for tests, demos and embedding.
//!
//! Each call takes the lock once and does all its work under it (it is never held across an
//! await), so every call is atomic, and the calls that can fail part-way (stock changes,
//! placements, fulfilment steps) check everything before they change anything.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use weshop_core::{
    domain::{
        Campaign, CampaignId, Cart, Category, Email, LoginSession, NotificationId, Order, OrderId,
        OrderStatus, Picture, PictureId, PictureSize, Product, ProductId, Stock, StockDelta,
        Timestamp, TokenHash, User, UserId, WarehouseId, WarehouseSite,
    },
    fulfilment::Effect,
    inbox::InboxEntry,
    store::{
        AccountStore, CartStore, CatalogStore, NewProduct, NewUser, OrderStore, OutboxEntry, Page,
        PlaceOrder, Placed, ProductQuery, ProductSort, StepCommit, StoreError, StoreLifecycle,
        search_terms,
    },
};

use crate::{CART_CHANGED, corrupt};

mod campaigns;
mod changes;
mod inbox;
mod leases;

/// Everything a shop stores, in memory, lost when dropped.
///
/// Ids (users, products, orders, outbox entries) count up from 1 and are never reused. Search
/// matches a product when every query word is the start of a word of its name, description or
/// category; `Relevance` with words ranks products by how many of them start a word of the
/// name, then newest first.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    feed: changes::Feed,
}

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
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        // Nothing panics while the lock is held with a change half made, but if something
        // ever did, refusing to go on is safer than serving what it left.
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store poisoned by a panic".into()))
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

/// True if every query term is a prefix of one of the product's words.
fn matches_text(product: &Product, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let mut words = search_terms(product.name.as_str());
    words.extend(search_terms(product.description.as_str()));
    words.extend(search_terms(product.category.as_str()));
    terms
        .iter()
        .all(|term| words.iter().any(|word| word.starts_with(term.as_str())))
}

/// How many query terms are a prefix of a word of the product's name.
fn name_score(product: &Product, terms: &[String]) -> usize {
    let words = search_terms(product.name.as_str());
    terms
        .iter()
        .filter(|term| words.iter().any(|word| word.starts_with(term.as_str())))
        .count()
}

/// Nothing to release: it lives and dies with the process.
impl StoreLifecycle for MemoryStore {}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let mut state = self.lock()?;
        if state.emails.contains_key(&user.email) {
            return Err(StoreError::Duplicate(format!("email {}", user.email)));
        }
        let id = UserId::new(next_id(&mut state.last_user, "user")?).map_err(corrupt)?;
        let user = user.with_id(id);
        state.emails.insert(user.email.clone(), id);
        state.users.insert(id, user.clone());
        Ok(user)
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.lock()?.users.get(&id).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .emails
            .get(email)
            .and_then(|id| state.users.get(id))
            .cloned())
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.lock()?;
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
        Ok(())
    }

    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError> {
        Ok(self
            .lock()?
            .users
            .values()
            .filter(|u| u.roles.customer && u.promotions)
            .map(|u| u.id)
            .collect())
    }

    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        self.lock()?
            .sessions
            .insert(session.token.clone(), session.clone());
        Ok(())
    }

    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        Ok(self.lock()?.sessions.get(token).cloned())
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.lock()?.sessions.remove(token).is_some())
    }

    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let before = state.sessions.len();
        state
            .sessions
            .retain(|token, session| session.user != user || token == keep);
        Ok((before - state.sessions.len()) as u64)
    }
}

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        let mut state = self.lock()?;
        let id = ProductId::new(next_id(&mut state.last_product, "product")?).map_err(corrupt)?;
        let product = product.with_id(id);
        state.products.insert(id, product.clone());
        self.feed.product(id);
        Ok(product)
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.lock()?.products.get(&id).cloned())
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let stored = state
            .products
            .get_mut(&product.id)
            .ok_or_else(|| StoreError::NotFound(format!("product {}", product.id)))?;
        // The id and the seller stay.
        *stored = Product {
            id: stored.id,
            seller: stored.seller,
            ..product.clone()
        };
        self.feed.product(product.id);
        Ok(())
    }

    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        let state = &mut self.lock()?;
        let removed = state.products.remove(&id).is_some();
        if removed {
            self.feed.product(id);
        }
        Ok(removed)
    }

    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        let state = self.lock()?;
        let terms = query.text.as_deref().map(search_terms).unwrap_or_default();
        let mut hits: Vec<&Product> = state
            .products
            .values()
            .filter(|p| query.category.as_ref().is_none_or(|c| p.category == *c))
            .filter(|p| query.seller.is_none_or(|s| p.seller == s))
            .filter(|p| query.min_price.is_none_or(|min| p.price.minor() >= min))
            .filter(|p| query.max_price.is_none_or(|max| p.price.minor() <= max))
            .filter(|p| matches_text(p, &terms))
            .collect();
        match query.sort {
            ProductSort::Relevance if !terms.is_empty() => hits.sort_by(|a, b| {
                name_score(b, &terms)
                    .cmp(&name_score(a, &terms))
                    .then(b.id.cmp(&a.id))
            }),
            ProductSort::Relevance | ProductSort::Newest => hits.sort_by_key(|p| Reverse(p.id)),
            ProductSort::PriceAsc => {
                hits.sort_by(|a, b| a.price.minor().cmp(&b.price.minor()).then(a.id.cmp(&b.id)))
            }
            ProductSort::PriceDesc => {
                hits.sort_by(|a, b| b.price.minor().cmp(&a.price.minor()).then(a.id.cmp(&b.id)))
            }
            ProductSort::Name => {
                hits.sort_by_cached_key(|p| (p.name.as_str().to_lowercase(), p.id))
            }
        }
        let total = hits.len() as u64;
        let items = hits
            .into_iter()
            .skip(query.offset)
            .take(query.limit)
            .cloned()
            .collect();
        Ok(Page { items, total })
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        let state = self.lock()?;
        let mut counts: BTreeMap<&str, (Category, u64)> = BTreeMap::new();
        for product in state.products.values() {
            counts
                .entry(product.category.as_str())
                .or_insert_with(|| (product.category.clone(), 0))
                .1 += 1;
        }
        Ok(counts.into_values().collect())
    }

    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError> {
        let state = self.lock()?;
        let mut units: BTreeMap<ProductId, u64> = BTreeMap::new();
        for ((product, _), stock) in &state.stock {
            *units.entry(*product).or_default() += stock.available();
        }
        Ok(state
            .products
            .values()
            .map(|p| (p.clone(), units.get(&p.id).copied().unwrap_or(0)))
            .collect())
    }

    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        self.lock()?.warehouses.insert(warehouse.id, warehouse);
        Ok(())
    }

    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        Ok(self.lock()?.warehouses.values().copied().collect())
    }

    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        Ok(self.lock()?.stock_of(product))
    }

    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let staged = state.staged_stock(deltas)?;
        state.stock.extend(staged);
        self.feed.stock(deltas);
        Ok(())
    }

    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError> {
        self.lock()?
            .pictures
            .entry(picture.id.clone())
            .or_insert_with(|| picture.clone());
        Ok(())
    }

    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()?
            .pictures
            .get(id)
            .map(|p| p.bytes(size).to_vec()))
    }
}

#[async_trait]
impl CartStore for MemoryStore {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        Ok(self.lock()?.carts.get(&user).cloned().unwrap_or_default())
    }

    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        if cart.is_empty() {
            state.carts.remove(&user);
        } else {
            state.carts.insert(user, cart.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        let mut state = self.lock()?;
        OrderId::new(next_id(&mut state.last_order, "order")?).map_err(corrupt)
    }

    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        let mut state = self.lock()?;
        let key = (user, placement.idempotency_key);
        if let Some(id) = state.keys.get(&key) {
            let order =
                state.orders.get(id).cloned().ok_or_else(|| {
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
        state.stock.extend(staged);
        state.last_order = state.last_order.max(id.get());
        state.carts.remove(&user);
        state
            .fingerprints
            .insert(key.clone(), placement.fingerprint);
        state.keys.insert(key, id);
        state.orders.insert(id, order.clone());
        self.feed.stock(&placement.reservations);
        self.feed.order(&order);
        let mut stock = BTreeMap::new();
        for delta in &placement.reservations {
            stock
                .entry(delta.product)
                .or_insert_with(|| state.stock_of(delta.product));
        }
        Ok(Placed::Created { order, stock })
    }

    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .keys
            .get(&(user, key.to_string()))
            .and_then(|id| state.orders.get(id))
            .cloned())
    }

    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()?
            .fingerprints
            .get(&(user, key.to_string()))
            .cloned())
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(self.lock()?.orders.get(&id).cloned())
    }

    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        Ok(self
            .lock()?
            .orders
            .values()
            .rev()
            .filter(|o| o.customer() == customer)
            .cloned()
            .collect())
    }

    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        Ok(self
            .lock()?
            .orders
            .values()
            .rev()
            .filter(|o| o.lines().iter().any(|l| products.contains(&l.product)))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        Ok(self
            .lock()?
            .orders
            .values()
            .filter(|o| statuses.contains(&o.status()))
            .cloned()
            .collect())
    }

    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut state = self.lock()?;
        state.check_fence(step.fence.as_ref())?;
        for (order, version) in &step.orders {
            let stored = state.orders.get(&order.id()).map(Order::version);
            if stored != Some(*version) {
                return Err(StoreError::Conflict(match stored {
                    Some(now) => format!("order {} is at version {now}, not {version}", order.id()),
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
        state.stock.extend(staged);
        self.feed.stock(&step.stock);
        for (order, _) in step.orders {
            self.feed.order(&order);
            state.orders.insert(order.id(), order);
        }
        state.last_outbox = last;
        let entries: Vec<OutboxEntry> = (first + 1..)
            .zip(step.effects)
            .map(|(id, effect)| OutboxEntry { id, effect })
            .collect();
        for entry in &entries {
            state.outbox.insert(entry.id, entry.effect.clone());
        }
        for id in &step.done {
            state.outbox.remove(id);
        }
        state.links.extend(step.links);
        Ok(entries)
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        Ok(self
            .lock()?
            .outbox
            .iter()
            .map(|(id, effect)| OutboxEntry {
                id: *id,
                effect: effect.clone(),
            })
            .collect())
    }

    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.links.get(link).cloned())
    }

    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        self.lock()?.payment_records.extend(lines.iter().cloned());
        Ok(())
    }

    async fn payment_records(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock()?.payment_records.clone())
    }
}

#[cfg(test)]
mod tests {
    use weshop_core::domain::{
        Currency, Description, Money, PasswordHash, PersonName, ProductName, Roles, Timestamp,
        Weight,
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
