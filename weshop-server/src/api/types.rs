//! DTOs and conversions several endpoint groups share: money, places, users, products.

use super::enums::{BrandDto, RoleDto};
use super::pattern::{AddressLabelRule, Matching};
use poem_openapi::Object;
use weshop_core::{
    domain::{Currency, Location, Money, Product, User},
    shop::SellerProduct,
};

use super::problem::{ApiResult, Problem};

/// A duration in whole milliseconds (saturating), as the API gives them.
pub fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

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
    /// X coordinate (within the grid: ±10000 by default, the `grid_limit` setting).
    #[oai(validator(minimum(value = "-10000"), maximum(value = "10000")))]
    pub x: i32,
    /// Y coordinate (within the grid).
    #[oai(validator(minimum(value = "-10000"), maximum(value = "10000")))]
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
    /// Its name, unique per user ("home"): 1 to 50 characters, no control characters.
    pub label: Matching<AddressLabelRule>,
    /// Where.
    pub location: LocationDto,
}

/// A saved card: only the gateway's token, the brand and the last four digits.
#[derive(Debug, Clone, Object)]
pub struct PaymentMethodDto {
    /// The token to pay with at checkout.
    pub token: String,
    /// The card's brand.
    pub brand: BrandDto,
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
    /// What the account may do.
    pub roles: Vec<RoleDto>,
    /// Saved addresses.
    pub addresses: Vec<AddressDto>,
    /// Saved cards.
    pub payment_methods: Vec<PaymentMethodDto>,
    /// When the account was created, in milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Opted in to sellers' promotions.
    pub promotions: bool,
}

impl From<User> for UserDto {
    fn from(user: User) -> Self {
        let mut roles = Vec::new();
        if user.roles.customer {
            roles.push(RoleDto::Customer);
        }
        if user.roles.seller {
            roles.push(RoleDto::Seller);
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
                    label: Matching::shown(a.label),
                    location: a.location.into(),
                })
                .collect(),
            payment_methods: user
                .payment_methods
                .into_iter()
                .map(|m| PaymentMethodDto {
                    token: m.token,
                    brand: m.brand.into(),
                    last4: m.last4,
                })
                .collect(),
            created_at: user.created.millis(),
            promotions: user.promotions,
        }
    }
}

/// A product for sale.
#[derive(Debug, Clone, Object)]
pub struct ProductDto {
    /// Id.
    pub id: i64,
    /// The seller's user id.
    pub seller_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category slug.
    pub category: String,
    /// Unit price, a decimal string in `currency`.
    pub price: String,
    /// ISO 4217 code of the price.
    pub currency: String,
    /// Unit weight in grams.
    pub weight_grams: u32,
    /// Image URLs or paths.
    pub images: Vec<String>,
}

impl From<Product> for ProductDto {
    fn from(product: Product) -> Self {
        Self {
            id: product.id.get(),
            seller_id: product.seller.get(),
            name: product.name.to_string(),
            description: product.description.as_str().to_string(),
            category: product.category.to_string(),
            price: amount(product.price),
            currency: product.price.currency().to_string(),
            weight_grams: product.weight.get(),
            images: product
                .images
                .iter()
                .map(|i| i.as_str().to_string())
                .collect(),
        }
    }
}

/// A product's stock in one warehouse.
#[derive(Debug, Object)]
pub struct WarehouseStockDto {
    /// The warehouse.
    pub warehouse_id: i32,
    /// Units in the warehouse.
    pub on_hand: u64,
    /// Units bought that have not arrived.
    pub incoming: u64,
    /// Units promised to orders.
    pub reserved: u64,
    /// Units that can still be sold there.
    pub available: u64,
}

/// A seller's product with its stock.
#[derive(Debug, Object)]
pub struct SellerProductDto {
    /// The product.
    pub product: ProductDto,
    /// Stock per warehouse.
    pub stock: Vec<WarehouseStockDto>,
    /// Units that can still be sold, over all warehouses.
    pub available: u64,
    /// True when `available` is under the shop's low-stock threshold.
    pub low_stock: bool,
}

impl From<SellerProduct> for SellerProductDto {
    fn from(view: SellerProduct) -> Self {
        Self {
            product: view.product.into(),
            stock: view
                .stock
                .into_iter()
                .map(|(warehouse, s)| WarehouseStockDto {
                    warehouse_id: warehouse.get(),
                    on_hand: s.on_hand(),
                    incoming: s.incoming(),
                    reserved: s.reserved(),
                    available: s.available(),
                })
                .collect(),
            available: view.available,
            low_stock: view.low_stock,
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
