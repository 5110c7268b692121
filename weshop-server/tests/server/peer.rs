//! A scripted peer over real TCP that follows the reliability rules with core's `Session`.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use weshop_core::session::{Protocol, Seqnum, Session, SessionConfig};
use weshop_proto::{SchemaMessage, codec::DelimitedCodec};

/// Resends come quickly in tests, so flaky links converge fast.
pub fn fast_session(seed: u64) -> SessionConfig {
    SessionConfig {
        initial_resend: Duration::from_millis(40),
        max_resend: Duration::from_millis(400),
        seed,
        ..SessionConfig::default()
    }
}

/// One side of a link: a session, the TCP link, and every new item received so far.
pub struct Peer<P: Protocol> {
    pub session: Session<P>,
    pub link: Framed<TcpStream, DelimitedCodec<P::Incoming>>,
    pub items: Vec<(Seqnum, P::Item)>,
}

impl<P> Peer<P>
where
    P: Protocol,
    P::Message: weshop_proto::prost::Message,
    P::Incoming: SchemaMessage,
{
    /// Connects, sends `hello`, and reads the handshake answer of type `A`.
    pub async fn connect<H: weshop_proto::prost::Message, A: SchemaMessage>(
        addr: SocketAddr,
        hello: H,
        session: Session<P>,
    ) -> (Self, A) {
        let socket = TcpStream::connect(addr).await.expect("connect");
        socket.set_nodelay(true).unwrap();
        let mut framed = Framed::new(socket, DelimitedCodec::<A>::new());
        framed.send(hello).await.expect("send hello");
        let answer = tokio::time::timeout(Duration::from_secs(10), framed.next())
            .await
            .expect("handshake answer in time")
            .expect("an answer, not a close")
            .expect("a valid answer");
        let link = framed.map_codec(|_| DelimitedCodec::<P::Incoming>::new());
        (
            Self {
                session,
                link,
                items: Vec::new(),
            },
            answer,
        )
    }

    /// Wraps a link already past its handshake.
    pub fn over(link: Framed<TcpStream, DelimitedCodec<P::Incoming>>, session: Session<P>) -> Self {
        Self {
            session,
            link,
            items: Vec::new(),
        }
    }

    /// Waits for the next message (at most until the session's next resend, or 50 ms) and
    /// keeps its new items; false if nothing came.
    pub async fn receive(&mut self) -> bool {
        let now = Instant::now();
        // Wake for the next resend, or within 50 ms to let the caller re-check its goal.
        let wake = self
            .session
            .poll_timeout()
            .unwrap_or(now + Duration::from_millis(50))
            .max(now)
            .min(now + Duration::from_millis(50));
        tokio::select! {
            frame = self.link.next() => match frame {
                Some(Ok(message)) => {
                    let fresh = self.session.handle_message(message);
                    self.items.extend(fresh);
                    true
                }
                Some(Err(e)) => panic!("bad frame from the peer: {e}"),
                None => panic!("the peer closed the link"),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => false,
        }
    }

    /// Queues a request.
    pub fn send(&mut self, request: P::Request) -> Seqnum {
        self.session.send(request)
    }

    /// Sends what is due, reads what comes, until `done` holds for the items received so far.
    /// Panics after `limit`.
    pub async fn pump_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[(Seqnum, P::Item)]) -> bool,
    ) where
        P::Item: std::fmt::Debug,
    {
        let end = Instant::now() + limit;
        loop {
            self.flush().await;
            if done(&self.items) {
                return;
            }
            assert!(
                Instant::now() < end,
                "gave up after {limit:?}; received {:#?}",
                self.items
            );
            self.receive().await;
        }
    }

    /// Sends everything due now.
    pub async fn flush(&mut self) {
        while let Some(message) = self.session.poll_transmit(Instant::now()) {
            self.link.send(message).await.expect("send");
        }
    }

    /// Takes the items received so far.
    pub fn take(&mut self) -> Vec<(Seqnum, P::Item)> {
        std::mem::take(&mut self.items)
    }
}
