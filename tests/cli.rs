//! The `instrument-meter` binary end to end: every output format on real audio in every container,
//! every error case, and the model/runtime errors.
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, tones, write_wav, WavFormat};
use serde_json::Value;

const MODEL: &str = "models/tiny4.onnx";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("binary runs")
}

fn analyze(extra: &[&str], files: &[&Path]) -> Output {
    let model = fixture(MODEL);
    let mut cmd = bin();
    cmd.arg("analyze").arg("--model").arg(&model).args(extra);
    for f in files {
        cmd.arg(f);
    }
    cmd.output().expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn json_schema_for_every_format() {
    let files: Vec<_> = ["wav", "flac", "mp3", "ogg"]
        .iter()
        .map(|e| fixture(&format!("audio/cello.{e}")))
        .collect();
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let o = analyze(&["--format", "json"], &refs);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 4);
    for (v, f) in lines.iter().zip(&files) {
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "file",
                "duration_s",
                "sample_rate",
                "model",
                "labels",
                "scores",
                "detected",
                "windows"
            ]
        );
        assert_eq!(v["file"], f.display().to_string());
        assert_eq!(v["sample_rate"], 16000);
        let d = v["duration_s"].as_f64().unwrap();
        assert!((d - 1.6).abs() < 0.06, "{f:?}: duration {d}");
        assert_eq!(v["model"], "fixture-tiny4 0.0.1");
        assert_eq!(v["labels"], serde_json::json!(["cel", "flu", "pia", "voi"]));
        let score_keys: Vec<&str> = v["scores"]
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            score_keys,
            ["cel", "flu", "pia", "voi"],
            "scores in label order"
        );
        let windows = v["windows"].as_array().unwrap();
        assert_eq!(windows.len(), 2, "1.6 s: windows at 0 and 0.5 s");
        for w in windows {
            let wk: Vec<&str> = w.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(wk, ["start_s", "end_s", "scores"]);
        }
        // Clip score is the mean of the window scores; detected = score >= model threshold.
        let thresholds = [0.3, 0.4, 0.5, 0.6];
        let mut expect_detected = Vec::new();
        for (i, code) in ["cel", "flu", "pia", "voi"].iter().enumerate() {
            let mean = windows
                .iter()
                .map(|w| w["scores"][code].as_f64().unwrap())
                .sum::<f64>()
                / windows.len() as f64;
            let s = v["scores"][code].as_f64().unwrap();
            assert!((mean - s).abs() < 2e-6, "{code}: mean {mean} vs {s}");
            if s >= thresholds[i] {
                expect_detected.push(code.to_string());
            }
        }
        assert_eq!(v["detected"], serde_json::json!(expect_detected));
    }
    // Lossless containers decode to identical results; lossy ones stay close.
    assert_eq!(lines[0]["scores"], lines[1]["scores"]);
    for lossy in &lines[2..] {
        for code in ["cel", "flu", "pia", "voi"] {
            let a = lines[0]["scores"][code].as_f64().unwrap();
            let b = lossy["scores"][code].as_f64().unwrap();
            assert!((a - b).abs() < 0.01, "{}: {code} {a} vs {b}", lossy["file"]);
        }
    }
}

#[test]
fn csv_has_one_row_per_window() {
    let a = fixture("audio/parity.flac");
    let b = fixture("audio/cello.ogg");
    let o = analyze(&["--format", "csv"], &[&a, &b]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "file,start_s,end_s,cel,flu,pia,voi");
    assert_eq!(rows.len(), 1 + 5 + 2);
    let cells: Vec<&str> = rows[3].split(',').collect();
    assert_eq!(cells.len(), 7);
    assert_eq!(cells[0], a.display().to_string());
    assert_eq!((cells[1], cells[2]), ("1.000000", "2.000000"));
    assert_eq!(
        &cells[3..],
        ["0.000000"; 4],
        "the silent second of parity.flac scores zeros"
    );
}

#[test]
fn table_shows_detections_and_timeline() {
    let f = fixture("audio/parity.flac");
    let o = analyze(&[], &[&f]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("parity.flac") && text.contains("3.00 s") && text.contains("22050 Hz"),
        "{text}"
    );
    assert!(text.contains("detected: "), "{text}");
    // One timeline row per class, one cell per second; the silent middle second is lowest.
    for name in ["CEL", "FLU", "PIA", "VOI"] {
        let row = text
            .lines()
            .find(|l| l[2..].starts_with(name))
            .unwrap_or_else(|| panic!("{name} row in {text}"));
        let cells: String = row.chars().rev().take(3).collect();
        assert_eq!(cells.chars().count(), 3);
    }
}

#[test]
fn threshold_and_hop_overrides() {
    let f = fixture("audio/parity.flac");
    let all = json_lines(&analyze(&["--format", "json", "--threshold", "0.0"], &[&f]));
    assert_eq!(all[0]["detected"].as_array().unwrap().len(), 4);
    let none = json_lines(&analyze(&["--format", "json", "--threshold", "1.0"], &[&f]));
    assert!(none[0]["detected"].as_array().unwrap().is_empty());
    let strict = json_lines(&analyze(
        &["--format", "json", "--threshold-offset", "0.5"],
        &[&f],
    ));
    assert!(strict[0]["detected"].as_array().unwrap().is_empty());
    let hop = json_lines(&analyze(&["--format", "json", "--hop", "0.25"], &[&f]));
    assert_eq!(hop[0]["windows"].as_array().unwrap().len(), 9);
    let o = analyze(&["--threshold", "1.5"], &[&f]);
    assert_eq!(o.status.code(), Some(2));
    let o = analyze(&["--hop", "0"], &[&f]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn other_rates_channels_and_float_wavs() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for &(rate, ch) in &[(8_000u32, 1u16), (44_100, 2), (96_000, 6), (192_000, 2)] {
        let p = dir.path().join(format!("t_{rate}_{ch}.wav"));
        write_wav(
            &p,
            &tones(2.0, rate, ch as usize),
            ch,
            rate,
            WavFormat::Pcm16,
        );
        files.push(p);
    }
    // 32-bit float WAV with NaN and Inf in it.
    let mut x = tones(2.0, 48_000, 2);
    for i in (0..x.len()).step_by(997) {
        x[i] = if i % 2 == 0 { f32::NAN } else { f32::INFINITY };
    }
    let p = dir.path().join("nan.wav");
    write_wav(&p, &x, 2, 48_000, WavFormat::Float32);
    files.push(p);
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let o = analyze(&["--format", "json"], &refs);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), files.len());
    for v in &lines {
        assert_eq!(v["windows"].as_array().unwrap().len(), 3, "{}", v["file"]);
        for code in ["cel", "flu", "pia", "voi"] {
            let s = v["scores"][code].as_f64().expect("finite number");
            assert!((0.0..=1.0).contains(&s));
        }
    }
}

