//! A point on the world's integer grid.

use std::fmt;

/// Where a warehouse stands or a package goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// x on the grid.
    pub x: i32,
    /// y on the grid.
    pub y: i32,
}

impl Location {
    /// The point (x, y).
    pub const fn new(x: i32, y: i32) -> Self {
        Self { x, y }
    }

    /// Euclidean distance, in grid units.
    pub fn distance(self, other: Location) -> f64 {
        (f64::from(self.x) - f64::from(other.x)).hypot(f64::from(self.y) - f64::from(other.y))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.x, self.y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_is_euclidean_and_extreme_points_do_not_overflow() {
        assert_eq!(Location::new(0, 0).distance(Location::new(3, 4)), 5.0);
        let far = Location::new(i32::MIN, i32::MIN).distance(Location::new(i32::MAX, i32::MAX));
        assert!(far.is_finite() && far > 6.0e9);
        assert_eq!(Location::new(-1, 2).to_string(), "(-1, 2)");
    }
}
