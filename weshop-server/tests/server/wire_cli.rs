//! `weshop wire` as a user runs it: the real binary, fed every golden vector.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use serde_json::Value;
use weshop_proto::vectors::{self, Vectors};

/// The repository's copy of the golden vectors (a clone has no `shared/` beside it).
fn vectors() -> Vectors {
    vectors::load_file(&vectors::vendored_path()).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `weshop wire <args>` with `stdin` as standard input.
fn weshop_wire(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weshop"))
        .arg("wire")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("weshop runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[test]
fn decode_hex_prints_the_json_of_every_case() {
    for case in vectors().cases {
        let out = weshop_wire(
            &[
                "decode",
                "--hex",
                "--schema",
                &case.schema,
                "--message",
                &case.message,
            ],
            case.frame_hex.as_bytes(),
        );
        assert!(
            out.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_lines(&out), vec![case.json.clone()], "{}", case.name);
    }
}

#[test]
fn encode_hex_turns_the_json_of_every_case_into_its_frame() {
    for case in vectors().cases.iter().filter(|c| !c.decode_only()) {
        let out = weshop_wire(
            &[
                "encode",
                "--hex",
                "--schema",
                &case.schema,
                "--message",
                &case.message,
            ],
            format!("{}\n", case.json).as_bytes(),
        );
        assert!(
            out.status.success(),
            "{}: {}",
            case.name,
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{}\n", case.frame_hex),
            "{}",
            case.name
        );
    }
}

#[test]
fn decode_streams_prints_one_line_per_frame_raw_and_hex() {
    for stream in vectors().streams {
        let args = [
            "decode",
            "--schema",
            &stream.schema,
            "--message",
            &stream.message,
        ];
        let raw = vectors::parse_hex(&stream.stream_hex).unwrap();
        let out = weshop_wire(&args, &raw);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_lines(&out), stream.frames_json, "{}", stream.name);

        // Hex split over lines and spaces, from a file argument.
        let spaced: String = stream
            .stream_hex
            .as_bytes()
            .chunks(6)
            .map(|c| format!("{} \n", std::str::from_utf8(c).unwrap()))
            .collect();
        let file = std::env::temp_dir().join(format!("weshop-cli-{}.hex", stream.name));
        std::fs::write(&file, spaced).unwrap();
        let mut args = args.to_vec();
        args.push("--hex");
        args.push(file.to_str().unwrap());
        let out = weshop_wire(&args, b"");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(json_lines(&out), stream.frames_json, "{}", stream.name);
    }
}

#[test]
fn malformed_input_exits_2_with_one_line_naming_the_offset() {
    for entry in vectors().malformed {
        let out = weshop_wire(
            &[
                "decode",
                "--hex",
                "--schema",
                &entry.schema,
                "--message",
                &entry.message,
            ],
            entry.stream_hex.as_bytes(),
        );
        assert_eq!(out.status.code(), Some(2), "{}", entry.name);
        assert!(
            out.stdout.is_empty(),
            "{}: printed {:?}",
            entry.name,
            out.stdout
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{}: {stderr}", entry.name);
        assert!(
            stderr.starts_with("error: at byte 0: "),
            "{}: {stderr}",
            entry.name
        );
    }
}

#[test]
fn frames_before_a_fault_are_still_printed() {
    let v = vectors();
    let good = v
        .cases
        .iter()
        .find(|c| c.name == "aconnected_ok")
        .expect("aconnected_ok vector");
    let bad = v
        .malformed
        .iter()
        .find(|m| m.name == "missing_required_field")
        .unwrap();
    let input = format!("{} {} {}", good.frame_hex, good.frame_hex, bad.stream_hex);
    let out = weshop_wire(
        &[
            "decode",
            "--hex",
            "--schema",
            "world_amazon",
            "--message",
            "AConnected",
        ],
        input.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(json_lines(&out), vec![good.json.clone(), good.json.clone()]);
    let offset = 2 * good.frame_hex.len() / 2;
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("error: at byte {offset}: ")),
        "{stderr}"
    );
    assert!(stderr.contains("missing required field result"), "{stderr}");
}

#[test]
fn bad_arguments_and_bad_json_are_clear_errors() {
    let out = weshop_wire(
        &["decode", "--schema", "world_amazon", "--message", "Nope"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AConnect"),
        "lists the choices"
    );

    let out = weshop_wire(
        &["decode", "--schema", "mars", "--message", "ACommands"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));

    let out = weshop_wire(
        &[
            "encode",
            "--schema",
            "world_amazon",
            "--message",
            "ACommands",
        ],
        b"{\"acks\":[\"1\"]}\n{\"bogus\":1}\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, [0x02, 0x38, 0x01], "the good line was written");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: at byte 15 (line 2): "),
        "{stderr}"
    );
}
