//! The simulated network with toy nodes: determinism, every impairment at
//! its configured rate, and a loop that ends.

mod impairments;
mod run_loop;
mod toys;

use std::net::SocketAddr;
use std::time::Duration;

use tern_sim::{LinkConfig, RunOutcome, Seed, Sim, TraceEvent};

use crate::toys::{Echo, Pinger, Toy};

pub(crate) fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 4433))
}

/// A pinger at 10.0.0.1 (node 0) sending through `link` to an echo or sink
/// at 10.0.0.2 (node 1); the way back is a default link. Records a trace.
pub(crate) fn ping(seed: u64, pinger: Pinger, link: LinkConfig, reply: bool) -> Sim<Toy> {
    let mut sim = Sim::new(seed);
    sim.record_trace(true);
    sim.set_link(addr(1), addr(2), link);
    sim.add_node(addr(1), Toy::Pinger(pinger));
    let echo = if reply {
        Echo::replying()
    } else {
        Echo::sink()
    };
    sim.add_node(addr(2), Toy::Echo(echo));
    sim
}

/// Runs until nothing is left to happen, which must come within an hour.
pub(crate) fn run_to_end(sim: &mut Sim<Toy>) {
    assert_eq!(sim.run(Duration::from_secs(3600)), RunOutcome::Idle);
}

fn everything_at_once() -> LinkConfig {
    LinkConfig::default()
        .jitter(Duration::from_millis(3))
        .loss(0.05)
        .burst_loss(0.01, 4)
        .reorder(0.05, Duration::from_millis(15))
        .duplicate(0.05)
        .corrupt(0.05)
        .bandwidth(20_000_000)
        .queue_limit(30_000)
}

fn traced_run(seed: u64) -> (Vec<TraceEvent>, Duration) {
    let pinger = Pinger::new(addr(2), 500, 1200).every(Duration::from_micros(300));
    let mut sim = ping(seed, pinger, everything_at_once(), true);
    sim.set_link(addr(2), addr(1), everything_at_once());
    run_to_end(&mut sim);
    (sim.take_trace(), sim.elapsed())
}

#[test]
fn the_same_seed_gives_the_same_trace_byte_for_byte() {
    Seed::range(0..4).run(|seed| {
        let (first, first_end) = traced_run(seed);
        let (second, second_end) = traced_run(seed);
        assert!(first.len() > 1000);
        assert_eq!(first, second);
        assert_eq!(first_end, second_end);
    });
}

#[test]
fn different_seeds_give_different_traces() {
    let (a, _) = traced_run(1);
    let (b, _) = traced_run(2);
    assert_ne!(a, b);
}

#[test]
fn a_hook_sees_every_datagram_and_agrees_with_the_counters() {
    use std::cell::RefCell;
    use std::rc::Rc;

    // Bytes each address sent and received, as an anti-amplification check
    // would count them.
    let counts = Rc::new(RefCell::new((0u64, 0u64, 0u64)));
    let mut sim = ping(9, Pinger::new(addr(2), 50, 300), everything_at_once(), true);
    let seen = Rc::clone(&counts);
    let echo = addr(2);
    sim.on_event(move |event: &TraceEvent| {
        let mut seen = seen.borrow_mut();
        match event {
            TraceEvent::Sent { from, data, .. } => {
                seen.0 += 1;
                if *from == echo {
                    seen.2 += u64::try_from(data.len()).unwrap();
                }
            }
            TraceEvent::Delivered { to, data, .. } if *to == echo => {
                seen.1 += u64::try_from(data.len()).unwrap();
            }
            _ => {}
        }
        // The echo never sends more than it received.
        assert!(seen.2 <= seen.1);
    });
    run_to_end(&mut sim);
    let (sent, echo_received, echo_sent) = *counts.borrow();
    assert_eq!(sent, sim.stats().sent);
    assert_eq!(echo_received, echo_sent);
    assert!(echo_sent > 0);
}

#[test]
fn a_failing_seed_is_named_with_how_to_replay_it() {
    if Seed::from_env().is_some() {
        return; // the variable would narrow the run below
    }
    let failure = std::panic::catch_unwind(|| {
        Seed::range(0..10).run(|seed| assert_ne!(seed, 3, "boom"));
    })
    .unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("tern-sim: failing seed 3 (replay with TERN_SIM_SEED=3)"),
        "{message}"
    );
    assert!(message.contains("boom"), "{message}");
}
