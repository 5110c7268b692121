use std::time::Duration;

use weshop_proto::{world_amazon as wa, world_ups as wu};

use super::*;
use crate::protocols::{TruckCommand, TruckEvent, WorldCommand, WorldEvent};

fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

fn world(flakiness: u8, seed: u64) -> World {
    let mut w = World::new(
        1,
        TimeModel::default(),
        flakiness,
        seed,
        SessionConfig::default(),
    );
    w.add_warehouse(1, (0, 0)).unwrap();
    w.add_truck(1, (0, 0)).unwrap();
    w.set_connected(Side::Amazon, true);
    w.set_connected(Side::Ups, true);
    w
}

fn amazon_events(w: &mut World, now: Instant) -> Vec<WorldEvent> {
    let mut events = Vec::new();
    while let Some(out) = w.poll_amazon(now) {
        events.extend(
            WorldEvent::disassemble(out.message)
                .items
                .into_iter()
                .map(|(_, e)| e),
        );
    }
    events
}

fn ups_events(w: &mut World, now: Instant) -> Vec<TruckEvent> {
    let mut events = Vec::new();
    while let Some(out) = w.poll_ups(now) {
        events.extend(
            TruckEvent::disassemble(out.message)
                .items
                .into_iter()
                .map(|(_, e)| e),
        );
    }
    events
}

fn commands(items: Vec<WorldCommand>) -> wa::ACommands {
    WorldCommand::assemble(
        items
            .into_iter()
            .enumerate()
            .map(|(i, c)| (i as i64 + 1, c))
            .collect(),
        vec![],
    )
}

#[test]
fn durations_follow_the_time_model_and_simspeed() {
    let mut w = world(0, 1);
    let buy = WorldCommand::Buy(wa::APurchaseMore {
        whnum: 1,
        things: vec![wa::AProduct {
            id: 1,
            description: "x".into(),
            count: 1,
        }],
        seqnum: 0,
    });
    w.handle_amazon(at(0), commands(vec![buy.clone()]));
    amazon_events(&mut w, at(0));
    assert_eq!(
        w.poll_timeout(),
        Some(at(1000)),
        "a purchase takes 1 s at simspeed 100"
    );
    w.handle_timeout(at(999));
    assert_eq!(w.stock(1, 1), 0);
    w.handle_timeout(at(1000));
    assert_eq!(w.stock(1, 1), 1);

    let mut faster = commands(vec![]);
    faster.simspeed = Some(1000);
    w.handle_amazon(at(2000), faster);
    let mut again = WorldCommand::assemble(vec![(9, buy)], vec![]);
    again.simspeed = None;
    w.handle_amazon(at(2000), again);
    amazon_events(&mut w, at(2000));
    w.handle_timeout(at(2100));
    assert_eq!(w.stock(1, 1), 2, "ten times faster at simspeed 1000");
}

