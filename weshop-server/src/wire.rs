//! `weshop wire`: decode captured frames to JSON lines, and encode JSON lines to frames.
//!
//! A user feature (inspecting captured traffic, hand-crafting frames for a peer) and the test
//! harness's window on the codec: framing goes through [`FrameCodec`], bodies through the same
//! decoding (required fields included) as every link.
//!
//! Input is streamed: frames are printed as soon as they are complete, so the decoder can sit
//! at the end of a pipe from a live connection. An error names the byte offset where the
//! faulty frame (or JSON line) starts; everything before it has already been written.

use std::io::{self, BufRead, Read, Write};

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use weshop_proto::{
    FrameError,
    codec::FrameCodec,
    json::{JsonError, JsonMapper},
    vectors::to_hex,
};

/// Why a `weshop wire` run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// A frame is malformed; `offset` is where it starts in the (hex-decoded) byte stream.
    #[error("at byte {offset}: {source}")]
    Frame {
        /// Offset of the frame's first byte.
        offset: u64,
        /// What is wrong with it.
        source: FrameError,
    },
    /// `--hex` input holds something other than hex digits and whitespace.
    #[error("at input byte {offset}: {reason}")]
    Hex {
        /// Offset in the hex text.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A JSON line is malformed or does not describe the message.
    #[error("at byte {offset} (line {line}): {source}")]
    Json {
        /// Offset in the input of the faulty character (or of the line's start).
        offset: u64,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        source: JsonError,
    },
    /// Reading input or writing output failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl WireError {
    /// True for faults in the input (exit status 2), false for I/O failures.
    pub fn is_malformed_input(&self) -> bool {
        !matches!(self, WireError::Io(_))
    }
}

/// Turns hex text into bytes across reads: whitespace is skipped, a pair may straddle reads.
#[derive(Debug, Default)]
struct HexText {
    offset: u64,
    pending: Option<(u8, u64)>,
}

