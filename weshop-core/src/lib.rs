//! WeShop core: the shop's domain and ports, free of sockets, databases and protobuf.
//!
//! Everything here takes messages, the current time and a seeded RNG, and returns messages and
//! timers, so it can be tested deterministically and run inside a simulation:
//!
//! - [`session`]: reliable sessions (seqnums, acks, resends, exactly-once processing), generic
//!   over a [`session::Protocol`] that each wire adapter implements.
//!
//! To come: the domain types (money, quantities, products, orders and their state machine), the
//! ports that the server and storage crates implement (`Shop`, `Warehouse`, `Shipping`,
//! storage, `Payments`, `Notifier`), and the fulfilment state machine.
#![forbid(unsafe_code)]

pub mod session;
