//! `--quic-version`: the QUIC version a client starts on, and the versions
//! a Tern server of this command accepts.

use clap::ValueEnum;
use tern::{EndpointConfig, proto::packet::Version};

/// A QUIC version to start a connection on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum QuicVersion {
    /// QUIC version 1 (RFC 9000).
    #[default]
    V1,
    /// QUIC version 2 (RFC 9369).
    V2,
}

impl QuicVersion {
    /// The version as the protocol crate names it.
    pub(crate) const fn version(self) -> Version {
        match self {
            Self::V1 => Version::V1,
            Self::V2 => Version::V2,
        }
    }
}

/// The endpoint settings of a server that accepts clients on QUIC v1 and
/// v2 (RFC 9369), v1 preferred.
pub(crate) fn accepting_both() -> EndpointConfig {
    EndpointConfig {
        supported_versions: vec![Version::V1, Version::V2],
        ..EndpointConfig::default()
    }
}

/// The endpoint settings of a client that starts on `version` and offers
/// no other (RFC 9368 §3): a server that speaks both versions keeps it on
/// the one asked for, and one that does not answers with a Version
/// Negotiation packet that the client cannot follow, so it fails at once
/// rather than silently running another version.
pub(crate) fn offering_only(version: Version) -> EndpointConfig {
    EndpointConfig {
        supported_versions: vec![version],
        ..EndpointConfig::default()
    }
}

/// `0x00000001` as "v1", `0x6b3343cf` as "v2", anything else in hex.
pub(crate) fn name(version: u32) -> String {
    match version {
        tern::proto::QUIC_V1 => "v1".to_owned(),
        tern::proto::QUIC_V2 => "v2".to_owned(),
        other => format!("{other:#x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_and_name_both_ways() {
        assert_eq!(QuicVersion::V1.version(), Version::V1);
        assert_eq!(QuicVersion::V2.version(), Version::V2);
        assert_eq!(name(QuicVersion::V2.version().to_u32()), "v2");
        assert_eq!(name(QuicVersion::V1.version().to_u32()), "v1");
        assert_eq!(name(0xff00_001d), "0xff00001d");
        assert_eq!(
            accepting_both().supported_versions,
            vec![Version::V1, Version::V2]
        );
        assert_eq!(
            offering_only(Version::V2).supported_versions,
            vec![Version::V2]
        );
    }
}
