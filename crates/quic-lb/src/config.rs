//! A server's QUIC-LB configuration, checked, and read from the JSON of
//! the draft's YANG server model.

use std::fmt;

use serde::Deserialize;
use zeroize::Zeroizing;

/// One QUIC-LB configuration as a server holds it: which config rotation
/// codepoint it uses, its server ID, the nonce length and the optional key.
///
/// Every value of this type is valid: [`Config::new`] and
/// [`Config::from_json`] check the draft's limits.
#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    config_id: u8,
    encode_length: bool,
    server_id: Vec<u8>,
    nonce_len: u8,
    key: Option<Zeroizing<[u8; 16]>>,
}

/// What is wrong with a QUIC-LB configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The config rotation codepoint is above 6.
    #[error("config-id {0} is out of range: 0 to 6 (7, 0b111, marks unroutable IDs)")]
    ConfigId(u64),
    /// The server ID is empty or longer than 15 bytes.
    #[error("a server ID of {0} bytes: it must have 1 to 15")]
    ServerIdLength(u64),
    /// The nonce length is below 4 or above 18.
    #[error("nonce-length {0} is out of range: 4 to 18 bytes")]
    NonceLength(u64),
    /// Server ID and nonce do not fit in a 20-byte connection ID.
    #[error(
        "server ID ({server_id} bytes) and nonce ({nonce} bytes) sum to more than 19, \
         the most a 20-byte connection ID holds after its first octet"
    )]
    TooLong {
        /// The server ID's length in bytes.
        server_id: u64,
        /// The nonce length in bytes.
        nonce: u64,
    },
    /// `server-id` has another length than `server-id-length` says.
    #[error("server-id has {actual} bytes but server-id-length says {declared}")]
    ServerIdMismatch {
        /// `server-id-length`.
        declared: u64,
        /// The bytes `server-id` holds.
        actual: usize,
    },
    /// `cid-key` does not hold 16 bytes.
    #[error("cid-key has {0} bytes: an AES-128 key has 16")]
    KeyLength(usize),
    /// A field that should hold hex bytes does not.
    #[error("{field} is not a hex string (\"c4:60:5e\" or \"c4605e\"): {value:?}")]
    Hex {
        /// The field's name.
        field: &'static str,
        /// What it held.
        value: String,
    },
    /// The text is not JSON of the QUIC-LB server model's shape.
    #[error("not a QUIC-LB server configuration: {0}")]
    Json(String),
}

impl Config {
    /// The longest server ID, in bytes.
    pub const MAX_SERVER_ID_LEN: usize = 15;
    /// The shortest nonce, in bytes.
    pub const MIN_NONCE_LEN: usize = 4;
    /// The longest nonce, in bytes.
    pub const MAX_NONCE_LEN: usize = 18;
    /// The most bytes server ID and nonce may take together.
    pub const MAX_PLAINTEXT_LEN: usize = 19;
    /// The highest config rotation codepoint a configuration may use.
    pub const MAX_CONFIG_ID: u8 = 6;

    /// A configuration with config rotation codepoint `config_id`, this
    /// server's `server_id`, nonces of `nonce_len` bytes, and the key
    /// `key` (`None`: connection IDs in plaintext). The first octet's low
    /// bits are random; [`encode_length`](Self::encode_length) changes that.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the limit broken.
    pub fn new(
        config_id: u8,
        server_id: &[u8],
        nonce_len: usize,
        key: Option<[u8; 16]>,
    ) -> Result<Self, ConfigError> {
        // draft-ietf-quic-load-balancers §3.1: a configuration MUST NOT use
        // the reserved identifier 0b111.
        if config_id > Self::MAX_CONFIG_ID {
            return Err(ConfigError::ConfigId(u64::from(config_id)));
        }
        // draft-ietf-quic-load-balancers §5.3: the server ID length MUST be
        // at least 1 octet, the nonce at least 4, and the two MUST sum to 19
        // octets or less; the YANG model (§A) caps them at 15 and 18.
        if server_id.is_empty() || server_id.len() > Self::MAX_SERVER_ID_LEN {
            return Err(ConfigError::ServerIdLength(widen(server_id.len())));
        }
        if !(Self::MIN_NONCE_LEN..=Self::MAX_NONCE_LEN).contains(&nonce_len) {
            return Err(ConfigError::NonceLength(widen(nonce_len)));
        }
        if server_id.len() + nonce_len > Self::MAX_PLAINTEXT_LEN {
            return Err(ConfigError::TooLong {
                server_id: widen(server_id.len()),
                nonce: widen(nonce_len),
            });
        }
        let nonce_len =
            u8::try_from(nonce_len).map_err(|_| ConfigError::NonceLength(widen(nonce_len)))?;
        Ok(Self {
            config_id,
            encode_length: false,
            server_id: server_id.to_vec(),
            nonce_len,
            key: key.map(Zeroizing::new),
        })
    }

    /// Whether the first octet's low 5 bits carry the length of the rest
    /// of the connection ID (`true`) or are random (`false`, the default).
    #[must_use]
    pub fn encode_length(mut self, encode: bool) -> Self {
        self.encode_length = encode;
        self
    }

