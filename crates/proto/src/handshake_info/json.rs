//! `Serialize` for [`HandshakeInfo`] (feature `serde`): a flat object of
//! strings and numbers that logs and tools can read without knowing Rust
//! types.

use std::{net::SocketAddr, time::Duration};

use serde::{Serialize, Serializer};

use super::HandshakeInfo;
use crate::Side;

/// The serialized shape; field names are the JSON keys.
#[derive(Serialize)]
struct Flat<'a> {
    side: &'static str,
    quic_version: u32,
    tls_version: &'static str,
    cipher_suite: Option<&'static str>,
    cipher_suite_id: Option<u16>,
    aead: Option<&'static str>,
    key_len: Option<usize>,
    hash: Option<&'static str>,
    key_exchange_group: Option<&'static str>,
    signature_scheme: Option<String>,
    alpn: Option<String>,
    server_name: Option<&'a str>,
    peer_certificates: usize,
    resumed: bool,
    hello_retry_request: bool,
    retry_used: bool,
    address_validation: &'static str,
    early_data: &'static str,
    local_address: Option<SocketAddr>,
    remote_address: SocketAddr,
    handshake_duration_us: u64,
    rtt_us: u64,
}

/// Serializes as an object with the keys `side` (`"client"` or
/// `"server"`), `quic_version` (the wire value), `tls_version`
/// (`"TLSv1.3"`), `cipher_suite` (the IANA name), `cipher_suite_id` (its
/// IANA code point as a number), `aead`, `key_len`, `hash`,
/// `key_exchange_group`, `signature_scheme` (the rustls name, such as
/// `"ED25519"`, or the code point in hex for a scheme rustls does not
/// name), `alpn` (read as UTF-8, invalid bytes replaced), `server_name`,
/// `peer_certificates` (how many certificates the peer presented, not the
/// certificates), `resumed`, `hello_retry_request`, `retry_used`,
/// `address_validation` (`"none"`, `"retry"` or `"token"`, see
/// [`AddressValidation`](crate::AddressValidation)), `early_data`
/// (`"not_attempted"`, `"accepted"` or `"rejected"`), `local_address`,
/// `remote_address`, `handshake_duration_us` and `rtt_us` (microseconds).
/// Absent values are `null`. Both sides' transport parameters and the
/// completion instant (which has no portable representation) are left out.
impl Serialize for HandshakeInfo {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let suite = self.cipher_suite();
        Flat {
            side: match self.side {
                Side::Client => "client",
                Side::Server => "server",
            },
            quic_version: self.quic_version,
            tls_version: self.tls_version().as_str(),
            cipher_suite: suite.map(|s| s.name),
            cipher_suite_id: suite.map(|s| s.id),
            aead: suite.map(|s| s.aead),
            key_len: suite.map(|s| s.key_len),
            hash: suite.map(|s| s.hash),
            key_exchange_group: self.key_exchange_group(),
            signature_scheme: self.signature_scheme().map(|scheme| {
                scheme
                    .as_str()
                    .map_or_else(|| format!("0x{:04x}", u16::from(scheme)), str::to_owned)
            }),
            alpn: self
                .alpn()
                .map(|alpn| String::from_utf8_lossy(alpn).into_owned()),
            server_name: self.server_name(),
            peer_certificates: self.peer_certificates().len(),
            resumed: self.resumed(),
            hello_retry_request: self.hello_retry_request(),
            retry_used: self.retry_used(),
            address_validation: self.address_validation().as_str(),
            early_data: self.early_data().as_str(),
            local_address: self.local_address,
            remote_address: self.remote_address,
            handshake_duration_us: micros(self.handshake_duration),
            rtt_us: micros(self.rtt),
        }
        .serialize(serializer)
    }
}

/// Whole microseconds, saturating past 2^64 - 1 (half a million years).
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
