use std::{sync::Arc, time::Duration};

use proptest::prelude::*;

use super::*;
use crate::{
    ConnectionId, Side, TransportParameters, crypto::TlsSession, packet::Version, varint::VarInt,
};

fn params() -> TransportParameters {
    TransportParameters {
        initial_max_data: VarInt::from_u32(1 << 20),
        initial_max_streams_bidi: VarInt::from_u32(100),
        max_idle_timeout: Duration::from_secs(30),
        initial_source_connection_id: Some(ConnectionId::new(&[1, 2, 3, 4]).unwrap()),
        ..TransportParameters::default()
    }
}

/// A real ClientHello, as a Tern client writes it in its first Initial.
fn client_hello() -> Vec<u8> {
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(crate::crypto::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h3".to_vec()];
    let mut tls =
        TlsSession::client(Arc::new(config), Version::V1, "example.com", &params()).unwrap();
    let mut hello = Vec::new();
    assert!(tls.write_handshake(&mut hello).is_none());
    hello
}

/// A ClientHello of the given extensions (type, payload) and otherwise
/// minimal fields.
fn hello_with(extensions: &[(u16, &[u8])]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0; 32]);
    body.push(0); // empty legacy_session_id
    body.extend_from_slice(&[0, 2, 0x13, 0x01]);
    body.extend_from_slice(&[1, 0]);
    let mut exts = Vec::new();
    for (ty, data) in extensions {
        exts.extend_from_slice(&ty.to_be_bytes());
        exts.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        exts.extend_from_slice(data);
    }
    body.extend_from_slice(&u16::try_from(exts.len()).unwrap().to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hello = vec![CLIENT_HELLO];
    hello.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    hello.extend_from_slice(&body);
    hello
}

// RFC 9001 §8.2 (test): the transport parameters found in a real
// ClientHello decode to those the client sent.
#[test]
fn a_real_client_hello_yields_its_transport_parameters() {
    let hello = client_hello();
    let ClientHelloPeek::Complete {
        len,
        transport_parameters,
    } = peek_client_hello(&hello)
    else {
        panic!("not complete: {:?}", peek_client_hello(&hello));
    };
    assert_eq!(len, hello.len());
    let decoded = TransportParameters::decode(Side::Client, transport_parameters.unwrap()).unwrap();
    assert_eq!(decoded, params());
}

#[test]
fn bytes_after_the_client_hello_are_not_part_of_it() {
    let mut data = client_hello();
    let len = data.len();
    data.extend_from_slice(&[0xff; 40]);
    assert!(matches!(
        peek_client_hello(&data),
        ClientHelloPeek::Complete { len: l, transport_parameters: Some(_) } if l == len
    ));
}

#[test]
fn every_strict_prefix_of_a_client_hello_is_incomplete() {
    let hello = client_hello();
    for end in 0..hello.len() {
        assert_eq!(
            peek_client_hello(&hello[..end]),
            ClientHelloPeek::Incomplete,
            "prefix of {end} bytes"
        );
    }
}

#[test]
fn a_client_hello_without_quic_parameters_is_complete_without_them() {
    let hello = hello_with(&[(0x2b, &[2, 3, 4]), (0x0a, &[0, 2, 0, 0x1d])]);
    assert_eq!(
        peek_client_hello(&hello),
        ClientHelloPeek::Complete {
            len: hello.len(),
            transport_parameters: None
        }
    );
}

#[test]
fn another_handshake_message_is_malformed_at_once() {
    // A ServerHello's type (2), even before its length has arrived.
    assert_eq!(peek_client_hello(&[2]), ClientHelloPeek::Malformed);
    let mut hello = client_hello();
    hello[0] = 2;
    assert_eq!(peek_client_hello(&hello), ClientHelloPeek::Malformed);
}

// RFC 9000 §7.5 (test): a ClientHello announced longer than the bound is
// refused from its header alone, so nothing is buffered for it.
#[test]
fn a_client_hello_longer_than_the_bound_is_malformed_from_its_header() {
    let huge = [CLIENT_HELLO, 0x00, 0x40, 0x00]; // 16 KiB of body
    assert_eq!(peek_client_hello(&huge), ClientHelloPeek::Malformed);
    let at_bound = [CLIENT_HELLO, 0x00, 0x3f, 0xfc];
    assert_eq!(peek_client_hello(&at_bound), ClientHelloPeek::Incomplete);
    let hello = client_hello();
    assert_eq!(
        peek_client_hello_within(&hello, hello.len() - 1),
        ClientHelloPeek::Malformed
    );
    assert!(matches!(
        peek_client_hello_within(&hello, hello.len()),
        ClientHelloPeek::Complete { .. }
    ));
}

// RFC 8446 §4.1.2 (test): lengths that do not fit the layout are malformed.
#[test]
fn lengths_that_do_not_fit_are_malformed() {
    let good = hello_with(&[(0x39, &[1, 2]), (0x2b, &[2, 3, 4])]);
    assert!(matches!(
        peek_client_hello(&good),
        ClientHelloPeek::Complete {
            transport_parameters: Some(&[1, 2]),
            ..
        }
    ));
    // Offsets in `good`: 4 header, 2 version, 32 random, then session id.
    let session_id = 4 + 2 + 32;
    let cases: [(&str, usize, u8); 5] = [
        ("session id longer than 32", session_id, 33),
        ("odd cipher suites length", session_id + 2, 3),
        ("no cipher suite", session_id + 2, 0),
        ("no compression method", session_id + 5, 0),
        ("extension longer than the block", session_id + 12, 0xff),
    ];
    for (what, at, value) in cases {
        let mut bad = good.clone();
        bad[at] = value;
        assert_eq!(
            peek_client_hello(&bad),
            ClientHelloPeek::Malformed,
            "{what}"
        );
    }
    // An extensions block shorter than 8 bytes.
    assert_eq!(
        peek_client_hello(&hello_with(&[(0x2b, &[])])),
        ClientHelloPeek::Malformed
    );
    // Two quic_transport_parameters extensions (RFC 8446 §4.2).
    assert_eq!(
        peek_client_hello(&hello_with(&[(0x39, &[1]), (0x39, &[2])])),
        ClientHelloPeek::Malformed
    );
    // A body longer than its fields: bytes after the extensions.
    let mut trailing = good.clone();
    trailing.push(0);
    trailing[3] += 1;
    assert_eq!(peek_client_hello(&trailing), ClientHelloPeek::Malformed);
}

proptest! {
    #[test]
    fn peeking_never_panics_and_stays_in_bounds(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        match peek_client_hello(&data) {
            ClientHelloPeek::Complete { len, transport_parameters } => {
                prop_assert!(len <= data.len());
                if let Some(tp) = transport_parameters {
                    prop_assert!(tp.len() < len);
                }
            }
            ClientHelloPeek::Incomplete | ClientHelloPeek::Malformed => {}
        }
    }

    #[test]
    fn a_mutated_client_hello_never_panics(at in 0usize..2000, value in any::<u8>(), cut in 0usize..2000) {
        let mut hello = client_hello();
        let at = at % hello.len();
        hello[at] = value;
        hello.truncate(cut.max(1));
        let _ = peek_client_hello(&hello);
    }
}
