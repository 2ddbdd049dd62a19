//! What a chunk held by the stream reassembler really costs on the heap
//! against what `Assembler::cost` charges it: the figures behind
//! `CHUNK_OVERHEAD` and `ROOT_OVERHEAD`, and so behind the connection's
//! `reassembly_budget`.

use bytes::{Bytes, BytesMut};
use tern_proto::streams::assembler::{Assembler, AssemblerLimits};

use super::{alone, live};

/// Room for everything the scenarios insert.
const ROOMY: AssemblerLimits = AssemblerLimits {
    max_buffered: 1 << 40,
    max_chunks: 1 << 20,
};

/// The largest datagram, as the endpoint's receive path sizes its buffers.
const DATAGRAM: usize = 1452;

/// Chunks each scenario holds.
const CHUNKS: usize = 4096;

/// Offsets in the order a peer might send them: rising, falling, or mixed
/// by a fixed permutation (multiplying by an odd number modulo a power of
/// two), each leaving a gap after every chunk so that none merge.
fn orders() -> [(&'static str, Vec<u64>); 3] {
    let count = CHUNKS as u64;
    let rising: Vec<u64> = (0..count).collect();
    let falling: Vec<u64> = (0..count).rev().collect();
    let mixed: Vec<u64> = (0..count).map(|i| (i * 2_654_435_761) % count).collect();
    [("rising", rising), ("falling", falling), ("mixed", mixed)]
}

/// Heap held and `cost()` charged per chunk, after inserting `pieces`
/// (each `(offset, data)`) into one assembler. The pieces' own buffers are
/// made inside the counted region and dropped before the measure, as a
/// connection drops a datagram once its frames are processed.
fn per_chunk(pieces: impl FnOnce() -> Vec<(u64, Bytes)>) -> (f64, f64) {
    let mut asm = Assembler::new(ROOMY).pinning(DATAGRAM as u64);
    let start = live();
    for (offset, data) in pieces() {
        asm.insert(offset, data).expect("room for every chunk");
    }
    let held = live() - start;
    let chunks = asm.chunks();
    assert_eq!(chunks, CHUNKS, "no two chunks merged");
    (ratio(held, chunks), ratio(asm.cost(), chunks))
}

/// `total / count`, for a report.
#[expect(clippy::cast_precision_loss, reason = "figures for a report")]
fn ratio(total: impl TryInto<i64>, count: usize) -> f64 {
    total.try_into().map_or(f64::NAN, |total| total as f64) / count as f64
}

/// The charge covers what the heap holds in every arrival order, and is not
/// far above the worst of them (so the budget still admits what an honest
/// peer sends). Each figure is `(what, heap, charged)`, per chunk.
fn check(figures: &[(String, f64, f64)]) {
    for (what, heap, charged) in figures {
        eprintln!("{what}: {heap:.1} heap bytes each, {charged:.1} charged");
        assert!(
            heap <= charged,
            "{what}: {heap:.1} heap bytes a chunk, charged only {charged:.1}: measure again \
             and raise CHUNK_OVERHEAD or ROOT_OVERHEAD"
        );
    }
    let (what, heap, charged) = figures
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a figure");
    assert!(
        *charged <= heap * 1.5,
        "{what}: charged {charged:.1} for {heap:.1} heap bytes a chunk: lower the overheads"
    );
}

/// Per-chunk figures for `what`, one for each arrival order, the chunk at
/// each ordinal made by `piece`.
fn in_every_order(what: &str, piece: impl Fn(u64) -> (u64, Bytes)) -> Vec<(String, f64, f64)> {
    orders()
        .into_iter()
        .map(|(order, offsets)| {
            let (heap, charged) = per_chunk(|| offsets.iter().map(|&i| piece(i)).collect());
            (format!("{what}, {order}"), heap, charged)
        })
        .collect()
}

#[test]
fn a_copied_one_byte_chunk_is_charged_at_least_what_it_holds() {
    alone(|| {
        // One-byte chunks two bytes apart: each is copied out of its
        // datagram (too small to pin it) and held alone.
        check(&in_every_order("one-byte chunks", |i| {
            (i * 2, Bytes::from_static(b"x"))
        }));
    });
}

#[test]
fn a_sliced_chunk_is_charged_at_least_what_it_and_its_datagram_hold() {
    alone(|| {
        // 65-byte chunks (just long enough to be kept as slices), each of
        // its own full-size datagram, which the endpoint copies into a
        // buffer of its own.
        check(&in_every_order("sliced chunks", |i| {
            let mut datagram = BytesMut::zeroed(DATAGRAM);
            (i * 100, datagram.split_to(65).freeze())
        }));
    });
}

#[test]
fn one_byte_on_each_of_many_streams_is_charged_at_least_what_it_holds() {
    alone(|| {
        let mut streams: Vec<Assembler> = Vec::with_capacity(CHUNKS);
        let start = live();
        let mut charged = 0;
        for _ in 0..CHUNKS {
            let mut asm = Assembler::new(ROOMY).pinning(DATAGRAM as u64);
            asm.insert(1, Bytes::from_static(b"x")).expect("room");
            charged += asm.cost();
            streams.push(asm);
        }
        let held = live() - start;
        let count = streams.len();
        check(&[(
            "one byte ahead of a gap on each stream".to_owned(),
            ratio(held, count),
            ratio(charged, count),
        )]);
    });
}
