//! Reliability of the plugin under bad input, odd hosts and load, in the clack-host harness
//! (tests/common/clap_host.rs). Run with the allocation guard:
//!
//!     cargo test --release --features assert_process_allocs --test plugin_stress
//!     INSTRUMENT_METER_STRESS=full cargo test ... (the whole fault matrix: `cargo xtask stress`)
//!
//! - fault matrix: sample rates 8–192 kHz × block sizes 1…8192 and random × mono/stereo ×
//!   silence, full-scale noise, DC, clipped square, NaN, ±Inf, denormals, a 60-dB jump. Every case:
//!   no crash, bit-exact audio (bit patterns, so NaN payloads count), valid MIDI, finite
//!   activations in [0, 1], all activations exactly 0 once the input has been silent for a window.
//!   By default a covering subset (every rate, block plan, layout and signal at least once).
//! - lifecycle: 100 activate/deactivate cycles across rates, reset mid-stream, hostile parameter
//!   values, 16 instances in one process, inference slower than real time (dropped windows
//!   reported, audio never waits), large host blocks that are no backlog, the editor opened and
//!   closed 50 times (under X11), the `.clap` unloaded and reloaded.
//!
//! Activations are read through `instrument_meter::plugin::shared::live_instances()`, so those
//! checks need the in-process plugin (they are skipped, and said so, with `INSTRUMENT_METER_CLAP`).
//! The tests hold one lock each, so CPU figures are per test. Thread counts are process-wide (the
//! test harness starts threads too): leak checks allow 2 threads of slack, a leak per cycle would
//! show as dozens.
#![cfg(feature = "plugin")]

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clack_host::prelude::*;
use clack_host::utils::ClapId;
use instrument_meter::plugin::shared::{live_instances, Shared};

#[path = "common/clap_host.rs"]
mod clap_host;
#[path = "common/mod.rs"]
mod common;
use clap_host::*;
use common::Lcg;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time (thread counts, CPU shares and the instance registry are process-wide).
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn full() -> bool {
    std::env::var("INSTRUMENT_METER_STRESS").is_ok_and(|v| v == "full")
}

/// A new instance and, with the in-process plugin, its shared state.
fn instance_with_state(l: &Loaded) -> (PluginInstance<TestHost>, Option<Arc<Shared>>) {
    let before: Vec<*const Shared> = live_instances().iter().map(Arc::as_ptr).collect();
    let instance = instantiate(l);
    let state = (plugin_path().is_none())
        .then(|| {
            live_instances()
                .into_iter()
                .find(|s| !before.contains(&Arc::as_ptr(s)))
        })
        .flatten();
    (instance, state)
}

/// An instance with its shared state, or `None` (after saying so) when the plugin is loaded from
/// a bundle, whose state this process cannot reach.
fn in_process_instance(l: &Loaded) -> Option<(PluginInstance<TestHost>, Arc<Shared>)> {
    match instance_with_state(l) {
        (instance, Some(state)) => Some((instance, state)),
        _ => {
            eprintln!("SKIPPED: needs the in-process plugin");
            None
        }
    }
}

const RATES: [u32; 7] = [8_000, 22_050, 44_100, 48_000, 88_200, 96_000, 192_000];

/// How the host cuts the stream into blocks.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Blocks {
    Fixed(usize),
    /// Random sizes in 1..=4096, a new one every block.
    Random,
}

