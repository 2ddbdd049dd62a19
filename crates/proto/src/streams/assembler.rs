//! Out-of-order reassembly of a byte stream, zero-copy and bounded.
//!
//! CRYPTO frames (and, later, STREAM frames) carry pieces of a byte stream
//! at explicit offsets; packets are lost, reordered and retransmitted with
//! different boundaries. The [`Assembler`] holds the pieces that arrived
//! ahead of the reader and hands them back in order, each byte once.
//!
//! The pieces are slices of the packet buffers they arrived in ([`Bytes`]),
//! so in-order data is never copied. Because a slice keeps its whole parent
//! buffer alive, the number of pieces held is bounded as well as the bytes:
//! [`AssemblerLimits::max_chunks`] bounds how many packet buffers one
//! assembler can pin. Small pieces (at most 64 bytes together) are copied
//! into a fresh buffer and merged with their small neighbours, so that a
//! peer sending tiny frames pins no packet buffers and uses few chunks.
//!
//! What the pieces really cost is reported by [`Assembler::cost`]: each
//! chunk's bytes, [`CHUNK_OVERHEAD`] for its map entry and allocation, and
//! for a piece kept as a slice the rest of the packet buffer it pins (see
//! [`Assembler::pinning`]), and [`ROOT_OVERHEAD`] for the map's first node.
//! A one-byte chunk costs about 150 times its byte; a connection bounds the
//! sum over its streams.

use std::{collections::BTreeMap, ops::Range};

use bytes::{Bytes, BytesMut};

#[cfg(test)]
mod tests;

/// Adjacent chunks whose total length is at most this many bytes are copied
/// into one buffer; a new chunk this small is copied even alone. Copying so
/// little costs less than a map entry and frees the packet buffer behind it.
const COALESCE_MAX: usize = 64;

/// What each held chunk costs beyond its bytes: its `BTreeMap` entry (key
/// and `Bytes`, in nodes of eleven that are half to two-thirds full) and
/// the allocator's header and rounding of the block it lives in (a copied
/// chunk's own buffer, or for a slice its packet buffer and the shared
/// counter `bytes` adds to it).
///
/// Measured with a counting allocator that charges glibc's block sizes
/// (`crates/sim/tests/reassembly_memory.rs`): 110 bytes for a copied
/// one-byte chunk and 147 for a slice of its own datagram, in the worst of
/// rising, falling and mixed arrival orders. This covers both.
pub const CHUNK_OVERHEAD: u64 = 152;

/// What an assembler holding any chunk costs once, on top of its chunks:
/// the `BTreeMap`'s first leaf node (eleven keys and `Bytes`, 456 bytes, in
/// a 464-byte block). A peer sending one byte ahead of a gap on each of many
/// streams makes one per stream. Measured as above: 496 heap bytes for an
/// assembler holding one copied byte, charged 1 + 152 + 464.
pub const ROOT_OVERHEAD: u64 = 464;

/// How much an [`Assembler`] may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssemblerLimits {
    /// How far past the read offset data may reach, in bytes. Data ending
    /// further out is refused with [`AssemblerError::BeyondLimit`].
    ///
    /// RFC 9000 §7.5 asks for at least 4096 bytes for CRYPTO data; for
    /// streams this is the receive window.
    pub max_buffered: u64,
    /// How many separate chunks may be held. Each chunk may keep one packet
    /// buffer alive, so this also bounds how many packet buffers are pinned.
    ///
    /// A chunk is held for every run of data that arrived ahead of a gap (and
    /// for data at the read offset not yet read). A peer's legitimate
    /// reordering needs about one chunk per packet in flight behind a loss,
    /// plus one for the retransmission that fills the gap; leave headroom.
    pub max_chunks: usize,
}

/// Why an [`Assembler`] refused data. The caller maps it to a transport
/// error, such as `CRYPTO_BUFFER_EXCEEDED` for CRYPTO frames or
/// `FLOW_CONTROL_ERROR` for STREAM frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AssemblerError {
    /// The data ends more than [`AssemblerLimits::max_buffered`] bytes past
    /// the read offset, or its end does not fit in a `u64`. Close the
    /// connection: the peer exceeded the window it was given.
    #[error("data reaches beyond the reassembly limit")]
    BeyondLimit,
    /// Holding the data would need more than
    /// [`AssemblerLimits::max_chunks`] chunks. Close the connection: the
    /// peer fragments its data more than any sender needs to.
    #[error("data too fragmented to reassemble")]
    TooFragmented,
}

