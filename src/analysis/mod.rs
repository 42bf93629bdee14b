//! The analysis core shared by the CLI and the plugin.
//!
//! Pipeline (docs/model-contract.md): downmix to mono (non-finite or beyond ±1000 → 0) → resample to the model
//! rate → a window every hop → silence floor → normalise → model → per-window probabilities →
//! clip score (mean) → detection (per-class thresholds, the user's offset, smoothing, hysteresis:
//! [`detect`]).

pub mod aggregate;
pub mod analyzer;
pub mod decimate;
pub mod detect;
pub mod downmix;
pub mod frontend;
pub mod normalize;
pub mod resample;
pub mod segments;
pub mod window;

pub use aggregate::ClipAggregator;
pub use analyzer::{AnalysisError, Analyzer, WindowResult};
pub use detect::{detect, Detector, DetectorConfig, Smoothing, ThresholdOverride};
pub use frontend::{AnalysisConfig, ConfigError, FrontEnd, PreparedWindow};
pub use resample::{UnsupportedRate, INPUT_RATE_RANGE};
pub use segments::{detect_segments, Detection, Segment};
