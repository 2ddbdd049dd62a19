//! Writing a server ID and a nonce into a connection ID, and reading them
//! back: in plaintext, with single-pass AES-128-ECB, or with the draft's
//! four-pass Feistel network.

use std::fmt;

use aes::{
    Aes128,
    cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit},
};
use tern_proto::ConnectionId;

use crate::Config;

/// Encodes and decodes the connection IDs of one [`Config`]; holds the
/// expanded AES key (wiped when dropped) when the config has a key.
pub struct Codec {
    config: Config,
    cipher: Option<Aes128>,
}

/// A connection ID opened by [`Codec::decode`]: its first octet, server
/// ID and nonce.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    first_octet: u8,
    plaintext: [u8; Config::MAX_PLAINTEXT_LEN],
    server_id_len: u8,
    nonce_len: u8,
}

/// Why a connection ID is not one of a [`Codec`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The ID's length is not the configuration's.
    #[error("a connection ID of {actual} bytes; this configuration's have {expected}")]
    Length {
        /// The configuration's length.
        expected: usize,
        /// The ID's length.
        actual: usize,
    },
    /// The first octet names another config rotation codepoint.
    #[error("the connection ID is of config {actual}; this configuration is {expected}")]
    ConfigId {
        /// The configuration's codepoint.
        expected: u8,
        /// The ID's top 3 bits.
        actual: u8,
    },
}

/// A nonce of the wrong length was given to [`Codec::encode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a nonce of {actual} bytes; this configuration's have {expected}")]
pub struct NonceLengthError {
    /// The configuration's nonce length.
    pub expected: usize,
    /// The nonce's length.
    pub actual: usize,
}

