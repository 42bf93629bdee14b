//! What the fuzz targets check, shared with tests/fuzz_regressions.rs (which replays the seeds and
//! every input that ever crashed a target). Included by `#[path]`, so it needs only the library
//! and serde_json.

use std::collections::HashMap;
use std::path::Path;

use instrument_meter::decode::AudioFileReader;
use instrument_meter::model::{ModelInfo, ModelRunner, SessionConfig, MODEL_RATE_RANGE};
use instrument_meter::offline::OfflineAnalyzer;
use instrument_meter::AnalysisConfig;

/// The 4-class test model (22.05 kHz, 1-s windows); runs in microseconds per window.
const MODEL: &[u8] = include_bytes!("../tests/fixtures/models/tiny4.onnx");

/// The offline analyser the CLI uses (batch 4), with the tiny fixture model.
pub fn fixture_analyzer() -> OfflineAnalyzer {
    let runner = ModelRunner::from_bytes(MODEL, &SessionConfig::default())
        .expect("fixture model loads (is ONNX Runtime set up? scripts/setup.sh)");
    let config = AnalysisConfig {
        max_batch: 4,
        ..AnalysisConfig::default()
    };
    OfflineAnalyzer::new(runner, config).expect("default config is valid")
}

/// Bytes → symphonia → the whole offline analysis. Must not panic; an accepted file gives sane
/// results (finite scores in [0, 1], windows in time order inside the decoded audio).
pub fn decode_analyze(offline: &mut OfflineAnalyzer, data: &[u8]) {
    // No extension: the probe must recognise the format from the bytes alone.
    let Ok(reader) = AudioFileReader::from_bytes(data.to_vec(), Path::new("fuzz-input")) else {
        return;
    };
    let Ok(a) = offline.analyze_reader(reader, |f| assert!((0.0..=1.0).contains(&f))) else {
        return;
    };
    assert!(a.duration_s > 0.0 && a.duration_s.is_finite());
    for s in &a.scores {
        assert!((0.0..=1.0).contains(s), "clip score {s}");
    }
    let mut last = f64::NEG_INFINITY;
    for w in &a.windows {
        assert!(w.start_s >= last && w.end_s >= w.start_s, "window order");
        assert!(w.start_s <= a.duration_s + 1e-6, "window after the end");
        assert!(w.probs.iter().all(|p| (0.0..=1.0).contains(p)));
        last = w.start_s;
    }
}

/// The metadata parser and validator on a key/value table written as UTF-8 (lossy) lines
/// `key=value` (so real models' metadata make readable seeds). Must not panic; an accepted table
/// satisfies every rule of docs/model-contract.md.
pub fn model_metadata(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let table: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let Ok(info) = ModelInfo::from_metadata(|k| table.get(k).map(|v| v.to_string())) else {
        return;
    };
    let n = info.num_classes();
    assert!(n > 0);
    assert_eq!(info.label_names.len(), n);
    assert_eq!(info.thresholds.len(), n);
    assert!(
        info.thresholds.iter().all(|t| *t > 0.0 && *t < 1.0),
        "thresholds outside (0, 1): {:?}",
        info.thresholds
    );
    assert!(MODEL_RATE_RANGE.contains(&info.sample_rate));
    assert!(info.window_samples >= 16);
    assert!(info.window_seconds() <= 30.0);
    for (i, l) in info.labels.iter().enumerate() {
        assert!(!l.trim().is_empty());
        assert!(!info.labels[..i].contains(l), "duplicate label {l:?}");
    }
    // What the CLI and the panel print must not panic either.
    let _ = info.display_name();
    let _ = serde_json::to_string(&info);
}
