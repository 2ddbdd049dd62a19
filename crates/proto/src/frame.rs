//! Frames (RFC 9000 §19, RFC 9221 §4): types, encoding and decoding.

mod ty;

pub use ty::FrameType;
