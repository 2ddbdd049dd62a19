use std::{net::SocketAddr, sync::Arc};

use bytes::{Bytes, BytesMut};
use rustls::{NamedGroup, RootCertStore};
use tern_proto::{
    DecodeOptions, EncryptionLevel, Frame, Frames, PacketType, PartialDecode, Side,
    config::{ClientConfig, EndpointConfig, ServerConfig},
    crypto::Keys,
    endpoint::Endpoint,
    packet::Version,
};
use tern_sim::{certs, epoch};

use super::{ClientHello, HelloError, INITIAL_DATAGRAM_SIZE};

const ALPN: &[u8] = b"hq-interop";
const SERVER: SocketAddr = tern_sim::quic::SERVER_ADDR;

/// A client that offers X25519 alone, so that its ClientHello fits one
/// Initial. It trusts no certificate: these tests never finish a handshake.
pub(crate) fn x25519_client() -> ClientConfig {
    let mut provider = tern_proto::crypto::default_provider();
    provider
        .kx_groups
        .retain(|g| g.name() == NamedGroup::X25519);
    let mut tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    ClientConfig::new(Arc::new(tls)).unwrap()
}

fn hello() -> ClientHello {
    ClientHello::capture(epoch(), &x25519_client(), SERVER).unwrap()
}

fn server() -> Endpoint {
    let (_, tls) = certs::test_configs(&[ALPN]);
    Endpoint::new(
        Arc::new(EndpointConfig::default()),
        Some(Arc::new(ServerConfig::new(tls).unwrap())),
        Some(SERVER),
        1,
    )
}

/// Opens `datagram` as a server would and returns its header and frames.
fn open(datagram: &[u8]) -> (PartialDecode, Vec<Frame>) {
    let (mut packet, rest) =
        PartialDecode::new(BytesMut::from(datagram), DecodeOptions::new(0).unwrap()).unwrap();
    assert!(rest.is_none(), "one packet fills the datagram");
    let keys = Keys::initial(Version::V1, packet.dcid(), Side::Server);
    let opened = keys.remote.open_decoded(&mut packet, None).unwrap();
    assert_eq!(opened.pn, 0);
    let payload = Bytes::copy_from_slice(&packet.data()[opened.payload]);
    let frames = Frames::new(payload, EncryptionLevel::Initial)
        .collect::<Result<_, _>>()
        .unwrap();
    (packet, frames)
}

#[test]
fn a_sealed_initial_opens_under_the_keys_of_its_dcid_and_carries_the_client_hello() {
    // RFC 9000 §14.1 (test): the datagram is padded to 1200 bytes.
    let hello = hello();
    let dcid = [0x5a; 8];
    let mut datagram = Vec::new();
    hello.seal(&dcid, &mut datagram).unwrap();
    assert_eq!(datagram.len(), INITIAL_DATAGRAM_SIZE);

    let (packet, frames) = open(&datagram);
    assert_eq!(packet.packet_type(), PacketType::Initial);
    assert_eq!(packet.dcid().as_ref(), &dcid);
    assert_eq!(packet.token(), Some(&[][..]), "no token");
    assert_eq!(packet.scid(), Some(&hello.scid), "the captured SCID");
    let Frame::Crypto(crypto) = &frames[0] else {
        panic!("expected CRYPTO first, got {frames:?}");
    };
    assert_eq!(crypto.offset.into_inner(), 0);
    assert_eq!(crypto.data[0], 1, "a ClientHello");
    assert!(
        frames[1..].iter().all(|f| matches!(f, Frame::Padding(_))),
        "then PADDING: {frames:?}"
    );
}

#[test]
fn each_dcid_gives_other_bytes_and_only_its_own_keys_open_it() {
    let hello = hello();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    hello.seal(&[1; 8], &mut a).unwrap();
    hello.seal(&[2; 8], &mut b).unwrap();
    assert_ne!(a[30..], b[30..]);
    let (mut packet, _) =
        PartialDecode::new(BytesMut::from(&a[..]), DecodeOptions::new(0).unwrap()).unwrap();
    let wrong = Keys::initial(Version::V1, &[2; 8], Side::Server);
    assert!(wrong.remote.open_decoded(&mut packet, None).is_err());
}

#[test]
fn a_server_sees_a_new_client_in_every_sealed_initial() {
    let hello = hello();
    let mut endpoint = server();
    let mut datagram = Vec::new();
    for (i, source) in ["127.1.0.1:4000", "127.1.0.2:4000", "127.1.0.2:4000"]
        .into_iter()
        .enumerate()
    {
        hello
            .seal(&[u8::try_from(i).unwrap() + 1; 8], &mut datagram)
            .unwrap();
        endpoint.handle(
            epoch(),
            source.parse().unwrap(),
            Some(SERVER.ip()),
            None,
            BytesMut::from(&datagram[..]),
        );
    }
    assert_eq!(endpoint.stats().incoming, 3, "three clients wait");
    // Accepted, one of them gets the server's first flight.
    let id = endpoint.poll_incoming().unwrap();
    endpoint.accept_incoming(epoch(), id, None).unwrap();
    let mut buf = Vec::new();
    assert!(endpoint.poll_transmit(epoch(), 1, &mut buf).is_some());
}

#[test]
fn a_client_hello_longer_than_one_initial_is_refused_with_a_hint() {
    // Tern's default provider offers X25519MLKEM768, whose key share alone
    // is over a kilobyte.
    let (tls, _) = certs::test_configs(&[ALPN]);
    let config = ClientConfig::new(tls).unwrap();
    match ClientHello::capture(epoch(), &config, SERVER) {
        Err(HelloError::Incomplete { needed, carried }) => assert!(needed > carried),
        other => panic!("expected Incomplete, got {other:?}"),
    }
}

#[test]
fn what_is_not_a_client_initial_is_refused() {
    assert!(matches!(
        ClientHello::from_datagram(&[0x40; 1200]),
        Err(HelloError::NotAnInitial(_))
    ));
    let mut datagram = Vec::new();
    hello().seal(&[3; 8], &mut datagram).unwrap();
    datagram[600] ^= 1;
    assert!(matches!(
        ClientHello::from_datagram(&datagram),
        Err(HelloError::Undecryptable)
    ));
}

#[test]
fn a_dcid_outside_8_to_20_bytes_is_refused() {
    let hello = hello();
    let mut out = Vec::new();
    assert!(matches!(
        hello.seal(&[1; 7], &mut out),
        Err(HelloError::DcidLength(7))
    ));
    assert!(matches!(
        hello.seal(&[1; 21], &mut out),
        Err(HelloError::DcidLength(21))
    ));
    hello.seal(&[1; 20], &mut out).unwrap();
    assert_eq!(out.len(), INITIAL_DATAGRAM_SIZE);
}

#[test]
fn the_captured_frames_seal_again_to_the_same_client_hello() {
    let hello = hello();
    let mut datagram = Vec::new();
    hello.seal(&[9; 8], &mut datagram).unwrap();
    let again = ClientHello::from_datagram(&datagram).unwrap();
    assert_eq!(again.frames(), hello.frames());
}
