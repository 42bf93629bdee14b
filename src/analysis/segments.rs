//! Per-instrument segments: the stretches of a file where the detector holds an instrument on.

use serde::{Serialize, Serializer};

/// Microseconds and six decimals: far below any meaningful difference, and short JSON.
fn round_time<S: Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((t * 1e6).round() / 1e6)
}

fn round_value<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((*v as f64 * 1e6).round() / 1e6)
}

/// One detected stretch of one instrument.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Segment {
    /// Class index in the model's label order (not serialised: `label` names it).
    #[serde(skip)]
    pub class: usize,
    /// The class code (`cel`, `voi`, ...).
    pub label: String,
    #[serde(serialize_with = "round_time")]
    pub start_s: f64,
    #[serde(serialize_with = "round_time")]
    pub end_s: f64,
    /// Highest and mean activation inside the segment.
    #[serde(serialize_with = "round_value")]
    pub peak: f32,
    #[serde(serialize_with = "round_value")]
    pub mean: f32,
}
