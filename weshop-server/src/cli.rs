//! The `weshop` command line: argument definitions and dispatch.

use std::{
    fs::File,
    io::{self, BufReader, Read, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::{Args, Parser, Subcommand};
use weshop_proto::{DEFAULT_MAX_FRAME_LENGTH, Schema, json::JsonMapper};

use crate::{
    app::{App, AppOptions},
    config::Settings,
    demo::{DEMO_EMAIL, DEMO_PASSWORD, Demo, DemoOptions, SELLER_PASSWORD},
    sim::{ShopEndpoint, UpsConfig, UpsServer, WorldConfig, WorldServer},
    watchdog, wire,
};

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
    /// Run the simulated world: warehouses and trucks, an Amazon port and a UPS port.
    WorldSim(WorldSimArgs),
    /// Run the simulated UPS: joins worlds on a world's UPS port and serves shops.
    UpsSim(UpsSimArgs),
    /// Run the shop: HTTP API, world and UPS links (settings: --config file, then WESHOP_* env).
    Serve(ServeArgs),
    /// Rebuild the on-disk search index from the store and exit (prints the product count).
    Reindex(ServeArgs),
    /// Run everything in one process: simulated world and UPS, the shop on an embedded
    /// database, a seeded catalog; prints the URL and a demo login.
    Demo(DemoArgs),
}

/// `weshop serve …`
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML settings file (see the README's configuration reference).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// `weshop demo …`
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// HTTP port (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Keep the database in this directory (default: a new temporary one).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Percentage (0-99) of requests the simulated world drops.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=99))]
    pub flakiness: u8,
    /// Simulation speed. The default, 20, is a pace a person can watch: an order takes
    /// roughly 20 to 60 seconds from "Place order" to "Delivered", each step visible.
    #[arg(long, default_value_t = DEMO_SIMSPEED, conflicts_with = "fast")]
    pub simspeed: u32,
    /// Everything as fast as it goes (orders are delivered in about a second).
    #[arg(long)]
    pub fast: bool,
}

/// The demo's default pace: at simspeed 100 a nearby order takes about 5 s of packing,
/// loading and driving (README, "Time model"), so 20 makes it about 25 s, farther ones up to a
/// minute.
pub const DEMO_SIMSPEED: u32 = 20;

/// `weshop world-sim …`
#[derive(Debug, Args)]
pub struct WorldSimArgs {
    /// Address of the port shops connect to (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:23456")]
    pub amazon_listen: SocketAddr,
    /// Address of the port UPSes connect to (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:12345")]
    pub ups_listen: SocketAddr,
    /// Percentage (0-99) of incoming requests dropped before they are acked.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=99))]
    pub flakiness: u8,
    /// Seed of everything random (the same seed drops the same requests).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// At shutdown (SIGINT or SIGTERM), write every world's stock to this file, a line each:
    /// `world W warehouse H product P units N` (for checking a shop from outside).
    #[arg(long)]
    pub stock_report: Option<PathBuf>,
}

/// `weshop ups-sim …`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("shop").args(["listen", "connect"])))]
pub struct UpsSimArgs {
    /// The world simulator's UPS port.
    #[arg(long, default_value = "127.0.0.1:12345")]
    pub world: SocketAddr,
    /// Listen for shops here (the default, on 127.0.0.1:34567; port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Dial the shop here instead of listening.
    #[arg(long)]
    pub connect: Option<SocketAddr>,
    /// Trucks to create in each world.
    #[arg(long, default_value_t = 10)]
    pub trucks: u32,
    /// Seed of truck placement and resend jitter.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seconds a truck waits at a warehouse for the rest of its packages once one is released.
    #[arg(long, default_value_t = 10.0)]
    pub linger: f64,
    /// A truck leaves on the first DeliverPackage for it instead of waiting for the rest of
    /// its packages (it delivers those once they are released).
    #[arg(long)]
    pub eager_dispatch: bool,
    /// Simspeed to ask of the world for trucks (default: the world's).
    #[arg(long)]
    pub simspeed: Option<u32>,
    /// Create a world with this UPS's trucks at start (printed) for shops to join, instead of
    /// only joining the worlds shops name.
    #[arg(long)]
    pub create_world: bool,
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
        Command::WorldSim(args) => run_async(world_sim(args)),
        Command::UpsSim(args) => run_async(ups_sim(args)),
        Command::Serve(args) => run_async(serve(args)),
        Command::Reindex(args) => run_async(reindex(args)),
        Command::Demo(args) => run_async(demo(args)),
    }
}

/// What the server logs: `RUST_LOG` if set, else its own info and its dependencies' warnings.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,surrealdb=warn,surrealkv=warn,poem=warn")
    })
}

/// Installs the log subscriber (`RUST_LOG`, default `info` with the database's and the HTTP
/// framework's chatter at `warn`; `debug` shows every message).
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(io::stderr)
        .try_init();
}

fn run_async(task: impl Future<Output = io::Result<()>>) -> ExitCode {
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("error: cannot start the runtime: {e}"), 1),
    };
    match runtime.block_on(task) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("error: {e}"), 1),
    }
}