impl Codec {
    /// The codec of `config`.
    #[must_use]
    pub fn new(config: Config) -> Self {
        let cipher = config.key().map(|key| Aes128::new(&Array::from(*key)));
        Self { config, cipher }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The connection ID carrying this server's ID and `nonce`, encrypted
    /// if the configuration has a key. When the configuration does not
    /// encode the length, the first octet's low 5 bits are those of
    /// `random_bits`, which the caller draws at random.
    ///
    /// The caller chooses the nonce, and must never repeat one under the
    /// same key: two IDs from one nonce are identical and expose the key
    /// to analysis (draft-ietf-quic-load-balancers §9.6). A plaintext
    /// configuration needs nonces that look unrelated to each other, so
    /// random ones; [`QuicLbGenerator`](crate::QuicLbGenerator) draws them.
    ///
    /// # Errors
    /// [`NonceLengthError`] when `nonce` is not
    /// [`nonce_len`](Config::nonce_len) bytes.
    pub fn encode(&self, nonce: &[u8], random_bits: u8) -> Result<ConnectionId, NonceLengthError> {
        if nonce.len() != self.config.nonce_len() {
            return Err(NonceLengthError {
                expected: self.config.nonce_len(),
                actual: nonce.len(),
            });
        }
        let mut cid = [0; ConnectionId::MAX_LEN];
        let len = self.config.cid_len();
        let sid_len = self.config.server_id().len();
        // draft-ietf-quic-load-balancers §3.1: the top 3 bits are the
        // config rotation codepoint; §3.3: the low 5 the length of the
        // rest of the ID, or random bits.
        let low = if self.config.encodes_length() {
            small(len - 1)
        } else {
            random_bits
        };
        cid[0] = (self.config.config_id() << 5) | (low & 0x1f);
        // draft-ietf-quic-load-balancers §5.2: the plaintext block is the
        // server ID followed by the nonce.
        cid[1..=sid_len].copy_from_slice(self.config.server_id());
        cid[1 + sid_len..len].copy_from_slice(nonce);
        if let Some(cipher) = &self.cipher {
            let block = &mut cid[1..len];
            if let Ok(one) = <[u8; 16]>::try_from(&*block) {
                // draft-ietf-quic-load-balancers §5.4.1: server ID and
                // nonce of 16 bytes together are one AES-ECB block.
                let mut one = Array::from(one);
                cipher.encrypt_block(&mut one);
                block.copy_from_slice(&one);
            } else {
                // draft-ietf-quic-load-balancers §5.4.2: any other length
                // goes through the four passes.
                FourPass::new(cipher, block.len()).encrypt(block);
            }
        }
        Ok(ConnectionId::new(&cid[..len]).unwrap_or(ConnectionId::EMPTY))
    }

    /// The server ID and nonce `cid` carries, decrypted if the
    /// configuration has a key; all four passes of the four-pass
    /// algorithm, to recover the nonce too. Any bytes are safe to give.
    ///
    /// # Errors
    /// [`DecodeError`] when `cid` has another length than the
    /// configuration's IDs or another config rotation codepoint.
    pub fn decode(&self, cid: &[u8]) -> Result<Decoded, DecodeError> {
        let first_octet = self.check(cid)?;
        let mut plaintext = [0; Config::MAX_PLAINTEXT_LEN];
        let block = &mut plaintext[..cid.len() - 1];
        block.copy_from_slice(&cid[1..]);
        if let Some(cipher) = &self.cipher {
            if let Ok(one) = <[u8; 16]>::try_from(&*block) {
                // draft-ietf-quic-load-balancers §5.5.1: one block to decrypt.
                let mut one = Array::from(one);
                cipher.decrypt_block(&mut one);
                block.copy_from_slice(&one);
            } else {
                // draft-ietf-quic-load-balancers §5.5.2: the passes in
                // reverse order.
                FourPass::new(cipher, block.len()).decrypt(block);
            }
        }
        Ok(Decoded {
            first_octet,
            plaintext,
            server_id_len: small(self.config.server_id().len()),
            nonce_len: small(self.config.nonce_len()),
        })
    }

    /// The server ID `cid` carries, as a load balancer reads it: with the
    /// four-pass algorithm, three passes when the server ID lies wholly in
    /// the left half and four otherwise. Any bytes are safe to give.
    ///
    /// # Errors
    /// As [`decode`](Self::decode).
    pub fn server_id(&self, cid: &[u8]) -> Result<ServerId, DecodeError> {
        self.check(cid)?;
        let sid_len = self.config.server_id().len();
        let mut id = ServerId {
            bytes: [0; Config::MAX_SERVER_ID_LEN],
            len: small(sid_len),
        };
        let block = &cid[1..];
        match &self.cipher {
            Some(cipher) if block.len() != 16 => {
                let passes = FourPass::new(cipher, block.len());
                // draft-ietf-quic-load-balancers §5.5.2: the load balancer
                // may stop after three passes when the server ID is
                // entirely in left_0, i.e. in its whole octets.
                if sid_len <= block.len() / 2 {
                    let left_0 = passes.left_0(block);
                    id.bytes[..sid_len].copy_from_slice(&left_0[..sid_len]);
                } else {
                    let mut plaintext = [0; Config::MAX_PLAINTEXT_LEN];
                    let plaintext = &mut plaintext[..block.len()];
                    plaintext.copy_from_slice(block);
                    passes.decrypt(plaintext);
                    id.bytes[..sid_len].copy_from_slice(&plaintext[..sid_len]);
                }
            }
            _ => {
                let decoded = self.decode(cid)?;
                id.bytes[..sid_len].copy_from_slice(decoded.server_id());
            }
        }
        Ok(id)
    }

    /// The first octet of `cid` once its length and codepoint are checked.
    fn check(&self, cid: &[u8]) -> Result<u8, DecodeError> {
        let expected = self.config.cid_len();
        if cid.len() != expected {
            return Err(DecodeError::Length {
                expected,
                actual: cid.len(),
            });
        }
        let first_octet = cid[0];
        if first_octet >> 5 != self.config.config_id() {
            return Err(DecodeError::ConfigId {
                expected: self.config.config_id(),
                actual: first_octet >> 5,
            });
        }
        Ok(first_octet)
    }
}

impl fmt::Debug for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codec")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Decoded {
    /// The connection ID's first octet, as it was on the wire.
    #[must_use]
    pub fn first_octet(&self) -> u8 {
        self.first_octet
    }

    /// The server ID.
    #[must_use]
    pub fn server_id(&self) -> &[u8] {
        &self.plaintext[..usize::from(self.server_id_len)]
    }

