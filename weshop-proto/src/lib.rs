//! The WeShop wire protocols.
//!
//! WeShop (the "Amazon" side) talks to a world simulator and to a partner UPS over three
//! protobuf-over-TCP protocols. This crate holds their proto2 schemas (wire-identical to the
//! normative ones in `shared/protocol`), the prost types generated from them at build time
//! (no system `protoc` needed), and the varint-delimited framing every link uses:
//!
//! - [`world_amazon`]: the shop and the world (warehouses), `ACommands` / `AResponses`;
//! - [`world_ups`]: a UPS and the world (trucks), `UCommands` / `UResponses`;
//! - [`ups_amazon`]: the shop and a UPS, `AtoUCommands` / `UtoACommands`.
//!
//! Framing: [`frame`] has plain synchronous helpers (encode one frame, decode one frame from a
//! slice); [`codec`] (feature `tokio`, on by default) has `tokio_util` codecs for `Framed`
//! streams. Both reject hostile input with a typed [`FrameError`] and never allocate more than
//! the configured maximum frame length, whatever a length prefix claims.
//!
//! prost does not track whether a proto2 `required` field was on the wire, so every decode also
//! checks them against a layout generated from the schema ([`WireMessage`]): a frame that
//! Google's parser would reject is rejected here too.
//!
//! ```
//! use weshop_proto::{frame, world_amazon::{ACommands, AQuery}};
//!
//! let cmd = ACommands { queries: vec![AQuery { packageid: 7, seqnum: 1 }], ..Default::default() };
//! let bytes = frame::encode_frame_to_vec(&cmd).unwrap();
//! let (back, used) = frame::decode_frame::<ACommands>(&bytes).unwrap().expect("a whole frame");
//! assert_eq!((back, used), (cmd, bytes.len()));
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "tokio")]
pub mod codec;
pub mod frame;
#[cfg(feature = "json")]
pub mod json;
pub mod layout;
pub mod schema;
#[cfg(feature = "json")]
pub mod vectors;

pub use frame::{DEFAULT_MAX_FRAME_LENGTH, FrameError};
pub use layout::{MissingField, WireMessage};
/// The prost runtime the generated types use (for `Message` and friends).
pub use prost;
pub use schema::{MessageVisitor, Schema, SchemaMessage, UnknownMessage};

/// Generates the module of one schema: its prost types, their layouts, and its descriptor pool.
macro_rules! schema_module {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[allow(missing_docs, clippy::all, clippy::pedantic)]
        pub mod $name {
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), "/messages.rs"));
            include!(concat!(env!("OUT_DIR"), "/", stringify!($name), "/layouts.rs"));

            /// The compiled descriptors of this schema (the reflection and JSON mapping use them).
            pub static DESCRIPTOR_POOL: std::sync::LazyLock<prost_reflect::DescriptorPool> =
                std::sync::LazyLock::new(|| {
                    prost_reflect::DescriptorPool::decode(
                        include_bytes!(concat!(env!("OUT_DIR"), "/", stringify!($name), ".fds"))
                            .as_ref(),
                    )
                    .expect("build.rs wrote a valid descriptor set")
                });

            /// The schema's `.proto` source, exactly as compiled.
            pub const PROTO_SOURCE: &str =
                include_str!(concat!("../proto/", stringify!($name), ".proto"));
        }
    };
}

schema_module!(
    /// WeShop <-> world (warehouses): `AConnect`/`AConnected`, then `ACommands` in and
    /// `AResponses` out.
    world_amazon
);
schema_module!(
    /// UPS <-> world (trucks): `UConnect`/`UConnected`, then `UCommands` in and `UResponses` out.
    world_ups
);
schema_module!(
    /// WeShop <-> UPS: a bare `ConnectWorldId` first, then `AtoUCommands` and `UtoACommands`.
    ups_amazon
);
