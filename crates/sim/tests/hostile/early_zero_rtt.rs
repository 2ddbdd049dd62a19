//! A flood of 0-RTT datagrams to made-up connection IDs, which a server
//! that accepts 0-RTT holds for a while in case their Initial follows
//! (RFC 9000 §5.2.2): what it holds stays within its bound, and an honest
//! client beside the flood connects.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tern_proto::config::{ClientConfig, EndpointConfig, ServerConfig};
use tern_sim::{
    LinkConfig, certs,
    pair::{Pair, SERVER},
    quic::SERVER_ADDR,
};

const ATTACKER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 9)), 40_000);

/// A 1200-byte QUIC v1 0-RTT packet to the 8-byte connection ID `n`
/// (RFC 9000 §17.2.3), the rest made up.
fn zero_rtt(n: u32) -> Vec<u8> {
    let dcid = u64::from(n)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .to_be_bytes();
    let mut packet = vec![0b1101_0000];
    packet.extend_from_slice(&1_u32.to_be_bytes());
    packet.push(8);
    packet.extend_from_slice(&dcid);
    packet.push(8);
    packet.extend_from_slice(&dcid);
    let rest = u16::try_from(1200 - packet.len() - 2).expect("fits");
    packet.extend_from_slice(&(0x4000 | rest).to_be_bytes());
    packet.resize(1200, 0x5a);
    packet
}

// RFC 9000 §5.2.2, RFC 9001 §5.7 (test): buffered 0-RTT is limited.
#[test]
fn a_zero_rtt_flood_to_made_up_connection_ids_holds_at_most_its_budget() {
    let (client_tls, server_tls) = certs::test_configs(&[b"hq-interop"]);
    let mut server_tls = Arc::unwrap_or_clone(server_tls);
    server_tls.max_early_data_size = u32::MAX;
    let endpoint = EndpointConfig::default();
    let budget = endpoint.max_early_zero_rtt_bytes;
    let mut pair = Pair::with_configs(
        7,
        LinkConfig::default().delay(Duration::from_millis(20)),
        ClientConfig::new(client_tls).expect("client config"),
        ServerConfig::new(Arc::new(server_tls)).expect("server config"),
        endpoint,
    );
    let mut most = 0;
    // Ten datagrams a millisecond (96 Mbit/s) for two seconds, while the
    // honest client connects.
    for ms in 0..2000_u32 {
        for i in 0..10 {
            pair.sim
                .inject(ATTACKER, SERVER_ADDR, None, zero_rtt(ms * 10 + i));
        }
        let _ = pair.run_until(Duration::from_millis(1), |_| false);
        let held = pair.sim.node(SERVER).stats().early_zero_rtt_bytes;
        assert!(held <= budget, "{held} bytes held, over {budget}");
        most = most.max(held);
    }
    let view = pair.view();
    assert!(
        view.client().is_some_and(|c| c.is_handshake_confirmed()),
        "the honest client connected beside the flood"
    );
    // The last datagrams arrive, and a second later all have expired.
    let _ = pair.run_until(Duration::from_secs(2), |_| false);
    let stats = pair.sim.node(SERVER).stats();
    assert_eq!(
        stats.early_zero_rtt_buffered + stats.early_zero_rtt_dropped,
        20_000
    );
    assert_eq!(stats.early_zero_rtt_expired, stats.early_zero_rtt_buffered);
    assert_eq!(stats.early_zero_rtt_bytes, 0);
    println!("0-RTT flood: at most {most} bytes held of {budget}; {stats:?}");
}
