//! The UPS link: the shop's durable ups_amazon session, behind core's `Shipping` port.
//!
//! By default the shop listens and the UPS dials in; it can also dial the UPS. Either way the
//! first frame on every connection is a bare `ConnectWorldId` naming the world the world link
//! is in (so the link waits until that is known), then `AtoUCommands` / `UtoACommands` flow.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::SinkExt;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Mutex, mpsc, watch},
    task::JoinHandle,
};
use tokio_util::codec::Framed;
use tracing::{info, warn};
use weshop_core::{
    domain::{Location, ShipId, TruckId},
    fulfilment::{FulfilmentEvent, Refused, ShippingCommand},
    ports::{PartlyTaken, PortError, Shipping},
    session::{Seqnum, SessionConfig},
};
use weshop_proto::{codec::DelimitedCodec, ups_amazon as ua};

use super::link::{
    self, Connecting, Connector, LinkContext, LinkHandle, LinkProtocol, Received, close,
};
use crate::protocols::{ShopMessage, ShopToUps, UpsMessage};

/// The seqnum of every `ConnectWorldId` the shop sends (the same message each time); the
/// session's own requests start after it.
pub const CONNECT_SEQNUM: Seqnum = 1;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the shop meets its UPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsEndpoint {
    /// Listen here for the UPS (the default).
    Listen(SocketAddr),
    /// Dial the UPS here.
    Connect(SocketAddr),
}

/// The UPS behind the `Shipping` port.
#[derive(Clone)]
pub struct UpsLink {
    link: LinkHandle<ShopMessage>,
    listening: Option<SocketAddr>,
}

impl UpsLink {
    /// Loads the saved link, binds the listener (when listening) and starts; the link waits
    /// until `world` names the world. Its tasks end on `context.shutdown`.
    pub async fn start(
        endpoint: UpsEndpoint,
        world: watch::Receiver<Option<i64>>,
        session: SessionConfig,
        context: LinkContext,
    ) -> Result<(Self, Vec<JoinHandle<()>>), String> {
        let state =
            link::load::<ShopToUps>(context.store.as_ref(), session, CONNECT_SEQNUM + 1).await?;
        let mut tasks = Vec::new();
        let (way, listening) = match endpoint {
            UpsEndpoint::Connect(address) => (Way::Dial(address), None),
            UpsEndpoint::Listen(address) => {
                let listener = TcpListener::bind(address)
                    .await
                    .map_err(|e| format!("cannot listen for the UPS on {address}: {e}"))?;
                let local = listener.local_addr().map_err(|e| e.to_string())?;
                info!("ups link: listening for the UPS on {local}");
                let (sockets, incoming) = mpsc::channel(8);
                tasks.push(tokio::spawn(accept(
                    listener,
                    sockets,
                    context.shutdown.clone(),
                )));
                (Way::Accept(Arc::new(Mutex::new(incoming))), Some(local))
            }
        };
        let connector = UpsConnector { way, world };
        let (unused, _) = watch::channel(None);
        let (link, task) = link::spawn(state, connector, context, unused);
        tasks.push(task);
        Ok((Self { link, listening }, tasks))
    }

    /// Where the shop listens for the UPS, when it does.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listening
    }
}

#[async_trait]
impl Shipping for UpsLink {
    async fn submit(&self, outbox_id: u64, command: ShippingCommand) -> Result<(), PortError> {
        self.link.submit(outbox_id, request(&command)).await
    }

    async fn submit_all(&self, commands: Vec<(u64, ShippingCommand)>) -> Result<(), PartlyTaken> {
        let requests = commands.iter().map(|(id, c)| (*id, request(c))).collect();
        self.link.submit_all(requests).await
    }
}

async fn accept(
    listener: TcpListener,
    sockets: mpsc::Sender<TcpStream>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    info!("ups link: the UPS connected from {peer}");
                    let _ = socket.set_nodelay(true);
                    if sockets.send(socket).await.is_err() {
                        return;
                    }
                }
                Err(e) => warn!("ups link: accept failed: {e}"),
            },
        }
    }
}

