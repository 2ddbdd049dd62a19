//! What the loopback suite shares: runtimes, endpoint pairs, timeouts.

use std::{future::Future, sync::Arc, time::Duration};

use tern::{ClientConfig, Endpoint, EndpointConfig, ServerConfig, TransportConfig, tls};
use tern_endpoint::{Runtime, SmolRuntime, TokioRuntime};

pub(crate) const ALPN: &[u8] = b"test";

/// The runtime a test runs on.
#[derive(Clone)]
pub(crate) struct Rt(pub(crate) Arc<dyn Runtime>);

impl Rt {
    /// Runs `future` as a task; the receiver yields its output.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> futures::channel::oneshot::Receiver<T> {
        let (tx, rx) = futures::channel::oneshot::channel();
        self.0.spawn(Box::pin(async move {
            let _ = tx.send(future.await);
        }));
        rx
    }

    pub(crate) async fn sleep(&self, duration: Duration) {
        let mut timer = self.0.new_timer(self.0.now() + duration);
        std::future::poll_fn(|cx| timer.as_mut().poll(cx)).await;
    }
}

/// Fails the test if `future` takes longer than 60 s.
pub(crate) async fn timeout<T>(rt: &Rt, future: impl Future<Output = T>) -> T {
    let mut timer = rt.0.new_timer(rt.0.now() + Duration::from_secs(60));
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(value);
        }
        if timer.as_mut().poll(cx).is_ready() {
            panic!("timed out after 60 s");
        }
        std::task::Poll::Pending
    })
    .await
}

type TestFn<F> = fn(Rt) -> F;

pub(crate) fn run_tokio<F: Future<Output = ()> + Send + 'static>(test: TestFn<F>) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2);
    run_tokio_on(builder, test);
}

pub(crate) fn run_tokio_current_thread<F: Future<Output = ()> + 'static>(test: TestFn<F>) {
    run_tokio_on(tokio::runtime::Builder::new_current_thread(), test);
}

fn run_tokio_on<F: Future<Output = ()>>(mut builder: tokio::runtime::Builder, test: TestFn<F>) {
    let runtime = builder.enable_all().build().expect("tokio");
    runtime.block_on(async move {
        let rt = Rt(Arc::new(TokioRuntime::new(
            tokio::runtime::Handle::current(),
        )));
        test(rt).await;
    });
}

pub(crate) fn run_smol<F: Future<Output = ()> + Send + 'static>(test: TestFn<F>) {
    let rt = Rt(Arc::new(SmolRuntime::new()));
    smol::block_on(test(rt));
}

/// A certificate and key for "localhost".
pub(crate) fn cert() -> (
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    (cert.cert.der().clone(), key)
}

/// A server endpoint and a client endpoint that trusts it.
pub(crate) struct Pair {
    pub(crate) server: Endpoint,
    pub(crate) client: Endpoint,
}

/// Connects the pair's client to its server: the client's connection,
/// then the server's.
pub(crate) async fn connected(rt: &Rt, pair: &Pair) -> (tern::Connection, tern::Connection) {
    let addr = pair.server.local_addr().expect("server address");
    let server = pair.server.clone();
    let accepting = rt.spawn(async move {
        let incoming = server.accept().await.expect("incoming");
        incoming.accept().expect("accept").await
    });
    let conn = timeout(rt, pair.client.connect(addr, "localhost").expect("connect"))
        .await
        .expect("handshake");
    let served = timeout(rt, accepting)
        .await
        .expect("server task")
        .expect("server handshake");
    (conn, served)
}

/// Echoes the next bidirectional stream the peer opens on `conn` (up to
/// 100 bytes); the task yields the connection back.
pub(crate) fn echo_one_stream(
    rt: &Rt,
    conn: tern::Connection,
) -> futures::channel::oneshot::Receiver<tern::Connection> {
    rt.spawn(async move {
        let (mut send, mut recv) = conn.accept_bi().await.expect("accept");
        let data = recv.read_to_end(100).await.expect("read");
        send.write_all(&data).await.expect("write");
        send.finish().expect("finish");
        conn
    })
}

/// Sends `message` on a new stream of `conn` and checks that it comes back.
pub(crate) async fn round_trip(rt: &Rt, conn: &tern::Connection, message: &[u8]) {
    let (mut send, mut recv) = conn.open_bi().await.expect("open");
    send.write_all(message).await.expect("write");
    send.finish().expect("finish");
    assert_eq!(
        timeout(rt, recv.read_to_end(100)).await.expect("echo"),
        message
    );
}

/// Accepts every incoming connection of `server`, in a task that holds
/// them for as long as the endpoint takes connections.
pub(crate) fn accept_every(rt: &Rt, server: &Endpoint) {
    let server = server.clone();
    let _task = rt.spawn(async move {
        let mut held = Vec::new();
        while let Some(incoming) = server.accept().await {
            if let Ok(connecting) = incoming.accept() {
                held.push(connecting.into_connection());
            }
        }
    });
}

pub(crate) fn pair(rt: &Rt) -> Pair {
    pair_with(rt, TransportConfig::default())
}

pub(crate) fn pair_with(rt: &Rt, transport: TransportConfig) -> Pair {
    pair_with_server(rt, transport, |_| {})
}

/// A pair whose server configuration `server` adjusts.
pub(crate) fn pair_with_server(
    rt: &Rt,
    transport: TransportConfig,
    server: impl FnOnce(&mut ServerConfig),
) -> Pair {
    let (cert, key) = cert();
    let transport = Arc::new(transport);
    let mut server_config: ServerConfig =
        tls::server_config(vec![cert.clone()], key, &[ALPN]).expect("server config");
    server_config.transport = transport.clone();
    server(&mut server_config);
    let addr = "127.0.0.1:0".parse().expect("addr");
    let server = Endpoint::new_with_runtime(
        EndpointConfig::default(),
        Some(server_config),
        addr,
        rt.0.clone(),
    )
    .expect("server");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = Endpoint::new_with_runtime(EndpointConfig::default(), None, addr, rt.0.clone())
        .expect("client");
    let mut client_config: ClientConfig =
        tls::client_config(roots, &[ALPN]).expect("client config");
    client_config.transport = transport;
    client.set_default_client_config(client_config);
    Pair { server, client }
}

pub(crate) fn client_trusting_another_certificate() -> ClientConfig {
    let (other, _) = cert();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(other).expect("root");
    tls::client_config(roots, &[ALPN]).expect("client config")
}
