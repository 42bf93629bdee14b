//! The analyser: front end + model runner, with batching. One per audio stream, owned by the
//! thread that runs inference (the plugin's worker thread, or the CLI's main thread).

use std::sync::Arc;

use super::frontend::{AnalysisConfig, ConfigError, FrontEnd, PreparedWindow};
use crate::model::{ModelError, ModelInfo, ModelRunner};

/// Probabilities of one analysis window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowResult {
    /// Window start and end, in seconds of input audio.
    pub start_s: f64,
    pub end_s: f64,
    /// One probability per class, in the model's label order (all zeros for silent windows).
    pub probs: Vec<f32>,
    /// True when the window was below the silence floor and the model was not run.
    pub silent: bool,
}

/// Errors while analysing.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] ModelError),
}

struct Pending {
    start_s: f64,
    end_s: f64,
    /// Slot in the batch input, or None for a silent window.
    slot: Option<usize>,
}

/// Batches prepared windows and runs them through the model.
struct Batcher {
    runner: ModelRunner,
    max_batch: usize,
    window: usize,
    classes: usize,
    input: Vec<f32>,
    output: Vec<f32>,
    pending: Vec<Pending>,
    used: usize,
    error: Option<ModelError>,
}

impl Batcher {
    fn add(&mut self, w: PreparedWindow<'_>, out: &mut Vec<WindowResult>) {
        let slot = if w.silent {
            None
        } else {
            let s = self.used;
            self.input[s * self.window..(s + 1) * self.window].copy_from_slice(w.samples);
            self.used += 1;
            Some(s)
        };
        self.pending.push(Pending {
            start_s: w.start_s,
            end_s: w.end_s,
            slot,
        });
        // Silent windows take no slot, so bound the queue as well as the slots.
        if self.used == self.max_batch || self.pending.len() >= 4 * self.max_batch {
            self.flush(out);
        }
    }

    fn flush(&mut self, out: &mut Vec<WindowResult>) {
        if self.pending.is_empty() {
            return;
        }
        let n = self.used;
        if n > 0 && self.error.is_none() {
            if let Err(e) = self.runner.run(
                &self.input[..n * self.window],
                n,
                &mut self.output[..n * self.classes],
            ) {
                self.error = Some(e);
            }
        }
        if self.error.is_none() {
            for p in self.pending.drain(..) {
                let probs = match p.slot {
                    Some(s) => self.output[s * self.classes..(s + 1) * self.classes].to_vec(),
                    None => vec![0.0; self.classes],
                };
                out.push(WindowResult {
                    start_s: p.start_s,
                    end_s: p.end_s,
                    probs,
                    silent: p.slot.is_none(),
                });
            }
        }
        self.pending.clear();
        self.used = 0;
    }

    fn take_error(&mut self) -> Result<(), ModelError> {
        self.error.take().map_or(Ok(()), Err)
    }
}

/// Streaming analysis of one input stream.
///
/// Feed blocks of any size with [`push_interleaved`](Analyzer::push_interleaved),
/// [`push_planar`](Analyzer::push_planar) or [`push_mono`](Analyzer::push_mono); completed
/// windows are appended to `out` in time order. With `max_batch == 1` every window is run as soon
/// as it is complete. [`finish`](Analyzer::finish) ends the stream.
pub struct Analyzer {
    front: FrontEnd,
    batcher: Batcher,
    info: Arc<ModelInfo>,
    /// Real-time feeding ([`push_mono_latest`](Analyzer::push_mono_latest)): the newest prepared
    /// window, not yet run, and its samples.
    held: Option<Held>,
    held_samples: Vec<f32>,
}

/// Where and what the held window is (its samples are in `Analyzer::held_samples`).
#[derive(Clone, Copy)]
struct Held {
    index: u64,
    start_s: f64,
    end_s: f64,
    silent: bool,
}

impl Analyzer {
    /// Builds an analyser for audio at `input_rate` Hz. Takes the runner by value (get it back with
    /// [`into_runner`](Analyzer::into_runner)); on a configuration error the runner is dropped, so
    /// call [`FrontEnd::check`] first if it must be kept.
    pub fn new(
        runner: ModelRunner,
        input_rate: u32,
        config: &AnalysisConfig,
    ) -> Result<Analyzer, ConfigError> {
        let info = runner.info().clone();
        let front = FrontEnd::new(&info, input_rate, config)?;
        let max_batch = config.max_batch.clamp(1, runner.max_batch().min(256));
        let classes = info.num_classes();
        let window = info.window_samples;
        Ok(Analyzer {
            front,
            batcher: Batcher {
                runner,
                max_batch,
                window,
                classes,
                input: vec![0.0; max_batch * window],
                output: vec![0.0; max_batch * classes],
                pending: Vec::with_capacity(4 * max_batch),
                used: 0,
                error: None,
            },
            held: None,
            held_samples: vec![0.0; window],
            info,
        })
    }

