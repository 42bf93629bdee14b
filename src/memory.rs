//! Peak resident memory of this process: the CLI reports it when `INSTRUMENT_METER_REPORT_PEAK_MEM`
//! is set (the long-input test and the benchmarks read it), the pipeline bench prints its own.

/// Peak resident memory of this process in KiB (Linux), from /proc/self/status.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}
