//! The memory store's journal records: how each record of [`State`] is keyed and stored as a
//! raw pair in a key-value engine, and loaded back into a fresh state.
//!
//! One record per key, so a write rewrites only the records it changed. An order is kept in
//! parts: its terms (lines, prices, destination: fixed when placed), its state (status,
//! warehouse, truck, how many events) and one key per event of its history, which only grows.
//! A step then writes the small state and the events it added, not the whole order and its
//! whole history again (orders were 65% of the journal's bytes when stored whole).
//!
//! Values are JSON documents that name every id of their record (the key is only checked against them), so a
//! value read alone says where it goes; they reuse [`crate::documents`] where the SurrealDB
//! backend has a document, so a kind has one stored form. Indexes derivable from the records
//! (emails, the mail queue) are never stored: [`State::finish_load`] rebuilds them, so they
//! cannot disagree with what they index.

mod docs;
#[cfg(test)]
pub(super) mod tests;

use std::collections::BTreeMap;

use weshop_core::{
    domain::{
        CampaignId, NotificationId, OrderId, PictureId, ProductId, TokenHash, UserId, WarehouseId,
    },
    inbox::MailState,
    store::StoreError,
};

use self::docs::{
    CampaignDoc, CartDoc, ClockDoc, CountersDoc, InboxDoc, KeyDoc, LeaseDoc, LinkDoc,
    OrderEventDoc, OutboxDoc, PaymentDoc, PictureDoc, SessionDoc, StockDoc, WarehouseDoc,
};
use super::State;
use crate::{
    corrupt,
    documents::{
        EventDoc, OrderDoc, OrderStateDoc, OrderTermsDoc, ProductDoc, UserDoc, from_json, to_json,
    },
};

/// Where every journal key starts.
pub(super) const PREFIX: &[u8] = b"weshop/";

/// One record of [`State`] that a write changed: the unit the journal stores under its own key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Record {
    User(UserId),
    Session(TokenHash),
    Product(ProductId),
    Warehouse(WarehouseId),
    Stock(ProductId, WarehouseId),
    Cart(UserId),
    /// An order stored whole, history and all, as it was before its parts were kept apart:
    /// only ever loaded, and deleted when the order next changes (it then has no value).
    Order(OrderId),
    /// What an order is bought on (its lines, prices, destination…): written once.
    OrderTerms(OrderId),
    /// Where an order stands, and how many events its history has.
    OrderState(OrderId),
    /// One event of an order's history, by position: written once, as histories only grow.
    OrderEvent(OrderId, u64),
    /// An idempotency key (`State::keys` + `State::fingerprints`, which change together): the
    /// order it placed and the request's fingerprint.
    Key(UserId, String),
    Outbox(u64),
    Link(String),
    Picture(PictureId),
    /// One line of `payment_records`, by position (0-based).
    Payment(u64),
    Inbox(NotificationId),
    Campaign(CampaignId),
    CampaignClock(UserId),
    Lease(String),
    /// The id counters (`last_campaign`, `last_notification`, `last_user`, `last_product`,
    /// `last_order`, `last_outbox`), one record.
    Counters,
}

/// The tables: each key's first component after [`PREFIX`]. Named once, so writing and
/// loading cannot disagree.
mod table {
    pub(super) const USER: &str = "user";
    pub(super) const SESSION: &str = "session";
    pub(super) const PRODUCT: &str = "product";
    pub(super) const WAREHOUSE: &str = "warehouse";
    pub(super) const STOCK: &str = "stock";
    pub(super) const CART: &str = "cart";
    pub(super) const ORDER: &str = "order";
    pub(super) const ORDER_TERMS: &str = "order_terms";
    pub(super) const ORDER_STATE: &str = "order_state";
    pub(super) const ORDER_EVENT: &str = "order_event";
    pub(super) const KEY: &str = "key";
    pub(super) const OUTBOX: &str = "outbox";
    pub(super) const LINK: &str = "link";
    pub(super) const PICTURE: &str = "picture";
    pub(super) const PAYMENT: &str = "payment";
    pub(super) const INBOX: &str = "inbox";
    pub(super) const CAMPAIGN: &str = "campaign";
    pub(super) const CAMPAIGN_CLOCK: &str = "campaign_clock";
    pub(super) const LEASE: &str = "lease";
    pub(super) const COUNTERS: &str = "counters";
}

