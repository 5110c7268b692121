//! Fixtures shared by the checks: fixed times, values, users, products and orders.

use std::sync::OnceLock;

use weshop_core::{
    domain::{
        Cart, Category, Currency, DeliveryOption, Description, Email, Location, Money, NewOrder,
        Order, OrderId, OrderLine, OrderStatus, Password, PasswordHash, PersonName, Product,
        ProductId, ProductName, Quantity, Roles, ShipId, Stock, StockDelta, Timestamp, TruckId,
        UpsAccount, User, UserId, WarehouseId, WarehouseSite, Weight,
    },
    fulfilment::{Effect, Item, ShippingCommand, WarehouseCommand, ship_id_of},
    notify::Notification,
    store::{NewProduct, NewUser, PlaceOrder, Placed, Store},
};

pub(super) const NOW: u64 = 1_700_000_000_000;

pub(super) fn at(offset: u64) -> Timestamp {
    Timestamp(NOW + offset)
}

pub(super) fn q(units: u32) -> Quantity {
    Quantity::new(i64::from(units)).expect("valid quantity")
}

pub(super) fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(minor, currency).expect("valid amount")
}

pub(super) fn usd(minor: i64) -> Money {
    money(minor, Currency::USD)
}

pub(super) fn email(text: &str) -> Email {
    Email::parse(text).expect("valid email")
}

pub(super) fn site(id: i32, x: i32, y: i32) -> WarehouseSite {
    WarehouseSite {
        id: WarehouseId::new(id).expect("valid warehouse id"),
        location: Location::new(x, y),
    }
}

