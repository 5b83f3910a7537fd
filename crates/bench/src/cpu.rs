//! CPU time spent by this process's threads of one name (Linux `/proc`), to report how much server CPU a
//! request costs: a figure that other work on the machine disturbs far less than throughput.

use std::time::Duration;

/// The user and system CPU time of every thread of this process whose name starts with `prefix`, or `None`
/// where `/proc` cannot tell.
pub fn threads_cpu(prefix: &str) -> Option<Duration> {
    let ticks_per_second = 100; // USER_HZ, fixed at 100 on Linux for /proc's clock ticks
    let mut ticks = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else { continue };
        // The name (field 2) may hold spaces; fields after its closing parenthesis are plain.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        ticks += utime + stime;
        found = true;
    }
    found.then(|| Duration::from_millis(ticks * 1000 / ticks_per_second))
}
