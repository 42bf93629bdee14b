//! Ten hours of audio through `instrument-meter analyze`, streamed from a pipe: decoded and
//! analysed block by block, so memory stays bounded. Ignored by a plain `cargo test` (it takes a
//! while); scripts/test.sh runs it with `--ignored`.
mod common;

use common::{analyze_streamed, fixture};

const TEN_HOURS: u64 = 10 * 3600;

#[test]
#[ignore = "analyses 10 h of audio; run by scripts/test.sh"]
fn ten_hours_from_a_pipe_with_bounded_memory() {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_instrument-meter"));
    let model = fixture("models/tiny4.onnx");
    let csv = ["--format", "csv"];
    let (short, short_peak) = analyze_streamed(bin, &model, 60, 8_000, 1, &csv);
    assert!(short.status.success());
    let t = std::time::Instant::now();
    let (long, long_peak) = analyze_streamed(bin, &model, TEN_HOURS, 8_000, 1, &csv);
    let secs = t.elapsed().as_secs_f64();
    let err = String::from_utf8_lossy(&long.stderr);
    assert!(long.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    // One CSV row per window: a window every 0.5 s over the whole 10 h.
    let stdout = String::from_utf8(long.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len() as u64, TEN_HOURS * 2 - 1);
    let last: Vec<&str> = rows.last().unwrap().split(',').collect();
    assert_eq!(
        last[2],
        format!("{}.000000", TEN_HOURS),
        "last window ends at 10 h"
    );
    println!(
        "10 h of 8 kHz mono through a pipe: {secs:.1} s wall; peak memory {:.1} MiB (60 s: {:.1} MiB)",
        long_peak as f64 / 1024.0,
        short_peak as f64 / 1024.0
    );
    // The audio alone would be 1.1 GB as f32. What may grow is the per-window results
    // (72,000 windows here), a few MiB.
    assert!(
        long_peak < short_peak + 64 * 1024,
        "peak {long_peak} KiB for 10 h vs {short_peak} KiB for 60 s: memory grows with the file"
    );
}
