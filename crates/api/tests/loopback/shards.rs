//! An endpoint of two shards on one port (`Endpoint::new_sharded`,
//! `Endpoint::server_multicore`): clients are spread over the shards by
//! the kernel, a client whose port changes is still served by the shard
//! holding its connection, and a shard answers for one that is gone with a
//! stateless reset the client accepts.

use std::{
    hash::{DefaultHasher, Hasher},
    net::UdpSocket,
    sync::Arc,
    time::Duration,
};

use tern::{ConnectionError, Endpoint, EndpointConfig, ServerConfig, TransportConfig, tls};

use crate::support::{self, ALPN, Rt, timeout};

crate::on_both_runtimes!(
    a_client_whose_port_changes_mid_transfer_is_served_by_its_shard,
    clients_are_spread_over_the_shards,
    each_shard_accepts_its_own_clients,
);

/// Bytes the server sends.
const TOTAL: usize = 4 << 20;
/// Rebindings tried at most until one lands on the other shard's socket:
/// each new port does so with probability 1/2.
const REBINDS: usize = 24;

fn server_config() -> (ServerConfig, tern::ClientConfig) {
    let (cert, key) = support::cert();
    let mut server = tls::server_config(vec![cert.clone()], key, &[ALPN]).expect("server config");
    // Capped windows: the sender stays close to the reader, so most of the
    // transfer crosses the new path.
    let transport = Arc::new(TransportConfig {
        streams: tern::proto::streams::StreamsConfig {
            max_stream_receive_window: 256 * 1024,
            max_receive_window: 512 * 1024,
            ..Default::default()
        },
        ..TransportConfig::default()
    });
    server.transport = transport.clone();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let mut client = tls::client_config(roots, &[ALPN]).expect("client config");
    client.transport = transport;
    (server, client)
}

/// A server of a shard per runtime in `runtimes`, a client on `rt` that
/// trusts it, and the client's configuration.
fn sharded_server(
    rt: &Rt,
    runtimes: Vec<Arc<dyn tern::Runtime>>,
) -> (Endpoint, Endpoint, tern::ClientConfig) {
    sharded_server_with(rt, EndpointConfig::default(), runtimes)
}

/// As [`sharded_server`], with the server's endpoint settings.
fn sharded_server_with(
    rt: &Rt,
    config: EndpointConfig,
    runtimes: Vec<Arc<dyn tern::Runtime>>,
) -> (Endpoint, Endpoint, tern::ClientConfig) {
    let (server, client_config) = server_config();
    let addr = "127.0.0.1:0".parse().expect("addr");
    let server =
        Endpoint::new_sharded(config, Some(server), addr, runtimes).expect("sharded server");
    let client = Endpoint::new_with_runtime(EndpointConfig::default(), None, addr, rt.0.clone())
        .expect("client");
    client.set_default_client_config(client_config.clone());
    (server, client, client_config)
}

