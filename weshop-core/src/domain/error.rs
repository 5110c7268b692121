//! Why a value could not enter the domain.

/// The largest quantity, published as [`super::Quantity::MAX`]. It lives here because the
/// quantity error's message names it, and every domain module imports this one: were it read
/// from `quantity.rs`, error and quantity would import each other.
pub(super) const MAX_QUANTITY: u32 = 1_000_000;

/// A value that breaks a domain rule; the message says which and is fit to show a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// An amount that is not a non-negative decimal with at most the currency's minor digits.
    #[error("invalid amount {0:?}: {1}")]
    Amount(String, &'static str),
    /// Not a three-letter ISO 4217 code.
    #[error("invalid currency {0:?}: expected three capital letters like USD")]
    Currency(String),
    /// Two amounts in different currencies combined.
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(String, String),
    /// An amount too large to represent.
    #[error("amount too large")]
    Overflow,
    /// A quantity outside 1..=MAX.
    #[error("invalid quantity {0}: must be between 1 and {max}", max = MAX_QUANTITY)]
    Quantity(i64),
    /// A malformed email address.
    #[error("invalid email address {0:?}: {1}")]
    Email(String, &'static str),
    /// A promotion's text that breaks a rule (the message says which).
    #[error("{0}")]
    Promotion(&'static str),
    /// A malformed product name.
    #[error("invalid product name: {0}")]
    ProductName(&'static str),
    /// Not a category slug.
    #[error("invalid category {0:?}: lower-case letters, digits and dashes, 1 to 40")]
    Category(String),
    /// A weight outside 1 g ..= 1000 kg.
    #[error("invalid weight {0} g: must be between 1 g and 1000 kg")]
    Weight(i64),
    /// Not one of the shop's own image paths.
    #[error(
        "invalid image reference {0:?}: one of the shop's own image paths, like /images/products/1.png"
    )]
    ImageRef(String),
    /// Not a stored picture's name.
    #[error("invalid picture id {0:?}: 32 lower-case hex digits")]
    PictureId(String),
    /// A description over the limit.
    #[error("description longer than 10000 characters")]
    Description,
    /// Stock counts that promise more than there is.
    #[error("stock counts are inconsistent: more reserved than on hand and incoming")]
    StockCounts,
    /// A cart with too many distinct products.
    #[error("the cart already holds 100 different products")]
    CartFull,
    /// A user with neither role.
    #[error("a user needs a role: customer, seller or both")]
    NoRole,
    /// A malformed person name.
    #[error("invalid name: 1 to 100 characters")]
    PersonName,
    /// A password outside the policy.
    #[error("invalid password: 8 to 128 characters, not all blank")]
    Password,
    /// One of the passwords attackers try first.
    #[error("this password is one of the most common ones; choose another")]
    CommonPassword,
    /// A stored password hash that is not a PHC string.
    #[error("stored password hash is not a PHC string")]
    PasswordHash,
    /// A malformed address label.
    #[error("invalid address label: 1 to 50 characters")]
    AddressLabel,
    /// A card number that cannot be right.
    #[error("invalid card number: {0}")]
    Card(&'static str),
    /// An order with no lines.
    #[error("an order needs at least one line")]
    EmptyOrder,
    /// A stored order without history.
    #[error("a stored order needs at least its placed event")]
    OrderHistory,
    /// A UPS account name that is empty, too long or has spaces.
    #[error("invalid UPS account {0:?}: 1 to 64 characters, no spaces")]
    UpsAccount(String),
    /// An id that is not a positive number.
    #[error("invalid {kind} {value:?}: must be a positive integer")]
    Id {
        /// Which id.
        kind: &'static str,
        /// The text or number given.
        value: String,
    },
}
