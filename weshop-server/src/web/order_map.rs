//! The order page's map: an SVG of the part of the world's grid between the order's warehouse
//! and its destination, with the truck where the shop knows it is (at the warehouse while it
//! loads, at the door once delivered). Drawn on the server, so it needs no script, and sent
//! again over the page's live events as the order moves.

use askama::Template;
use weshop_core::domain::{Location, Order, OrderStatus, WarehouseSite};

/// A point on the map, in grid units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
}

impl From<Location> for Point {
    fn from(location: Location) -> Self {
        Self {
            x: f64::from(location.x),
            y: f64::from(location.y),
        }
    }
}

/// The map (`templates/order_map.html`).
#[derive(Template)]
#[template(path = "order_map.html")]
pub struct OrderMap {
    /// The SVG viewBox: min x, min y, width, height.
    pub view_box: (f64, f64, f64, f64),
    /// Marker radius and label size, in grid units (the map scales with the distance).
    pub size: f64,
    /// The warehouse and its id.
    pub warehouse: Option<(Point, i32)>,
    /// The destination.
    pub destination: Point,
    /// The truck and its id, where known.
    pub truck: Option<(Point, i32)>,
    /// What the map shows, in words (its accessible name).
    pub caption: String,
}

impl OrderMap {
    /// The map of `order`, shipped from `warehouse` (if it has been assigned one).
    pub fn new(order: &Order, warehouse: Option<&WarehouseSite>) -> Self {
        let destination = Point::from(order.reported_destination().unwrap_or(order.destination()));
        let from = warehouse.map(|w| Point::from(w.location));
        let truck_id = order.truck().map(|t| t.get());
        let truck = match (order.status(), truck_id, from) {
            (OrderStatus::Loading | OrderStatus::Loaded, Some(id), Some(at)) => Some((at, id)),
            (OrderStatus::Delivered, Some(id), _) => Some((destination, id)),
            _ => None,
        };
        // A landscape window around both points, wide enough for its labels.
        let points: Vec<Point> = from.into_iter().chain([destination]).collect();
        let (min_x, max_x) = span(points.iter().map(|p| p.x));
        let (min_y, max_y) = span(points.iter().map(|p| p.y));
        let width = ((max_x - min_x).max((max_y - min_y) * ASPECT).max(10.0)) * 1.5;
        let height = width / ASPECT;
        let (mid_x, mid_y) = ((min_x + max_x) / 2.0, (min_y + max_y) / 2.0);
        let view_box = (mid_x - width / 2.0, mid_y - height / 2.0, width, height);
        let caption = match (&warehouse, &truck) {
            (Some(w), Some((_, t))) if order.status() == OrderStatus::Delivered => format!(
                "Map: from warehouse {} to ({}, {}); truck {t} delivered it.",
                w.id, destination.x, destination.y
            ),
            (Some(w), Some((_, t))) => format!(
                "Map: truck {t} at warehouse {}, bound for ({}, {}).",
                w.id, destination.x, destination.y
            ),
            (Some(w), None) => format!(
                "Map: from warehouse {} at ({}, {}) to ({}, {}).",
                w.id, w.location.x, w.location.y, destination.x, destination.y
            ),
            (None, _) => format!("Map: delivery to ({}, {}).", destination.x, destination.y),
        };
        Self {
            view_box,
            size: width * 0.018,
            warehouse: warehouse.zip(from).map(|(w, at)| (at, w.id.get())),
            destination,
            truck,
            caption,
        }
    }

    /// The map as an HTML fragment (escaped by its template).
    pub fn html(&self) -> String {
        self.render().unwrap_or_default()
    }
}

/// Width over height of the map.
const ASPECT: f64 = 1.6;

fn span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)))
}
