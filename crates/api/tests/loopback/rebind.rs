//! `Endpoint::rebind` over real sockets: a client's endpoint moves to a
//! new socket in the middle of a transfer, in each direction; the transfer
//! completes intact, and the server follows the client to its new address
//! (RFC 9000 §9).

use std::{
    hash::{DefaultHasher, Hasher},
    net::UdpSocket,
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use futures::channel::oneshot;
use tern::{RecvStream, SendStream, TransportConfig, VarInt, proto::streams::StreamsConfig};

use crate::support::{self, Rt, pair_with, timeout};

crate::on_both_runtimes!(
    a_download_goes_on_after_the_client_rebinds_its_socket,
    an_upload_goes_on_after_the_client_rebinds_its_socket,
    an_idle_connection_moves_with_its_endpoint_to_a_wildcard_socket,
);

/// Bytes moved on the stream.
const TOTAL: usize = 8 << 20;
/// Bytes read when the client rebinds.
const REBIND_AT: usize = TOTAL / 4;

/// Stream windows capped at 512 KiB, so that the sender is never far ahead
/// of the reader: most of the transfer crosses the new path.
fn capped_windows() -> TransportConfig {
    TransportConfig {
        streams: StreamsConfig {
            max_stream_receive_window: 512 * 1024,
            max_receive_window: 1024 * 1024,
            ..StreamsConfig::default()
        },
        ..TransportConfig::default()
    }
}

async fn a_download_goes_on_after_the_client_rebinds_its_socket(rt: Rt) {
    rebind_in_the_middle_of_a_transfer(&rt, Direction::Download).await;
}

async fn an_upload_goes_on_after_the_client_rebinds_its_socket(rt: Rt) {
    rebind_in_the_middle_of_a_transfer(&rt, Direction::Upload).await;
}

async fn an_idle_connection_moves_with_its_endpoint_to_a_wildcard_socket(rt: Rt) {
    let pair = support::pair(&rt);
    let (conn, served) = support::connected(&rt, &pair).await;
    // A round trip first: the server's answer comes after its
    // HANDSHAKE_DONE, so the client's handshake is confirmed when it moves
    // (RFC 9000 §9: no migration before that).
    let echo = support::echo_one_stream(&rt, served.clone());
    support::round_trip(&rt, &conn, b"from the old socket").await;
    timeout(&rt, echo).await.expect("echo");
    // Then quiet, with no timer left to wake the event loop soon: only the
    // rebinding can make the client send (the idle timeout is 30 s).
    rt.sleep(Duration::from_secs(1)).await;
    let echo = support::echo_one_stream(&rt, served.clone());
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();
    let new = socket.local_addr().unwrap();
    pair.client.rebind(socket).expect("rebind");
    assert_eq!(pair.client.local_addr().unwrap(), new);
    // Nothing else happens on the connection: the rebinding alone sends
    // from the new socket, and the server follows.
    eventually(&rt, || served.stats().paths_validated >= 1).await;
    let seen = served.remote_address().unwrap();
    assert_eq!(seen.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_eq!(seen.port(), new.port());
    support::round_trip(&rt, &conn, b"from the new socket").await;
    timeout(&rt, echo).await.expect("echo");
}

#[derive(Clone, Copy)]
enum Direction {
    /// The server sends, the client reads.
    Download,
    /// The client sends, the server reads.
    Upload,
}

async fn rebind_in_the_middle_of_a_transfer(rt: &Rt, direction: Direction) {
    let pair = pair_with(rt, capped_windows());
    let (conn, served) = support::connected(rt, &pair).await;
    let client_info = timeout(rt, conn.handshake_info()).await.unwrap();
    let server_info = timeout(rt, served.handshake_info()).await.unwrap();
    let (sender, reader) = match direction {
        Direction::Download => (served.clone(), conn.clone()),
        Direction::Upload => (conn.clone(), served.clone()),
    };
    let (reached, reached_rx) = oneshot::channel();
    let (resume, resume_rx) = oneshot::channel();
    let writer = rt.spawn(async move {
        let send = sender.open_uni().await.expect("open");
        write_pattern(send, TOTAL).await
    });
    let reader = rt.spawn(async move {
        let recv = reader.accept_uni().await.expect("accept");
        read_pausing(recv, reached, resume_rx).await
    });

    // The reader holds a quarter of the bytes, and waits: flow control
    // holds the sender back meanwhile.
    let read_so_far = timeout(rt, reached_rx).await.expect("a quarter read");
    assert!(read_so_far < TOTAL, "the transfer is under way");
    let old = pair.client.local_addr().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let new = socket.local_addr().unwrap();
    pair.client.rebind(socket).expect("rebind");
    assert_eq!(pair.client.local_addr().unwrap(), new);
    // The old socket is closed: its port can be bound again.
    drop(UdpSocket::bind(old).expect("the old port is free"));
    resume.send(()).unwrap();

    let sent_digest = timeout(rt, writer).await.expect("writer");
    let (received, digest) = timeout(rt, reader).await.expect("reader");
    assert_eq!(received, TOTAL);
    assert_eq!(digest, sent_digest, "the bytes arrived intact and in order");

    // The server moved to the client's new address and validated it.
    eventually(rt, || {
        let stats = served.stats();
        stats.migrations >= 1 && stats.paths_validated >= 1
    })
    .await;
    assert_eq!(served.remote_address(), Some(new));
    assert!(conn.stats().migrations >= 1, "{:?}", conn.stats());
    assert_eq!(
        conn.remote_address(),
        Some(pair.server.local_addr().unwrap())
    );
    // The handshake information is the one captured at the handshake.
    assert!(Arc::ptr_eq(
        &client_info,
        &timeout(rt, conn.handshake_info()).await.unwrap()
    ));
    assert!(Arc::ptr_eq(
        &server_info,
        &timeout(rt, served.handshake_info()).await.unwrap()
    ));
    // Closed and drained, the server's connection still says where its
    // client was last, not where the handshake found it.
    conn.close(VarInt::from_u32(0), b"done");
    eventually(rt, || pair.server.open_connections() == 0).await;
    assert_eq!(served.remote_address(), Some(new));
}

/// Writes `total` bytes of a pattern and finishes the stream; returns
/// their digest.
pub(crate) async fn write_pattern(mut send: SendStream, total: usize) -> u64 {
    let pattern: Bytes = (0..64 * 1024_u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect::<Vec<_>>()
        .into();
    let mut hasher = DefaultHasher::new();
    let mut sent = 0;
    while sent < total {
        send.write_chunk(pattern.clone()).await.expect("write");
        hasher.write(&pattern);
        sent += pattern.len();
    }
    send.finish().expect("finish");
    hasher.finish()
}

/// Reads the stream to its end; once past [`REBIND_AT`] bytes it says how
/// many on `reached` and reads no more until `resume` fires. Returns the
/// bytes read and their digest.
async fn read_pausing(
    mut recv: RecvStream,
    reached: oneshot::Sender<usize>,
    resume: oneshot::Receiver<()>,
) -> (usize, u64) {
    let mut pause = Some((reached, resume));
    let mut hasher = DefaultHasher::new();
    let mut received = 0;
    while let Some(chunk) = recv.read_chunk(usize::MAX).await.expect("read") {
        hasher.write(&chunk);
        received += chunk.len();
        if received >= REBIND_AT
            && let Some((reached, resume)) = pause.take()
        {
            reached.send(received).unwrap();
            resume.await.expect("resumed");
        }
    }
    (received, hasher.finish())
}

/// Waits until `done` holds, checking every 10 ms (within the suite's
/// timeout, which only guards against a hang).
async fn eventually(rt: &Rt, mut done: impl FnMut() -> bool) {
    timeout(rt, async {
        while !done() {
            rt.sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}
