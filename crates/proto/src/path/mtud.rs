//! Datagram packetization-layer path MTU discovery (RFC 8899, as RFC 9000
//! §14.3 applies it to QUIC).
//!
//! [`MtuDiscovery`] runs a simplified form of the RFC 8899 §5.2 state
//! machine over one path:
//!
//! - **Search**: probes for a larger size, one probe in flight at a time.
//!   The first probe of a search tries the ceiling (the configured maximum,
//!   capped by the peer's max_udp_payload_size) since most paths carry it;
//!   once a size fails, a binary search runs between the largest confirmed
//!   size and the smallest failed one, until the two are less than
//!   [`SEARCH_GRANULARITY`] bytes apart.
//! - **Search complete**: the path MTU stays put until the raise timer
//!   expires, then a new search probes upwards from it.
//! - **Black hole** (RFC 8899 §4.3): regular packets above the base size are
//!   lost again and again while none of that size is acknowledged; the path
//!   MTU falls back to the base and a new search starts.
//!
//! The connection sends the probes: an ack-eliciting packet (PING and
//! PADDING) of exactly the size [`MtuDiscovery::poll_probe`] asks for, which
//! congestion control counts but whose loss is no congestion signal
//! (RFC 9000 §14.4).

use std::time::{Duration, Instant};

use tracing::debug;

#[cfg(test)]
mod tests;

/// A search stops once the largest confirmed size is this close to the
/// smallest size known to fail.
pub const SEARCH_GRANULARITY: u16 = 20;

/// Loss events of regular packets above the base size, with none of that
/// size acknowledged in between, that declare a black hole.
pub const BLACK_HOLE_THRESHOLD: u8 = 3;

/// The settings of path MTU discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtudConfig {
    /// The size every path carries: the QUIC minimum of 1200 bytes
    /// (RFC 9000 §14.1), RFC 8899's BASE_PLPMTU.
    pub base: u16,
    /// The largest size searched for; capped further by the peer's
    /// max_udp_payload_size. 1452 by default, which fits a 1500-byte
    /// Ethernet MTU under IPv6 and UDP headers.
    pub max: u16,
    /// Probes of one size lost before that size counts as failed
    /// (RFC 8899 MAX_PROBES).
    pub max_probes: u8,
    /// How long a completed search holds before probing upwards again
    /// (RFC 8899 PMTU_RAISE_TIMER).
    pub raise_timer: Duration,
    /// Whether to search at all; when off the path MTU stays at `base`.
    pub enabled: bool,
}

impl Default for MtudConfig {
    fn default() -> Self {
        Self {
            base: 1200,
            max: 1452,
            max_probes: 3,
            raise_timer: Duration::from_secs(600),
            enabled: true,
        }
    }
}

/// The phase of discovery (RFC 8899 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Discovery is off.
    Disabled,
    /// Probing: `ceiling` is the largest size not known to fail.
    Searching { ceiling: u16 },
    /// Done until `raise_at`, when a new search starts; `None` until the
    /// first `poll_probe` after completion sets it, or when the path MTU is
    /// already the maximum.
    Complete { raise_at: Option<Instant> },
}

/// A probe in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    pn: u64,
    size: u16,
}

/// Path MTU discovery for one path.
#[derive(Debug, Clone)]
pub struct MtuDiscovery {
    config: MtudConfig,
    /// `config.max` capped by the peer's max_udp_payload_size.
    max: u16,
    /// The largest confirmed size: the path MTU in use.
    current: u16,
    phase: Phase,
    in_flight: Option<Probe>,
    /// Probes lost at the size the search probes next.
    failures: u8,
    /// Loss events of regular packets above the base since one of that
    /// size was last acknowledged.
    suspect_losses: u8,
    /// The time of the last such loss event; losses reported at one
    /// instant make one event.
    last_suspect_loss: Option<Instant>,
}

impl MtuDiscovery {
    /// Discovery for a new path, starting at `config.base`. A `max` below
    /// `base` is raised to `base`.
    #[must_use]
    pub fn new(config: MtudConfig) -> Self {
        let max = config.max.max(config.base);
        let mut this = Self {
            config,
            max,
            current: config.base,
            phase: Phase::Disabled,
            in_flight: None,
            failures: 0,
            suspect_losses: 0,
            last_suspect_loss: None,
        };
        if config.enabled {
            this.start_search();
        }
        this
    }

    /// Caps the search at the peer's max_udp_payload_size transport
    /// parameter (RFC 9000 §18.2); never below the base size.
    pub fn set_peer_max_udp_payload_size(&mut self, size: u64) {
        // RFC 9000 §14.3: probes never exceed the peer's max_udp_payload_size.
        let cap = u16::try_from(size).unwrap_or(u16::MAX);
        self.max = self.max.min(cap).max(self.config.base);
        self.current = self.current.min(self.max);
        if let Phase::Searching { ceiling } = &mut self.phase {
            *ceiling = (*ceiling).min(self.max);
        }
        if self.in_flight.is_some_and(|p| p.size > self.max) {
            self.in_flight = None;
            self.failures = 0;
        }
        self.settle();
    }

    /// The path MTU: the largest UDP payload the connection may send.
    #[must_use]
    pub const fn current(&self) -> u16 {
        self.current
    }

