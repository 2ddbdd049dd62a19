//! ECN validation of one path (RFC 9000 §13.4) and the ECN counts we echo.
//!
//! Sending side: [`EcnState`] marks the first [`TESTING_PACKETS`] packets
//! on a new path with ECT(0), then stops marking until an ACK frame proves
//! that the marks survive the path and that the peer reports them. A path
//! that passes becomes capable and every packet is marked from then on; a
//! path that fails any check of RFC 9000 §13.4.2.1, or loses every marked
//! packet sent while testing, is never marked again.
//!
//! Receiving side: the codepoints of received packets are counted per packet
//! number space for the ECN counts of our ACK frames (RFC 9000 §13.4.1). They
//! are counted whatever the sending side decided: the peer validates its own
//! marks.
//!
//! The connection acts on what this module decides: it sets
//! [`EcnState::codepoint`] on outgoing datagrams, reports sent, acknowledged
//! and lost packets, and treats [`EcnOutcome::ce_increase`] as a congestion
//! signal (RFC 9002 §7.1).

use tracing::debug;

use crate::{SpaceId, frame::EcnCounts, transmit::EcnCodepoint, varint::VarInt};

#[cfg(test)]
mod tests;

/// How many packets are marked ECT(0) while a path is tested.
// RFC 9000 §13.4.2: mark only the first ten outgoing packets when marked
// packets might be dropped by a faulty network element.
pub const TESTING_PACKETS: u64 = 10;

/// Where the validation of a path stands (RFC 9000 §A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Validation {
    /// ECN is off by configuration: nothing is marked or validated.
    Disabled,
    /// Marking the first packets; `sent_marked` have been sent so far.
    Testing { sent_marked: u64 },
    /// Testing is over and no ACK has validated the marks yet; nothing is
    /// marked meanwhile.
    Unknown,
    /// An ACK frame validated the marks: every packet is marked.
    Capable,
    /// Validation failed: nothing is marked again on this path.
    Failed,
}

/// What an ACK frame's ECN counts told the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use]
pub struct EcnOutcome {
    /// How much the ECN-CE count grew since the last validated ACK frame of
    /// the space; more than zero is a congestion event (RFC 9002 §7.1),
    /// which the congestion controller takes at most once per round trip.
    pub ce_increase: u64,
}

/// Counts of one packet number space.
#[derive(Debug, Clone, Copy, Default)]
struct SpaceCounts {
    /// Packets we sent marked ECT(0).
    sent_ect0: u64,
    /// Packets we sent marked ECT(1).
    sent_ect1: u64,
    /// The counts of the last ACK frame that passed validation.
    validated: Counts,
    /// The largest packet number the peer has acknowledged.
    largest_acked: Option<u64>,
    /// Codepoints of the packets we received, for our ACK frames.
    received: Counts,
    /// Whether any received packet carried an ECN codepoint.
    received_marked: bool,
}

/// ECN counts as plain integers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    ect0: u64,
    ect1: u64,
    ce: u64,
}

impl From<EcnCounts> for Counts {
    fn from(counts: EcnCounts) -> Self {
        Self {
            ect0: counts.ect0.into_inner(),
            ect1: counts.ect1.into_inner(),
            ce: counts.ce.into_inner(),
        }
    }
}

/// Why an ACK frame failed ECN validation, for the trace.
#[derive(Debug, Clone, Copy)]
enum Failure {
    MissingCounts,
    Decreased,
    FellShort,
    ExceedsSent,
}

/// The ECN state of one path: what to mark, whether the marks were
/// validated, and the counts to echo.
#[derive(Debug, Clone)]
pub struct EcnState {
    validation: Validation,
    /// Marked packets sent while testing that were declared lost.
    lost_while_testing: u64,
    spaces: [SpaceCounts; 3],
}

impl EcnState {
    /// A new path: testing begins at once when `enabled`; otherwise no
    /// packet is ever marked (counts of received packets are kept anyway).
    #[must_use]
    pub fn new(enabled: bool) -> Self {
        Self {
            validation: if enabled {
                Validation::Testing { sent_marked: 0 }
            } else {
                Validation::Disabled
            },
            lost_while_testing: 0,
            spaces: [SpaceCounts::default(); 3],
        }
    }

