//! Server settings: built-in defaults, then a TOML file, then `WESHOP_*` environment variables.
//!
//! ```toml
//! http = "127.0.0.1:8000"          # WESHOP_HTTP
//! storage = "surrealkv://data"     # WESHOP_STORAGE: surrealkv://DIR, memory+surrealkv://DIR, mem://, ws://HOST:PORT, memory://
//! secure_cookies = false           # WESHOP_SECURE_COOKIES (true behind HTTPS)
//! cors_origins = []                # WESHOP_CORS_ORIGINS="https://a.example,https://b.example"
//! public_url = "https://shop.example"  # WESHOP_PUBLIC_URL: links in mails (default http://HTTP)
//! watchdog_secs = 60               # WESHOP_WATCHDOG_SECS: exit when the store stops answering; 0: never
//!
//! [world]
//! address = "127.0.0.1:23456"      # WESHOP_WORLD
//! id = 4                           # WESHOP_WORLD_ID; omit (or "new") to reuse the saved world or create one
//! simspeed = 100                   # WESHOP_SIMSPEED; omit for the world's default
//! warehouses = [{ id = 1, x = 10, y = 10 }]   # WESHOP_WAREHOUSES="1@10,10;2@-20,35"
//!
//! [ups]
//! listen = "0.0.0.0:34567"         # WESHOP_UPS_LISTEN (the default way: the UPS dials in)
//! # connect = "ups.example:34567"  # WESHOP_UPS_CONNECT (the shop dials the UPS instead)
//! ```
//!
//! Several nodes on one database: see [`cluster`] (`[cluster]`, `WESHOP_NODE`). Storage
//! credentials and names: see [`storage`] (`[storage]`, `WESHOP_STORAGE_*`). Mail: see
//! [`crate::mail::settings`] (`[smtp]`, `WESHOP_SMTP_*`).

pub mod cluster;
pub mod storage;

use std::{
    collections::HashMap,
    net::{SocketAddr, ToSocketAddrs},
    path::Path,
    time::Duration,
};

use serde::Deserialize;
use weshop_core::domain::{Location, WarehouseId, WarehouseSite};

use crate::{adapters::UpsEndpoint, http_guard::HttpLimits};

/// Why settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// An environment variable or setting has a bad value.
    #[error("{name}: {message}")]
    Value {
        /// The variable or key.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Everything `weshop serve` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where the HTTP API listens.
    pub http: SocketAddr,
    /// The storage URL.
    pub storage: String,
    /// Who signs in to a storage server, and the namespace and database used.
    pub storage_access: storage::StorageAccess,
    /// Adds `Secure` to the session cookie (set behind HTTPS).
    pub secure_cookies: bool,
    /// Other sites' origins whose pages may call the API from a browser (CORS); empty, the
    /// default, allows none.
    pub cors_origins: Vec<String>,
    /// The world's Amazon port.
    pub world: SocketAddr,
    /// The world to join (`None`: the saved one, else a new one).
    pub world_id: Option<i64>,
    /// Simulation speed to ask of the world.
    pub simspeed: Option<u32>,
    /// The shop's warehouses (created in the world on connect).
    pub warehouses: Vec<WarehouseSite>,
    /// How the UPS link is made.
    pub ups: UpsEndpoint,
    /// First resend wait of both links.
    pub resend: Duration,
    /// The HTTP server's connection limits.
    pub http_limits: HttpLimits,
    /// Destinations and addresses must lie within this many grid units of the origin on
    /// each axis.
    pub grid_limit: i32,
    /// MiB each of the embedded database's block cache and memtable (`surrealkv://`); more
    /// serves a large catalog from memory, at that cost in RSS.
    pub storage_cache_mb: u64,
    /// Where people reach the shop (links in mails); `None`: `http://` + the HTTP address.
    pub public_url: Option<String>,
    /// Where mail goes; `None`: notifications stay in the inbox only.
    pub smtp: Option<crate::mail::settings::SmtpSettings>,
    /// This node's name when several share the store; `None`: the only node.
    pub cluster: Option<cluster::ClusterSettings>,
    /// How long `weshop serve` lets the store go without answering before it exits for its
    /// supervisor to restart it (see [`crate::watchdog`]); `None`: it waits forever.
    pub watchdog: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            http: ([127, 0, 0, 1], 8000).into(),
            storage: "surrealkv://data".into(),
            storage_access: storage::StorageAccess::default(),
            secure_cookies: false,
            cors_origins: Vec::new(),
            world: ([127, 0, 0, 1], 23456).into(),
            world_id: None,
            simspeed: None,
            warehouses: default_warehouses(),
            ups: UpsEndpoint::Listen(([0, 0, 0, 0], 34567).into()),
            resend: Duration::from_millis(500),
            http_limits: HttpLimits::default(),
            grid_limit: 10_000,
            storage_cache_mb: 16,
            public_url: None,
            smtp: None,
            cluster: None,
            watchdog: Some(crate::watchdog::DEFAULT_LIMIT),
        }
    }
}

