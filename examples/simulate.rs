//! The deterministic simulation over many seeds: the shop, the world and the UPS in one seeded
//! loop with virtual time, a lossy network and a shop that is killed and restarted (see
//! `weshop_server::simulation`). Prints one line per failing seed — which replays exactly when
//! run alone with `--seed` — and a summary; exits 1 if any seed failed.
//!
//! ```sh
//! cargo run --release --example simulate -- --seeds 10000          # seeds 0..10000
//! cargo run --release --example simulate -- --seeds 500 --from 7000
//! cargo run --release --example simulate -- --seed 4242            # one seed, its report
//! cargo run --release --example simulate -- --seed 4242 --trace    # and every message
//! ```

use std::{process::ExitCode, time::Instant};

use weshop::server::simulation::{SimConfig, run, summary};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| -> Option<u64> {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1)?.parse().ok()
    };
    if let Some(seed) = value("--seed") {
        let config = SimConfig {
            trace: args.iter().any(|a| a == "--trace"),
            ..SimConfig::from_seed(seed)
        };
        println!("{config:?}");
        return match run(&config) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(failure) => {
                println!("{failure}");
                ExitCode::FAILURE
            }
        };
    }
    let from = value("--from").unwrap_or(0);
    let count = value("--seeds").unwrap_or(100);
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut failures = 0;
    for seed in from..from + count {
        match run(&SimConfig::from_seed(seed)) {
            Ok(report) => {
                if report.failed > 0 {
                    // Allowed (voided, units back) but worth a look: which seeds, how many.
                    println!("{report}");
                }
                reports.push(report);
            }
            Err(failure) => {
                failures += 1;
                println!("{failure}");
            }
        }
    }
    let totals = summary(&reports);
    println!(
        "{count} seeds from {from} in {:.1?}: {failures} failed; {}",
        started.elapsed(),
        totals
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
