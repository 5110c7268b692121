//! WeShop server: what runs the shop on a network.
//!
//! - [`app`]: the assembled server (storage, fulfilment, links, outbox, HTTP), started and
//!   stopped as one; [`config`] reads its settings;
//! - [`api`]: the REST API (poem-openapi) with OpenAPI, Swagger UI, health and [`metrics`];
//! - [`web`]: the web shop, server-rendered pages over the same `Shop` port, mounted at `/`;
//! - [`adapters`]: the durable world and UPS links behind core's `Warehouse` and `Shipping`;
//! - [`sim`]: the simulated world and UPS; [`demo`]: all of it in one process, seeded;
//! - [`labels`]: shipping labels as PDF (barcode of the ship id, QR of the order page);
//! - [`mail`]: notifications mailed over SMTP, and a mail catcher for the demo and tests;
//! - [`notices`]: notifications in words, for the inbox, the API and mail;
//! - [`wire`]: the frame inspector; [`protocols`]: both sides of each wire protocol as core
//!   session `Protocol`s;
//! - [`cli`]: the `weshop` command line.
#![forbid(unsafe_code)]

pub mod adapters;
pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod demo;
pub mod http_guard;
pub mod labels;
pub mod mail;
pub mod metrics;
pub mod notices;
pub mod pictures;
pub mod protocols;
pub mod sim;
pub mod simulation;
pub mod watchdog;
pub mod web;
pub mod wire;
