//! The load balancer's side of QUIC-LB (draft-ietf-quic-load-balancers):
//! from a connection ID to the server ID it encodes, and from there to a
//! backend address.
//!
//! Written from the draft's text and test vectors alone, apart from the
//! generator the servers use, so that the two check each other: a CID the
//! servers issue routes here only if both read the draft the same way.
//!
//! Every input is hostile: nothing here panics, indexes out of bounds or
//! allocates more than the configured lengths.

use std::{collections::HashMap, fmt, net::SocketAddr};

use aes::{
    Aes128,
    cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit},
};

/// The config rotation codepoint no configuration may use: CIDs carrying
/// it are always unroutable.
pub(crate) const RESERVED_CONFIG_ID: u8 = 0b111;
/// AES-128's block, and the key, in octets.
const BLOCK: usize = 16;
/// The longest server ID plus nonce: QUIC v1's 20-octet CIDs less the first
/// octet.
pub(crate) const MAX_PLAINTEXT: usize = 19;

/// One QUIC-LB configuration as the load balancer holds it.
#[derive(Clone)]
pub(crate) struct LbConfig {
    config_id: u8,
    server_id_len: usize,
    nonce_len: usize,
    cipher: Option<Aes128>,
    servers: HashMap<Vec<u8>, SocketAddr>,
}

impl fmt::Debug for LbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("LbConfig")
            .field("config_id", &self.config_id)
            .field("server_id_len", &self.server_id_len)
            .field("nonce_len", &self.nonce_len)
            .field("keyed", &self.cipher.is_some())
            .field("servers", &self.servers)
            .finish()
    }
}

impl LbConfig {
    /// A configuration with id `config_id` (0 to 6), these field lengths in
    /// octets, and `key` if the CIDs are encrypted.
    ///
    /// # Errors
    /// When the values break the draft's limits.
    pub(crate) fn new(
        config_id: u8,
        server_id_len: usize,
        nonce_len: usize,
        key: Option<[u8; BLOCK]>,
    ) -> Result<Self, String> {
        // draft-ietf-quic-load-balancers §3.1: 0b111 is reserved; the id is 3 bits.
        if config_id >= RESERVED_CONFIG_ID {
            return Err(format!("config id {config_id} is not one of 0 to 6"));
        }
        // draft-ietf-quic-load-balancers §5.3: a server ID of at least one
        // octet, a nonce of at least four, 19 octets together at most.
        if server_id_len == 0 {
            return Err("the server ID length must be at least 1".into());
        }
        if nonce_len < 4 {
            return Err(format!("the nonce length {nonce_len} is below 4"));
        }
        if server_id_len + nonce_len > MAX_PLAINTEXT {
            return Err(format!(
                "server ID and nonce lengths sum to {}, above {MAX_PLAINTEXT}",
                server_id_len + nonce_len
            ));
        }
        Ok(Self {
            config_id,
            server_id_len,
            nonce_len,
            cipher: key.map(|key| Aes128::new(&Array::from(key))),
            servers: HashMap::new(),
        })
    }

    /// Maps server ID `server_id` to `backend`.
    ///
    /// # Errors
    /// When the ID is not of the configured length.
    pub(crate) fn add_server(
        &mut self,
        server_id: &[u8],
        backend: SocketAddr,
    ) -> Result<(), String> {
        if server_id.len() != self.server_id_len {
            return Err(format!(
                "server ID {} is {} octets, the configuration says {}",
                hex(server_id),
                server_id.len(),
                self.server_id_len
            ));
        }
        self.servers.insert(server_id.to_vec(), backend);
        Ok(())
    }

    /// The length of this configuration's CIDs: the first octet, the
    /// server ID and the nonce.
    pub(crate) fn cid_len(&self) -> usize {
        1 + self.server_id_len + self.nonce_len
    }

    /// The server ID in `cid` (first octet included), decrypted if the
    /// configuration has a key; `None` if the CID is too short.
    pub(crate) fn server_id(&self, cid: &[u8]) -> Option<ServerId> {
        let plaintext_len = self.server_id_len + self.nonce_len;
        let block = cid.get(1..1 + plaintext_len)?;
        let mut sid = ServerId::default();
        let Some(cipher) = &self.cipher else {
            // draft-ietf-quic-load-balancers §5.5: without a key the server
            // ID is the octets right after the first.
            sid.set(block.get(..self.server_id_len)?);
            return Some(sid);
        };
        if plaintext_len == BLOCK {
            // draft-ietf-quic-load-balancers §5.5.1: sixteen octets are one
            // AES-ECB block; decrypt it and read the leading octets.
            let mut b = Array::from(<[u8; BLOCK]>::try_from(block).ok()?);
            cipher.decrypt_block(&mut b);
            sid.set(b.get(..self.server_id_len)?);
        } else {
            let plaintext = four_pass_decrypt(cipher, block, self.server_id_len)?;
            sid.set(plaintext.get(..self.server_id_len)?);
        }
        Some(sid)
    }

