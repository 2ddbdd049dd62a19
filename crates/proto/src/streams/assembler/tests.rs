use proptest::prelude::*;

use super::*;

const ROOMY: AssemblerLimits = AssemblerLimits {
    max_buffered: 1 << 20,
    max_chunks: 1024,
};

fn read_all(asm: &mut Assembler) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = asm.read() {
        assert!(!chunk.is_empty(), "read never returns an empty chunk");
        out.extend_from_slice(&chunk);
    }
    out
}

/// A stream whose bytes differ from their neighbours, so that a misplaced
/// byte shows.
fn stream(len: usize) -> Bytes {
    (0..len)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect::<Vec<_>>()
        .into()
}

fn piece(data: &Bytes, range: Range<usize>) -> (u64, Bytes) {
    (
        u64::try_from(range.start).unwrap(),
        data.slice(range.start..range.end),
    )
}

#[test]
fn in_order_inserts_are_read_back_without_copying() {
    let data = stream(3000);
    let mut asm = Assembler::new(ROOMY);
    for range in [0..1000, 1000..2000, 2000..3000] {
        let (offset, bytes) = piece(&data, range);
        asm.insert(offset, bytes).unwrap();
        let chunk = asm.read().unwrap();
        assert_eq!(
            chunk.as_ptr(),
            data[usize::try_from(offset).unwrap()..].as_ptr(),
            "a large chunk is a slice of the packet buffer"
        );
    }
    assert_eq!(asm.read_offset(), 3000);
    assert!(asm.is_empty());
    assert_eq!(asm.buffered(), 0);
}

#[test]
fn out_of_order_inserts_wait_for_the_gap() {
    let data = stream(300);
    let mut asm = Assembler::new(ROOMY);
    let (offset, bytes) = piece(&data, 200..300);
    asm.insert(offset, bytes).unwrap();
    let (offset, bytes) = piece(&data, 100..200);
    asm.insert(offset, bytes).unwrap();
    assert_eq!(asm.read(), None);
    assert_eq!(asm.buffered(), 200);
    assert_eq!(asm.chunks(), 2);
    let (offset, bytes) = piece(&data, 0..100);
    asm.insert(offset, bytes).unwrap();
    assert_eq!(read_all(&mut asm), data);
    assert!(asm.is_empty());
}

// RFC 9000 §2.2 (test): data received more than once is delivered once.
#[test]
fn overlapping_and_duplicate_inserts_deliver_each_byte_once() {
    let data = stream(1000);
    let mut asm = Assembler::new(ROOMY);
    for range in [300..600, 300..600, 500..900, 100..400, 0..150, 850..1000] {
        let (offset, bytes) = piece(&data, range);
        asm.insert(offset, bytes).unwrap();
    }
    assert_eq!(asm.buffered(), 1000);
    assert_eq!(read_all(&mut asm), data);
    let (offset, bytes) = piece(&data, 0..1000);
    asm.insert(offset, bytes).unwrap();
    assert!(asm.is_empty(), "data below the read offset is dropped");
}

#[test]
fn data_straddling_the_read_offset_is_trimmed() {
    let data = stream(400);
    let mut asm = Assembler::new(ROOMY);
    let (offset, bytes) = piece(&data, 0..200);
    asm.insert(offset, bytes).unwrap();
    assert_eq!(read_all(&mut asm).len(), 200);
    let (offset, bytes) = piece(&data, 100..400);
    asm.insert(offset, bytes).unwrap();
    assert_eq!(asm.buffered(), 200);
    assert_eq!(read_all(&mut asm), data[200..]);
}

#[test]
fn an_insert_of_zero_bytes_is_a_no_op() {
    let mut asm = Assembler::new(ROOMY);
    asm.insert(0, Bytes::new()).unwrap();
    asm.insert(u64::MAX, Bytes::new()).unwrap();
    asm.insert(1 << 40, Bytes::new()).unwrap();
    assert!(asm.is_empty());
    assert_eq!(asm.read(), None);
}

#[test]
fn an_offset_near_u64_max_is_an_error_not_a_panic() {
    let mut asm = Assembler::new(AssemblerLimits {
        max_buffered: u64::MAX,
        max_chunks: 8,
    });
    assert_eq!(
        asm.insert(u64::MAX - 2, Bytes::from_static(b"four")),
        Err(AssemblerError::BeyondLimit)
    );
    assert_eq!(
        asm.insert(u64::MAX, Bytes::from_static(b"x")),
        Err(AssemblerError::BeyondLimit)
    );
    asm.insert(u64::MAX - 4, Bytes::from_static(b"four"))
        .unwrap();
    assert_eq!(asm.buffered(), 4);
    assert_eq!(asm.read(), None);
}