impl Blocks {
    const ALL: [Blocks; 7] = [
        Blocks::Fixed(1),
        Blocks::Fixed(17),
        Blocks::Fixed(64),
        Blocks::Fixed(512),
        Blocks::Fixed(4096),
        Blocks::Fixed(8192),
        Blocks::Random,
    ];
    fn max(self) -> usize {
        match self {
            Blocks::Fixed(n) => n,
            Blocks::Random => 4096,
        }
    }
    /// Offline (bounce) rendering for the large fixed blocks: every window is analysed. Small and
    /// random blocks run in real-time mode (the worker may skip windows; the audio never waits).
    fn offline(self) -> bool {
        matches!(self, Blocks::Fixed(n) if n >= 512)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Signal {
    Silence,
    Noise,
    Dc,
    ClippedSquare,
    Nan,
    Inf,
    Denormal,
    Jump60dB,
}

const SIGNALS: [Signal; 8] = [
    Signal::Silence,
    Signal::Noise,
    Signal::Dc,
    Signal::ClippedSquare,
    Signal::Nan,
    Signal::Inf,
    Signal::Denormal,
    Signal::Jump60dB,
];

/// Seconds of test signal before the trailing silence.
const SIGNAL_S: f64 = 1.25;

/// `seconds` of `kind` at `rate`, one plane per channel (the channels differ).
fn signal(kind: Signal, rate: u32, channels: usize, seconds: f64, seed: u64) -> Vec<Vec<f32>> {
    let n = (seconds * rate as f64) as usize;
    let mut rng = Lcg(seed);
    let mut uniform = move || (rng.next() as f64 / (1u64 << 31) as f64 - 1.0) as f32;
    let tone = |i: usize, f: f64| (2.0 * std::f64::consts::PI * f * i as f64 / rate as f64).sin();
    (0..channels)
        .map(|c| {
            (0..n)
                .map(|i| match kind {
                    Signal::Silence => 0.0,
                    Signal::Noise => uniform(),
                    Signal::Dc => [0.9, -1.0][c],
                    // A sine driven 4× into ±1: a square with clipped flats.
                    Signal::ClippedSquare => {
                        (4.0 * tone(i, 220.0 + 110.0 * c as f64)).clamp(-1.0, 1.0) as f32
                    }
                    // Quiet and signalling NaNs with payloads, negative NaN, a solid NaN stretch,
                    // over a tone (left), the right channel clean.
                    Signal::Nan => {
                        let nans = [
                            f32::NAN,
                            -f32::NAN,
                            f32::from_bits(0x7fc0_0001),
                            f32::from_bits(0x7f80_0001),
                            f32::from_bits(0xffbf_ffff),
                        ];
                        if c == 0 && (i % 7 == 0 || (n / 3..n / 2).contains(&i)) {
                            nans[i % nans.len()]
                        } else {
                            0.5 * tone(i, 330.0) as f32
                        }
                    }
                    Signal::Inf => {
                        if (i / 3) % 2 == c || (n / 3..n / 2).contains(&i) {
                            [f32::INFINITY, f32::NEG_INFINITY][i % 2]
                        } else {
                            0.5 * tone(i, 440.0) as f32
                        }
                    }
                    // Subnormal floats: random mantissas below f32::MIN_POSITIVE, both signs.
                    Signal::Denormal => {
                        let bits = (uniform().to_bits() & 0x007f_ffff) | 1;
                        let x = f32::from_bits(bits);
                        if i % 2 == 0 {
                            x
                        } else {
                            -x
                        }
                    }
                    // Noise at -60 dBFS, then full scale from the middle on.
                    Signal::Jump60dB => {
                        let x = uniform();
                        if i < n / 2 {
                            0.001 * x
                        } else {
                            x
                        }
                    }
                })
                .collect()
        })
        .collect()
}

struct Case {
    rate: u32,
    blocks: Blocks,
    layout: Layout,
    signal: Signal,
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} Hz, {:?} blocks, {:?}, {:?}",
            self.rate, self.blocks, self.layout, self.signal
        )
    }
}

