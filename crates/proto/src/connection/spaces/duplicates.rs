//! Duplicate packet detection (RFC 9000 §12.3), apart from ACK state.
//!
//! The ranges kept for ACK frames are bounded and forget their lowest
//! entries, so they cannot say whether an old packet was processed. This
//! window can: it remembers, one bit each, the packet numbers of a fixed
//! span below the largest one processed, and counts every packet number
//! below that span as a duplicate. Memory is fixed by the span, and the
//! cost per packet is a bit test plus, when the largest moves on, clearing
//! at most one bit per packet number passed (a word at a time, and at most
//! the whole window).

/// Packet numbers tracked at least and at most (see
/// [`TransportConfig::duplicate_window`](crate::config::TransportConfig::duplicate_window)).
const MIN_SPAN: u64 = 64;
const MAX_SPAN: u64 = 1 << 16;

/// The packet numbers processed in one space, as far as duplicate
/// detection needs them.
#[derive(Debug)]
pub(in crate::connection) struct DuplicateWindow {
    /// One bit per packet number of `largest - span + 1 ..= largest`, at
    /// bit `pn % span` of the ring; allocated with the first packet, so a
    /// space that never receives one holds no heap.
    bits: Box<[u64]>,
    /// The largest packet number processed.
    largest: Option<u64>,
    /// Packet numbers tracked: a multiple of 64.
    span: u64,
}

impl DuplicateWindow {
    /// An empty window tracking about `span` packet numbers (rounded up to
    /// a multiple of 64, within 64 and 65,536).
    pub(in crate::connection) fn new(span: u32) -> Self {
        let span = u64::from(span)
            .clamp(MIN_SPAN, MAX_SPAN)
            .next_multiple_of(64);
        Self {
            bits: Box::default(),
            largest: None,
            span,
        }
    }

    /// Whether a packet with number `pn` must be dropped: processed
    /// already, or too old to tell.
    pub(in crate::connection) fn is_duplicate(&self, pn: u64) -> bool {
        let Some(largest) = self.largest else {
            return false;
        };
        if pn > largest {
            return false;
        }
        // RFC 9000 §12.3: everything below the window counts as processed.
        if largest - pn >= self.span {
            return true;
        }
        let (word, bit) = self.slot(pn);
        self.bits.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Records `pn` as processed. Callers check
    /// [`is_duplicate`](Self::is_duplicate) first; a number below the
    /// window is ignored.
    pub(in crate::connection) fn insert(&mut self, pn: u64) {
        if self.bits.is_empty() {
            let words = usize::try_from(self.span / 64).unwrap_or(1);
            self.bits = vec![0; words].into_boxed_slice();
        }
        match self.largest {
            Some(largest) if pn <= largest => {
                if largest - pn >= self.span {
                    return;
                }
            }
            Some(largest) => {
                // The slots of the numbers passed held numbers that now
                // fall below the window.
                let passed = pn - largest;
                if passed >= self.span {
                    self.bits.fill(0);
                } else {
                    self.clear(largest + 1, passed);
                }
                self.largest = Some(pn);
            }
            None => self.largest = Some(pn),
        }
        let (word, bit) = self.slot(pn);
        if let Some(w) = self.bits.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    /// Heap bytes held.
    pub(in crate::connection) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.bits)
    }

    /// The word and bit of `pn` in the ring.
    fn slot(&self, pn: u64) -> (usize, u64) {
        let pos = pn % self.span;
        (usize::try_from(pos / 64).unwrap_or(0), pos % 64)
    }

    /// Clears the slots of `count` (less than the span) numbers from
    /// `from` on, a word at a time; the span is a multiple of 64, so a run
    /// never straddles the ring's end within a word.
    fn clear(&mut self, mut from: u64, mut count: u64) {
        while count > 0 {
            let (word, bit) = self.slot(from);
            let n = (64 - bit).min(count);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1 << n) - 1) << bit
            };
            if let Some(w) = self.bits.get_mut(word) {
                *w &= !mask;
            }
            from += n;
            count -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DuplicateWindow;

    // RFC 9000 §12.3 (test): a packet number is processed once, however
    // many gaps lie below it.
    #[test]
    fn every_number_is_new_once_whatever_the_gaps() {
        let mut window = DuplicateWindow::new(1024);
        // 300 gaps: every other packet number.
        for pn in (0..600).step_by(2) {
            assert!(!window.is_duplicate(pn));
            window.insert(pn);
        }
        for pn in 0..600 {
            assert_eq!(window.is_duplicate(pn), pn % 2 == 0, "pn {pn}");
        }
        // The gaps fill in late, once each.
        for pn in (1..600).step_by(2) {
            assert!(!window.is_duplicate(pn));
            window.insert(pn);
            assert!(window.is_duplicate(pn));
        }
    }

    #[test]
    fn numbers_below_the_window_are_duplicates() {
        let mut window = DuplicateWindow::new(64);
        window.insert(10);
        assert!(!window.is_duplicate(9), "inside the window, never seen");
        window.insert(200);
        for pn in 0..=136 {
            assert!(window.is_duplicate(pn), "pn {pn} is below the window");
        }
        for pn in 137..200 {
            assert!(!window.is_duplicate(pn), "pn {pn} was never seen");
        }
        assert!(window.is_duplicate(200));
        assert!(!window.is_duplicate(201));
    }

    #[test]
    fn moving_on_forgets_the_slots_of_old_numbers() {
        let mut window = DuplicateWindow::new(128);
        for pn in 0..128 {
            window.insert(pn);
        }
        // Each step reuses the slot of a number now below the window.
        for pn in 128..1000 {
            assert!(!window.is_duplicate(pn));
            window.insert(pn);
            assert!(!window.is_duplicate(pn + 1));
        }
        // A jump of less than the span clears exactly the numbers passed.
        window.insert(1100);
        for pn in 1000..1100 {
            assert!(!window.is_duplicate(pn), "pn {pn}");
        }
        for pn in 973..1000 {
            assert!(window.is_duplicate(pn), "pn {pn}");
        }
        // A jump past the whole span starts afresh.
        window.insert(1 << 40);
        assert!(!window.is_duplicate((1 << 40) - 1));
        assert!(window.is_duplicate((1 << 40) - 128));
    }

    #[test]
    fn memory_is_fixed_by_the_span_and_taken_with_the_first_packet() {
        let mut window = DuplicateWindow::new(1000);
        assert_eq!(window.heap_bytes(), 0);
        window.insert(0);
        assert_eq!(window.heap_bytes(), 1024 / 8, "rounded up to 1024 bits");
        for pn in (0..1_000_000).step_by(3) {
            window.insert(pn);
        }
        assert_eq!(window.heap_bytes(), 128);
        assert_eq!(DuplicateWindow::new(0).span, 64);
        assert_eq!(DuplicateWindow::new(u32::MAX).span, 1 << 16);
    }
}
