//! The driver's GRO split (`tern_endpoint::split_gro`): a receive buffer,
//! the length the kernel reported (possibly beyond the buffer) and the
//! stride, all fuzzed. The datagrams must be non-empty, `stride` bytes each
//! but the last (which may be shorter), and together exactly the received
//! bytes, in order.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, received)) = data.split_at_checked(4) else {
        return;
    };
    let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
    let stride = usize::from(u16::from_le_bytes([head[2], head[3]]));
    let expected = &received[..len.min(received.len())];
    let datagrams: Vec<&[u8]> = tern_endpoint::split_gro(received, len, stride).collect();
    assert_eq!(datagrams.concat(), expected, "the datagrams are not the received bytes");
    assert!(datagrams.iter().all(|d| !d.is_empty()), "an empty datagram");
    if stride == 0 {
        assert!(datagrams.len() <= 1, "no stride, but several datagrams");
    } else if let Some((_, rest)) = datagrams.split_last() {
        assert!(rest.iter().all(|d| d.len() == stride), "a datagram not of the stride");
        assert!(datagrams.last().is_some_and(|d| d.len() <= stride), "a tail longer than the stride");
    }
});