impl Record {
    fn table(&self) -> &'static str {
        match self {
            Record::User(_) => table::USER,
            Record::Session(_) => table::SESSION,
            Record::Product(_) => table::PRODUCT,
            Record::Warehouse(_) => table::WAREHOUSE,
            Record::Stock(..) => table::STOCK,
            Record::Cart(_) => table::CART,
            Record::Order(_) => table::ORDER,
            Record::OrderTerms(_) => table::ORDER_TERMS,
            Record::OrderState(_) => table::ORDER_STATE,
            Record::OrderEvent(..) => table::ORDER_EVENT,
            Record::Key(..) => table::KEY,
            Record::Outbox(_) => table::OUTBOX,
            Record::Link(_) => table::LINK,
            Record::Picture(_) => table::PICTURE,
            Record::Payment(_) => table::PAYMENT,
            Record::Inbox(_) => table::INBOX,
            Record::Campaign(_) => table::CAMPAIGN,
            Record::CampaignClock(_) => table::CAMPAIGN_CLOCK,
            Record::Lease(_) => table::LEASE,
            Record::Counters => table::COUNTERS,
        }
    }

    /// `weshop/<table>/<id>`: numeric ids in decimal, strings as they are (always last, so
    /// whatever they hold, keys stay unique); the counters have no id.
    fn key(&self) -> Vec<u8> {
        let id = match self {
            Record::User(id) | Record::Cart(id) | Record::CampaignClock(id) => id.to_string(),
            Record::Session(token) => token.as_str().to_string(),
            Record::Product(id) => id.to_string(),
            Record::Warehouse(id) => id.to_string(),
            Record::Stock(product, warehouse) => format!("{product}/{warehouse}"),
            Record::Order(id) | Record::OrderTerms(id) | Record::OrderState(id) => id.to_string(),
            Record::OrderEvent(id, position) => format!("{id}/{position}"),
            Record::Key(user, key) => format!("{user}/{key}"),
            Record::Outbox(id) | Record::Payment(id) => id.to_string(),
            Record::Link(name) | Record::Lease(name) => name.clone(),
            Record::Picture(id) => id.to_string(),
            Record::Inbox(id) => id.to_string(),
            Record::Campaign(id) => id.to_string(),
            Record::Counters => return [PREFIX, table::COUNTERS.as_bytes()].concat(),
        };
        [PREFIX, self.table().as_bytes(), b"/", id.as_bytes()].concat()
    }
}

impl State {
    /// The record's journal key and its current value in this state; `None` when the state no
    /// longer has it (the journal deletes the key).
    pub(super) fn encode(&self, record: &Record) -> (Vec<u8>, Option<Vec<u8>>) {
        (record.key(), self.value(record).map(String::into_bytes))
    }

    fn value(&self, record: &Record) -> Option<String> {
        Some(match record {
            Record::User(id) => to_json(&UserDoc::from(self.users.get(id)?)),
            Record::Session(token) => to_json(&SessionDoc::from(self.sessions.get(token)?)),
            Record::Product(id) => to_json(&ProductDoc::from(self.products.get(id)?)),
            Record::Warehouse(id) => to_json(&WarehouseDoc::from(self.warehouses.get(id)?)),
            Record::Stock(product, warehouse) => {
                let stock = self.stock.get(&(*product, *warehouse))?;
                to_json(&StockDoc::new(*product, *warehouse, stock))
            }
            Record::Cart(user) => to_json(&CartDoc::new(*user, self.carts.get(user)?)),
            Record::Order(_) => return None,
            Record::OrderTerms(id) => to_json(&OrderTermsDoc::from(self.orders.get(id)?)),
            Record::OrderState(id) => to_json(&OrderStateDoc::from(self.orders.get(id)?)),
            Record::OrderEvent(id, position) => {
                let history = self.orders.get(id)?.history();
                let event = history.get(usize::try_from(*position).ok()?)?;
                to_json(&OrderEventDoc {
                    order: id.get(),
                    position: *position,
                    event: EventDoc::from(event),
                })
            }
            Record::Key(user, key) => {
                let both = (*user, key.clone());
                let order = *self.keys.get(&both)?;
                to_json(&KeyDoc::new(
                    *user,
                    key,
                    order,
                    self.fingerprints.get(&both),
                ))
            }
            Record::Outbox(id) => to_json(&OutboxDoc::new(*id, self.outbox.get(id)?)),
            Record::Link(name) => to_json(&LinkDoc::new(name, self.links.get(name)?)),
            Record::Picture(id) => to_json(&PictureDoc::from(self.pictures.get(id)?)),
            Record::Payment(position) => {
                let line = self.payment_records.get(usize::try_from(*position).ok()?)?;
                to_json(&PaymentDoc {
                    position: *position,
                    line: line.clone(),
                })
            }
            Record::Inbox(id) => to_json(&InboxDoc::new(self.inbox.get(id)?, self.inbox_key(*id))),
            Record::Campaign(id) => to_json(&CampaignDoc::from(self.campaigns.get(id)?)),
            Record::CampaignClock(seller) => {
                to_json(&ClockDoc::new(*seller, *self.campaign_clock.get(seller)?))
            }
            Record::Lease(name) => to_json(&LeaseDoc::from(self.leases.get(name)?)),
            Record::Counters => to_json(&CountersDoc {
                campaign: self.last_campaign,
                notification: self.last_notification,
                user: self.last_user,
                product: self.last_product,
                order: self.last_order,
                outbox: self.last_outbox,
            }),
        })
    }

