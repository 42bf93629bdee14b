//! The plugin in a real (headless) CLAP host built on `clack-host`.
//!
//! Loads the plugin — the binary named by `INSTRUMENT_METER_CLAP` if set (e.g. the bundled
//! `target/bundled/Instrument Meter.clap`), else the plugin compiled into this test through its
//! exported `clap_entry` (so `cargo test --features assert_process_allocs` checks process() for
//! allocations) — and:
//! - feeds a rendered music file block by block at 44.1, 48 and 96 kHz: output is bit-exact, CC
//!   output rises while the cello plays and stays at 0 in silence;
//! - saves and restores the parameter state into a second instance;
//! - under X11 (`DISPLAY`, e.g. `xvfb-run`), opens and closes the editor; with
//!   `INSTRUMENT_METER_SCREENSHOT=path.png` it plays music in real time and takes a screenshot.
//!
//! The model: `INSTRUMENT_METER_MODEL` if set, else `assets/model.onnx` if it exists (the trained
//! model; the test then also checks that the cello CC leads), else the random-weight fixture
//! `tests/fixtures/models/tiny4.onnx` (structure only: the fixture cannot recognise anything).
#![cfg(feature = "plugin")]

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use clack_extensions::gui::{
    GuiApiType, GuiConfiguration, GuiSize, HostGui, HostGuiImpl, PluginGui, Window as ClapWindow,
};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_extensions::state::PluginState;
use clack_host::events::event_types::{MidiEvent, ParamValueEvent};
use clack_host::events::Pckn;
use clack_host::prelude::*;
use clack_host::utils::ClapId;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const PLUGIN_ID: &CStr = c"org.instrument-meter.instrument-meter";

// ------------------------------------------------------------------------------------------ host

struct TestHost;
struct TestShared {
    callback: AtomicBool,
}
struct TestMain<'a> {
    _shared: &'a TestShared,
}

impl<'a> SharedHandler<'a> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {
        self.callback.store(true, Ordering::Release);
    }
}
impl<'a> MainThreadHandler<'a> for TestMain<'a> {}

// nice-plug's CLAP editor requires the host's GUI extension.
impl HostGuiImpl for TestShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = TestMain<'a>;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

/// A plugin binary to test instead of the in-process plugin (e.g. the bundled `.clap`).
fn plugin_path() -> Option<PathBuf> {
    std::env::var_os("INSTRUMENT_METER_CLAP").map(PathBuf::from)
}

fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("INSTRUMENT_METER_MODEL") {
        return PathBuf::from(p);
    }
    let trained = Path::new(ROOT).join("assets/model.onnx");
    if trained.is_file() {
        return trained;
    }
    Path::new(ROOT).join("tests/fixtures/models/tiny4.onnx")
}

fn is_trained_model(p: &Path) -> bool {
    !p.ends_with("tests/fixtures/models/tiny4.onnx")
}

static ENV: Once = Once::new();

/// Sets the model the plugin loads (read in activate()) once for the whole test binary.
fn setup_env() -> PathBuf {
    let model = model_path();
    ENV.call_once(|| {
        // SAFETY: set once, before any plugin is loaded, while no other thread reads the environment.
        unsafe { std::env::set_var("INSTRUMENT_METER_MODEL", &model) };
    });
    model
}

struct Loaded {
    entry: PluginEntry,
    host_info: HostInfo,
}

fn load() -> Loaded {
    setup_env();
    let entry = match plugin_path() {
        // SAFETY: loading a plugin runs its code; it is the plugin under test.
        Some(path) => unsafe { PluginEntry::load(&path) }
            .unwrap_or_else(|e| panic!("cannot load {}: {e:?}", path.display())),
        // The plugin compiled into this test binary (same features, so `assert_process_allocs`
        // applies): its exported `clap_entry`, exactly what a host finds in the `.clap`.
        // SAFETY: `clap_entry` is a valid static CLAP entry for the life of the process.
        None => unsafe {
            PluginEntry::load_from_raw(
                &instrument_meter::plugin::clap_entry,
                c"instrument-meter-in-process",
            )
        }
        .expect("in-process entry"),
    };
    let host_info = HostInfo::new(
        "instrument-meter test host",
        "Instrument Meter",
        "https://example.org",
        "0.1.0",
    )
    .unwrap();
    Loaded { entry, host_info }
}

