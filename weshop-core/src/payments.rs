//! The payment port, and a simulated gateway that behaves like a real one for tests and demos.
//!
//! Every call that moves money carries an idempotency key: a retry with the same key returns
//! the first outcome and moves nothing again; the same key with different arguments is refused.
//!
//! The simulated gateway accepts any valid test card (see [`CardNumber`]) and declines
//! [`DECLINED_CARD`] (`4000 0000 0000 0002`) at authorization, like the well-known test numbers
//! of real gateways.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;

use crate::domain::{CardBrand, CardNumber, Money};

/// The card number the simulated gateway always declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// A key that makes a money-moving call safe to retry: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a key.
    pub fn parse(text: &str) -> Result<Self, PaymentError> {
        let ok = (1..=255).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(PaymentError::BadIdempotencyKey)
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A card saved at the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    /// The gateway's token.
    pub token: String,
    /// The card's brand.
    pub brand: CardBrand,
    /// Its last four digits.
    pub last4: String,
}

/// Money held on a card for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The gateway's reference.
    pub id: String,
    /// How much is held.
    pub amount: Money,
}

/// Why the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PaymentError {
    /// The card was declined.
    #[error("the card was declined")]
    Declined,
    /// No such card token.
    #[error("unknown payment method")]
    UnknownToken,
    /// No such authorization.
    #[error("unknown authorization {0}")]
    UnknownAuthorization(String),
    /// The amount exceeds what is authorized (capture) or captured (refund).
    #[error("amount exceeds what is available: {0}")]
    TooMuch(String),
    /// The key was used before with other arguments.
    #[error("idempotency key reused with different arguments")]
    IdempotencyConflict,
    /// The key is malformed.
    #[error("invalid idempotency key: 1 to 255 visible ASCII characters")]
    BadIdempotencyKey,
    /// The gateway could not be reached or could not record the call; nothing was done, and
    /// the call may be retried.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
}