    /// The key a notification was filed under.
    fn inbox_key(&self, id: NotificationId) -> Option<&str> {
        self.filed_as.get(&id).map(String::as_str)
    }

    /// Puts one stored pair (as `encode` wrote it) into this state. Unknown tables or bad
    /// values are `StoreError::Corrupt` naming the key.
    pub(super) fn load(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.load_pair(key, value).map_err(|e| {
            let why = match e {
                StoreError::Corrupt(why) => why,
                other => other.to_string(),
            };
            corrupt(format!(
                "journal record {:?}: {why}",
                String::from_utf8_lossy(key)
            ))
        })
    }

    fn load_pair(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let table = key
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split(|b| *b == b'/').next())
            .and_then(|table| std::str::from_utf8(table).ok())
            .ok_or_else(|| corrupt("not a journal key"))?;
        let text = std::str::from_utf8(value).map_err(corrupt)?;
        // Each arm puts its record in and says which it was; a key that is not that record's
        // fails the whole load, so what was put in does not matter.
        let record = match table {
            table::USER => {
                let user = from_json::<UserDoc>(text)?.parse()?;
                let id = user.id;
                self.users.insert(id, user);
                Record::User(id)
            }
            table::SESSION => {
                let session = from_json::<SessionDoc>(text)?.parse()?;
                let token = session.token.clone();
                self.sessions.insert(token.clone(), session);
                Record::Session(token)
            }
            table::PRODUCT => {
                let product = from_json::<ProductDoc>(text)?.parse()?;
                let id = product.id;
                self.products.insert(id, product);
                Record::Product(id)
            }
            table::WAREHOUSE => {
                let site = from_json::<WarehouseDoc>(text)?.parse()?;
                self.warehouses.insert(site.id, site);
                Record::Warehouse(site.id)
            }
            table::STOCK => {
                let (product, warehouse, stock) = from_json::<StockDoc>(text)?.parse()?;
                self.stock.insert((product, warehouse), stock);
                Record::Stock(product, warehouse)
            }
            table::CART => {
                let (user, cart) = from_json::<CartDoc>(text)?.parse()?;
                self.carts.insert(user, cart);
                Record::Cart(user)
            }
            // Orders are put together in `finish_load`, once all their parts are in.
            table::ORDER => Record::Order(held(text, OrderDoc::id, &mut self.loading.whole)?),
            table::ORDER_TERMS => {
                Record::OrderTerms(held(text, OrderTermsDoc::id, &mut self.loading.terms)?)
            }
            table::ORDER_STATE => {
                Record::OrderState(held(text, OrderStateDoc::id, &mut self.loading.states)?)
            }
            table::ORDER_EVENT => {
                let doc = from_json::<OrderEventDoc>(text)?;
                let id = OrderId::new(doc.order).map_err(corrupt)?;
                self.loading
                    .events
                    .entry(id)
                    .or_default()
                    .insert(doc.position, doc.event);
                Record::OrderEvent(id, doc.position)
            }
            table::KEY => {
                let (user, key, order, fingerprint) = from_json::<KeyDoc>(text)?.parse()?;
                let both = (user, key);
                if let Some(fingerprint) = fingerprint {
                    self.fingerprints.insert(both.clone(), fingerprint);
                }
                self.keys.insert(both.clone(), order);
                Record::Key(both.0, both.1)
            }
            table::OUTBOX => {
                let (id, effect) = from_json::<OutboxDoc>(text)?.parse()?;
                self.outbox.insert(id, effect);
                Record::Outbox(id)
            }
            table::LINK => {
                let (name, state) = from_json::<LinkDoc>(text)?.parse()?;
                self.links.insert(name.clone(), state);
                Record::Link(name)
            }
            table::PICTURE => {
                let picture = from_json::<PictureDoc>(text)?.parse()?;
                let id = picture.id.clone();
                self.pictures.insert(id.clone(), picture);
                Record::Picture(id)
            }
            table::PAYMENT => {
                let doc = from_json::<PaymentDoc>(text)?;
                // Pairs may come in any order (`payment/10` sorts before `payment/2`): lines
                // are kept with their position until `finish_load` puts them in order.
                self.payment_records
                    .push(format!("{}{POSITION_END}{}", doc.position, doc.line));
                Record::Payment(doc.position)
            }
            table::INBOX => {
                let (entry, filed_as) = from_json::<InboxDoc>(text)?.parse()?;
                let id = entry.id;
                if let Some(filed_as) = filed_as {
                    if let Some(other) = self.inbox_keys.insert(filed_as.clone(), id) {
                        return Err(corrupt(format!(
                            "notifications {other} and {id} both filed as {filed_as:?}"
                        )));
                    }
                    self.filed_as.insert(id, filed_as);
                }
                self.inbox.insert(id, entry);
                Record::Inbox(id)
            }
            table::CAMPAIGN => {
                let campaign = from_json::<CampaignDoc>(text)?.parse()?;
                let id = campaign.id;
                self.campaigns.insert(id, campaign);
                Record::Campaign(id)
            }
            table::CAMPAIGN_CLOCK => {
                let (seller, at) = from_json::<ClockDoc>(text)?.parse()?;
                self.campaign_clock.insert(seller, at);
                Record::CampaignClock(seller)
            }
            table::LEASE => {
                let lease = from_json::<LeaseDoc>(text)?.parse();
                let name = lease.name.clone();
                self.leases.insert(name.clone(), lease);
                Record::Lease(name)
            }
            table::COUNTERS => {
                let c = from_json::<CountersDoc>(text)?;
                if [c.campaign, c.notification, c.user, c.product, c.order]
                    .iter()
                    .any(|n| *n < 0)
                {
                    return Err(corrupt("a negative id counter"));
                }
                self.last_campaign = c.campaign;
                self.last_notification = c.notification;
                self.last_user = c.user;
                self.last_product = c.product;
                self.last_order = c.order;
                self.last_outbox = c.outbox;
                Record::Counters
            }
            other => return Err(corrupt(format!("unknown table {other:?}"))),
        };
        if record.key() != key {
            return Err(corrupt(format!(
                "the value is the record of {:?}",
                String::from_utf8_lossy(&record.key())
            )));
        }
        Ok(())
    }

    /// After every pair is loaded: puts the payment records in order and rebuilds the derived
    /// indexes (`emails` from users, `mail_queue` from inbox entries; `inbox_keys` came with
    /// the entries), then checks what a later write relies on: one user per email, every
    /// payment position present, every idempotency key's order present, and no id above its
    /// counter (a lagging counter would hand out an id again).
    pub(super) fn finish_load(&mut self) -> Result<(), StoreError> {
        self.payment_records = in_order(std::mem::take(&mut self.payment_records))?;
        self.assemble_orders()?;

        self.emails.clear();
        for user in self.users.values() {
            if let Some(other) = self.emails.insert(user.email.clone(), user.id) {
                return Err(corrupt(format!(
                    "users {other} and {} share the email {}",
                    user.id, user.email
                )));
            }
        }

        self.mail_queue = self
            .inbox
            .values()
            .filter(|e| e.mail == MailState::Pending)
            .map(|e| e.id)
            .collect();

        if let Some(((user, key), order)) = self
            .keys
            .iter()
            .find(|(_, order)| !self.orders.contains_key(order))
        {
            return Err(corrupt(format!(
                "user {user}'s key {key:?} placed order {order}, which is missing"
            )));
        }

        let counters = [
            ("user", self.last_user, highest(&self.users, |i| i.get())),
            (
                "product",
                self.last_product,
                highest(&self.products, |i| i.get()),
            ),
            ("order", self.last_order, highest(&self.orders, |i| i.get())),
            (
                "notification",
                self.last_notification,
                highest(&self.inbox, |i| i.get()),
            ),
            (
                "campaign",
                self.last_campaign,
                highest(&self.campaigns, |i| i.get()),
            ),
        ];
        for (what, counter, highest) in counters {
            if highest > counter {
                return Err(corrupt(format!(
                    "{what} {highest} is stored but the {what} counter is at {counter}"
                )));
            }
        }
        if let Some(highest) = self.outbox.keys().next_back()
            && *highest > self.last_outbox
        {
            return Err(corrupt(format!(
                "outbox entry {highest} is stored but the outbox counter is at {}",
                self.last_outbox
            )));
        }
        Ok(())
    }

    /// Each loaded order from its parts: its terms, its state, and its events, which must be
    /// exactly as many as its state says, at positions 0, 1, 2, …; or an order stored whole.
    fn assemble_orders(&mut self) -> Result<(), StoreError> {
        let Loading {
            whole,
            mut terms,
            states,
            mut events,
        } = std::mem::take(&mut self.loading);
        for (id, doc) in whole {
            if terms.contains_key(&id) || states.contains_key(&id) || events.contains_key(&id) {
                return Err(corrupt(format!(
                    "order {id} is stored both whole and in parts"
                )));
            }
            self.orders.insert(id, doc.parse()?);
            self.whole.insert(id);
        }
        for (id, state) in states {
            let terms = terms
                .remove(&id)
                .ok_or_else(|| corrupt(format!("order {id}'s terms are missing")))?;
            let history = events.remove(&id).unwrap_or_default();
            // Positions come sorted: the first that is not its own index is a missing one.
            let first_missing = (0..)
                .zip(history.keys())
                .find(|(expected, position)| expected != *position)
                .map_or(history.len() as u64, |(expected, _)| expected);
            if first_missing < state.events() {
                return Err(corrupt(format!(
                    "order {id}'s event {first_missing} is missing"
                )));
            }
            if history.len() as u64 > state.events() {
                return Err(corrupt(format!(
                    "order {id} has events past its {}",
                    state.events()
                )));
            }
            let doc = OrderDoc::assemble(terms, state, history.into_values());
            self.orders.insert(id, doc.parse()?);
        }
        if let Some(id) = terms.keys().chain(events.keys()).next() {
            return Err(corrupt(format!(
                "parts of order {id}, whose state is missing"
            )));
        }
        Ok(())
    }
}

