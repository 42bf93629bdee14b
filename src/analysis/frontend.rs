//! The sample-pushing front end: downmix → resample → window → silence check → normalise.
//! Allocation-free per push after construction; everything model-specific comes from `ModelInfo`.

use super::downmix::{downmix_interleaved, downmix_planar, sanitize};
use super::normalize::{dbfs_to_rms, prepare_window};
use super::resample::{StreamResampler, UnsupportedRate};
use super::window::{Window, Windower};
use crate::model::{ModelInfo, Normalization};

/// Mono frames downmixed per step (bounds the scratch buffer, not the caller's block size).
const SCRATCH_FRAMES: usize = 1024;

/// Analysis settings shared by the CLI and the plugin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnalysisConfig {
    /// Seconds between window starts (default 0.5).
    pub hop_s: f64,
    /// Windows quieter than this RMS level (dBFS) score zeros without running the model.
    pub silence_floor_dbfs: f64,
    /// Most windows per inference call. 1 runs each window as soon as it is complete (plugin);
    /// larger values batch windows for throughput (offline analysis).
    pub max_batch: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            hop_s: 0.5,
            silence_floor_dbfs: -60.0,
            max_batch: 1,
        }
    }
}

/// A window ready for the model.
#[derive(Debug, Clone, Copy)]
pub struct PreparedWindow<'a> {
    /// 0-based window number since the stream started.
    pub index: u64,
    /// Start and end time in seconds of input audio.
    pub start_s: f64,
    pub end_s: f64,
    /// Below the silence floor: the model must not run and the window scores zeros.
    pub silent: bool,
    /// The normalised model input (`window_samples` values); meaningless when `silent`.
    pub samples: &'a [f32],
}

/// Why a front end could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Rate(#[from] UnsupportedRate),
    #[error("hop must be a positive number of seconds, got {0}")]
    Hop(f64),
    #[error("channel count must be between 1 and 64, got {0}")]
    Channels(usize),
}

/// Streaming front end for one input stream at a fixed input sample rate.
pub struct FrontEnd {
    resampler: StreamResampler,
    windower: Windower,
    scratch: Vec<f32>,
    prep: Preparer,
}

/// Turns a raw window into a [`PreparedWindow`] (timestamps, silence check, normalisation).
struct Preparer {
    prepared: Vec<f32>,
    normalization: Normalization,
    floor_rms: f64,
    model_rate: f64,
    hop: f64,
    window: usize,
}

impl Preparer {
    fn emit(&mut self, w: Window<'_>, sink: &mut impl FnMut(PreparedWindow<'_>)) {
        let silent = !prepare_window(
            w.samples,
            self.normalization,
            self.floor_rms,
            &mut self.prepared,
        );
        // Times from sample counts, so they never drift (same formula as the windower).
        let start = (w.index as f64 * self.hop + 0.5).floor();
        // A zero-padded window (clip shorter than a window) ends where the audio ends.
        let end = start + w.valid.min(self.window) as f64;
        sink(PreparedWindow {
            index: w.index,
            start_s: start / self.model_rate,
            end_s: end / self.model_rate,
            silent,
            samples: &self.prepared,
        });
    }
}

impl FrontEnd {
    pub fn new(
        info: &ModelInfo,
        input_rate: u32,
        config: &AnalysisConfig,
    ) -> Result<FrontEnd, ConfigError> {
        if !(config.hop_s.is_finite() && config.hop_s > 0.0) {
            return Err(ConfigError::Hop(config.hop_s));
        }
        let hop = (config.hop_s * info.sample_rate as f64).max(1.0);
        Ok(FrontEnd {
            resampler: StreamResampler::new(input_rate, info.sample_rate)?,
            windower: Windower::new(info.window_samples, hop),
            scratch: vec![0.0; SCRATCH_FRAMES],
            prep: Preparer {
                prepared: vec![0.0; info.window_samples],
                normalization: info.normalization,
                floor_rms: dbfs_to_rms(config.silence_floor_dbfs),
                model_rate: info.sample_rate as f64,
                hop,
                window: info.window_samples,
            },
        })
    }

