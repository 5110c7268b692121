use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::domain::{Currency, DeliveryOption, NewOrder, OrderEventKind, OrderLine, ProductName};

const PLACED_AT: Timestamp = Timestamp(1_000);

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD).unwrap()
}

fn wh(id: i32) -> WarehouseId {
    WarehouseId::new(id).unwrap()
}

fn product(id: i64) -> ProductId {
    ProductId::new(id).unwrap()
}

fn q(units: i64) -> Quantity {
    Quantity::new(units).unwrap()
}

fn oid(id: i64) -> OrderId {
    OrderId::new(id).unwrap()
}

fn ship(id: i64) -> ShipId {
    ShipId::new(id).unwrap()
}

fn truck(id: i32) -> TruckId {
    TruckId::new(id).unwrap()
}

fn site(id: i32) -> WarehouseSite {
    WarehouseSite {
        id: wh(id),
        location: Location::new(10 * id, -id),
    }
}

fn engine() -> Fulfilment {
    Fulfilment::new([site(1), site(2)])
}

fn name_of(p: i64) -> String {
    format!("Product {p}")
}

/// Order `id` of customer `100 + id`, assigned to `warehouse`, with `(product, units)` lines;
/// each unit of product `p` costs `p` dollars, shipping is 5 dollars.
fn order(id: i64, warehouse: i32, lines: &[(i64, i64)]) -> Order {
    let mut order = Order::place(
        NewOrder {
            id: oid(id),
            customer: UserId::new(100 + id).unwrap(),
            lines: lines
                .iter()
                .map(|&(p, units)| OrderLine {
                    product: product(p),
                    name: ProductName::parse(&name_of(p)).unwrap(),
                    quantity: q(units),
                    unit_price: usd(100 * p),
                })
                .collect(),
            delivery: DeliveryOption::Standard,
            destination: Location::new(7, 9),
            ups_account: Some(UpsAccount::parse("ada").unwrap()),
            payment: format!("auth_{id}"),
            shipping: usd(500),
        },
        PLACED_AT,
    )
    .unwrap();
    order.assign(wh(warehouse), ship_id_of(oid(id)), PLACED_AT);
    order
}

/// An order moved along the happy path up to `status` (directly, without the engine).
fn order_at(id: i64, status: OrderStatus) -> Order {
    const PATH: [OrderStatus; 7] = [
        OrderStatus::Packing,
        OrderStatus::Packed,
        OrderStatus::TruckRequested,
        OrderStatus::Loading,
        OrderStatus::Loaded,
        OrderStatus::Delivering,
        OrderStatus::Delivered,
    ];
    let mut order = order(id, 1, &[(1, 2)]);
    if status == OrderStatus::WaitingForStock {
        order.advance(status, PLACED_AT).unwrap();
        return order;
    }
    for next in PATH {
        if order.status() == status {
            break;
        }
        order.advance(next, PLACED_AT).unwrap();
    }
    assert_eq!(order.status(), status);
    order
}

fn stock(on_hand: u64, incoming: u64, reserved: u64) -> Stock {
    Stock::from_counts(on_hand, incoming, reserved).unwrap()
}

fn delta(warehouse: i32, p: i64, on_hand: i64, incoming: i64, reserved: i64) -> StockDelta {
    StockDelta {
        warehouse: wh(warehouse),
        product: product(p),
        on_hand,
        incoming,
        reserved,
    }
}

fn item(p: i64, units: i64) -> Item {
    Item {
        product: product(p),
        description: name_of(p),
        count: q(units),
    }
}

fn notified(order: &Order) -> Effect {
    Effect::Notify {
        user: order.customer(),
        notification: Notification::OrderStatus {
            order: order.id(),
            status: order.status(),
        },
    }
}

/// Applies a step's deltas, in order, to one warehouse's stock; panics if one is refused.
fn apply(stock: &mut BTreeMap<ProductId, Stock>, deltas: &[StockDelta]) {
    for d in deltas {
        let entry = stock.entry(d.product).or_default();
        *entry = d
            .apply(*entry)
            .unwrap_or_else(|| panic!("{d:?} refused on {entry:?}"));
    }
}

/// The one order a step changed: checks it carries the version before the step and that the
/// history only grew by `added` entries, all at `now`.
fn changed(step: &Step, before: &Order, added: usize, now: Timestamp) -> Order {
    assert_eq!(step.orders.len(), 1, "{step:?}");
    assert!(step.ignored.is_empty(), "{:?}", step.ignored);
    let (after, version) = &step.orders[0];
    assert_eq!(after.id(), before.id());
    assert_eq!(*version, before.version(), "the version before the step");
    assert_eq!(after.version(), before.version() + added);
    assert!(
        after.history().starts_with(before.history()),
        "history is append-only"
    );
    assert!(
        after.history()[before.version()..]
            .iter()
            .all(|e| e.at == now)
    );
    after.clone()
}

fn status_change(from: OrderStatus, to: OrderStatus) -> OrderEventKind {
    OrderEventKind::StatusChanged { from, to }
}

fn last_kinds(order: &Order, n: usize) -> Vec<OrderEventKind> {
    let history = order.history();
    history[history.len() - n..]
        .iter()
        .map(|e| e.kind.clone())
        .collect()
}

