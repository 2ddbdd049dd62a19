//! Frames: walking an arbitrary payload at every encryption level never
//! panics, and every frame that decodes re-encodes to bytes that decode to
//! the same frame.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tern_proto::{EncryptionLevel, Frame, Frames};

const LEVELS: [EncryptionLevel; 4] = [
    EncryptionLevel::Initial,
    EncryptionLevel::ZeroRtt,
    EncryptionLevel::Handshake,
    EncryptionLevel::OneRtt,
];

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    for level in LEVELS {
        for frame in Frames::new(payload.clone(), level) {
            let Ok(frame) = frame else { break };
            let mut out = Vec::with_capacity(frame.encoded_len());
            frame.encode(&mut out);
            assert_eq!(out.len(), frame.encoded_len());
            let mut wire = Bytes::from(out);
            let again = Frame::decode(&mut wire).expect("re-encoded frame decodes");
            assert_eq!(again, frame);
        }
    }
});
