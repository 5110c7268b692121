//! Delivery estimates: when a package should arrive, as a time window, from the world's pace.
//!
//! The shop cannot know when a truck will be free, so an estimate is a window: the earliest is
//! handling (packing, a truck coming, loading) plus the drive from the warehouse, the latest
//! doubles that and adds a restock when the units are still on their way to the warehouse.

use std::time::Duration;

use super::Location;

/// How fast the world moves, as the shop plans with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPace {
    /// Packing, a truck coming to the warehouse and loading: everything before the drive.
    pub handling: Duration,
    /// A truck crossing one grid unit.
    pub per_grid_unit: Duration,
    /// Bought units arriving at a warehouse.
    pub restock: Duration,
}

impl Default for DeliveryPace {
    /// The pace of the simulated world at its default speed (see the server's time model):
    /// packing and loading take about a second, a truck drives 10 grid units a second and
    /// usually starts some 50 units away.
    fn default() -> Self {
        Self {
            handling: Duration::from_secs(6),
            per_grid_unit: Duration::from_millis(100),
            restock: Duration::from_secs(1),
        }
    }
}

impl DeliveryPace {
    /// This pace `factor` times slower (a world at a tenth of the speed: 10).
    pub fn slower(self, factor: f64) -> Self {
        let scale = |d: Duration| d.mul_f64(factor.max(0.0));
        Self {
            handling: scale(self.handling),
            per_grid_unit: scale(self.per_grid_unit),
            restock: scale(self.restock),
        }
    }

    /// What is left of the window for an order at `status` shipping from `from` to `to`: the
    /// whole window while it waits for stock, without the restock once it is being packed, the
    /// drive alone once it is on its truck; `None` once it has ended (delivered, failed,
    /// cancelled).
    pub fn remaining(
        &self,
        status: super::OrderStatus,
        from: Location,
        to: Location,
    ) -> Option<DeliveryEstimate> {
        use super::OrderStatus::*;
        match status {
            Placed | WaitingForStock => Some(self.estimate(from, to, true)),
            Packing | Packed | TruckRequested | Loading => Some(self.estimate(from, to, false)),
            Loaded | Delivering => {
                let drive = Self {
                    handling: std::time::Duration::ZERO,
                    ..*self
                };
                Some(drive.estimate(from, to, false))
            }
            Delivered | Failed | Cancelled => None,
        }
    }

    /// The window for a package leaving `from` for `to`; `restock` when its units are still
    /// incoming at the warehouse.
    pub fn estimate(&self, from: Location, to: Location, restock: bool) -> DeliveryEstimate {
        let units = from.distance(to).ceil().min(f64::from(u32::MAX)) as u32;
        let earliest = self
            .handling
            .saturating_add(self.per_grid_unit.saturating_mul(units));
        let mut latest = earliest.saturating_mul(2);
        if restock {
            latest = latest.saturating_add(self.restock);
        }
        DeliveryEstimate { earliest, latest }
    }
}

/// From how long after now a package should arrive, to how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryEstimate {
    /// The soonest.
    pub earliest: Duration,
    /// The latest expected.
    pub latest: Duration,
}

impl DeliveryEstimate {
    /// The window in words: "in 20–45 seconds", "in 2–5 minutes", "in 1–3 hours", "in 2–4 days".
    pub fn in_words(&self) -> String {
        let (low, high) = (self.earliest.as_secs_f64(), self.latest.as_secs_f64());
        let (unit, size) = if high < 120.0 {
            ("second", 1.0)
        } else if high < 2.0 * 3600.0 {
            ("minute", 60.0)
        } else if high < 2.0 * 86_400.0 {
            ("hour", 3600.0)
        } else {
            ("day", 86_400.0)
        };
        let low = (low / size).floor().max(1.0) as u64;
        let high = ((high / size).ceil() as u64).max(low);
        if low == high {
            let plural = if low == 1 { "" } else { "s" };
            format!("in about {low} {unit}{plural}")
        } else {
            format!("in {low}–{high} {unit}s")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_remains_shrinks_as_the_order_moves_and_ends_with_it() {
        use crate::domain::OrderStatus::*;
        let pace = DeliveryPace::default();
        let (from, to) = (Location::new(0, 0), Location::new(30, 40));
        let waiting = pace.remaining(WaitingForStock, from, to).unwrap();
        let packing = pace.remaining(Packing, from, to).unwrap();
        let driving = pace.remaining(Delivering, from, to).unwrap();
        assert!(waiting.latest > packing.latest);
        assert_eq!(packing, pace.estimate(from, to, false));
        assert!(driving.latest < packing.earliest + pace.handling * 2);
        assert_eq!(driving.earliest, pace.per_grid_unit * 50);
        for ended in [Delivered, Failed, Cancelled] {
            assert_eq!(pace.remaining(ended, from, to), None);
        }
    }

    #[test]
    fn the_window_grows_with_distance_and_restocking() {
        let pace = DeliveryPace::default();
        let near = pace.estimate(Location::new(0, 0), Location::new(3, 4), false);
        assert_eq!(near.earliest, Duration::from_millis(6_500));
        assert_eq!(near.latest, Duration::from_secs(13));
        let far = pace.estimate(Location::new(0, 0), Location::new(300, 400), false);
        assert_eq!(far.earliest, Duration::from_secs(56));
        let waiting = pace.estimate(Location::new(0, 0), Location::new(3, 4), true);
        assert_eq!(waiting.latest, Duration::from_secs(14));
        let slow = pace
            .slower(5.0)
            .estimate(Location::new(0, 0), Location::new(3, 4), false);
        assert_eq!(slow.earliest, Duration::from_millis(32_500));
    }

    #[test]
    fn windows_read_in_a_unit_that_fits() {
        let window = |a: u64, b: u64| DeliveryEstimate {
            earliest: Duration::from_secs(a),
            latest: Duration::from_secs(b),
        };
        assert_eq!(window(20, 45).in_words(), "in 20–45 seconds");
        assert_eq!(window(100, 300).in_words(), "in 1–5 minutes");
        assert_eq!(window(3600, 3 * 3600).in_words(), "in 1–3 hours");
        assert_eq!(window(2 * 86_400, 4 * 86_400).in_words(), "in 2–4 days");
        assert_eq!(window(0, 1).in_words(), "in about 1 second");
    }
}
