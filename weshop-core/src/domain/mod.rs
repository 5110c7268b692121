//! The shop's domain values: types that cannot hold an invalid value ("parse, don't
//! validate"). Anything that crosses into the domain — from HTTP, the database or the wire —
//! is parsed into these once, and the rest of the code can rely on them.

mod account;
mod campaign;
mod card;
mod cart;
mod catalog;
mod error;
mod estimate;
mod ids;
mod location;
mod money;
mod order;
mod picture;
mod quantity;
mod shipping;
mod stock;
mod text;
mod time;
mod warehouse;

pub use account::{
    Address, LoginSession, Password, PasswordHash, PaymentMethod, PersonName, Roles, SessionToken,
    TokenHash, User,
};
pub use campaign::{Campaign, PromotionText};
pub use card::{CardBrand, CardNumber};
pub use cart::Cart;
pub use catalog::{Category, Description, ImageRef, Product, Weight};
pub use error::DomainError;
pub use estimate::{DeliveryEstimate, DeliveryPace};
pub use ids::{
    CampaignId, NotificationId, OrderId, ProductId, ShipId, TruckId, UserId, WarehouseId,
};
pub use location::Location;
pub use money::{Currency, Money};
pub use order::{
    DeliveryOption, IllegalTransition, NewOrder, Order, OrderEvent, OrderEventKind, OrderLine,
    OrderParts, OrderStatus, UpsAccount,
};
pub use picture::{PICTURE_PATH, Picture, PictureId, PictureSize};
pub use quantity::Quantity;
pub use shipping::ShippingRates;
pub use stock::{OutOfStock, Stock, StockDelta, coalesce, sellable};
pub use text::{Email, ProductName};
pub use time::Timestamp;
pub use warehouse::WarehouseSite;
