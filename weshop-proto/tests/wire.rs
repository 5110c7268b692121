//! The codec against Google's golden frames (`tests/data/vectors.json`, a copy of
//! `shared/protocol/vectors.json`), property tests over
//! every frame message, and framing over real TCP.

#![allow(missing_docs)] // a test crate: its items are not an API

mod support;

use std::io;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt, stream};
use proptest::prelude::*;
use serde_json::Value;
use tokio_util::{
    codec::{Decoder, Encoder, FramedRead},
    io::StreamReader,
};
use weshop_proto::{
    FrameError, MessageVisitor, Schema, SchemaMessage,
    codec::DelimitedCodec,
    frame::{self, LengthError, Truncated},
    json::{from_json, to_json},
};

use support::{hex, message_strategy, vectors};
use weshop_proto::vectors::{self as golden, Vectors, to_hex};

/// Runs a closure generic over the message type named by a vector entry.
fn with_type<V: MessageVisitor>(schema: &str, message: &str, visitor: V) -> V::Output {
    let schema: Schema = schema.parse().expect("vector names a known schema");
    schema
        .visit_message(message, visitor)
        .expect("vector names a known message")
}

#[test]
fn our_vectors_are_the_normative_ones() {
    let Some(dir) = support::shared_protocol_dir() else {
        eprintln!("no shared/protocol beside this clone: the vendored vectors are not compared");
        return;
    };
    let normative = std::fs::read(dir.join("vectors.json")).unwrap();
    let ours = std::fs::read(golden::vendored_path()).unwrap();
    assert!(
        normative == ours,
        "tests/data/vectors.json differs from {}: copy it again",
        dir.join("vectors.json").display()
    );
}

#[test]
fn our_schemas_are_the_normative_ones() {
    let Some(dir) = support::shared_protocol_dir() else {
        eprintln!("no shared/protocol beside this clone: the schemas are not compared");
        return;
    };
    for schema in Schema::ALL {
        let path = dir.join(format!("{schema}.proto"));
        let normative = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert_eq!(
            schema.proto_source(),
            normative,
            "{schema}.proto differs from {}",
            path.display()
        );
    }
}

#[test]
fn every_case_decodes_to_its_json_and_encodes_to_its_bytes() {
    struct Case<'a>(&'a golden::Case);
    impl MessageVisitor for Case<'_> {
        type Output = ();
        fn visit<M: SchemaMessage>(self) {
            let case = self.0;
            let frame_bytes = hex(&case.frame_hex);
            let expected: M = from_json(case.json.clone())
                .unwrap_or_else(|e| panic!("{}: JSON does not build a message: {e}", case.name));

            // Decoding: the sync helper and the streaming codec agree with the JSON.
            let (decoded, used) = frame::decode_frame::<M>(&frame_bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name))
                .unwrap_or_else(|| panic!("{}: frame reported incomplete", case.name));
            assert_eq!(used, frame_bytes.len(), "{}: bytes used", case.name);
            assert_eq!(decoded, expected, "{}: decoded message", case.name);
            let mut buf = BytesMut::from(&frame_bytes[..]);
            let streamed = DelimitedCodec::<M>::new().decode_eof(&mut buf).unwrap();
            assert_eq!(
                streamed.as_ref(),
                Some(&expected),
                "{}: codec decode",
                case.name
            );
            assert_eq!(
                to_json(&decoded),
                case.json,
                "{}: JSON mapping of the decoded message",
                case.name
            );

            // Encoding: byte for byte, except the packed case, whose canonical form is unpacked.
            let encoded = frame::encode_frame_to_vec(&expected).unwrap();
            let mut codec_out = BytesMut::new();
            DelimitedCodec::<M>::new()
                .encode(expected.clone(), &mut codec_out)
                .unwrap();
            assert_eq!(
                &codec_out[..],
                &encoded[..],
                "{}: codec and sync helper",
                case.name
            );
            if case.decode_only() {
                assert_ne!(
                    encoded, frame_bytes,
                    "{}: packed input re-encodes unpacked",
                    case.name
                );
                let (again, _) = frame::decode_frame::<M>(&encoded).unwrap().unwrap();
                assert_eq!(again, expected, "{}", case.name);
            } else {
                assert_eq!(
                    to_hex(&encoded),
                    case.frame_hex,
                    "{}: encoded frame",
                    case.name
                );
            }
        }
    }
    let Vectors { cases, .. } = vectors();
    assert!(
        cases.len() >= 19,
        "vectors.json has only {} cases",
        cases.len()
    );
    for case in cases {
        with_type(&case.schema, &case.message, Case(case));
    }
}

