//! `weshop world-sim` and `weshop ups-sim` as processes: bound addresses printed, real traffic,
//! a UPS-created world that a shop joins, and a clean stop on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use crate::world_sim::shop;

struct Running {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weshop"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("weshop starts");
        let lines = BufReader::new(child.stdout.take().unwrap());
        Self { child, lines }
    }

    /// The value after `prefix` on the next line of output.
    fn line(&mut self, prefix: &str) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        line.trim_end()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
            .to_string()
    }

    /// Sends SIGTERM and checks the process exits successfully in time.
    fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exit status {status}");
                return;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[tokio::test]
async fn simulators_run_as_processes_and_stop_on_sigterm() {
    let mut world = Running::start(&[
        "world-sim",
        "--amazon-listen",
        "127.0.0.1:0",
        "--ups-listen",
        "127.0.0.1:0",
        "--seed",
        "3",
    ]);
    let amazon: SocketAddr = world.line("world-sim: amazon port ").parse().unwrap();
    let ups_port = world.line("world-sim: ups port ");

    let mut ups = Running::start(&[
        "ups-sim",
        "--world",
        &ups_port,
        "--listen",
        "127.0.0.1:0",
        "--trucks",
        "3",
        "--create-world",
    ]);
    let _shop_port: SocketAddr = ups.line("ups-sim: shop port ").parse().unwrap();
    assert_eq!(ups.line("ups-sim: world simulator "), ups_port);
    let created: i64 = ups.line("ups-sim: created world ").parse().unwrap();

    let (_shop, joined) = shop(amazon, Some(created), &[(1, 0, 0)], 1).await;
    assert_eq!(
        (joined.result.as_str(), joined.worldid),
        ("connected!", created)
    );

    ups.terminate();
    world.terminate();
}

#[test]
fn ups_sim_takes_eager_dispatch() {
    use clap::Parser;
    use weshop_server::cli::{Cli, Command};

    let parse = |args: &[&str]| match Cli::try_parse_from(args).unwrap().command {
        Command::UpsSim(args) => args.eager_dispatch,
        other => panic!("{other:?}"),
    };
    assert!(!parse(&["weshop", "ups-sim"]));
    assert!(parse(&["weshop", "ups-sim", "--eager-dispatch"]));
}