#[test]
fn one_order_goes_all_the_way_to_its_door() {
    let engine = engine();
    let placed = order(5, 1, &[(1, 2), (2, 1)]);
    let mut at_warehouse =
        BTreeMap::from([(product(1), stock(5, 0, 2)), (product(2), stock(1, 0, 1))]);

    // Its units are on hand: it is packed.
    let t = Timestamp(2_000);
    let step = engine.serve(wh(1), vec![placed.clone()], &at_warehouse, t);
    let packing = changed(&step, &placed, 1, t);
    assert_eq!(packing.status(), OrderStatus::Packing);
    assert_eq!(
        last_kinds(&packing, 1),
        [status_change(OrderStatus::Placed, OrderStatus::Packing)]
    );
    assert_eq!(step.stock, [delta(1, 1, -2, 0, -2), delta(1, 2, -1, 0, -1)]);
    assert_eq!(
        step.effects,
        [
            Effect::Warehouse(WarehouseCommand::Pack {
                warehouse: wh(1),
                ship_id: ship(5),
                items: vec![item(1, 2), item(2, 1)],
            }),
            notified(&packing),
        ]
    );
    apply(&mut at_warehouse, &step.stock);
    assert_eq!(at_warehouse[&product(1)], stock(3, 0, 0));
    assert_eq!(at_warehouse[&product(2)], stock(0, 0, 0));

    // Packed: a truck is asked for.
    let t = Timestamp(3_000);
    let event = FulfilmentEvent::Packed { ship_id: ship(5) };
    let step = engine.package_event(&event, Some(packing.clone()), t);
    let requested = changed(&step, &packing, 2, t);
    assert_eq!(requested.status(), OrderStatus::TruckRequested);
    assert_eq!(
        last_kinds(&requested, 2),
        [
            status_change(OrderStatus::Packing, OrderStatus::Packed),
            status_change(OrderStatus::Packed, OrderStatus::TruckRequested),
        ]
    );
    assert!(step.stock.is_empty());
    assert_eq!(
        step.effects,
        [Effect::Shipping(ShippingCommand::RequestTruck {
            warehouse: site(1),
            destination: Location::new(7, 9),
            ship_id: ship(5),
            ups_account: Some(UpsAccount::parse("ada").unwrap()),
            items: vec![item(1, 2), item(2, 1)],
        })],
        "a truck asked for is no milestone: the customer is not told"
    );

    // The truck is there: the package is loaded on it.
    let t = Timestamp(4_000);
    let event = FulfilmentEvent::TruckArrived {
        ship_id: ship(5),
        truck: truck(3),
    };
    let step = engine.package_event(&event, Some(requested.clone()), t);
    let loading = changed(&step, &requested, 2, t);
    assert_eq!(loading.status(), OrderStatus::Loading);
    assert_eq!(loading.truck(), Some(truck(3)));
    assert_eq!(
        last_kinds(&loading, 2),
        [
            OrderEventKind::TruckArrived { truck: truck(3) },
            status_change(OrderStatus::TruckRequested, OrderStatus::Loading),
        ]
    );
    assert!(step.stock.is_empty());
    assert_eq!(
        step.effects,
        [Effect::Warehouse(WarehouseCommand::Load {
            warehouse: wh(1),
            truck: truck(3),
            ship_id: ship(5),
        })]
    );

    // Loaded: it waits for its truck-mates (none here), then UPS delivers it.
    let t = Timestamp(5_000);
    let event = FulfilmentEvent::Loaded { ship_id: ship(5) };
    let step = engine.package_event(&event, Some(loading.clone()), t);
    let loaded = changed(&step, &loading, 1, t);
    assert_eq!(loaded.status(), OrderStatus::Loaded);
    assert!(step.effects.is_empty(), "{:?}", step.effects);
    let step = engine.release_truck(vec![loaded.clone()], t);
    let delivering = changed(&step, &loaded, 1, t);
    assert_eq!(delivering.status(), OrderStatus::Delivering);
    assert_eq!(
        last_kinds(&delivering, 2),
        [
            status_change(OrderStatus::Loading, OrderStatus::Loaded),
            status_change(OrderStatus::Loaded, OrderStatus::Delivering),
        ]
    );
    assert!(step.stock.is_empty());
    assert_eq!(
        step.effects,
        [
            Effect::Shipping(ShippingCommand::Deliver { ship_id: ship(5) }),
            notified(&delivering),
        ]
    );

    // UPS says where it goes: recorded, nothing else.
    let t = Timestamp(6_000);
    let event = FulfilmentEvent::FinalDestination {
        ship_id: ship(5),
        location: Location::new(8, 8),
    };
    let step = engine.package_event(&event, Some(delivering.clone()), t);
    let redirected = changed(&step, &delivering, 1, t);
    assert_eq!(redirected.status(), OrderStatus::Delivering);
    assert_eq!(redirected.reported_destination(), Some(Location::new(8, 8)));
    assert_eq!(redirected.destination(), Location::new(7, 9));
    assert!(step.stock.is_empty() && step.effects.is_empty());

    // Delivered: the payment is captured.
    let t = Timestamp(7_000);
    let event = FulfilmentEvent::Delivered { ship_id: ship(5) };
    let step = engine.package_event(&event, Some(redirected.clone()), t);
    let delivered = changed(&step, &redirected, 1, t);
    assert_eq!(delivered.status(), OrderStatus::Delivered);
    assert_eq!(
        last_kinds(&delivered, 1),
        [status_change(
            OrderStatus::Delivering,
            OrderStatus::Delivered
        )]
    );
    assert!(step.stock.is_empty());
    assert_eq!(delivered.total(), usd(2 * 100 + 200 + 500));
    assert_eq!(
        step.effects,
        [
            Effect::Capture {
                order: oid(5),
                authorization: "auth_5".into(),
                amount: delivered.total(),
            },
            notified(&delivered),
        ]
    );
    assert_eq!(delivered.version(), placed.version() + 9);
}

fn statuses(step: &Step) -> BTreeMap<OrderId, OrderStatus> {
    step.orders
        .iter()
        .map(|(o, _)| (o.id(), o.status()))
        .collect()
}

fn packed_ids(step: &Step) -> Vec<ShipId> {
    step.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Warehouse(WarehouseCommand::Pack { ship_id, .. }) => Some(*ship_id),
            _ => None,
        })
        .collect()
}

