//! Helpers shared by the integration tests.
#![allow(dead_code, missing_docs)]

use weshop_core::domain::{
    Category, Currency, Description, Money, Product, ProductId, ProductName, UserId, Weight,
};
use weshop_search::IndexedProduct;

/// A product with these fields (weight 100 g, no images).
pub fn product(
    id: i64,
    name: &str,
    description: &str,
    category: &str,
    price_minor: i64,
) -> Product {
    Product {
        id: ProductId::new(id).unwrap(),
        seller: UserId::new(1).unwrap(),
        name: ProductName::parse(name).unwrap(),
        description: Description::parse(description).unwrap(),
        category: Category::parse(category).unwrap(),
        price: Money::from_minor(price_minor, Currency::USD).unwrap(),
        weight: Weight::grams(100).unwrap(),
        images: Vec::new(),
    }
}

/// `product` with 5 units in stock.
pub fn stocked(
    id: i64,
    name: &str,
    description: &str,
    category: &str,
    price: i64,
) -> IndexedProduct {
    IndexedProduct::new(product(id, name, description, category, price), 5)
}

pub fn pid(id: i64) -> ProductId {
    ProductId::new(id).unwrap()
}

pub fn ids(ids: &[i64]) -> Vec<ProductId> {
    ids.iter().map(|&id| pid(id)).collect()
}

pub fn cat(name: &str) -> Category {
    Category::parse(name).unwrap()
}