fn instantiate(l: &Loaded) -> PluginInstance<TestHost> {
    PluginInstance::<TestHost>::new(
        |_| TestShared {
            callback: AtomicBool::new(false),
        },
        |shared| TestMain { _shared: shared },
        &l.entry,
        PLUGIN_ID,
        &l.host_info,
    )
    .expect("instantiate plugin")
}

fn param_id(instance: &mut PluginInstance<TestHost>, name: &str) -> ClapId {
    let params: PluginParams = instance
        .plugin_shared_handle()
        .get_extension()
        .expect("params extension");
    let handle = instance.plugin_handle();
    let mut buf = ParamInfoBuffer::new();
    for i in 0..params.count(&handle) {
        let info = params.get_info(&handle, i, &mut buf).unwrap();
        if info.name == name.as_bytes() {
            return info.id;
        }
    }
    panic!("no parameter named {name}");
}

fn param_value(instance: &mut PluginInstance<TestHost>, id: ClapId) -> f64 {
    let params: PluginParams = instance.plugin_shared_handle().get_extension().unwrap();
    params.get_value(&instance.plugin_handle(), id).unwrap()
}

// ----------------------------------------------------------------------------------------- audio

/// Mono music at 44.1 kHz from the fixture, resampled to `rate` with the crate's resampler.
fn music_at(rate: u32) -> Vec<f32> {
    let path = Path::new(ROOT).join("tests/fixtures/audio/plugin_cello.flac");
    let mut reader = instrument_meter::decode::AudioFileReader::open(&path).unwrap();
    assert_eq!(reader.channels(), 1);
    let src_rate = reader.sample_rate();
    let mut mono = Vec::new();
    while let Some((block, _)) = reader.next_block().unwrap() {
        mono.extend_from_slice(block);
    }
    if rate == src_rate {
        return mono;
    }
    let mut rs =
        instrument_meter::analysis::resample::StreamResampler::new(src_rate, rate).unwrap();
    let mut out = Vec::new();
    rs.push(&mono, &mut |b: &[f32]| out.extend_from_slice(b));
    rs.finish(&mut |b: &[f32]| out.extend_from_slice(b));
    out
}

/// A CC the plugin sent: absolute sample position, channel, controller, value.
#[derive(Debug, Clone, Copy)]
struct Cc {
    pos: u64,
    channel: u8,
    cc: u8,
    value: u8,
}

struct RunResult {
    ccs: Vec<Cc>,
    bit_exact: bool,
    frames: usize,
}