#[test]
fn a_pickup_interrupts_a_delivery_and_the_rest_can_be_delivered_later() {
    let mut w = world(0, 2);
    w.add_warehouse(2, (0, 10)).unwrap();
    let buy = WorldCommand::Buy(wa::APurchaseMore {
        whnum: 1,
        things: vec![wa::AProduct {
            id: 1,
            description: "x".into(),
            count: 2,
        }],
        seqnum: 0,
    });
    w.handle_amazon(at(0), commands(vec![buy]));
    w.handle_timeout(at(1000));
    let packs = (1..=2)
        .map(|shipid| {
            WorldCommand::Pack(wa::APack {
                whnum: 1,
                things: vec![wa::AProduct {
                    id: 1,
                    description: "x".into(),
                    count: 1,
                }],
                shipid,
                seqnum: 0,
            })
        })
        .collect();
    let mut packs = commands(packs);
    for (i, p) in packs.topack.iter_mut().enumerate() {
        p.seqnum = 10 + i as i64;
    }
    w.handle_amazon(at(1000), packs);
    w.handle_timeout(at(2000));
    w.handle_ups(
        at(2000),
        TruckCommand::assemble(
            vec![(
                1,
                TruckCommand::Pickup(wu::UGoPickup {
                    truckid: 1,
                    whid: 1,
                    seqnum: 0,
                }),
            )],
            vec![],
        ),
    );
    w.handle_timeout(at(2000));
    assert_eq!(
        w.truck(1, at(2000)).unwrap().0,
        TruckStatus::ArriveWarehouse
    );
    let loads = (1..=2)
        .map(|shipid| {
            (
                20 + shipid,
                WorldCommand::Load(wa::APutOnTruck {
                    whnum: 1,
                    truckid: 1,
                    shipid,
                    seqnum: 0,
                }),
            )
        })
        .collect();
    w.handle_amazon(at(2000), WorldCommand::assemble(loads, vec![]));
    w.handle_timeout(at(3000));
    assert_eq!(w.package_status(1), Some(PackageStatus::Loaded));

    // Deliver both, far apart; a pickup arrives after the first drop.
    let to = |packageid, x, y| wu::UDeliveryLocation { packageid, x, y };
    let deliver = wu::UGoDeliver {
        truckid: 1,
        packages: vec![to(1, 3, 4), to(2, 100, 100)],
        seqnum: 0,
    };
    w.handle_ups(
        at(3000),
        TruckCommand::assemble(vec![(2, TruckCommand::Deliver(deliver))], vec![]),
    );
    w.handle_timeout(at(3500));
    assert_eq!(w.package_status(1), Some(PackageStatus::Delivered));
    assert_eq!(w.package_status(2), Some(PackageStatus::Delivering));
    let (status, position) = w.truck(1, at(4000)).unwrap();
    assert_eq!(status, TruckStatus::Delivering);
    assert!(
        position.0 > 3 && position.0 < 100,
        "the truck is on its way: {position:?}"
    );
    w.handle_ups(
        at(4000),
        TruckCommand::assemble(
            vec![(
                3,
                TruckCommand::Pickup(wu::UGoPickup {
                    truckid: 1,
                    whid: 2,
                    seqnum: 0,
                }),
            )],
            vec![],
        ),
    );
    assert_eq!(
        w.package_status(2),
        Some(PackageStatus::Loaded),
        "still on the truck"
    );
    w.handle_timeout(at(60_000));
    let events = ups_events(&mut w, at(60_000));
    let delivered: Vec<i64> = events
        .iter()
        .filter_map(|e| match e {
            TruckEvent::Delivered(d) => Some(d.packageid),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, vec![1], "package 2 was not dropped");
    assert_eq!(
        w.truck(1, at(60_000)).unwrap().0,
        TruckStatus::ArriveWarehouse
    );

    let deliver = wu::UGoDeliver {
        truckid: 1,
        packages: vec![to(2, 1, 1)],
        seqnum: 0,
    };
    w.handle_ups(
        at(60_000),
        TruckCommand::assemble(vec![(4, TruckCommand::Deliver(deliver))], vec![]),
    );
    w.handle_timeout(at(70_000));
    assert_eq!(w.package_status(2), Some(PackageStatus::Delivered));
    assert_eq!(w.truck(1, at(70_000)), Some((TruckStatus::Idle, (1, 1))));
}

#[test]
fn flakiness_is_seeded_and_close_to_its_share() {
    let dropped = |seed| {
        let mut w = world(30, seed);
        for i in 0..1000 {
            let q = WorldCommand::Query(wa::AQuery {
                packageid: 1,
                seqnum: 0,
            });
            w.handle_amazon(at(0), WorldCommand::assemble(vec![(i, q)], vec![]));
        }
        w.stats().dropped
    };
    assert_eq!(dropped(5), dropped(5));
    let share = dropped(6);
    assert!((250..350).contains(&share), "30% of 1000 dropped: {share}");
}

#[test]
fn events_wait_while_the_shop_is_away() {
    let mut w = world(0, 3);
    let buy = WorldCommand::Buy(wa::APurchaseMore {
        whnum: 1,
        things: vec![wa::AProduct {
            id: 1,
            description: "x".into(),
            count: 1,
        }],
        seqnum: 0,
    });
    w.handle_amazon(at(0), commands(vec![buy]));
    amazon_events(&mut w, at(0));
    w.set_connected(Side::Amazon, false);
    w.handle_timeout(at(5000));
    assert!(w.poll_amazon(at(5000)).is_none(), "nobody to send to");
    w.set_connected(Side::Amazon, true);
    let events = amazon_events(&mut w, at(6000));
    assert!(
        matches!(&events[..], [WorldEvent::Arrived(_)]),
        "{events:?}"
    );
}

mod hostile {
    use proptest::prelude::*;

    use super::*;

    fn product() -> impl Strategy<Value = wa::AProduct> {
        (
            prop_oneof![9 => 1i64..3, 1 => any::<i64>()],
            ".{0,4}",
            prop_oneof![9 => 1i32..4, 1 => any::<i32>()],
        )
            .prop_map(|(id, description, count)| wa::AProduct {
                id,
                description,
                count,
            })
    }

    /// Mostly the warehouses and trucks that exist (1 and 2), sometimes anything.
    fn small_i32() -> impl Strategy<Value = i32> {
        prop_oneof![9 => 1i32..3, 1 => any::<i32>()]
    }

    fn amazon_item() -> impl Strategy<Value = WorldCommand> {
        prop_oneof![
            3 => (small_i32(), prop::collection::vec(product(), 0..3))
                .prop_map(|(whnum, things)| WorldCommand::Buy(wa::APurchaseMore { whnum, things, seqnum: 0 })),
            3 => (small_i32(), prop::collection::vec(product(), 0..3), 0i64..6)
                .prop_map(|(whnum, things, shipid)| WorldCommand::Pack(wa::APack { whnum, things, shipid, seqnum: 0 })),
            3 => (small_i32(), small_i32(), 0i64..6).prop_map(|(whnum, truckid, shipid)| {
                WorldCommand::Load(wa::APutOnTruck { whnum, truckid, shipid, seqnum: 0 })
            }),
            1 => (0i64..6).prop_map(|packageid| WorldCommand::Query(wa::AQuery { packageid, seqnum: 0 })),
        ]
    }

    fn ups_item() -> impl Strategy<Value = TruckCommand> {
        let location = (
            0i64..6,
            prop_oneof![9 => -20i32..20, 1 => any::<i32>()],
            prop_oneof![9 => -20i32..20, 1 => any::<i32>()],
        )
            .prop_map(|(packageid, x, y)| wu::UDeliveryLocation { packageid, x, y });
        prop_oneof![
            (small_i32(), small_i32()).prop_map(|(truckid, whid)| TruckCommand::Pickup(
                wu::UGoPickup {
                    truckid,
                    whid,
                    seqnum: 0
                }
            )),
            (small_i32(), prop::collection::vec(location, 0..3)).prop_map(|(truckid, packages)| {
                TruckCommand::Deliver(wu::UGoDeliver {
                    truckid,
                    packages,
                    seqnum: 0,
                })
            }),
            small_i32().prop_map(|truckid| TruckCommand::Query(wu::UQuery { truckid, seqnum: 0 })),
        ]
    }

    #[derive(Debug, Clone)]
    enum Step {
        Amazon(Vec<WorldCommand>, Option<u32>, Vec<i64>),
        Ups(Vec<TruckCommand>, Option<u32>, Vec<i64>),
        Wait(u64),
        Reconnect,
        /// A whole valid package flow (with time passing), for noise to interleave with.
        Flow {
            shipid: i64,
            truck: i32,
            to: (i32, i32),
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        let speed = prop_oneof![8 => Just(None), 2 => prop::option::of(prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>()])];
        let acks = prop::collection::vec(prop_oneof![1i64..20, any::<i64>()], 0..3);
        prop_oneof![
            3 => (prop::collection::vec(amazon_item(), 1..4), speed.clone(), acks.clone()).prop_map(|(c, s, a)| Step::Amazon(c, s, a)),
            2 => (prop::collection::vec(ups_item(), 1..4), speed, acks).prop_map(|(c, s, a)| Step::Ups(c, s, a)),
            3 => prop_oneof![9 => 0u64..2_000, 1 => Just(10_000_000)].prop_map(Step::Wait),
            1 => Just(Step::Reconnect),
            1 => (0i64..6, 1i32..3, (-20i32..20, -20i32..20)).prop_map(|(shipid, truck, to)| Step::Flow { shipid, truck, to }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Whatever peers send, in any order and at any speed, the world neither panics nor lets
        /// stock go negative, and keeps answering.
        #[test]
        fn survives_anything_peers_send(steps in prop::collection::vec(step(), 1..80), flakiness in prop_oneof![Just(0u8), 0u8..99]) {
            let mut w = World::new(1, TimeModel::default(), flakiness, 7, SessionConfig::default());
            w.add_warehouse(1, (0, 0)).unwrap();
            w.add_warehouse(2, (i32::MAX, i32::MIN)).unwrap();
            w.add_truck(1, (0, 0)).unwrap();
            w.add_truck(2, (i32::MIN, i32::MAX)).unwrap();
            w.set_connected(Side::Amazon, true);
            w.set_connected(Side::Ups, true);
            let mut now = at(0);
            let mut seq = 1;
            for step in steps {
                match step {
                    Step::Amazon(items, simspeed, acks) => {
                        let numbered = items.into_iter().map(|c| { seq += 1; (seq, c) }).collect();
                        let mut message = WorldCommand::assemble(numbered, acks);
                        message.simspeed = simspeed;
                        w.handle_amazon(now, message);
                    }
                    Step::Ups(items, simspeed, acks) => {
                        let numbered = items.into_iter().map(|c| { seq += 1; (seq, c) }).collect();
                        let mut message = TruckCommand::assemble(numbered, acks);
                        message.simspeed = simspeed;
                        w.handle_ups(now, message);
                    }
                    Step::Wait(ms) => now += Duration::from_millis(ms),
                    Step::Reconnect => {
                        w.set_connected(Side::Amazon, false);
                        w.set_connected(Side::Amazon, true);
                    }
                    Step::Flow { shipid, truck, to } => {
                        let thing = || wa::AProduct { id: 1, description: "x".into(), count: 1 };
                        let location = wu::UDeliveryLocation { packageid: shipid, x: to.0, y: to.1 };
                        let script = [
                            (true, Some(WorldCommand::Buy(wa::APurchaseMore { whnum: 1, things: vec![thing()], seqnum: 0 })), None),
                            (true, Some(WorldCommand::Pack(wa::APack { whnum: 1, things: vec![thing()], shipid, seqnum: 0 })), None),
                            (false, None, Some(TruckCommand::Pickup(wu::UGoPickup { truckid: truck, whid: 1, seqnum: 0 }))),
                            (true, Some(WorldCommand::Load(wa::APutOnTruck { whnum: 1, truckid: truck, shipid, seqnum: 0 })), None),
                            (false, None, Some(TruckCommand::Deliver(wu::UGoDeliver { truckid: truck, packages: vec![location], seqnum: 0 }))),
                        ];
                        for (_, amazon, ups) in script {
                            seq += 1;
                            if let Some(c) = amazon {
                                w.handle_amazon(now, WorldCommand::assemble(vec![(seq, c)], vec![]));
                            }
                            if let Some(c) = ups {
                                w.handle_ups(now, TruckCommand::assemble(vec![(seq, c)], vec![]));
                            }
                            now += Duration::from_secs(5);
                            w.handle_timeout(now);
                        }
                    }
                }
                w.handle_timeout(now);
                amazon_events(&mut w, now);
                ups_events(&mut w, now);
                for wh in [1, 2] {
                    for product in [1, 2] {
                        prop_assert!(w.stock(wh, product) >= 0);
                    }
                }
                for truck in [1, 2] {
                    w.truck(truck, now).unwrap();
                }
            }
        }
    }
}

/// What the UPS sim relies on when a truck leaves a package behind (issue 15): a package still
/// being loaded as its truck leaves ends up on that truck, which can deliver it from the road.
#[test]
fn a_package_loading_as_its_truck_leaves_is_on_it_and_delivered_by_it() {
    let mut w = world(0, 3);
    let buy = WorldCommand::Buy(wa::APurchaseMore {
        whnum: 1,
        things: vec![wa::AProduct {
            id: 1,
            description: "x".into(),
            count: 2,
        }],
        seqnum: 0,
    });
    w.handle_amazon(at(0), commands(vec![buy]));
    w.handle_timeout(at(1000));
    let pack = |shipid| {
        WorldCommand::Pack(wa::APack {
            whnum: 1,
            things: vec![wa::AProduct {
                id: 1,
                description: "x".into(),
                count: 1,
            }],
            shipid,
            seqnum: 0,
        })
    };
    let load = |shipid| {
        WorldCommand::Load(wa::APutOnTruck {
            whnum: 1,
            truckid: 1,
            shipid,
            seqnum: 0,
        })
    };
    let deliver = |seq, packageid| {
        let location = wu::UDeliveryLocation {
            packageid,
            x: 50,
            y: 50,
        };
        let deliver = wu::UGoDeliver {
            truckid: 1,
            packages: vec![location],
            seqnum: 0,
        };
        TruckCommand::assemble(vec![(seq, TruckCommand::Deliver(deliver))], vec![])
    };
    w.handle_amazon(
        at(1000),
        WorldCommand::assemble(vec![(10, pack(1)), (11, pack(2))], vec![]),
    );
    let pickup = TruckCommand::Pickup(wu::UGoPickup {
        truckid: 1,
        whid: 1,
        seqnum: 0,
    });
    w.handle_ups(at(2000), TruckCommand::assemble(vec![(1, pickup)], vec![]));
    w.handle_timeout(at(2000));
    w.handle_amazon(
        at(2000),
        WorldCommand::assemble(vec![(20, load(1))], vec![]),
    );
    w.handle_timeout(at(3000));
    assert_eq!(w.package_status(1), Some(PackageStatus::Loaded));
    // Package 2 starts loading; the truck leaves with package 1 in the same instant.
    w.handle_amazon(
        at(3000),
        WorldCommand::assemble(vec![(21, load(2))], vec![]),
    );
    w.handle_ups(at(3000), deliver(2, 1));
    assert_eq!(w.truck(1, at(3000)).unwrap().0, TruckStatus::Delivering);
    w.handle_timeout(at(4000));
    assert_eq!(w.package_status(2), Some(PackageStatus::Loaded));
    w.handle_ups(at(4000), deliver(3, 2));
    w.handle_timeout(at(600_000));
    assert_eq!(w.package_status(2), Some(PackageStatus::Delivered));
    let errors: Vec<_> = ups_events(&mut w, at(600_000))
        .into_iter()
        .filter(|e| matches!(e, TruckEvent::Error(_)))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}
