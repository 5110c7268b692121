//! Validated text values: email addresses and product names.

use std::fmt;

use super::DomainError;

/// An email address, trimmed and lower-cased: the shop treats addresses case-insensitively
/// (`DEMO@WESHOP.TEST` logs in as `demo@weshop.test`), as people and nearly every mail system
/// do, so one person cannot hold two accounts that differ only in case. Checked for shape, not
/// deliverability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

impl Email {
    /// Longest address accepted (RFC 5321's path limit).
    pub const MAX_LENGTH: usize = 254;

    /// Parses an address like `ada@example.com`.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let bad = |why| DomainError::Email(text.to_string(), why);
        let text = text.trim();
        if text.len() > Self::MAX_LENGTH {
            return Err(bad("longer than 254 characters"));
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(|| bad("no @"))?;
        if local.is_empty() || local.len() > 64 {
            return Err(bad("the part before @ must be 1 to 64 characters"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@')
        {
            return Err(bad(
                "the part before @ has a space, a control character or another @",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(bad("the domain must be like example.com"));
        }
        Ok(Self(format!("{local}@{domain}").to_lowercase()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product's name: 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductName(String);

impl ProductName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Parses a name.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(DomainError::ProductName("must not be empty"));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::ProductName("longer than 200 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(DomainError::ProductName("has control characters"));
        }
        Ok(Self(text.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        assert_eq!(
            Email::parse("DEMO@WESHOP.TEST").unwrap(),
            Email::parse("demo@weshop.test").unwrap()
        );
        assert_eq!(
            Email::parse("a.b+tag@sub.example.co.uk").unwrap().as_str(),
            "a.b+tag@sub.example.co.uk"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@-x.com",
            "ada@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn product_names() {
        assert_eq!(
            ProductName::parse("  Travel mug ").unwrap().as_str(),
            "Travel mug"
        );
        assert!(ProductName::parse("   ").is_err());
        assert!(ProductName::parse("a\u{0}b").is_err());
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert!(ProductName::parse(&"é".repeat(201)).is_err());
    }
}
