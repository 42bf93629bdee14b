//! Detection: which classes are on, from window probabilities. One module for the CLI and the
//! plugin (docs/architecture.md): per-class thresholds, the user's offset, attack/release
//! smoothing and hysteresis.
//!
//! One sign convention: an offset is *added* to the model's thresholds (positive = stricter; the
//! plugin's "sensitivity" parameter is the negated offset). One clamp rule: an adjusted threshold
//! stays in [[`MIN_THRESHOLD`], [`MAX_THRESHOLD`]], so no offset turns a class always on or never on.

/// Lowest threshold an offset can produce (0 would detect every class in silence).
pub const MIN_THRESHOLD: f32 = 0.01;
/// Highest threshold an offset can produce (a probability rarely reaches 1 exactly).
pub const MAX_THRESHOLD: f32 = 0.99;

/// How the user overrides the model's per-class thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ThresholdOverride {
    /// Use the model's thresholds.
    #[default]
    Model,
    /// One threshold for every class, as given (the caller checks it is in [0, 1]).
    Global(f32),
    /// Added to every model threshold, see [`offset_threshold`].
    Offset(f32),
}

/// A model threshold moved by the user's offset, clamped by the one rule of this module.
#[inline]
pub fn offset_threshold(model: f32, offset: f32) -> f32 {
    (model + offset).clamp(MIN_THRESHOLD, MAX_THRESHOLD)
}

impl ThresholdOverride {
    /// The thresholds actually used, one per class.
    pub fn apply(&self, model: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; model.len()];
        self.apply_into(model, &mut out);
        out
    }

    /// [`apply`](Self::apply) into an existing slice (no allocation; `out` as long as `model`).
    pub fn apply_into(&self, model: &[f32], out: &mut [f32]) {
        for (o, &m) in out.iter_mut().zip(model) {
            *o = match *self {
                ThresholdOverride::Model => m,
                ThresholdOverride::Global(t) => t,
                ThresholdOverride::Offset(d) => offset_threshold(m, d),
            };
        }
    }
}

/// Indices of classes whose score reaches its threshold, in label order (clip-level detection
/// of the CLI: the clip score is the mean of the window probabilities).
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

/// One-pole smoothing coefficient for a step of `dt` seconds with time constant `tau_ms`
/// (1 = no smoothing).
#[inline]
pub fn smoothing_coef(dt: f64, tau_ms: f32) -> f32 {
    if tau_ms <= 0.0 {
        1.0
    } else {
        (1.0 - (-dt / (tau_ms as f64 / 1000.0)).exp()) as f32
    }
}

/// Hysteresis: a class turns on at `score >= thr` and off below `thr - hyst`.
#[inline]
pub fn detect_with_hysteresis(was_on: bool, score: f32, thr: f32, hyst: f32) -> bool {
    if was_on {
        score >= thr - hyst
    } else {
        score >= thr
    }
}

/// Time behaviour of the streaming detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoothing {
    /// Seconds between windows (the analysis hop).
    pub hop_s: f64,
    /// Rise and fall time constants of the one-pole smoother (0 = follow at once).
    pub attack_ms: f32,
    pub release_ms: f32,
    /// An active class turns off below threshold − hysteresis.
    pub hysteresis: f32,
}

impl Default for Smoothing {
    /// The plugin's parameter defaults.
    fn default() -> Self {
        Smoothing {
            hop_s: 0.25,
            attack_ms: 0.0,
            release_ms: 750.0,
            hysteresis: 0.05,
        }
    }
}

/// Everything the detector needs: per-class thresholds (already adjusted, see
/// [`ThresholdOverride::apply`]) and the smoothing.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    pub thresholds: Vec<f32>,
    pub smoothing: Smoothing,
}

impl DetectorConfig {
    /// The model's thresholds (`ModelInfo::thresholds`) with the user's override applied.
    pub fn new(
        model_thresholds: &[f32],
        threshold: ThresholdOverride,
        smoothing: Smoothing,
    ) -> DetectorConfig {
        DetectorConfig {
            thresholds: threshold.apply(model_thresholds),
            smoothing,
        }
    }
}

/// Streaming detector: feed it one window's probabilities at a time ([`push`](Detector::push)),
/// read the smoothed scores and which classes are active. Allocates only in [`new`](Detector::new).
#[derive(Debug, Clone)]
pub struct Detector {
    thresholds: Vec<f32>,
    hysteresis: f32,
    attack: f32,
    release: f32,
    smoothing: Smoothing,
    smoothed: Vec<f32>,
    active: Vec<bool>,
}

impl Detector {
    pub fn new(config: &DetectorConfig) -> Detector {
        let n = config.thresholds.len();
        let mut d = Detector {
            thresholds: config.thresholds.clone(),
            hysteresis: 0.0,
            attack: 1.0,
            release: 1.0,
            smoothing: config.smoothing,
            smoothed: vec![0.0; n],
            active: vec![false; n],
        };
        d.set_smoothing(config.smoothing);
        d
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.thresholds.len()
    }

    /// Changes the time behaviour; the state (smoothed scores, active classes) is kept.
    pub fn set_smoothing(&mut self, s: Smoothing) {
        self.smoothing = s;
        self.attack = smoothing_coef(s.hop_s, s.attack_ms);
        self.release = smoothing_coef(s.hop_s, s.release_ms);
        self.hysteresis = s.hysteresis;
    }

    pub fn smoothing(&self) -> Smoothing {
        self.smoothing
    }

