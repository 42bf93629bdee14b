//! A headless CLAP host on `clack-host` for the plugin tests (tests/plugin_clap_host.rs,
//! tests/plugin_stress.rs).
//!
//! Loads the plugin — the binary named by `INSTRUMENT_METER_CLAP` if set (e.g. the bundled
//! `target/bundled/Instrument Meter.clap`), else the plugin compiled into the test through its
//! exported `clap_entry` (so `--features assert_process_allocs` checks process() for allocations) —
//! and drives it block by block through [`Stream`], checking every block's output bit for bit
//! against its input and every output event for validity.
#![allow(dead_code)] // each test binary uses part of it

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use clack_extensions::audio_ports_config::PluginAudioPortsConfig;
use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_extensions::render::{PluginRender, RenderMode};
use clack_host::events::event_types::{MidiEvent, NoteOffEvent, NoteOnEvent, ParamValueEvent};
use clack_host::events::Pckn;
use clack_host::prelude::*;
use clack_host::utils::ClapId;

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const PLUGIN_ID: &CStr = c"org.instrument-meter.instrument-meter";

// ------------------------------------------------------------------------------------------ host

pub struct TestHost;
pub struct TestShared {
    pub callback: AtomicBool,
}
pub struct TestMain<'a> {
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
pub fn plugin_path() -> Option<PathBuf> {
    std::env::var_os("INSTRUMENT_METER_CLAP").map(PathBuf::from)
}

/// The model the tests run: `INSTRUMENT_METER_MODEL`, else the trained `assets/model.onnx`, else
/// the random-weight fixture.
pub fn model_path() -> PathBuf {
    if let Some(p) = std::env::var_os("INSTRUMENT_METER_MODEL") {
        return PathBuf::from(p);
    }
    let trained = Path::new(ROOT).join("assets/model.onnx");
    if trained.is_file() {
        return trained;
    }
    Path::new(ROOT).join("tests/fixtures/models/tiny4.onnx")
}

pub fn is_trained_model(p: &Path) -> bool {
    !p.ends_with("tests/fixtures/models/tiny4.onnx")
}

static ENV: Once = Once::new();

/// Sets the model the plugin loads (read in activate()) once for the whole test binary.
pub fn setup_env() -> PathBuf {
    let model = model_path();
    ENV.call_once(|| {
        // SAFETY: set once, before any plugin is loaded, while no other thread reads the environment.
        unsafe { std::env::set_var("INSTRUMENT_METER_MODEL", &model) };
    });
    model
}

pub struct Loaded {
    pub entry: PluginEntry,
    pub host_info: HostInfo,
}

fn host_info() -> HostInfo {
    HostInfo::new(
        "instrument-meter test host",
        "Instrument Meter",
        "https://example.org",
        "0.1.0",
    )
    .unwrap()
}

/// The plugin under test: `INSTRUMENT_METER_CLAP` if set, else the in-process entry.
pub fn load() -> Loaded {
    match plugin_path() {
        Some(path) => load_file(&path),
        None => {
            setup_env();
            // The plugin compiled into this test binary (same features, so `assert_process_allocs`
            // applies): its exported `clap_entry`, exactly what a host finds in the `.clap`.
            // SAFETY: `clap_entry` is a valid static CLAP entry for the life of the process.
            let entry = unsafe {
                PluginEntry::load_from_raw(
                    &instrument_meter::plugin::clap_entry,
                    c"instrument-meter-in-process",
                )
            }
            .expect("in-process entry");
            Loaded {
                entry,
                host_info: host_info(),
            }
        }
    }
}

/// A plugin binary (`.clap`), opened with `dlopen`; dropping the result unloads it.
pub fn load_file(path: &Path) -> Loaded {
    setup_env();
    // SAFETY: loading a plugin runs its code; it is the plugin under test.
    let entry = unsafe { PluginEntry::load(path) }
        .unwrap_or_else(|e| panic!("cannot load {}: {e:?}", path.display()));
    Loaded {
        entry,
        host_info: host_info(),
    }
}

