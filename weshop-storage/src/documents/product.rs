//! A product's stored document.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{Category, Description, ImageRef, Product, ProductId, ProductName, UserId, Weight},
    store::StoreError,
};

use super::MoneyDoc;
use crate::corrupt;

/// A product's stored document.
#[derive(Serialize, Deserialize)]
pub struct ProductDoc {
    id: i64,
    seller: i64,
    name: String,
    description: String,
    category: String,
    price: MoneyDoc,
    weight: u32,
    images: Vec<String>,
}

impl From<&Product> for ProductDoc {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.get(),
            seller: p.seller.get(),
            name: p.name.as_str().to_string(),
            description: p.description.as_str().to_string(),
            category: p.category.as_str().to_string(),
            price: p.price.into(),
            weight: p.weight.get(),
            images: p.images.iter().map(|i| i.as_str().to_string()).collect(),
        }
    }
}

impl ProductDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<Product, StoreError> {
        Ok(Product {
            id: ProductId::new(self.id).map_err(corrupt)?,
            seller: UserId::new(self.seller).map_err(corrupt)?,
            name: ProductName::parse(&self.name).map_err(corrupt)?,
            description: Description::parse(&self.description).map_err(corrupt)?,
            category: Category::parse(&self.category).map_err(corrupt)?,
            price: self.price.parse()?,
            weight: Weight::grams(i64::from(self.weight)).map_err(corrupt)?,
            images: self
                .images
                .iter()
                .map(|i| ImageRef::parse(i).map_err(corrupt))
                .collect::<Result<_, _>>()?,
        })
    }
}
