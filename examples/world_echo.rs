//! Embedding the codec: a shop-side client and a toy world talking over a real TCP socket.
//!
//! The client connects, sends `AConnect`, reads `AConnected`, then switches the same connection
//! to `ACommands`/`AResponses` (keeping any bytes already buffered), sends a batch of commands
//! and prints what comes back. Run with `cargo run --example world_echo`.

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;
use weshop::proto::{
    FrameError,
    codec::DelimitedCodec,
    world_amazon::{
        ACommands, AConnect, AConnected, AInitWarehouse, APack, APacked, AProduct, AResponses,
    },
};

/// A toy world: accepts one shop, answers the handshake, acks every `topack` and reports it packed.
async fn toy_world(listener: TcpListener) -> Result<(), FrameError> {
    let (socket, peer) = listener.accept().await?;
    let mut link = Framed::new(socket, DelimitedCodec::<AConnect>::new());
    let Some(connect) = link.next().await.transpose()? else {
        return Ok(());
    };
    println!(
        "world: {peer} connects with {} warehouses",
        connect.initwh.len()
    );
    link.send(AConnected {
        worldid: 1,
        result: "connected!".into(),
    })
    .await?;

    let mut link = link.map_codec(|_| DelimitedCodec::<ACommands>::new());
    while let Some(commands) = link.next().await.transpose()? {
        let response = AResponses {
            acks: commands.topack.iter().map(|p| p.seqnum).collect(),
            ready: commands
                .topack
                .iter()
                .map(|p| APacked {
                    shipid: p.shipid,
                    seqnum: 1000 + p.seqnum,
                })
                .collect(),
            ..Default::default()
        };
        link.send(response).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let world = tokio::spawn(toy_world(listener));

    let socket = TcpStream::connect(addr).await?;
    let mut link = Framed::new(socket, DelimitedCodec::<AConnected>::new());
    link.send(AConnect {
        worldid: None,
        initwh: vec![AInitWarehouse { id: 1, x: 0, y: 0 }],
        is_amazon: true,
    })
    .await?;
    let connected = link
        .next()
        .await
        .ok_or("world closed during the handshake")??;
    println!("shop: {} (world {})", connected.result, connected.worldid);

    let mut link = link.map_codec(|_| DelimitedCodec::<AResponses>::new());
    let topack = (1..=3)
        .map(|seqnum| APack {
            whnum: 1,
            things: vec![AProduct {
                id: 10,
                description: "mug".into(),
                count: 1,
            }],
            shipid: 100 + seqnum,
            seqnum,
        })
        .collect();
    link.send(ACommands {
        topack,
        ..Default::default()
    })
    .await?;
    let responses = link.next().await.ok_or("world closed")??;
    println!(
        "shop: acks {:?}, packed {:?}",
        responses.acks, responses.ready
    );
    drop(link);
    world.await??;
    Ok(())
}
