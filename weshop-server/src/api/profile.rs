//! The caller's own profile, addresses and saved cards.

use super::pattern::{CardNumberRule, DisplayNameRule, Matching, PasswordRule};
use std::sync::Arc;

use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json};
use weshop_core::{
    domain::{Address, CardNumber, Password, PersonName},
    shop::ProfilePatch,
};

use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::ApiResult,
    types::{AddressDto, PaymentMethodDto, UserDto},
};
use super::{omittable::Omittable, text::Text};

/// Profile changes; absent fields stay as they are.
#[derive(Debug, Object)]
pub struct ProfilePatchRequest {
    /// New name: 1 to 100 characters, not all blank.
    pub name: Omittable<Matching<DisplayNameRule>>,
    /// Opt in to (true) or out of (false) sellers' promotions.
    pub promotions: Omittable<bool>,
}

/// A password change: the password now and the new one.
#[derive(Debug, Object)]
pub struct PasswordChangeRequest {
    /// The password now (a wrong one is 403).
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub current_password: Text,
    /// The new password: 8 to 128 characters, not all blank, not a common one.
    pub new_password: Matching<PasswordRule>,
}

/// A password change's answer.
#[derive(ApiResponse)]
pub enum PasswordChanged {
    /// Changed; this session stays logged in, every other session of the account is logged
    /// out.
    #[oai(status = 204)]
    Done,
}

/// A card to save; the number goes to the payment gateway and is never stored or shown.
#[derive(Debug, Object)]
pub struct NewPaymentMethod {
    /// The card number: 12 to 19 digits (spaces and dashes allowed between them), passing
    /// the Luhn check.
    pub card_number: Matching<CardNumberRule>,
}

/// A saved thing was created.
#[derive(ApiResponse)]
pub enum Saved<T: poem_openapi::types::ToJSON> {
    /// Created; the body is the saved list, `Location` the new item's URL.
    #[oai(status = 201)]
    Created(Json<T>, #[oai(header = "Location")] String),
}

/// The caller's account.
pub struct ProfileApi(pub Arc<ApiState>);

#[OpenApi(prefix_path = "/me", tag = "ApiTags::Profile")]
impl ProfileApi {
    /// The caller's profile.
    #[oai(path = "/", method = "get", operation_id = "getProfile")]
    async fn me(&self, auth: Auth) -> ApiResult<Json<UserDto>> {
        Ok(Json(self.0.shop.profile(auth.user_id()).await?.into()))
    }

    /// Changes the caller's name and/or promotions choice.
    #[oai(path = "/", method = "patch", operation_id = "updateProfile")]
    async fn update(
        &self,
        auth: Auth,
        body: Json<ProfilePatchRequest>,
    ) -> ApiResult<Json<UserDto>> {
        let name = body.name.as_deref().map(PersonName::parse).transpose()?;
        let user = if name.is_some() || body.promotions.is_some() {
            let patch = ProfilePatch {
                name,
                promotions: *body.promotions,
            };
            self.0.shop.update_profile(auth.user_id(), patch).await?
        } else {
            self.0.shop.profile(auth.user_id()).await?
        };
        Ok(Json(user.into()))
    }

    /// Changes the caller's password; every other session of the account is logged out.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        auth: Auth,
        body: Json<PasswordChangeRequest>,
    ) -> ApiResult<PasswordChanged> {
        let new = Password::new(&body.new_password)?;
        let token = &auth.caller().token;
        self.0
            .shop
            .change_password(token, &body.current_password, new)
            .await?;
        Ok(PasswordChanged::Done)
    }

    /// The caller's saved addresses.
    #[oai(path = "/addresses", method = "get", operation_id = "listAddresses")]
    async fn addresses(&self, auth: Auth) -> ApiResult<Json<Vec<AddressDto>>> {
        let user = self.0.shop.profile(auth.user_id()).await?;
        Ok(Json(UserDto::from(user).addresses))
    }

    /// Saves an address (replacing one with the same label); returns all of them.
    #[oai(path = "/addresses", method = "post", operation_id = "addAddress")]
    async fn add_address(
        &self,
        auth: Auth,
        body: Json<AddressDto>,
    ) -> ApiResult<Saved<Vec<AddressDto>>> {
        let address = Address::new(&body.label, body.location.into())?;
        let location = format!(
            "{}/me/addresses/{}",
            super::API_PREFIX,
            crate::web::layout::encode(&address.label)
        );
        let user = self.0.shop.add_address(auth.user_id(), address).await?;
        Ok(Saved::Created(
            Json(UserDto::from(user).addresses),
            location,
        ))
    }

    /// Forgets an address; returns the rest.
    #[oai(
        path = "/addresses/:label",
        method = "delete",
        operation_id = "removeAddress"
    )]
    async fn remove_address(
        &self,
        auth: Auth,
        label: Path<String>,
    ) -> ApiResult<Json<Vec<AddressDto>>> {
        let user = self.0.shop.remove_address(auth.user_id(), &label).await?;
        Ok(Json(UserDto::from(user).addresses))
    }

    /// The caller's saved cards (token, brand, last four digits).
    #[oai(
        path = "/payment-methods",
        method = "get",
        operation_id = "listPaymentMethods"
    )]
    async fn payment_methods(&self, auth: Auth) -> ApiResult<Json<Vec<PaymentMethodDto>>> {
        let user = self.0.shop.profile(auth.user_id()).await?;
        Ok(Json(UserDto::from(user).payment_methods))
    }

    /// Saves a card at the gateway; returns every saved card.
    #[oai(
        path = "/payment-methods",
        method = "post",
        operation_id = "addPaymentMethod"
    )]
    async fn add_payment_method(
        &self,
        auth: Auth,
        body: Json<NewPaymentMethod>,
    ) -> ApiResult<Saved<Vec<PaymentMethodDto>>> {
        let card = CardNumber::parse(&body.card_number)?;
        let user = self.0.shop.add_payment_method(auth.user_id(), card).await?;
        let saved = UserDto::from(user).payment_methods;
        let location = saved
            .last()
            .map(|m| format!("{}/me/payment-methods/{}", super::API_PREFIX, m.token))
            .unwrap_or_else(|| format!("{}/me/payment-methods", super::API_PREFIX));
        Ok(Saved::Created(Json(saved), location))
    }

    /// Forgets a saved card; returns the rest.
    #[oai(
        path = "/payment-methods/:token",
        method = "delete",
        operation_id = "removePaymentMethod"
    )]
    async fn remove_payment_method(
        &self,
        auth: Auth,
        token: Path<String>,
    ) -> ApiResult<Json<Vec<PaymentMethodDto>>> {
        let user = self
            .0
            .shop
            .remove_payment_method(auth.user_id(), &token)
            .await?;
        Ok(Json(UserDto::from(user).payment_methods))
    }
}
