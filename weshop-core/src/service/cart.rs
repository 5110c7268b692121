//! The cart: one per user, kept in the store so it survives logins and restarts.
//!
//! A cart holds product ids and quantities only; prices, weights and stock are read at checkout,
//! so an order is priced at what its products cost when it is placed.

use crate::domain::{Cart, Money, ProductId, Quantity, UserId};
use crate::shop::ShopError;
use crate::store::Store;

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::cart`].
    pub(super) async fn cart_impl(&self, user: UserId) -> Result<Cart, ShopError> {
        Ok(self.store.cart(user).await?)
    }

    /// See [`crate::shop::Shop::add_to_cart`]: only a product that exists, so a typo is
    /// caught now rather than at checkout.
    pub(super) async fn add_to_cart_impl(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        if self.priced_product(product).await?.is_none() {
            return Err(ShopError::NotFound(format!("product {product}")));
        }
        let mut cart = self.store.cart(user).await?;
        // The request is well formed; what the cart already holds is what refuses it.
        cart.add(product, quantity).map_err(|error| {
            ShopError::Conflict(format!("{error}, counting what the cart already holds"))
        })?;
        self.check_priceable(&cart).await?;
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    /// See [`crate::shop::Shop::set_cart_item`]: changes a line already in the cart; adding
    /// one is [`Self::add_to_cart_impl`]'s job, which checks the product exists.
    pub(super) async fn set_cart_item_impl(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        let mut cart = self.store.cart(user).await?;
        if !cart.set(product, quantity) {
            return Err(ShopError::NotFound(format!(
                "product {product} in the cart"
            )));
        }
        self.check_priceable(&cart).await?;
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    /// See [`crate::shop::Shop::remove_cart_item`].
    pub(super) async fn remove_cart_item_impl(
        &self,
        user: UserId,
        product: ProductId,
    ) -> Result<Cart, ShopError> {
        let mut cart = self.store.cart(user).await?;
        if !cart.remove(product) {
            return Err(ShopError::NotFound(format!(
                "product {product} in the cart"
            )));
        }
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    /// Refuses a cart whose lines or subtotal cannot be priced (an amount past what money can
    /// hold), before it is saved: a change that fails leaves the cart as it was.
    async fn check_priceable(&self, cart: &Cart) -> Result<(), ShopError> {
        let mut lines = Vec::new();
        for (id, quantity) in cart.lines() {
            if let Some(product) = self.priced_product(id).await? {
                let line = product.price.times(quantity).map_err(|_| {
                    ShopError::Conflict(format!(
                        "{quantity} × {} is more than one order can cost",
                        product.price
                    ))
                })?;
                lines.push(line);
            }
        }
        Money::sum(self.config.currency, lines).map_err(|_| {
            ShopError::Conflict("the cart would cost more than one order can".into())
        })?;
        Ok(())
    }
}
