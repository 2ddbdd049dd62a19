//! The stream receive assembler (RFC 9000 §2.2) under reordering: 1,000
//! chunks of 1,200 bytes inserted in an order shuffled with a fixed seed,
//! then read out, beside the same chunks inserted and read in order.
//!
//! The chunks are slices of one buffer, as STREAM frame data are slices of
//! their packets: inserting them copies nothing, so the figures are the
//! assembler's bookkeeping (its map of chunks), not memory bandwidth.
#![expect(
    missing_docs,
    reason = "criterion_group! makes a public function without documentation"
)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use tern_proto::streams::assembler::{Assembler, AssemblerLimits};

/// Chunks per run.
const CHUNKS: usize = 1000;
/// Bytes per chunk: a STREAM frame's data in a full packet.
const CHUNK_LEN: usize = 1200;
/// The seed of the shuffle; the same order every run.
const SEED: u64 = 14;
/// Room for the whole stream at once, as a receive window that large gives.
const LIMITS: AssemblerLimits = AssemblerLimits {
    max_buffered: (CHUNKS * CHUNK_LEN) as u64,
    max_chunks: CHUNKS,
};

/// The chunks as (offset, data), in stream order.
fn chunks() -> Vec<(u64, Bytes)> {
    let stream: Vec<u8> = (0..=250_u8).cycle().take(CHUNKS * CHUNK_LEN).collect();
    let stream = Bytes::from(stream);
    (0..CHUNKS)
        .map(|i| {
            let start = i * CHUNK_LEN;
            let offset = u64::try_from(start).expect("offsets fit in u64");
            (offset, stream.slice(start..start + CHUNK_LEN))
        })
        .collect()
}

/// Inserts every chunk in the order given, then reads the stream out;
/// returns the bytes read.
fn insert_all_then_read(chunks: &[(u64, Bytes)]) -> usize {
    let mut assembler = Assembler::new(LIMITS);
    for (offset, data) in chunks {
        assembler
            .insert(*offset, data.clone())
            .expect("within the limits");
    }
    let mut read = 0;
    while let Some(data) = assembler.read() {
        read += data.len();
    }
    debug_assert_eq!(read, CHUNKS * CHUNK_LEN);
    read
}

/// Inserts each chunk and reads what became readable, as a receiver does
/// when nothing is lost; returns the bytes read.
fn insert_and_read_each(chunks: &[(u64, Bytes)]) -> usize {
    let mut assembler = Assembler::new(LIMITS);
    let mut read = 0;
    for (offset, data) in chunks {
        assembler
            .insert(*offset, data.clone())
            .expect("within the limits");
        while let Some(data) = assembler.read() {
            read += data.len();
        }
    }
    debug_assert_eq!(read, CHUNKS * CHUNK_LEN);
    read
}

fn assembler(c: &mut Criterion) {
    let mut group = c.benchmark_group("assembler/1000x1200");
    group.throughput(Throughput::Bytes((CHUNKS * CHUNK_LEN) as u64));
    let in_order = chunks();
    let mut shuffled = in_order.clone();
    shuffled.shuffle(&mut StdRng::seed_from_u64(SEED));
    group.bench_function("shuffled", |b| {
        b.iter(|| insert_all_then_read(black_box(&shuffled)));
    });
    // The reader keeps up: each chunk is read as it arrives.
    group.bench_function("in_order", |b| {
        b.iter(|| insert_and_read_each(black_box(&in_order)));
    });
    group.finish();
}

criterion_group!(benches, assembler);
criterion_main!(benches);
