//! `analyze` over many files: inputs expanded, checked and planned before any analysis; `--jobs`
//! worker threads each with their own model session; results written to `--output-dir` and
//! printed in input order as they complete; a progress bar on a terminal.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use instrument_meter::analysis::{detect_segments, DetectorConfig, Smoothing, ThresholdOverride};
use instrument_meter::export::{audacity, midi, picture, Timeline};
use instrument_meter::model::ModelInfo;
use instrument_meter::offline::OfflineAnalyzer;

use super::analyze::{csv_header, csv_rows, json_line, table, OutputFormat};
use super::inputs::{self, Input};
use super::outputs::{self, ExportSpec, Kind};

/// Everything `analyze` was asked to do.
pub struct Request {
    pub paths: Vec<PathBuf>,
    pub files_from: Option<PathBuf>,
    /// What goes to stdout (None: nothing).
    pub format: Option<OutputFormat>,
    pub overrides: ThresholdOverride,
    /// The detector's time behaviour (the plugin's defaults unless set).
    pub smoothing: Smoothing,
    pub jobs: usize,
    pub output_dir: Option<PathBuf>,
    pub exports: Vec<ExportSpec>,
    pub skip_existing: bool,
    pub midi: midi::MidiOptions,
    /// Show a progress bar (stderr is a terminal).
    pub progress: bool,
}

/// How `analyze` ended.
pub enum Outcome {
    /// Every file analysed and written.
    Ok,
    /// Some files failed (each reported); the others were done.
    SomeFailed,
    /// Nothing analysed: bad arguments, output folder or model (reported).
    Unusable,
}

/// Where one input's result files go.
type Targets = Vec<(Kind, PathBuf)>;

/// Runs a request. `load` makes one analyser (model session) per worker.
pub fn run(req: Request, load: &dyn Fn() -> Result<OfflineAnalyzer, String>) -> Outcome {
    let mut paths = req.paths.clone();
    if let Some(list) = &req.files_from {
        match inputs::read_list(list) {
            Ok(p) => paths.extend(p),
            Err(e) => return unusable(&e),
        }
    }
    if paths.is_empty() {
        return unusable("no input files (give FILE or DIR arguments, or --files-from)");
    }
    let found = inputs::collect(&paths);
    for w in &found.warnings {
        eprintln!("warning: {w}");
    }
    let mut failures = found.errors.len();
    for e in &found.errors {
        eprintln!("error: {e}");
    }
    let targets = match plan(&req, &found.files) {
        Ok(t) => t,
        Err(e) => return unusable(&e),
    };
    if let Some(dir) = &req.output_dir {
        let removed = outputs::remove_stale_parts(dir);
        if removed > 0 {
            eprintln!(
                "removed {removed} temporary files left in {} by an interrupted run",
                dir.display()
            );
        }
    }
    let mut work: Vec<(Input, Targets)> = found.files.into_iter().zip(targets).collect();
    if req.skip_existing {
        let before = work.len();
        work.retain(|(_, t)| !t.iter().all(|(_, p)| p.is_file()));
        if before > work.len() {
            eprintln!(
                "skipped {} of {before} files whose results exist",
                before - work.len()
            );
        }
    }
    if work.is_empty() {
        // Nothing left to do (all skipped, or only bad inputs): no model needed.
        if failures == 0 && !req.skip_existing {
            eprintln!("warning: no audio files found");
        }
        return outcome(failures);
    }
    let jobs = req.jobs.clamp(1, work.len());
    // One file at a time with a core to spare: decode on a second thread, overlapped with the
    // model. With several jobs every core already runs a model, so no extra thread.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let decode_thread = jobs == 1 && cores > 1;
    let mut analyzers = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        match load() {
            Ok(mut a) => {
                a.set_decode_thread(decode_thread);
                analyzers.push(a);
            }
            Err(e) => return unusable(&e),
        }
    }
    failures += analyze_all(&req, analyzers, work);
    outcome(failures)
}

fn outcome(failures: usize) -> Outcome {
    if failures > 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Ok
    }
}

fn unusable(e: &str) -> Outcome {
    eprintln!("error: {e}");
    Outcome::Unusable
}

