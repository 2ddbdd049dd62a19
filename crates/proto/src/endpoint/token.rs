//! Address validation tokens (RFC 9000 §8.1.3): what a server puts in a
//! Retry packet or a NEW_TOKEN frame, and checks when a client's Initial
//! brings it back, without keeping any state per token.
//!
//! A token is sealed with AES-256-GCM under a key only this endpoint
//! holds, so a client can neither read nor forge one:
//!
//! ```text
//! kind (1) | key id (1) | nonce (12) | sealed payload | tag (16)
//! ```
//!
//! The clear header and the client's address are the associated data: a
//! Retry token binds the IP address and port its Retry went to, a NEW_TOKEN
//! token the IP address only (a client's port changes from one connection
//! to the next). The sealed payload is the issue time and, for a Retry
//! token, the client's original Destination Connection ID and the Source
//! Connection ID of the Retry, which the client's next Initial must use as
//! its Destination Connection ID.
//!
//! Nonces are random, from an RNG of the token keys' own, so a token says
//! nothing of how many others were made; 96 random bits make a repeat
//! under one key negligible (below 2^-40 after 2^28 tokens), and keys
//! rotate: each `rotation` (the longest token lifetime) from the epoch
//! starts a period with a key of its own, derived from a master secret,
//! and tokens sealed in the period before still open. Endpoints given the
//! same master secret and epoch
//! ([`EndpointConfig::token_key`](crate::config::EndpointConfig::token_key):
//! the shards of one endpoint) open each other's tokens; each still draws
//! its own nonces.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use rand::{RngCore, SeedableRng, rngs::StdRng};
use zeroize::Zeroizing;

use crate::{
    ConnectionId,
    crypto::provider::backend::{
        aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
        hmac,
    },
    packet::Version,
};

/// The AEAD tag's length.
const TAG_LEN: usize = 16;
/// The clear header: kind, key id, nonce.
const HEADER_LEN: usize = 1 + 1 + NONCE_LEN;
/// The longest payload: issue time and two connection IDs with lengths.
const MAX_PAYLOAD: usize = 8 + 2 * (1 + ConnectionId::MAX_LEN);
/// The longest token this endpoint makes; a longer one is not ours.
pub(super) const MAX_TOKEN_LEN: usize = HEADER_LEN + MAX_PAYLOAD + TAG_LEN;

/// What a token was made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenKind {
    /// Sent in a Retry packet (RFC 9000 §8.1.2).
    Retry = 0,
    /// Sent in a NEW_TOKEN frame (RFC 9000 §8.1.3).
    NewToken = 1,
}

/// What a token that opened says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opened {
    /// A Retry token: the client's original Destination Connection ID and
    /// the Retry's Source Connection ID.
    Retry {
        original_dcid: ConnectionId,
        retry_scid: ConnectionId,
    },
    /// A NEW_TOKEN token.
    NewToken,
}

/// Why a token did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invalid {
    /// The token claims to be a Retry token (RFC 9000 §8.1.3: such a client
    /// is closed with INVALID_TOKEN).
    Retry,
    /// Anything else: a NEW_TOKEN token, or not one of ours (such a token
    /// is ignored, as if there were none).
    Other,
}

/// One sealing key, for one rotation period.
struct Key {
    /// The period it serves, counted in rotations from the epoch.
    period: u64,
    aead: LessSafeKey,
}

impl Key {
    /// RFC 9000 §8.1.3 leaves the token's protection to the server: each
    /// period's key is HMAC-SHA256 of the period's number under the master
    /// secret, so that endpoints sharing the secret and the epoch (the
    /// shards of one endpoint) seal and open each other's tokens with no
    /// state in common.
    fn derive(master: &hmac::Key, period: u64) -> Self {
        let mut label = [0; 16];
        label[..8].copy_from_slice(b"tern tok");
        label[8..].copy_from_slice(&period.to_be_bytes());
        let tag = hmac::sign(master, &label);
        let mut bytes = Zeroizing::new([0; 32]);
        bytes.copy_from_slice(&tag.as_ref()[..32]);
        let aead = UnboundKey::new(&AES_256_GCM, &*bytes)
            .map(LessSafeKey::new)
            .unwrap_or_else(|_| unreachable!("a 32-byte key suits AES-256-GCM"));
        Self { period, aead }
    }

