//! Loopback tests of the I/O layer: the same suite on every runtime.
//!
//! Each test in `suite` takes an `Arc<dyn Runtime>`; `on_every_runtime!`
//! runs it on tokio (a current-thread runtime built by hand) and on smol
//! (`smol::block_on`), for whichever runtime features are on. Every wait
//! is bounded by a timer, so a lost datagram fails the test instead of
//! hanging it.
#![cfg(any(feature = "runtime-tokio", feature = "runtime-smol"))]

use std::future::{Future, poll_fn};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Duration;

use tern_endpoint::tern_proto::{EcnCodepoint, Transmit};
use tern_endpoint::{AsyncUdpSocket, BATCH_SIZE, RecvMeta, Runtime, SocketConfig, bind_udp};

/// How long any one wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// One datagram as it arrived, GRO batches split by their stride.
#[derive(Debug)]
struct Datagram {
    from: SocketAddr,
    bytes: Vec<u8>,
    ecn: Option<EcnCodepoint>,
}

fn socket_on(runtime: &dyn Runtime, ip: impl Into<IpAddr>) -> Arc<dyn AsyncUdpSocket> {
    let std_socket =
        bind_udp(SocketAddr::new(ip.into(), 0), &SocketConfig::default()).expect("bind_udp");
    runtime
        .wrap_udp_socket(std_socket)
        .expect("wrap_udp_socket")
}

fn transmit_to(destination: SocketAddr, size: usize) -> Transmit {
    Transmit {
        destination,
        ecn: None,
        size,
        segment_size: None,
        src_ip: None,
    }
}

/// Runs `future`, failing the test if it takes longer than [`PATIENCE`].
async fn within<T>(runtime: &dyn Runtime, what: &str, future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let mut timer = runtime.new_timer(runtime.now() + PATIENCE);
    poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(value);
        }
        assert!(
            timer.as_mut().poll(cx).is_pending(),
            "timed out after {PATIENCE:?}: {what}"
        );
        Poll::Pending
    })
    .await
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct CountWakes(std::sync::atomic::AtomicU64);

impl futures::task::ArcWake for CountWakes {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self
            .0
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `try_send`, waiting for `poll_writable` while it would block.
async fn send(socket: &dyn AsyncUdpSocket, transmit: &Transmit, contents: &[u8]) -> io::Result<()> {
    poll_fn(|cx| {
        loop {
            match socket.try_send(transmit, contents) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    ready!(socket.poll_writable(cx))?;
                }
                result => return Poll::Ready(result),
            }
        }
    })
    .await
}

/// Receives until `count` datagrams have arrived.
async fn recv(runtime: &dyn Runtime, socket: &dyn AsyncUdpSocket, count: usize) -> Vec<Datagram> {
    let buffer_len = 1500 * socket.gro_segments().max(1);
    let mut buffers = vec![vec![0u8; buffer_len]; BATCH_SIZE.min(8)];
    let mut metas = vec![RecvMeta::default(); buffers.len()];
    let mut datagrams = Vec::new();
    while datagrams.len() < count {
        let mut slices: Vec<IoSliceMut<'_>> =
            buffers.iter_mut().map(|buf| IoSliceMut::new(buf)).collect();
        let filled = within(
            runtime,
            "receiving a datagram",
            poll_fn(|cx| socket.poll_recv(cx, &mut slices, &mut metas)),
        )
        .await
        .expect("poll_recv");
        assert!(filled >= 1, "a ready receive fills at least one buffer");
        for (meta, buffer) in metas.iter().zip(&buffers).take(filled) {
            assert!(meta.stride >= 1 && meta.stride <= meta.len.max(1));
            for chunk in buffer[..meta.len].chunks(meta.stride) {
                datagrams.push(Datagram {
                    from: meta.addr,
                    bytes: chunk.to_vec(),
                    ecn: meta.ecn,
                });
            }
        }
    }
    datagrams
}

/// The tests, each an async function of the runtime under test.
#[expect(
    clippy::unwrap_used,
    reason = "these are the tests: `on_every_runtime!` wraps each in a #[test]"
)]
mod suite {
    use super::*;

    pub(crate) async fn datagrams_cross_between_two_sockets(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());

        send(&*a, &transmit_to(b_addr, 5), b"hello").await.unwrap();
        let got = recv(&*runtime, &*b, 1).await;
        assert_eq!(got[0].from, a_addr);
        assert_eq!(got[0].bytes, b"hello");

