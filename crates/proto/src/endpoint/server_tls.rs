//! The rustls configuration a server's handshakes run with: the
//! application's, with its session store wrapped for 0-RTT, made once per
//! server configuration.

use std::sync::Arc;

use super::local_params;
use crate::{
    ConnectionId,
    config::{ServerConfig, ZeroRttSessionStore},
};

/// The rustls configuration derived from the last server configuration
/// seen that accepts 0-RTT, so that a handshake does not clone one.
#[derive(Debug, Default)]
pub(super) struct ServerTls {
    /// The server configuration (held, so that its address is not reused
    /// by another while it is the key) and what was derived from it.
    cached: Option<(Arc<ServerConfig>, Arc<rustls::ServerConfig>)>,
}

impl ServerTls {
    /// The rustls configuration to start a handshake of `server` with:
    /// its own when it refuses 0-RTT (nothing is cached then), else the
    /// one derived last when `server` is the same `Arc`, or a new one.
    pub(super) fn for_server(&mut self, server: &Arc<ServerConfig>) -> Arc<rustls::ServerConfig> {
        // RFC 9000 §7.4.1: only 0-RTT is bound to the limits of the
        // connection that issued the ticket; a resumption without early
        // data runs under the new connection's transport parameters. So a server
        // that refuses 0-RTT keeps its rustls configuration as it is, and
        // its tickets resume across changes of its transport settings.
        if server.tls.max_early_data_size == 0 {
            return server.tls.clone();
        }
        match &self.cached {
            Some((seen, tls)) if Arc::ptr_eq(seen, server) => tls.clone(),
            _ => {
                let tls = derive(server);
                self.cached = Some((server.clone(), tls.clone()));
                tls
            }
        }
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

/// `server.tls`, with its session store wrapped in a
/// [`ZeroRttSessionStore`].
fn derive(server: &ServerConfig) -> Arc<rustls::ServerConfig> {
    // The 0-RTT limits depend on the transport settings alone, not on the
    // connection IDs.
    let params = local_params(&server.transport, &ConnectionId::EMPTY, None);
    let mut tls = (*server.tls).clone();
    tls.session_storage = Arc::new(ZeroRttSessionStore::new(
        server.tls.session_storage.clone(),
        &params,
        server.anti_replay,
    ));
    Arc::new(tls)
}

#[cfg(test)]
mod tests;
