//! The scheduler thread: decides each datagram's fate as it enters, holds
//! it until the link model says it arrives, then sends it on; rebinds the
//! client's upstream socket on schedule; keeps the [`Report`].

use std::{
    collections::{HashMap, VecDeque},
    fs, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        Arc,
        atomic::AtomicBool,
        mpsc::{self, RecvTimeoutError},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime},
};

mod direction;
mod upstream;

pub(crate) use self::upstream::{Event, Flow, Packet};
use self::{
    direction::{Direction, count_received, enter, pop_due},
    upstream::Upstream,
};
use super::{
    ProxyConfig, Report,
    amplification::AmplificationCheck,
    impair::{Impairer, Link, in_blackout},
    now,
    pcap::PcapWriter,
    quic::{Datagram, LongType, hex},
    retry::RetryCheck,
    socket::Endpoint,
    wall_clock,
};

/// Datagrams waiting for the scheduler; receive threads block when it is full.
const CHANNEL_CAPACITY: usize = 4096;
/// How long a replaced upstream socket still receives after a rebinding at
/// least, so that the server's datagrams to it are dropped rather than
/// answered with ICMP port unreachable.
const RETIRE_AFTER: Duration = Duration::from_secs(1);
/// The longest delay or rebinding interval taken from a configuration, so
/// that adding it to an `Instant` cannot overflow.
const LONGEST: Duration = Duration::from_secs(24 * 3600);
/// The shortest rebinding interval: each one opens a socket and a thread.
const SHORTEST_REBIND: Duration = Duration::from_millis(10);
/// The longest the scheduler sleeps when nothing is due.
const IDLE_WAIT: Duration = Duration::from_millis(500);

/// The scheduler's state.
struct Engine {
    config: ProxyConfig,
    start: Instant,
    wall_start: SystemTime,
    /// The proxy's first address and where it leads.
    first: Route,
    /// The [`super::SecondRoute`], if any.
    second: Option<Route>,
    events: mpsc::SyncSender<Event>,
    /// The current upstream socket of each binding.
    clients: HashMap<Flow, Upstream>,
    /// The local IP each client sent to (matters if a listening socket is
    /// a wildcard).
    client_local_ip: HashMap<SocketAddr, IpAddr>,
    /// Replaced upstream sockets.
    retired: Vec<Retired>,
    /// Upstream sockets told to stop, whose threads are ending.
    closing: Vec<Upstream>,
    /// The binding that sent last: the one a rebinding replaces.
    active_client: Option<Flow>,
    next_rebind: Option<Instant>,
    next_rebind_ip: u8,
    to_server: Direction,
    to_client: Direction,
    report: Report,
    amplification: AmplificationCheck,
    retry: RetryCheck,
    server_replied: bool,
    client_pcap: Option<PcapWriter>,
    server_pcap: Option<PcapWriter>,
}

/// One address of the proxy and the server address it leads to.
struct Route {
    listen: Arc<Endpoint>,
    server: SocketAddr,
}

/// An upstream socket a rebinding replaced.
struct Retired {
    /// Until then, what the server sends to it still reaches the client.
    forward_until: Instant,
    /// Then it is closed.
    close_at: Instant,
    upstream: Upstream,
}

/// The handles of a started proxy.
pub(crate) struct Started {
    pub(crate) events: mpsc::SyncSender<Event>,
    pub(crate) engine: JoinHandle<Report>,
    pub(crate) listeners: Vec<JoinHandle<()>>,
    /// The bound address of the first route.
    pub(crate) local: SocketAddr,
    /// The bound address of the second route, if any.
    pub(crate) second: Option<SocketAddr>,
}

