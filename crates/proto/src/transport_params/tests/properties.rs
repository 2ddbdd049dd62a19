//! Property tests: round trips, truncation and hostile input.

use super::*;

fn any_varint() -> impl Strategy<Value = VarInt> {
    varint_in(0..=VarInt::MAX.into_inner())
}

/// Values in `range`, with small and edge values as likely as large ones.
fn varint_in(range: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = VarInt> {
    let (lo, hi) = (*range.start(), *range.end());
    prop_oneof![Just(lo), Just(hi), lo..=hi.min(lo + 100), range,]
        .prop_map(VarInt::from_u64_bounded)
}

fn millis(max: u64) -> impl Strategy<Value = Duration> {
    varint_in(0..=max).prop_map(|ms| Duration::from_millis(ms.into_inner()))
}

fn any_cid(min_len: usize) -> impl Strategy<Value = ConnectionId> {
    vec(any::<u8>(), min_len..=ConnectionId::MAX_LEN).prop_map(|bytes| cid(&bytes))
}

fn any_preferred_address() -> impl Strategy<Value = PreferredAddress> {
    // RFC 9000 §18.2: the all-zero address and port means absent, so `Some`
    // of it would not round-trip; it is covered as `None`.
    let v4 = (any::<[u8; 4]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV4::new(ip.into(), port))
        .prop_filter("all-zero is absent", |a| {
            !a.ip().is_unspecified() || a.port() != 0
        });
    let v6 = (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV6::new(ip.into(), port, 0, 0))
        .prop_filter("all-zero is absent", |a| {
            !a.ip().is_unspecified() || a.port() != 0
        });
    (
        option::of(v4),
        option::of(v6),
        any_cid(1),
        any::<[u8; 16]>(),
    )
        .prop_map(
            |(ipv4, ipv6, connection_id, stateless_reset_token)| PreferredAddress {
                ipv4,
                ipv6,
                connection_id,
                stateless_reset_token,
            },
        )
}

fn any_version_information(sender: Side) -> impl Strategy<Value = VersionInformation> {
    (
        1..=u32::MAX,
        vec(1..=u32::MAX, 0..6),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(chosen_version, mut available_versions, at)| {
            // RFC 9368 §4: a client lists its chosen version among the
            // available ones.
            if sender.is_client() && !available_versions.contains(&chosen_version) {
                let at = at.index(available_versions.len() + 1);
                available_versions.insert(at, chosen_version);
            }
            VersionInformation {
                chosen_version,
                available_versions,
            }
        })
}

/// Every field arbitrary within its legal range; server-only ones only when
/// the server is the sender.
fn any_params(sender: Side) -> impl Strategy<Value = TransportParameters> {
    let limits = (
        any_varint(),
        any_varint(),
        any_varint(),
        any_varint(),
        varint_in(0..=1 << 60),
        varint_in(0..=1 << 60),
        varint_in(2..=VarInt::MAX.into_inner()),
        varint_in(1200..=VarInt::MAX.into_inner()),
    );
    let timing = (
        millis(VarInt::MAX.into_inner()),
        0..=20_u8,
        millis((1 << 14) - 1),
        any::<bool>(),
        any::<bool>(),
    );
    let ids = (
        option::of(any_cid(0)),
        option::of(any::<[u8; 16]>()),
        option::of(any_preferred_address()),
        option::of(any_cid(0)),
        option::of(any_cid(0)),
    );
    let extensions = (
        option::of(any_varint()),
        option::of(any_version_information(sender)),
    );
    (limits, timing, ids, extensions).prop_map(move |(limits, timing, ids, extensions)| {
        let server = sender.is_server();
        TransportParameters {
            original_destination_connection_id: ids.0.filter(|_| server),
            max_idle_timeout: timing.0,
            stateless_reset_token: ids.1.filter(|_| server),
            max_udp_payload_size: limits.7,
            initial_max_data: limits.0,
            initial_max_stream_data_bidi_local: limits.1,
            initial_max_stream_data_bidi_remote: limits.2,
            initial_max_stream_data_uni: limits.3,
            initial_max_streams_bidi: limits.4,
            initial_max_streams_uni: limits.5,
            ack_delay_exponent: timing.1,
            max_ack_delay: timing.2,
            disable_active_migration: timing.3,
            preferred_address: ids.2.filter(|_| server),
            active_connection_id_limit: limits.6,
            initial_source_connection_id: ids.3,
            retry_source_connection_id: ids.4.filter(|_| server),
            max_datagram_frame_size: extensions.0,
            grease_quic_bit: timing.4,
            version_information: extensions.1,
        }
    })
}

fn any_sender() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Client), Just(Side::Server)]
}

