//! `instrument-meter analyze` on a long file: wall time and peak memory of the CLI process.
//!
//! `cargo bench --bench long_file [-- --seconds N]` writes an N-second (default 1 h) 44.1 kHz
//! stereo 16-bit WAV to a temporary folder, streamed (no buffer holds it), and analyses it with
//! the embedded default model in a fresh process that reports its own peak resident memory
//! (VmHWM); a 60-s file is the baseline. Prints figures; asserts nothing.
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::{reported_peak_kib, stream_wav};

const RATE: u32 = 44_100;

fn seconds_arg() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--seconds takes a whole number"))
        .unwrap_or(3600)
}

/// Analyses `wav` in `format`; prints and returns (wall s, peak MiB).
fn measure(wav: &Path, seconds: u64, format: &str) -> (f64, f64) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .env("INSTRUMENT_METER_REPORT_PEAK_MEM", "1")
        .args(["analyze", "--format", format])
        .arg(wav)
        .output()
        .expect("binary runs");
    let wall = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak = reported_peak_kib(&out) as f64 / 1024.0;
    println!(
        "  {seconds:>6} s, --format {format:<5}: {wall:6.1} s wall ({:4.0}x real time), peak memory {peak:6.1} MiB, output {:.1} MB",
        seconds as f64 / wall,
        out.stdout.len() as f64 / 1e6
    );
    (wall, peak)
}

fn main() {
    if instrument_meter::model::DEFAULT_MODEL.is_none() {
        println!("long_file: skipped (this build has no embedded default model)");
        return;
    }
    let seconds = seconds_arg();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "instrument-meter analyze on a long file ({RATE} Hz stereo 16-bit WAV, default model, hop 0.5 s, batch 4, 1 thread)"
    );
    let mut peaks = Vec::new();
    for s in [60, seconds] {
        let wav = dir.path().join(format!("{s}s.wav"));
        let mut f = std::io::BufWriter::new(std::fs::File::create(&wav).unwrap());
        stream_wav(&mut f, s, RATE, 2).unwrap();
        drop(f);
        println!(
            "  file: {s} s, {:.0} MB",
            std::fs::metadata(&wav).unwrap().len() as f64 / 1e6
        );
        for format in ["table", "json"] {
            peaks.push((s, format, measure(&wav, s, format).1));
        }
        std::fs::remove_file(&wav).unwrap();
    }
    let (short_table, long_table) = (peaks[0].2, peaks[2].2);
    println!(
        "peak memory growth from 60 s to {seconds} s (table): {:+.1} MiB; the decoded audio alone would be {:.0} MiB as f32",
        long_table - short_table,
        (seconds * RATE as u64 * 2 * 4) as f64 / (1 << 20) as f64
    );
}
