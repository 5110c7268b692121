//! Strings that must match a declared pattern, checked against a regex compiled once.
//!
//! poem-openapi's `validator(pattern = ..)` builds its regex again for every value it checks
//! (5.1.16, `validation/pattern.rs`: `Regex::new(self.pattern).unwrap().is_match(..)`): the
//! checkout's `Idempotency-Key` alone was 2.6% of the orders bench's CPU. [`Matching`]
//! declares the same schema (`pattern`, `minLength`, `maxLength`) and checks against its
//! rule's regex, built on first use. It takes only strings, as [`Text`] does.

use std::{borrow::Cow, marker::PhantomData, ops::Deref, sync::LazyLock};

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use regex::Regex;
use serde_json::Value;

use super::text::Text;

/// What a [`Matching`] string must be.
pub trait Rule: Send + Sync + 'static {
    /// What the string is, in an error's words: a body's parse error does not name the field.
    const WHAT: &'static str;
    /// The pattern, as the schema declares it (anchored where it must match whole).
    const PATTERN: &'static str;
    /// The fewest characters.
    const MIN_LENGTH: Option<usize> = None;
    /// The most characters.
    const MAX_LENGTH: Option<usize> = None;
    /// [`Self::PATTERN`] compiled (a static of the rule's own, declared by `rule!`).
    fn regex() -> &'static Regex;
}

/// Declares a [`Rule`] with its compiled pattern.
macro_rules! rule {
    ($(#[$doc:meta])* $name:ident, $what:literal, $pattern:expr $(, min = $min:literal)? $(, max = $max:literal)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name;

        impl Rule for $name {
            const WHAT: &'static str = $what;
            const PATTERN: &'static str = $pattern;
            $(const MIN_LENGTH: Option<usize> = Some($min);)?
            $(const MAX_LENGTH: Option<usize> = Some($max);)?

            fn regex() -> &'static Regex {
                static REGEX: LazyLock<Regex> =
                    LazyLock::new(|| Regex::new($pattern).expect("a valid pattern"));
                &REGEX
            }
        }
    };
}

/// A line of text with something besides blanks in it and no control characters.
macro_rules! text_line {
    () => {
        r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    };
}

rule!(
    /// A login email: an ASCII address with a domain of at least two labels.
    EmailRule,
    "`email`",
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$",
    min = 3,
    max = 254
);
rule!(
    /// A new password: 8 to 128 characters, not all blank.
    PasswordRule,
    "a password",
    r"[^\s\x00-\x1f\x7f-\x9f]",
    min = 8,
    max = 128
);
rule!(
    /// A display name: 1 to 100 characters, not all blank.
    DisplayNameRule,
    "`name`",
    text_line!(),
    min = 1,
    max = 100
);
rule!(
    /// A product name: up to 200 characters, not all blank.
    ProductNameRule,
    "`name`",
    text_line!(),
    max = 200
);
rule!(
    /// An address label: up to 50 characters, not all blank.
    AddressLabelRule,
    "`label`",
    text_line!(),
    max = 50
);
rule!(
    /// A promotion: up to 1000 characters, line breaks allowed, not all blank.
    PromotionTextRule,
    "`text`",
    r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$",
    max = 1000
);
rule!(
    /// A category: letters, digits, spaces and dashes, 1 to 40.
    CategoryRule,
    "`category`",
    r"^[A-Za-z0-9]([A-Za-z0-9 -]{0,38}[A-Za-z0-9])?$"
);
rule!(
    /// A unit price: up to 7 digits and 2 decimals.
    PriceRule,
    "`price`",
    r"^[0-9]{1,7}(\.[0-9]{1,2})?$"
);
rule!(
    /// One of the shop's own image paths.
    ImagePathRule,
    "an image path",
    r"^(/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$",
    max = 2048
);
rule!(
    /// A card number: 12 to 19 digits, spaces and dashes between them.
    CardNumberRule,
    "`card_number`",
    r"^[0-9][0-9 -]{10,40}[0-9]$"
);
rule!(
    /// An `Idempotency-Key`: 1 to 255 visible ASCII characters.
    IdempotencyKeyRule,
    "Idempotency-Key",
    "^[!-~]+$",
    min = 1,
    max = 255
);
rule!(
    /// A UPS account: 1 to 64 characters, no spaces or control characters.
    UpsAccountRule,
    "`ups_account`",
    r"^[^\s\x00-\x1f\x7f-\x9f]+$",
    min = 1,
    max = 64
);
rule!(
    /// A decimal amount: up to 15 digits and 2 decimals.
    AmountRule,
    "`expected_total`",
    r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
);
rule!(
    /// A decimal amount, or nothing (a filter left empty in a form).
    AmountOrEmptyRule,
    "a price",
    r"^([0-9]{1,15}(\.[0-9]{1,2})?)?$"
);
rule!(
    /// A category, or nothing (a filter left empty in a form).
    CategoryOrEmptyRule,
    "`category`",
    r"^([A-Za-z0-9]([A-Za-z0-9 -]{0,38}[A-Za-z0-9])?)?$"
);

