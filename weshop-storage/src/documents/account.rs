//! A user's stored document.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{
        Address, CardBrand, Email, Location, PasswordHash, PaymentMethod, PersonName, Roles,
        Timestamp, User, UserId,
    },
    store::StoreError,
};

use crate::corrupt;

#[derive(Serialize, Deserialize)]
struct AddressDoc {
    label: String,
    x: i32,
    y: i32,
}

#[derive(Serialize, Deserialize)]
struct CardDoc {
    token: String,
    brand: String,
    last4: String,
}

/// A user's stored document.
#[derive(Serialize, Deserialize)]
pub struct UserDoc {
    id: i64,
    email: String,
    name: String,
    customer: bool,
    seller: bool,
    password: String,
    addresses: Vec<AddressDoc>,
    cards: Vec<CardDoc>,
    created: u64,
    /// Stored since promotions became opt-in; older documents have not opted in.
    #[serde(default)]
    promotions: bool,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            email: u.email.as_str().to_string(),
            name: u.name.as_str().to_string(),
            customer: u.roles.customer,
            seller: u.roles.seller,
            password: u.password.as_str().to_string(),
            addresses: u
                .addresses
                .iter()
                .map(|a| AddressDoc {
                    label: a.label.clone(),
                    x: a.location.x,
                    y: a.location.y,
                })
                .collect(),
            cards: u
                .payment_methods
                .iter()
                .map(|c| CardDoc {
                    token: c.token.clone(),
                    brand: c.brand.as_str().to_string(),
                    last4: c.last4.clone(),
                })
                .collect(),
            created: u.created.millis(),
            promotions: u.promotions,
        }
    }
}

impl UserDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::new(self.id).map_err(corrupt)?,
            email: Email::parse(&self.email).map_err(corrupt)?,
            name: PersonName::parse(&self.name).map_err(corrupt)?,
            roles: Roles::new(self.customer, self.seller).map_err(corrupt)?,
            password: PasswordHash::from_stored(&self.password).map_err(corrupt)?,
            addresses: self
                .addresses
                .into_iter()
                .map(|a| Address::new(&a.label, Location::new(a.x, a.y)).map_err(corrupt))
                .collect::<Result<_, _>>()?,
            payment_methods: self
                .cards
                .into_iter()
                .map(|c| {
                    Ok(PaymentMethod {
                        brand: CardBrand::from_name(&c.brand)
                            .ok_or_else(|| corrupt(format!("card brand {:?}", c.brand)))?,
                        token: c.token,
                        last4: c.last4,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            created: Timestamp(self.created),
            promotions: self.promotions,
        })
    }
}
