//! `Connection::migrate` over real sockets: a client on a wildcard socket
//! validates a path from a second loopback address, then moves there, and
//! the server follows (RFC 9000 §8.2, §9.2).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    time::Duration,
};

use tern::MigrateError;

use crate::support::{self, Rt, timeout};

crate::on_both_runtimes!(a_client_on_a_wildcard_socket_moves_to_a_second_local_address);

/// The second address: Linux answers for all of 127.0.0.0/8 on loopback.
const SECOND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

async fn a_client_on_a_wildcard_socket_moves_to_a_second_local_address(rt: Rt) {
    let pair = support::pair(&rt);
    let (conn, served) = support::connected(&rt, &pair).await;
    let echo = support::echo_one_stream(&rt, served.clone());
    support::round_trip(&rt, &conn, b"from the first address").await;
    timeout(&rt, echo).await.expect("echo");
    // Bound to one address, the socket cannot send from another.
    assert_eq!(conn.migrate(SECOND), Err(MigrateError::BoundToOneAddress));
    // A wildcard socket can: the client moves to one first.
    let socket = UdpSocket::bind("0.0.0.0:0").expect("a wildcard socket");
    let port = socket.local_addr().expect("its address").port();
    pair.client.rebind(socket).expect("rebind");
    eventually(&rt, || served.stats().paths_validated >= 1).await;

    conn.migrate(SECOND).expect("a new path opens");
    let moved = SocketAddr::new(SECOND, port);
    // The server follows at once and validates the new path after: both
    // may take a moment more than the client's own validation.
    eventually(&rt, || {
        conn.stats().paths_validated >= 1
            && served.remote_address() == Some(moved)
            && served.stats().paths_validated >= 2
    })
    .await;
    assert_eq!(conn.local_ip(), Some(SECOND));
    let echo = support::echo_one_stream(&rt, served.clone());
    support::round_trip(&rt, &conn, b"from the second address").await;
    timeout(&rt, echo).await.expect("echo");
}

/// Waits until `done` holds, checking every 10 ms; the test's timeout
/// guards against a hang.
async fn eventually(rt: &Rt, mut done: impl FnMut() -> bool) {
    timeout(rt, async {
        while !done() {
            rt.sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