/// Reassembles a byte stream from pieces that arrive out of order,
/// overlapping or repeated, and returns its bytes in order, once each.
///
/// ```
/// use bytes::Bytes;
/// use tern_proto::streams::assembler::{Assembler, AssemblerLimits};
///
/// let mut asm = Assembler::new(AssemblerLimits { max_buffered: 4096, max_chunks: 16 });
/// asm.insert(5, Bytes::from_static(b" world")).unwrap();
/// assert_eq!(asm.read(), None, "bytes 0..5 are missing");
/// asm.insert(0, Bytes::from_static(b"hello")).unwrap();
/// let mut out = Vec::new();
/// while let Some(chunk) = asm.read() {
///     out.extend_from_slice(&chunk);
/// }
/// assert_eq!(out, b"hello world");
/// assert_eq!(asm.read_offset(), 11);
/// ```
#[derive(Debug, Clone)]
pub struct Assembler {
    /// Non-overlapping chunks by start offset, each non-empty and starting
    /// at or after `read_offset`.
    chunks: BTreeMap<u64, Bytes>,
    /// The offset of the next byte to read.
    read_offset: u64,
    /// The total length of `chunks`.
    buffered: u64,
    /// The bounds on what is held.
    limits: AssemblerLimits,
    /// What the held chunks cost, without the map's root (see
    /// [`Assembler::cost`]).
    cost: u64,
    /// The packet buffer a chunk kept as a slice pins, at most.
    packet_size: u64,
}

/// One piece of the run of data an insert touches: a chunk already held or
/// a new piece of the inserted data.
struct Piece {
    start: u64,
    data: Bytes,
    held: bool,
}

impl Assembler {
    /// An empty assembler whose stream starts at offset 0.
    #[must_use]
    pub const fn new(limits: AssemblerLimits) -> Self {
        Self {
            chunks: BTreeMap::new(),
            read_offset: 0,
            buffered: 0,
            limits,
            cost: 0,
            packet_size: 0,
        }
    }

    /// Counts each chunk kept as a slice of its packet (one longer than
    /// the copying threshold of 64 bytes) as pinning a whole packet
    /// buffer of `packet_size` bytes in [`cost`](Self::cost): the largest
    /// datagram the endpoint takes. 0, the default, counts its bytes only.
    #[must_use]
    pub const fn pinning(mut self, packet_size: u64) -> Self {
        self.packet_size = packet_size;
        self
    }

    /// What the held chunks cost in memory, in bytes: for each, its bytes
    /// or the packet buffer it pins, whichever is larger, plus
    /// [`CHUNK_OVERHEAD`]; and [`ROOT_OVERHEAD`] once while any is held.
    #[must_use]
    pub fn cost(&self) -> u64 {
        if self.chunks.is_empty() {
            self.cost
        } else {
            self.cost + ROOT_OVERHEAD
        }
    }

    /// What one held chunk of `data` costs.
    fn chunk_cost(&self, data: &Bytes) -> u64 {
        let len = len64(data);
        // A chunk this long was kept as a slice of its packet (copied
        // chunks are never longer); a split-off rest of one may be shorter
        // and is then counted as copied, which a peer cannot repeat.
        let held = if data.len() > COALESCE_MAX {
            len.max(self.packet_size)
        } else {
            len
        };
        held + CHUNK_OVERHEAD
    }

    /// Holds `data` at `start`, counting it.
    fn put(&mut self, start: u64, data: Bytes) {
        self.buffered += len64(&data);
        self.cost += self.chunk_cost(&data);
        self.chunks.insert(start, data);
    }

    /// Uncounts a chunk just taken out of the map.
    fn forget(&mut self, data: &Bytes) {
        self.buffered -= len64(data);
        self.cost -= self.chunk_cost(data);
    }