    /// The backend of `cid`, or why it has none.
    ///
    /// # Errors
    /// [`Unroutable::TooShort`] or [`Unroutable::UnknownServer`].
    pub(crate) fn route(&self, cid: &[u8]) -> Result<(ServerId, SocketAddr), Unroutable> {
        let sid = self.server_id(cid).ok_or(Unroutable::TooShort)?;
        // draft-ietf-quic-load-balancers §4.1: a server ID that maps to no
        // active server makes the CID unroutable.
        let backend = *self
            .servers
            .get(sid.as_slice())
            .ok_or(Unroutable::UnknownServer)?;
        Ok((sid, backend))
    }
}

/// A decoded server ID: at most 19 octets, inline.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ServerId {
    len: usize,
    bytes: [u8; MAX_PLAINTEXT],
}

impl ServerId {
    fn set(&mut self, id: &[u8]) {
        let len = id.len().min(MAX_PLAINTEXT);
        if let (Some(dst), Some(src)) = (self.bytes.get_mut(..len), id.get(..len)) {
            dst.copy_from_slice(src);
            self.len = len;
        }
    }

    /// The octets of the ID.
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(self.as_slice()))
    }
}

/// Why a CID routes nowhere (draft-ietf-quic-load-balancers §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unroutable {
    /// A zero-length CID: there is no first octet.
    Empty,
    /// Config rotation 0b111: a server without a configuration made it.
    ReservedConfig,
    /// No configuration has this codepoint.
    UnknownConfig,
    /// Shorter than the configuration's first octet, server ID and nonce.
    TooShort,
    /// The server ID maps to no backend.
    UnknownServer,
}

/// The configurations the load balancer knows, by config rotation
/// codepoint (several may be active during a rotation).
#[derive(Clone, Debug, Default)]
pub(crate) struct Decoder {
    configs: [Option<LbConfig>; 7],
}

impl Decoder {
    /// Adds (or replaces) the configuration of its codepoint.
    pub(crate) fn insert(&mut self, config: LbConfig) {
        if let Some(slot) = self.configs.get_mut(usize::from(config.config_id)) {
            *slot = Some(config);
        }
    }

    /// The configuration that the first octet `first_octet` names.
    ///
    /// # Errors
    /// When the codepoint is reserved or unconfigured.
    pub(crate) fn config(&self, first_octet: u8) -> Result<&LbConfig, Unroutable> {
        // draft-ietf-quic-load-balancers §3.1: the three most significant
        // bits of the first octet name the configuration.
        let id = first_octet >> 5;
        if id == RESERVED_CONFIG_ID {
            // draft-ietf-quic-load-balancers §4.1: 0b111 is always unroutable.
            return Err(Unroutable::ReservedConfig);
        }
        self.configs
            .get(usize::from(id))
            .and_then(Option::as_ref)
            .ok_or(Unroutable::UnknownConfig)
    }

    /// The server ID and backend of `cid`, or why it is unroutable.
    ///
    /// # Errors
    /// Every [`Unroutable`] reason.
    pub(crate) fn route(&self, cid: &[u8]) -> Result<(ServerId, SocketAddr), Unroutable> {
        let first = *cid.first().ok_or(Unroutable::Empty)?;
        self.config(first)?.route(cid)
    }
}

/// `expand(length, pass, input)` of draft-ietf-quic-load-balancers
/// §5.4.2.2: the input octets, zeros, then the length and pass octets.
fn expand(plaintext_len: usize, pass: u8, half: &[u8]) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    let n = half.len().min(BLOCK - 2);
    if let (Some(dst), Some(src)) = (out.get_mut(..n), half.get(..n)) {
        dst.copy_from_slice(src);
    }
    // The length is at most 19 (checked by `LbConfig::new`).
    out[BLOCK - 2] = u8::try_from(plaintext_len).unwrap_or(u8::MAX);
    out[BLOCK - 1] = pass;
    out
}