    pub fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }

    /// Starts a new stream at another input sample rate (drops anything buffered). Allocates:
    /// call it from the worker thread, never from the audio thread.
    pub fn set_input_rate(
        &mut self,
        input_rate: u32,
        config: &AnalysisConfig,
    ) -> Result<(), ConfigError> {
        self.front = FrontEnd::new(&self.info, input_rate, config)?;
        self.reset();
        Ok(())
    }

    pub fn runner(&self) -> &ModelRunner {
        &self.batcher.runner
    }

    pub fn into_runner(self) -> ModelRunner {
        self.batcher.runner
    }

    pub fn input_rate(&self) -> u32 {
        self.front.input_rate()
    }

    /// Seconds of input pushed since the stream started.
    pub fn input_seconds(&self) -> f64 {
        self.front.input_seconds()
    }

    pub fn push_interleaved(
        &mut self,
        data: &[f32],
        channels: usize,
        out: &mut Vec<WindowResult>,
    ) -> Result<(), ModelError> {
        let b = &mut self.batcher;
        self.front
            .push_interleaved(data, channels, &mut |w| b.add(w, out));
        b.take_error()
    }

    pub fn push_planar(
        &mut self,
        planes: &[&[f32]],
        out: &mut Vec<WindowResult>,
    ) -> Result<(), ModelError> {
        let b = &mut self.batcher;
        self.front.push_planar(planes, &mut |w| b.add(w, out));
        b.take_error()
    }

    pub fn push_mono(
        &mut self,
        data: &[f32],
        out: &mut Vec<WindowResult>,
    ) -> Result<(), ModelError> {
        let b = &mut self.batcher;
        self.front.push_mono(data, &mut |w| b.add(w, out));
        b.take_error()
    }

    /// Pushes mono samples already at the model rate (see [`FrontEnd::push_resampled`]); the
    /// analyser must have been set to the model rate.
    pub fn push_resampled(
        &mut self,
        data: &[f32],
        out: &mut Vec<WindowResult>,
    ) -> Result<(), ModelError> {
        let b = &mut self.batcher;
        self.front.push_resampled(data, &mut |w| b.add(w, out));
        b.take_error()
    }

    /// Runs windows waiting for a full batch (useful with `max_batch > 1` when latency matters).
    pub fn flush(&mut self, out: &mut Vec<WindowResult>) -> Result<(), ModelError> {
        self.batcher.flush(out);
        self.batcher.take_error()
    }

    /// Ends the stream (flushing everything) and resets for a new stream at the same rate.
    pub fn finish(&mut self, out: &mut Vec<WindowResult>) -> Result<(), ModelError> {
        let b = &mut self.batcher;
        self.front.finish(&mut |w| b.add(w, out));
        b.flush(out);
        b.take_error()
    }

    /// Real-time feeding, one window at a time: pushes mono input and holds the newest window it
    /// completes, without running the model, so that the caller can decide whether it is still
    /// worth running ([`run_held`](Analyzer::run_held)) or, behind real time, skip it
    /// ([`drop_held`](Analyzer::drop_held)). Returns how many windows this input completed; all
    /// but the newest are discarded, and so is a window still held from an earlier call.
    pub fn push_mono_latest(&mut self, data: &[f32]) -> usize {
        let (held, samples) = (&mut self.held, &mut self.held_samples);
        let mut completed = 0;
        self.front.push_mono(data, &mut |w| {
            completed += 1;
            if !w.silent {
                samples.copy_from_slice(w.samples);
            }
            *held = Some(Held {
                index: w.index,
                start_s: w.start_s,
                end_s: w.end_s,
                silent: w.silent,
            });
        });
        completed
    }

    /// Runs the held window like any other (silent: zeros without the model) and appends its
    /// result to `out`. Returns whether a window was held.
    pub fn run_held(&mut self, out: &mut Vec<WindowResult>) -> Result<bool, ModelError> {
        let Some(h) = self.held.take() else {
            return Ok(false);
        };
        let w = PreparedWindow {
            index: h.index,
            start_s: h.start_s,
            end_s: h.end_s,
            silent: h.silent,
            samples: &self.held_samples,
        };
        self.batcher.add(w, out);
        self.batcher.flush(out);
        self.batcher.take_error().map(|()| true)
    }

    /// Discards the held window. Returns whether one was held.
    pub fn drop_held(&mut self) -> bool {
        self.held.take().is_some()
    }

    /// Drops buffered audio and pending windows without analysing them.
    pub fn reset(&mut self) {
        self.held = None;
        self.front.reset();
        self.batcher.pending.clear();
        self.batcher.used = 0;
        self.batcher.error = None;
    }
}
