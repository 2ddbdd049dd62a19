//! ACK frames (RFC 9000 §19.3).
//!
//! Decoding allocates nothing: the ACK Range fields stay encoded, as a
//! zero-copy slice of the payload checked once during decoding, and
//! [`Ack::iter`] walks them on demand.

use std::{iter::FusedIterator, ops::RangeInclusive};

use bytes::{BufMut, Bytes, BytesMut};

use crate::{
    frame::{FrameDecodeError, FrameType, reader::Reader},
    varint::VarInt,
};

#[cfg(test)]
mod tests;

/// The ECN counts of an ACK_ECN frame (RFC 9000 §19.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EcnCounts {
    /// Packets received with the ECT(0) codepoint.
    pub ect0: VarInt,
    /// Packets received with the ECT(1) codepoint.
    pub ect1: VarInt,
    /// Packets received with the ECN-CE codepoint.
    pub ce: VarInt,
}

/// An ACK or ACK_ECN frame (RFC 9000 §19.3).
///
/// Two frames are equal when they acknowledge the same ranges with the same
/// delay and ECN counts, however their integers were encoded.
#[derive(Debug, Clone)]
pub struct Ack {
    largest: VarInt,
    ack_delay: VarInt,
    /// ACK Range Count: the ranges after the first.
    extra_ranges: VarInt,
    /// First ACK Range, then the (Gap, ACK Range Length) pairs; validated.
    wire_ranges: Bytes,
    ecn: Option<EcnCounts>,
}

/// The ranges passed to [`Ack::from_ranges`] cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAckRanges {
    /// No range was given; an ACK acknowledges at least one packet.
    #[error("no ranges to acknowledge")]
    Empty,
    /// A range's start is above its end.
    #[error("range start above its end")]
    Inverted,
    /// A range overlaps or is not below the one before it; sort the ranges
    /// largest first and merge overlapping ones.
    #[error("ranges not descending and disjoint")]
    NotDescending,
    /// A packet number is 2^62 or more, beyond any packet number.
    #[error("packet number beyond 2^62-1")]
    TooLarge,
}

impl Ack {
    /// Encodes `ranges`, largest first and disjoint, into a new frame.
    /// Adjacent ranges are merged. `ack_delay` is the raw field, already
    /// scaled down by the ack_delay_exponent; `ecn` makes it an ACK_ECN.
    ///
    /// # Errors
    /// [`InvalidAckRanges`] when `ranges` is empty, unordered, overlapping,
    /// or holds a packet number of 2^62 or more.
    pub fn from_ranges<I>(
        ranges: I,
        ack_delay: VarInt,
        ecn: Option<EcnCounts>,
    ) -> Result<Self, InvalidAckRanges>
    where
        I: IntoIterator<Item = RangeInclusive<u64>>,
    {
        let mut merged = Merged::new(ranges.into_iter());
        let (mut start, largest) = merged.next().ok_or(InvalidAckRanges::Empty)??;
        let mut wire = BytesMut::new();
        write_range(&mut wire, None, start, largest);
        let mut extra_ranges = 0_u64;
        for next in merged {
            let (next_start, next_end) = next?;
            write_range(&mut wire, Some(start), next_start, next_end);
            start = next_start;
            extra_ranges += 1;
        }
        Ok(Self {
            largest: VarInt::from_u64_bounded(largest),
            ack_delay,
            extra_ranges: VarInt::from_u64_bounded(extra_ranges),
            wire_ranges: wire.freeze(),
            ecn,
        })
    }

