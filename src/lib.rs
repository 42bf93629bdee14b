//! Instrument Meter: which instruments are playing, from the raw waveform.
//!
//! One analysis core ([`analysis`]) serves the CLI and the plugin. Models follow the contract in
//! `docs/model-contract.md` and run on ONNX Runtime ([`runtime`], [`model`]).

pub mod analysis;
pub mod decode;
pub mod export;
pub mod memory;
pub mod midi_map;
pub mod model;
pub mod offline;
pub mod palette;
pub mod runtime;

/// The CLAP/VST3/standalone plugin (feature `plugin`).
#[cfg(feature = "plugin")]
pub mod plugin;

pub use analysis::{AnalysisConfig, Analyzer, ClipAggregator, ThresholdOverride, WindowResult};
pub use model::{ModelError, ModelInfo, ModelRunner, SessionConfig};