    /// The codepoint to mark the next packet with: ECT(0) while testing or
    /// once the path is capable, `None` while awaiting validation, after a
    /// failure, or when disabled.
    #[must_use]
    pub const fn codepoint(&self) -> Option<EcnCodepoint> {
        match self.validation {
            // RFC 9000 §13.4.2: mark early packets on a new path with ECT(0),
            // and keep marking once validation succeeded.
            Validation::Testing { .. } | Validation::Capable => Some(EcnCodepoint::Ect0),
            // RFC 9000 §13.4.2.2: after a failure, stop setting ECT codepoints.
            Validation::Disabled | Validation::Unknown | Validation::Failed => None,
        }
    }

    /// Whether an ACK frame validated the path's marks.
    #[must_use]
    pub const fn is_capable(&self) -> bool {
        matches!(self.validation, Validation::Capable)
    }

    /// Whether validation failed; the path is never marked again.
    #[must_use]
    pub const fn has_failed(&self) -> bool {
        matches!(self.validation, Validation::Failed)
    }

    /// A packet numbered `pn` was sent in `space` with the `marked`
    /// codepoint (what [`EcnState::codepoint`] returned, or `None`).
    pub fn on_packet_sent(&mut self, space: SpaceId, pn: u64, marked: Option<EcnCodepoint>) {
        let counts = &mut self.spaces[index(space)];
        match marked {
            Some(EcnCodepoint::Ect0) => counts.sent_ect0 += 1,
            Some(EcnCodepoint::Ect1) => counts.sent_ect1 += 1,
            Some(EcnCodepoint::Ce) | None => return,
        }
        if let Validation::Testing { sent_marked } = &mut self.validation {
            *sent_marked += 1;
            if *sent_marked >= TESTING_PACKETS {
                // RFC 9000 §A.4: after the testing period, stop marking until
                // an ACK frame validates the marks.
                debug!(?space, pn, "ecn testing over, awaiting validation");
                self.validation = Validation::Unknown;
            }
        }
    }

    /// An ACK frame arrived in `space`. `largest_acked` is its Largest
    /// Acknowledged field; `newly_acked_ect0` how many of the packets it
    /// newly acknowledges were sent marked ECT(0) (the connection counts
    /// them from its sent-packet records); `counts` its ECN counts, `None`
    /// for an ACK frame of type 0x02.
    ///
    /// Validates the counts (RFC 9000 §13.4.2.1) and reports the growth of
    /// the CE count. Counts that fail validation are not used: the outcome
    /// is then empty and the path is never marked again.
    pub fn on_ack(
        &mut self,
        space: SpaceId,
        largest_acked: u64,
        newly_acked_ect0: u64,
        counts: Option<EcnCounts>,
    ) -> EcnOutcome {
        let state = &mut self.spaces[index(space)];
        let increases_largest = state.largest_acked.is_none_or(|l| largest_acked > l);
        if increases_largest {
            state.largest_acked = Some(largest_acked);
        }
        if matches!(self.validation, Validation::Disabled | Validation::Failed) {
            return EcnOutcome::default();
        }
        // RFC 9000 §13.4.2.1: an ACK frame that does not increase the largest
        // acknowledged packet number may be reordered and must not fail
        // validation; its counts are older than the ones we hold.
        if !increases_largest {
            return EcnOutcome::default();
        }
        match check(state, newly_acked_ect0, counts) {
            Err(failure) => {
                debug!(?space, ?failure, "ecn validation failed");
                self.validation = Validation::Failed;
                EcnOutcome::default()
            }
            Ok(None) => EcnOutcome::default(),
            Ok(Some(new)) => {
                let ce_increase = new.ce - state.validated.ce;
                state.validated = new;
                if newly_acked_ect0 > 0 && !self.is_capable() {
                    // RFC 9000 §A.4: an ACK frame that validates marked packets
                    // makes the path capable.
                    debug!(?space, "ecn validated, path capable");
                    self.validation = Validation::Capable;
                }
                if ce_increase > 0 {
                    debug!(?space, ce_increase, "ecn congestion experienced");
                }
                EcnOutcome { ce_increase }
            }
        }
    }

