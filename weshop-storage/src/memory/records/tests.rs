use std::{collections::BTreeSet, time::Duration};

use weshop_core::{
    domain::{
        Address, CardBrand, Cart, Category, Currency, DeliveryOption, Description, Email, Location,
        LoginSession, Money, NewOrder, Order, OrderLine, PasswordHash, PaymentMethod, PersonName,
        Picture, PictureId, ProductName, PromotionText, Quantity, Roles, StockDelta, Timestamp,
        TokenHash, TruckId, WarehouseId, WarehouseSite, Weight,
    },
    fulfilment::{Effect, Item, WarehouseCommand, ship_id_of},
    inbox::{MailState, NewNotification},
    notify::Notification,
    store::{
        AccountStore, CampaignStore, CartStore, CatalogStore, InboxStore, LeaseStore, NewProduct,
        NewUser, OrderStore, PlaceOrder, StepCommit, StoreError,
    },
};

use super::{PREFIX, Record};
use crate::documents::{OrderDoc, to_json};
use crate::memory::{MemoryStore, State};

/// Every record `state` has, the counters included.
fn records_of(state: &State) -> BTreeSet<Record> {
    let mut all = BTreeSet::from([Record::Counters]);
    all.extend(state.users.keys().map(|id| Record::User(*id)));
    all.extend(state.sessions.keys().cloned().map(Record::Session));
    all.extend(state.products.keys().map(|id| Record::Product(*id)));
    all.extend(state.warehouses.keys().map(|id| Record::Warehouse(*id)));
    all.extend(state.stock.keys().map(|(p, w)| Record::Stock(*p, *w)));
    all.extend(state.carts.keys().map(|id| Record::Cart(*id)));
    for (id, order) in &state.orders {
        all.insert(Record::OrderTerms(*id));
        all.insert(Record::OrderState(*id));
        all.extend((0..order.history().len() as u64).map(|n| Record::OrderEvent(*id, n)));
    }
    all.extend(state.keys.keys().map(|(u, k)| Record::Key(*u, k.clone())));
    all.extend(state.outbox.keys().map(|id| Record::Outbox(*id)));
    all.extend(state.links.keys().cloned().map(Record::Link));
    all.extend(state.pictures.keys().cloned().map(Record::Picture));
    all.extend((0..state.payment_records.len() as u64).map(Record::Payment));
    all.extend(state.inbox.keys().map(|id| Record::Inbox(*id)));
    all.extend(state.campaigns.keys().map(|id| Record::Campaign(*id)));
    all.extend(
        state
            .campaign_clock
            .keys()
            .map(|id| Record::CampaignClock(*id)),
    );
    all.extend(state.leases.keys().cloned().map(Record::Lease));
    all
}

/// Every pair of `state`, sorted by key as a key-value engine's scan returns them.
pub(in crate::memory) fn pairs_of(state: &State) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut pairs: Vec<_> = records_of(state)
        .iter()
        .map(|record| {
            let (key, value) = state.encode(record);
            (key, value.expect("a record the state has has a value"))
        })
        .collect();
    pairs.sort();
    pairs
}