    /// Writes the ACK frame of `ranges` straight into `buf`, as
    /// [`from_ranges`](Self::from_ranges) then [`encode`](Self::encode)
    /// would, without building the frame: nothing is allocated, which is
    /// what the send path needs (every packet carries an ACK). Returns
    /// whether it was written: a frame that would take `buf` past `limit`
    /// bytes is not.
    ///
    /// # Errors
    /// As [`from_ranges`](Self::from_ranges); nothing is written then.
    pub fn write_ranges<I>(
        ranges: I,
        ack_delay: VarInt,
        ecn: Option<EcnCounts>,
        buf: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, InvalidAckRanges>
    where
        I: Iterator<Item = RangeInclusive<u64>> + Clone,
    {
        // First pass: check the ranges and size the frame.
        let mut merged = Merged::new(ranges.clone());
        let (mut start, largest) = merged.next().ok_or(InvalidAckRanges::Empty)??;
        let mut wire_len = range_len(None, start, largest);
        let mut extra_ranges = 0_u64;
        for next in merged {
            let (next_start, next_end) = next?;
            wire_len += range_len(Some(start), next_start, next_end);
            start = next_start;
            extra_ranges += 1;
        }
        let header = Self {
            largest: VarInt::from_u64_bounded(largest),
            ack_delay,
            extra_ranges: VarInt::from_u64_bounded(extra_ranges),
            wire_ranges: Bytes::new(),
            ecn,
        };
        if buf.len() + header.encoded_len() + wire_len > limit {
            return Ok(false);
        }
        // Second pass: the same ranges, written.
        header.ty().to_varint().encode(buf);
        header.largest.encode(buf);
        header.ack_delay.encode(buf);
        header.extra_ranges.encode(buf);
        let mut prev_smallest = None;
        for (start, end) in Merged::new(ranges).map_while(Result::ok) {
            write_range(buf, prev_smallest, start, end);
            prev_smallest = Some(start);
        }
        if let Some(ecn) = ecn {
            ecn.ect0.encode(buf);
            ecn.ect1.encode(buf);
            ecn.ce.encode(buf);
        }
        Ok(true)
    }

    /// The largest packet number acknowledged.
    #[must_use]
    pub const fn largest(&self) -> VarInt {
        self.largest
    }

    /// The raw ACK Delay field: microseconds scaled down by the sender's
    /// ack_delay_exponent (RFC 9000 §19.3).
    #[must_use]
    pub const fn ack_delay(&self) -> VarInt {
        self.ack_delay
    }

    /// The ECN counts, present in ACK_ECN frames (type 0x03) only.
    #[must_use]
    pub const fn ecn(&self) -> Option<EcnCounts> {
        self.ecn
    }

    /// The frame type: ACK_ECN when ECN counts are present, else ACK.
    #[must_use]
    pub const fn ty(&self) -> FrameType {
        if self.ecn.is_some() {
            FrameType::ACK_ECN
        } else {
            FrameType::ACK
        }
    }

    /// The acknowledged ranges, largest first.
    #[must_use]
    pub fn iter(&self) -> AckRanges<'_> {
        AckRanges {
            wire: &self.wire_ranges,
            largest: self.largest.into_inner(),
            prev_smallest: None,
            remaining: self.extra_ranges.into_inner() + 1,
        }
    }

    /// Bytes the frame takes on the wire.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let ecn = self
            .ecn
            .map_or(0, |ecn| ecn.ect0.size() + ecn.ect1.size() + ecn.ce.size());
        1 + self.largest.size()
            + self.ack_delay.size()
            + self.extra_ranges.size()
            + self.wire_ranges.len()
            + ecn
    }

    /// Writes the frame.
    ///
    /// # Panics
    /// When `buf` has less than [`encoded_len`](Self::encoded_len) bytes of room.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        self.ty().to_varint().encode(buf);
        self.largest.encode(buf);
        self.ack_delay.encode(buf);
        self.extra_ranges.encode(buf);
        buf.put_slice(&self.wire_ranges);
        if let Some(ecn) = self.ecn {
            ecn.ect0.encode(buf);
            ecn.ect1.encode(buf);
            ecn.ce.encode(buf);
        }
    }

    /// Decodes the fields after an ACK or ACK_ECN frame type.
    pub(super) fn decode(r: &mut Reader<'_>) -> Result<Self, FrameDecodeError> {
        let largest = r.var()?;
        let ack_delay = r.var()?;
        let extra_ranges = r.var()?;
        let len = ranges_len(r.peek(), largest, extra_ranges).map_err(|err| match err {
            RangesError::Truncated => r.encoding_error("frame ends early"),
            RangesError::Underflow => r.encoding_error("ack range below packet number 0"),
        })?;
        let wire_ranges = r.bytes(len)?;
        let ecn = if r.ty() == FrameType::ACK_ECN {
            Some(EcnCounts {
                ect0: r.var()?,
                ect1: r.var()?,
                ce: r.var()?,
            })
        } else {
            None
        };
        Ok(Self {
            largest,
            ack_delay,
            extra_ranges,
            wire_ranges,
            ecn,
        })
    }
}

impl PartialEq for Ack {
    fn eq(&self, other: &Self) -> bool {
        self.largest == other.largest
            && self.ack_delay == other.ack_delay
            && self.ecn == other.ecn
            && self.iter().eq(other.iter())
    }
}

impl Eq for Ack {}

impl<'a> IntoIterator for &'a Ack {
    type Item = RangeInclusive<u64>;
    type IntoIter = AckRanges<'a>;
    fn into_iter(self) -> AckRanges<'a> {
        self.iter()
    }
}

/// The ranges of an [`Ack`], largest first, decoded on demand.
#[derive(Debug, Clone)]
pub struct AckRanges<'a> {
    wire: &'a [u8],
    largest: u64,
    /// The smallest packet number of the range yielded last; `None` before
    /// the first.
    prev_smallest: Option<u64>,
    remaining: u64,
}

