//! The API's closed sets of words, declared as enums in the OpenAPI spec (so clients and
//! generators know every value), each mapped to and from its domain type.

use poem_openapi::Enum;
use weshop_core::{
    domain::{CardBrand, DeliveryOption, OrderStatus},
    store::ProductSort,
};

/// How fast an order travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "DeliveryOption", rename_all = "snake_case")]
pub enum DeliveryDto {
    /// The usual.
    Standard,
    /// Faster, for more.
    Express,
}

impl From<DeliveryOption> for DeliveryDto {
    fn from(option: DeliveryOption) -> Self {
        match option {
            DeliveryOption::Standard => Self::Standard,
            DeliveryOption::Express => Self::Express,
        }
    }
}

impl From<DeliveryDto> for DeliveryOption {
    fn from(option: DeliveryDto) -> Self {
        match option {
            DeliveryDto::Standard => Self::Standard,
            DeliveryDto::Express => Self::Express,
        }
    }
}

/// Where an order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "OrderStatus", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum StatusDto {
    Placed,
    WaitingForStock,
    Packing,
    Packed,
    TruckRequested,
    Loading,
    Loaded,
    Delivering,
    Delivered,
    Cancelled,
    Failed,
}

impl From<OrderStatus> for StatusDto {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Placed => Self::Placed,
            OrderStatus::WaitingForStock => Self::WaitingForStock,
            OrderStatus::Packing => Self::Packing,
            OrderStatus::Packed => Self::Packed,
            OrderStatus::TruckRequested => Self::TruckRequested,
            OrderStatus::Loading => Self::Loading,
            OrderStatus::Loaded => Self::Loaded,
            OrderStatus::Delivering => Self::Delivering,
            OrderStatus::Delivered => Self::Delivered,
            OrderStatus::Cancelled => Self::Cancelled,
            OrderStatus::Failed => Self::Failed,
        }
    }
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "OrderEventKind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum EventKindDto {
    Placed,
    StatusChanged,
    Ended,
    Assigned,
    TruckArrived,
    FinalDestination,
    Setback,
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Role", rename_all = "snake_case")]
pub enum RoleDto {
    /// Buys.
    Customer,
    /// Sells.
    Seller,
}

/// A card's brand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "CardBrand", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum BrandDto {
    Visa,
    Mastercard,
    Amex,
    Discover,
}

impl From<CardBrand> for BrandDto {
    fn from(brand: CardBrand) -> Self {
        match brand {
            CardBrand::Visa => Self::Visa,
            CardBrand::Mastercard => Self::Mastercard,
            CardBrand::Amex => Self::Amex,
            CardBrand::Discover => Self::Discover,
        }
    }
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "ProductSort", rename_all = "snake_case")]
pub enum SortDto {
    /// Best match first (newest first without words).
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// By name.
    Name,
    /// Newest first.
    Newest,
}

impl From<SortDto> for ProductSort {
    fn from(sort: SortDto) -> Self {
        match sort {
            SortDto::Relevance => Self::Relevance,
            SortDto::PriceAsc => Self::PriceAsc,
            SortDto::PriceDesc => Self::PriceDesc,
            SortDto::Name => Self::Name,
            SortDto::Newest => Self::Newest,
        }
    }
}
