use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{LinkState, backlog, bit_mask, serialization};
use crate::link::LinkConfig;
use crate::trace::DropReason;

#[test]
fn serialization_takes_eight_bits_per_byte_at_the_link_rate() {
    assert_eq!(serialization(1250, 10_000_000), Duration::from_millis(1));
    assert_eq!(serialization(0, 10_000_000), Duration::ZERO);
    // Rounded up to the nanosecond.
    assert_eq!(serialization(1, 3_000_000_000), Duration::from_nanos(3));
}

#[test]
fn backlog_counts_the_bytes_still_to_serialize() {
    assert_eq!(backlog(Duration::from_millis(1), 10_000_000), 1250);
    assert_eq!(backlog(Duration::ZERO, 10_000_000), 0);
}

#[test]
fn bit_masks_flip_one_to_three_bits() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut seen = [false; 4];
    for _ in 0..1000 {
        let ones = bit_mask(&mut rng).count_ones();
        assert!((1..=3).contains(&ones));
        seen[usize::try_from(ones).unwrap()] = true;
    }
    assert_eq!(seen, [false, true, true, true]);
}

#[test]
fn a_perfect_link_delivers_after_its_delay() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut link = LinkState::default();
    let cfg = LinkConfig::default();
    let carried = link
        .carry(&cfg, Duration::from_secs(1), 100, &mut rng)
        .unwrap();
    assert_eq!(carried.first.at, Duration::from_millis(1010));
    assert_eq!(carried.first.corruption, None);
    assert!(!carried.first.reordered);
    assert_eq!(carried.duplicate, None);
}

#[test]
fn a_full_queue_tail_drops_and_an_empty_one_accepts_again() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut link = LinkState::default();
    let cfg = LinkConfig::default()
        .bandwidth(10_000_000)
        .queue_limit(2500);
    let now = Duration::ZERO;
    assert!(link.carry(&cfg, now, 1250, &mut rng).is_ok());
    assert!(link.carry(&cfg, now, 1250, &mut rng).is_ok());
    assert_eq!(
        link.carry(&cfg, now, 1250, &mut rng),
        Err(DropReason::Queue)
    );
    // After one serialization time there is room for one more.
    let later = Duration::from_millis(1);
    let carried = link.carry(&cfg, later, 1250, &mut rng).unwrap();
    assert_eq!(carried.first.at, Duration::from_millis(13));
}

#[test]
fn bursts_lose_consecutive_datagrams() {
    let mut rng = StdRng::seed_from_u64(3);
    let mut link = LinkState::default();
    let cfg = LinkConfig::default().burst_loss(0.01, 10);
    let lost: Vec<bool> = (0..20_000)
        .map(|_| link.carry(&cfg, Duration::ZERO, 10, &mut rng).is_err())
        .collect();
    let losses = lost.iter().filter(|l| **l).count();
    let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count();
    // Bursts average 5.5 datagrams; a burst starts about once per 100.
    assert!(losses > 3 * bursts, "{losses} losses in {bursts} bursts");
    assert!((400..1600).contains(&losses), "{losses} losses");
}
