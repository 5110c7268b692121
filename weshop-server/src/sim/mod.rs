//! The simulated world and UPS: faithful stand-ins for the course's closed world binary and for
//! a partner UPS, so the whole system runs, is tested and is demonstrated on one machine.
//!
//! Both speak exactly the protocols of PROTOCOL.md over TCP, enforce every MUST with an error
//! item, ack, resend and deduplicate by the same rules as everyone ([`weshop_core::session`]),
//! can drop a set share of incoming requests (flakiness), and run at any simspeed. Their logic
//! is sans-IO ([`world::World`], [`worlds::WorldSim`], [`ups::UpsSim`]): it takes messages and
//! the time and returns messages and timers; [`world_server`] and [`ups_server`] are the thin
//! tokio tasks around it.
//!
//! The time model (how long buying, packing, loading and driving take) is in [`time_model`].

pub mod time_model;
pub mod ups;
pub mod ups_server;
pub mod world;
pub mod world_server;
pub mod worlds;

pub use time_model::TimeModel;
pub use ups::{UpsConfig, UpsSim};
pub use ups_server::{ShopEndpoint, UpsServer};
pub use world::{Outgoing, PackageStatus, Side, TruckStatus, World};
pub use world_server::WorldServer;
pub use worlds::{CONNECTED, WorldConfig, WorldSim};
