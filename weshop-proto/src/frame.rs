//! Varint-delimited framing, without tokio.
//!
//! Every WeShop link carries frames back to back: a body length as a varint32 (protobuf's
//! `writeDelimitedTo`), then that many bytes of one protobuf message. These helpers encode one
//! frame and decode one frame from a slice; [`crate::codec`] builds the streaming codecs on them.

use bytes::BufMut;
use prost::Message;

use crate::layout::{MissingField, WireMessage};

/// Default largest frame body accepted or produced: 4 MiB, far above any real batch.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 4 * 1024 * 1024;

/// A varint is at most ten bytes long.
pub const MAX_VARINT_LENGTH: usize = 10;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces a body larger than the configured maximum.
    #[error("frame length {length} exceeds the maximum of {max} bytes")]
    FrameTooLarge {
        /// Announced (or, when encoding, actual) body length.
        length: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The length prefix is not a valid varint32.
    #[error("invalid length prefix: {0}")]
    InvalidLength(LengthError),
    /// The body is not a valid encoding of the expected message.
    #[error("invalid {message} body: {source}")]
    Decode {
        /// The expected message type.
        message: &'static str,
        /// What prost found wrong.
        source: prost::DecodeError,
    },
    /// The body lacks a proto2 `required` field (Google's parser rejects such a message).
    #[error("invalid body: {0}")]
    MissingRequired(#[from] MissingField),
    /// The stream ended inside a frame.
    #[error("{0}")]
    UnexpectedEof(Truncated),
    /// Reading or writing the underlying stream failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// How a length prefix is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthError {
    /// More than ten bytes with the continuation bit set.
    #[error("varint longer than {MAX_VARINT_LENGTH} bytes")]
    Overlong,
    /// The value does not fit in 32 bits.
    #[error("varint overflows 32 bits")]
    Overflow,
}

/// Where the stream ended inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Truncated {
    /// Inside the length prefix.
    #[error("unexpected end of stream inside a length prefix ({received} bytes of it received)")]
    InPrefix {
        /// Prefix bytes received.
        received: usize,
    },
    /// Inside the body.
    #[error(
        "unexpected end of stream inside a frame body ({received} of {expected} bytes received)"
    )]
    InBody {
        /// Body bytes received.
        received: usize,
        /// Body length announced by the prefix.
        expected: usize,
    },
}

impl FrameError {
    /// The matching `std::io::ErrorKind`, for callers that speak `io::Error`.
    pub fn io_kind(&self) -> std::io::ErrorKind {
        match self {
            FrameError::Io(e) => e.kind(),
            FrameError::UnexpectedEof(_) => std::io::ErrorKind::UnexpectedEof,
            _ => std::io::ErrorKind::InvalidData,
        }
    }
}

/// A frame's length prefix, once complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes taken by the varint prefix.
    pub prefix_length: usize,
    /// Bytes of body that follow it.
    pub body_length: usize,
}

impl FrameHeader {
    /// Prefix plus body.
    pub fn frame_length(&self) -> usize {
        self.prefix_length + self.body_length
    }
}

/// Parses the length prefix at the start of `src`.
///
/// `Ok(None)` means more bytes are needed; the answer is settled after at most five bytes for
/// any prefix that can be valid, and an overlong or oversized one is refused as soon as it is
/// seen, before anything is allocated for its body.
pub fn parse_header(
    src: &[u8],
    max_frame_length: usize,
) -> Result<Option<FrameHeader>, FrameError> {
    let mut value: u64 = 0;
    for (i, &byte) in src.iter().take(MAX_VARINT_LENGTH).enumerate() {
        let payload = u64::from(byte & 0x7f);
        // Bits 32 and up: in byte 4 (bits 28..35) only the low four may be set; any payload
        // beyond it overflows. Padding bytes (0x80, and a final 0x00) are accepted like Google's.
        if (i == 4 && payload > 0x0f) || (i > 4 && payload != 0) {
            return Err(FrameError::InvalidLength(LengthError::Overflow));
        }
        value |= payload << (7 * i.min(4));
        if byte & 0x80 == 0 {
            let length = value;
            if length > max_frame_length as u64 {
                return Err(FrameError::FrameTooLarge {
                    length,
                    max: max_frame_length,
                });
            }
            return Ok(Some(FrameHeader {
                prefix_length: i + 1,
                body_length: length as usize,
            }));
        }
    }
    if src.len() >= MAX_VARINT_LENGTH {
        return Err(FrameError::InvalidLength(LengthError::Overlong));
    }
    Ok(None)
}

