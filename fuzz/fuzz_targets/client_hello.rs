//! The ClientHello peek a server runs before any TLS session exists: it
//! never panics, and what it reports lies inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::crypto::{ClientHelloPeek, MAX_CLIENT_HELLO_LEN, peek_client_hello};

fuzz_target!(|data: &[u8]| {
    match peek_client_hello(data) {
        ClientHelloPeek::Complete {
            len,
            transport_parameters,
        } => {
            assert!(len <= data.len() && len <= MAX_CLIENT_HELLO_LEN);
            if let Some(params) = transport_parameters {
                let start = params.as_ptr() as usize - data.as_ptr() as usize;
                assert!(start + params.len() <= len);
            }
        }
        ClientHelloPeek::Incomplete => assert!(data.len() < MAX_CLIENT_HELLO_LEN),
        ClientHelloPeek::Malformed => {}
    }
});
