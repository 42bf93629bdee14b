//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use instrument_meter::model::{ModelRunner, SessionConfig};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Runs `instrument-meter analyze ARGS...` and waits for it.
pub fn analyze(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .arg("analyze")
        .args(args)
        .output()
        .expect("binary runs")
}

pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The JSON Lines of a `--format json` run, one value per line.
pub fn json_lines(o: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

pub fn runner(rel: &str) -> ModelRunner {
    ModelRunner::from_file(&fixture(rel), &SessionConfig::default()).expect("fixture model loads")
}

/// Sample encodings for test WAV files.
#[derive(Clone, Copy)]
pub enum WavFormat {
    Pcm16,
    Float32,
}

/// Writes interleaved `samples` as a WAV file.
pub fn write_wav(path: &Path, samples: &[f32], channels: u16, rate: u32, format: WavFormat) {
    let (fmt_tag, bytes_per): (u16, u16) = match format {
        WavFormat::Pcm16 => (1, 2),
        WavFormat::Float32 => (3, 4),
    };
    let data_len = samples.len() as u32 * bytes_per as u32;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(b"RIFF").unwrap();
    f.write_all(&(36 + data_len).to_le_bytes()).unwrap();
    f.write_all(b"WAVEfmt ").unwrap();
    f.write_all(&16u32.to_le_bytes()).unwrap();
    f.write_all(&fmt_tag.to_le_bytes()).unwrap();
    f.write_all(&channels.to_le_bytes()).unwrap();
    f.write_all(&rate.to_le_bytes()).unwrap();
    f.write_all(&(rate * channels as u32 * bytes_per as u32).to_le_bytes())
        .unwrap();
    f.write_all(&(channels * bytes_per).to_le_bytes()).unwrap();
    f.write_all(&(bytes_per * 8).to_le_bytes()).unwrap();
    f.write_all(b"data").unwrap();
    f.write_all(&data_len.to_le_bytes()).unwrap();
    for &x in samples {
        match format {
            WavFormat::Pcm16 => f
                .write_all(&((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
                .unwrap(),
            WavFormat::Float32 => f.write_all(&x.to_le_bytes()).unwrap(),
        }
    }
    f.flush().unwrap();
}

/// A deterministic harmonic test signal, `channels` interleaved, each channel slightly different.
pub fn tones(seconds: f64, rate: u32, channels: usize) -> Vec<f32> {
    let n = (seconds * rate as f64) as usize;
    let mut out = Vec::with_capacity(n * channels);
    for i in 0..n {
        let t = i as f64 / rate as f64;
        let f = [220.0, 330.0, 262.0, 392.0][(t * 2.0) as usize % 4];
        for c in 0..channels {
            let mut x = 0.0;
            for h in 1..5 {
                x += (2.0 * std::f64::consts::PI * f * h as f64 * t + c as f64).sin() / h as f64;
            }
            out.push((0.2 * x * (1.0 - 0.1 * c as f64)) as f32);
        }
    }
    out
}

/// Tiny deterministic PRNG (no dev-dependency needed).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes a 16-bit PCM WAV of `seconds` of [`tones`] to `w` without holding it in memory: one
/// 2-s period is rendered once and repeated (the analysis still sees every sample).
pub fn stream_wav(
    w: &mut impl Write,
    seconds: u64,
    rate: u32,
    channels: u16,
) -> std::io::Result<()> {
    let frames = seconds * rate as u64;
    let data_len = frames * channels as u64 * 2;
    let data_len = u32::try_from(data_len).expect("WAV data must stay under 4 GiB");
    w.write_all(b"RIFF")?;
    w.write_all(&(36 + data_len).to_le_bytes())?;
    w.write_all(b"WAVEfmt ")?;
    w.write_all(&16u32.to_le_bytes())?;
    w.write_all(&1u16.to_le_bytes())?;
    w.write_all(&channels.to_le_bytes())?;
    w.write_all(&rate.to_le_bytes())?;
    w.write_all(&(rate * channels as u32 * 2).to_le_bytes())?;
    w.write_all(&(channels * 2).to_le_bytes())?;
    w.write_all(&16u16.to_le_bytes())?;
    w.write_all(b"data")?;
    w.write_all(&data_len.to_le_bytes())?;
    let period: Vec<u8> = tones(2.0, rate, channels as usize)
        .iter()
        .flat_map(|&x| ((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut left = data_len as usize;
    while left > 0 {
        let n = left.min(period.len());
        w.write_all(&period[..n])?;
        left -= n;
    }
    w.flush()
}

/// `instrument-meter analyze` of `seconds` of audio streamed through a pipe (`/dev/stdin`).
/// Returns the output and the process's peak resident memory in KiB (its own VmHWM).
pub fn analyze_streamed(
    bin: &Path,
    model: &Path,
    seconds: u64,
    rate: u32,
    channels: u16,
    extra: &[&str],
) -> (std::process::Output, u64) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .env("INSTRUMENT_METER_REPORT_PEAK_MEM", "1")
        .arg("analyze")
        .arg("--model")
        .arg(model)
        .args(extra)
        .arg("/dev/stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut stdin = std::io::BufWriter::with_capacity(1 << 20, child.stdin.take().unwrap());
    let writer = std::thread::spawn(move || stream_wav(&mut stdin, seconds, rate, channels));
    let out = child.wait_with_output().unwrap();
    writer
        .join()
        .unwrap()
        .expect("the analyser reads the whole stream");
    let peak = reported_peak_kib(&out);
    (out, peak)
}

/// The peak memory a binary run with `INSTRUMENT_METER_REPORT_PEAK_MEM` printed to stderr, KiB.
pub fn reported_peak_kib(out: &std::process::Output) -> u64 {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("peak_memory_kib=")?.parse().ok())
        .expect("the binary reports its peak memory")
}