#[test]
fn serve_is_first_come_first_served_per_product() {
    let engine = engine();
    let first = order(1, 1, &[(1, 1)]);
    let second = order(2, 1, &[(2, 3)]);
    // Product 2 has 2 units on hand: not enough for the second, enough for a third wanting 1.
    let at_warehouse = BTreeMap::from([
        (product(1), stock(1, 0, 1)),
        (product(2), stock(2, 1, 3)),
        (product(3), stock(1, 0, 1)),
    ]);
    let t = Timestamp(2_000);

    // A third that shares no product with the waiting second is packed.
    let third = order(3, 1, &[(3, 1)]);
    let queue = vec![third.clone(), second.clone(), first.clone()];
    let step = engine.serve(wh(1), queue, &at_warehouse, t);
    assert_eq!(
        statuses(&step),
        BTreeMap::from([
            (oid(1), OrderStatus::Packing),
            (oid(2), OrderStatus::WaitingForStock),
            (oid(3), OrderStatus::Packing),
        ])
    );
    assert_eq!(packed_ids(&step), [ship(1), ship(3)]);
    assert_eq!(step.stock, [delta(1, 1, -1, 0, -1), delta(1, 3, -1, 0, -1)]);
    assert!(
        step.orders
            .iter()
            .all(|(o, v)| *v == PLACED_VERSION && o.version() == v + 1)
    );
    apply(&mut at_warehouse.clone(), &step.stock);

    // A third that wants a product the second waits for waits too, though 2 units are there.
    let third = order(3, 1, &[(3, 1), (2, 1)]);
    let at_warehouse = BTreeMap::from([
        (product(1), stock(1, 0, 1)),
        (product(2), stock(2, 2, 4)),
        (product(3), stock(1, 0, 1)),
    ]);
    let queue = vec![second.clone(), third.clone(), first.clone()];
    let step = engine.serve(wh(1), queue, &at_warehouse, t);
    assert_eq!(
        statuses(&step),
        BTreeMap::from([
            (oid(1), OrderStatus::Packing),
            (oid(2), OrderStatus::WaitingForStock),
            (oid(3), OrderStatus::WaitingForStock),
        ])
    );
    assert_eq!(packed_ids(&step), [ship(1)]);
    assert_eq!(step.stock, [delta(1, 1, -1, 0, -1)]);
    // Waiting orders are told too.
    let notices = step
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Notify { .. }))
        .count();
    assert_eq!(notices, 3);

    // Serving again, with nothing new on hand, changes nothing.
    let mut after = at_warehouse.clone();
    apply(&mut after, &step.stock);
    let waiting: Vec<Order> = step
        .orders
        .iter()
        .map(|(o, _)| o.clone())
        .filter(|o| o.status() == OrderStatus::WaitingForStock)
        .collect();
    assert_eq!(waiting.len(), 2);
    let again = engine.serve(wh(1), waiting, &after, Timestamp(3_000));
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(again, Step::default());
}

/// The version of a freshly placed and assigned order (placed, assigned).
const PLACED_VERSION: usize = 2;

#[test]
fn serve_leaves_other_warehouses_and_moving_orders_alone() {
    let engine = engine();
    let elsewhere = order(1, 2, &[(1, 1)]);
    let packing = order_at(2, OrderStatus::Packing);
    let at_warehouse = BTreeMap::from([(product(1), stock(10, 0, 2))]);
    let step = engine.serve(
        wh(1),
        vec![elsewhere, packing],
        &at_warehouse,
        Timestamp(2_000),
    );
    assert_eq!(step, Step::default());
}

#[test]
fn arrived_units_go_on_hand_and_pack_the_waiting_orders() {
    let engine = engine();
    let t = Timestamp(2_000);
    let mut first = order(1, 1, &[(1, 3)]);
    first
        .advance(OrderStatus::WaitingForStock, PLACED_AT)
        .unwrap();
    let mut second = order(2, 1, &[(1, 2)]);
    second
        .advance(OrderStatus::WaitingForStock, PLACED_AT)
        .unwrap();
    let at_warehouse = BTreeMap::from([(product(1), stock(1, 4, 5))]);

    // Two arrive (of four bought): enough for the first only.
    let step = engine.arrived(
        wh(1),
        &[(product(1), q(2))],
        vec![second.clone(), first.clone()],
        &at_warehouse,
        t,
    );
    assert_eq!(step.stock, [delta(1, 1, 2, -2, 0), delta(1, 1, -3, 0, -3)]);
    assert_eq!(
        statuses(&step),
        BTreeMap::from([(oid(1), OrderStatus::Packing)])
    );
    assert_eq!(packed_ids(&step), [ship(1)]);
    let mut after = at_warehouse.clone();
    apply(&mut after, &step.stock);
    assert_eq!(after[&product(1)], stock(0, 2, 2));

    // Six arrive (more than the two still incoming): incoming stops at zero, the second packs.
    let step = engine.arrived(
        wh(1),
        &[(product(1), q(6)), (product(9), q(1))],
        vec![second.clone()],
        &after,
        t,
    );
    assert_eq!(
        step.stock,
        [
            delta(1, 1, 6, -2, 0),
            delta(1, 9, 1, 0, 0),
            delta(1, 1, -2, 0, -2),
        ]
    );
    let packing = changed(&step, &second, 1, t);
    assert_eq!(packing.status(), OrderStatus::Packing);
    assert_eq!(
        step.effects,
        [
            Effect::Warehouse(WarehouseCommand::Pack {
                warehouse: wh(1),
                ship_id: ship(2),
                items: vec![item(1, 2)],
            }),
            notified(&packing),
        ]
    );
    apply(&mut after, &step.stock);
    assert_eq!(after[&product(1)], stock(4, 0, 0));
    assert_eq!(after[&product(9)], stock(1, 0, 0));

    // Units nobody waits for only go on hand.
    let step = engine.arrived(
        wh(2),
        &[(product(1), q(3))],
        Vec::new(),
        &BTreeMap::new(),
        t,
    );
    assert_eq!(
        step,
        Step {
            stock: vec![delta(2, 1, 3, 0, 0)],
            ..Step::default()
        }
    );
}