    /// The size of the probe to send now, if one is due: `None` when no
    /// search runs or a probe is already in flight. Asking twice before
    /// [`MtuDiscovery::on_probe_sent`] returns the same size.
    ///
    /// The connection pads an ack-eliciting packet to exactly this size and
    /// reports it with [`MtuDiscovery::on_probe_sent`].
    pub fn poll_probe(&mut self, now: Instant) -> Option<u16> {
        if let Phase::Complete { raise_at } = &mut self.phase {
            if self.current >= self.max {
                return None;
            }
            match *raise_at {
                None => *raise_at = Some(now + self.config.raise_timer),
                // RFC 8899 §5.2: after PMTU_RAISE_TIMER in search complete,
                // probe for a larger size again.
                Some(at) if now >= at => {
                    debug!(current = self.current, "mtud raise timer expired");
                    self.start_search();
                }
                Some(_) => {}
            }
        }
        let Phase::Searching { ceiling } = self.phase else {
            return None;
        };
        if self.in_flight.is_some() {
            return None;
        }
        Some(self.probe_size(ceiling))
    }

    /// A probe of `size` bytes went out as packet `pn`.
    /// Ignored when no search runs or `size` is not above the path MTU and
    /// within the maximum.
    pub fn on_probe_sent(&mut self, pn: u64, size: u16) {
        if !matches!(self.phase, Phase::Searching { .. }) || size <= self.current || size > self.max
        {
            return;
        }
        debug!(pn, size, "mtud probe sent");
        self.in_flight = Some(Probe { pn, size });
    }

    /// Packet `pn` was acknowledged; when it is the probe in flight, its
    /// size becomes the path MTU.
    pub fn on_acked(&mut self, now: Instant, pn: u64) {
        let Some(probe) = self.in_flight.filter(|p| p.pn == pn) else {
            return;
        };
        self.in_flight = None;
        self.failures = 0;
        // RFC 8899 §5.2: an acknowledged probe confirms its size as the PLPMTU.
        self.current = self.current.max(probe.size);
        debug!(pn, size = probe.size, "mtud probe acked");
        self.settle_at(now);
    }

    /// Packet `pn` was declared lost; when it is the probe in flight, the
    /// loss counts against its size, which fails after `max_probes` losses.
    pub fn on_lost(&mut self, now: Instant, pn: u64) {
        let Some(probe) = self.in_flight.filter(|p| p.pn == pn) else {
            return;
        };
        self.in_flight = None;
        self.failures = self.failures.saturating_add(1);
        debug!(
            pn,
            size = probe.size,
            failures = self.failures,
            "mtud probe lost"
        );
        // RFC 8899 §5.1.2: a size fails once MAX_PROBES probes of it were lost.
        if self.failures >= self.config.max_probes {
            self.failures = 0;
            if let Phase::Searching { ceiling } = &mut self.phase {
                *ceiling = (*ceiling).min(probe.size.saturating_sub(1));
            }
            self.settle_at(now);
        }
    }

    /// A regular packet (not a probe) of `size` bytes was declared lost.
    ///
    /// Repeated loss events of packets above the base size, with none of
    /// them acknowledged in between, are a black hole: the path MTU falls
    /// back to the base and a new search starts.
    pub fn on_packet_lost(&mut self, now: Instant, size: u16) {
        // Packets at the base always fit; packets above the path MTU were
        // sent before a fallback and say nothing of the current size.
        if size <= self.config.base || size > self.current {
            return;
        }
        if self.last_suspect_loss == Some(now) {
            return;
        }
        self.last_suspect_loss = Some(now);
        self.suspect_losses = self.suspect_losses.saturating_add(1);
        // RFC 8899 §4.3: repeated loss of packets above the base while smaller
        // ones get through is a black hole; fall back to BASE_PLPMTU.
        if self.suspect_losses >= BLACK_HOLE_THRESHOLD {
            debug!(current = self.current, "mtud black hole, back to base");
            self.current = self.config.base;
            self.suspect_losses = 0;
            self.last_suspect_loss = None;
            if !matches!(self.phase, Phase::Disabled) {
                self.start_search();
            }
        }
    }

    /// A regular packet of `size` bytes was acknowledged: packets of that
    /// size get through, which clears black hole suspicion.
    pub fn on_packet_acked(&mut self, size: u16) {
        if size > self.config.base {
            self.suspect_losses = 0;
            self.last_suspect_loss = None;
        }
    }

    /// When [`MtuDiscovery::poll_probe`] has something new to say without
    /// other input: the raise timer of a completed search. `None` while a
    /// search runs (a probe is due whenever no probe is in flight) or when
    /// nothing is left to do.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Complete { raise_at } if self.current < self.max => raise_at,
            Phase::Disabled | Phase::Searching { .. } | Phase::Complete { .. } => None,
        }
    }

    /// Starts a search from the current path MTU up to the maximum.
    fn start_search(&mut self) {
        self.phase = Phase::Searching { ceiling: self.max };
        self.in_flight = None;
        self.failures = 0;
        self.settle();
    }

    /// The next size to probe while `ceiling` is the largest not known to
    /// fail.
    fn probe_size(&self, ceiling: u16) -> u16 {
        if ceiling >= self.max {
            // Nothing failed yet in this search: try the maximum first.
            return self.max;
        }
        // RFC 8899 §5.3.2: search between the confirmed and the failed size.
        let gap = ceiling.saturating_sub(self.current);
        self.current + gap.div_ceil(2)
    }

    /// Completes the search when no size is left worth probing, setting the
    /// raise timer from `now`.
    fn settle_at(&mut self, now: Instant) {
        self.settle();
        if let Phase::Complete { raise_at } = &mut self.phase {
            *raise_at = Some(now + self.config.raise_timer);
        }
    }

    /// Completes the search when no size is left worth probing.
    fn settle(&mut self) {
        let Phase::Searching { ceiling } = self.phase else {
            return;
        };
        let untried_max = ceiling >= self.max;
        let done = ceiling <= self.current
            || (!untried_max && ceiling - self.current < SEARCH_GRANULARITY);
        if done {
            debug!(mtu = self.current, "mtud search complete");
            self.phase = Phase::Complete { raise_at: None };
            self.in_flight = None;
            self.failures = 0;
        }
    }
}
