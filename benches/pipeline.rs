//! `cargo bench --bench pipeline [-- OPTIONS]`: the numbers the project promises, measured on this
//! machine (a bench target, not part of the shipped CLI: it runs the repository's Python).
//!
//! Prints per-window inference latency (1 thread), whole-file analysis speed as a multiple of
//! real time, the pipeline's overhead over pure inference, peak memory, and the same analysis done
//! the usual Python way (benches/python_baseline.py, run with the project's venv).
//!
//! Then, per input (44.1 kHz and 48 kHz WAV, FLAC, MP3, Ogg Vorbis: the same synthetic music,
//! the compressed files written by the venv's `soundfile`), where the time in front of the model
//! goes (codec, sample conversion, downmix, resampling), the real-time factor, the overhead over
//! pure inference, the same with the decode thread (the CLI's one-file mode: the analysing
//! thread's CPU time, the decoding thread's, the wall clock) and the Python way on the same file.
//!
//! Options: `--model FILE` (default: the embedded model), `--seconds S` (synthetic 44.1 kHz stereo
//! WAV, 60), `--hop S` (0.5), `--batch N` (4, the CLI's default), `--runs N` (7; medians),
//! `--python PATH` (default `<repo>/.venv/bin/python`), `--no-python`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use instrument_meter::analysis::{AnalysisConfig, FrontEnd, PreparedWindow};
use instrument_meter::decode::AudioFileReader;
use instrument_meter::memory::peak_rss_kib;
use instrument_meter::model::{ModelRunner, SessionConfig, DEFAULT_MODEL};
use instrument_meter::offline::OfflineAnalyzer;

struct BenchArgs {
    model: Option<PathBuf>,
    seconds: f64,
    hop: f64,
    batch: usize,
    runs: usize,
    python: Option<PathBuf>,
    no_python: bool,
}

impl BenchArgs {
    /// Parses the options after `--` (cargo bench adds `--bench`, ignored).
    fn parse() -> Result<BenchArgs, BoxError> {
        let mut a = BenchArgs {
            model: None,
            seconds: 60.0,
            hop: 0.5,
            batch: 4,
            runs: 7,
            python: None,
            no_python: false,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--model" => a.model = Some(value()?.into()),
                "--seconds" => a.seconds = value()?.parse()?,
                "--hop" => a.hop = value()?.parse()?,
                "--batch" => a.batch = value()?.parse()?,
                "--runs" => a.runs = value()?.parse()?,
                "--python" => a.python = Some(value()?.into()),
                "--no-python" => a.no_python = true,
                "--bench" => {}
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        Ok(a)
    }
}

type BoxError = Box<dyn std::error::Error>;

/// Wall-clock, calling-thread CPU and whole-process CPU time. The thread's CPU time is what a
/// free core would need: on a busy shared machine wall time includes waiting for a core, CPU time
/// does not. ONNX Runtime with one intra-op thread computes on the calling thread; the process
/// time shows that nothing ran elsewhere (it would exceed the thread time if it had).
struct Clock {
    wall: Instant,
    thread: f64,
    process: f64,
}

/// One measurement: seconds of wall clock, thread CPU and process CPU.
#[derive(Clone, Copy)]
struct Times {
    wall: f64,
    cpu: f64,
    process: f64,
}

fn cpu_clock_s(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct we pass.
    if unsafe { libc::clock_gettime(clock, &mut ts) } == 0 {
        return ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
    }
    f64::NAN
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            thread: cpu_clock_s(libc::CLOCK_THREAD_CPUTIME_ID),
            process: cpu_clock_s(libc::CLOCK_PROCESS_CPUTIME_ID),
        }
    }

    fn stop(&self) -> Times {
        Times {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu: cpu_clock_s(libc::CLOCK_THREAD_CPUTIME_ID) - self.thread,
            process: cpu_clock_s(libc::CLOCK_PROCESS_CPUTIME_ID) - self.process,
        }
    }
}