/// Checks the export options against the inputs and the output folder, and lists every input's
/// result files. Fails before any analysis when results could not be written.
fn plan(req: &Request, files: &[Input]) -> Result<Vec<Targets>, String> {
    let Some(dir) = &req.output_dir else {
        if req.skip_existing {
            return Err("--skip-existing needs --output-dir".into());
        }
        if let Some(e) = req.exports.iter().find(|e| e.path.is_none()) {
            let k = e.kind.name();
            return Err(format!(
                "--export {k} needs a path (--export {k}=FILE) or --output-dir"
            ));
        }
        if !req.exports.is_empty() && files.len() != 1 {
            return Err(format!(
                "--export KIND=FILE takes one input file, not {}; use --output-dir DIR with \
                 --export KIND for several",
                files.len()
            ));
        }
        let targets: Targets = req
            .exports
            .iter()
            .map(|e| (e.kind, e.path.clone().expect("checked above")))
            .collect();
        for (kind, path) in &targets {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            let what = format!("--export {}={}", kind.name(), path.display());
            outputs::check_writable(parent.unwrap_or(Path::new(".")), &what)?;
        }
        return Ok(files.iter().map(|_| targets.clone()).collect());
    };
    if let Some(e) = req.exports.iter().find(|e| e.path.is_some()) {
        return Err(format!(
            "with --output-dir, give --export {} without a path: each input's file is named after it",
            e.kind.name()
        ));
    }
    outputs::check_writable(dir, &format!("--output-dir {}", dir.display()))?;
    // Each kind once, whatever the order and repetition of --export; the JSON result by default.
    let asked = |k: Kind| req.exports.iter().any(|e| e.kind == k);
    let mut kinds: Vec<Kind> = Kind::ALL.into_iter().filter(|&k| asked(k)).collect();
    if kinds.is_empty() {
        kinds.push(Kind::Json);
    }
    // Two inputs must not share a result file (the same name found in two folders given).
    let mut owner: BTreeMap<&Path, &Path> = BTreeMap::new();
    for f in files {
        if let Some(first) = owner.insert(&f.rel, &f.path) {
            return Err(format!(
                "{} and {} would write the same results ({} under --output-dir)",
                first.display(),
                f.path.display(),
                f.rel.display()
            ));
        }
    }
    Ok(files
        .iter()
        .map(|f| {
            kinds
                .iter()
                .map(|&k| (k, outputs::target(dir, &f.rel, k)))
                .collect()
        })
        .collect())
}

/// What is shared, read-only, by the workers.
struct Context {
    info: Arc<ModelInfo>,
    detection: DetectorConfig,
    format: Option<OutputFormat>,
    midi: midi::MidiOptions,
}

/// One file's outcome, printed when its turn in input order comes.
struct Report {
    stdout: String,
    /// Complete stderr lines (`error: …`, `warning: …`).
    messages: Vec<String>,
    failed: bool,
    audio_s: f64,
}

impl Report {
    fn failed(message: String) -> Report {
        Report {
            stdout: String::new(),
            messages: vec![format!("error: {message}")],
            failed: true,
            audio_s: 0.0,
        }
    }
}

/// Results may run this far ahead of the oldest unfinished file (per worker) before workers wait:
/// output stays in input order with bounded memory.
const AHEAD_PER_JOB: usize = 32;

