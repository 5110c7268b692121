//! The SMTP client: lettre's protocol over connections opened here with Nagle off, pooled.
//!
//! lettre 0.11.23, its newest release, leaves Nagle's algorithm on. It writes a mail's body,
//! then the closing `.` line as a second small write, which Nagle holds until the server
//! acknowledges the body, and servers delay that acknowledgement (40 ms on Linux). So every
//! mail waited about 40 ms: 8 connections sent 157 mails/s on loopback while the CPU idled
//! (`cargo bench --bench mail`), and 4,108 mails/s with `TCP_NODELAY` (lettre/lettre#1159
//! fixed it upstream; not released yet). lettre's pool also sends a NOOP before every mail on
//! a reused connection; here only a connection idle for a while is checked first. Both
//! together: about 10,000 mails/s on `MemoryStore`, 2,900 on surrealkv (from 156).
//!
//! Every connection is opened here, with `TCP_NODELAY`, and handed to lettre's
//! `AsyncSmtpConnection`; each mail goes over it as `transaction` sends it, pipelined where
//! the server allows (`cargo bench --bench mail`, 8,000 mails on `MemoryStore`: 15,000-16,000
//! mails/s before, 23,700-25,300 after, and half the system CPU). For TLS from the first byte
//! (SMTPS) the socket is first wrapped in lettre's own TLS stream (`AsyncNetworkStream`, which
//! lettre marks deprecated as "not meant to be public" but still exports: the only way to put
//! its TLS on a socket of ours).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

#[allow(deprecated)] // AsyncNetworkStream: see the module notes.
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::{
    Message,
    transport::smtp::{
        Error as SmtpError,
        authentication::{Credentials, DEFAULT_MECHANISMS},
        client::{AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters},
        extension::ClientId,
    },
};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

use super::{
    settings::{SmtpSettings, SmtpTls},
    transaction,
};

/// The longest a connection attempt or one mail's exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// A pooled connection idle longer than this is checked with a NOOP before it is used.
const CHECK_AFTER: Duration = Duration::from_secs(1);
/// A pooled connection idle longer than this is closed instead of used (servers hang up on
/// idle clients after a few minutes; RFC 5321 asks them to wait at least five).
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The longest a QUIT may wait for its answer (the connection is dropped after it anyway).
const CLOSE_WAIT: Duration = Duration::from_secs(2);
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
    /// The mail needs an extension the server does not offer.
    #[error("{0}")]
    Unsupported(&'static str),
}

impl SendError {
    /// Whether the server refused the mail for good (a 5xx reply, or an extension the mail
    /// needs and the server lacks): sending it again is useless.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Smtp(error) => error.is_permanent(),
            Self::Unsupported(_) => true,
            Self::Connect(_) | Self::TimedOut => false,
        }
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
    idle: Mutex<Vec<(Connection, Instant)>>,
}

/// An open, logged-in connection and whether its server takes pipelined commands.
struct Connection {
    smtp: AsyncSmtpConnection,
    pipelining: bool,
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

    /// Sends `message` to its envelope's recipients. On a pooled connection the server has
    /// dropped meanwhile (it hung up, or said 421 as it did), the mail goes again at once on
    /// a new connection: what the mailer's retry would do a backoff later, with the same risk
    /// of a second copy if the server took the mail and dropped the line before answering.
    pub async fn send(&self, message: &Message) -> Result<(), SendError> {
        let content = message.formatted();
        let (connection, pooled) = self.connection().await?;
        match self.send_on(connection, message, &content).await {
            Err(SendError::Smtp(error)) if pooled && dropped(&error) => {
                tracing::debug!("a pooled SMTP connection was dropped ({error}); a new one");
                let connection = self.fresh().await?;
                self.send_on(connection, message, &content).await
            }
            sent => sent,
        }
    }