/// `target ^= truncate(AES_ECB(key, expand(len, pass, input)), half_len)`:
/// one pass of the Feistel network (draft-ietf-quic-load-balancers
/// §5.4.2.3 steps 3 and 4). The round function encrypts in both
/// directions; only the order of passes differs.
fn feistel_pass(cipher: &Aes128, plaintext_len: usize, pass: u8, input: &[u8], target: &mut [u8]) {
    let mut block = Array::from(expand(plaintext_len, pass, input));
    cipher.encrypt_block(&mut block);
    for (t, k) in target.iter_mut().zip(block.iter()) {
        *t ^= k;
    }
}

/// Clears the last four bits of the left half (odd lengths only).
fn clear_last_nibble(half: &mut [u8], odd: bool) {
    if let (true, Some(last)) = (odd, half.last_mut()) {
        *last &= 0xf0;
    }
}

/// Clears the first four bits of the right half (odd lengths only).
fn clear_first_nibble(half: &mut [u8], odd: bool) {
    if let (true, Some(first)) = (odd, half.first_mut()) {
        *first &= 0x0f;
    }
}

/// Undoes the four-pass encryption of `ciphertext` (server ID and nonce,
/// without the first octet) far enough to read `server_id_len` octets:
/// three passes when the server ID lies in the left half, four otherwise.
/// The returned buffer holds the plaintext from its first octet (the
/// nonce's part is left encrypted after three passes).
fn four_pass_decrypt(
    cipher: &Aes128,
    ciphertext: &[u8],
    server_id_len: usize,
) -> Option<[u8; MAX_PLAINTEXT]> {
    let len = ciphertext.len();
    if !(5..=MAX_PLAINTEXT).contains(&len) || server_id_len > len {
        return None;
    }
    let odd = len % 2 == 1;
    let half_len = len.div_ceil(2);
    // draft-ietf-quic-load-balancers §5.5.2: split into equal halves; with
    // an odd length the middle octet's high nibble belongs to the left
    // half and its low nibble to the right one (§5.4.2.3 step 2).
    let mut left = [0u8; 10];
    let mut right = [0u8; 10];
    let left = left.get_mut(..half_len)?;
    let right = right.get_mut(..half_len)?;
    left.copy_from_slice(ciphertext.get(..half_len)?);
    right.copy_from_slice(ciphertext.get(len - half_len..)?);
    clear_last_nibble(left, odd);
    clear_first_nibble(right, odd);

    // left_1 = left_2 ^ truncate(AES(expand(len, 4, right_2)))
    feistel_pass(cipher, len, 4, right, left);
    clear_last_nibble(left, odd);
    // right_1 = right_2 ^ truncate(AES(expand(len, 3, left_1))). The
    // draft's pseudocode clears the first bits of left_1 here; the right
    // half is meant, as in step 9 of the encryption it undoes.
    feistel_pass(cipher, len, 3, left, right);
    clear_first_nibble(right, odd);
    // left_0 = left_1 ^ truncate(AES(expand(len, 2, right_1)))
    feistel_pass(cipher, len, 2, right, left);
    clear_last_nibble(left, odd);
    // draft-ietf-quic-load-balancers §5.5.2: a server ID longer than the
    // nonce reaches into the right half, which takes a fourth pass.
    if server_id_len > len / 2 {
        // right_0 = right_1 ^ truncate(AES(expand(len, 1, left_0)))
        feistel_pass(cipher, len, 1, left, right);
        clear_first_nibble(right, odd);
    }
    let mut plaintext = [0u8; MAX_PLAINTEXT];
    plaintext.get_mut(..half_len)?.copy_from_slice(left);
    let tail = plaintext.get_mut(len - half_len..len)?;
    if odd {
        // The middle octet: the left half's high nibble, the right's low.
        let (first, rest) = tail.split_first_mut()?;
        let (right_first, right_rest) = right.split_first()?;
        *first |= right_first;
        rest.copy_from_slice(right_rest);
    } else {
        tail.copy_from_slice(right);
    }
    Some(plaintext)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hex with optional `:` separators (`8f:95:f0` or `8f95f0`).
///
/// # Errors
/// On an odd number of digits or a non-hex character.
#[cfg(test)]
pub(crate) fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b':').collect();
    if digits.len() % 2 == 1 {
        return Err(format!("{text:?}: an odd number of hex digits"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(|| format!("{text:?}: not hex"))
        })
        .collect()
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
