//! A process's time on CPU, from the kernel's scheduler statistics: what the benchmarks
//! divide by the requests served to get the server's CPU per request.

use std::time::Duration;

/// Total time the threads of process `pid` spent on a CPU so far (the first field of each
/// `/proc/<pid>/task/*/schedstat`, in nanoseconds).
pub fn cpu_time(pid: u32) -> Duration {
    let dir = format!("/proc/{pid}/task");
    let mut ns = 0u64;
    for task in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}