pub(super) fn delta(
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

pub(super) fn reserve(warehouse: WarehouseId, product: ProductId, units: i64) -> StockDelta {
    delta(warehouse, product, 0, 0, units)
}

pub(super) fn counts(stock: Stock) -> (u64, u64, u64) {
    (stock.on_hand(), stock.incoming(), stock.reserved())
}

/// A real Argon2id hash, computed once per process (hashing is slow on purpose).
pub(super) async fn password_hash() -> PasswordHash {
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

pub(super) fn new_user(
    address: &str,
    roles: Roles,
    password: &PasswordHash,
    created: Timestamp,
) -> NewUser {
    NewUser {
        email: email(address),
        name: PersonName::parse("Test User").expect("valid name"),
        roles,
        password: password.clone(),
        created,
    }
}

pub(super) fn customer_role() -> Roles {
    Roles::new(true, false).expect("a role")
}

pub(super) fn seller_role() -> Roles {
    Roles::new(false, true).expect("a role")
}

pub(super) async fn user_with<S: Store + ?Sized>(store: &S, address: &str, roles: Roles) -> User {
    let hash = password_hash().await;
    store
        .create_user(new_user(address, roles, &hash, at(0)))
        .await
        .expect("create user")
}

pub(super) fn new_product(seller: UserId, name: &str, price: Money) -> NewProduct {
    NewProduct {
        seller,
        name: ProductName::parse(name).expect("valid name"),
        description: Description::parse("").expect("valid description"),
        category: Category::parse("kitchen").expect("valid category"),
        price,
        weight: Weight::grams(250).expect("valid weight"),
        images: Vec::new(),
    }
}

pub(super) async fn product_with<S: Store + ?Sized>(
    store: &S,
    seller: UserId,
    name: &str,
    price: Money,
) -> Product {
    store
        .create_product(new_product(seller, name, price))
        .await
        .expect("create product")
}

/// A seller's mug ($5) with `units` on hand in warehouse 1, the one product of most order
/// checks.
pub(super) async fn mug_in_stock<S: Store + ?Sized>(
    store: &S,
    units: i64,
) -> (Product, WarehouseId) {
    let seller = user_with(store, "seller@example.com", seller_role()).await;
    let mug = product_with(store, seller.id, "Mug", usd(500)).await;
    let w = WarehouseId::new(1).expect("valid warehouse id");
    store
        .change_stock(&[delta(w, mug.id, units, 0, 0)])
        .await
        .expect("stock the mug");
    (mug, w)
}

/// An order of `lines` for `customer`, assigned to `warehouse`, with an id from the store.
pub(super) async fn order_of<S: Store + ?Sized>(
    store: &S,
    customer: UserId,
    warehouse: WarehouseId,
    lines: &[(&Product, u32)],
) -> Order {
    let id = store.allocate_order_id().await.expect("allocate order id");
    let currency = lines[0].0.price.currency();
    let mut order = Order::place(
        NewOrder {
            id,
            customer,
            lines: lines
                .iter()
                .map(|(product, units)| OrderLine {
                    product: product.id,
                    name: product.name.clone(),
                    quantity: q(*units),
                    unit_price: product.price,
                })
                .collect(),
            delivery: DeliveryOption::Standard,
            destination: Location::new(3, 4),
            ups_account: None,
            payment: format!("auth-{id}"),
            shipping: money(299, currency),
        },
        at(10),
    )
    .expect("valid order");
    order.assign(warehouse, ship_id_of(id), at(10));
    order
}

pub(super) fn reservations_of(order: &Order) -> Vec<StockDelta> {
    let warehouse = order.warehouse().expect("assigned");
    order
        .lines()
        .iter()
        .map(|line| reserve(warehouse, line.product, i64::from(line.quantity.get())))
        .collect()
}

/// Places `order` with its reservations under `key`, from the customer's cart as stored; it
/// must be created.
pub(super) async fn place<S: Store + ?Sized>(store: &S, order: &Order, key: &str) {
    let cart = store.cart(order.customer()).await.expect("read cart");
    let placed = store
        .place_order(
            order.customer(),
            PlaceOrder {
                order: order.clone(),
                cart,
                reservations: reservations_of(order),
                idempotency_key: key.to_string(),
                fingerprint: format!("fp-{key}"),
            },
        )
        .await
        .expect("place order");
    let Placed::Created {
        order: created,
        stock,
    } = placed
    else {
        panic!("placing {key}: {placed:?}");
    };
    assert_eq!(&created, order, "placing {key}");
    // The stock the placement reports is the stock it left (nothing else writes meanwhile).
    let mut products: Vec<ProductId> = order.lines().iter().map(|l| l.product).collect();
    products.sort();
    products.dedup();
    assert_eq!(
        stock.keys().copied().collect::<Vec<_>>(),
        products,
        "placing {key}: the products it reserved"
    );
    for (product, after) in &stock {
        assert_eq!(
            after,
            &store.stock(*product).await.expect("read stock"),
            "placing {key}: stock of {product} as the placement left it"
        );
    }
}

pub(super) fn ids(orders: &[Order]) -> Vec<OrderId> {
    orders.iter().map(Order::id).collect()
}

pub(super) fn cart_of(lines: &[(ProductId, u32)]) -> Cart {
    let mut cart = Cart::new();
    for (product, units) in lines {
        cart.add(*product, q(*units)).expect("cart line");
    }
    cart
}

pub(super) fn item(product: ProductId, description: &str, units: u32) -> Item {
    Item {
        product,
        description: description.to_string(),
        count: q(units),
    }
}

/// One effect of every kind, with awkward text in it.
pub(super) fn every_effect() -> Vec<Effect> {
    let warehouse = site(3, -40, 17);
    let ship_id = ShipId::new(9_000_000_001).expect("ship id");
    let order = OrderId::new(77).expect("order id");
    let user = UserId::new(5).expect("user id");
    let items = vec![
        item(ProductId::new(1).expect("id"), "Mug", 5),
        item(
            ProductId::new(2).expect("id"),
            "Teapot – blue, \"large\" ✓",
            1_000_000,
        ),
    ];
    vec![
        Effect::Warehouse(WarehouseCommand::Purchase {
            warehouse: warehouse.id,
            items: items.clone(),
        }),
        Effect::Warehouse(WarehouseCommand::Pack {
            warehouse: warehouse.id,
            ship_id,
            items: items.clone(),
        }),
        Effect::Warehouse(WarehouseCommand::Load {
            warehouse: warehouse.id,
            truck: TruckId::new(i32::MAX).expect("truck id"),
            ship_id,
        }),
        Effect::Shipping(ShippingCommand::RequestTruck {
            warehouse,
            destination: Location::new(i32::MIN, i32::MAX),
            ship_id,
            ups_account: Some(UpsAccount::parse("ada_ups-42").expect("ups account")),
            items: items.clone(),
        }),
        Effect::Shipping(ShippingCommand::RequestTruck {
            warehouse,
            destination: Location::new(0, 0),
            ship_id,
            ups_account: None,
            items: items[..1].to_vec(),
        }),
        Effect::Shipping(ShippingCommand::Deliver { ship_id }),
        Effect::Capture {
            order,
            authorization: "auth_00000003".into(),
            amount: money(123_456, Currency::EUR),
        },
        Effect::Capture {
            order,
            authorization: "auth_00000004".into(),
            amount: money(500, Currency::new("JPY").expect("currency")),
        },
        Effect::Void {
            order,
            authorization: "auth_00000003".into(),
        },
        Effect::Notify {
            user,
            notification: Notification::OrderStatus {
                order,
                status: OrderStatus::WaitingForStock,
            },
        },
        Effect::Notify {
            user,
            notification: Notification::LowStock {
                product: ProductId::new(2).expect("id"),
                available: 0,
            },
        },
        Effect::Notify {
            user,
            notification: Notification::Promotion {
                seller: UserId::new(6).expect("user id"),
                text: "10% off – today only ✓\n\"quoted\" and \\ backslashed".into(),
            },
        },
    ]
}
