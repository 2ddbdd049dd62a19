//! Key updates, on 1-RTT secrets from a real rustls QUIC handshake.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime},
    quic::{self as tls, KeyChange},
};

use crate::crypto::{CryptoError, Keys, PacketKey, Secrets};

/// Accepts any server certificate: the test is about keys, not PKI.
#[derive(Debug)]
struct AcceptAnyServer;

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![
            SignatureScheme::ECDSA_NISTP256_SHA256,
            SignatureScheme::ED25519,
        ]
    }
}

/// Runs a QUIC handshake in memory and returns each side's 1-RTT keys and
/// secrets (client first).
fn one_rtt() -> ((Keys, Secrets), (Keys, Secrets)) {
    // A fresh self-signed certificate each run, so nothing can expire.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let provider = Arc::new(crate::crypto::default_provider());
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![certified.cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            )),
        )
        .unwrap();
    server_config.alpn_protocols = vec![b"tern".to_vec()];
    let mut client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer))
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"tern".to_vec()];
    let name = ServerName::try_from("localhost").unwrap();
    let mut client = tls::Connection::from(
        tls::ClientConnection::new(Arc::new(client_config), tls::Version::V1, name, vec![])
            .unwrap(),
    );
    let mut server = tls::Connection::from(
        tls::ServerConnection::new(Arc::new(server_config), tls::Version::V1, vec![]).unwrap(),
    );
    let (mut client_keys, mut server_keys) = (None, None);
    let (mut client_space, mut server_space) = (tls::Space::Initial, tls::Space::Initial);
    for _ in 0..10 {
        exchange(
            &mut client,
            &mut server,
            &mut client_keys,
            &mut client_space,
        );
        exchange(
            &mut server,
            &mut client,
            &mut server_keys,
            &mut server_space,
        );
    }
    (client_keys.unwrap(), server_keys.unwrap())
}

/// Moves every handshake byte `from` has to `to`, keeping `from`'s 1-RTT
/// keys when they appear; `space` is where `from` writes.
fn exchange(
    from: &mut tls::Connection,
    to: &mut tls::Connection,
    keys: &mut Option<(Keys, Secrets)>,
    space: &mut tls::Space,
) {
    loop {
        let mut buf = Vec::new();
        let change = from.write_hs(&mut buf);
        if !buf.is_empty() {
            to.read_hs_in_space(&buf, *space).unwrap();
        }
        match change {
            Some(KeyChange::OneRtt { keys: k, next }) => {
                *keys = Some((Keys::from(k), Secrets::from(next)));
                *space = tls::Space::ApplicationData;
            }
            Some(KeyChange::Handshake { .. }) => *space = tls::Space::Handshake,
            None if buf.is_empty() => break,
            None => {}
        }
    }
}

/// Seals a short header packet numbered `pn` with `packet_key`, then
/// applies `keys`' header protection.
fn seal(keys: &Keys, packet_key: &PacketKey, key_phase: bool, pn: u8) -> Vec<u8> {
    let mut packet = vec![0x40 | (u8::from(key_phase) << 2), 0xaa, 0xbb, pn];
    packet.extend_from_slice(b"stream data");
    packet.resize(packet.len() + packet_key.tag_len(), 0);
    packet_key.encrypt(u64::from(pn), &mut packet, 4).unwrap();
    keys.local.header.protect(&mut packet, 3).unwrap();
    packet
}

// RFC 9001 §6.1 (test): after a key update both ends derive the same next
// packet keys, the header protection keys stay, and the old packet key no
// longer opens the new phase.
#[test]
fn a_key_update_moves_both_ends_to_the_same_next_keys() {
    let ((client, mut client_next), (server, mut server_next)) = one_rtt();
    let packet = seal(&client, &client.local.packet, false, 1);
    let mut received = packet.clone();
    server.remote.open(&mut received, 3, Some(0)).unwrap();

    let client_gen1 = client_next.next_packet_keys();
    let server_gen1 = server_next.next_packet_keys();
    let packet = seal(&client, &client_gen1.local, true, 2);

    let mut received = packet.clone();
    let header = server.remote.header.unprotect(&mut received, 3).unwrap();
    assert_eq!(header.first_byte & 0x04, 0x04, "key phase bit");
    let pn = header.pn.expand(Some(1));
    let mut stale = received.clone();
    assert_eq!(
        server
            .remote
            .packet
            .decrypt(pn, &mut stale, header.header_len),
        Err(CryptoError::AuthenticationFailed)
    );
    let payload = server_gen1
        .remote
        .decrypt(pn, &mut received, header.header_len)
        .unwrap();
    assert_eq!(&received[payload], b"stream data");

    // And back: the server's next generation opens on the client.
    let reply = seal(&server, &server_gen1.local, true, 7);
    let mut received = reply.clone();
    let header = client.remote.header.unprotect(&mut received, 3).unwrap();
    client_gen1
        .remote
        .decrypt(7, &mut received, header.header_len)
        .unwrap();
}
