//! Per-instrument segments: the stretches of a file where the streaming detector (the plugin's:
//! thresholds, smoothing, hysteresis) holds an instrument on, with the smoothed activations it
//! went through.

use serde::{Serialize, Serializer};

use super::analyzer::WindowResult;
use super::detect::{Detector, DetectorConfig};

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
    /// Highest and mean smoothed activation over the segment's windows.
    #[serde(serialize_with = "round_value")]
    pub peak: f32,
    #[serde(serialize_with = "round_value")]
    pub mean: f32,
}

/// What the detector made of a file's windows.
#[derive(Debug, Clone, Default)]
pub struct Detection {
    /// The smoothed activation of every class after each window (what the plugin meters and
    /// sends as CC), one row per window.
    pub activations: Vec<Vec<f32>>,
    /// In start order (class order at one start).
    pub segments: Vec<Segment>,
}

/// Where each window's stretch of the timeline begins and ends: halfway between neighbouring
/// window centres (windows overlap), the first from 0, the last to `duration_s`. `windows + 1`
/// edges.
pub fn cell_edges(windows: &[WindowResult], duration_s: f64) -> Vec<f64> {
    let centres: Vec<f64> = windows
        .iter()
        .map(|w| (w.start_s + w.end_s) / 2.0)
        .collect();
    std::iter::once(0.0)
        .chain(centres.windows(2).map(|c| (c[0] + c[1]) / 2.0))
        .chain(std::iter::once(duration_s))
        .collect()
}

struct Open {
    start_s: f64,
    peak: f32,
    sum: f64,
    windows: usize,
}

/// Runs `windows` through a fresh detector. A segment covers the cells (see [`cell_edges`]) of
/// the windows after which its class is active.
pub fn detect_segments(
    windows: &[WindowResult],
    duration_s: f64,
    labels: &[String],
    config: &DetectorConfig,
) -> Detection {
    let mut detector = Detector::new(config);
    let classes = detector.classes();
    let edges = cell_edges(windows, duration_s);
    let mut open: Vec<Option<Open>> = (0..classes).map(|_| None).collect();
    let mut out = Detection::default();
    let close = |class: usize, o: Open, end_s: f64| Segment {
        class,
        label: labels[class].clone(),
        start_s: o.start_s,
        end_s,
        peak: o.peak,
        mean: (o.sum / o.windows as f64) as f32,
    };
    for (i, w) in windows.iter().enumerate() {
        detector.push(&w.probs[..classes]);
        let smoothed = detector.smoothed();
        for (class, slot) in open.iter_mut().enumerate() {
            let a = smoothed[class];
            if detector.active()[class] {
                let o = slot.get_or_insert(Open {
                    start_s: edges[i],
                    peak: a,
                    sum: 0.0,
                    windows: 0,
                });
                o.peak = o.peak.max(a);
                o.sum += a as f64;
                o.windows += 1;
            } else if let Some(o) = slot.take() {
                out.segments.push(close(class, o, edges[i]));
            }
        }
        out.activations.push(smoothed.to_vec());
    }
    let end = *edges.last().expect("at least one edge");
    for (class, slot) in open.into_iter().enumerate() {
        if let Some(o) = slot {
            out.segments.push(close(class, o, end));
        }
    }
    out.segments
        .sort_by(|a, b| a.start_s.total_cmp(&b.start_s).then(a.class.cmp(&b.class)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::detect::Smoothing;

    fn windows(probs: &[[f32; 2]]) -> Vec<WindowResult> {
        probs
            .iter()
            .enumerate()
            .map(|(i, p)| WindowResult {
                start_s: i as f64 * 0.5,
                end_s: i as f64 * 0.5 + 1.0,
                probs: p.to_vec(),
                silent: false,
            })
            .collect()
    }

    #[test]
    fn segments_follow_the_detector_with_hysteresis_and_release() {
        let labels = ["a".to_string(), "b".to_string()];
        let config = DetectorConfig {
            thresholds: vec![0.5, 0.5],
            smoothing: Smoothing {
                hop_s: 0.5,
                attack_ms: 0.0,
                // Halves the distance to the new value each window.
                release_ms: 500.0 / std::f32::consts::LN_2,
                hysteresis: 0.05,
            },
        };
        // Class a: on at window 1; 0.8 releases to 0.4 at window 2, below 0.5 - 0.05: off.
        // Class b: on from window 3 (0.9, then 0.8 releasing towards 0.7) to the end of the file.
        let w = windows(&[[0.1, 0.0], [0.8, 0.0], [0.0, 0.0], [0.0, 0.9], [0.0, 0.7]]);
        let d = detect_segments(&w, 3.0, &labels, &config);
        assert_eq!(d.activations.len(), 5);
        assert!((d.activations[2][0] - 0.4).abs() < 1e-6);
        // Window centres 0.5, 1.0, 1.5, 2.0, 2.5: cell edges 0, 0.75, 1.25, 1.75, 2.25, 3.
        let s: Vec<_> = d
            .segments
            .iter()
            .map(|s| (s.label.as_str(), s.start_s, s.end_s))
            .collect();
        assert_eq!(s, [("a", 0.75, 1.25), ("b", 1.75, 3.0)]);
        assert_eq!(d.segments[0].peak, 0.8);
        assert!(
            (d.segments[1].mean - 0.85).abs() < 1e-6,
            "{:?}",
            d.segments[1]
        );
        assert_eq!(d.segments[1].peak, 0.9);
    }
}
