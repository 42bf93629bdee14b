//! State shared between the audio thread, the analysis worker and the editor.
//!
//! The audio thread only touches atomics here. The worker publishes activations and counters
//! through atomics, and the slow-changing, allocating parts (model description, error text,
//! heatmap history) as a [`Panel`] snapshot it swaps in whole: the editor paints from the latest
//! snapshot without holding a lock, and the worker never waits for the editor.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::model::ModelInfo;

/// Most instruments the plugin follows (CC output, meters). Models with more classes are cut.
pub const MAX_CLASSES: usize = 64;
/// Seconds of history the heatmap timeline keeps.
pub const HISTORY_SECONDS: f64 = 30.0;

/// An `f32` stored as bits in an `AtomicU32`.
#[derive(Debug, Default)]
pub struct AtomicF32(AtomicU32);

impl AtomicF32 {
    pub const fn zero() -> Self {
        AtomicF32(AtomicU32::new(0))
    }
    #[inline]
    pub fn load(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }
    #[inline]
    pub fn store(&self, v: f32) {
        self.0.store(v.to_bits(), Ordering::Relaxed)
    }
}

/// One analysed window, as the timeline draws it.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// End of the window in seconds of analysed input (since activation).
    pub time_s: f64,
    /// The window's own probability per class (the model's output; zeros for a silent window).
    pub scores: Vec<f32>,
    /// Smoothed activation per class.
    pub values: Vec<f32>,
    /// Detection bit per class.
    pub detected: u64,
}

/// What the editor shows in its status line; written by the worker (and activate()).
#[derive(Debug, Clone, Default)]
pub struct ModelStatus {
    /// The loaded model, if any.
    pub info: Option<Arc<ModelInfo>>,
    /// Where the model came from ("embedded default model" or a path).
    pub source: String,
    /// The ONNX Runtime library in use.
    pub runtime: String,
    /// Why the model or runtime is not running, and how to fix it.
    pub error: Option<String>,
    /// A non-fatal message (e.g. a user model that failed validation while the previous one runs).
    pub warning: Option<String>,
}

/// What the panel draws besides the atomics: model status and the heatmap history (entries are
/// shared between snapshots, so a new snapshot copies pointers, not values).
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub status: ModelStatus,
    pub history: VecDeque<Arc<HistoryEntry>>,
}

/// Everything the three threads share.
#[derive(Debug)]
pub struct Shared {
    /// Number of classes currently published (0 when no model runs).
    pub classes: AtomicUsize,
    /// Smoothed activation per class, in [0, 1].
    pub activations: [AtomicF32; MAX_CLASSES],
    /// Effective decision threshold per class (the detector's, after the sensitivity).
    pub thresholds: [AtomicF32; MAX_CLASSES],
    /// Detection bits (threshold with hysteresis), bit i = class i.
    pub detected: AtomicU64,
    /// Bumped each time the worker publishes a window.
    pub windows_done: AtomicU64,
    /// Windows skipped because inference fell behind.
    pub windows_dropped: AtomicU64,
    /// Input samples the audio thread could not queue because the ring was full.
    pub samples_lost: AtomicU64,
    /// Last inference time per window, microseconds, and an exponential average of it.
    pub inference_us: AtomicU32,
    pub inference_us_avg: AtomicF32,
    /// Host sample rate of the current activation (Hz).
    pub host_rate: AtomicU32,
    /// Whether the worker thread is running a model.
    pub running: AtomicBool,
    /// Set by the audio thread's reset(): the worker drops buffered audio and smoothing state.
    pub reset_requested: AtomicBool,
    /// Set by the editor when the model path changed: the worker loads the model.
    pub reload_requested: AtomicBool,
    /// Samples of analysed input since activation (worker-side clock for the timeline).
    pub analysed_samples: AtomicU64,
    /// Test hook: milliseconds the worker sleeps after each inference, to play a model slower than
    /// real time (tests/plugin_stress.rs sets it through [`live_instances`]).
    #[cfg(feature = "test-hooks")]
    pub test_inference_delay_ms: AtomicU32,
    panel: ArcSwap<Panel>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            classes: AtomicUsize::new(0),
            activations: std::array::from_fn(|_| AtomicF32::zero()),
            thresholds: std::array::from_fn(|_| AtomicF32::zero()),
            detected: AtomicU64::new(0),
            windows_done: AtomicU64::new(0),
            windows_dropped: AtomicU64::new(0),
            samples_lost: AtomicU64::new(0),
            inference_us: AtomicU32::new(0),
            inference_us_avg: AtomicF32::zero(),
            host_rate: AtomicU32::new(0),
            running: AtomicBool::new(false),
            reset_requested: AtomicBool::new(false),
            reload_requested: AtomicBool::new(false),
            analysed_samples: AtomicU64::new(0),
            #[cfg(feature = "test-hooks")]
            test_inference_delay_ms: AtomicU32::new(0),
            panel: ArcSwap::from_pointee(Panel::default()),
        }
    }
}

