//! `instrument-meter`: analyse audio files or show a model's metadata. (The benchmark is
//! `cargo bench --bench pipeline`.)

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use instrument_meter::analysis::{DetectorConfig, Smoothing, ThresholdOverride};
use instrument_meter::model::{ModelError, ModelRunner, SessionConfig};
use instrument_meter::offline::OfflineAnalyzer;
use instrument_meter::AnalysisConfig;

#[derive(Parser)]
#[command(
    name = "instrument-meter",
    version,
    about = "Which instruments are playing, from the raw waveform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    /// Detected instruments and a per-second timeline, for people.
    Table,
    /// JSON Lines: one object per file.
    Json,
    /// One row per window: file,start_s,end_s,<one column per class>.
    Csv,
}

#[derive(clap::Args)]
struct ModelArgs {
    /// ONNX model file (default: the model embedded in this build).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse audio files (WAV, FLAC, MP3, Ogg Vorbis; any rate 8-192 kHz, any channel count).
    Analyze {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Seconds between analysis windows.
        #[arg(long, value_name = "S", default_value_t = 0.5)]
        hop: f64,
        /// One detection threshold for every class (replaces the model's per-class thresholds).
        #[arg(long, value_name = "T", conflicts_with = "threshold_offset")]
        threshold: Option<f32>,
        /// Added to each of the model's per-class thresholds, clamped to [0.01, 0.99] (e.g. -0.1
        /// detects more; the plugin's sensitivity S is the offset -S).
        #[arg(long, value_name = "D", allow_hyphen_values = true)]
        threshold_offset: Option<f32>,
        /// Rise time constant of the per-window detection's smoothing, milliseconds.
        #[arg(long, value_name = "MS", default_value_t = Smoothing::default().attack_ms)]
        attack_ms: f32,
        /// Fall time constant of the per-window detection's smoothing, milliseconds.
        #[arg(long, value_name = "MS", default_value_t = Smoothing::default().release_ms)]
        release_ms: f32,
        /// An active class (per window) turns off below its threshold minus this.
        #[arg(long, value_name = "H", default_value_t = Smoothing::default().hysteresis)]
        hysteresis: f32,
        /// Windows per inference call (4 measured fastest on one core; larger batches cost memory).
        #[arg(long, value_name = "N", default_value_t = 4)]
        batch: usize,
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Print the model's metadata (labels, rate, window, thresholds, metrics).
    Info {
        #[command(flatten)]
        model: ModelArgs,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Loads `--model` or the embedded model; the error message names the model file.
fn load_model(args: &ModelArgs) -> Result<ModelRunner, String> {
    let config = SessionConfig {
        intra_threads: args.threads as usize,
    };
    match &args.model {
        Some(path) => ModelRunner::from_file(path, &config).map_err(|e| match e {
            // These already name the file, or are not about it.
            ModelError::Io { .. } | ModelError::Runtime(_) => e.to_string(),
            e => format!("model {}: {e}", path.display()),
        }),
        None => ModelRunner::default_model(&config).map_err(|e| e.to_string()),
    }
}

/// When set, the process prints its peak resident memory to stderr at exit (the benches and the
/// long-input test read it).
const PEAK_MEM_ENV: &str = "INSTRUMENT_METER_REPORT_PEAK_MEM";

fn main() -> ExitCode {
    // Exit quietly when stdout is a closed pipe (`instrument-meter info | head`), like other CLI
    // tools, instead of panicking in println!.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let code = run(Cli::parse());
    if std::env::var_os(PEAK_MEM_ENV).is_some() {
        if let Some(k) = instrument_meter::memory::peak_rss_kib() {
            eprintln!("peak_memory_kib={k}");
        }
    }
    code
}

fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Analyze {
            files,
            format,
            hop,
            threshold,
            threshold_offset,
            attack_ms,
            release_ms,
            hysteresis,
            batch,
            model,
        } => {
            if !(hop.is_finite() && hop > 0.0) {
                eprintln!("error: --hop must be a positive number of seconds");
                return ExitCode::from(2);
            }
            let overrides = match (threshold, threshold_offset) {
                (Some(t), _) if !(0.0..=1.0).contains(&t) => {
                    eprintln!("error: --threshold must be between 0 and 1");
                    return ExitCode::from(2);
                }
                (Some(t), _) => ThresholdOverride::Global(t),
                (None, Some(d)) => ThresholdOverride::Offset(d),
                (None, None) => ThresholdOverride::Model,
            };
            if ![attack_ms, release_ms, hysteresis]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
            {
                eprintln!("error: --attack-ms, --release-ms and --hysteresis must be >= 0");
                return ExitCode::from(2);
            }
            let smoothing = Smoothing {
                hop_s: hop,
                attack_ms,
                release_ms,
                hysteresis,
            };
            let runner = match load_model(&model) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let config = AnalysisConfig {
                hop_s: hop,
                max_batch: batch.max(1),
                ..AnalysisConfig::default()
            };
            let detection = DetectorConfig::new(&runner.info().thresholds, overrides, smoothing);
            let offline = match OfflineAnalyzer::new(runner, config) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let failures = cli::analyze::run(
                offline,
                &files,
                format_kind(format),
                &detection,
                std::io::stderr().is_terminal(),
            );
            if failures > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Info { model, json } => match load_model(&model) {
            Ok(runner) => {
                cli::info::print(&runner, json);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn format_kind(f: Format) -> cli::analyze::OutputFormat {
    match f {
        Format::Table => cli::analyze::OutputFormat::Table,
        Format::Json => cli::analyze::OutputFormat::Json,
        Format::Csv => cli::analyze::OutputFormat::Csv,
    }
}