/// Feeds stereo audio (left = music, right = music × 0.5 with a sign flip) block by block.
/// `pace` > 0 sleeps to run at `pace` × real time. `param_events` are sent with the first block.
#[allow(clippy::too_many_arguments)] // a test helper: every argument is one knob of the run
fn run_audio(
    instance: &mut PluginInstance<TestHost>,
    rate: u32,
    block: usize,
    music: &[f32],
    offline: bool,
    pace: f64,
    param_events: &[(ClapId, f64)],
    mut between_blocks: impl FnMut(&mut PluginInstance<TestHost>, usize),
) -> RunResult {
    if offline {
        let render: PluginRender = instance
            .plugin_shared_handle()
            .get_extension()
            .expect("render extension");
        render
            .set(&instance.plugin_handle(), RenderMode::Offline)
            .expect("offline mode");
    }
    let config = PluginAudioConfiguration {
        sample_rate: rate as f64,
        min_frames_count: 1,
        max_frames_count: block as u32,
    };
    let stopped = instance.activate(|_, _| (), config).expect("activate");
    let mut processor = stopped.start_processing().expect("start processing");

    let left: Vec<f32> = music.to_vec();
    let right: Vec<f32> = music.iter().map(|x| -0.5 * x).collect();
    let mut in_l = vec![0.0f32; block];
    let mut in_r = vec![0.0f32; block];
    let mut sc_l = vec![0.0f32; block];
    let mut sc_r = vec![0.0f32; block];
    let mut out_l = vec![0.0f32; block];
    let mut out_r = vec![0.0f32; block];
    let mut input_ports = AudioPorts::with_capacity(4, 2);
    let mut output_ports = AudioPorts::with_capacity(2, 1);
    let mut out_events = EventBuffer::with_capacity(256);
    let mut ccs = Vec::new();
    let mut bit_exact = true;
    let start = Instant::now();
    let mut pos = 0usize;
    let mut first = true;
    while pos < left.len() {
        let n = block.min(left.len() - pos);
        in_l[..n].copy_from_slice(&left[pos..pos + n]);
        in_r[..n].copy_from_slice(&right[pos..pos + n]);
        let in_events_vec: Vec<ParamValueEvent> = if first {
            param_events
                .iter()
                .map(|&(id, v)| ParamValueEvent::new(0, id, Pckn::match_all(), v))
                .collect()
        } else {
            Vec::new()
        };
        first = false;
        let in_events = InputEvents::from_buffer(&in_events_vec);
        out_events.clear();
        let mut output_events = OutputEvents::from_buffer(&mut out_events);
        {
            let inputs = input_ports.with_input_buffers([
                AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_input_only(
                        [
                            InputChannel::variable(&mut in_l[..n]),
                            InputChannel::variable(&mut in_r[..n]),
                        ]
                        .into_iter(),
                    ),
                },
                AudioPortBuffer {
                    latency: 0,
                    channels: AudioPortBufferType::f32_input_only(
                        [
                            InputChannel::constant(&mut sc_l[..n]),
                            InputChannel::constant(&mut sc_r[..n]),
                        ]
                        .into_iter(),
                    ),
                },
            ]);
            let mut outputs = output_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    [&mut out_l[..n], &mut out_r[..n]].into_iter(),
                ),
            }]);
            processor
                .process(
                    &inputs,
                    &mut outputs,
                    &in_events,
                    &mut output_events,
                    Some(pos as u64),
                    None,
                )
                .expect("process");
        }
        // Bit-exact pass-through (compare bits: -0.0 vs 0.0 or NaN payloads would also count).
        for i in 0..n {
            if out_l[i].to_bits() != left[pos + i].to_bits()
                || out_r[i].to_bits() != right[pos + i].to_bits()
            {
                bit_exact = false;
            }
        }
        for ev in out_events.iter() {
            if let Some(midi) = ev.as_event::<MidiEvent>() {
                let [status, d1, d2] = midi.data();
                if status & 0xf0 == 0xb0 {
                    ccs.push(Cc {
                        pos: (pos as u64) + ev.header().time() as u64,
                        channel: status & 0x0f,
                        cc: d1,
                        value: d2,
                    });
                }
            }
        }
        pos += n;
        between_blocks(instance, pos);
        if pace > 0.0 {
            let due = Duration::from_secs_f64(pos as f64 / rate as f64 / pace);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    }
    let stopped = processor.stop_processing();
    instance.deactivate(stopped);
    RunResult {
        ccs,
        bit_exact,
        frames: left.len(),
    }
}

/// The value of controller `cc` at every position where it was sent.
fn cc_track(ccs: &[Cc], cc: u8) -> Vec<(u64, u8)> {
    ccs.iter()
        .filter(|c| c.cc == cc)
        .map(|c| (c.pos, c.value))
        .collect()
}

fn value_at(track: &[(u64, u8)], pos: u64) -> u8 {
    track
        .iter()
        .take_while(|(p, _)| *p <= pos)
        .last()
        .map_or(0, |(_, v)| *v)
}

fn model_labels(model: &Path) -> Vec<String> {
    let runner = instrument_meter::ModelRunner::from_file(model, &Default::default()).unwrap();
    runner.info().labels.clone()
}

