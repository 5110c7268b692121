//! The orders in fulfilment as this driver last committed them, so that an event about one
//! is decided without reading it back from the store.
//!
//! Copies must never be stale: a change decided on one is refused by the store's version
//! check, but an event the engine ignores for the status it sees commits nothing to check
//! (and the link marks it seen). They are kept only for orders past waiting for stock, which
//! change only through package events, and those reach only the leading node's driver, one
//! commit at a time under its writer. So a copy goes stale only through another node's
//! commits under another lease term, or a commit whose outcome is unknown: a new term
//! ([`super::FulfilmentDriver::fence_with`]) and a failed commit drop every copy. (A
//! customer's cancel may go through any node, but only before packing: no copy is kept
//! until then.)

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use crate::domain::{Order, OrderId, OrderStatus, TruckId, WarehouseId};

/// Copies kept at most; past it they are all dropped (the cost: one read per order after),
/// except those on trucks while [`OnTruck`] sets are kept. (A few in tests, to drop them.)
const KEPT: usize = if cfg!(test) { 6 } else { 100_000 };

/// A truck at a warehouse.
pub(crate) type Truck = (WarehouseId, TruckId);

/// The orders on one truck as last committed, by status.
#[derive(Default)]
pub(crate) struct OnTruck {
    /// Being loaded onto it.
    pub(crate) loading: BTreeSet<OrderId>,
    /// Loaded onto it, held until none is loading.
    pub(crate) loaded: BTreeSet<OrderId>,
}

/// The driver's copies of the orders it committed that have not ended.
#[derive(Default)]
pub(crate) struct KnownOrders(Mutex<Known>);

#[derive(Default)]
struct Known {
    orders: HashMap<OrderId, Order>,
    /// Which orders are loading onto, or loaded onto, each truck: all of them, once
    /// [`KnownOrders::load_trucks`] was told the store's (then each has its copy), kept so by
    /// each commit; `None` until then and after every copy is dropped. Reading them back
    /// from the store for each event batch that loaded a package cost a scan and a decoding
    /// of every order on a truck: with 2,000 orders in flight, 6% of the samples of the
    /// phase where the driver works alone, the engine's scan on top.
    trucks: Option<HashMap<Truck, OnTruck>>,
}

/// The truck `order` is loading onto or loaded onto, if it is.
pub(crate) fn truck_of(order: &Order) -> Option<Truck> {
    match order.status() {
        OrderStatus::Loading | OrderStatus::Loaded => Some((order.warehouse()?, order.truck()?)),
        _ => None,
    }
}

impl Known {
    /// Keeps `order` (or forgets it, once it has ended), and where it is on trucks. Past
    /// [`KEPT`] copies, with `capped`, the copies are dropped.
    fn keep(&mut self, order: &Order, capped: bool) {
        let status = order.status();
        let keep = !(status.is_terminal()
            || matches!(status, OrderStatus::Placed | OrderStatus::WaitingForStock));
        if capped && keep && self.orders.len() >= KEPT && !self.orders.contains_key(&order.id()) {
            self.drop_copies();
        }
        let before = if keep {
            self.orders.insert(order.id(), order.clone())
        } else {
            self.orders.remove(&order.id())
        };
        let Some(trucks) = &mut self.trucks else {
            return;
        };
        if let Some(truck) = before.as_ref().and_then(truck_of)
            && let Some(on) = trucks.get_mut(&truck)
        {
            on.loading.remove(&order.id());
            on.loaded.remove(&order.id());
            if on.loading.is_empty() && on.loaded.is_empty() {
                trucks.remove(&truck);
            }
        }
        if let Some(truck) = truck_of(order) {
            let on = trucks.entry(truck).or_default();
            match status {
                OrderStatus::Loading => on.loading.insert(order.id()),
                _ => on.loaded.insert(order.id()),
            };
        }
    }

    /// Drops the copies of orders not on a truck (all of them if there are still too many,
    /// or if which are on trucks is not known).
    fn drop_copies(&mut self) {
        if self.trucks.is_some() {
            self.orders.retain(|_, order| truck_of(order).is_some());
        }
        if self.trucks.is_none() || self.orders.len() >= KEPT {
            self.orders.clear();
            self.trucks = None;
        }
    }
}

impl KnownOrders {
    /// The order as last committed by this driver, if it is known and has not ended.
    pub(crate) fn get(&self, id: OrderId) -> Option<Order> {
        self.lock().orders.get(&id).cloned()
    }

