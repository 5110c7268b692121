//! The wire protocols' sides as core [`Protocol`]s: both ends of world_amazon, world_ups and
//! ups_amazon, each one ready for core's reliable [`Session`].
//!
//! Core knows nothing of protobuf; here the sequenced items of every message become an enum
//! per direction, and each link side says which enum it sends in which message. Non-sequenced
//! fields (`simspeed`, `disconnect`, `finished`) are set by the session's owner on the
//! assembled message.
//!
//! [`Session`]: weshop_core::session::Session

use weshop_core::session::{Inbound, Protocol, Seqnum};
use weshop_proto::{ups_amazon as ua, world_amazon as wa, world_ups as wu};

/// Defines an enum of the sequenced items one message carries, with the conversions to and
/// from that message (items come out in seqnum order).
macro_rules! sequenced {
    (
        $(#[$doc:meta])* $name:ident in $msg:ty, acks in $acks:ident {
            $($(#[$vdoc:meta])* $variant:ident($ty:ty) in $field:ident, seqnum $seq:ident;)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $($(#[$vdoc])* $variant($ty),)+
        }

        impl $name {
            /// This item's seqnum as it stands in the message.
            pub fn seqnum(&self) -> Seqnum {
                match self {
                    $($name::$variant(item) => item.$seq,)+
                }
            }

            /// Builds one message from numbered items and acks.
            pub fn assemble(items: Vec<(Seqnum, $name)>, acks: Vec<Seqnum>) -> $msg {
                let mut message = <$msg>::default();
                message.$acks = acks;
                for (seqnum, item) in items {
                    match item {
                        $($name::$variant(mut item) => {
                            item.$seq = seqnum;
                            message.$field.push(item);
                        })+
                    }
                }
                message
            }

            /// Takes the numbered items and the acks out of one message.
            pub fn disassemble(message: $msg) -> Inbound<$name> {
                let mut items = Vec::new();
                $(items.extend(message.$field.into_iter().map(|item| (item.$seq, $name::$variant(item))));)+
                items.sort_by_key(|(seqnum, _)| *seqnum);
                Inbound { items, acks: message.$acks }
            }
        }
    };
}

/// Declares a link side: what it sends in which message, what it receives in which.
macro_rules! link_side {
    ($(#[$doc:meta])* $name:ident: sends $req:ident in $out:ty, receives $item:ident in $inc:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;

        impl Protocol for $name {
            type Request = $req;
            type Message = $out;
            type Incoming = $inc;
            type Item = $item;

            fn assemble(requests: Vec<(Seqnum, $req)>, acks: Vec<Seqnum>) -> $out {
                $req::assemble(requests, acks)
            }

            fn disassemble(message: $inc) -> Inbound<$item> {
                $item::disassemble(message)
            }
        }
    };
}

sequenced! {
    /// What the shop asks of the world (`ACommands`).
    WorldCommand in wa::ACommands, acks in acks {
        /// Buy stock into a warehouse.
        Buy(wa::APurchaseMore) in buy, seqnum seqnum;
        /// Pack a package.
        Pack(wa::APack) in topack, seqnum seqnum;
        /// Load a packed package onto a truck.
        Load(wa::APutOnTruck) in load, seqnum seqnum;
        /// Ask a package's status.
        Query(wa::AQuery) in queries, seqnum seqnum;
    }
}

sequenced! {
    /// What the world reports to the shop (`AResponses`).
    WorldEvent in wa::AResponses, acks in acks {
        /// Bought stock arrived.
        Arrived(wa::APurchaseMore) in arrived, seqnum seqnum;
        /// A package is packed.
        Ready(wa::APacked) in ready, seqnum seqnum;
        /// A package is on its truck.
        Loaded(wa::ALoaded) in loaded, seqnum seqnum;
        /// A command broke a rule.
        Error(wa::AErr) in error, seqnum seqnum;
        /// A package's status, answering a query.
        PackageStatus(wa::APackage) in packagestatus, seqnum seqnum;
    }
}

sequenced! {
    /// What a UPS asks of the world (`UCommands`).
    TruckCommand in wu::UCommands, acks in acks {
        /// Send a truck to a warehouse.
        Pickup(wu::UGoPickup) in pickups, seqnum seqnum;
        /// Deliver loaded packages.
        Deliver(wu::UGoDeliver) in deliveries, seqnum seqnum;
        /// Ask a truck's status.
        Query(wu::UQuery) in queries, seqnum seqnum;
    }
}

sequenced! {
    /// What the world reports to a UPS (`UResponses`).
    TruckEvent in wu::UResponses, acks in acks {
        /// A truck arrived at a warehouse, or finished its deliveries.
        Completion(wu::UFinished) in completions, seqnum seqnum;
        /// A package was dropped at its destination.
        Delivered(wu::UDeliveryMade) in delivered, seqnum seqnum;
        /// A truck's status, answering a query.
        Status(wu::UTruck) in truckstatus, seqnum seqnum;
        /// A command broke a rule.
        Error(wu::UErr) in error, seqnum seqnum;
    }
}

sequenced! {
    /// What the shop sends a UPS (`AtoUCommands`).
    ShopMessage in ua::AtoUCommands, acks in acks {
        /// Ask for a truck at a warehouse for a package.
        RequestTruck(ua::RequestTruck) in truck_reqs, seqnum seq_num;
        /// A loaded package may leave.
        Deliver(ua::DeliverPackage) in deliv_reqs, seqnum seq_num;
        /// A UPS message broke a rule.
        Error(ua::Err) in error, seqnum seqnum;
    }
}

sequenced! {
    /// What a UPS sends the shop (`UtoACommands`).
    UpsMessage in ua::UtoACommands, acks in acks {
        /// A truck is at the warehouse for a package.
        TruckArrived(ua::TruckArrived) in arrived, seqnum seq_num;
        /// A package was delivered.
        Delivered(ua::U2aDelivered) in delivered, seqnum seq_num;
        /// A package's final destination (after its owner redirected it).
        FinalDest(ua::FinalDest) in dest, seqnum seq_num;
        /// A shop message broke a rule.
        Error(ua::Err) in error, seqnum seqnum;
    }
}

link_side!(
    /// The shop's side of world_amazon.
    ShopToWorld: sends WorldCommand in wa::ACommands, receives WorldEvent in wa::AResponses
);
link_side!(
    /// The world's side of world_amazon.
    WorldToShop: sends WorldEvent in wa::AResponses, receives WorldCommand in wa::ACommands
);
link_side!(
    /// A UPS's side of world_ups.
    UpsToWorld: sends TruckCommand in wu::UCommands, receives TruckEvent in wu::UResponses
);
link_side!(
    /// The world's side of world_ups.
    WorldToUps: sends TruckEvent in wu::UResponses, receives TruckCommand in wu::UCommands
);
link_side!(
    /// The shop's side of ups_amazon.
    ShopToUps: sends ShopMessage in ua::AtoUCommands, receives UpsMessage in ua::UtoACommands
);
link_side!(
    /// A UPS's side of ups_amazon.
    UpsToShop: sends UpsMessage in ua::UtoACommands, receives ShopMessage in ua::AtoUCommands
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_numbers_items_and_disassemble_sorts_them() {
        let msg = WorldCommand::assemble(
            vec![
                (
                    7,
                    WorldCommand::Query(wa::AQuery {
                        packageid: 1,
                        seqnum: 0,
                    }),
                ),
                (
                    5,
                    WorldCommand::Pack(wa::APack {
                        whnum: 1,
                        things: vec![],
                        shipid: 9,
                        seqnum: 0,
                    }),
                ),
            ],
            vec![3],
        );
        assert_eq!(msg.queries[0].seqnum, 7);
        assert_eq!(msg.topack[0].seqnum, 5);
        assert_eq!(msg.acks, vec![3]);
        let inbound = WorldCommand::disassemble(msg);
        assert_eq!(
            inbound.items.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![5, 7]
        );
        assert_eq!(inbound.items[1].1.seqnum(), 7);
    }

    #[test]
    fn ups_amazon_uses_each_field_s_own_seqnum_name() {
        let msg = ShopMessage::assemble(
            vec![
                (
                    1,
                    ShopMessage::Deliver(ua::DeliverPackage {
                        seq_num: 0,
                        ship_id: 4,
                    }),
                ),
                (
                    2,
                    ShopMessage::Error(ua::Err {
                        err: "x".into(),
                        originseqnum: 9,
                        seqnum: 0,
                    }),
                ),
            ],
            vec![],
        );
        assert_eq!(msg.deliv_reqs[0].seq_num, 1);
        assert_eq!(msg.error[0].seqnum, 2);
    }
}
