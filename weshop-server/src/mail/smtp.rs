//! The SMTP client: lettre's protocol over connections opened here with Nagle off, pooled.
//!
//! lettre 0.11.23, its newest release, leaves Nagle's algorithm on. It writes a mail's body,
//! then the closing `.` line as a second small write, which Nagle holds until the server
//! acknowledges the body, and servers delay that acknowledgement (40 ms on Linux). So every
//! mail waited about 40 ms: 8 connections sent 157 mails/s on loopback while the CPU idled
//! (`cargo bench --bench mail`), and 4,108 mails/s with `TCP_NODELAY` (lettre/lettre#1159
//! fixed it upstream; not released yet). lettre's pool also sends a NOOP before every mail on
//! a reused connection; here only a connection idle for a while is checked first.
//!
//! Connections with STARTTLS or none are opened here, with `TCP_NODELAY`, and handed to
//! lettre's `AsyncSmtpConnection`. TLS from the first byte (SMTPS) is opened by lettre
//! itself: it offers no way to hand it a socket for that, so SMTPS keeps the stall until
//! lettre ships its fix.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use lettre::{
    Message,
    transport::smtp::{
        Error as SmtpError,
        authentication::{Credentials, DEFAULT_MECHANISMS},
        client::{AsyncSmtpConnection, Certificate, TlsParameters},
        extension::ClientId,
    },
};
use tokio::net::TcpStream;

use super::settings::{SmtpSettings, SmtpTls};

/// The longest a connection attempt or one mail's exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// A pooled connection idle longer than this is checked with a NOOP before it is used.
const CHECK_AFTER: Duration = Duration::from_secs(1);
/// A pooled connection idle longer than this is closed instead of used (servers hang up on
/// idle clients after a few minutes; RFC 5321 asks them to wait at least five).
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// Idle connections kept.
const POOL: usize = 16;

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The server answered with an error, or the exchange broke.
    #[error("{0}")]
    Smtp(#[from] SmtpError),
    /// The server could not be reached.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The server took too long.
    #[error("the SMTP server did not answer within {TIMEOUT:?}")]
    TimedOut,
}

impl SendError {
    /// Whether the server refused the mail for good (a 5xx reply): sending it again is useless.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Smtp(error) if error.is_permanent())
    }
}

enum Security {
    Plain,
    Starttls(TlsParameters),
    Wrapper(TlsParameters),
}

/// Sends mail to one SMTP server, over pooled connections.
pub struct SmtpClient {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpClient {
    /// A client for `settings` (reads its CA file, if any, now).
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let security = match settings.tls {
            SmtpTls::Plain => Security::Plain,
            SmtpTls::Starttls => Security::Starttls(tls_parameters(settings)?),
            SmtpTls::Tls => Security::Wrapper(tls_parameters(settings)?),
        };
        Ok(Self {
            host: settings.host.clone(),
            port: settings.port(),
            security,
            credentials: settings
                .user
                .clone()
                .zip(settings.password.clone())
                .map(|(user, password)| Credentials::new(user, password)),
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `message` to its envelope's recipients.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let body = message.formatted();
        let mut connection = self.connection().await?;
        match tokio::time::timeout(TIMEOUT, connection.send(message.envelope(), &body)).await {
            Ok(Ok(_)) => {
                self.put_back(connection);
                Ok(())
            }
            Ok(Err(error)) => {
                // A refusal leaves the session usable (lettre resets it); a broken one is not.
                if connection.has_broken() {
                    connection.abort().await;
                } else {
                    self.put_back(connection);
                }
                Err(error.into())
            }
            Err(_) => {
                connection.abort().await;
                Err(SendError::TimedOut)
            }
        }
    }

    /// A pooled connection still alive, or a new one.
    async fn connection(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let Some((mut connection, since)) = self.idle.lock().expect("smtp pool").pop() else {
                break;
            };
            let idle = since.elapsed();
            if idle > IDLE_LIMIT {
                connection.abort().await;
                continue;
            }
            if idle <= CHECK_AFTER
                || tokio::time::timeout(TIMEOUT, connection.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok(connection);
            }
            connection.abort().await;
        }
        tokio::time::timeout(TIMEOUT, self.connect())
            .await
            .unwrap_or(Err(SendError::TimedOut))
    }

    /// Opens, secures and logs in a connection (as lettre's own transport does).
    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let mut connection = match &self.security {
            Security::Wrapper(parameters) => {
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(TIMEOUT),
                    &self.hello,
                    Some(parameters.clone()),
                    None,
                )
                .await?
            }
            Security::Plain | Security::Starttls(_) => {
                let socket = TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| SendError::Connect(format!("{}:{}: {e}", self.host, self.port)))?;
                // The point of opening it here (see the module notes).
                socket
                    .set_nodelay(true)
                    .map_err(|e| SendError::Connect(format!("{}:{}: {e}", self.host, self.port)))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(socket), &self.hello).await?
            }
        };
        if let Security::Starttls(parameters) = &self.security {
            // Refused (an error) when the server does not offer STARTTLS: never plain text.
            connection.starttls(parameters.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            connection.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(connection)
    }

    fn put_back(&self, connection: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().expect("smtp pool");
        if idle.len() < POOL {
            idle.push((connection, Instant::now()));
        }
    }
}

/// TLS checked against the system's roots and, if set, the settings' own CA.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, String> {
    let mut parameters = TlsParameters::builder(settings.host.clone());
    if let Some(path) = &settings.ca_file {
        let pem =
            std::fs::read(path).map_err(|e| format!("SMTP CA file {}: {e}", path.display()))?;
        let ca = Certificate::from_pem(&pem)
            .map_err(|e| format!("SMTP CA file {}: {e}", path.display()))?;
        parameters = parameters.add_root_certificate(ca);
    }
    parameters
        .build_rustls()
        .map_err(|e| format!("SMTP TLS: {e}"))
}