fn assert_ignored(step: &Step) {
    assert!(step.is_empty(), "{step:?}");
    assert_eq!(step.ignored.len(), 1, "{step:?}");
}

#[test]
fn late_and_duplicate_events_change_nothing() {
    let engine = engine();
    let t = Timestamp(9_000);
    let packed = FulfilmentEvent::Packed { ship_id: ship(1) };
    let truck_arrived = FulfilmentEvent::TruckArrived {
        ship_id: ship(1),
        truck: truck(4),
    };
    let loaded = FulfilmentEvent::Loaded { ship_id: ship(1) };
    let delivered = FulfilmentEvent::Delivered { ship_id: ship(1) };
    let destination = FulfilmentEvent::FinalDestination {
        ship_id: ship(1),
        location: Location::new(1, 1),
    };
    let refused = FulfilmentEvent::Refused {
        command: Refused::Shipping(ShippingCommand::Deliver { ship_id: ship(1) }),
        reason: "no road".into(),
    };

    let cases = [
        (&packed, OrderStatus::TruckRequested),
        (&packed, OrderStatus::Placed),
        (&truck_arrived, OrderStatus::Delivered),
        (&truck_arrived, OrderStatus::Loading),
        (&truck_arrived, OrderStatus::Packing),
        (&loaded, OrderStatus::Delivering),
        (&loaded, OrderStatus::TruckRequested),
        (&delivered, OrderStatus::Delivered),
        (&delivered, OrderStatus::Loading),
        (&destination, OrderStatus::Delivered),
        (&refused, OrderStatus::Delivered),
    ];
    for (event, status) in cases {
        let step = engine.package_event(event, Some(order_at(1, status)), t);
        assert_ignored(&step);
        assert!(
            step.ignored[0].contains(status.as_str()),
            "{:?}",
            step.ignored
        );
    }

    let mut failed = order_at(1, OrderStatus::Packing);
    failed.end(OrderStatus::Failed, "boom", PLACED_AT).unwrap();
    for event in [&packed, &refused, &destination] {
        assert_ignored(&engine.package_event(event, Some(failed.clone()), t));
    }
    let mut cancelled = order(1, 1, &[(1, 1)]);
    cancelled
        .end(OrderStatus::Cancelled, "changed my mind", PLACED_AT)
        .unwrap();
    assert_ignored(&engine.package_event(&packed, Some(cancelled.clone()), t));
    assert_ignored(&engine.fail(cancelled, "late", t, true));

    // An event for an order the store does not have.
    for event in [
        &packed,
        &truck_arrived,
        &loaded,
        &delivered,
        &destination,
        &refused,
    ] {
        let step = engine.package_event(event, None, t);
        assert_ignored(&step);
        assert!(step.ignored[0].contains("no such order"));
    }
}

#[test]
fn a_package_of_a_warehouse_the_shop_no_longer_knows_fails() {
    let engine = Fulfilment::new([site(2)]);
    let packing = order_at(1, OrderStatus::Packing);
    let t = Timestamp(3_000);
    let step = engine.package_event(
        &FulfilmentEvent::Packed { ship_id: ship(1) },
        Some(packing.clone()),
        t,
    );
    let failed = changed(&step, &packing, 2, t);
    assert_eq!(failed.status(), OrderStatus::Failed);
    assert!(
        step.stock.is_empty(),
        "the units are packed: nothing goes back"
    );
    assert_eq!(
        step.effects,
        [
            Effect::Void {
                order: oid(1),
                authorization: "auth_1".into()
            },
            notified(&failed)
        ]
    );
}

fn void_of(order: &Order) -> Effect {
    Effect::Void {
        order: order.id(),
        authorization: order.payment().to_string(),
    }
}

fn refused_pack(order: &Order, reason: &str) -> FulfilmentEvent {
    FulfilmentEvent::Refused {
        command: Refused::Warehouse(WarehouseCommand::Pack {
            warehouse: wh(1),
            ship_id: ship_id_of(order.id()),
            items: items_of(order),
        }),
        reason: reason.into(),
    }
}

#[test]
fn a_refused_pack_buys_the_units_again_and_packs_when_they_arrive() {
    let engine = engine();
    let placed = order(4, 1, &[(1, 2), (2, 1)]);
    let mut at_warehouse =
        BTreeMap::from([(product(1), stock(2, 0, 2)), (product(2), stock(3, 0, 1))]);
    let step = engine.serve(wh(1), vec![placed], &at_warehouse, Timestamp(2_000));
    apply(&mut at_warehouse, &step.stock);
    let packing = step.orders[0].0.clone();

    // The world has less than the shop believed: the units are bought again and reserved.
    let t = Timestamp(3_000);
    let step = engine.package_event(
        &refused_pack(&packing, "not enough stock"),
        Some(packing.clone()),
        t,
    );
    let waiting = changed(&step, &packing, 2, t);
    assert_eq!(waiting.status(), OrderStatus::WaitingForStock);
    assert_eq!(
        last_kinds(&waiting, 2)[0],
        OrderEventKind::Setback {
            reason:
                "The warehouse could not pack it (not enough stock): its units are bought again"
                    .into()
        }
    );
    assert_eq!(step.stock, [delta(1, 1, 0, 2, 2), delta(1, 2, 0, 1, 1)]);
    assert_eq!(
        step.effects,
        [
            Effect::Warehouse(WarehouseCommand::Purchase {
                warehouse: wh(1),
                items: items_of(&waiting),
            }),
            notified(&waiting),
        ]
    );
    apply(&mut at_warehouse, &step.stock);
    assert_eq!(at_warehouse[&product(1)], stock(0, 2, 2));
    assert_eq!(at_warehouse[&product(2)], stock(2, 1, 1));

    // They arrive: it is packed again.
    let t = Timestamp(4_000);
    let items = [(product(1), q(2)), (product(2), q(1))];
    let step = engine.arrived(wh(1), &items, vec![waiting.clone()], &at_warehouse, t);
    let packing = changed(&step, &waiting, 1, t);
    assert_eq!(packing.status(), OrderStatus::Packing);
    assert_eq!(packed_ids(&step), [ship(4)]);
    apply(&mut at_warehouse, &step.stock);
    assert_eq!(at_warehouse[&product(1)], stock(0, 0, 0));
    assert_eq!(at_warehouse[&product(2)], stock(2, 0, 0));
}

