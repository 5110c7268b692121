//! Helpers shared by the fuzz targets: pick a frame message type from a byte, and decode a
//! stream with the codec the way a socket reader would.

use bytes::BytesMut;
use tokio_util::codec::Decoder;
use weshop_proto::{FrameError, MessageVisitor, Schema, SchemaMessage, codec::DelimitedCodec};

/// Every message that travels as a whole frame, across the three schemas.
pub fn frame_messages() -> Vec<(Schema, &'static str)> {
    Schema::ALL
        .into_iter()
        .flat_map(|schema| {
            schema
                .frame_messages()
                .iter()
                .map(move |name| (schema, *name))
        })
        .collect()
}

/// Runs `visitor` with the frame message type that `selector` picks.
pub fn with_selected<V: MessageVisitor>(selector: u8, visitor: V) -> V::Output {
    let all = frame_messages();
    let (schema, name) = all[usize::from(selector) % all.len()];
    schema
        .visit_message(name, visitor)
        .expect("frame messages exist")
}

/// What decoding a stream produced: the messages, then how it ended (`None`: cleanly).
pub type Outcome<M> = (Vec<M>, Option<String>);

/// Feeds `chunks` to a fresh codec in order, then ends the stream.
pub fn decode_chunks<M: SchemaMessage>(chunks: &[&[u8]], max_frame_length: usize) -> Outcome<M> {
    let mut codec = DelimitedCodec::<M>::with_max_frame_length(max_frame_length);
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    let mut step = |buf: &mut BytesMut, eof: bool| -> Result<bool, FrameError> {
        let next = if eof {
            codec.decode_eof(buf)?
        } else {
            codec.decode(buf)?
        };
        Ok(match next {
            Some(m) => {
                messages.push(m);
                true
            }
            None => false,
        })
    };
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match step(&mut buf, false) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return (messages, Some(e.to_string())),
            }
        }
    }
    loop {
        match step(&mut buf, true) {
            Ok(true) => {}
            Ok(false) => return (messages, None),
            Err(e) => return (messages, Some(e.to_string())),
        }
    }
}

/// Frame length limits the targets choose among: small ones reach the too-large path often.
pub fn max_frame_length(selector: u8) -> usize {
    match selector % 4 {
        0 => 16,
        1 => 300,
        _ => weshop_proto::DEFAULT_MAX_FRAME_LENGTH,
    }
}