// ----------------------------------------------------------------------------------------- tests

#[test]
fn music_at_three_rates_passes_bit_exact_and_drives_cc() {
    let model = setup_env();
    let labels = model_labels(&model);
    let loaded = load();
    for (rate, block) in [(44_100u32, 512usize), (48_000, 64), (96_000, 480)] {
        let music = music_at(rate);
        let mut instance = instantiate(&loaded);
        let r = run_audio(
            &mut instance,
            rate,
            block,
            &music,
            true,
            0.0,
            &[],
            |_, _| {},
        );
        assert!(r.bit_exact, "{rate} Hz: output differs from input");
        assert!(!r.ccs.is_empty(), "{rate} Hz: no CC output");
        // Default settings: channel 1, first CC 20, one CC per class in label order.
        assert!(r
            .ccs
            .iter()
            .all(|c| c.channel == 0 && (20..20 + labels.len() as u8).contains(&c.cc)));
        // Sent only on change.
        for k in 0..labels.len() as u8 {
            let t = cc_track(&r.ccs, 20 + k);
            assert!(
                t.windows(2).all(|w| w[0].1 != w[1].1),
                "{rate} Hz: CC {} repeated a value",
                20 + k
            );
        }
        let sr = rate as u64;
        // Leading silence (0–2 s): every CC stays at 0.
        for k in 0..labels.len() as u8 {
            let t = cc_track(&r.ccs, 20 + k);
            assert!(
                t.iter().filter(|(p, _)| *p < 2 * sr).all(|(_, v)| *v == 0),
                "{rate} Hz: CC {} rose in silence",
                20 + k
            );
        }
        // While the cello plays (2–8 s) some CC rises; with the trained model it is the cello's.
        let max_during = |k: u8| {
            cc_track(&r.ccs, 20 + k)
                .iter()
                .filter(|(p, _)| (2 * sr..8 * sr + sr / 2).contains(p))
                .map(|(_, v)| *v)
                .max()
                .unwrap_or(0)
        };
        let peaks: Vec<u8> = (0..labels.len() as u8).map(max_during).collect();
        assert!(
            peaks.iter().any(|&v| v > 0),
            "{rate} Hz: no CC rose during the music: {peaks:?}"
        );
        if is_trained_model(&model) {
            let cel = labels
                .iter()
                .position(|l| l == "cel")
                .expect("model has a cello class");
            let best = (0..peaks.len()).max_by_key(|&i| peaks[i]).unwrap();
            assert_eq!(
                best, cel,
                "{rate} Hz: the cello CC should lead, peaks {peaks:?} for {labels:?}"
            );
            assert!(
                peaks[cel] >= 64,
                "{rate} Hz: cello CC peak {} too low",
                peaks[cel]
            );
        }
        // Trailing silence: the last window holding music ends ~1 s after it; 2 s later the 750-ms
        // release has decayed to e^(-2/0.75) ≈ 7 % of the peak: every CC is on its way to 0.
        let end = r.frames as u64 - 1;
        for k in 0..labels.len() as u8 {
            let v = value_at(&cc_track(&r.ccs, 20 + k), end);
            let limit = (peaks[k as usize] as f32 * 0.12).ceil() as u8 + 1;
            assert!(
                v <= limit,
                "{rate} Hz: CC {} still {v} (peak {}) at the end of the trailing silence",
                20 + k,
                peaks[k as usize]
            );
        }
        eprintln!(
            "{rate} Hz, {block}-sample blocks: bit-exact, {} CC messages, peaks during music {peaks:?} ({labels:?})",
            r.ccs.len()
        );
    }
}

#[test]
fn realtime_feed_keeps_up_and_counts_nothing_dropped() {
    setup_env();
    let loaded = load();
    let rate = 48_000;
    let music = music_at(rate);
    let mut instance = instantiate(&loaded);
    // Real-time mode (no offline wait), fed at 4× real time: the worker keeps up with a small
    // model; the audio thread never blocks either way.
    let r = run_audio(
        &mut instance,
        rate,
        256,
        &music[..music.len().min(9 * rate as usize)],
        false,
        4.0,
        &[],
        |_, _| {},
    );
    assert!(r.bit_exact);
    assert!(!r.ccs.is_empty());
}

