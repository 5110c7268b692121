use super::*;
use crate::{protocols::TruckCommand, sim::time_model::distance};

fn at(ms: u64) -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now) + Duration::from_millis(ms)
}

fn request(
    ship_id: i64,
    warehouse: (i32, i32, i32),
    dest: (i32, i32),
    user: Option<&str>,
) -> ShopMessage {
    ShopMessage::RequestTruck(ua::RequestTruck {
        seq_num: 0,
        warehouse_id: warehouse.0,
        warehouse_x: warehouse.1,
        warehouse_y: warehouse.2,
        dest_x: dest.0,
        dest_y: dest.1,
        ship_id,
        ups_order: user.map(|u| ua::UpsOrder {
            up_suser_id: u.into(),
            product: vec![],
        }),
    })
}

fn world_commands(ups: &mut UpsSim, now: Instant) -> Vec<TruckCommand> {
    std::iter::from_fn(|| ups.poll_world(now))
        .flat_map(|m| {
            TruckCommand::disassemble(m)
                .items
                .into_iter()
                .map(|(_, c)| c)
        })
        .collect()
}

fn shop_messages(ups: &mut UpsSim, now: Instant) -> Vec<UpsMessage> {
    std::iter::from_fn(|| ups.poll_shop(now))
        .flat_map(|m| UpsMessage::disassemble(m).items.into_iter().map(|(_, c)| c))
        .collect()
}

fn arrive(ups: &mut UpsSim, seq: i64, truckid: i32, at_: (i32, i32), now: Instant) {
    let done = wu::UFinished {
        truckid,
        x: at_.0,
        y: at_.1,
        status: "ARRIVE WAREHOUSE".into(),
        seqnum: 0,
    };
    // Like the world, ack every command it has received along with the event.
    let acks = ups
        .world
        .state()
        .unacked
        .iter()
        .map(|(seqnum, _)| *seqnum)
        .collect();
    ups.handle_world(
        now,
        TruckEvent::assemble(vec![(seq, TruckEvent::Completion(done))], acks),
    );
}

#[test]
fn nearest_idle_truck_goes_and_a_second_package_rides_along() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 3,
            grid: 50,
            ..UpsConfig::default()
        },
        1,
    );
    let positions: Vec<(i32, (i32, i32))> =
        ups.trucks.iter().map(|(id, t)| (*id, t.position)).collect();
    let nearest = positions
        .iter()
        .min_by(|a, b| distance(a.1, (10, 10)).total_cmp(&distance(b.1, (10, 10))))
        .unwrap()
        .0;
    let msg = ShopMessage::assemble(
        vec![
            (1, request(7, (1, 10, 10), (0, 0), None)),
            (2, request(8, (1, 10, 10), (5, 5), None)),
        ],
        vec![],
    );
    ups.handle_shop(at(0), msg);
    let pickups = world_commands(&mut ups, at(0));
    assert!(
        matches!(&pickups[..], [TruckCommand::Pickup(p)] if p.truckid == nearest && p.whid == 1),
        "{pickups:?}"
    );
    arrive(&mut ups, 1, nearest, (10, 10), at(10));
    let arrived: Vec<i64> = shop_messages(&mut ups, at(10))
        .into_iter()
        .filter_map(|m| match m {
            UpsMessage::TruckArrived(t) => Some(t.ship_id),
            _ => None,
        })
        .collect();
    assert_eq!(arrived, vec![7, 8]);
}