    /// The config rotation codepoint, 0 to 6: the first octet's top 3 bits.
    #[must_use]
    pub fn config_id(&self) -> u8 {
        self.config_id
    }

    /// Whether the first octet encodes the connection ID's length.
    #[must_use]
    pub fn encodes_length(&self) -> bool {
        self.encode_length
    }

    /// This server's ID, 1 to 15 bytes.
    #[must_use]
    pub fn server_id(&self) -> &[u8] {
        &self.server_id
    }

    /// The nonce length in bytes, 4 to 18.
    #[must_use]
    pub fn nonce_len(&self) -> usize {
        usize::from(self.nonce_len)
    }

    /// The AES-128 key, if connection IDs are encrypted.
    #[must_use]
    pub fn key(&self) -> Option<&[u8; 16]> {
        self.key.as_deref()
    }

    /// The length of every connection ID of this configuration: the first
    /// octet, the server ID and the nonce.
    #[must_use]
    pub fn cid_len(&self) -> usize {
        1 + self.server_id.len() + self.nonce_len()
    }

    /// Reads a configuration from the JSON encoding (RFC 7951) of the
    /// draft's `ietf-quic-lb-server` YANG model, either whole:
    ///
    /// ```json
    /// {"ietf-quic-lb-server:quic-lb": {"config-id": 0, "server-id-length": 3,
    ///   "nonce-length": 4, "server-id": "c4:60:5e"}}
    /// ```
    ///
    /// or as the inner object alone. `first-octet-encodes-cid-length`
    /// defaults to `false` and `cid-key` is optional (no key: plaintext
    /// IDs). Hex strings may separate their bytes with colons, as YANG's
    /// `hex-string` does, or not. Unknown fields are refused, so that a
    /// misspelt `cid-key` cannot silently turn encryption off.
    ///
    /// # Errors
    /// [`ConfigError::Json`] for text of another shape; otherwise the
    /// error of the value that breaks a limit.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| ConfigError::Json(error.to_string()))?;
        let inner = match value {
            serde_json::Value::Object(mut map) if map.len() == 1 && map.contains_key(MODULE) => {
                map.remove(MODULE).unwrap_or_default()
            }
            other => other,
        };
        let raw: RawConfig =
            serde_json::from_value(inner).map_err(|error| ConfigError::Json(error.to_string()))?;
        raw.check()
    }
}

/// The top-level member name of the server model (RFC 7951 §4: a
/// top-level node is qualified with its module name).
const MODULE: &str = "ietf-quic-lb-server:quic-lb";

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("config_id", &self.config_id)
            .field("encode_length", &self.encode_length)
            .field("server_id", &Hex(&self.server_id))
            .field("nonce_len", &self.nonce_len)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Bytes as lowercase hex, for `Debug`.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// The server model's leaves as JSON holds them, before any check.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawConfig {
    config_id: u64,
    #[serde(default)]
    first_octet_encodes_cid_length: bool,
    server_id_length: u64,
    nonce_length: u64,
    #[serde(default)]
    cid_key: Option<String>,
    server_id: String,
}

impl RawConfig {
    fn check(self) -> Result<Config, ConfigError> {
        let config_id =
            u8::try_from(self.config_id).map_err(|_| ConfigError::ConfigId(self.config_id))?;
        let server_id = parse_hex("server-id", &self.server_id)?;
        let nonce_len = usize::try_from(self.nonce_length)
            .map_err(|_| ConfigError::NonceLength(self.nonce_length))?;
        if !(1..=widen(Config::MAX_SERVER_ID_LEN)).contains(&self.server_id_length) {
            return Err(ConfigError::ServerIdLength(self.server_id_length));
        }
        if widen(server_id.len()) != self.server_id_length {
            return Err(ConfigError::ServerIdMismatch {
                declared: self.server_id_length,
                actual: server_id.len(),
            });
        }
        let key = match &self.cid_key {
            None => None,
            Some(text) => {
                let bytes = Zeroizing::new(parse_hex("cid-key", text)?);
                let key: [u8; 16] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| ConfigError::KeyLength(bytes.len()))?;
                Some(key)
            }
        };
        let config = Config::new(config_id, &server_id, nonce_len, key);
        Ok(config?.encode_length(self.first_octet_encodes_cid_length))
    }
}

/// Bytes from hex: pairs of digits, all separated by colons or none.
fn parse_hex(field: &'static str, text: &str) -> Result<Vec<u8>, ConfigError> {
    let error = || ConfigError::Hex {
        field,
        value: text.to_owned(),
    };
    let digits: String = if text.contains(':') {
        let mut joined = String::with_capacity(text.len());
        for pair in text.split(':') {
            if pair.len() != 2 {
                return Err(error());
            }
            joined.push_str(pair);
        }
        joined
    } else {
        text.to_owned()
    };
    // `from_str_radix` alone would take a sign ("+f").
    if !digits.len().is_multiple_of(2) || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error());
    }
    digits
        .as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|_| error())?;
            u8::from_str_radix(pair, 16).map_err(|_| error())
        })
        .collect()
}

/// A length as the `u64` the errors carry.
fn widen(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
