//! Driving TLS: handshake bytes in and out, key changes, transport
//! parameters, handshake completion and confirmation, and the snapshot.

use std::{collections::VecDeque, sync::Arc, time::Instant};

use super::{Connection, Event, State, spaces::index, version::Hello};
use crate::{
    Side, SpaceId, TransportError, crypto::KeyChange, frame::Crypto, handshake_info::HandshakeInfo,
    transport_params::TransportParameters,
};

impl Connection {
    /// Reassembles a CRYPTO frame and feeds what is now in order to TLS.
    pub(super) fn on_crypto_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        frame: Crypto,
    ) -> Result<(), TransportError> {
        let sp = &mut self.spaces[index(space)];
        // RFC 9000 §7.5: buffering beyond our limit is CRYPTO_BUFFER_EXCEEDED.
        sp.crypto_recv
            .insert(frame.offset.into_inner(), frame.data)
            .map_err(|_| {
                TransportError::crypto_buffer_exceeded("crypto data beyond the buffer limit")
            })?;
        if self.side.is_client() {
            // RFC 9369 §4: CRYPTO data in the version we started on settles
            // the negotiation on it.
            self.settle_version();
        }
        while let Some(chunk) = self.spaces[index(space)].crypto_recv.read() {
            let chunk = match space {
                SpaceId::Initial => match self.hold_client_hello(&chunk) {
                    Hello::Pass => chunk,
                    Hello::Wait => continue,
                    Hello::Feed(hello) => hello.into(),
                },
                _ => chunk,
            };
            let Some(tls) = self.tls.as_mut() else {
                // The server freed TLS after the handshake; a client has no
                // post-handshake message to send it in QUIC.
                return Err(TransportError::protocol_violation(
                    "crypto data after the handshake",
                ));
            };
            tls.read_handshake(space, &chunk)?;
        }
        self.try_drive_tls(now)
    }

    /// Collects TLS output; on error the connection closes.
    pub(super) fn drive_tls(&mut self, now: Instant) {
        if let Err(error) = self.try_drive_tls(now) {
            self.fail(now, error);
        }
    }

    fn try_drive_tls(&mut self, now: Instant) -> Result<(), TransportError> {
        let Some(tls) = self.tls.as_mut() else {
            return Ok(());
        };
        loop {
            let mut bytes = Vec::new();
            let change = tls.write_handshake(&mut bytes);
            if !bytes.is_empty() {
                self.spaces[index(self.tls_write_space)]
                    .crypto_send
                    .write(&bytes);
            }
            match change {
                None => break,
                Some(KeyChange::Handshake(keys)) => {
                    self.spaces[index(SpaceId::Handshake)].keys = Some(keys);
                    self.tls_write_space = SpaceId::Handshake;
                }
                Some(KeyChange::OneRtt { keys, secrets }) => {
                    self.spaces[index(SpaceId::Data)].keys = Some(keys);
                    self.key_phase.set_secrets(secrets);
                    self.tls_write_space = SpaceId::Data;
                }
            }
        }
        let handshaking = tls.is_handshaking();
        self.on_server_early_data_decided();
        let Some(tls) = self.tls.as_ref() else {
            return Ok(());
        };
        // A resuming client's TLS session offers the parameters remembered
        // from the previous connection (for 0-RTT) before the server's
        // arrive; the current ones are there once the handshake completed.
        let current = self.side.is_server() || !handshaking;
        let raw_params = match self.peer_params {
            None if current => tls.peer_transport_parameters().map(<[u8]>::to_vec),
            _ => None,
        };
        if let Some(raw) = raw_params {
            self.on_peer_params(&raw)?;
        }
        if !self.handshake_complete && !handshaking {
            self.on_handshake_complete(now)?;
        }
        Ok(())
    }

    /// Validates the peer's transport parameters (RFC 9000 §7.4, §7.3).
    fn on_peer_params(&mut self, raw: &[u8]) -> Result<(), TransportError> {
        let sender = match self.side {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        let params = TransportParameters::decode(sender, raw)?;
        self.check_version_information(params.version_information.as_ref())?;
        // RFC 9000 §7.3: the connection IDs both sides used must be
        // authenticated by the parameters, the Retry's too: a server must
        // name the Retry the client followed in retry_source_connection_id,
        // and must not send one without it.
        params.check_connection_ids(
            sender,
            &self.remote_cid,
            &self.original_dcid,
            self.tokens.retry_scid.as_ref(),
        )?;
        // RFC 9000 §5.1.1: the ID the handshake settled on has sequence
        // number 0; a server's reset token for it is a parameter (§18.2).
        self.remote_cids
            .set_handshake_id(self.remote_cid, params.stateless_reset_token);
        // RFC 9000 §5.1.1: the preferred address's connection ID has
        // sequence number 1 and counts like any other; a server whose ID is
        // zero-length must not send one (§18.2).
        if let Some(preferred) = params.preferred_address {
            if self.remote_cid.is_empty() {
                return Err(TransportError::transport_parameter_error(
                    "preferred_address from a server with a zero-length connection id",
                ));
            }
            let frame = crate::frame::NewConnectionId {
                sequence: crate::VarInt::from_u32(1),
                retire_prior_to: crate::VarInt::from_u32(0),
                id: preferred.connection_id,
                reset_token: preferred.stateless_reset_token,
            };
            self.remote_cids
                .on_new_cid(&frame)
                .map_err(|error| TransportError {
                    code: crate::TransportErrorCode::TRANSPORT_PARAMETER_ERROR,
                    frame_type: None,
                    reason: error.reason,
                })?;
        }
        self.path
            .mtud
            .set_peer_max_udp_payload_size(params.max_udp_payload_size.into_inner());
        self.streams.set_peer_params(&params);
        self.peer_params = Some(Arc::new(params));
        Ok(())
    }

    /// The handshake completed: capture the snapshot, and on the server
    /// confirm the handshake (RFC 9001 §4.1.2).
    fn on_handshake_complete(&mut self, now: Instant) -> Result<(), TransportError> {
        let Some(peer_params) = self.peer_params.clone() else {
            // RFC 9001 §8.2: the transport parameters extension is mandatory.
            // (TLS alert 109 is missing_extension.)
            return Err(TransportError::new(
                crate::TransportErrorCode::crypto(109),
                "peer sent no transport parameters",
            ));
        };
        let Some(tls) = self.tls.as_ref() else {
            return Ok(());
        };
        let mut details = tls.details();
        details.early_data = self.settle_zero_rtt(details.early_data)?;
        self.handshake_complete = true;
        self.end_negotiation();
        self.state = State::Established;
        let info = Arc::new(HandshakeInfo::new(
            self.side,
            self.version,
            details,
            peer_params,
            self.local_params.clone(),
            self.tokens.validation,
            self.local,
            self.path.remote,
            now.saturating_duration_since(self.created_at),
            self.recovery.rtt().smoothed(),
            now,
        ));
        self.handshake_info = Some(info.clone());
        self.events.push_back(Event::Connected(info));
        tracing::debug!(side = ?self.side, "handshake complete");
        if self.side.is_server() {
            // RFC 9001 §4.1.2: the server's handshake is confirmed when it
            // completes; it tells the client with HANDSHAKE_DONE.
            self.handshake_done_pending = true;
            self.confirm_handshake(now);
        }
        Ok(())
    }

    /// RFC 9001 §4.9.2: once the handshake is confirmed, Handshake keys are
    /// discarded.
    pub(super) fn confirm_handshake(&mut self, now: Instant) {
        if self.handshake_confirmed {
            return;
        }
        self.handshake_confirmed = true;
        self.discard_space(SpaceId::Handshake);
        // RFC 9000 §5.1.1: we issue connection IDs, in 1-RTT packets, up
        // to the peer's active_connection_id_limit.
        if let Some(params) = &self.peer_params {
            self.local_cids
                .start(params.active_connection_id_limit.into_inner());
        }
        self.probe_preferred_address(now);
    }

    /// Forgets a space's keys, buffers and packets in flight (RFC 9001
    /// §4.9, RFC 9002 §6.4).
    pub(super) fn discard_space(&mut self, space: SpaceId) {
        if self.spaces[index(space)].discarded {
            return;
        }
        let mut dropped = std::mem::take(&mut self.discarded_buf);
        self.recovery.discard_space(space, &mut dropped);
        dropped.clear();
        self.discarded_buf = dropped;
        let config = self.config.clone();
        self.spaces[index(space)].discard(&config);
        tracing::trace!(?space, "keys discarded");
    }

    /// A server frees its TLS session once the handshake is confirmed and
    /// every post-handshake TLS message (session tickets) was sent; our own
    /// CRYPTO buffer keeps those bytes for retransmission. The snapshot was
    /// captured before and is unaffected.
    pub(super) fn maybe_free_tls(&mut self, now: Instant) {
        if self.side.is_server()
            && !self.retain_tls_state
            && self.handshake_confirmed
            && self.tls.is_some()
            && self.spaces[index(SpaceId::Data)].crypto_send.all_sent()
        {
            // The 1-RTT secrets for key updates live apart from the session.
            self.tls = None;
            self.tls_freed_at = Some(now);
            tracing::debug!("tls session freed after the handshake");
        }
    }

    /// Gives back what the handshake grew, once its own traffic is
    /// acknowledged (a server's HANDSHAKE_DONE and session tickets) and
    /// the connection pauses: nothing ack-eliciting in flight, nothing of
    /// the handshake or of streams waiting to be sent. Most connections of
    /// a busy server sit idle after their handshake, and would otherwise
    /// hold the handshake's sent-packet buffers, scratch buffers and event
    /// queue for life.
    ///
    /// Once per connection: buffers grown by later traffic are kept, so
    /// that a steady transfer allocates nothing per packet.
    pub(super) fn maybe_release_handshake_buffers(&mut self) {
        if self.handshake_buffers_released
            || !self.handshake_confirmed
            || self.handshake_done_pending
            || self.owes_new_tokens()
            || self.has_endpoint_events()
            || self.owes_cid_frames()
            || self.spaces[index(SpaceId::Data)].crypto_send.has_pending()
            || self.is_closed()
            || self.recovery.any_ack_eliciting_in_flight()
            || self.streams.wants_to_send()
        {
            return;
        }
        self.handshake_buffers_released = true;
        self.recovery.shrink_to_fit();
        // Scratch buffers of ACK and loss processing, empty between uses.
        self.acked_buf = Vec::new();
        self.lost_buf = Vec::new();
        self.discarded_buf = Vec::new();
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.undecryptable.is_empty() {
            self.undecryptable = Vec::new();
        }
        tracing::trace!("handshake buffers released");
    }
}
