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
    aead: Option<&'static str>,
    key_len: Option<usize>,
    hash: Option<&'static str>,
    key_exchange_group: Option<&'static str>,
    alpn: Option<String>,
    server_name: Option<&'a str>,
    peer_certificates: usize,
    resumed: bool,
    early_data: &'static str,
    local_address: Option<SocketAddr>,
    remote_address: SocketAddr,
    handshake_duration_us: u64,
    rtt_us: u64,
}

/// Serializes as an object with the keys `side` (`"client"` or
/// `"server"`), `quic_version` (the wire value), `tls_version`
/// (`"TLSv1.3"`), `cipher_suite` (the IANA name), `aead`, `key_len`,
/// `hash`, `key_exchange_group`, `alpn` (read as UTF-8, invalid bytes
/// replaced), `server_name`, `peer_certificates` (how many certificates the
/// peer presented, not the certificates), `resumed`, `early_data`
/// (`"not_attempted"`, `"accepted"` or `"rejected"`), `local_address`,
/// `remote_address`, `handshake_duration_us` and `rtt_us` (microseconds).
/// Absent values are `null`. The peer's transport parameters and the
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
            aead: suite.map(|s| s.aead),
            key_len: suite.map(|s| s.key_len),
            hash: suite.map(|s| s.hash),
            key_exchange_group: self.key_exchange_group(),
            alpn: self
                .alpn()
                .map(|alpn| String::from_utf8_lossy(alpn).into_owned()),
            server_name: self.server_name(),
            peer_certificates: self.peer_certificates().len(),
            resumed: self.resumed(),
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
