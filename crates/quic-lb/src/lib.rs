//! # tern-quic-lb: QUIC-LB connection IDs
//!
//! A QUIC load balancer routes each datagram by its destination connection
//! ID, which the server chose. QUIC-LB (draft-ietf-quic-load-balancers)
//! has the server write its server ID into every connection ID it issues,
//! encrypted under a key it shares with the load balancer, so that the
//! load balancer finds the server without per-connection state and
//! observers cannot link a connection's IDs to each other or to a server.
//!
//! A connection ID of this crate is a first octet (the config rotation
//! codepoint in the top 3 bits, the length of the rest or random bits in
//! the low 5), then the server ID and a nonce: in plaintext without a
//! key, one AES-128-ECB block when server ID and nonce take exactly 16
//! bytes, and the draft's four-pass Feistel network over AES-128-ECB for
//! any other length.
//!
//! - [`Config`]: one configuration, checked against the draft's limits,
//!   built in code or read from the JSON of the draft's YANG server model.
//! - [`Codec`]: encodes a server ID and nonce, and decodes an ID back to
//!   them (as a server, or a load balancer holding the same config).
//! - [`QuicLbGenerator`]: a `tern_proto::ConnectionIdGenerator` drawing
//!   random nonces, for `EndpointConfig::cid_generator`; it can shard the
//!   IDs among the event loops of one endpoint.
//!
//! AES comes from the pure-Rust `aes` crate whichever crypto backend
//! tern-proto is built with (features `aws-lc-rs`, the default, or
//! `ring`), so the IDs are the same with either.
//!
//! ```
//! use rand::{SeedableRng, rngs::StdRng};
//! use tern_proto::ConnectionIdGenerator;
//! use tern_quic_lb::{Config, QuicLbGenerator};
//!
//! let config = Config::from_json(
//!     r#"{"ietf-quic-lb-server:quic-lb": {
//!         "config-id": 0,
//!         "first-octet-encodes-cid-length": true,
//!         "server-id-length": 3,
//!         "nonce-length": 4,
//!         "cid-key": "8f:95:f0:92:45:76:5f:80:25:69:34:e5:0c:66:20:7f",
//!         "server-id": "c4:60:5e"
//!     }}"#,
//! )?;
//! let generator = QuicLbGenerator::new(config);
//! let cid = generator.generate(&mut StdRng::seed_from_u64(7));
//! assert_eq!(cid.len(), 8);
//! // Config 0 in the top bits, 7 more bytes in the low ones.
//! assert_eq!(cid[0], 0x07);
//! let decoded = generator.codec().decode(&cid)?;
//! assert_eq!(decoded.server_id(), [0xc4, 0x60, 0x5e]);
//! assert_eq!(generator.codec().encode(decoded.nonce(), 0)?, cid);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod config;
mod generator;

pub use codec::{Codec, DecodeError, Decoded, NonceLengthError, ServerId};
pub use config::{Config, ConfigError};
pub use generator::QuicLbGenerator;
