//! Arbitrary bytes as a stream of frames of any frame message type: the codec must never panic,
//! and whatever it accepts must re-encode to something it decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weshop_fuzz::{decode_chunks, max_frame_length, with_selected};
use weshop_proto::{MessageVisitor, SchemaMessage, frame};

struct Decode<'a>(&'a [u8], usize);

impl MessageVisitor for Decode<'_> {
    type Output = ();
    fn visit<M: SchemaMessage>(self) {
        let (messages, _) = decode_chunks::<M>(&[self.0], self.1);
        // The sync helper agrees with the streaming codec on the first frame.
        match frame::decode_frame_with_limit::<M>(self.0, self.1) {
            Ok(Some((first, _))) => assert_eq!(Some(&first), messages.first()),
            Ok(None) | Err(_) => assert!(messages.is_empty()),
        }
        for message in messages {
            let bytes = frame::encode_frame_to_vec(&message).expect("a decoded frame re-encodes");
            let (again, used) = frame::decode_frame::<M>(&bytes)
                .expect("re-encoded frame decodes")
                .expect("whole");
            assert_eq!(used, bytes.len());
            assert_eq!(again, message);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [selector, limit, stream @ ..] = data else {
        return;
    };
    with_selected(*selector, Decode(stream, max_frame_length(*limit)));
});
