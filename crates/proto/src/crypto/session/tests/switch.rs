//! Moving a capturing v1 client to QUIC v2 (RFC 9368 §2.2, RFC 9369 §4):
//! the keys Tern derives match those of a rustls session made for v2.

use super::*;
use crate::crypto::CapturingClientTls;

const AES_128: SupportedCipherSuite = crate::crypto::cipher_suite::TLS13_AES_128_GCM_SHA256;
const AES_256: SupportedCipherSuite = crate::crypto::cipher_suite::TLS13_AES_256_GCM_SHA384;
const CHACHA: SupportedCipherSuite = crate::crypto::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;

/// A capturing client on `client_version` and a server on
/// `server_version`, both preferring `suite`.
fn capturing_parties(
    suite: SupportedCipherSuite,
    client_version: Version,
    server_version: Version,
) -> (Party, Party) {
    let configs = configs(Some(suite), H3, H3);
    let mut cache = CapturingClientTls::default();
    let client = TlsSession::client_capturing(
        cache.for_config(&Arc::new(configs.client)),
        client_version,
        "localhost",
        &client_params(),
    )
    .unwrap();
    let server =
        TlsSession::server(Arc::new(configs.server), server_version, &server_params()).unwrap();
    (Party::new(client), Party::new(server))
}

/// Both levels' keys agree, and so do three key phases after them.
fn assert_interoperate(client: &mut Party, server: &mut Party) {
    assert_keys_agree(
        client.handshake.as_ref().unwrap(),
        server.handshake.as_ref().unwrap(),
    );
    let (client_keys, client_secrets) = client.one_rtt.as_mut().unwrap();
    let (server_keys, server_secrets) = server.one_rtt.as_mut().unwrap();
    assert_keys_agree(client_keys, server_keys);
    for _ in 0..3 {
        let client_next = client_secrets.next_packet_keys();
        let server_next = server_secrets.next_packet_keys();
        assert_packet_keys_agree(&client_next, &server_next);
        assert_packet_keys_agree(&server_next, &client_next);
        assert_eq!(
            client_next.local.confidentiality_limit(),
            server_next.local.confidentiality_limit()
        );
        assert_eq!(
            client_next.local.integrity_limit(),
            server_next.local.integrity_limit()
        );
    }
}

/// Whether sealing with `a`'s local keys opens with `b`'s remote keys.
fn one_way_agrees(a: &Keys, b: &Keys) -> bool {
    let mut packet = vec![0x40, 7, 1, 2, 3, 4, 5, 6, 7, 8];
    packet.resize(packet.len() + a.local.packet.tag_len(), 0);
    a.local.seal(7, &mut packet, 1).unwrap();
    b.remote.open(&mut packet, 1, None).is_ok()
}

// RFC 9369 §4 (test): a client that started on v1 and switched before the
// handshake derives v2 keys that a v2 server's rustls session agrees with,
// at the Handshake and 1-RTT levels and across key updates, for every suite.
#[test]
fn a_v1_client_switched_to_v2_interoperates_with_a_v2_server_on_every_suite() {
    for suite in [AES_128, AES_256, CHACHA] {
        let (mut client, mut server) = capturing_parties(suite, Version::V1, Version::V2);
        client.tls.switch_version(Version::V2).unwrap();
        handshake(&mut client, &mut server).unwrap();
        assert_eq!(
            client.tls.details().cipher_suite.unwrap().name,
            server.tls.details().cipher_suite.unwrap().name
        );
        assert_interoperate(&mut client, &mut server);
        let secrets = &client.one_rtt.as_ref().unwrap().1;
        assert!(
            format!("{secrets:?}").contains("derived: true"),
            "{suite:?}"
        );
    }
}

// RFC 9368 §2.2 (test): the switch also works once the ServerHello is read
// (the suite known), before the Handshake keys are taken.
#[test]
fn a_switch_after_the_server_hello_still_derives_every_level() {
    for suite in [AES_128, CHACHA] {
        let (mut client, mut server) = capturing_parties(suite, Version::V1, Version::V2);
        assert!(pump(&mut client, &mut server).unwrap());
        assert!(pump(&mut server, &mut client).unwrap());
        assert!(client.handshake.is_none());
        client.tls.switch_version(Version::V2).unwrap();
        handshake(&mut client, &mut server).unwrap();
        assert_interoperate(&mut client, &mut server);
    }
}

// Without the switch the v1 client's keys do not open the v2 server's
// packets: what makes the switch necessary.
#[test]
fn an_unswitched_v1_client_cannot_open_a_v2_servers_packets() {
    let (mut client, mut server) = capturing_parties(AES_128, Version::V1, Version::V2);
    handshake(&mut client, &mut server).unwrap();
    let (client_keys, server_keys) = (
        client.handshake.as_ref().unwrap(),
        server.handshake.as_ref().unwrap(),
    );
    assert!(!one_way_agrees(server_keys, client_keys));
    assert!(!one_way_agrees(client_keys, server_keys));
}

