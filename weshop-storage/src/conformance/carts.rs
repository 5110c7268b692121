//! Carts.

use std::sync::Arc;

use futures::future::join_all;
use weshop_core::{
    domain::{Cart, Email, ProductId, Quantity, UserId},
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

/// How many customers [`carts_at_once`] saves carts for.
const AT_ONCE: i64 = 40;

/// Many customers saving carts at once (a store may commit them together): each customer's
/// saves, made one after another, end as the last one made, an empty cart removes what was
/// saved before, and no customer's save lands in another's cart. [`carts_at_once_kept`] checks
/// the same carts again, e.g. on the store reopened.
pub async fn carts_at_once<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let mut users = Vec::new();
    for n in 0..AT_ONCE {
        let user = user_with(&*store, &address(n as usize), customer_role()).await;
        users.push(user.id);
    }
    join_all(users.iter().enumerate().map(|(n, &user)| {
        let store = Arc::clone(&store);
        async move {
            for cart in saves_of(n) {
                store.save_cart(user, &cart).await.expect("save cart");
            }
        }
    }))
    .await;
    carts_at_once_kept(store).await;
}

/// The carts [`carts_at_once`] leaves.
pub async fn carts_at_once_kept<S: Store + ?Sized + 'static>(store: Arc<S>) {
    for n in 0..AT_ONCE as usize {
        let email = Email::parse(&address(n)).expect("valid email");
        let user = store
            .user_by_email(&email)
            .await
            .unwrap()
            .expect("the customer exists");
        let last = saves_of(n).pop().expect("saves");
        assert_eq!(
            store.cart(user.id).await.unwrap(),
            last,
            "customer {n}'s cart is the last one saved"
        );
    }
    let stranger = UserId::new(1_000_000).unwrap();
    assert_eq!(store.cart(stranger).await.unwrap(), Cart::new());
}

fn address(n: usize) -> String {
    format!("at-once-{n}@example.com")
}

/// The carts customer `n` saves, in order: a product of its own twice over, then a third
/// time or (every other customer) an empty cart.
fn saves_of(n: usize) -> Vec<Cart> {
    let product = ProductId::new(n as i64 + 1).unwrap();
    let last = if n.is_multiple_of(2) {
        cart_of(&[(product, 3)])
    } else {
        Cart::new()
    };
    vec![cart_of(&[(product, 1)]), cart_of(&[(product, 2)]), last]
}
