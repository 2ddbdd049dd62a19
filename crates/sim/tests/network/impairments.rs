//! Each impairment of a link, at its configured rate.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use tern_sim::{DropReason, LinkConfig, TraceEvent};

use crate::toys::{Pinger, Toy, seq_of};
use crate::{addr, ping, run_to_end};

const N: u32 = 10_000;

fn sink_of(sim: &tern_sim::Sim<Toy>) -> &crate::toys::Echo {
    sim.node(1).echo()
}

#[test]
fn loss_drops_about_the_configured_share() {
    let mut sim = ping(
        1,
        Pinger::new(addr(2), N, 100),
        LinkConfig::default().loss(0.3),
        false,
    );
    run_to_end(&mut sim);
    let stats = *sim.stats();
    assert_eq!(stats.sent, u64::from(N));
    // Mean 3000, standard deviation about 46.
    assert!((2800..3200).contains(&stats.lost), "{stats:?}");
    assert_eq!(stats.delivered + stats.lost, stats.sent);
    assert_eq!(stats.dropped(), stats.lost);
    let drops = sim.trace().iter().filter(|e| {
        matches!(
            e,
            TraceEvent::Dropped {
                reason: DropReason::Loss,
                ..
            }
        )
    });
    assert_eq!(drops.count(), usize::try_from(stats.lost).unwrap());
}

#[test]
fn duplication_happens_at_its_rate_and_delivers_both_copies() {
    let mut sim = ping(
        2,
        Pinger::new(addr(2), N, 100),
        LinkConfig::default().duplicate(0.1),
        false,
    );
    run_to_end(&mut sim);
    let stats = *sim.stats();
    // Mean 1000, standard deviation 30.
    assert!((850..1150).contains(&stats.duplicated), "{stats:?}");
    assert_eq!(stats.delivered, stats.sent + stats.duplicated);
    let mut copies: HashMap<u32, u32> = HashMap::new();
    for seq in sink_of(&sim).seqs() {
        *copies.entry(seq).or_default() += 1;
    }
    assert_eq!(copies.len(), usize::try_from(N).unwrap());
    let twice = copies.values().filter(|c| **c == 2).count();
    assert_eq!(twice, usize::try_from(stats.duplicated).unwrap());
}

#[test]
fn corruption_flips_one_to_three_bits_of_one_byte_at_its_rate() {
    let mut sim = ping(
        3,
        Pinger::new(addr(2), N, 64),
        LinkConfig::default().corrupt(0.05),
        false,
    );
    run_to_end(&mut sim);
    let stats = *sim.stats();
    // Mean 500, standard deviation about 22.
    assert!((400..600).contains(&stats.corrupted), "{stats:?}");
    let mut sent: HashMap<u64, Bytes> = HashMap::new();
    let mut corrupted = HashSet::new();
    let mut checked = 0;
    for event in sim.trace() {
        match event {
            TraceEvent::Sent { id, data, .. } => {
                sent.insert(*id, data.clone());
            }
            TraceEvent::Corrupted { id, .. } => {
                corrupted.insert(*id);
            }
            TraceEvent::Delivered { id, data, .. } => {
                let original = &sent[id];
                assert_eq!(original.len(), data.len());
                let flipped: Vec<u32> = original
                    .iter()
                    .zip(data.iter())
                    .map(|(a, b)| (a ^ b).count_ones())
                    .filter(|bits| *bits > 0)
                    .collect();
                if corrupted.contains(id) {
                    checked += 1;
                    assert_eq!(flipped.len(), 1, "one byte changed in {id}");
                    assert!((1..=3).contains(&flipped[0]), "{flipped:?}");
                } else {
                    assert!(flipped.is_empty(), "{id} changed without a Corrupted event");
                }
            }
            _ => {}
        }
    }
    assert_eq!(checked, corrupted.len());
}

#[test]
fn a_bandwidth_limit_serializes_one_datagram_after_another() {
    let link = LinkConfig::default().bandwidth(10_000_000);
    let mut sim = ping(4, Pinger::new(addr(2), 1000, 1250), link, false);
    run_to_end(&mut sim);
    // 1000 × 1250 bytes at 10 Mbit/s is one second, plus 10 ms of delay.
    assert_eq!(sim.stats().delivered, 1000);
    let last = sink_of(&sim).received.last().unwrap().0;
    let took = last.duration_since(sim.epoch());
    assert!(
        took >= Duration::from_millis(990) && took <= Duration::from_millis(1020),
        "{took:?}"
    );
    // Evenly spaced at one serialization time (1 ms) apart.
    let times: Vec<_> = sink_of(&sim).received.iter().map(|r| r.0).collect();
    assert!(
        times
            .windows(2)
            .all(|w| w[1] - w[0] == Duration::from_millis(1))
    );
}

