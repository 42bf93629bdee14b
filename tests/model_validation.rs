//! Loading models: valid fixtures load with their metadata, every contract violation is reported
//! precisely, and nothing panics.
mod common;

use common::fixture;
use instrument_meter::model::{ModelError, ModelRunner, Normalization, SessionConfig};

fn load(rel: &str) -> Result<ModelRunner, ModelError> {
    ModelRunner::from_file(&fixture(rel), &SessionConfig::default())
}

#[test]
fn main_fixture_loads_with_its_metadata() {
    let r = load("models/tiny4.onnx").unwrap();
    let info = r.info();
    assert_eq!(info.labels, ["cel", "flu", "pia", "voi"]);
    assert_eq!(info.label_names, ["CEL", "FLU", "PIA", "VOI"]);
    assert_eq!((info.sample_rate, info.window_samples), (22050, 22050));
    assert_eq!(info.normalization, Normalization::Rms);
    assert_eq!(info.thresholds, [0.3, 0.4, 0.5, 0.6]);
    assert_eq!(info.model_name.as_deref(), Some("fixture-tiny4"));
    assert!(info.metrics.is_some());
    assert!(r.max_batch() > 1, "dynamic batch");
}

#[test]
fn second_fixture_with_other_classes_and_defaults() {
    let r = load("models/tiny3_16k.onnx").unwrap();
    let info = r.info();
    assert_eq!(info.labels, ["drm", "bas", "key"]);
    assert_eq!(
        info.label_names, info.labels,
        "codes shown when label_names is missing"
    );
    assert_eq!(info.thresholds, [0.5; 3], "contract default threshold");
    assert!(!info.thresholds_from_model);
    assert_eq!((info.sample_rate, info.window_samples), (16000, 8000));
    assert_eq!(info.normalization, Normalization::None);
}

#[test]
fn model_from_bytes_equals_model_from_file() {
    let bytes = std::fs::read(fixture("models/tiny4.onnx")).unwrap();
    let a = ModelRunner::from_bytes(&bytes, &SessionConfig::default()).unwrap();
    let b = load("models/tiny4.onnx").unwrap();
    assert_eq!(a.info(), b.info());
}

#[test]
fn each_broken_model_gets_its_precise_error() {
    type Check = fn(&ModelError) -> bool;
    let cases: &[(&str, Check)] = &[
        (
            "input_name",
            |e| matches!(e, ModelError::InputName { found } if found == &["waveform"]),
        ),
        (
            "output_name",
            |e| matches!(e, ModelError::OutputName { found } if found == &["scores"]),
        ),
        (
            "input_rank",
            |e| matches!(e, ModelError::InputShape { found } if found.len() == 2),
        ),
        ("input_samples", |e| {
            matches!(
                e,
                ModelError::InputSamples {
                    found: 1000,
                    window_samples: 22050
                }
            )
        }),
        ("output_width_static", |e| {
            matches!(
                e,
                ModelError::OutputWidth {
                    found: 5,
                    labels: 4
                }
            )
        }),
        ("output_width_dynamic", |e| {
            matches!(
                e,
                ModelError::OutputWidth {
                    found: 5,
                    labels: 4
                }
            )
        }),
        ("missing_labels", |e| {
            matches!(e, ModelError::MissingMetadata { key: "labels" })
        }),
        ("missing_sample_rate", |e| {
            matches!(e, ModelError::MissingMetadata { key: "sample_rate" })
        }),
        ("bad_thresholds", |e| {
            matches!(
                e,
                ModelError::LengthMismatch {
                    key: "thresholds",
                    found: 2,
                    labels: 4
                }
            )
        }),
        ("bad_normalization", |e| {
            matches!(
                e,
                ModelError::BadMetadata {
                    key: "normalization",
                    ..
                }
            )
        }),
        ("logits", |e| {
            matches!(e, ModelError::NotProbabilities { .. })
        }),
        ("opset13", |e| matches!(e, ModelError::Opset { found: 13 })),
    ];
    for (name, check) in cases {
        match load(&format!("models/invalid/{name}.onnx")) {
            Ok(_) => panic!("{name}: loaded but must be rejected"),
            Err(e) => assert!(check(&e), "{name}: unexpected error {e:?}"),
        }
    }
}

#[test]
fn error_messages_say_what_is_wrong() {
    let msg = load("models/invalid/output_width_static.onnx")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("5 classes") && msg.contains("labels lists 4"),
        "{msg}"
    );
    let msg = load("models/invalid/missing_labels.onnx")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("\"labels\""), "{msg}");
}

#[test]
fn garbage_and_missing_files_are_errors_not_panics() {
    let e = ModelRunner::from_bytes(b"this is not an onnx file", &SessionConfig::default())
        .unwrap_err();
    assert!(matches!(e, ModelError::Load(_)), "{e:?}");
    let e = ModelRunner::from_bytes(&[], &SessionConfig::default()).unwrap_err();
    assert!(matches!(e, ModelError::Empty), "{e:?}");
    let e = load("models/does_not_exist.onnx").unwrap_err();
    assert!(matches!(e, ModelError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains("does_not_exist.onnx"));
}

/// The path-loading code the plugin's model chooser uses, on files that are not models.
#[test]
fn unusable_model_files_are_errors_not_panics() {
    let config = SessionConfig::default();
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("models/tiny4.onnx")).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let e = ModelRunner::from_file(&write("empty.onnx", &[]), &config).unwrap_err();
    assert!(matches!(e, ModelError::Empty), "{e:?}");
    assert_eq!(e.to_string(), "the model file is empty (0 bytes)");
    // Cuts of a valid model: refused by ONNX Runtime, or (cut among the trailing metadata
    // entries) by the contract; never loaded, never a crash.
    for cut in (0..good.len()).step_by(97).skip(1) {
        let e = ModelRunner::from_file(&write("cut.onnx", &good[..cut]), &config).unwrap_err();
        assert!(
            matches!(
                e,
                ModelError::Load(_)
                    | ModelError::MissingMetadata { .. }
                    | ModelError::BadMetadata { .. }
            ),
            "cut at {cut}: {e:?}"
        );
    }
    let e = ModelRunner::from_file(dir.path(), &config).unwrap_err();
    assert!(
        matches!(e, ModelError::Io { .. })
            && e.to_string().contains(&*dir.path().display().to_string()),
        "{e}"
    );
    // A file past the 2 GiB ONNX limit is refused before reading it (sparse: no disk used).
    let huge = dir.path().join("huge.onnx");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(instrument_meter::model::MAX_MODEL_BYTES + 1)
        .unwrap();
    let e = ModelRunner::from_file(&huge, &config).unwrap_err();
    assert!(matches!(e, ModelError::TooLarge), "{e:?}");
}

#[test]
fn runtime_reports_the_shipped_library() {
    let rt =
        instrument_meter::runtime::runtime().expect("tests find ONNX Runtime via the lookup order");
    assert!(rt.version.starts_with("1."), "{}", rt.version);
    assert!(rt.library_path.is_file());
}
