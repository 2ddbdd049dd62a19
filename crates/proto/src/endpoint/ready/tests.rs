use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn h(n: u64) -> ConnectionHandle {
    ConnectionHandle(n)
}

#[test]
fn handles_come_out_in_the_order_they_were_queued_once_each() {
    let mut queue = ReadyQueue::default();
    for n in [3, 1, 2, 1, 3] {
        queue.push(h(n));
    }
    assert_eq!(queue.len(), 3, "a handle is queued once");
    assert_eq!(queue.front(), Some(h(3)));
    assert_eq!(queue.pop(), Some(h(3)));
    assert_eq!(queue.pop(), Some(h(1)));
    queue.push(h(3));
    assert_eq!(queue.pop(), Some(h(2)));
    assert_eq!(queue.pop(), Some(h(3)), "queued again at the back");
    assert_eq!(queue.pop(), None);
}

#[test]
fn a_removed_handle_queued_again_goes_to_the_back() {
    let mut queue = ReadyQueue::default();
    queue.push(h(1));
    queue.push(h(2));
    queue.remove(h(1));
    assert!(!queue.contains(h(1)));
    queue.push(h(1));
    assert_eq!(queue.pop(), Some(h(2)));
    assert_eq!(queue.pop(), Some(h(1)));
    assert_eq!(queue.pop(), None, "the stale entry of 1 is not served");
}

#[test]
fn stale_entries_stay_bounded_by_the_members() {
    let mut queue = ReadyQueue::default();
    queue.push(h(0));
    for n in 1..10_000 {
        queue.push(h(n));
        queue.remove(h(n));
    }
    assert_eq!(queue.len(), 1);
    assert!(queue.entries() <= 2 + SLACK, "{} entries", queue.entries());
    assert_eq!(queue.pop(), Some(h(0)));
}

#[derive(Debug, Clone)]
enum Op {
    Push(u64),
    Pop,
    Remove(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..20_u64).prop_map(Op::Push),
        Just(Op::Pop),
        (0..20_u64).prop_map(Op::Remove),
    ]
}

proptest! {
    #[test]
    fn the_queue_behaves_like_a_deque_without_duplicates(ops in prop::collection::vec(op(), 0..400)) {
        let mut queue = ReadyQueue::default();
        let mut model: VecDeque<u64> = VecDeque::new();
        for op in ops {
            match op {
                Op::Push(n) => {
                    queue.push(h(n));
                    if !model.contains(&n) {
                        model.push_back(n);
                    }
                }
                Op::Pop => prop_assert_eq!(queue.pop(), model.pop_front().map(h)),
                Op::Remove(n) => {
                    queue.remove(h(n));
                    model.retain(|m| *m != n);
                }
            }
            prop_assert_eq!(queue.len(), model.len());
            prop_assert_eq!(queue.front(), model.front().copied().map(h));
            prop_assert!(queue.entries() <= 2 * queue.len() + SLACK + 1);
        }
    }
}
