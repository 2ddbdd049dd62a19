//! One certificate and one pair of rustls configurations, shared by both
//! stacks: TLS 1.3 only, no session resumption (every handshake is full),
//! the crypto provider of the chosen variant.

use std::sync::Arc;

use rustls::{
    RootCertStore,
    crypto::{CryptoProvider, aws_lc_rs},
    pki_types::{CertificateDer, PrivateKeyDer},
};

/// Which key exchange group and cipher suite the handshake uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suite {
    /// X25519 with AES-128-GCM on both stacks.
    Aes128,
    /// X25519 with AES-256-GCM on both stacks.
    Aes256,
    /// Each stack's default provider.
    Defaults,
}

impl Suite {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "x25519-aes128" => Some(Self::Aes128),
            "x25519-aes256" => Some(Self::Aes256),
            "defaults" => Some(Self::Defaults),
            _ => None,
        }
    }

    /// The provider `stack` uses for this variant.
    pub fn provider(self, stack: &str) -> CryptoProvider {
        let narrow = |suite| {
            let mut provider = aws_lc_rs::default_provider();
            provider.kx_groups = vec![aws_lc_rs::kx_group::X25519];
            // AES-128-GCM stays available for Initial packets (RFC 9001
            // §5.2); the server's own order decides the handshake's suite.
            provider.cipher_suites = vec![suite, aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256];
            provider.cipher_suites.dedup_by_key(|s| s.suite());
            provider
        };
        match self {
            Self::Aes128 => narrow(aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256),
            Self::Aes256 => narrow(aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384),
            Self::Defaults if stack == "tern" => tern::tls::default_provider(),
            Self::Defaults => aws_lc_rs::default_provider(),
        }
    }
}

/// The certificate, key and both configurations for one stack.
pub struct Tls {
    pub client: Arc<rustls::ClientConfig>,
    pub server: Arc<rustls::ServerConfig>,
    /// The group the client prefers (and so the one negotiated).
    pub kx: String,
    /// The suite the server prefers.
    pub cipher: String,
}

pub const ALPN: &[u8] = b"bench";

/// A throwaway certificate for "localhost" and its PKCS#8 key, as DER.
pub fn certificate() -> Result<(Vec<u8>, Vec<u8>), String> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()])
        .map_err(|e| format!("rcgen: {e}"))?;
    Ok((cert.cert.der().to_vec(), cert.signing_key.serialize_der()))
}

/// A throwaway certificate for "localhost" with an RSA key of `bits`
/// (3072 or 4096; signed with PKCS#1 SHA-256, while the server signs its
/// handshakes with RSA-PSS), and its PKCS#8 key, as DER. An RSA-3072
/// signature costs the server a millisecond or more while checking it
/// costs the client tens of microseconds: handshakes against it are bound
/// by the server.
pub fn certificate_rsa(bits: u32) -> Result<(Vec<u8>, Vec<u8>), String> {
    let size = match bits {
        3072 => rcgen::RsaKeySize::_3072,
        4096 => rcgen::RsaKeySize::_4096,
        _ => return Err(format!("no RSA key of {bits} bits here: 3072 or 4096")),
    };
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
        .map_err(|e| format!("rcgen: {e}"))?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .and_then(|params| params.self_signed(&key))
        .map_err(|e| format!("rcgen: {e}"))?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

pub fn configs(stack: &str, suite: Suite, cert: Vec<u8>, key: Vec<u8>) -> Result<Tls, String> {
    let der = CertificateDer::from(cert);
    let key = PrivateKeyDer::Pkcs8(key.into());
    let provider = Arc::new(suite.provider(stack));
    let kx = provider
        .kx_groups
        .first()
        .map_or("?".into(), |g| format!("{:?}", g.name()));
    let cipher = provider
        .cipher_suites
        .first()
        .map_or("?".into(), |s| format!("{:?}", s.suite()));

    let mut server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .map_err(|e| e.to_string())?;
    server.alpn_protocols = vec![ALPN.to_vec()];
    server.max_early_data_size = 0;
    server.ignore_client_order = true;

    let mut roots = RootCertStore::empty();
    roots.add(der).map_err(|e| e.to_string())?;
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![ALPN.to_vec()];
    client.resumption = rustls::client::Resumption::disabled();
    Ok(Tls {
        client: Arc::new(client),
        server: Arc::new(server),
        kx,
        cipher,
    })
}
