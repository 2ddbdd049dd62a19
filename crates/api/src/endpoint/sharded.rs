//! Endpoints of several shards: one event loop per core on one UDP port.

use std::{net::SocketAddr, sync::Arc};

use tern_endpoint::{EndpointRef, Runtime, ShardSetup, ShardStats, SocketConfig, bind_udp};
use tern_proto::config::{EndpointConfig, ServerConfig};

use super::{Endpoint, socket_config};
use crate::EndpointError;

/// Datagrams waiting to be handed to a shard at most: a few receive
/// batches. Hand-over happens only for clients whose address changed, so
/// a full queue means a flood, and dropping is what a full socket would do.
const HANDOVER_QUEUE: usize = 1024;

impl Endpoint {
    /// A server on `addr` that runs `shards` event loops, each on a thread
    /// of its own, each with its own `SO_REUSEPORT` socket on the same
    /// port and its own connections; `0` runs one per core the system
    /// reports.
    ///
    /// The kernel spreads clients over the sockets by their addresses.
    /// Every connection ID a shard issues carries the shard, hidden from
    /// observers, so a datagram that reaches another shard after the
    /// client's address changed (a NAT rebinding, a migration) is handed to
    /// the shard holding its connection; shards share no lock. They share
    /// the stateless reset key and the token key, so that a stateless
    /// reset or a Retry or NEW_TOKEN token from one is good at all, and
    /// each takes its share of the endpoint's limits
    /// ([`EndpointConfig::shards`], [`ServerConfig::shard`]).
    ///
    /// With the `runtime-tokio` feature, each shard's thread runs a tokio
    /// current-thread runtime that holds only that shard's event loop; it
    /// ends when the shard's loop does (the last handle dropped and its
    /// connections drained). Without it, the shards run on the default
    /// runtime (smol's global executor, as many threads as it has). The
    /// handles ([`accept`](Self::accept), connections, streams) are used
    /// from any task on any runtime, as with [`server`](Self::server).
    /// An accepted client's TLS work (the server's first flight, its
    /// certificate signature) runs on its shard's thread, not on the task
    /// that accepted it; accept with one task per shard
    /// ([`shards`](Self::shards)) so that no task waits for another
    /// shard's busy lock.
    /// [`new_sharded`](Self::new_sharded) takes the runtimes, for instance
    /// a tokio multi-thread runtime once per shard.
    ///
    /// # Errors
    /// [`EndpointError::Shards`] when the connection ID generator cannot
    /// carry that many shards, and as [`new_with_runtime`](Self::new_with_runtime)
    /// otherwise.
    pub fn server_multicore(
        config: ServerConfig,
        addr: SocketAddr,
        shards: usize,
    ) -> Result<Self, EndpointError> {
        Self::server_multicore_with(EndpointConfig::default(), config, addr, shards)
    }

    /// As [`server_multicore`](Self::server_multicore), with endpoint
    /// settings: `endpoint` is split into the shards' with
    /// [`EndpointConfig::shards`], so its connection ID generator must
    /// support sharding (the default random one and the QUIC-LB one of
    /// `tern-quic-lb` do).
    ///
    /// # Errors
    /// As [`server_multicore`](Self::server_multicore).
    pub fn server_multicore_with(
        endpoint: EndpointConfig,
        config: ServerConfig,
        addr: SocketAddr,
        shards: usize,
    ) -> Result<Self, EndpointError> {
        let shards = if shards == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        } else {
            shards
        };
        #[cfg(feature = "runtime-tokio")]
        {
            let threads = (0..shards)
                .map(|_| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let runtimes = threads
                .iter()
                .map(|thread| {
                    let runtime: Arc<dyn Runtime> =
                        Arc::new(crate::TokioRuntime::new(thread.handle().clone()));
                    runtime
                })
                .collect();
            let endpoint = Self::new_sharded(endpoint, Some(config), addr, runtimes)?;
            for (index, (thread, shard)) in threads.into_iter().zip(&endpoint.shards).enumerate() {
                let stopped = shard.stopped();
                std::thread::Builder::new()
                    .name(format!("tern-shard-{index}"))
                    .spawn(move || thread.block_on(stopped))?;
            }
            Ok(endpoint)
        }
        #[cfg(not(feature = "runtime-tokio"))]
        {
            let runtime = tern_endpoint::default_runtime().ok_or(EndpointError::NoRuntime)?;
            Self::new_sharded(endpoint, Some(config), addr, vec![runtime; shards])
        }
    }