#[test]
fn parameters_and_state_round_trip() {
    setup_env();
    let loaded = load();
    let mut a = instantiate(&loaded);
    let first_cc = param_id(&mut a, "First CC");
    let channel = param_id(&mut a, "MIDI channel");
    let sens = param_id(&mut a, "Sensitivity");
    let music = music_at(48_000);
    let clip = &music[2 * 48_000..5 * 48_000];
    let r = run_audio(
        &mut a,
        48_000,
        128,
        clip,
        true,
        0.0,
        &[(first_cc, 40.0), (channel, 3.0), (sens, 0.2)],
        |_, _| {},
    );
    assert!(r.bit_exact);
    // The new CC numbers and channel apply. nice-plug exposes stepped parameters to CLAP as step
    // indices (MIDI channel 1–16 → 0–15: 3.0 is channel 4, status nibble 3) and continuous ones
    // normalised (sensitivity 0.2 → −0.3).
    assert!(
        !r.ccs.is_empty() && r.ccs.iter().all(|c| c.cc >= 40 && c.channel == 3),
        "{:?}",
        &r.ccs[..r.ccs.len().min(5)]
    );

    let state: PluginState = a
        .plugin_shared_handle()
        .get_extension()
        .expect("state extension");
    let mut saved = Vec::new();
    state
        .save(&a.plugin_handle(), &mut saved)
        .expect("save state");
    let text = String::from_utf8_lossy(&saved);
    assert!(
        text.contains("editor-size") && text.contains("model-path"),
        "persisted fields missing: {text}"
    );

    let mut b = instantiate(&loaded);
    let state_b: PluginState = b.plugin_shared_handle().get_extension().unwrap();
    state_b
        .load(&b.plugin_handle(), &mut saved.as_slice())
        .expect("load state");
    assert!((param_value(&mut b, first_cc) - 40.0).abs() < 1e-4);
    assert!((param_value(&mut b, channel) - 3.0).abs() < 1e-4);
    assert!((param_value(&mut b, sens) - 0.2).abs() < 1e-6);
    // And the restored instance behaves the same.
    let r = run_audio(&mut b, 48_000, 128, clip, true, 0.0, &[], |_, _| {});
    assert!(!r.ccs.is_empty() && r.ccs.iter().all(|c| c.cc >= 40 && c.channel == 3));
}

#[test]
fn sample_rate_and_block_size_changes_reinitialise() {
    setup_env();
    let loaded = load();
    let mut instance = instantiate(&loaded);
    let music = music_at(44_100);
    for (rate, block) in [(44_100u32, 32usize), (88_200, 1024), (44_100, 4096)] {
        // Same samples, other rates: the point is a clean re-activation each time.
        let r = run_audio(
            &mut instance,
            rate,
            block,
            &music[..3 * 44_100],
            true,
            0.0,
            &[],
            |_, _| {},
        );
        assert!(r.bit_exact, "{rate} Hz / {block}");
    }
}

// ---------------------------------------------------------------------------------------- editor

/// A bare X11 top-level window to host the editor.
fn x11_parent(width: u16, height: u16) -> Option<(x11rb::rust_connection::RustConnection, u32)> {
    use x11rb::connection::Connection;
    use x11rb::protocol::xproto::{ConnectionExt, CreateWindowAux, EventMask, WindowClass};
    let (conn, screen_num) = x11rb::connect(None).ok()?;
    let screen = &conn.setup().roots[screen_num];
    let win = conn.generate_id().ok()?;
    conn.create_window(
        x11rb::COPY_DEPTH_FROM_PARENT,
        win,
        screen.root,
        0,
        0,
        width,
        height,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new()
            .background_pixel(screen.black_pixel)
            .event_mask(EventMask::STRUCTURE_NOTIFY),
    )
    .ok()?;
    conn.map_window(win).ok()?;
    conn.flush().ok()?;
    Some((conn, win))
}

