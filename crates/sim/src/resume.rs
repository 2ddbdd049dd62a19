//! Second connections over a [`Pair`]'s endpoints, for resumption and
//! 0-RTT tests: the client's configuration keeps the tickets of the first
//! connection, and the server's session cache the sessions they name.

use std::{sync::Arc, time::Duration};

use rustls::server::StoresServerSessions;
use tern_proto::config::{ClientConfig, EndpointConfig, ServerConfig};

use crate::{
    LinkConfig, certs,
    pair::{CLIENT, Pair, SERVER},
    quic::SERVER_ADDR,
};

/// A client and a server configuration for `localhost` with resumption and
/// 0-RTT on: the server accepts early data (`max_early_data_size` of
/// `u32::MAX`, the value RFC 9001 §4.6.1 requires) from tickets in its
/// session cache, and the client offers it.
///
/// # Panics
/// When the test certificates cannot be made (they always can).
#[must_use]
pub fn zero_rtt_configs() -> (ClientConfig, ServerConfig) {
    zero_rtt_configs_with_store(None)
}

/// [`zero_rtt_configs`] with the server's sessions in `store` (rustls's
/// in-memory cache with `None`).
///
/// # Panics
/// As [`zero_rtt_configs`].
#[must_use]
pub fn zero_rtt_configs_with_store(
    store: Option<Arc<dyn StoresServerSessions>>,
) -> (ClientConfig, ServerConfig) {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut server_tls = Arc::unwrap_or_clone(server_tls);
    server_tls.max_early_data_size = u32::MAX;
    if let Some(store) = store {
        server_tls.session_storage = store;
    }
    let mut client_tls = Arc::unwrap_or_clone(client_tls);
    client_tls.enable_early_data = true;
    (
        ClientConfig::new(Arc::new(client_tls)).expect("the test tls config runs quic"),
        ServerConfig::new(Arc::new(server_tls)).expect("the test tls config runs quic"),
    )
}

impl Pair {
    /// A pair over `link` whose first connection is established within
    /// `limit`, then run a second more so that the client holds the
    /// server's tickets (they follow the handshake in 1-RTT CRYPTO frames).
    ///
    /// # Panics
    /// When the handshake does not complete within `limit`.
    #[must_use]
    pub fn with_tickets(
        seed: u64,
        link: LinkConfig,
        client: &ClientConfig,
        server: ServerConfig,
        limit: Duration,
    ) -> Self {
        let mut pair = Self::with_configs(
            seed,
            link,
            client.clone(),
            server,
            EndpointConfig::default(),
        );
        assert!(pair.connect(limit), "the first handshake completes");
        let _ = pair.run_until(Duration::from_secs(1), |_| false);
        pair
    }

    /// Starts another connection from the client's endpoint with `config`
    /// (not yet run), and makes it the pair's connection: the earlier
    /// connections stay where they are, and the server's next accepted
    /// connection becomes the pair's server connection.
    ///
    /// # Panics
    /// When `config` is not usable for QUIC.
    pub fn reconnect(&mut self, config: &ClientConfig) {
        let now = self.sim.now();
        self.state.client_conn = self
            .sim
            .node_mut(CLIENT)
            .connect(now, config, SERVER_ADDR, "localhost")
            .expect("the client config is usable for QUIC");
        self.state.server_conn = None;
    }

    /// Replaces the server's configuration for the connections it accepts
    /// from now on.
    pub fn set_server_config(&mut self, config: ServerConfig) {
        self.sim
            .node_mut(SERVER)
            .set_server_config(Some(Arc::new(config)));
    }
}
