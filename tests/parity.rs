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