/// Three warehouses spread over the grid.
pub fn default_warehouses() -> Vec<WarehouseSite> {
    [(1, 10, 10), (2, 60, 20), (3, 30, 70)]
        .into_iter()
        .map(|(id, x, y)| WarehouseSite {
            id: WarehouseId::new(id).expect("positive"),
            location: Location { x, y },
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    http: Option<String>,
    storage: Option<storage::StorageFile>,
    secure_cookies: Option<bool>,
    cors_origins: Option<Vec<String>>,
    resend_ms: Option<u64>,
    http_max_connections: Option<usize>,
    http_header_timeout_ms: Option<u64>,
    http_idle_timeout_ms: Option<u64>,
    grid_limit: Option<u32>,
    storage_cache_mb: Option<u64>,
    watchdog_secs: Option<u64>,
    #[serde(default)]
    world: WorldFile,
    #[serde(default)]
    ups: UpsFile,
    public_url: Option<String>,
    smtp: Option<crate::mail::settings::SmtpFile>,
    cluster: Option<cluster::ClusterFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorldFile {
    address: Option<String>,
    id: Option<i64>,
    simspeed: Option<u32>,
    warehouses: Option<Vec<WarehouseFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WarehouseFile {
    id: i32,
    x: i32,
    y: i32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpsFile {
    listen: Option<String>,
    connect: Option<String>,
}

impl Settings {
    /// How to open [`Settings::storage`].
    pub fn open_options(&self) -> weshop_storage::OpenOptions {
        let bytes = self.storage_cache_mb.saturating_mul(1 << 20);
        weshop_storage::OpenOptions {
            embedded_memory: weshop_storage::surreal::EmbeddedMemory {
                block_cache_bytes: bytes,
                memtable_bytes: bytes,
            },
            namespace: self.storage_access.namespace.clone(),
            database: self.storage_access.database.clone(),
            credentials: self.storage_access.credentials.clone(),
            ..weshop_storage::OpenOptions::default()
        }
    }

    /// Defaults, then `file` (if given), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("WESHOP_"))
            .collect();
        Self::load_from(file, &env)
    }

    /// Like [`Settings::load`] with the environment given.
    pub fn load_from(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut settings = Settings::default();
        if let Some(path) = file {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: shown.clone(),
                source,
            })?;
            settings
                .apply_toml(&text)
                .map_err(|message| ConfigError::Parse {
                    path: shown,
                    message,
                })?;
        }
        settings.apply_env(env)?;
        Ok(settings)
    }

    /// Applies a TOML document.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let value = |name: &str, e: ConfigError| format!("{name}: {e}");
        if let Some(http) = file.http {
            self.http = address("http", &http).map_err(|e| value("http", e))?;
        }
        if let Some(storage) = file.storage {
            let url = self
                .storage_access
                .apply_file(storage)
                .map_err(|e| e.to_string())?;
            if let Some(url) = url {
                self.storage = url;
            }
        }
        if let Some(secure) = file.secure_cookies {
            self.secure_cookies = secure;
        }
        if let Some(origins) = file.cors_origins {
            self.cors_origins = origins;
        }
        if let Some(ms) = file.resend_ms {
            self.resend = Duration::from_millis(ms.max(1));
        }
        if let Some(n) = file.http_max_connections {
            self.http_limits.max_connections = n.max(1);
        }
        if let Some(ms) = file.http_header_timeout_ms {
            self.http_limits.header_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = file.http_idle_timeout_ms {
            self.http_limits.idle_timeout = Duration::from_millis(ms.max(1));
        }
        if let Some(limit) = file.grid_limit {
            self.grid_limit = i32::try_from(limit).unwrap_or(i32::MAX);
        }
        if let Some(mb) = file.storage_cache_mb {
            self.storage_cache_mb = mb.max(1);
        }
        if let Some(secs) = file.watchdog_secs {
            self.watchdog = watchdog(secs);
        }
        if let Some(world) = file.world.address {
            self.world = address("world.address", &world).map_err(|e| value("world", e))?;
        }
        if file.world.id.is_some() {
            self.world_id = file.world.id;
        }
        if file.world.simspeed.is_some() {
            self.simspeed = file.world.simspeed;
        }
        if let Some(list) = file.world.warehouses {
            self.warehouses = list
                .into_iter()
                .map(|w| site(w.id, w.x, w.y))
                .collect::<Result<_, _>>()
                .map_err(|e| value("world.warehouses", e))?;
        }
        self.set_ups(
            file.ups.listen.as_deref(),
            file.ups.connect.as_deref(),
            "ups",
        )
        .map_err(|e| e.to_string())?;
        if let Some(url) = file.public_url {
            self.public_url = Some(public_url("public_url", &url).map_err(|e| e.to_string())?);
        }
        if let Some(smtp) = file.smtp {
            crate::mail::settings::apply_file(&mut self.smtp, smtp).map_err(|e| e.to_string())?;
        }
        cluster::apply(&mut self.cluster, file.cluster, &HashMap::new())
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn set_ups(
        &mut self,
        listen: Option<&str>,
        connect: Option<&str>,
        name: &str,
    ) -> Result<(), ConfigError> {
        match (listen, connect) {
            (Some(_), Some(_)) => Err(ConfigError::Value {
                name: name.into(),
                message: "set either listen or connect, not both".into(),
            }),
            (Some(listen), None) => {
                self.ups = UpsEndpoint::Listen(address(&format!("{name} listen"), listen)?);
                Ok(())
            }
            (None, Some(connect)) => {
                self.ups = UpsEndpoint::Connect(address(&format!("{name} connect"), connect)?);
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// Applies `WESHOP_*` variables.
    pub fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let bad = |name: &str, message: String| ConfigError::Value {
            name: name.into(),
            message,
        };
        if let Some(v) = get("WESHOP_HTTP") {
            self.http = address("WESHOP_HTTP", v)?;
        }
        if let Some(v) = get("WESHOP_STORAGE") {
            self.storage = v.to_string();
        }
        self.storage_access.apply_env(env)?;
        if let Some(v) = get("WESHOP_SECURE_COOKIES") {
            self.secure_cookies = v.parse().map_err(|_| {
                bad(
                    "WESHOP_SECURE_COOKIES",
                    format!("{v:?} is not true or false"),
                )
            })?;
        }
        if let Some(v) = get("WESHOP_CORS_ORIGINS") {
            self.cors_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_string)
                .collect();
        }
        let number = |name: &str, v: &str| -> Result<u64, ConfigError> {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(name, format!("{v:?} is not a positive number")))
        };
        if let Some(v) = get("WESHOP_HTTP_MAX_CONNECTIONS") {
            self.http_limits.max_connections =
                usize::try_from(number("WESHOP_HTTP_MAX_CONNECTIONS", v)?).unwrap_or(usize::MAX);
        }
        if let Some(v) = get("WESHOP_HTTP_HEADER_TIMEOUT_MS") {
            self.http_limits.header_timeout =
                Duration::from_millis(number("WESHOP_HTTP_HEADER_TIMEOUT_MS", v)?);
        }
        if let Some(v) = get("WESHOP_HTTP_IDLE_TIMEOUT_MS") {
            self.http_limits.idle_timeout =
                Duration::from_millis(number("WESHOP_HTTP_IDLE_TIMEOUT_MS", v)?);
        }
        if let Some(v) = get("WESHOP_GRID_LIMIT") {
            self.grid_limit = i32::try_from(number("WESHOP_GRID_LIMIT", v)?).unwrap_or(i32::MAX);
        }
        if let Some(v) = get("WESHOP_WATCHDOG_SECS") {
            self.watchdog = watchdog(number("WESHOP_WATCHDOG_SECS", v)?);
        }
        if let Some(v) = get("WESHOP_STORAGE_CACHE_MB") {
            self.storage_cache_mb = number("WESHOP_STORAGE_CACHE_MB", v)?;
        }
        if let Some(v) = get("WESHOP_WORLD") {
            self.world = address("WESHOP_WORLD", v)?;
        }
        if let Some(v) = get("WESHOP_WORLD_ID") {
            self.world_id = if v == "new" {
                None
            } else {
                Some(v.parse().map_err(|_| {
                    bad(
                        "WESHOP_WORLD_ID",
                        format!("{v:?} is not a world id or \"new\""),
                    )
                })?)
            };
        }
        if let Some(v) = get("WESHOP_SIMSPEED") {
            self.simspeed = Some(
                v.parse()
                    .map_err(|_| bad("WESHOP_SIMSPEED", format!("{v:?} is not a number")))?,
            );
        }
        if let Some(v) = get("WESHOP_WAREHOUSES") {
            self.warehouses = parse_warehouses(v)?;
        }
        self.set_ups(
            get("WESHOP_UPS_LISTEN"),
            get("WESHOP_UPS_CONNECT"),
            "WESHOP_UPS",
        )?;
        if let Some(url) = get("WESHOP_PUBLIC_URL") {
            self.public_url = Some(public_url("WESHOP_PUBLIC_URL", url)?);
        }
        crate::mail::settings::apply_env(&mut self.smtp, env)?;
        cluster::apply(&mut self.cluster, None, env)?;
        Ok(())
    }

    /// Where people reach the shop: [`Settings::public_url`], or the HTTP address it is bound
    /// to (`bound`, which knows the port when the setting asked for any).
    pub fn public_url_or(&self, bound: SocketAddr) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
    }
}

/// Parses `ID@X,Y;ID@X,Y…`.
pub fn parse_warehouses(text: &str) -> Result<Vec<WarehouseSite>, ConfigError> {
    let bad = |message: String| ConfigError::Value {
        name: "WESHOP_WAREHOUSES".into(),
        message,
    };
    text.split(';')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (id, at) = part
                .split_once('@')
                .ok_or_else(|| bad(format!("{part:?} is not ID@X,Y")))?;
            let (x, y) = at
                .split_once(',')
                .ok_or_else(|| bad(format!("{part:?} is not ID@X,Y")))?;
            let number = |s: &str| {
                s.trim()
                    .parse::<i32>()
                    .map_err(|_| bad(format!("{s:?} in {part:?} is not a number")))
            };
            site(number(id)?, number(x)?, number(y)?)
        })
        .collect()
}

