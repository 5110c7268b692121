//! A stream fed in arbitrary chunks yields exactly what it yields in one piece: the same
//! messages, and the same error (or clean end) after them.
//!
//! Input layout (raw, so golden streams seed it): selector, limit, cut count `n`, `n` cut
//! positions as little-endian u16, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weshop_fuzz::{decode_chunks, max_frame_length, with_selected};
use weshop_proto::{MessageVisitor, SchemaMessage};

struct Split<'a> {
    stream: &'a [u8],
    cuts: Vec<usize>,
    max: usize,
}

impl MessageVisitor for Split<'_> {
    type Output = ();
    fn visit<M: SchemaMessage>(self) {
        let whole = decode_chunks::<M>(&[self.stream], self.max);
        let mut cuts: Vec<usize> = self
            .cuts
            .iter()
            .map(|c| c % (self.stream.len() + 1))
            .collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([self.stream.len()]) {
            chunks.push(&self.stream[start..cut]);
            start = cut;
        }
        let split = decode_chunks::<M>(&chunks, self.max);
        assert_eq!(
            whole,
            split,
            "chunks {:?}",
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>()
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, limit, count, rest @ ..] = data else {
        return;
    };
    let count = usize::from(*count).min(rest.len() / 2);
    let (cut_bytes, stream) = rest.split_at(count * 2);
    let cuts = cut_bytes
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    with_selected(
        *selector,
        Split {
            stream,
            cuts,
            max: max_frame_length(*limit),
        },
    );
});
