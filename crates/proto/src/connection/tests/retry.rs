//! A client following a Retry (RFC 9000 §17.2.5, §7.3; RFC 9001 §5.8):
//! the test plays the server's endpoint, building Retry packets with
//! `RetryHeader` and `retry_integrity_tag`.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::{
    ClientSetup, Pair, ServerSetup, cid, client, client_cid, deliver, epoch, first_dcid, server,
    server_cid, transmit,
};
use crate::{
    AddressValidation, ConnectionId, EncryptionLevel, Frame, Frames, Side, TransportError,
    TransportErrorCode,
    connection::{Closer, Connection, ConnectionError, tokens::MAX_TOKEN_LEN},
    crypto::{Keys, retry_integrity_tag},
    packet::{DecodeOptions, PacketType, PartialDecode, RetryHeader, Version},
};

/// The connection ID the server chooses in its Retry.
fn retry_scid() -> ConnectionId {
    cid(0x7e, 8)
}

const TOKEN: &[u8] = b"a retry token";

/// A Retry to the client from `scid`, with `token`, its tag computed over
/// `odcid` for `version`.
fn retry_packet(
    version: Version,
    scid: ConnectionId,
    token: &[u8],
    odcid: &ConnectionId,
) -> BytesMut {
    let header = RetryHeader {
        version,
        dcid: client_cid(),
        scid,
        token,
        unused_bits: 0b1010,
        grease_fixed_bit: false,
    };
    let mut packet = Vec::new();
    header.encode(&mut packet);
    let tag = retry_integrity_tag(version, odcid, &packet).unwrap();
    packet.extend_from_slice(&tag);
    BytesMut::from(&packet[..])
}

/// The Retry a server that follows the RFC would send.
fn good_retry() -> BytesMut {
    retry_packet(Version::V1, retry_scid(), TOKEN, &first_dcid())
}

/// What the server sees of a client Initial.
#[derive(Debug)]
struct SeenInitial {
    dcid: ConnectionId,
    scid: ConnectionId,
    token: Vec<u8>,
    pn: u64,
    /// Offsets of its CRYPTO frames.
    crypto_offsets: Vec<u64>,
}

/// Opens the client Initial at the front of `datagram` with the Initial
/// keys of `keys_dcid`, as the server would; panics if they do not open it.
fn open_initial(mut datagram: BytesMut, keys_dcid: &ConnectionId) -> SeenInitial {
    let mut packet =
        PartialDecode::split_from(&mut datagram, DecodeOptions::new(8).unwrap()).unwrap();
    assert_eq!(packet.packet_type(), PacketType::Initial);
    let (dcid, scid) = (*packet.dcid(), *packet.scid().unwrap());
    let token = packet.token().unwrap().to_vec();
    let keys = Keys::initial(Version::V1, keys_dcid, Side::Server);
    let opened = keys
        .remote
        .open_decoded(&mut packet, None)
        .expect("the Initial opens with the keys of this DCID");
    let payload = packet.into_data().freeze().slice(opened.payload);
    let crypto_offsets = Frames::new(payload, EncryptionLevel::Initial)
        .filter_map(|frame| match frame.unwrap() {
            Frame::Crypto(crypto) => Some(crypto.offset.into_inner()),
            _ => None,
        })
        .collect();
    SeenInitial {
        dcid,
        scid,
        token,
        pn: opened.pn,
        crypto_offsets,
    }
}

/// The client's next datagram: at once if it has one, else when its next
/// timer (a PTO) fires.
fn next_datagram(conn: &mut Connection, now: Instant) -> BytesMut {
    if let Some(data) = transmit(conn, now) {
        return data;
    }
    let at = conn.poll_timeout().expect("a timer is armed");
    conn.handle_timeout(at);
    transmit(conn, at).expect("a probe after the timer fired")
}

/// A client that sent its first Initial (lost on its way: a server that
/// sends Retry keeps nothing of it).
fn client_after_first_initial(now: Instant) -> (Connection, SeenInitial) {
    let mut client = client(now, ClientSetup::default());
    let first = open_initial(transmit(&mut client, now).unwrap(), &first_dcid());
    (client, first)
}

/// Checks that `client` dropped the last Retry and goes on as before it.
fn assert_dropped(client: &Connection, dropped_before: u64, remote_cid: ConnectionId) {
    assert_eq!(client.stats().packets_dropped, dropped_before + 1);
    assert_eq!(client.remote_cid(), remote_cid);
}

