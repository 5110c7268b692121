//! What the shop asked of the world and the UPS about each package, as seen on the wire.
//!
//! The world and the UPS act on every fresh seqnum once, so a package command is performed
//! twice exactly when the shop sends it under two seqnums. Resends reuse their seqnum and are
//! harmless; a second seqnum is allowed only where the protocol makes one necessary (a load
//! the world refused is followed by a new truck request and a new load; a pack the world
//! refused by a new pack). A seqnum that comes back carrying a different command means the
//! shop reused a seqnum after a crash — the worst of the bugs this catches.

use std::collections::{BTreeMap, BTreeSet};

use weshop_core::session::Seqnum;
use weshop_proto::{ups_amazon as ua, world_amazon as wa};

/// A package command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `topack`.
    Pack,
    /// `load`.
    Load,
    /// `RequestTruck`.
    RequestTruck,
    /// `DeliverPackage`.
    Deliver,
}

/// The ledger. See the [module docs](self).
#[derive(Debug, Default)]
pub struct Ledger {
    /// World request seqnum -> (kind, ship id, the command as a comparable text).
    world: BTreeMap<Seqnum, (Option<(Kind, i64)>, String)>,
    ups: BTreeMap<Seqnum, (Option<(Kind, i64)>, String)>,
    sent: BTreeMap<(Kind, i64), BTreeSet<Seqnum>>,
    refused: BTreeMap<(Kind, i64), usize>,
    violation: Option<String>,
}

impl Ledger {
    /// The first rule broken so far.
    pub fn violation(&self) -> Option<&str> {
        self.violation.as_deref()
    }

    /// How many distinct package commands were sent, by kind.
    pub fn commands(&self, kind: Kind) -> usize {
        self.sent
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, s)| s.len())
            .sum()
    }

    /// A message from the shop to the world.
    pub fn shop_to_world(&mut self, message: &wa::ACommands) {
        for buy in &message.buy {
            self.note_world(buy.seqnum, None, format!("{buy:?}"));
        }
        for pack in &message.topack {
            self.note_world(
                pack.seqnum,
                Some((Kind::Pack, pack.shipid)),
                format!("{pack:?}"),
            );
        }
        for load in &message.load {
            self.note_world(
                load.seqnum,
                Some((Kind::Load, load.shipid)),
                format!("{load:?}"),
            );
        }
    }

    /// A message from the world to the shop (its errors refuse commands).
    pub fn world_to_shop(&mut self, message: &wa::AResponses) {
        for error in &message.error {
            if let Some((Some(key), _)) = self.world.get(&error.originseqnum) {
                *self.refused.entry(*key).or_default() += 1;
            }
        }
    }

    /// A message from the shop to the UPS.
    pub fn shop_to_ups(&mut self, message: &ua::AtoUCommands) {
        for request in &message.truck_reqs {
            let key = (Kind::RequestTruck, request.ship_id);
            self.note_ups(request.seq_num, key, format!("{request:?}"));
        }
        for deliver in &message.deliv_reqs {
            let key = (Kind::Deliver, deliver.ship_id);
            self.note_ups(deliver.seq_num, key, format!("{deliver:?}"));
        }
    }

    /// A message from the UPS to the shop (its errors refuse commands).
    pub fn ups_to_shop(&mut self, message: &ua::UtoACommands) {
        for error in &message.error {
            if let Some((Some(key), _)) = self.ups.get(&error.originseqnum) {
                *self.refused.entry(*key).or_default() += 1;
            }
        }
    }

    fn note_world(&mut self, seqnum: Seqnum, key: Option<(Kind, i64)>, text: String) {
        if let Some((_, before)) = self.world.get(&seqnum) {
            if *before != text {
                self.broken(format!(
                    "world seqnum {seqnum} reused: first {before}, then {text}"
                ));
            }
            return;
        }
        self.world.insert(seqnum, (key, text));
        if let Some(key) = key {
            self.sent_under(key, seqnum);
        }
    }

    fn note_ups(&mut self, seqnum: Seqnum, key: (Kind, i64), text: String) {
        if let Some((_, before)) = self.ups.get(&seqnum) {
            if *before != text {
                self.broken(format!(
                    "UPS seqnum {seqnum} reused: first {before}, then {text}"
                ));
            }
            return;
        }
        self.ups.insert(seqnum, (Some(key), text));
        self.sent_under(key, seqnum);
    }

    fn sent_under(&mut self, key: (Kind, i64), seqnum: Seqnum) {
        let seqnums = self.sent.entry(key).or_default();
        seqnums.insert(seqnum);
        let count = seqnums.len();
        let (kind, ship) = key;
        let refused = |k| self.refused.get(&(k, ship)).copied().unwrap_or(0);
        let allowed = 1 + match kind {
            Kind::Pack => refused(Kind::Pack),
            Kind::Load | Kind::RequestTruck => refused(Kind::Load),
            Kind::Deliver => 0,
        };
        if count > allowed {
            self.broken(format!(
                "{kind:?} for package {ship} sent under {count} seqnums ({:?}), {allowed} allowed",
                self.sent[&key]
            ));
        }
    }

    fn broken(&mut self, what: String) {
        self.violation.get_or_insert(what);
    }
}
