//! Identifiers: positive integers, one type per kind so they cannot be mixed up.
//!
//! Warehouse and truck ids are int32 and package (ship) ids int64 on the wire, and the types
//! here match so conversions at the edges are lossless.

use std::{fmt, str::FromStr};

use super::DomainError;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident($repr:ty), $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name($repr);

        impl $name {
            /// The id, if `value` is positive.
            pub fn new(value: $repr) -> Result<Self, DomainError> {
                if value > 0 {
                    Ok(Self(value))
                } else {
                    Err(DomainError::Id { kind: $kind, value: value.to_string() })
                }
            }

            /// The number.
            pub fn get(self) -> $repr {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;

            fn from_str(s: &str) -> Result<Self, DomainError> {
                let value = s
                    .trim()
                    .parse::<$repr>()
                    .map_err(|_| DomainError::Id { kind: $kind, value: s.to_string() })?;
                Self::new(value)
            }
        }

        impl TryFrom<$repr> for $name {
            type Error = DomainError;

            fn try_from(value: $repr) -> Result<Self, DomainError> {
                Self::new(value)
            }
        }

        impl From<$name> for $repr {
            fn from(id: $name) -> $repr {
                id.0
            }
        }
    };
}

id!(
    /// A registered user (customer, seller or both).
    UserId(i64), "user id"
);
id!(
    /// A product in the catalog; also the product id on the world link.
    ProductId(i64), "product id"
);
id!(
    /// An order.
    OrderId(i64), "order id"
);
id!(
    /// A warehouse of the world.
    WarehouseId(i32), "warehouse id"
);
id!(
    /// A truck of the UPS.
    TruckId(i32), "truck id"
);
id!(
    /// A package: the world's `shipid`, unique in its world.
    ShipId(i64), "ship id"
);
id!(
    /// A notification in a user's inbox (assigned by the store, increasing).
    NotificationId(i64), "notification id"
);
id!(
    /// A seller's promotion campaign (assigned by the store, increasing).
    CampaignId(i64), "campaign id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_and_parse() {
        assert_eq!(UserId::new(5).unwrap().get(), 5);
        assert!(UserId::new(0).is_err());
        assert!(WarehouseId::new(-1).is_err());
        assert_eq!(" 42 ".parse::<OrderId>().unwrap().get(), 42);
        let err = "abc".parse::<ShipId>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid ship id \"abc\": must be a positive integer"
        );
        assert_eq!(i64::from(ProductId::try_from(9).unwrap()), 9);
    }
}
