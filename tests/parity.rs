//! The Rust core gives the same window probabilities as plain Python onnxruntime
//! (tests/fixtures/parity_reference.json, made by tests/fixtures/make_fixture_model.py).
mod common;

use common::{fixture, runner};
use instrument_meter::offline::OfflineAnalyzer;
use instrument_meter::AnalysisConfig;

#[test]
fn window_probabilities_match_python_onnxruntime() {
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("parity_reference.json")).unwrap())
            .unwrap();
    let hop = reference["hop_s"].as_f64().unwrap();
    let mut checked = 0;
    for case in reference["cases"].as_array().unwrap() {
        let audio = fixture(case["audio"].as_str().unwrap());
        let model = case["model"].as_str().unwrap();
        let expected = case["windows"].as_array().unwrap();
        for batch in [1, 16] {
            let config = AnalysisConfig {
                hop_s: hop,
                max_batch: batch,
                ..AnalysisConfig::default()
            };
            let mut off = OfflineAnalyzer::new(runner(model), config).unwrap();
            let got = off.analyze_file(&audio, |_| {}).unwrap();
            assert_eq!(got.windows.len(), expected.len(), "{audio:?}: window count");
            for (g, e) in got.windows.iter().zip(expected) {
                assert!((g.start_s - e["start_s"].as_f64().unwrap()).abs() < 1e-9);
                assert!((g.end_s - e["end_s"].as_f64().unwrap()).abs() < 1e-9);
                let probs: Vec<f64> = e["probs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_f64().unwrap())
                    .collect();
                assert_eq!(g.probs.len(), probs.len());
                for (a, b) in g.probs.iter().zip(&probs) {
                    assert!(
                        (*a as f64 - b).abs() <= 1e-4,
                        "{audio:?} @ {}: rust {a} python {b}",
                        g.start_s
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 20,
        "reference must cover enough windows, got {checked}"
    );
}

/// Decoding on a second thread (the CLI's one-file-at-a-time mode) gives exactly the windows and
/// scores of the one-thread path, for every format and every resampling path: same rate, 2:1
/// half-band (44.1 kHz), FFT resampler (48 kHz, 16 kHz into a 22.05 kHz model).
#[test]
fn decode_thread_gives_identical_windows() {
    let dir = tempfile::tempdir().unwrap();
    let wav48 = dir.path().join("stereo48.wav");
    common::write_wav(
        &wav48,
        &common::tones(7.3, 48_000, 2),
        2,
        48_000,
        common::WavFormat::Pcm16,
    );
    let wav44 = dir.path().join("stereo44f.wav");
    common::write_wav(
        &wav44,
        &common::tones(4.1, 44_100, 2),
        2,
        44_100,
        common::WavFormat::Float32,
    );
    let cases = [
        (fixture("audio/cello.wav"), "models/tiny3_16k.onnx"),
        (fixture("audio/cello.flac"), "models/tiny3_16k.onnx"),
        (fixture("audio/cello.mp3"), "models/tiny3_16k.onnx"),
        (fixture("audio/cello.ogg"), "models/tiny3_16k.onnx"),
        (fixture("audio/cello.ogg"), "models/tiny4.onnx"),
        (fixture("audio/parity.flac"), "models/tiny4.onnx"),
        (fixture("audio/plugin_cello.flac"), "models/tiny4.onnx"),
        (wav48, "models/tiny4.onnx"),
        (wav44, "models/tiny4.onnx"),
    ];
    for (audio, model) in &cases {
        for batch in [1, 4] {
            let config = AnalysisConfig {
                hop_s: 0.25,
                max_batch: batch,
                ..AnalysisConfig::default()
            };
            let mut one = OfflineAnalyzer::new(runner(model), config).unwrap();
            let mut two = OfflineAnalyzer::new(runner(model), config).unwrap();
            two.set_decode_thread(true);
            let a = one.analyze_file(audio, |_| {}).unwrap();
            // Twice: the threaded analyser is reused across files like the CLI's.
            for _ in 0..2 {
                let b = two.analyze_file(audio, |_| {}).unwrap();
                assert!(!a.windows.is_empty());
                assert_eq!(
                    a.windows, b.windows,
                    "{audio:?} with {model}, batch {batch}"
                );
                assert_eq!(a.scores, b.scores);
                assert_eq!(
                    (a.duration_s, a.sample_rate, a.channels),
                    (b.duration_s, b.sample_rate, b.channels)
                );
                assert_eq!(a.truncated, b.truncated);
            }
        }
    }
}
