//! Carts.

use std::sync::Arc;

use weshop_core::{
    domain::{Cart, ProductId, Quantity},
    store::Store,
};

use super::common::{cart_of, customer_role, user_with};

/// Carts: empty until saved, saved whole, per user; saving an empty cart empties it.
pub async fn carts<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let (p1, p2, p3) = (
        ProductId::new(1).unwrap(),
        ProductId::new(2).unwrap(),
        ProductId::new(3).unwrap(),
    );
    assert_eq!(store.cart(ada.id).await.unwrap(), Cart::new());
    let cart = cart_of(&[(p1, 2), (p2, Quantity::MAX)]);
    store.save_cart(ada.id, &cart).await.unwrap();
    assert_eq!(store.cart(ada.id).await.unwrap(), cart);
    assert_eq!(store.cart(bob.id).await.unwrap(), Cart::new(), "per user");
    let bobs = cart_of(&[(p3, 1)]);
    store.save_cart(bob.id, &bobs).await.unwrap();
    let replaced = cart_of(&[(p3, 4)]);
    store.save_cart(ada.id, &replaced).await.unwrap();
    assert_eq!(
        store.cart(ada.id).await.unwrap(),
        replaced,
        "saved whole, not merged"
    );
    store.save_cart(ada.id, &Cart::new()).await.unwrap();
    assert_eq!(store.cart(ada.id).await.unwrap(), Cart::new());
    assert_eq!(store.cart(bob.id).await.unwrap(), bobs);
}
