//! Plugin benchmark (prints figures; not a timed test):
//!
//!     cargo bench --features plugin --bench plugin
//!
//! 1. Audio-thread cost of process() — downmix into the SPSC ring plus the CC automation — per
//!    block at 48 kHz stereo for 32/64/512-sample blocks, as a share of the block's duration
//!    (target < 0.5 %). A thread drains the ring like the worker does.
//! 2. CPU share of the analysis worker at hop 0.5 s and at the default hop 0.25 s, fed in real
//!    time (thread CPU time from /proc over wall time).
//! 3. Detection latency at hop 0.25 s, fed in real time: from each onset of the cello in
//!    (3 s silence + 3 s cello) × 4 to the first CC ≥ the class threshold (the cello class with a
//!    trained model, else any class).
//!
//! 4. Resources of one plugin instance, loaded through its CLAP entry in a fresh process (so the
//!    figures are not mixed with the benchmark's own): peak memory (VmHWM) over the process before
//!    the plugin was loaded, threads added, after 10 s of music at 48 kHz stereo in 512-sample
//!    blocks; then the same for a second instance (what each further instance costs).
//!
//! Model: INSTRUMENT_METER_MODEL, else assets/model.onnx, else the random-weight fixture.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use instrument_meter::plugin::feeder::Feeder;
use instrument_meter::plugin::midi_out::{cc_value, Automation, AutomationSettings, MidiOut};
use instrument_meter::plugin::model_source::load_model;
use instrument_meter::plugin::params::MeterParams;
use instrument_meter::plugin::shared::Shared;
use instrument_meter::plugin::worker::{Worker, WorkerConfig};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

#[path = "../tests/common/clap_host.rs"]
mod clap_host;

fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("INSTRUMENT_METER_MODEL") {
        return PathBuf::from(p);
    }
    let trained = Path::new(ROOT).join("assets/model.onnx");
    if trained.is_file() {
        trained
    } else {
        Path::new(ROOT).join("tests/fixtures/models/tiny4.onnx")
    }
}

fn music_48k() -> Vec<f32> {
    let path = Path::new(ROOT).join("tests/fixtures/audio/plugin_cello.flac");
    let mut r = instrument_meter::decode::AudioFileReader::open(&path).unwrap();
    let mut mono = Vec::new();
    while let Some((b, _)) = r.next_block().unwrap() {
        mono.extend_from_slice(b);
    }
    let mut rs =
        instrument_meter::analysis::resample::StreamResampler::new(r.sample_rate(), 48_000)
            .unwrap();
    let mut out = Vec::new();
    rs.push(&mono, &mut |b: &[f32]| out.extend_from_slice(b));
    rs.finish(&mut |b: &[f32]| out.extend_from_slice(b));
    out
}

fn settings() -> AutomationSettings {
    AutomationSettings {
        enabled: true,
        channel: 0,
        first_cc: 20,
        gates: true,
        first_note: 36,
    }
}

fn process_cost(music: &[f32]) {
    println!("1. process() cost at 48 kHz, stereo (downmix into the ring + CC automation):");
    for block in [32usize, 64, 512] {
        let shared = Arc::new(Shared::default());
        shared.classes.store(11, Ordering::Release);
        let (producer, mut consumer) = rtrb::RingBuffer::new(48_000 * 4);
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let drain = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let n = consumer.slots();
                if let Ok(c) = consumer.read_chunk(n) {
                    c.commit_all();
                }
                std::thread::sleep(Duration::from_micros(500));
            }
        });
        let mut feeder = Feeder::new(producer, shared.clone(), None);
        let mut automation = Automation::default();
        let left: Vec<f32> = music.to_vec();
        let right: Vec<f32> = music.iter().map(|x| 0.5 * x).collect();
        let blocks = (20.0 * 48_000.0 / block as f64) as usize; // 20 s of audio
        let mut times = Vec::with_capacity(blocks);
        let mut sent = 0usize;
        for b in 0..blocks {
            let off = (b * block) % (left.len() - block);
            // Change one activation every 100 blocks, so some CCs go out.
            if b % 100 == 0 {
                shared.activations[b / 100 % 11].store((b % 700) as f32 / 700.0);
            }
            let planes = [&left[off..off + block], &right[off..off + block]];
            let t0 = Instant::now();
            feeder.push(&planes);
            automation.update(&shared, settings(), &mut |m: MidiOut| {
                std::hint::black_box(m);
                sent += 1;
            });
            times.push(t0.elapsed().as_nanos() as f64);
            // Real time would leave ~block/48000 s between calls; a short pause keeps the
            // drain thread ahead of the ring without turning this into a 20-s run.
            if b % 64 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        stop.store(true, Ordering::Relaxed);
        drain.join().unwrap();
        times.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        let p99 = times[times.len() * 99 / 100];
        let block_ns = block as f64 / 48_000.0 * 1e9;
        println!(
            "   {block:>3}-sample blocks: mean {:.2} µs ({:.4} % of {:.0} µs), p99 {:.2} µs ({:.4} %); {} CC/note messages; ring overflow {} samples",
            mean / 1e3,
            100.0 * mean / block_ns,
            block_ns / 1e3,
            p99 / 1e3,
            100.0 * p99 / block_ns,
            sent,
            shared.samples_lost.load(Ordering::Relaxed)
        );
    }
}

