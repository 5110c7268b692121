//! DTOs and conversions several endpoint groups share: money, places, users.

use poem_openapi::Object;
use weshop_core::domain::{Currency, Location, Money, User};

use super::problem::{ApiResult, Problem};

/// An amount as a decimal string in the shop's currency ("12.34"), never a float.
pub fn amount(money: Money) -> String {
    let digits = money.currency().minor_digits();
    if digits == 0 {
        return money.minor().to_string();
    }
    let scale = 10i64.pow(digits);
    format!(
        "{}.{:0width$}",
        money.minor() / scale,
        money.minor() % scale,
        width = digits as usize
    )
}

/// Parses a decimal amount in the shop's currency.
pub fn parse_amount(text: &str, currency: Currency) -> ApiResult<Money> {
    Ok(Money::parse(text.trim(), currency)?)
}

/// A point on the world's grid.
#[derive(Debug, Clone, Copy, Object)]
pub struct LocationDto {
    /// X coordinate.
    pub x: i32,
    /// Y coordinate.
    pub y: i32,
}

impl From<Location> for LocationDto {
    fn from(location: Location) -> Self {
        Self {
            x: location.x,
            y: location.y,
        }
    }
}

impl From<LocationDto> for Location {
    fn from(location: LocationDto) -> Self {
        Location::new(location.x, location.y)
    }
}

/// A saved address.
#[derive(Debug, Clone, Object)]
pub struct AddressDto {
    /// Its name, unique per user ("home").
    pub label: String,
    /// Where.
    pub location: LocationDto,
}

/// A saved card: only the gateway's token, the brand and the last four digits.
#[derive(Debug, Clone, Object)]
pub struct PaymentMethodDto {
    /// The token to pay with at checkout.
    pub token: String,
    /// visa, mastercard, amex or discover.
    pub brand: String,
    /// The last four digits.
    pub last4: String,
}

/// An account as its owner sees it (never the password hash).
#[derive(Debug, Clone, Object)]
pub struct UserDto {
    /// Id.
    pub id: i64,
    /// Login email.
    pub email: String,
    /// Name.
    pub name: String,
    /// "customer" and/or "seller".
    pub roles: Vec<String>,
    /// Saved addresses.
    pub addresses: Vec<AddressDto>,
    /// Saved cards.
    pub payment_methods: Vec<PaymentMethodDto>,
    /// When the account was created, in milliseconds since the Unix epoch.
    pub created_at: u64,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        let mut roles = Vec::new();
        if user.roles.customer {
            roles.push("customer".to_string());
        }
        if user.roles.seller {
            roles.push("seller".to_string());
        }
        Self {
            id: user.id.get(),
            email: user.email.to_string(),
            name: user.name.as_str().to_string(),
            roles,
            addresses: user
                .addresses
                .into_iter()
                .map(|a| AddressDto {
                    label: a.label,
                    location: a.location.into(),
                })
                .collect(),
            payment_methods: user
                .payment_methods
                .into_iter()
                .map(|m| PaymentMethodDto {
                    token: m.token,
                    brand: m.brand.as_str().to_string(),
                    last4: m.last4,
                })
                .collect(),
            created_at: user.created.millis(),
        }
    }
}

/// A trimmed optional text, `None` when blank (an empty query parameter means "not given").
pub fn non_empty(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
}

/// Refuses a request with a 400 problem.
pub fn refuse<T>(detail: impl Into<String>) -> ApiResult<T> {
    Err(Problem::bad_request(detail))
}
