use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use bytes::Bytes;
use proptest::{collection::vec, option, prelude::*};
use rand::{SeedableRng, rngs::SmallRng};

use super::id::ParameterId;
use super::*;
use crate::error::TransportErrorCode;

mod connection_ids;
mod properties;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// One parameter on the wire: id, length, value.
fn param(id: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    VarInt::from_u64(id).unwrap().encode(&mut out);
    VarInt::try_from(value.len()).unwrap().encode(&mut out);
    out.extend_from_slice(value);
    out
}

/// A varint in its shortest form.
fn var(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    VarInt::from_u64(value).unwrap().encode(&mut out);
    out
}

fn encoded(params: &TransportParameters, side: Side) -> Vec<u8> {
    let mut out = Vec::new();
    params.encode(side, &mut out);
    assert_eq!(out.len(), params.encoded_len(side));
    out
}

/// Decodes input that must be refused and returns the reason.
fn refused(sender: Side, bytes: &[u8]) -> String {
    let err = TransportParameters::decode(sender, bytes).unwrap_err();
    assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
    assert_eq!(err.frame_type, None);
    err.reason.into_owned()
}

fn cid(bytes: &[u8]) -> ConnectionId {
    ConnectionId::new(bytes).unwrap()
}

fn preferred() -> PreferredAddress {
    PreferredAddress {
        ipv4: Some(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 443)),
        ipv6: Some(SocketAddrV6::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            4433,
            0,
            0,
        )),
        connection_id: cid(&[7; 8]),
        stateless_reset_token: [0xab; 16],
    }
}

#[test]
fn empty_input_is_all_defaults() {
    let params = TransportParameters::decode(Side::Client, &[]).unwrap();
    assert_eq!(params, TransportParameters::default());
    assert_eq!(params.max_udp_payload_size.into_inner(), 65_527);
    assert_eq!(params.ack_delay_exponent, 3);
    assert_eq!(params.max_ack_delay, Duration::from_millis(25));
    assert_eq!(params.active_connection_id_limit.into_inner(), 2);
    assert_eq!(params.max_idle_timeout, Duration::ZERO);
    assert!(!params.accepts_datagrams());
}

#[test]
fn defaults_encode_to_nothing() {
    for side in [Side::Client, Side::Server] {
        assert!(encoded(&TransportParameters::default(), side).is_empty());
    }
}

// RFC 9000 §18 (test): each parameter is id, length, value, in the order we
// chose; checked byte for byte.
#[test]
fn encoding_writes_id_length_and_value_byte_for_byte() {
    let params = TransportParameters {
        max_idle_timeout: Duration::from_millis(30_000),
        initial_max_data: VarInt::from_u32(1 << 20),
        disable_active_migration: true,
        initial_source_connection_id: Some(cid(&[0xc1, 0xd2])),
        version_information: Some(VersionInformation {
            chosen_version: crate::QUIC_V1,
            available_versions: vec![crate::QUIC_V1],
        }),
        grease_quic_bit: true,
        ..TransportParameters::default()
    };
    let expected = hex(concat!(
        "01", "04", "80007530", // max_idle_timeout 30000
        "04", "04", "80100000", // initial_max_data 2^20
        "0c", "00", // disable_active_migration
        "0f", "02", "c1d2", // initial_source_connection_id
        "11", "08", "00000001", "00000001", // version_information
        "6ab2", "00", // grease_quic_bit
    ));
    assert_eq!(encoded(&params, Side::Client), expected);
    assert_eq!(
        TransportParameters::decode(Side::Client, &expected).unwrap(),
        params
    );
}

#[test]
fn a_client_never_writes_server_only_parameters() {
    let params = TransportParameters {
        original_destination_connection_id: Some(cid(&[1; 8])),
        stateless_reset_token: Some([9; 16]),
        preferred_address: Some(preferred()),
        retry_source_connection_id: Some(cid(&[2; 8])),
        ..TransportParameters::default()
    };
    assert!(encoded(&params, Side::Client).is_empty());
    let from_server = encoded(&params, Side::Server);
    assert_eq!(
        TransportParameters::decode(Side::Server, &from_server).unwrap(),
        params
    );
}