/// A shipping command on the wire.
pub fn request(command: &ShippingCommand) -> ShopMessage {
    match command {
        ShippingCommand::RequestTruck {
            warehouse,
            destination,
            ship_id,
            ups_account,
            items,
        } => ShopMessage::RequestTruck(ua::RequestTruck {
            seq_num: 0,
            warehouse_id: warehouse.id.get(),
            warehouse_x: warehouse.location.x,
            warehouse_y: warehouse.location.y,
            dest_x: destination.x,
            dest_y: destination.y,
            ship_id: ship_id.get(),
            ups_order: ups_account.as_ref().map(|account| ua::UpsOrder {
                up_suser_id: account.as_str().to_string(),
                product: items
                    .iter()
                    .map(|i| ua::Product {
                        product_id: i.product.get(),
                        product_count: i64::from(i.count.get()),
                        product_description: i.description.clone(),
                    })
                    .collect(),
            }),
        }),
        ShippingCommand::Deliver { ship_id } => ShopMessage::Deliver(ua::DeliverPackage {
            seq_num: 0,
            ship_id: ship_id.get(),
        }),
    }
}

/// The shipping command behind a wire request (`None` for error items and bad values).
pub fn command(request: &ShopMessage) -> Option<ShippingCommand> {
    use weshop_core::{
        domain::{ProductId, Quantity, UpsAccount, WarehouseId, WarehouseSite},
        fulfilment::Item,
    };
    match request {
        ShopMessage::RequestTruck(truck) => Some(ShippingCommand::RequestTruck {
            warehouse: WarehouseSite {
                id: WarehouseId::new(truck.warehouse_id).ok()?,
                location: Location {
                    x: truck.warehouse_x,
                    y: truck.warehouse_y,
                },
            },
            destination: Location {
                x: truck.dest_x,
                y: truck.dest_y,
            },
            ship_id: ShipId::new(truck.ship_id).ok()?,
            ups_account: match &truck.ups_order {
                Some(order) => Some(UpsAccount::parse(&order.up_suser_id).ok()?),
                None => None,
            },
            items: truck
                .ups_order
                .iter()
                .flat_map(|o| &o.product)
                .map(|p| {
                    Some(Item {
                        product: ProductId::new(p.product_id).ok()?,
                        description: p.product_description.clone(),
                        count: Quantity::new(p.product_count).ok()?,
                    })
                })
                .collect::<Option<_>>()?,
        }),
        ShopMessage::Deliver(deliver) => Some(ShippingCommand::Deliver {
            ship_id: ShipId::new(deliver.ship_id).ok()?,
        }),
        ShopMessage::Error(_) => None,
    }
}

impl LinkProtocol for ShopToUps {
    const NAME: &'static str = "ups";

    fn requests_of(message: ua::AtoUCommands) -> Vec<(Seqnum, ShopMessage)> {
        ShopMessage::disassemble(message).items
    }