/// Decodes `chunks` fed one after another through the codec, as a socket would deliver them.
fn decode_chunks<M: SchemaMessage>(chunks: &[&[u8]]) -> Result<Vec<M>, FrameError> {
    let mut codec = DelimitedCodec::<M>::new();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(message) = codec.decode(&mut buf)? {
            out.push(message);
        }
    }
    while let Some(message) = codec.decode_eof(&mut buf)? {
        out.push(message);
    }
    Ok(out)
}

fn split_at_cuts<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks
}

struct StreamCheck<'a>(&'a golden::Stream, Vec<Vec<usize>>);
impl MessageVisitor for StreamCheck<'_> {
    type Output = ();
    fn visit<M: SchemaMessage>(self) {
        let stream = self.0;
        let bytes = hex(&stream.stream_hex);
        let expected: Vec<M> = stream
            .frames_json
            .iter()
            .map(|json| from_json(json.clone()).unwrap())
            .collect();
        let mut splits: Vec<Vec<usize>> = self.1;
        splits.push(vec![]);
        splits.push((1..bytes.len()).collect()); // one byte at a time
        splits.extend((0..=bytes.len()).map(|cut| vec![cut])); // every single cut
        for cuts in splits {
            let chunks = split_at_cuts(&bytes, &cuts);
            let got = decode_chunks::<M>(&chunks)
                .unwrap_or_else(|e| panic!("{}: split {cuts:?}: {e}", stream.name));
            assert_eq!(got, expected, "{}: split {cuts:?}", stream.name);
        }
    }
}

#[test]
fn streams_yield_exactly_their_frames_in_every_split() {
    let Vectors { streams, .. } = vectors();
    assert!(!streams.is_empty());
    for stream in streams {
        let len = hex(&stream.stream_hex).len();
        // Every pair of cuts, too: all three-chunk splits.
        let pairs = (0..=len)
            .flat_map(|a| (a..=len).map(move |b| vec![a, b]))
            .collect();
        with_type(&stream.schema, &stream.message, StreamCheck(stream, pairs));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn streams_survive_random_chunkings(cuts in prop::collection::vec(any::<usize>(), 0..40)) {
        for stream in &vectors().streams {
            with_type(&stream.schema, &stream.message, StreamCheck(stream, vec![cuts.clone()]));
        }
    }
}

#[test]
fn malformed_entries_are_rejected_with_the_stated_error() {
    struct Check<'a>(&'a golden::Malformed);
    impl MessageVisitor for Check<'_> {
        type Output = Result<Vec<M2>, FrameError>;
        fn visit<M: SchemaMessage>(self) -> Self::Output {
            let bytes = hex(&self.0.stream_hex);
            // Whatever the split, no message comes out, only the error.
            for cut in 0..=bytes.len() {
                let got = decode_chunks::<M>(&[&bytes[..cut], &bytes[cut..]]);
                assert!(got.is_err(), "{}: cut {cut} yielded {got:?}", self.0.name);
            }
            decode_chunks::<M>(&[&bytes]).map(|v| v.into_iter().map(|_| M2).collect())
        }
    }
    #[derive(Debug)]
    struct M2;

    let Vectors { malformed, .. } = vectors();
    assert!(malformed.len() >= 5);
    for entry in malformed {
        let err = with_type(&entry.schema, &entry.message, Check(entry)).unwrap_err();
        let ok = match entry.name.as_str() {
            "truncated_body" => matches!(err, FrameError::UnexpectedEof(Truncated::InBody { .. })),
            "huge_length_prefix" => matches!(
                err,
                FrameError::FrameTooLarge {
                    length: 0x7fff_ffff,
                    ..
                }
            ),
            "overlong_varint_length" => matches!(
                err,
                FrameError::InvalidLength(LengthError::Overflow | LengthError::Overlong)
            ),
            "garbage_body" => matches!(err, FrameError::Decode { .. }),
            "missing_required_field" => matches!(err, FrameError::MissingRequired(_)),
            other => {
                eprintln!("new malformed vector {other}: rejected with {err}");
                true
            }
        };
        assert!(
            ok,
            "{}: expected {:?}, got {err:?}",
            entry.name, entry.expect
        );
        if entry.expect.starts_with("incomplete") {
            // Before the end of the stream the decoder just waits.
            let bytes = hex(&entry.stream_hex);
            let mut buf = BytesMut::from(&bytes[..]);
            let waited = with_type(&entry.schema, &entry.message, Waits(&mut buf));
            assert!(
                waited,
                "{}: decoder did not wait for more bytes",
                entry.name
            );
        }
    }

    struct Waits<'a>(&'a mut BytesMut);
    impl MessageVisitor for Waits<'_> {
        type Output = bool;
        fn visit<M: SchemaMessage>(self) -> bool {
            matches!(DelimitedCodec::<M>::new().decode(self.0), Ok(None))
        }
    }
}

