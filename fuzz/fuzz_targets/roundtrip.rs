//! Structured arbitrary messages of every frame type: encode -> decode through the codec gives
//! the same message, and so does the JSON mapping.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::{
    arbitrary::{self, Arbitrary},
    fuzz_target,
};
use tokio_util::codec::{Decoder, Encoder};
use weshop_proto::{
    SchemaMessage, codec::DelimitedCodec, json, ups_amazon as ua, world_amazon as wa,
    world_ups as wu,
};

#[derive(Debug, Arbitrary)]
enum AnyMessage {
    AConnect(wa::AConnect),
    AConnected(wa::AConnected),
    ACommands(wa::ACommands),
    AResponses(wa::AResponses),
    UConnect(wu::UConnect),
    UConnected(wu::UConnected),
    UCommands(wu::UCommands),
    UResponses(wu::UResponses),
    ConnectWorldId(ua::ConnectWorldId),
    AtoUCommands(ua::AtoUCommands),
    UtoACommands(ua::UtoACommands),
}

fn round_trip<M: SchemaMessage>(message: M) {
    let mut codec = DelimitedCodec::<M>::new();
    let mut buf = BytesMut::new();
    codec
        .encode(message.clone(), &mut buf)
        .expect("fuzz messages stay under the limit");
    let decoded = codec
        .decode_eof(&mut buf)
        .expect("own frame decodes")
        .expect("a whole frame");
    assert!(buf.is_empty(), "frame fully consumed");
    assert_eq!(decoded, message);
    let back: M = json::from_json(json::to_json(&message)).expect("JSON mapping round trips");
    assert_eq!(back, message);
}

fuzz_target!(|message: AnyMessage| {
    match message {
        AnyMessage::AConnect(m) => round_trip(m),
        AnyMessage::AConnected(m) => round_trip(m),
        AnyMessage::ACommands(m) => round_trip(m),
        AnyMessage::AResponses(m) => round_trip(m),
        AnyMessage::UConnect(m) => round_trip(m),
        AnyMessage::UConnected(m) => round_trip(m),
        AnyMessage::UCommands(m) => round_trip(m),
        AnyMessage::UResponses(m) => round_trip(m),
        AnyMessage::ConnectWorldId(m) => round_trip(m),
        AnyMessage::AtoUCommands(m) => round_trip(m),
        AnyMessage::UtoACommands(m) => round_trip(m),
    }
});
