//! WeShop server: what runs the shop on a network.
//!
//! Today: the `weshop wire` inspector ([`wire`]), which decodes and encodes captured frames of
//! the three wire protocols. To come: the HTTP API and web pages, the TCP adapters that drive
//! core's sessions against a world and a UPS, and the simulated world and UPS.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod links;
pub mod metrics;
pub mod sim;
pub mod wire;
pub mod adapters;
pub mod app;
pub mod config;
pub mod demo;
pub mod api;
pub mod metrics;
