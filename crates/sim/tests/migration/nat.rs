//! NAT rebindings: the client's address changes under it, its endpoint
//! none the wiser, and the server follows (RFC 9000 §9.3).

use std::{sync::Arc, time::Duration};

use tern_proto::{
    Dir,
    config::{EndpointConfig, TransportConfig},
    connection::ConnectionStats,
    recovery::DEFAULT_INITIAL_RTT,
};
use tern_sim::{
    LinkConfig,
    pair::{CLIENT, Pair},
    quic::CLIENT_ADDR,
    transfer::{TransferReport, TransferRun},
};

/// 100 Mbit/s each way, 20 ms RTT, a queue of one bandwidth-delay product.
fn link() -> LinkConfig {
    LinkConfig::default()
        .delay(Duration::from_millis(10))
        .bandwidth(100_000_000)
        .queue_limit(250_000)
}

fn server_stats(report: &TransferReport) -> ConnectionStats {
    report.server_stats.expect("the server connection is there")
}

// RFC 9000 §9.3 (test): a NAT that rebinds the client every 250 ms during a
// 50 MB transfer each way: the server follows each move, validates the new
// path, and both transfers complete intact. The NAT's old mappings still
// deliver for a while, as a real NAT's do: when the upload is over, the
// client speaks only to acknowledge, so without them nothing would tell
// it that the server's packets stopped reaching it.
#[test]
fn a_transfer_both_ways_survives_a_nat_rebinding_every_250_ms() {
    let mut run = TransferRun::new(17, link(), 50_000_000, 4);
    run.both_ways = true;
    run.old_mappings_live = true;
    run.rebind_every = Some(Duration::from_millis(250));
    run.time_limit = Duration::from_secs(120);
    let report = run.run();
    assert!(report.completed && report.intact, "{report:?}");
    assert_eq!(report.received, 50_000_000);
    assert_eq!(report.received_back, 50_000_000);
    assert!(report.rebinds >= 10, "{} rebindings", report.rebinds);
    let server = server_stats(&report);
    eprintln!(
        "50 MB each way, a NAT rebinding every 250 ms: {} rebindings, {} moves, {} paths \
         validated, {} failed, transfer {:?} of sim time ({:.1} Mbit/s up)",
        report.rebinds,
        server.migrations,
        server.paths_validated,
        server.path_validations_failed,
        report.transfer_time,
        report.goodput_mbps
    );
    // Every rebinding the client sent through moved the server; a few
    // moves can come back to an address validated just before.
    assert!(
        server.migrations >= report.rebinds,
        "{} moves for {} rebindings",
        server.migrations,
        report.rebinds
    );
    assert!(
        server.paths_validated >= report.rebinds * 9 / 10,
        "{} paths validated for {} rebindings: {server:?}",
        server.paths_validated,
        report.rebinds
    );
}

// RFC 9000 §9.3 (test): an upload through a NAT whose rebindings change the
// client's IP address every 250 ms, and whose old mappings die at once:
// what the server sent to the old address is lost, and its
// acknowledgments, which the client keeps sending, carry the server to
// the new one.
#[test]
fn an_upload_survives_address_changes_every_250_ms() {
    let mut run = TransferRun::new(18, link(), 20_000_000, 2);
    run.rebind_every = Some(Duration::from_millis(250));
    run.rebind_address = true;
    run.time_limit = Duration::from_secs(120);
    let report = run.run();
    assert!(report.completed && report.intact, "{report:?}");
    assert!(report.rebinds >= 5, "{} rebindings", report.rebinds);
    let server = server_stats(&report);
    // The last rebinding can come after the client's last packet.
    assert!(
        server.migrations + 1 >= report.rebinds,
        "{} moves for {} rebindings: {report:?}",
        server.migrations,
        report.rebinds
    );
}

