//! The analysis worker thread: drains the SPSC ring, runs the shared front end (resample, window,
//! silence floor, normalise), runs the model, smooths and publishes activations through atomics.
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

use super::params::MeterParams;
use super::shared::{HistoryEntry, Shared, HISTORY_SECONDS, MAX_CLASSES};
use crate::analysis::{AnalysisConfig, FrontEnd};
use crate::model::{ModelError, ModelInfo, ModelRunner, SessionConfig};

/// How long the worker sleeps when the ring is empty.
const POLL: Duration = Duration::from_millis(4);

/// Environment variable naming a model file used when the model-path parameter is empty.
pub const MODEL_ENV: &str = "INSTRUMENT_METER_MODEL";

/// Where a model comes from: the user's path, the `INSTRUMENT_METER_MODEL` variable, or the
/// embedded default.
pub fn resolve_model_path(user: Option<String>) -> Option<String> {
    user.or_else(|| {
        std::env::var(MODEL_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
    })
}

/// Loads and validates a model (the model contract); the error text says how to fix it.
pub fn load_model(path: Option<&str>) -> Result<ModelRunner, String> {
    let config = SessionConfig { intra_threads: 1 };
    let result = match path {
        Some(p) => ModelRunner::from_file(std::path::Path::new(p), &config),
        None => ModelRunner::default_model(&config),
    };
    result.map_err(|e| describe_model_error(&e, path))
}

fn describe_model_error(e: &ModelError, path: Option<&str>) -> String {
    match e {
        ModelError::Runtime(r) => format!("ONNX Runtime not loaded: {r}"),
        ModelError::NoDefaultModel => format!(
            "This build has no embedded model (assets/model.onnx was absent when it was built). \
             Fix: choose a model file (.onnx) under Settings › Model, or set {MODEL_ENV}."
        ),
        other => match path {
            Some(p) => format!(
                "Model {p} cannot be used: {other}. Fix: pick a model exported by \
                 `instrument-meter-train export` (see docs/model-contract.md), or clear the path to use the embedded one."
            ),
            None => format!("The embedded model cannot be used: {other}"),
        },
    }
}

/// Effective threshold of one class.
#[inline]
pub fn effective_threshold(model_threshold: f32, sensitivity: f32) -> f32 {
    (model_threshold - sensitivity).clamp(0.01, 0.99)
}

/// One-pole smoothing coefficient for a step of `dt` seconds with time constant `tau_ms`.
#[inline]
pub fn smoothing_coef(dt: f64, tau_ms: f32) -> f32 {
    if tau_ms <= 0.0 {
        1.0
    } else {
        (1.0 - (-dt / (tau_ms as f64 / 1000.0)).exp()) as f32
    }
}

/// Hysteresis detection: on at `act >= thr`, off below `thr - hyst`.
#[inline]
pub fn detect_with_hysteresis(was_on: bool, act: f32, thr: f32, hyst: f32) -> bool {
    if was_on {
        act >= thr - hyst
    } else {
        act >= thr
    }
}

/// A loaded model and the path it came from (None: the embedded default).
pub type LoadedModel = (ModelRunner, Option<String>);

/// A running worker thread; joining returns the model so the next activation reuses it.
pub struct Worker {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Option<LoadedModel>>>,
}

impl Worker {
    /// Starts the worker. `model` is the loaded model with the path it came from (None: embedded);
    /// `max_block` is the host's largest block (frames).
    #[allow(clippy::too_many_arguments)] // one per activation setting; called from two places
    pub fn spawn(
        consumer: Consumer<f32>,
        model: Option<LoadedModel>,
        host_rate: u32,
        max_block: usize,
        offline: bool,
        shared: Arc<Shared>,
        params: Arc<MeterParams>,
    ) -> std::io::Result<Worker> {
        let stop = Arc::new(AtomicBool::new(false));
        let state = WorkerState::new(
            consumer,
            model,
            host_rate,
            max_block,
            offline,
            shared,
            params,
            stop.clone(),
        );
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
    runner: ModelRunner,
    path: Option<String>,
    info: Arc<ModelInfo>,
    front: FrontEnd,
    hop_s: f64,
}

struct WorkerState {
    consumer: Consumer<f32>,
    model: Option<Model>,
    host_rate: u32,
    /// The host's largest block: one block can bring several hops at once without the worker
    /// being behind (see `pass`).
    max_block: usize,
    offline: bool,
    shared: Arc<Shared>,
    params: Arc<MeterParams>,
    stop: Arc<AtomicBool>,
    /// The latest prepared window (copied out of the front end's sink).
    window: Vec<f32>,
    probs: Vec<f32>,
    smoothed: [f32; MAX_CLASSES],
    detected: u64,
}

impl WorkerState {
    #[allow(clippy::too_many_arguments)]
    fn new(
        consumer: Consumer<f32>,
        model: Option<LoadedModel>,
        host_rate: u32,
        max_block: usize,
        offline: bool,
        shared: Arc<Shared>,
        params: Arc<MeterParams>,
        stop: Arc<AtomicBool>,
    ) -> WorkerState {
        let mut s = WorkerState {
            consumer,
            model: None,
            host_rate,
            max_block,
            offline,
            shared,
            params,
            stop,
            window: Vec::new(),
            probs: Vec::new(),
            smoothed: [0.0; MAX_CLASSES],
            detected: 0,
        };
        if let Some((runner, path)) = model {
            if let Err(e) = s.install(runner, path) {
                s.shared.slow().status.error = Some(e);
            }
        }
        s
    }

    fn hop_param(&self) -> f64 {
        self.params.hop_s.value().clamp(0.05, 1.0) as f64
    }

    /// Makes `runner` the running model (builds the front end for the host rate).
    fn install(&mut self, runner: ModelRunner, path: Option<String>) -> Result<(), String> {
        let info = runner.info().clone();
        let hop_s = self.hop_param();
        let config = AnalysisConfig {
            hop_s,
            ..AnalysisConfig::default()
        };
        let front = FrontEnd::new(&info, self.host_rate, &config)
            .map_err(|e| format!("Cannot analyse at the host rate {} Hz: {e}", self.host_rate))?;
        self.window = vec![0.0; info.window_samples];
        self.probs = vec![0.0; info.num_classes()];
        self.smoothed = [0.0; MAX_CLASSES];
        self.detected = 0;
        let runtime = crate::runtime::runtime()
            .map(|r| format!("ONNX Runtime {} ({})", r.version, r.library_path.display()))
            .unwrap_or_default();
        {
            let mut slow = self.shared.slow();
            slow.status.info = Some(info.clone());
            slow.status.source = runner.source().to_string();
            slow.status.runtime = runtime;
            slow.status.error = None;
            slow.history.clear();
        }
        self.shared.clear_activations();
        let classes = info.num_classes().min(MAX_CLASSES);
        let sens = self.params.sensitivity.value();
        for (t, &m) in self
            .shared
            .thresholds
            .iter()
            .zip(&info.thresholds)
            .take(classes)
        {
            t.store(effective_threshold(m, sens));
        }
        self.shared.classes.store(classes, Ordering::Release);
        self.shared.running.store(true, Ordering::Release);
        self.model = Some(Model {
            runner,
            path,
            info,
            front,
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
        self.model.map(|m| (m.runner, m.path))
    }

    /// Loads the model the parameters name now (editor changed the path).
    fn reload(&mut self) {
        let path = resolve_model_path(self.params.user_model_path());
        match load_model(path.as_deref()) {
            Ok(runner) => {
                if let Err(e) = self.install(runner, path) {
                    self.shared.slow().status.error = Some(e);
                } else {
                    self.shared.slow().status.warning = None;
                }
            }
            Err(e) => {
                let mut slow = self.shared.slow();
                if self.model.is_some() {
                    slow.status.warning = Some(format!("{e} The previous model keeps running."));
                } else {
                    slow.status.error = Some(e);
                }
            }
        }
    }

    /// One pass over the ring. Returns whether any audio was consumed.
    fn pass(&mut self) -> bool {
        let Some(model) = self.model.as_mut() else {
            // No model: keep the ring drained so the audio thread never sees it full.
            let n = self.consumer.slots();
            if n > 0 {
                if let Ok(c) = self.consumer.read_chunk(n) {
                    c.commit_all();
                }
                self.shared
                    .analysed_samples
                    .fetch_add(n as u64, Ordering::Release);
                return true;
            }
            return false;
        };

        // Parameter changes that rebuild the front end (allocates: fine here, never on audio).
        let hop_s = (self.params.hop_s.value().clamp(0.05, 1.0)) as f64;
        if (hop_s - model.hop_s).abs() > 1e-9 {
            let config = AnalysisConfig {
                hop_s,
                ..AnalysisConfig::default()
            };
            if let Ok(front) = FrontEnd::new(&model.info, self.host_rate, &config) {
                model.front = front;
                model.hop_s = hop_s;
            }
        }
        if self.shared.reset_requested.swap(false, Ordering::AcqRel) {
            model.front.reset();
            self.smoothed = [0.0; MAX_CLASSES];
            self.detected = 0;
            self.shared.clear_activations();
        }

        let classes = model.info.num_classes().min(MAX_CLASSES);
        let sens = self.params.sensitivity.value();
        for (t, &m) in self
            .shared
            .thresholds
            .iter()
            .zip(&model.info.thresholds)
            .take(classes)
        {
            t.store(effective_threshold(m, sens));
        }

        // Input samples per hop: read at most that much at a time so each push completes at most
        // one window, and we can tell whether more audio is already waiting behind it.
        let hop_in = ((hop_s * self.host_rate as f64) as usize).max(64);
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
            let mut got: Option<(bool, f64)> = None;
            let mut extra = 0u64;
            let window = &mut self.window;
            let mut sink = |w: crate::analysis::PreparedWindow<'_>| {
                if got.is_some() {
                    extra += 1;
                }
                if !w.silent {
                    window.copy_from_slice(w.samples);
                }
                got = Some((w.silent, w.end_s));
            };
            model.front.push_mono(a, &mut sink);
            model.front.push_mono(b, &mut sink);
            chunk.commit_all();
            // Counted once the chunk's window (if any) is published: the offline feeder waits on it.
            let done = |sh: &Shared| {
                sh.analysed_samples
                    .fetch_add(take as u64, Ordering::Release)
            };
            if extra > 0 {
                self.shared
                    .windows_dropped
                    .fetch_add(extra, Ordering::Relaxed);
            }
            let Some((silent, end_s)) = got else {
                done(&self.shared);
                continue;
            };
            // Behind real time: a newer window is already waiting in the ring, skip this one.
            if !self.offline && self.consumer.slots() >= behind {
                self.shared.windows_dropped.fetch_add(1, Ordering::Relaxed);
                done(&self.shared);
                continue;
            }
            if silent {
                self.probs.iter_mut().for_each(|p| *p = 0.0);
            } else {
                let t0 = Instant::now();
                if let Err(e) = model.runner.run(&self.window, 1, &mut self.probs) {
                    let msg = format!("Inference failed: {e}");
                    self.shared.slow().status.error = Some(msg);
                    self.shared.running.store(false, Ordering::Release);
                    self.model = None;
                    self.shared.classes.store(0, Ordering::Release);
                    done(&self.shared);
                    return true;
                }
                let delay = self.shared.test_inference_delay_ms.load(Ordering::Relaxed);
                if delay > 0 {
                    std::thread::sleep(Duration::from_millis(delay as u64));
                }
                let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
                self.shared.inference_us.store(us, Ordering::Relaxed);
                let avg = self.shared.inference_us_avg.load();
                let avg = if avg == 0.0 {
                    us as f32
                } else {
                    avg + 0.1 * (us as f32 - avg)
                };
                self.shared.inference_us_avg.store(avg);
            }
            let attack = smoothing_coef(hop_s, self.params.attack_ms.value());
            let release = smoothing_coef(hop_s, self.params.release_ms.value());
            let hyst = self.params.hysteresis.value();
            self.detected = publish(
                &self.shared,
                &self.probs[..classes],
                &mut self.smoothed[..classes],
                self.detected,
                (attack, release, hyst),
                end_s,
            );
            done(&self.shared);
        }
        worked
    }
}

/// Smooths one window's probabilities, applies detection with hysteresis and publishes both.
/// Returns the new detection bits.
fn publish(
    shared: &Shared,
    probs: &[f32],
    smoothed: &mut [f32],
    was: u64,
    (attack, release, hyst): (f32, f32, f32),
    end_s: f64,
) -> u64 {
    let mut detected = 0u64;
    for (i, (&p, s)) in probs.iter().zip(smoothed.iter_mut()).enumerate() {
        // A model that outputs NaN or values outside [0, 1] once must not poison the smoothed
        // state (NaN would stay forever) or the CCs.
        let p = if p.is_finite() {
            p.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let k = if p > *s { attack } else { release };
        *s += k * (p - *s);
        let thr = shared.thresholds[i].load();
        if detect_with_hysteresis(was & (1 << i) != 0, *s, thr, hyst) {
            detected |= 1 << i;
        }
        shared.activations[i].store(*s);
    }
    shared.detected.store(detected, Ordering::Release);
    shared.windows_done.fetch_add(1, Ordering::Release);

    {
        let mut slow = shared.slow();
        slow.history.push_back(HistoryEntry {
            time_s: end_s,
            values: smoothed.to_vec(),
            detected,
        });
        while slow
            .history
            .front()
            .is_some_and(|f| end_s - f.time_s > HISTORY_SECONDS + 1.0)
        {
            slow.history.pop_front();
        }
    }
    detected
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn non_finite_model_output_does_not_poison_the_activations() {
        let shared = Shared::default();
        let mut smoothed = [0.5f32; 4];
        let probs = [f32::NAN, f32::INFINITY, -3.0, 7.0];
        publish(&shared, &probs, &mut smoothed, 0, (0.5, 0.5, 0.05), 1.0);
        assert_eq!(smoothed, [0.25, 0.25, 0.25, 0.75]);
        assert_eq!(shared.activations[3].load(), 0.75);
    }

    #[test]
    fn sensitivity_lowers_threshold() {
        assert!((effective_threshold(0.5, 0.2) - 0.3).abs() < 1e-6);
        assert_eq!(effective_threshold(0.5, -0.9), 0.99);
        assert_eq!(effective_threshold(0.5, 0.9), 0.01);
    }
}