/// Round-trips every frame message: arbitrary values built from the schema's descriptors.
struct RoundTrip;
impl MessageVisitor for RoundTrip {
    type Output = ();
    fn visit<M: SchemaMessage>(self) {
        let descriptor = M::default().descriptor();
        let config = ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        let mut runner = proptest::test_runner::TestRunner::new(config);
        runner
            .run(&message_strategy(&descriptor, 0), |dynamic| {
                let body = prost::Message::encode_to_vec(&dynamic);
                let message = frame::decode_body::<M>(&body)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                // prost's encoder and prost-reflect's agree byte for byte (field order, unpacked).
                let mut frame_bytes = BytesMut::new();
                DelimitedCodec::<M>::new()
                    .encode(message.clone(), &mut frame_bytes)
                    .unwrap();
                let header = frame::parse_header(&frame_bytes, usize::MAX)
                    .unwrap()
                    .unwrap();
                prop_assert_eq!(&frame_bytes[header.prefix_length..], &body[..]);
                // Codec round trip, including a split mid-frame.
                let cut = frame_bytes.len() / 2;
                let back = decode_chunks::<M>(&[&frame_bytes[..cut], &frame_bytes[cut..]])
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(back, vec![message.clone()]);
                // JSON mapping round trip.
                prop_assert_eq!(from_json::<M>(to_json(&message)).unwrap(), message);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", descriptor.full_name()));
    }
}

#[test]
fn every_frame_message_round_trips() {
    for schema in Schema::ALL {
        for name in schema.frame_messages() {
            schema.visit_message(name, RoundTrip).unwrap();
        }
    }
}

#[tokio::test]
async fn async_reader_yields_the_stream_in_any_chunking() {
    let stream = &vectors().streams[0];
    let bytes = hex(&stream.stream_hex);
    let expected: Vec<Value> = stream.frames_json.clone();
    for chunk_size in [1, 2, 3, 7, 64, bytes.len()] {
        let chunks: Vec<io::Result<bytes::Bytes>> = bytes
            .chunks(chunk_size)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect();
        let reader = StreamReader::new(stream::iter(chunks));
        let frames = FramedRead::new(
            reader,
            DelimitedCodec::<weshop_proto::world_amazon::AResponses>::new(),
        );
        let got: Vec<Value> = frames.map(|m| to_json(&m.unwrap())).collect().await;
        assert_eq!(got, expected, "chunk size {chunk_size}");
    }
}

#[tokio::test]
async fn frames_cross_a_real_tcp_connection_both_ways() {
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::codec::Framed;
    use weshop_proto::world_amazon::{ACommands, APack, APacked, AProduct, AResponses};

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A tiny world: answers every `topack` with `ready` and acks its seqnum.
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut link = Framed::new(socket, DelimitedCodec::<ACommands>::new());
        while let Some(commands) = link.next().await {
            let commands = commands.unwrap();
            let response = AResponses {
                ready: commands
                    .topack
                    .iter()
                    .map(|p| APacked {
                        shipid: p.shipid,
                        seqnum: p.seqnum + 1000,
                    })
                    .collect(),
                acks: commands.topack.iter().map(|p| p.seqnum).collect(),
                ..Default::default()
            };
            link.send(response).await.unwrap();
        }
    });

    let socket = TcpStream::connect(addr).await.unwrap();
    let mut link = Framed::new(socket, DelimitedCodec::<AResponses>::new());
    for seqnum in 1..=200i64 {
        let pack = APack {
            whnum: 1,
            things: vec![AProduct {
                id: seqnum,
                description: "x".repeat(seqnum as usize),
                count: 2,
            }],
            shipid: seqnum * 10,
            seqnum,
        };
        link.send(ACommands {
            topack: vec![pack],
            ..Default::default()
        })
        .await
        .unwrap();
    }
    for seqnum in 1..=200i64 {
        let response = link.next().await.unwrap().unwrap();
        assert_eq!(response.acks, vec![seqnum]);
        assert_eq!(
            response.ready,
            vec![APacked {
                shipid: seqnum * 10,
                seqnum: seqnum + 1000
            }]
        );
    }
    drop(link);
    server.await.unwrap();
}