#[test]
fn editor_opens_and_closes_under_x11() {
    if std::env::var_os("DISPLAY").is_none() {
        eprintln!("SKIPPED: no DISPLAY (run under xvfb-run to test the editor)");
        return;
    }
    setup_env();
    let loaded = load();
    let mut instance = instantiate(&loaded);
    let gui: PluginGui = instance
        .plugin_shared_handle()
        .get_extension()
        .expect("gui extension");
    let config = GuiConfiguration {
        api_type: GuiApiType::X11,
        is_floating: false,
    };
    assert!(gui.is_api_supported(&instance.plugin_handle(), config));
    gui.create(&instance.plugin_handle(), config)
        .expect("gui create");
    let size = gui.get_size(&instance.plugin_handle()).expect("gui size");
    assert!(size.width >= 560 && size.height >= 420, "{size:?}");
    let (conn, parent) = x11_parent(size.width as u16, size.height as u16).expect("X11 connection");
    // SAFETY: `parent` is a live X11 window owned by this test until after destroy().
    unsafe {
        gui.set_parent(
            &instance.plugin_handle(),
            ClapWindow::from_x11_handle(parent as _),
        )
    }
    .expect("set parent");
    gui.show(&instance.plugin_handle()).expect("show");

    let screenshot = std::env::var_os("INSTRUMENT_METER_SCREENSHOT");
    let rate = 48_000;
    let mut audio = Vec::new();
    if screenshot.is_some() {
        // Real music for the picture: the bundled example mixture (piano, flute, cello), looped.
        let path = Path::new(ROOT).join("assets/examples/example.ogg");
        let mut reader = instrument_meter::decode::AudioFileReader::open(&path).unwrap();
        let (ch, sr) = (reader.channels(), reader.sample_rate());
        let mut mono = Vec::new();
        while let Some((b, _)) = reader.next_block().unwrap() {
            mono.extend(b.chunks(ch).map(|f| f.iter().sum::<f32>() / ch as f32));
        }
        let mut rs = instrument_meter::analysis::resample::StreamResampler::new(sr, rate).unwrap();
        let mut x = Vec::new();
        rs.push(&mono, &mut |b: &[f32]| x.extend_from_slice(b));
        let cello = music_at(rate);
        let secs: f64 = std::env::var("INSTRUMENT_METER_SCREENSHOT_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(24.0);
        while (audio.len() as f64) < secs * rate as f64 {
            audio.extend_from_slice(&x);
            audio.extend_from_slice(&cello[2 * rate as usize..8 * rate as usize]);
        }
        audio.truncate((secs * rate as f64) as usize);
    } else {
        audio = music_at(rate)[..3 * rate as usize].to_vec();
    }
    let total = audio.len();
    let mut shot_taken = false;
    let mut between = |inst: &mut PluginInstance<TestHost>, pos: usize| {
        if inst.access_shared_handler(|s: &TestShared| s.callback.swap(false, Ordering::AcqRel)) {
            inst.call_on_main_thread_callback();
        }
        // Take the picture just before the end, while the plugin is still analysing.
        if let Some(path) = &screenshot {
            if !shot_taken && pos + rate as usize / 4 >= total {
                shot_taken = true;
                let status = std::process::Command::new("import")
                    .args(["-window", &format!("{parent}")])
                    .arg(path)
                    .status()
                    .expect("ImageMagick import");
                assert!(status.success());
                eprintln!("screenshot written to {}", Path::new(path).display());
            }
        }
    };
    let r = run_audio(
        &mut instance,
        rate,
        512,
        &audio,
        false,
        1.0,
        &[],
        &mut between,
    );
    assert!(r.bit_exact);
    gui.hide(&instance.plugin_handle()).expect("hide");
    gui.destroy(&instance.plugin_handle());
    drop(conn);
}