/// Binds the listening sockets and starts the listener and scheduler threads.
pub(crate) fn start(
    listen: SocketAddr,
    server: SocketAddr,
    config: ProxyConfig,
    stop: &Arc<AtomicBool>,
) -> io::Result<Started> {
    let first = Route {
        listen: Endpoint::bind(listen)?,
        server,
    };
    let second = match config.second_route {
        Some(route) => Some(Route {
            listen: Endpoint::bind(route.listen)?,
            server: route.server,
        }),
        None => None,
    };
    let routes: Vec<&Route> = std::iter::once(&first).chain(&second).collect();
    let (client_pcap, server_pcap) = match &config.pcap_dir {
        Some(dir) => {
            fs::create_dir_all(dir)?;
            (
                Some(PcapWriter::create(&dir.join("client.pcap"))?),
                Some(PcapWriter::create(&dir.join("server.pcap"))?),
            )
        }
        None => (None, None),
    };
    let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
    let mut listeners = Vec::new();
    for (route, r) in routes.iter().enumerate() {
        let (endpoint, stop, events) = (r.listen.clone(), stop.clone(), tx.clone());
        let errors = events.clone();
        listeners.push(super::spawn("proxy-listen", move || {
            endpoint.recv_loop(
                &stop,
                |r| {
                    let packet = r.into();
                    events.send(Event::FromClient { route, packet }).is_ok()
                },
                |_| {
                    let _ = errors.try_send(Event::SocketError { to_server: true });
                },
            );
        })?);
    }
    let local = first.listen.local();
    let second_local = second.as_ref().map(|r| r.listen.local());
    let config = sanitized(config);
    let start = now();
    let seed = config.seed;
    let direction = |imp: &super::Impairment, seed: u64| Direction {
        impairer: Impairer::new(imp.clone(), seed),
        link: Link::new(config.bandwidth_bps, config.queue_packets, config.delay),
        in_flight: VecDeque::new(),
    };
    let engine = Engine {
        to_server: direction(&config.to_server, seed),
        to_client: direction(&config.to_client, seed ^ 0x9e37_79b9_7f4a_7c15),
        next_rebind: config.rebind.map(|r| start + r.first),
        config,
        start,
        wall_start: wall_clock(),
        first,
        second,
        events: tx.clone(),
        clients: HashMap::new(),
        client_local_ip: HashMap::new(),
        retired: Vec::new(),
        closing: Vec::new(),
        active_client: None,
        next_rebind_ip: 2,
        report: Report::default(),
        amplification: AmplificationCheck::default(),
        retry: RetryCheck::default(),
        server_replied: false,
        client_pcap,
        server_pcap,
    };
    let engine = super::spawn("proxy-scheduler", move || engine.run(&rx))?;
    Ok(Started {
        events: tx,
        engine,
        listeners,
        local,
        second: second_local,
    })
}

impl Engine {
    fn run(mut self, rx: &mpsc::Receiver<Event>) -> Report {
        loop {
            let timeout = self
                .next_deadline()
                .map_or(IDLE_WAIT, |d| d.saturating_duration_since(now()));
            let first = match rx.recv_timeout(timeout) {
                Ok(event) => Some(event),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Take everything already received before delivering, so that
            // the server's datagrams are seen in the order it sent them
            // relative to what is delivered to it.
            let mut stop = false;
            for event in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match event {
                    Event::Stop => stop = true,
                    event => self.handle(event),
                }
            }
            if stop {
                break;
            }
            let now = now();
            self.deliver_due(now);
            self.rebind_due(now);
            self.retire_due(now);
        }
        self.finish()
    }

    fn finish(mut self) -> Report {
        self.report.amplification = self.amplification.report();
        self.report.retry = self.retry.report();
        let mut all: Vec<Upstream> = self.clients.drain().map(|(_, u)| u).collect();
        all.extend(self.retired.drain(..).map(|r| r.upstream));
        all.append(&mut self.closing);
        // Signal them all first so the threads wind down together.
        for upstream in &all {
            upstream.signal();
        }
        for upstream in &mut all {
            upstream.join();
        }
        for pcap in [&mut self.client_pcap, &mut self.server_pcap]
            .into_iter()
            .flatten()
        {
            if let Err(e) = pcap.flush() {
                eprintln!("proxy: cannot flush pcap: {e}");
            }
        }
        self.report
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.to_server.in_flight.front().map(|f| f.arrives),
            self.to_client.in_flight.front().map(|f| f.arrives),
            self.next_rebind,
            self.retired.iter().map(|r| r.close_at).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn wall(&self, at: Instant) -> SystemTime {
        self.wall_start + at.saturating_duration_since(self.start)
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::FromClient { route, packet } => self.on_client_datagram(route, packet),
            Event::FromServer {
                flow,
                upstream,
                packet,
            } => self.on_server_datagram(flow, upstream, packet),
            Event::SocketError { to_server } => {
                let stats = if to_server {
                    &mut self.report.to_server
                } else {
                    &mut self.report.to_client
                };
                stats.socket_errors += 1;
            }
            Event::Stop => {}
        }
    }

