//! Transport error codes (RFC 9000 §20.1) and the error a connection closes with.

use std::{borrow::Cow, fmt};

use crate::{frame::FrameType, varint::VarInt};

/// Generates the code table from one list: constants, names and descriptions.
macro_rules! transport_error_codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:literal;)*) => {
        impl TransportErrorCode {
            $(
                $(#[$doc])*
                pub const $name: Self = Self($value);
            )*

            /// The RFC name of a known code, such as `"FLOW_CONTROL_ERROR"`;
            /// `None` for codes outside the table (including crypto errors).
            #[must_use]
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }

            /// A short lower-case description of a known code.
            #[must_use]
            pub const fn description(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

/// A QUIC transport error code, as carried in a CONNECTION_CLOSE frame of
/// type 0x1c.
#[derive(Copy, Clone, Eq, PartialEq, Hash)]
pub struct TransportErrorCode(u64);

// RFC 9000 §20.1: the transport error codes.
transport_error_codes! {
    /// The connection is being closed abruptly in the absence of any error.
    NO_ERROR = 0x00, "no error";
    /// The endpoint hit an internal error and cannot continue.
    INTERNAL_ERROR = 0x01, "internal error";
    /// The server refused to accept a new connection.
    CONNECTION_REFUSED = 0x02, "connection refused";
    /// More data was received than the advertised flow control limits allow.
    FLOW_CONTROL_ERROR = 0x03, "flow control limit exceeded";
    /// A stream was opened beyond the advertised stream limit.
    STREAM_LIMIT_ERROR = 0x04, "stream limit exceeded";
    /// A frame arrived for a stream in a state that does not permit it.
    STREAM_STATE_ERROR = 0x05, "frame received in an invalid stream state";
    /// A final size changed or data arrived beyond the final size.
    FINAL_SIZE_ERROR = 0x06, "final size violated";
    /// A frame was badly formatted.
    FRAME_ENCODING_ERROR = 0x07, "frame encoding error";
    /// Transport parameters were malformed, invalid or missing.
    TRANSPORT_PARAMETER_ERROR = 0x08, "transport parameter error";
    /// More connection IDs were supplied than active_connection_id_limit.
    CONNECTION_ID_LIMIT_ERROR = 0x09, "connection id limit exceeded";
    /// A protocol rule was broken that no more specific code covers.
    PROTOCOL_VIOLATION = 0x0a, "protocol violation";
    /// A Retry or NEW_TOKEN token was invalid.
    INVALID_TOKEN = 0x0b, "invalid token";
    /// The application or application protocol caused the close.
    APPLICATION_ERROR = 0x0c, "application error";
    /// More data arrived in CRYPTO frames than can be buffered.
    CRYPTO_BUFFER_EXCEEDED = 0x0d, "crypto buffer exceeded";
    /// A key update was handled wrongly.
    KEY_UPDATE_ERROR = 0x0e, "key update error";
    /// The endpoint exceeded the AEAD confidentiality or integrity limit.
    AEAD_LIMIT_REACHED = 0x0f, "aead limit reached";
    /// No viable network path exists.
    NO_VIABLE_PATH = 0x10, "no viable network path";
    /// RFC 9368 §4: version negotiation found no usable version or was tampered with.
    VERSION_NEGOTIATION_ERROR = 0x11, "version negotiation error";
}

impl TransportErrorCode {
    /// RFC 9000 §20.1: the code for a TLS alert, 0x0100 plus the alert number.
    #[must_use]
    pub const fn crypto(alert: u8) -> Self {
        Self(0x100 | alert as u64)
    }

    /// The TLS alert this code carries, when it is in the crypto range.
    #[must_use]
    pub fn crypto_alert(self) -> Option<u8> {
        if self.0 >= 0x100 && self.0 <= 0x1ff {
            // The range check makes the subtraction fit in a byte.
            u8::try_from(self.0 - 0x100).ok()
        } else {
            None
        }
    }

    /// Wraps a code read from the wire. Unknown codes are kept as they are.
    #[must_use]
    pub const fn from_wire(code: VarInt) -> Self {
        Self(code.into_inner())
    }

    /// The code as a variable-length integer, for CONNECTION_CLOSE.
    #[must_use]
    pub const fn to_varint(self) -> VarInt {
        VarInt::from_u64_bounded(self.0)
    }

    /// The code's numeric value.
    #[must_use]
    pub const fn into_inner(self) -> u64 {
        self.0
    }
}

impl fmt::Debug for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name(), self.crypto_alert()) {
            (Some(name), _) => f.write_str(name),
            (None, Some(alert)) => write!(f, "CRYPTO_ERROR({alert:#04x})"),
            (None, None) => write!(f, "UNKNOWN({:#x})", self.0),
        }
    }
}

