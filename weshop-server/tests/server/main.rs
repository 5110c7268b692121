//! weshop-server from the outside: the CLI, and the simulated world and UPS over real TCP.

#![allow(missing_docs)] // a test crate

mod api;
mod limits;
mod peer;
mod policy;
mod sim_cli;
mod ups_sim;
mod web;
mod wire_cli;
mod world_sim;