fn loaded(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Result<State, StoreError> {
    let mut state = State::default();
    for (key, value) in pairs {
        state.load(&key, &value)?;
    }
    state.finish_load()?;
    Ok(state)
}

fn new_user(email: &str, customer: bool, seller: bool) -> NewUser {
    NewUser {
        email: Email::parse(email).unwrap(),
        name: PersonName::parse("Pat").unwrap(),
        roles: Roles::new(customer, seller).unwrap(),
        // A valid PHC string; nothing here verifies passwords.
        password: PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g").unwrap(),
        created: Timestamp(5),
    }
}

fn q(units: i64) -> Quantity {
    Quantity::new(units).unwrap()
}

/// A store with at least one record of every kind, made through the store's own calls.
async fn full_store() -> MemoryStore {
    let store = MemoryStore::new();
    fill(&store).await;
    store
}

/// Puts at least one record of every kind into `store`, through its own calls.
pub(in crate::memory) async fn fill(store: &MemoryStore) {
    let seller = store
        .create_user(new_user("seller@example.com", false, true))
        .await
        .unwrap();
    let mut buyer = store
        .create_user(new_user("buyer@example.com", true, false))
        .await
        .unwrap();
    buyer.promotions = true;
    buyer.addresses = vec![Address::new("home", Location::new(3, -4)).unwrap()];
    buyer.payment_methods = vec![PaymentMethod {
        token: "tok_1".into(),
        brand: CardBrand::Visa,
        last4: "4242".into(),
    }];
    store.update_user(&buyer).await.unwrap();
    let mug = store
        .create_product(NewProduct {
            seller: seller.id,
            name: ProductName::parse("Mug").unwrap(),
            description: Description::parse("A mug.").unwrap(),
            category: Category::parse("kitchen").unwrap(),
            price: Money::from_minor(500, Currency::USD).unwrap(),
            weight: Weight::grams(250).unwrap(),
            images: vec![],
        })
        .await
        .unwrap();
    let w = WarehouseId::new(1).unwrap();
    store
        .put_warehouse(WarehouseSite {
            id: w,
            location: Location::new(2, 3),
        })
        .await
        .unwrap();
    let stock = |on_hand, incoming, reserved| StockDelta {
        warehouse: w,
        product: mug.id,
        on_hand,
        incoming,
        reserved,
    };
    store.change_stock(&[stock(10, 2, 0)]).await.unwrap();

    let mut cart = Cart::new();
    cart.add(mug.id, q(2)).unwrap();
    store.save_cart(buyer.id, &cart).await.unwrap();
    let id = store.allocate_order_id().await.unwrap();
    let mut order = Order::place(
        NewOrder {
            id,
            customer: buyer.id,
            lines: vec![OrderLine {
                product: mug.id,
                name: mug.name.clone(),
                quantity: q(2),
                unit_price: mug.price,
            }],
            delivery: DeliveryOption::Standard,
            destination: Location::new(3, -4),
            ups_account: None,
            payment: "auth-1".into(),
            shipping: Money::from_minor(299, Currency::USD).unwrap(),
        },
        Timestamp(10),
    )
    .unwrap();
    order.assign(w, ship_id_of(id), Timestamp(11));
    store
        .place_order(
            buyer.id,
            PlaceOrder {
                order,
                cart,
                reservations: vec![stock(0, 0, 2)],
                // Slashes and more: only a key's last component holds arbitrary text.
                idempotency_key: "checkout/1 é:x".into(),
                fingerprint: "fp-1".into(),
            },
        )
        .await
        .unwrap();
    let mut cart = Cart::new();
    cart.add(mug.id, q(1)).unwrap();
    store.save_cart(buyer.id, &cart).await.unwrap();

    store
        .commit_step(StepCommit {
            effects: vec![
                Effect::Warehouse(WarehouseCommand::Purchase {
                    warehouse: w,
                    items: vec![Item {
                        product: mug.id,
                        description: "Mug".into(),
                        count: q(5),
                    }],
                }),
                Effect::Notify {
                    user: seller.id,
                    notification: Notification::LowStock {
                        product: mug.id,
                        available: 3,
                    },
                },
            ],
            links: vec![("world/1".into(), vec![0, 1, 2, 255])],
            ..StepCommit::default()
        })
        .await
        .unwrap();

    let notice = |key: &str, user, notification, mail| NewNotification {
        key: key.into(),
        user,
        at: Timestamp(20),
        notification,
        mail,
    };
    let filed = store
        .file_notifications(vec![
            notice(
                "welcome/2",
                buyer.id,
                Notification::Welcome,
                MailState::Pending,
            ),
            notice(
                "promo/1/2",
                buyer.id,
                Notification::Promotion {
                    seller: seller.id,
                    text: "Sale!".into(),
                },
                MailState::Pending,
            ),
            notice(
                "welcome/1",
                seller.id,
                Notification::Welcome,
                MailState::NotMailed,
            ),
        ])
        .await
        .unwrap();
    store
        .record_mail(filed[1].id, MailState::Sent { at: Timestamp(30) })
        .await
        .unwrap();
    store
        .mark_notifications_read(seller.id, None)
        .await
        .unwrap();

    let text = PromotionText::parse("Sale!").unwrap();
    store
        .start_campaign(seller.id, &text, Timestamp(40), 1, Duration::from_secs(60))
        .await
        .unwrap();
    store
        .claim_lease(
            "fulfilment",
            "node-a",
            Timestamp(50),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    store
        .create_session(&LoginSession {
            user: buyer.id,
            token: TokenHash::from_stored(&"ab".repeat(32)).unwrap(),
            expires: Timestamp(1000),
        })
        .await
        .unwrap();
    store
        .put_picture(&Picture {
            id: PictureId::parse("0123456789abcdef0123456789abcdef").unwrap(),
            thumbnail: vec![0xff, 0xd8, 1],
            large: vec![0xff, 0xd8, 2, 3],
        })
        .await
        .unwrap();
    // Twelve lines, so `payment/10` and `payment/11` come before `payment/2` in a scan.
    let lines: Vec<String> = (0..12).map(|n| format!("line {n}: ok")).collect();
    store.append_payment_records(&lines).await.unwrap();
}

#[tokio::test]
async fn every_record_round_trips_byte_for_byte() {
    let store = full_store().await;
    let state = store.state.lock().unwrap();
    let records = records_of(&state);
    let tables: BTreeSet<&str> = records.iter().map(Record::table).collect();
    assert_eq!(tables.len(), 19, "a record of every kind: {tables:?}");
    let pairs = pairs_of(&state);
    assert!(pairs.iter().all(|(key, _)| key.starts_with(PREFIX)));

    for order in [pairs.clone(), pairs.iter().rev().cloned().collect()] {
        let back = loaded(order).unwrap();
        assert_eq!(records_of(&back), records);
        assert_eq!(pairs_of(&back), pairs);
        assert_eq!(back.emails, state.emails);
        assert_eq!(back.inbox_keys, state.inbox_keys);
        assert_eq!(back.filed_as, state.filed_as);
        assert_eq!(back.mail_queue, state.mail_queue);
        assert_eq!(back.mail_queue.len(), 1, "one mail still pending");
        assert_eq!(back.fingerprints, state.fingerprints);
        assert_eq!(back.payment_records, state.payment_records);
        assert_eq!(back.users, state.users);
        assert_eq!(back.orders, state.orders);
        assert_eq!(back.inbox, state.inbox);
        assert_eq!(back.outbox, state.outbox);
        assert_eq!(back.pictures, state.pictures);
        assert_eq!(back.links, state.links);
        assert_eq!(back.stock, state.stock);
        assert_eq!(back.campaign_clock, state.campaign_clock);
    }
}

#[tokio::test]
async fn a_record_the_state_lacks_has_no_value() {
    let store = full_store().await;
    let state = store.state.lock().unwrap();
    for gone in [
        Record::Payment(12),
        Record::Link("nope".into()),
        Record::Outbox(99),
    ] {
        let (key, value) = state.encode(&gone);
        assert!(key.starts_with(PREFIX) && value.is_none(), "{gone:?}");
    }
    assert_eq!(state.encode(&Record::Counters).0, b"weshop/counters");
    assert_eq!(
        state
            .encode(&Record::Stock(
                weshop_core::domain::ProductId::new(3).unwrap(),
                WarehouseId::new(2).unwrap()
            ))
            .0,
        b"weshop/stock/3/2"
    );
}

fn corrupt_message(result: Result<(), StoreError>) -> String {
    match result {
        Err(StoreError::Corrupt(why)) => why,
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_pairs_are_corrupt_and_name_their_key() {
    let store = full_store().await;
    let pairs = pairs_of(&store.state.lock().unwrap());
    let (user_key, user_value) = pairs
        .iter()
        .find(|(key, _)| key.starts_with(b"weshop/user/"))
        .unwrap()
        .clone();
    let mut state = State::default();
    let why = corrupt_message(state.load(b"weshop/nosuch/1", b"{}"));
    assert!(
        why.contains("weshop/nosuch/1") && why.contains("nosuch"),
        "{why}"
    );
    let why = corrupt_message(state.load(&user_key, b"{\"id\": 1"));
    assert!(why.contains("weshop/user/"), "{why}");
    corrupt_message(state.load(b"elsewhere/user/1", &user_value));
    corrupt_message(state.load(&user_key, &[0xff, 0xfe]));
    // A value under another record's key.
    corrupt_message(state.load(b"weshop/user/99", &user_value));
    // Parses as JSON, but not into the domain: more reserved than there is.
    let stock = br#"{"product":1,"warehouse":1,"on_hand":1,"incoming":0,"reserved":2}"#;
    corrupt_message(state.load(b"weshop/stock/1/1", stock));
    let counters = br#"{"campaign":0,"notification":0,"user":-1,"product":0,"order":0,"outbox":0}"#;
    corrupt_message(state.load(b"weshop/counters", counters));
}

#[tokio::test]
async fn inconsistent_records_fail_the_load() {
    let store = full_store().await;
    let pairs = pairs_of(&store.state.lock().unwrap());
    let without = |table: &[u8]| {
        let table = [PREFIX, table].concat();
        pairs
            .iter()
            .filter(move |(key, _)| !key.starts_with(&table))
            .cloned()
            .collect::<Vec<_>>()
    };
    let without_key = |gone: &[u8]| {
        pairs
            .iter()
            .filter(|(key, _)| key.as_slice() != gone)
            .cloned()
            .collect::<Vec<_>>()
    };
    // A stored value as text, with `from` replaced by `to`.
    let edited = |key: &[u8], from: &str, to: &str| {
        let (_, value) = pairs.iter().find(|(k, _)| k.as_slice() == key).unwrap();
        String::from_utf8(value.clone())
            .unwrap()
            .replace(from, to)
            .into_bytes()
    };
    let fails = |pairs: Vec<(Vec<u8>, Vec<u8>)>| match loaded(pairs) {
        Err(StoreError::Corrupt(why)) => why,
        other => panic!("expected Corrupt, got {:?}", other.map(|_| ())),
    };
    // No counters: the stored ids are above them.
    assert!(fails(without(b"counters")).contains("counter"));
    // A key whose order is gone (all its parts).
    assert!(fails(without(b"order_")).contains("placed order 1, which is missing"));
    // An order's parts without its state, and a state without its terms.
    assert!(fails(without(b"order_state/")).contains("parts of order 1, whose state is missing"));
    assert!(fails(without(b"order_terms/")).contains("order 1's terms are missing"));
    // A hole in an order's events.
    assert!(fails(without_key(b"weshop/order_event/1/1")).contains("order 1's event 1 is missing"));
    // An order's events past what its record says it has.
    let mut past = pairs.clone();
    past.push((
        b"weshop/order_event/1/2".to_vec(),
        edited(
            b"weshop/order_event/1/1",
            "\"position\":1",
            "\"position\":2",
        ),
    ));
    assert!(fails(past).contains("order 1 has events past its 2"));
    // An order stored both whole and in parts.
    let order = full_store_order(&pairs);
    let mut twice = pairs.clone();
    twice.push((b"weshop/order/1".to_vec(), order.into_bytes()));
    assert!(fails(twice).contains("order 1 is stored both whole and in parts"));
    // A hole in the payment records.
    assert!(fails(without_key(b"weshop/payment/3")).contains("payment record 3"));
    // Two users with one email.
    let mut twins = without_key(b"weshop/counters");
    twins.push((
        b"weshop/user/3".to_vec(),
        edited(b"weshop/user/2", "\"id\":2", "\"id\":3"),
    ));
    twins.push((
        b"weshop/counters".to_vec(),
        edited(b"weshop/counters", "\"user\":2", "\"user\":3"),
    ));
    assert!(fails(twins).contains("share the email"));
}

/// Order 1 of `pairs` as one whole document (as orders were stored before their parts were
/// kept apart).
fn full_store_order(pairs: &[(Vec<u8>, Vec<u8>)]) -> String {
    let back = loaded(pairs.to_vec()).unwrap();
    to_json(&OrderDoc::from(back.orders.values().next().unwrap()))
}

/// An order stored whole (as before its parts were kept apart) loads as the same order, and
/// its next change writes it in parts, every event, and deletes the whole record.
#[tokio::test]
async fn an_order_stored_whole_loads_and_is_then_kept_in_parts() {
    let store = full_store().await;
    let pairs = pairs_of(&store.state.lock().unwrap());
    let order = store
        .state
        .lock()
        .unwrap()
        .orders
        .values()
        .next()
        .unwrap()
        .clone();
    let events = order.history().len();
    assert!(events >= 2, "placed and assigned at least: {events}");
    let mut whole: Vec<_> = pairs
        .iter()
        .filter(|(key, _)| !key.starts_with(b"weshop/order_"))
        .cloned()
        .collect();
    whole.push((
        format!("weshop/order/{}", order.id()).into_bytes(),
        full_store_order(&pairs).into_bytes(),
    ));
    let mut back = loaded(whole).unwrap();
    assert_eq!(back.orders, store.state.lock().unwrap().orders);

    back.pending = Some(Default::default());
    let mut changed = order.clone();
    changed.truck_arrived(TruckId::new(4).unwrap(), Timestamp(30));
    back.put_order(changed);
    let touched = std::mem::take(&mut back.pending.as_mut().unwrap().changed);
    let id = order.id();
    let mut expected = vec![
        Record::Order(id),
        Record::OrderTerms(id),
        Record::OrderState(id),
    ];
    expected.extend((0..=events as u64).map(|n| Record::OrderEvent(id, n)));
    assert_eq!(touched, expected);
    assert_eq!(
        back.encode(&Record::Order(id)).1,
        None,
        "the whole record goes"
    );
}

/// A change journals the order's state and only the events it added; its terms were
/// written when it was placed.
#[tokio::test]
async fn a_change_writes_only_the_state_and_the_events_it_added() {
    let store = full_store().await;
    let mut state = store.state.lock().unwrap();
    let order = state.orders.values().next().unwrap().clone();
    let (id, events) = (order.id(), order.history().len() as u64);
    state.pending = Some(Default::default());
    let mut changed = order.clone();
    changed.truck_arrived(TruckId::new(4).unwrap(), Timestamp(30));
    state.put_order(changed.clone());
    let touched = std::mem::take(&mut state.pending.as_mut().unwrap().changed);
    assert_eq!(
        touched,
        vec![Record::OrderState(id), Record::OrderEvent(id, events)]
    );
    let (_, head) = state.encode(&Record::OrderState(id));
    let head = String::from_utf8(head.unwrap()).unwrap();
    assert!(
        head.contains(&format!("\"events\":{}", events + 1)) && !head.contains("lines"),
        "the state counts the events and holds no terms: {head}"
    );
    let (key, event) = state.encode(&Record::OrderEvent(id, events));
    assert_eq!(
        key,
        format!("weshop/order_event/{id}/{events}").into_bytes()
    );
    assert!(
        String::from_utf8(event.unwrap())
            .unwrap()
            .contains("truck_arrived")
    );
    // The same order again writes its state alone.
    state.put_order(changed);
    let touched = std::mem::take(&mut state.pending.as_mut().unwrap().changed);
    assert_eq!(touched, vec![Record::OrderState(id)]);
    // A new order: terms, state and every event.
    let mut parts = order.to_parts();
    parts.id = weshop_core::domain::OrderId::new(77).unwrap();
    state.put_order(Order::from_parts(parts).unwrap());
    let touched = std::mem::take(&mut state.pending.as_mut().unwrap().changed);
    let new = weshop_core::domain::OrderId::new(77).unwrap();
    let mut expected = vec![Record::OrderTerms(new), Record::OrderState(new)];
    expected.extend((0..events).map(|n| Record::OrderEvent(new, n)));
    assert_eq!(touched, expected);
}