/// utime + stime of the analysis worker thread, in seconds.
fn worker_cpu_seconds() -> Option<f64> {
    let ticks = unsafe { libc_sysconf_clk_tck() };
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end().starts_with("instrument-mete") {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = after.split_whitespace().collect();
            let ut: f64 = f[11].parse().ok()?;
            let st: f64 = f[12].parse().ok()?;
            return Some((ut + st) / ticks);
        }
    }
    None
}

unsafe fn libc_sysconf_clk_tck() -> f64 {
    extern "C" {
        fn sysconf(name: i32) -> i64;
    }
    const SC_CLK_TCK: i32 = 2;
    sysconf(SC_CLK_TCK) as f64
}

/// Feeds `audio` in real time in 256-sample blocks; calls `each` after every block with the
/// sample position and the shared state.
fn realtime(
    audio: &[f32],
    hop: f32,
    mut each: impl FnMut(usize, &Shared, &mut Automation),
) -> (Arc<Shared>, f64, f64) {
    let model = model_path();
    let runner = load_model(Some(model.to_str().unwrap())).expect("model");
    let shared = Arc::new(Shared::default());
    let params = Arc::new(MeterParams::with_hop(hop));
    let (producer, consumer) = rtrb::RingBuffer::new(48_000 * 4);
    let worker = Worker::spawn(WorkerConfig {
        consumer,
        model: Some((runner, None)),
        host_rate: 48_000,
        max_block: 256,
        offline: false,
        shared: shared.clone(),
        params,
    })
    .unwrap();
    let mut feeder = Feeder::new(producer, shared.clone(), None);
    let mut automation = Automation::default();
    let cpu0 = worker_cpu_seconds().unwrap_or(0.0);
    let start = Instant::now();
    let block = 256;
    let mut pos = 0;
    while pos + block <= audio.len() {
        feeder.push(&[&audio[pos..pos + block]]);
        pos += block;
        each(pos, &shared, &mut automation);
        let due = Duration::from_secs_f64(pos as f64 / 48_000.0);
        if let Some(w) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(w);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = worker_cpu_seconds().unwrap_or(f64::NAN) - cpu0;
    drop(worker);
    (shared, cpu, wall)
}

/// Child process of section 4: loads instances through the in-process CLAP entry and prints
/// one line per instance.
fn instance_resources() {
    use clap_host::{instantiate, load, proc_status_bytes, thread_counts, Layout, Stream};
    std::env::set_var("INSTRUMENT_METER_MODEL", model_path());
    let music = music_48k();
    let clip = &music[2 * 48_000..];
    let base_rss = proc_status_bytes("VmRSS");
    let (base_threads, _) = thread_counts();
    let loaded = load();
    let mut instances = Vec::new();
    for k in 1..=2 {
        let hwm0 = proc_status_bytes("VmHWM");
        let mut instance = instantiate(&loaded);
        let mut s = Stream::start(&mut instance, 48_000, 512, Layout::StereoSidechain, true);
        let mut fed = 0;
        while fed < 10 * 48_000 {
            let c = &clip[fed % (clip.len() - 512)..][..512];
            s.process(&[c, c], &[]);
            fed += 512;
        }
        let (threads, workers) = thread_counts();
        let hwm = proc_status_bytes("VmHWM");
        println!(
            "   instance {k}: peak memory +{:.1} MiB (process peak {:.1} MiB over {:.1} MiB before the plugin), \
             threads {} ({} analysis worker{}, {} before the plugin)",
            (hwm - if k == 1 { base_rss } else { hwm0 }) as f64 / MIB,
            hwm as f64 / MIB,
            base_rss as f64 / MIB,
            threads,
            workers,
            if workers == 1 { "" } else { "s" },
            base_threads
        );
        instances.push((instance, s));
    }
    for (mut instance, s) in instances {
        s.stop(&mut instance);
    }
}

const MIB: f64 = (1 << 20) as f64;

fn main() {
    // `cargo bench` passes --bench; other arguments are ignored.
    if std::env::var_os("INSTRUMENT_METER_BENCH_CHILD").is_some() {
        instance_resources();
        return;
    }
    let model = model_path();
    println!("model: {}", model.display());
    let music = music_48k();
    process_cost(&music);

    // 2. Worker CPU share at hop 0.5 s, 10 s of music in real time.
    let clip: Vec<f32> = music[2 * 48_000..8 * 48_000]
        .iter()
        .chain(&music[2 * 48_000..6 * 48_000])
        .copied()
        .collect();
    for hop in [0.5, 0.25] {
        let (shared, cpu, wall) = realtime(&clip, hop, |_, _, _| {});
        println!(
            "2. worker at hop {hop} s{}: {:.2} s CPU over {:.1} s wall = {:.2} % of one core; {} windows, {} dropped, {:.2} ms/window",
            if hop == 0.25 { " (default)" } else { "" },
            cpu,
            wall,
            100.0 * cpu / wall,
            shared.windows_done.load(Ordering::Relaxed),
            shared.windows_dropped.load(Ordering::Relaxed),
            shared.inference_us_avg.load() / 1000.0
        );
    }

    // 3. Detection latency at hop 0.25 s: (3 s silence + 3 s cello) × 4.
    let cello = &music[2 * 48_000..8 * 48_000];
    let mut audio = Vec::new();
    let mut onsets = Vec::new();
    for _ in 0..4 {
        audio.extend(std::iter::repeat_n(0.0f32, 3 * 48_000));
        onsets.push(audio.len());
        audio.extend_from_slice(&cello[..3 * 48_000]);
    }
    let info = load_model(Some(model.to_str().unwrap()))
        .unwrap()
        .info()
        .clone();
    // Random-weight models (the fixture, the bench RFCN) recognise nothing: any class will do.
    let random = model.ends_with("tiny4.onnx")
        || info
            .training_data
            .as_deref()
            .unwrap_or("")
            .contains("random");
    let target = info
        .labels
        .iter()
        .position(|l| l == "cel")
        .filter(|_| !random);
    let mut crossings: Vec<Option<usize>> = vec![None; onsets.len()];
    let (_, _, _) = realtime(&audio, 0.25, |pos, shared, automation| {
        // The CC the host would record this block, compared with the class threshold.
        let mut hit = false;
        automation.update(shared, settings(), &mut |m| {
            if let MidiOut::Cc { cc, value, .. } = m {
                let i = (cc - 20) as usize;
                if target.is_none_or(|t| t == i)
                    && value >= cc_value(shared.thresholds[i].load())
                    && value > 0
                {
                    hit = true;
                }
            }
        });
        if hit {
            if let Some(k) = onsets.iter().rposition(|&o| o <= pos) {
                if crossings[k].is_none() && pos - onsets[k] < 3 * 48_000 {
                    crossings[k] = Some(pos - onsets[k]);
                }
            }
        }
    });
    let mut lat: Vec<f64> = crossings
        .iter()
        .flatten()
        .map(|&s| s as f64 / 48_000.0)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if lat.is_empty() {
        f64::NAN
    } else {
        lat[lat.len() / 2]
    };
    println!(
        "3. detection latency at hop 0.25 s ({}): {:?} s per onset, median {:.3} s ({} of {} onsets detected)",
        match target {
            Some(_) => "cello CC".to_string(),
            None => "first CC over its threshold; random-weight model".to_string(),
        },
        lat.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        median,
        lat.len(),
        onsets.len()
    );

    // 4. One instance's resources, in a fresh process.
    println!("4. one plugin instance through its CLAP entry, 48 kHz stereo, default settings:");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("INSTRUMENT_METER_BENCH_CHILD", "1")
        .output()
        .expect("run the resource child");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
}
