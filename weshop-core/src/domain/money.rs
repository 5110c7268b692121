//! Money in integer minor units (cents) with its currency: no floating point anywhere.

use std::fmt;

use super::{DomainError, Quantity};

/// An ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");
    /// Euros.
    pub const EUR: Currency = Currency(*b"EUR");

    /// The currency with this three-capital-letter code.
    pub fn new(code: &str) -> Result<Self, DomainError> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(DomainError::Currency(code.to_string())),
        }
    }

    /// The code, e.g. `USD`.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).expect("validated ASCII")
    }

    /// Digits after the decimal point (2 for most currencies; ISO 4217 exceptions listed).
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A non-negative amount of one currency, in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// `minor` units (cents) of `currency`; negative amounts are refused.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, DomainError> {
        if minor < 0 {
            return Err(DomainError::Amount(
                minor.to_string(),
                "must not be negative",
            ));
        }
        Ok(Self { minor, currency })
    }

    /// Nothing, in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    /// Parses a decimal like `12.34`, `12` or `0.5` in `currency`.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, DomainError> {
        let bad = |why| DomainError::Amount(text.to_string(), why);
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected digits, optionally with a decimal point"));
        }
        if !fraction.bytes().all(|b| b.is_ascii_digit())
            || (text.contains('.') && fraction.is_empty())
        {
            return Err(bad("expected digits after the decimal point"));
        }
        let digits = currency.minor_digits();
        if fraction.len() > digits as usize {
            return Err(bad("more decimal places than the currency has"));
        }
        let scale = 10i64.pow(digits);
        let whole: i64 = whole.parse().map_err(|_| DomainError::Overflow)?;
        let padded = format!("{fraction:0<width$}", width = digits as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| DomainError::Overflow)?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(fraction))
            .ok_or(DomainError::Overflow)?;
        Self::from_minor(minor, currency)
    }

    /// The amount in minor units.
    pub fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    fn same_currency(&self, other: &Money) -> Result<(), DomainError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(DomainError::CurrencyMismatch(
                self.to_string(),
                other.to_string(),
            ))
        }
    }

    /// The sum; refused across currencies or on overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(&other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(DomainError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// The difference; refused across currencies or when it would be negative.
    pub fn checked_sub(self, other: Money) -> Result<Money, DomainError> {
        self.same_currency(&other)?;
        Money::from_minor(self.minor - other.minor, self.currency)
    }

    /// This amount `quantity` times.
    pub fn times(self, quantity: Quantity) -> Result<Money, DomainError> {
        let minor = self
            .minor
            .checked_mul(i64::from(quantity.get()))
            .ok_or(DomainError::Overflow)?;
        Ok(Money {
            minor,
            currency: self.currency,
        })
    }

    /// Sums amounts of one currency (zero for none).
    pub fn sum(
        currency: Currency,
        amounts: impl IntoIterator<Item = Money>,
    ) -> Result<Money, DomainError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }
}

impl fmt::Display for Money {
    /// `12.34 USD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        if digits == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let scale = 10i64.pow(digits);
        write!(
            f,
            "{}.{:0width$} {}",
            self.minor / scale,
            self.minor % scale,
            self.currency,
            width = digits as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd(text: &str) -> Money {
        Money::parse(text, Currency::USD).unwrap()
    }

    #[test]
    fn parses_and_prints_decimals_exactly() {
        assert_eq!(usd("12.34").minor(), 1234);
        assert_eq!(usd("12").minor(), 1200);
        assert_eq!(usd("0.5").minor(), 50);
        assert_eq!(usd("0.05").to_string(), "0.05 USD");
        let yen = Money::parse("500", Currency::new("JPY").unwrap()).unwrap();
        assert_eq!((yen.minor(), yen.to_string()), (500, "500 JPY".to_string()));
        let dinar = Money::parse("1.5", Currency::new("KWD").unwrap()).unwrap();
        assert_eq!(dinar.to_string(), "1.500 KWD");
    }

    #[test]
    fn refuses_what_is_not_money() {
        for bad in [
            "",
            "-1",
            "1.",
            ".5",
            "1.234",
            "1,5",
            "1e3",
            " 1",
            "abc",
            "99999999999999999999",
        ] {
            assert!(
                Money::parse(bad, Currency::USD).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(Money::from_minor(-1, Currency::USD).is_err());
        assert!(
            Currency::new("usd").is_err()
                && Currency::new("US").is_err()
                && Currency::new("USDX").is_err()
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let q = Quantity::new(3).unwrap();
        assert_eq!(usd("1.10").times(q).unwrap(), usd("3.30"));
        assert_eq!(usd("1").checked_add(usd("2.5")).unwrap(), usd("3.50"));
        assert!(usd("1").checked_sub(usd("2")).is_err());
        let eur = Money::parse("1", Currency::EUR).unwrap();
        assert!(matches!(
            usd("1").checked_add(eur),
            Err(DomainError::CurrencyMismatch(..))
        ));
        let huge = Money::from_minor(i64::MAX, Currency::USD).unwrap();
        assert_eq!(huge.checked_add(usd("0.01")), Err(DomainError::Overflow));
        assert_eq!(
            Money::sum(Currency::USD, [usd("1"), usd("2")]).unwrap(),
            usd("3")
        );
    }

    proptest! {
        #[test]
        fn display_parses_back(minor in 0i64..i64::MAX) {
            let money = Money::from_minor(minor, Currency::USD).unwrap();
            let text = money.to_string();
            let amount = text.strip_suffix(" USD").unwrap();
            prop_assert_eq!(Money::parse(amount, Currency::USD).unwrap(), money);
        }
    }
}