fn analyze_all(
    req: &Request,
    analyzers: Vec<OfflineAnalyzer>,
    work: Vec<(Input, Targets)>,
) -> usize {
    let info = analyzers[0].analyzer().info().clone();
    let ctx = Arc::new(Context {
        detection: DetectorConfig::new(&info.thresholds, req.overrides, req.smoothing),
        info,
        format: req.format,
        midi: req.midi,
    });
    let total = work.len();
    let work = Arc::new(work);
    let bar = progress_bar(req.progress, total);
    let mut out = std::io::stdout().lock();
    if req.format == Some(OutputFormat::Csv) {
        print(&bar, &mut out, &csv_header(&ctx.info.labels));
    }

    let (job_tx, job_rx) = mpsc::channel::<usize>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<(usize, Report)>();
    let ahead = AHEAD_PER_JOB * analyzers.len();
    let workers: Vec<_> = analyzers
        .into_iter()
        .map(|mut offline| {
            let (job_rx, done_tx, work, ctx) =
                (job_rx.clone(), done_tx.clone(), work.clone(), ctx.clone());
            std::thread::spawn(move || loop {
                // The lock is held only while taking the next index.
                let Ok(i) = job_rx
                    .lock()
                    .map(|rx| rx.recv())
                    .unwrap_or(Err(mpsc::RecvError))
                else {
                    return;
                };
                let (input, targets) = &work[i];
                // A panic on one file is that file's failure: the worker reports it and stops
                // (its analyser may be half-updated), so the in-order output never waits for it.
                let run = || process(&mut offline, input, targets, &ctx);
                let (report, alive) = match std::panic::catch_unwind(AssertUnwindSafe(run)) {
                    Ok(r) => (r, true),
                    Err(_) => (
                        Report::failed(format!("{}: internal error", input.path.display())),
                        false,
                    ),
                };
                if done_tx.send((i, report)).is_err() || !alive {
                    return;
                }
            })
        })
        .collect();
    drop(done_tx);

    let started = Instant::now();
    let (mut sent, mut next, mut failures, mut audio_s) = (0, 0, 0, 0.0);
    let mut finished: BTreeMap<usize, Report> = BTreeMap::new();
    while next < total {
        while sent < total && sent < next + ahead {
            let _ = job_tx.send(sent);
            sent += 1;
        }
        let Ok((i, report)) = done_rx.recv() else {
            break; // every worker is gone: the rest are counted below
        };
        audio_s += report.audio_s;
        bar.inc(1);
        bar.set_message(speed(audio_s, started.elapsed().as_secs_f64()));
        finished.insert(i, report);
        while let Some(r) = finished.remove(&next) {
            next += 1;
            failures += usize::from(r.failed);
            bar.suspend(|| {
                for m in &r.messages {
                    eprintln!("{m}");
                }
            });
            print(&bar, &mut out, &r.stdout);
        }
    }
    drop(job_tx);
    for w in workers {
        let _ = w.join();
    }
    bar.finish_and_clear();
    if next < total {
        eprintln!(
            "error: {} files not analysed (a worker stopped)",
            total - next
        );
        failures += total - next;
    }
    failures
}

fn print(bar: &ProgressBar, out: &mut impl std::io::Write, text: &str) {
    if !text.is_empty() {
        bar.suspend(|| {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        });
    }
}

fn progress_bar(show: bool, files: usize) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(files as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} files  {msg}  {elapsed}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// "1.25 h of audio, 310× real time".
fn speed(audio_s: f64, wall_s: f64) -> String {
    format!(
        "{:.2} h of audio, {:.0}× real time",
        audio_s / 3600.0,
        audio_s / wall_s.max(1e-9)
    )
}

/// Analyses one file and writes its results.
fn process(
    offline: &mut OfflineAnalyzer,
    input: &Input,
    targets: &Targets,
    ctx: &Context,
) -> Report {
    let a = match offline.analyze_file(&input.path, |_| {}) {
        Ok(a) => a,
        Err(e) => return Report::failed(e.to_string()),
    };
    let mut messages = Vec::new();
    if let Some(t) = &a.truncated {
        messages.push(format!("warning: {}: {t}", a.path.display()));
    }
    let detection = detect_segments(&a.windows, a.duration_s, &ctx.info.labels, &ctx.detection);
    let json = || json_line(&a, &ctx.info, &ctx.detection, &detection.segments);
    let stdout = match ctx.format {
        Some(OutputFormat::Json) => json(),
        Some(OutputFormat::Csv) => csv_rows(&a),
        Some(OutputFormat::Table) => table(
            &a,
            &ctx.info,
            &ctx.detection.thresholds,
            &detection.segments,
        ),
        None => String::new(),
    };
    let timeline = Timeline {
        analysis: &a,
        info: &ctx.info,
        detection: &detection,
    };
    let mut failed = false;
    for (kind, path) in targets {
        let bytes = match kind {
            Kind::Json if ctx.format == Some(OutputFormat::Json) => Ok(stdout.clone().into_bytes()),
            Kind::Json => Ok(json().into_bytes()),
            Kind::Midi => Ok(midi::midi_file(&timeline, &ctx.midi)),
            Kind::Audacity => Ok(audacity::labels(&timeline).into_bytes()),
            Kind::Png => picture::render(&timeline).map(|p| p.png),
        };
        if let Err(e) = bytes.and_then(|b| outputs::write_atomic(path, &b)) {
            messages.push(format!("error: {}: {e}", a.path.display()));
            failed = true;
        }
    }
    Report {
        stdout,
        messages,
        failed,
        audio_s: a.duration_s,
    }
}