/// A pair connected over [`link`], with some data sent from the server to
/// the client so that the server's window has grown past its initial one.
fn warmed_pair(seed: u64) -> (Pair, ConnectionStats) {
    let mut pair = Pair::new(
        seed,
        link(),
        TransportConfig::default(),
        EndpointConfig::default(),
    );
    assert!(pair.connect(Duration::from_secs(5)));
    let initial = pair
        .view()
        .server()
        .expect("server")
        .stats()
        .congestion_window;
    let stream = pair
        .view()
        .server_mut()
        .expect("server")
        .open_stream(Dir::Uni)
        .expect("a stream");
    let chunk = bytes::Bytes::from(vec![7u8; 64 * 1024]);
    let mut read = 0;
    let mut incoming = None;
    let outcome = pair.run_until(Duration::from_secs(10), |view| {
        let server = view.server_mut().expect("server");
        while matches!(server.write_stream(stream, chunk.clone()), Ok(n) if n > 0) {}
        let client = view.client_mut().expect("client");
        if incoming.is_none() {
            incoming = client.accept_stream(Dir::Uni);
        }
        if let Some(id) = incoming {
            while let Ok(Some(chunk)) = client.read_stream(id, usize::MAX, true) {
                read += chunk.bytes.len();
            }
        }
        read >= 1_000_000
    });
    assert!(outcome.is_satisfied());
    let stats = pair.view().server().expect("server").stats();
    assert!(
        stats.congestion_window > initial * 2,
        "the window grew: {} from {initial}",
        stats.congestion_window
    );
    assert!(stats.rtt < Duration::from_millis(100), "{:?}", stats.rtt);
    (pair, stats)
}

/// Rebinds the client to `to` and runs until the server moved there.
fn move_client(pair: &mut Pair, to: std::net::SocketAddr) -> ConnectionStats {
    pair.sim.rebind(CLIENT, to);
    // The client sends stream data, which is not a probing frame: the
    // server follows it.
    let mut view = pair.view();
    let client = view.client_mut().expect("client");
    let stream = client.open_stream(Dir::Uni).expect("a stream");
    client
        .write_stream(stream, bytes::Bytes::from_static(b"moved"))
        .expect("written");
    let outcome = pair.run_until(Duration::from_secs(2), |view| {
        view.server().is_some_and(|s| s.stats().migrations > 0)
    });
    assert!(outcome.is_satisfied(), "the server followed the client");
    let view = pair.view();
    let server = view.server().expect("server");
    assert_eq!(server.remote_address(), to);
    server.stats()
}

// RFC 9000 §9.4 (test): a move to a new IP address starts congestion
// control and the RTT estimate again.
#[test]
fn a_new_ip_address_resets_congestion_state_and_rtt() {
    let (mut pair, before) = warmed_pair(21);
    let to = std::net::SocketAddr::new([127, 0, 0, 77].into(), CLIENT_ADDR.port());
    let after = move_client(&mut pair, to);
    assert!(
        after.congestion_window < before.congestion_window / 2,
        "window {} after, {} before",
        after.congestion_window,
        before.congestion_window
    );
    assert_eq!(after.rtt, DEFAULT_INITIAL_RTT, "the estimate starts again");
}

// RFC 9000 §9.4 (test): a change of port only, as a NAT rebinding makes,
// keeps congestion control and the RTT estimate.
#[test]
fn a_port_only_change_keeps_congestion_state_and_rtt() {
    let (mut pair, before) = warmed_pair(22);
    let to = std::net::SocketAddr::new(CLIENT_ADDR.ip(), CLIENT_ADDR.port() + 1);
    let after = move_client(&mut pair, to);
    assert!(
        after.congestion_window >= before.congestion_window / 2,
        "window {} after, {} before",
        after.congestion_window,
        before.congestion_window
    );
    assert!(after.rtt < Duration::from_millis(100), "{:?}", after.rtt);
}

// RFC 9000 §9.3, §8.2 (test): `handshake_info()` is the same snapshot
// before and after a move, on both sides, and the server's path shows the
// new address once validated.
#[test]
fn the_handshake_snapshot_is_the_same_arc_before_and_after_a_move() {
    let (mut pair, _) = warmed_pair(23);
    let server_info = pair
        .view()
        .server()
        .and_then(|s| s.handshake_info().cloned());
    let client_info = pair
        .view()
        .client()
        .and_then(|c| c.handshake_info().cloned());
    let to = std::net::SocketAddr::new(CLIENT_ADDR.ip(), CLIENT_ADDR.port() + 7);
    move_client(&mut pair, to);
    let outcome = pair.run_until(Duration::from_secs(2), |view| {
        view.server().is_some_and(|s| s.stats().paths_validated > 0)
    });
    assert!(outcome.is_satisfied(), "the new path was validated");
    let view = pair.view();
    let server = view.server().expect("server");
    assert!(!server.tls_state_retained(), "the server freed its session");
    assert!(Arc::ptr_eq(
        server.handshake_info().expect("server snapshot"),
        server_info.as_ref().expect("taken before")
    ));
    let view = pair.view();
    let client = view.client().expect("client");
    assert!(Arc::ptr_eq(
        client.handshake_info().expect("client snapshot"),
        client_info.as_ref().expect("taken before")
    ));
}