pub fn instantiate(l: &Loaded) -> PluginInstance<TestHost> {
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

pub fn param_id(instance: &mut PluginInstance<TestHost>, name: &str) -> ClapId {
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

/// Every parameter's id.
pub fn param_ids(instance: &mut PluginInstance<TestHost>) -> Vec<ClapId> {
    let params: PluginParams = instance.plugin_shared_handle().get_extension().unwrap();
    let handle = instance.plugin_handle();
    let mut buf = ParamInfoBuffer::new();
    (0..params.count(&handle))
        .map(|i| params.get_info(&handle, i, &mut buf).unwrap().id)
        .collect()
}

pub fn param_value(instance: &mut PluginInstance<TestHost>, id: ClapId) -> f64 {
    let params: PluginParams = instance.plugin_shared_handle().get_extension().unwrap();
    params.get_value(&instance.plugin_handle(), id).unwrap()
}

// ----------------------------------------------------------------------------------------- audio

/// Mono music at 44.1 kHz from the fixture, resampled to `rate` with the crate's resampler.
pub fn music_at(rate: u32) -> Vec<f32> {
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
pub struct Cc {
    pub pos: u64,
    pub channel: u8,
    pub cc: u8,
    pub value: u8,
}

/// The plugin's audio port configurations (nice-plug numbers them in `AUDIO_IO_LAYOUTS` order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Stereo in/out with a stereo sidechain (the default).
    StereoSidechain,
    /// Mono in/out, no sidechain.
    Mono,
}

impl Layout {
    pub fn channels(self) -> usize {
        match self {
            Layout::StereoSidechain => 2,
            Layout::Mono => 1,
        }
    }
    fn config_id(self) -> u32 {
        match self {
            Layout::StereoSidechain => 0,
            Layout::Mono => 3,
        }
    }
    fn sidechain(self) -> bool {
        self == Layout::StereoSidechain
    }
}

/// An activated, processing plugin fed block by block.
pub struct Stream {
    processor: StartedPluginAudioProcessor<TestHost>,
    layout: Layout,
    ins: Vec<Vec<f32>>,
    sc: Vec<Vec<f32>>,
    outs: Vec<Vec<f32>>,
    input_ports: AudioPorts,
    output_ports: AudioPorts,
    out_events: EventBuffer,
    /// Frames processed since activation.
    pub pos: u64,
    /// Every CC the plugin sent.
    pub ccs: Vec<Cc>,
    /// Every output block matched its input bit for bit (NaN payloads and -0.0 included).
    pub bit_exact: bool,
    /// Output events that are not valid MIDI, or carry non-finite values.
    pub bad_events: Vec<String>,
    /// The longest single process() call.
    pub max_process: Duration,
    /// What the host passes on the sidechain port of a layout that has one.
    pub sidechain: Sidechain,
}

/// The sidechain port as the host offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidechain {
    /// Offered, silent (flagged constant).
    Silent,
    /// Not offered: the host passes fewer input ports than the layout has.
    Absent,
}

impl Stream {
    /// Selects `layout`, sets the render mode and activates at `rate` with blocks up to `max_block`.
    pub fn start(
        instance: &mut PluginInstance<TestHost>,
        rate: u32,
        max_block: usize,
        layout: Layout,
        offline: bool,
    ) -> Stream {
        let ports: PluginAudioPortsConfig = instance
            .plugin_shared_handle()
            .get_extension()
            .expect("audio-ports-config extension");
        ports
            .select(&instance.plugin_handle(), ClapId::new(layout.config_id()))
            .expect("select audio port configuration");
        let render: PluginRender = instance
            .plugin_shared_handle()
            .get_extension()
            .expect("render extension");
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        render
            .set(&instance.plugin_handle(), mode)
            .expect("render mode");
        let config = PluginAudioConfiguration {
            sample_rate: rate as f64,
            min_frames_count: 1,
            max_frames_count: max_block as u32,
        };
        let stopped = instance.activate(|_, _| (), config).expect("activate");
        let processor = stopped.start_processing().expect("start processing");
        let ch = layout.channels();
        Stream {
            processor,
            layout,
            ins: vec![vec![0.0; max_block]; ch],
            sc: vec![vec![0.0; max_block]; if layout.sidechain() { ch } else { 0 }],
            outs: vec![vec![0.0; max_block]; ch],
            input_ports: AudioPorts::with_capacity(2 * ch, 2),
            output_ports: AudioPorts::with_capacity(ch, 1),
            out_events: EventBuffer::with_capacity(256),
            pos: 0,
            ccs: Vec::new(),
            bit_exact: true,
            bad_events: Vec::new(),
            max_process: Duration::ZERO,
            sidechain: Sidechain::Silent,
        }
    }

    /// Fills the sidechain buffers (offered or not) with `planes`, one per channel.
    pub fn fill_sidechain(&mut self, planes: &[&[f32]]) {
        for (buf, p) in self.sc.iter_mut().zip(planes) {
            buf[..p.len()].copy_from_slice(p);
        }
    }

    /// Processes one block: `planes` (one slice per channel, equal lengths) with `params`
    /// (id, CLAP value) sent at its start.
    /// Feeds `clip` to every input channel in `block`-frame blocks, paced at `speed` × real time
    /// (the worker runs against the clock as in a host).
    pub fn process_paced(
        &mut self,
        clip: &[f32],
        channels: usize,
        rate: u32,
        block: usize,
        speed: f64,
    ) {
        let start = std::time::Instant::now();
        for (k, c) in clip.chunks(block).enumerate() {
            let planes = vec![c; channels];
            self.process(&planes, &[]);
            let due =
                std::time::Duration::from_secs_f64(((k + 1) * block) as f64 / rate as f64 / speed);
            if let Some(w) = due.checked_sub(start.elapsed()) {
                std::thread::sleep(w);
            }
        }
    }

    pub fn process(&mut self, planes: &[&[f32]], params: &[(ClapId, f64)]) {
        let n = planes[0].len();
        assert_eq!(planes.len(), self.layout.channels());
        let in_events_vec: Vec<ParamValueEvent> = params
            .iter()
            .map(|&(id, v)| ParamValueEvent::new(0, id, Pckn::match_all(), v))
            .collect();
        let in_events = InputEvents::from_buffer(&in_events_vec);
        for (buf, p) in self.ins.iter_mut().zip(planes) {
            buf[..n].copy_from_slice(p);
        }
        self.out_events.clear();
        let has_sidechain = !self.sc.is_empty() && self.sidechain == Sidechain::Silent;
        let Stream {
            processor,
            ins,
            sc,
            outs,
            input_ports,
            output_ports,
            out_events,
            pos,
            max_process,
            ..
        } = self;
        {
            let main = AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(input_channels(ins, n, false)),
            };
            let side = AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_input_only(input_channels(sc, n, true)),
            };
            let inputs = if has_sidechain {
                input_ports.with_input_buffers([main, side])
            } else {
                input_ports.with_input_buffers([main])
            };
            let mut outputs = output_ports.with_output_buffers([AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    outs.iter_mut().map(|c| &mut c[..n]),
                ),
            }]);
            let mut output_events = OutputEvents::from_buffer(out_events);
            let t0 = Instant::now();
            processor
                .process(
                    &inputs,
                    &mut outputs,
                    &in_events,
                    &mut output_events,
                    Some(*pos),
                    None,
                )
                .expect("process");
            *max_process = (*max_process).max(t0.elapsed());
        }
        // Bit-exact pass-through (compare bits: -0.0 vs 0.0 or NaN payloads would also count).
        for (out, inp) in self.outs.iter().zip(planes) {
            if out[..n]
                .iter()
                .zip(inp.iter())
                .any(|(a, b)| a.to_bits() != b.to_bits())
            {
                self.bit_exact = false;
            }
        }
        self.check_events();
        self.pos += n as u64;
    }

    fn check_events(&mut self) {
        for ev in self.out_events.iter() {
            if let Some(midi) = ev.as_event::<MidiEvent>() {
                let [status, d1, d2] = midi.data();
                if status & 0x80 == 0 || d1 > 127 || d2 > 127 {
                    self.bad_events
                        .push(format!("invalid MIDI {:?}", midi.data()));
                }
                if status & 0xf0 == 0xb0 {
                    self.ccs.push(Cc {
                        pos: self.pos + ev.header().time() as u64,
                        channel: status & 0x0f,
                        cc: d1,
                        value: d2,
                    });
                }
            } else if let Some(p) = ev.as_event::<ParamValueEvent>() {
                if !p.value().is_finite() {
                    self.bad_events
                        .push(format!("parameter value {}", p.value()));
                }
            } else if let Some(n) = ev.as_event::<NoteOnEvent>() {
                if !(0.0..=1.0).contains(&n.velocity()) {
                    self.bad_events
                        .push(format!("note on velocity {}", n.velocity()));
                }
            } else if let Some(n) = ev.as_event::<NoteOffEvent>() {
                if !(0.0..=1.0).contains(&n.velocity()) {
                    self.bad_events
                        .push(format!("note off velocity {}", n.velocity()));
                }
            }
        }
    }

    /// The host's reset() (transport jump) on the audio thread.
    pub fn reset(&mut self) {
        self.processor.reset();
    }

    /// Stops processing and deactivates.
    pub fn stop(self, instance: &mut PluginInstance<TestHost>) {
        let stopped = self.processor.stop_processing();
        instance.deactivate(stopped);
    }
}