// RFC 9000 §7.4 (test): a parameter sent twice is a TRANSPORT_PARAMETER_ERROR.
#[test]
fn a_duplicate_parameter_is_refused() {
    let mut bytes = param(0x04, &var(10));
    bytes.extend(param(0x0c, &[]));
    bytes.extend(param(0x04, &var(10)));
    assert_eq!(refused(Side::Client, &bytes), "duplicate initial_max_data");
    let twice = [param(0x2ab2, &[]), param(0x2ab2, &[])].concat();
    assert_eq!(refused(Side::Server, &twice), "duplicate grease_quic_bit");
}

#[test]
fn a_repeated_unknown_parameter_is_not_a_duplicate() {
    let bytes = [param(0x1234, &[1]), param(0x1234, &[2])].concat();
    assert!(TransportParameters::decode(Side::Client, &bytes).is_ok());
}

// RFC 9000 §7.4.2 (test): unknown parameters, reserved ones included
// (§18.1), are skipped.
#[test]
fn unknown_and_reserved_parameters_are_skipped() {
    let mut bytes = param(27, &[0xde, 0xad]);
    bytes.extend(param(0x04, &var(1000)));
    bytes.extend(param(0x1234, &[1, 2, 3, 4, 5]));
    bytes.extend(param(31 * 1000 + 27, &[]));
    let params = TransportParameters::decode(Side::Client, &bytes).unwrap();
    let expected = TransportParameters {
        initial_max_data: VarInt::from_u32(1000),
        ..TransportParameters::default()
    };
    assert_eq!(params, expected);
}

#[test]
fn a_reserved_parameter_is_written_first_and_skipped_by_the_reader() {
    let params = TransportParameters {
        initial_max_data: VarInt::from_u32(5),
        ..TransportParameters::default()
    };
    let reserved = ReservedParameter::new(2, Bytes::from_static(b"grease"));
    assert_eq!(reserved.id().into_inner(), 31 * 2 + 27);
    let mut out = Vec::new();
    params.encode_with_reserved(Side::Client, &reserved, &mut out);
    assert_eq!(
        out.len(),
        reserved.encoded_len() + params.encoded_len(Side::Client)
    );
    assert!(out.starts_with(&param(89, b"grease")));
    assert_eq!(
        TransportParameters::decode(Side::Client, &out).unwrap(),
        params
    );
}

#[test]
fn random_reserved_parameters_have_reserved_ids_and_short_values() {
    let mut rng = SmallRng::seed_from_u64(7);
    for _ in 0..100 {
        let reserved = ReservedParameter::random(&mut rng);
        assert_eq!((reserved.id().into_inner() - 27) % 31, 0);
        assert!(reserved.value().len() <= ReservedParameter::MAX_RANDOM_LEN);
    }
}

// RFC 9000 §18.2 (test): a server refuses server-only parameters from a
// client.
#[test]
fn server_only_parameters_from_a_client_are_refused() {
    let cases: [(u64, Vec<u8>, &str); 4] = [
        (0x00, vec![1; 8], "original_destination_connection_id"),
        (0x02, vec![2; 16], "stateless_reset_token"),
        (0x0d, encoded_preferred(&preferred()), "preferred_address"),
        (0x10, vec![3; 8], "retry_source_connection_id"),
    ];
    for (id, value, name) in cases {
        let bytes = param(id, &value);
        assert_eq!(
            refused(Side::Client, &bytes),
            format!("{name} sent by a client")
        );
        assert!(
            TransportParameters::decode(Side::Server, &bytes).is_ok(),
            "{name}"
        );
    }
}

fn encoded_preferred(address: &PreferredAddress) -> Vec<u8> {
    let mut out = Vec::new();
    address.encode(&mut out);
    assert_eq!(out.len(), address.encoded_len());
    out
}

