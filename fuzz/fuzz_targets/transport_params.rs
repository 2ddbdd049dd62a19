//! Transport parameters: decoding never panics, and whatever decodes
//! re-encodes to parameters that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::{Side, TransportParameters};

fuzz_target!(|data: &[u8]| {
    for sender in [Side::Client, Side::Server] {
        if let Ok(params) = TransportParameters::decode(sender, data) {
            let mut out = Vec::with_capacity(params.encoded_len(sender));
            params.encode(sender, &mut out);
            assert_eq!(out.len(), params.encoded_len(sender));
            let again =
                TransportParameters::decode(sender, &out).expect("re-encoded parameters decode");
            assert_eq!(again, params);
        }
    }
});