#[test]
fn a_full_queue_tail_drops_what_does_not_fit() {
    let link = LinkConfig::default()
        .bandwidth(10_000_000)
        .queue_limit(12_500);
    let mut sim = ping(5, Pinger::new(addr(2), 100, 1250), link, false);
    run_to_end(&mut sim);
    let stats = *sim.stats();
    // Ten datagrams fill 12 500 bytes; the other 90 find the queue full.
    assert_eq!(stats.delivered, 10);
    assert_eq!(stats.queue_dropped, 90);
    assert_eq!(sink_of(&sim).seqs(), (0..10).collect::<Vec<_>>());
}

fn arrival_order(link: LinkConfig, seed: u64) -> Vec<u32> {
    let pinger = Pinger::new(addr(2), 1000, 100).every(Duration::from_millis(1));
    let mut sim = ping(seed, pinger, link, false);
    run_to_end(&mut sim);
    sink_of(&sim).seqs()
}

fn is_fifo(seqs: &[u32]) -> bool {
    seqs.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn reordering_lets_datagrams_overtake_each_other() {
    let link = LinkConfig::default().reorder(0.1, Duration::from_millis(20));
    let seqs = arrival_order(link, 6);
    assert_eq!(seqs.len(), 1000);
    let inversions = seqs.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 20, "{inversions} inversions");
}

#[test]
fn without_reordering_datagrams_arrive_in_order_even_with_jitter() {
    assert!(is_fifo(&arrival_order(LinkConfig::default(), 7)));
    let jittery = LinkConfig::default().jitter(Duration::from_millis(5));
    let seqs = arrival_order(jittery, 7);
    assert_eq!(seqs.len(), 1000);
    assert!(is_fifo(&seqs));
}

#[test]
fn jitter_spreads_the_delay() {
    let pinger = Pinger::new(addr(2), 200, 100).every(Duration::from_millis(20));
    let link = LinkConfig::default().jitter(Duration::from_millis(5));
    let mut sim = ping(8, pinger, link, false);
    run_to_end(&mut sim);
    let mut sent_at = HashMap::new();
    let mut delays = HashSet::new();
    for event in sim.trace() {
        match event {
            TraceEvent::Sent { id, at, .. } => {
                sent_at.insert(*id, *at);
            }
            TraceEvent::Delivered { id, at, .. } => {
                let delay = *at - sent_at[id];
                assert!(delay >= Duration::from_millis(5) && delay <= Duration::from_millis(15));
                delays.insert(delay);
            }
            _ => {}
        }
    }
    assert!(delays.len() > 100, "{} distinct delays", delays.len());
}

#[test]
fn a_blackout_drops_everything_in_its_window_and_nothing_outside() {
    let window = Duration::from_millis(200)..Duration::from_millis(400);
    let pinger = Pinger::new(addr(2), 1000, 100).every(Duration::from_millis(1));
    let mut sim = ping(
        9,
        pinger,
        LinkConfig::default().blackout(window.clone()),
        false,
    );
    run_to_end(&mut sim);
    let mut sent_at = HashMap::new();
    for event in sim.trace() {
        match event {
            TraceEvent::Sent { id, at, .. } => {
                sent_at.insert(*id, *at);
            }
            TraceEvent::Dropped { id, reason, .. } => {
                assert_eq!(*reason, DropReason::Blackout);
                assert!(window.contains(&sent_at[id]));
            }
            TraceEvent::Delivered { id, .. } => assert!(!window.contains(&sent_at[id])),
            _ => {}
        }
    }
    assert_eq!(sim.stats().blackout_dropped, 200);
    assert_eq!(sim.stats().delivered, 800);
    let seqs = sink_of(&sim).seqs();
    assert!(seqs.iter().all(|s| !(200..400).contains(s)));
}

#[test]
fn gso_batches_are_split_into_segments() {
    let mut pinger = Pinger::new(addr(2), 5, 1000);
    pinger.segment = Some(1200);
    let mut sim = ping(10, pinger, LinkConfig::default(), false);
    run_to_end(&mut sim);
    let sizes: Vec<usize> = sink_of(&sim).received.iter().map(|r| r.2.len()).collect();
    assert_eq!(sizes, [1200, 1200, 1200, 1200, 1000]);
    let seqs: Vec<u32> = sink_of(&sim)
        .received
        .iter()
        .map(|r| seq_of(&r.2))
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
}
