//! The journal's own documents, for the kinds [`crate::documents`] has none for (the SurrealDB
//! backend keeps them as columns). Each names every id of its record, so a value read alone
//! says where it goes, and each is parsed back through the domain's constructors.

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{
        Campaign, CampaignId, Cart, Location, LoginSession, NotificationId, OrderId, Picture,
        PictureId, ProductId, PromotionText, Quantity, Stock, Timestamp, TokenHash, UserId,
        WarehouseId, WarehouseSite,
    },
    fulfilment::Effect,
    inbox::InboxEntry,
    lease::Lease,
    store::StoreError,
};

use crate::{
    corrupt,
    documents::{EffectDoc, EventDoc, MailDoc, NotificationDoc},
};

fn user(id: i64) -> Result<UserId, StoreError> {
    UserId::new(id).map_err(corrupt)
}

fn bytes(text: &str, what: &str) -> Result<Vec<u8>, StoreError> {
    BASE64
        .decode(text)
        .map_err(|e| corrupt(format!("{what}: {e}")))
}

#[derive(Serialize, Deserialize)]
pub(super) struct SessionDoc {
    token: String,
    user: i64,
    expires: u64,
}

impl From<&LoginSession> for SessionDoc {
    fn from(s: &LoginSession) -> Self {
        Self {
            token: s.token.as_str().to_string(),
            user: s.user.get(),
            expires: s.expires.millis(),
        }
    }
}

