//! Clip-level scores: the mean of the window probabilities (the paper's aggregation). Detection
//! is [`super::detect`].

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
}
