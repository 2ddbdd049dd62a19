//! The rustls configuration a server's handshakes run with: the
//! application's, with its session store wrapped for 0-RTT, made once per
//! server configuration.

use std::sync::Arc;

use super::local_params;
use crate::{
    ConnectionId,
    config::{ServerConfig, ZeroRttSessionStore},
    packet::Version,
};

/// The rustls configurations derived from the last server configuration
/// seen that needs any, so that a handshake does not clone one.
#[derive(Debug, Default)]
pub(super) struct ServerTls {
    /// The server configuration (held, so that its address is not reused
    /// by another while it is the key) and what was derived from it: one
    /// per QUIC version, and per whether it is for a connection moved to
    /// another version (see [`for_switch`](Self::for_switch)).
    cached: Option<(Arc<ServerConfig>, Vec<Derived>)>,
}

/// A rustls configuration derived for connections of one version.
#[derive(Debug)]
struct Derived {
    version: Version,
    switched: bool,
    tls: Arc<rustls::ServerConfig>,
}

impl ServerTls {
    /// The rustls configuration to start a handshake of `server` on
    /// `version` with, at an endpoint that speaks `versions`: its own when
    /// it refuses 0-RTT and speaks one version (nothing is cached then),
    /// else one derived once per configuration `Arc` and version.
    pub(super) fn for_server(
        &mut self,
        server: &Arc<ServerConfig>,
        version: Version,
        versions: &[Version],
    ) -> Arc<rustls::ServerConfig> {
        // RFC 9000 §7.4.1: only 0-RTT is bound to the limits of the
        // connection that issued the ticket; a resumption without early
        // data runs under the new connection's transport parameters. So a
        // server that refuses 0-RTT keeps its rustls configuration as it
        // is, and its tickets resume across changes of its transport
        // settings; RFC 9369 §5: unless it speaks several versions, when
        // each ticket is bound to its version.
        if server.tls.max_early_data_size == 0 && versions.len() < 2 {
            return server.tls.clone();
        }
        self.derived(server, version, false)
    }

    /// The rustls configuration for a connection a server moves to
    /// `version` by compatible negotiation: as for a handshake on
    /// `version`, refusing early data. RFC 9369 §4 keeps the client's
    /// 0-RTT packets in the original version, whose keys rustls would not
    /// derive for a session of the new one; RFC 9368 §7.2 lets a version's
    /// document have compatible negotiation reject 0-RTT, and Tern's
    /// server does (the client sends it again in 1-RTT, RFC 9001 §4.6.2).
    /// Tickets such a connection issues resume later connections of
    /// `version`, without 0-RTT.
    pub(super) fn for_switch(
        &mut self,
        server: &Arc<ServerConfig>,
        version: Version,
    ) -> Arc<rustls::ServerConfig> {
        self.derived(server, version, true)
    }

    fn derived(
        &mut self,
        server: &Arc<ServerConfig>,
        version: Version,
        switched: bool,
    ) -> Arc<rustls::ServerConfig> {
        if !matches!(&self.cached, Some((seen, _)) if Arc::ptr_eq(seen, server)) {
            self.cached = Some((server.clone(), Vec::new()));
        }
        let Some((_, derived)) = self.cached.as_mut() else {
            return server.tls.clone();
        };
        if let Some(found) = derived
            .iter()
            .find(|d| d.version == version && d.switched == switched)
        {
            return found.tls.clone();
        }
        let tls = derive(server, version, switched);
        derived.push(Derived {
            version,
            switched,
            tls: tls.clone(),
        });
        tls
    }

    /// Forgets what was derived unless it is for `server`: a replaced
    /// configuration is not kept alive by the cache.
    pub(super) fn retain(&mut self, server: Option<&Arc<ServerConfig>>) {
        let current = matches!(
            (&self.cached, server),
            (Some((seen, _)), Some(server)) if Arc::ptr_eq(seen, server)
        );
        if !current {
            self.cached = None;
        }
    }
}

/// `server.tls` for connections of `version`, with its session store
/// wrapped in a [`ZeroRttSessionStore`] bound to the version and, when it
/// accepts 0-RTT, to its 0-RTT limits; early data refused when `switched`.
fn derive(server: &ServerConfig, version: Version, switched: bool) -> Arc<rustls::ServerConfig> {
    let mut tls = (*server.tls).clone();
    if switched {
        tls.max_early_data_size = 0;
    }
    // The 0-RTT limits depend on the transport settings alone, not on the
    // connection IDs.
    let params = local_params(&server.transport, &ConnectionId::EMPTY, None);
    let limits = (server.tls.max_early_data_size > 0).then_some(&params);
    tls.session_storage = Arc::new(ZeroRttSessionStore::new(
        server.tls.session_storage.clone(),
        limits,
        server.anti_replay,
        version,
    ));
    Arc::new(tls)
}

#[cfg(test)]
mod tests;
