//! An outbox effect's stored document.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{
        Location, OrderId, ProductId, Quantity, ShipId, Timestamp, TruckId, UpsAccount, UserId,
        WarehouseId, WarehouseSite,
    },
    fulfilment::{Effect, Item, ShippingCommand, WarehouseCommand},
    notify::{Notification, SellerDay},
    store::StoreError,
};

use super::{MoneyDoc, status};
use crate::corrupt;

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
    /// A welcome.
    NotifyWelcome {
        /// User.
        user: i64,
    },
    /// A seller's day.
    NotifySellerSummary {
        /// User.
        user: i64,
        /// The day's first moment, ms.
        day: u64,
        /// Orders placed.
        orders: u64,
        /// Units in them.
        units: u64,
        /// What they come to.
        amount: MoneyDoc,
        /// Orders delivered.
        delivered: u64,
        /// Products running low: id, name, units left.
        low_stock: Vec<(i64, String, u64)>,
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
                Notification::Welcome => EffectDoc::NotifyWelcome { user: user.get() },
                Notification::SellerSummary(day) => EffectDoc::NotifySellerSummary {
                    user: user.get(),
                    day: day.day.millis(),
                    orders: day.orders,
                    units: day.units,
                    amount: day.amount.into(),
                    delivered: day.delivered,
                    low_stock: day
                        .low_stock
                        .iter()
                        .map(|(p, name, left)| (p.get(), name.clone(), *left))
                        .collect(),
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
            EffectDoc::NotifyWelcome { user: u } => Effect::Notify {
                user: user(u)?,
                notification: Notification::Welcome,
            },
            EffectDoc::NotifySellerSummary {
                user: u,
                day,
                orders,
                units,
                amount,
                delivered,
                low_stock,
            } => Effect::Notify {
                user: user(u)?,
                notification: Notification::SellerSummary(SellerDay {
                    day: Timestamp::from_millis(day),
                    orders,
                    units,
                    amount: amount.parse()?,
                    delivered,
                    low_stock: low_stock
                        .into_iter()
                        .map(|(p, name, left)| {
                            Ok((ProductId::new(p).map_err(corrupt)?, name, left))
                        })
                        .collect::<Result<_, StoreError>>()?,
                }),
            },
        })
    }
}
