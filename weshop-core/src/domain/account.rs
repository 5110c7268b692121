//! Accounts: who a user is, how they prove it, and what they keep in their profile.
//!
//! Passwords are stored only as Argon2id hashes (PHC strings with their own salt). Hashing is
//! deliberately slow, so callers on an async runtime run it on a blocking thread. Sessions are
//! random opaque tokens given to the client once; only their SHA-256 is stored, with an expiry.

use std::fmt;

use argon2::{
    Argon2,
    password_hash::{
        PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng, rand_core::RngCore,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

use super::{CardBrand, DomainError, Email, Location, Timestamp, UserId};

/// What a user may do; at least one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Roles {
    /// May buy.
    pub customer: bool,
    /// May list products and stock.
    pub seller: bool,
}

impl Roles {
    /// The roles, if at least one is set.
    pub fn new(customer: bool, seller: bool) -> Result<Self, DomainError> {
        if customer || seller {
            Ok(Self { customer, seller })
        } else {
            Err(DomainError::NoRole)
        }
    }
}

/// A person's display name: 1 to 100 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let text = text.trim();
        let ok =
            !text.is_empty() && text.chars().count() <= 100 && !text.chars().any(char::is_control);
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::PersonName)
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed, checked against the policy: 8 to 128 characters, not all blank.
/// Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Shortest password accepted.
    pub const MIN_CHARS: usize = 8;
    /// Longest password accepted (bounds the hashing work an attacker can ask for).
    pub const MAX_CHARS: usize = 128;

    /// Checks a new password against the policy: 8 to 128 characters, at least one of them
    /// neither blank nor a control character, and not one of the passwords attackers try
    /// first (case ignored).
    pub fn new(text: &str) -> Result<Self, DomainError> {
        let chars = text.chars().count();
        let visible = text.chars().any(|c| !c.is_whitespace() && !c.is_control());
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) || !visible {
            return Err(DomainError::Password);
        }
        let lower = text.to_lowercase();
        if COMMON_PASSWORDS.contains(&lower.as_str()) {
            return Err(DomainError::CommonPassword);
        }
        Ok(Self(text.to_string()))
    }

    /// The password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The most common passwords of 8 characters or more in published breach lists, lower-cased:
/// the first ones any credential-stuffing run tries.
const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "87654321",
    "11111111",
    "00000000",
    "22222222",
    "88888888",
    "12341234",
    "11223344",
    "12121212",
    "123123123",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4",
    "qwertyui",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "asdfghjk",
    "asdfasdf",
    "zxcvbnm1",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "a1b2c3d4",
    "iloveyou",
    "iloveyou1",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "basketball",
    "welcome1",
    "welcome123",
    "superman",
    "batman123",
    "starwars",
    "trustno1",
    "whatever",
    "letmein1",
    "letmein123",
    "computer",
    "internet",
    "michelle",
    "jennifer",
    "jordan23",
    "charlie1",
    "dragon123",
    "monkey123",
    "master123",
    "shadow12",
    "freedom1",
    "changeme",
    "admin123",
    "administrator",
    "secret123",
    "loveme123",
    "football1",
    "baseball1",
    "1qaz2wsx",
    "zaq12wsx",
    "qazwsxedc",
    "aa123456",
    "a123456789",
    "666666666",
    "999999999",
    "987654321",
    "147258369",
    "11111111111",
];

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A stored password: an Argon2id hash in PHC string form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Hashes a password with Argon2id and a fresh random salt. Slow on purpose.
    pub fn create(password: &Password) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("Argon2id with default parameters and a generated salt cannot fail");
        Self(hash.to_string())
    }

    /// A hash as stored (a PHC string).
    pub fn from_stored(phc: &str) -> Result<Self, DomainError> {
        argon2::PasswordHash::new(phc).map_err(|_| DomainError::PasswordHash)?;
        Ok(Self(phc.to_string()))
    }

    /// True if `password` matches. Slow on purpose; constant-time comparison inside.
    pub fn verify(&self, password: &str) -> bool {
        if password.chars().count() > Password::MAX_CHARS {
            return false;
        }
        argon2::PasswordHash::new(&self.0).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A session token as handed to the client (32 random bytes, base64url).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// A fresh random token.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token presented by a client (not checked beyond its shape; look up its hash).
    pub fn presented(text: &str) -> Option<Self> {
        let ok = text.len() == 43
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(text.to_string()))
    }

    /// The text to give the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the token's SHA-256, hex.
    pub fn hash(&self) -> TokenHash {
        let digest = Sha256::digest(self.0.as_bytes());
        TokenHash(hex::encode(digest))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(***)")
    }
}

