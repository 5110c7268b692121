//! How long things take in the simulated world.
//!
//! Durations are given at simspeed 100 (the default) and scale inversely with it: at simspeed
//! 1000 everything is ten times faster, at 100 000 a thousand times. Each side sets its own speed
//! with `simspeed`: the shop's governs warehouse work (buy, pack, load), the UPS's governs
//! trucks. A simspeed of 0 is taken as 1 (time cannot stop).
//!
//! | what | duration at simspeed 100 |
//! |---|---|
//! | a purchase arriving (`buy` -> `arrived`) | 1 s |
//! | packing (`topack` -> `ready`) | 0.5 s + 0.01 s per unit |
//! | loading (`load` -> `loaded`) | 0.5 s |
//! | a truck covering one grid unit (Euclidean distance, rounded up) | 0.1 s |

use std::time::Duration;

/// The default simspeed.
pub const DEFAULT_SIMSPEED: u32 = 100;

/// Durations at simspeed 100; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeModel {
    /// Purchase to arrival.
    pub buy: Duration,
    /// Fixed part of packing.
    pub pack: Duration,
    /// Packing time added per unit of product.
    pub pack_per_unit: Duration,
    /// Loading one package onto a truck.
    pub load: Duration,
    /// A truck crossing one grid unit.
    pub truck_per_unit: Duration,
}

impl Default for TimeModel {
    fn default() -> Self {
        Self {
            buy: Duration::from_millis(1000),
            pack: Duration::from_millis(500),
            pack_per_unit: Duration::from_millis(10),
            load: Duration::from_millis(500),
            truck_per_unit: Duration::from_millis(100),
        }
    }
}

impl TimeModel {
    /// `duration` (given at simspeed 100) at `simspeed`.
    pub fn scale(duration: Duration, simspeed: u32) -> Duration {
        let speed = u128::from(simspeed.max(1));
        let nanos = duration.as_nanos() * u128::from(DEFAULT_SIMSPEED) / speed;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Packing `units` units.
    pub fn packing(&self, units: u64, simspeed: u32) -> Duration {
        let per_unit = self
            .pack_per_unit
            .saturating_mul(u32::try_from(units).unwrap_or(u32::MAX));
        Self::scale(self.pack.saturating_add(per_unit), simspeed)
    }

    /// A truck travelling from `from` to `to`.
    pub fn travel(&self, from: (i32, i32), to: (i32, i32), simspeed: u32) -> Duration {
        let units = distance(from, to).ceil() as u32;
        Self::scale(self.truck_per_unit.saturating_mul(units), simspeed)
    }
}

/// Euclidean distance on the grid.
pub fn distance(a: (i32, i32), b: (i32, i32)) -> f64 {
    let dx = f64::from(a.0) - f64::from(b.0);
    let dy = f64::from(a.1) - f64::from(b.1);
    dx.hypot(dy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_scale_inversely() {
        let m = TimeModel::default();
        assert_eq!(TimeModel::scale(m.buy, 100), Duration::from_secs(1));
        assert_eq!(TimeModel::scale(m.buy, 1000), Duration::from_millis(100));
        assert_eq!(TimeModel::scale(m.buy, 0), Duration::from_secs(100));
        assert_eq!(m.packing(10, 100), Duration::from_millis(600));
        assert_eq!(m.travel((0, 0), (3, 4), 100), Duration::from_millis(500));
        assert_eq!(m.travel((0, 0), (1, 1), 100), Duration::from_millis(200));
        assert_eq!(m.travel((2, 2), (2, 2), 100), Duration::ZERO);
    }
}
