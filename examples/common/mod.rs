//! What both shop examples do once the shop runs: a seller lists and restocks a mug, a
//! customer buys two and follows the order until it is delivered.

use std::time::Duration;

use weshop::core::{
    domain::{
        CardNumber, Category, DeliveryOption, Description, Email, Location, Money, OrderStatus,
        Password, PersonName, ProductName, Quantity, Roles, WarehouseId, Weight,
    },
    payments::IdempotencyKey,
    shop::{Checkout, ProductDraft, Registration, Shop},
};

/// A guard against a hang; the order normally arrives in seconds.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Any error, as text.
pub type Error = Box<dyn std::error::Error>;

/// Lists a product, buys stock into `warehouse`, places an order and prints its status
/// changes until it is delivered (an error if it fails, is cancelled or takes too long).
pub async fn sell_buy_and_follow(shop: &dyn Shop, warehouse: WarehouseId) -> Result<(), Error> {
    // A seller lists a mug and buys 10 units into warehouse 1.
    let seller = shop
        .register(Registration {
            email: Email::parse("seller@example.com")?,
            password: Password::new("a long seller password")?,
            name: PersonName::parse("Mugs & Co")?,
            roles: Roles::new(false, true)?,
        })
        .await?;
    let mug = shop
        .create_product(
            seller.id,
            ProductDraft {
                name: ProductName::parse("Blue mug")?,
                description: Description::parse("Holds 300 ml of tea.")?,
                category: Category::parse("kitchen")?,
                price: Money::parse("8.50", shop.currency())?,
                weight: Weight::grams(350)?,
                images: vec![],
            },
        )
        .await?;
    shop.restock(seller.id, mug.id, warehouse, Quantity::new(10)?)
        .await?;
    println!(
        "seller listed {} ({}) and bought 10 units",
        mug.name, mug.price
    );

    // A customer saves a card, fills the cart and checks out.
    let customer = shop
        .register(Registration {
            email: Email::parse("customer@example.com")?,
            password: Password::new("a long customer password")?,
            name: PersonName::parse("Ada")?,
            roles: Roles::new(true, false)?,
        })
        .await?;
    let card = shop
        .add_payment_method(customer.id, CardNumber::parse("4242 4242 4242 4242")?)
        .await?
        .payment_methods
        .first()
        .ok_or("the card is saved")?
        .token
        .clone();
    shop.add_to_cart(customer.id, mug.id, Quantity::new(2)?)
        .await?;
    let mut updates = shop.order_updates();
    let order = shop
        .checkout(
            customer.id,
            Checkout {
                destination: Location::new(40, 45),
                delivery: DeliveryOption::Standard,
                payment_method: card,
                ups_account: None,
                idempotency_key: IdempotencyKey::parse("embedded-example-1")?,
                expected_total: None,
            },
        )
        .await?;
    println!(
        "order {} placed: {} for 2 mugs, shipping included",
        order.id(),
        order.total()
    );

    // Follow it until the UPS has delivered it.
    let mut status = order.status();
    println!("  status: {status}");
    let delivered = tokio::time::timeout(PATIENCE, async {
        while status != OrderStatus::Delivered {
            match updates.recv().await {
                Ok(update) if update.order.id() == order.id() => {
                    if update.order.status() != status {
                        status = update.order.status();
                        println!("  status: {status}");
                    }
                    if matches!(status, OrderStatus::Failed | OrderStatus::Cancelled) {
                        return Err(format!("the order ended {status}"));
                    }
                }
                Ok(_) => {}
                // Missed some updates: the shop has the latest state.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    status = shop
                        .order(customer.id, order.id())
                        .await
                        .map_err(|e| e.to_string())?
                        .status();
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    })
    .await;
    match delivered {
        Ok(result) => result?,
        Err(_) => return Err(format!("not delivered within {PATIENCE:?}").into()),
    }
    println!("delivered");
    Ok(())
}