        // Only `size` bytes of the contents go out.
        send(&*b, &transmit_to(a_addr, 5), b"world, and more")
            .await
            .unwrap();
        let got = recv(&*runtime, &*a, 1).await;
        assert_eq!(got[0].from, b_addr);
        assert_eq!(got[0].bytes, b"world");
    }

    pub(crate) async fn a_burst_of_datagrams_arrives_whole_and_in_order(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b_addr = b.local_addr().unwrap();
        let sent: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        for datagram in &sent {
            send(&*a, &transmit_to(b_addr, datagram.len()), datagram)
                .await
                .unwrap();
        }
        let got = recv(&*runtime, &*b, sent.len()).await;
        let got: Vec<Vec<u8>> = got.into_iter().map(|d| d.bytes).collect();
        assert_eq!(got, sent);
    }

    pub(crate) async fn a_gso_transmit_arrives_as_separate_datagrams(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        if a.max_gso_segments() < 3 {
            println!(
                "skipped: GSO carries {} segment(s) per send here",
                a.max_gso_segments()
            );
            return;
        }
        let mut contents = vec![1u8; 100];
        contents.extend([2u8; 100]);
        contents.extend([3u8; 50]);
        let transmit = Transmit {
            segment_size: Some(100),
            ..transmit_to(b.local_addr().unwrap(), contents.len())
        };
        send(&*a, &transmit, &contents).await.unwrap();
        let got = recv(&*runtime, &*b, 3).await;
        let sizes: Vec<usize> = got.iter().map(|d| d.bytes.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        for (datagram, mark) in got.iter().zip(1u8..) {
            assert!(datagram.bytes.iter().all(|&byte| byte == mark));
        }
        println!(
            "GSO: up to {} segments per send, GRO: up to {} per receive",
            a.max_gso_segments(),
            b.gro_segments()
        );
    }

    pub(crate) async fn an_ect0_mark_is_seen_on_receive(runtime: Arc<dyn Runtime>) {
        for ip in [
            IpAddr::from(Ipv4Addr::LOCALHOST),
            IpAddr::from(Ipv6Addr::LOCALHOST),
        ] {
            let a = socket_on(&*runtime, ip);
            let b = socket_on(&*runtime, ip);
            let transmit = Transmit {
                ecn: Some(EcnCodepoint::Ect0),
                ..transmit_to(b.local_addr().unwrap(), 4)
            };
            send(&*a, &transmit, b"ecn!").await.unwrap();
            let got = recv(&*runtime, &*b, 1).await;
            match got[0].ecn {
                Some(ecn) => assert_eq!(ecn, EcnCodepoint::Ect0, "on {ip}"),
                None => println!("note: this platform reports no ECN on {ip}"),
            }
        }
    }

    pub(crate) async fn ipv6_loopback_sockets_exchange_datagrams(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv6Addr::LOCALHOST);
        let b = socket_on(&*runtime, Ipv6Addr::LOCALHOST);
        let a_addr = a.local_addr().unwrap();
        assert_eq!(a_addr.ip(), Ipv6Addr::LOCALHOST);
        send(&*a, &transmit_to(b.local_addr().unwrap(), 3), b"six")
            .await
            .unwrap();
        let got = recv(&*runtime, &*b, 1).await;
        assert_eq!(got[0].from, a_addr);
        assert_eq!(got[0].bytes, b"six");
    }

    pub(crate) async fn a_transmit_larger_than_its_contents_is_refused(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let error = a
            .try_send(&transmit_to(a.local_addr().unwrap(), 10), b"short")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    pub(crate) async fn a_timer_fires_at_its_deadline(runtime: Arc<dyn Runtime>) {
        let start = runtime.now();
        let deadline = start + Duration::from_millis(50);
        let mut timer = runtime.new_timer(deadline);
        within(
            &*runtime,
            "the timer",
            poll_fn(|cx| timer.as_mut().poll(cx)),
        )
        .await;
        let now = runtime.now();
        assert!(now >= deadline, "fired {:?} early", deadline - now);
        // A fired timer stays ready until it is reset.
        poll_fn(|cx| timer.as_mut().poll(cx)).await;
    }

    pub(crate) async fn a_timer_can_be_reset_before_and_after_it_fires(runtime: Arc<dyn Runtime>) {
        // Moved earlier: from an hour away to 30 ms.
        let mut timer = runtime.new_timer(runtime.now() + Duration::from_secs(3600));
        let deadline = runtime.now() + Duration::from_millis(30);
        timer.as_mut().reset(deadline);
        within(
            &*runtime,
            "the reset timer",
            poll_fn(|cx| timer.as_mut().poll(cx)),
        )
        .await;
        assert!(runtime.now() >= deadline);

        // Rearmed after firing, then moved later before it fires.
        timer
            .as_mut()
            .reset(runtime.now() + Duration::from_millis(10));
        let later = runtime.now() + Duration::from_millis(60);
        timer.as_mut().reset(later);
        within(
            &*runtime,
            "the rearmed timer",
            poll_fn(|cx| timer.as_mut().poll(cx)),
        )
        .await;
        assert!(runtime.now() >= later, "fired at the old deadline");
    }

    /// The driver disarms its timer by moving the deadline a day away and
    /// no longer polling it: the wake-up the runtime held for the old
    /// deadline must not come, and the timer must fire again once reset.
    pub(crate) async fn a_parked_timer_stays_silent_and_fires_when_rearmed(
        runtime: Arc<dyn Runtime>,
    ) {
        let wakes = Arc::new(CountWakes::default());
        let waker = futures::task::waker(wakes.clone());
        let mut timer = runtime.new_timer(runtime.now() + Duration::from_millis(20));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(timer.as_mut().poll(&mut cx).is_pending());
        timer
            .as_mut()
            .reset(runtime.now() + Duration::from_secs(24 * 3600));
        let mut pause = runtime.new_timer(runtime.now() + Duration::from_millis(150));
        within(
            &*runtime,
            "the pause",
            poll_fn(|cx| pause.as_mut().poll(cx)),
        )
        .await;
        assert_eq!(
            wakes.0.load(std::sync::atomic::Ordering::Relaxed),
            0,
            "a parked timer woke its task"
        );
        let deadline = runtime.now() + Duration::from_millis(20);
        timer.as_mut().reset(deadline);
        within(
            &*runtime,
            "the rearmed timer",
            poll_fn(|cx| timer.as_mut().poll(cx)),
        )
        .await;
        assert!(runtime.now() >= deadline);
        // A deadline already past fires at once.
        let past = runtime.now();
        let mut pause = runtime.new_timer(past + Duration::from_millis(2));
        poll_fn(|cx| pause.as_mut().poll(cx)).await;
        timer.as_mut().reset(past);
        assert!(timer.as_mut().poll(&mut cx).is_ready());
    }

    pub(crate) async fn a_spawned_task_runs_to_completion(runtime: Arc<dyn Runtime>) {
        let a = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b = socket_on(&*runtime, Ipv4Addr::LOCALHOST);
        let b_addr = b.local_addr().unwrap();
        runtime.spawn(Box::pin(async move {
            send(&*a, &transmit_to(b_addr, 9), b"from task")
                .await
                .unwrap();
        }));
        let got = recv(&*runtime, &*b, 1).await;
        assert_eq!(got[0].bytes, b"from task");
    }

    pub(crate) async fn the_clock_does_not_go_backwards(runtime: Arc<dyn Runtime>) {
        let first = runtime.now();
        let mut timer = runtime.new_timer(first + Duration::from_millis(5));
        poll_fn(|cx| timer.as_mut().poll(cx)).await;
        assert!(runtime.now() > first);
    }
}