#[test]
fn a_truck_leaves_once_all_its_packages_are_released_and_honours_redirects() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 1,
            ..UpsConfig::default()
        },
        1,
    );
    ups.set_redirect("alice", (42, 43));
    let msg = ShopMessage::assemble(
        vec![
            (1, request(7, (1, 0, 0), (1, 1), Some("alice"))),
            (2, request(8, (1, 0, 0), (5, 5), None)),
        ],
        vec![],
    );
    ups.handle_shop(at(0), msg);
    world_commands(&mut ups, at(0));
    arrive(&mut ups, 1, 1, (0, 0), at(10));
    shop_messages(&mut ups, at(10));
    let release = |ship_id| {
        ShopMessage::Deliver(ua::DeliverPackage {
            seq_num: 0,
            ship_id,
        })
    };
    ups.handle_shop(at(20), ShopMessage::assemble(vec![(3, release(7))], vec![]));
    assert!(
        world_commands(&mut ups, at(20)).is_empty(),
        "still waiting for package 8"
    );
    ups.handle_shop(at(30), ShopMessage::assemble(vec![(4, release(8))], vec![]));
    let deliveries = world_commands(&mut ups, at(30));
    let [TruckCommand::Deliver(deliver)] = &deliveries[..] else {
        panic!("{deliveries:?}")
    };
    let drops: Vec<(i64, i32, i32)> = deliver
        .packages
        .iter()
        .map(|l| (l.packageid, l.x, l.y))
        .collect();
    assert_eq!(drops, vec![(7, 42, 43), (8, 5, 5)]);
    let dests: Vec<(i64, i32, i32)> = shop_messages(&mut ups, at(30))
        .into_iter()
        .filter_map(|m| match m {
            UpsMessage::FinalDest(f) => Some((f.ship_id, f.dest_x, f.dest_y)),
            _ => None,
        })
        .collect();
    assert_eq!(dests, vec![(7, 42, 43), (8, 5, 5)]);
}

#[test]
fn one_command_per_truck_in_flight_keeps_their_order() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 1,
            ..UpsConfig::default()
        },
        1,
    );
    let msg = ShopMessage::assemble(vec![(1, request(7, (1, 0, 0), (1, 1), None))], vec![]);
    ups.handle_shop(at(0), msg);
    world_commands(&mut ups, at(0));
    arrive(&mut ups, 1, 1, (0, 0), at(10));
    shop_messages(&mut ups, at(10));
    let release = ShopMessage::Deliver(ua::DeliverPackage {
        seq_num: 0,
        ship_id: 7,
    });
    ups.handle_shop(at(20), ShopMessage::assemble(vec![(2, release)], vec![]));
    let deliver = world_commands(&mut ups, at(20));
    assert!(
        matches!(&deliver[..], [TruckCommand::Deliver(_)]),
        "{deliver:?}"
    );
    // The only truck is now needed elsewhere while its delivery is still unacked: the
    // pickup waits until the world has acked (executed) the delivery.
    let msg = ShopMessage::assemble(vec![(3, request(8, (2, 50, 50), (1, 1), None))], vec![]);
    ups.handle_shop(at(30), msg);
    let resent = world_commands(&mut ups, at(5000));
    assert!(
        resent.iter().all(|c| matches!(c, TruckCommand::Deliver(_))),
        "{resent:?}"
    );
    let acks = ups
        .world
        .state()
        .unacked
        .iter()
        .map(|(seqnum, _)| *seqnum)
        .collect();
    ups.handle_world(at(5001), TruckEvent::assemble(vec![], acks));
    let next = world_commands(&mut ups, at(5001));
    assert!(
        matches!(&next[..], [TruckCommand::Pickup(p)] if p.whid == 2),
        "{next:?}"
    );
}

#[test]
fn a_truck_that_lingers_too_long_leaves_with_what_it_has() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 2,
            linger: Duration::from_secs(1),
            ..UpsConfig::default()
        },
        1,
    );
    let msg = ShopMessage::assemble(
        vec![
            (1, request(7, (1, 0, 0), (1, 1), None)),
            (2, request(8, (1, 0, 0), (5, 5), None)),
        ],
        vec![],
    );
    ups.handle_shop(at(0), msg);
    let truck = match &world_commands(&mut ups, at(0))[..] {
        [TruckCommand::Pickup(p)] => p.truckid,
        other => panic!("{other:?}"),
    };
    arrive(&mut ups, 1, truck, (0, 0), at(10));
    shop_messages(&mut ups, at(10));
    ups.handle_shop(
        at(20),
        ShopMessage::assemble(
            vec![(
                3,
                ShopMessage::Deliver(ua::DeliverPackage {
                    seq_num: 0,
                    ship_id: 7,
                }),
            )],
            vec![],
        ),
    );
    world_commands(&mut ups, at(20));
    ups.handle_timeout(at(900));
    let early = world_commands(&mut ups, at(900));
    assert!(
        !early.iter().any(|c| matches!(c, TruckCommand::Deliver(_))),
        "left too early: {early:?}"
    );
    ups.handle_timeout(at(1010));
    let commands = world_commands(&mut ups, at(1010));
    assert!(
        commands.iter().any(
            |c| matches!(c, TruckCommand::Deliver(d) if d.truckid == truck && d.packages.len() == 1)
        ),
        "{commands:?}"
    );
    // Package 8 was announced on this truck, so the shop loads it there: it gets no other truck
    // (see a_package_announced_with_a_truck_stays_with_it_when_the_truck_stops_lingering).
    assert!(
        !commands
            .iter()
            .any(|c| matches!(c, TruckCommand::Pickup(_))),
        "package 8 stays with its truck: {commands:?}"
    );
}

