//! Codec throughput against bare prost, on realistic `ACommands` / `AResponses` batches.
//!
//! Each iteration handles a buffer of [`FRAMES`] messages of 1, 10 or 100 items, the way a
//! socket buffer holds several frames. For each size:
//! - decode: `prost` (bare `Message::decode` of each body), `frame` (the sync `decode_frame`
//!   over one slice), `codec` (the tokio `Decoder` over one `BytesMut`); the latter two include
//!   the proto2 required-field check, `frame_unchecked` is framing plus prost only;
//! - encode: `prost` (bare `Message::encode` by reference), `frame` (`encode_frame`), and, for
//!   owned messages as a `Framed` sink takes them, `prost_owned` and `codec`.
//!
//! Throughput is in bytes of frames; `scripts/bench-report.py` turns criterion's estimates into
//! MB/s, messages/s and the framing ratios.

#![allow(missing_docs)] // a bench crate

use bytes::BytesMut;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::{Decoder, Encoder};
use weshop_proto::{
    WireMessage,
    codec::DelimitedCodec,
    frame,
    world_amazon::{
        ACommands, AErr, ALoaded, APack, APackage, APacked, AProduct, APurchaseMore, APutOnTruck,
        AQuery, AResponses,
    },
};

const FRAMES: usize = 64;
const SIZES: [usize; 3] = [1, 10, 100];

fn products(i: usize) -> Vec<AProduct> {
    (0..1 + i % 3)
        .map(|k| AProduct {
            id: (1000 + i * 7 + k) as i64,
            description: format!("stainless travel mug #{k}, 350 ml"),
            count: 1 + (i % 5) as i32,
        })
        .collect()
}

/// A batch of `n` commands in the mix a busy shop sends: buys, packs, loads, queries, acks.
fn commands(n: usize) -> ACommands {
    let mut c = ACommands::default();
    for i in 0..n {
        let seqnum = 10_000 + i as i64;
        match i % 4 {
            0 => c.buy.push(APurchaseMore {
                whnum: (i % 5) as i32,
                things: products(i),
                seqnum,
            }),
            1 => c.topack.push(APack {
                whnum: 2,
                things: products(i),
                shipid: 500_000 + i as i64,
                seqnum,
            }),
            2 => c.load.push(APutOnTruck {
                whnum: 2,
                truckid: (i % 9) as i32,
                shipid: 500_000 + i as i64,
                seqnum,
            }),
            _ => c.queries.push(AQuery {
                packageid: 500_000 + i as i64,
                seqnum,
            }),
        }
        c.acks.push(20_000 + i as i64);
    }
    c
}

/// A batch of `n` events the world sends back: arrivals, packed, loaded, statuses, errors, acks.
fn responses(n: usize) -> AResponses {
    let mut r = AResponses::default();
    for i in 0..n {
        let seqnum = 20_000 + i as i64;
        match i % 5 {
            0 => r.arrived.push(APurchaseMore {
                whnum: (i % 5) as i32,
                things: products(i),
                seqnum,
            }),
            1 => r.ready.push(APacked {
                shipid: 500_000 + i as i64,
                seqnum,
            }),
            2 => r.loaded.push(ALoaded {
                shipid: 500_000 + i as i64,
                seqnum,
            }),
            3 => r.packagestatus.push(APackage {
                packageid: 500_000 + i as i64,
                status: "delivering".into(),
                seqnum,
            }),
            _ => r.error.push(AErr {
                err: format!("error: package {} is not packed", 500_000 + i),
                originseqnum: 10_000 + i as i64,
                seqnum,
            }),
        }
        r.acks.push(10_000 + i as i64);
    }
    r
}

fn bench_message<M: WireMessage + Clone + 'static>(
    c: &mut Criterion,
    name: &str,
    build: fn(usize) -> M,
) {
    for n in SIZES {
        let message = build(n);
        let body = message.encode_to_vec();
        let bodies: Vec<Vec<u8>> = vec![body.clone(); FRAMES];
        let mut stream = Vec::new();
        for _ in 0..FRAMES {
            frame::encode_frame(&message, &mut stream).unwrap();
        }
        let bytes = stream.len() as u64;

        let mut group = c.benchmark_group(format!("decode/{name}"));
        group.throughput(Throughput::Bytes(bytes));
        group.bench_with_input(BenchmarkId::new("prost", n), &bodies, |b, bodies| {
            b.iter(|| {
                for body in bodies {
                    std::hint::black_box(M::decode(&body[..]).unwrap());
                }
            })
        });
        group.bench_with_input(
            BenchmarkId::new("frame_unchecked", n),
            &stream,
            |b, stream| {
                b.iter(|| {
                    let mut rest = &stream[..];
                    while let Some((body, used)) =
                        frame::split_frame(rest, frame::DEFAULT_MAX_FRAME_LENGTH).unwrap()
                    {
                        std::hint::black_box(M::decode(body).unwrap());
                        rest = &rest[used..];
                    }
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("frame", n), &stream, |b, stream| {
            b.iter(|| {
                let mut rest = &stream[..];
                while let Some((message, used)) = frame::decode_frame::<M>(rest).unwrap() {
                    std::hint::black_box(message);
                    rest = &rest[used..];
                }
            })
        });
        group.bench_with_input(BenchmarkId::new("codec", n), &stream, |b, stream| {
            let mut codec = DelimitedCodec::<M>::new();
            b.iter_batched_ref(
                || BytesMut::from(&stream[..]),
                |buf| {
                    while let Some(message) = codec.decode(buf).unwrap() {
                        std::hint::black_box(message);
                    }
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();

        let mut group = c.benchmark_group(format!("encode/{name}"));
        group.throughput(Throughput::Bytes(bytes));
        let mut buf = BytesMut::with_capacity(stream.len() * 2);
        group.bench_with_input(BenchmarkId::new("prost", n), &message, |b, message| {
            b.iter(|| {
                buf.clear();
                for _ in 0..FRAMES {
                    message.encode(&mut buf).unwrap();
                }
                std::hint::black_box(&buf);
            })
        });
        group.bench_with_input(BenchmarkId::new("frame", n), &message, |b, message| {
            b.iter(|| {
                buf.clear();
                for _ in 0..FRAMES {
                    frame::encode_frame(message, &mut buf).unwrap();
                }
                std::hint::black_box(&buf);
            })
        });
        group.bench_with_input(
            BenchmarkId::new("prost_owned", n),
            &message,
            |b, message| {
                b.iter_batched(
                    || vec![message.clone(); FRAMES],
                    |messages| {
                        buf.clear();
                        for m in messages {
                            m.encode(&mut buf).unwrap();
                        }
                        std::hint::black_box(&buf);
                    },
                    BatchSize::SmallInput,
                )
            },
        );
        group.bench_with_input(BenchmarkId::new("codec", n), &message, |b, message| {
            let mut codec = DelimitedCodec::<M>::new();
            b.iter_batched(
                || vec![message.clone(); FRAMES],
                |messages| {
                    buf.clear();
                    for m in messages {
                        codec.encode(m, &mut buf).unwrap();
                    }
                    std::hint::black_box(&buf);
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

fn codec(c: &mut Criterion) {
    bench_message(c, "ACommands", commands);
    bench_message(c, "AResponses", responses);
}

criterion_group!(benches, codec);
criterion_main!(benches);
