//! A shop assembled over a store under test, with one warehouse and one product.

use std::sync::Arc;

use weshop_core::{
    assembly::{AssembledShop, ShopBuilder},
    domain::{
        CardNumber, Category, Description, Order, OrderStatus, Password, PersonName, Product,
        ProductId, ProductName, Quantity, UserId, WarehouseSite, Weight,
    },
    fulfilment::{Effect, WarehouseCommand},
    ports::SystemClock,
    service::ShopService,
    shop::{ProductDraft, Registration, Shop},
    store::Store,
};

use super::{RecordingGateway, counts, customer_role, delta, email, seller_role, site, usd};

/// `customer` buys `units` of `product` on `shop` (any node's) with `card` under idempotency
/// `key`: the cart filled, then checked out.
pub async fn buy(
    shop: &impl Shop,
    customer: UserId,
    product: ProductId,
    units: Quantity,
    card: &str,
    key: &str,
) -> Order {
    shop.add_to_cart(customer, product, units).await.unwrap();
    shop.checkout(customer, super::checkout::checkout(card, key))
        .await
        .unwrap()
}

/// A shop over `store` with one warehouse holding `units` of one product.
pub struct Rig<S: Store + ?Sized + 'static> {
    pub store: Arc<S>,
    pub shop: Arc<ShopService<S>>,
    pub gateway: Arc<RecordingGateway>,
    pub warehouse: WarehouseSite,
    pub product: Product,
    pub units: u64,
}

impl<S: Store + ?Sized + 'static> Rig<S> {
    pub async fn new(store: Arc<S>, units: u32) -> Self {
        let warehouse = site(1, 10, 10);
        let gateway = Arc::new(RecordingGateway::default());
        // The checks look at what checkout leaves in the store and the outbox, so the outbox
        // is never started: the assembled shop's service and driver are enough.
        let assembled = ShopBuilder::new(store.clone())
            .warehouses([warehouse])
            .payments(gateway.clone())
            .clock(Arc::new(SystemClock))
            .build()
            .await
            .expect("assemble the shop");
        let shop = assembled.shop().clone();
        let seller = shop
            .register(Registration {
                email: email("seller@example.com"),
                password: Password::new("correct horse battery").unwrap(),
                name: PersonName::parse("Seller").unwrap(),
                roles: seller_role(),
            })
            .await
            .expect("register seller");
        let product = shop
            .create_product(
                seller.id,
                ProductDraft {
                    name: ProductName::parse("Mug").unwrap(),
                    description: Description::parse("A mug").unwrap(),
                    category: Category::parse("kitchen").unwrap(),
                    price: usd(500),
                    weight: Weight::grams(300).unwrap(),
                    images: vec![],
                },
            )
            .await
            .expect("create product");
        store
            .change_stock(&[delta(warehouse.id, product.id, i64::from(units), 0, 0)])
            .await
            .unwrap();
        Self {
            store,
            shop,
            gateway,
            warehouse,
            product,
            units: u64::from(units),
        }
    }

    /// Another node of the same shop over the same store: the rig's warehouse and payment
    /// gateway, its own driver.
    pub async fn other_node(&self) -> AssembledShop<S> {
        self.node_over(self.store.clone(), &[self.warehouse]).await
    }

    /// A node of the shop over `store` (the rig's, or a wrapper of it) serving `warehouses`,
    /// with the rig's payment gateway.
    pub async fn node_over<T: Store + ?Sized + 'static>(
        &self,
        store: Arc<T>,
        warehouses: &[WarehouseSite],
    ) -> AssembledShop<T> {
        ShopBuilder::new(store)
            .warehouses(warehouses.iter().copied())
            .payments(self.gateway.clone())
            .clock(Arc::new(SystemClock))
            .build()
            .await
            .expect("assemble another node")
    }

    /// A customer registered through the shop, with `card` saved; returns its id and token.
    pub async fn customer(&self, address: &str, card: &str) -> (UserId, String) {
        let user = self
            .shop
            .register(Registration {
                email: email(address),
                password: Password::new("correct horse battery").unwrap(),
                name: PersonName::parse("Customer").unwrap(),
                roles: customer_role(),
            })
            .await
            .expect("register customer");
        let user = self
            .shop
            .add_payment_method(user.id, CardNumber::parse(card).unwrap())
            .await
            .expect("add card");
        (user.id, user.payment_methods[0].token.clone())
    }

    /// `customer` buys one unit of the product with `card` under idempotency `key`.
    pub async fn buy_one(&self, customer: UserId, card: &str, key: &str) -> Order {
        buy(
            &*self.shop,
            customer,
            self.product.id,
            super::q(1),
            card,
            key,
        )
        .await
    }

    /// The one stock row of the product: (on hand, incoming, reserved).
    pub async fn stock(&self) -> (u64, u64, u64) {
        let rows = self.store.stock(self.product.id).await.unwrap();
        assert_eq!(rows.len(), 1, "one stock row: {rows:?}");
        assert_eq!(rows[0].0, self.warehouse.id);
        counts(rows[0].1)
    }

    /// Checks the stock against the orders: every unit ordered is still reserved (placed or
    /// waiting) or was taken for packing, and nothing else moved.
    pub async fn check_stock(&self, orders: &[Order]) {
        let (on_hand, incoming, reserved) = self.stock().await;
        assert_eq!(incoming, 0);
        assert!(reserved <= on_hand + incoming, "the stock invariant");
        let units = |status: &[OrderStatus]| -> u64 {
            orders
                .iter()
                .filter(|o| status.contains(&o.status()))
                .flat_map(|o| o.lines())
                .map(|l| u64::from(l.quantity.get()))
                .sum()
        };
        let waiting = units(&[OrderStatus::Placed, OrderStatus::WaitingForStock]);
        let packing = units(&[OrderStatus::Packing]);
        assert_eq!(
            waiting + packing,
            units(&OrderStatus::ALL),
            "no order got further than packing"
        );
        assert_eq!(reserved, waiting, "reserved units are the waiting orders'");
        assert_eq!(
            self.units - on_hand,
            packing,
            "packed units are the packing orders'"
        );
        let packs = self
            .store
            .outbox()
            .await
            .unwrap()
            .into_iter()
            .filter(|e| matches!(e.effect, Effect::Warehouse(WarehouseCommand::Pack { .. })))
            .count();
        let packing_orders = orders
            .iter()
            .filter(|o| o.status() == OrderStatus::Packing)
            .count();
        assert_eq!(packs, packing_orders, "one pack command per packing order");
    }
}
