//! One-click unsubscribe from promotions: a token that names a user and is signed by the shop
//! (HMAC-SHA256 with a key kept in the store, so links in old mails keep working after a
//! restart), checked without a login.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::UserId;
use crate::shop::{ProfilePatch, ShopError};
use crate::store::{StepCommit, Store};

use super::ShopService;

/// Where the key is kept: a named blob beside the links' saved states.
const KEY_NAME: &str = "signing-key:unsubscribe";

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// The signing key: the stored one, or a new random one stored first (if two starts race,
    /// both read back the one that was stored last before they read).
    async fn signing_key(&self) -> Result<&[u8], ShopError> {
        let key = self
            .signing_key
            .get_or_try_init(|| async {
                if let Some(key) = self.store.link_state(KEY_NAME).await? {
                    return Ok::<_, ShopError>(key);
                }
                let mut key = vec![0u8; 32];
                OsRng.fill_bytes(&mut key);
                self.store
                    .commit_step(StepCommit {
                        links: vec![(KEY_NAME.to_string(), key)],
                        ..StepCommit::default()
                    })
                    .await?;
                Ok(self.store.link_state(KEY_NAME).await?.unwrap_or_default())
            })
            .await?;
        Ok(key)
    }

    fn mac(key: &[u8], user: UserId) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(format!("unsubscribe:{user}").as_bytes());
        mac
    }

    /// See [`crate::shop::Shop::unsubscribe_token`].
    pub(super) async fn unsubscribe_token_impl(&self, user: UserId) -> Result<String, ShopError> {
        let key = self.signing_key().await?;
        let tag = Self::mac(key, user).finalize().into_bytes();
        Ok(format!("{user}.{}", URL_SAFE_NO_PAD.encode(tag)))
    }

    /// See [`crate::shop::Shop::unsubscribe`].
    pub(super) async fn unsubscribe_impl(&self, token: &str) -> Result<UserId, ShopError> {
        let unknown = || ShopError::NotFound("unsubscribe link".into());
        let (user, tag) = token.split_once('.').ok_or_else(unknown)?;
        let user = user
            .parse::<i64>()
            .ok()
            .and_then(|u| UserId::new(u).ok())
            .ok_or_else(unknown)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| unknown())?;
        let key = self.signing_key().await?;
        Self::mac(key, user)
            .verify_slice(&tag)
            .map_err(|_| unknown())?;
        let patch = ProfilePatch {
            promotions: Some(false),
            ..ProfilePatch::default()
        };
        self.update_profile_impl(user, patch).await?;
        Ok(user)
    }
}
