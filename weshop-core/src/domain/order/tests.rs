use proptest::prelude::*;

use super::*;
use crate::domain::Currency;

fn usd(text: &str) -> Money {
    Money::parse(text, Currency::USD).unwrap()
}

fn new_order() -> NewOrder {
    NewOrder {
        id: OrderId::new(1).unwrap(),
        customer: UserId::new(7).unwrap(),
        lines: vec![
            OrderLine {
                product: ProductId::new(3).unwrap(),
                name: ProductName::parse("Mug").unwrap(),
                quantity: Quantity::new(2).unwrap(),
                unit_price: usd("4.50"),
            },
            OrderLine {
                product: ProductId::new(4).unwrap(),
                name: ProductName::parse("Tea").unwrap(),
                quantity: Quantity::ONE,
                unit_price: usd("3.25"),
            },
        ],
        delivery: DeliveryOption::Standard,
        destination: Location::new(5, -2),
        ups_account: Some(UpsAccount::parse("ada").unwrap()),
        payment: "auth_123".into(),
        shipping: usd("2.00"),
    }
}

const HAPPY_PATH: [OrderStatus; 7] = [
    OrderStatus::Packing,
    OrderStatus::Packed,
    OrderStatus::TruckRequested,
    OrderStatus::Loading,
    OrderStatus::Loaded,
    OrderStatus::Delivering,
    OrderStatus::Delivered,
];

#[test]
fn placing_computes_the_total_and_starts_the_history() {
    let order = Order::place(new_order(), Timestamp(10)).unwrap();
    assert_eq!(order.total(), usd("14.25"));
    assert_eq!(order.status(), OrderStatus::Placed);
    assert_eq!(
        order.history(),
        &[OrderEvent {
            at: Timestamp(10),
            kind: OrderEventKind::Placed
        }]
    );

    let empty = NewOrder {
        lines: vec![],
        ..new_order()
    };
    assert_eq!(
        Order::place(empty, Timestamp(0)),
        Err(DomainError::EmptyOrder)
    );
    let mut euros = new_order();
    euros.shipping = Money::parse("2", Currency::EUR).unwrap();
    assert!(matches!(
        Order::place(euros, Timestamp(0)),
        Err(DomainError::CurrencyMismatch(..))
    ));
}

#[test]
fn the_happy_path_is_recorded_step_by_step() {
    let mut order = Order::place(new_order(), Timestamp(0)).unwrap();
    order
        .advance(OrderStatus::WaitingForStock, Timestamp(1))
        .unwrap();
    order.assign(
        WarehouseId::new(2).unwrap(),
        ShipId::new(900).unwrap(),
        Timestamp(2),
    );
    for (i, status) in HAPPY_PATH.iter().enumerate() {
        order.advance(*status, Timestamp(3 + i as u64)).unwrap();
    }
    assert_eq!(order.status(), OrderStatus::Delivered);
    let changes: Vec<OrderStatus> = order
        .history()
        .iter()
        .filter_map(|e| match e.kind {
            OrderEventKind::StatusChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(changes.len(), 8);
    assert_eq!(order.ship_id().map(ShipId::get), Some(900));
    let err = order
        .advance(OrderStatus::Delivered, Timestamp(99))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an order that is delivered cannot become delivered"
    );
}

#[test]
fn cancelling_only_before_packing_and_failing_only_while_live() {
    let mut order = Order::place(new_order(), Timestamp(0)).unwrap();
    order.advance(OrderStatus::Packing, Timestamp(1)).unwrap();
    assert!(
        order
            .end(OrderStatus::Cancelled, "changed my mind", Timestamp(2))
            .is_err()
    );
    order
        .end(
            OrderStatus::Failed,
            "the world refused the package",
            Timestamp(3),
        )
        .unwrap();
    assert_eq!(order.end_reason(), Some("the world refused the package"));
    assert!(
        order
            .end(OrderStatus::Failed, "again", Timestamp(4))
            .is_err(),
        "terminal"
    );
    assert!(
        order.advance(OrderStatus::Packed, Timestamp(5)).is_err(),
        "terminal"
    );

    let mut early = Order::place(new_order(), Timestamp(0)).unwrap();
    early
        .end(OrderStatus::Cancelled, "changed my mind", Timestamp(1))
        .unwrap();
    assert_eq!(early.status(), OrderStatus::Cancelled);
    assert!(
        early.advance(OrderStatus::Failed, Timestamp(2)).is_err(),
        "ends go through end()"
    );
    assert!(
        Order::place(new_order(), Timestamp(0))
            .unwrap()
            .end(OrderStatus::Packed, "x", Timestamp(1))
            .is_err()
    );
}

#[test]
fn names_round_trip() {
    for status in OrderStatus::ALL {
        assert_eq!(OrderStatus::from_name(status.as_str()), Some(status));
    }
    assert!(UpsAccount::parse("has space").is_err() && UpsAccount::parse("").is_err());
}

proptest! {
    /// Whatever is attempted, the status only moves along allowed edges, terminal states are
    /// final, and the history's last status change is the current status.
    #[test]
    fn random_attempts_keep_the_machine_consistent(attempts in prop::collection::vec((0usize..11, any::<bool>()), 0..40)) {
        let mut order = Order::place(new_order(), Timestamp(0)).unwrap();
        for (t, (target, via_end)) in attempts.into_iter().enumerate() {
            let to = OrderStatus::ALL[target];
            let from = order.status();
            let before = order.history().len();
            let result = if via_end {
                order.end(to, "reason", Timestamp(t as u64 + 1))
            } else {
                order.advance(to, Timestamp(t as u64 + 1))
            };
            let allowed = from.can_become(to) && (via_end == matches!(to, OrderStatus::Failed | OrderStatus::Cancelled));
            prop_assert_eq!(result.is_ok(), allowed, "{} -> {} via_end={}", from, to, via_end);
            if result.is_err() {
                prop_assert_eq!(order.status(), from);
                prop_assert_eq!(order.history().len(), before, "a refused change leaves no trace");
            }
            let last = order.history().iter().rev().find_map(|e| match e.kind {
                OrderEventKind::StatusChanged { to, .. } => Some(to),
                _ => None,
            });
            prop_assert_eq!(last.unwrap_or(OrderStatus::Placed), order.status());
        }
    }
}