// RFC 9000 §7.5 (test): data beyond the buffer limit is refused.
#[test]
fn data_ending_past_max_buffered_is_beyond_the_limit() {
    let limits = AssemblerLimits {
        max_buffered: 4096,
        max_chunks: 8,
    };
    let mut asm = Assembler::new(limits);
    asm.insert(4000, Bytes::from(vec![1; 96])).unwrap();
    assert_eq!(
        asm.insert(4000, Bytes::from(vec![1; 97])),
        Err(AssemblerError::BeyondLimit)
    );
    assert_eq!(asm.buffered(), 96, "a refused insert keeps nothing");
    asm.insert(0, Bytes::from(vec![0; 1000])).unwrap();
    assert_eq!(read_all(&mut asm).len(), 1000);
    asm.insert(5000, Bytes::from(vec![2; 96])).unwrap();
    assert_eq!(
        asm.insert(5097, Bytes::from(vec![2; 1])),
        Err(AssemblerError::BeyondLimit),
        "the window slides with the read offset"
    );
}

#[test]
fn one_byte_frames_with_one_byte_gaps_are_too_fragmented() {
    let mut asm = Assembler::new(AssemblerLimits {
        max_buffered: 1 << 20,
        max_chunks: 16,
    });
    let mut result = Ok(());
    for i in 0..1000_u64 {
        result = asm.insert(1 + 2 * i, Bytes::from_static(b"x"));
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(AssemblerError::TooFragmented));
    assert_eq!(asm.chunks(), 16);
    assert_eq!(asm.buffered(), 16);
}

#[test]
fn large_chunks_beyond_max_chunks_are_too_fragmented() {
    let mut asm = Assembler::new(AssemblerLimits {
        max_buffered: 1 << 20,
        max_chunks: 2,
    });
    let big = Bytes::from(vec![7; 500]);
    asm.insert(1000, big.clone()).unwrap();
    asm.insert(2000, big.clone()).unwrap();
    assert_eq!(
        asm.insert(3000, big.clone()),
        Err(AssemblerError::TooFragmented)
    );
    assert_eq!(
        asm.insert(1500, big.clone()),
        Err(AssemblerError::TooFragmented),
        "large chunks are never copied together, so filling a gap adds one"
    );
    asm.insert(1200, big.slice(..300)).unwrap();
    assert_eq!(asm.chunks(), 2, "data already held needs no new chunk");
}

#[test]
fn small_adjacent_pieces_are_copied_into_one_chunk() {
    let data = stream(64);
    let mut asm = Assembler::new(AssemblerLimits {
        max_buffered: 1 << 20,
        max_chunks: 2,
    });
    for i in (1..64).rev() {
        let (offset, bytes) = piece(&data, i..i + 1);
        asm.insert(offset, bytes).unwrap();
    }
    assert_eq!(asm.chunks(), 1);
    let (offset, bytes) = piece(&data, 0..1);
    asm.insert(offset, bytes).unwrap();
    assert_eq!(asm.chunks(), 1);
    let chunk = asm.read().unwrap();
    assert_eq!(chunk, data);
    assert_ne!(chunk.as_ptr(), data.as_ptr(), "small pieces are copies");
}

#[test]
fn filling_a_gap_between_small_chunks_merges_them() {
    let mut asm = Assembler::new(ROOMY);
    asm.insert(10, Bytes::from_static(b"ab")).unwrap();
    asm.insert(14, Bytes::from_static(b"ef")).unwrap();
    assert_eq!(asm.chunks(), 2);
    asm.insert(11, Bytes::from_static(b"bcde")).unwrap();
    assert_eq!(asm.chunks(), 1);
    assert_eq!(asm.buffered(), 6);
    asm.insert(0, Bytes::from_static(b"0123456789")).unwrap();
    assert_eq!(read_all(&mut asm), b"0123456789abcdef");
}

/// A byte string and overlapping pieces of it, in a random order, some
/// repeated.
fn pieces() -> impl Strategy<Value = (Bytes, Vec<(usize, usize)>)> {
    (1_usize..3000).prop_flat_map(|len| {
        let cut = (0..len, 1_usize..400).prop_map(move |(start, n)| (start, (start + n).min(len)));
        (Just(stream(len)), prop::collection::vec(cut, 0..40))
    })
}

proptest! {
    // RFC 9000 §2.2 (test): however the stream is cut, reordered and
    // repeated, the reader sees the original bytes once each.
    #[test]
    fn randomly_cut_and_shuffled_pieces_reassemble_the_original(
        (data, cuts) in pieces(),
        order in prop::collection::vec(any::<prop::sample::Index>(), 0..80),
    ) {
        // The cuts, a whole cover of the stream in 97-byte steps (so that
        // every byte arrives), and repeats picked by `order`.
        let cover = (0..data.len()).step_by(97).map(|s| (s, (s + 97).min(data.len())));
        let mut all: Vec<(usize, usize)> = cuts.iter().copied().chain(cover).collect();
        let repeats: Vec<_> = order.iter().map(|i| all[i.index(all.len())]).collect();
        all.extend(repeats);
        // Shuffle deterministically from `order`.
        for (i, pick) in order.iter().enumerate() {
            let (n, j) = (all.len(), pick.index(all.len()));
            all.swap(i % n, j);
        }
        let mut asm = Assembler::new(ROOMY).pinning(1500);
        let mut out = Vec::new();
        for (start, end) in all {
            let (offset, bytes) = piece(&data, start..end);
            prop_assert_eq!(asm.insert(offset, bytes), Ok(()));
            let held: u64 = asm.chunks.values().map(len64).sum();
            prop_assert_eq!(asm.buffered(), held);
            prop_assert_eq!(asm.cost(), true_cost(&asm));
            if start % 3 == 0 {
                out.extend(read_all(&mut asm));
            }
        }
        out.extend(read_all(&mut asm));
        prop_assert_eq!(&out[..], &data[..]);
        prop_assert!(asm.is_empty());
        prop_assert_eq!(asm.read_offset(), u64::try_from(data.len()).unwrap());
    }
}