/// The first `n` frames of each buffer as input channels (`constant`: flagged constant, as a
/// silent sidechain would be).
fn input_channels(
    bufs: &mut [Vec<f32>],
    n: usize,
    constant: bool,
) -> impl Iterator<Item = InputChannel<'_, f32>> {
    bufs.iter_mut().map(move |c| InputChannel {
        buffer: &mut c[..n],
        is_constant: constant,
    })
}

/// The value of controller `cc` at every position where it was sent.
pub fn cc_track(ccs: &[Cc], cc: u8) -> Vec<(u64, u8)> {
    ccs.iter()
        .filter(|c| c.cc == cc)
        .map(|c| (c.pos, c.value))
        .collect()
}

pub fn value_at(track: &[(u64, u8)], pos: u64) -> u8 {
    track
        .iter()
        .take_while(|(p, _)| *p <= pos)
        .last()
        .map_or(0, |(_, v)| *v)
}

// ---------------------------------------------------------------------------------------- editor

/// A bare X11 top-level window to host the editor.
pub fn x11_parent(
    width: u16,
    height: u16,
) -> Option<(x11rb::rust_connection::RustConnection, u32)> {
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
    // A round trip, not just a flush: the plugin reparents from its own connection, and the server
    // orders requests only per client, so it could see the reparent before our window exists.
    x11rb::wrapper::ConnectionExt::sync(&conn).ok()?;
    Some((conn, win))
}