/// Ctrl-C and SIGTERM, caught from the moment this is created: install it before telling
/// anyone (by printing an address) that the process is ready, or an early signal kills the
/// process instead of stopping it cleanly.
pub struct ShutdownSignal {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    /// Starts catching the signals.
    pub fn install() -> io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Resolves on the first Ctrl-C or SIGTERM.
    pub async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! { _ = self.interrupt.recv() => {}, _ = self.terminate.recv() => {} }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Prints one line to standard output at once (tests and scripts read the bound addresses).
fn announce(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn world_sim(args: WorldSimArgs) -> io::Result<()> {
    let config = WorldConfig {
        flakiness: args.flakiness,
        seed: args.seed,
        ..WorldConfig::default()
    };
    let shutdown = ShutdownSignal::install()?;
    let server = WorldServer::bind(args.amazon_listen, args.ups_listen, config).await?;
    announce(&format!("world-sim: amazon port {}", server.amazon_addr()));
    announce(&format!("world-sim: ups port {}", server.ups_addr()));
    tracing::info!(
        "world-sim: flakiness {}%, seed {}",
        args.flakiness,
        args.seed
    );
    shutdown.recv().await;
    tracing::info!("world-sim: shutting down");
    if let Some(path) = &args.stock_report {
        let report: String = server
            .stock_report()
            .await
            .into_iter()
            .map(|(world, warehouse, product, units)| {
                format!("world {world} warehouse {warehouse} product {product} units {units}\n")
            })
            .collect();
        std::fs::write(path, report)?;
    }
    server.shutdown().await;
    Ok(())
}

async fn ups_sim(args: UpsSimArgs) -> io::Result<()> {
    let config = UpsConfig {
        trucks: args.trucks,
        seed: args.seed,
        simspeed: args.simspeed,
        linger: Duration::try_from_secs_f64(args.linger)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("--linger: {e}")))?,
        eager_dispatch: args.eager_dispatch,
        ..UpsConfig::default()
    };
    let shop = match (args.listen, args.connect) {
        (_, Some(addr)) => ShopEndpoint::Connect(addr),
        (Some(addr), None) => ShopEndpoint::Listen(addr),
        (None, None) => ShopEndpoint::Listen(SocketAddr::from(([127, 0, 0, 1], 34567))),
    };
    let shutdown = ShutdownSignal::install()?;
    let server = UpsServer::start_with(args.world, shop, config, args.create_world).await?;
    match server.shop_addr() {
        Some(addr) => announce(&format!("ups-sim: shop port {addr}")),
        None => announce(&format!(
            "ups-sim: dialing the shop at {}",
            args.connect.expect("connect mode")
        )),
    }
    announce(&format!("ups-sim: world simulator {}", args.world));
    if let Some(world) = server.created_world() {
        announce(&format!("ups-sim: created world {world}"));
    }
    shutdown.recv().await;
    tracing::info!("ups-sim: shutting down");
    server.shutdown().await;
    Ok(())
}

async fn serve(args: ServeArgs) -> io::Result<()> {
    let settings = Settings::load(args.config.as_deref())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let shutdown = ShutdownSignal::install()?;
    let app = App::start(settings.clone(), AppOptions::new())
        .await
        .map_err(io::Error::other)?;
    announce(&format!("weshop: serving http://{}", app.http_addr()));
    if let Some(ups) = app.ups_addr() {
        announce(&format!("weshop: listening for the UPS on {ups}"));
    }
    announce(&format!("weshop: world simulator at {}", settings.world));
    let watchdog = settings
        .watchdog
        .map(|limit| watchdog::exit_when_wedged(app.store(), limit));
    let lost = tokio::select! {
        _ = shutdown.recv() => None,
        why = app.leadership_lost() => Some(why),
    };
    tracing::info!("weshop: shutting down");
    // Stopped only once shut down: a store that never lets go stops the process all the same.
    app.shutdown().await;
    drop(watchdog);
    match lost {
        // Crash-only: a node that lost the lease (or could not lead) stops, and whatever
        // supervises it starts it again as a follower.
        Some(why) => Err(io::Error::other(format!(
            "{why}; stopped so as to restart as a follower"
        ))),
        None => Ok(()),
    }
}

async fn reindex(args: ServeArgs) -> io::Result<()> {
    let settings = Settings::load(args.config.as_deref())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let count = crate::app::reindex(&settings.storage, settings.open_options())
        .await
        .map_err(io::Error::other)?;
    let place = match crate::app::index_dir(&settings.storage) {
        Some(dir) => dir.display().to_string(),
        None => "memory (rebuilt at every start anyway)".into(),
    };
    announce(&format!("weshop: reindexed {count} products into {place}"));
    Ok(())
}

async fn demo(args: DemoArgs) -> io::Result<()> {
    let shutdown = ShutdownSignal::install()?;
    let demo = Demo::start(DemoOptions {
        port: args.port,
        data: args.data,
        flakiness: args.flakiness,
        simspeed: if args.fast { u32::MAX } else { args.simspeed },
        ..DemoOptions::default()
    })
    .await
    .map_err(io::Error::other)?;
    let url = format!("http://{}", demo.app.http_addr());
    announce(&format!(
        "weshop demo: the shop is at {url}/ (API docs: {url}/api/docs)"
    ));
    announce(&format!(
        "weshop demo: log in as {DEMO_EMAIL} / {DEMO_PASSWORD} (sellers: kitchen@weshop.test, sports@weshop.test, general@weshop.test / {SELLER_PASSWORD})"
    ));
    announce(&format!(
        "weshop demo: the mail it sends is at {url}/demo/mailbox (SMTP server on {})",
        demo.mail.addr()
    ));
    announce(&format!(
        "weshop demo: data in {}; Ctrl-C stops",
        demo.data_dir.display()
    ));
    let watchdog = Settings::default()
        .watchdog
        .map(|limit| watchdog::exit_when_wedged(demo.app.store(), limit));
    shutdown.recv().await;
    tracing::info!("weshop demo: shutting down");
    demo.shutdown().await;
    drop(watchdog);
    Ok(())
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