    fn receive(item: UpsMessage, open: &mut BTreeMap<Seqnum, ShopMessage>) -> Received {
        let ship = |raw: i64| ShipId::new(raw).map_err(|e| format!("ship_id {raw}: {e}"));
        let event = match item {
            UpsMessage::TruckArrived(arrived) => {
                close(
                    open,
                    |r| matches!(r, ShopMessage::RequestTruck(t) if t.ship_id == arrived.ship_id),
                );
                ship(arrived.ship_id).and_then(|ship_id| {
                    Ok(FulfilmentEvent::TruckArrived {
                        ship_id,
                        truck: TruckId::new(arrived.truck_id)
                            .map_err(|e| format!("truck_id {}: {e}", arrived.truck_id))?,
                    })
                })
            }
            UpsMessage::Delivered(delivered) => {
                close(
                    open,
                    |r| matches!(r, ShopMessage::Deliver(d) if d.ship_id == delivered.ship_id),
                );
                ship(delivered.ship_id).map(|ship_id| FulfilmentEvent::Delivered { ship_id })
            }
            UpsMessage::FinalDest(dest) => {
                ship(dest.ship_id).map(|ship_id| FulfilmentEvent::FinalDestination {
                    ship_id,
                    location: Location {
                        x: dest.dest_x,
                        y: dest.dest_y,
                    },
                })
            }
            UpsMessage::Error(error) => {
                if error.originseqnum == CONNECT_SEQNUM {
                    return Received::Ignore(format!(
                        "the UPS refused ConnectWorldId: {}",
                        error.err
                    ));
                }
                return match open.remove(&error.originseqnum).as_ref().map(command) {
                    Some(Some(command)) => Received::Event(FulfilmentEvent::Refused {
                        command: Refused::Shipping(command),
                        reason: error.err,
                    }),
                    _ => Received::Ignore(format!(
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

    fn refused(request: &ShopMessage) -> Option<Refused> {
        command(request).map(Refused::Shipping)
    }

    fn error_item(reason: String, origin: Seqnum) -> Option<ShopMessage> {
        Some(ShopMessage::Error(ua::Err {
            err: reason,
            originseqnum: origin,
            seqnum: 0,
        }))
    }
}

enum Way {
    Dial(SocketAddr),
    Accept(Arc<Mutex<mpsc::Receiver<TcpStream>>>),
}

/// Waits for the world id, gets a socket (dialled or accepted) and says `ConnectWorldId`.
struct UpsConnector {
    way: Way,
    world: watch::Receiver<Option<i64>>,
}

impl Connector<ua::UtoACommands> for UpsConnector {
    fn connect(&mut self, _: Option<i64>) -> Connecting<ua::UtoACommands> {
        let mut world = self.world.clone();
        let way = match &self.way {
            Way::Dial(address) => Way::Dial(*address),
            Way::Accept(incoming) => Way::Accept(incoming.clone()),
        };
        Box::pin(async move {
            let world_id = *world
                .wait_for(Option::is_some)
                .await
                .map_err(|_| "the world link stopped".to_string())?;
            let world_id = world_id.expect("waited for it");
            let world_id = i32::try_from(world_id).map_err(|_| {
                format!("world id {world_id} does not fit ups_amazon's int32 world_id")
            })?;
            let socket = match way {
                Way::Dial(address) => {
                    tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
                        .await
                        .map_err(|_| format!("connecting to {address} timed out"))?
                        .map_err(|e| format!("cannot reach the UPS at {address}: {e}"))?
                }
                Way::Accept(incoming) => incoming
                    .lock()
                    .await
                    .recv()
                    .await
                    .ok_or("the UPS listener stopped")?,
            };
            let _ = socket.set_nodelay(true);
            let mut framed = Framed::new(socket, DelimitedCodec::<ua::UtoACommands>::new());
            framed
                .send(ua::ConnectWorldId {
                    world_id,
                    seq_num: CONNECT_SEQNUM,
                })
                .await
                .map_err(|e| e.to_string())?;
            Ok(framed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weshop_core::domain::{ProductId, Quantity, UpsAccount, WarehouseId, WarehouseSite};
    use weshop_core::fulfilment::Item;

    fn truck(ship: i64) -> ShippingCommand {
        ShippingCommand::RequestTruck {
            warehouse: WarehouseSite {
                id: WarehouseId::new(1).unwrap(),
                location: Location { x: 3, y: 4 },
            },
            destination: Location { x: 10, y: -2 },
            ship_id: ShipId::new(ship).unwrap(),
            ups_account: Some(UpsAccount::parse("alice").unwrap()),
            items: vec![Item {
                product: ProductId::new(9).unwrap(),
                description: "kettle".into(),
                count: Quantity::new(1).unwrap(),
            }],
        }
    }

    #[test]
    fn commands_round_trip_through_the_wire() {
        let deliver = ShippingCommand::Deliver {
            ship_id: ShipId::new(5).unwrap(),
        };
        for c in [truck(4), deliver] {
            assert_eq!(command(&request(&c)), Some(c));
        }
    }

    #[test]
    fn an_err_refuses_the_open_request_and_a_bad_item_is_answered_with_err() {
        let mut open = BTreeMap::from([(2, request(&truck(4)))]);
        let refused = ShopToUps::receive(
            UpsMessage::Error(ua::Err {
                err: "no such warehouse".into(),
                originseqnum: 2,
                seqnum: 7,
            }),
            &mut open,
        );
        assert!(matches!(
            refused,
            Received::Event(FulfilmentEvent::Refused {
                command: Refused::Shipping(ShippingCommand::RequestTruck { .. }),
                ..
            })
        ));
        let bad = ShopToUps::receive(
            UpsMessage::TruckArrived(ua::TruckArrived {
                seq_num: 8,
                ship_id: 4,
                truck_id: 0,
            }),
            &mut open,
        );
        let Received::Reject(reason) = bad else {
            panic!("{bad:?}")
        };
        assert!(matches!(
            ShopToUps::error_item(reason, 8),
            Some(ShopMessage::Error(ua::Err {
                originseqnum: 8,
                ..
            }))
        ));
    }
}
