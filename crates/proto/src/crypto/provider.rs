//! The crypto provider tern-proto is built with, and Tern's defaults on it.
//!
//! One of two cargo features picks the cryptography under rustls and under
//! the few primitives QUIC needs outside TLS (the Retry integrity tag's
//! AES-128-GCM and the HMAC behind stateless reset tokens):
//!
//! - `aws-lc-rs` (the default): rustls's aws-lc-rs provider, which offers
//!   the hybrid post-quantum key exchange X25519MLKEM768. It compiles C
//!   code, so the build needs a C compiler.
//! - `ring`: rustls's ring provider, for builds without a C toolchain. It
//!   has no post-quantum key exchange; rustls 0.23.48 deprecated it for
//!   that reason, which is why it is no longer the default.
//!
//! With both features on, aws-lc-rs is used. A build with neither does not
//! compile. Whatever is built in, a connection takes its packet protection
//! (Initial keys included) from the provider of the rustls configuration it
//! was given, so an application may bring any provider with QUIC support.

use rustls::crypto::{CryptoProvider, SupportedKxGroup};

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
compile_error!(
    "tern-proto needs a crypto provider: enable its `aws-lc-rs` feature (the default) or `ring`"
);

/// The primitives outside rustls (AEAD for Retry tags, HMAC), from the
/// library the provider is built on; aws-lc-rs mirrors ring's API.
#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring as backend;

#[cfg(feature = "aws-lc-rs")]
use rustls::crypto::aws_lc_rs as rustls_backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use rustls::crypto::ring as rustls_backend;

/// The name of the crypto library tern-proto was built with: `"aws-lc-rs"`
/// or `"ring"`.
#[cfg(feature = "aws-lc-rs")]
pub const BACKEND: &str = "aws-lc-rs";
/// The name of the crypto library tern-proto was built with: `"aws-lc-rs"`
/// or `"ring"`.
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub const BACKEND: &str = "ring";

/// Tern's default rustls crypto provider.
///
/// It is the backend's own provider with the key exchange groups in Tern's
/// order of preference:
///
/// - aws-lc-rs: X25519MLKEM768, the hybrid of X25519 and ML-KEM-768 that
///   browsers and large CDNs negotiate today, then X25519, secp256r1 and
///   secp384r1. A client sends a key share for X25519MLKEM768 and one for
///   X25519, so a server without post-quantum support answers with X25519
///   without an extra round trip.
/// - ring: X25519, secp256r1, secp384r1 (rustls's own ring default puts
///   secp384r1 first).
///
/// Cipher suites are the backend's TLS 1.3 defaults (AES-256-GCM,
/// AES-128-GCM, ChaCha20-Poly1305); the TLS 1.2 suites are dropped, since
/// QUIC runs on TLS 1.3 only (RFC 9001 §4.2).
#[must_use]
pub fn default_provider() -> CryptoProvider {
    let mut provider = backend_provider();
    provider.kx_groups = default_kx_groups();
    provider
        .cipher_suites
        .retain(|suite| suite.tls13().is_some());
    provider
}

#[cfg(feature = "aws-lc-rs")]
fn backend_provider() -> CryptoProvider {
    rustls_backend::default_provider()
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[expect(
    deprecated,
    reason = "rustls deprecated its ring provider for lacking post-quantum key exchange; \
              the `ring` feature is for builds that accept that, and aws-lc-rs is the default"
)]
fn backend_provider() -> CryptoProvider {
    rustls_backend::default_provider()
}

#[cfg(feature = "aws-lc-rs")]
fn default_kx_groups() -> Vec<&'static dyn SupportedKxGroup> {
    use rustls_backend::kx_group;
    vec![
        kx_group::X25519MLKEM768,
        kx_group::X25519,
        kx_group::SECP256R1,
        kx_group::SECP384R1,
    ]
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
fn default_kx_groups() -> Vec<&'static dyn SupportedKxGroup> {
    use rustls_backend::kx_group;
    vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1]
}

/// The backend's TLS 1.3 cipher suites, for building a provider that
/// offers fewer of them (see [`with_cipher_suites`]).
pub mod cipher_suite {
    #[cfg(feature = "aws-lc-rs")]
    pub use rustls::crypto::aws_lc_rs::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    pub use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
}

/// `provider` with its cipher suites narrowed to `suites`, in that order of
/// preference, followed by AES-128-GCM when `suites` lacks it.
///
/// RFC 9001 §5.2 protects Initial packets with AES-128-GCM whatever the
/// handshake negotiates, and rustls (since 0.23.48) refuses a QUIC
/// configuration whose provider has no QUIC-capable TLS13_AES_128_GCM_SHA256
/// for that purpose. rustls also offers every suite of its provider in the
/// ClientHello, so AES-128-GCM is offered too, last. To keep the handshake
/// on `suites` alone, set the same list as the configuration's
/// `handshake_cipher_suites` (see
/// [`ClientConfig`](crate::config::ClientConfig) and
/// [`ServerConfig`](crate::config::ServerConfig)); then a peer that picks
/// anything else is refused with a handshake_failure alert.
///
/// ```
/// use tern_proto::crypto::{cipher_suite, default_provider, with_cipher_suites};
///
/// let provider = with_cipher_suites(default_provider(), &[cipher_suite::TLS13_CHACHA20_POLY1305_SHA256]);
/// let names: Vec<_> = provider.cipher_suites.iter().map(|s| s.suite()).collect();
/// assert_eq!(
///     names,
///     [
///         rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
///         rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
///     ]
/// );
/// ```
#[must_use]
pub fn with_cipher_suites(
    mut provider: CryptoProvider,
    suites: &[rustls::SupportedCipherSuite],
) -> CryptoProvider {
    let initial = provider
        .cipher_suites
        .iter()
        .find(|suite| is_quic_initial_suite(suite))
        .copied()
        .or_else(|| {
            let builtin = cipher_suite::TLS13_AES_128_GCM_SHA256;
            is_quic_initial_suite(&builtin).then_some(builtin)
        });
    let mut list = suites.to_vec();
    if let Some(initial) = initial
        && !list.iter().any(|suite| suite.suite() == initial.suite())
    {
        list.push(initial);
    }
    provider.cipher_suites = list;
    provider
}

/// RFC 9001 §5.2: the suite Initial packets are protected with, when it
/// carries QUIC's packet protection algorithms.
pub(crate) fn is_quic_initial_suite(suite: &rustls::SupportedCipherSuite) -> bool {
    suite.suite() == rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        && suite.tls13().is_some_and(|tls13| tls13.quic.is_some())
}

/// The backend's AES-128-GCM suite as a QUIC suite: what
/// [`Keys::initial`](crate::crypto::Keys::initial) derives Initial keys
/// with when no configuration is at hand. The match runs at compile time.
pub(crate) static BUILTIN_INITIAL_SUITE: rustls::quic::Suite =
    match cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => match suite.quic {
            Some(quic) => rustls::quic::Suite { suite, quic },
            None => panic!("the backend's TLS13_AES_128_GCM_SHA256 has no QUIC algorithm"),
        },
        None => panic!("the backend's TLS13_AES_128_GCM_SHA256 is not a TLS 1.3 suite"),
    };
