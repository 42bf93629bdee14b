//! Offline analysis of a whole audio file, streamed packet by packet through the same
//! [`Analyzer`] the plugin uses.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use crate::analysis::resample::StreamResampler;
use crate::analysis::{
    AnalysisConfig, AnalysisError, Analyzer, ClipAggregator, ConfigError, WindowResult,
};
use crate::decode::{AudioFileReader, DecodeError};
use crate::model::{ModelError, ModelRunner};

/// The result of analysing one file.
#[derive(Debug, Clone)]
pub struct FileAnalysis {
    pub path: PathBuf,
    /// Seconds of audio decoded.
    pub duration_s: f64,
    /// The file's own sample rate and channel count.
    pub sample_rate: u32,
    pub channels: usize,
    pub windows: Vec<WindowResult>,
    /// Clip probabilities: mean of the window probabilities, in label order.
    pub scores: Vec<f32>,
    /// Set when the file ends before the audio its header declares (a truncated file): only the
    /// decoded part was analysed.
    pub truncated: Option<Truncation>,
}

/// How much of a truncated file was decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truncation {
    pub decoded_s: f64,
    /// Seconds the header declares, when it declares a length.
    pub declared_s: Option<f64>,
}

impl std::fmt::Display for Truncation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "file ends early (truncated): decoded {:.2} s",
            self.decoded_s
        )?;
        if let Some(d) = self.declared_s {
            write!(f, " of the {d:.2} s its header declares")?;
        }
        write!(f, "; only the decoded part was analysed")
    }
}

/// A failure on one file, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{}: contains no audio samples", .0.display())]
    NoAudio(PathBuf),
    #[error("{}: {source}", path.display())]
    Config { path: PathBuf, source: ConfigError },
    #[error("{}: {source}", path.display())]
    Model { path: PathBuf, source: ModelError },
}

/// Reusable offline analyser: keeps one model session across files.
pub struct OfflineAnalyzer {
    analyzer: Analyzer,
    config: AnalysisConfig,
    /// Decode (and downmix and resample) on a second thread, overlapped with inference.
    decode_thread: bool,
}

/// Model-rate samples per block handed from the decoding thread to the analysing one (0.74 s).
const BLOCK: usize = 16_384;
/// Blocks queued between the threads at most; blocks are recycled, not allocated per block.
const QUEUE: usize = 4;

/// A block of resampled mono audio and how many input frames had been decoded when it was sent.
struct Decoded {
    samples: Vec<f32>,
    frames: u64,
}

/// The decoding thread's side of the queue: fills recycled blocks and sends them when full.
struct BlockSender {
    full: mpsc::SyncSender<Decoded>,
    empty: mpsc::Receiver<Vec<f32>>,
    block: Vec<f32>,
    frames: u64,
    /// The analysing thread has gone (it stopped at a model error): stop decoding.
    stopped: bool,
}

