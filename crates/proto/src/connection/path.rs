//! The path: where our packets go and how fast, as [`Path`] holds it, and
//! the connection's side of it: the local address the peer reaches us at,
//! congestion control (RFC 9002 §7), pacing (§7.7) and path MTU discovery
//! (RFC 9000 §14.3), fed from what recovery reports.
//!
//! The RTT estimate stays in [`Recovery`](crate::recovery::Recovery),
//! whose loss detection and PTO read it on every acknowledgement.

use std::{
    net::{IpAddr, SocketAddr},
    time::Instant,
};

use bytes::BytesMut;

use super::{Connection, MIN_INITIAL_SIZE, SentFrames};
use crate::{
    EcnCodepoint, SpaceId,
    config::TransportConfig,
    congestion::{Controller, LostPacket, in_persistent_congestion, persistent_congestion_pto},
    pacing::Pacer,
    path::{
        ecn::EcnState,
        mtud::{MtuDiscovery, MtudConfig},
    },
    recovery::SentPacket,
};

/// One network path: the peer's address, the local IP our packets leave
/// from, and the state that belongs to the path rather than to the
/// connection (RFC 9000 §9.4): the anti-amplification budget, congestion
/// control, pacing, path MTU and ECN.
pub(super) struct Path {
    /// Which path this is, for the packets sent on it: only those feed its
    /// congestion controller (RFC 9000 §9.4).
    pub(super) id: u32,
    /// The peer's address on this path.
    pub(super) remote: SocketAddr,
    /// The IP the peer's datagrams are addressed to, once known (see
    /// [`Connection::local_ip`]).
    pub(super) local_ip: Option<IpAddr>,
    /// RFC 9000 §8.1: until the peer's address is validated a server sends
    /// at most three times what it received.
    pub(super) validated: bool,
    /// Bytes received on the path, for the anti-amplification budget.
    pub(super) amplification_received: u64,
    /// Bytes sent on the path, for the anti-amplification budget.
    pub(super) amplification_sent: u64,
    /// ECN marking and validation (RFC 9000 §13.4).
    pub(super) ecn: EcnState,
    /// Congestion control (RFC 9002 §7).
    pub(super) congestion: Box<dyn Controller>,
    /// Pacing (RFC 9002 §7.7).
    pub(super) pacer: Pacer,
    /// When pacing next lets an ack-eliciting packet out, if it held one.
    pub(super) pacing_deadline: Option<Instant>,
    /// Path MTU discovery (RFC 9000 §14.3).
    pub(super) mtud: MtuDiscovery,
    /// Whether the last send found less to send than the window allowed
    /// (RFC 9002 §7.8: then the window must not grow).
    pub(super) app_limited: bool,
    /// The MTU the controller was last told of.
    pub(super) last_mtu: usize,
    /// The path validation in progress on this path (RFC 9000 §8.2).
    pub(super) validation: Option<Box<super::migration::Validation>>,
}

impl Path {
    /// A fresh path to `remote`: the initial congestion window, the base
    /// MTU, ECN not yet validated, nothing received or sent.
    pub(super) fn new(
        now: Instant,
        config: &TransportConfig,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        validated: bool,
    ) -> Self {
        let base_mtu = u16::try_from(MIN_INITIAL_SIZE).unwrap_or(u16::MAX);
        let mtud_config = MtudConfig {
            base: base_mtu,
            max: config.max_udp_payload_size.max(base_mtu),
            enabled: config.mtu_discovery,
            ..MtudConfig::default()
        };
        Self {
            id: 0,
            remote,
            local_ip,
            validated,
            amplification_received: 0,
            amplification_sent: 0,
            ecn: EcnState::new(config.ecn),
            congestion: config.congestion.build(now, base_mtu),
            pacer: Pacer::new(now, base_mtu),
            pacing_deadline: None,
            mtud: MtuDiscovery::new(mtud_config),
            app_limited: true,
            last_mtu: MIN_INITIAL_SIZE,
            validation: None,
        }
    }

    /// Whether a datagram from `remote` to our `local_ip` came on this path:
    /// the same peer address, and the same local IP when both are known.
    pub(super) fn carries(&self, remote: SocketAddr, local_ip: Option<IpAddr>) -> bool {
        self.remote == remote && same_local_ip(self.local_ip, local_ip)
    }

    /// Takes `other`'s congestion controller, pacer, path MTU and the
    /// identity its packets were sent under, leaving it this path's: what
    /// a move that changed only the peer's port keeps (RFC 9000 §9.4).
    pub(super) fn take_state_of(&mut self, other: &mut Self) {
        std::mem::swap(&mut self.id, &mut other.id);
        std::mem::swap(&mut self.congestion, &mut other.congestion);
        std::mem::swap(&mut self.pacer, &mut other.pacer);
        std::mem::swap(&mut self.pacing_deadline, &mut other.pacing_deadline);
        std::mem::swap(&mut self.mtud, &mut other.mtud);
        std::mem::swap(&mut self.app_limited, &mut other.app_limited);
        std::mem::swap(&mut self.last_mtu, &mut other.last_mtu);
    }
}

