//! The two threads of a run and the code both stacks share: the server
//! that answers requests, and the client side of a request.
//!
//! A request is one bidirectional stream: the client sends 8 bytes (the
//! length of the response it wants, little-endian) and then any padding,
//! finishes, and reads the response to its end. The server reads the
//! request to its end, then writes the response and finishes.

use std::{
    cell::{Cell, RefCell},
    net::SocketAddr,
    rc::Rc,
    sync::mpsc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::{sync::oneshot, task::LocalSet};

use crate::{
    stack::{Opts, Stack},
    sys::thread_cpu,
    tls::Tls,
};

/// A megabyte of payload that every write slices from.
static DATA: [u8; 1 << 20] = [0x5a; 1 << 20];

/// Writes `len` bytes of payload.
pub async fn write_len<S: Stack>(send: &mut S::Send, mut len: u64) -> Result<(), String> {
    while len > 0 {
        let n = usize::try_from(len.min(DATA.len() as u64)).unwrap_or(DATA.len());
        S::write(send, Bytes::from_static(&DATA[..n])).await?;
        len -= n as u64;
    }
    Ok(())
}

/// Reads a stream to its end and returns its first 8 bytes (zero-padded)
/// and its length.
pub async fn read_all<S: Stack>(recv: &mut S::Recv) -> Result<([u8; 8], u64), String> {
    let mut head = [0; 8];
    let mut total = 0_u64;
    while let Some(chunk) = S::read(recv).await? {
        let start = usize::try_from(total).unwrap_or(8);
        if start < 8 {
            let n = chunk.len().min(8 - start);
            head[start..start + n].copy_from_slice(&chunk[..n]);
        }
        total += chunk.len() as u64;
    }
    Ok((head, total))
}

/// One request of `request` bytes (at least the 8 of the header) for a
/// response of `response` bytes.
pub async fn request<S: Stack>(conn: &S::Conn, request: u64, response: u64) -> Result<(), String> {
    let (mut send, mut recv) = S::open_bi(conn).await?;
    S::write(&mut send, Bytes::copy_from_slice(&response.to_le_bytes())).await?;
    write_len::<S>(&mut send, request.saturating_sub(8)).await?;
    S::finish(&mut send);
    let (_, got) = read_all::<S>(&mut recv).await?;
    if got == response {
        Ok(())
    } else {
        Err(format!("response of {got} bytes, expected {response}"))
    }
}

async fn answer<S: Stack>(mut send: S::Send, mut recv: S::Recv) -> Result<(), String> {
    let (head, _) = read_all::<S>(&mut recv).await?;
    write_len::<S>(&mut send, u64::from_le_bytes(head)).await?;
    // A finished stream dropped here keeps sending on both stacks.
    S::finish(&mut send);
    Ok(())
}

/// What the server side keeps: the connections it holds (in hold mode)
/// and how many completed their handshake.
pub struct Held<C> {
    pub conns: RefCell<Vec<C>>,
    pub established: Cell<usize>,
}

impl<C> Default for Held<C> {
    fn default() -> Self {
        Self {
            conns: RefCell::new(Vec::new()),
            established: Cell::new(0),
        }
    }
}

/// Accepts every connection. In hold mode it only keeps the connection;
/// otherwise it answers the connection's requests.
pub async fn serve<S: Stack>(endpoint: S::Endpoint, hold: bool, held: Rc<Held<S::Conn>>) {
    while let Some(incoming) = S::accept(&endpoint).await {
        let held = held.clone();
        tokio::task::spawn_local(async move {
            let Ok(conn) = S::established(incoming).await else {
                return;
            };
            held.established.set(held.established.get() + 1);
            if hold {
                held.conns.borrow_mut().push(conn);
                return;
            }
            while let Some((send, recv)) = S::accept_bi(&conn).await {
                tokio::task::spawn_local(async move {
                    let _ = answer::<S>(send, recv).await;
                });
            }
        });
    }
}

/// Asks the server thread for its CPU time so far.
#[derive(Clone)]
pub struct Probe(tokio::sync::mpsc::UnboundedSender<oneshot::Sender<Duration>>);

impl Probe {
    /// A probe with no server behind it (the server is another process).
    pub fn none() -> Self {
        Self(tokio::sync::mpsc::unbounded_channel().0)
    }

    pub async fn server_cpu(&self) -> Duration {
        let (tx, rx) = oneshot::channel();
        if self.0.send(tx).is_err() {
            return Duration::ZERO;
        }
        rx.await.unwrap_or(Duration::ZERO)
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Runs `client` on its own thread against a server on another, each on a
/// current-thread runtime, and returns what the client returned.
pub fn run<S, F, T>(tls: Tls, opts: Opts, client: F) -> Result<T, String>
where
    S: Stack,
    F: AsyncFnOnce(Ctx<S>) -> Result<T, String> + Send + 'static,
    T: Send + 'static,
{
    let tls = std::sync::Arc::new(tls);
    let (addr_tx, addr_rx) = mpsc::channel::<Result<SocketAddr, String>>();
    let (probe_tx, mut probe_rx) =
        tokio::sync::mpsc::unbounded_channel::<oneshot::Sender<Duration>>();
    let server = {
        let (tls, opts) = (tls.clone(), opts.clone());
        std::thread::Builder::new()
            .name("server".into())
            .spawn(move || {
                let rt = match runtime() {
                    Ok(rt) => rt,
                    Err(e) => return drop(addr_tx.send(Err(e))),
                };
                LocalSet::new().block_on(&rt, async move {
                    let endpoint = match S::server(&tls, &opts) {
                        Ok(endpoint) => endpoint,
                        Err(e) => return drop(addr_tx.send(Err(e))),
                    };
                    let _ = addr_tx.send(Ok(S::local_addr(&endpoint)));
                    let held = Rc::new(Held::default());
                    tokio::task::spawn_local(serve::<S>(endpoint.clone(), false, held));
                    while let Some(reply) = probe_rx.recv().await {
                        let _ = reply.send(thread_cpu());
                    }
                    S::close_endpoint(&endpoint);
                });
            })
            .map_err(|e| e.to_string())?
    };
    let addr = addr_rx.recv().map_err(|e| e.to_string())??;
    let client = std::thread::Builder::new()
        .name("client".into())
        .spawn(move || {
            let rt = runtime()?;
            LocalSet::new().block_on(&rt, async move {
                let endpoint = S::client(&tls, &opts)?;
                let ctx = Ctx {
                    endpoint: endpoint.clone(),
                    addr,
                    probe: Probe(probe_tx),
                };
                let result = client(ctx).await;
                S::close_endpoint(&endpoint);
                result
            })
        })
        .map_err(|e| e.to_string())?;
    let result = client
        .join()
        .map_err(|_| "the client thread panicked".to_string())?;
    // The probe's sender went with the client: the server stops.
    let _ = server.join();
    result
}

/// What a client workload gets.
pub struct Ctx<S: Stack> {
    pub endpoint: S::Endpoint,
    pub addr: SocketAddr,
    pub probe: Probe,
}

/// The benchmark's wall clock.
#[allow(clippy::disallowed_methods, reason = "a benchmark measures real time")]
pub fn now() -> Instant {
    Instant::now()
}

/// Opens `n` connections, `concurrency` at a time, and returns them.
pub async fn connect_many<S: Stack>(
    ctx: &Ctx<S>,
    n: usize,
    concurrency: usize,
) -> Result<Vec<S::Conn>, String> {
    let conns = Rc::new(RefCell::new(Vec::with_capacity(n)));
    let next = Rc::new(Cell::new(0_usize));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (conns, next, endpoint, addr) =
            (conns.clone(), next.clone(), ctx.endpoint.clone(), ctx.addr);
        tasks.push(tokio::task::spawn_local(async move {
            while next.get() < n {
                next.set(next.get() + 1);
                let conn = S::connect(&endpoint, addr).await?;
                conns.borrow_mut().push(conn);
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(Rc::try_unwrap(conns)
        .map(RefCell::into_inner)
        .unwrap_or_default())
}

/// `count` full handshakes, `concurrency` at a time; each connection is
/// closed as soon as it is established.
pub async fn handshakes<S: Stack>(
    ctx: &Ctx<S>,
    count: usize,
    concurrency: usize,
) -> Result<(), String> {
    let next = Rc::new(Cell::new(0_usize));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, endpoint, addr) = (next.clone(), ctx.endpoint.clone(), ctx.addr);
        tasks.push(tokio::task::spawn_local(async move {
            while next.get() < count {
                next.set(next.get() + 1);
                let conn = S::connect(&endpoint, addr).await?;
                S::close(&conn);
            }
            Ok::<_, String>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}
