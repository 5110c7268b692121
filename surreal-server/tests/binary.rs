//! The binary is the SurrealDB server the tests and docs use: it reports the pinned version
//! and, started on loopback in memory, answers its health check. (This test also makes
//! `cargo test --workspace` build the binary with the workspace's features, so CI gets it from
//! the same compilation as the tests.)

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const BIN: &str = env!("CARGO_BIN_EXE_surreal");

/// Kills the server however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn reports_the_pinned_version() {
    let out = Command::new(BIN).arg("version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "surreal version failed: {out:?}");
    // A development build prints a banner before the version line.
    assert!(
        text.lines().any(|line| line.starts_with("3.3.5 ")),
        "unexpected version: {text}"
    );
}

#[test]
fn starts_in_memory_and_answers_its_health_check() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server(
        Command::new(BIN)
            .args(["start", "--bind", &format!("127.0.0.1:{port}")])
            .args([
                "--user", "root", "--pass", "root", "--log", "warn", "memory",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::from("no connection");
    loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            let _ = server.0.stderr.take().unwrap().read_to_string(&mut err);
            panic!("the server exited ({status}): {err}");
        }
        // The port may accept (and close) connections before the server answers on it.
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let request = b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
            let mut answer = String::new();
            if stream.write_all(request).is_ok() {
                let _ = stream.read_to_string(&mut answer);
            }
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
            last = answer;
        }
        assert!(
            Instant::now() < deadline,
            "no healthy answer within 60 s; the last: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
