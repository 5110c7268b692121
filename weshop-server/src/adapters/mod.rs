//! The shop's side of the wire: the world client and the UPS link, which implement core's
//! [`Warehouse`](weshop_core::ports::Warehouse) and [`Shipping`](weshop_core::ports::Shipping)
//! ports over durable reliable sessions ([`link`]).
//!
//! Both save their session state through storage ([`LinkStore`]) and hand events, together
//! with that state, to an [`EventSink`] (the fulfilment driver, as the app wires it), so a
//! crash or a dropped socket loses no command and acts on no event twice.

pub mod link;
pub mod ups;
pub mod world;

use async_trait::async_trait;
use weshop_core::{
    driver::{BatchFailed, LinkState},
    fulfilment::FulfilmentEvent,
    store::{OrderStore, StepCommit, StoreError},
};

pub use ups::{UpsEndpoint, UpsLink};
pub use world::{WorldClient, WorldSettings};

/// Where a link's events go: committed with the link's state, atomically.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Acts on `event` and saves `link` (name, state) in the same commit.
    async fn handle(&self, event: FulfilmentEvent, link: LinkState) -> Result<(), StoreError>;

    /// Acts on the events of one message, each with the link's state after it; a sink may
    /// commit several together. On failure, says how many (from the first) were committed.
    /// By default, one commit each.
    async fn handle_batch(
        &self,
        events: Vec<(FulfilmentEvent, LinkState)>,
    ) -> Result<(), BatchFailed> {
        for (committed, (event, link)) in events.into_iter().enumerate() {
            self.handle(event, link)
                .await
                .map_err(|error| BatchFailed { committed, error })?;
        }
        Ok(())
    }
}

/// Where a link's state is kept.
#[async_trait]
pub trait LinkStore: Send + Sync {
    /// The state saved last.
    async fn load(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Saves the state.
    async fn save(&self, link: &str, state: Vec<u8>) -> Result<(), StoreError>;
}

#[async_trait]
impl<S: OrderStore + Send + Sync + ?Sized> LinkStore for S {
    async fn load(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.link_state(link).await
    }

    async fn save(&self, link: &str, state: Vec<u8>) -> Result<(), StoreError> {
        self.commit_step(StepCommit {
            links: vec![(link.to_string(), state)],
            ..StepCommit::default()
        })
        .await
        .map(|_| ())
    }
}

/// Who watches the links (metrics, logs).
pub trait LinkObserver: Send + Sync {
    /// The link came up or went down.
    fn link_up(&self, link: &str, up: bool);
    /// A message went `in` or `out`.
    fn message(&self, link: &str, direction: &str);
}

/// Watches nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl LinkObserver for NoObserver {
    fn link_up(&self, _link: &str, _up: bool) {}
    fn message(&self, _link: &str, _direction: &str) {}
}
