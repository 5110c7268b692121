//! SMTP settings: the `[smtp]` table of the TOML file and `WESHOP_SMTP_*` variables.
//!
//! ```toml
//! [smtp]
//! host = "smtp.example.com"   # WESHOP_SMTP_HOST (setting it turns mail on)
//! port = 587                  # WESHOP_SMTP_PORT (default: 587 starttls, 465 tls, 25 plain)
//! user = "shop"               # WESHOP_SMTP_USER
//! password = "…"              # WESHOP_SMTP_PASSWORD (never logged)
//! from = "WeShop <shop@example.com>"   # WESHOP_SMTP_FROM
//! tls = "starttls"            # WESHOP_SMTP_TLS: starttls (default), tls, or plain
//! ca_file = "/etc/ssl/private-ca.pem"  # WESHOP_SMTP_CA_FILE: trust this CA too
//! ```

use std::{collections::HashMap, fmt, path::PathBuf};

use serde::Deserialize;

use crate::config::ConfigError;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (the default).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption at all: only for a server on the same machine or in tests.
    Plain,
}

impl SmtpTls {
    fn parse(name: &str, text: &str) -> Result<Self, ConfigError> {
        match text.to_ascii_lowercase().as_str() {
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            "plain" => Ok(Self::Plain),
            _ => Err(ConfigError::Value {
                name: name.into(),
                message: format!("{text:?} is not starttls, tls or plain"),
            }),
        }
    }

    /// The port a server listens on for this mode, unless told otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Starttls => 587,
            Self::Tls => 465,
            Self::Plain => 25,
        }
    }
}

/// Where mail goes.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The server's host name (also the name its certificate must carry).
    pub host: String,
    /// Its port (`None`: the mode's usual one).
    pub port: Option<u16>,
    /// Login, if the server wants one.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
    /// The sender, e.g. `WeShop <shop@example.com>`.
    pub from: String,
    /// Connection protection.
    pub tls: SmtpTls,
    /// A CA certificate (PEM) to trust besides the usual roots: a private server's.
    pub ca_file: Option<PathBuf>,
}

/// The password never reaches a log.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("from", &self.from)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl SmtpSettings {
    /// The port to dial.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(self.tls.default_port())
    }
}

/// The `[smtp]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmtpFile {
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    password: Option<String>,
    from: Option<String>,
    tls: Option<SmtpTls>,
    ca_file: Option<PathBuf>,
}

/// The sender when none is set.
const DEFAULT_FROM: &str = "WeShop <shop@weshop.invalid>";

/// Applies the `[smtp]` table: `host` turns mail on; the other keys change what is there.
pub(crate) fn apply_file(
    smtp: &mut Option<SmtpSettings>,
    file: SmtpFile,
) -> Result<(), ConfigError> {
    let env = [
        ("WESHOP_SMTP_HOST", file.host),
        ("WESHOP_SMTP_PORT", file.port.map(|p| p.to_string())),
        ("WESHOP_SMTP_USER", file.user),
        ("WESHOP_SMTP_PASSWORD", file.password),
        ("WESHOP_SMTP_FROM", file.from),
        (
            "WESHOP_SMTP_TLS",
            file.tls.map(|t| format!("{t:?}").to_ascii_lowercase()),
        ),
        (
            "WESHOP_SMTP_CA_FILE",
            file.ca_file.map(|p| p.display().to_string()),
        ),
    ];
    let env: HashMap<String, String> = env
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    apply_env(smtp, &env)
}