    /// Changes the thresholds to the model's with `threshold` applied (same class count); the
    /// state is kept. No allocation.
    pub fn set_thresholds(&mut self, model_thresholds: &[f32], threshold: ThresholdOverride) {
        assert_eq!(model_thresholds.len(), self.thresholds.len(), "class count");
        threshold.apply_into(model_thresholds, &mut self.thresholds);
    }

    /// The effective per-class thresholds.
    pub fn thresholds(&self) -> &[f32] {
        &self.thresholds
    }

    /// Takes one window's probabilities (label order, `classes()` of them) and returns which
    /// classes are active after it. A probability that is not finite counts as 0 and one outside
    /// [0, 1] is clamped, so one bad model output cannot poison the smoothed state (NaN would stay
    /// forever).
    pub fn push(&mut self, probs: &[f32]) -> &[bool] {
        assert_eq!(probs.len(), self.thresholds.len(), "class count");
        for (i, &p) in probs.iter().enumerate() {
            let p = if p.is_finite() {
                p.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let s = &mut self.smoothed[i];
            let k = if p > *s { self.attack } else { self.release };
            *s += k * (p - *s);
            self.active[i] =
                detect_with_hysteresis(self.active[i], *s, self.thresholds[i], self.hysteresis);
        }
        &self.active
    }

    /// Smoothed score per class after the last window.
    pub fn smoothed(&self) -> &[f32] {
        &self.smoothed
    }

    /// Whether each class is active after the last window.
    pub fn active(&self) -> &[bool] {
        &self.active
    }

    /// The active classes as bits (bit i = class i; classes past 63 are left out).
    pub fn active_bits(&self) -> u64 {
        self.active
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, &on)| on)
            .fold(0, |b, (i, _)| b | 1 << i)
    }

    /// Back to silence: smoothed scores 0, nothing active.
    pub fn reset(&mut self) {
        self.smoothed.fill(0.0);
        self.active.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector(thresholds: &[f32], smoothing: Smoothing) -> Detector {
        Detector::new(&DetectorConfig {
            thresholds: thresholds.to_vec(),
            smoothing,
        })
    }

    #[test]
    fn detection_uses_greater_or_equal() {
        assert_eq!(detect(&[0.5, 0.49, 0.9], &[0.5, 0.5, 0.95]), [0]);
    }

    #[test]
    fn overrides_share_one_clamp_rule() {
        let m = [0.3, 0.8];
        assert_eq!(ThresholdOverride::Model.apply(&m), m);
        assert_eq!(ThresholdOverride::Global(0.4).apply(&m), [0.4, 0.4]);
        let o = ThresholdOverride::Offset(0.3).apply(&m);
        assert!((o[0] - 0.6).abs() < 1e-6 && o[1] == MAX_THRESHOLD);
        let o = ThresholdOverride::Offset(-0.5).apply(&m);
        assert!(o[0] == MIN_THRESHOLD && (o[1] - 0.3).abs() < 1e-6);
    }

    #[test]
    fn hysteresis_holds_between_thresholds() {
        assert!(!detect_with_hysteresis(false, 0.45, 0.5, 0.1));
        assert!(detect_with_hysteresis(false, 0.5, 0.5, 0.1));
        assert!(detect_with_hysteresis(true, 0.45, 0.5, 0.1));
        assert!(!detect_with_hysteresis(true, 0.39, 0.5, 0.1));
    }

    #[test]
    fn smoothing_coefficients() {
        assert_eq!(smoothing_coef(0.25, 0.0), 1.0);
        let k = smoothing_coef(0.25, 250.0);
        assert!((k - (1.0 - (-1.0f64).exp()) as f32).abs() < 1e-6);
    }

    #[test]
    fn attack_release_and_hysteresis_over_windows() {
        // Instant attack, release halving per window, off below 0.5 - 0.15.
        let s = Smoothing {
            hop_s: 1.0,
            attack_ms: 0.0,
            release_ms: 1000.0 / std::f32::consts::LN_2,
            hysteresis: 0.15,
        };
        let mut d = detector(&[0.5], s);
        assert_eq!(d.push(&[0.45]), [false]);
        assert_eq!(d.push(&[0.8]), [true]);
        assert!((d.smoothed()[0] - 0.8).abs() < 1e-6);
        // 0.8 → 0.4: below the threshold, inside the hysteresis band: still on; then 0.2: off.
        assert_eq!(d.push(&[0.0]), [true]);
        assert!((d.smoothed()[0] - 0.4).abs() < 1e-6);
        assert_eq!(d.push(&[0.0]), [false]);
        assert_eq!(d.active_bits(), 0);
        d.push(&[1.0]);
        assert_eq!(d.active_bits(), 1);
        d.reset();
        assert_eq!((d.smoothed()[0], d.active()[0]), (0.0, false));
    }

    #[test]
    fn non_finite_model_output_does_not_poison_the_state() {
        let s = Smoothing {
            hop_s: 1.0,
            attack_ms: 1000.0 / std::f32::consts::LN_2,
            release_ms: 1000.0 / std::f32::consts::LN_2,
            hysteresis: 0.05,
        };
        let mut d = detector(&[0.5; 4], s);
        d.push(&[1.0; 4]);
        d.push(&[f32::NAN, f32::INFINITY, -3.0, 7.0]);
        let got = d.smoothed();
        for (g, want) in got.iter().zip([0.25, 0.25, 0.25, 0.75]) {
            assert!((g - want).abs() < 1e-6, "{got:?}");
        }
    }
}