    /// `marked_lost` packets sent marked in `space` were declared lost.
    ///
    /// A path that loses every packet marked while testing fails: some
    /// element drops marked packets.
    pub fn on_packets_lost(&mut self, space: SpaceId, marked_lost: u64) {
        if !matches!(
            self.validation,
            Validation::Testing { .. } | Validation::Unknown
        ) {
            return;
        }
        self.lost_while_testing += marked_lost;
        // RFC 9000 §13.4.2: if every packet sent with an ECT codepoint is
        // deemed lost, validation has failed.
        if matches!(self.validation, Validation::Unknown)
            && self.lost_while_testing >= TESTING_PACKETS
        {
            debug!(
                ?space,
                lost = self.lost_while_testing,
                "ecn marked packets all lost"
            );
            self.validation = Validation::Failed;
        }
    }

    /// A packet arrived in `space` carrying `codepoint` in its IP header.
    ///
    /// Call it once per QUIC packet that was decrypted and is not a
    /// duplicate: coalesced packets each count, duplicates do not
    /// (RFC 9000 §13.4.1).
    pub fn on_packet_received(&mut self, space: SpaceId, codepoint: Option<EcnCodepoint>) {
        let state = &mut self.spaces[index(space)];
        // RFC 9000 §13.4.1: count each codepoint per packet number space.
        match codepoint {
            Some(EcnCodepoint::Ect0) => state.received.ect0 += 1,
            Some(EcnCodepoint::Ect1) => state.received.ect1 += 1,
            Some(EcnCodepoint::Ce) => state.received.ce += 1,
            None => return,
        }
        state.received_marked = true;
    }

    /// The ECN counts for our ACK frames in `space`; `None` until a packet
    /// with an ECN codepoint arrived there, so the frame stays a plain ACK.
    #[must_use]
    pub fn ack_counts(&self, space: SpaceId) -> Option<EcnCounts> {
        let state = &self.spaces[index(space)];
        state.received_marked.then(|| EcnCounts {
            ect0: VarInt::from_u64_bounded(state.received.ect0),
            ect1: VarInt::from_u64_bounded(state.received.ect1),
            ce: VarInt::from_u64_bounded(state.received.ce),
        })
    }
}

/// Checks an ACK frame's counts against the last validated ones; `Ok(None)`
/// when it carries none and needs none.
fn check(
    state: &SpaceCounts,
    newly_acked_ect0: u64,
    counts: Option<EcnCounts>,
) -> Result<Option<Counts>, Failure> {
    let Some(counts) = counts else {
        // RFC 9000 §13.4.2.1: an ACK frame that newly acknowledges marked
        // packets without ECN counts fails validation.
        return if newly_acked_ect0 > 0 {
            Err(Failure::MissingCounts)
        } else {
            Ok(None)
        };
    };
    let new = Counts::from(counts);
    let old = state.validated;
    // RFC 9000 §13.4.2.1: counts are cumulative, so a later ACK frame never
    // reports fewer packets than the last one validated.
    if new.ect0 < old.ect0 || new.ect1 < old.ect1 || new.ce < old.ce {
        return Err(Failure::Decreased);
    }
    // RFC 9000 §13.4.2.1: the increase in ECT(0) and ECN-CE must cover the
    // newly acknowledged packets sent with ECT(0).
    if (new.ect0 - old.ect0) + (new.ce - old.ce) < newly_acked_ect0 {
        return Err(Failure::FellShort);
    }
    // RFC 9000 §13.4.2.1: a count above the packets sent with its codepoint,
    // such as any ECT(1) when we never sent ECT(1), fails validation.
    let sent = state.sent_ect0 + state.sent_ect1;
    if new.ect0 > state.sent_ect0
        || new.ect1 > state.sent_ect1
        || new.ect0 + new.ect1 + new.ce > sent
    {
        return Err(Failure::ExceedsSent);
    }
    Ok(Some(new))
}

const fn index(space: SpaceId) -> usize {
    match space {
        SpaceId::Initial => 0,
        SpaceId::Handshake => 1,
        SpaceId::Data => 2,
    }
}
