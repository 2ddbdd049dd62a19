//! Parsing the transport parameters extension (RFC 9000 §18).

use std::time::Duration;

use tracing::trace;

use super::{
    MAX_ACK_DELAY_EXPONENT, MAX_ACK_DELAY_LIMIT_MS, MAX_STREAMS, MIN_ACTIVE_CONNECTION_ID_LIMIT,
    MIN_MAX_UDP_PAYLOAD_SIZE, RESET_TOKEN_LEN, TransportParameters, VersionInformation,
    id::{ParameterId, Seen},
    preferred_address,
};
use crate::{
    Side,
    cid::ConnectionId,
    coding::{BufExt, wire_len},
    error::TransportError,
    varint::VarInt,
};

const TRUNCATED: TransportError =
    TransportError::transport_parameter_error("truncated transport parameters");

/// Parses the parameters `sender` sent.
pub(super) fn decode(sender: Side, mut buf: &[u8]) -> Result<TransportParameters, TransportError> {
    let mut params = TransportParameters::default();
    let mut seen = Seen::default();
    while !buf.is_empty() {
        let (wire_id, value) = next_parameter(&mut buf)?;
        // RFC 9000 §7.4.2: parameters we do not know, reserved ones included
        // (§18.1), are ignored.
        let Some(id) = ParameterId::from_wire(wire_id) else {
            trace!(
                id = wire_id.into_inner(),
                len = value.len(),
                "skipping unknown transport parameter"
            );
            continue;
        };
        // RFC 9000 §7.4: a parameter sent more than once is a
        // TRANSPORT_PARAMETER_ERROR.
        if !seen.insert(id) {
            return Err(id.duplicate());
        }
        // RFC 9000 §18.2: a server treats a server-only parameter from a
        // client as a TRANSPORT_PARAMETER_ERROR.
        if sender.is_client() && id.is_server_only() {
            return Err(id.sent_by_client());
        }
        apply(&mut params, sender, id, value)?;
    }
    Ok(params)
}

/// Splits the next parameter's id and value off the front of `buf`.
fn next_parameter<'a>(buf: &mut &'a [u8]) -> Result<(VarInt, &'a [u8]), TransportError> {
    // RFC 9000 §18: each parameter is an id, a length, then that many bytes.
    let id = buf.read_var().map_err(|_| TRUNCATED)?;
    let len = wire_len(buf.read_var().map_err(|_| TRUNCATED)?);
    let (value, rest) = buf.split_at_checked(len).ok_or(TRUNCATED)?;
    *buf = rest;
    Ok((id, value))
}

/// Checks one known parameter's value and stores it.
fn apply(
    params: &mut TransportParameters,
    sender: Side,
    id: ParameterId,
    value: &[u8],
) -> Result<(), TransportError> {
    use ParameterId as Id;
    let p = params;
    match id {
        Id::OriginalDestinationConnectionId => {
            p.original_destination_connection_id = Some(connection_id(id, value)?);
        }
        Id::MaxIdleTimeout => p.max_idle_timeout = milliseconds(varint(id, value)?),
        Id::StatelessResetToken => p.stateless_reset_token = Some(reset_token(id, value)?),
        Id::MaxUdpPayloadSize => p.max_udp_payload_size = max_udp_payload_size(id, value)?,
        Id::InitialMaxData => p.initial_max_data = varint(id, value)?,
        Id::InitialMaxStreamDataBidiLocal => {
            p.initial_max_stream_data_bidi_local = varint(id, value)?;
        }
        Id::InitialMaxStreamDataBidiRemote => {
            p.initial_max_stream_data_bidi_remote = varint(id, value)?;
        }
        Id::InitialMaxStreamDataUni => p.initial_max_stream_data_uni = varint(id, value)?,
        Id::InitialMaxStreamsBidi => {
            p.initial_max_streams_bidi =
                max_streams(id, value, "initial_max_streams_bidi above 2^60")?;
        }
        Id::InitialMaxStreamsUni => {
            p.initial_max_streams_uni =
                max_streams(id, value, "initial_max_streams_uni above 2^60")?;
        }
        Id::AckDelayExponent => p.ack_delay_exponent = ack_delay_exponent(id, value)?,
        Id::MaxAckDelay => p.max_ack_delay = max_ack_delay(id, value)?,
        Id::DisableActiveMigration => p.disable_active_migration = flag(id, value)?,
        Id::PreferredAddress => p.preferred_address = Some(preferred_address::decode(value)?),
        Id::ActiveConnectionIdLimit => {
            p.active_connection_id_limit = active_connection_id_limit(id, value)?;
        }
        Id::InitialSourceConnectionId => {
            p.initial_source_connection_id = Some(connection_id(id, value)?);
        }
        Id::RetrySourceConnectionId => {
            p.retry_source_connection_id = Some(connection_id(id, value)?);
        }
        Id::VersionInformation => {
            p.version_information = Some(version_information(sender, value)?);
        }
        // RFC 9221 §3: any value is legal; 0 means no DATAGRAM support.
        Id::MaxDatagramFrameSize => p.max_datagram_frame_size = Some(varint(id, value)?),
        // RFC 9287 §3: a non-empty grease_quic_bit is a TRANSPORT_PARAMETER_ERROR.
        Id::GreaseQuicBit => p.grease_quic_bit = flag(id, value)?,
    }
    Ok(())
}

