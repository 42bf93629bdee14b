//! The Instrument Meter plugin (CLAP, VST3, standalone) on nice-plug.
//!
//! Threads (docs/architecture.md):
//! - audio thread, [`InstrumentMeter::process`]: audio passes through untouched; the analysed input is
//!   downmixed into an SPSC ring ([`feeder::Feeder`]); the latest activations are read from atomics
//!   and sent as MIDI CC / note gates ([`midi_out::Automation`]). No allocation, lock, log or syscall
//!   (checked with nice-plug's `assert_process_allocs` in the tests).
//! - analysis worker ([`worker`]): created in `activate()` with the model already loaded
//!   ([`model_source`]), joined in `deactivate()`/drop.
//! - editor ([`editor`]): egui panel reading the atomics and the worker's panel snapshots.

pub mod editor;
pub mod feeder;
pub mod midi_out;
pub mod model_source;
pub mod params;
pub mod shared;
pub mod worker;

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;

use self::feeder::Feeder;
use self::midi_out::{Automation, AutomationSettings, MidiOut};
use self::model_source::ModelCache;
use self::params::{GateMode, MeterParams, Source};
use self::shared::Shared;
use self::worker::{Worker, WorkerConfig};

/// Seconds of host audio the ring holds before the audio thread starts dropping blocks.
const RING_SECONDS: f64 = 4.0;

/// The plugin.
pub struct InstrumentMeter {
    params: Arc<MeterParams>,
    shared: Arc<Shared>,
    feeder: Option<Feeder>,
    worker: Option<Worker>,
    automation: Automation,
    /// The model of the previous activation, reused when the path did not change.
    model_cache: ModelCache,
}

impl Default for InstrumentMeter {
    fn default() -> Self {
        let shared = Arc::new(Shared::default());
        #[cfg(feature = "test-hooks")]
        shared::register(&shared);
        InstrumentMeter {
            params: Arc::new(MeterParams::default()),
            shared,
            feeder: None,
            worker: None,
            automation: Automation::default(),
            model_cache: ModelCache::default(),
        }
    }
}

impl InstrumentMeter {
    fn stop_worker(&mut self) {
        self.feeder = None;
        if let Some(m) = self.worker.take().and_then(Worker::join) {
            self.model_cache.put(m);
        }
    }
}

const fn nz(n: u32) -> NonZeroU32 {
    new_nonzero_u32(n)
}

