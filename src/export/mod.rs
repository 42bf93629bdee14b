//! Exports of one analysed file for other tools: a Standard MIDI File (automation lanes and note
//! gates for a DAW), an Audacity label track, and a timeline picture like the plugin panel's.

pub mod audacity;
pub mod midi;
pub mod picture;

use crate::analysis::Detection;
use crate::model::ModelInfo;
use crate::offline::FileAnalysis;

/// What every exporter reads: the analysed file, the model that analysed it, and what the
/// detector made of it (smoothed activations per window, segments).
#[derive(Clone, Copy)]
pub struct Timeline<'a> {
    pub analysis: &'a FileAnalysis,
    pub info: &'a ModelInfo,
    pub detection: &'a Detection,
}

impl Timeline<'_> {
    /// The time each window's values are placed at: its centre, where its evidence lies.
    pub fn window_times(&self) -> impl Iterator<Item = f64> + '_ {
        self.analysis
            .windows
            .iter()
            .map(|w| (w.start_s + w.end_s) / 2.0)
    }

    /// The file's name without its folders, for titles.
    pub fn file_name(&self) -> String {
        let p = &self.analysis.path;
        p.file_name()
            .unwrap_or(p.as_os_str())
            .to_string_lossy()
            .into_owned()
    }
}