impl SessionDoc {
    pub(super) fn parse(self) -> Result<LoginSession, StoreError> {
        Ok(LoginSession {
            token: TokenHash::from_stored(&self.token)
                .ok_or_else(|| corrupt(format!("token hash {:?}", self.token)))?,
            user: user(self.user)?,
            expires: Timestamp(self.expires),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct WarehouseDoc {
    id: i32,
    x: i32,
    y: i32,
}

impl From<&WarehouseSite> for WarehouseDoc {
    fn from(w: &WarehouseSite) -> Self {
        Self {
            id: w.id.get(),
            x: w.location.x,
            y: w.location.y,
        }
    }
}

impl WarehouseDoc {
    pub(super) fn parse(self) -> Result<WarehouseSite, StoreError> {
        Ok(WarehouseSite {
            id: WarehouseId::new(self.id).map_err(corrupt)?,
            location: Location::new(self.x, self.y),
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct StockDoc {
    product: i64,
    warehouse: i32,
    on_hand: u64,
    incoming: u64,
    reserved: u64,
}

impl StockDoc {
    pub(super) fn new(product: ProductId, warehouse: WarehouseId, stock: &Stock) -> Self {
        Self {
            product: product.get(),
            warehouse: warehouse.get(),
            on_hand: stock.on_hand(),
            incoming: stock.incoming(),
            reserved: stock.reserved(),
        }
    }

    pub(super) fn parse(self) -> Result<(ProductId, WarehouseId, Stock), StoreError> {
        Ok((
            ProductId::new(self.product).map_err(corrupt)?,
            WarehouseId::new(self.warehouse).map_err(corrupt)?,
            // Checks the invariant: a journal cannot promise more than there is.
            Stock::from_counts(self.on_hand, self.incoming, self.reserved).map_err(corrupt)?,
        ))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct CartDoc {
    user: i64,
    /// Product and quantity, one line per product.
    lines: Vec<(i64, u32)>,
}

impl CartDoc {
    pub(super) fn new(owner: UserId, cart: &Cart) -> Self {
        Self {
            user: owner.get(),
            lines: cart.lines().map(|(p, q)| (p.get(), q.get())).collect(),
        }
    }

    pub(super) fn parse(self) -> Result<(UserId, Cart), StoreError> {
        let mut cart = Cart::new();
        for (product, quantity) in self.lines {
            let product = ProductId::new(product).map_err(corrupt)?;
            let quantity = Quantity::new(i64::from(quantity)).map_err(corrupt)?;
            // `add` would merge a repeated line into one; a repeat is not something we wrote.
            if cart.set(product, quantity) {
                return Err(corrupt(format!("product {product} twice in one cart")));
            }
            cart.add(product, quantity).map_err(corrupt)?;
        }
        Ok((user(self.user)?, cart))
    }
}

/// An idempotency key with what it placed and the request it was bound to.
#[derive(Serialize, Deserialize)]
pub(super) struct KeyDoc {
    user: i64,
    key: String,
    order: i64,
    fingerprint: Option<String>,
}

/// A parsed [`KeyDoc`]: who, the key, its order and its fingerprint.
pub(super) type KeyParts = (UserId, String, OrderId, Option<String>);

impl KeyDoc {
    pub(super) fn new(
        owner: UserId,
        key: &str,
        order: OrderId,
        fingerprint: Option<&String>,
    ) -> Self {
        Self {
            user: owner.get(),
            key: key.to_string(),
            order: order.get(),
            fingerprint: fingerprint.cloned(),
        }
    }

    pub(super) fn parse(self) -> Result<KeyParts, StoreError> {
        Ok((
            user(self.user)?,
            self.key,
            OrderId::new(self.order).map_err(corrupt)?,
            self.fingerprint,
        ))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct OutboxDoc {
    id: u64,
    effect: EffectDoc,
}

impl OutboxDoc {
    pub(super) fn new(id: u64, effect: &Effect) -> Self {
        Self {
            id,
            effect: effect.into(),
        }
    }

    pub(super) fn parse(self) -> Result<(u64, Effect), StoreError> {
        Ok((self.id, self.effect.parse()?))
    }
}

/// A link's opaque state, base64.
#[derive(Serialize, Deserialize)]
pub(super) struct LinkDoc {
    name: String,
    state: String,
}

impl LinkDoc {
    pub(super) fn new(name: &str, state: &[u8]) -> Self {
        Self {
            name: name.to_string(),
            state: BASE64.encode(state),
        }
    }

    pub(super) fn parse(self) -> Result<(String, Vec<u8>), StoreError> {
        let state = bytes(&self.state, "link state")?;
        Ok((self.name, state))
    }
}

/// Both sizes of a picture, base64.
#[derive(Serialize, Deserialize)]
pub(super) struct PictureDoc {
    id: String,
    thumbnail: String,
    large: String,
}

impl From<&Picture> for PictureDoc {
    fn from(p: &Picture) -> Self {
        Self {
            id: p.id.as_str().to_string(),
            thumbnail: BASE64.encode(&p.thumbnail),
            large: BASE64.encode(&p.large),
        }
    }
}

impl PictureDoc {
    pub(super) fn parse(self) -> Result<Picture, StoreError> {
        Ok(Picture {
            id: PictureId::parse(&self.id).map_err(corrupt)?,
            thumbnail: bytes(&self.thumbnail, "thumbnail")?,
            large: bytes(&self.large, "large picture")?,
        })
    }
}

/// One event of an order's history, by its position in that history (0-based); the order's
/// state record says how many there are.
#[derive(Serialize, Deserialize)]
pub(super) struct OrderEventDoc {
    pub(super) order: i64,
    pub(super) position: u64,
    #[serde(flatten)]
    pub(super) event: EventDoc,
}

/// One payment record line and where it stands in the log.
#[derive(Serialize, Deserialize)]
pub(super) struct PaymentDoc {
    pub(super) position: u64,
    pub(super) line: String,
}

/// An inbox entry: the backend's notification and mail documents, with the entry's id, read
/// flag and the key it was filed under (the key is not derivable from the entry).
#[derive(Serialize, Deserialize)]
pub(super) struct InboxDoc {
    id: i64,
    key: Option<String>,
    read: bool,
    mail: MailDoc,
    notification: NotificationDoc,
}

impl InboxDoc {
    pub(super) fn new(entry: &InboxEntry, key: Option<&str>) -> Self {
        Self {
            id: entry.id.get(),
            key: key.map(str::to_string),
            read: entry.read,
            mail: MailDoc::from(&entry.mail),
            notification: NotificationDoc::new(entry.user, entry.at, &entry.notification),
        }
    }

    pub(super) fn parse(self) -> Result<(InboxEntry, Option<String>), StoreError> {
        let id = NotificationId::new(self.id).map_err(corrupt)?;
        let entry = self.notification.parse(id, self.read, self.mail.into())?;
        Ok((entry, self.key))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct CampaignDoc {
    id: i64,
    seller: i64,
    text: String,
    at: u64,
    recipients: u64,
    sent: bool,
}

impl From<&Campaign> for CampaignDoc {
    fn from(c: &Campaign) -> Self {
        Self {
            id: c.id.get(),
            seller: c.seller.get(),
            text: c.text.as_str().to_string(),
            at: c.at.millis(),
            recipients: c.recipients,
            sent: c.sent,
        }
    }
}

impl CampaignDoc {
    pub(super) fn parse(self) -> Result<Campaign, StoreError> {
        Ok(Campaign {
            id: CampaignId::new(self.id).map_err(corrupt)?,
            seller: user(self.seller)?,
            text: PromotionText::parse(&self.text).map_err(corrupt)?,
            at: Timestamp(self.at),
            recipients: self.recipients,
            sent: self.sent,
        })
    }
}

/// A seller's rate-limit slot: when their last campaign went out.
#[derive(Serialize, Deserialize)]
pub(super) struct ClockDoc {
    seller: i64,
    at: u64,
}

impl ClockDoc {
    pub(super) fn new(seller: UserId, at: Timestamp) -> Self {
        Self {
            seller: seller.get(),
            at: at.millis(),
        }
    }

    pub(super) fn parse(self) -> Result<(UserId, Timestamp), StoreError> {
        Ok((user(self.seller)?, Timestamp(self.at)))
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct LeaseDoc {
    name: String,
    holder: String,
    term: u64,
    until: u64,
}

impl From<&Lease> for LeaseDoc {
    fn from(l: &Lease) -> Self {
        Self {
            name: l.name.clone(),
            holder: l.holder.clone(),
            term: l.term,
            until: l.until.millis(),
        }
    }
}

impl LeaseDoc {
    pub(super) fn parse(self) -> Lease {
        Lease {
            name: self.name,
            holder: self.holder,
            term: self.term,
            until: Timestamp(self.until),
        }
    }
}

/// The last id handed out of each kind: ids are never reused, even of records since deleted.
#[derive(Serialize, Deserialize)]
pub(super) struct CountersDoc {
    pub(super) campaign: i64,
    pub(super) notification: i64,
    pub(super) user: i64,
    pub(super) product: i64,
    pub(super) order: i64,
    pub(super) outbox: u64,
}