async fn a_client_whose_port_changes_mid_transfer_is_served_by_its_shard(rt: Rt) {
    let (server, client, _) = sharded_server(&rt, vec![rt.0.clone(), rt.0.clone()]);
    assert_eq!(server.shard_count(), 2);
    let pair = support::Pair {
        server: server.clone(),
        client: client.clone(),
    };
    let (conn, served) = support::connected(&rt, &pair).await;
    let writer = rt.spawn(async move {
        let send = served.open_uni().await.expect("open");
        (crate::rebind::write_pattern(send, TOTAL).await, served)
    });
    let mut recv = timeout(&rt, conn.accept_uni()).await.expect("accept");
    let mut hasher = DefaultHasher::new();
    let mut received = 0;
    let mut rebinds = 0;
    let handed =
        |server: &Endpoint| -> u64 { server.shard_stats().iter().map(|s| s.handed_out).sum() };
    while let Some(chunk) = timeout(&rt, recv.read_chunk(usize::MAX))
        .await
        .expect("read")
    {
        hasher.write(&chunk);
        received += chunk.len();
        // From a quarter of the way, a new port after every chunk until
        // one of them reaches the shard that does not hold the connection.
        if received >= TOTAL / 4 && handed(&server) == 0 && rebinds < REBINDS {
            client
                .rebind(UdpSocket::bind("127.0.0.1:0").unwrap())
                .expect("rebind");
            rebinds += 1;
            rt.sleep(Duration::from_millis(20)).await;
        }
    }
    let (sent_digest, served) = timeout(&rt, writer).await.expect("writer");
    assert_eq!(received, TOTAL);
    assert_eq!(
        hasher.finish(),
        sent_digest,
        "the bytes arrived intact and in order"
    );
    let stats = server.shard_stats();
    let owner = stats
        .iter()
        .find(|s| s.connections == 1)
        .expect("one shard holds the connection");
    let other = &stats[1 - owner.shard];
    assert!(
        owner.handed_in > 0 && other.handed_out == owner.handed_in,
        "after {rebinds} rebindings the other shard handed datagrams over: {stats:?}"
    );
    assert_eq!(
        other.connections, 0,
        "the other shard made no connection of them"
    );
    assert!(
        served.stats().paths_validated >= 1,
        "the server followed the client"
    );
    assert_eq!(served.remote_address(), client.local_addr().ok());
}

async fn clients_are_spread_over_the_shards(rt: Rt) {
    // IDs of 16 bytes, as long as the first ID a Tern client picks for
    // the server: that one names some shard too.
    let ids = EndpointConfig {
        cid_generator: Arc::new(tern::proto::RandomConnectionIdGenerator::new(16).unwrap()),
        ..EndpointConfig::default()
    };
    let (server, _client, config) = sharded_server_with(&rt, ids, vec![rt.0.clone(), rt.0.clone()]);
    support::accept_every(&rt, &server);
    let addr = server.local_addr().unwrap();
    // Each client from its own port: the kernel hashes each to a shard.
    let _clients = clients_from_their_own_ports(&rt, &config, addr, 16).await;
    let stats = server.shard_stats();
    assert_eq!(stats.iter().map(|s| s.connections).sum::<usize>(), 16);
    // 16 clients all on one shard: 2^-15.
    assert!(stats.iter().all(|s| s.connections > 0), "{stats:?}");
    assert_eq!(server.open_connections(), 16);
    assert_eq!(server.stats().connections, 16);
    // Each connection lives on the shard its client's address reaches:
    // nothing was handed over, not even a first Initial whose ID the
    // client chose.
    let handed: u64 = stats.iter().map(|s| s.handed_out).sum();
    assert_eq!(handed, 0, "{stats:?}");
}

async fn each_shard_accepts_its_own_clients(rt: Rt) {
    let (server, _client, config) = sharded_server(&rt, vec![rt.0.clone(), rt.0.clone()]);
    let shards = server.shards();
    assert_eq!(shards.len(), 2);
    let err = shards[0]
        .rebind(UdpSocket::bind("127.0.0.1:0").unwrap())
        .unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::Unsupported,
        "a shard shares its port"
    );
    // One accepting task per shard, each counting what it took.
    let accepted: Vec<Arc<std::sync::atomic::AtomicUsize>> =
        (0..2).map(|_| Arc::default()).collect();
    for (shard, count) in shards.iter().zip(&accepted) {
        assert_eq!(shard.shard_count(), 1);
        let (shard, count) = (shard.clone(), count.clone());
        let _task = rt.spawn(async move {
            let mut held = Vec::new();
            while let Some(incoming) = shard.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                held.push(incoming.accept().unwrap().await.unwrap());
            }
        });
    }
    let addr = server.local_addr().unwrap();
    let _clients = clients_from_their_own_ports(&rt, &config, addr, 12).await;
    let stats = server.shard_stats();
    for (shard, count) in stats.iter().zip(&accepted) {
        assert_eq!(
            count.load(std::sync::atomic::Ordering::Relaxed),
            shard.connections,
            "each task took its own shard's clients: {stats:?}"
        );
    }
    assert_eq!(server.open_connections(), 12);
}