/// The payment gateway, as the shop sees it.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Payments: Send + Sync {
    /// Saves a card; the shop keeps only the returned token, brand and last four digits.
    async fn tokenize(&self, card: &CardNumber) -> Result<CardToken, PaymentError>;
    /// Holds `amount` on a saved card.
    async fn authorize(
        &self,
        token: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<Authorization, PaymentError>;
    /// Takes (part of) held money.
    async fn capture(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError>;
    /// Gives captured money back.
    async fn refund(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError>;
    /// Releases what is held and not captured (an order that will not ship).
    async fn void(&self, authorization: &str, key: &IdempotencyKey) -> Result<(), PaymentError>;
    /// The authorizations still holding money that is neither captured nor released (real
    /// gateways list their uncaptured payments). The shop releases those no order stands
    /// behind. A gateway that cannot list them returns none.
    async fn open_authorizations(&self) -> Result<Vec<String>, PaymentError> {
        Ok(Vec::new())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Authorize(String, Money),
    Capture(String, Money),
    Refund(String, Money),
    Void(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Authorized(Result<Authorization, PaymentError>),
    Moved(Result<(), PaymentError>),
}

#[derive(Debug, Default)]
struct Ledger {
    cards: HashMap<String, CardNumber>,
    holds: HashMap<String, Hold>,
    calls: HashMap<IdempotencyKey, (Call, Outcome)>,
    next: u64,
}

/// Where one authorization's money stands (what a bank statement would say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// Held for the shop (a void brings it down to what was captured).
    pub authorized: Money,
    /// Taken.
    pub captured: Money,
    /// Given back.
    pub refunded: Money,
}

/// Money moved against a hold: captured up to what is authorized, refunded up to what is
/// captured.
#[derive(Debug, Clone, Copy)]
enum Movement {
    Capture,
    Refund,
}

impl Hold {
    fn apply(&mut self, movement: Movement, amount: Money) -> Result<(), PaymentError> {
        let (total, limit, what) = match movement {
            Movement::Capture => (&mut self.captured, self.authorized, "captured"),
            Movement::Refund => (&mut self.refunded, self.captured, "refunded"),
        };
        match total.checked_add(amount) {
            Ok(sum) if sum.minor() <= limit.minor() => {
                *total = sum;
                Ok(())
            }
            _ => Err(PaymentError::TooMuch(format!(
                "{amount} on top of {total} {what} of {limit}"
            ))),
        }
    }
}

/// An in-memory gateway with real gateway semantics (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct SimulatedGateway {
    ledger: Mutex<Ledger>,
}

impl SimulatedGateway {
    /// A gateway with no cards and no money moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// Total captured minus refunded over all authorizations (what the shop actually earned).
    pub fn net_captured_minor(&self) -> i64 {
        let ledger = self.ledger.lock().expect("ledger lock");
        ledger
            .holds
            .values()
            .map(|h| h.captured.minor() - h.refunded.minor())
            .sum()
    }

    /// Every authorization and where its money stands, by id (a statement, for checks).
    pub fn holds(&self) -> BTreeMap<String, Hold> {
        let ledger = self.ledger.lock().expect("ledger lock");
        ledger
            .holds
            .iter()
            .map(|(id, hold)| (id.clone(), hold.clone()))
            .collect()
    }

    /// Number of authorizations made (retries with the same key do not add any).
    pub fn authorizations(&self) -> usize {
        self.ledger.lock().expect("ledger lock").holds.len()
    }

    fn once(
        &self,
        key: &IdempotencyKey,
        call: Call,
        run: impl FnOnce(&mut Ledger) -> Outcome,
    ) -> Result<Outcome, PaymentError> {
        let mut ledger = self.ledger.lock().expect("ledger lock");
        if let Some((previous, outcome)) = ledger.calls.get(key) {
            return if *previous == call {
                Ok(outcome.clone())
            } else {
                Err(PaymentError::IdempotencyConflict)
            };
        }
        let outcome = run(&mut ledger);
        ledger.calls.insert(key.clone(), (call, outcome.clone()));
        Ok(outcome)
    }
}

impl SimulatedGateway {
    fn move_money(
        &self,
        movement: Movement,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        let call = match movement {
            Movement::Capture => Call::Capture(authorization.to_string(), amount),
            Movement::Refund => Call::Refund(authorization.to_string(), amount),
        };
        let outcome = self.once(key, call, |ledger| {
            Outcome::Moved(match ledger.holds.get_mut(authorization) {
                None => Err(PaymentError::UnknownAuthorization(
                    authorization.to_string(),
                )),
                Some(hold) => hold.apply(movement, amount),
            })
        })?;
        match outcome {
            Outcome::Moved(result) => result,
            Outcome::Authorized(_) => Err(PaymentError::IdempotencyConflict),
        }
    }
}

#[async_trait]
impl Payments for SimulatedGateway {
    async fn tokenize(&self, card: &CardNumber) -> Result<CardToken, PaymentError> {
        let mut ledger = self.ledger.lock().expect("ledger lock");
        ledger.next += 1;
        let token = format!("tok_{:08}", ledger.next);
        ledger.cards.insert(token.clone(), card.clone());
        Ok(CardToken {
            token,
            brand: card.brand(),
            last4: card.last4().to_string(),
        })
    }

    async fn authorize(
        &self,
        token: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<Authorization, PaymentError> {
        let outcome = self.once(key, Call::Authorize(token.to_string(), amount), |ledger| {
            let result = match ledger.cards.get(token) {
                None => Err(PaymentError::UnknownToken),
                Some(card) if card.digits() == DECLINED_CARD => Err(PaymentError::Declined),
                Some(_) => {
                    ledger.next += 1;
                    let id = format!("auth_{:08}", ledger.next);
                    let zero = Money::zero(amount.currency());
                    ledger.holds.insert(
                        id.clone(),
                        Hold {
                            authorized: amount,
                            captured: zero,
                            refunded: zero,
                        },
                    );
                    Ok(Authorization { id, amount })
                }
            };
            Outcome::Authorized(result)
        })?;
        match outcome {
            Outcome::Authorized(result) => result,
            Outcome::Moved(_) => Err(PaymentError::IdempotencyConflict),
        }
    }

    async fn capture(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.move_money(Movement::Capture, authorization, amount, key)
    }

    async fn refund(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.move_money(Movement::Refund, authorization, amount, key)
    }

    async fn open_authorizations(&self) -> Result<Vec<String>, PaymentError> {
        Ok(self
            .holds()
            .into_iter()
            .filter(|(_, hold)| hold.authorized.minor() > hold.captured.minor())
            .map(|(id, _)| id)
            .collect())
    }

    async fn void(&self, authorization: &str, key: &IdempotencyKey) -> Result<(), PaymentError> {
        let outcome = self.once(key, Call::Void(authorization.to_string()), |ledger| {
            Outcome::Moved(match ledger.holds.get_mut(authorization) {
                None => Err(PaymentError::UnknownAuthorization(
                    authorization.to_string(),
                )),
                Some(hold) => {
                    hold.authorized = hold.captured;
                    Ok(())
                }
            })
        })?;
        match outcome {
            Outcome::Moved(result) => result,
            Outcome::Authorized(_) => Err(PaymentError::IdempotencyConflict),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::domain::Currency;

    fn usd(text: &str) -> Money {
        Money::parse(text, Currency::USD).unwrap()
    }

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k).unwrap()
    }

    #[test]
    fn authorize_capture_refund_once_per_key() {
        block_on(async {
            let gateway = SimulatedGateway::new();
            let card = gateway
                .tokenize(&CardNumber::parse("4242424242424242").unwrap())
                .await
                .unwrap();
            assert_eq!((card.brand, card.last4.as_str()), (CardBrand::Visa, "4242"));
            let auth = gateway
                .authorize(&card.token, usd("10"), &key("order-1"))
                .await
                .unwrap();
            let again = gateway
                .authorize(&card.token, usd("10"), &key("order-1"))
                .await
                .unwrap();
            assert_eq!(auth, again, "a retry returns the same authorization");
            assert_eq!(gateway.authorizations(), 1);
            assert_eq!(
                gateway
                    .authorize(&card.token, usd("11"), &key("order-1"))
                    .await,
                Err(PaymentError::IdempotencyConflict)
            );
            gateway
                .capture(&auth.id, usd("10"), &key("cap-1"))
                .await
                .unwrap();
            gateway
                .capture(&auth.id, usd("10"), &key("cap-1"))
                .await
                .unwrap();
            assert!(matches!(
                gateway.capture(&auth.id, usd("0.01"), &key("cap-2")).await,
                Err(PaymentError::TooMuch(_))
            ));
            gateway
                .refund(&auth.id, usd("4"), &key("ref-1"))
                .await
                .unwrap();
            gateway
                .refund(&auth.id, usd("4"), &key("ref-1"))
                .await
                .unwrap();
            assert_eq!(
                gateway.net_captured_minor(),
                600,
                "captured once, refunded once"
            );
        });
    }

    #[test]
    fn the_test_decline_number_is_declined_and_unknowns_are_errors() {
        block_on(async {
            let gateway = SimulatedGateway::new();
            let declined = gateway
                .tokenize(&CardNumber::parse(DECLINED_CARD).unwrap())
                .await
                .unwrap();
            assert_eq!(
                gateway
                    .authorize(&declined.token, usd("1"), &key("a"))
                    .await,
                Err(PaymentError::Declined)
            );
            assert_eq!(
                gateway
                    .authorize(&declined.token, usd("1"), &key("a"))
                    .await,
                Err(PaymentError::Declined)
            );
            assert_eq!(
                gateway.authorize("tok_nope", usd("1"), &key("b")).await,
                Err(PaymentError::UnknownToken)
            );
            assert!(matches!(
                gateway.capture("auth_nope", usd("1"), &key("c")).await,
                Err(PaymentError::UnknownAuthorization(_))
            ));
            assert!(
                IdempotencyKey::parse("").is_err() && IdempotencyKey::parse("has space").is_err()
            );
        });
    }
}
