//! Card numbers, only ever held on the way to the payment gateway (the shop stores tokens).

use std::fmt;

use super::DomainError;

/// A card network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardBrand {
    /// Visa (4…).
    Visa,
    /// Mastercard (51–55…, 2221–2720…).
    Mastercard,
    /// American Express (34…, 37…).
    Amex,
    /// Discover (6011…, 644–649…, 65…).
    Discover,
}

impl CardBrand {
    /// A stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            CardBrand::Visa => "visa",
            CardBrand::Mastercard => "mastercard",
            CardBrand::Amex => "amex",
            CardBrand::Discover => "discover",
        }
    }

    /// The brand named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            CardBrand::Visa,
            CardBrand::Mastercard,
            CardBrand::Amex,
            CardBrand::Discover,
        ]
        .into_iter()
        .find(|b| b.as_str() == name)
    }

    fn of(digits: &str) -> Option<(Self, &'static [usize])> {
        let prefix = |n: usize| {
            digits
                .get(..n)
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(0)
        };
        if digits.starts_with('4') {
            Some((CardBrand::Visa, &[13, 16, 19]))
        } else if (51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4)) {
            Some((CardBrand::Mastercard, &[16]))
        } else if matches!(prefix(2), 34 | 37) {
            Some((CardBrand::Amex, &[15]))
        } else if prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)) {
            Some((CardBrand::Discover, &[16, 19]))
        } else {
            None
        }
    }
}

impl fmt::Display for CardBrand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A card number of a known brand, of that brand's length, passing the Luhn check. Spaces and
/// dashes are ignored on input; `Debug` and `Display` show only the last four digits.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber {
    digits: String,
    brand: CardBrand,
}

impl CardNumber {
    /// Parses a card number.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::Card("only digits, spaces and dashes"));
        }
        let (brand, lengths) =
            CardBrand::of(&digits).ok_or(DomainError::Card("unknown card brand"))?;
        if !lengths.contains(&digits.len()) {
            return Err(DomainError::Card("wrong length for its brand"));
        }
        if !luhn(&digits) {
            return Err(DomainError::Card("the check digit is wrong"));
        }
        Ok(Self { digits, brand })
    }

    /// The brand.
    pub fn brand(&self) -> CardBrand {
        self.brand
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// All digits (for the gateway only).
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({} ****{})", self.brand, self.last4())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ****{}", self.brand, self.last4())
    }
}

/// The Luhn (mod 10) check.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_of_each_brand() {
        for (number, brand) in [
            ("4242 4242 4242 4242", CardBrand::Visa),
            ("5555-5555-5555-4444", CardBrand::Mastercard),
            ("2223003122003222", CardBrand::Mastercard),
            ("378282246310005", CardBrand::Amex),
            ("6011111111111117", CardBrand::Discover),
        ] {
            let card = CardNumber::parse(number).unwrap();
            assert_eq!(card.brand(), brand, "{number}");
        }
        let card = CardNumber::parse("4242424242424242").unwrap();
        assert_eq!(
            (card.last4(), format!("{card:?}")),
            ("4242", "CardNumber(visa ****4242)".to_string())
        );
    }

    #[test]
    fn bad_numbers() {
        assert_eq!(
            CardNumber::parse("4242424242424241").unwrap_err(),
            DomainError::Card("the check digit is wrong")
        );
        assert_eq!(
            CardNumber::parse("9999999999999995").unwrap_err(),
            DomainError::Card("unknown card brand")
        );
        assert_eq!(
            CardNumber::parse("42424242424242").unwrap_err(),
            DomainError::Card("wrong length for its brand")
        );
        assert!(CardNumber::parse("4242x4242").is_err() && CardNumber::parse("").is_err());
    }
}
