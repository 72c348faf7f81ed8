//! `process_*` metrics of the running operator, read from `/proc/self` on each scrape (the
//! names and meanings of the Prometheus client libraries' process collectors, so the usual
//! dashboards work). Elsewhere than Linux nothing is exported.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// The kernel reports CPU times and start times in USER_HZ ticks, which Linux fixes at 100 for
/// the /proc interface on every architecture (Prometheus' procfs assumes the same).
const USER_HZ: f64 = 100.0;

/// One reading of the process' resources.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Virtual memory size in bytes.
    pub virtual_memory_bytes: u64,
    /// Resident set size in bytes.
    pub resident_memory_bytes: u64,
    /// Threads.
    pub threads: u64,
    /// Start time since the Unix epoch, in seconds.
    pub start_time_seconds: f64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit of open file descriptors (None: unlimited or unknown).
    pub max_fds: Option<u64>,
}

/// Fields of `/proc/self/stat` used here: (utime+stime ticks, threads, start ticks since boot,
/// vsize bytes). The command name may hold spaces and parentheses, so fields are counted after
/// its last `)`.
pub fn parse_stat(stat: &str) -> Option<(u64, u64, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, so field n is f[n - 3].
    let num = |n: usize| f.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some((num(14)? + num(15)?, num(20)?, num(22)?, num(23)?))
}

/// `VmRSS` of `/proc/self/status`, in bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `btime` (boot time, seconds since the epoch) of `/proc/stat`.
pub fn parse_btime(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// The soft "Max open files" limit of `/proc/self/limits` (None when unlimited).
pub fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Reads the current figures; None where `/proc` is not available.
pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (ticks, threads, start_ticks, vsize) = parse_stat(&stat)?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let btime = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_btime).unwrap_or(0);
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64).unwrap_or(0);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    Some(ProcessStats {
        cpu_seconds: ticks as f64 / USER_HZ,
        virtual_memory_bytes: vsize,
        resident_memory_bytes: parse_rss(&status).unwrap_or(0),
        threads,
        start_time_seconds: btime as f64 + start_ticks as f64 / USER_HZ,
        open_fds,
        max_fds: parse_max_fds(&limits),
    })
}

/// The collector registered with the operator's registry.
#[derive(Debug, Default)]
pub struct ProcessCollector;

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    let m = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(m)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(s) = read() else { return Ok(()) };
        let cpu = ConstCounter::new(s.cpu_seconds);
        let m = encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?;
        cpu.encode(m)?;
        gauge(
            &mut encoder,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            s.resident_memory_bytes as f64,
        )?;
        gauge(
            &mut encoder,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            s.virtual_memory_bytes as f64,
        )?;
        gauge(
            &mut encoder,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch in seconds",
            s.start_time_seconds,
        )?;
        gauge(&mut encoder, "process_open_fds", "Number of open file descriptors", s.open_fds as f64)?;
        if let Some(max) = s.max_fds {
            gauge(&mut encoder, "process_max_fds", "Maximum number of open file descriptors", max as f64)?;
        }
        gauge(&mut encoder, "process_threads", "Number of OS threads in the process", s.threads as f64)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        // A command name with a space and a ')' must not shift the fields.
        let stat = "4242 (sip op) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 50 0 0 20 0 7 0 123456 104857600 2500 \
                    18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assert_eq!(parse_stat(stat), Some((200, 7, 123456, 104857600)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None, "too few fields");
    }

    #[test]
    fn status_limits_and_btime() {
        assert_eq!(parse_rss("Name:\tx\nVmRSS:\t   10240 kB\nThreads:\t3\n"), Some(10 * 1024 * 1024));
        assert_eq!(parse_rss("Name:\tx\n"), None);
        assert_eq!(parse_btime("cpu  1 2 3\nbtime 1764662400\nprocesses 9\n"), Some(1_764_662_400));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1048576              1048576              files     \n";
        assert_eq!(parse_max_fds(limits), Some(1_048_576));
        let unlimited = "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_max_fds(unlimited), None);
    }

    #[test]
    fn this_process_is_read() {
        let s = read().expect("/proc/self on Linux");
        assert!(s.resident_memory_bytes > 0 && s.virtual_memory_bytes >= s.resident_memory_bytes);
        assert!(s.threads >= 1 && s.open_fds >= 1);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64());
        let now = now.expect("clock after 1970");
        assert!(s.start_time_seconds > now - 86_400.0 * 365.0 && s.start_time_seconds <= now + 1.0, "{s:?}");
    }
}
