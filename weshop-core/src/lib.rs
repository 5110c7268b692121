//! WeShop core: the shop's domain and ports, free of sockets, databases and protobuf.
//!
//! This crate will hold the domain types (money, quantities, products, orders and their state
//! machine), the ports that the server and storage crates implement (`Shop`, `Warehouse`,
//! `Shipping`, storage, `Payments`, `Notifier`), and the sans-IO state machines: reliable
//! sessions (seqnums, acks, resends, exactly-once processing) and order fulfilment. Everything
//! here takes messages, the current time and a seeded RNG, and returns messages and timers, so
//! it can be tested deterministically and run inside a simulation.
//!
//! It is intentionally empty until the reliable-session and shop-core work lands; it builds and
//! is part of the workspace so that the dependency direction (server and storage depend on
//! core, core depends on no wire format) is fixed from the start.
#![forbid(unsafe_code)]