/// Splits the first whole frame off `src`: its body and the bytes it used (prefix included).
///
/// `Ok(None)` means `src` holds only part of a frame.
pub fn split_frame(
    src: &[u8],
    max_frame_length: usize,
) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(header) = parse_header(src, max_frame_length)? else {
        return Ok(None);
    };
    let used = header.frame_length();
    Ok(src.get(header.prefix_length..used).map(|body| (body, used)))
}

/// Decodes one message body: prost's decode plus the required-field check (a scan of the body,
/// skipped when the decoded values already prove every required field was there).
pub fn decode_body<M: WireMessage>(body: &[u8]) -> Result<M, FrameError> {
    let message = M::decode(body).map_err(|source| FrameError::Decode {
        message: M::LAYOUT.name,
        source,
    })?;
    if !message.required_evident() {
        M::check_required(body)?;
    }
    Ok(message)
}

/// Decodes the first frame in `src` with the default maximum frame length; returns the message
/// and how many bytes it used, or `Ok(None)` if `src` holds only part of a frame.
pub fn decode_frame<M: WireMessage>(src: &[u8]) -> Result<Option<(M, usize)>, FrameError> {
    decode_frame_with_limit(src, DEFAULT_MAX_FRAME_LENGTH)
}

/// [`decode_frame`] with an explicit maximum frame length.
pub fn decode_frame_with_limit<M: WireMessage>(
    src: &[u8],
    max_frame_length: usize,
) -> Result<Option<(M, usize)>, FrameError> {
    match split_frame(src, max_frame_length)? {
        Some((body, used)) => Ok(Some((decode_body(body)?, used))),
        None => Ok(None),
    }
}

/// Checks that a whole input was consumed: leftover bytes are a truncated frame.
pub fn truncation(rest: &[u8], max_frame_length: usize) -> Option<Truncated> {
    if rest.is_empty() {
        return None;
    }
    Some(match parse_header(rest, max_frame_length) {
        Ok(Some(header)) => Truncated::InBody {
            received: rest.len() - header.prefix_length,
            expected: header.body_length,
        },
        _ => Truncated::InPrefix {
            received: rest.len(),
        },
    })
}

/// Appends one frame (length prefix and body) to `dst`, refusing a body over the default
/// maximum. Returns the frame's length.
pub fn encode_frame<M: Message>(message: &M, dst: &mut impl BufMut) -> Result<usize, FrameError> {
    encode_frame_with_limit(message, dst, DEFAULT_MAX_FRAME_LENGTH)
}

/// [`encode_frame`] with an explicit maximum frame length.
pub fn encode_frame_with_limit<M: Message>(
    message: &M,
    dst: &mut impl BufMut,
    max_frame_length: usize,
) -> Result<usize, FrameError> {
    let length = checked_length(message, max_frame_length)?;
    let frame_length = prost::length_delimiter_len(length) + length;
    if dst.remaining_mut() < frame_length {
        return Err(FrameError::Io(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            "destination buffer too small for the frame",
        )));
    }
    put_frame(message, length, dst);
    Ok(frame_length)
}

/// Refuses a body longer than the limit (or than a varint32 prefix can announce).
pub(crate) fn check_length(length: usize, max_frame_length: usize) -> Result<(), FrameError> {
    if length > max_frame_length || length > u32::MAX as usize {
        return Err(FrameError::FrameTooLarge {
            length: length as u64,
            max: max_frame_length,
        });
    }
    Ok(())
}

/// The message's encoded length, refused when over the limit.
pub(crate) fn checked_length<M: Message>(
    message: &M,
    max_frame_length: usize,
) -> Result<usize, FrameError> {
    let length = message.encoded_len();
    check_length(length, max_frame_length)?;
    Ok(length)
}

