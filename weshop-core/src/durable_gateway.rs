//! The simulated gateway made durable: every call is written to the store's payment journal
//! before the gateway acts on it, and at start the journal is replayed into a fresh gateway.
//!
//! The simulated gateway is deterministic (its tokens and authorization ids count up, its
//! answers depend only on the calls before), so replaying the calls in their order rebuilds
//! exactly the cards, holds and idempotency records it had: a card saved before a restart
//! still pays, and an order authorized before a crash is captured after it, once. Calls are
//! journaled in turns, one turn at a time, and applied in journal order, so the journal's
//! order is the order they were applied in. A turn journals every call waiting for it in one
//! store write (group commit: with a sync per commit, one write per call capped checkouts at
//! about 200/s on surrealkv). A call whose journal write fails is not made at all
//! (`Unavailable`, which the outbox retries).
//!
//! A node alone answers once its calls hold their place in the store's order of writes
//! ([`Store::sequence_payment_records`]), which on the durable memory store is before they
//! are on disk: whatever the shop does with an answer is a store write made after (the order
//! placed with a hold, a void, the outbox entry marked done after a capture, a saved card), so
//! it is durable only once the call is, and a crash that loses the call loses all of that too.
//! Nothing depends on a refusal. The gateway's answer is the only thing seen before
//! the disk has it, and only by the caller that goes on to write.
//!
//! Like a real gateway's own database, the journal holds the card numbers given to
//! `tokenize`; the shop's own records keep only tokens, brands and last four digits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};

use async_trait::async_trait;
use tokio::sync::{Mutex, oneshot};

use crate::domain::{CardNumber, Currency, Money};
use crate::payments::{
    Authorization, CardToken, IdempotencyKey, PaymentError, Payments, SimulatedGateway,
};
use crate::store::Store;

/// One call, as journaled.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    Tokenize(CardNumber),
    Authorize(IdempotencyKey, String, Money),
    Capture(IdempotencyKey, String, Money),
    Refund(IdempotencyKey, String, Money),
    Void(IdempotencyKey, String),
}

