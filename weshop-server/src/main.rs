//! The `weshop` command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's malloc: measured with the catalog bench (10,000 products,
/// surrealkv), the server's RSS fell from 372 MB to 204 MB and `q=mug` rose from 17,800 to
/// 22,800 requests/s (glibc keeps a heap arena per thread; SurrealDB and tokio run many).
/// Its `v2` line rather than the crate's default `v3`: the orders bench (100 × 20, surrealkv,
/// 10 interleaved pairs) ran 768 against 691 orders/s end to end, 1.92 against 2.12 ms of CPU
/// per order, with a peak RSS of 1.2 GB either way.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    weshop_server::cli::run(weshop_server::cli::Cli::parse())
}