/// A watchdog limit of `secs` seconds; 0 turns it off.
fn watchdog(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn site(id: i32, x: i32, y: i32) -> Result<WarehouseSite, ConfigError> {
    Ok(WarehouseSite {
        id: WarehouseId::new(id).map_err(|e| ConfigError::Value {
            name: "warehouse".into(),
            message: e.to_string(),
        })?,
        location: Location { x, y },
    })
}

/// An `http(s)://host[:port][/path]` URL, without a trailing slash.
fn public_url(name: &str, text: &str) -> Result<String, ConfigError> {
    let ok = (text.starts_with("http://") || text.starts_with("https://"))
        && text.len() > "https://".len()
        && !text.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ConfigError::Value {
            name: name.into(),
            message: format!("{text:?} is not an http:// or https:// URL"),
        });
    }
    Ok(text.trim_end_matches('/').to_string())
}

fn address(name: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| ConfigError::Value {
            name: name.into(),
            message: format!("{text:?} is not a HOST:PORT address"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment_override_defaults() {
        let mut s = Settings::default();
        s.apply_toml(
            r#"
            http = "127.0.0.1:9000"
            storage = "mem://"
            [world]
            address = "127.0.0.1:1"
            id = 12
            warehouses = [{ id = 4, x = 1, y = 2 }]
            [ups]
            connect = "127.0.0.1:2"
            "#,
        )
        .unwrap();
        assert_eq!(s.http.port(), 9000);
        assert_eq!(s.world_id, Some(12));
        assert_eq!(s.warehouses.len(), 1);
        assert_eq!(s.ups, UpsEndpoint::Connect(([127, 0, 0, 1], 2).into()));
        let env = HashMap::from([
            ("WESHOP_WORLD_ID".to_string(), "new".to_string()),
            ("WESHOP_WAREHOUSES".to_string(), "1@0,0; 2@-5,7".to_string()),
            ("WESHOP_UPS_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        ]);
        s.apply_env(&env).unwrap();
        assert_eq!(s.world_id, None);
        assert_eq!(s.warehouses[1].location, Location { x: -5, y: 7 });
        assert!(matches!(s.ups, UpsEndpoint::Listen(_)));
    }

    #[test]
    fn bad_values_are_named() {
        let mut s = Settings::default();
        let err = s.apply_toml("colour = 3").unwrap_err();
        assert!(err.contains("colour"), "{err}");
        let env = HashMap::from([("WESHOP_WAREHOUSES".to_string(), "1@x,0".to_string())]);
        let err = s.apply_env(&env).unwrap_err().to_string();
        assert!(err.contains("WESHOP_WAREHOUSES"), "{err}");
        let env = HashMap::from([
            ("WESHOP_UPS_LISTEN".to_string(), "127.0.0.1:1".to_string()),
            ("WESHOP_UPS_CONNECT".to_string(), "127.0.0.1:2".to_string()),
        ]);
        assert!(s.apply_env(&env).is_err());
    }

    /// The watchdog is on by default, set in seconds by the file or the environment, and off
    /// at 0.
    #[test]
    fn the_watchdog_is_set_in_seconds_and_off_at_zero() {
        let mut s = Settings::default();
        assert_eq!(s.watchdog, Some(crate::watchdog::DEFAULT_LIMIT));
        s.apply_toml("watchdog_secs = 0").unwrap();
        assert_eq!(s.watchdog, None);
        let env = HashMap::from([("WESHOP_WATCHDOG_SECS".to_string(), "90".to_string())]);
        s.apply_env(&env).unwrap();
        assert_eq!(s.watchdog, Some(Duration::from_secs(90)));
        let env = HashMap::from([("WESHOP_WATCHDOG_SECS".to_string(), "soon".to_string())]);
        let err = s.apply_env(&env).unwrap_err().to_string();
        assert!(err.contains("WESHOP_WATCHDOG_SECS"), "{err}");
    }
}
