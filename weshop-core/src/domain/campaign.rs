//! A seller's promotion campaign: what it said, when it went out and how many it reached.
//! Campaigns are kept, so a seller sees theirs and the rate limit survives a restart (and holds
//! across nodes sharing one store).

use std::fmt;

use super::{CampaignId, DomainError, Timestamp, UserId};

/// A promotion's text: plain text (line breaks, no other control characters), 1 to
/// [`PromotionText::MAX_CHARS`] characters once trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionText(String);

impl PromotionText {
    /// Longest text, in characters.
    pub const MAX_CHARS: usize = 1000;

    /// Parses a promotion's text, trimming it.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        // Checked before trimming, so a tab at either end is refused like one inside.
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(DomainError::Promotion(
                "a promotion is plain text: no control characters but line breaks",
            ));
        }
        let text = text.trim();
        if text.is_empty() || text.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::Promotion(
                "a promotion is 1 to 1000 characters",
            ));
        }
        Ok(Self(text.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromotionText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A promotion a seller sent (or is sending) to the customers who asked for promotions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Campaign {
    /// Its id (assigned by the store, increasing).
    pub id: CampaignId,
    /// Whose.
    pub seller: UserId,
    /// What it says.
    pub text: PromotionText,
    /// When it was accepted; the seller's next one may go out a rate-limit interval later.
    pub at: Timestamp,
    /// How many customers it went to (counted when it started; final once sent).
    pub recipients: u64,
    /// Whether every recipient's notification is filed. A campaign cut off by a crash is
    /// finished when the shop starts again (its notifications are keyed, so none is doubled).
    pub sent: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promotion_is_trimmed_plain_text_of_1_to_1000_characters() {
        assert_eq!(
            PromotionText::parse("  Sale!\n  ").unwrap().as_str(),
            "Sale!"
        );
        assert!(PromotionText::parse("two\nlines").is_ok());
        assert!(PromotionText::parse("\tSale").is_err());
        assert!(PromotionText::parse("Sa\u{7}le").is_err());
        assert!(PromotionText::parse("   ").is_err());
        assert!(PromotionText::parse(&"é".repeat(1000)).is_ok());
        assert!(PromotionText::parse(&"é".repeat(1001)).is_err());
    }
}