fn release(ship_id: i64) -> ShopMessage {
    ShopMessage::Deliver(ua::DeliverPackage {
        seq_num: 0,
        ship_id,
    })
}

/// Like the world, acks every command the UPS has sent, with nothing to report.
fn ack_world(ups: &mut UpsSim, now: Instant) {
    let acks = ups
        .world
        .state()
        .unacked
        .iter()
        .map(|(seqnum, _)| *seqnum)
        .collect();
    ups.handle_world(now, TruckEvent::assemble(vec![], acks));
}

/// Like a shop, acks every message the UPS has sent it.
fn ack_shop(ups: &mut UpsSim, now: Instant) {
    let acks = ups
        .shop
        .state()
        .unacked
        .iter()
        .map(|(seqnum, _)| *seqnum)
        .collect();
    ups.handle_shop(now, ShopMessage::assemble(vec![], acks));
}

/// Two packages at one warehouse, both announced with `TruckArrived` on the same truck; the
/// shop acks what it gets. Returns the truck.
fn two_packages_announced(ups: &mut UpsSim) -> i32 {
    let msg = ShopMessage::assemble(
        vec![
            (1, request(7, (1, 0, 0), (1, 1), None)),
            (2, request(8, (1, 0, 0), (5, 5), None)),
        ],
        vec![],
    );
    ups.handle_shop(at(0), msg);
    let truck = match &world_commands(ups, at(0))[..] {
        [TruckCommand::Pickup(p)] => p.truckid,
        other => panic!("{other:?}"),
    };
    arrive(ups, 1, truck, (0, 0), at(10));
    let arrived: Vec<(i64, i32)> = shop_messages(ups, at(10))
        .into_iter()
        .filter_map(|m| match m {
            UpsMessage::TruckArrived(t) => Some((t.ship_id, t.truck_id)),
            _ => None,
        })
        .collect();
    assert_eq!(arrived, vec![(7, truck), (8, truck)]);
    ack_shop(ups, at(11));
    truck
}

