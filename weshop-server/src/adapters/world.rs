//! The world client: the shop's durable world_amazon link, behind core's `Warehouse` port.
//!
//! It dials the world, says `AConnect` (no world id creates a world; the id it gets is saved
//! with the link, so a restart joins the same world), reconnects with backoff, and resumes
//! the saved session: unacked commands go out again with their seqnums.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{SinkExt, StreamExt};
use tokio::{net::TcpStream, sync::watch, task::JoinHandle};
use tokio_util::codec::Framed;
use weshop_core::{
    domain::{ProductId, Quantity, ShipId, WarehouseId, WarehouseSite},
    fulfilment::{FulfilmentEvent, Item, Refused, WarehouseCommand},
    ports::{PartlyTaken, PortError, Warehouse},
    session::{Seqnum, SessionConfig},
};
use weshop_proto::{codec::DelimitedCodec, world_amazon as wa};

use super::link::{
    self, Connecting, Connector, LinkContext, LinkHandle, LinkProtocol, Received, close,
};
use crate::protocols::{ShopToWorld, WorldCommand, WorldEvent};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// The world's word for a successful `AConnect`.
const CONNECTED: &str = "connected!";

/// How to reach and join the world.
#[derive(Debug, Clone)]
pub struct WorldSettings {
    /// The world's Amazon port.
    pub address: SocketAddr,
    /// The world to join; `None` joins the one saved from an earlier run, or creates one.
    pub world_id: Option<i64>,
    /// Warehouses to create in it (`initwh`).
    pub warehouses: Vec<WarehouseSite>,
    /// Simulation speed to ask for (the world's default when `None`).
    pub simspeed: Option<u32>,
    /// Resend timing.
    pub session: SessionConfig,
}

/// The world behind the `Warehouse` port.
#[derive(Clone)]
pub struct WorldClient {
    link: LinkHandle<WorldCommand>,
    world: watch::Receiver<Option<i64>>,
}

impl WorldClient {
    /// Loads the saved link and starts connecting; the task ends on `context.shutdown`.
    pub async fn start(
        settings: WorldSettings,
        context: LinkContext,
    ) -> Result<(Self, JoinHandle<()>), String> {
        let mut state =
            link::load::<ShopToWorld>(context.store.as_ref(), settings.session.clone(), 1).await?;
        if let Some(wanted) = settings.world_id {
            match state.world_id() {
                Some(saved) if saved != wanted => {
                    tracing::warn!(
                        "world link: saved for world {saved}, configured for {wanted}: starting a new session"
                    );
                    state = link::LinkState::new(settings.session.clone(), 1);
                    state.set_world_id(wanted);
                }
                Some(_) => {}
                None => state.set_world_id(wanted),
            }
        }
        let (world_tx, world) = watch::channel(state.world_id());
        let connector = WorldConnector {
            address: settings.address,
            warehouses: settings
                .warehouses
                .iter()
                .map(|w| wa::AInitWarehouse {
                    id: w.id.get(),
                    x: w.location.x,
                    y: w.location.y,
                })
                .collect(),
            simspeed: settings.simspeed,
            joined: Arc::default(),
        };
        let (link, task) = link::spawn(state, connector, context, world_tx);
        Ok((Self { link, world }, task))
    }

    /// The world the link is in: `None` until the first connect when creating one.
    pub fn world_id(&self) -> watch::Receiver<Option<i64>> {
        self.world.clone()
    }
}

#[async_trait]
impl Warehouse for WorldClient {
    async fn submit(&self, outbox_id: u64, command: WarehouseCommand) -> Result<(), PortError> {
        self.link.submit(outbox_id, request(&command)).await
    }

    async fn submit_all(&self, commands: Vec<(u64, WarehouseCommand)>) -> Result<(), PartlyTaken> {
        let requests = commands.iter().map(|(id, c)| (*id, request(c))).collect();
        self.link.submit_all(requests).await
    }

    async fn query(&self, ship_id: ShipId) -> Result<String, PortError> {
        let query = WorldCommand::Query(wa::AQuery {
            packageid: ship_id.get(),
            seqnum: 0,
        });
        self.link.query(ship_id.get(), query, QUERY_TIMEOUT).await
    }
}

fn things(items: &[Item]) -> Vec<wa::AProduct> {
    items
        .iter()
        .map(|i| wa::AProduct {
            id: i.product.get(),
            description: i.description.clone(),
            count: i32::try_from(i.count.get()).unwrap_or(i32::MAX),
        })
        .collect()
}

