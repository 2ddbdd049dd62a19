//! Streams through the public API: echo on many streams, a large transfer.

use std::hash::{DefaultHasher, Hasher};

use bytes::Bytes;

use crate::support::{self, Rt, pair, timeout};

crate::on_both_runtimes!(echo_over_many_streams, a_1_gib_transfer_arrives_intact);

async fn echo_over_many_streams(rt: Rt) {
    let pair = pair(&rt);
    let server = pair.server.clone();
    let spawner = rt.clone();
    let _server_task = rt.spawn(async move {
        let incoming = server.accept().await.expect("incoming");
        let conn = incoming.accept().expect("accept").into_connection();
        while let Ok((mut send, mut recv)) = conn.accept_bi().await {
            let _echo = spawner.spawn(async move {
                let data = recv.read_to_end(1 << 20).await.expect("read");
                send.write_all(&data).await.expect("write");
                send.finish().expect("finish");
            });
        }
    });
    let conn = timeout(
        &rt,
        pair.client
            .connect(pair.server.local_addr().unwrap(), "localhost")
            .unwrap(),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50_usize {
        let conn = conn.clone();
        tasks.push(rt.spawn(async move {
            let (mut send, mut recv) = conn.open_bi().await.expect("open");
            let message = format!("message {i}").repeat(i + 1);
            send.write_all(message.as_bytes()).await.expect("write");
            send.finish().expect("finish");
            let echoed = recv.read_to_end(1 << 20).await.expect("read");
            assert_eq!(echoed, message.as_bytes());
        }));
    }
    for task in tasks {
        timeout(&rt, task).await.expect("echo task");
    }
}

async fn a_1_gib_transfer_arrives_intact(rt: Rt) {
    let pair = pair(&rt);
    let (conn, incoming) = support::connected(&rt, &pair).await;
    let total: usize = 1 << 30;
    let reader = rt.spawn(async move {
        let mut recv = incoming.accept_uni().await.unwrap();
        let mut hasher = DefaultHasher::new();
        let mut received = 0;
        while let Some(chunk) = recv.read_chunk(usize::MAX).await.unwrap() {
            hasher.write(&chunk);
            received += chunk.len();
        }
        (received, hasher.finish())
    });
    let mut send = conn.open_uni().await.unwrap();
    let pattern: Bytes = (0..1024 * 1024_u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect::<Vec<_>>()
        .into();
    let mut hasher = DefaultHasher::new();
    let mut sent = 0;
    while sent < total {
        send.write_chunk(pattern.clone()).await.unwrap();
        hasher.write(&pattern);
        sent += pattern.len();
    }
    send.finish().unwrap();
    let (received, digest) = timeout(&rt, reader).await.unwrap();
    assert_eq!(received, total);
    assert_eq!(
        digest,
        hasher.finish(),
        "the bytes arrived intact and in order"
    );
}
