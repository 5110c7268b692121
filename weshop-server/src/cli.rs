//! The `weshop` command line: argument definitions and dispatch.

use std::{
    fs::File,
    io::{self, BufReader, Read},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};
use weshop_proto::{DEFAULT_MAX_FRAME_LENGTH, Schema, json::JsonMapper};

use crate::wire;

/// WeShop: an online shop fulfilled over protobuf/TCP by a world simulator and a partner UPS.
#[derive(Debug, Parser)]
#[command(name = "weshop", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect or craft wire frames of the three protocols.
    #[command(subcommand)]
    Wire(WireCommand),
}

/// `weshop wire …`
#[derive(Debug, Subcommand)]
pub enum WireCommand {
    /// Varint-delimited frames in, one JSON object per frame per line out.
    Decode(WireArgs),
    /// JSON lines in (one message per line), varint-delimited frames out.
    Encode(WireArgs),
}

/// Options shared by `wire decode` and `wire encode`.
#[derive(Debug, Args)]
pub struct WireArgs {
    /// The schema: world_amazon, world_ups or ups_amazon.
    #[arg(long)]
    pub schema: Schema,
    /// The message type of every frame, e.g. ACommands.
    #[arg(long)]
    pub message: String,
    /// Frames as hex text (whitespace ignored) instead of raw bytes.
    #[arg(long)]
    pub hex: bool,
    /// Largest frame body accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_FRAME_LENGTH)]
    pub max_frame_length: usize,
    /// Input file; standard input when absent or `-`.
    pub file: Option<PathBuf>,
}

impl WireArgs {
    fn open(&self) -> io::Result<Box<dyn Read>> {
        match &self.file {
            Some(path) if path.as_os_str() != "-" => Ok(Box::new(File::open(path)?)),
            _ => Ok(Box::new(io::stdin().lock())),
        }
    }
}

/// Runs a parsed command line; returns the process exit status (2 for malformed input).
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Wire(command) => run_wire(command),
    }
}

fn run_wire(command: WireCommand) -> ExitCode {
    let (args, decoding) = match &command {
        WireCommand::Decode(args) => (args, true),
        WireCommand::Encode(args) => (args, false),
    };
    let mapper = match JsonMapper::new(args.schema, &args.message) {
        Ok(mapper) => mapper.with_max_frame_length(args.max_frame_length),
        Err(e) => return fail(&format!("error: {e}"), 2),
    };
    let input = match args.open() {
        Ok(input) => input,
        Err(e) => return fail(&format!("error: cannot open input: {e}"), 1),
    };
    let output = io::stdout().lock();
    let result = if decoding {
        wire::decode(&mapper, input, args.hex, output)
    } else {
        wire::encode(&mapper, BufReader::new(input), args.hex, output)
    };
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(wire::WireError::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) if e.is_malformed_input() => fail(&format!("error: {e}"), 2),
        Err(e) => fail(&format!("error: {e}"), 1),
    }
}

fn fail(message: &str, status: u8) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(status)
}
