//! `tokio_util` codecs for varint-delimited frames.
//!
//! [`DelimitedCodec<M>`] decodes frames into messages of type `M` and encodes any prost message,
//! so one `Framed<TcpStream, DelimitedCodec<AResponses>>` sends `ACommands` and receives
//! `AResponses`. [`FrameCodec`] does the framing alone and yields raw bodies.
//!
//! Because the encoder accepts any message type, a sink method that names no item (`flush`,
//! `close`) needs one: `SinkExt::<ACommands>::flush(&mut framed)`; `send(message)` infers it.
//!
//! The decoder keeps its place between calls, so a frame may arrive in any number of pieces. A
//! length prefix is checked against the maximum before anything is reserved for the body, and
//! at most [`RESERVE_CHUNK`] bytes are reserved ahead of data that has actually arrived.

use std::marker::PhantomData;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;
use tokio_util::codec::{Decoder, Encoder};

use crate::{
    frame::{self, DEFAULT_MAX_FRAME_LENGTH, FrameError, Truncated},
    layout::WireMessage,
};

/// Most bytes reserved at once for a body still arriving: a peer that announces a large frame
/// and sends nothing costs at most this much.
pub const RESERVE_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for (the rest of) a length prefix.
    Prefix,
    /// The prefix is consumed; waiting for this many body bytes.
    Body(usize),
}

/// Splits a byte stream into frame bodies and prefixes bodies on the way out.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame_length: usize,
    state: State,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with [`DEFAULT_MAX_FRAME_LENGTH`].
    pub fn new() -> Self {
        Self::with_max_frame_length(DEFAULT_MAX_FRAME_LENGTH)
    }

    /// A codec that refuses frame bodies longer than `max_frame_length` bytes.
    pub fn with_max_frame_length(max_frame_length: usize) -> Self {
        Self {
            max_frame_length,
            state: State::Prefix,
        }
    }

    /// The configured maximum body length.
    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// True between frames: no part of a frame has been consumed.
    pub fn is_between_frames(&self) -> bool {
        self.state == State::Prefix
    }

    /// Advances past the prefix when it is complete; returns the body length once the whole body
    /// is at the front of `src` (the caller then takes exactly that many bytes).
    fn poll_body(&mut self, src: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        if self.state == State::Prefix {
            let Some(header) = frame::parse_header(src, self.max_frame_length)? else {
                return Ok(None);
            };
            src.advance(header.prefix_length);
            self.state = State::Body(header.body_length);
        }
        let State::Body(length) = self.state else {
            unreachable!("state set above")
        };
        if src.len() < length {
            src.reserve((length - src.len()).min(RESERVE_CHUNK));
            return Ok(None);
        }
        self.state = State::Prefix;
        Ok(Some(length))
    }

    fn eof_error(&self, src: &BytesMut) -> FrameError {
        FrameError::UnexpectedEof(match self.state {
            State::Prefix => Truncated::InPrefix {
                received: src.len(),
            },
            State::Body(expected) => Truncated::InBody {
                received: src.len(),
                expected,
            },
        })
    }
}

impl Decoder for FrameCodec {
    type Item = BytesMut;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        Ok(self.poll_body(src)?.map(|length| src.split_to(length)))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && self.is_between_frames() => Ok(None),
            None => Err(self.eof_error(src)),
        }
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: Bytes, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode(&body[..], dst)
    }
}

impl Encoder<&[u8]> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, body: &[u8], dst: &mut BytesMut) -> Result<(), FrameError> {
        frame::check_length(body.len(), self.max_frame_length)?;
        dst.reserve(prost::length_delimiter_len(body.len()) + body.len());
        prost::encoding::encode_varint(body.len() as u64, dst);
        dst.put_slice(body);
        Ok(())
    }
}

/// Decodes frames into `M` (checking required fields) and encodes any prost message.
pub struct DelimitedCodec<M> {
    frames: FrameCodec,
    _message: PhantomData<fn() -> M>,
}

impl<M> std::fmt::Debug for DelimitedCodec<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelimitedCodec")
            .field("message", &std::any::type_name::<M>())
            .field("frames", &self.frames)
            .finish()
    }
}

impl<M> Clone for DelimitedCodec<M> {
    fn clone(&self) -> Self {
        Self {
            frames: self.frames.clone(),
            _message: PhantomData,
        }
    }
}

impl<M> Default for DelimitedCodec<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> DelimitedCodec<M> {
    /// A codec with [`DEFAULT_MAX_FRAME_LENGTH`].
    pub fn new() -> Self {
        Self::with_max_frame_length(DEFAULT_MAX_FRAME_LENGTH)
    }

