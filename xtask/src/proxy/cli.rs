//! `cargo xtask proxy`: run the proxy by hand and print its report as JSON.

use std::{
    future::{Future, poll_fn},
    net::SocketAddr,
    path::PathBuf,
    pin::pin,
    task::Poll,
    time::Duration,
};

use super::{Blackout, Impairment, Proxy, ProxyConfig, Rebind};

/// Options of `cargo xtask proxy`; the defaults are the runner's simple-p2p link.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Address the client sends to.
    #[arg(long, default_value = "127.0.0.1:4434")]
    listen: SocketAddr,
    /// Address of the server.
    #[arg(long, default_value = "127.0.0.1:4433")]
    server: SocketAddr,
    /// One-way delay in milliseconds, each direction.
    #[arg(long, default_value_t = 15)]
    delay_ms: u64,
    /// Link rate in Mbit/s, each direction (0: unlimited).
    #[arg(long, default_value_t = 10.0)]
    bandwidth_mbps: f64,
    /// Drop-tail queue in datagrams, each direction.
    #[arg(long, default_value_t = 25)]
    queue: usize,
    /// Random loss in percent, each direction.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Most consecutive losses (0: no cap).
    #[arg(long, default_value_t = 0)]
    loss_burst: u32,
    /// Random corruption in percent, each direction.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Most consecutive corruptions (0: no cap).
    #[arg(long, default_value_t = 0)]
    corrupt_burst: u32,
    /// Comma-separated 1-based indices of client datagrams to drop.
    #[arg(long, value_delimiter = ',')]
    drop_to_server: Vec<u64>,
    /// Comma-separated 1-based indices of server datagrams to drop.
    #[arg(long, value_delimiter = ',')]
    drop_to_client: Vec<u64>,
    /// Blackout as ON_MS,OFF_MS: up for ON_MS, down for OFF_MS, repeating.
    #[arg(long, value_delimiter = ',', num_args = 2)]
    blackout_ms: Vec<u64>,
    /// Rebind the client's port at this many milliseconds, then as often.
    #[arg(long)]
    rebind_ms: Option<u64>,
    /// Change the client's IP as well as its port when rebinding.
    #[arg(long)]
    rebind_address: bool,
    /// How long a replaced binding still carries the server's datagrams to
    /// the client, in milliseconds; 0, the runner's NAT, drops them at once.
    #[arg(long, default_value_t = 0)]
    rebind_old_mapping_ms: u64,
    /// Seed of the random decisions.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write client.pcap and server.pcap here.
    #[arg(long)]
    pcap_dir: Option<PathBuf>,
    /// Stop after this many seconds (Ctrl-C stops it in any case).
    #[arg(long)]
    seconds: Option<u64>,
}

impl Args {
    fn config(&self) -> ProxyConfig {
        let both = |list: &[u64]| Impairment {
            loss_percent: self.loss,
            loss_burst: self.loss_burst,
            corrupt_percent: self.corrupt,
            corrupt_burst: self.corrupt_burst,
            drop_list: list.to_vec(),
        };
        let bandwidth_bps = if self.bandwidth_mbps.is_finite() && self.bandwidth_mbps > 0.0 {
            // Whole bits per second; the float came from a human.
            format!("{:.0}", self.bandwidth_mbps * 1e6)
                .parse()
                .unwrap_or(0)
        } else {
            0
        };
        let mut config = ProxyConfig::runner_default();
        config.delay = Duration::from_millis(self.delay_ms);
        config.bandwidth_bps = bandwidth_bps;
        config.queue_packets = self.queue;
        config.to_server = both(&self.drop_to_server);
        config.to_client = both(&self.drop_to_client);
        config.blackout = match self.blackout_ms[..] {
            [on, off] => Some(Blackout {
                on: Duration::from_millis(on),
                off: Duration::from_millis(off),
            }),
            _ => None,
        };
        config.rebind = self.rebind_ms.map(|ms| Rebind {
            first: Duration::from_millis(ms),
            every: Duration::from_millis(ms),
            address: self.rebind_address,
            old_mapping: Duration::from_millis(self.rebind_old_mapping_ms),
        });
        config.seed = self.seed;
        config.pcap_dir.clone_from(&self.pcap_dir);
        config
    }
}

/// Runs the proxy until the time is up or stdin says stop, then prints the report.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let proxy = Proxy::start(args.listen, args.server, args.config())
        .map_err(|e| format!("cannot start the proxy on {}: {e}", args.listen))?;
    eprintln!(
        "proxy: {} -> {}; {}",
        proxy.local_addr(),
        args.server,
        match args.seconds {
            Some(s) => format!("stopping after {s} s or on Ctrl-C"),
            None => "Ctrl-C stops it".into(),
        }
    );
    wait_for_ctrl_c(args.seconds.map(Duration::from_secs))?;
    let report = proxy.stop();
    let json = serde_json::to_string_pretty(&report).map_err(|e| format!("report: {e}"))?;
    println!("{json}");
    Ok(())
}

/// Blocks until Ctrl-C or until `limit` has passed.
fn wait_for_ctrl_c(limit: Option<Duration>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for Ctrl-C: {e}"))?;
    runtime.block_on(async {
        let mut ctrl_c = pin!(tokio::signal::ctrl_c());
        let mut timer = pin!(async {
            match limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        });
        poll_fn(|cx| {
            if ctrl_c.as_mut().poll(cx).is_ready() || timer.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    });
    Ok(())
}