fn sender_and_params() -> impl Strategy<Value = (Side, TransportParameters)> {
    any_sender().prop_flat_map(|sender| (Just(sender), any_params(sender)))
}

/// Offsets where a parameter ends, read independently of the decoder.
fn parameter_boundaries(mut bytes: &[u8]) -> Vec<usize> {
    let total = bytes.len();
    let mut ends = vec![0];
    while !bytes.is_empty() {
        let (_, id_len) = VarInt::decode_slice(bytes).unwrap();
        let (len, len_len) = VarInt::decode_slice(&bytes[id_len..]).unwrap();
        let len = usize::try_from(len.into_inner()).unwrap();
        bytes = &bytes[id_len + len_len + len..];
        ends.push(total - bytes.len());
    }
    ends
}

/// A plausible parameter: a known id (or an unknown one) with a short value,
/// often a varint, so the per-parameter checks are reached.
fn any_parameter() -> impl Strategy<Value = Vec<u8>> {
    let ids = prop_oneof![
        prop::sample::select(
            ParameterId::ALL
                .iter()
                .map(|id| id.to_varint().into_inner())
                .collect::<Vec<_>>()
        ),
        0..0x3fff_u64,
    ];
    let value = prop_oneof![
        vec(any::<u8>(), 0..48),
        any::<u64>().prop_map(|v| var(v & VarInt::MAX.into_inner())),
    ];
    (ids, value).prop_map(|(id, value)| param(id, &value))
}

proptest! {
    // RFC 9000 §18 (test): every legal parameter set encodes to bytes that
    // decode to the same set.
    #[test]
    fn every_valid_parameter_set_round_trips((sender, params) in sender_and_params()) {
        let bytes = encoded(&params, sender);
        prop_assert_eq!(TransportParameters::decode(sender, &bytes).unwrap(), params);
    }

    #[test]
    fn a_reserved_parameter_does_not_change_what_is_decoded(
        (sender, params) in sender_and_params(),
        n in any::<u32>(),
        value in vec(any::<u8>(), 0..40),
    ) {
        let reserved = ReservedParameter::new(n, Bytes::from(value));
        let mut bytes = Vec::new();
        params.encode_with_reserved(sender, &reserved, &mut bytes);
        prop_assert_eq!(TransportParameters::decode(sender, &bytes).unwrap(), params);
    }

    // Every cut of a valid encoding is refused, except a cut exactly between
    // two parameters: that is a valid, shorter set, which must re-encode to
    // the very prefix it came from.
    #[test]
    fn every_truncation_is_refused_or_is_a_shorter_valid_set(
        (sender, params) in sender_and_params(),
    ) {
        let bytes = encoded(&params, sender);
        let boundaries = parameter_boundaries(&bytes);
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let decoded = TransportParameters::decode(sender, prefix);
            if boundaries.contains(&cut) {
                let shorter = decoded.unwrap();
                prop_assert_eq!(encoded(&shorter, sender), prefix);
            } else {
                let err = decoded.unwrap_err();
                prop_assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(sender in any_sender(), bytes in vec(any::<u8>(), 0..256)) {
        if let Err(err) = TransportParameters::decode(sender, &bytes) {
            prop_assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
        }
    }

    // Whatever a sequence of plausible parameters decodes to, it is a legal
    // set: it re-encodes and decodes to itself.
    #[test]
    fn plausible_parameters_decode_to_legal_sets_or_errors(
        sender in any_sender(),
        parameters in vec(any_parameter(), 0..12),
    ) {
        let bytes = parameters.concat();
        match TransportParameters::decode(sender, &bytes) {
            Ok(params) => {
                let again = encoded(&params, sender);
                prop_assert_eq!(TransportParameters::decode(sender, &again).unwrap(), params);
            }
            Err(err) => {
                prop_assert_eq!(err.code, TransportErrorCode::TRANSPORT_PARAMETER_ERROR);
            }
        }
    }
}
