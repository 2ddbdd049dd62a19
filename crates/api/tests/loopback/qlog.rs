//! `tern::qlog::QlogDir` over real sockets: both ends of a connection
//! write their trace to `<odcid>_<side>.sqlog`, complete once the
//! connection is gone.

use std::{sync::Arc, time::Duration};

use tern::{TransportConfig, VarInt, qlog::QlogDir};

use crate::support::{Rt, connected, pair_with, timeout};

crate::on_both_runtimes!(qlog_dir_holds_a_complete_trace_per_side);

async fn qlog_dir_holds_a_complete_trace_per_side(rt: Rt) {
    let dir = std::env::temp_dir().join(format!(
        "tern-qlog-loopback-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let transport = TransportConfig {
        qlog: Some(Arc::new(QlogDir::new(&dir).unwrap())),
        ..TransportConfig::default()
    };
    let pair = pair_with(&rt, transport);
    let (conn, incoming) = connected(&rt, &pair).await;
    let (mut send, _recv) = timeout(&rt, conn.open_bi()).await.unwrap();
    send.write_all(b"traced").await.unwrap();
    send.finish().unwrap();
    let (_send, mut recv) = timeout(&rt, incoming.accept_bi()).await.unwrap();
    assert_eq!(timeout(&rt, recv.read_to_end(64)).await.unwrap(), b"traced");
    conn.close(VarInt::from_u32(0), b"done");
    drop((conn, incoming, send, recv));
    rt.sleep(Duration::from_millis(10)).await;
    timeout(&rt, pair.client.wait_idle()).await;
    timeout(&rt, pair.server.wait_idle()).await;

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    let odcid = names[0]
        .strip_suffix("_client.sqlog")
        .expect("a client trace");
    assert_eq!(names[1], format!("{odcid}_server.sqlog"));
    for (name, vantage) in names.iter().zip(["client", "server"]) {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let records: Vec<serde_json::Value> = bytes
            .split(|&b| b == 0x1e)
            .skip(1)
            .map(|r| serde_json::from_slice(r).unwrap())
            .collect();
        assert_eq!(records[0]["trace"]["vantage_point"]["type"], vantage);
        assert_eq!(records[0]["trace"]["common_fields"]["ODCID"], odcid);
        // Flushed to the end: the close is in the file.
        assert!(
            records
                .iter()
                .any(|r| r["name"] == "quic:connection_closed"),
            "{vantage}: no connection_closed"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
