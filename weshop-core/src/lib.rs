//! WeShop core: the shop's domain and ports, free of sockets, databases and protobuf.
//!
//! Everything here takes messages, the current time and a seeded RNG, and returns messages and
//! timers, so it can be tested deterministically and run inside a simulation:
//!
//! - [`session`]: reliable sessions (seqnums, acks, resends, exactly-once processing), generic
//!   over a [`session::Protocol`] that each wire adapter implements;
//! - [`domain`]: values that cannot be invalid (money in minor units, quantities, emails,
//!   locations, ids, products, stock, carts, accounts, cards, shipping rates) and orders with their state
//!   machine and append-only history;
//! - [`payments`]: the payment port with idempotency keys, and a simulated gateway;
//! - [`notify`]: the notifier port, and an in-memory notifier;
//! - [`inbox`]: notifications kept in the store, read in the app and mailed from there;
//! - [`store`]: the storage port (implemented by `weshop-storage`);
//! - [`catalog_index`]: the search index port (implemented by `weshop-search`), a read model
//!   of the catalog kept in step with the store;
//! - [`ports`]: the world's warehouses and the UPS, as the shop sees them, and the clock;
//! - [`fulfilment`]: the sans-IO fulfilment state machine, and [`driver`], which runs it
//!   against a store and performs its outbox through the ports;
//! - [`shop`]: the `Shop` service API, implemented by [`service::ShopService`];
//! - [`assembly`]: one builder that wires a store, the driver, the service and the outbox.
#![forbid(unsafe_code)]

pub mod assembly;
pub mod catalog_index;
pub mod changes;
pub mod domain;
pub mod driver;
pub mod durable_gateway;
pub mod fulfilment;
pub mod inbox;
pub mod lease;
pub mod login_throttle;
pub mod notify;
pub mod payments;
pub mod ports;
mod read_cache;
pub mod service;
pub mod session;
pub mod shop;
pub mod stage_times;
pub mod store;
