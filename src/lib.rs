//! WeShop: an online shop ("Mini Amazon") whose orders are fulfilled over protobuf/TCP by a
//! world simulator (warehouses, trucks) and a partner UPS.
//!
//! This facade re-exports the WeShop crates so an embedding program needs one dependency:
//!
//! - [`proto`]: the wire schemas, prost types and the varint-delimited codec;
//! - [`core`]: the protocol-agnostic domain, ports and sans-IO state machines;
//! - [`storage`]: storage backends behind core's traits;
//! - [`server`]: the HTTP API, the TCP adapters, the simulated world and UPS, and the CLI.
#![forbid(unsafe_code)]

pub use weshop_core as core;
pub use weshop_proto as proto;
pub use weshop_server as server;
pub use weshop_storage as storage;
