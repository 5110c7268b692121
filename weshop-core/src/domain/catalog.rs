//! What sellers list: products with a category, a price, a weight and images.

use std::fmt;

use super::{DomainError, Money, ProductId, ProductName, UserId};

/// A catalog category: a lower-case slug like `kitchen` or `home-office` (1–40 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(String);

impl Category {
    /// Parses a category, lower-casing it and turning spaces into dashes.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let slug = text.trim().to_lowercase().replace(' ', "-");
        let ok = (1..=40).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-');
        if ok {
            Ok(Self(slug))
        } else {
            Err(DomainError::Category(text.to_string()))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shipping weight in grams: 1 g to 1 000 kg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Weight(u32);

impl Weight {
    /// Heaviest product accepted.
    pub const MAX_GRAMS: u32 = 1_000_000;

    /// The weight, if within 1..=MAX_GRAMS.
    pub fn grams(grams: i64) -> Result<Self, DomainError> {
        u32::try_from(grams)
            .ok()
            .filter(|g| (1..=Self::MAX_GRAMS).contains(g))
            .map(Self)
            .ok_or(DomainError::Weight(grams))
    }

    /// Grams.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A reference to one of the shop's own images: an absolute path such as
/// `/images/products/12/large.webp`, made of segments of ASCII letters, digits, `.`, `_` and
/// `-`, at most 2048 characters. Nothing else is accepted — no URLs (`https://…`, protocol-
/// relative `//host/…`), no `.`/`..` segments, no escapes or queries — so a picture a page shows
/// is always one the shop serves itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef(String);

impl ImageRef {
    /// Longest reference, in bytes.
    pub const MAX_LENGTH: usize = 2048;

    /// Parses an image reference.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let segment_ok = |segment: &str| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        let ok = text.len() <= Self::MAX_LENGTH
            && text
                .strip_prefix('/')
                .is_some_and(|rest| rest.split('/').all(segment_ok));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::ImageRef(text.to_string()))
        }
    }

    /// The URL or path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product's description: up to 10 000 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Description(String);

impl Description {
    /// Longest description, in characters.
    pub const MAX_CHARS: usize = 10_000;

    /// Parses a description.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::Description);
        }
        Ok(Self(text.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A product on sale. Every field is already valid; `seller` owns it and alone may change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id (also its id on the world link).
    pub id: ProductId,
    /// Who sells it.
    pub seller: UserId,
    /// Its name.
    pub name: ProductName,
    /// Its description.
    pub description: Description,
    /// Its category.
    pub category: Category,
    /// Price of one unit.
    pub price: Money,
    /// Shipping weight of one unit.
    pub weight: Weight,
    /// Pictures, first is the main one (at most [`Product::MAX_IMAGES`]).
    pub images: Vec<ImageRef>,
}

impl Product {
    /// Most images per product.
    pub const MAX_IMAGES: usize = 10;
    /// Most whole digits of a unit price (under 10,000,000), so that any cart of at most
    /// [`Cart::MAX_LINES`](super::Cart::MAX_LINES) lines of at most
    /// [`Quantity::MAX`](super::Quantity::MAX) units is priced without overflow.
    pub const MAX_PRICE_DIGITS: u32 = 7;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_slugs() {
        assert_eq!(
            Category::parse(" Home Office ").unwrap().as_str(),
            "home-office"
        );
        for bad in ["", "-x", "x-", "café", "a/b", &"x".repeat(41)] {
            assert!(Category::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn weights_images_descriptions() {
        assert_eq!(Weight::grams(350).unwrap().get(), 350);
        assert!(Weight::grams(0).is_err() && Weight::grams(1_000_001).is_err());
        assert!(ImageRef::parse("/static/mug.png").is_ok());
        assert!(ImageRef::parse("/images/products/12/large-1.webp").is_ok());
        for bad in [
            "",
            "/",
            "ftp://x",
            "https://x y",
            "javascript:alert(1)",
            "https://cdn.example.com/mug.png",
            "//evil.example/x.png",
            "/images/../secrets",
            "/images/./x.png",
            "/images//x.png",
            "/images/x.png?v=1",
            "/images/%2e%2e/x.png",
            "/images\\x.png",
            "images/x.png",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Description::parse(&"a".repeat(10_000)).is_ok());
        assert!(Description::parse(&"a".repeat(10_001)).is_err());
    }
}
