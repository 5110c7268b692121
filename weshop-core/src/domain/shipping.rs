//! What shipping costs: a base fee, plus distance on the grid, plus weight, more for express.
//! Integer money throughout; distances and weights round up (a started unit is paid).

use super::{DeliveryOption, DomainError, Location, Money, Weight};

/// Shipping prices, all in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingRates {
    /// Fee per package.
    pub base: Money,
    /// Per grid unit between the warehouse and the destination.
    pub per_unit: Money,
    /// Per started kilogram.
    pub per_kg: Money,
    /// Express costs this many percent of standard (e.g. 200: double).
    pub express_percent: u32,
}

impl ShippingRates {
    /// The demo shop's rates: 2.99 + 0.05 per grid unit + 0.50 per kg, express at 180%.
    pub fn standard(currency: super::Currency) -> Self {
        let money = |text| Money::parse(text, currency).expect("valid literal");
        Self {
            base: money("2.99"),
            per_unit: money("0.05"),
            per_kg: money("0.50"),
            express_percent: 180,
        }
    }

    /// The price of sending `weight` from `from` to `to`.
    pub fn quote(
        &self,
        from: Location,
        to: Location,
        weight: Weight,
        delivery: DeliveryOption,
    ) -> Result<Money, DomainError> {
        let units = from.distance(to).ceil() as i64;
        let kilograms = i64::from(weight.get().div_ceil(1000));
        let by_distance = self
            .per_unit
            .minor()
            .checked_mul(units)
            .ok_or(DomainError::Overflow)?;
        let by_weight = self
            .per_kg
            .minor()
            .checked_mul(kilograms)
            .ok_or(DomainError::Overflow)?;
        let currency = self.base.currency();
        let standard = Money::sum(
            currency,
            [
                self.base,
                Money::from_minor(by_distance, self.per_unit.currency())?,
                Money::from_minor(by_weight, self.per_kg.currency())?,
            ],
        )?;
        match delivery {
            DeliveryOption::Standard => Ok(standard),
            DeliveryOption::Express => {
                let scaled = i128::from(standard.minor()) * i128::from(self.express_percent);
                let minor = (scaled + 99) / 100; // round up to the next minor unit
                Money::from_minor(
                    i64::try_from(minor).map_err(|_| DomainError::Overflow)?,
                    currency,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    #[test]
    fn quotes_add_up_and_express_costs_more() {
        let rates = ShippingRates::standard(Currency::USD);
        let home = Location::new(0, 0);
        let quote = |to, grams, option| {
            rates
                .quote(home, to, Weight::grams(grams).unwrap(), option)
                .unwrap()
                .minor()
        };
        // 2.99 + 5 units × 0.05 + 1 kg × 0.50
        assert_eq!(
            quote(Location::new(3, 4), 350, DeliveryOption::Standard),
            299 + 25 + 50
        );
        // a started unit and a started kilogram are paid: distance 1.41 → 2, 1001 g → 2 kg
        assert_eq!(
            quote(Location::new(1, 1), 1001, DeliveryOption::Standard),
            299 + 10 + 100
        );
        assert_eq!(quote(home, 1, DeliveryOption::Standard), 299 + 50);
        // express: 180%, rounded up to the cent
        assert_eq!(
            quote(Location::new(3, 4), 350, DeliveryOption::Express),
            (374 * 180 + 99) / 100
        );
        let far = rates.quote(
            Location::new(i32::MIN, i32::MIN),
            Location::new(i32::MAX, i32::MAX),
            Weight::grams(1_000_000).unwrap(),
            DeliveryOption::Express,
        );
        assert!(
            far.is_ok(),
            "the largest grid distance still prices: {far:?}"
        );
    }

    #[test]
    fn mixed_currencies_are_refused() {
        let mut rates = ShippingRates::standard(Currency::USD);
        rates.per_kg = Money::parse("1", Currency::EUR).unwrap();
        let quote = rates.quote(
            Location::new(0, 0),
            Location::new(1, 0),
            Weight::grams(10).unwrap(),
            DeliveryOption::Standard,
        );
        assert!(matches!(quote, Err(DomainError::CurrencyMismatch(..))));
    }
}