    /// The nonce.
    #[must_use]
    pub fn nonce(&self) -> &[u8] {
        let start = usize::from(self.server_id_len);
        &self.plaintext[start..start + usize::from(self.nonce_len)]
    }
}

impl fmt::Debug for Decoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("first_octet", &self.first_octet)
            .field("server_id", &self.server_id())
            .field("nonce", &self.nonce())
            .finish()
    }
}

/// A server ID read by [`Codec::server_id`]; derefs to its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerId {
    bytes: [u8; Config::MAX_SERVER_ID_LEN],
    len: u8,
}

impl std::ops::Deref for ServerId {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A length known to be at most 20, as a `u8`.
fn small(n: usize) -> u8 {
    u8::try_from(n).unwrap_or(u8::MAX)
}

/// The longest half of a plaintext block: 19 bytes, rounded up.
const MAX_HALF: usize = Config::MAX_PLAINTEXT_LEN.div_ceil(2);

/// One half of the four-pass algorithm's block.
type Half = [u8; MAX_HALF];

/// The four-pass algorithm (draft-ietf-quic-load-balancers §5.4.2) for
/// blocks of one length, 5 to 19 bytes but not 16.
struct FourPass<'a> {
    cipher: &'a Aes128,
    /// `plaintext_len`.
    len: usize,
    /// `half_len`: `len / 2`, rounded up.
    half: usize,
}

impl<'a> FourPass<'a> {
    fn new(cipher: &'a Aes128, len: usize) -> Self {
        Self {
            cipher,
            len,
            half: len.div_ceil(2),
        }
    }

    fn odd(&self) -> bool {
        !self.len.is_multiple_of(2)
    }

    /// One pass: AES-ECB of `expand(len, pass, input)`, truncated to
    /// `half` bytes.
    fn round(&self, pass: u8, input: &Half) -> Half {
        // draft-ietf-quic-load-balancers §5.4.2.2: expand puts the input
        // in the most significant octets, zeros, then the length in the
        // 15th octet and the pass in the 16th.
        let mut block = [0; 16];
        block[..self.half].copy_from_slice(&input[..self.half]);
        block[14] = small(self.len);
        block[15] = pass;
        let mut block = Array::from(block);
        self.cipher.encrypt_block(&mut block);
        let mut out = [0; MAX_HALF];
        out[..self.half].copy_from_slice(&block[..self.half]);
        out
    }

    /// `target ^= round(pass, input)`, with the bits the odd case clears
    /// cleared.
    fn pass(&self, pass: u8, input: &Half, target: &mut Half, left: bool) {
        let mask = self.round(pass, input);
        for (t, m) in target.iter_mut().zip(mask).take(self.half) {
            *t ^= m;
        }
        self.clear(target, left);
    }

    /// draft-ietf-quic-load-balancers §5.4.2.3: with an odd length, the
    /// left half clears its last four bits and the right half its first
    /// four, so that the middle octet is split between them.
    fn clear(&self, half: &mut Half, left: bool) {
        if self.odd() {
            if left {
                half[self.half - 1] &= 0xf0;
            } else {
                half[0] &= 0x0f;
            }
        }
    }

    /// The halves of `block`: the first and last `half` bytes.
    fn split(&self, block: &[u8]) -> (Half, Half) {
        let (mut left, mut right) = ([0; MAX_HALF], [0; MAX_HALF]);
        left[..self.half].copy_from_slice(&block[..self.half]);
        right[..self.half].copy_from_slice(&block[self.len - self.half..self.len]);
        self.clear(&mut left, true);
        self.clear(&mut right, false);
        (left, right)
    }

    /// Writes the halves back into `block`, the middle octet shared when
    /// the length is odd (both halves hold zeros where the other has bits).
    fn join(&self, left: &Half, right: &Half, block: &mut [u8]) {
        block[..self.half].copy_from_slice(&left[..self.half]);
        if self.odd() {
            block[self.half - 1] |= right[0];
            block[self.half..self.len].copy_from_slice(&right[1..self.half]);
        } else {
            block[self.half..self.len].copy_from_slice(&right[..self.half]);
        }
    }

