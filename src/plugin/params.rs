//! The plugin's parameters, saved with the host project.

use std::sync::{Arc, RwLock};

use nice_plug::prelude::*;

use crate::midi_map;

/// Default editor size in logical pixels.
pub const DEFAULT_EDITOR_SIZE: (u32, u32) = (820, 560);
/// Smallest editor size in logical pixels.
pub const MIN_EDITOR_SIZE: (u32, u32) = (560, 420);

/// Whether detections are also sent as MIDI notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum GateMode {
    /// CC only.
    #[name = "Off"]
    Off,
    /// A note on/off per instrument (threshold with hysteresis), besides the CCs.
    #[name = "Notes"]
    Notes,
}

/// Which input the analysis listens to. Audio always passes through from the main input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum Source {
    #[name = "Main input"]
    Main,
    #[name = "Sidechain"]
    Sidechain,
}

/// Display names of the default (IRMAS) classes, for the "Detected: …" parameters.
pub const DETECTED_NAMES: [&str; DETECTED_PARAMS] = [
    "Cello",
    "Clarinet",
    "Flute",
    "Acoustic guitar",
    "Electric guitar",
    "Organ",
    "Piano",
    "Saxophone",
    "Trumpet",
    "Violin",
    "Voice",
];
/// Number of "Detected: …" parameters (the first classes of the model, in label order).
pub const DETECTED_PARAMS: usize = 11;

/// A read-only-style mirror of one detection, written by the editor while it is open so that
/// hosts can record detections as automation (docs/plugin.md).
#[derive(Params)]
pub struct DetectedParam {
    #[id = "detected"]
    pub on: BoolParam,
}

#[derive(Params)]
pub struct MeterParams {
    /// Editor size in logical pixels (width, height).
    #[persist = "editor-size"]
    pub editor_size: Arc<RwLock<(u32, u32)>>,

    /// Optional user model (a `.onnx` following docs/model-contract.md); empty = embedded model.
    #[persist = "model-path"]
    pub model_path: Arc<RwLock<String>>,

    /// Detection sensitivity: the effective threshold is the model's threshold minus this value,
    /// clamped to [0.01, 0.99] (positive = detects more readily; `analysis::detect`).
    #[id = "sensitivity"]
    pub sensitivity: FloatParam,

    /// Rise time constant of the activation smoothing.
    #[id = "attack"]
    pub attack_ms: FloatParam,

    /// Fall time constant of the activation smoothing.
    #[id = "release"]
    pub release_ms: FloatParam,

    /// Seconds between analysis windows.
    #[id = "hop"]
    pub hop_s: FloatParam,

    /// Which input is analysed.
    #[id = "source"]
    pub source: EnumParam<Source>,

    /// Send MIDI CC (and gates) at all.
    #[id = "midi_out"]
    pub midi_out: BoolParam,

    /// MIDI channel, 1–16.
    #[id = "midi_channel"]
    pub midi_channel: IntParam,

    /// CC number of the first instrument; instrument i uses first + i (numbers above 127 are not sent).
    #[id = "first_cc"]
    pub first_cc: IntParam,

    /// Note gates on/off.
    #[id = "gate_mode"]
    pub gate_mode: EnumParam<GateMode>,

    /// Detection hysteresis: a detected instrument turns off below threshold − hysteresis.
    #[id = "hysteresis"]
    pub hysteresis: FloatParam,

    /// Note number of the first instrument's gate; instrument i uses first + i.
    #[id = "first_note"]
    pub first_note: IntParam,

    /// "Detected: <instrument>" mirrors, IDs `detected_1` … `detected_11`.
    #[nested(array)]
    pub detected: [DetectedParam; DETECTED_PARAMS],
}

impl Default for MeterParams {
    fn default() -> Self {
        Self::with_hop(0.25)
    }
}

impl MeterParams {
    /// The defaults with another default analysis hop (benchmarks and tests drive the worker
    /// without a host to set parameters).
    pub fn with_hop(hop_s: f32) -> Self {
        MeterParams {
            editor_size: Arc::new(RwLock::new(DEFAULT_EDITOR_SIZE)),
            model_path: Arc::new(RwLock::new(String::new())),
            sensitivity: FloatParam::new(
                "Sensitivity",
                0.0,
                FloatRange::Linear {
                    min: -0.5,
                    max: 0.5,
                },
            )
            .with_step_size(0.01)
            .with_value_to_string(Arc::new(|v| format!("{v:+.2}"))),
            attack_ms: FloatParam::new(
                "Attack",
                0.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 5000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_unit(" ms")
            .with_step_size(1.0),
            release_ms: FloatParam::new(
                "Release",
                750.0,
                FloatRange::Skewed {
                    min: 0.0,
                    max: 10000.0,
                    factor: FloatRange::skew_factor(-2.0),
                },
            )
            .with_unit(" ms")
            .with_step_size(1.0),
            hop_s: FloatParam::new(
                "Analysis hop",
                hop_s,
                FloatRange::Linear {
                    min: 0.05,
                    max: 1.0,
                },
            )
            .with_unit(" s")
            .with_step_size(0.05),
            source: EnumParam::new("Analyse", Source::Main),
            midi_out: BoolParam::new("MIDI out", true),
            midi_channel: IntParam::new(
                "MIDI channel",
                midi_map::DEFAULT_CHANNEL as i32,
                IntRange::Linear { min: 1, max: 16 },
            ),
            first_cc: IntParam::new(
                "First CC",
                midi_map::DEFAULT_FIRST_CC as i32,
                IntRange::Linear { min: 0, max: 127 },
            ),
            gate_mode: EnumParam::new("Note gates", GateMode::Off),
            hysteresis: FloatParam::new(
                "Hysteresis",
                0.05,
                FloatRange::Linear { min: 0.0, max: 0.3 },
            )
            .with_step_size(0.01),
            first_note: IntParam::new(
                "First gate note",
                midi_map::DEFAULT_FIRST_NOTE as i32,
                IntRange::Linear { min: 0, max: 127 },
            ),
            detected: std::array::from_fn(|i| DetectedParam {
                on: BoolParam::new(format!("Detected: {}", DETECTED_NAMES[i]), false),
            }),
        }
    }

    /// The user model path, if one is set.
    pub fn user_model_path(&self) -> Option<String> {
        let p = self.model_path.read().unwrap_or_else(|e| e.into_inner());
        let t = p.trim();
        (!t.is_empty()).then(|| t.to_string())
    }
}