/// Embeds the created editor in the X11 window `parent` and shows it.
pub fn show_editor_in(
    gui: &clack_extensions::gui::PluginGui,
    instance: &mut PluginInstance<TestHost>,
    parent: u32,
) {
    use clack_extensions::gui::Window as ClapWindow;
    // SAFETY: `parent` is a live X11 window owned by the caller until after destroy().
    unsafe {
        gui.set_parent(
            &instance.plugin_handle(),
            ClapWindow::from_x11_handle(parent as _),
        )
    }
    .expect("set parent");
    gui.show(&instance.plugin_handle()).expect("show");
}

// ----------------------------------------------------------------------------------- process info

/// Threads in this process, and how many of them are analysis workers. Waits a moment first:
/// a new thread names itself only once it runs.
pub fn thread_counts() -> (usize, usize) {
    std::thread::sleep(Duration::from_millis(20));
    let mut total = 0;
    let mut workers = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        total += 1;
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("instrument-mete") {
            workers += 1;
        }
    }
    (total, workers)
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM, …) in bytes.
pub fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds (user + system) of every analysis worker thread alive now, and of the process.
pub fn cpu_seconds() -> (f64, f64) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let fields = |stat: &str| -> f64 {
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / ticks
    };
    let mut workers = 0.0;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with("instrument-mete") {
            if let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) {
                workers += fields(&stat);
            }
        }
    }
    let process = fields(&std::fs::read_to_string("/proc/self/stat").unwrap());
    (workers, process)
}
