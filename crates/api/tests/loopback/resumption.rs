//! The ready-made configurations resume: the client endpoint's
//! connections share one ticket store, and the server keeps sessions for
//! resumption and 0-RTT: `Connecting::into_0rtt` sends a request in
//! 0-RTT, the server sees which streams came so, and both sides say the
//! outcome.

use tern::{Endpoint, proto::EarlyData};

use crate::{
    on_both_runtimes,
    support::{Rt, connected, pair, timeout},
};

on_both_runtimes!(
    a_second_connection_of_an_endpoint_resumes_with_0rtt_allowed,
    a_second_connection_sends_its_request_in_0rtt,
);

async fn a_second_connection_of_an_endpoint_resumes_with_0rtt_allowed(rt: Rt) {
    let pair = pair(&rt);
    let (first, first_served) = connected(&rt, &pair).await;
    let info = timeout(&rt, first.handshake_info()).await.unwrap();
    assert!(!info.resumed());
    // The tickets arrive after the handshake, in 1-RTT.
    rt.sleep(std::time::Duration::from_millis(200)).await;
    drop((first, first_served));
    let (second, served) = connected(&rt, &pair).await;
    let client = timeout(&rt, second.handshake_info()).await.unwrap();
    let server = timeout(&rt, served.handshake_info()).await.unwrap();
    assert!(client.resumed() && server.resumed());
    // TLS offered and accepted early data, but none was sent.
    assert_eq!(client.early_data(), EarlyData::NotAttempted);
    assert_eq!(server.early_data(), EarlyData::NotAttempted);
}

/// Serves two connections: each answers one stream with "ok:", whether
/// its request came in 0-RTT, and the request, as soon as it arrives
/// (before the handshake completes when it came in 0-RTT). The second
/// client is accepted only once `written` fires, which the client does
/// once a 0-RTT packet has left: its request is then on the wire before
/// the server answers at all (the endpoint holds a client's datagrams
/// until it is accepted), however the runtime schedules the tasks. A
/// client that only queued its request could otherwise read the server's
/// whole flight first and send the request in 1-RTT, as it should then.
fn serve(rt: &Rt, server: &Endpoint, written: futures::channel::oneshot::Receiver<()>) {
    let server = server.clone();
    let _task = rt.spawn(async move {
        let mut written = Some(written);
        for n in 0..2 {
            let incoming = server.accept().await.expect("incoming");
            if n == 1
                && let Some(written) = written.take()
            {
                written.await.expect("the client wrote its request");
            }
            let connecting = incoming.accept().expect("accept");
            let conn = connecting
                .into_0rtt()
                .expect("a server can always answer early");
            let (mut send, mut recv) = conn.accept_bi().await.expect("accept stream");
            let zero_rtt = recv.is_0rtt();
            let request = recv.read_to_end(100).await.expect("request");
            let answer = format!("ok:{zero_rtt}:{}", String::from_utf8_lossy(&request));
            send.write_all(answer.as_bytes()).await.expect("write");
            send.finish().expect("finish");
            let _ = conn.closed().await;
        }
    });
}

async fn a_second_connection_sends_its_request_in_0rtt(rt: Rt) {
    let pair = pair(&rt);
    let (written, gate) = futures::channel::oneshot::channel();
    serve(&rt, &pair.server, gate);
    let addr = pair.server.local_addr().expect("server address");

    // The first connection: a full handshake, which leaves a ticket.
    let connecting = pair.client.connect(addr, "localhost").expect("connect");
    let first = timeout(&rt, connecting).await.expect("handshake");
    let (mut send, mut recv) = first.open_bi().await.expect("open");
    send.write_all(b"GET /first").await.expect("write");
    send.finish().expect("finish");
    let answer = timeout(&rt, recv.read_to_end(100)).await.expect("answer");
    assert_eq!(answer, b"ok:false:GET /first");
    assert!(!first.zero_rtt_accepted().await);
    let info = first.handshake_info().await.expect("info");
    assert!(!info.resumed());
    // The tickets follow the handshake in 1-RTT.
    rt.sleep(std::time::Duration::from_millis(200)).await;
    first.close(tern::VarInt::from_u32(0), b"");

    // The second: resumed, its request in 0-RTT.
    let connecting = pair.client.connect(addr, "localhost").expect("connect");
    let conn = connecting
        .into_0rtt()
        .unwrap_or_else(|_| panic!("the ticket allows 0-RTT"));
    let (mut send, mut recv) = conn.open_bi().await.expect("open in 0-RTT");
    send.write_all(b"GET /second").await.expect("write");
    send.finish().expect("finish");
    // Only the request goes in 0-RTT, so a 0-RTT packet sent means the
    // request left.
    timeout(&rt, async {
        while conn.stats().zero_rtt_packets_sent == 0 {
            rt.sleep(std::time::Duration::from_millis(1)).await;
        }
    })
    .await;
    written.send(()).expect("the server waits");
    let answer = timeout(&rt, recv.read_to_end(100)).await.expect("answer");
    assert_eq!(answer, b"ok:true:GET /second", "the server saw 0-RTT data");
    assert!(timeout(&rt, conn.zero_rtt_accepted()).await);
    let info = conn.handshake_info().await.expect("info");
    assert!(info.resumed());
    assert_eq!(info.early_data(), tern::EarlyData::Accepted);
    assert!(conn.stats().zero_rtt_packets_sent > 0);
}
