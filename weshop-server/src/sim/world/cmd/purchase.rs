//! `buy`: stock bought into a warehouse arrives after [`TimeModel::buy`](crate::sim::TimeModel).

use std::time::Instant;

use weshop_proto::world_amazon as wa;

use super::ToShop;
use crate::{
    protocols::WorldEvent,
    sim::{
        TimeModel,
        world::{
            errors,
            state::{State, Work},
        },
    },
};

/// Checks a purchase and schedules its arrival.
pub(super) fn apply(
    state: &mut State,
    shop: &mut ToShop,
    now: Instant,
    buy: wa::APurchaseMore,
) -> Result<(), String> {
    state.warehouse(buy.whnum)?;
    for thing in &buy.things {
        if thing.count <= 0 {
            return Err(errors::bad_count(thing.id, thing.count));
        }
    }
    for thing in &buy.things {
        state
            .products
            .entry(thing.id)
            .or_insert_with(|| thing.description.clone());
    }
    let things = buy
        .things
        .into_iter()
        .map(|t| (t.id, t.description, t.count))
        .collect();
    let at = now + TimeModel::scale(state.model.buy, shop.speed);
    state.schedule(
        at,
        Work::Arrive {
            warehouse: buy.whnum,
            things,
        },
    );
    Ok(())
}

/// The stock is on hand: `arrived`.
pub(super) fn arrived(
    state: &mut State,
    shop: &mut ToShop,
    warehouse: i32,
    things: Vec<(i64, String, i32)>,
) {
    for (product, _, count) in &things {
        *state.stock.entry((warehouse, *product)).or_default() += i64::from(*count);
    }
    let things = things
        .into_iter()
        .map(|(id, description, count)| wa::AProduct {
            id,
            description,
            count,
        })
        .collect();
    shop.session.send(WorldEvent::Arrived(wa::APurchaseMore {
        whnum: warehouse,
        things,
        seqnum: 0,
    }));
}
