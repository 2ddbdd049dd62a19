//! TLS configuration: the rustls provider per test case, certificate loading,
//! the accept-anything server certificate verifier, and the quinn crypto
//! configs built from them.
//!
//! The provider is rustls's aws-lc-rs provider (its default key exchange
//! prefers the post-quantum hybrid X25519MLKEM768), as a quinn user on
//! today's rustls gets it without asking for ring.
//!
//! ## ChaCha20 and Initial packets
//!
//! RFC 9001 §5.2 fixes Initial keys to `AEAD_AES_128_GCM` whatever TLS later
//! negotiates, and since rustls 0.23.48 every QUIC provider must hold a
//! QUIC-capable `TLS_AES_128_GCM_SHA256` for them; rustls then offers every
//! suite of its provider. So for `chacha20` the provider lists ChaCha20 first
//! and AES-128-GCM after it: the client prefers ChaCha20, and the server,
//! choosing by its own order, picks ChaCha20 whenever it is offered.

use std::path::Path;
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::{ALPN, TestCase};

/// The aws-lc-rs provider; for the `chacha20` case ChaCha20-Poly1305 first
/// and AES-128-GCM (for Initial packets) after it.
fn provider(testcase: TestCase) -> Arc<CryptoProvider> {
    let mut provider = aws_lc_rs::default_provider();
    if testcase == TestCase::ChaCha20 {
        provider.cipher_suites = vec![
            aws_lc_rs::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
        ];
    }
    Arc::new(provider)
}

/// The QUIC suite for Initial packets: always AES-128-GCM (RFC 9001 §5.2).
fn initial_suite() -> Result<rustls::quic::Suite, String> {
    aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(rustls::Tls13CipherSuite::quic_suite)
        .ok_or_else(|| "aws-lc-rs has no QUIC AES-128-GCM suite".to_owned())
}

/// The key log the environment asks for: rustls' `KeyLogFile` reads
/// `SSLKEYLOGFILE` itself; without it nothing is logged.
fn key_log() -> Option<Arc<dyn rustls::KeyLog>> {
    crate::env_opt("SSLKEYLOGFILE").map(|_| Arc::new(rustls::KeyLogFile::new()) as _)
}

/// Loads `cert.pem` (a chain, leaf first) and `priv.key` (PKCS#8 or any PEM
/// private key) from the `CERTS` directory.
fn load_certs(
    dir: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("priv.key");
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("reading {}: {e}", cert_path.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("reading {}: {e}", key_path.display()))?;
    Ok((chain, key))
}

/// The server's crypto config for `testcase`, with the certificate chain from
/// `certs`.
pub(crate) fn server_crypto(
    testcase: TestCase,
    certs: &Path,
) -> Result<Arc<QuicServerConfig>, String> {
    let (chain, key) = load_certs(certs)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider(testcase))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 config: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate: {e}"))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    // The provider's order decides: ChaCha20 first for `chacha20`.
    config.ignore_client_order = true;
    // RFC 9001 §4.6.1: rustls's QUIC API takes 0 (no 0-RTT) or u32::MAX,
    // as quinn's `ServerConfig::with_crypto` says. The tickets rustls issues
    // from its default in-memory session cache are single-use, so a
    // ticket's 0-RTT data is accepted once.
    if testcase == TestCase::ZeroRtt {
        config.max_early_data_size = u32::MAX;
    }
    if let Some(log) = key_log() {
        config.key_log = log;
    }
    let config = QuicServerConfig::with_initial(Arc::new(config), initial_suite()?)
        .map_err(|e| format!("QUIC server config: {e}"))?;
    Ok(Arc::new(config))
}

/// The client's crypto config for `testcase`: any server certificate is
/// accepted, but handshake signatures are still checked.
pub(crate) fn client_crypto(testcase: TestCase) -> Result<Arc<QuicClientConfig>, String> {
    let provider = provider(testcase);
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| format!("TLS 1.3 config: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![ALPN.to_vec()];
    // Tickets go to the config's default in-memory store, which every
    // connection made with this config shares: a second connection
    // resumes. `zerortt` also sends early data when a ticket allows it.
    config.enable_early_data = testcase == TestCase::ZeroRtt;
    if let Some(log) = key_log() {
        config.key_log = log;
    }
    let config = QuicClientConfig::with_initial(Arc::new(config), initial_suite()?)
        .map_err(|e| format!("QUIC client config: {e}"))?;
    Ok(Arc::new(config))
}

/// Accepts any server certificate (the interop runner's are self-signed or
/// from a throwaway CA), but verifies the `CertificateVerify` signature with
/// the provider's algorithms, so the server must still hold the key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