    fn on_client_datagram(&mut self, route: usize, mut packet: Packet) {
        let client = packet.from;
        let flow = Flow { client, route };
        count_received(&mut self.report.to_server, &packet);
        let parsed = Datagram::parse(&packet.data);
        if parsed.holds(LongType::Initial) && !self.server_replied {
            self.report.client_initials_before_reply += 1;
        }
        for p in &parsed.packets {
            self.retry.client_packet(p);
        }
        if let Some(ip) = packet.local_ip {
            self.client_local_ip.insert(client, ip);
        }
        let proxy_side = self.client_facing(flow);
        let wall = self.wall(packet.at);
        write_pcap(&mut self.client_pcap, wall, client, proxy_side, &packet);
        self.active_client = Some(flow);
        if !self.clients.contains_key(&flow) {
            match self.open_upstream(flow, None) {
                Ok(upstream) => {
                    self.clients.insert(flow, upstream);
                }
                Err(e) => {
                    eprintln!("proxy: no upstream socket for {client}: {e}");
                    self.report.to_server.socket_errors += 1;
                }
            }
        }
        let blackout = in_blackout(
            self.config.blackout,
            packet.at.saturating_duration_since(self.start),
        );
        enter(
            &mut self.to_server,
            &mut self.report.to_server,
            blackout,
            flow,
            &mut packet,
        );
    }

    fn on_server_datagram(&mut self, flow: Flow, upstream: SocketAddr, mut packet: Packet) {
        count_received(&mut self.report.to_client, &packet);
        self.server_replied = true;
        let parsed = Datagram::parse(&packet.data);
        for p in &parsed.packets {
            match p.ty {
                Some(LongType::Initial) => {
                    self.report.server_initial_scids.insert(hex(&p.scid));
                    self.report.server_initial_versions.insert(p.version);
                }
                Some(LongType::Retry) => self.report.retry_seen = true,
                _ => {}
            }
            self.retry.server_packet(p);
        }
        self.report.version_negotiation_seen |= parsed.version_negotiation;
        self.amplification.server_datagram(packet.data.len());
        let wall = self.wall(packet.at);
        write_pcap(&mut self.server_pcap, wall, packet.from, upstream, &packet);
        if self.forgotten(upstream, packet.at) {
            self.report.to_client.dropped_old_mapping += 1;
            return;
        }
        let blackout = in_blackout(
            self.config.blackout,
            packet.at.saturating_duration_since(self.start),
        );
        enter(
            &mut self.to_client,
            &mut self.report.to_client,
            blackout,
            flow,
            &mut packet,
        );
    }

    /// Whether `upstream` is a replaced socket whose binding no longer
    /// carries the server's datagrams at `at`.
    fn forgotten(&self, upstream: SocketAddr, at: Instant) -> bool {
        self.retired
            .iter()
            .any(|r| r.upstream.endpoint.local() == upstream && at >= r.forward_until)
    }

    /// The proxy's address as the client of `flow` sees it.
    fn client_facing(&self, flow: Flow) -> SocketAddr {
        let listen = self.route(flow).listen.local();
        match self.client_local_ip.get(&flow.client) {
            Some(&ip) if listen.ip().is_unspecified() => SocketAddr::new(ip, listen.port()),
            _ => listen,
        }
    }

    /// The route of `flow`.
    fn route(&self, flow: Flow) -> &Route {
        match (flow.route, &self.second) {
            (1, Some(second)) => second,
            _ => &self.first,
        }
    }

    fn deliver_due(&mut self, now: Instant) {
        while let Some(f) = pop_due(&mut self.to_server.in_flight, now) {
            let Some(upstream) = self.clients.get(&f.flow) else {
                continue;
            };
            let from = upstream.endpoint.local();
            let server = self.route(f.flow).server;
            match upstream.endpoint.send(server, f.ecn, None, &f.data) {
                Ok(()) => self.report.to_server.delivered += 1,
                Err(_) => self.report.to_server.socket_errors += 1,
            }
            let wall = self.wall(now);
            write_pcap_raw(&mut self.server_pcap, wall, from, server, f.ecn, &f.data);
            let parsed = Datagram::parse(&f.data);
            self.amplification.client_datagram(
                f.data.len(),
                parsed.holds(LongType::Initial),
                parsed.holds(LongType::Handshake),
            );
        }
        while let Some(f) = pop_due(&mut self.to_client.in_flight, now) {
            let listen = &self.route(f.flow).listen;
            let src_ip = listen
                .local()
                .ip()
                .is_unspecified()
                .then(|| self.client_local_ip.get(&f.flow.client).copied())
                .flatten();
            match listen.send(f.flow.client, f.ecn, src_ip, &f.data) {
                Ok(()) => self.report.to_client.delivered += 1,
                Err(_) => self.report.to_client.socket_errors += 1,
            }
            let wall = self.wall(now);
            let from = self.client_facing(f.flow);
            let to = f.flow.client;
            write_pcap_raw(&mut self.client_pcap, wall, from, to, f.ecn, &f.data);
        }
    }