/// Whether two local IPs name the same address, an unknown one matching
/// any.
pub(super) fn same_local_ip(a: Option<IpAddr>, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

impl std::fmt::Debug for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Path")
            .field("remote", &self.remote)
            .field("local_ip", &self.local_ip)
            .field("validated", &self.validated)
            .field("window", &self.congestion.window())
            .field("mtu", &self.mtud.current())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The local IP the peer sends to, which every datagram of this
    /// connection goes out from: the endpoint's bound address when it is
    /// a specific one, else the destination IP of the first datagram of
    /// the peer's that we processed (the client's first Initial, at a
    /// server), else `None` (the socket picks).
    ///
    /// On a socket bound to a wildcard address a host with several
    /// addresses must answer from the one the peer reached, or the
    /// peer's NAT or the peer itself drops the answers.
    #[must_use]
    pub fn local_ip(&self) -> Option<IpAddr> {
        self.local
            .map(|addr| addr.ip())
            .filter(|ip| !ip.is_unspecified())
            .or(self.path.local_ip)
    }

    /// Processes a datagram the endpoint routed here, which was sent to
    /// our `local_ip`: the first one that carried a packet we could
    /// process says where the peer reaches us, if the connection did not
    /// know yet.
    pub(crate) fn handle_datagram_to(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        data: BytesMut,
    ) {
        let processed = self.stats.packets_received;
        self.handle_datagram_at(now, remote, local_ip, ecn, data);
        if self.path.local_ip.is_none() && self.stats.packets_received > processed {
            self.path.local_ip = local_ip;
        }
    }

    /// Whether the congestion window has room for a full datagram.
    pub(super) fn window_has_room(&self, size: usize) -> bool {
        let in_flight = self.recovery.bytes_in_flight();
        in_flight.saturating_add(size as u64) <= self.path.congestion.window()
    }

    /// RFC 9002 §7.7: when the pacer lets the next ack-eliciting datagram
    /// go; `None` for now.
    pub(super) fn pacing_delay(&mut self, now: Instant, size: usize) -> Option<Instant> {
        let mtu = self.path.mtud.current();
        let rtt = self.recovery.rtt().smoothed();
        let window = self.path.congestion.window();
        self.path
            .pacer
            .delay(now, size as u64, rtt, window, mtu)
            .filter(|&at| at > now)
    }

    /// A packet left: the controller and pacer count it if in flight.
    pub(super) fn on_path_packet_sent(&mut self, now: Instant, packet: &SentPacket<SentFrames>) {
        if packet.data.path != self.path.id {
            // A path validation packet sent on another path than the active one.
            return;
        }
        if packet.in_flight {
            let size = u64::from(packet.size);
            self.path
                .congestion
                .on_sent(now, size, self.recovery.bytes_in_flight());
            self.path.pacer.on_sent(now, size);
        }
        if packet.data.mtu_probe {
            self.path.mtud.on_probe_sent(packet.data.pn, packet.size);
        }
    }

    /// Packets were acknowledged (largest first).
    pub(super) fn on_path_packets_acked(&mut self, now: Instant, acked: &[SentPacket<SentFrames>]) {
        let rtt = *self.recovery.rtt();
        for packet in acked {
            // RFC 9000 §9.4: what was sent on a path left behind says
            // nothing of this one.
            if packet.data.path != self.path.id {
                continue;
            }
            if packet.data.mtu_probe {
                self.path.mtud.on_acked(now, packet.data.pn);
            } else {
                self.path.mtud.on_packet_acked(packet.size);
            }
            if packet.in_flight {
                let size = u64::from(packet.size);
                self.path.congestion.on_ack(
                    now,
                    packet.time_sent,
                    size,
                    self.path.app_limited,
                    &rtt,
                );
            }
        }
        self.update_mtu();
    }

    /// Packets of one loss event were declared lost.
    pub(super) fn on_path_packets_lost(
        &mut self,
        now: Instant,
        lost: &[(SpaceId, SentPacket<SentFrames>)],
    ) {
        let mut lost_bytes = 0;
        let mut latest = None;
        let mut per_space: [Vec<LostPacket>; 3] = Default::default();
        for (space, packet) in lost {
            if packet.data.path != self.path.id {
                continue;
            }
            if packet.data.mtu_probe {
                // RFC 9000 §14.4: a lost probe is no congestion signal.
                self.path.mtud.on_lost(now, packet.data.pn);
                continue;
            }
            self.path.mtud.on_packet_lost(now, packet.size);
            if !packet.in_flight {
                continue;
            }
            lost_bytes += u64::from(packet.size);
            latest = latest.max(Some(packet.time_sent));
            per_space[super::spaces::index(*space)].push(LostPacket {
                pn: packet.data.pn,
                time_sent: packet.time_sent,
                ack_eliciting: packet.ack_eliciting,
            });
        }
        self.update_mtu();
        let Some(latest) = latest else { return };
        // RFC 9002 §7.6.2: persistent congestion from lost ack-eliciting
        // packets spanning three PTOs with nothing acknowledged between.
        let pto = persistent_congestion_pto(
            self.recovery.rtt(),
            crate::recovery::RecoveryConfig::default().granularity,
            self.peer_max_ack_delay(),
        );
        let first_sample = self.recovery.first_rtt_sample();
        let persistent = per_space
            .iter()
            .any(|lost| in_persistent_congestion(lost, pto, first_sample));
        self.path
            .congestion
            .on_congestion_event(now, latest, persistent, lost_bytes);
        self.stats.congestion_events += 1;
    }

    /// RFC 9002 §7.1: an increase in ECN-CE is a congestion event for the
    /// packets sent up to the newly acknowledged one.
    pub(super) fn on_path_ce(&mut self, now: Instant, sent: Instant) {
        self.path
            .congestion
            .on_congestion_event(now, sent, false, 0);
        self.stats.congestion_events += 1;
    }

    fn update_mtu(&mut self) {
        let mtu = self.path.mtud.current();
        if usize::from(mtu) != self.path.last_mtu {
            self.path.last_mtu = usize::from(mtu);
            self.path.congestion.on_mtu_update(mtu);
        }
    }
}