#[test]
fn a_client_follows_a_retry_to_its_scid_with_its_token_and_new_keys() {
    // RFC 9000 §17.2.5.2 (test): the next Initial goes to the Retry's SCID,
    // carries its token and keeps the client's SCID; RFC 9001 §5.2: it is
    // protected with Initial keys derived from the new DCID; RFC 9000
    // §17.2.5.3: its packet number continues, and the ClientHello starts
    // again from offset 0.
    let now = epoch();
    let (mut client, first) = client_after_first_initial(now);
    assert_eq!(first.dcid, first_dcid());
    assert!(first.token.is_empty());
    assert!(client.stats().bytes_in_flight > 0);
    let later = now + Duration::from_millis(20);
    deliver(&mut client, later, good_retry());
    assert_eq!(client.address_validation(), AddressValidation::Retry);
    assert_eq!(client.remote_cid(), retry_scid());
    assert_eq!(
        client.stats().bytes_in_flight,
        0,
        "the Initial the server dropped is no longer in flight"
    );
    let again = open_initial(transmit(&mut client, later).unwrap(), &retry_scid());
    assert_eq!(again.dcid, retry_scid());
    assert_eq!(again.scid, client_cid());
    assert_eq!(again.token, TOKEN);
    assert!(again.pn > first.pn, "{} > {}", again.pn, first.pn);
    assert_eq!(again.crypto_offsets.first(), Some(&0));
    let stats = client.stats();
    assert_eq!(
        (
            stats.packets_lost,
            stats.congestion_events,
            stats.packets_dropped
        ),
        (0, 0, 0),
        "the first Initial was neither lost nor a congestion signal"
    );
    // Every later Initial carries the token too.
    let probe = next_datagram(&mut client, later + Duration::from_millis(1));
    let probe = open_initial(probe, &retry_scid());
    assert_eq!((probe.dcid, probe.token.as_slice()), (retry_scid(), TOKEN));
}

#[test]
fn a_retry_with_a_tampered_integrity_tag_is_dropped() {
    // RFC 9001 §5.8 (test): a client discards a Retry whose tag does not
    // verify.
    let now = epoch();
    let (mut client, _) = client_after_first_initial(now);
    let mut retry = good_retry();
    let last = retry.len() - 1;
    retry[last] ^= 0x01;
    let later = now + Duration::from_millis(20);
    deliver(&mut client, later, retry);
    assert_dropped(&client, 0, first_dcid());
    assert_eq!(client.address_validation(), AddressValidation::None);
    let next = open_initial(next_datagram(&mut client, later), &first_dcid());
    assert_eq!(next.dcid, first_dcid());
    assert!(next.token.is_empty());
}

#[test]
fn a_second_retry_is_dropped() {
    // RFC 9000 §17.2.5.2 (test): a client processes at most one Retry.
    let now = epoch();
    let (mut client, _) = client_after_first_initial(now);
    let later = now + Duration::from_millis(20);
    deliver(&mut client, later, good_retry());
    let _ = transmit(&mut client, later).unwrap();
    let second = retry_packet(Version::V1, cid(0x7f, 8), b"another", &first_dcid());
    deliver(&mut client, later, second);
    let after_first_retry = retry_packet(Version::V1, cid(0x7f, 8), b"another", &retry_scid());
    deliver(&mut client, later, after_first_retry);
    assert_eq!(client.stats().packets_dropped, 2);
    assert_eq!(client.remote_cid(), retry_scid());
    let next = open_initial(next_datagram(&mut client, later), &retry_scid());
    assert_eq!((next.dcid, next.token.as_slice()), (retry_scid(), TOKEN));
}

#[test]
fn a_retry_after_an_initial_from_the_server_is_dropped() {
    // RFC 9000 §17.2.5.2 (test): once the client processed an Initial from
    // the server, it discards any Retry.
    let now = epoch();
    let mut client = client(now, ClientSetup::default());
    let mut server = server(now, ServerSetup::default());
    deliver(&mut server, now, transmit(&mut client, now).unwrap());
    deliver(&mut client, now, transmit(&mut server, now).unwrap());
    assert_eq!(client.remote_cid(), server_cid());
    let dropped = client.stats().packets_dropped;
    deliver(&mut client, now, good_retry());
    assert_dropped(&client, dropped, server_cid());
    assert_eq!(client.address_validation(), AddressValidation::None);
}