// RFC 9000 §7.4 (test): each out-of-range value is a TRANSPORT_PARAMETER_ERROR,
// and the value at the edge of the range is accepted.
#[test]
fn out_of_range_values_are_refused_at_their_edges() {
    let cases: [(u64, u64, u64, &str); 6] = [
        (0x03, 1199, 1200, "max_udp_payload_size below 1200"),
        (
            0x08,
            (1 << 60) + 1,
            1 << 60,
            "initial_max_streams_bidi above 2^60",
        ),
        (
            0x09,
            (1 << 60) + 1,
            1 << 60,
            "initial_max_streams_uni above 2^60",
        ),
        (0x0a, 21, 20, "ack_delay_exponent above 20"),
        (
            0x0b,
            1 << 14,
            (1 << 14) - 1,
            "max_ack_delay of 2^14 ms or more",
        ),
        (0x0e, 1, 2, "active_connection_id_limit below 2"),
    ];
    for (id, bad, good, reason) in cases {
        assert_eq!(refused(Side::Client, &param(id, &var(bad))), reason);
        assert!(
            TransportParameters::decode(Side::Client, &param(id, &var(good))).is_ok(),
            "{reason}"
        );
    }
    assert_eq!(
        refused(Side::Client, &param(0x0a, &var(VarInt::MAX.into_inner()))),
        "ack_delay_exponent above 20"
    );
    assert_eq!(
        refused(Side::Client, &param(0x0e, &var(0))),
        "active_connection_id_limit below 2"
    );
}

#[test]
fn decoded_durations_are_milliseconds() {
    let bytes = [param(0x01, &var(1500)), param(0x0b, &var(16_383))].concat();
    let params = TransportParameters::decode(Side::Client, &bytes).unwrap();
    assert_eq!(params.max_idle_timeout, Duration::from_millis(1500));
    assert_eq!(params.max_ack_delay, Duration::from_millis(16_383));
}

// RFC 9000 §18 (test): an integer value must fill its declared length
// exactly.
#[test]
fn an_integer_that_does_not_fill_its_length_is_refused() {
    for id in [
        0x01, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0e, 0x20,
    ] {
        let short = param(id, &[0x40]);
        let long = param(id, &[0x05, 0x00]);
        let empty = param(id, &[]);
        for bytes in [short, long, empty] {
            assert!(
                refused(Side::Client, &bytes).starts_with("malformed "),
                "{id:#x}"
            );
        }
    }
    // A non-minimal varint that fills the length exactly is fine.
    let padded = param(0x04, &[0x80, 0, 0, 5]);
    let params = TransportParameters::decode(Side::Client, &padded).unwrap();
    assert_eq!(params.initial_max_data.into_inner(), 5);
}

// RFC 9000 §18.2, RFC 9287 §3 (test): flags carry no value.
#[test]
fn a_flag_with_a_value_is_refused() {
    assert_eq!(
        refused(Side::Client, &param(0x0c, &[0])),
        "malformed disable_active_migration"
    );
    assert_eq!(
        refused(Side::Client, &param(0x2ab2, &[1])),
        "malformed grease_quic_bit"
    );
}

#[test]
fn fixed_size_values_of_the_wrong_size_are_refused() {
    for len in [0, 15, 17] {
        let bytes = param(0x02, &vec![0; len]);
        assert_eq!(
            refused(Side::Server, &bytes),
            "malformed stateless_reset_token"
        );
    }
    for id in [0x00, 0x0f, 0x10] {
        assert!(refused(Side::Server, &param(id, &[0; 21])).starts_with("malformed "));
        assert!(TransportParameters::decode(Side::Server, &param(id, &[0; 20])).is_ok());
    }
    let empty_iscid = TransportParameters::decode(Side::Server, &param(0x0f, &[])).unwrap();
    assert_eq!(
        empty_iscid.initial_source_connection_id,
        Some(ConnectionId::EMPTY)
    );
}

// RFC 9000 §18.2 (test): a zero-length connection ID in preferred_address is
// a TRANSPORT_PARAMETER_ERROR.
#[test]
fn a_preferred_address_with_an_empty_connection_id_is_refused() {
    let mut value = encoded_preferred(&preferred());
    // Drop the 8-byte ID and set its length byte to 0.
    value.drain(25..33);
    value[24] = 0;
    assert_eq!(
        refused(Side::Server, &param(0x0d, &value)),
        "preferred_address with an empty connection id"
    );
}

