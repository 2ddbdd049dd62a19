//! Ready-made rustls configurations for QUIC: TLS 1.3 only, the ring
//! provider, ALPN set. Bring your own `rustls::ClientConfig` /
//! `ServerConfig` for anything else.

use std::sync::Arc;

use rustls::{
    RootCertStore,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime},
};
use tern_proto::config::{ClientConfig, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration presenting `cert_chain` with `key`, offering the
/// `alpn` protocols.
///
/// # Errors
/// rustls's error when the key does not match the certificate or is of a
/// kind it does not support.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    alpn: &[&[u8]],
) -> Result<ServerConfig, rustls::Error> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)?;
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // rustls's QUIC API takes 0 (no 0-RTT) or u32::MAX here.
    tls.max_early_data_size = 0;
    Ok(ServerConfig::new(Arc::new(tls)))
}

/// A client configuration trusting `roots`, offering the `alpn` protocols.
///
/// # Errors
/// rustls's error when TLS 1.3 is unavailable (it never is with ring).
pub fn client_config(roots: RootCertStore, alpn: &[&[u8]]) -> Result<ClientConfig, rustls::Error> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ClientConfig::new(Arc::new(tls)))
}

/// A client configuration that accepts **any** server certificate. Only
/// for tests and tools talking to servers with throwaway certificates
/// (`tern get --insecure`): it gives no protection against impostors.
///
/// # Errors
/// rustls's error when TLS 1.3 is unavailable (it never is with ring).
pub fn dangerous_insecure_client_config(alpn: &[&[u8]]) -> Result<ClientConfig, rustls::Error> {
    dangerous_insecure_client_config_with(provider(), alpn)
}

/// [`dangerous_insecure_client_config`] on a given crypto provider, for
/// example one restricted to a single cipher suite.
///
/// # Errors
/// rustls's error when the provider cannot do TLS 1.3.
pub fn dangerous_insecure_client_config_with(
    provider: Arc<rustls::crypto::CryptoProvider>,
    alpn: &[&[u8]],
) -> Result<ClientConfig, rustls::Error> {
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth();
    tls.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ClientConfig::new(Arc::new(tls)))
}

/// Accepts every certificate, but still checks the handshake signatures
/// with the provider's algorithms.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
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
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