/// The whole matrix, or a covering subset: every rate × signal once, block plan and layout
/// rotating so that each plan meets both layouts and most signals.
fn cases(full: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for (ri, &rate) in RATES.iter().enumerate() {
        for (si, &signal) in SIGNALS.iter().enumerate() {
            for (bi, &blocks) in Blocks::ALL.iter().enumerate() {
                for (li, layout) in [Layout::StereoSidechain, Layout::Mono]
                    .into_iter()
                    .enumerate()
                {
                    if full || (bi == (ri + si) % 7 && li == si % 2) {
                        out.push(Case {
                            rate,
                            blocks,
                            layout,
                            signal,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Checks the published state: every activation finite and in [0, 1].
fn activations_sane(state: &Shared) -> Result<(), String> {
    for (i, a) in state.activations.iter().enumerate() {
        let v = a.load();
        if !(0.0..=1.0).contains(&v) {
            return Err(format!("activation {i} = {v}"));
        }
    }
    for t in &state.thresholds {
        if !t.load().is_finite() {
            return Err(format!("threshold {}", t.load()));
        }
    }
    Ok(())
}

/// Waits until the worker has taken every sample fed so far (or 20 s passed).
fn wait_for_worker(state: &Shared, fed: u64) -> bool {
    let start = Instant::now();
    while state.analysed_samples.load(Ordering::Acquire)
        + state.samples_lost.load(Ordering::Relaxed)
        < fed
    {
        if start.elapsed() > Duration::from_secs(20) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Runs one case on `instance` (release 0, so that silence gives exactly 0); `Err` says what failed.
fn run_case(
    instance: &mut PluginInstance<TestHost>,
    state: Option<&Shared>,
    release: ClapId,
    case: &Case,
    window_s: f64,
    seed: u64,
) -> Result<(), String> {
    let ch = case.layout.channels();
    let mut planes = signal(case.signal, case.rate, ch, SIGNAL_S, seed);
    // The last complete window must be all silence: a window, a hop and the resampler's chunk.
    let tail = ((window_s + 0.25 + 0.1) * case.rate as f64) as usize + 1024;
    for p in &mut planes {
        p.extend(std::iter::repeat_n(0.0f32, tail));
    }
    let total = planes[0].len();
    let offline = case.blocks.offline();
    let mut stream = Stream::start(instance, case.rate, case.blocks.max(), case.layout, offline);
    let mut rng = Lcg(seed ^ 0x5eed);
    let mut pos = 0;
    let mut first = true;
    let mut problem: Option<String> = None;
    while pos < total {
        let n = match case.blocks {
            Blocks::Fixed(n) => n,
            Blocks::Random => 1 + rng.below(4096) as usize,
        }
        .min(total - pos);
        let block: Vec<&[f32]> = planes.iter().map(|p| &p[pos..pos + n]).collect();
        let events: &[(ClapId, f64)] = if first { &[(release, 0.0)] } else { &[] };
        first = false;
        stream.process(&block, events);
        pos += n;
        if let (Some(s), None) = (state, &problem) {
            problem = activations_sane(s).err();
        }
    }
    // Settle: once the worker has taken everything, the last window (silence) published exact
    // zeros. In real-time mode the worker may have skipped the last window as a backlog; a few
    // more blocks of silence (up to 2 s) must bring every activation to 0.
    let mut settled = state.is_none();
    if let Some(s) = state {
        let silence = vec![0.0f32; case.blocks.max()];
        let mut extra = 0;
        loop {
            if !wait_for_worker(s, stream.pos) {
                problem.get_or_insert("the worker stopped taking audio".into());
                break;
            }
            let all_zero = s.activations.iter().all(|a| a.load() == 0.0)
                && s.detected.load(Ordering::Acquire) == 0;
            if all_zero {
                settled = true;
                break;
            }
            if offline || extra >= 2 * case.rate as usize {
                break;
            }
            // A quarter second more silence.
            let mut fed = 0;
            while fed < case.rate as usize / 4 {
                let planes: Vec<&[f32]> = (0..ch).map(|_| &silence[..]).collect();
                stream.process(&planes, &[]);
                fed += silence.len();
            }
            extra += fed;
        }
        if offline && s.windows_dropped.load(Ordering::Relaxed) > 0 {
            problem.get_or_insert("offline render dropped windows".into());
        }
        if s.samples_lost.load(Ordering::Relaxed) > 0 && offline {
            problem.get_or_insert("offline render lost samples".into());
        }
        if let Some(e) = &s.panel().status.error {
            problem.get_or_insert(format!("status error: {e}"));
        }
    }
    let bit_exact = stream.bit_exact;
    let bad = std::mem::take(&mut stream.bad_events);
    stream.stop(instance);
    if !bit_exact {
        return Err("output differs from input".into());
    }
    if let Some(b) = bad.first() {
        return Err(format!("bad output event: {b}"));
    }
    if let Some(p) = problem {
        return Err(p);
    }
    if !settled {
        let v: Vec<f32> = state
            .unwrap()
            .activations
            .iter()
            .map(|a| a.load())
            .take(11)
            .collect();
        return Err(format!(
            "activations did not settle to 0 after silence: {v:?}"
        ));
    }
    Ok(())
}

fn window_seconds(model: &Path) -> f64 {
    let runner = instrument_meter::ModelRunner::from_file(model, &Default::default()).unwrap();
    let info = runner.info();
    info.window_samples as f64 / info.sample_rate as f64
}

#[test]
fn fault_matrix() {
    let _serial = serial();
    let model = setup_env();
    let window_s = window_seconds(&model);
    let loaded = load();
    let mut stereo = instance_with_state(&loaded);
    let mut mono = instance_with_state(&loaded);
    let release = param_id(&mut stereo.0, "Release");
    let cases = cases(full());
    let start = Instant::now();
    let mut failures = Vec::new();
    for (k, case) in cases.iter().enumerate() {
        let (instance, state) = match case.layout {
            Layout::StereoSidechain => (&mut stereo.0, stereo.1.as_deref()),
            Layout::Mono => (&mut mono.0, mono.1.as_deref()),
        };
        if let Err(e) = run_case(instance, state, release, case, window_s, k as u64 + 1) {
            eprintln!("FAIL {case}: {e}");
            failures.push(format!("{case}: {e}"));
        }
    }
    let passed = cases.len() - failures.len();
    eprintln!(
        "fault matrix ({}): {} cases run, {passed} passed, in {:.1} s{}",
        if full() { "full" } else { "subset" },
        cases.len(),
        start.elapsed().as_secs_f64(),
        if stereo.1.is_none() {
            " (activation checks skipped: plugin loaded from INSTRUMENT_METER_CLAP)"
        } else {
            ""
        }
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Noise with a varying level, for lifecycle tests that only need the worker busy.
fn noise(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let level = 0.1 + 0.4 * ((i / 4096) % 2) as f32;
            level * (rng.next() as f32 / (1u64 << 31) as f32 - 1.0)
        })
        .collect()
}

#[test]
fn hundred_activation_cycles_with_rate_changes_and_resets() {
    let _serial = serial();
    let loaded = load();
    let (mut instance, state) = instance_with_state(&loaded);
    let blocks = [64usize, 512, 17, 4096, 1, 333, 8192];
    let layouts = [Layout::StereoSidechain, Layout::Mono];
    // First cycle outside the count: it loads the model and ONNX Runtime.
    let warm = noise(4800, 7);
    let mut s = Stream::start(&mut instance, 48_000, 512, Layout::StereoSidechain, false);
    s.process(&[&warm[..512], &warm[..512]], &[]);
    s.stop(&mut instance);
    let (threads0, workers0) = thread_counts();
    let start = Instant::now();
    for i in 0..100 {
        let rate = RATES[i % RATES.len()];
        let block = blocks[i % blocks.len()];
        let layout = layouts[i / 7 % 2];
        let offline = i % 3 == 0;
        let audio = noise((rate / 20) as usize, i as u64);
        let mut s = Stream::start(&mut instance, rate, block, layout, offline);
        for (k, chunk) in audio.chunks(block).enumerate() {
            let planes: Vec<&[f32]> = (0..layout.channels()).map(|_| chunk).collect();
            s.process(&planes, &[]);
            if k == 1 && i % 4 == 0 {
                s.reset();
            }
        }
        assert!(s.bit_exact, "cycle {i}: {rate} Hz / {block}");
        assert!(s.bad_events.is_empty(), "cycle {i}: {:?}", s.bad_events);
        s.stop(&mut instance);
        if let Some(st) = &state {
            assert!(activations_sane(st).is_ok());
            assert!(st.panel().status.error.is_none(), "{:?}", st.panel().status);
        }
    }
    let (threads1, workers1) = thread_counts();
    eprintln!(
        "100 activate/deactivate cycles (7 rates, 7 block sizes, mono/stereo, resets): {:.2} s; threads {threads0} → {threads1}, workers {workers0} → {workers1}",
        start.elapsed().as_secs_f64()
    );
    assert_eq!(workers1, 0, "a worker thread outlived its deactivation");
    assert!(
        threads1 <= threads0 + 2,
        "threads leaked: {threads0} → {threads1}"
    );
}

#[test]
fn reset_mid_stream_clears_and_recovers() {
    let _serial = serial();
    let loaded = load();
    let Some((mut instance, state)) = in_process_instance(&loaded) else {
        return;
    };
    let rate = 48_000;
    let music = music_at(rate);
    let mut s = Stream::start(&mut instance, rate, 256, Layout::StereoSidechain, true);
    let feed = |s: &mut Stream, from: usize, to: usize| {
        for c in music[from..to].chunks(256) {
            s.process(&[c, c], &[]);
        }
    };
    // 2 s silence + 3 s cello: some activation is up.
    feed(&mut s, 0, 5 * rate as usize);
    let peak = |st: &Shared| st.activations.iter().map(|a| a.load()).fold(0.0, f32::max);
    assert!(peak(&state) > 0.0, "nothing rose during the music");
    let windows = state.windows_done.load(Ordering::Acquire);
    s.reset();
    feed(&mut s, 5 * rate as usize, 5 * rate as usize + 256);
    assert_eq!(peak(&state), 0.0, "reset did not clear the activations");
    assert_eq!(state.detected.load(Ordering::Acquire), 0);
    // The music goes on: a window after the reset needs a full second of new audio, then it rises.
    feed(&mut s, 5 * rate as usize + 256, 7 * rate as usize);
    assert!(state.windows_done.load(Ordering::Acquire) > windows);
    assert!(peak(&state) > 0.0, "nothing rose after the reset");
    assert!(s.bit_exact);
    s.stop(&mut instance);
}

#[test]
fn hostile_parameter_values_are_harmless() {
    let _serial = serial();
    let loaded = load();
    let (mut instance, state) = instance_with_state(&loaded);
    let ids = param_ids(&mut instance);
    let music = music_at(44_100);
    let mut s = Stream::start(&mut instance, 44_100, 512, Layout::StereoSidechain, true);
    let values = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1e9,
        1e9,
        -1.0,
        2.0,
        0.5,
    ];
    for (k, c) in music[..6 * 44_100].chunks(512).enumerate() {
        let v = values[k % values.len()];
        let events: Vec<(ClapId, f64)> = ids.iter().map(|&id| (id, v)).collect();
        s.process(&[c, c], &events);
        if let Some(st) = &state {
            activations_sane(st).unwrap_or_else(|e| panic!("after value {v}: {e}"));
        }
    }
    assert!(s.bit_exact);
    assert!(s.bad_events.is_empty(), "{:?}", s.bad_events);
    assert!(s.ccs.iter().all(|c| c.cc < 128 && c.value < 128));
    s.stop(&mut instance);
}

#[test]
fn sixteen_instances_share_one_runtime() {
    let _serial = serial();
    let loaded = load();
    let (threads0, _) = thread_counts();
    let ort_before = ort_libraries();
    let mut instances: Vec<_> = (0..16).map(|_| instance_with_state(&loaded)).collect();
    let rate = 48_000;
    let block = 512;
    let music = music_at(rate);
    let clip = &music[2 * rate as usize..6 * rate as usize];
    let mut streams: Vec<Stream> = instances
        .iter_mut()
        .map(|(i, _)| Stream::start(i, rate, block, Layout::StereoSidechain, false))
        .collect();
    let (wcpu0, pcpu0) = cpu_seconds();
    let start = Instant::now();
    // All 16 fed in real time from one "audio thread", as a host's mixer would.
    for (k, c) in clip.chunks(block).enumerate() {
        for s in &mut streams {
            s.process(&[c, c], &[]);
        }
        let due = Duration::from_secs_f64(((k + 1) * block) as f64 / rate as f64);
        if let Some(w) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(w);
        }
    }
    let wall = start.elapsed().as_secs_f64();
    let (wcpu1, pcpu1) = cpu_seconds();
    let (threads1, workers1) = thread_counts();
    let ort_files = ort_libraries();
    let mut windows = 0;
    let mut dropped = 0;
    for (s, (_, st)) in streams.iter().zip(&instances) {
        assert!(s.bit_exact);
        if let Some(st) = st {
            windows += st.windows_done.load(Ordering::Acquire);
            dropped += st.windows_dropped.load(Ordering::Relaxed);
            assert!(st.windows_done.load(Ordering::Acquire) > 0);
            assert!(st.panel().status.error.is_none());
        }
    }
    eprintln!(
        "16 instances, 48 kHz stereo, 512-sample blocks, {wall:.1} s in real time: threads {threads0} → {threads1} \
         (+{} = {:.2} per instance; {workers1} analysis workers), worker CPU {:.1} % of one core \
         ({:.2} % per instance), whole process {:.1} %; {windows} windows analysed, {dropped} dropped; \
         ONNX Runtime mapped from {ort_files:?}",
        threads1 as i64 - threads0 as i64,
        (threads1 as f64 - threads0 as f64) / 16.0,
        100.0 * (wcpu1 - wcpu0) / wall,
        100.0 * (wcpu1 - wcpu0) / wall / 16.0,
        100.0 * (pcpu1 - pcpu0) / wall,
    );
    // One runtime library, one environment; one worker thread per instance and nothing else
    // (ONNX Runtime runs each session on its caller's thread: one intra-op thread, no pools).
    assert!(ort_files.len() <= ort_before.len().max(1), "{ort_files:?}");
    assert_eq!(workers1, 16);
    assert!(
        threads1 <= threads0 + 16 + 2,
        "threads beyond one worker per instance: {threads0} → {threads1}"
    );
    for (s, (i, _)) in streams.into_iter().zip(&mut instances) {
        s.stop(i);
    }
    assert_eq!(thread_counts().1, 0);
}

/// The ONNX Runtime library files mapped into this process.
fn ort_libraries() -> std::collections::BTreeSet<String> {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains("libonnxruntime"))
        .filter_map(|l| l.split_whitespace().nth(5).map(str::to_string))
        .collect()
}

#[test]
fn inference_slower_than_real_time_drops_windows_and_never_blocks_audio() {
    let _serial = serial();
    let loaded = load();
    let Some((mut instance, state)) = in_process_instance(&loaded) else {
        return;
    };
    // Each inference takes 600 ms more on the worker: 2.4× slower than the 0.25-s hop.
    let delay_ms = 600;
    state
        .test_inference_delay_ms
        .store(delay_ms, Ordering::Relaxed);
    let rate = 48_000;
    let block = 256;
    let music = music_at(rate);
    let clip = &music[2 * rate as usize..7 * rate as usize];
    let mut s = Stream::start(&mut instance, rate, block, Layout::StereoSidechain, false);
    s.process_paced(clip, 2, rate, block, 1.0);
    let drops = state.drop_status();
    let done = state.windows_done.load(Ordering::Acquire);
    let text = drops.text();
    eprintln!(
        "inference +{delay_ms} ms per window, 5 s in real time: {done} windows analysed, {} dropped, \
         {} samples lost; longest process() {:.3} ms; panel: \"{text}\"",
        drops.dropped,
        drops.lost_samples,
        s.max_process.as_secs_f64() * 1000.0
    );
    assert!(s.bit_exact);
    assert!(done >= 1, "the slow worker analysed nothing");
    assert!(
        drops.dropped >= 5,
        "expected dropped windows, got {drops:?}"
    );
    assert_eq!(
        drops.lost_samples, 0,
        "the ring overflowed: the worker stopped draining"
    );
    assert!(drops.falling_behind());
    assert!(text.starts_with(&format!("dropped windows: {}", drops.dropped)));
    assert!(text.ends_with("inference is falling behind"));
    // The audio thread never waits for the worker: no block takes anywhere near one inference.
    assert!(
        s.max_process < Duration::from_millis(delay_ms as u64 / 2),
        "process() blocked for {:?}",
        s.max_process
    );
    s.stop(&mut instance);
    // A fresh activation starts the count again.
    state.test_inference_delay_ms.store(0, Ordering::Relaxed);
    let s = Stream::start(&mut instance, rate, block, Layout::StereoSidechain, false);
    assert_eq!(state.drop_status().dropped, 0);
    s.stop(&mut instance);
}

#[test]
fn large_host_blocks_are_not_a_backlog() {
    let _serial = serial();
    let loaded = load();
    let Some((mut instance, state)) = in_process_instance(&loaded) else {
        return;
    };
    // 8192-frame blocks at 8 kHz bring four 0.25-s hops at once, every 1.02 s (fed at 2× real
    // time). The worker needs milliseconds per window: nothing is behind, nothing may be dropped.
    let rate = 8_000;
    let block = 8192;
    let music = music_at(rate);
    let clip = &music[2 * rate as usize..8 * rate as usize];
    let mut s = Stream::start(&mut instance, rate, block, Layout::Mono, false);
    s.process_paced(clip, 1, rate, block, 2.0);
    assert!(wait_for_worker(&state, s.pos));
    let done = state.windows_done.load(Ordering::Acquire);
    let dropped = state.windows_dropped.load(Ordering::Relaxed);
    eprintln!("8 kHz, 8192-sample blocks at 2× real time: {done} windows, {dropped} dropped");
    assert!(done >= 15, "{done} windows");
    assert_eq!(dropped, 0);
    s.stop(&mut instance);
}

#[test]
fn editor_opens_and_closes_fifty_times() {
    use clack_extensions::gui::{GuiApiType, GuiConfiguration, PluginGui};
    if std::env::var_os("DISPLAY").is_none() {
        eprintln!("SKIPPED: no DISPLAY (run under xvfb-run to test the editor)");
        return;
    }
    let _serial = serial();
    let loaded = load();
    let mut instance = instantiate(&loaded);
    let gui: PluginGui = instance.plugin_shared_handle().get_extension().unwrap();
    let config = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: false,
    };
    let (conn, parent) = x11_parent(820, 560).expect("X11 connection");
    let rate = 48_000;
    let music = music_at(rate);
    let mut s = Stream::start(&mut instance, rate, 512, Layout::StereoSidechain, false);
    let mut pos = 2 * rate as usize;
    let (threads0, _) = thread_counts();
    let start = Instant::now();
    for _ in 0..50 {
        gui.create(&instance.plugin_handle(), config)
            .expect("gui create");
        show_editor_in(&gui, &mut instance, parent);
        // Audio keeps flowing while the panel is up (a few frames at the panel's refresh rate).
        for _ in 0..8 {
            let c = &music[pos..pos + 512];
            s.process(&[c, c], &[]);
            pos = if pos + 1024 < 8 * rate as usize {
                pos + 512
            } else {
                2 * rate as usize
            };
            if instance
                .access_shared_handler(|h: &TestShared| h.callback.swap(false, Ordering::AcqRel))
            {
                instance.call_on_main_thread_callback();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        gui.hide(&instance.plugin_handle()).expect("hide");
        gui.destroy(&instance.plugin_handle());
    }
    let (threads1, _) = thread_counts();
    eprintln!(
        "editor opened and closed 50 times in {:.1} s; threads {threads0} → {threads1}",
        start.elapsed().as_secs_f64()
    );
    assert!(s.bit_exact);
    assert!(
        threads1 <= threads0 + 2,
        "editor threads leaked: {threads0} → {threads1}"
    );
    s.stop(&mut instance);
    drop(conn);
}

#[test]
fn plugin_library_unloads_and_reloads() {
    let Some(path) = plugin_path() else {
        eprintln!("SKIPPED: set INSTRUMENT_METER_CLAP to a built .clap (cargo xtask bundle instrument-meter --release)");
        return;
    };
    let _serial = serial();
    let cycles: usize = std::env::var("INSTRUMENT_METER_RELOAD_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let rate = 48_000;
    let music = music_at(rate);
    let clip = &music[2 * rate as usize..4 * rate as usize];
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let mapped = || {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .any(|l| l.ends_with(&name))
    };
    let (threads0, _) = thread_counts();
    let mut rss = Vec::new();
    for cycle in 0..cycles {
        let loaded = load_file(&path);
        let mut instance = instantiate(&loaded);
        let mut s = Stream::start(&mut instance, rate, 512, Layout::StereoSidechain, true);
        for c in clip.chunks(512) {
            s.process(&[c, c], &[]);
        }
        assert!(s.bit_exact, "cycle {cycle}");
        let rose = s.ccs.iter().any(|c| c.value > 0);
        s.stop(&mut instance);
        drop(instance);
        drop(loaded);
        assert!(rose, "cycle {cycle}: no CC rose during the music");
        rss.push(proc_status_bytes("VmRSS") as f64 / (1 << 20) as f64);
        eprintln!(
            "reload cycle {cycle}: RSS {:.1} MiB, {} still mapped after unload, threads {}",
            rss[cycle],
            if mapped() { "library" } else { "nothing" },
            thread_counts().0
        );
    }
    let (threads1, workers1) = thread_counts();
    assert_eq!(workers1, 0);
    assert!(threads1 <= threads0 + 2, "threads {threads0} → {threads1}");
    // Memory flat after the first cycle: a leaked session or model (several MiB each) per cycle
    // would add up. Not under valgrind, whose own bookkeeping grows the RSS.
    let valgrind = std::env::var("LD_PRELOAD").is_ok_and(|p| p.contains("vgpreload"));
    if cycles >= 3 && !valgrind {
        let growth = rss[cycles - 1] - rss[1];
        assert!(
            growth < 16.0,
            "RSS grew {growth:.1} MiB over {} reloads",
            cycles - 2
        );
    }
}