// A capturing client that is not switched behaves as before: rustls's own
// keys and secrets, agreeing with a v1 server.
#[test]
fn a_capturing_client_that_stays_on_v1_uses_rustls_keys() {
    for suite in [AES_128, AES_256, CHACHA] {
        let (mut client, mut server) = capturing_parties(suite, Version::V1, Version::V1);
        handshake(&mut client, &mut server).unwrap();
        assert_interoperate(&mut client, &mut server);
        let secrets = &client.one_rtt.as_ref().unwrap().1;
        assert!(format!("{secrets:?}").contains("derived: false"));
        // The captured secrets are freed with the 1-RTT keys.
        assert_eq!(
            client.tls.switch_version(Version::V2),
            Err(VersionSwitchError::NotCapturing)
        );
    }
}

#[test]
fn a_session_that_does_not_capture_cannot_switch() {
    let (mut client, mut server) = parties(configs(None, H3, H3));
    assert_eq!(
        client.tls.switch_version(Version::V2),
        Err(VersionSwitchError::NotCapturing)
    );
    assert_eq!(
        server.tls.switch_version(Version::V2),
        Err(VersionSwitchError::NotCapturing)
    );
}

#[test]
fn a_capturing_session_needs_a_capturing_config() {
    let configs = configs(None, H3, H3);
    let err = TlsSession::client_capturing(
        Arc::new(configs.client),
        Version::V1,
        "localhost",
        &client_params(),
    )
    .unwrap_err();
    assert!(matches!(err, TlsConfigError::NotCapturing), "{err}");
}

/// A suite Tern cannot derive QUIC keys for: AES-128-GCM's algorithms under
/// the AES-128-CCM code point.
fn unknown_suite() -> SupportedCipherSuite {
    let base = AES_128.tls13().unwrap();
    SupportedCipherSuite::Tls13(Box::leak(Box::new(Tls13CipherSuite {
        common: CipherSuiteCommon {
            suite: rustls::CipherSuite::TLS13_AES_128_CCM_SHA256,
            hash_provider: base.common.hash_provider,
            confidentiality_limit: base.common.confidentiality_limit,
        },
        hkdf_provider: base.hkdf_provider,
        aead_alg: base.aead_alg,
        quic: base.quic,
    })))
}

#[test]
fn a_switch_on_a_suite_tern_cannot_derive_for_is_refused() {
    // Switched once the suite is known: switch_version refuses.
    let (mut client, mut server) = capturing_parties(unknown_suite(), Version::V1, Version::V2);
    pump(&mut client, &mut server).unwrap();
    pump(&mut server, &mut client).unwrap();
    assert_eq!(
        client.tls.switch_version(Version::V2),
        Err(VersionSwitchError::UnsupportedSuite(
            rustls::CipherSuite::TLS13_AES_128_CCM_SHA256
        ))
    );

    // Switched before: reading the ServerHello fails with INTERNAL_ERROR.
    let (mut client, mut server) = capturing_parties(unknown_suite(), Version::V1, Version::V2);
    client.tls.switch_version(Version::V2).unwrap();
    pump(&mut client, &mut server).unwrap();
    let (side, error) = pump(&mut server, &mut client).unwrap_err();
    assert_eq!(side, Side::Client);
    assert_eq!(error.code, TransportErrorCode::INTERNAL_ERROR);
}

/// A v1 capturing client whose application key log is `key_log`,
/// switched to v2 and through a handshake with a v2 server.
fn switched_with_key_log(key_log: Arc<CapturedSecrets>) -> (Party, CapturingClientTls) {
    let mut configs = configs(None, H3, H3);
    configs.client.key_log = key_log;
    let mut cache = CapturingClientTls::default();
    let client = TlsSession::client_capturing(
        cache.for_config(&Arc::new(configs.client)),
        Version::V1,
        "localhost",
        &client_params(),
    )
    .unwrap();
    let server =
        TlsSession::server(Arc::new(configs.server), Version::V2, &server_params()).unwrap();
    let (mut client, mut server) = (Party::new(client), Party::new(server));
    client.tls.switch_version(Version::V2).unwrap();
    handshake(&mut client, &mut server).unwrap();
    (client, cache)
}

#[test]
fn switched_session_debug_shows_no_secret() {
    let captured = Arc::new(CapturedSecrets::default());
    let (mut client, cache) = switched_with_key_log(captured.clone());
    let (keys, secrets) = client.one_rtt.as_mut().unwrap();
    let next = secrets.next_packet_keys();
    let text = format!("{:?} {keys:?} {secrets:#?} {next:?} {cache:?}", client.tls);
    let captured = captured.0.lock().unwrap();
    assert!(captured.len() >= 4, "{} secrets logged", captured.len());
    for (_, secret) in captured.iter() {
        crate::crypto::assert_hides(&text, secret);
    }
}

// A capturing session still hands every secret to the application's key
// log (SSLKEYLOGFILE), switched or not.
#[test]
fn a_capturing_session_forwards_every_secret_to_the_applications_key_log() {
    let captured = Arc::new(CapturedSecrets::default());
    let _ = switched_with_key_log(captured.clone());
    let logged: Vec<String> = captured
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(l, _)| l.clone())
        .collect();
    for label in [
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    ] {
        assert!(
            logged.iter().any(|l| l == label),
            "{label} not in {logged:?}"
        );
    }
}