/// A field with tabs, line breaks and backslashes escaped.
fn escape(field: &str) -> String {
    field
        .replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn money(amount: Money) -> String {
    format!("{}\t{}", amount.minor(), amount.currency())
}

impl Record {
    /// The journal line: the call's name and its arguments, tab-separated.
    fn line(&self) -> String {
        match self {
            Record::Tokenize(card) => format!("tokenize\t{}", card.digits()),
            Record::Authorize(key, token, amount) => format!(
                "authorize\t{}\t{}\t{}",
                key.as_str(),
                escape(token),
                money(*amount)
            ),
            Record::Capture(key, auth, amount) => format!(
                "capture\t{}\t{}\t{}",
                key.as_str(),
                escape(auth),
                money(*amount)
            ),
            Record::Refund(key, auth, amount) => format!(
                "refund\t{}\t{}\t{}",
                key.as_str(),
                escape(auth),
                money(*amount)
            ),
            Record::Void(key, auth) => format!("void\t{}\t{}", key.as_str(), escape(auth)),
        }
    }

    /// A journal line back as a call.
    fn parse(line: &str) -> Result<Record, String> {
        let fields: Vec<&str> = line.split('\t').collect();
        let bad = || format!("unreadable payment record {line:?}");
        let key = |i: usize| {
            fields
                .get(i)
                .and_then(|k| IdempotencyKey::parse(k).ok())
                .ok_or_else(bad)
        };
        let amount = |i: usize| -> Result<Money, String> {
            let minor = fields.get(i).and_then(|m| m.parse::<i64>().ok());
            let currency = fields.get(i + 1).and_then(|c| Currency::new(c).ok());
            match (minor, currency) {
                (Some(minor), Some(currency)) => {
                    Money::from_minor(minor, currency).map_err(|_| bad())
                }
                _ => Err(bad()),
            }
        };
        let text = |i: usize| fields.get(i).map(|f| unescape(f)).ok_or_else(bad);
        match fields.first().copied() {
            Some("tokenize") => Ok(Record::Tokenize(
                CardNumber::parse(fields.get(1).ok_or_else(bad)?).map_err(|_| bad())?,
            )),
            Some("authorize") => Ok(Record::Authorize(key(1)?, text(2)?, amount(3)?)),
            Some("capture") => Ok(Record::Capture(key(1)?, text(2)?, amount(3)?)),
            Some("refund") => Ok(Record::Refund(key(1)?, text(2)?, amount(3)?)),
            Some("void") => Ok(Record::Void(key(1)?, text(2)?)),
            _ => Err(bad()),
        }
    }
}

/// What a call answered.
#[derive(Clone)]
enum Answer {
    Token(Result<CardToken, PaymentError>),
    Authorized(Result<Authorization, PaymentError>),
    Moved(Result<(), PaymentError>),
}

/// A call waiting for a turn to journal it, and where its answer goes.
struct Waiting {
    record: Record,
    answer: oneshot::Sender<Result<Answer, PaymentError>>,
}

/// A [`SimulatedGateway`] whose every call is journaled in a [`Store`] first.
pub struct DurableGateway {
    journal: Arc<Journal>,
}

/// The gateway and its journal, shared with the tasks that take turns.
struct Journal {
    gateway: SimulatedGateway,
    store: Arc<dyn Store>,
    /// Calls not yet journaled, in arrival order: the next turn takes them all.
    waiting: std::sync::Mutex<Vec<Waiting>>,
    /// Held for a turn, so turns journal and apply one after the other. With
    /// [`DurableGateway::shared`], the position of the last journal record the ledger applied.
    calls: Mutex<u64>,
    /// Several nodes journal into one store (see [`DurableGateway::shared`]).
    shared: AtomicBool,
}

impl DurableGateway {
    /// The gateway as the store's journal left it (a new one for an empty journal).
    pub async fn open(store: Arc<dyn Store>) -> Result<Self, PaymentError> {
        let journal = Journal {
            gateway: SimulatedGateway::new(),
            store,
            waiting: std::sync::Mutex::new(Vec::new()),
            calls: Mutex::new(0),
            shared: AtomicBool::new(false),
        };
        // Refusals replay as refusals: only the ledger they leave matters.
        let mut applied = 0;
        journal.catch_up(&mut applied, &[]).await?;
        *journal.calls.lock().await = applied;
        if applied > 0 {
            tracing::info!(calls = applied, "payment gateway restored from its journal");
        }
        Ok(Self {
            journal: Arc::new(journal),
        })
    }

    /// For a node of several sharing the store: the one simulated provider all of them talk
    /// to. Each call first applies what other nodes journaled since (a card saved through one
    /// node is charged through another, an authorization made on one is captured by the
    /// leader), then its own record in journal order. Costs a read of the records journaled
    /// since the last call.
    pub fn shared(self) -> Self {
        self.journal.shared.store(true, Ordering::Release);
        self
    }

    /// The gateway's ledger (for checks: what was captured, how many holds).
    pub fn ledger(&self) -> &SimulatedGateway {
        &self.journal.gateway
    }

    /// Queues the call and starts a turn, which journals it with whatever else waits (unless
    /// a turn running already took it). The turn is a task of its own: a caller that goes
    /// away (a dropped request) must not take the others' calls with it, nor leave calls
    /// journaled but not applied.
    async fn call(&self, record: Record) -> Result<Answer, PaymentError> {
        let (answer, answered) = oneshot::channel();
        self.journal
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Waiting { record, answer });
        let journal = self.journal.clone();
        tokio::spawn(async move { journal.turn().await });
        answered.await.unwrap_or_else(|_| {
            Err(PaymentError::Unavailable(
                "the payment call was dropped".into(),
            ))
        })
    }
}

impl Journal {
    /// Journals every waiting call in one write, then applies them in journal order and
    /// answers each.
    async fn turn(&self) {
        let mut applied = self.calls.lock().await;
        let batch =
            std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return;
        }
        let lines: Vec<String> = batch.iter().map(|w| w.record.line()).collect();
        let shared = self.shared.load(Ordering::Acquire);
        let journaled = match shared {
            true => self.store.append_payment_records(&lines).await,
            // Answered once in the store's order of writes (see the module docs).
            false => self.store.sequence_payment_records(&lines).await,
        };
        let answers = match journaled {
            Err(error) => Err(PaymentError::Unavailable(error.to_string())),
            Ok(()) if !shared => {
                let mut answers = Vec::with_capacity(batch.len());
                for waiting in &batch {
                    *applied += 1;
                    answers.push(Some(apply(&self.gateway, &waiting.record).await));
                }
                Ok(answers)
            }
            Ok(()) => self.catch_up(&mut applied, &lines).await,
        };
        match answers {
            Ok(answers) => {
                for (waiting, answer) in batch.into_iter().zip(answers) {
                    let _ = waiting.answer.send(answer.ok_or_else(|| {
                        PaymentError::Unavailable("the journal lost a payment record".into())
                    }));
                }
            }
            Err(error) => {
                for waiting in batch {
                    let _ = waiting.answer.send(Err(error.clone()));
                }
            }
        }
    }

    /// Applies the journal's lines from `applied` on (all of them when opening); returns, for
    /// each of `own`, the answer to the first line equal to it among them (an identical
    /// twin, a retry, answers the same).
    async fn catch_up(
        &self,
        applied: &mut u64,
        own: &[String],
    ) -> Result<Vec<Option<Answer>>, PaymentError> {
        let lines = self
            .store
            .payment_records_after(*applied)
            .await
            .map_err(|e| PaymentError::Unavailable(e.to_string()))?;
        let mut answers: Vec<Option<Answer>> = vec![None; own.len()];
        let mut asked: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, line) in own.iter().enumerate() {
            asked.entry(line.as_str()).or_default().push(i);
        }
        for (position, line) in &lines {
            let record = Record::parse(line).map_err(PaymentError::Unavailable)?;
            let result = apply(&self.gateway, &record).await;
            if let Some(callers) = asked.remove(line.as_str()) {
                for i in callers {
                    answers[i] = Some(result.clone());
                }
            }
            *applied = (*applied).max(*position);
        }
        Ok(answers)
    }
}

