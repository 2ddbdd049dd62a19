//! Unpredictable bytes from the operating system, for connection ID seeds
//! and stateless reset keys.

/// Fills `out` from the crypto provider's secure random source (the
/// system's, through aws-lc-rs or ring).
pub(crate) fn fill(out: &mut [u8]) {
    let provider = tern_proto::crypto::default_provider();
    if provider.secure_random.fill(out).is_err() {
        // The system source does not fail on supported platforms; if it
        // ever does, fall back to std's per-process random hasher keys.
        use std::hash::{BuildHasher, Hasher};
        for chunk in out.chunks_mut(8) {
            let value = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            chunk.copy_from_slice(&value.to_le_bytes()[..chunk.len()]);
        }
    }
}
