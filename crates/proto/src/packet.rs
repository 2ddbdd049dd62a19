//! Packets (RFC 9000 §17): headers, packet numbers, coalescing.