impl Plugin for InstrumentMeter {
    const NAME: &'static str = "Instrument Meter";
    const VENDOR: &'static str = "Instrument Meter project";
    const URL: &'static str = "https://github.com/instrument-meter/instrument-meter";
    const EMAIL: &'static str = "instrument-meter@example.org";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: Some(nz(2)),
            main_output_channels: Some(nz(2)),
            aux_input_ports: &[nz(2)],
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: Some(nz(2)),
            main_output_channels: Some(nz(2)),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: Some(nz(1)),
            main_output_channels: Some(nz(1)),
            aux_input_ports: &[nz(1)],
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: Some(nz(1)),
            main_output_channels: Some(nz(1)),
            ..AudioIOLayout::const_default()
        },
    ];

    const MIDI_INPUT: MidiConfig = MidiConfig::None;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::MidiCCs;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = editor::Editor;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.params.clone(), self.shared.clone())
    }

    fn activate(
        &mut self,
        _layout: &AudioIOLayout,
        config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        // Re-initialise cleanly on every activation (sample rate, block size or mode changes).
        self.stop_worker();
        let rate = config.sample_rate.round().max(1.0) as u32;
        let offline = config.process_mode == ProcessMode::Offline;
        let capacity =
            ((RING_SECONDS * rate as f64) as usize).max(8 * config.max_buffer_size as usize);
        let (producer, consumer) = rtrb::RingBuffer::new(capacity);

        let sh = self.shared.clone();
        sh.host_rate.store(rate, Ordering::Relaxed);
        sh.windows_dropped.store(0, Ordering::Relaxed);
        sh.samples_lost.store(0, Ordering::Relaxed);
        sh.analysed_samples.store(0, Ordering::Relaxed);
        sh.reset_requested.store(false, Ordering::Relaxed);
        sh.reload_requested.store(false, Ordering::Relaxed);
        sh.classes.store(0, Ordering::Release);
        sh.clear_activations();

        let model = match self.model_cache.take(self.params.user_model_path()) {
            Ok(m) => Some(m),
            Err(e) => {
                self.shared.update_panel(|p| {
                    p.status.info = None;
                    p.status.error = Some(e.clone());
                });
                None
            }
        };
        match Worker::spawn(WorkerConfig {
            consumer,
            model,
            host_rate: rate,
            max_block: config.max_buffer_size as usize,
            offline,
            shared: self.shared.clone(),
            params: self.params.clone(),
        }) {
            Ok(w) => {
                let wake = if offline { w.thread() } else { None };
                self.worker = Some(w);
                self.feeder = Some(Feeder::new(producer, self.shared.clone(), wake));
            }
            Err(e) => {
                // Audio still passes through; the panel says why nothing is analysed.
                self.shared
                    .set_error(format!("Cannot start the analysis thread: {e}"));
            }
        }
        self.automation = Automation::default();
        true
    }

    fn reset(&mut self) {
        self.shared.reset_requested.store(true, Ordering::Release);
    }

    fn deactivate(&mut self) {
        self.stop_worker();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Audio passes through untouched: the buffer is the host's in-place output.
        if let Some(feeder) = self.feeder.as_mut() {
            let use_sidechain = self.params.source.value() == Source::Sidechain;
            match aux.inputs.first() {
                Some(sc) if use_sidechain && sc.channels() > 0 => {
                    feeder.push(sc.as_slice_immutable())
                }
                _ => feeder.push(buffer.as_slice_immutable()),
            }
        }

        let p = &self.params;
        let settings = AutomationSettings {
            enabled: p.midi_out.value(),
            channel: (p.midi_channel.value().clamp(1, 16) - 1) as u8,
            first_cc: p.first_cc.value().clamp(0, 127) as u8,
            gates: p.gate_mode.value() == GateMode::Notes,
            first_note: p.first_note.value().clamp(0, 127) as u8,
        };
        self.automation.update(&self.shared, settings, &mut |m| {
            let event = match m {
                MidiOut::Cc { channel, cc, value } => NoteEvent::MidiCC {
                    timing: 0,
                    channel,
                    cc,
                    value: value as f32 / 127.0,
                },
                MidiOut::NoteOn {
                    channel,
                    key,
                    velocity,
                } => NoteEvent::NoteOn {
                    timing: 0,
                    voice_id: VoiceID::Wildcard,
                    channel: Channel::Number(channel),
                    key: Key::Number(key),
                    velocity: velocity as f32 / 127.0,
                },
                MidiOut::NoteOff { channel, key } => NoteEvent::NoteOff {
                    timing: 0,
                    voice_id: VoiceID::Wildcard,
                    channel: Channel::Number(channel),
                    key: Key::Number(key),
                    velocity: 0.0,
                },
            };
            // A full host event queue drops the message; the next change resends the value.
            let _ = context.try_send_event(event);
        });
        ProcessStatus::KeepAlive
    }
}

impl Drop for InstrumentMeter {
    fn drop(&mut self) {
        self.stop_worker();
    }
}

impl ClapPlugin for InstrumentMeter {
    const CLAP_ID: &'static str = "org.instrument-meter.instrument-meter";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Tells which instruments are playing, live, and sends them as MIDI CC");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Analyzer,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Utility,
    ];
}

impl Vst3Plugin for InstrumentMeter {
    const VST3_CLASS_ID: [u8; 16] = *b"InstrumentMeter1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Analyzer];
}

nice_export_clap!(InstrumentMeter);
nice_export_vst3!(InstrumentMeter);
