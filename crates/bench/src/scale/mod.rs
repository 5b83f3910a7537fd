//! The `scale` benchmark's parts: environments of many flags loaded in bulk ([`environment`]), and the
//! server under test with what it costs ([`server`]).

pub mod environment;
pub mod server;

use std::time::Duration;

/// The CPU time a thread of this process has run, from `/proc/thread-self/schedstat` (nanoseconds, not the
/// 10 ms ticks of `stat`): what one SDK client's patches cost, on the thread that applies them.
pub fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// A process's user and system CPU time from `/proc/<pid>/stat` (every thread, those gone included).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A process's resident set size in bytes, from `/proc/<pid>/status`.
pub fn process_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
