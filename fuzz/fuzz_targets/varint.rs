//! Variable-length integers: decoding never panics, and whatever decodes
//! re-encodes to a value that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::VarInt;

fuzz_target!(|data: &[u8]| {
    if let Ok((value, used)) = VarInt::decode_slice(data) {
        assert!(used <= data.len());
        let mut out = Vec::new();
        value.encode(&mut out);
        assert_eq!(VarInt::decode_slice(&out), Ok((value, out.len())));
    }
});