    fn rebind_due(&mut self, now: Instant) {
        let (Some(due), Some(rebind)) = (self.next_rebind, self.config.rebind) else {
            return;
        };
        if now < due {
            return;
        }
        self.next_rebind = (!rebind.every.is_zero()).then(|| {
            // Skip any rebindings missed while asleep rather than bunching them.
            let every = rebind.every.as_nanos();
            let missed = now.saturating_duration_since(due).as_nanos() / every;
            let skip = u32::try_from(missed + 1).unwrap_or(u32::MAX);
            due + rebind.every.saturating_mul(skip).min(LONGEST)
        });
        let Some(flow) = self.active_client else {
            return;
        };
        let ip = if rebind.address && self.route(flow).server.is_ipv4() {
            let last = self.next_rebind_ip;
            self.next_rebind_ip = if last >= 254 { 2 } else { last + 1 };
            Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        } else {
            self.clients.get(&flow).map(|u| u.endpoint.local().ip())
        };
        match self.open_upstream(flow, ip) {
            Ok(fresh) => {
                if let Some(old) = self.clients.insert(flow, fresh) {
                    self.retired.push(Retired {
                        forward_until: now + rebind.old_mapping,
                        close_at: now + rebind.old_mapping.max(RETIRE_AFTER),
                        upstream: old,
                    });
                }
                self.report.rebinds += 1;
            }
            Err(e) => {
                eprintln!("proxy: cannot rebind {}: {e}", flow.client);
                self.report.to_server.socket_errors += 1;
            }
        }
    }

    fn retire_due(&mut self, now: Instant) {
        let (due, keep): (Vec<_>, Vec<_>) = self.retired.drain(..).partition(|r| r.close_at <= now);
        self.retired = keep;
        // Joining here would stall deliveries for a poll interval: signal
        // now, and forget the threads once they have ended.
        for retired in due {
            retired.upstream.signal();
            self.closing.push(retired.upstream);
        }
        self.closing.retain(|u| !u.finished());
    }

    /// Opens an upstream socket for `flow`, on `ip` or on the loopback
    /// address of its server's family.
    fn open_upstream(&self, flow: Flow, ip: Option<IpAddr>) -> io::Result<Upstream> {
        let server = self.route(flow).server;
        let ip = ip.unwrap_or_else(|| match (server.is_ipv4(), server.ip().is_loopback()) {
            (true, true) => Ipv4Addr::LOCALHOST.into(),
            (true, false) => Ipv4Addr::UNSPECIFIED.into(),
            (false, true) => Ipv6Addr::LOCALHOST.into(),
            (false, false) => Ipv6Addr::UNSPECIFIED.into(),
        });
        Upstream::open(SocketAddr::new(ip, 0), flow, &self.events)
    }
}

fn write_pcap(
    pcap: &mut Option<PcapWriter>,
    at: SystemTime,
    src: SocketAddr,
    dst: SocketAddr,
    packet: &Packet,
) {
    write_pcap_raw(pcap, at, src, dst, packet.ecn, &packet.data);
}

fn write_pcap_raw(
    pcap: &mut Option<PcapWriter>,
    at: SystemTime,
    src: SocketAddr,
    dst: SocketAddr,
    ecn: u8,
    data: &[u8],
) {
    if let Some(writer) = pcap
        && let Err(e) = writer.write(at, src, dst, ecn, data)
    {
        eprintln!("proxy: pcap write failed, no more records: {e}");
        *pcap = None;
    }
}

/// Clamps the durations of `config` so that time arithmetic cannot
/// overflow and rebinding cannot open sockets faster than the OS likes.
fn sanitized(mut config: ProxyConfig) -> ProxyConfig {
    config.delay = config.delay.min(LONGEST);
    if let Some(r) = &mut config.rebind {
        r.first = r.first.min(LONGEST);
        r.old_mapping = r.old_mapping.min(LONGEST);
        if !r.every.is_zero() {
            r.every = r.every.clamp(SHORTEST_REBIND, LONGEST);
        }
    }
    config
}
