//! Campaigns: one `campaign` record each, and one `campaign_clock` record per seller holding
//! the time of their last campaign. Starting a campaign checks and writes the seller's clock in
//! the same transaction, so of two racing starts one conflicts and, retried, finds it too soon.

use async_trait::async_trait;
use surrealdb::types::SurrealValue;
use weshop_core::{
    domain::{Campaign, CampaignId, PromotionText, Timestamp, UserId},
    store::{CampaignStart, CampaignStore, StoreError},
};

use super::{SurrealStore, TxError, backend, message, query::Sql};
use crate::corrupt;

#[derive(SurrealValue)]
struct CampaignRow {
    cid: i64,
    seller: i64,
    text: String,
    at: i64,
    recipients: i64,
    sent: bool,
}

const COLUMNS: &str = "record::id(id) AS cid, seller, text, at, recipients, sent";

fn campaign_of(row: CampaignRow) -> Result<Campaign, StoreError> {
    Ok(Campaign {
        id: CampaignId::new(row.cid).map_err(corrupt)?,
        seller: UserId::new(row.seller).map_err(corrupt)?,
        text: PromotionText::parse(&row.text).map_err(corrupt)?,
        at: Timestamp::from_millis(row.at.max(0) as u64),
        recipients: row.recipients.max(0) as u64,
        sent: row.sent,
    })
}

fn campaigns_of(rows: Vec<CampaignRow>) -> Result<Vec<Campaign>, StoreError> {
    rows.into_iter().map(campaign_of).collect()
}

/// Milliseconds as the database keeps them.
fn millis(at: Timestamp) -> i64 {
    i64::try_from(at.millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl CampaignStore for SurrealStore {
    async fn start_campaign(
        &self,
        seller: UserId,
        text: &PromotionText,
        at: Timestamp,
        recipients: u64,
        interval: std::time::Duration,
    ) -> Result<CampaignStart, StoreError> {
        let id = self.next_id("campaign_seq").await?;
        let campaign = Campaign {
            id: CampaignId::new(id).map_err(corrupt)?,
            seller,
            text: text.clone(),
            at,
            recipients,
            sent: false,
        };
        let mut sql = Sql::default();
        let cid = sql.var(id);
        let s = sql.var(seller.get());
        let t = sql.var(text.as_str().to_string());
        let now = sql.var(millis(at));
        let r = sql.var(i64::try_from(recipients).unwrap_or(i64::MAX));
        let interval = sql.var(i64::try_from(interval.as_millis()).unwrap_or(i64::MAX));
        sql.push("BEGIN TRANSACTION");
        sql.push(&format!(
            "LET $last = type::record('campaign_clock', {s}).at"
        ));
        sql.push(&format!(
            "IF $last != NONE AND {now} < $last + {interval} {{ THROW 'too soon:' + <string>$last }}"
        ));
        sql.push(&format!(
            "UPSERT type::record('campaign_clock', {s}) SET at = {now} RETURN NONE"
        ));
        sql.push(&format!(
            "CREATE type::record('campaign', {cid}) SET seller = {s}, text = {t}, at = {now}, \
             recipients = {r}, sent = false RETURN NONE"
        ));
        sql.push("COMMIT TRANSACTION");
        match self.transact(|| sql.clone()).await {
            Ok(_) => Ok(CampaignStart::Started(campaign)),
            Err(TxError::Thrown(text)) if text.contains("too soon:") => {
                let last = text
                    .rsplit(':')
                    .next()
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .ok_or_else(|| backend(format!("unreadable campaign clock: {text}")))?;
                Ok(CampaignStart::TooSoon {
                    last: Timestamp::from_millis(last),
                })
            }
            Err(e) => Err(backend(message(e))),
        }
    }

    async fn finish_campaign(&self, id: CampaignId, recipients: u64) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let cid = sql.var(id.get());
        let r = sql.var(i64::try_from(recipients).unwrap_or(i64::MAX));
        sql.push(&format!(
            "UPDATE type::record('campaign', {cid}) SET recipients = {r}, sent = true \
             RETURN VALUE record::id(id)"
        ));
        if self.changed(sql).await?.is_empty() {
            return Err(StoreError::NotFound(format!("campaign {id}")));
        }
        Ok(())
    }

    async fn withdraw_campaign(&self, id: CampaignId) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let cid = sql.var(id.get());
        sql.push("BEGIN TRANSACTION");
        sql.push(&format!("LET $c = type::record('campaign', {cid}).*"));
        sql.push("IF $c.sent = true { THROW 'sent' }");
        sql.push(&format!("DELETE type::record('campaign', {cid})"));
        // The slot goes back to the seller's newest remaining campaign, or to nobody.
        sql.push("LET $rest = SELECT VALUE at FROM campaign WHERE seller = $c.seller");
        sql.push(
            "IF $c.seller != NONE { IF array::len($rest) = 0 { DELETE \
             type::record('campaign_clock', $c.seller) } ELSE { UPSERT \
             type::record('campaign_clock', $c.seller) SET at = math::max($rest) } }",
        );
        sql.push("COMMIT TRANSACTION");
        match self.transact(|| sql.clone()).await {
            Ok(_) => Ok(()),
            Err(TxError::Thrown(text)) if text.contains("sent") => {
                Err(StoreError::Conflict(format!("campaign {id} was sent")))
            }
            Err(e) => Err(backend(message(e))),
        }
    }

    async fn campaigns(
        &self,
        seller: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, StoreError> {
        let mut sql = Sql::default();
        let only = match seller {
            Some(seller) => format!(" WHERE seller = {}", sql.var(seller.get())),
            None => String::new(),
        };
        let limit = sql.var(limit as i64);
        sql.push(&format!(
            "SELECT {COLUMNS} FROM campaign{only} ORDER BY cid DESC LIMIT {limit}"
        ));
        campaigns_of(self.read(sql).await?)
    }

    async fn unsent_campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let mut sql = Sql::default();
        sql.push(&format!(
            "SELECT {COLUMNS} FROM campaign WHERE sent = false ORDER BY cid"
        ));
        campaigns_of(self.read(sql).await?)
    }
}