/// Issue 15 (2): the shop was told truck T is there for package 8 and is loading it onto T when
/// T's linger runs out. The package ends up on T, so it must stay T's: no other truck is sent
/// for it, and once the shop releases it, T delivers it.
#[test]
fn a_package_announced_with_a_truck_stays_with_it_when_the_truck_stops_lingering() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 2,
            linger: Duration::from_secs(1),
            ..UpsConfig::default()
        },
        1,
    );
    let truck = two_packages_announced(&mut ups);
    ups.handle_shop(at(20), ShopMessage::assemble(vec![(3, release(7))], vec![]));
    assert!(world_commands(&mut ups, at(20)).is_empty());
    ups.handle_timeout(at(1010));
    let left = world_commands(&mut ups, at(1010));
    let [TruckCommand::Deliver(deliver)] = &left[..] else {
        panic!("the truck leaves with package 7, and nothing else happens: {left:?}")
    };
    assert_eq!(deliver.truckid, truck);
    assert_eq!(
        deliver
            .packages
            .iter()
            .map(|l| l.packageid)
            .collect::<Vec<_>>(),
        vec![7]
    );
    assert!(
        shop_messages(&mut ups, at(1010))
            .iter()
            .all(|m| !matches!(m, UpsMessage::TruckArrived(_) | UpsMessage::Error(_))),
        "package 8 is not announced again"
    );
    ack_world(&mut ups, at(1020));
    // The world finished loading 8 onto the truck as it left; the shop releases it.
    ups.handle_shop(
        at(1500),
        ShopMessage::assemble(vec![(4, release(8))], vec![]),
    );
    let commands = world_commands(&mut ups, at(1500));
    assert!(
        matches!(&commands[..], [TruckCommand::Deliver(d)]
            if d.truckid == truck && d.packages.len() == 1 && d.packages[0].packageid == 8),
        "the truck that came for package 8 delivers it: {commands:?}"
    );
    let to_shop = shop_messages(&mut ups, at(1500));
    assert!(
        to_shop
            .iter()
            .any(|m| matches!(m, UpsMessage::FinalDest(f) if f.ship_id == 8)),
        "{to_shop:?}"
    );
    assert!(
        !to_shop.iter().any(|m| matches!(m, UpsMessage::Error(_))),
        "{to_shop:?}"
    );
}

#[test]
fn eager_dispatch_leaves_on_the_first_release_and_delivers_later_ones_from_the_road() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 2,
            eager_dispatch: true,
            ..UpsConfig::default()
        },
        1,
    );
    let truck = two_packages_announced(&mut ups);
    ups.handle_shop(at(20), ShopMessage::assemble(vec![(3, release(7))], vec![]));
    let left = world_commands(&mut ups, at(20));
    assert!(
        matches!(&left[..], [TruckCommand::Deliver(d)]
            if d.truckid == truck && d.packages.len() == 1 && d.packages[0].packageid == 7),
        "leaves at once with package 7 only: {left:?}"
    );
    ack_world(&mut ups, at(30));
    ups.handle_shop(at(40), ShopMessage::assemble(vec![(4, release(8))], vec![]));
    let commands = world_commands(&mut ups, at(40));
    assert!(
        matches!(&commands[..], [TruckCommand::Deliver(d)]
            if d.truckid == truck && d.packages.len() == 1 && d.packages[0].packageid == 8),
        "{commands:?}"
    );
    let dests: Vec<i64> = shop_messages(&mut ups, at(40))
        .into_iter()
        .filter_map(|m| match m {
            UpsMessage::FinalDest(f) => Some(f.ship_id),
            UpsMessage::Error(e) => panic!("{e:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(dests, vec![7, 8]);
}

/// The eager truck left with package 7 only; the world refused the shop's load of package 8,
/// so the shop asks for a truck for 8 again: another truck is called for it (a repeat while
/// the announced truck still waits at the warehouse stays ignored).
#[test]
fn a_repeat_request_for_a_package_its_truck_left_without_calls_another_truck() {
    let mut ups = UpsSim::new(
        UpsConfig {
            trucks: 2,
            eager_dispatch: true,
            ..UpsConfig::default()
        },
        1,
    );
    let first = two_packages_announced(&mut ups);
    let again = ShopMessage::assemble(vec![(3, request(8, (1, 0, 0), (5, 5), None))], vec![]);
    ups.handle_shop(at(15), again);
    assert!(
        world_commands(&mut ups, at(15)).is_empty(),
        "its truck is still at the warehouse"
    );
    ups.handle_shop(at(20), ShopMessage::assemble(vec![(4, release(7))], vec![]));
    let left = world_commands(&mut ups, at(20));
    assert!(matches!(&left[..], [TruckCommand::Deliver(_)]), "{left:?}");
    ack_world(&mut ups, at(30));

    let again = ShopMessage::assemble(vec![(5, request(8, (1, 0, 0), (5, 5), None))], vec![]);
    ups.handle_shop(at(40), again);
    let commands = world_commands(&mut ups, at(40));
    assert!(
        matches!(&commands[..], [TruckCommand::Pickup(p)] if p.truckid != first),
        "another truck goes to the warehouse: {commands:?}"
    );
}
