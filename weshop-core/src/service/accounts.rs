//! Accounts: registering, logging in and out, checking a session, and a user's own profile,
//! saved addresses and saved cards.
//!
//! Passwords are only ever hashed or verified off the async worker threads (Argon2id is slow on
//! purpose), and a login fails the same way, after the same work, whether the email is unknown
//! or the password wrong, so neither the answer nor its timing tells which emails exist.

use crate::domain::{
    Address, CardNumber, Email, LoginSession, Password, PasswordHash, PaymentMethod, SessionToken,
    Timestamp, User, UserId,
};
use crate::shop::{LoggedIn, ProfilePatch, Registration, ShopError};
use crate::store::{NewUser, Store};

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::register`]: one account per email.
    pub(super) async fn register_impl(
        &self,
        registration: Registration,
    ) -> Result<User, ShopError> {
        if self
            .store
            .user_by_email(&registration.email)
            .await?
            .is_some()
        {
            return Err(ShopError::Conflict(format!(
                "{} is already registered",
                registration.email
            )));
        }
        let password = Self::hash(registration.password).await?;
        let user = self
            .store
            .create_user(NewUser {
                email: registration.email,
                name: registration.name,
                roles: registration.roles,
                password,
                created: self.clock.now(),
            })
            .await?;
        // Best effort: the account exists whatever happens to its welcome.
        let key = format!("welcome-{}", user.id);
        if let Err(error) = self
            .notifier
            .notify(&key, user.id, crate::notify::Notification::Welcome)
            .await
        {
            tracing::warn!(user = %user.id, "welcome not filed: {error}");
        }
        Ok(user)
    }

    /// See [`crate::shop::Shop::login`]: only the token's hash is stored, so a leaked
    /// database holds no usable session.
    pub(super) async fn login_impl(
        &self,
        email: &Email,
        password: &str,
    ) -> Result<LoggedIn, ShopError> {
        let bad = || ShopError::Unauthenticated("wrong email or password".into());
        // Throttled per account (known or not, so the answer tells nothing), before any hash
        // is computed: a guessing run costs the attacker time, not the shop CPU.
        let key = email.as_str().to_string();
        let now = self.clock.now();
        self.logins
            .check(&key, now)
            .map_err(|retry_after| ShopError::TooMany {
                what: "too many failed logins".into(),
                retry_after,
            })?;
        let user = self.store.user_by_email(email).await?;
        // Verify against a real hash even for unknown emails, so timing tells nothing.
        let hash = match &user {
            Some(user) => user.password.clone(),
            None => dummy_hash(),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .map_err(|e| ShopError::Unavailable(format!("password check: {e}")))?;
        let user = match user {
            Some(user) if ok => user,
            _ => {
                self.logins.failed(&key, now);
                return Err(bad());
            }
        };
        self.logins.succeeded(&key);
        let token = SessionToken::generate();
        let ttl = u64::try_from(self.config.session_ttl.as_millis()).unwrap_or(u64::MAX);
        let expires = Timestamp(self.clock.now().millis().saturating_add(ttl));
        self.store
            .create_session(&LoginSession {
                user: user.id,
                token: token.hash(),
                expires,
            })
            .await?;
        Ok(LoggedIn {
            token,
            user,
            expires,
        })
    }

    /// See [`crate::shop::Shop::logout`].
    pub(super) async fn logout_impl(&self, token: &SessionToken) -> Result<(), ShopError> {
        self.store.delete_session(&token.hash()).await?;
        Ok(())
    }

    /// See [`crate::shop::Shop::authenticate`]: an expired session is deleted when it is
    /// presented, as there is no background job that clears expired sessions.
    pub(super) async fn authenticate_impl(&self, token: &SessionToken) -> Result<User, ShopError> {
        let unauthenticated =
            || ShopError::Unauthenticated("not logged in or session expired".into());
        let (session, user) = self
            .store
            .session_user(&token.hash())
            .await?
            .ok_or_else(unauthenticated)?;
        if !session.is_valid_at(self.clock.now()) {
            self.store.delete_session(&session.token).await?;
            return Err(unauthenticated());
        }
        user.ok_or_else(unauthenticated)
    }

    /// See [`crate::shop::Shop::profile`].
    pub(super) async fn profile_impl(&self, user: UserId) -> Result<User, ShopError> {
        self.user(user).await
    }

    /// See [`crate::shop::Shop::update_profile`].
    pub(super) async fn update_profile_impl(
        &self,
        user: UserId,
        patch: ProfilePatch,
    ) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            if let Some(name) = patch.name {
                current.name = name;
            }
            if let Some(promotions) = patch.promotions {
                current.promotions = promotions;
            }
            Ok(())
        })
        .await
    }

    /// See [`crate::shop::Shop::change_password`]. The check costs a hash like a login does,
    /// so it cannot be used to guess faster than logging in.
    pub(super) async fn change_password_impl(
        &self,
        session: &SessionToken,
        current: &str,
        new: Password,
    ) -> Result<User, ShopError> {
        let mut user = self.authenticate_impl(session).await?;
        let hash = user.password.clone();
        let current = current.to_string();
        let ok = tokio::task::spawn_blocking(move || hash.verify(&current))
            .await
            .map_err(|e| ShopError::Unavailable(format!("password check: {e}")))?;
        if !ok {
            return Err(ShopError::Forbidden("the current password is wrong".into()));
        }
        user.password = Self::hash(new).await?;
        self.store.update_user(&user).await?;
        self.store
            .delete_sessions_of(user.id, &session.hash())
            .await?;
        Ok(user)
    }

    /// See [`crate::shop::Shop::add_address`]: a label names one address, so saving a label
    /// again replaces it (and does not count against the limit).
    pub(super) async fn add_address_impl(
        &self,
        user: UserId,
        address: Address,
    ) -> Result<User, ShopError> {
        self.check_on_grid(address.location)?;
        self.change_profile(user, |current| {
            current.addresses.retain(|a| a.label != address.label);
            if current.addresses.len() >= User::MAX_SAVED {
                return Err(ShopError::Conflict(format!(
                    "at most {} addresses",
                    User::MAX_SAVED
                )));
            }
            current.addresses.push(address);
            Ok(())
        })
        .await
    }

    /// See [`crate::shop::Shop::remove_address`].
    pub(super) async fn remove_address_impl(
        &self,
        user: UserId,
        label: &str,
    ) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            let before = current.addresses.len();
            current.addresses.retain(|a| a.label != label);
            if current.addresses.len() == before {
                return Err(ShopError::NotFound(format!("address {label:?}")));
            }
            Ok(())
        })
        .await
    }

    /// See [`crate::shop::Shop::add_payment_method`]: the card goes to the gateway, and only
    /// its token, brand and last four digits are kept. The limit is checked first, so a full
    /// wallet does not cost a tokenization.
    pub(super) async fn add_payment_method_impl(
        &self,
        user: UserId,
        card: CardNumber,
    ) -> Result<User, ShopError> {
        let mut current = self.user(user).await?;
        if current.payment_methods.len() >= User::MAX_SAVED {
            return Err(ShopError::Conflict(format!(
                "at most {} payment methods",
                User::MAX_SAVED
            )));
        }
        let token = self.payments.tokenize(&card).await?;
        current.payment_methods.push(PaymentMethod {
            token: token.token,
            brand: token.brand,
            last4: token.last4,
        });
        self.store.update_user(&current).await?;
        Ok(current)
    }

    /// See [`crate::shop::Shop::remove_payment_method`].
    pub(super) async fn remove_payment_method_impl(
        &self,
        user: UserId,
        token: &str,
    ) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            let before = current.payment_methods.len();
            current.payment_methods.retain(|m| m.token != token);
            if current.payment_methods.len() == before {
                return Err(ShopError::NotFound(format!("payment method {token:?}")));
            }
            Ok(())
        })
        .await
    }

    /// Reads a user, applies `change`, and saves the result (nothing is saved if it fails).
    async fn change_profile(
        &self,
        user: UserId,
        change: impl FnOnce(&mut User) -> Result<(), ShopError>,
    ) -> Result<User, ShopError> {
        let mut current = self.user(user).await?;
        change(&mut current)?;
        self.store.update_user(&current).await?;
        Ok(current)
    }

    async fn hash(password: Password) -> Result<PasswordHash, ShopError> {
        // Argon2id is slow on purpose: keep it off the async worker threads.
        tokio::task::spawn_blocking(move || PasswordHash::create(&password))
            .await
            .map_err(|e| ShopError::Unavailable(format!("password hashing: {e}")))
    }
}

/// A fixed Argon2id hash to verify against when the email is unknown.
fn dummy_hash() -> PasswordHash {
    static DUMMY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| PasswordHash::create(&Password::new("not a real password").expect("valid")))
        .clone()
}
