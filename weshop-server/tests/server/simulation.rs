//! The deterministic simulation (`weshop_server::simulation`) over many seeds: every one must
//! hold every invariant, and a seed must replay exactly.

use weshop_server::simulation::{SimConfig, run, run_seeds, summary};

/// Seeds CI runs on every change; `cargo run --release --example simulate -- --seeds N` runs
/// more.
const SEEDS: u64 = 300;

#[test]
fn every_seed_keeps_every_invariant() {
    let reports = match run_seeds(0..SEEDS) {
        Ok(reports) => reports,
        Err(failure) => panic!("{failure}"),
    };
    let totals = summary(&reports);
    println!("{totals:?}");
    // The runs did what they are for: orders delivered through loss, resets and crashes.
    assert!(totals["delivered"] > 1_000, "{totals:?}");
    assert!(totals["crashes"] > 300, "{totals:?}");
    assert!(totals["lost"] > 10_000, "{totals:?}");
    assert!(totals["resets"] > 300, "{totals:?}");
}

/// Seeds that once failed, each for a bug now fixed (see the commit log): they stay green.
#[test]
fn seeds_that_found_bugs_pass() {
    for seed in [202, 312, 390, 664, 1_937, 5_503, 8_195] {
        if let Err(failure) = run(&SimConfig::from_seed(seed)) {
            panic!("{failure}");
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [3, 1_937, 8_195] {
        let config = SimConfig::from_seed(seed);
        let first = run(&config).map_err(|f| f.to_string());
        let second = run(&config).map_err(|f| f.to_string());
        assert_eq!(first, second, "seed {seed}");
    }
}

#[test]
fn a_broken_invariant_is_reported_with_its_seed() {
    // A UPS that never comes: nothing can settle, and the run says so with its seed.
    let config = SimConfig {
        trucks: 0,
        settle: std::time::Duration::from_secs(120),
        ..SimConfig::from_seed(11)
    };
    let failure = run(&config).expect_err("no truck, no delivery");
    assert_eq!(failure.seed, 11);
    assert!(failure.what.contains("not settled"), "{failure}");
    assert!(failure.to_string().contains("--seed 11"), "{failure}");
}
