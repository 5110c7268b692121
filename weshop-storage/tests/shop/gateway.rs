//! A payment gateway that remembers what it authorized and voided.

use std::{collections::BTreeSet, sync::Mutex};

use async_trait::async_trait;
use weshop_core::{
    domain::{CardNumber, Money, Order},
    payments::{
        Authorization, CardToken, IdempotencyKey, PaymentError, Payments, SimulatedGateway,
    },
};

use super::usd;

/// The simulated gateway, with a record of which authorizations were made and voided.
#[derive(Default)]
pub struct RecordingGateway {
    pub inner: SimulatedGateway,
    authorized: Mutex<BTreeSet<String>>,
    voided: Mutex<BTreeSet<String>>,
}

impl RecordingGateway {
    /// Authorizations made and never voided.
    pub fn held(&self) -> BTreeSet<String> {
        let voided = self.voided.lock().expect("lock").clone();
        self.authorized
            .lock()
            .expect("lock")
            .iter()
            .filter(|a| !voided.contains(*a))
            .cloned()
            .collect()
    }

    /// Checks, through the gateway itself, that `held` can still be captured and everything
    /// voided cannot (then captures nothing more).
    pub async fn check_holds(&self, held: &[&Order]) {
        for order in held {
            self.inner
                .capture(
                    order.payment(),
                    order.total(),
                    &IdempotencyKey::parse(&format!("check-capture-{}", order.id())).unwrap(),
                )
                .await
                .unwrap_or_else(|e| panic!("order {} is not held: {e}", order.id()));
        }
        let voided = self.voided.lock().expect("lock").clone();
        for (n, authorization) in voided.iter().enumerate() {
            let cent = usd(1);
            let key = IdempotencyKey::parse(&format!("check-void-{n}")).unwrap();
            match self.inner.capture(authorization, cent, &key).await {
                Err(PaymentError::TooMuch(_)) => {}
                other => panic!("voided {authorization} still holds money: {other:?}"),
            }
        }
        let total: i64 = held.iter().map(|o| o.total().minor()).sum();
        assert_eq!(self.inner.net_captured_minor(), total);
    }
}

#[async_trait]
impl Payments for RecordingGateway {
    async fn tokenize(&self, card: &CardNumber) -> Result<CardToken, PaymentError> {
        self.inner.tokenize(card).await
    }

    async fn authorize(
        &self,
        token: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<Authorization, PaymentError> {
        let authorization = self.inner.authorize(token, amount, key).await?;
        self.authorized
            .lock()
            .expect("lock")
            .insert(authorization.id.clone());
        Ok(authorization)
    }

    async fn capture(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.inner.capture(authorization, amount, key).await
    }

    async fn refund(
        &self,
        authorization: &str,
        amount: Money,
        key: &IdempotencyKey,
    ) -> Result<(), PaymentError> {
        self.inner.refund(authorization, amount, key).await
    }

    async fn void(&self, authorization: &str, key: &IdempotencyKey) -> Result<(), PaymentError> {
        self.inner.void(authorization, key).await?;
        self.voided
            .lock()
            .expect("lock")
            .insert(authorization.to_string());
        Ok(())
    }

    async fn open_authorizations(&self) -> Result<Vec<String>, PaymentError> {
        self.inner.open_authorizations().await
    }
}