    /// draft-ietf-quic-load-balancers §5.4.2.3: steps 2 to 12.
    fn encrypt(&self, block: &mut [u8]) {
        let (mut left, mut right) = self.split(block);
        self.pass(1, &left, &mut right, false);
        self.pass(2, &right, &mut left, true);
        self.pass(3, &left, &mut right, false);
        self.pass(4, &right, &mut left, true);
        self.join(&left, &right, block);
    }

    /// draft-ietf-quic-load-balancers §5.5.2: the passes undone, 4 to 1.
    /// (The draft's pseudocode clears the first bits of `left_1` after
    /// computing `right_1`; it is `right_1` whose first bits are cleared,
    /// as in encryption's step 5.)
    fn decrypt(&self, block: &mut [u8]) {
        let (mut left, mut right) = self.split(block);
        self.pass(4, &right, &mut left, true);
        self.pass(3, &left, &mut right, false);
        self.pass(2, &right, &mut left, true);
        self.pass(1, &left, &mut right, false);
        self.join(&left, &right, block);
    }

    /// `left_0` after the first three decryption passes.
    fn left_0(&self, block: &[u8]) -> Half {
        let (mut left, mut right) = self.split(block);
        self.pass(4, &right, &mut left, true);
        self.pass(3, &left, &mut right, false);
        self.pass(2, &right, &mut left, true);
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// draft-ietf-quic-load-balancers §5.4.2.2's examples of expand and
    /// truncate, through `round`'s input: AES of the expanded block,
    /// compared with AES applied by hand.
    #[test]
    fn expand_places_input_length_and_pass() {
        let cipher = Aes128::new(&Array::from([7; 16]));
        let passes = FourPass::new(&cipher, 6);
        let mut input = [0; MAX_HALF];
        input[..3].copy_from_slice(&[0xaa, 0xba, 0x3c]);
        let mut expected = Array::from([
            0xaa, 0xba, 0x3c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x06, 0x02,
        ]);
        cipher.encrypt_block(&mut expected);
        assert_eq!(passes.round(2, &input)[..3], expected[..3]);
        assert_eq!(passes.round(2, &input)[3..], [0; MAX_HALF - 3]);
    }

    /// draft-ietf-quic-load-balancers §5.4.2.4, steps 3 and 4: the first
    /// pass of the worked example, AES output truncated to `half_len`.
    #[test]
    fn the_first_pass_of_the_worked_example() {
        let key = [
            0xfd, 0xf7, 0x26, 0xa9, 0x89, 0x3e, 0xc0, 0x5c, 0x06, 0x32, 0xd3, 0x95, 0x66, 0x80,
            0xba, 0xf0,
        ];
        let cipher = Aes128::new(&Array::from(key));
        let passes = FourPass::new(&cipher, 7);
        let (left, mut right) = passes.split(&[0x31, 0x44, 0x1a, 0x9c, 0x69, 0xc2, 0x75]);
        assert_eq!(passes.round(1, &left)[..4], [0xa2, 0x55, 0xdd, 0x8c]);
        passes.pass(1, &left, &mut right, false);
        // right_1 after step 5 clears its first four bits.
        assert_eq!(right[..4], [0x0e, 0x3c, 0x1f, 0xf9]);
    }

    /// draft-ietf-quic-load-balancers §5.4.2.3, step 2's example.
    #[test]
    fn an_odd_block_splits_its_middle_octet() {
        let cipher = Aes128::new(&Array::from([0; 16]));
        let passes = FourPass::new(&cipher, 7);
        let (left, right) = passes.split(&[0x70, 0x40, 0xb8, 0x1b, 0x55, 0xcc, 0xf3]);
        assert_eq!(left[..4], [0x70, 0x40, 0xb8, 0x10]);
        assert_eq!(right[..4], [0x0b, 0x55, 0xcc, 0xf3]);
        let mut joined = [0; 7];
        passes.join(&left, &right, &mut joined);
        assert_eq!(joined, [0x70, 0x40, 0xb8, 0x1b, 0x55, 0xcc, 0xf3]);
    }
}