    /// Adds `data`, found at stream offset `offset`.
    ///
    /// Bytes below the read offset or already held are dropped: slices of
    /// `data` are kept without copying, and overlapping retransmissions never
    /// duplicate a byte. An empty `data` is a no-op. On an error nothing is
    /// kept.
    ///
    /// # Errors
    /// - [`AssemblerError::BeyondLimit`] when the data ends more than
    ///   `max_buffered` bytes past the read offset, or `offset + len`
    ///   overflows;
    /// - [`AssemblerError::TooFragmented`] when holding the new bytes would
    ///   need more than `max_chunks` chunks.
    pub fn insert(&mut self, offset: u64, mut data: Bytes) -> Result<(), AssemblerError> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset
            .checked_add(len64(&data))
            .ok_or(AssemblerError::BeyondLimit)?;
        if end <= self.read_offset {
            return Ok(());
        }
        // RFC 9000 §7.5: data beyond what the endpoint is willing to buffer
        // is an error; the caller picks the code.
        if end - self.read_offset > self.limits.max_buffered {
            return Err(AssemblerError::BeyondLimit);
        }
        let mut offset = offset;
        if offset < self.read_offset {
            // RFC 9000 §2.2: data already received may be discarded.
            data = slice(&data, offset, self.read_offset..end);
            offset = self.read_offset;
        }
        let run = self.run(offset, &data);
        if run.iter().all(|piece| piece.held) {
            return Ok(());
        }
        let groups = groups(&run);
        let held = run.iter().filter(|piece| piece.held).count();
        let chunks = self.chunks.len() - held + groups.len();
        if chunks > self.limits.max_chunks {
            return Err(AssemblerError::TooFragmented);
        }
        for group in groups {
            self.store(&run[group]);
        }
        debug_assert_eq!(self.chunks.len(), chunks, "chunk count planned");
        Ok(())
    }

    /// The next bytes of the stream, when the byte at the read offset has
    /// arrived; advances the read offset past them.
    pub fn read(&mut self) -> Option<Bytes> {
        let entry = self.chunks.first_entry()?;
        if *entry.key() != self.read_offset {
            return None;
        }
        let data = entry.remove();
        self.forget(&data);
        self.read_offset = self.read_offset.saturating_add(len64(&data));
        Some(data)
    }

    /// Like [`Assembler::read`], but returns at most `max_len` bytes; the
    /// rest of the chunk stays for the next read. `None` when `max_len` is 0.
    pub fn read_max(&mut self, max_len: usize) -> Option<Bytes> {
        if max_len == 0 {
            return None;
        }
        let mut data = self.read()?;
        if data.len() > max_len {
            let rest = data.split_off(max_len);
            self.read_offset -= len64(&rest);
            self.put(self.read_offset, rest);
        }
        Some(data)
    }

    /// Removes and returns the lowest held chunk (at most `max_len` bytes of
    /// it, the rest stays), wherever it starts: an out-of-order read. The
    /// read offset moves only when the chunk starts at it, so the caller
    /// must keep the returned range from being inserted again (and may then
    /// skip it with [`Assembler::advance_to`]). `None` when `max_len` is 0
    /// or nothing is held.
    pub fn pop_first(&mut self, max_len: usize) -> Option<(u64, Bytes)> {
        if max_len == 0 {
            return None;
        }
        let (start, mut data) = self.chunks.pop_first()?;
        self.forget(&data);
        if data.len() > max_len {
            let rest = data.split_off(max_len);
            self.put(chunk_end(start, &data), rest);
        }
        if start == self.read_offset {
            self.read_offset = chunk_end(start, &data);
        }
        Some((start, data))
    }

    /// Moves the read offset forward to `offset`, dropping held bytes below
    /// it; for a range already handed out by [`Assembler::pop_first`].
    pub fn advance_to(&mut self, offset: u64) {
        if offset <= self.read_offset {
            return;
        }
        while let Some(entry) = self.chunks.first_entry() {
            let start = *entry.key();
            if start >= offset {
                break;
            }
            let data = entry.remove();
            self.forget(&data);
            if chunk_end(start, &data) > offset {
                let rest = slice(&data, start, offset..chunk_end(start, &data));
                self.put(offset, rest);
                break;
            }
        }
        self.read_offset = offset;
    }

    /// Whether [`Assembler::read`] would return data now.
    #[must_use]
    pub fn is_readable(&self) -> bool {
        self.chunks
            .first_key_value()
            .is_some_and(|(&start, _)| start == self.read_offset)
    }

    /// Drops every held byte and moves the read offset to `offset` (when it
    /// is ahead), as a receiver does when it stops reading a stream.
    pub fn discard_to(&mut self, offset: u64) {
        self.chunks.clear();
        self.buffered = 0;
        self.cost = 0;
        self.read_offset = self.read_offset.max(offset);
    }

    /// The offset of the next byte [`Assembler::read`] returns: the number of
    /// bytes read so far.
    #[must_use]
    pub const fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// How many bytes are held, not yet read.
    #[must_use]
    pub const fn buffered(&self) -> u64 {
        self.buffered
    }

    /// How many separate chunks are held.
    #[must_use]
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Whether no bytes are held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The contiguous run of pieces covering `offset..offset + data.len()`:
    /// the held chunks it overlaps or touches, and new pieces of `data` for
    /// the gaps between them, in order.
    fn run(&self, offset: u64, data: &Bytes) -> Vec<Piece> {
        let end = offset.saturating_add(len64(data));
        let mut run = Vec::new();
        let mut cursor = offset;
        let below = self.chunks.range(..offset).next_back();
        let from = below.filter(|&(&start, chunk)| chunk_end(start, chunk) >= offset);
        for (&start, chunk) in from.into_iter().chain(self.chunks.range(offset..=end)) {
            if start > cursor {
                run.push(Piece {
                    start: cursor,
                    data: slice(data, offset, cursor..start),
                    held: false,
                });
            }
            run.push(Piece {
                start,
                data: chunk.clone(),
                held: true,
            });
            cursor = cursor.max(chunk_end(start, chunk));
        }
        if cursor < end {
            run.push(Piece {
                start: cursor,
                data: slice(data, offset, cursor..end),
                held: false,
            });
        }
        debug_assert!(
            run.windows(2)
                .all(|w| chunk_end(w[0].start, &w[0].data) == w[1].start),
            "a run is contiguous"
        );
        run
    }

    /// Stores one group of contiguous pieces as a single chunk.
    fn store(&mut self, group: &[Piece]) {
        if let [piece] = group {
            if !piece.held {
                // Copying a small piece frees the packet buffer it points into.
                let data = if piece.data.len() <= COALESCE_MAX {
                    Bytes::copy_from_slice(&piece.data)
                } else {
                    piece.data.clone()
                };
                self.put(piece.start, data);
            }
            return;
        }
        let Some(first) = group.first() else {
            return;
        };
        let mut merged = BytesMut::with_capacity(group.iter().map(|p| p.data.len()).sum());
        for piece in group {
            if piece.held
                && let Some(data) = self.chunks.remove(&piece.start)
            {
                self.forget(&data);
            }
            merged.extend_from_slice(&piece.data);
        }
        self.put(first.start, merged.freeze());
    }
}