#[test]
fn retries_the_rfc_discards_are_dropped() {
    let long_token = vec![7; MAX_TOKEN_LEN + 1];
    let cases: [(&str, BytesMut); 5] = [
        // RFC 9000 §17.2.5.2 (test): an empty token.
        (
            "empty token",
            retry_packet(Version::V1, retry_scid(), b"", &first_dcid()),
        ),
        // RFC 9000 §17.2.5.2 (test): a SCID equal to the Initial's DCID.
        (
            "scid is our dcid",
            retry_packet(Version::V1, first_dcid(), TOKEN, &first_dcid()),
        ),
        // RFC 9001 §5.8 (test): a tag computed over another DCID, as for
        // another client's Initial.
        (
            "tag over another dcid",
            retry_packet(Version::V1, retry_scid(), TOKEN, &cid(0xaa, 16)),
        ),
        // A version the connection does not run.
        (
            "another version",
            retry_packet(Version::V2, retry_scid(), TOKEN, &first_dcid()),
        ),
        // A token too long to leave an Initial room for the ClientHello.
        (
            "token too long",
            retry_packet(Version::V1, retry_scid(), &long_token, &first_dcid()),
        ),
    ];
    for (case, retry) in cases {
        let now = epoch();
        let (mut client, _) = client_after_first_initial(now);
        deliver(&mut client, now, retry);
        assert_eq!(client.stats().packets_dropped, 1, "{case}");
        assert_eq!(client.remote_cid(), first_dcid(), "{case}");
        assert_eq!(
            client.address_validation(),
            AddressValidation::None,
            "{case}"
        );
    }
}

#[test]
fn a_server_does_not_follow_a_retry() {
    let now = epoch();
    let mut client = client(now, ClientSetup::default());
    let mut server = server(now, ServerSetup::default());
    deliver(&mut server, now, transmit(&mut client, now).unwrap());
    // The endpoint routes by DCID; the connection is handed it anyway.
    let retry = good_retry();
    let dropped = server.stats().packets_dropped;
    deliver(&mut server, now, retry);
    assert_eq!(server.stats().packets_dropped, dropped + 1);
    assert_eq!(server.remote_cid(), client_cid());
}

/// A client that followed the good Retry (or none), and a server set up
/// by `setup`, run until the handshake is confirmed or the client closes.
fn handshake(follow_retry: bool, setup: ServerSetup) -> Pair {
    let now = epoch();
    let (mut client, _) = client_after_first_initial(now);
    if follow_retry {
        deliver(&mut client, now, good_retry());
    } else {
        // The first Initial was lost; the PTO sends it again.
        let at = client.poll_timeout().unwrap();
        client.handle_timeout(at);
    }
    let mut pair = Pair::new(now, client, server(now, setup));
    pair.run_until(Duration::from_secs(5), |pair| {
        pair.client.is_closed()
            || (pair.client.is_handshake_confirmed() && pair.server.is_handshake_confirmed())
    });
    pair
}

/// The transport error the client closed with.
fn client_error(pair: &Pair) -> TransportError {
    match pair.client.close_reason() {
        Some(ConnectionError::Transport {
            error,
            closed_by: Closer::Local,
        }) => error.clone(),
        other => panic!("expected the client to close on a transport error, got {other:?}"),
    }
}

/// The setup of a server that sent the good Retry.
fn after_retry() -> ServerSetup {
    ServerSetup {
        initial_dcid: retry_scid(),
        original_dcid: first_dcid(),
        retry_scid: Some(retry_scid()),
        validation: AddressValidation::Retry,
        ..ServerSetup::default()
    }
}

#[test]
fn a_handshake_after_a_retry_completes_and_both_snapshots_say_so() {
    // RFC 9000 §7.3 (test): the server's parameters name the Retry's SCID
    // and the first DCID; the client accepts them.
    let pair = handshake(true, after_retry());
    assert!(
        pair.client.is_handshake_confirmed(),
        "{:?}",
        pair.client.close_reason()
    );
    for conn in [&pair.client, &pair.server] {
        let info = conn.handshake_info().expect("snapshot");
        assert!(info.retry_used(), "{:?}", conn.side());
        assert!(!info.address_validated_by_token());
        assert_eq!(info.address_validation(), AddressValidation::Retry);
    }
}