impl HexText {
    fn push(&mut self, text: &[u8], out: &mut BytesMut) -> Result<(), WireError> {
        for &c in text {
            let offset = self.offset;
            self.offset += 1;
            if c.is_ascii_whitespace() {
                continue;
            }
            let Some(nibble) = (c as char).to_digit(16) else {
                return Err(WireError::Hex {
                    offset,
                    reason: format!("{:?} is not a hex digit", c as char),
                });
            };
            match self.pending.take() {
                Some((high, _)) => out.extend_from_slice(&[(high << 4) | nibble as u8]),
                None => self.pending = Some((nibble as u8, offset)),
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<(), WireError> {
        match self.pending {
            Some((_, offset)) => Err(WireError::Hex {
                offset,
                reason: "odd number of hex digits (a lone digit at the end)".to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// Reads delimited frames of `mapper`'s message from `input` (raw bytes, or hex text when
/// `hex`), and writes one JSON object per frame per line to `output`. Returns the frame count.
pub fn decode(
    mapper: &JsonMapper,
    mut input: impl Read,
    hex: bool,
    mut output: impl Write,
) -> Result<u64, WireError> {
    let mut codec = FrameCodec::with_max_frame_length(mapper.max_frame_length());
    let mut hex_text = HexText::default();
    let mut buf = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut consumed: u64 = 0; // bytes of the byte stream the codec has taken out of `buf`
    let mut frame_start: u64 = 0;
    let mut frames = 0;
    loop {
        let n = match input.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            if hex {
                hex_text.finish()?;
            }
            return match codec.decode_eof(&mut buf) {
                Ok(None) => Ok(frames),
                Ok(Some(_)) => unreachable!("decode yields every whole frame before EOF"),
                Err(source) => Err(WireError::Frame {
                    offset: frame_start,
                    source,
                }),
            };
        }
        if hex {
            hex_text.push(&chunk[..n], &mut buf)?;
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
        loop {
            let before = buf.len();
            let decoded = codec.decode(&mut buf).map_err(|source| WireError::Frame {
                offset: frame_start,
                source,
            })?;
            consumed += (before - buf.len()) as u64;
            let Some(body) = decoded else { break };
            let json = mapper
                .body_to_json(&body)
                .map_err(|source| WireError::Frame {
                    offset: frame_start,
                    source,
                })?;
            frame_start = consumed;
            output.write_all(json.as_bytes())?;
            output.write_all(b"\n")?;
            frames += 1;
        }
        output.flush()?;
    }
}

/// Reads JSON lines (one message per non-blank line) from `input` and writes each as a delimited
/// frame of `mapper`'s message to `output`: raw bytes, or one line of hex per frame when `hex`.
/// Returns the frame count.
pub fn encode(
    mapper: &JsonMapper,
    input: impl BufRead,
    hex: bool,
    mut output: impl Write,
) -> Result<u64, WireError> {
    let mut offset: u64 = 0;
    let mut frames = 0;
    let mut frame = Vec::new();
    for (index, line) in input.split(b'\n').enumerate() {
        let line = line?;
        let line_start = offset;
        offset += line.len() as u64 + 1;
        let text = line.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let number = index as u64 + 1;
        let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| {
            let leading = (text.as_ptr() as usize - line.as_ptr() as usize) as u64;
            WireError::Json {
                offset: line_start + leading + (e.column().max(1) as u64 - 1),
                line: number,
                source: JsonError::Mapping {
                    message: mapper.message_name().to_string(),
                    source: e,
                },
            }
        })?;
        frame.clear();
        mapper
            .json_to_frame(value, &mut frame)
            .map_err(|source| WireError::Json {
                offset: line_start,
                line: number,
                source,
            })?;
        if hex {
            output.write_all(to_hex(&frame).as_bytes())?;
            output.write_all(b"\n")?;
        } else {
            output.write_all(&frame)?;
        }
        frames += 1;
    }
    output.flush()?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use weshop_proto::Schema;

    use super::*;

    fn mapper(name: &str) -> JsonMapper {
        JsonMapper::new(Schema::WorldAmazon, name).unwrap()
    }

    #[test]
    fn hex_round_trip_through_both_directions() {
        let mut hex = Vec::new();
        let json = "{\"acks\":[\"1\",\"2\"]}\n\n{\"finished\":true}\n";
        assert_eq!(
            encode(&mapper("AResponses"), json.as_bytes(), true, &mut hex).unwrap(),
            2
        );
        assert_eq!(
            String::from_utf8(hex.clone()).unwrap(),
            "0430013002\n022001\n"
        );
        let mut out = Vec::new();
        assert_eq!(
            decode(&mapper("AResponses"), &hex[..], true, &mut out).unwrap(),
            2
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"acks\":[\"1\",\"2\"]}\n{\"finished\":true}\n"
        );
    }

    #[test]
    fn errors_name_the_offset_of_the_faulty_frame_after_printing_the_good_ones() {
        let mut out = Vec::new();
        let err = decode(
            &mapper("AConnected"),
            &[0x02, 0x08, 0x07][..],
            false,
            &mut out,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("at byte 0: "), "{err}");
        // A good frame (15 bytes), then a truncated one starting at byte 15.
        let input = "0e0807120a636f6e6e656374656421 0e0807120a636f6e6e656374";
        let err = decode(&mapper("AConnected"), input.as_bytes(), true, &mut out).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at byte 15: unexpected end of stream inside a frame body (11 of 14 bytes received)"
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"worldid\":\"7\",\"result\":\"connected!\"}\n"
        );
    }

    #[test]
    fn bad_hex_is_reported_at_its_input_offset() {
        let err = decode(&mapper("ACommands"), "00 0g".as_bytes(), true, io::sink()).unwrap_err();
        assert_eq!(err.to_string(), "at input byte 4: 'g' is not a hex digit");
        let err = decode(&mapper("ACommands"), "00 0".as_bytes(), true, io::sink()).unwrap_err();
        assert!(
            err.to_string().starts_with("at input byte 3: odd number"),
            "{err}"
        );
    }

    #[test]
    fn json_errors_name_line_and_offset() {
        let input = "{\"acks\":[\"1\"]}\n{\"acks\": [oops]}\n";
        let err = encode(&mapper("ACommands"), input.as_bytes(), true, io::sink()).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("at byte 25 (line 2): "), "{text}");
        let err = encode(
            &mapper("AConnected"),
            "{\"worldid\":\"1\"}".as_bytes(),
            false,
            io::sink(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("missing required field result"),
            "{err}"
        );
    }
}