/// Writes the prefix and the body; `length` is `message.encoded_len()`, room is already there.
pub(crate) fn put_frame<M: Message>(message: &M, length: usize, dst: &mut impl BufMut) {
    prost::encoding::encode_varint(length as u64, dst);
    message.encode_raw(dst);
}

/// Encodes one frame into a new vector.
pub fn encode_frame_to_vec<M: Message>(message: &M) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    encode_frame(message, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_amazon::{AConnected, AResponses};

    const MAX: usize = DEFAULT_MAX_FRAME_LENGTH;

    #[test]
    fn header_needs_more_until_the_varint_ends() {
        assert_eq!(parse_header(&[], MAX).unwrap(), None);
        assert_eq!(parse_header(&[0x80], MAX).unwrap(), None);
        assert_eq!(
            parse_header(&[0x80, 0x01], MAX).unwrap(),
            Some(FrameHeader {
                prefix_length: 2,
                body_length: 128
            })
        );
    }

    #[test]
    fn padded_prefix_is_accepted() {
        let h = parse_header(&[0x85, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], MAX)
            .unwrap()
            .unwrap();
        assert_eq!(
            h,
            FrameHeader {
                prefix_length: 7,
                body_length: 5
            }
        );
    }

    #[test]
    fn largest_u32_is_too_large_not_overflow() {
        let err = parse_header(&[0xff, 0xff, 0xff, 0xff, 0x0f], MAX).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::FrameTooLarge {
                    length: 0xffff_ffff,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn overflow_is_refused_at_the_fifth_byte() {
        let err = parse_header(&[0xff, 0xff, 0xff, 0xff, 0x1f], MAX).unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidLength(LengthError::Overflow)),
            "{err}"
        );
        let err = parse_header(&[0xff; 5], MAX).unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidLength(LengthError::Overflow)),
            "{err}"
        );
    }

    #[test]
    fn overlong_padding_is_refused_at_ten_bytes() {
        let mut src = vec![0x80; 9];
        assert_eq!(parse_header(&src, MAX).unwrap(), None);
        src.push(0x80);
        let err = parse_header(&src, MAX).unwrap_err();
        assert!(
            matches!(err, FrameError::InvalidLength(LengthError::Overlong)),
            "{err}"
        );
    }

    #[test]
    fn limit_is_inclusive() {
        assert!(parse_header(&[10], 10).unwrap().is_some());
        assert!(matches!(
            parse_header(&[11], 10),
            Err(FrameError::FrameTooLarge {
                length: 11,
                max: 10
            })
        ));
    }

    #[test]
    fn decode_frame_reports_used_bytes_and_waits_for_more() {
        let msg = AConnected {
            worldid: 3,
            result: "connected!".into(),
        };
        let mut bytes = encode_frame_to_vec(&msg).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(&[0x02, 0x20]);
        let (decoded, used) = decode_frame::<AConnected>(&bytes).unwrap().unwrap();
        assert_eq!((decoded, used), (msg, whole));
        assert!(
            decode_frame::<AResponses>(&bytes[used..])
                .unwrap()
                .is_none()
        );
        assert_eq!(
            truncation(&bytes[used..], MAX),
            Some(Truncated::InBody {
                received: 1,
                expected: 2
            })
        );
        assert_eq!(
            truncation(&[0x80], MAX),
            Some(Truncated::InPrefix { received: 1 })
        );
        assert_eq!(truncation(&[], MAX), None);
    }

    #[test]
    fn encode_refuses_over_the_limit_and_short_buffers() {
        let msg = AConnected {
            worldid: 3,
            result: "x".repeat(100),
        };
        let err = encode_frame_with_limit(&msg, &mut Vec::new(), 50).unwrap_err();
        assert!(
            matches!(err, FrameError::FrameTooLarge { max: 50, .. }),
            "{err}"
        );
        let mut small = [0u8; 4];
        let err = encode_frame(&msg, &mut &mut small[..]).unwrap_err();
        assert_eq!(err.io_kind(), std::io::ErrorKind::WriteZero);
    }

    #[test]
    fn missing_required_is_a_frame_error() {
        let err = decode_frame::<AConnected>(&[0x02, 0x08, 0x07]).unwrap_err();
        assert!(matches!(err, FrameError::MissingRequired(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "invalid body: AConnected is missing required field result"
        );
    }
}
