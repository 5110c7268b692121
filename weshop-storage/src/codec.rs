//! Stored forms of the domain values that a database keeps as documents (JSON): plain data,
//! parsed back through the domain's constructors, so a corrupt or foreign record is an error
//! rather than an invalid value.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{
        Address, CardBrand, Category, Currency, DeliveryOption, Description, DomainError, Email,
        ImageRef, Location, Money, Order, OrderEvent, OrderEventKind, OrderId, OrderLine,
        OrderParts, OrderStatus, PasswordHash, PaymentMethod, PersonName, Product, ProductId,
        ProductName, Quantity, Roles, ShipId, Timestamp, TruckId, UpsAccount, User, UserId,
        WarehouseId, WarehouseSite, Weight,
    },
    fulfilment::{Effect, Item, ShippingCommand, WarehouseCommand},
    notify::Notification,
    store::StoreError,
};

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

fn money(minor: i64, currency: &str) -> Result<Money, StoreError> {
    Money::from_minor(minor, Currency::new(currency).map_err(corrupt)?).map_err(corrupt)
}

/// Money as stored.
#[derive(Serialize, Deserialize)]
pub struct MoneyDoc {
    minor: i64,
    currency: String,
}

impl From<Money> for MoneyDoc {
    fn from(m: Money) -> Self {
        Self {
            minor: m.minor(),
            currency: m.currency().code().to_string(),
        }
    }
}

impl MoneyDoc {
    fn parse(&self) -> Result<Money, StoreError> {
        money(self.minor, &self.currency)
    }
}

#[derive(Serialize, Deserialize)]
struct AddressDoc {
    label: String,
    x: i32,
    y: i32,
}

#[derive(Serialize, Deserialize)]
struct CardDoc {
    token: String,
    brand: String,
    last4: String,
}

/// A user's stored document.
#[derive(Serialize, Deserialize)]
pub struct UserDoc {
    id: i64,
    email: String,
    name: String,
    customer: bool,
    seller: bool,
    password: String,
    addresses: Vec<AddressDoc>,
    cards: Vec<CardDoc>,
    created: u64,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.get(),
            email: u.email.as_str().to_string(),
            name: u.name.as_str().to_string(),
            customer: u.roles.customer,
            seller: u.roles.seller,
            password: u.password.as_str().to_string(),
            addresses: u
                .addresses
                .iter()
                .map(|a| AddressDoc {
                    label: a.label.clone(),
                    x: a.location.x,
                    y: a.location.y,
                })
                .collect(),
            cards: u
                .payment_methods
                .iter()
                .map(|c| CardDoc {
                    token: c.token.clone(),
                    brand: c.brand.as_str().to_string(),
                    last4: c.last4.clone(),
                })
                .collect(),
            created: u.created.millis(),
        }
    }
}

