//! AEAD limits (RFC 9001 §6.6).
