//! A warehouse of the world, as the shop knows it.

use super::{Location, WarehouseId};

/// A warehouse: its world id and where it stands on the grid (the world is told of every
/// warehouse when the shop connects, so both agree on these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WarehouseSite {
    /// Its id in the world.
    pub id: WarehouseId,
    /// Where it is.
    pub location: Location,
}