    /// Records orders just committed: only those packing or further on, until they end.
    pub(crate) fn committed<'a>(&self, orders: impl IntoIterator<Item = &'a Order>) {
        let mut known = self.lock();
        for order in orders {
            known.keep(order, true);
        }
    }

    /// `look` at the orders on `truck` as last committed (an empty [`OnTruck`] if none is)
    /// and at the copies; `None` until [`Self::load_trucks`] was told every order on a truck.
    pub(crate) fn on_truck<R>(
        &self,
        truck: Truck,
        look: impl FnOnce(&OnTruck, &HashMap<OrderId, Order>) -> R,
    ) -> Option<R> {
        let known = self.lock();
        let trucks = known.trucks.as_ref()?;
        Some(match trucks.get(&truck) {
            Some(on) => look(on, &known.orders),
            None => look(&OnTruck::default(), &known.orders),
        })
    }

    /// Takes every order loading or loaded, as committed (read from the store under the
    /// writer): from now on [`Self::on_truck`] answers from memory.
    pub(crate) fn load_trucks(&self, on_trucks: impl IntoIterator<Item = Order>) {
        let mut known = self.lock();
        known.trucks = Some(HashMap::new());
        for order in on_trucks {
            known.keep(&order, false);
        }
    }

    /// Forgets every copy: after a commit that failed, or a change of lease term.
    pub(crate) fn forget_all(&self) {
        let mut known = self.lock();
        known.orders.clear();
        known.trucks = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::{
        Currency, DeliveryOption, Location, Money, NewOrder, OrderLine, ProductId, ProductName,
        Quantity, ShipId, Timestamp, UserId,
    };

    const AT: Timestamp = Timestamp(1_000);
    const ORDERS: i64 = 10;

    /// Order `id` at warehouse 1, waiting for a truck.
    fn waiting_for_truck(id: i64) -> Order {
        let usd = |minor| Money::from_minor(minor, Currency::USD).unwrap();
        let mut order = Order::place(
            NewOrder {
                id: OrderId::new(id).unwrap(),
                customer: UserId::new(100 + id).unwrap(),
                lines: vec![OrderLine {
                    product: ProductId::new(1).unwrap(),
                    name: ProductName::parse("Kettle").unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                    unit_price: usd(100),
                }],
                delivery: DeliveryOption::Standard,
                destination: Location::new(7, 9),
                ups_account: None,
                payment: format!("auth_{id}"),
                shipping: usd(500),
            },
            AT,
        )
        .unwrap();
        order.assign(WarehouseId::new(1).unwrap(), ShipId::new(id).unwrap(), AT);
        for status in [
            OrderStatus::Packing,
            OrderStatus::Packed,
            OrderStatus::TruckRequested,
        ] {
            order.advance(status, AT).unwrap();
        }
        order
    }

    /// What happens to one order (the next step its status allows), or to the copies.
    #[derive(Debug, Clone)]
    enum Move {
        /// The order moves on: a truck (1–3) arrives for it, it is loaded, it is refused
        /// and waits for another truck, its truck leaves, it is delivered.
        Order(i64, i32, bool),
        /// A commit failed or the lease changed.
        Forget,
    }

    fn a_move() -> impl Strategy<Value = Move> {
        prop_oneof![
            8 => (1..=ORDERS, 1..=3i32, any::<bool>()).prop_map(|(o, t, b)| Move::Order(o, t, b)),
            1 => Just(Move::Forget),
        ]
    }

    /// `order` one step on, as the driver would commit it.
    fn moved(mut order: Order, truck: i32, refused: bool) -> Order {
        let next = match order.status() {
            OrderStatus::TruckRequested => {
                order.truck_arrived(TruckId::new(truck).unwrap(), AT);
                OrderStatus::Loading
            }
            OrderStatus::Loading if refused => OrderStatus::TruckRequested,
            OrderStatus::Loading => OrderStatus::Loaded,
            OrderStatus::Loaded => OrderStatus::Delivering,
            _ => OrderStatus::Delivered,
        };
        if order.status() != OrderStatus::Delivered {
            order.advance(next, AT).unwrap();
        }
        order
    }

    /// Who is on `truck`, by status, from a scan of every order committed.
    fn scanned(store: &BTreeMap<i64, Order>, truck: Truck) -> (Vec<OrderId>, Vec<OrderId>) {
        let on = |status| {
            store
                .values()
                .filter(|o| truck_of(o) == Some(truck) && o.status() == status)
                .map(Order::id)
                .collect()
        };
        (on(OrderStatus::Loading), on(OrderStatus::Loaded))
    }

    proptest! {
        /// Whatever orders do, however often the copies are forgotten, and past the cap on
        /// copies: once told the orders on trucks, the copies say who is on each truck
        /// exactly as a scan of the store does, with each one's latest version.
        #[test]
        fn the_trucks_in_memory_match_a_scan_of_the_store(
            moves in proptest::collection::vec(a_move(), 1..80)
        ) {
            let known = KnownOrders::default();
            let mut store: BTreeMap<i64, Order> =
                (1..=ORDERS).map(|id| (id, waiting_for_truck(id))).collect();
            known.load_trucks(Vec::new());
            for m in moves {
                match m {
                    Move::Order(id, truck, refused) => {
                        let order = moved(store[&id].clone(), truck, refused);
                        known.committed([&order]);
                        store.insert(id, order);
                    }
                    Move::Forget => known.forget_all(),
                }
                let warehouse = WarehouseId::new(1).unwrap();
                for t in 1..=3 {
                    let here = (warehouse, TruckId::new(t).unwrap());
                    let look = |on: &OnTruck, copies: &HashMap<OrderId, Order>| {
                        for id in on.loading.iter().chain(&on.loaded) {
                            assert_eq!(Some(&store[&id.get()]), copies.get(id));
                        }
                        (
                            on.loading.iter().copied().collect::<Vec<_>>(),
                            on.loaded.iter().copied().collect::<Vec<_>>(),
                        )
                    };
                    let seen = match known.on_truck(here, look) {
                        Some(seen) => seen,
                        None => {
                            known.load_trucks(
                                store.values().filter(|o| truck_of(o).is_some()).cloned(),
                            );
                            known.on_truck(here, look).expect("told just now")
                        }
                    };
                    prop_assert_eq!(seen, scanned(&store, here));
                }
            }
        }
    }
}
