//! Test support: the golden vectors, and message strategies built from descriptors.

use std::sync::OnceLock;

use proptest::prelude::*;
use prost_reflect::{Cardinality, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use weshop_proto::vectors::{self, Vectors};

/// The golden vectors, loaded once from the repository's copy ([`vectors::vendored_path`]).
pub fn vectors() -> &'static Vectors {
    static VECTORS: OnceLock<Vectors> = OnceLock::new();
    VECTORS.get_or_init(|| {
        vectors::load_file(&vectors::vendored_path()).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The normative protocol folder (`shared/protocol` beside the checkout, or
/// `$WESHOP_PROTOCOL_DIR`), when this machine has one; a lone clone has none.
pub fn shared_protocol_dir() -> Option<std::path::PathBuf> {
    vectors::locate(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).ok()
}

pub fn hex(text: &str) -> Vec<u8> {
    vectors::parse_hex(text).unwrap()
}

/// Arbitrary values of a message, built from its descriptor: required fields always set,
/// optional ones sometimes, repeated ones zero to four times, nested messages recursively.
pub fn message_strategy(
    descriptor: &MessageDescriptor,
    depth: u32,
) -> BoxedStrategy<DynamicMessage> {
    let fields: Vec<BoxedStrategy<(FieldDescriptor, Option<Value>)>> = descriptor
        .fields()
        .map(|field| {
            let value = value_strategy(&field, depth);
            let f = field.clone();
            match field.cardinality() {
                Cardinality::Required => value.prop_map(move |v| (f.clone(), Some(v))).boxed(),
                Cardinality::Optional => proptest::option::of(value)
                    .prop_map(move |v| (f.clone(), v))
                    .boxed(),
                Cardinality::Repeated => prop::collection::vec(value, 0..4)
                    .prop_map(move |v| (f.clone(), Some(Value::List(v))))
                    .boxed(),
            }
        })
        .collect();
    let descriptor = descriptor.clone();
    fields
        .prop_map(move |values| {
            let mut message = DynamicMessage::new(descriptor.clone());
            for (field, value) in values {
                if let Some(value) = value {
                    message.set_field(&field, value);
                }
            }
            message
        })
        .boxed()
}

fn value_strategy(field: &FieldDescriptor, depth: u32) -> BoxedStrategy<Value> {
    match field.kind() {
        Kind::Int32 => any::<i32>().prop_map(Value::I32).boxed(),
        Kind::Int64 => any::<i64>().prop_map(Value::I64).boxed(),
        Kind::Uint32 => any::<u32>().prop_map(Value::U32).boxed(),
        Kind::Uint64 => any::<u64>().prop_map(Value::U64).boxed(),
        Kind::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Kind::String => ".{0,12}".prop_map(Value::String).boxed(),
        Kind::Message(nested) => {
            assert!(depth < 8, "schema nests too deeply for the strategy");
            message_strategy(&nested, depth + 1)
                .prop_map(Value::Message)
                .boxed()
        }
        other => panic!(
            "{}: field kind {other:?} is not used by the schemas",
            field.full_name()
        ),
    }
}