/// Applies `WESHOP_SMTP_*`: `WESHOP_SMTP_HOST` turns mail on; the others change what is
/// there, and without a host they are an error (they would be silently ignored).
pub(crate) fn apply_env(
    smtp: &mut Option<SmtpSettings>,
    env: &HashMap<String, String>,
) -> Result<(), ConfigError> {
    let get = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    if let Some(host) = get("WESHOP_SMTP_HOST") {
        let settings = smtp.get_or_insert_with(|| SmtpSettings {
            host: String::new(),
            port: None,
            user: None,
            password: None,
            from: DEFAULT_FROM.into(),
            tls: SmtpTls::default(),
            ca_file: None,
        });
        settings.host = host.to_string();
    }
    let others = [
        "WESHOP_SMTP_PORT",
        "WESHOP_SMTP_USER",
        "WESHOP_SMTP_PASSWORD",
        "WESHOP_SMTP_FROM",
        "WESHOP_SMTP_TLS",
        "WESHOP_SMTP_CA_FILE",
    ];
    let Some(settings) = smtp.as_mut() else {
        if let Some(name) = others.iter().find(|n| get(n).is_some()) {
            return Err(ConfigError::Value {
                name: (*name).into(),
                message: "set without an SMTP host (WESHOP_SMTP_HOST or [smtp] host)".into(),
            });
        }
        return Ok(());
    };
    if let Some(port) = get("WESHOP_SMTP_PORT") {
        settings.port = Some(port.parse().map_err(|_| ConfigError::Value {
            name: "WESHOP_SMTP_PORT".into(),
            message: format!("{port:?} is not a port number"),
        })?);
    }
    if let Some(user) = get("WESHOP_SMTP_USER") {
        settings.user = Some(user.into());
    }
    if let Some(password) = env.get("WESHOP_SMTP_PASSWORD").filter(|p| !p.is_empty()) {
        settings.password = Some(password.clone());
    }
    if let Some(from) = get("WESHOP_SMTP_FROM") {
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| ConfigError::Value {
                name: "WESHOP_SMTP_FROM".into(),
                message: format!("{from:?} is not a mailbox: {e}"),
            })?;
        settings.from = from.into();
    }
    if let Some(tls) = get("WESHOP_SMTP_TLS") {
        settings.tls = SmtpTls::parse("WESHOP_SMTP_TLS", tls)?;
    }
    if let Some(path) = get("WESHOP_SMTP_CA_FILE") {
        settings.ca_file = Some(path.into());
    }
    if settings.user.is_some() != settings.password.is_some() {
        return Err(ConfigError::Value {
            name: "WESHOP_SMTP_USER".into(),
            message: "an SMTP user needs a password, and a password a user".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_host_turns_mail_on_and_the_rest_fill_in() {
        let mut smtp = None;
        apply_env(&mut smtp, &env(&[])).unwrap();
        assert_eq!(smtp, None);
        apply_env(
            &mut smtp,
            &env(&[
                ("WESHOP_SMTP_HOST", "mail.example"),
                ("WESHOP_SMTP_USER", "shop"),
                ("WESHOP_SMTP_PASSWORD", "s3cret"),
                ("WESHOP_SMTP_TLS", "TLS"),
            ]),
        )
        .unwrap();
        let smtp = smtp.unwrap();
        assert_eq!(smtp.host, "mail.example");
        assert_eq!(smtp.port(), 465);
        assert_eq!(smtp.from, DEFAULT_FROM);
        let shown = format!("{smtp:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn the_file_and_then_the_environment() {
        let file: SmtpFile = toml::from_str(
            "host = \"127.0.0.1\"\nport = 2525\ntls = \"plain\"\nfrom = \"Shop <a@b.example>\"",
        )
        .unwrap();
        let mut smtp = None;
        apply_file(&mut smtp, file).unwrap();
        apply_env(&mut smtp, &env(&[("WESHOP_SMTP_PORT", "2526")])).unwrap();
        let smtp = smtp.unwrap();
        assert_eq!((smtp.port(), smtp.tls), (2526, SmtpTls::Plain));
        assert_eq!(smtp.from, "Shop <a@b.example>");
    }

    #[test]
    fn bad_or_orphaned_values_are_named() {
        for (pairs, name) in [
            (vec![("WESHOP_SMTP_USER", "shop")], "WESHOP_SMTP_USER"),
            (
                vec![("WESHOP_SMTP_HOST", "h"), ("WESHOP_SMTP_PORT", "x")],
                "WESHOP_SMTP_PORT",
            ),
            (
                vec![("WESHOP_SMTP_HOST", "h"), ("WESHOP_SMTP_TLS", "maybe")],
                "WESHOP_SMTP_TLS",
            ),
            (
                vec![
                    ("WESHOP_SMTP_HOST", "h"),
                    ("WESHOP_SMTP_FROM", "not a mailbox"),
                ],
                "WESHOP_SMTP_FROM",
            ),
            (
                vec![("WESHOP_SMTP_HOST", "h"), ("WESHOP_SMTP_USER", "u")],
                "WESHOP_SMTP_USER",
            ),
        ] {
            let mut smtp = None;
            let error = apply_env(&mut smtp, &env(&pairs)).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }
}