    /// Sends one mail over `connection`, which goes back to the pool only if it worked.
    async fn send_on(
        &self,
        mut connection: Connection,
        message: &Message,
        content: &[u8],
    ) -> Result<(), SendError> {
        let exchange = transaction::send(
            &mut connection.smtp,
            connection.pipelining,
            message.envelope(),
            content,
        );
        match tokio::time::timeout(TIMEOUT, exchange).await {
            Ok(Ok(())) => {
                self.put_back(connection);
                Ok(())
            }
            Ok(Err(error)) => {
                // Replies may be unread, or the server mid-mail: it is not used again.
                close(connection).await;
                Err(error)
            }
            Err(_) => {
                close(connection).await;
                Err(SendError::TimedOut)
            }
        }
    }

    /// A pooled connection still alive (and true), or a new one.
    async fn connection(&self) -> Result<(Connection, bool), SendError> {
        loop {
            let Some((mut connection, since)) = self.idle.lock().expect("smtp pool").pop() else {
                break;
            };
            let idle = since.elapsed();
            if idle > IDLE_LIMIT {
                close(connection).await;
                continue;
            }
            if idle <= CHECK_AFTER
                || tokio::time::timeout(TIMEOUT, connection.smtp.test_connected())
                    .await
                    .unwrap_or(false)
            {
                return Ok((connection, true));
            }
            close(connection).await;
        }
        Ok((self.fresh().await?, false))
    }

    /// A new connection, within [`TIMEOUT`].
    async fn fresh(&self) -> Result<Connection, SendError> {
        tokio::time::timeout(TIMEOUT, self.connect())
            .await
            .unwrap_or(Err(SendError::TimedOut))
    }

    /// Opens, secures and logs in a connection (as lettre's own transport does), and asks
    /// whether the server pipelines.
    async fn connect(&self) -> Result<Connection, SendError> {
        let unreachable =
            |e: std::io::Error| SendError::Connect(format!("{}:{}: {e}", self.host, self.port));
        let socket = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unreachable)?;
        // The point of opening it here (see the module notes).
        socket.set_nodelay(true).map_err(unreachable)?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Wrapper(parameters) => Box::new(Smtps::open(socket, parameters).await?),
            Security::Plain | Security::Starttls(_) => Box::new(socket),
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello).await?;
        if let Security::Starttls(parameters) = &self.security {
            // Refused (an error) when the server does not offer STARTTLS: never plain text.
            connection.starttls(parameters.clone(), &self.hello).await?;
        }
        // Asked after TLS (what a server offers in the clear does not count) and before the
        // login, which a later EHLO must not disturb.
        let pipelining = transaction::offers_pipelining(&mut connection, &self.hello).await?;
        if let Some(credentials) = &self.credentials {
            connection.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(Connection {
            smtp: connection,
            pipelining,
        })
    }

    fn put_back(&self, connection: Connection) {
        let mut idle = self.idle.lock().expect("smtp pool");
        if idle.len() < POOL {
            idle.push((connection, Instant::now()));
        }
    }
}

/// Whether `error` says the connection was gone rather than the mail refused: no reply
/// (the line broke, or closed before a full answer), or 421, "closing the channel".
fn dropped(error: &SmtpError) -> bool {
    let closing = error.status().is_some_and(|code| code.to_string() == "421");
    closing || !(error.is_permanent() || error.is_transient() || error.is_client())
}

/// Says QUIT and closes, giving a server that does not answer [`CLOSE_WAIT`].
async fn close(mut connection: Connection) {
    let _ = tokio::time::timeout(CLOSE_WAIT, connection.smtp.abort()).await;
}

/// A socket of ours under lettre's TLS, from the first byte (SMTPS).
#[derive(Debug)]
#[allow(deprecated)] // AsyncNetworkStream: see the module notes.
struct Smtps(Compat<AsyncNetworkStream>);

#[allow(deprecated)] // AsyncNetworkStream: see the module notes.
impl Smtps {
    async fn open(socket: TcpStream, parameters: &TlsParameters) -> Result<Self, SendError> {
        let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(socket));
        stream.upgrade_tls(parameters.clone()).await?;
        Ok(Self(stream.compat()))
    }
}

impl tokio::io::AsyncRead for Smtps {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Smtps {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[allow(deprecated)] // AsyncNetworkStream: see the module notes.
impl AsyncTokioStream for Smtps {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().peer_addr()
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
