//! The loop: the virtual clock, ending on its own, and misbehaving nodes.

use std::time::Duration;

use tern_sim::{DropReason, LinkConfig, RunOutcome, Sim, SimError};

use crate::toys::{Echo, Pinger, Toy};
use crate::{addr, ping, run_to_end};

#[test]
fn the_clock_jumps_to_each_arrival() {
    let mut sim = ping(1, Pinger::new(addr(2), 3, 100), LinkConfig::default(), true);
    assert_eq!(sim.elapsed(), Duration::ZERO);
    // Sent at 0, delivered at 10 ms, echoed back by 20 ms.
    assert_eq!(sim.step(), Ok(true));
    assert_eq!(sim.elapsed(), Duration::from_millis(10));
    assert_eq!(sim.node(1).echo().received.len(), 3);
    assert_eq!(sim.step(), Ok(true));
    assert_eq!(sim.elapsed(), Duration::from_millis(20));
    assert_eq!(sim.node(0).pinger().received, [0, 1, 2]);
    assert_eq!(sim.step(), Ok(false));
    assert_eq!(sim.elapsed(), Duration::from_millis(20));
    assert_eq!(sim.now(), sim.epoch() + Duration::from_millis(20));
}

#[test]
fn nodes_with_nothing_to_do_end_the_run() {
    let pinger = Pinger::new(addr(2), 5, 100).every(Duration::from_millis(7));
    let mut sim = ping(2, pinger, LinkConfig::default(), true);
    run_to_end(&mut sim);
    // Last ping at 28 ms, back at 48 ms; then nothing is left.
    assert_eq!(sim.elapsed(), Duration::from_millis(48));
    assert_eq!(sim.in_flight(), 0);
    assert_eq!(sim.node(0).pinger().received.len(), 5);
}

#[test]
fn run_until_stops_when_the_predicate_holds_or_at_the_limit() {
    let pinger = Pinger::new(addr(2), 100, 100).every(Duration::from_millis(10));
    let mut sim = ping(3, pinger, LinkConfig::default(), true);
    let outcome = sim.run_until(
        |sim| sim.node(0).pinger().received.len() == 3,
        Duration::from_secs(5),
    );
    assert_eq!(outcome, RunOutcome::Satisfied);
    assert_eq!(sim.elapsed(), Duration::from_millis(40));
    let outcome = sim.run_until(|_| false, Duration::from_millis(105));
    assert_eq!(outcome, RunOutcome::TimedOut);
    assert_eq!(sim.elapsed(), Duration::from_millis(145));
}

#[test]
fn a_node_stuck_on_its_timer_is_reported_not_spun_on() {
    let mut sim = Sim::new(4);
    let at = tern_sim::epoch() + Duration::from_millis(5);
    sim.add_node(addr(1), Toy::Echo(Echo::replying()));
    sim.add_node(addr(2), Toy::StuckTimer(at));
    let outcome = sim.run(Duration::from_secs(1));
    let stuck = SimError::StuckTimer {
        node: 1,
        at: Duration::from_millis(5),
    };
    assert_eq!(outcome, RunOutcome::Stuck(stuck));
    assert_eq!(sim.step(), Err(stuck));
}

#[test]
fn a_node_that_never_stops_sending_is_reported() {
    let mut sim = Sim::new(5);
    sim.add_node(addr(1), Toy::Flood(addr(2)));
    sim.add_node(addr(2), Toy::Echo(Echo::sink()));
    let outcome = sim.run(Duration::from_secs(1));
    assert!(
        matches!(
            outcome,
            RunOutcome::Stuck(SimError::EndlessTransmit { node: 0, .. })
        ),
        "{outcome}"
    );
}

#[test]
fn echoes_over_zero_delay_links_are_a_livelock() {
    let mut sim = Sim::new(6);
    sim.set_default_link(LinkConfig::default().delay(Duration::ZERO));
    sim.add_node(addr(1), Toy::Echo(Echo::replying()));
    sim.add_node(addr(2), Toy::Echo(Echo::replying()));
    sim.inject(addr(1), addr(2), None, vec![0u8; 4]);
    let outcome = sim.run(Duration::from_secs(1));
    assert_eq!(
        outcome,
        RunOutcome::Stuck(SimError::Livelock { at: Duration::ZERO })
    );
}

#[test]
fn datagrams_to_an_address_nobody_holds_are_dropped() {
    let pinger = Pinger::new(addr(2), 10, 100).every(Duration::from_millis(1));
    let mut sim = ping(7, pinger, LinkConfig::default(), true);
    let outcome = sim.run_until(
        |sim| sim.node(1).echo().received.len() == 5,
        Duration::from_secs(1),
    );
    assert_eq!(outcome, RunOutcome::Satisfied);
    // The echo moves: what is still on its way to the old address is lost.
    sim.rebind(1, addr(3));
    run_to_end(&mut sim);
    assert_eq!(sim.node(1).echo().received.len(), 5);
    assert_eq!(sim.stats().unroutable, 5);
    assert!(sim.trace().iter().any(|e| matches!(
        e,
        tern_sim::TraceEvent::Dropped {
            reason: DropReason::NoRoute,
            ..
        }
    )));
    // Echoes sent before the move came back from the old address.
    assert_eq!(sim.node(0).pinger().received.len(), 5);
}

#[test]
fn a_node_with_several_addresses_sends_from_the_one_its_transmit_names() {
    let mut sim = Sim::new(8);
    sim.add_node(addr(1), Toy::Echo(Echo::replying()));
    sim.add_node(addr(2), Toy::Echo(Echo::sink()));
    sim.add_address(0, addr(5));
    assert_eq!(sim.node_index(addr(5)), Some(0));
    // A datagram to the extra address is echoed from the main one, since
    // the toy echo does not name a source.
    sim.inject(addr(2), addr(5), None, vec![1, 2, 3, 4]);
    run_to_end(&mut sim);
    let received = &sim.node(1).echo().received;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].1, addr(1));
}
