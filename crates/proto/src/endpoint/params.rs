//! The transport parameters an endpoint's connections send.

use crate::{ConnectionId, VarInt, config::TransportConfig, transport_params::TransportParameters};

/// The transport parameters we send (RFC 9000 §18.2).
pub(super) fn local_params(
    config: &TransportConfig,
    local_cid: &ConnectionId,
    original_dcid: Option<&ConnectionId>,
) -> TransportParameters {
    let mut params = TransportParameters {
        max_idle_timeout: config.max_idle_timeout.unwrap_or_default(),
        max_ack_delay: config.max_ack_delay,
        // RFC 9000 §7.3: each side names the SCID of its first packet; the
        // server echoes the client's original DCID.
        initial_source_connection_id: Some(*local_cid),
        original_destination_connection_id: original_dcid.copied(),
        max_datagram_frame_size: config.max_datagram_frame_size.map(VarInt::from),
        max_udp_payload_size: VarInt::from(config.max_udp_payload_size),
        // RFC 9000 §18.2: how many of the peer's connection IDs we hold.
        active_connection_id_limit: VarInt::from(config.active_connection_id_limit.max(2)),
        // RFC 9000 §18.2, §9: whether we ask the peer not to migrate.
        disable_active_migration: config.disable_active_migration,
        ..TransportParameters::default()
    };
    config.streams.apply_to(&mut params);
    params
}