#[test]
fn bad_files_are_reported_by_name_and_the_rest_still_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(
        &corrupt,
        (0..4000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let text = dir.path().join("notes.mp3");
    std::fs::write(&text, "this is not audio\n").unwrap();
    let header_only = dir.path().join("header_only.wav");
    std::fs::write(
        &header_only,
        &std::fs::read(fixture("audio/cello.wav")).unwrap()[..44],
    )
    .unwrap();
    let bad_ogg = dir.path().join("bad.ogg");
    let mut ogg = std::fs::read(fixture("audio/cello.ogg")).unwrap();
    let n = ogg.len();
    for b in &mut ogg[n / 3..] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&bad_ogg, ogg).unwrap();
    let low_rate = dir.path().join("low_rate.wav");
    write_wav(&low_rate, &tones(1.0, 4_000, 1), 1, 4_000, WavFormat::Pcm16);
    let good = fixture("audio/cello.flac");

    let cases = [
        (&missing, "cannot open"),
        (&empty, "empty"),
        (&corrupt, "not a supported audio file"),
        (&text, "not a supported audio file"),
        (&header_only, "no audio"),
        (&bad_ogg, "corrupt"),
        (&low_rate, "unsupported sample rate 4000"),
    ];
    let mut args: Vec<&Path> = cases.iter().map(|(p, _)| p.as_path()).collect();
    args.insert(3, &good);
    let o = analyze(&["--format", "json"], &args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "non-zero exit when any file fails"
    );
    let err = stderr(&o);
    for (path, cause) in &cases {
        let line = err
            .lines()
            .find(|l| l.contains(&*path.display().to_string()))
            .unwrap_or_else(|| panic!("no error line for {path:?} in:\n{err}"));
        assert!(
            line.to_lowercase().contains(cause),
            "{path:?}: expected {cause:?} in {line:?}"
        );
    }
    let lines = json_lines(&o);
    assert_eq!(
        lines.len(),
        1,
        "the good file is still analysed and stdout stays valid JSON Lines"
    );
    assert_eq!(lines[0]["file"], good.display().to_string());
}

#[test]
fn model_with_other_classes_drops_in() {
    let f = fixture("audio/cello.wav");
    let o = bin()
        .args(["analyze", "--format", "json", "--model"])
        .arg(fixture("models/tiny3_16k.onnx"))
        .arg(&f)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v = &json_lines(&o)[0];
    assert_eq!(v["labels"], serde_json::json!(["drm", "bas", "key"]));
    assert_eq!(
        v["windows"].as_array().unwrap().len(),
        3,
        "0.5-s windows every 0.5 s over 1.6 s"
    );
}

#[test]
fn invalid_model_is_a_clear_error() {
    let f = fixture("audio/cello.wav");
    let o = bin()
        .args(["analyze", "--model"])
        .arg(fixture("models/invalid/output_width_static.onnx"))
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("5 classes but metadata labels lists 4"),
        "{}",
        stderr(&o)
    );
    let o = run(&["info", "--model", "/nonexistent/model.onnx"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/model.onnx"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn info_prints_metadata() {
    let o = bin()
        .args(["info", "--model"])
        .arg(fixture(MODEL))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("22050 Hz") && text.contains("fixture-tiny4") && text.contains("voi"),
        "{text}"
    );
    let o = bin()
        .args(["info", "--json", "--model"])
        .arg(fixture(MODEL))
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["labels"], serde_json::json!(["cel", "flu", "pia", "voi"]));
    assert_eq!(v["thresholds"].as_array().unwrap().len(), 4);
    assert!(v["onnxruntime_version"].as_str().unwrap().starts_with("1."));
}

#[test]
fn missing_or_wrong_runtime_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, "not a library").unwrap();
    for lib in [dir.path().join("nope.so"), fake] {
        let o = bin()
            .env("ORT_DYLIB_PATH", &lib)
            .args(["info", "--model"])
            .arg(fixture(MODEL))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(
            err.contains(&*lib.display().to_string()),
            "names the path tried: {err}"
        );
        assert!(
            err.contains("scripts/setup.sh") && err.contains("ORT_DYLIB_PATH"),
            "says how to fix: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn default_model_or_a_clear_message() {
    let f = fixture("audio/cello.wav");
    let o = bin()
        .args(["analyze", "--format", "json"])
        .arg(&f)
        .output()
        .unwrap();
    if instrument_meter::model::DEFAULT_MODEL.is_some() {
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(json_lines(&o).len(), 1);
    } else {
        assert_eq!(o.status.code(), Some(2));
        assert!(stderr(&o).contains("no embedded default model") && stderr(&o).contains("--model"));
    }
}
