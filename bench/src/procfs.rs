//! What the benchmarks read from Linux's `/proc`: a process's CPU time and resident memory.
//! Plain file reads, so no libc dependency is needed.

use std::fs;
use std::io;

/// A process: a pid, or `self`.
fn path(pid: Option<u32>, file: &str) -> String {
    match pid {
        Some(pid) => format!("/proc/{pid}/{file}"),
        None => format!("/proc/self/{file}"),
    }
}

/// User plus system CPU time of a whole process (all its threads) in clock ticks, from fields
/// 14 (`utime`) and 15 (`stime`) of `/proc/PID/stat`; `None` reads the calling process.
pub fn cpu_ticks(pid: Option<u32>) -> io::Result<u64> {
    let stat = fs::read_to_string(path(pid, "stat"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| io::Error::other("unexpected /proc/PID/stat format"))
}

/// The `utime + stime` of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may contain spaces, so fields are counted after the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After ")" comes field 3 (state); utime is field 14, i.e. the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident set size in bytes (`VmRSS` of `/proc/PID/status`); `None` reads the calling
/// process.
pub fn rss_bytes(pid: Option<u32>) -> io::Result<u64> {
    let status = fs::read_to_string(path(pid, "status"))?;
    parse_rss(&status).ok_or_else(|| io::Error::other("no VmRSS in /proc/PID/status"))
}

/// The `VmRSS` of a `/proc/PID/status` text, in bytes.
pub fn parse_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let stat = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 37 0 0 20 0 1";
        assert_eq!(parse_cpu_ticks(stat), Some(287));
    }

    #[test]
    fn status_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    1200 kB\nThreads:\t1\n";
        assert_eq!(parse_rss(status), Some(1200 * 1024));
    }

    #[test]
    fn own_process_is_readable() {
        assert!(rss_bytes(None).unwrap() > 0);
        cpu_ticks(None).unwrap();
    }
}
