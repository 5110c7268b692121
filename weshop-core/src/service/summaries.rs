//! Sellers' daily summaries: what a seller's products did in a day, in one notice (and one
//! mail) instead of one per sale. Each is keyed by seller and day, so summarizing a day again
//! (after a restart, on another node) tells nobody twice.

use std::collections::BTreeMap;

use crate::domain::{Money, OrderEventKind, OrderStatus, Product, Timestamp, UserId};
use crate::notify::{Notification, SellerDay};
use crate::shop::ShopError;
use crate::store::Store;

use super::ShopService;
use super::sales::SALES_WINDOW;

/// A day, in milliseconds.
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Midnight UTC at the start of the day `at` falls in.
pub fn day_of(at: Timestamp) -> Timestamp {
    Timestamp::from_millis(at.millis() - at.millis() % DAY_MS)
}

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// Sends each seller whose products sold or were delivered in the day starting at `day`
    /// (midnight UTC) their summary of it; returns how many were sent.
    pub async fn summarize_day(&self, day: Timestamp) -> Result<usize, ShopError> {
        let day = day_of(day);
        let mut sellers: BTreeMap<UserId, Vec<(Product, u64)>> = BTreeMap::new();
        for (product, available) in self.store.catalog().await? {
            sellers
                .entry(product.seller)
                .or_default()
                .push((product, available));
        }
        let mut batch = Vec::new();
        for (seller, products) in sellers {
            if let Some(summary) = self.seller_day(day, &products).await? {
                let key = format!("summary-{seller}-{}", day.millis());
                batch.push((key, seller, Notification::SellerSummary(summary)));
            }
        }
        let sent = batch.len();
        self.notifier
            .notify_all(batch)
            .await
            .map_err(|error| ShopError::Unavailable(format!("summaries not sent: {error}")))?;
        Ok(sent)
    }

    /// Summarizes yesterday at once (a no-op if it was already summarized), then each day a
    /// minute after it ends, until `stop` completes; a failed try is retried a minute later.
    pub async fn run_summaries(&self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let today = day_of(self.clock.now());
            let yesterday = Timestamp::from_millis(today.millis().saturating_sub(DAY_MS));
            let retry = match self.summarize_day(yesterday).await {
                Ok(sent) => {
                    if sent > 0 {
                        tracing::info!(sent, "sellers' daily summaries sent");
                    }
                    false
                }
                Err(error) => {
                    tracing::warn!("sellers' daily summaries not sent (retried): {error}");
                    true
                }
            };
            let next = today.millis() + DAY_MS + 60_000;
            let mut wait =
                std::time::Duration::from_millis(next.saturating_sub(self.clock.now().millis()));
            if retry {
                wait = wait.min(std::time::Duration::from_secs(60));
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One seller's day, or `None` if nothing of theirs sold or was delivered in it.
    async fn seller_day(
        &self,
        day: Timestamp,
        products: &[(Product, u64)],
    ) -> Result<Option<SellerDay>, ShopError> {
        let in_day = |at: Timestamp| (day.millis()..day.millis() + DAY_MS).contains(&at.millis());
        let ids: Vec<_> = products.iter().map(|(p, _)| p.id).collect();
        let orders = self.store.orders_with_products(&ids, SALES_WINDOW).await?;
        let mut summary = SellerDay {
            day,
            orders: 0,
            units: 0,
            amount: Money::zero(self.config.currency),
            delivered: 0,
            low_stock: Vec::new(),
        };
        for order in &orders {
            let delivered_today = order.history().iter().any(|e| {
                in_day(e.at)
                    && matches!(
                        e.kind,
                        OrderEventKind::StatusChanged {
                            to: OrderStatus::Delivered,
                            ..
                        }
                    )
            });
            if delivered_today {
                summary.delivered += 1;
            }
            if in_day(order.placed_at()) && order.status() != OrderStatus::Cancelled {
                summary.orders += 1;
                for line in order.lines().iter().filter(|l| ids.contains(&l.product)) {
                    summary.units += u64::from(line.quantity.get());
                    summary.amount = summary.amount.checked_add(line.subtotal()?)?;
                }
            }
        }
        if summary.orders == 0 && summary.delivered == 0 {
            return Ok(None);
        }
        summary.low_stock = products
            .iter()
            .filter(|(_, available)| *available < self.config.low_stock_threshold)
            .map(|(p, available)| (p.id, p.name.to_string(), *available))
            .collect();
        Ok(Some(summary))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_starts_at_midnight_utc() {
        let noon = Timestamp::from_millis(20 * DAY_MS + DAY_MS / 2);
        assert_eq!(day_of(noon), Timestamp::from_millis(20 * DAY_MS));
        assert_eq!(day_of(day_of(noon)), day_of(noon));
    }
}