/// `n` clients, each an endpoint on a port of its own (the kernel hashes
/// each to a shard), connected to `addr`.
async fn clients_from_their_own_ports(
    rt: &Rt,
    config: &tern::ClientConfig,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<(Endpoint, tern::Connection)> {
    let mut clients = Vec::new();
    for _ in 0..n {
        let endpoint = Endpoint::new_with_runtime(
            EndpointConfig::default(),
            None,
            "127.0.0.1:0".parse().unwrap(),
            rt.0.clone(),
        )
        .unwrap();
        let connecting = endpoint.connect_with(config, addr, "localhost").unwrap();
        let conn = timeout(rt, connecting).await.expect("handshake");
        clients.push((endpoint, conn));
    }
    clients
}

/// A server whose shards each run on a tokio runtime of their own thread:
/// when the runtime of the shard holding the connection shuts down, its
/// socket closes, the client's datagrams reach the other shard, and that
/// shard's stateless reset ends the connection at once (RFC 9000 §10.3):
/// the shards share the reset key.
#[test]
fn a_stateless_reset_from_another_shard_ends_the_connection_of_a_shard_that_is_gone() {
    let mut threads = Vec::new();
    let mut runtimes: Vec<Arc<dyn tern::Runtime>> = Vec::new();
    for _ in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtimes.push(Arc::new(tern::TokioRuntime::new(runtime.handle().clone())));
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let _ = runtime.block_on(stopped);
            // Dropping the runtime drops the shard's event loop with it.
        });
        threads.push((stop, thread));
    }
    let test = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    test.block_on(async move {
        let rt = Rt(Arc::new(tern::TokioRuntime::new(
            tokio::runtime::Handle::current(),
        )));
        let (server, client, _) = sharded_server(&rt, runtimes);
        let pair = support::Pair {
            server: server.clone(),
            client,
        };
        let (conn, _served) = support::connected(&rt, &pair).await;
        let owner = server
            .shard_stats()
            .iter()
            .position(|s| s.connections == 1)
            .expect("a shard holds the connection");
        let (stop, thread) = threads.swap_remove(owner);
        stop.send(()).unwrap();
        thread.join().unwrap();
        // The client writes: a datagram large enough to be answered with
        // a reset, which only a shard that knows the key could make valid.
        let mut send = conn.open_uni().await.unwrap();
        send.write_all(&[7; 1000]).await.unwrap();
        let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("closed within 5 s, long before the 30 s idle timeout");
        assert_eq!(closed, ConnectionError::Reset);
        assert_eq!(server.shard_stats()[1 - owner].connections, 0);
        drop(server);
        let (stop, thread) = threads.pop().unwrap();
        let _ = stop.send(());
        thread.join().unwrap();
    });
}

/// `server_multicore`: shards on threads of their own serve clients.
#[test]
fn server_multicore_serves_from_threads_of_its_own() {
    let test = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    test.block_on(async {
        let rt = Rt(Arc::new(tern::TokioRuntime::new(
            tokio::runtime::Handle::current(),
        )));
        let (server_config, client_config) = server_config();
        let server =
            Endpoint::server_multicore(server_config, "127.0.0.1:0".parse().unwrap(), 2).unwrap();
        assert_eq!(server.shard_count(), 2);
        let client = Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        client.set_default_client_config(client_config);
        let pair = support::Pair { server, client };
        for _ in 0..4 {
            let echo = {
                let (conn, served) = support::connected(&rt, &pair).await;
                let echo = support::echo_one_stream(&rt, served);
                support::round_trip(&rt, &conn, b"hello from a shard").await;
                echo
            };
            timeout(&rt, echo).await.expect("echo");
        }
    });
}