impl fmt::Display for TransportErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.description(), self.crypto_alert()) {
            (Some(text), _) => f.write_str(text),
            (None, Some(alert)) => write!(f, "tls alert {alert}"),
            (None, None) => write!(f, "unknown error {:#x}", self.0),
        }
    }
}

/// A transport-level error: the code to close the connection with, the frame
/// type that caused it when there was one, and a reason for the peer and logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}{}: {reason}", frame_type.map(|t| format!(" in frame {t:?}")).unwrap_or_default())]
pub struct TransportError {
    /// The RFC 9000 §20.1 code.
    pub code: TransportErrorCode,
    /// The frame that triggered the error, when there was one.
    pub frame_type: Option<FrameType>,
    /// A human-readable reason; sent in CONNECTION_CLOSE.
    pub reason: Cow<'static, str>,
}

impl TransportError {
    /// An error with a code and a static reason.
    #[must_use]
    pub const fn new(code: TransportErrorCode, reason: &'static str) -> Self {
        Self {
            code,
            frame_type: None,
            reason: Cow::Borrowed(reason),
        }
    }

    /// The same error, attributed to `frame_type`.
    #[must_use]
    pub fn in_frame(mut self, frame_type: FrameType) -> Self {
        self.frame_type = Some(frame_type);
        self
    }
}

macro_rules! error_constructors {
    ($($fn_name:ident => $code:ident;)*) => {
        impl TransportError {
            $(
                #[doc = concat!("A `", stringify!($code), "` error with a static reason.")]
                #[must_use]
                pub const fn $fn_name(reason: &'static str) -> Self {
                    Self::new(TransportErrorCode::$code, reason)
                }
            )*
        }
    };
}

error_constructors! {
    internal_error => INTERNAL_ERROR;
    flow_control_error => FLOW_CONTROL_ERROR;
    stream_limit_error => STREAM_LIMIT_ERROR;
    stream_state_error => STREAM_STATE_ERROR;
    final_size_error => FINAL_SIZE_ERROR;
    frame_encoding_error => FRAME_ENCODING_ERROR;
    transport_parameter_error => TRANSPORT_PARAMETER_ERROR;
    connection_id_limit_error => CONNECTION_ID_LIMIT_ERROR;
    protocol_violation => PROTOCOL_VIOLATION;
    invalid_token => INVALID_TOKEN;
    crypto_buffer_exceeded => CRYPTO_BUFFER_EXCEEDED;
    key_update_error => KEY_UPDATE_ERROR;
    aead_limit_reached => AEAD_LIMIT_REACHED;
    version_negotiation_error => VERSION_NEGOTIATION_ERROR;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_their_rfc_values_and_names() {
        assert_eq!(TransportErrorCode::FRAME_ENCODING_ERROR.into_inner(), 0x07);
        assert_eq!(
            TransportErrorCode::TRANSPORT_PARAMETER_ERROR.name(),
            Some("TRANSPORT_PARAMETER_ERROR")
        );
        assert_eq!(
            TransportErrorCode::from_wire(VarInt::from_u32(0x11)),
            TransportErrorCode::VERSION_NEGOTIATION_ERROR
        );
        assert_eq!(
            format!(
                "{:?}",
                TransportErrorCode::from_wire(VarInt::from_u32(0x99))
            ),
            "UNKNOWN(0x99)"
        );
    }

    #[test]
    fn crypto_codes_carry_the_tls_alert() {
        let code = TransportErrorCode::crypto(42);
        assert_eq!(code.into_inner(), 0x12a);
        assert_eq!(code.crypto_alert(), Some(42));
        assert_eq!(code.name(), None);
        assert_eq!(TransportErrorCode::PROTOCOL_VIOLATION.crypto_alert(), None);
    }

    #[test]
    fn display_names_the_frame_and_reason() {
        let err =
            TransportError::frame_encoding_error("ack range underflow").in_frame(FrameType::ACK);
        assert_eq!(
            err.to_string(),
            "frame encoding error in frame ACK: ack range underflow"
        );
    }
}
