//! In-memory handshakes between a client and a server `TlsSession`.

use std::{sync::Arc, time::Duration};

use rustls::{
    CipherSuiteCommon, ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite,
    Tls13CipherSuite,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
};

use super::*;
use crate::{ConnectionId, varint::VarInt};

const H3: &[u8] = b"h3";

/// The key exchange group the default provider negotiates with itself: the
/// post-quantum hybrid on aws-lc-rs, X25519 on ring.
#[cfg(feature = "aws-lc-rs")]
const DEFAULT_GROUP: &str = "X25519MLKEM768";
#[cfg(not(feature = "aws-lc-rs"))]
const DEFAULT_GROUP: &str = "X25519";

/// One end: its session and the keys it was handed.
struct Party {
    tls: TlsSession,
    handshake: Option<Keys>,
    one_rtt: Option<(Keys, Secrets)>,
    /// Bytes written once `is_handshaking` had turned false.
    written_after_handshake: usize,
    /// The packet number space its next handshake bytes go out in.
    write_space: SpaceId,
}

impl Party {
    fn new(tls: TlsSession) -> Self {
        Self {
            tls,
            handshake: None,
            one_rtt: None,
            written_after_handshake: 0,
            write_space: SpaceId::Initial,
        }
    }
}

/// The default provider, or one that prefers `suite` (keeping AES-128-GCM
/// after it, for Initial packets).
fn provider(suite: Option<SupportedCipherSuite>) -> Arc<CryptoProvider> {
    let provider = crate::crypto::default_provider();
    Arc::new(match suite {
        Some(suite) => crate::crypto::with_cipher_suites(provider, &[suite]),
        None => provider,
    })
}

struct Configs {
    cert: CertificateDer<'static>,
    client: ClientConfig,
    server: ServerConfig,
}

/// A self-signed "localhost" certificate, a server that presents it and a
/// client that trusts exactly it.
fn configs(suite: Option<SupportedCipherSuite>, client_alpn: &[u8], server_alpn: &[u8]) -> Configs {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut server = ServerConfig::builder_with_provider(provider(suite))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    server.alpn_protocols = vec![server_alpn.to_vec()];
    server.max_early_data_size = 0;
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let mut client = ClientConfig::builder_with_provider(provider(suite))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![client_alpn.to_vec()];
    Configs {
        cert,
        client,
        server,
    }
}

fn client_params() -> TransportParameters {
    TransportParameters {
        initial_max_data: VarInt::from_u32(1 << 20),
        initial_max_streams_bidi: VarInt::from_u32(100),
        initial_source_connection_id: Some(ConnectionId::new(&[1, 2, 3, 4]).unwrap()),
        ..TransportParameters::default()
    }
}

fn server_params() -> TransportParameters {
    TransportParameters {
        original_destination_connection_id: Some(ConnectionId::new(&[9; 8]).unwrap()),
        initial_source_connection_id: Some(ConnectionId::new(&[5, 6, 7]).unwrap()),
        stateless_reset_token: Some([7; 16]),
        max_idle_timeout: Duration::from_secs(30),
        ..TransportParameters::default()
    }
}

fn parties(configs: Configs) -> (Party, Party) {
    let client = TlsSession::client(
        Arc::new(configs.client),
        Version::V1,
        "localhost",
        &client_params(),
    )
    .unwrap();
    let server =
        TlsSession::server(Arc::new(configs.server), Version::V1, &server_params()).unwrap();
    (Party::new(client), Party::new(server))
}