/// Generates one `#[test]` per suite function for each enabled runtime.
macro_rules! on_every_runtime {
    ($($name:ident),* $(,)?) => {
        #[cfg(feature = "runtime-tokio")]
        mod tokio_runtime {
            $(
                #[test]
                fn $name() {
                    super::on_tokio(super::suite::$name);
                }
            )*
        }

        #[cfg(feature = "runtime-smol")]
        mod smol_runtime {
            $(
                #[test]
                fn $name() {
                    super::on_smol(super::suite::$name);
                }
            )*
        }
    };
}

on_every_runtime!(
    datagrams_cross_between_two_sockets,
    a_burst_of_datagrams_arrives_whole_and_in_order,
    a_gso_transmit_arrives_as_separate_datagrams,
    an_ect0_mark_is_seen_on_receive,
    ipv6_loopback_sockets_exchange_datagrams,
    a_transmit_larger_than_its_contents_is_refused,
    a_timer_fires_at_its_deadline,
    a_timer_can_be_reset_before_and_after_it_fires,
    a_parked_timer_stays_silent_and_fires_when_rearmed,
    a_spawned_task_runs_to_completion,
    the_clock_does_not_go_backwards,
);

#[cfg(feature = "runtime-tokio")]
fn on_tokio<F: Future<Output = ()>>(test: impl FnOnce(Arc<dyn Runtime>) -> F) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime");
    let runtime = Arc::new(tern_endpoint::TokioRuntime::new(tokio.handle().clone()));
    tokio.block_on(test(runtime));
}

#[cfg(feature = "runtime-smol")]
fn on_smol<F: Future<Output = ()>>(test: impl FnOnce(Arc<dyn Runtime>) -> F) {
    smol::block_on(test(Arc::new(tern_endpoint::SmolRuntime::new())));
}

#[cfg(feature = "runtime-tokio")]
#[tokio::test]
async fn inside_tokio_the_default_runtime_is_tokio() {
    let runtime = tern_endpoint::default_runtime().unwrap();
    assert!(format!("{runtime:?}").starts_with("TokioRuntime"));
    suite::datagrams_cross_between_two_sockets(runtime).await;
}

#[cfg(feature = "runtime-smol")]
#[test]
fn outside_tokio_the_default_runtime_is_smol() {
    let runtime = tern_endpoint::default_runtime().unwrap();
    assert!(format!("{runtime:?}").starts_with("SmolRuntime"));
    smol::block_on(suite::datagrams_cross_between_two_sockets(runtime));
}