    /// A codec that refuses frame bodies longer than `max_frame_length` bytes, both ways.
    pub fn with_max_frame_length(max_frame_length: usize) -> Self {
        Self {
            frames: FrameCodec::with_max_frame_length(max_frame_length),
            _message: PhantomData,
        }
    }

    /// The configured maximum body length.
    pub fn max_frame_length(&self) -> usize {
        self.frames.max_frame_length()
    }

    /// True between frames: no part of a frame has been consumed.
    pub fn is_between_frames(&self) -> bool {
        self.frames.is_between_frames()
    }
}

impl<M: WireMessage> Decoder for DelimitedCodec<M> {
    type Item = M;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<M>, FrameError> {
        let Some(length) = self.frames.poll_body(src)? else {
            return Ok(None);
        };
        let body = &src[..length];
        let decoded = frame::decode_body::<M>(body);
        src.advance(length);
        decoded.map(Some)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<M>, FrameError> {
        match self.decode(src)? {
            Some(message) => Ok(Some(message)),
            None if src.is_empty() && self.is_between_frames() => Ok(None),
            None => Err(self.frames.eof_error(src)),
        }
    }
}

impl<M, E: Message> Encoder<E> for DelimitedCodec<M> {
    type Error = FrameError;

    fn encode(&mut self, message: E, dst: &mut BytesMut) -> Result<(), FrameError> {
        let length = frame::checked_length(&message, self.max_frame_length())?;
        dst.reserve(prost::length_delimiter_len(length) + length);
        frame::put_frame(&message, length, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world_amazon::{ACommands, AConnected, AResponses};

    #[test]
    fn encoder_and_decoder_agree_across_types() {
        let mut codec = DelimitedCodec::<AResponses>::new();
        let mut buf = BytesMut::new();
        codec
            .encode(
                ACommands {
                    acks: vec![1, 2],
                    ..Default::default()
                },
                &mut buf,
            )
            .unwrap();
        assert_eq!(&buf[..], [0x04, 0x38, 0x01, 0x38, 0x02]);
        codec
            .encode(
                AResponses {
                    acks: vec![9],
                    ..Default::default()
                },
                &mut buf,
            )
            .unwrap();
        buf.advance(5);
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().acks, vec![9]);
        assert!(buf.is_empty());
    }

    #[test]
    fn prefix_split_keeps_state() {
        let body = [0x30u8, 0x01].repeat(100); // 200 bytes: a two-byte prefix
        let mut codec = FrameCodec::new();
        let mut src = BytesMut::new();
        codec.encode(&body[..], &mut src).unwrap();
        let mut feed = BytesMut::new();
        for (i, byte) in src.iter().enumerate() {
            feed.put_u8(*byte);
            let got = codec.decode(&mut feed).unwrap();
            if i + 1 < src.len() {
                assert!(got.is_none(), "frame yielded early at byte {i}");
                assert!(i == 0 || !codec.is_between_frames());
            } else {
                assert_eq!(&got.unwrap()[..], &body[..]);
            }
        }
    }

    #[test]
    fn announced_length_reserves_at_most_a_chunk() {
        let mut codec = FrameCodec::new();
        let mut src = BytesMut::from(&[0x80, 0x80, 0x80, 0x02][..]); // 4 MiB announced
        assert!(codec.decode(&mut src).unwrap().is_none());
        assert!(
            src.capacity() <= RESERVE_CHUNK + 16,
            "reserved {}",
            src.capacity()
        );
    }

    #[test]
    fn eof_inside_a_frame_is_an_error() {
        let mut codec = DelimitedCodec::<AConnected>::new();
        let mut src = BytesMut::from(&[0x0e, 0x08, 0x07][..]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        let err = codec.decode_eof(&mut src).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::UnexpectedEof(Truncated::InBody {
                    received: 2,
                    expected: 14
                })
            ),
            "{err}"
        );
        let mut empty = BytesMut::new();
        assert!(
            DelimitedCodec::<AConnected>::new()
                .decode_eof(&mut empty)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn encoder_refuses_oversized_messages() {
        let mut codec = DelimitedCodec::<AConnected>::with_max_frame_length(8);
        let err = codec
            .encode(
                AConnected {
                    worldid: 1,
                    result: "connected!".into(),
                },
                &mut BytesMut::new(),
            )
            .unwrap_err();
        assert!(
            matches!(err, FrameError::FrameTooLarge { length: 14, max: 8 }),
            "{err}"
        );
    }
}
