//! A small SMTP server that keeps the last [`KEPT`] mails it receives in memory: the demo's
//! mail server (shown at `/demo/mailbox`) and the tests' one.
//!
//! It speaks plain SMTP (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) with
//! PIPELINING (RFC 2920), without TLS or authentication, so it belongs on loopback. For tests
//! it can be told to refuse mail for a while, with a transient (4xx) or permanent (5xx) reply,
//! like a real server having a bad day.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU16, Ordering},
    },
    time::{Duration, SystemTime},
};

use tokio::{
    io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{broadcast, watch},
    task::JoinHandle,
};

use super::settings::{SmtpSettings, SmtpTls};

/// The largest mail it takes.
const MAX_MAIL: usize = 10 << 20;
/// The longest command or text line (RFC 5321 allows 1000 bytes with CRLF; be lenient).
const MAX_LINE: usize = 4096;
/// A client silent this long is hung up on.
const IDLE: Duration = Duration::from_secs(300);
/// The most recent mails kept; older ones are forgotten, so a demo that runs for days does not
/// hold every mail it ever sent (an order makes three or four, of a few KB each).
pub const KEPT: usize = 1000;

/// A mail as it arrived.
#[derive(Debug, Clone)]
pub struct CaughtMail {
    /// Its number, from 1, in order of arrival.
    pub id: usize,
    /// The envelope sender.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The message, as sent (headers and body, dot-stuffing undone).
    pub data: Vec<u8>,
    /// When it arrived.
    pub at: SystemTime,
}

#[derive(Default)]
struct Shared {
    mails: Mutex<Kept>,
    /// 0: accept; else the reply code to refuse RCPT with.
    refusing: AtomicU16,
}

