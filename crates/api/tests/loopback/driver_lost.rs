//! A runtime that shuts down under its endpoint: waiters on other
//! executors wake with an error instead of hanging, and the endpoint
//! refuses what needs its event loop.

use std::{sync::Arc, time::Duration};

use tern::{ConnectionError, Runtime, TokioRuntime};

use crate::support::{Rt, connected, pair};

#[test]
fn waiters_on_other_executors_wake_when_the_drivers_runtime_shuts_down() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let runtime: Arc<dyn Runtime> = Arc::new(TokioRuntime::new(tokio.handle().clone()));
    let rt = Rt(runtime);
    let pair = pair(&rt);
    let (conn, served) = tokio.block_on(connected(&rt, &pair));
    // Tasks on another executor wait on both ends.
    let accepting = smol::spawn(async move { served.accept_bi().await.err() });
    let closing = smol::spawn(async move { conn.closed().await });
    // The runtime goes, and with it the event loops' tasks.
    drop(tokio);
    let accepted = smol::block_on(smol::future::or(accepting, within("accept_bi")));
    assert_eq!(accepted, Some(ConnectionError::EndpointStopped));
    let closed = smol::block_on(smol::future::or(closing, within("closed")));
    assert_eq!(closed, ConnectionError::EndpointStopped);
    // The endpoints say so too, and take nothing new.
    assert!(
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .is_err()
    );
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let error = pair.client.rebind(socket).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::NotConnected, "{error}");
}

/// Panics if it is polled after 10 s: the bound on a waiter that must wake.
async fn within<T>(what: &'static str) -> T {
    smol::Timer::after(Duration::from_secs(10)).await;
    panic!("{what} still waits after 10 s");
}