proptest! {
    #[test]
    fn a_hostile_peer_never_pushes_an_assembler_past_its_limits(
        inserts in prop::collection::vec((0_u64..5000, 0_usize..300), 0..200),
        max_buffered in 1_u64..4096,
        max_chunks in 1_usize..12,
    ) {
        let limits = AssemblerLimits { max_buffered, max_chunks };
        let mut asm = Assembler::new(limits);
        let data = stream(5300);
        for (offset, len) in inserts {
            let start = usize::try_from(offset).unwrap();
            let before = (asm.chunks(), asm.buffered());
            let result = asm.insert(offset, data.slice(start..start + len));
            if result.is_err() {
                prop_assert_eq!((asm.chunks(), asm.buffered()), before, "an error keeps nothing");
            }
            prop_assert!(asm.chunks() <= max_chunks);
            prop_assert!(asm.buffered() <= max_buffered);
            if offset % 5 == 0 {
                let read = read_all(&mut asm);
                let at = usize::try_from(asm.read_offset()).unwrap() - read.len();
                prop_assert_eq!(&read[..], &data[at..at + read.len()]);
            }
        }
    }
}

#[test]
fn read_max_returns_a_prefix_and_keeps_the_rest_in_place() {
    let data = stream(1000);
    let mut asm = Assembler::new(ROOMY);
    asm.insert(0, data.clone()).unwrap();
    assert!(asm.is_readable());
    assert_eq!(asm.read_max(0), None);
    let head = asm.read_max(300).unwrap();
    assert_eq!(head, data.slice(..300));
    assert_eq!(head.as_ptr(), data.as_ptr(), "no copy");
    assert_eq!((asm.read_offset(), asm.buffered()), (300, 700));
    assert_eq!(asm.read_max(5000).unwrap(), data.slice(300..));
    assert!(!asm.is_readable());
}

#[test]
fn discard_to_drops_everything_and_moves_the_read_offset() {
    let data = stream(1000);
    let mut asm = Assembler::new(ROOMY);
    asm.insert(500, data.slice(500..)).unwrap();
    assert!(!asm.is_readable(), "bytes 0..500 are missing");
    asm.discard_to(800);
    assert!(asm.is_empty());
    assert_eq!((asm.read_offset(), asm.buffered()), (800, 0));
    asm.insert(0, data.clone()).unwrap();
    assert_eq!(read_all(&mut asm), &data[800..]);
}

/// The cost of every chunk held, summed afresh.
fn true_cost(asm: &Assembler) -> u64 {
    let chunks: u64 = asm.chunks.values().map(|chunk| asm.chunk_cost(chunk)).sum();
    if asm.chunks.is_empty() {
        chunks
    } else {
        chunks + ROOT_OVERHEAD
    }
}

#[test]
fn a_one_byte_chunk_costs_its_overhead_and_a_slice_its_packet() {
    let mut asm = Assembler::new(ROOMY).pinning(1452);
    asm.insert(1, Bytes::from_static(b"x")).unwrap();
    assert_eq!(asm.cost(), ROOT_OVERHEAD + 1 + CHUNK_OVERHEAD);
    // 100 bytes are kept as a slice of their packet: the packet is pinned.
    let data = stream(300);
    asm.insert(200, data.slice(0..100)).unwrap();
    assert_eq!(
        asm.cost(),
        ROOT_OVERHEAD + 1 + CHUNK_OVERHEAD + 1452 + CHUNK_OVERHEAD
    );
    asm.discard_to(0);
    assert_eq!(asm.cost(), 0);
}

#[test]
fn partial_and_unordered_reads_keep_the_cost_exact() {
    let data = stream(4000);
    let mut asm = Assembler::new(ROOMY).pinning(1200);
    for start in (100..4000).step_by(300) {
        asm.insert(start as u64, data.slice(start..(start + 200).min(4000)))
            .unwrap();
        assert_eq!(asm.cost(), true_cost(&asm));
    }
    let _ = asm.pop_first(50);
    assert_eq!(asm.cost(), true_cost(&asm));
    asm.advance_to(420);
    assert_eq!(asm.cost(), true_cost(&asm));
    asm.insert(0, data.slice(0..420)).unwrap();
    while asm.read_max(70).is_some() {
        assert_eq!(asm.cost(), true_cost(&asm));
    }
    asm.discard_to(4000);
    assert_eq!((asm.cost(), asm.buffered()), (0, 0));
}
