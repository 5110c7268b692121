//! The world's end towards each peer (its shop, its UPS): the reliable session, whether the
//! peer is connected, the simspeed it asked for, and the messages that leave for it.

use std::{fmt, time::Instant};

use weshop_core::session::{Protocol, Session};
use weshop_proto::{world_amazon as wa, world_ups as wu};

use crate::sim::time_model::DEFAULT_SIMSPEED;

/// A message for one side, and whether the connection must close after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing<M> {
    /// The message.
    pub message: M,
    /// True after a `disconnect`: this message carries `finished` and is the last.
    pub close: bool,
}

/// Which side of a world a link serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The shop (world_amazon).
    Amazon,
    /// The UPS (world_ups).
    Ups,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Amazon => "amazon",
            Side::Ups => "ups",
        })
    }
}

/// A response message that can say `finished` (the world's last word after a `disconnect`).
pub trait Finishing: Default {
    /// Sets `finished`.
    fn finish(&mut self);
}

impl Finishing for wa::AResponses {
    fn finish(&mut self) {
        self.finished = Some(true);
    }
}

impl Finishing for wu::UResponses {
    fn finish(&mut self) {
        self.finished = Some(true);
    }
}

/// The world's end of one link: its session, whether the peer is there, and the simspeed the
/// peer asked for.
pub(super) struct Peer<P: Protocol> {
    pub(super) session: Session<P>,
    pub(super) connected: bool,
    finishing: bool,
    pub(super) speed: u32,
}

impl<P: Protocol> Peer<P>
where
    P::Message: Finishing,
{
    pub(super) fn new(session: Session<P>) -> Self {
        Self {
            session,
            connected: false,
            finishing: false,
            speed: DEFAULT_SIMSPEED,
        }
    }

    pub(super) fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.finishing = false;
        if connected {
            self.session.resend_all_now();
        }
    }

    /// Applies a message's non-sequenced fields.
    pub(super) fn control(&mut self, simspeed: Option<u32>, disconnect: Option<bool>) {
        if let Some(speed) = simspeed {
            self.speed = speed.max(1);
        }
        if disconnect == Some(true) {
            self.finishing = true;
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.connected
            .then(|| self.session.poll_timeout())
            .flatten()
    }

    pub(super) fn poll(&mut self, now: Instant) -> Option<Outgoing<P::Message>> {
        if !self.connected {
            return None;
        }
        let message = self.session.poll_transmit(now);
        if !std::mem::take(&mut self.finishing) {
            return message.map(|message| Outgoing {
                message,
                close: false,
            });
        }
        let mut message = message.unwrap_or_default();
        message.finish();
        Some(Outgoing {
            message,
            close: true,
        })
    }
}