#[test]
fn a_handshake_without_retry_reports_no_address_validation() {
    let pair = handshake(false, ServerSetup::default());
    assert!(
        pair.client.is_handshake_confirmed(),
        "{:?}",
        pair.client.close_reason()
    );
    let info = pair.client.handshake_info().expect("snapshot");
    assert_eq!(info.address_validation(), AddressValidation::None);
    assert!(!info.retry_used());
}

#[test]
fn a_server_whose_parameters_misname_the_retry_fails_the_handshake() {
    // RFC 9000 §7.3 (test): retry_source_connection_id must be present
    // exactly when the client followed a Retry, and match its SCID;
    // original_destination_connection_id must be the first DCID. Anything
    // else is a TRANSPORT_PARAMETER_ERROR.
    let cases = [
        (
            "missing retry_source_connection_id",
            true,
            ServerSetup {
                retry_scid: None,
                ..after_retry()
            },
        ),
        (
            "retry_source_connection_id mismatch",
            true,
            ServerSetup {
                retry_scid: Some(cid(0x7f, 8)),
                ..after_retry()
            },
        ),
        (
            "original_destination_connection_id mismatch",
            true,
            ServerSetup {
                original_dcid: retry_scid(),
                ..after_retry()
            },
        ),
        (
            "unexpected retry_source_connection_id",
            false,
            ServerSetup {
                retry_scid: Some(retry_scid()),
                ..ServerSetup::default()
            },
        ),
    ];
    for (reason, follow_retry, setup) in cases {
        let pair = handshake(follow_retry, setup);
        let error = client_error(&pair);
        assert_eq!(
            error.code,
            TransportErrorCode::TRANSPORT_PARAMETER_ERROR,
            "{reason}: {error}"
        );
        assert_eq!(error.reason, reason);
        assert!(pair.client.handshake_info().is_none());
    }
}

#[test]
fn a_client_token_goes_in_every_initial_until_a_retry_replaces_it() {
    // RFC 9000 §8.1.3 (test): a NEW_TOKEN token rides in the client's
    // Initials; RFC 9000 §17.2.5.2: a Retry's token replaces it.
    let now = epoch();
    let token = Bytes::from_static(b"from an earlier connection");
    let mut client = client(
        now,
        ClientSetup {
            token: token.clone(),
            ..ClientSetup::default()
        },
    );
    assert_eq!(client.address_validation(), AddressValidation::Token);
    let first = open_initial(transmit(&mut client, now).unwrap(), &first_dcid());
    assert_eq!(first.token, token);
    let probe = open_initial(next_datagram(&mut client, now), &first_dcid());
    assert_eq!(probe.token, token);
    deliver(&mut client, now, good_retry());
    let again = open_initial(transmit(&mut client, now).unwrap(), &retry_scid());
    assert_eq!(again.token, TOKEN);
    assert_eq!(client.address_validation(), AddressValidation::Retry);
}

/// Collects a qlog trace in memory.
#[cfg(feature = "qlog")]
#[derive(Debug, Default)]
struct Trace(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(feature = "qlog")]
impl crate::qlog::QlogFactory for Trace {
    fn create(&self, _side: Side, _odcid: &ConnectionId) -> Option<Box<dyn std::io::Write + Send>> {
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        Some(Box::new(Sink(self.0.clone())))
    }
}

#[cfg(feature = "qlog")]
#[test]
fn a_followed_retry_is_a_received_packet_in_the_qlog_trace() {
    let trace = std::sync::Arc::new(Trace::default());
    let bytes = trace.0.clone();
    let transport = crate::config::TransportConfig {
        qlog: Some(trace),
        ..crate::config::TransportConfig::default()
    };
    let now = epoch();
    let mut client = client(
        now,
        ClientSetup {
            transport: Some(transport),
            ..ClientSetup::default()
        },
    );
    let _ = transmit(&mut client, now).unwrap();
    deliver(&mut client, now, good_retry());
    let text = String::from_utf8(bytes.lock().unwrap().clone()).unwrap();
    let retry = text
        .split('\u{1e}')
        .find(|record| record.contains("\"packet_type\":\"retry\""))
        .expect("the Retry is in the trace");
    assert!(retry.contains("quic:packet_received"), "{retry}");
    assert!(!retry.contains("a retry token"), "never the token: {retry}");
}
