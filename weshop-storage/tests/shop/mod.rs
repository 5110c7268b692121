//! The shop's checkout over each store: the checks that go through a real [`ShopService`],
//! assembled with [`ShopBuilder`], rather than the store's traits alone (those are the
//! library's conformance suite).
//!
//! The checks spawn tokio tasks, so they need a tokio runtime, multi-threaded to test real
//! parallelism; the concurrent ones also make every store call yield first (see
//! [`Interleaved`]), so the tasks interleave at each call even on a store that never waits.
//!
//! [`ShopService`]: weshop_core::service::ShopService
//! [`ShopBuilder`]: weshop_core::assembly::ShopBuilder

mod batch;
mod campaigns;
mod checkout;
mod gateway;
mod journal;
mod leases;
mod marks;
mod rig;
mod summaries;

use std::{
    future::Future,
    sync::{Arc, OnceLock},
};

use weshop_core::{
    domain::{
        Cart, Currency, Email, Location, Money, Order, OrderId, Password, PasswordHash, PersonName,
        ProductId, Quantity, Roles, Stock, StockDelta, Timestamp, WarehouseId, WarehouseSite,
    },
    store::{NewUser, Store},
};

pub use batch::{
    batch_crash, copies_dropped_at_a_new_term, serving_in_chunks, serving_warehouses_together,
};
pub use campaigns::promotion_campaigns;
pub use checkout::{
    checkout_declined, checkout_idempotency, checkout_one_cart_twice, checkout_quoted,
    checkout_race,
};
use gateway::RecordingGateway;
pub use journal::payment_journal_at_once;
pub use leases::{deposed_leader, follower_checkouts_reach_the_leader};
pub use marks::outbox_marks_ride;
use rig::{Rig, buy};
pub use summaries::seller_summaries;
use weshop_storage::Interleaved;

/// Runs every checkout check, each on a fresh store from `new_store`, printing each check's
/// name before it runs (so a failure's captured output names the check).
pub async fn run_all<S, F, Fut>(new_store: F)
where
    S: Store + ?Sized + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<S>>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            println!("shop: {}", stringify!($check));
            $check(new_store().await).await;
        )*};
    }
    run!(
        checkout_race,
        checkout_idempotency,
        checkout_declined,
        checkout_quoted,
        checkout_one_cart_twice,
        batch_crash,
        outbox_marks_ride,
        copies_dropped_at_a_new_term,
        serving_in_chunks,
        serving_warehouses_together,
        promotion_campaigns,
        seller_summaries,
        deposed_leader,
        follower_checkouts_reach_the_leader,
        payment_journal_at_once,
    );
}

// ---------------------------------------------------------------------------------------------
// Fixtures (as in the conformance suite's)

const NOW: u64 = 1_700_000_000_000;

fn at(offset: u64) -> Timestamp {
    Timestamp(NOW + offset)
}

fn q(units: u32) -> Quantity {
    Quantity::new(i64::from(units)).expect("valid quantity")
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD).expect("valid amount")
}

fn email(text: &str) -> Email {
    Email::parse(text).expect("valid email")
}

fn site(id: i32, x: i32, y: i32) -> WarehouseSite {
    WarehouseSite {
        id: WarehouseId::new(id).expect("valid warehouse id"),
        location: Location::new(x, y),
    }
}

fn delta(
    warehouse: WarehouseId,
    product: ProductId,
    on_hand: i64,
    incoming: i64,
    reserved: i64,
) -> StockDelta {
    StockDelta {
        warehouse,
        product,
        on_hand,
        incoming,
        reserved,
    }
}

fn counts(stock: Stock) -> (u64, u64, u64) {
    (stock.on_hand(), stock.incoming(), stock.reserved())
}

/// A real Argon2id hash, computed once per process (hashing is slow on purpose).
async fn password_hash() -> PasswordHash {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    if let Some(hash) = HASH.get() {
        return hash.clone();
    }
    let hash = tokio::task::spawn_blocking(|| {
        PasswordHash::create(&Password::new("correct horse battery").expect("valid password"))
    })
    .await
    .expect("hashing task");
    HASH.get_or_init(|| hash).clone()
}

fn new_user(address: &str, roles: Roles, password: &PasswordHash, created: Timestamp) -> NewUser {
    NewUser {
        email: email(address),
        name: PersonName::parse("Test User").expect("valid name"),
        roles,
        password: password.clone(),
        created,
    }
}

fn customer_role() -> Roles {
    Roles::new(true, false).expect("a role")
}

fn seller_role() -> Roles {
    Roles::new(false, true).expect("a role")
}

fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(Order::id).collect()
}

fn cart_of(lines: &[(ProductId, u32)]) -> Cart {
    let mut cart = Cart::new();
    for (product, units) in lines {
        cart.add(*product, q(*units)).expect("cart line");
    }
    cart
}
