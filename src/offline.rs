//! Offline analysis of a whole audio file, streamed packet by packet through the same
//! [`Analyzer`] the plugin uses.

use std::path::{Path, PathBuf};

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
}

impl OfflineAnalyzer {
    pub fn new(
        runner: ModelRunner,
        config: AnalysisConfig,
    ) -> Result<OfflineAnalyzer, AnalysisError> {
        // Any valid rate works here; each file switches to its own rate.
        let rate = runner.info().sample_rate;
        let analyzer = Analyzer::new(runner, rate, &config)?;
        Ok(OfflineAnalyzer { analyzer, config })
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