/// Splits a contiguous run into groups stored as one chunk each: consecutive
/// pieces are grouped while their total stays within [`COALESCE_MAX`].
fn groups(run: &[Piece]) -> Vec<Range<usize>> {
    let mut groups: Vec<Range<usize>> = Vec::new();
    let mut total = 0_usize;
    for (i, piece) in run.iter().enumerate() {
        let len = piece.data.len();
        match groups.last_mut() {
            Some(group) if total.saturating_add(len) <= COALESCE_MAX => {
                group.end = i + 1;
                total += len;
            }
            _ => {
                groups.push(i..i + 1);
                total = len;
            }
        }
    }
    groups
}

/// A buffer's length as a stream length.
fn len64(data: &Bytes) -> u64 {
    // A buffer in memory is shorter than 2^64 bytes on every target.
    u64::try_from(data.len()).unwrap_or(u64::MAX)
}

/// Where a chunk held at `start` ends; inserts checked that it fits.
fn chunk_end(start: u64, chunk: &Bytes) -> u64 {
    start.saturating_add(len64(chunk))
}

/// The bytes of `range` (stream offsets) out of `data`, which starts at
/// stream offset `offset`; `range` must lie within `data`.
fn slice(data: &Bytes, offset: u64, range: Range<u64>) -> Bytes {
    let index = |at: u64| {
        let i = at.saturating_sub(offset);
        usize::try_from(i).map_or(data.len(), |i| i.min(data.len()))
    };
    data.slice(index(range.start)..index(range.end))
}
