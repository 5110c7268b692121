//! Required-field layouts: what prost forgets about proto2 `required` fields.
//!
//! prost decodes a missing `required` field as its default value, so presence has to be checked
//! on the wire bytes. build.rs emits a static [`MessageLayout`] for every message; the check
//! walks the body once, skipping values, and recurses only into known message fields.

use prost::encoding::{WireType, decode_varint};

/// A protobuf message that can travel in a WeShop frame: a prost message plus the layout of its
/// required fields. Implemented for every generated type; for a prost type of your own, a
/// layout with no fields (`MessageLayout::EMPTY`) disables the check.
pub trait WireMessage: prost::Message + Default {
    /// The required and nested-message fields of this message.
    const LAYOUT: &'static MessageLayout;

    /// Checks that every required field (recursively) is present in an encoded body.
    fn check_required(body: &[u8]) -> Result<(), MissingField> {
        Self::LAYOUT.check(body)
    }

    /// True when this decoded message itself proves every required field was present: each
    /// holds a non-default value, which prost only sets from the wire. The generated types
    /// implement it; `false` (the default) just means the body has to be scanned.
    fn required_evident(&self) -> bool {
        false
    }
}

/// The fields of one message that the required-field check needs.
#[derive(Debug)]
pub struct MessageLayout {
    /// Full proto name of the message.
    pub name: &'static str,
    /// One bit per required field (`FieldLayout::required_bit`).
    pub required_mask: u64,
    /// Required fields and message-typed fields, in declaration order.
    pub fields: &'static [FieldLayout],
}

/// One required or message-typed field of a [`MessageLayout`].
#[derive(Debug)]
pub struct FieldLayout {
    /// Field number.
    pub number: u32,
    /// Field name as in the schema.
    pub name: &'static str,
    /// This field's bit in `required_mask`, when it is required.
    pub required_bit: Option<u8>,
    /// The layout of the field's message type, when it is a message.
    pub message: Option<&'static MessageLayout>,
}

/// A required field missing from a decoded body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} is missing required field {path}")]
pub struct MissingField {
    /// The top-level message that was checked.
    pub message: &'static str,
    /// Dotted path from that message to the missing field, e.g. `buy.seqnum`.
    pub path: String,
}

/// Nesting deeper than this is refused (the schemas nest two levels; prost allows 100).
const MAX_DEPTH: u32 = 100;

enum Fault {
    Missing(String),
    /// Bytes prost accepted but this walk could not follow: only possible if the check runs on
    /// bytes prost did not decode first, and then reported as a missing field at the root.
    Malformed,
}

impl MessageLayout {
    /// A layout with no required and no message fields: the check always passes.
    pub const EMPTY: MessageLayout = MessageLayout {
        name: "",
        required_mask: 0,
        fields: &[],
    };

    /// Checks an encoded body of this message for missing required fields.
    pub fn check(&'static self, body: &[u8]) -> Result<(), MissingField> {
        if self.fields.is_empty() {
            return Ok(());
        }
        self.walk(body, 0).map_err(|fault| MissingField {
            message: self.name,
            path: match fault {
                Fault::Missing(path) => path,
                Fault::Malformed => "(malformed body)".to_string(),
            },
        })
    }

    fn field(&self, number: u64) -> Option<&FieldLayout> {
        self.fields.iter().find(|f| u64::from(f.number) == number)
    }

    fn walk(&self, mut buf: &[u8], depth: u32) -> Result<(), Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::Malformed);
        }
        let mut seen = 0u64;
        while !buf.is_empty() {
            let key = read_varint(&mut buf)?;
            let number = key >> 3;
            let wire_type = WireType::try_from(key & 7).map_err(|_| Fault::Malformed)?;
            let field = self.field(number);
            match wire_type {
                WireType::Varint => skip_varint(&mut buf)?,
                WireType::SixtyFourBit => buf = skip(buf, 8)?,
                WireType::ThirtyTwoBit => buf = skip(buf, 4)?,
                WireType::LengthDelimited => {
                    let len = read_varint(&mut buf)?;
                    let len = usize::try_from(len).map_err(|_| Fault::Malformed)?;
                    if len > buf.len() {
                        return Err(Fault::Malformed);
                    }
                    let (value, rest) = buf.split_at(len);
                    if let Some(FieldLayout {
                        message: Some(nested),
                        name,
                        ..
                    }) = field
                    {
                        nested.walk(value, depth + 1).map_err(|fault| match fault {
                            Fault::Missing(path) => Fault::Missing(format!("{name}.{path}")),
                            Fault::Malformed => Fault::Malformed,
                        })?;
                    }
                    buf = rest;
                }
                WireType::StartGroup => buf = skip_group(buf, number, depth)?,
                WireType::EndGroup => return Err(Fault::Malformed),
            }
            if let Some(FieldLayout {
                required_bit: Some(bit),
                ..
            }) = field
            {
                seen |= 1 << bit;
            }
        }
        if seen & self.required_mask == self.required_mask {
            return Ok(());
        }
        let missing = self
            .fields
            .iter()
            .find(|f| f.required_bit.is_some_and(|bit| seen & (1 << bit) == 0))
            .map_or("?", |f| f.name);
        Err(Fault::Missing(missing.to_string()))
    }
}