#[test]
fn a_pack_refused_every_time_fails_and_puts_the_units_back_on_hand() {
    let engine = engine();
    let mut packing = order(4, 1, &[(1, 2)]);
    let mut at_warehouse = BTreeMap::from([(product(1), stock(2, 0, 2))]);
    let mut t = 2_000;
    for tries in 1..=MAX_PACK_TRIES {
        let step = engine.serve(wh(1), vec![packing.clone()], &at_warehouse, Timestamp(t));
        apply(&mut at_warehouse, &step.stock);
        packing = step.orders[0].0.clone();
        assert_eq!(packing.status(), OrderStatus::Packing);
        t += 1_000;
        let step = engine.package_event(
            &refused_pack(&packing, "out of boxes"),
            Some(packing.clone()),
            Timestamp(t),
        );
        apply(&mut at_warehouse, &step.stock);
        let after = step.orders[0].0.clone();
        if tries < MAX_PACK_TRIES {
            assert_eq!(after.status(), OrderStatus::WaitingForStock);
            at_warehouse = BTreeMap::from([(product(1), stock(2, 0, 2))]);
            packing = after;
            continue;
        }
        assert_eq!(after.status(), OrderStatus::Failed);
        assert_eq!(
            after.end_reason(),
            Some("the warehouse could not pack it (3 tries): out of boxes")
        );
        assert_eq!(step.stock, [delta(1, 1, 2, 0, 0)]);
        assert_eq!(step.effects, [void_of(&after), notified(&after)]);
        assert_eq!(at_warehouse[&product(1)], stock(2, 0, 0));
    }
}

#[test]
fn other_refusals_fail_the_order_without_moving_stock() {
    let engine = engine();
    let t = Timestamp(3_000);
    let cases = [
        (
            Refused::Shipping(ShippingCommand::Deliver { ship_id: ship(1) }),
            OrderStatus::Delivering,
            "UPS could not deliver it: no road",
        ),
        (
            Refused::Shipping(ShippingCommand::RequestTruck {
                warehouse: site(1),
                destination: Location::new(7, 9),
                ship_id: ship(1),
                ups_account: None,
                items: vec![item(1, 2)],
            }),
            OrderStatus::TruckRequested,
            "UPS could not send a truck: no road",
        ),
    ];
    for (command, status, reason) in cases {
        let before = order_at(1, status);
        let event = FulfilmentEvent::Refused {
            command,
            reason: "no road".into(),
        };
        let step = engine.package_event(&event, Some(before.clone()), t);
        let failed = changed(&step, &before, 2, t);
        assert_eq!(failed.status(), OrderStatus::Failed);
        assert_eq!(failed.end_reason(), Some(reason));
        assert!(step.stock.is_empty(), "{status}: {:?}", step.stock);
        assert_eq!(step.effects, [void_of(&failed), notified(&failed)]);
    }
}

/// A truck that is not at the warehouse (a partner's truck that left early) does not fail the
/// order: another truck is asked for, up to [`MAX_TRUCK_REQUESTS`] in all, each in the order's
/// history; the next refusal fails it and voids its payment.
#[test]
fn a_refused_load_asks_for_another_truck_up_to_the_limit() {
    let engine = engine();
    let t = Timestamp(3_000);
    let refused = FulfilmentEvent::Refused {
        command: Refused::Warehouse(WarehouseCommand::Load {
            warehouse: wh(1),
            truck: truck(2),
            ship_id: ship(1),
        }),
        reason: "truck 2 is not at warehouse 1 (it is delivering)".into(),
    };
    let mut order = order_at(1, OrderStatus::Loading);
    for attempt in 2..=MAX_TRUCK_REQUESTS {
        let step = engine.package_event(&refused, Some(order.clone()), t);
        // The setback is in its history, then the new request.
        let again = changed(&step, &order, 2, t);
        assert_eq!(
            again.status(),
            OrderStatus::TruckRequested,
            "attempt {attempt}"
        );
        assert_eq!(
            last_kinds(&again, 2)[0],
            OrderEventKind::Setback {
                reason: "The truck could not be loaded (truck 2 is not at warehouse 1 (it is \
                         delivering)): another truck is asked for"
                    .into()
            }
        );
        assert_eq!(step.effects, [request_truck(&again, site(1))]);
        assert!(step.stock.is_empty());
        // The next truck comes and the world refuses again.
        let arrived = FulfilmentEvent::TruckArrived {
            ship_id: ship(1),
            truck: truck(2 + attempt as i32),
        };
        let step = engine.package_event(&arrived, Some(again.clone()), t);
        order = step.orders[0].0.clone();
        assert_eq!(order.status(), OrderStatus::Loading);
    }
    let step = engine.package_event(&refused, Some(order.clone()), t);
    let failed = changed(&step, &order, 2, t);
    assert_eq!(failed.status(), OrderStatus::Failed);
    assert_eq!(
        failed.end_reason(),
        Some(
            "it could not be loaded onto any of 5 trucks: truck 2 is not at warehouse 1 (it is \
             delivering)"
        )
    );
    assert_eq!(step.effects, [void_of(&failed), notified(&failed)]);
}