/// Moves everything `from` has to write into `to`, one level per call to
/// `read_handshake`. Returns whether any byte moved, or the reader's side
/// and error.
fn pump(from: &mut Party, to: &mut Party) -> Result<bool, (Side, TransportError)> {
    let mut moved = false;
    loop {
        let done = !from.tls.is_handshaking();
        let mut buf = Vec::new();
        let change = from.tls.write_handshake(&mut buf);
        if !buf.is_empty() {
            if done {
                from.written_after_handshake += buf.len();
            }
            to.tls
                .read_handshake(from.write_space, &buf)
                .map_err(|error| (to.tls.side(), error))?;
            moved = true;
        }
        match change {
            Some(KeyChange::Handshake(keys)) => {
                from.handshake = Some(keys);
                from.write_space = SpaceId::Handshake;
            }
            Some(KeyChange::OneRtt { keys, secrets }) => {
                from.one_rtt = Some((keys, secrets));
                from.write_space = SpaceId::Data;
            }
            None if buf.is_empty() => return Ok(moved),
            None => {}
        }
    }
}

fn handshake(client: &mut Party, server: &mut Party) -> Result<(), (Side, TransportError)> {
    loop {
        let sent = pump(client, server)?;
        let answered = pump(server, client)?;
        if !sent && !answered {
            return Ok(());
        }
    }
}

/// Seals with one side's local keys and opens with the other's remote keys,
/// in both directions.
fn assert_keys_agree(a: &Keys, b: &Keys) {
    for (sealer, opener) in [(&a.local, &b.remote), (&b.local, &a.remote)] {
        let payload = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut packet = vec![0x40, 7];
        packet.extend_from_slice(&payload);
        packet.resize(packet.len() + sealer.packet.tag_len(), 0);
        sealer.seal(7, &mut packet, 1).unwrap();
        let opened = opener.open(&mut packet, 1, None).unwrap();
        assert_eq!(opened.pn, 7);
        assert_eq!(&packet[opened.payload], &payload);
    }
}

fn assert_packet_keys_agree(a: &super::super::PacketKeyPair, b: &super::super::PacketKeyPair) {
    let mut packet = vec![0x40, 3, 0xaa, 0xbb, 0xcc];
    packet.resize(packet.len() + a.local.tag_len(), 0);
    a.local.encrypt(3, &mut packet, 2).unwrap();
    let payload = b.remote.decrypt(3, &mut packet, 2).unwrap();
    assert_eq!(&packet[payload], &[0xaa, 0xbb, 0xcc]);
}

fn full_handshake(suite: SupportedCipherSuite, name: &str, key_len: usize, hash: &str) {
    let configs = configs(Some(suite), H3, H3);
    let cert = configs.cert.clone();
    let (mut client, mut server) = parties(configs);
    handshake(&mut client, &mut server).unwrap();

    assert!(!client.tls.is_handshaking());
    assert!(!server.tls.is_handshaking());
    assert_eq!(client.tls.side(), Side::Client);
    assert_eq!(server.tls.side(), Side::Server);

    assert_keys_agree(
        client.handshake.as_ref().unwrap(),
        server.handshake.as_ref().unwrap(),
    );
    let (client_keys, client_secrets) = client.one_rtt.as_mut().unwrap();
    let (server_keys, server_secrets) = server.one_rtt.as_mut().unwrap();
    assert_keys_agree(client_keys, server_keys);
    // RFC 9001 §6.1 (test): both sides derive the same next key phase.
    let client_next = client_secrets.next_packet_keys();
    let server_next = server_secrets.next_packet_keys();
    assert_packet_keys_agree(&client_next, &server_next);
    assert_packet_keys_agree(&server_next, &client_next);

    let (c, s) = (client.tls.details(), server.tls.details());
    let info = c.cipher_suite.unwrap();
    assert_eq!(info.name, name);
    assert_eq!(info.key_len, key_len);
    assert_eq!(info.hash, hash);
    assert_eq!(c.cipher_suite, s.cipher_suite);
    assert_eq!(c.key_exchange_group, Some(DEFAULT_GROUP));
    assert_eq!(c.key_exchange_group, s.key_exchange_group);
    assert_eq!(c.alpn.as_deref(), Some(H3));
    assert_eq!(c.alpn, s.alpn);
    assert_eq!(c.tls_version, TlsVersion::Tls13);
    assert_eq!(c.tls_version, s.tls_version);
    assert_eq!(c.server_name.as_deref(), Some("localhost"));
    assert_eq!(s.server_name.as_deref(), Some("localhost"));
    assert_eq!(c.peer_certificates, vec![cert]);
    assert!(s.peer_certificates.is_empty());
    assert!(!c.resumed && !s.resumed);
    assert_eq!(c.early_data, EarlyData::NotAttempted);
    assert_eq!(s.early_data, EarlyData::NotAttempted);

    // RFC 9001 §8.2 (test): each side's transport parameters reach the other intact.
    let from_client = client.tls.peer_transport_parameters().unwrap();
    let from_server = server.tls.peer_transport_parameters().unwrap();
    assert_eq!(
        TransportParameters::decode(Side::Server, from_client).unwrap(),
        server_params()
    );
    assert_eq!(
        TransportParameters::decode(Side::Client, from_server).unwrap(),
        client_params()
    );

    let (mut ours, mut theirs) = ([0; 32], [0; 32]);
    client
        .tls
        .export_keying_material(&mut ours, b"EXPORTER-tern-test", Some(b"context"))
        .unwrap();
    server
        .tls
        .export_keying_material(&mut theirs, b"EXPORTER-tern-test", Some(b"context"))
        .unwrap();
    assert_eq!(ours, theirs);
    assert_ne!(ours, [0; 32]);
}