/// Reads a varint; one-byte values (nearly every key and length here) take the fast path.
#[inline]
fn read_varint(buf: &mut &[u8]) -> Result<u64, Fault> {
    match buf.first() {
        Some(&byte) if byte < 0x80 => {
            *buf = &buf[1..];
            Ok(u64::from(byte))
        }
        _ => decode_varint(buf).map_err(|_| Fault::Malformed),
    }
}

/// Skips a varint without computing its value.
#[inline]
fn skip_varint(buf: &mut &[u8]) -> Result<(), Fault> {
    let end = buf
        .iter()
        .take(10)
        .position(|&b| b < 0x80)
        .ok_or(Fault::Malformed)?;
    *buf = &buf[end + 1..];
    Ok(())
}

fn skip(buf: &[u8], n: usize) -> Result<&[u8], Fault> {
    buf.get(n..).ok_or(Fault::Malformed)
}

/// Skips a (deprecated) group up to its matching end tag. Unknown groups are legal protobuf,
/// so prost accepts them; none of the schemas declares one.
fn skip_group(mut buf: &[u8], number: u64, depth: u32) -> Result<&[u8], Fault> {
    if depth > MAX_DEPTH {
        return Err(Fault::Malformed);
    }
    loop {
        let key = decode_varint(&mut buf).map_err(|_| Fault::Malformed)?;
        let wire_type = WireType::try_from(key & 7).map_err(|_| Fault::Malformed)?;
        match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|_| Fault::Malformed)?;
            }
            WireType::SixtyFourBit => buf = skip(buf, 8)?,
            WireType::ThirtyTwoBit => buf = skip(buf, 4)?,
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|_| Fault::Malformed)?;
                let len = usize::try_from(len).map_err(|_| Fault::Malformed)?;
                buf = skip(buf, len)?;
            }
            WireType::StartGroup => buf = skip_group(buf, key >> 3, depth + 1)?,
            WireType::EndGroup if key >> 3 == number => return Ok(buf),
            WireType::EndGroup => return Err(Fault::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::world_amazon::{ACommands, AConnected, APurchaseMore};

    #[test]
    fn present_fields_pass_even_when_zero() {
        let body = AConnected {
            worldid: 0,
            result: String::new(),
        }
        .encode_to_vec();
        assert_eq!(body, [0x08, 0x00, 0x12, 0x00]);
        AConnected::check_required(&body).unwrap();
    }

    #[test]
    fn missing_top_level_field_is_named() {
        let err = AConnected::check_required(&[0x08, 0x07]).unwrap_err();
        assert_eq!(err.message, "AConnected");
        assert_eq!(err.path, "result");
        assert_eq!(
            err.to_string(),
            "AConnected is missing required field result"
        );
    }

    #[test]
    fn missing_nested_field_has_a_path() {
        let mut cmd = ACommands::default();
        cmd.buy.push(APurchaseMore {
            whnum: 1,
            things: vec![],
            seqnum: 5,
        });
        let mut body = cmd.encode_to_vec();
        // The buy item is `0a 04 08 01 18 05`: drop its seqnum by shortening it to `0a 02 08 01`.
        assert_eq!(body, [0x0a, 0x04, 0x08, 0x01, 0x18, 0x05]);
        body.truncate(4);
        body[1] = 2;
        let err = ACommands::check_required(&body).unwrap_err();
        assert_eq!(err.path, "buy.seqnum");
    }

    #[test]
    fn unknown_fields_and_groups_are_skipped() {
        // result, worldid, then unknown field 9 as a group holding a varint, then fixed64 and fixed32.
        let body = [
            0x12, 0x00, 0x08, 0x01, 0x4b, 0x08, 0x01, 0x4c, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x55, 1,
            2, 3, 4,
        ];
        AConnected::check_required(&body).unwrap();
    }

    #[test]
    fn non_default_values_prove_presence_and_defaults_ask_for_a_scan() {
        let full = ACommands {
            buy: vec![APurchaseMore {
                whnum: 1,
                things: vec![crate::world_amazon::AProduct {
                    id: 2,
                    description: "d".into(),
                    count: 3,
                }],
                seqnum: 4,
            }],
            ..Default::default()
        };
        assert!(full.required_evident());
        let mut zero_nested = full.clone();
        zero_nested.buy[0].things[0].count = 0;
        assert!(
            !zero_nested.required_evident(),
            "a zero three levels down needs the scan"
        );
        // Zero is a legal value: the scan then finds the field on the wire and accepts it.
        let body = zero_nested.encode_to_vec();
        assert_eq!(
            crate::frame::decode_body::<ACommands>(&body).unwrap(),
            zero_nested
        );
        assert!(
            ACommands::default().required_evident(),
            "nothing required at the top level"
        );
    }

    #[test]
    fn truncated_walk_reports_malformed_not_panic() {
        let err = AConnected::check_required(&[0x12, 0x05, b'a']).unwrap_err();
        assert_eq!(err.path, "(malformed body)");
    }
}