/// RFC 9000 §18: an integer parameter's value is exactly one varint, which
/// fills the declared length.
fn varint(id: ParameterId, value: &[u8]) -> Result<VarInt, TransportError> {
    let mut rest = value;
    match rest.read_var() {
        Ok(v) if rest.is_empty() => Ok(v),
        _ => Err(id.malformed()),
    }
}

/// RFC 9000 §18.2: a flag parameter has a zero-length value.
fn flag(id: ParameterId, value: &[u8]) -> Result<bool, TransportError> {
    if value.is_empty() {
        Ok(true)
    } else {
        Err(id.malformed())
    }
}

/// RFC 9000 §17.2: a QUIC v1 connection ID is at most 20 bytes.
fn connection_id(id: ParameterId, value: &[u8]) -> Result<ConnectionId, TransportError> {
    ConnectionId::new(value).map_err(|_| id.malformed())
}

/// RFC 9000 §18.2: stateless_reset_token is exactly 16 bytes.
fn reset_token(id: ParameterId, value: &[u8]) -> Result<[u8; RESET_TOKEN_LEN], TransportError> {
    <[u8; RESET_TOKEN_LEN]>::try_from(value).map_err(|_| id.malformed())
}

fn milliseconds(value: VarInt) -> Duration {
    Duration::from_millis(value.into_inner())
}

fn max_udp_payload_size(id: ParameterId, value: &[u8]) -> Result<VarInt, TransportError> {
    let size = varint(id, value)?;
    // RFC 9000 §18.2: max_udp_payload_size below 1200 is invalid.
    if size.into_inner() < MIN_MAX_UDP_PAYLOAD_SIZE {
        return Err(TransportError::transport_parameter_error(
            "max_udp_payload_size below 1200",
        ));
    }
    Ok(size)
}

fn max_streams(
    id: ParameterId,
    value: &[u8],
    reason: &'static str,
) -> Result<VarInt, TransportError> {
    let count = varint(id, value)?;
    // RFC 9000 §4.6: a stream limit above 2^60 in a transport parameter is a
    // TRANSPORT_PARAMETER_ERROR.
    if count.into_inner() > MAX_STREAMS {
        return Err(TransportError::transport_parameter_error(reason));
    }
    Ok(count)
}

fn ack_delay_exponent(id: ParameterId, value: &[u8]) -> Result<u8, TransportError> {
    let exponent = varint(id, value)?;
    // RFC 9000 §18.2: ack_delay_exponent above 20 is invalid.
    match u8::try_from(exponent.into_inner()) {
        Ok(e) if e <= MAX_ACK_DELAY_EXPONENT => Ok(e),
        _ => Err(TransportError::transport_parameter_error(
            "ack_delay_exponent above 20",
        )),
    }
}

fn max_ack_delay(id: ParameterId, value: &[u8]) -> Result<Duration, TransportError> {
    let delay = varint(id, value)?;
    // RFC 9000 §18.2: max_ack_delay of 2^14 ms or more is invalid.
    if delay.into_inner() >= MAX_ACK_DELAY_LIMIT_MS {
        return Err(TransportError::transport_parameter_error(
            "max_ack_delay of 2^14 ms or more",
        ));
    }
    Ok(milliseconds(delay))
}

fn active_connection_id_limit(id: ParameterId, value: &[u8]) -> Result<VarInt, TransportError> {
    let limit = varint(id, value)?;
    // RFC 9000 §18.2: an active_connection_id_limit below 2 is a
    // TRANSPORT_PARAMETER_ERROR.
    if limit.into_inner() < MIN_ACTIVE_CONNECTION_ID_LIMIT {
        return Err(TransportError::transport_parameter_error(
            "active_connection_id_limit below 2",
        ));
    }
    Ok(limit)
}

fn version_information(sender: Side, value: &[u8]) -> Result<VersionInformation, TransportError> {
    // RFC 9368 §4: a value shorter than 4 bytes or not a multiple of 4 fails
    // to parse, which QUIC v1 closes with TRANSPORT_PARAMETER_ERROR.
    if value.len() < 4 || !value.len().is_multiple_of(4) {
        return Err(ParameterId::VersionInformation.malformed());
    }
    let mut versions = value.chunks_exact(4).map(|chunk| {
        let mut chunk = chunk;
        chunk.read_u32().map_err(|_| TRUNCATED)
    });
    let chosen_version = versions.next().ok_or(TRUNCATED)??;
    // The list holds exactly the remaining 4-byte chunks of this value.
    let available_versions = versions.collect::<Result<Vec<u32>, _>>()?;
    // RFC 9368 §4: a chosen or available version of 0 fails to parse.
    if chosen_version == 0 || available_versions.contains(&0) {
        return Err(TransportError::transport_parameter_error(
            "version_information with version 0",
        ));
    }
    // RFC 9368 §4: a server treats a client's chosen version missing from its
    // available versions as a parse failure.
    if sender.is_client() && !available_versions.contains(&chosen_version) {
        return Err(TransportError::transport_parameter_error(
            "version_information without the chosen version",
        ));
    }
    Ok(VersionInformation {
        chosen_version,
        available_versions,
    })
}