/// A string that satisfies `R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matching<R: Rule>(String, PhantomData<R>);

impl<R: Rule> Matching<R> {
    /// `value`, if it satisfies `R`; why not otherwise.
    pub fn parse(value: String) -> Result<Self, String> {
        let length = value.chars().count();
        let short = R::MIN_LENGTH.is_some_and(|min| length < min);
        let long = R::MAX_LENGTH.is_some_and(|max| length > max);
        if short || long {
            let what = R::WHAT;
            return Err(match (R::MIN_LENGTH, R::MAX_LENGTH) {
                (Some(min), Some(max)) => format!("{what} must be {min} to {max} characters long"),
                (Some(min), None) => format!("{what} must be at least {min} characters long"),
                (None, max) => format!(
                    "{what} must be at most {} characters long",
                    max.unwrap_or_default()
                ),
            });
        }
        if !R::regex().is_match(&value) {
            return Err(format!("{} must match the pattern {}", R::WHAT, R::PATTERN));
        }
        Ok(Self(value, PhantomData))
    }

    /// A value the shop answers with, not checked again: it was when it came in.
    pub fn shown(value: String) -> Self {
        Self(value, PhantomData)
    }

    /// The string.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<R: Rule> Deref for Matching<R> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<R: Rule> Type for Matching<R> {
    const IS_REQUIRED: bool = true;

    type RawValueType = String;

    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.pattern = Some(R::PATTERN.to_string());
        schema.min_length = R::MIN_LENGTH;
        schema.max_length = R::MAX_LENGTH;
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<R: Rule> ParseFromJSON for Matching<R> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let Text(text) = Text::parse_from_json(value).map_err(ParseError::propagate)?;
        Self::parse(text).map_err(ParseError::custom)
    }
}

impl<R: Rule> ParseFromParameter for Matching<R> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value.to_string()).map_err(ParseError::custom)
    }
}

impl<R: Rule> ToJSON for Matching<R> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_pattern_are_checked() {
        type Key = Matching<IdempotencyKeyRule>;
        assert!(Key::parse("order-1".into()).is_ok());
        assert!(Key::parse("x".repeat(255)).is_ok());
        assert_eq!(
            Key::parse(String::new()).unwrap_err(),
            "Idempotency-Key must be 1 to 255 characters long"
        );
        assert!(Key::parse("x".repeat(256)).is_err());
        assert_eq!(
            Key::parse("two words".into()).unwrap_err(),
            "Idempotency-Key must match the pattern ^[!-~]+$"
        );
        type Amount = Matching<AmountOrEmptyRule>;
        assert!(Amount::parse(String::new()).is_ok());
        assert!(Amount::parse("12.50".into()).is_ok());
        assert!(Amount::parse("12.505".into()).is_err());
    }

    #[test]
    fn every_pattern_compiles() {
        // Built on first use: a typo would otherwise surface as a panic in a request.
        for regex in [
            EmailRule::regex(),
            PasswordRule::regex(),
            DisplayNameRule::regex(),
            ProductNameRule::regex(),
            AddressLabelRule::regex(),
            PromotionTextRule::regex(),
            CategoryRule::regex(),
            PriceRule::regex(),
            ImagePathRule::regex(),
            CardNumberRule::regex(),
            IdempotencyKeyRule::regex(),
            UpsAccountRule::regex(),
            AmountRule::regex(),
            AmountOrEmptyRule::regex(),
            CategoryOrEmptyRule::regex(),
        ] {
            assert!(!regex.as_str().is_empty());
        }
    }

    #[test]
    fn the_schema_declares_what_is_checked() {
        let MetaSchemaRef::Inline(schema) = Matching::<UpsAccountRule>::schema_ref() else {
            panic!("an inline schema");
        };
        assert_eq!(schema.ty, "string");
        assert_eq!(schema.pattern.as_deref(), Some(UpsAccountRule::PATTERN));
        assert_eq!((schema.min_length, schema.max_length), (Some(1), Some(64)));
    }
}
