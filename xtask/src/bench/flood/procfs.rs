//! What the server process costs, read from Linux's /proc: CPU time,
//! resident set, and the datagrams its socket dropped.

use std::path::Path;

/// User plus system CPU time of a process, in clock ticks, from the text
/// of /proc/PID/stat (fields 14 and 15, counted after the command name,
/// which may itself hold spaces and parentheses).
pub(crate) fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn status_bytes(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb = rest.trim().strip_suffix("kB")?.trim();
        kb.parse::<u64>().ok().map(|kb| kb * 1024)
    })
}

/// The `drops` column of the IPv4 UDP socket bound to `port`, from the
/// text of /proc/net/udp: datagrams the kernel threw away because the
/// socket's receive buffer was full.
pub(crate) fn udp_drops(table: &str, port: u16) -> Option<u64> {
    let suffix = format!(":{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !fields.get(1)?.ends_with(&suffix) {
            return None;
        }
        fields.last()?.parse().ok()
    })
}

/// Nanoseconds a thread spent ready to run but waiting for a CPU, from
/// the text of /proc/PID/task/TID/schedstat (its second field).
pub(crate) fn run_queue_wait(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().nth(1)?.parse().ok()
}

/// The one-minute load average, from the text of /proc/loadavg.
pub(crate) fn load_average(loadavg: &str) -> Option<f64> {
    loadavg.split_whitespace().next()?.parse().ok()
}

/// The machine's one-minute load average now.
pub(crate) fn machine_load() -> Option<f64> {
    load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// A process's figures at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) cpu_ticks: u64,
    /// Nanoseconds its threads waited for a CPU, in all.
    pub(crate) run_queue_wait: u64,
    pub(crate) rss: u64,
    pub(crate) peak_rss: u64,
}

/// Reads the figures of process `pid`; `None` once it is gone.
pub(crate) fn sample(pid: u32) -> Option<Sample> {
    let dir = Path::new("/proc").join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let tasks = std::fs::read_dir(dir.join("task")).ok()?;
    let run_queue_wait = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| run_queue_wait(&text))
        .sum();
    Some(Sample {
        cpu_ticks: cpu_ticks(&stat)?,
        run_queue_wait,
        rss: status_bytes(&status, "VmRSS")?,
        peak_rss: status_bytes(&status, "VmHWM")?,
    })
}

/// Datagrams dropped at the UDP socket on `port`, if it is listed.
pub(crate) fn socket_drops(port: u16) -> Option<u64> {
    udp_drops(&std::fs::read_to_string("/proc/net/udp").ok()?, port)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know
/// when it cannot be asked).
pub(crate) fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}
