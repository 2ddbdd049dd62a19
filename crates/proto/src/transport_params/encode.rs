//! Writing the transport parameters extension (RFC 9000 §18).

use std::{ops::RangeInclusive, time::Duration};

use bytes::BufMut;

use super::{
    DEFAULT_ACK_DELAY_EXPONENT, DEFAULT_ACTIVE_CONNECTION_ID_LIMIT, DEFAULT_MAX_ACK_DELAY_MS,
    DEFAULT_MAX_UDP_PAYLOAD_SIZE, MAX_ACK_DELAY_EXPONENT, MAX_ACK_DELAY_LIMIT_MS, MAX_STREAMS,
    MIN_ACTIVE_CONNECTION_ID_LIMIT, MIN_MAX_UDP_PAYLOAD_SIZE, PreferredAddress,
    TransportParameters, VersionInformation, id::ParameterId,
};
use crate::{Side, cid::ConnectionId, coding::BufMutExt, varint::VarInt};

/// One parameter's value, ready to measure and write.
enum Value<'a> {
    Int(VarInt),
    Flag,
    Bytes(&'a [u8]),
    Preferred(&'a PreferredAddress),
    Versions(&'a VersionInformation),
}

impl Value<'_> {
    fn len(&self) -> usize {
        match self {
            Self::Int(v) => v.size(),
            Self::Flag => 0,
            Self::Bytes(b) => b.len(),
            Self::Preferred(a) => a.encoded_len(),
            Self::Versions(v) => 4 * (1 + v.available_versions.len()),
        }
    }

    fn write<B: BufMut>(&self, buf: &mut B) {
        match self {
            Self::Int(v) => buf.write_var(*v),
            Self::Flag => {}
            Self::Bytes(b) => buf.put_slice(b),
            Self::Preferred(a) => a.encode(buf),
            Self::Versions(v) => {
                debug_assert!(
                    v.chosen_version != 0 && !v.available_versions.contains(&0),
                    "version_information must not hold version 0"
                );
                buf.put_u32(v.chosen_version);
                for &version in &v.available_versions {
                    buf.put_u32(version);
                }
            }
        }
    }
}

/// Bytes [`encode`] writes.
pub(super) fn encoded_len(params: &TransportParameters, side: Side) -> usize {
    ParameterId::ALL
        .iter()
        .filter_map(|&id| {
            let len = value(params, side, id)?.len();
            Some(id.to_varint().size() + value_len(len).size() + len)
        })
        .sum()
}

/// Writes every present or non-default parameter in increasing id order.
pub(super) fn encode<B: BufMut>(params: &TransportParameters, side: Side, buf: &mut B) {
    for id in ParameterId::ALL {
        let Some(value) = value(params, side, id) else {
            continue;
        };
        // RFC 9000 §18: each parameter is an id, a length, then the value.
        buf.write_var(id.to_varint());
        buf.write_var(value_len(value.len()));
        value.write(buf);
    }
}

/// A value length as a varint. No buffer in memory reaches 2^62 bytes, so
/// the fallback is never taken.
pub(super) fn value_len(len: usize) -> VarInt {
    VarInt::try_from(len).unwrap_or(VarInt::MAX)
}

/// The value to send for `id`, or `None` to leave it out.
fn value(p: &TransportParameters, side: Side, id: ParameterId) -> Option<Value<'_>> {
    use ParameterId as Id;
    let value = match id {
        Id::OriginalDestinationConnectionId => cid(p.original_destination_connection_id.as_ref()),
        Id::MaxIdleTimeout => int(milliseconds(p.max_idle_timeout), 0),
        Id::StatelessResetToken => p.stateless_reset_token.as_ref().map(|t| Value::Bytes(t)),
        Id::MaxUdpPayloadSize => int(
            clamp(
                id,
                p.max_udp_payload_size,
                MIN_MAX_UDP_PAYLOAD_SIZE..=VarInt::MAX.into_inner(),
            ),
            DEFAULT_MAX_UDP_PAYLOAD_SIZE.into(),
        ),
        Id::InitialMaxData => int(p.initial_max_data, 0),
        Id::InitialMaxStreamDataBidiLocal => int(p.initial_max_stream_data_bidi_local, 0),
        Id::InitialMaxStreamDataBidiRemote => int(p.initial_max_stream_data_bidi_remote, 0),
        Id::InitialMaxStreamDataUni => int(p.initial_max_stream_data_uni, 0),
        Id::InitialMaxStreamsBidi => int(clamp(id, p.initial_max_streams_bidi, 0..=MAX_STREAMS), 0),
        Id::InitialMaxStreamsUni => int(clamp(id, p.initial_max_streams_uni, 0..=MAX_STREAMS), 0),
        Id::AckDelayExponent => int(
            clamp(
                id,
                p.ack_delay_exponent.into(),
                0..=MAX_ACK_DELAY_EXPONENT.into(),
            ),
            DEFAULT_ACK_DELAY_EXPONENT.into(),
        ),
        Id::MaxAckDelay => int(
            clamp(
                id,
                milliseconds(p.max_ack_delay),
                0..=MAX_ACK_DELAY_LIMIT_MS - 1,
            ),
            DEFAULT_MAX_ACK_DELAY_MS,
        ),
        Id::DisableActiveMigration => p.disable_active_migration.then_some(Value::Flag),
        Id::PreferredAddress => p.preferred_address.as_ref().map(Value::Preferred),
        Id::ActiveConnectionIdLimit => int(
            clamp(
                id,
                p.active_connection_id_limit,
                MIN_ACTIVE_CONNECTION_ID_LIMIT..=VarInt::MAX.into_inner(),
            ),
            DEFAULT_ACTIVE_CONNECTION_ID_LIMIT.into(),
        ),
        Id::InitialSourceConnectionId => cid(p.initial_source_connection_id.as_ref()),
        Id::RetrySourceConnectionId => cid(p.retry_source_connection_id.as_ref()),
        Id::VersionInformation => p.version_information.as_ref().map(Value::Versions),
        Id::MaxDatagramFrameSize => p.max_datagram_frame_size.map(Value::Int),
        Id::GreaseQuicBit => p.grease_quic_bit.then_some(Value::Flag),
    };
    // RFC 9000 §18.2: a client must not send server-only parameters.
    value.filter(|_| side.is_server() || !id.is_server_only())
}

fn cid(cid: Option<&ConnectionId>) -> Option<Value<'_>> {
    cid.map(|c| Value::Bytes(c))
}

/// The value, unless it is the default and can be left out.
fn int<'a>(value: VarInt, default: u64) -> Option<Value<'a>> {
    (value.into_inner() != default).then_some(Value::Int(value))
}

/// A duration in whole milliseconds, rounded down and saturating at the
/// largest varint.
fn milliseconds(duration: Duration) -> VarInt {
    u64::try_from(duration.as_millis())
        .ok()
        .and_then(|ms| VarInt::from_u64(ms).ok())
        .unwrap_or(VarInt::MAX)
}

/// Clamps a hand-set value into its legal range; in debug builds a value
/// outside it is a bug in the caller.
fn clamp(id: ParameterId, value: VarInt, range: RangeInclusive<u64>) -> VarInt {
    let raw = value.into_inner();
    debug_assert!(range.contains(&raw), "{id:?} of {raw} is outside {range:?}");
    VarInt::from_u64_bounded(raw.clamp(*range.start(), *range.end()))
}
