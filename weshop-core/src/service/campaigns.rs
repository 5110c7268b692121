//! Promotions: a seller's campaign goes to the customers who opted in, at most one per seller
//! per [`super::ShopConfig::promotion_interval`]. The campaign is recorded (claiming the
//! seller's slot atomically in the store, so the limit holds across restarts and nodes) before
//! its notifications are filed, and marked sent after; one cut off by a crash is finished at
//! the next start, and its notifications are keyed by campaign and customer so none is doubled.

use crate::domain::{Campaign, PromotionText, UserId};
use crate::notify::Notification;
use crate::shop::ShopError;
use crate::store::{CampaignStart, Store};

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::promote`]: the seller is not told about their own promotion,
    /// and the count is of notifications the notifier took (all of them, or none).
    pub(super) async fn promote_impl(&self, seller: UserId, text: &str) -> Result<u64, ShopError> {
        self.seller(seller).await?;
        let text =
            PromotionText::parse(text).map_err(|error| ShopError::BadRequest(error.to_string()))?;
        let audience = self.audience_of(seller).await?;
        let now = self.clock.now();
        let interval = self.config.promotion_interval;
        let campaign = match self
            .store
            .start_campaign(seller, &text, now, audience.len() as u64, interval)
            .await?
        {
            CampaignStart::Started(campaign) => campaign,
            CampaignStart::TooSoon { last } => {
                let since =
                    std::time::Duration::from_millis(now.millis().saturating_sub(last.millis()));
                return Err(ShopError::TooMany {
                    what: format!("one promotion per {}", interval_words(interval)),
                    retry_after: interval
                        .saturating_sub(since)
                        .max(std::time::Duration::from_secs(1)),
                });
            }
        };
        match self.send_campaign(&campaign, audience).await {
            Ok(recipients) => Ok(recipients),
            Err(error) => {
                // Nobody got it: the seller may try again at once.
                if let Err(e) = self.store.withdraw_campaign(campaign.id).await {
                    tracing::warn!(campaign = %campaign.id, "campaign not withdrawn: {e}");
                }
                Err(error)
            }
        }
    }

    /// See [`crate::shop::Shop::campaigns`].
    pub(super) async fn campaigns_impl(
        &self,
        seller: UserId,
        limit: usize,
    ) -> Result<Vec<Campaign>, ShopError> {
        self.seller(seller).await?;
        Ok(self.store.campaigns(Some(seller), limit.min(100)).await?)
    }

    /// Finishes the campaigns a crash cut off (their notifications are keyed: those filed
    /// before the crash are not filed again). Called at start; returns how many it finished.
    pub async fn resume_campaigns(&self) -> Result<usize, ShopError> {
        let unsent = self.store.unsent_campaigns().await?;
        for campaign in &unsent {
            let audience = self.audience_of(campaign.seller).await?;
            self.send_campaign(campaign, audience).await?;
            tracing::info!(campaign = %campaign.id, "finished a campaign a stop cut off");
        }
        Ok(unsent.len())
    }

    /// Everyone who opted in to promotions but the seller.
    async fn audience_of(&self, seller: UserId) -> Result<Vec<UserId>, ShopError> {
        let mut audience = self.store.promotion_audience().await?;
        audience.retain(|customer| *customer != seller);
        Ok(audience)
    }

    /// Files the campaign's notifications — one batch: a notifier that keeps them (the inbox)
    /// files it in one write — and marks it sent.
    async fn send_campaign(
        &self,
        campaign: &Campaign,
        audience: Vec<UserId>,
    ) -> Result<u64, ShopError> {
        let batch: Vec<_> = audience
            .into_iter()
            .map(|customer| {
                let key = format!("promotion-{}-{customer}", campaign.id);
                let notification = Notification::Promotion {
                    seller: campaign.seller,
                    text: campaign.text.to_string(),
                };
                (key, customer, notification)
            })
            .collect();
        let recipients = batch.len() as u64;
        self.notifier
            .notify_all(batch)
            .await
            .map_err(|error| ShopError::Unavailable(format!("promotion not sent: {error}")))?;
        self.store.finish_campaign(campaign.id, recipients).await?;
        Ok(recipients)
    }
}

/// An interval in words: "30 seconds", "10 minutes", "2 hours".
fn interval_words(interval: std::time::Duration) -> String {
    let secs = interval.as_secs().max(1);
    let (n, unit) = if secs < 120 {
        (secs, "second")
    } else if secs < 2 * 3600 {
        (secs.div_ceil(60), "minute")
    } else {
        (secs.div_ceil(3600), "hour")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}
