//! The known transport parameter ids, their names, and a bitset over them.

use crate::{error::TransportError, varint::VarInt};

/// Declares the known ids from one list: wire value, name, and whether only
/// a server may send it. Every error reason is a static string naming the
/// parameter.
macro_rules! parameter_ids {
    ($($variant:ident = $id:literal, $name:literal, $server_only:literal;)*) => {
        /// A transport parameter this crate understands.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(super) enum ParameterId {
            $($variant,)*
        }

        impl ParameterId {
            /// Every known id, in increasing wire order.
            pub(super) const ALL: [Self; [$($name),*].len()] = [$(Self::$variant),*];

            /// The known parameter with this id; `None` for unknown and
            /// reserved ids.
            pub(super) const fn from_wire(id: VarInt) -> Option<Self> {
                match id.into_inner() {
                    $($id => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// The id as written on the wire.
            pub(super) const fn to_varint(self) -> VarInt {
                match self {
                    $(Self::$variant => VarInt::from_u32($id),)*
                }
            }

            /// RFC 9000 §18.2: whether only a server may send this parameter.
            pub(super) const fn is_server_only(self) -> bool {
                match self {
                    $(Self::$variant => $server_only,)*
                }
            }

            /// The value does not have this parameter's encoding.
            pub(super) const fn malformed(self) -> TransportError {
                match self {
                    $(Self::$variant => TransportError::transport_parameter_error(
                        concat!("malformed ", $name),
                    ),)*
                }
            }

            /// The parameter appeared twice.
            pub(super) const fn duplicate(self) -> TransportError {
                match self {
                    $(Self::$variant => TransportError::transport_parameter_error(
                        concat!("duplicate ", $name),
                    ),)*
                }
            }

            /// A client sent this server-only parameter.
            pub(super) const fn sent_by_client(self) -> TransportError {
                match self {
                    $(Self::$variant => TransportError::transport_parameter_error(
                        concat!($name, " sent by a client"),
                    ),)*
                }
            }
        }
    };
}

parameter_ids! {
    OriginalDestinationConnectionId = 0x00, "original_destination_connection_id", true;
    MaxIdleTimeout = 0x01, "max_idle_timeout", false;
    StatelessResetToken = 0x02, "stateless_reset_token", true;
    MaxUdpPayloadSize = 0x03, "max_udp_payload_size", false;
    InitialMaxData = 0x04, "initial_max_data", false;
    InitialMaxStreamDataBidiLocal = 0x05, "initial_max_stream_data_bidi_local", false;
    InitialMaxStreamDataBidiRemote = 0x06, "initial_max_stream_data_bidi_remote", false;
    InitialMaxStreamDataUni = 0x07, "initial_max_stream_data_uni", false;
    InitialMaxStreamsBidi = 0x08, "initial_max_streams_bidi", false;
    InitialMaxStreamsUni = 0x09, "initial_max_streams_uni", false;
    AckDelayExponent = 0x0a, "ack_delay_exponent", false;
    MaxAckDelay = 0x0b, "max_ack_delay", false;
    DisableActiveMigration = 0x0c, "disable_active_migration", false;
    PreferredAddress = 0x0d, "preferred_address", true;
    ActiveConnectionIdLimit = 0x0e, "active_connection_id_limit", false;
    InitialSourceConnectionId = 0x0f, "initial_source_connection_id", false;
    RetrySourceConnectionId = 0x10, "retry_source_connection_id", true;
    VersionInformation = 0x11, "version_information", false;
    MaxDatagramFrameSize = 0x20, "max_datagram_frame_size", false;
    GreaseQuicBit = 0x2ab2, "grease_quic_bit", false;
}

// The bitset below is a `u32`.
const _: () = assert!(ParameterId::ALL.len() <= 32);

/// The known parameters seen so far: one bit per id, so duplicate detection
/// costs nothing however many parameters arrive.
#[derive(Debug, Default)]
pub(super) struct Seen(u32);

impl Seen {
    /// Marks `id` as seen; `false` when it already was.
    pub(super) fn insert(&mut self, id: ParameterId) -> bool {
        let bit = 1_u32 << (id as u32);
        let fresh = self.0 & bit == 0;
        self.0 |= bit;
        fresh
    }
}