    /// The key id written in tokens: the period's low byte.
    fn id(&self) -> u8 {
        self.period.to_be_bytes()[7]
    }
}

/// The endpoint's token keys: the current period's, and the one before.
pub(super) struct TokenKeys {
    /// Draws nonces: each endpoint its own, even when keys are shared.
    rng: StdRng,
    /// What every period's key derives from.
    master: hmac::Key,
    current: Option<Key>,
    previous: Option<Key>,
    /// What periods and issue times count from: given when keys are
    /// shared, else the endpoint's first use of a token.
    epoch: Option<Instant>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Keys derived from `master`, counted from `epoch` (or from their
    /// first use), with nonces drawn from an RNG seeded by `nonce_seed`.
    pub(super) fn new(master: &[u8; 32], nonce_seed: &[u8; 32], epoch: Option<Instant>) -> Self {
        Self {
            rng: StdRng::from_seed(*nonce_seed),
            master: hmac::Key::new(hmac::HMAC_SHA256, master),
            current: None,
            previous: None,
            epoch,
        }
    }

    /// Moves to the key of `now`'s period: keys change every `rotation`
    /// (the longest token lifetime), and the previous period's key still
    /// opens tokens, so a token outlives at most one rotation.
    fn rotate(&mut self, now: Instant, rotation: Duration) -> &Key {
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = now.saturating_duration_since(epoch).as_nanos();
        let period = u64::try_from(elapsed / rotation.as_nanos().max(1)).unwrap_or(u64::MAX);
        if self.current.as_ref().is_none_or(|key| key.period != period) {
            let previous = match self.current.take() {
                Some(key) if key.period.checked_add(1) == Some(period) => Some(key),
                _ => period.checked_sub(1).map(|p| Key::derive(&self.master, p)),
            };
            self.previous = previous;
            self.current = Some(Key::derive(&self.master, period));
        }
        self.current
            .as_ref()
            .unwrap_or_else(|| unreachable!("set just above"))
    }

    /// Milliseconds from the epoch to `now`.
    fn stamp(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// Seals a token of `kind` for a client at `remote`, issued `now`;
    /// `None` only if the AEAD refuses, which it does not for a payload
    /// this short.
    pub(super) fn seal(
        &mut self,
        now: Instant,
        rotation: Duration,
        kind: TokenKind,
        remote: SocketAddr,
        cids: Option<(&ConnectionId, &ConnectionId)>,
        version: Version,
    ) -> Option<Vec<u8>> {
        let issued = self.stamp(now);
        let mut nonce = [0; NONCE_LEN];
        self.rng.fill_bytes(&mut nonce);
        let key = self.rotate(now, rotation);
        let mut token = Vec::with_capacity(MAX_TOKEN_LEN);
        token.push(kind as u8);
        token.push(key.id());
        token.extend_from_slice(&nonce);
        let header_len = token.len();
        token.extend_from_slice(&issued.to_be_bytes());
        if let Some((original_dcid, retry_scid)) = cids {
            for cid in [original_dcid, retry_scid] {
                token.push(u8::try_from(cid.len()).unwrap_or(0));
                token.extend_from_slice(cid);
            }
        }
        let aad = associated_data(&token[..header_len], kind, remote, version);
        let nonce = Nonce::assume_unique_for_key(nonce);
        let tag = key
            .aead
            .seal_in_place_separate_tag(nonce, Aad::from(&aad[..]), &mut token[header_len..])
            .ok()?;
        token.extend_from_slice(tag.as_ref());
        Some(token)
    }

    /// Opens a token a client at `remote` sent `now` in an Initial of
    /// `version`, if it is ours, for this address and version, and younger
    /// than its kind's lifetime; keys rotate every `rotation`.
    pub(super) fn open(
        &mut self,
        now: Instant,
        rotation: Duration,
        token: &[u8],
        (remote, version): (SocketAddr, Version),
        retry_lifetime: Duration,
        new_token_lifetime: Duration,
    ) -> Result<Opened, Invalid> {
        let kind = match token.first() {
            Some(0) => TokenKind::Retry,
            Some(1) => TokenKind::NewToken,
            _ => return Err(Invalid::Other),
        };
        let invalid = match kind {
            TokenKind::Retry => Invalid::Retry,
            TokenKind::NewToken => Invalid::Other,
        };
        if token.len() < HEADER_LEN + 8 + TAG_LEN || token.len() > MAX_TOKEN_LEN {
            return Err(invalid);
        }
        let key_id = token[1];
        self.rotate(now, rotation);
        let key = [self.current.as_ref(), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|key| key.id() == key_id)
            .ok_or(invalid)?;
        let mut nonce = [0; NONCE_LEN];
        nonce.copy_from_slice(&token[2..HEADER_LEN]);
        let aad = associated_data(&token[..HEADER_LEN], kind, remote, version);
        let mut sealed = [0; MAX_PAYLOAD + TAG_LEN];
        let sealed = &mut sealed[..token.len() - HEADER_LEN];
        sealed.copy_from_slice(&token[HEADER_LEN..]);
        let payload = key
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad[..]),
                sealed,
            )
            .map_err(|_| invalid)?;
        let (issued, rest) = payload.split_at(8);
        let mut stamp = [0; 8];
        stamp.copy_from_slice(issued);
        let issued = Duration::from_millis(u64::from_be_bytes(stamp));
        let epoch = self.epoch.ok_or(invalid)?;
        let age = now.saturating_duration_since(epoch).saturating_sub(issued);
        let lifetime = match kind {
            TokenKind::Retry => retry_lifetime,
            TokenKind::NewToken => new_token_lifetime,
        };
        if age > lifetime {
            return Err(invalid);
        }
        match kind {
            TokenKind::NewToken if rest.is_empty() => Ok(Opened::NewToken),
            TokenKind::Retry => {
                let (original_dcid, rest) = read_cid(rest).ok_or(invalid)?;
                let (retry_scid, rest) = read_cid(rest).ok_or(invalid)?;
                if !rest.is_empty() {
                    return Err(invalid);
                }
                Ok(Opened::Retry {
                    original_dcid,
                    retry_scid,
                })
            }
            TokenKind::NewToken => Err(invalid),
        }
    }
}

/// The associated data: the clear header, the QUIC version, then the
/// client's IP address, and for a Retry token its port. RFC 9369 §5: a
/// token is specific to the version of the connection that issued it, and
/// a server must not accept one from another; §4 lets a Retry token name
/// its version too, so that a client cannot switch versions after a Retry.
fn associated_data(
    header: &[u8],
    kind: TokenKind,
    remote: SocketAddr,
    version: Version,
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(HEADER_LEN + 4 + 16 + 2);
    aad.extend_from_slice(header);
    aad.extend_from_slice(&version.to_u32().to_be_bytes());
    match remote.ip() {
        IpAddr::V4(ip) => aad.extend_from_slice(&ip.to_ipv6_mapped().octets()),
        IpAddr::V6(ip) => aad.extend_from_slice(&ip.octets()),
    }
    if kind == TokenKind::Retry {
        aad.extend_from_slice(&remote.port().to_be_bytes());
    }
    aad
}

/// A length-prefixed connection ID, and what follows it.
fn read_cid(bytes: &[u8]) -> Option<(ConnectionId, &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len);
    let cid = ConnectionId::new(rest.get(..len)?).ok()?;
    Some((cid, &rest[len..]))
}

#[cfg(test)]
mod tests;
