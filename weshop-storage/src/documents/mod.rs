//! Stored forms of the domain values that a database keeps as documents (JSON): plain data,
//! parsed back through the domain's constructors, so a corrupt or foreign record is an error
//! rather than an invalid value.
//!
//! One document per kind of record: [`UserDoc`], [`ProductDoc`], [`OrderDoc`] and the outbox's
//! [`EffectDoc`] (which inbox entries reuse, [`NotificationDoc`]), written with [`to_json`] and read back with [`from_json`] and their `parse`.

mod account;
mod effect;
mod inbox;
mod order;
mod product;

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{Currency, Money, OrderStatus},
    store::StoreError,
};

use crate::corrupt;

pub use account::UserDoc;
pub use effect::{EffectDoc, ItemDoc};
pub use inbox::{MailDoc, NotificationDoc};
pub use order::{EventDoc, OrderDoc, OrderStateDoc, OrderTermsDoc};
pub use product::ProductDoc;

fn money(minor: i64, currency: &str) -> Result<Money, StoreError> {
    Money::from_minor(minor, Currency::new(currency).map_err(corrupt)?).map_err(corrupt)
}

/// Money as stored.
#[derive(Serialize, Deserialize)]
pub struct MoneyDoc {
    minor: i64,
    currency: String,
}

impl From<Money> for MoneyDoc {
    fn from(m: Money) -> Self {
        Self {
            minor: m.minor(),
            currency: m.currency().code().to_string(),
        }
    }
}

impl MoneyDoc {
    /// Back to the domain.
    pub fn parse(&self) -> Result<Money, StoreError> {
        money(self.minor, &self.currency)
    }
}

pub(crate) fn status(name: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::from_name(name).ok_or_else(|| corrupt(format!("order status {name:?}")))
}

/// Serializes a document to its JSON text.
pub fn to_json<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).expect("documents serialize")
}

/// Parses a document's JSON text.
pub fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}