#[test]
fn a_truck_is_released_only_when_nothing_is_still_loading_onto_it() {
    let engine = engine();
    let t = Timestamp(4_000);
    let on_truck_7 = |id| {
        let mut order = order_at(id, OrderStatus::TruckRequested);
        order.truck_arrived(truck(7), PLACED_AT);
        order.advance(OrderStatus::Loading, PLACED_AT).unwrap();
        order
    };
    let (first, second) = (on_truck_7(1), on_truck_7(2));

    // The first is loaded while the second is still loading: it waits, and nothing goes.
    let loaded = FulfilmentEvent::Loaded { ship_id: ship(1) };
    let first = changed(
        &engine.package_event(&loaded, Some(first), t),
        &on_truck_7(1),
        1,
        t,
    );
    assert_eq!(first.status(), OrderStatus::Loaded);
    assert!(
        engine
            .release_truck(vec![first.clone(), second.clone()], t)
            .is_empty()
    );

    // The second is loaded too: both go, in one step.
    let loaded = FulfilmentEvent::Loaded { ship_id: ship(2) };
    let second = changed(
        &engine.package_event(&loaded, Some(second), t),
        &on_truck_7(2),
        1,
        t,
    );
    let step = engine.release_truck(vec![first.clone(), second], t);
    assert_eq!(
        statuses(&step).into_values().collect::<Vec<_>>(),
        [OrderStatus::Delivering; 2]
    );
    let delivers: Vec<_> = step
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::Shipping(ShippingCommand::Deliver { .. })))
        .collect();
    assert_eq!(delivers.len(), 2);

    // A mate whose load was refused (back to asking for a truck) holds nothing up.
    let mut gone = on_truck_7(3);
    gone.advance(OrderStatus::TruckRequested, t).unwrap();
    let step = engine.release_truck(vec![first], t);
    assert_eq!(statuses(&step)[&oid(1)], OrderStatus::Delivering);
    assert!(engine.release_truck(vec![gone], t).is_empty());
}

#[test]
fn cancel_releases_the_reservation_until_packing_starts() {
    let engine = engine();
    let t = Timestamp(3_000);
    for status in [OrderStatus::Placed, OrderStatus::WaitingForStock] {
        let mut before = order(1, 1, &[(1, 2), (3, 1)]);
        if status == OrderStatus::WaitingForStock {
            before.advance(status, PLACED_AT).unwrap();
        }
        let step = engine.cancel(before.clone(), t).expect("not too late");
        let cancelled = changed(&step, &before, 2, t);
        assert_eq!(cancelled.status(), OrderStatus::Cancelled);
        assert_eq!(cancelled.end_reason(), Some("cancelled by the customer"));
        assert_eq!(step.stock, [delta(1, 1, 0, 0, -2), delta(1, 3, 0, 0, -1)]);
        assert_eq!(step.effects, [void_of(&cancelled), notified(&cancelled)]);
        let mut at_warehouse =
            BTreeMap::from([(product(1), stock(0, 2, 2)), (product(3), stock(1, 0, 1))]);
        apply(&mut at_warehouse, &step.stock);
        assert_eq!(at_warehouse[&product(1)], stock(0, 2, 0));
    }
    for status in [
        OrderStatus::Packing,
        OrderStatus::TruckRequested,
        OrderStatus::Delivering,
        OrderStatus::Delivered,
    ] {
        assert_eq!(engine.cancel(order_at(1, status), t), None, "{status}");
    }
}

// ---- Random interleavings ----------------------------------------------------------------

const WAREHOUSES: i32 = 2;
const PRODUCTS: i64 = 3;
const ORDERS: i64 = 4;
/// A package no order has.
const UNKNOWN: i64 = 77;

#[derive(Debug, Clone)]
enum Action {
    Serve(i32),
    Arrive(i32, i64, i64),
    Packed(i64),
    TruckArrived(i64, i32),
    Loaded(i64),
    FinalDestination(i64, i32),
    Delivered(i64),
    Refused(i64, u8),
    Cancel(i64),
}

impl Action {
    /// The order a package event is about.
    fn package(&self) -> Option<i64> {
        match *self {
            Action::Packed(o)
            | Action::TruckArrived(o, _)
            | Action::Loaded(o)
            | Action::FinalDestination(o, _)
            | Action::Delivered(o)
            | Action::Refused(o, _) => Some(o),
            Action::Serve(_) | Action::Arrive(..) | Action::Cancel(_) => None,
        }
    }
}

/// An order id, or now and then one no order has.
fn some_order() -> impl Strategy<Value = i64> {
    prop_oneof![8 => 1..=ORDERS, 1 => Just(UNKNOWN)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => (1..=WAREHOUSES).prop_map(Action::Serve),
        2 => (1..=WAREHOUSES, 1..=PRODUCTS, 1i64..6).prop_map(|(w, p, n)| Action::Arrive(w, p, n)),
        2 => some_order().prop_map(Action::Packed),
        2 => (some_order(), 1i32..4).prop_map(|(o, t)| Action::TruckArrived(o, t)),
        2 => some_order().prop_map(Action::Loaded),
        1 => (some_order(), -5i32..5).prop_map(|(o, x)| Action::FinalDestination(o, x)),
        2 => some_order().prop_map(Action::Delivered),
        1 => (some_order(), 0u8..4).prop_map(|(o, k)| Action::Refused(o, k)),
        1 => some_order().prop_map(Action::Cancel),
    ]
}

/// Orders 1..=ORDERS: each a warehouse and one line per distinct product (as checkout makes).
fn orders() -> impl Strategy<Value = Vec<(i32, BTreeMap<i64, i64>)>> {
    prop::collection::vec(
        (
            1..=WAREHOUSES,
            prop::collection::btree_map(1..=PRODUCTS, 1i64..4, 1..=PRODUCTS as usize),
        ),
        ORDERS as usize,
    )
}