#[test]
fn handshake_completes_with_aes_128_gcm() {
    full_handshake(
        crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256,
        "TLS13_AES_128_GCM_SHA256",
        16,
        "SHA-256",
    );
}

#[test]
fn handshake_completes_with_aes_256_gcm() {
    full_handshake(
        crate::crypto::cipher_suite::TLS13_AES_256_GCM_SHA384,
        "TLS13_AES_256_GCM_SHA384",
        32,
        "SHA-384",
    );
}

#[test]
fn handshake_completes_with_chacha20_poly1305() {
    full_handshake(
        crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS13_CHACHA20_POLY1305_SHA256",
        32,
        "SHA-256",
    );
}

// RFC 9001 §8.1 (test): a server that shares no application protocol with
// the client fails the handshake with no_application_protocol (0x0178).
#[test]
fn alpn_mismatch_fails_with_no_application_protocol() {
    let (mut client, mut server) = parties(configs(None, H3, b"hq-interop"));
    let (side, error) = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(error.code, TransportErrorCode::crypto(0x78));
    assert_eq!(error.code.into_inner(), 0x178);
    assert!(error.reason.starts_with("tls handshake failed"));
}

#[test]
fn server_writes_session_tickets_after_the_handshake() {
    let (mut client, mut server) = parties(configs(None, H3, H3));
    handshake(&mut client, &mut server).unwrap();
    assert!(server.written_after_handshake > 0);
    // The client's Finished is written after `is_handshaking` turned false.
    assert!(client.written_after_handshake > 0);

    let mut quiet = configs(None, H3, H3);
    quiet.server.send_tls13_tickets = 0;
    let (mut client, mut server) = parties(quiet);
    handshake(&mut client, &mut server).unwrap();
    assert_eq!(server.written_after_handshake, 0);
}

#[test]
fn export_fails_before_the_handshake_completes() {
    let (client, _) = parties(configs(None, H3, H3));
    let mut out = [0; 16];
    assert!(
        client
            .tls
            .export_keying_material(&mut out, b"label", None)
            .is_err()
    );
    let details = client.tls.details();
    assert_eq!(details.cipher_suite, None);
    assert!(details.peer_certificates.is_empty());
}

