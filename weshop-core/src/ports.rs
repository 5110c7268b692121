//! The fulfilment ports: how the shop talks to the world's warehouses and to the UPS, and the
//! clock it reads. The server implements the first two over reliable protobuf sessions; tests
//! implement them with fakes or mocks.
//!
//! Each command comes with its outbox id. Ids increase, and a command handed over again after a
//! crash keeps its id, so an implementation that remembers the highest id it took (durably,
//! with its own session state) performs every command exactly once.

use async_trait::async_trait;

use crate::domain::{ShipId, Timestamp};
use crate::fulfilment::{ShippingCommand, WarehouseCommand};

/// Why a port could not take a command now (the link is down, say); it is offered again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

/// A run of commands a port took only in part: the first `taken` are held, the rest are not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("took {taken}, then: {error}")]
pub struct PartlyTaken {
    /// How many commands, from the first, the port holds.
    pub taken: usize,
    /// Why it took no more.
    pub error: PortError,
}

/// The world's warehouses.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// Takes a command (purchase more, pack, load) for delivery to the world. `Ok` means it is
    /// held durably and will reach the world; the answer comes back as a fulfilment event.
    async fn submit(&self, outbox_id: u64, command: WarehouseCommand) -> Result<(), PortError>;
    /// Takes several commands, in order, as [`Warehouse::submit`] would one after another; a
    /// port that can hold them all with one durable write should (the outbox hands over runs
    /// of commands this way).
    async fn submit_all(&self, commands: Vec<(u64, WarehouseCommand)>) -> Result<(), PartlyTaken> {
        submit_each(commands, |outbox_id, command| {
            self.submit(outbox_id, command)
        })
        .await
    }
    /// Asks the world where a package is; returns its status text.
    async fn query(&self, ship_id: ShipId) -> Result<String, PortError>;
}

/// The UPS.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Shipping: Send + Sync {
    /// Takes a command (request a truck, deliver) for delivery to the UPS, like
    /// [`Warehouse::submit`].
    async fn submit(&self, outbox_id: u64, command: ShippingCommand) -> Result<(), PortError>;
    /// Takes several commands, in order, like [`Warehouse::submit_all`].
    async fn submit_all(&self, commands: Vec<(u64, ShippingCommand)>) -> Result<(), PartlyTaken> {
        submit_each(commands, |outbox_id, command| {
            self.submit(outbox_id, command)
        })
        .await
    }
}

/// Submits commands one at a time, stopping at the first refusal: the default `submit_all` of
/// a port that has no cheaper way to take a run of them.
async fn submit_each<C, F, Fut>(commands: Vec<(u64, C)>, mut submit: F) -> Result<(), PartlyTaken>
where
    F: FnMut(u64, C) -> Fut,
    Fut: std::future::Future<Output = Result<(), PortError>>,
{
    for (taken, (outbox_id, command)) in commands.into_iter().enumerate() {
        submit(outbox_id, command)
            .await
            .map_err(|error| PartlyTaken { taken, error })?;
    }
    Ok(())
}

/// The current time: the shop reads it through this so tests can set it.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