/// Parses one part of an order and holds it in `parts` under its order's id (which it
/// returns) until the load puts the order together.
fn held<D: serde::de::DeserializeOwned>(
    text: &str,
    order_of: fn(&D) -> i64,
    parts: &mut BTreeMap<OrderId, D>,
) -> Result<OrderId, StoreError> {
    let doc = from_json::<D>(text)?;
    let id = OrderId::new(order_of(&doc)).map_err(corrupt)?;
    parts.insert(id, doc);
    Ok(id)
}

/// Records read but not yet put together: orders wait for all their parts.
#[derive(Default)]
pub(super) struct Loading {
    whole: BTreeMap<OrderId, OrderDoc>,
    terms: BTreeMap<OrderId, OrderTermsDoc>,
    states: BTreeMap<OrderId, OrderStateDoc>,
    events: BTreeMap<OrderId, BTreeMap<u64, EventDoc>>,
}

impl std::fmt::Debug for Loading {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loading")
            .field("whole", &self.whole.len())
            .field("states", &self.states.len())
            .finish_non_exhaustive()
    }
}

/// The highest id in `map`, 0 when it is empty.
fn highest<K: Copy, V>(map: &BTreeMap<K, V>, get: impl Fn(K) -> i64) -> i64 {
    map.keys().next_back().map_or(0, |k| get(*k))
}

/// Ends a loaded payment line's position (a position is digits only).
const POSITION_END: char = ':';

/// The payment lines as `load` kept them (each after its position), in order: positions must
/// be exactly 0, 1, 2, … .
fn in_order(tagged: Vec<String>) -> Result<Vec<String>, StoreError> {
    let mut lines = tagged
        .into_iter()
        .map(|tagged| {
            let (position, line) = tagged
                .split_once(POSITION_END)
                .ok_or_else(|| corrupt("a payment record without its position"))?;
            let position: u64 = position.parse().map_err(corrupt)?;
            Ok((position, line.to_string()))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    lines.sort_unstable_by_key(|(position, _)| *position);
    for (expected, (position, _)) in (0u64..).zip(&lines) {
        if *position != expected {
            return Err(corrupt(format!("payment record {expected} is missing")));
        }
    }
    Ok(lines.into_iter().map(|(_, line)| line).collect())
}
