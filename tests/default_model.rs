//! The shipped default model (assets/model.onnx, embedded with include_bytes!): its metadata is
//! complete, and the Rust core scores a committed clip as Python onnxruntime does
//! (tests/fixtures/default_model_reference.json, made by make_default_model_reference.py).
mod common;

use common::fixture;
use instrument_meter::model::{ModelRunner, SessionConfig, DEFAULT_MODEL};
use instrument_meter::offline::OfflineAnalyzer;
use instrument_meter::AnalysisConfig;

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("default_model_reference.json")).unwrap())
        .unwrap()
}

#[test]
fn embedded_model_metadata_is_complete() {
    let bytes = DEFAULT_MODEL.expect("assets/model.onnx is committed: the build must embed it");
    let runner = ModelRunner::default_model(&SessionConfig::default()).unwrap();
    let info = runner.info();
    assert_eq!(
        bytes.len() as u64,
        reference()["model_bytes"].as_u64().unwrap(),
        "assets/model.onnx changed: rerun tests/fixtures/make_default_model_reference.py"
    );
    assert_eq!(
        info.labels,
        ["cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi"]
    );
    assert_eq!(info.label_names.len(), info.labels.len());
    assert!(info.label_names.iter().all(|n| !n.is_empty()));
    assert_eq!((info.sample_rate, info.window_samples), (22050, 22050));
    assert_eq!(info.thresholds.len(), info.labels.len());
    assert!(
        info.thresholds_from_model,
        "thresholds must come from validation, not the 0.5 default"
    );
    assert!(info.thresholds.iter().all(|t| *t > 0.0 && *t < 1.0));
    assert!(info.model_name.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(info.model_version.is_some() && info.contract_version.is_some());
    assert!(info.architecture.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(
        info.training_data.as_deref().is_some_and(|s| s.len() > 40),
        "training data description missing"
    );
    let m = info.metrics.as_ref().expect("metrics");
    assert!(
        m.get("validation").is_some(),
        "metrics lack validation: {m}"
    );
    // The model trained on every recording family: its honest figures are the leave-one-family-out
    // ones of its recipe, and its thresholds are that run's out-of-family calibration.
    let lofo = m.get("lofo").expect("metrics lack the LOFO run");
    assert!(lofo["folds"].as_array().unwrap().len() >= 3, "{lofo}");
    for proto in ["calibrated", "honest", "paper"] {
        for key in ["lrap", "f1_micro", "f1_macro"] {
            let v = lofo["mean"][proto][key]["mean"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "lofo {proto} {key} = {v}");
        }
    }
}

#[test]
fn info_shows_the_leave_one_family_out_figures() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .arg("info")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let text = common::stdout(&o);
    let line = text
        .lines()
        .find(|l| l.contains("out-of-family thresholds:"))
        .unwrap_or_else(|| panic!("no LOFO line in:\n{text}"));
    assert!(
        line.contains("LRAP 0.") && line.contains("F1-macro 0."),
        "{line}"
    );
    assert!(
        text.contains(
            "leave-one-family-out (4 held-out folds: fluid, timgm, generaluser, samples)"
        ),
        "{text}"
    );
}

#[test]
fn embedded_model_scores_match_python_onnxruntime() {
    let reference = reference();
    let runner = ModelRunner::default_model(&SessionConfig::default()).unwrap();
    let config = AnalysisConfig {
        hop_s: reference["hop_s"].as_f64().unwrap(),
        ..AnalysisConfig::default()
    };
    let mut off = OfflineAnalyzer::new(runner, config).unwrap();
    let got = off
        .analyze_file(&fixture(reference["audio"].as_str().unwrap()), |_| {})
        .unwrap();
    let expected = reference["windows"].as_array().unwrap();
    assert_eq!(got.windows.len(), expected.len());
    for (g, e) in got.windows.iter().zip(expected) {
        let probs = e["probs"].as_array().unwrap();
        assert_eq!(g.probs.len(), probs.len());
        for (a, b) in g.probs.iter().zip(probs) {
            let b = b.as_f64().unwrap();
            assert!(
                (*a as f64 - b).abs() <= 1e-4,
                "@{}: rust {a} python {b}",
                g.start_s
            );
        }
    }
}
