//! The error texts the world sends (each is the `err` of an `AErr`/`UErr`).

/// `buy`/`topack`/`load` named a warehouse the world does not have.
pub fn unknown_warehouse(whnum: i32) -> String {
    format!("error: unknown warehouse {whnum}")
}
/// A product count that is zero or negative.
pub fn bad_count(product: i64, count: i32) -> String {
    format!("error: product {product} count must be positive, got {count}")
}
/// `topack` with no products.
pub fn empty_package(shipid: i64) -> String {
    format!("error: package {shipid} has no products")
}
/// `topack` reusing a package id.
pub fn shipid_in_use(shipid: i64) -> String {
    format!("error: shipid {shipid} is already used in this world")
}
/// `topack` asking for more than the warehouse holds.
pub fn insufficient_stock(whnum: i32, product: i64, have: i64, need: i64) -> String {
    format!(
        "error: insufficient stock of product {product} in warehouse {whnum}: have {have}, need {need}"
    )
}
/// `load`/`queries`/`deliveries` naming a package the world does not know.
pub fn unknown_package(shipid: i64) -> String {
    format!("error: unknown package {shipid}")
}
/// `load` of a package that is not packed (yet, or any more).
pub fn not_packed(shipid: i64, status: &str) -> String {
    format!("error: package {shipid} is not packed (it is {status})")
}
/// `load` naming another warehouse than the package's.
pub fn wrong_warehouse(shipid: i64, actual: i32, named: i32) -> String {
    format!("error: package {shipid} is in warehouse {actual}, not {named}")
}
/// A truck id the world does not have.
pub fn unknown_truck(truckid: i32) -> String {
    format!("error: unknown truck {truckid}")
}
/// `load` onto a truck that is not at the warehouse.
pub fn truck_not_at_warehouse(truckid: i32, whnum: i32, status: &str) -> String {
    format!("error: truck {truckid} is not at warehouse {whnum} (it is {status})")
}
/// `deliveries` with no packages.
pub fn empty_delivery(truckid: i32) -> String {
    format!("error: delivery for truck {truckid} lists no packages")
}
/// `deliveries` naming a package that is not loaded on that truck.
pub fn not_on_truck(shipid: i64, truckid: i32, status: &str) -> String {
    format!("error: package {shipid} is not loaded on truck {truckid} (it is {status})")
}
