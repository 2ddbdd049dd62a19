use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket},
    time::Duration,
};

use socket2::{Domain, Protocol, Socket, Type};
use tern_proto::packet::{InvariantHeader, Version};

use super::{Flood, FloodConfig, FloodError, source_address};
use crate::initial::{ClientHello, INITIAL_DATAGRAM_SIZE};

fn hello() -> ClientHello {
    ClientHello::capture(
        tern_sim::epoch(),
        &crate::initial::tests::x25519_client(),
        "127.0.0.1:4433".parse().unwrap(),
    )
    .unwrap()
}

fn config(target: SocketAddr) -> FloodConfig {
    FloodConfig {
        target,
        rate: 2_000,
        duration: Duration::from_millis(100),
        sources: 10,
        seed: 7,
    }
}

#[test]
fn sources_are_distinct_loopback_addresses_away_from_127_0_0_1() {
    let all: HashSet<Ipv4Addr> = (0..FloodConfig::MAX_SOURCES).map(source_address).collect();
    assert_eq!(all.len(), FloodConfig::MAX_SOURCES);
    for address in all {
        let [a, b, _, d] = address.octets();
        assert_eq!((a, b), (127, 1));
        assert!(d != 0 && d != 255, "{address}");
    }
}

#[test]
fn a_flood_sends_new_clients_from_its_sources_and_ends_by_itself() {
    // A receiver with room for every datagram, on loopback.
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    socket.set_recv_buffer_size(4 << 20).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let receiver: UdpSocket = socket.into();
    let target = receiver.local_addr().unwrap();
    let flood = Flood::new(config(target), hello()).unwrap();
    let sources: HashSet<SocketAddr> = flood.sources().collect();
    assert_eq!(sources.len(), 10);

    let report = flood.run().unwrap();
    // How many left depends on the machine's speed; at most the schedule.
    assert!(report.sent > 0);
    assert!(report.sent + report.send_errors <= 200);
    assert_eq!(report.sources, 10);

    receiver.set_nonblocking(true).unwrap();
    let mut buf = [0; 1500];
    let (mut received, mut dcids, mut seen) = (0, HashSet::new(), HashSet::new());
    while let Ok((len, from)) = receiver.recv_from(&mut buf) {
        assert_eq!(len, INITIAL_DATAGRAM_SIZE);
        assert!(sources.contains(&from), "{from} is one of the sources");
        let header = InvariantHeader::parse(&buf[..len], 0).unwrap();
        assert_eq!(header.version(), Some(Version::V1.to_u32()));
        assert_eq!(header.dcid().len(), 8);
        dcids.insert(header.dcid().to_vec());
        seen.insert(from);
        received += 1;
    }
    assert_eq!(received, report.sent, "loopback loses nothing here");
    assert_eq!(dcids.len() as u64, received, "a fresh DCID every time");
    assert_eq!(
        seen.len() as u64,
        received.min(10),
        "the sources take turns"
    );
}

#[test]
fn a_flood_refuses_to_leave_loopback_or_its_bounds() {
    let outside = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 443);
    assert!(matches!(
        Flood::new(config(outside), hello()),
        Err(FloodError::NotLoopback(_))
    ));
    let local = "127.0.0.1:9".parse().unwrap();
    for bad in [
        FloodConfig {
            rate: FloodConfig::MAX_RATE + 1,
            ..config(local)
        },
        FloodConfig {
            duration: FloodConfig::MAX_DURATION + Duration::from_secs(1),
            ..config(local)
        },
        FloodConfig {
            sources: 0,
            ..config(local)
        },
        FloodConfig {
            sources: FloodConfig::MAX_SOURCES + 1,
            ..config(local)
        },
    ] {
        assert!(
            matches!(
                Flood::new(bad.clone(), hello()),
                Err(FloodError::OutOfBounds(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_flood_at_rate_zero_sends_nothing() {
    let flood = Flood::new(
        FloodConfig {
            rate: 0,
            sources: 1,
            ..config("127.0.0.1:9".parse().unwrap())
        },
        hello(),
    )
    .unwrap();
    let report = flood.run().unwrap();
    assert_eq!((report.sent, report.send_errors), (0, 0));
}
