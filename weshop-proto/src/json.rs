//! The protobuf JSON mapping, with the schemas' original field names.
//!
//! Used by the `weshop wire` inspector and by tests. Conversions go through the typed prost
//! messages and the same body decoding as the codec, so JSON in and out obeys the same rules
//! (required fields included) as the wire. 64-bit integers are JSON strings; unset optional
//! fields are left out; proto2 required fields appear even when zero.

use prost::Message;
use prost_reflect::{DeserializeOptions, DynamicMessage, ReflectMessage, SerializeOptions};
use serde_json::Value;

use crate::{
    frame::{self, FrameError},
    schema::{MessageVisitor, Schema, SchemaMessage, UnknownMessage},
};

const SERIALIZE: SerializeOptions = SerializeOptions::new()
    .use_proto_field_name(true)
    .stringify_64_bit_integers(true)
    .skip_default_fields(true);

/// Why JSON could not be turned into a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The JSON does not fit the message's JSON mapping (unknown field, wrong type, ...).
    #[error("JSON does not match {message}: {source}")]
    Mapping {
        /// The expected message.
        message: String,
        /// What was wrong.
        source: serde_json::Error,
    },
    /// The JSON lacks a required field (or the message is otherwise unencodable).
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// A message as one line of JSON text, fields in field-number order (as Google's runtime
/// prints them).
pub fn to_json_string<M: ReflectMessage>(message: &M) -> String {
    let mut out = Vec::new();
    message
        .transcode_to_dynamic()
        .serialize_with_options(&mut serde_json::Serializer::new(&mut out), &SERIALIZE)
        .expect("writing JSON to memory cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A message as a JSON value (objects' keys sorted, so compare values, not text).
pub fn to_json<M: ReflectMessage>(message: &M) -> Value {
    message
        .transcode_to_dynamic()
        .serialize_with_options(serde_json::value::Serializer, &SERIALIZE)
        .expect("a dynamic message always serializes to a JSON value")
}

/// A message from JSON; missing required fields are an error, as on the wire.
pub fn from_json<M: SchemaMessage>(json: Value) -> Result<M, JsonError> {
    let descriptor = M::default().descriptor();
    let dynamic = DynamicMessage::deserialize_with_options(
        descriptor.clone(),
        json,
        &DeserializeOptions::new().deny_unknown_fields(true),
    )
    .map_err(|source| JsonError::Mapping {
        message: descriptor.full_name().to_string(),
        source,
    })?;
    Ok(frame::decode_body::<M>(&dynamic.encode_to_vec())?)
}

/// A message type picked at run time (e.g. from a command line), converting frame bodies to
/// and from JSON through its Rust type.
#[derive(Debug, Clone)]
pub struct JsonMapper {
    schema: Schema,
    name: String,
    max_frame_length: usize,
}

impl JsonMapper {
    /// The mapper for message `name` of `schema`.
    pub fn new(schema: Schema, name: &str) -> Result<Self, UnknownMessage> {
        schema.message_descriptor(name)?;
        Ok(Self {
            schema,
            name: name.to_string(),
            max_frame_length: frame::DEFAULT_MAX_FRAME_LENGTH,
        })
    }

    /// Refuse to produce frames with bodies over `max_frame_length` bytes.
    pub fn with_max_frame_length(mut self, max_frame_length: usize) -> Self {
        self.max_frame_length = max_frame_length;
        self
    }

    /// The largest frame body this mapper produces (and its users should accept).
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// The schema.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    /// The message's full name.
    pub fn message_name(&self) -> &str {
        &self.name
    }

    /// Decodes a frame body (no length prefix) to one line of JSON text.
    pub fn body_to_json(&self, body: &[u8]) -> Result<String, FrameError> {
        struct Visit<'a>(&'a [u8]);
        impl MessageVisitor for Visit<'_> {
            type Output = Result<String, FrameError>;
            fn visit<M: SchemaMessage>(self) -> Self::Output {
                Ok(to_json_string(&frame::decode_body::<M>(self.0)?))
            }
        }
        self.visit(Visit(body))
    }

    /// Encodes JSON as one whole frame (length prefix and body), appended to `dst`.
    pub fn json_to_frame(&self, json: Value, dst: &mut Vec<u8>) -> Result<usize, JsonError> {
        struct Visit<'a>(Value, &'a mut Vec<u8>, usize);
        impl MessageVisitor for Visit<'_> {
            type Output = Result<usize, JsonError>;
            fn visit<M: SchemaMessage>(self) -> Self::Output {
                let message = from_json::<M>(self.0)?;
                Ok(frame::encode_frame_with_limit(&message, self.1, self.2)?)
            }
        }
        self.visit(Visit(json, dst, self.max_frame_length))
    }

    fn visit<V: MessageVisitor>(&self, visitor: V) -> V::Output {
        self.schema
            .visit_message(&self.name, visitor)
            .expect("the name was checked in JsonMapper::new")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{ups_amazon::RequestTruck, world_amazon::AConnected};

    #[test]
    fn int64_as_strings_and_zero_required_fields_present() {
        let json = to_json(&AConnected {
            worldid: 0,
            result: String::new(),
        });
        assert_eq!(json, json!({"worldid": "0", "result": ""}));
    }

    #[test]
    fn original_field_names_round_trip() {
        let truck = RequestTruck {
            seq_num: 5,
            warehouse_id: 1,
            ship_id: 9,
            ..Default::default()
        };
        let json = to_json(&truck);
        assert_eq!(json["seq_num"], "5");
        assert_eq!(json["warehouse_x"], 0);
        assert!(json.get("ups_order").is_none());
        assert_eq!(from_json::<RequestTruck>(json).unwrap(), truck);
    }

    #[test]
    fn missing_required_and_unknown_fields_are_refused() {
        let err = from_json::<AConnected>(json!({"worldid": "1"})).unwrap_err();
        assert!(
            err.to_string().contains("missing required field result"),
            "{err}"
        );
        let err =
            from_json::<AConnected>(json!({"worldid": "1", "result": "", "x": 1})).unwrap_err();
        assert!(matches!(err, JsonError::Mapping { .. }), "{err}");
    }

    #[test]
    fn mapper_picks_the_type_by_name() {
        let mapper = JsonMapper::new(Schema::WorldAmazon, "AConnected").unwrap();
        let mut frame = Vec::new();
        mapper
            .json_to_frame(json!({"worldid": "7", "result": "connected!"}), &mut frame)
            .unwrap();
        assert_eq!(frame[0] as usize, frame.len() - 1);
        assert_eq!(
            mapper.body_to_json(&frame[1..]).unwrap(),
            r#"{"worldid":"7","result":"connected!"}"#
        );
        assert!(JsonMapper::new(Schema::WorldAmazon, "Nope").is_err());
    }
}
