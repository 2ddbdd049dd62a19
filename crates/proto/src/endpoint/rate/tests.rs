use std::time::{Duration, Instant};

use super::TokenBucket;
use crate::endpoint::tests::epoch;

fn taken(bucket: &mut TokenBucket, now: Instant, tries: u32) -> u32 {
    (0..tries).map(|_| u32::from(bucket.take(now))).sum()
}

#[test]
fn a_full_bucket_allows_its_burst_then_nothing() {
    let now = epoch();
    let mut bucket = TokenBucket::new(10, 5);
    assert_eq!(taken(&mut bucket, now, 100), 5);
}

#[test]
fn tokens_come_back_at_the_rate_fractions_included() {
    let start = epoch();
    let mut bucket = TokenBucket::new(10, 5);
    assert_eq!(taken(&mut bucket, start, 5), 5);
    // 10 per second: one every 100 ms; asking every 30 ms loses no fraction.
    let mut got = 0;
    for step in 1..=100_u32 {
        got += taken(&mut bucket, start + Duration::from_millis(30) * step, 10);
    }
    assert_eq!(got, 30, "3 s at 10 per second");
}

#[test]
fn a_long_pause_refills_only_up_to_the_burst() {
    let start = epoch();
    let mut bucket = TokenBucket::new(1000, 3);
    assert_eq!(taken(&mut bucket, start, 3), 3);
    assert_eq!(taken(&mut bucket, start + Duration::from_secs(3600), 10), 3);
}

#[test]
fn a_zero_rate_allows_the_burst_once() {
    let start = epoch();
    let mut bucket = TokenBucket::new(0, 2);
    assert_eq!(taken(&mut bucket, start, 5), 2);
    assert_eq!(taken(&mut bucket, start + Duration::from_secs(60), 5), 0);
}