#[test]
fn configs_that_cannot_run_quic_are_refused() {
    let mut wrong_early = configs(None, H3, H3).server;
    wrong_early.max_early_data_size = 5;
    let err = TlsSession::server(Arc::new(wrong_early), Version::V1, &server_params()).unwrap_err();
    assert!(matches!(err, TlsConfigError::EarlyDataSize(5)), "{err}");

    let client = Arc::new(configs(None, H3, H3).client);
    let err = TlsSession::client(client, Version::V2, "not a name!", &client_params()).unwrap_err();
    assert!(matches!(err, TlsConfigError::InvalidServerName(_)), "{err}");

    // RFC 9001 §5.3 (test): a suite without QUIC packet protection is useless.
    let base = crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .unwrap();
    let no_quic_suite: &'static Tls13CipherSuite = Box::leak(Box::new(Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: base.common.suite,
            hash_provider: base.common.hash_provider,
            confidentiality_limit: base.common.confidentiality_limit,
        },
        hkdf_provider: base.hkdf_provider,
        aead_alg: base.aead_alg,
        quic: None,
    }));
    let no_quic = ClientConfig::builder_with_provider(provider(Some(SupportedCipherSuite::Tls13(
        no_quic_suite,
    ))))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(RootCertStore::empty())
    .with_no_client_auth();
    let err = TlsSession::client(
        Arc::new(no_quic),
        Version::V1,
        "localhost",
        &client_params(),
    )
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::NoQuicCipherSuite), "{err}");
}

#[test]
fn quic_v2_handshake_completes() {
    let configs = configs(None, H3, H3);
    let client = TlsSession::client(
        Arc::new(configs.client),
        Version::V2,
        "localhost",
        &client_params(),
    )
    .unwrap();
    let server =
        TlsSession::server(Arc::new(configs.server), Version::V2, &server_params()).unwrap();
    let (mut client, mut server) = (Party::new(client), Party::new(server));
    handshake(&mut client, &mut server).unwrap();
    assert_keys_agree(
        &client.one_rtt.as_ref().unwrap().0,
        &server.one_rtt.as_ref().unwrap().0,
    );
}

/// A server config like `like`'s (same certificate, ALPN h3) on a provider
/// that prefers `suite` when given, choosing by its own order.
fn server_on(like: &ServerConfig, suite: Option<SupportedCipherSuite>) -> ServerConfig {
    let mut server = ServerConfig::builder_with_provider(provider(suite))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(like.cert_resolver.clone());
    server.alpn_protocols = vec![H3.to_vec()];
    // Restricted, it must; unrestricted, it then prefers AES-256-GCM and
    // AES-128-GCM to ChaCha20, whatever the client says.
    server.ignore_client_order = true;
    server
}

/// A client offering `client_suite` first (and AES-128-GCM after it) and a
/// server preferring `server_suite`, each held to its suite when given.
fn restricted_parties(
    client_suite: Option<SupportedCipherSuite>,
    server_suite: Option<SupportedCipherSuite>,
) -> (Party, Party) {
    let configs = configs(client_suite, H3, H3);
    let server = server_on(&configs.server, server_suite);
    let only = |suite: Option<SupportedCipherSuite>| {
        suite.map(|suite| Arc::<[rustls::CipherSuite]>::from([suite.suite()]))
    };
    let client = TlsSession::client(
        Arc::new(configs.client),
        Version::V1,
        "localhost",
        &client_params(),
    )
    .unwrap()
    .with_handshake_suites(only(client_suite));
    let server = TlsSession::server(Arc::new(server), Version::V1, &server_params())
        .unwrap()
        .with_handshake_suites(only(server_suite));
    (Party::new(client), Party::new(server))
}

const CHACHA: SupportedCipherSuite = crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;

#[test]
fn chacha20_only_client_and_server_negotiate_chacha20() {
    let (mut client, mut server) = restricted_parties(Some(CHACHA), Some(CHACHA));
    handshake(&mut client, &mut server).unwrap();
    let (c, s) = (client.tls.details(), server.tls.details());
    assert_eq!(
        c.cipher_suite.unwrap().name,
        "TLS13_CHACHA20_POLY1305_SHA256"
    );
    assert_eq!(s.cipher_suite, c.cipher_suite);
    assert_keys_agree(&client.one_rtt.unwrap().0, &server.one_rtt.unwrap().0);
}