    /// An endpoint of one shard per element of `runtimes`, each shard's
    /// event loop spawned on its runtime (the same runtime may be given
    /// several times: a multi-thread runtime then spreads the loops over
    /// its workers, a current-thread runtime runs them all on its thread).
    /// See [`server_multicore`](Self::server_multicore) for what the shards
    /// share. `config` is split with [`EndpointConfig::shards`] and `server`
    /// with [`ServerConfig::shard`]. A shard whose runtime shuts down
    /// leaves the others running: they take new clients, and answer the
    /// datagrams of its connections with stateless resets.
    ///
    /// # Errors
    /// [`EndpointError::Shards`] for no runtime, or when the connection ID
    /// generator cannot carry that many shards; as
    /// [`new_with_runtime`](Self::new_with_runtime) otherwise.
    pub fn new_sharded(
        config: EndpointConfig,
        server: Option<ServerConfig>,
        addr: SocketAddr,
        runtimes: Vec<Arc<dyn Runtime>>,
    ) -> Result<Self, EndpointError> {
        if let Some(server) = &server {
            server.validate()?;
        }
        let count = runtimes.len();
        // Runtimes' clocks agree within a process; the first one's starts
        // the token key periods.
        let now = runtimes
            .first()
            .map(|runtime| runtime.now())
            .ok_or(EndpointError::Shards(
                tern_proto::config::ShardError::NoShards,
            ))?;
        let configs = config.shards(count, now)?;
        let server = server.map(|server| Arc::new(server.shard(count)));
        let socket_config = SocketConfig {
            reuse_port: true,
            ..socket_config()
        };
        // The first socket picks the port when `addr` has none; the others
        // join it there.
        let mut local = addr;
        let mut parts = Vec::with_capacity(count);
        for (runtime, config) in runtimes.into_iter().zip(configs) {
            let socket = bind_udp(local, &socket_config)?;
            local = socket.local_addr()?;
            let socket = runtime.wrap_udp_socket(socket)?;
            let specific = (!local.ip().is_unspecified()).then_some(local);
            let endpoint = tern_proto::endpoint::Endpoint::with_os_seed(
                Arc::new(config),
                server.clone(),
                specific,
            );
            parts.push(ShardSetup {
                runtime,
                socket,
                endpoint,
            });
        }
        Ok(Self::from_shards(EndpointRef::start_sharded(
            parts,
            HANDOVER_QUEUE,
        )?))
    }

    /// How many shards (event loops) this handle covers: 1 unless it was
    /// made by [`server_multicore`](Self::server_multicore) or
    /// [`new_sharded`](Self::new_sharded) (and 1 for one of their
    /// [`shards`](Self::shards)).
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Each shard as an endpoint of its own, in shard order; for an
    /// endpoint of one event loop, itself. [`accept`](Self::accept) on one
    /// takes only that shard's clients, and the handles of its connections
    /// lock only that shard. An application with one accepting task (or
    /// thread) per shard serves each shard's clients apart, so that none
    /// waits while another shard is busy, as one task accepting for all of
    /// them does when a shard holds its lock for a handshake's signature.
    /// Closing one closes that shard alone; the endpoint ends when every
    /// handle of every shard is gone.
    #[must_use]
    pub fn shards(&self) -> Vec<Self> {
        if self.shards.len() == 1 {
            return vec![self.clone()];
        }
        self.shards
            .iter()
            .map(|shard| Self {
                shards: vec![shard.clone()],
                next_accept: Arc::default(),
                client_config: self.client_config.clone(),
            })
            .collect()
    }

    /// The counters of each shard, in shard order: connections held, and
    /// datagrams handed from one shard to another. Empty for an endpoint
    /// of one event loop.
    #[must_use]
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .filter_map(EndpointRef::shard_stats)
            .collect()
    }
}