/// Medians of each time, taken separately.
fn median(v: &[Times]) -> Times {
    let med = |f: fn(&Times) -> f64| {
        let mut x: Vec<f64> = v.iter().map(f).collect();
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    Times {
        wall: med(|t| t.wall),
        cpu: med(|t| t.cpu),
        process: med(|t| t.process),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Deterministic music-like test signal: a few harmonic notes per second plus a little noise.
fn synth(seconds: f64, rate: u32) -> Vec<[f32; 2]> {
    let n = (seconds * rate as f64) as usize;
    let mut seed: u32 = 0x1234_5678;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    let notes = [220.0f32, 261.6, 329.6, 392.0, 440.0, 523.3, 293.7, 349.2];
    (0..n)
        .map(|i| {
            let t = i as f32 / rate as f32;
            let k = (t * 2.0) as usize;
            let f = notes[k % notes.len()];
            let env = (-(t * 2.0).fract() * 3.0).exp();
            let mut x = 0.0;
            for h in 1..6 {
                x += (2.0 * std::f32::consts::PI * f * h as f32 * t).sin() / h as f32;
            }
            let l = 0.2 * env * x + 0.01 * noise();
            [l, 0.9 * l + 0.01 * noise()]
        })
        .collect()
}

fn write_wav(path: &Path, frames: &[[f32; 2]], rate: u32) -> std::io::Result<()> {
    let data_len = (frames.len() * 4) as u32;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"RIFF")?;
    f.write_all(&(36 + data_len).to_le_bytes())?;
    f.write_all(b"WAVEfmt ")?;
    f.write_all(&16u32.to_le_bytes())?;
    f.write_all(&1u16.to_le_bytes())?;
    f.write_all(&2u16.to_le_bytes())?;
    f.write_all(&rate.to_le_bytes())?;
    f.write_all(&(rate * 4).to_le_bytes())?;
    f.write_all(&4u16.to_le_bytes())?;
    f.write_all(&16u16.to_le_bytes())?;
    f.write_all(b"data")?;
    f.write_all(&data_len.to_le_bytes())?;
    for fr in frames {
        for &x in fr {
            f.write_all(&((x.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes())?;
        }
    }
    f.flush()
}

fn main() {
    if let Err(e) = BenchArgs::parse().and_then(|a| run(&a)) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run(args: &BenchArgs) -> Result<(), BoxError> {
    let session = SessionConfig { intra_threads: 1 };
    let load = || -> Result<ModelRunner, BoxError> {
        Ok(match &args.model {
            Some(p) => ModelRunner::from_file(p, &session)?,
            None => ModelRunner::default_model(&session)?,
        })
    };
    let mut runner = load()?;
    let info = runner.info().clone();
    let rate = 44_100;
    let dir = std::env::temp_dir().join(format!("instrument-meter-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let wav = dir.join("bench.wav");
    let frames = synth(args.seconds, rate);
    write_wav(&wav, &frames, rate)?;
    let model_path = match &args.model {
        Some(p) => p.clone(),
        None => {
            let p = dir.join("model.onnx");
            std::fs::write(&p, DEFAULT_MODEL.ok_or("no embedded model")?)?;
            p
        }
    };

    println!("instrument-meter pipeline bench");
    println!(
        "  model:    {} ({} classes, {} Hz, {}-sample windows)",
        info.display_name(),
        info.num_classes(),
        info.sample_rate,
        info.window_samples
    );
    println!(
        "  audio:    {:.0} s synthetic, {rate} Hz stereo 16-bit WAV; hop {} s; 1 intra-op thread",
        args.seconds, args.hop
    );
    // Other processes on the machine slow every figure down; say how busy it was.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "  machine:  {} CPUs, load average {} (1, 5, 15 min) at the start",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load.join(" ")
        );
    }
    if let Ok(rt) = instrument_meter::runtime::runtime() {
        println!(
            "  runtime:  ONNX Runtime {} ({})",
            rt.version,
            rt.library_path.display()
        );
    }

    // Prepared model inputs, exactly as the pipeline makes them.
    let config = AnalysisConfig {
        hop_s: args.hop,
        max_batch: args.batch.max(1),
        ..AnalysisConfig::default()
    };
    let mut front = FrontEnd::new(&info, rate, &config)?;
    let mut windows: Vec<f32> = Vec::new();
    let mut n_windows = 0usize;
    let interleaved: Vec<f32> = frames.iter().flatten().copied().collect();
    let mut collect = |w: instrument_meter::analysis::PreparedWindow<'_>| {
        if !w.silent {
            windows.extend_from_slice(w.samples);
            n_windows += 1;
        }
    };
    front.push_interleaved(&interleaved, 2, &mut collect);
    front.finish(&mut collect);
    drop(interleaved);
    if n_windows == 0 {
        return Err("the test signal produced no windows".into());
    }
    let ws = info.window_samples;
    let classes = info.num_classes();

    // 1. Per-window latency, batch 1.
    let mut out = vec![0.0f32; classes];
    for i in 0..20 {
        let w = i % n_windows;
        runner.run(&windows[w * ws..(w + 1) * ws], 1, &mut out)?;
    }
    let iters = 300;
    let mut lat_wall = Vec::with_capacity(iters);
    let mut lat_cpu = Vec::with_capacity(iters);
    for i in 0..iters {
        let w = i % n_windows;
        let t = Clock::start();
        runner.run(&windows[w * ws..(w + 1) * ws], 1, &mut out)?;
        let t = t.stop();
        lat_wall.push(t.wall * 1e3);
        lat_cpu.push(t.cpu * 1e3);
    }
    lat_wall.sort_by(|a, b| a.total_cmp(b));
    lat_cpu.sort_by(|a, b| a.total_cmp(b));
    println!();
    println!("Times are wall clock [and CPU time of the analysing thread, i.e. what one free core needs].");
    println!(
        "per-window inference, batch 1, {iters} runs:  p50 {:.3} ms [{:.3}]   p99 {:.3} ms [{:.3}]   max {:.3} ms",
        percentile(&lat_wall, 0.5),
        percentile(&lat_cpu, 0.5),
        percentile(&lat_wall, 0.99),
        percentile(&lat_cpu, 0.99),
        lat_wall[lat_wall.len() - 1]
    );

    // 2. Pure inference of the file's windows, batched like the offline path; the pipeline alone
    // (decode, downmix, resample, window, normalise; no model); and the whole file end to end.
    // One repetition of each in turn, so that load from other processes hits all three alike.
    let runs = args.runs.max(1);
    let mut out = vec![0.0f32; n_windows * classes];
    let mut offline = OfflineAnalyzer::new(load()?, config)?;
    let mut front = FrontEnd::new(&info, rate, &config)?;
    let (mut t_inf, mut t_pipe, mut t_file) = (Vec::new(), Vec::new(), Vec::new());
    let mut file_windows = 0;
    for _ in 0..runs {
        let t = Clock::start();
        infer_all(&mut runner, &windows, config.max_batch, &mut out)?;
        t_inf.push(t.stop());

        let t = Clock::start();
        std::hint::black_box(pipeline_alone(&mut front, &wav)?);
        t_pipe.push(t.stop());

        let t = Clock::start();
        let a = offline.analyze_file(&wav, |_| {})?;
        t_file.push(t.stop());
        file_windows = a.windows.len();
    }
    drop(windows);
    let (t_inf, t_pipe, t_file) = (median(&t_inf), median(&t_pipe), median(&t_file));
    println!(
        "pure inference of the file's {n_windows} windows (batch {}, median of {runs}):  {:.1} ms [{:.1}]",
        config.max_batch,
        t_inf.wall * 1e3,
        t_inf.cpu * 1e3
    );
    println!(
        "pipeline alone (decode, downmix, resample, window, normalise; no model):  {:.1} ms [{:.1}]  =  {:.1}% [{:.1}%] of pure inference",
        t_pipe.wall * 1e3,
        t_pipe.cpu * 1e3,
        t_pipe.wall / t_inf.wall * 100.0,
        t_pipe.cpu / t_inf.cpu * 100.0
    );
    println!(
        "whole-file analysis ({file_windows} windows, batch {}, median of {runs}):  {:.1} ms [{:.1}]  =  {:.0}x [{:.0}x] real time",
        config.max_batch,
        t_file.wall * 1e3,
        t_file.cpu * 1e3,
        args.seconds / t_file.wall,
        args.seconds / t_file.cpu
    );
    println!(
        "pipeline overhead over pure inference (whole file / pure inference - 1):  {:+.1}% [{:+.1}%]",
        (t_file.wall / t_inf.wall - 1.0) * 100.0,
        (t_file.cpu / t_inf.cpu - 1.0) * 100.0
    );
    println!(
        "CPU time of the whole process during whole-file analysis:  {:.1} ms (the analysing thread: {:.1} ms; one core does all the work)",
        t_file.process * 1e3,
        t_file.cpu * 1e3
    );

    // Same with batch 1 (the plugin's setting).
    drop(offline);
    if config.max_batch != 1 {
        let c1 = AnalysisConfig {
            max_batch: 1,
            ..config
        };
        let mut off1 = OfflineAnalyzer::new(runner, c1)?;
        let mut t1 = Vec::new();
        for _ in 0..runs {
            let t = Clock::start();
            off1.analyze_file(&wav, |_| {})?;
            t1.push(t.stop());
        }
        let t1 = median(&t1);
        println!(
            "whole-file analysis, batch 1:  {:.1} ms [{:.1}]  =  {:.0}x [{:.0}x] real time",
            t1.wall * 1e3,
            t1.cpu * 1e3,
            args.seconds / t1.wall,
            args.seconds / t1.cpu
        );
    }
    match peak_rss_kib() {
        Some(k) => println!(
            "peak memory of this bench process (VmHWM, includes its test buffers):  {:.1} MiB",
            k as f64 / 1024.0
        ),
        None => println!("peak memory:  unavailable on this platform"),
    }
    // The CLI's own footprint: `analyze` on the same file in a fresh process, which reports its
    // own VmHWM (rusage of children would include this process's memory at fork time).
    let t = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .env("INSTRUMENT_METER_REPORT_PEAK_MEM", "1")
        .args([
            "analyze",
            "--format",
            "csv",
            "--model",
            &model_path.display().to_string(),
        ])
        .arg(&wav)
        .stdout(std::process::Stdio::null())
        .output()?;
    let child_s = t.elapsed().as_secs_f64();
    let child_kib = String::from_utf8_lossy(&child.stderr)
        .lines()
        .find_map(|l| {
            l.strip_prefix("peak_memory_kib=")
                .and_then(|v| v.parse::<u64>().ok())
        });
    match (child.status.success(), child_kib) {
        (true, Some(k)) => println!(
            "`instrument-meter analyze` on the file, fresh process:  {:.0} ms wall incl. start-up and model load;  peak memory {:.1} MiB",
            child_s * 1e3,
            k as f64 / 1024.0
        ),
        _ => println!("`instrument-meter analyze` child run failed: {}", String::from_utf8_lossy(&child.stderr).trim()),
    }

    // 4. The usual Python way, same file and model.
    let python = (!args.no_python).then(|| {
        args.python
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
    });
    if let Some(python) = &python {
        match python_baseline(python, &model_path, &wav, args.hop, runs) {
            Err(e) => println!("python baseline:  {e}"),
            Ok(py) => {
                println!(
                    "python baseline ({}; {} windows):  {:.1} ms [{:.1}]  =  {:.0}x [{:.0}x] real time",
                    py.method,
                    py.windows,
                    py.wall * 1e3,
                    py.cpu * 1e3,
                    args.seconds / py.wall,
                    args.seconds / py.cpu
                );
                println!(
                    "Rust whole-file analysis is {:.1}x [{:.1}x] faster than the Python way",
                    py.wall / t_file.wall,
                    py.cpu / t_file.cpu
                );
            }
        }
    }

    // 5. Every input format side by side.
    per_input(args, config, &model_path, &dir, python.as_deref())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The Python way's medians on one file.
struct PyResult {
    wall: f64,
    cpu: f64,
    windows: serde_json::Value,
    method: String,
}

fn python_baseline(
    python: &Path,
    model: &Path,
    audio: &Path,
    hop: f64,
    runs: usize,
) -> Result<PyResult, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/python_baseline.py");
    if !python.exists() || !script.exists() {
        return Err(format!(
            "skipped ({} or {} missing)",
            python.display(),
            script.display()
        ));
    }
    let output = Command::new(python)
        .arg(&script)
        .arg("--model")
        .arg(model)
        .arg("--audio")
        .arg(audio)
        .args([
            "--hop",
            &hop.to_string(),
            "--runs",
            &runs.min(3).to_string(),
        ])
        .output()
        .map_err(|e| format!("failed to start: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("bad output: {e}"))?;
    Ok(PyResult {
        wall: v["seconds"].as_f64().unwrap_or(f64::NAN),
        cpu: v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
        windows: v["windows"].clone(),
        method: v["method"].as_str().unwrap_or("?").to_string(),
    })
}

/// One input of the per-format table.
struct Input {
    name: &'static str,
    path: PathBuf,
}

/// Codec alone: symphonia's packet reading and decoding, no conversion of the decoded samples.
fn codec_only(path: &Path) -> Result<usize, BoxError> {
    use symphonia::core::codecs::audio::AudioDecoderOptions;
    use symphonia::core::formats::probe::Hint;
    use symphonia::core::formats::{FormatOptions, TrackType};
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    let mss = MediaSourceStream::new(Box::new(std::fs::File::open(path)?), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe().probe(
        &hint,
        mss,
        FormatOptions::default(),
        MetadataOptions::default(),
    )?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("no audio parameters")?
        .clone();
    let id = track.id;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())?;
    let mut frames = 0;
    while let Some(packet) = format.next_packet()? {
        if packet.track_id == id {
            frames += decoder.decode(&packet)?.frames();
        }
    }
    Ok(frames)
}

/// Decodes a whole file through [`AudioFileReader`] (as interleaved samples).
fn decode_all(path: &Path) -> Result<(Vec<f32>, usize, u32), BoxError> {
    let mut reader = AudioFileReader::open(path)?;
    let mut out = Vec::new();
    let mut channels = 1;
    while let Some((block, ch)) = reader.next_block()? {
        out.extend_from_slice(block);
        channels = ch;
    }
    Ok((out, channels, reader.sample_rate()))
}

/// Per input format: where the time in front of the model goes, the whole file against pure
/// inference of the same file's windows, and the Python way.
fn per_input(
    args: &BenchArgs,
    config: AnalysisConfig,
    model_path: &Path,
    dir: &Path,
    python: Option<&Path>,
) -> Result<(), BoxError> {
    use instrument_meter::analysis::downmix::downmix_interleaved;
    use instrument_meter::analysis::resample::StreamResampler;
    let session = SessionConfig { intra_threads: 1 };
    let mut runner = ModelRunner::from_file(model_path, &session)?;
    let info = runner.info().clone();
    let mut offline = OfflineAnalyzer::new(ModelRunner::from_file(model_path, &session)?, config)?;
    // The CLI's one-file-at-a-time mode: decoding on a second thread.
    let mut threaded = OfflineAnalyzer::new(ModelRunner::from_file(model_path, &session)?, config)?;
    threaded.set_decode_thread(true);
    let runs = args.runs.max(1);

    let mut inputs = vec![Input {
        name: "WAV 44.1 kHz 16-bit",
        path: dir.join("bench.wav"),
    }];
    let wav48 = dir.join("bench48.wav");
    write_wav(&wav48, &synth(args.seconds, 48_000), 48_000)?;
    inputs.push(Input {
        name: "WAV 48 kHz 16-bit",
        path: wav48,
    });
    // The compressed files, from the 44.1 kHz WAV, by libsndfile (bundled with soundfile).
    let compressed = [
        ("FLAC 44.1 kHz 16-bit", "bench.flac"),
        ("MP3 44.1 kHz (LAME VBR)", "bench.mp3"),
        ("Ogg Vorbis 44.1 kHz", "bench.ogg"),
    ];
    let made = python.map(|py| {
        Command::new(py)
            .args([
                "-c",
                // In blocks: libsndfile 1.2.2's Vorbis encoder crashes on one 60-s write.
                "import sys, soundfile as sf\n\
                 x, sr = sf.read(sys.argv[1], dtype='int16')\n\
                 for p in sys.argv[2:]:\n\
                 \x20   with sf.SoundFile(p, 'w', sr, x.shape[1]) as f:\n\
                 \x20       for i in range(0, len(x), 4096): f.write(x[i:i + 4096])",
            ])
            .arg(dir.join("bench.wav"))
            .args(compressed.iter().map(|(_, f)| dir.join(f)))
            .output()
    });
    match made {
        Some(Ok(o)) if o.status.success() => {
            for (name, file) in compressed {
                inputs.push(Input {
                    name,
                    path: dir.join(file),
                });
            }
        }
        Some(Ok(o)) => println!(
            "compressed inputs skipped: soundfile failed ({}): {}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout).trim(),
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Some(Err(e)) => println!("compressed inputs skipped: {e}"),
        None => println!("compressed inputs skipped (--no-python: soundfile writes them)"),
    }

    println!();
    println!(
        "Per input ({:.0}-s stereo file; CPU time of the analysing thread in ms, median of {runs}; batch {}):",
        args.seconds, config.max_batch
    );
    println!(
        "  decode: symphonia packet reading + decoding alone, no conversion; interleaved: \
         AudioFileReader::next_block (decoded, converted to interleaved f32: the path before \
         next_mono); downmix: of that, alone, in memory; mono: AudioFileReader::next_mono \
         (decoded, converted and mixed down in one pass: what the analysis uses); resample: \
         alone, in memory; pipeline: decode to model input, no model; inference: the file's \
         windows alone; whole: analyze_file on one thread; overhead = whole / inference - 1; \
         2 threads: analyze_file with the decode thread (the CLI with one file): CPU time of \
         the analysing thread and its overhead over inference (the wall clock when a second \
         core is free for the decoding thread), CPU time of the decoding thread, and the wall \
         clock measured here"
    );
    println!(
        "  {:<24} {:>6} {:>6} {:>7} {:>6} {:>8} {:>8} {:>9} {:>6} {:>8} {:>5} | {:>22} {:>6} {:>14}",
        "input",
        "decode",
        "inter.",
        "downmix",
        "mono",
        "resample",
        "pipeline",
        "inference",
        "whole",
        "overhead",
        "RTF",
        "2 threads: analysing",
        "decode",
        "wall (RTF)"
    );
    let mut rtf = Vec::new();
    for input in &inputs {
        let (interleaved, channels, rate) = decode_all(&input.path)?;
        // The file's model inputs, for pure inference.
        let mut front = FrontEnd::new(&info, rate, &config)?;
        let mut windows: Vec<f32> = Vec::new();
        let mut n = 0usize;
        let mut collect = |w: PreparedWindow<'_>| {
            if !w.silent {
                windows.extend_from_slice(w.samples);
                n += 1;
            }
        };
        front.push_interleaved(&interleaved, channels, &mut collect);
        front.finish(&mut collect);
        let classes = info.num_classes();
        let mut out = vec![0.0f32; n * classes];
        let mut mono = vec![0.0f32; interleaved.len() / channels];
        let mut resampler = StreamResampler::new(rate, info.sample_rate)?;
        let mut t: [Vec<Times>; 9] = Default::default();
        for _ in 0..runs {
            let c = Clock::start();
            infer_all(&mut runner, &windows, config.max_batch, &mut out)?;
            t[0].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(codec_only(&input.path)?);
            t[1].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(decoded_len(&input.path, false)?);
            t[2].push(c.stop());

            let c = Clock::start();
            for (i, o) in interleaved
                .chunks(1024 * channels)
                .zip(mono.chunks_mut(1024))
            {
                downmix_interleaved(i, channels, o);
            }
            std::hint::black_box(&mono);
            t[3].push(c.stop());

            let c = Clock::start();
            let mut acc = 0.0f32;
            for b in mono.chunks(1024) {
                resampler.push(b, &mut |o: &[f32]| acc += o[0]);
            }
            resampler.finish(&mut |o: &[f32]| acc += o[0]);
            std::hint::black_box(acc);
            t[4].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(decoded_len(&input.path, true)?);
            t[7].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(pipeline_alone(&mut front, &input.path)?);
            t[5].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(offline.analyze_file(&input.path, |_| {})?);
            t[6].push(c.stop());

            let c = Clock::start();
            std::hint::black_box(threaded.analyze_file(&input.path, |_| {})?);
            t[8].push(c.stop());
        }
        let m: Vec<Times> = t.iter().map(|v| median(v)).collect();
        let ms = |x: f64| x * 1e3;
        println!(
            "  {:<24} {:>6.1} {:>6.1} {:>7.1} {:>6.1} {:>8.1} {:>8.1} {:>9.1} {:>6.1} {:>7.1}% {:>4.0}x | {:>6.1} {:>+6.1}% ({:>4.0}x) {:>6.1} {:>7.1} ({:>4.0}x)",
            input.name,
            ms(m[1].cpu),
            ms(m[2].cpu),
            ms(m[3].cpu),
            ms(m[7].cpu),
            ms(m[4].cpu),
            ms(m[5].cpu),
            ms(m[0].cpu),
            ms(m[6].cpu),
            (m[6].cpu / m[0].cpu - 1.0) * 100.0,
            args.seconds / m[6].cpu,
            ms(m[8].cpu),
            (m[8].cpu / m[0].cpu - 1.0) * 100.0,
            args.seconds / m[8].cpu,
            ms(m[8].process - m[8].cpu),
            ms(m[8].wall),
            args.seconds / m[8].wall,
        );
        rtf.push(m[6]);
    }
    if let Some(python) = python {
        println!();
        println!("The Python way (soundfile + soxr + onnxruntime per window), same files:");
        for (input, rust) in inputs.iter().zip(&rtf) {
            match python_baseline(python, model_path, &input.path, args.hop, runs) {
                Ok(py) => println!(
                    "  {:<24} {:>7.1} ms CPU = {:>4.0}x real time ({} windows); Rust {:.0}x, {:.1}x faster",
                    input.name,
                    py.cpu * 1e3,
                    args.seconds / py.cpu,
                    py.windows,
                    args.seconds / rust.cpu,
                    py.cpu / rust.cpu
                ),
                Err(e) => println!("  {:<24} {e}", input.name),
            }
        }
    }
    Ok(())
}

/// Decodes a whole file through the reader, interleaved (`next_block`) or mixed to mono
/// (`next_mono`), and returns the sample count (so the work cannot be optimised away).
fn decoded_len(path: &Path, mono: bool) -> Result<usize, BoxError> {
    let mut reader = AudioFileReader::open(path)?;
    let mut sum = 0usize;
    loop {
        let block = if mono {
            reader.next_mono()?
        } else {
            reader.next_block()?
        };
        match block {
            Some((b, _)) => sum += b.len(),
            None => return Ok(sum),
        }
    }
}

/// Pure inference of prepared windows (`out` holds one row of class scores per window), batched
/// like the offline path.
fn infer_all(
    runner: &mut ModelRunner,
    windows: &[f32],
    max_batch: usize,
    out: &mut [f32],
) -> Result<(), BoxError> {
    let ws = runner.info().window_samples;
    let classes = runner.info().num_classes();
    let n = windows.len() / ws;
    let mut done = 0;
    while done < n {
        let b = (n - done).min(max_batch);
        runner.run(
            &windows[done * ws..(done + b) * ws],
            b,
            &mut out[done * classes..(done + b) * classes],
        )?;
        done += b;
    }
    Ok(())
}

/// The pipeline without the model: decode, mix to mono, resample, window and normalise a whole
/// file through `front`; returns a checksum of the windows so the work cannot be optimised away.
fn pipeline_alone(front: &mut FrontEnd, path: &Path) -> Result<f32, BoxError> {
    let mut reader = AudioFileReader::open(path)?;
    let mut checksum = 0.0f32;
    let mut sink = |w: PreparedWindow<'_>| checksum += w.samples[0];
    while let Some((block, _)) = reader.next_mono()? {
        front.push_mono(block, &mut sink);
    }
    front.finish(&mut sink);
    Ok(checksum)
}