impl UserDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<User, StoreError> {
        let d = |e: DomainError| corrupt(e);
        Ok(User {
            id: UserId::new(self.id).map_err(d)?,
            email: Email::parse(&self.email).map_err(d)?,
            name: PersonName::parse(&self.name).map_err(d)?,
            roles: Roles::new(self.customer, self.seller).map_err(d)?,
            password: PasswordHash::from_stored(&self.password).map_err(d)?,
            addresses: self
                .addresses
                .into_iter()
                .map(|a| Address::new(&a.label, Location::new(a.x, a.y)).map_err(d))
                .collect::<Result<_, _>>()?,
            payment_methods: self
                .cards
                .into_iter()
                .map(|c| {
                    Ok(PaymentMethod {
                        brand: CardBrand::from_name(&c.brand)
                            .ok_or_else(|| corrupt(format!("card brand {:?}", c.brand)))?,
                        token: c.token,
                        last4: c.last4,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            created: Timestamp(self.created),
        })
    }
}

/// A product's stored document.
#[derive(Serialize, Deserialize)]
pub struct ProductDoc {
    id: i64,
    seller: i64,
    name: String,
    description: String,
    category: String,
    price: MoneyDoc,
    weight: u32,
    images: Vec<String>,
}

impl From<&Product> for ProductDoc {
    fn from(p: &Product) -> Self {
        Self {
            id: p.id.get(),
            seller: p.seller.get(),
            name: p.name.as_str().to_string(),
            description: p.description.as_str().to_string(),
            category: p.category.as_str().to_string(),
            price: p.price.into(),
            weight: p.weight.get(),
            images: p.images.iter().map(|i| i.as_str().to_string()).collect(),
        }
    }
}

impl ProductDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<Product, StoreError> {
        Ok(Product {
            id: ProductId::new(self.id).map_err(corrupt)?,
            seller: UserId::new(self.seller).map_err(corrupt)?,
            name: ProductName::parse(&self.name).map_err(corrupt)?,
            description: Description::parse(&self.description).map_err(corrupt)?,
            category: Category::parse(&self.category).map_err(corrupt)?,
            price: self.price.parse()?,
            weight: Weight::grams(i64::from(self.weight)).map_err(corrupt)?,
            images: self
                .images
                .iter()
                .map(|i| ImageRef::parse(i).map_err(corrupt))
                .collect::<Result<_, _>>()?,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct LineDoc {
    product: i64,
    name: String,
    quantity: u32,
    unit_price: MoneyDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum EventKindDoc {
    Placed,
    StatusChanged { from: String, to: String },
    Ended { status: String, reason: String },
    Assigned { warehouse: i32, ship_id: i64 },
    TruckArrived { truck: i32 },
    FinalDestination { x: i32, y: i32 },
}

#[derive(Serialize, Deserialize)]
struct EventDoc {
    at: u64,
    #[serde(flatten)]
    kind: EventKindDoc,
}

/// An order's stored document.
#[derive(Serialize, Deserialize)]
pub struct OrderDoc {
    id: i64,
    customer: i64,
    lines: Vec<LineDoc>,
    delivery: String,
    destination: (i32, i32),
    ups_account: Option<String>,
    payment: String,
    shipping: MoneyDoc,
    status: String,
    warehouse: Option<i32>,
    ship_id: Option<i64>,
    truck: Option<i32>,
    final_destination: Option<(i32, i32)>,
    history: Vec<EventDoc>,
}

fn status(name: &str) -> Result<OrderStatus, StoreError> {
    OrderStatus::from_name(name).ok_or_else(|| corrupt(format!("order status {name:?}")))
}

impl From<&Order> for OrderDoc {
    fn from(order: &Order) -> Self {
        let p = order.to_parts();
        Self {
            id: p.id.get(),
            customer: p.customer.get(),
            lines: p
                .lines
                .iter()
                .map(|l| LineDoc {
                    product: l.product.get(),
                    name: l.name.as_str().to_string(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.into(),
                })
                .collect(),
            delivery: p.delivery.as_str().to_string(),
            destination: (p.destination.x, p.destination.y),
            ups_account: p.ups_account.map(|a| a.as_str().to_string()),
            payment: p.payment,
            shipping: p.shipping.into(),
            status: p.status.as_str().to_string(),
            warehouse: p.warehouse.map(WarehouseId::get),
            ship_id: p.ship_id.map(ShipId::get),
            truck: p.truck.map(TruckId::get),
            final_destination: p.final_destination.map(|l| (l.x, l.y)),
            history: p
                .history
                .iter()
                .map(|e| EventDoc {
                    at: e.at.millis(),
                    kind: match &e.kind {
                        OrderEventKind::Placed => EventKindDoc::Placed,
                        OrderEventKind::StatusChanged { from, to } => EventKindDoc::StatusChanged {
                            from: from.as_str().into(),
                            to: to.as_str().into(),
                        },
                        OrderEventKind::Ended { status, reason } => EventKindDoc::Ended {
                            status: status.as_str().into(),
                            reason: reason.clone(),
                        },
                        OrderEventKind::Assigned { warehouse, ship_id } => EventKindDoc::Assigned {
                            warehouse: warehouse.get(),
                            ship_id: ship_id.get(),
                        },
                        OrderEventKind::TruckArrived { truck } => {
                            EventKindDoc::TruckArrived { truck: truck.get() }
                        }
                        OrderEventKind::FinalDestination { location } => {
                            EventKindDoc::FinalDestination {
                                x: location.x,
                                y: location.y,
                            }
                        }
                    },
                })
                .collect(),
        }
    }
}

impl OrderDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<Order, StoreError> {
        let history = self
            .history
            .into_iter()
            .map(|e| {
                Ok(OrderEvent {
                    at: Timestamp(e.at),
                    kind: match e.kind {
                        EventKindDoc::Placed => OrderEventKind::Placed,
                        EventKindDoc::StatusChanged { from, to } => OrderEventKind::StatusChanged {
                            from: status(&from)?,
                            to: status(&to)?,
                        },
                        EventKindDoc::Ended { status: s, reason } => OrderEventKind::Ended {
                            status: status(&s)?,
                            reason,
                        },
                        EventKindDoc::Assigned { warehouse, ship_id } => OrderEventKind::Assigned {
                            warehouse: WarehouseId::new(warehouse).map_err(corrupt)?,
                            ship_id: ShipId::new(ship_id).map_err(corrupt)?,
                        },
                        EventKindDoc::TruckArrived { truck } => OrderEventKind::TruckArrived {
                            truck: TruckId::new(truck).map_err(corrupt)?,
                        },
                        EventKindDoc::FinalDestination { x, y } => {
                            OrderEventKind::FinalDestination {
                                location: Location::new(x, y),
                            }
                        }
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let parts = OrderParts {
            id: OrderId::new(self.id).map_err(corrupt)?,
            customer: UserId::new(self.customer).map_err(corrupt)?,
            lines: self
                .lines
                .into_iter()
                .map(|l| {
                    Ok(OrderLine {
                        product: ProductId::new(l.product).map_err(corrupt)?,
                        name: ProductName::parse(&l.name).map_err(corrupt)?,
                        quantity: Quantity::new(i64::from(l.quantity)).map_err(corrupt)?,
                        unit_price: l.unit_price.parse()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            delivery: DeliveryOption::from_name(&self.delivery)
                .ok_or_else(|| corrupt(format!("delivery option {:?}", self.delivery)))?,
            destination: Location::new(self.destination.0, self.destination.1),
            ups_account: self
                .ups_account
                .map(|a| UpsAccount::parse(&a).map_err(corrupt))
                .transpose()?,
            payment: self.payment,
            shipping: self.shipping.parse()?,
            status: status(&self.status)?,
            warehouse: self
                .warehouse
                .map(|w| WarehouseId::new(w).map_err(corrupt))
                .transpose()?,
            ship_id: self
                .ship_id
                .map(|s| ShipId::new(s).map_err(corrupt))
                .transpose()?,
            truck: self
                .truck
                .map(|t| TruckId::new(t).map_err(corrupt))
                .transpose()?,
            final_destination: self.final_destination.map(|(x, y)| Location::new(x, y)),
            history,
        };
        Order::from_parts(parts).map_err(corrupt)
    }
}

/// An item as stored.
#[derive(Serialize, Deserialize)]
pub struct ItemDoc {
    product: i64,
    description: String,
    count: u32,
}

fn items_doc(items: &[Item]) -> Vec<ItemDoc> {
    items
        .iter()
        .map(|i| ItemDoc {
            product: i.product.get(),
            description: i.description.clone(),
            count: i.count.get(),
        })
        .collect()
}

fn items(docs: Vec<ItemDoc>) -> Result<Vec<Item>, StoreError> {
    docs.into_iter()
        .map(|i| {
            Ok(Item {
                product: ProductId::new(i.product).map_err(corrupt)?,
                description: i.description,
                count: Quantity::new(i64::from(i.count)).map_err(corrupt)?,
            })
        })
        .collect()
}

/// An outbox effect's stored document.
#[derive(Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum EffectDoc {
    /// `buy`.
    Purchase {
        /// Warehouse.
        warehouse: i32,
        /// Items.
        items: Vec<ItemDoc>,
    },
    /// `topack`.
    Pack {
        /// Warehouse.
        warehouse: i32,
        /// Package.
        ship_id: i64,
        /// Items.
        items: Vec<ItemDoc>,
    },
    /// `load`.
    Load {
        /// Warehouse.
        warehouse: i32,
        /// Truck.
        truck: i32,
        /// Package.
        ship_id: i64,
    },
    /// `RequestTruck`.
    RequestTruck {
        /// Warehouse.
        warehouse: i32,
        /// Its location.
        warehouse_at: (i32, i32),
        /// Destination.
        destination: (i32, i32),
        /// Package.
        ship_id: i64,
        /// Buyer's UPS account.
        ups_account: Option<String>,
        /// Items.
        items: Vec<ItemDoc>,
    },
    /// `DeliverPackage`.
    Deliver {
        /// Package.
        ship_id: i64,
    },
    /// Capture.
    Capture {
        /// Order.
        order: i64,
        /// Authorization.
        authorization: String,
        /// Amount.
        amount: MoneyDoc,
    },
    /// Void.
    Void {
        /// Order.
        order: i64,
        /// Authorization.
        authorization: String,
    },
    /// An order's status, told to its buyer.
    NotifyStatus {
        /// User.
        user: i64,
        /// Order.
        order: i64,
        /// Status.
        status: String,
    },
    /// Low stock, told to a seller.
    NotifyLowStock {
        /// User.
        user: i64,
        /// Product.
        product: i64,
        /// Units left.
        available: u64,
    },
    /// A promotion.
    NotifyPromotion {
        /// User.
        user: i64,
        /// Seller.
        seller: i64,
        /// Text.
        text: String,
    },
}

impl From<&Effect> for EffectDoc {
    fn from(effect: &Effect) -> Self {
        match effect {
            Effect::Warehouse(WarehouseCommand::Purchase { warehouse, items }) => {
                EffectDoc::Purchase {
                    warehouse: warehouse.get(),
                    items: items_doc(items),
                }
            }
            Effect::Warehouse(WarehouseCommand::Pack {
                warehouse,
                ship_id,
                items,
            }) => EffectDoc::Pack {
                warehouse: warehouse.get(),
                ship_id: ship_id.get(),
                items: items_doc(items),
            },
            Effect::Warehouse(WarehouseCommand::Load {
                warehouse,
                truck,
                ship_id,
            }) => EffectDoc::Load {
                warehouse: warehouse.get(),
                truck: truck.get(),
                ship_id: ship_id.get(),
            },
            Effect::Shipping(ShippingCommand::RequestTruck {
                warehouse,
                destination,
                ship_id,
                ups_account,
                items,
            }) => EffectDoc::RequestTruck {
                warehouse: warehouse.id.get(),
                warehouse_at: (warehouse.location.x, warehouse.location.y),
                destination: (destination.x, destination.y),
                ship_id: ship_id.get(),
                ups_account: ups_account.as_ref().map(|a| a.as_str().to_string()),
                items: items_doc(items),
            },
            Effect::Shipping(ShippingCommand::Deliver { ship_id }) => EffectDoc::Deliver {
                ship_id: ship_id.get(),
            },
            Effect::Capture {
                order,
                authorization,
                amount,
            } => EffectDoc::Capture {
                order: order.get(),
                authorization: authorization.clone(),
                amount: (*amount).into(),
            },
            Effect::Void {
                order,
                authorization,
            } => EffectDoc::Void {
                order: order.get(),
                authorization: authorization.clone(),
            },
            Effect::Notify { user, notification } => match notification {
                Notification::OrderStatus { order, status } => EffectDoc::NotifyStatus {
                    user: user.get(),
                    order: order.get(),
                    status: status.as_str().to_string(),
                },
                Notification::LowStock { product, available } => EffectDoc::NotifyLowStock {
                    user: user.get(),
                    product: product.get(),
                    available: *available,
                },
                Notification::Promotion { seller, text } => EffectDoc::NotifyPromotion {
                    user: user.get(),
                    seller: seller.get(),
                    text: text.clone(),
                },
            },
        }
    }
}

impl EffectDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<Effect, StoreError> {
        let wh = |w: i32| WarehouseId::new(w).map_err(corrupt);
        let ship = |s: i64| ShipId::new(s).map_err(corrupt);
        let user = |u: i64| UserId::new(u).map_err(corrupt);
        Ok(match self {
            EffectDoc::Purchase {
                warehouse,
                items: i,
            } => Effect::Warehouse(WarehouseCommand::Purchase {
                warehouse: wh(warehouse)?,
                items: items(i)?,
            }),
            EffectDoc::Pack {
                warehouse,
                ship_id,
                items: i,
            } => Effect::Warehouse(WarehouseCommand::Pack {
                warehouse: wh(warehouse)?,
                ship_id: ship(ship_id)?,
                items: items(i)?,
            }),
            EffectDoc::Load {
                warehouse,
                truck,
                ship_id,
            } => Effect::Warehouse(WarehouseCommand::Load {
                warehouse: wh(warehouse)?,
                truck: TruckId::new(truck).map_err(corrupt)?,
                ship_id: ship(ship_id)?,
            }),
            EffectDoc::RequestTruck {
                warehouse,
                warehouse_at,
                destination,
                ship_id,
                ups_account,
                items: i,
            } => Effect::Shipping(ShippingCommand::RequestTruck {
                warehouse: WarehouseSite {
                    id: wh(warehouse)?,
                    location: Location::new(warehouse_at.0, warehouse_at.1),
                },
                destination: Location::new(destination.0, destination.1),
                ship_id: ship(ship_id)?,
                ups_account: ups_account
                    .map(|a| UpsAccount::parse(&a).map_err(corrupt))
                    .transpose()?,
                items: items(i)?,
            }),
            EffectDoc::Deliver { ship_id } => Effect::Shipping(ShippingCommand::Deliver {
                ship_id: ship(ship_id)?,
            }),
            EffectDoc::Capture {
                order,
                authorization,
                amount,
            } => Effect::Capture {
                order: OrderId::new(order).map_err(corrupt)?,
                authorization,
                amount: amount.parse()?,
            },
            EffectDoc::Void {
                order,
                authorization,
            } => Effect::Void {
                order: OrderId::new(order).map_err(corrupt)?,
                authorization,
            },
            EffectDoc::NotifyStatus {
                user: u,
                order,
                status: s,
            } => Effect::Notify {
                user: user(u)?,
                notification: Notification::OrderStatus {
                    order: OrderId::new(order).map_err(corrupt)?,
                    status: status(&s)?,
                },
            },
            EffectDoc::NotifyLowStock {
                user: u,
                product,
                available,
            } => Effect::Notify {
                user: user(u)?,
                notification: Notification::LowStock {
                    product: ProductId::new(product).map_err(corrupt)?,
                    available,
                },
            },
            EffectDoc::NotifyPromotion {
                user: u,
                seller,
                text,
            } => Effect::Notify {
                user: user(u)?,
                notification: Notification::Promotion {
                    seller: user(seller)?,
                    text,
                },
            },
        })
    }
}

/// Serializes a document to its JSON text.
pub fn to_json<T: Serialize>(doc: &T) -> String {
    serde_json::to_string(doc).expect("documents serialize")
}

/// Parses a document's JSON text.
pub fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(corrupt)
}