async fn apply(gateway: &SimulatedGateway, record: &Record) -> Answer {
    match record {
        Record::Tokenize(card) => Answer::Token(gateway.tokenize(card).await),
        Record::Authorize(key, token, amount) => {
            Answer::Authorized(gateway.authorize(token, *amount, key).await)
        }
        Record::Capture(key, auth, amount) => {
            Answer::Moved(gateway.capture(auth, *amount, key).await)
        }
        Record::Refund(key, auth, amount) => {
            Answer::Moved(gateway.refund(auth, *amount, key).await)
        }
        Record::Void(key, auth) => Answer::Moved(gateway.void(auth, key).await),
    }
}

fn mismatch() -> PaymentError {
    PaymentError::Unavailable("the gateway answered another kind of call".into())
}

#[async_trait]
impl Payments for DurableGateway {
    async fn tokenize(&self, card: &CardNumber) -> Result<CardToken, PaymentError> {
        match self.call(Record::Tokenize(card.clone())).await? {
            Answer::Token(result) => result,
            _ => Err(mismatch()),
        }
    }

    async fn authorize(
        &self,
        token: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<Authorization, PaymentError> {
        let record = Record::Authorize(key.clone(), token.to_string(), amount);
        match self.call(record).await? {
            Answer::Authorized(result) => result,
            _ => Err(mismatch()),
        }
    }

    async fn capture(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        let record = Record::Capture(key.clone(), authorization.to_string(), amount);
        match self.call(record).await? {
            Answer::Moved(result) => result,
            _ => Err(mismatch()),
        }
    }

    async fn refund(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        let record = Record::Refund(key.clone(), authorization.to_string(), amount);
        match self.call(record).await? {
            Answer::Moved(result) => result,
            _ => Err(mismatch()),
        }
    }

    async fn open_authorizations(&self) -> Result<Vec<String>, PaymentError> {
        if self.journal.shared.load(Ordering::Acquire) {
            let mut applied = self.journal.calls.lock().await;
            self.journal.catch_up(&mut applied, &[]).await?;
        }
        self.ledger().open_authorizations().await
    }

    async fn void(&self, authorization: &str, key: &IdempotencyKey) -> Result<(), PaymentError> {
        let record = Record::Void(key.clone(), authorization.to_string());
        match self.call(record).await? {
            Answer::Moved(result) => result,
            _ => Err(mismatch()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_their_lines() {
        let usd = |minor| Money::from_minor(minor, Currency::USD).unwrap();
        let key = |k| IdempotencyKey::parse(k).unwrap();
        for record in [
            Record::Tokenize(CardNumber::parse("4242 4242 4242 4242").unwrap()),
            Record::Authorize(key("checkout-1"), "tok\t\\odd\nname".into(), usd(1999)),
            Record::Capture(key("capture-1"), "auth_00000002".into(), usd(1999)),
            Record::Refund(key("refund-1"), "auth_00000002".into(), usd(1)),
            Record::Void(key("void-1"), "auth_00000002".into()),
        ] {
            let line = record.line();
            assert!(!line.contains('\n'), "{line:?}");
            assert_eq!(Record::parse(&line).unwrap(), record, "{line:?}");
        }
        assert!(Record::parse("capture\tk").is_err());
        assert!(Record::parse("steal\tall").is_err());
    }
}
