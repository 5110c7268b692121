//! Accounts and login sessions.

use async_trait::async_trait;
use surrealdb::types::Value;
use weshop_core::{
    domain::{Email, LoginSession, Timestamp, TokenHash, User, UserId},
    store::{AccountStore, NewUser, StoreError},
};

use super::{
    SurrealStore, TxError, backend, message,
    query::Sql,
    rows::{IdRow, SessionRow, SessionUserRow, UserRow, int, user_of},
    written,
};
use crate::{
    corrupt,
    documents::{UserDoc, to_json},
};

#[async_trait]
impl AccountStore for SurrealStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let id = self.next_id("account_seq").await?;
        let user = user.with_id(UserId::new(id).map_err(corrupt)?);
        let mut sql = Sql::default();
        let id = sql.var(user.id.get());
        let email = sql.var(user.email.as_str().to_string());
        let customer = sql.var(user.roles.customer);
        let promotions = sql.var(user.promotions);
        let doc = sql.var(to_json(&UserDoc::from(&user)));
        sql.push(&format!(
            "CREATE type::record('account', {id}) SET email = {email}, customer = {customer}, \
             promotions = {promotions}, doc = {doc}"
        ));
        match self.run(&sql).await {
            Ok(_) => Ok(user),
            // The unique index on email refuses a second account.
            Err(TxError::Other(text)) if text.contains("account_email") => {
                Err(StoreError::Duplicate(format!("email {}", user.email)))
            }
            Err(e) => Err(backend(message(e))),
        }
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let seen = match self.accounts.get(id.get()) {
            Ok(user) => return Ok(Some(user)),
            Err(seen) => seen,
        };
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc, email FROM type::record('account', {v})"
        ));
        let rows: Vec<UserRow> = self.read(sql).await?;
        let user = rows.into_iter().next().map(user_of).transpose()?;
        if let Some(user) = &user {
            self.accounts.fill(id.get(), seen, user.clone());
        }
        Ok(user)
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(email.as_str().to_string());
        sql.push(&format!("SELECT doc, email FROM account WHERE email = {v}"));
        let rows: Vec<UserRow> = self.read(sql).await?;
        rows.into_iter().next().map(user_of).transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let id = sql.var(user.id.get());
        let customer = sql.var(user.roles.customer);
        let promotions = sql.var(user.promotions);
        let doc = sql.var(to_json(&UserDoc::from(user)));
        // The row as stored comes back for the cache (its email is the stored one).
        let updated = sql.push(&format!(
            "UPDATE type::record('account', {id}) SET customer = {customer}, \
             promotions = {promotions}, doc = {doc} RETURN doc, email"
        ));
        // On an early return below, `writing` is dropped: the record is not cached.
        let writing = self.accounts.writing(user.id.get());
        let mut response = match self.transact(|| sql.clone()).await {
            Ok(response) => response,
            Err(error) => {
                if error.aborted() {
                    writing.unchanged();
                }
                return Err(backend(message(error)));
            }
        };
        let rows: Vec<UserRow> = response.take(updated).map_err(backend)?;
        match rows.into_iter().next().map(user_of).transpose()? {
            Some(stored) => {
                writing.committed(stored);
                Ok(())
            }
            None => {
                writing.unchanged();
                Err(StoreError::NotFound(format!("user {}", user.id)))
            }
        }
    }

    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT record::id(id) AS id FROM account WHERE customer = true AND promotions = true \
             ORDER BY id",
        );
        let rows: Vec<IdRow> = self.read(sql).await?;
        let mut ids = rows
            .into_iter()
            .map(|r| UserId::new(r.id).map_err(corrupt))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort();
        Ok(ids)
    }

    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let token = sql.var(session.token.as_str().to_string());
        let user = sql.var(session.user.get());
        let expires = sql.var(i64::try_from(session.expires.millis()).unwrap_or(i64::MAX));
        sql.push(&format!(
            "UPSERT type::record('session', {token}) SET user = {user}, expires = {expires}"
        ));
        let writing = self.sessions.writing(session.token.as_str().to_string());
        let result = self.run(&sql).await;
        written(writing, &result, || Some(session.clone()));
        result.map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(token.as_str().to_string());
        sql.push(&format!(
            "SELECT user, expires FROM type::record('session', {v})"
        ));
        let rows: Vec<SessionRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| session_of(r.user, r.expires, token))
            .transpose()
    }

    /// Every authenticated request reads this: from the caches when they hold the session
    /// and the account, else one query for both.
    async fn session_user(
        &self,
        token: &TokenHash,
    ) -> Result<Option<(LoginSession, Option<User>)>, StoreError> {
        let seen = match self.sessions.get(token.as_str().to_string()) {
            Ok(session) => {
                let user = self.user(session.user).await?;
                return Ok(Some((session, user)));
            }
            Err(seen) => seen,
        };
        let mut sql = Sql::default();
        let v = sql.var(token.as_str().to_string());
        sql.push(&format!(
            "SELECT user, expires, \
             (SELECT doc, email FROM type::record('account', $parent.user))[0] AS account \
             FROM type::record('session', {v})"
        ));
        let rows: Vec<SessionUserRow> = self.read(sql).await?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let session = session_of(row.user, row.expires, token)?;
        self.sessions
            .fill(token.as_str().to_string(), seen, session.clone());
        Ok(Some((session, row.account.map(user_of).transpose()?)))
    }

    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(token.as_str().to_string());
        sql.push(&format!(
            "DELETE type::record('session', {v}) RETURN BEFORE"
        ));
        let writing = self.sessions.writing(token.as_str().to_string());
        let result = self.run(&sql).await;
        written(writing, &result, || None);
        let rows: Vec<Value> = result
            .map_err(|e| backend(message(e)))?
            .take(0)
            .map_err(backend)?;
        Ok(!rows.is_empty())
    }

    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError> {
        let mut sql = Sql::default();
        let user = sql.var(user.get());
        let keep = sql.var(keep.as_str().to_string());
        sql.push(&format!(
            "DELETE session WHERE user = {user} AND id != type::record('session', {keep}) \
             RETURN BEFORE"
        ));
        // Dropped on a failure that may still commit: the sessions cache turns itself off.
        let writing = self.sessions.writing_all();
        let mut response = match self.run(&sql).await {
            Ok(response) => response,
            Err(error) => {
                if error.aborted() {
                    writing.done();
                }
                return Err(backend(message(error)));
            }
        };
        writing.done();
        let rows: Vec<Value> = response.take(0).map_err(backend)?;
        Ok(rows.len() as u64)
    }
}

/// The session `token` names, from its stored user and expiry.
fn session_of(user: i64, expires: i64, token: &TokenHash) -> Result<LoginSession, StoreError> {
    Ok(LoginSession {
        user: UserId::new(user).map_err(corrupt)?,
        token: token.clone(),
        expires: Timestamp(int(expires, "expiry")?),
    })
}