/// A warehouse command on the wire.
pub fn request(command: &WarehouseCommand) -> WorldCommand {
    match command {
        WarehouseCommand::Purchase { warehouse, items } => WorldCommand::Buy(wa::APurchaseMore {
            whnum: warehouse.get(),
            things: things(items),
            seqnum: 0,
        }),
        WarehouseCommand::Pack {
            warehouse,
            ship_id,
            items,
        } => WorldCommand::Pack(wa::APack {
            whnum: warehouse.get(),
            things: things(items),
            shipid: ship_id.get(),
            seqnum: 0,
        }),
        WarehouseCommand::Load {
            warehouse,
            truck,
            ship_id,
        } => WorldCommand::Load(wa::APutOnTruck {
            whnum: warehouse.get(),
            truckid: truck.get(),
            shipid: ship_id.get(),
            seqnum: 0,
        }),
    }
}

fn items_of(things: &[wa::AProduct]) -> Result<Vec<Item>, String> {
    things
        .iter()
        .map(|t| {
            Ok(Item {
                product: ProductId::new(t.id).map_err(|e| e.to_string())?,
                description: t.description.clone(),
                count: Quantity::new(i64::from(t.count)).map_err(|e| e.to_string())?,
            })
        })
        .collect()
}

/// The warehouse command behind a wire request (`None` for queries and bad values).
pub fn command(request: &WorldCommand) -> Option<WarehouseCommand> {
    match request {
        WorldCommand::Buy(buy) => Some(WarehouseCommand::Purchase {
            warehouse: WarehouseId::new(buy.whnum).ok()?,
            items: items_of(&buy.things).ok()?,
        }),
        WorldCommand::Pack(pack) => Some(WarehouseCommand::Pack {
            warehouse: WarehouseId::new(pack.whnum).ok()?,
            ship_id: ShipId::new(pack.shipid).ok()?,
            items: items_of(&pack.things).ok()?,
        }),
        WorldCommand::Load(load) => Some(WarehouseCommand::Load {
            warehouse: WarehouseId::new(load.whnum).ok()?,
            truck: weshop_core::domain::TruckId::new(load.truckid).ok()?,
            ship_id: ShipId::new(load.shipid).ok()?,
        }),
        WorldCommand::Query(_) => None,
    }
}

fn ship_id(raw: i64) -> Result<ShipId, String> {
    ShipId::new(raw).map_err(|e| e.to_string())
}

impl LinkProtocol for ShopToWorld {
    const NAME: &'static str = "world";

    fn requests_of(message: wa::ACommands) -> Vec<(Seqnum, WorldCommand)> {
        WorldCommand::disassemble(message).items
    }

    fn receive(item: WorldEvent, open: &mut BTreeMap<Seqnum, WorldCommand>) -> Received {
        let event = match item {
            WorldEvent::Arrived(arrived) => {
                close(
                    open,
                    |r| matches!(r, WorldCommand::Buy(b) if b.whnum == arrived.whnum && b.things == arrived.things),
                );
                let warehouse = WarehouseId::new(arrived.whnum).map_err(|e| e.to_string());
                items_of(&arrived.things).and_then(|items| {
                    Ok(FulfilmentEvent::Arrived {
                        warehouse: warehouse?,
                        items: items.into_iter().map(|i| (i.product, i.count)).collect(),
                    })
                })
            }
            WorldEvent::Ready(ready) => {
                close(
                    open,
                    |r| matches!(r, WorldCommand::Pack(p) if p.shipid == ready.shipid),
                );
                ship_id(ready.shipid).map(|ship_id| FulfilmentEvent::Packed { ship_id })
            }
            WorldEvent::Loaded(loaded) => {
                close(
                    open,
                    |r| matches!(r, WorldCommand::Load(l) if l.shipid == loaded.shipid),
                );
                ship_id(loaded.shipid).map(|ship_id| FulfilmentEvent::Loaded { ship_id })
            }
            WorldEvent::PackageStatus(status) => {
                close(
                    open,
                    |r| matches!(r, WorldCommand::Query(q) if q.packageid == status.packageid),
                );
                return Received::Answer {
                    package: status.packageid,
                    status: Ok(status.status),
                };
            }
            WorldEvent::Error(error) => {
                return match open.remove(&error.originseqnum) {
                    Some(WorldCommand::Query(query)) => Received::Answer {
                        package: query.packageid,
                        status: Err(error.err),
                    },
                    Some(request) => match command(&request) {
                        Some(command) => Received::Event(FulfilmentEvent::Refused {
                            command: Refused::Warehouse(command),
                            reason: error.err,
                        }),
                        None => Received::Ignore(format!("refused {request:?}: {}", error.err)),
                    },
                    None => Received::Ignore(format!(
                        "error about request {}, which is not open: {}",
                        error.originseqnum, error.err
                    )),
                };
            }
        };
        match event {
            Ok(event) => Received::Event(event),
            Err(reason) => Received::Reject(reason),
        }
    }

