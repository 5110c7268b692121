//! weshop-server from the outside: the CLI, and the simulated world and UPS over real TCP.

#![allow(missing_docs)] // a test crate

use std::time::Duration;

/// The password every test account registers with.
const PASSWORD: &str = "correct horse battery";
/// A card the simulated gateway accepts.
const CARD: &str = "4242 4242 4242 4242";
/// Guards against a hang only; never reached when things work, even on a loaded machine.
const GUARD: Duration = Duration::from_secs(30);

mod api;
mod cluster;
mod conventions;
mod kill9;
mod limits;
mod mail;
mod peer;
mod policy;
mod sim_cli;
mod simulation;
mod throttle;
mod ups_sim;
mod web;
mod wire_cli;
mod world_sim;
