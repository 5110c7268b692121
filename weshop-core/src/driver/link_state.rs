//! A link's state as the driver commits it with the events the link took in.

use std::{fmt, sync::Arc};

/// A link's session state after an event, as it is saved with the commit that takes the event
/// in: the link's name and its state.
pub type LinkState = (String, LinkSnapshot);

/// A link's state after one event: its bytes, or how to encode them.
///
/// A commit saves the state after its last event only, so a link hands the driver a
/// [`LinkSnapshot::Deferred`] for each event of a message and the driver encodes the few that
/// end a commit. A link that encoded its whole state after every event (its open commands
/// included) spent a message of n events n encodings of hundreds of commands: 9% of the
/// CPU of 2,000 orders in flight.
#[derive(Clone)]
pub enum LinkSnapshot {
    /// The state, encoded.
    Encoded(Vec<u8>),
    /// Encodes the state (each call gives the same bytes).
    Deferred(Arc<dyn Fn() -> Vec<u8> + Send + Sync>),
}

impl LinkSnapshot {
    /// The state, encoded.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Self::Encoded(bytes) => bytes.clone(),
            Self::Deferred(encode) => encode(),
        }
    }
}

impl From<Vec<u8>> for LinkSnapshot {
    fn from(bytes: Vec<u8>) -> Self {
        Self::Encoded(bytes)
    }
}

impl fmt::Debug for LinkSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encoded(bytes) => write!(f, "Encoded({} bytes)", bytes.len()),
            Self::Deferred(_) => f.write_str("Deferred"),
        }
    }
}
