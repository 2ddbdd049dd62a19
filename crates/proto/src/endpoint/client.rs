//! A client's connections: the first flight's connection IDs, transport
//! parameters, version offer (RFC 9368 §3) and TLS session.

use std::{net::SocketAddr, time::Instant};

use rand::RngCore;

use super::{Endpoint, local_params};
use crate::{
    ConnectionId, Side,
    config::ClientConfig,
    connection::{Connection, ConnectionInit},
    crypto::TlsSession,
    endpoint::{ConnectError, ConnectionHandle},
};

impl Endpoint {
    /// Starts a client connection to `remote`, authenticating it as
    /// `server_name`.
    ///
    /// Its Initials carry a token the configuration's token store held for
    /// `server_name`, if any, taken out of it; the tokens it receives go
    /// there too (see [`ClientConfig::token_store`]).
    ///
    /// # Errors
    /// [`ConnectError`] when the TLS configuration cannot be used for QUIC.
    pub fn connect(
        &mut self,
        now: Instant,
        config: &ClientConfig,
        remote: SocketAddr,
        server_name: &str,
    ) -> Result<ConnectionHandle, ConnectError> {
        if config.handshake_cipher_suites.is_some() {
            config.validate()?;
        }
        self.allow_payload(config.transport.max_udp_payload_size);
        let local_cid = self.new_cid();
        // RFC 9000 §7.2: the client's first DCID is random, at least 8 bytes.
        let mut dcid = [0; 16];
        self.rng.fill_bytes(&mut dcid);
        let original_dcid = ConnectionId::new(&dcid).unwrap_or(ConnectionId::EMPTY);
        let mut params = local_params(&config.transport, &local_cid, None);
        // RFC 9368 §3: the version chosen and the compatible versions the
        // endpoint would also take, most preferred first.
        let offer =
            crate::connection::client_offer(config.version, &self.config.supported_versions);
        params.version_information = Some(crate::connection::version_information(
            config.version,
            &offer,
        ));
        // A client the server may move to another version keeps the TLS
        // secrets to derive that version's keys (see `crypto::capture`).
        let (tls, rustls_config) = if offer.len() > 1 {
            let capturing = self.client_tls.for_config(&config.tls);
            let tls = TlsSession::client_capturing(
                capturing.clone(),
                config.version,
                server_name,
                &params,
            )?;
            (tls, capturing)
        } else {
            let tls = TlsSession::client(config.tls.clone(), config.version, server_name, &params)?;
            (tls, config.tls.clone())
        };
        let tls = tls.with_handshake_suites(config.handshake_cipher_suites.clone());
        let negotiation = crate::connection::Negotiation::client(
            config.version,
            offer,
            rustls_config,
            server_name,
            config.handshake_cipher_suites.clone(),
        );
        // RFC 9000 §8.1.3: an earlier connection's NEW_TOKEN token, used once.
        let (token, token_store) = config.token_for(server_name);
        let mut challenge_key = [0; 16];
        self.rng.fill_bytes(&mut challenge_key);
        let conn = Connection::new(
            now,
            ConnectionInit {
                side: Side::Client,
                version: config.version,
                config: config.transport.clone(),
                tls,
                retain_tls_state: true,
                local_cid,
                remote_cid: original_dcid,
                original_dcid,
                remote,
                local: self.local,
                local_ip: None,
                local_params: params,
                // A client's follows from `token`.
                validation: crate::AddressValidation::None,
                new_tokens: Vec::new(),
                token,
                token_store,
                challenge_key,
                negotiation: Some(Box::new(negotiation)),
            },
        );
        let handle = self.insert(conn, &[local_cid]);
        Ok(handle)
    }
}