/// Per warehouse and product: units on hand, and incoming beyond what checkout needed.
fn initial_stock() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec(
        (0u64..6, 0u64..3),
        (WAREHOUSES as usize) * (PRODUCTS as usize),
    )
}

/// What happened to each order over the run.
#[derive(Debug, Default)]
struct Sent {
    pack: usize,
    rebuy: usize,
    request_truck: usize,
    load: usize,
    deliver: usize,
    money: usize,
}

fn refused_command(o: i64, kind: u8) -> Refused {
    match kind {
        0 => Refused::Warehouse(WarehouseCommand::Pack {
            warehouse: wh(1),
            ship_id: ship(o),
            items: vec![item(1, 1)],
        }),
        1 => Refused::Warehouse(WarehouseCommand::Load {
            warehouse: wh(1),
            truck: truck(1),
            ship_id: ship(o),
        }),
        2 => Refused::Shipping(ShippingCommand::RequestTruck {
            warehouse: site(1),
            destination: Location::new(0, 0),
            ship_id: ship(o),
            ups_account: None,
            items: vec![item(1, 1)],
        }),
        _ => Refused::Shipping(ShippingCommand::Deliver { ship_id: ship(o) }),
    }
}

fn run(
    specs: Vec<(i32, BTreeMap<i64, i64>)>,
    initial: Vec<(u64, u64)>,
    actions: Vec<Action>,
) -> Result<(), TestCaseError> {
    let engine = engine();
    let mut orders: BTreeMap<OrderId, Order> = BTreeMap::new();
    for (i, (w, lines)) in specs.iter().enumerate() {
        let lines: Vec<(i64, i64)> = lines.iter().map(|(p, n)| (*p, *n)).collect();
        let o = order(i as i64 + 1, *w, &lines);
        orders.insert(o.id(), o);
    }
    // Checkout reserved every order's units: what is reserved is covered by what is on hand
    // and incoming.
    let reserved_now = |orders: &BTreeMap<OrderId, Order>, w: WarehouseId, p: ProductId| -> u64 {
        orders
            .values()
            .filter(|o| {
                o.warehouse() == Some(w)
                    && matches!(
                        o.status(),
                        OrderStatus::Placed | OrderStatus::WaitingForStock
                    )
            })
            .flat_map(|o| o.lines())
            .filter(|l| l.product == p)
            .map(|l| u64::from(l.quantity.get()))
            .sum()
    };
    let mut stocks: BTreeMap<(WarehouseId, ProductId), Stock> = BTreeMap::new();
    for w in 1..=WAREHOUSES {
        for p in 1..=PRODUCTS {
            let (on_hand, extra) =
                initial[((w - 1) as usize) * PRODUCTS as usize + (p - 1) as usize];
            let reserved = reserved_now(&orders, wh(w), product(p));
            let incoming = reserved.saturating_sub(on_hand) + extra;
            stocks.insert((wh(w), product(p)), stock(on_hand, incoming, reserved));
        }
    }
    let queue_of = |orders: &BTreeMap<OrderId, Order>, w: WarehouseId| -> Vec<Order> {
        // Newest first: the engine must sort.
        orders
            .values()
            .rev()
            .filter(|o| {
                o.warehouse() == Some(w)
                    && matches!(
                        o.status(),
                        OrderStatus::Placed | OrderStatus::WaitingForStock
                    )
            })
            .cloned()
            .collect()
    };
    let stock_of = |stocks: &BTreeMap<(WarehouseId, ProductId), Stock>, w: WarehouseId| {
        stocks
            .iter()
            .filter(|((at, _), _)| *at == w)
            .map(|((_, p), s)| (*p, *s))
            .collect::<BTreeMap<_, _>>()
    };
    let mut sent: BTreeMap<OrderId, Sent> = BTreeMap::new();

    for (i, action) in actions.into_iter().enumerate() {
        let now = Timestamp(10_000 + i as u64);
        let package = |o: i64| orders.get(&oid(o)).cloned();
        // A package event about a loading order may release its truck, as the driver does.
        let loading_onto = action
            .package()
            .and_then(package)
            .and_then(|o| (o.status() == OrderStatus::Loading).then(|| (o.warehouse(), o.truck())));
        let step = match action {
            Action::Serve(w) => engine.serve(
                wh(w),
                queue_of(&orders, wh(w)),
                &stock_of(&stocks, wh(w)),
                now,
            ),
            Action::Arrive(w, p, n) => engine.arrived(
                wh(w),
                &[(product(p), q(n))],
                queue_of(&orders, wh(w)),
                &stock_of(&stocks, wh(w)),
                now,
            ),
            Action::Cancel(o) => match package(o) {
                Some(order) => {
                    let cancellable = order.status().can_become(OrderStatus::Cancelled);
                    let step = engine.cancel(order, now);
                    prop_assert_eq!(step.is_some(), cancellable);
                    step.unwrap_or_default()
                }
                None => continue,
            },
            Action::Packed(o) => engine.package_event(
                &FulfilmentEvent::Packed { ship_id: ship(o) },
                package(o),
                now,
            ),
            Action::TruckArrived(o, t) => engine.package_event(
                &FulfilmentEvent::TruckArrived {
                    ship_id: ship(o),
                    truck: truck(t),
                },
                package(o),
                now,
            ),
            Action::Loaded(o) => engine.package_event(
                &FulfilmentEvent::Loaded { ship_id: ship(o) },
                package(o),
                now,
            ),
            Action::FinalDestination(o, x) => engine.package_event(
                &FulfilmentEvent::FinalDestination {
                    ship_id: ship(o),
                    location: Location::new(x, -x),
                },
                package(o),
                now,
            ),
            Action::Delivered(o) => engine.package_event(
                &FulfilmentEvent::Delivered { ship_id: ship(o) },
                package(o),
                now,
            ),
            Action::Refused(o, kind) => engine.package_event(
                &FulfilmentEvent::Refused {
                    command: refused_command(o, kind),
                    reason: "no".into(),
                },
                package(o),
                now,
            ),
        };

        let step = match loading_onto {
            Some(truck) => {
                let mut mates = orders.clone();
                for (order, _) in &step.orders {
                    mates.insert(order.id(), order.clone());
                }
                let mates = mates
                    .into_values()
                    .filter(|o| {
                        matches!(o.status(), OrderStatus::Loading | OrderStatus::Loaded)
                            && (o.warehouse(), o.truck()) == truck
                    })
                    .collect();
                step.then(engine.release_truck(mates, now))
            }
            None => step,
        };

        // Stock: every delta applies, in order, without a count going negative.
        for d in &step.stock {
            let entry = stocks.entry((d.warehouse, d.product)).or_default();
            match d.apply(*entry) {
                Some(next) => *entry = next,
                None => prop_assert!(false, "step {}: {:?} refused on {:?}", i, d, entry),
            }
        }

        // Orders: each once per step, at the version it had, with an append-only history
        // whose status changes are all legal.
        let mut seen = BTreeSet::new();
        for (after, version) in &step.orders {
            prop_assert!(
                seen.insert(after.id()),
                "order {} twice in a step",
                after.id()
            );
            let before = &orders[&after.id()];
            prop_assert_eq!(*version, before.version());
            prop_assert!(after.version() > before.version());
            prop_assert!(after.history().starts_with(before.history()));
            let mut status = before.status();
            for event in &after.history()[before.version()..] {
                if let OrderEventKind::StatusChanged { from, to } = event.kind {
                    prop_assert_eq!(from, status);
                    prop_assert!(from.can_become(to), "{} -> {}", from, to);
                    status = to;
                }
            }
            prop_assert_eq!(status, after.status());
        }
        let orders_before = orders.clone();
        for (after, _) in step.orders.iter().cloned() {
            orders.insert(after.id(), after);
        }

        // Effects: each command at most once per order over the whole run.
        for effect in &step.effects {
            let (id, count) = match effect {
                Effect::Warehouse(WarehouseCommand::Pack { ship_id, .. }) => {
                    let id = order_of(*ship_id);
                    (id, &mut sent.entry(id).or_default().pack)
                }
                Effect::Shipping(ShippingCommand::RequestTruck { ship_id, .. }) => {
                    let id = order_of(*ship_id);
                    (id, &mut sent.entry(id).or_default().request_truck)
                }
                Effect::Warehouse(WarehouseCommand::Load { ship_id, .. }) => {
                    let id = order_of(*ship_id);
                    (id, &mut sent.entry(id).or_default().load)
                }
                Effect::Shipping(ShippingCommand::Deliver { ship_id }) => {
                    let id = order_of(*ship_id);
                    (id, &mut sent.entry(id).or_default().deliver)
                }
                Effect::Capture { order, .. } | Effect::Void { order, .. } => {
                    (*order, &mut sent.entry(*order).or_default().money)
                }
                // The engine buys only an order's own units again, after the world refused to
                // pack them (the order is back to waiting for stock in the same step).
                Effect::Warehouse(WarehouseCommand::Purchase { warehouse, items }) => {
                    let rebought = step.orders.iter().find(|(o, _)| {
                        o.status() == OrderStatus::WaitingForStock
                            && o.warehouse() == Some(*warehouse)
                            && items_of(o) == *items
                            && orders_before
                                .get(&o.id())
                                .is_some_and(|b| b.status() == OrderStatus::Packing)
                    });
                    let Some((order, _)) = rebought else {
                        return Err(TestCaseError::fail(format!(
                            "a purchase no refused pack asked for: {effect:?}"
                        )));
                    };
                    let id = order.id();
                    (id, &mut sent.entry(id).or_default().rebuy)
                }
                Effect::Notify { .. } => continue,
            };
            *count += 1;
            // A refused load asks for another truck and loads again, a bounded number of times.
            // A refused pack buys the units again and packs again, a bounded number of times.
            let most = match effect {
                Effect::Shipping(ShippingCommand::RequestTruck { .. })
                | Effect::Warehouse(WarehouseCommand::Load { .. }) => MAX_TRUCK_REQUESTS,
                Effect::Warehouse(WarehouseCommand::Pack { .. }) => MAX_PACK_TRIES,
                Effect::Warehouse(WarehouseCommand::Purchase { .. }) => MAX_PACK_TRIES - 1,
                _ => 1,
            };
            prop_assert!(
                *count <= most,
                "{:?} {} times for order {}",
                effect,
                count,
                id
            );
            prop_assert!(
                orders.contains_key(&id),
                "an effect for unknown order {}",
                id
            );
        }

        // First come, first served: no order packed in this step overtook an older order of
        // its warehouse that still waits for one of its products.
        for effect in &step.effects {
            let Effect::Warehouse(WarehouseCommand::Pack {
                warehouse,
                ship_id,
                items,
            }) = effect
            else {
                continue;
            };
            let packed = order_of(*ship_id);
            let overtaken = queue_of(&orders, *warehouse).into_iter().find(|older| {
                older.id() < packed
                    && older
                        .lines()
                        .iter()
                        .any(|l| items.iter().any(|i| i.product == l.product))
            });
            prop_assert!(overtaken.is_none(), "{} overtook {:?}", packed, overtaken);
        }

        // What is reserved is exactly what placed and waiting orders still need.
        for ((w, p), s) in &stocks {
            prop_assert_eq!(s.reserved(), reserved_now(&orders, *w, *p), "{} {}", w, p);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever the world and the UPS report, in whatever order and however often, the engine
    /// makes only legal transitions, never drives stock negative, keeps reservations exact and
    /// sends each command about a package at most once.
    #[test]
    fn random_interleavings_stay_consistent(
        specs in orders(),
        initial in initial_stock(),
        actions in prop::collection::vec(action(), 0..80),
    ) {
        run(specs, initial, actions)?;
    }
}
