//! The analysis worker thread: drains the SPSC ring into the analysis core's [`Analyzer`] one
//! window at a time, runs the [`Detector`] and publishes activations through atomics.
//!
//! Created in `activate()` with an already loaded model (never lazily on first audio) and joined in
//! `deactivate()`/drop. When inference falls behind real time, the oldest complete windows are
//! skipped (counted in `Shared::windows_dropped`); the audio thread never waits, except in the
//! host's offline (bounce) mode, where it waits for the worker so that no window is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rtrb::Consumer;

use super::model_source::{load_model, resolve_model_path, LoadedModel};
use super::params::MeterParams;
use super::shared::{HistoryEntry, Shared, HISTORY_SECONDS, MAX_CLASSES};
use crate::analysis::{
    AnalysisConfig, Analyzer, Detector, DetectorConfig, Smoothing, ThresholdOverride, WindowResult,
};
use crate::model::ModelRunner;

/// How long the worker sleeps when the ring is empty.
const POLL: Duration = Duration::from_millis(4);

/// The plugin's sensitivity parameter as the detector's threshold override: sensitivity is the
/// negated offset (positive = detects more readily).
#[inline]
fn sensitivity_override(sensitivity: f32) -> ThresholdOverride {
    ThresholdOverride::Offset(-sensitivity)
}

/// What one activation gives the worker.
pub struct WorkerConfig {
    /// The ring's reading end (the audio thread writes the downmixed input).
    pub consumer: Consumer<f32>,
    /// The loaded model with the path it came from (None: no model could be loaded).
    pub model: Option<LoadedModel>,
    /// Host sample rate, Hz.
    pub host_rate: u32,
    /// The host's largest block, frames: one block can bring several hops at once without the
    /// worker being behind (see `WorkerState::pass`).
    pub max_block: usize,
    /// The host renders offline (bounce): analyse every window, drop none.
    pub offline: bool,
    pub shared: Arc<Shared>,
    pub params: Arc<MeterParams>,
}

/// A running worker thread; joining returns the model so the next activation reuses it.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Option<LoadedModel>>>,
}

