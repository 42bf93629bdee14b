//! Clip-level scores (mean of window probabilities, the paper's aggregation) and detection.

/// How the user overrides the model's per-class thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ThresholdOverride {
    /// Use the model's thresholds.
    #[default]
    Model,
    /// One threshold for every class.
    Global(f32),
    /// Add an offset to every model threshold (clamped to [0, 1]).
    Offset(f32),
}

impl ThresholdOverride {
    /// The thresholds actually used, one per class.
    pub fn apply(&self, model: &[f32]) -> Vec<f32> {
        match *self {
            ThresholdOverride::Model => model.to_vec(),
            ThresholdOverride::Global(t) => vec![t; model.len()],
            ThresholdOverride::Offset(d) => model.iter().map(|t| (t + d).clamp(0.0, 1.0)).collect(),
        }
    }
}

/// Running mean of window probabilities. Silent windows count (as zeros), like every other window.
#[derive(Debug, Clone)]
pub struct ClipAggregator {
    sums: Vec<f64>,
    windows: usize,
}

impl ClipAggregator {
    pub fn new(classes: usize) -> ClipAggregator {
        ClipAggregator {
            sums: vec![0.0; classes],
            windows: 0,
        }
    }

    pub fn add(&mut self, probs: &[f32]) {
        assert_eq!(probs.len(), self.sums.len(), "class count");
        for (s, &p) in self.sums.iter_mut().zip(probs) {
            *s += p as f64;
        }
        self.windows += 1;
    }

    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Clip probabilities (all zeros before any window).
    pub fn scores(&self) -> Vec<f32> {
        let n = self.windows.max(1) as f64;
        self.sums.iter().map(|s| (s / n) as f32).collect()
    }
}

/// Indices of classes whose score reaches its threshold, in label order.
pub fn detect(scores: &[f32], thresholds: &[f32]) -> Vec<usize> {
    assert_eq!(scores.len(), thresholds.len(), "class count");
    scores
        .iter()
        .zip(thresholds)
        .enumerate()
        .filter(|(_, (s, t))| *s >= *t)
        .map(|(i, _)| i)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_of_windows() {
        let mut a = ClipAggregator::new(2);
        assert_eq!(a.scores(), [0.0, 0.0]);
        a.add(&[1.0, 0.0]);
        a.add(&[0.0, 0.0]);
        a.add(&[0.5, 0.3]);
        assert_eq!(a.windows(), 3);
        let s = a.scores();
        assert!((s[0] - 0.5).abs() < 1e-7 && (s[1] - 0.1).abs() < 1e-7);
    }

    #[test]
    fn detection_uses_greater_or_equal() {
        assert_eq!(detect(&[0.5, 0.49, 0.9], &[0.5, 0.5, 0.95]), [0]);
    }

    #[test]
    fn overrides() {
        let m = [0.3, 0.8];
        assert_eq!(ThresholdOverride::Model.apply(&m), m);
        assert_eq!(ThresholdOverride::Global(0.4).apply(&m), [0.4, 0.4]);
        let o = ThresholdOverride::Offset(0.3).apply(&m);
        assert!((o[0] - 0.6).abs() < 1e-6 && o[1] == 1.0);
    }
}