    fn refused(request: &WorldCommand) -> Option<Refused> {
        command(request).map(Refused::Warehouse)
    }

    fn error_item(_reason: String, _origin: Seqnum) -> Option<WorldCommand> {
        None // ACommands has no error field: a bad item is logged.
    }
}

/// Dials the world and says `AConnect`.
struct WorldConnector {
    address: SocketAddr,
    warehouses: Vec<wa::AInitWarehouse>,
    simspeed: Option<u32>,
    joined: Arc<std::sync::Mutex<Option<i64>>>,
}

impl Connector<wa::AResponses> for WorldConnector {
    fn connect(&mut self, world_id: Option<i64>) -> Connecting<wa::AResponses> {
        let (address, simspeed, joined) = (self.address, self.simspeed, self.joined.clone());
        let hello = wa::AConnect {
            worldid: world_id,
            initwh: self.warehouses.clone(),
            is_amazon: true,
        };
        Box::pin(async move {
            let socket = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                .await
                .map_err(|_| format!("connecting to {address} timed out"))?
                .map_err(|e| format!("cannot reach the world at {address}: {e}"))?;
            let _ = socket.set_nodelay(true);
            let mut framed = Framed::new(socket, DelimitedCodec::<wa::AConnected>::new());
            framed.send(hello).await.map_err(|e| e.to_string())?;
            let connected = tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next())
                .await
                .map_err(|_| "no AConnected in time".to_string())?
                .ok_or("the world closed during the handshake")?
                .map_err(|e| e.to_string())?;
            if connected.result != CONNECTED {
                return Err(format!("the world refused: {}", connected.result));
            }
            *joined.lock().expect("joined lock") = Some(connected.worldid);
            let mut framed = framed.map_codec(|_| DelimitedCodec::<wa::AResponses>::new());
            if let Some(speed) = simspeed {
                let control = wa::ACommands {
                    simspeed: Some(speed),
                    ..wa::ACommands::default()
                };
                framed.send(control).await.map_err(|e| e.to_string())?;
            }
            Ok(framed)
        })
    }

    fn joined(&mut self) -> Option<i64> {
        self.joined.lock().expect("joined lock").take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weshop_core::domain::TruckId;

    fn pack(ship: i64) -> WarehouseCommand {
        WarehouseCommand::Pack {
            warehouse: WarehouseId::new(1).unwrap(),
            ship_id: ShipId::new(ship).unwrap(),
            items: vec![Item {
                product: ProductId::new(5).unwrap(),
                description: "mug".into(),
                count: Quantity::new(2).unwrap(),
            }],
        }
    }

    #[test]
    fn commands_round_trip_through_the_wire() {
        let load = WarehouseCommand::Load {
            warehouse: WarehouseId::new(2).unwrap(),
            truck: TruckId::new(3).unwrap(),
            ship_id: ShipId::new(4).unwrap(),
        };
        for c in [pack(7), load] {
            assert_eq!(command(&request(&c)), Some(c));
        }
    }

    #[test]
    fn an_error_refuses_the_open_command_it_names() {
        let mut open = BTreeMap::from([(3, request(&pack(7))), (4, request(&pack(8)))]);
        let received = ShopToWorld::receive(
            WorldEvent::Error(wa::AErr {
                err: "no stock".into(),
                originseqnum: 4,
                seqnum: 1,
            }),
            &mut open,
        );
        match received {
            Received::Event(FulfilmentEvent::Refused { command, reason }) => {
                assert_eq!(command, Refused::Warehouse(pack(8)));
                assert_eq!(reason, "no stock");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(open.keys().copied().collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn an_answer_closes_its_command_and_bad_values_are_rejected() {
        let mut open = BTreeMap::from([(3, request(&pack(7)))]);
        let ready = ShopToWorld::receive(
            WorldEvent::Ready(wa::APacked {
                shipid: 7,
                seqnum: 1,
            }),
            &mut open,
        );
        assert!(matches!(
            ready,
            Received::Event(FulfilmentEvent::Packed { .. })
        ));
        assert!(open.is_empty());
        let bad = ShopToWorld::receive(
            WorldEvent::Loaded(wa::ALoaded {
                shipid: -1,
                seqnum: 2,
            }),
            &mut open,
        );
        assert!(matches!(bad, Received::Reject(_)));
    }
}
