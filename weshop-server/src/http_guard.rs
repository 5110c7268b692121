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
        Pin::new(&mut self.inner).poll_write(cx, buf)
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
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::HeadWatch;

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