impl BlockSender {
    fn extend(&mut self, mut data: &[f32]) {
        while !data.is_empty() && !self.stopped {
            let n = (BLOCK - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.block.len() == BLOCK {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        if self.block.is_empty() || self.stopped {
            return;
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let samples = std::mem::replace(&mut self.block, next);
        let frames = self.frames;
        self.stopped = self.full.send(Decoded { samples, frames }).is_err();
    }
}

impl OfflineAnalyzer {
    pub fn new(
        runner: ModelRunner,
        config: AnalysisConfig,
    ) -> Result<OfflineAnalyzer, AnalysisError> {
        // Any valid rate works here; each file switches to its own rate.
        let rate = runner.info().sample_rate;
        let analyzer = Analyzer::new(runner, rate, &config)?;
        Ok(OfflineAnalyzer {
            analyzer,
            config,
            decode_thread: false,
        })
    }

    /// Decodes, downmixes and resamples each file on a second thread while this one runs the
    /// model (a bounded queue of recycled blocks between them). The windows and scores are
    /// exactly those of the one-thread path; the wall time drops when a second core is free, the
    /// CPU time does not. Off by default; the CLI turns it on when it analyses one file at a time.
    pub fn set_decode_thread(&mut self, on: bool) {
        self.decode_thread = on;
    }

    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    pub fn into_runner(self) -> ModelRunner {
        self.analyzer.into_runner()
    }

    /// Decodes and analyses `path`. `progress` receives the fraction done (0..=1) when the
    /// container declares its length.
    pub fn analyze_file(
        &mut self,
        path: &Path,
        progress: impl FnMut(f64),
    ) -> Result<FileAnalysis, FileError> {
        let reader = AudioFileReader::open(path)?;
        self.analyze_reader(reader, progress)
    }

    /// Analyses an already opened stream (a file, or bytes in memory).
    pub fn analyze_reader(
        &mut self,
        mut reader: AudioFileReader,
        mut progress: impl FnMut(f64),
    ) -> Result<FileAnalysis, FileError> {
        let path = &reader.path().to_path_buf();
        let rate = reader.sample_rate();
        self.analyzer
            .set_input_rate(rate, &self.config)
            .map_err(|source| FileError::Config {
                path: path.to_path_buf(),
                source,
            })?;
        if self.decode_thread {
            return self.analyze_threaded(reader, progress);
        }
        let total = reader.total_frames().filter(|&n| n > 0);
        let model_err = |source| FileError::Model {
            path: path.to_path_buf(),
            source,
        };
        let mut windows = Vec::new();
        let mut frames: u64 = 0;
        let mut channels = reader.channels();
        // The reader mixes each packet down to mono straight from the decoder's buffers (the
        // values `push_interleaved` would make; sanitising them again changes nothing).
        while let Some((block, ch)) = reader.next_mono()? {
            channels = ch;
            frames += block.len() as u64;
            self.analyzer
                .push_mono(block, &mut windows)
                .map_err(model_err)?;
            if let Some(t) = total {
                progress((frames as f64 / t as f64).min(1.0));
            }
        }
        self.analyzer.finish(&mut windows).map_err(model_err)?;
        self.result(&reader, frames, channels, windows, progress)
    }

    /// [`analyze_reader`](OfflineAnalyzer::analyze_reader) with the decoding, downmix and
    /// resampling on a second thread. The analyser is set to the model rate and takes the
    /// resampled blocks as they are: the same samples reach the windower as on one thread.
    fn analyze_threaded(
        &mut self,
        reader: AudioFileReader,
        mut progress: impl FnMut(f64),
    ) -> Result<FileAnalysis, FileError> {
        let path = reader.path().to_path_buf();
        let rate = reader.sample_rate();
        let model_rate = self.analyzer.info().sample_rate;
        let config_err = |source| FileError::Config {
            path: path.clone(),
            source,
        };
        // The rate was accepted by `set_input_rate`, so the resampler can be made.
        let mut resampler =
            StreamResampler::new(rate, model_rate).map_err(|e| config_err(ConfigError::from(e)))?;
        self.analyzer
            .set_input_rate(model_rate, &self.config)
            .map_err(config_err)?;
        let total = reader.total_frames().filter(|&n| n > 0);
        let (full_tx, full_rx) = mpsc::sync_channel::<Decoded>(QUEUE);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<f32>>();
        let mut windows = Vec::new();
        let mut model_result = Ok(());
        let decoded = std::thread::scope(|scope| {
            let decoder = scope.spawn(move || {
                let mut reader = reader;
                let mut out = BlockSender {
                    full: full_tx,
                    empty: empty_rx,
                    block: Vec::with_capacity(BLOCK),
                    frames: 0,
                    stopped: false,
                };
                let mut channels = reader.channels();
                while let Some((block, ch)) = reader.next_mono()? {
                    channels = ch;
                    out.frames += block.len() as u64;
                    resampler.push(block, &mut |o: &[f32]| out.extend(o));
                    if out.stopped {
                        break;
                    }
                }
                resampler.finish(&mut |o: &[f32]| out.extend(o));
                out.send();
                Ok::<_, crate::decode::DecodeError>((reader, out.frames, channels))
            });
            // Until the decoding thread hangs up (or this one stops at a model error, which
            // hangs up on it: its next send fails and it stops).
            for d in full_rx {
                model_result = self.analyzer.push_resampled(&d.samples, &mut windows);
                if model_result.is_err() {
                    break;
                }
                if let Some(t) = total {
                    progress((d.frames as f64 / t as f64).min(1.0));
                }
                let mut samples = d.samples;
                samples.clear();
                let _ = empty_tx.send(samples);
            }
            match decoder.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        let model_err = |source| FileError::Model {
            path: path.clone(),
            source,
        };
        model_result.map_err(model_err)?;
        let (reader, frames, channels) = decoded?;
        self.analyzer.finish(&mut windows).map_err(model_err)?;
        self.result(&reader, frames, channels, windows, progress)
    }

    /// The file's result from its windows (after `finish`).
    fn result(
        &self,
        reader: &AudioFileReader,
        frames: u64,
        channels: usize,
        windows: Vec<WindowResult>,
        mut progress: impl FnMut(f64),
    ) -> Result<FileAnalysis, FileError> {
        let path = reader.path();
        let rate = reader.sample_rate();
        if frames == 0 {
            return Err(FileError::NoAudio(path.to_path_buf()));
        }
        let mut agg = ClipAggregator::new(self.analyzer.info().num_classes());
        for w in &windows {
            agg.add(&w.probs);
        }
        progress(1.0);
        let declared = reader.total_frames().filter(|&n| n > 0);
        let truncated =
            (reader.ended_early() || declared.is_some_and(|n| frames < n)).then(|| Truncation {
                decoded_s: frames as f64 / rate as f64,
                declared_s: declared.map(|n| n as f64 / rate as f64),
            });
        Ok(FileAnalysis {
            path: path.to_path_buf(),
            duration_s: frames as f64 / rate as f64,
            sample_rate: rate,
            channels,
            windows,
            scores: agg.scores(),
            truncated,
        })
    }
}