impl Worker {
    /// Starts the worker thread.
    pub fn spawn(config: WorkerConfig) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let state = WorkerState::new(config, stop.clone());
        let handle = std::thread::Builder::new()
            .name("instrument-meter-analysis".into())
            .spawn(move || state.run())?;
        Ok(Worker {
            stop,
            handle: Some(handle),
        })
    }

    /// The worker's thread (the offline feeder wakes it after each block).
    pub fn thread(&self) -> Option<std::thread::Thread> {
        self.handle.as_ref().map(|h| h.thread().clone())
    }

    /// Stops and joins the thread; returns the model for reuse.
    pub fn join(mut self) -> Option<LoadedModel> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Option<LoadedModel> {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
        self.handle.take().and_then(|h| h.join().ok().flatten())
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

struct Model {
    analyzer: Analyzer,
    path: Option<String>,
    detector: Detector,
    hop_s: f64,
}

impl Model {
    fn into_loaded(self) -> LoadedModel {
        (self.analyzer.into_runner(), self.path)
    }
}

struct WorkerState {
    consumer: Consumer<f32>,
    model: Option<Model>,
    host_rate: u32,
    max_block: usize,
    offline: bool,
    shared: Arc<Shared>,
    params: Arc<MeterParams>,
    stop: Arc<AtomicBool>,
    /// The latest window's result (reused: one allocation per window at most).
    results: Vec<WindowResult>,
}

impl WorkerState {
    fn new(config: WorkerConfig, stop: Arc<AtomicBool>) -> WorkerState {
        let mut s = WorkerState {
            consumer: config.consumer,
            model: None,
            host_rate: config.host_rate,
            max_block: config.max_block,
            offline: config.offline,
            shared: config.shared,
            params: config.params,
            stop,
            results: Vec::with_capacity(1),
        };
        if let Some((runner, path)) = config.model {
            if let Err(e) = s.install(runner, path) {
                s.shared.set_error(e);
            }
        }
        s
    }

    fn hop_param(&self) -> f64 {
        self.params.hop_s.value().clamp(0.05, 1.0) as f64
    }

    /// The detector settings the parameters ask for now.
    fn smoothing(&self, hop_s: f64) -> Smoothing {
        Smoothing {
            hop_s,
            attack_ms: self.params.attack_ms.value(),
            release_ms: self.params.release_ms.value(),
            hysteresis: self.params.hysteresis.value(),
        }
    }

    fn analysis_config(hop_s: f64) -> AnalysisConfig {
        AnalysisConfig {
            hop_s,
            max_batch: 1,
            ..AnalysisConfig::default()
        }
    }

    /// Makes `runner` the running model (builds the analyser for the host rate).
    fn install(&mut self, runner: ModelRunner, path: Option<String>) -> Result<(), String> {
        let hop_s = self.hop_param();
        let analyzer = Analyzer::new(runner, self.host_rate, &Self::analysis_config(hop_s))
            .map_err(|e| format!("Cannot analyse at the host rate {} Hz: {e}", self.host_rate))?;
        let info = analyzer.info().clone();
        let classes = info.num_classes().min(MAX_CLASSES);
        let detector = Detector::new(&DetectorConfig::new(
            &info.thresholds[..classes],
            sensitivity_override(self.params.sensitivity.value()),
            self.smoothing(hop_s),
        ));
        let runtime = crate::runtime::runtime()
            .map(|r| format!("ONNX Runtime {} ({})", r.version, r.library_path.display()))
            .unwrap_or_default();
        let source = analyzer.runner().source().to_string();
        self.shared.update_panel(|p| {
            p.status.info = Some(info.clone());
            p.status.source = source.clone();
            p.status.runtime = runtime.clone();
            p.status.error = None;
            p.history.clear();
        });
        self.shared.clear_activations();
        publish_thresholds(&self.shared, &detector);
        self.shared.classes.store(classes, Ordering::Release);
        self.shared.running.store(true, Ordering::Release);
        self.model = Some(Model {
            analyzer,
            path,
            detector,
            hop_s,
        });
        Ok(())
    }

    fn run(mut self) -> Option<LoadedModel> {
        while !self.stop.load(Ordering::Acquire) {
            if self.shared.reload_requested.swap(false, Ordering::AcqRel) {
                self.reload();
            }
            let worked = self.pass();
            if !worked {
                // The offline feeder unparks us after each block; real time just polls.
                std::thread::park_timeout(POLL);
            }
        }
        self.shared.running.store(false, Ordering::Release);
        self.model.map(Model::into_loaded)
    }

    /// Loads the model the parameters name now (editor changed the path).
    fn reload(&mut self) {
        let path = resolve_model_path(self.params.user_model_path());
        match load_model(path.as_deref()) {
            Ok(runner) => match self.install(runner, path) {
                Err(e) => self.shared.set_error(e),
                Ok(()) => self.shared.update_panel(|p| p.status.warning = None),
            },
            Err(e) if self.model.is_some() => {
                let warning = format!("{e} The previous model keeps running.");
                self.shared
                    .update_panel(|p| p.status.warning = Some(warning.clone()));
            }
            Err(e) => self.shared.set_error(e),
        }
    }

    /// Takes the parameters that changed since the last pass.
    fn follow_params(&mut self) {
        let hop_s = self.hop_param();
        let smoothing = self.smoothing(hop_s);
        let sensitivity = sensitivity_override(self.params.sensitivity.value());
        let Some(model) = self.model.as_mut() else {
            return;
        };
        // A new hop rebuilds the front end (allocates: fine here, never on audio).
        if (hop_s - model.hop_s).abs() > 1e-9
            && model
                .analyzer
                .set_input_rate(self.host_rate, &Self::analysis_config(hop_s))
                .is_ok()
        {
            model.hop_s = hop_s;
        }
        if self.shared.reset_requested.swap(false, Ordering::AcqRel) {
            model.analyzer.reset();
            model.detector.reset();
            self.shared.clear_activations();
        }
        let Model {
            analyzer, detector, ..
        } = model;
        let classes = detector.classes();
        detector.set_smoothing(Smoothing {
            hop_s: model.hop_s,
            ..smoothing
        });
        detector.set_thresholds(&analyzer.info().thresholds[..classes], sensitivity);
        publish_thresholds(&self.shared, detector);
    }

    /// No model: keeps the ring drained so the audio thread never sees it full.
    fn drain(&mut self) -> bool {
        let n = self.consumer.slots();
        if n == 0 {
            return false;
        }
        if let Ok(c) = self.consumer.read_chunk(n) {
            c.commit_all();
        }
        self.shared
            .analysed_samples
            .fetch_add(n as u64, Ordering::Release);
        true
    }

    /// One pass over the ring. Returns whether any audio was consumed.
    fn pass(&mut self) -> bool {
        if self.model.is_none() {
            return self.drain();
        }
        self.follow_params();
        let Some(model) = self.model.as_mut() else {
            return false;
        };

        // Input samples per hop: read at most that much at a time so each push completes at most
        // one window, and we can tell whether more audio is already waiting behind it.
        let hop_in = ((model.hop_s * self.host_rate as f64) as usize).max(64);
        // Behind real time when more than a host block and a hop wait after a finished window: a
        // single large block (8192 frames at 8 kHz is four 0.25-s hops) is not a backlog.
        let behind = hop_in + self.max_block;
        let mut worked = false;
        loop {
            let avail = self.consumer.slots();
            if avail == 0 {
                break;
            }
            worked = true;
            let take = avail.min(hop_in);
            let Ok(chunk) = self.consumer.read_chunk(take) else {
                break;
            };
            let (a, b) = chunk.as_slices();
            let completed = model.analyzer.push_mono_latest(a) + model.analyzer.push_mono_latest(b);
            chunk.commit_all();
            // Counted once the chunk's window (if any) is published: the offline feeder waits on it.
            let done = |sh: &Shared| {
                sh.analysed_samples
                    .fetch_add(take as u64, Ordering::Release)
            };
            if completed > 1 {
                self.shared
                    .windows_dropped
                    .fetch_add(completed as u64 - 1, Ordering::Relaxed);
            }
            if completed == 0 {
                done(&self.shared);
                continue;
            }
            // Behind real time: a newer window is already waiting in the ring, skip this one.
            if !self.offline && self.consumer.slots() >= behind {
                model.analyzer.drop_held();
                self.shared.windows_dropped.fetch_add(1, Ordering::Relaxed);
                done(&self.shared);
                continue;
            }
            let t0 = Instant::now();
            self.results.clear();
            if let Err(e) = model.analyzer.run_held(&mut self.results) {
                self.shared.set_error(format!("Inference failed: {e}"));
                self.shared.running.store(false, Ordering::Release);
                self.model = None;
                self.shared.classes.store(0, Ordering::Release);
                done(&self.shared);
                return true;
            }
            let Some(w) = self.results.first() else {
                done(&self.shared);
                continue;
            };
            if !w.silent {
                #[cfg(feature = "test-hooks")]
                match self.shared.test_inference_delay_ms.load(Ordering::Relaxed) {
                    0 => {}
                    ms => std::thread::sleep(Duration::from_millis(ms as u64)),
                }
                record_inference_time(&self.shared, t0);
            }
            let classes = model.detector.classes();
            model.detector.push(&w.probs[..classes]);
            publish(&self.shared, &w.probs[..classes], &model.detector, w.end_s);
            done(&self.shared);
        }
        worked
    }
}

/// The detector's effective thresholds, for the panel.
fn publish_thresholds(shared: &Shared, detector: &Detector) {
    for (t, &v) in shared.thresholds.iter().zip(detector.thresholds()) {
        t.store(v);
    }
}

fn record_inference_time(shared: &Shared, t0: Instant) {
    let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
    shared.inference_us.store(us, Ordering::Relaxed);
    let avg = shared.inference_us_avg.load();
    let avg = if avg == 0.0 {
        us as f32
    } else {
        avg + 0.1 * (us as f32 - avg)
    };
    shared.inference_us_avg.store(avg);
}

/// Publishes one window: the detector's smoothed scores and active classes (atomics, for the
/// audio thread's automation) and a history entry with the window's own scores (panel, tests).
fn publish(shared: &Shared, scores: &[f32], detector: &Detector, end_s: f64) {
    let detected = detector.active_bits();
    for (a, &s) in shared.activations.iter().zip(detector.smoothed()) {
        a.store(s);
    }
    shared.detected.store(detected, Ordering::Release);
    shared.windows_done.fetch_add(1, Ordering::Release);

    let entry = Arc::new(HistoryEntry {
        time_s: end_s,
        scores: scores.to_vec(),
        values: detector.smoothed().to_vec(),
        detected,
    });
    shared.update_panel(|p| {
        p.history.push_back(entry.clone());
        while p
            .history
            .front()
            .is_some_and(|f| end_s - f.time_s > HISTORY_SECONDS + 1.0)
        {
            p.history.pop_front();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitivity_lowers_threshold() {
        let t = |m: f32, s: f32| sensitivity_override(s).apply(&[m])[0];
        assert!((t(0.5, 0.2) - 0.3).abs() < 1e-6);
        assert_eq!(t(0.5, -0.9), 0.99);
        assert_eq!(t(0.5, 0.9), 0.01);
    }

    #[test]
    fn publish_writes_atomics_and_history() {
        let shared = Shared::default();
        let mut d = Detector::new(&DetectorConfig::new(
            &[0.5, 0.5],
            ThresholdOverride::Model,
            Smoothing::default(),
        ));
        d.push(&[0.9, 0.1]);
        publish(&shared, &[0.9, 0.1], &d, 1.0);
        assert_eq!(shared.activations[0].load(), 0.9);
        assert_eq!(shared.detected.load(Ordering::Acquire), 1);
        let panel = shared.panel();
        let h = &panel.history[0];
        assert_eq!(
            (h.time_s, &h.scores[..], h.detected),
            (1.0, &[0.9, 0.1][..], 1)
        );
    }
}
