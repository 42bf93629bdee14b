//! `instrument-meter`: analyse audio files or show a model's metadata. (The benchmark is
//! `cargo bench --bench pipeline`.)

mod cli;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use instrument_meter::analysis::{Smoothing, ThresholdOverride};
use instrument_meter::export::midi::MidiOptions;
use instrument_meter::midi_map;
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
        /// Audio files, and folders searched recursively for audio files.
        #[arg(value_name = "FILE|DIR", required_unless_present = "files_from")]
        files: Vec<PathBuf>,
        /// Read more paths (files or folders) from FILE, one per line; `-` reads standard input.
        #[arg(long, value_name = "FILE")]
        files_from: Option<PathBuf>,
        /// Printed to stdout [default: table; nothing with --output-dir].
        #[arg(long, value_enum)]
        format: Option<Format>,
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
        /// Files analysed in parallel, each by its own model session [default: number of cores].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        jobs: Option<u16>,
        /// Write each input's results under DIR, mirroring the input tree (`DIR/<path>.json`,
        /// and `.mid`, `.txt`, `.png` for the exports asked for).
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// With --output-dir: skip inputs whose result files all exist (resumes a stopped run).
        #[arg(long)]
        skip_existing: bool,
        /// Result files: json, midi (CC lanes), audacity (label track), png (timeline picture).
        /// KIND=FILE for one input; KIND alone with --output-dir. Repeatable.
        #[arg(long, value_name = "KIND[=FILE]", value_parser = cli::outputs::parse_export)]
        export: Vec<cli::outputs::ExportSpec>,
        /// MIDI export: also a note per detected segment (key = first note + instrument index).
        #[arg(long)]
        midi_gates: bool,
        /// MIDI export: channel 1-16 (the plugin's default).
        #[arg(long, value_name = "N", default_value_t = midi_map::DEFAULT_CHANNEL,
              value_parser = clap::value_parser!(u8).range(1..=16))]
        midi_channel: u8,
        /// MIDI export: CC number of the first instrument (the plugin's default).
        #[arg(long, value_name = "CC", default_value_t = midi_map::DEFAULT_FIRST_CC,
              value_parser = clap::value_parser!(u8).range(0..=127))]
        first_cc: u8,
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
            files_from,
            format,
            hop,
            threshold,
            threshold_offset,
            attack_ms,
            release_ms,
            hysteresis,
            batch,
            jobs,
            output_dir,
            skip_existing,
            export,
            midi_gates,
            midi_channel,
            first_cc,
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
            let config = AnalysisConfig {
                hop_s: hop,
                max_batch: batch.max(1),
                ..AnalysisConfig::default()
            };
            let load = || {
                let runner = load_model(&model)?;
                OfflineAnalyzer::new(runner, config).map_err(|e| e.to_string())
            };
            let format = match (format, &output_dir) {
                (Some(f), _) => Some(format_kind(f)),
                (None, Some(_)) => None,
                (None, None) => Some(cli::analyze::OutputFormat::Table),
            };
            let request = cli::batch::Request {
                paths: files,
                files_from,
                format,
                overrides,
                smoothing,
                jobs: jobs.map_or_else(default_jobs, usize::from),
                output_dir,
                exports: export,
                skip_existing,
                midi: MidiOptions {
                    channel: midi_channel,
                    first_cc,
                    gates: midi_gates,
                    ..MidiOptions::default()
                },
                progress: std::io::stderr().is_terminal(),
            };
            match cli::batch::run(request, &load) {
                cli::batch::Outcome::Ok => ExitCode::SUCCESS,
                cli::batch::Outcome::SomeFailed => ExitCode::from(1),
                cli::batch::Outcome::Unusable => ExitCode::from(2),
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

/// One job per core (each model session runs one intra-op thread by default).
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn format_kind(f: Format) -> cli::analyze::OutputFormat {
    match f {
        Format::Table => cli::analyze::OutputFormat::Table,
        Format::Json => cli::analyze::OutputFormat::Json,
        Format::Csv => cli::analyze::OutputFormat::Csv,
    }
}