impl Shared {
    /// The latest panel snapshot (editor, tests). Never called from the audio thread.
    pub fn panel(&self) -> Arc<Panel> {
        self.panel.load_full()
    }

    /// Publishes a changed copy of the panel snapshot (worker, or the main thread while no worker
    /// runs). Readers keep the snapshot they hold; nobody waits.
    pub fn update_panel(&self, mut change: impl FnMut(&mut Panel)) {
        self.panel.rcu(|old| {
            let mut new = Panel::clone(old);
            change(&mut new);
            new
        });
    }

    /// Sets the status line's error (why nothing is analysed, and how to fix it).
    pub fn set_error(&self, e: String) {
        self.update_panel(|p| p.status.error = Some(e.clone()));
    }

    /// Clears the published activations (no model, or a new model with other classes).
    pub fn clear_activations(&self) {
        for a in &self.activations {
            a.store(0.0);
        }
        self.detected.store(0, Ordering::Relaxed);
    }

    /// The dropped-windows report the panel shows.
    pub fn drop_status(&self) -> DropStatus {
        DropStatus {
            dropped: self.windows_dropped.load(Ordering::Relaxed),
            lost_samples: self.samples_lost.load(Ordering::Relaxed),
        }
    }
}

/// Windows the worker skipped and samples the ring could not take, as the panel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropStatus {
    pub dropped: u64,
    pub lost_samples: u64,
}

impl DropStatus {
    /// Whether the panel shows the warning (anything dropped or lost since activation).
    pub fn falling_behind(&self) -> bool {
        self.dropped > 0 || self.lost_samples > 0
    }

    /// The panel's text.
    pub fn text(&self) -> String {
        let mut t = format!("dropped windows: {}", self.dropped);
        if self.lost_samples > 0 {
            t.push_str(&format!(" (ring overflow: {} samples)", self.lost_samples));
        }
        if self.falling_behind() {
            t.push_str(": inference is falling behind");
        }
        t
    }
}

/// Every live plugin instance's shared state, newest last. Lets an in-process test host read what
/// CLAP does not expose (activations as floats, counters). Main thread only: registered when an
/// instance is created, never touched by the audio thread. Feature `test-hooks` only.
#[cfg(feature = "test-hooks")]
static LIVE: std::sync::Mutex<Vec<std::sync::Weak<Shared>>> = std::sync::Mutex::new(Vec::new());

/// Registers a new instance's state (called from the plugin's constructor).
#[cfg(feature = "test-hooks")]
pub(crate) fn register(shared: &Arc<Shared>) {
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(shared));
}

/// The shared state of every instance alive in this process (this copy of the library), oldest first.
#[cfg(feature = "test-hooks")]
pub fn live_instances() -> Vec<Arc<Shared>> {
    let live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    live.iter().filter_map(std::sync::Weak::upgrade).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_status_warns_once_anything_is_dropped() {
        let sh = Shared::default();
        assert!(!sh.drop_status().falling_behind());
        assert_eq!(sh.drop_status().text(), "dropped windows: 0");
        sh.windows_dropped.store(3, Ordering::Relaxed);
        assert_eq!(
            sh.drop_status().text(),
            "dropped windows: 3: inference is falling behind"
        );
        sh.samples_lost.store(512, Ordering::Relaxed);
        assert_eq!(
            sh.drop_status().text(),
            "dropped windows: 3 (ring overflow: 512 samples): inference is falling behind"
        );
    }

    #[test]
    fn a_held_snapshot_stays_as_it_was() {
        let sh = Shared::default();
        let before = sh.panel();
        sh.set_error("no model".into());
        assert_eq!(before.status.error, None);
        assert_eq!(sh.panel().status.error.as_deref(), Some("no model"));
    }
}