#[test]
fn a_malformed_preferred_address_is_refused() {
    let good = encoded_preferred(&preferred());
    let mut long_cid = good.clone();
    long_cid[24] = 21;
    long_cid.extend([0; 13]);
    let mut trailing = good.clone();
    trailing.push(0);
    for value in [good[..good.len() - 1].to_vec(), long_cid, trailing] {
        assert_eq!(
            refused(Side::Server, &param(0x0d, &value)),
            "malformed preferred_address"
        );
    }
}

// RFC 9000 §18.2 (test): an all-zero address and port stands for a family
// the server does not offer.
#[test]
fn an_all_zero_preferred_address_family_is_absent() {
    let only_v6 = PreferredAddress {
        ipv4: None,
        ..preferred()
    };
    let value = encoded_preferred(&only_v6);
    assert_eq!(&value[..6], &[0; 6]);
    let params = TransportParameters::decode(Side::Server, &param(0x0d, &value)).unwrap();
    assert_eq!(params.preferred_address, Some(only_v6));
    let zero_port = PreferredAddress {
        ipv6: Some(SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 443, 0, 0)),
        ..only_v6
    };
    let value = encoded_preferred(&zero_port);
    let params = TransportParameters::decode(Side::Server, &param(0x0d, &value)).unwrap();
    assert_eq!(params.preferred_address, Some(zero_port));
}

// RFC 9368 §4 (test): a version_information that is too short, not a
// multiple of 4, or holds version 0 fails to parse; from a client it must
// list its chosen version.
#[test]
fn version_information_rules_are_enforced() {
    let v1 = [0, 0, 0, 1];
    let v2 = crate::QUIC_V2.to_be_bytes();
    let zero = [0; 4];
    for value in [&[][..], &[0, 0, 1], &[0, 0, 0, 1, 0, 0]] {
        let reason = refused(Side::Server, &param(0x11, value));
        assert_eq!(reason, "malformed version_information");
    }
    for value in [zero.to_vec(), [v1, zero].concat(), [zero, v1].concat()] {
        let reason = refused(Side::Server, &param(0x11, &value));
        assert_eq!(reason, "version_information with version 0");
    }
    for value in [v1.to_vec(), [v1, v2].concat()] {
        let reason = refused(Side::Client, &param(0x11, &value));
        assert_eq!(reason, "version_information without the chosen version");
    }
    // A server may list no available versions, or omit its chosen one.
    let server = TransportParameters::decode(Side::Server, &param(0x11, &v1)).unwrap();
    let info = server.version_information.unwrap();
    assert_eq!((info.chosen_version, info.available_versions), (1, vec![]));
    let client = [v1, v2, v1].concat();
    let client = TransportParameters::decode(Side::Client, &param(0x11, &client)).unwrap();
    assert_eq!(
        client.version_information.unwrap().available_versions,
        vec![crate::QUIC_V2, crate::QUIC_V1]
    );
}

#[test]
fn truncated_headers_are_refused() {
    for bytes in [&[0x40][..], &[0x04], &[0x04, 0x40], &[0x04, 0x02, 0x05]] {
        assert_eq!(
            refused(Side::Client, bytes),
            "truncated transport parameters"
        );
    }
    // A length beyond the input is refused, however large.
    let huge = [var(0x1f), var(VarInt::MAX.into_inner())].concat();
    assert_eq!(
        refused(Side::Client, &huge),
        "truncated transport parameters"
    );
}

#[test]
fn datagram_support_needs_a_non_zero_size() {
    let zero = TransportParameters::decode(Side::Client, &param(0x20, &var(0))).unwrap();
    assert_eq!(zero.max_datagram_frame_size, Some(VarInt::from_u32(0)));
    assert!(!zero.accepts_datagrams());
    let some = TransportParameters::decode(Side::Client, &param(0x20, &var(1200))).unwrap();
    assert!(some.accepts_datagrams());
}

#[test]
fn debug_output_hides_reset_tokens() {
    let params = TransportParameters {
        stateless_reset_token: Some([0xab; 16]),
        preferred_address: Some(preferred()),
        ..TransportParameters::default()
    };
    let text = format!("{params:?}");
    assert!(text.contains("<redacted>"));
    assert!(!text.contains("171"), "{text}");
}
