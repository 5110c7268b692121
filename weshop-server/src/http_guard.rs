//! Connection limits for the HTTP server, where no request handler can help: how many
//! connections are served at once, how long a client may take to send its first request head
//! (slow-headers attacks), and how long a connection may sit idle.
//!
//! [`GuardedAcceptor`] wraps poem's acceptor: it takes a connection only while fewer than
//! [`HttpLimits::max_connections`] are open (the rest wait in the kernel's backlog), and gives
//! each one [`HttpLimits::header_timeout`] to deliver the end of its first request head, after
//! which its reads fail and the connection is dropped. Idle connections are closed by poem's
//! own idle timeout, which `App` sets from [`HttpLimits::idle_timeout`].

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Sleep,
};

/// The HTTP server's connection limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time from accepting a connection to the end of its first request head.
    pub header_timeout: Duration,
    /// A connection with no traffic for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// An acceptor that enforces [`HttpLimits`] (all but the idle timeout, which poem applies).
pub struct GuardedAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A: Acceptor> GuardedAcceptor<A> {
    /// Wraps `inner`.
    pub fn new(inner: A, limits: HttpLimits) -> Self {
        Self {
            inner,
            slots: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            header_timeout: limits.header_timeout,
        }
    }
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A> {
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io::Error::other("the connection limit is closed"))?;
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let guarded = GuardedIo {
            inner: io,
            _slot: slot,
            head: HeadWatch::default(),
            deadline: Some(Box::pin(tokio::time::sleep(self.header_timeout))),
            problem: None,
        };
        Ok((guarded, local, remote, scheme))
    }
}

/// Finds the end of the first request head (`\r\n\r\n`) across reads.
#[derive(Debug, Default)]
struct HeadWatch {
    /// How many bytes of `\r\n\r\n` the stream currently ends with.
    matched: usize,
}

impl HeadWatch {
    /// Feeds bytes; true once the head has ended.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        const END: &[u8; 4] = b"\r\n\r\n";
        for &byte in bytes {
            self.matched = if byte == END[self.matched] {
                self.matched + 1
            } else if byte == b'\r' {
                1
            } else {
                0
            };
            if self.matched == END.len() {
                return true;
            }
        }
        false
    }
}

/// A connection holding one of the acceptor's slots until it is dropped.
pub struct GuardedIo<Io> {
    inner: Io,
    _slot: OwnedSemaphorePermit,
    head: HeadWatch,
    /// Until the first request head has ended.
    deadline: Option<Pin<Box<Sleep>>>,
    /// A bodiless error response of hyper's being sent as a problem instead: the bytes, and
    /// how many have gone.
    problem: Option<(Vec<u8>, usize)>,
}

/// The problem response that replaces `head`, when `head` is one of the bodiless error
/// responses hyper sends for a request it could not parse (a garbage request line, a target
/// or header fields too large): the app's own errors always carry a problem body, so a
/// complete 4xx head with `content-length: 0` can only be hyper's.
fn problem_for(head: &[u8]) -> Option<Vec<u8>> {
    // Cheap first: error heads are short and start so; every other write passes at once.
    if head.len() >= 1024 || !head.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let status_line = text.strip_prefix("HTTP/1.1 ")?.split("\r\n").next()?;
    let (code, reason) = status_line.split_once(' ')?;
    let code: u16 = code.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    if !(400..500).contains(&code)
        || !text.ends_with("\r\n\r\n")
        || !lower.contains("\r\ncontent-length: 0\r\n")
    {
        return None;
    }
    let detail = match code {
        414 => "the request target (URI) is too long",
        431 => "the request's header fields are too large",
        _ => "the request could not be read as HTTP/1.1",
    };
    let body = format!(
        r#"{{"type":"about:blank","title":"{reason}","status":{code},"detail":"{detail}"}}"#
    );
    Some(
        format!(
            "HTTP/1.1 {code} {reason}\r\ncontent-type: application/problem+json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<Io: AsyncWrite + Unpin> GuardedIo<Io> {
    /// Sends the pending problem response in place of the `len` bytes hyper asked to write.
    fn poll_problem(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<usize>> {
        if let Some((bytes, sent)) = self.problem.as_mut() {
            while *sent < bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*sent..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *sent += n;
            }
        }
        Poll::Ready(Ok(len))
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for GuardedIo<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() && this.head.feed(&buf.filled()[before..]) {
                    this.deadline = None;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.deadline.as_mut() {
                Some(deadline) => {
                    ready!(deadline.as_mut().poll(cx));
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    )))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for GuardedIo<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.problem.is_none()
            && let Some(problem) = problem_for(buf)
        {
            this.problem = Some((problem, 0));
        }
        if this.problem.is_some() {
            return this.poll_problem(cx, buf.len());
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.problem.is_none() && bufs.first().is_some_and(|b| b.starts_with(b"HTTP/1.1 4")) {
            let len: usize = bufs.iter().map(|b| b.len()).sum();
            // Error heads are small; anything larger is a real response.
            if len < 1024 {
                let head: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                if let Some(problem) = problem_for(&head) {
                    this.problem = Some((problem, 0));
                }
            }
        }
        if this.problem.is_some() {
            let len = bufs.iter().map(|b| b.len()).sum();
            return this.poll_problem(cx, len);
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::{HeadWatch, problem_for};

    #[test]
    fn only_bodiless_error_heads_become_problems() {
        let bare = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let problem = String::from_utf8(problem_for(bare).unwrap()).unwrap();
        assert!(problem.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(problem.contains("content-type: application/problem+json\r\n"));
        assert!(
            problem
                .ends_with(r#""status":431,"detail":"the request's header fields are too large"}"#)
        );
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n";
        assert!(problem_for(with_body).is_none());
        let fine = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert!(problem_for(fine).is_none());
        assert!(problem_for(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n").is_none());
    }

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        let mut watch = HeadWatch::default();
        assert!(!watch.feed(b"GET / HTTP/1.1\r\nhost: x\r"));
        assert!(!watch.feed(b"\n"));
        assert!(watch.feed(b"\r\nbody"));
        let mut watch = HeadWatch::default();
        assert!(!watch.feed(b"a\r\n\r\r\nb\n\n"));
        assert!(watch.feed(b"\r\r\n\r\n"));
    }
}