/// The running server.
pub struct MailCatcher {
    addr: SocketAddr,
    shared: Arc<Shared>,
    arrived: broadcast::Sender<usize>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MailCatcher {
    /// Listens on `addr` (port 0: any free port).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (arrived, _) = broadcast::channel(256);
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let (shared, arrived) = (shared.clone(), arrived.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stopped.wait_for(|s| *s) => return,
                        accepted = listener.accept() => {
                            let Ok((socket, peer)) = accepted else { continue };
                            // Replies go at once, not held back to be merged (Nagle).
                            let _ = socket.set_nodelay(true);
                            let (shared, arrived) = (shared.clone(), arrived.clone());
                            tokio::spawn(async move {
                                let (read, write) = socket.into_split();
                                if let Err(error) = session(read, write, &shared, &arrived).await {
                                    tracing::debug!(%peer, "smtp session ended: {error}");
                                }
                            });
                        }
                    }
                }
            })
        };
        Ok(Self {
            addr,
            shared,
            arrived,
            stop,
            task,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Settings that send to it, from `from`: plain SMTP (it has no TLS) and no login.
    pub fn settings(&self, from: &str) -> SmtpSettings {
        SmtpSettings {
            host: self.addr.ip().to_string(),
            port: Some(self.addr.port()),
            user: None,
            password: None,
            from: from.into(),
            tls: SmtpTls::Plain,
            ca_file: None,
        }
    }

    /// The mails kept (the last [`KEPT`]), in order of arrival.
    pub fn mails(&self) -> Vec<CaughtMail> {
        self.shared
            .mails
            .lock()
            .expect("mails lock")
            .mails
            .iter()
            .cloned()
            .collect()
    }

    /// How many mails have arrived, forgotten ones included: the last one's number.
    pub fn count(&self) -> usize {
        self.shared.mails.lock().expect("mails lock").arrived
    }

    /// One mail by number, if it is still kept.
    pub fn mail(&self, id: usize) -> Option<CaughtMail> {
        self.shared
            .mails
            .lock()
            .expect("mails lock")
            .get(id)
            .cloned()
    }

    /// Told the number of each mail as it arrives.
    pub fn subscribe(&self) -> broadcast::Receiver<usize> {
        self.arrived.subscribe()
    }

    /// From now on, refuses every recipient with `code` (e.g. 451: try later; 550: never), or
    /// accepts again with `None`.
    pub fn refuse(&self, code: Option<u16>) {
        self.shared
            .refusing
            .store(code.unwrap_or(0), Ordering::Relaxed);
    }

    /// Waits until at least `count` mails are in, or `patience` runs out; the mails so far.
    pub async fn wait_for(&self, count: usize, patience: Duration) -> Vec<CaughtMail> {
        let mut arrived = self.subscribe();
        let _ = tokio::time::timeout(patience, async {
            while self.count() < count {
                let _ = arrived.recv().await;
            }
        })
        .await;
        self.mails()
    }

    /// Stops listening (sessions under way finish on their own).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// One client connection.
async fn session(
    read: impl AsyncRead + Unpin,
    mut write: impl AsyncWrite + Unpin,
    shared: &Shared,
    arrived: &broadcast::Sender<usize>,
) -> std::io::Result<()> {
    let mut read = BufReader::new(read);
    let w = &mut write;
    let mut replies = Replies::default();
    replies.add("220 weshop mail catcher ESMTP");
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    loop {
        if read.buffer().is_empty() {
            replies.send(w).await?;
        }
        let Some(line) = next_line(&mut read).await? else {
            return Ok(());
        };
        let line = String::from_utf8_lossy(&line);
        let (verb, rest) = line.split_once(' ').unwrap_or((&line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => replies.add(&format!(
                "250-weshop\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-PIPELINING\r\n\
                     250 SIZE {MAX_MAIL}"
            )),
            "HELO" => replies.add("250 weshop"),
            "MAIL" => match path(rest, "FROM:") {
                Some(sender) => {
                    from = Some(sender);
                    to.clear();
                    replies.add("250 OK")
                }
                None => replies.add("501 Syntax: MAIL FROM:<address>"),
            },
            "RCPT" => match (&from, path(rest, "TO:")) {
                (None, _) => replies.add("503 MAIL first"),
                (_, None) => replies.add("501 Syntax: RCPT TO:<address>"),
                (Some(_), Some(recipient)) => match shared.refusing.load(Ordering::Relaxed) {
                    0 => {
                        to.push(recipient);
                        replies.add("250 OK")
                    }
                    code if code < 500 => {
                        replies.add(&format!("{code} 4.3.2 Not now, try again later"))
                    }
                    code => replies.add(&format!("{code} 5.1.1 Mailbox unavailable")),
                },
            },
            "DATA" => {
                let Some(sender) = from.take().filter(|_| !to.is_empty()) else {
                    replies.add("503 RCPT first");
                    continue;
                };
                replies.add("354 End data with <CR><LF>.<CR><LF>");
                // The client waits for it before it sends the content.
                replies.send(w).await?;
                let Some(data) = message(&mut read).await? else {
                    replies.add("552 Message too large");
                    to.clear();
                    continue;
                };
                let id = shared.mails.lock().expect("mails lock").keep(
                    sender,
                    std::mem::take(&mut to),
                    data,
                );
                let _ = arrived.send(id);
                replies.add(&format!("250 OK queued as {id}"))
            }
            "RSET" => {
                from = None;
                to.clear();
                replies.add("250 OK")
            }
            "NOOP" => replies.add("250 OK"),
            "QUIT" => {
                replies.add("221 Bye");
                return replies.send(w).await;
            }
            _ => replies.add("502 Command not implemented"),
        }
    }
}

/// The last [`KEPT`] mails, and how many arrived in all.
#[derive(Default)]
struct Kept {
    mails: VecDeque<CaughtMail>,
    arrived: usize,
}

impl Kept {
    /// Keeps a mail that just arrived (forgetting the oldest beyond [`KEPT`]); its number.
    fn keep(&mut self, from: String, to: Vec<String>, data: Vec<u8>) -> usize {
        self.arrived += 1;
        if self.mails.len() == KEPT {
            self.mails.pop_front();
        }
        self.mails.push_back(CaughtMail {
            id: self.arrived,
            from,
            to,
            data,
            at: SystemTime::now(),
        });
        self.arrived
    }

    /// Mail number `id`, if it is still kept (numbers are consecutive).
    fn get(&self, id: usize) -> Option<&CaughtMail> {
        let first = self.mails.front()?.id;
        self.mails.get(id.checked_sub(first)?)
    }
}

/// Replies not yet written. They go out when the client has sent nothing more to read: a
/// pipelined group's replies in one write (RFC 2920 asks servers to batch them), one write
/// per command to a client that waits for each reply.
#[derive(Default)]
struct Replies(Vec<u8>);

impl Replies {
    /// Adds one reply (the text may hold several CRLF-separated lines).
    fn add(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
        self.0.extend_from_slice(b"\r\n");
    }

    /// Writes what waits in one write: the socket is unbuffered, and a write per piece was
    /// a system call each (half the catcher's CPU).
    async fn send(&mut self, write: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        write.write_all(&self.0).await?;
        self.0.clear();
        write.flush().await
    }
}

/// The address in `FROM:<a@b> …` / `TO:<a@b>`.
fn path(rest: &str, prefix: &str) -> Option<String> {
    let rest = rest.trim_start();
    if !rest.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = rest[prefix.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

/// The next line without its CRLF; `None` at the end of the stream or when idle too long.
async fn next_line(read: &mut (impl AsyncBufReadExt + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    Ok(read_line(read, &mut line).await?.then_some(line))
}

/// Reads the next line into `line` (emptied first), without its CRLF; false at the end of
/// the stream or when idle too long. One buffer serves a whole message's lines.
async fn read_line(
    read: &mut (impl AsyncBufReadExt + Unpin),
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let got = tokio::time::timeout(IDLE, async {
        let mut limited = (&mut *read).take(MAX_LINE as u64);
        limited.read_until(b'\n', line).await
    })
    .await;
    match got {
        Err(_) | Ok(Ok(0)) => Ok(false),
        Ok(Err(error)) => Err(error),
        Ok(Ok(_)) => {
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            Ok(true)
        }
    }
}

/// The message after DATA, up to the lone dot; `None` if it grows past [`MAX_MAIL`] (what
/// is left of it is read and dropped).
async fn message(read: &mut (impl AsyncBufReadExt + Unpin)) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    let mut too_big = false;
    loop {
        if !read_line(read, &mut line).await? {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b"." {
            return Ok((!too_big).then_some(data));
        }
        let text = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + text.len() + 2 > MAX_MAIL {
            too_big = true;
        }
        if !too_big {
            data.extend_from_slice(text);
            data.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_mails_are_kept_and_numbers_go_on() {
        let mut kept = Kept::default();
        for n in 1..=KEPT + 2 {
            let id = kept.keep(
                "shop@weshop.test".into(),
                vec![format!("{n}@example.com")],
                vec![],
            );
            assert_eq!(id, n);
        }
        assert_eq!(kept.arrived, KEPT + 2);
        assert_eq!(kept.mails.len(), KEPT);
        assert_eq!(kept.mails.front().unwrap().id, 3);
        assert_eq!(
            kept.mails.back().unwrap().to,
            [format!("{}@example.com", KEPT + 2)]
        );
        assert!(kept.get(0).is_none() && kept.get(2).is_none(), "forgotten");
        assert_eq!(kept.get(3).unwrap().to, ["3@example.com"]);
        assert_eq!(kept.get(KEPT + 2).unwrap().id, KEPT + 2);
        assert!(kept.get(KEPT + 3).is_none(), "not yet arrived");
    }

    #[test]
    fn paths_come_out_of_their_brackets() {
        assert_eq!(
            path("FROM:<a@b.example>", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            path("from: <a@b.example> SIZE=10", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(path("TO:<>", "TO:").as_deref(), Some(""));
        assert_eq!(path("TO:a@b", "TO:"), None);
        assert_eq!(path("FROM:<a@b>", "TO:"), None);
    }
}
