//! The `weshop` command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    weshop_server::cli::run(weshop_server::cli::Cli::parse())
}