impl Iterator for AckRanges<'_> {
    type Item = RangeInclusive<u64>;

    fn next(&mut self) -> Option<Self::Item> {
        self.remaining = self.remaining.checked_sub(1)?;
        let largest = match self.prev_smallest {
            None => self.largest,
            Some(prev) => {
                let gap = VarInt::decode(&mut self.wire).ok()?.into_inner();
                prev.checked_sub(gap + 2)?
            }
        };
        let len = VarInt::decode(&mut self.wire).ok()?.into_inner();
        let smallest = largest.checked_sub(len)?;
        self.prev_smallest = Some(smallest);
        Some(smallest..=largest)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Decoding checked every range, so the count is exact.
        let remaining = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }
}

impl ExactSizeIterator for AckRanges<'_> {}

impl FusedIterator for AckRanges<'_> {}

/// Checks one range given to [`Ack::from_ranges`], returning its bounds.
fn checked_range(range: RangeInclusive<u64>) -> Result<(u64, u64), InvalidAckRanges> {
    let (start, end) = range.into_inner();
    if start > end {
        return Err(InvalidAckRanges::Inverted);
    }
    if end > VarInt::MAX.into_inner() {
        return Err(InvalidAckRanges::TooLarge);
    }
    Ok((start, end))
}

/// Writes one range: its Gap from the previous range's smallest packet
/// number (none for the first range), then its length.
fn write_range<B: BufMut>(wire: &mut B, prev_smallest: Option<u64>, start: u64, end: u64) {
    if let Some(prev) = prev_smallest {
        // RFC 9000 §19.3.1: Gap is the count of missing packets minus one.
        VarInt::from_u64_bounded(prev - end - 2).encode(wire);
    }
    VarInt::from_u64_bounded(end - start).encode(wire);
}

/// The bytes [`write_range`] writes for the same arguments.
fn range_len(prev_smallest: Option<u64>, start: u64, end: u64) -> usize {
    let gap = prev_smallest.map_or(0, |prev| VarInt::from_u64_bounded(prev - end - 2).size());
    gap + VarInt::from_u64_bounded(end - start).size()
}

/// Ranges given largest first, checked, with adjacent ones merged: what an
/// ACK frame encodes.
struct Merged<I> {
    inner: I,
    /// A range read but not yet merged or yielded.
    pending: Option<(u64, u64)>,
}

impl<I: Iterator<Item = RangeInclusive<u64>>> Merged<I> {
    fn new(inner: I) -> Self {
        Self {
            inner,
            pending: None,
        }
    }
}

impl<I: Iterator<Item = RangeInclusive<u64>>> Iterator for Merged<I> {
    type Item = Result<(u64, u64), InvalidAckRanges>;

    fn next(&mut self) -> Option<Self::Item> {
        let (mut start, end) = match self.pending.take() {
            Some(range) => range,
            None => match checked_range(self.inner.next()?) {
                Ok(range) => range,
                Err(error) => return Some(Err(error)),
            },
        };
        for next in self.inner.by_ref() {
            let (next_start, next_end) = match checked_range(next) {
                Ok(range) => range,
                Err(error) => return Some(Err(error)),
            };
            if next_end >= start {
                return Some(Err(InvalidAckRanges::NotDescending));
            }
            if next_end + 1 == start {
                start = next_start;
                continue;
            }
            self.pending = Some((next_start, next_end));
            break;
        }
        Some(Ok((start, end)))
    }
}

/// Why the ACK Range fields are invalid.
enum RangesError {
    Truncated,
    Underflow,
}

/// Checks the First ACK Range and `extra_ranges` (Gap, ACK Range Length)
/// pairs at the front of `wire`, returning the bytes they take.
fn ranges_len(
    mut wire: &[u8],
    largest: VarInt,
    extra_ranges: VarInt,
) -> Result<usize, RangesError> {
    let start = wire.len();
    let mut read = || {
        VarInt::decode(&mut wire)
            .map(VarInt::into_inner)
            .map_err(|_| RangesError::Truncated)
    };
    // RFC 9000 §19.3.1: a range reaching below packet number 0 is FRAME_ENCODING_ERROR.
    let mut smallest = largest
        .into_inner()
        .checked_sub(read()?)
        .ok_or(RangesError::Underflow)?;
    // RFC 9000 §20.1: a range count beyond what the packet holds is
    // FRAME_ENCODING_ERROR. The count is only a claim: every pair takes at
    // least two bytes, so this loop ends with the input, and nothing is
    // allocated from the count.
    for _ in 0..extra_ranges.into_inner() {
        let gap = read()?;
        let len = read()?;
        let largest = smallest
            .checked_sub(gap + 2)
            .ok_or(RangesError::Underflow)?;
        smallest = largest.checked_sub(len).ok_or(RangesError::Underflow)?;
    }
    Ok(start - wire.len())
}