#[test]
fn chacha20_only_client_refuses_a_server_that_picks_aes() {
    // The client offers AES-128-GCM too (rustls requires it in a QUIC
    // provider), and this server prefers it.
    let (mut client, mut server) = restricted_parties(Some(CHACHA), None);
    let (side, error) = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(side, Side::Client);
    // RFC 9001 §4.8 (test): handshake_failure is CRYPTO_ERROR 0x128.
    assert_eq!(error.code.into_inner(), 0x128);
    assert!(
        error.reason.contains("TLS13_AES_128_GCM_SHA256"),
        "{}",
        error.reason
    );
    assert!(client.handshake.is_none());
}

#[test]
fn chacha20_only_server_refuses_a_client_without_chacha20() {
    let aes = crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let (mut client, mut server) = restricted_parties(Some(aes), Some(CHACHA));
    let (side, error) = handshake(&mut client, &mut server).unwrap_err();
    assert_eq!(side, Side::Server);
    assert_eq!(error.code.into_inner(), 0x128);
    // The flight rustls prepared is never handed out for sending.
    assert!(server.handshake.is_none());
}

#[test]
fn chacha20_only_server_picks_chacha20_from_a_client_preferring_aes() {
    let (mut client, mut server) = restricted_parties(None, Some(CHACHA));
    handshake(&mut client, &mut server).unwrap();
    let name = server.tls.details().cipher_suite.unwrap().name;
    assert_eq!(name, "TLS13_CHACHA20_POLY1305_SHA256");
}

// RFC 8446 §5.1, RFC 9001 §4.8 (test): a handshake message split across
// packet number spaces is unexpected_message, CRYPTO_ERROR 0x10a.
#[test]
fn a_handshake_message_split_across_spaces_is_a_crypto_error() {
    let (mut client, mut server) = parties(configs(None, H3, H3));
    let mut client_hello = Vec::new();
    assert!(client.tls.write_handshake(&mut client_hello).is_none());
    server
        .tls
        .read_handshake(SpaceId::Initial, &client_hello)
        .unwrap();
    let mut server_hello = Vec::new();
    assert!(matches!(
        server.tls.write_handshake(&mut server_hello),
        Some(KeyChange::Handshake(_))
    ));
    let (head, tail) = server_hello.split_at(10);
    client.tls.read_handshake(SpaceId::Initial, head).unwrap();
    let error = client
        .tls
        .read_handshake(SpaceId::Handshake, tail)
        .unwrap_err();
    assert_eq!(error.code.into_inner(), 0x10a, "{}", error.reason);
}

/// Every TLS secret rustls logged, with its label, as the NSS key log
/// would show it.
#[derive(Debug, Default)]
struct CapturedSecrets(std::sync::Mutex<Vec<(String, Vec<u8>)>>);

impl rustls::KeyLog for CapturedSecrets {
    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .push((label.to_owned(), secret.to_vec()));
    }
}

#[test]
fn session_keys_and_secrets_debug_shows_no_secret() {
    let captured = Arc::new(CapturedSecrets::default());
    let mut configs = configs(None, H3, H3);
    configs.client.key_log = captured.clone();
    configs.server.key_log = captured.clone();
    let (mut client, mut server) = parties(configs);
    handshake(&mut client, &mut server).unwrap();
    let mut text = String::new();
    for party in [&mut client, &mut server] {
        let (keys, secrets) = party.one_rtt.as_mut().unwrap();
        let next = secrets.next_packet_keys();
        text += &format!(
            "{:?} {:?} {keys:?} {secrets:#?} {next:?} {next:#?}",
            party.tls, party.handshake
        );
    }
    let captured = captured.0.lock().unwrap();
    // Both sides log the handshake and traffic secrets of both directions.
    assert!(captured.len() >= 4, "{} secrets logged", captured.len());
    for (_, secret) in captured.iter() {
        crate::crypto::assert_hides(&text, secret);
    }
}

mod switch;