/// The stored form of a session token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A digest as stored.
    pub fn from_stored(hex: &str) -> Option<Self> {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(hex.to_ascii_lowercase()))
    }
}

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Whose.
    pub user: UserId,
    /// The token's hash.
    pub token: TokenHash,
    /// When it stops working.
    pub expires: Timestamp,
}

impl LoginSession {
    /// True until it expires.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires
    }
}

/// A delivery address: a label for the user and a point on the world grid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// E.g. "home" (1 to 50 characters).
    pub label: String,
    /// Where.
    pub location: Location,
}

impl Address {
    /// An address, if the label is 1 to 50 characters without control characters.
    pub fn new(label: &str, location: Location) -> Result<Self, DomainError> {
        let label = label.trim();
        let ok = !label.is_empty()
            && label.chars().count() <= 50
            && !label.chars().any(char::is_control);
        if ok {
            Ok(Self {
                label: label.to_string(),
                location,
            })
        } else {
            Err(DomainError::AddressLabel)
        }
    }
}

/// A registered user, as stored: who they are, what they may do, and their profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Their login (unique).
    pub email: Email,
    /// Their name.
    pub name: PersonName,
    /// Customer, seller or both.
    pub roles: Roles,
    /// Argon2id hash of their password.
    pub password: PasswordHash,
    /// Saved delivery addresses.
    pub addresses: Vec<Address>,
    /// Saved cards (gateway tokens only).
    pub payment_methods: Vec<PaymentMethod>,
    /// When they registered.
    pub created: Timestamp,
    /// They asked for sellers' promotions (off until they opt in).
    pub promotions: bool,
}

impl User {
    /// Most saved addresses or cards per user.
    pub const MAX_SAVED: usize = 20;
}

/// A saved card, as the shop keeps it: the gateway's token, the brand and the last 4 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    /// The gateway's token for the card.
    pub token: String,
    /// Its brand.
    pub brand: CardBrand,
    /// Its last four digits.
    pub last4: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let password = Password::new("correct horse").unwrap();
        let hash = PasswordHash::create(&password);
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horsf"));
        assert_ne!(
            PasswordHash::create(&password),
            hash,
            "fresh salt each time"
        );
        assert_eq!(PasswordHash::from_stored(hash.as_str()).unwrap(), hash);
        assert!(PasswordHash::from_stored("plain").is_err());
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn password_policy() {
        assert!(Password::new("short").is_err());
        assert!(Password::new("        ").is_err());
        for common in [
            "password",
            "12345678",
            "Password1",
            "QWERTYUIOP",
            "iloveyou",
        ] {
            assert_eq!(
                Password::new(common).unwrap_err(),
                DomainError::CommonPassword,
                "{common}"
            );
        }
        assert!(Password::new(&"x".repeat(129)).is_err());
        assert!(Password::new(&"é".repeat(128)).is_ok());
    }

    #[test]
    fn session_tokens_are_random_and_stored_hashed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_eq!(
            SessionToken::presented(a.expose()).unwrap().hash(),
            a.hash()
        );
        assert!(SessionToken::presented("short").is_none());
        assert_eq!(a.hash().as_str().len(), 64);
        assert_eq!(TokenHash::from_stored(a.hash().as_str()), Some(a.hash()));
        let session = LoginSession {
            user: UserId::new(1).unwrap(),
            token: a.hash(),
            expires: Timestamp(100),
        };
        assert!(session.is_valid_at(Timestamp(99)) && !session.is_valid_at(Timestamp(100)));
    }

    #[test]
    fn roles_names_addresses() {
        assert!(Roles::new(false, false).is_err());
        assert!(Roles::new(false, true).unwrap().seller);
        assert!(PersonName::parse(" Ada Lovelace ").is_ok() && PersonName::parse("").is_err());
        assert!(
            Address::new("home", Location::new(1, 2)).is_ok()
                && Address::new(" ", Location::new(0, 0)).is_err()
        );
    }
}
