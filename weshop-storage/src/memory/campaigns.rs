//! Campaigns in memory: each seller's slot is checked and claimed under the one lock.

use async_trait::async_trait;
use weshop_core::{
    domain::{Campaign, CampaignId, PromotionText, Timestamp, UserId},
    store::{CampaignStart, CampaignStore, StoreError},
};

use super::{MemoryStore, State, next_id, records::Record};
use crate::corrupt;

impl State {
    /// The seller's slot after their campaigns changed: their newest campaign's time.
    fn reset_campaign_clock(&mut self, seller: UserId) {
        let newest = self
            .campaigns
            .values()
            .filter(|c| c.seller == seller)
            .map(|c| c.at)
            .max();
        match newest {
            Some(at) => self.campaign_clock.insert(seller, at),
            None => self.campaign_clock.remove(&seller),
        };
    }
}

#[async_trait]
impl CampaignStore for MemoryStore {
    async fn start_campaign(
        &self,
        seller: UserId,
        text: &PromotionText,
        at: Timestamp,
        recipients: u64,
        interval: std::time::Duration,
    ) -> Result<CampaignStart, StoreError> {
        self.write(|state| {
            if let Some(last) = state.campaign_clock.get(&seller).copied()
                && at.millis() < last.millis().saturating_add(interval.as_millis() as u64)
            {
                return Ok(CampaignStart::TooSoon { last });
            }
            let id =
                CampaignId::new(next_id(&mut state.last_campaign, "campaign")?).map_err(corrupt)?;
            let campaign = Campaign {
                id,
                seller,
                text: text.clone(),
                at,
                recipients,
                sent: false,
            };
            state.campaigns.insert(id, campaign.clone());
            state.campaign_clock.insert(seller, at);
            state.touch(Record::Campaign(id));
            state.touch(Record::CampaignClock(seller));
            state.touch(Record::Counters);
            Ok(CampaignStart::Started(campaign))
        })
        .await
    }

    async fn finish_campaign(&self, id: CampaignId, recipients: u64) -> Result<(), StoreError> {
        self.write(|state| {
            let campaign = state
                .campaigns
                .get_mut(&id)
                .ok_or_else(|| StoreError::NotFound(format!("campaign {id}")))?;
            campaign.recipients = recipients;
            campaign.sent = true;
            state.touch(Record::Campaign(id));
            Ok(())
        })
        .await
    }

    async fn withdraw_campaign(&self, id: CampaignId) -> Result<(), StoreError> {
        self.write(|state| match state.campaigns.get(&id) {
            None => Ok(()),
            Some(c) if c.sent => Err(StoreError::Conflict(format!("campaign {id} was sent"))),
            Some(c) => {
                let seller = c.seller;
                state.campaigns.remove(&id);
                state.reset_campaign_clock(seller);
                state.touch(Record::Campaign(id));
                state.touch(Record::CampaignClock(seller));
                Ok(())
            }
        })
        .await
    }

    async fn campaigns(
        &self,
        seller: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, StoreError> {
        self.read(|state| {
            state
                .campaigns
                .values()
                .rev()
                .filter(|c| seller.is_none_or(|s| c.seller == s))
                .take(limit)
                .cloned()
                .collect()
        })
        .await
    }

    async fn unsent_campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        self.read(|state| {
            state
                .campaigns
                .values()
                .filter(|c| !c.sent)
                .cloned()
                .collect()
        })
        .await
    }
}
