//! WeShop server: what runs the shop on a network.
//!
//! - [`app`]: the assembled server (storage, fulfilment, links, outbox, HTTP), started and
//!   stopped as one; [`config`] reads its settings;
//! - [`api`]: the REST API (poem-openapi) with OpenAPI, Swagger UI, health and [`metrics`];
//! - [`adapters`]: the durable world and UPS links behind core's `Warehouse` and `Shipping`;
//! - [`sim`]: the simulated world and UPS; [`demo`]: all of it in one process, seeded;
//! - [`wire`]: the frame inspector; [`links`]: each wire link as a session `Protocol`;
//! - [`cli`]: the `weshop` command line.
#![forbid(unsafe_code)]

pub mod adapters;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod links;
pub mod metrics;
pub mod sim;
pub mod wire;