    pub fn input_rate(&self) -> u32 {
        self.resampler.input_rate()
    }

    /// Hop in model-rate samples (possibly fractional).
    pub fn hop_samples(&self) -> f64 {
        self.windower.hop()
    }

    /// Seconds of input pushed since the stream started.
    pub fn input_seconds(&self) -> f64 {
        self.resampler.total_input() as f64 / self.resampler.input_rate() as f64
    }

    /// Pushes interleaved frames with `channels` channels.
    pub fn push_interleaved(
        &mut self,
        data: &[f32],
        channels: usize,
        sink: &mut impl FnMut(PreparedWindow<'_>),
    ) {
        assert!(channels > 0, "channel count must be positive");
        for block in data.chunks(SCRATCH_FRAMES * channels) {
            let n = downmix_interleaved(block, channels, &mut self.scratch);
            self.feed_scratch(n, sink);
        }
    }

    /// Pushes planar channels (one slice per channel; frames beyond the shortest are ignored).
    pub fn push_planar(&mut self, planes: &[&[f32]], sink: &mut impl FnMut(PreparedWindow<'_>)) {
        let frames = planes.iter().map(|p| p.len()).min().unwrap_or(0);
        let mut offset = 0;
        while offset < frames {
            let n = SCRATCH_FRAMES.min(frames - offset);
            downmix_planar(planes, offset, &mut self.scratch[..n]);
            self.feed_scratch(n, sink);
            offset += n;
        }
    }

    /// Pushes mono samples (non-finite and absurd values are replaced by 0, see `sanitize`).
    pub fn push_mono(&mut self, data: &[f32], sink: &mut impl FnMut(PreparedWindow<'_>)) {
        for block in data.chunks(SCRATCH_FRAMES) {
            for (o, &x) in self.scratch.iter_mut().zip(block) {
                *o = sanitize(x);
            }
            self.feed_scratch(block.len(), sink);
        }
    }

    /// Pushes mono samples already at the model rate: the stream's downmixed, sanitised input
    /// put through a [`StreamResampler`] elsewhere (the offline analysis resamples on its decoding
    /// thread). They go straight to the windower, so the windows are exactly those of pushing the
    /// input itself. The front end must be built for the model rate (its own resampler passes
    /// samples through); [`input_seconds`](FrontEnd::input_seconds) does not count these samples.
    pub fn push_resampled(&mut self, data: &[f32], sink: &mut impl FnMut(PreparedWindow<'_>)) {
        debug_assert_eq!(self.resampler.input_rate(), self.resampler.output_rate());
        let FrontEnd { windower, prep, .. } = self;
        windower.push(data, &mut |w| prep.emit(w, sink));
    }

    /// Ends the stream: flushes the resampler, emits a padded window for streams shorter than one
    /// window, and resets so the front end can take a new stream at the same rate.
    pub fn finish(&mut self, sink: &mut impl FnMut(PreparedWindow<'_>)) {
        let FrontEnd {
            resampler,
            windower,
            prep,
            ..
        } = self;
        resampler.finish(&mut |out: &[f32]| windower.push(out, &mut |w| prep.emit(w, sink)));
        windower.finish(&mut |w| prep.emit(w, sink));
    }

    /// Drops all buffered audio (for example when the host's transport jumps).
    pub fn reset(&mut self) {
        self.resampler.reset();
        self.windower.reset();
    }

    fn feed_scratch(&mut self, n: usize, sink: &mut impl FnMut(PreparedWindow<'_>)) {
        let FrontEnd {
            resampler,
            windower,
            scratch,
            prep,
        } = self;
        resampler.push(&scratch[..n], &mut |out: &[f32]| {
            windower.push(out, &mut |w| prep.emit(w, sink))
        });
    }
}
