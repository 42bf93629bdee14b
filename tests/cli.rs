//! The `instrument-meter` binary end to end: every output format on real audio in every container,
//! every error case, and the model/runtime errors.
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{fixture, json_lines, stderr, stdout, tones, write_wav, WavFormat};
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
                "segments",
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
            assert_eq!(wk, ["start_s", "end_s", "scores", "active"]);
        }
        // Instant attack (the default): after the first window, the classes at or above their
        // threshold are active.
        let first_active: Vec<&str> = ["cel", "flu", "pia", "voi"]
            .iter()
            .zip([0.3, 0.4, 0.5, 0.6])
            .filter(|(c, t)| windows[0]["scores"][**c].as_f64().unwrap() >= *t - 1e-6)
            .map(|(c, _)| *c)
            .collect();
        assert_eq!(windows[0]["active"], serde_json::json!(first_active));
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
    // Under the table, the detector's segments: the JSON's, one line each, in its order.
    for threshold in [None, Some("0.0"), Some("1.0")] {
        let extra: Vec<&str> = threshold.map_or(vec![], |t| vec!["--threshold", t]);
        let text = stdout(&analyze(&extra, &[&f]));
        let json = json_lines(&analyze(
            &[&extra[..], &["--format", "json"]].concat(),
            &[&f],
        ));
        let segments = json[0]["segments"].as_array().unwrap();
        let listed: Vec<&str> = text
            .lines()
            .skip_while(|l| !l.starts_with("  segments"))
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .collect();
        if segments.is_empty() {
            assert!(text.contains("  segments: none\n"), "{text}");
            assert!(threshold != Some("0.0"), "threshold 0 detects segments");
        } else {
            assert!(
                text.contains(&format!("  segments ({}; ", segments.len())),
                "{text}"
            );
        }
        assert_eq!(listed.len(), segments.len(), "{text}");
        for (line, seg) in listed.iter().zip(segments) {
            let label = seg["label"].as_str().unwrap().to_uppercase();
            let range = format!(
                "{:.2}-{:.2} s",
                seg["start_s"].as_f64().unwrap(),
                seg["end_s"].as_f64().unwrap()
            );
            let peak = format!("peak {:.2}", seg["peak"].as_f64().unwrap());
            assert!(
                line.trim_start().starts_with(&label)
                    && line.contains(&range)
                    && line.contains(&peak),
                "{line:?} for {seg}"
            );
        }
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

/// Byte offset where a FLAC file's audio frames start (after the last metadata block).
fn flac_audio_offset(flac: &[u8]) -> usize {
    let mut i = 4;
    loop {
        let last = flac[i] & 0x80 != 0;
        i += 4 + u32::from_be_bytes([0, flac[i + 1], flac[i + 2], flac[i + 3]]) as usize;
        if last {
            return i;
        }
    }
}

/// Byte offset of the first Ogg page that carries audio (granule position > 0).
fn ogg_audio_offset(ogg: &[u8]) -> usize {
    let mut i = 0;
    loop {
        assert_eq!(&ogg[i..i + 4], b"OggS");
        if i64::from_le_bytes(ogg[i + 6..i + 14].try_into().unwrap()) > 0 {
            return i;
        }
        let segs = ogg[i + 26] as usize;
        i += 27
            + segs
            + ogg[i + 27..i + 27 + segs]
                .iter()
                .map(|&n| n as usize)
                .sum::<usize>();
    }
}

#[test]
fn truncated_files_are_analysed_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut cut = Vec::new();
    for ext in ["wav", "flac", "mp3"] {
        let bytes = std::fs::read(fixture(&format!("audio/cello.{ext}"))).unwrap();
        let p = dir.path().join(format!("cut.{ext}"));
        std::fs::write(&p, &bytes[..bytes.len() * 2 / 5]).unwrap();
        cut.push(p);
    }
    let whole = fixture("audio/cello.flac");
    let mut args: Vec<&Path> = cut.iter().map(|p| p.as_path()).collect();
    args.push(&whole);
    let o = analyze(&["--format", "json"], &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 4);
    for (p, v) in cut.iter().zip(&lines) {
        let d = v["duration_s"].as_f64().unwrap();
        assert!(d > 0.3 && d < 1.0, "{p:?}: decoded {d} s of 1.6 s");
        let line = err
            .lines()
            .find(|l| l.contains(&*p.display().to_string()))
            .unwrap_or_else(|| panic!("no warning for {p:?} in:\n{err}"));
        assert!(
            line.starts_with("warning:") && line.contains("truncated") && line.contains("1.60 s"),
            "{line}"
        );
    }
    assert!(
        !err.contains(&*whole.display().to_string()),
        "no warning for the whole file: {err}"
    );
}

#[test]
fn headers_without_audio_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let flac = std::fs::read(fixture("audio/cello.flac")).unwrap();
    let ogg = std::fs::read(fixture("audio/cello.ogg")).unwrap();
    let cases = [
        ("flac", flac[..flac_audio_offset(&flac)].to_vec()),
        ("ogg", ogg[..ogg_audio_offset(&ogg)].to_vec()),
        // A header cut short in the middle.
        ("flac", flac[..20].to_vec()),
    ];
    for (i, (ext, bytes)) in cases.iter().enumerate() {
        let p = dir.path().join(format!("headers_{i}.{ext}"));
        std::fs::write(&p, bytes).unwrap();
        let o = analyze(&[], &[&p]);
        assert_eq!(o.status.code(), Some(1), "{p:?}");
        let err = stderr(&o);
        assert!(
            err.starts_with(&format!("error: {}: ", p.display()))
                && (err.contains("ends before any audio") || err.contains("no audio samples")),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn audio_from_a_pipe() {
    use std::io::Write;
    use std::process::Stdio;
    for ext in ["wav", "flac", "mp3", "ogg"] {
        let f = fixture(&format!("audio/cello.{ext}"));
        let bytes = std::fs::read(&f).unwrap();
        let mut child = bin()
            .args(["analyze", "--format", "json", "--model"])
            .arg(fixture(MODEL))
            .arg("/dev/stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&bytes));
        let o = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(o.status.success(), "{ext}: {}", stderr(&o));
        let from_pipe = &json_lines(&o)[0];
        let from_file = &json_lines(&analyze(&["--format", "json"], &[&f]))[0];
        assert_eq!(from_pipe["scores"], from_file["scores"], "{ext}");
        assert_eq!(from_pipe["duration_s"], from_file["duration_s"], "{ext}");
    }
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
    // Each unusable model file: named, with its cause, for `info` and `analyze`.
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture(MODEL)).unwrap();
    let files = [
        ("empty.onnx", Vec::new(), "empty"),
        (
            "half.onnx",
            good[..good.len() / 2].to_vec(),
            "protobuf parsing failed",
        ),
        (
            "song.onnx",
            std::fs::read(fixture("audio/cello.wav")).unwrap(),
            "protobuf parsing failed",
        ),
    ];
    let mut cases: Vec<(std::path::PathBuf, &str)> = files
        .iter()
        .map(|(name, bytes, cause)| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            (p, *cause)
        })
        .collect();
    cases.push((dir.path().to_path_buf(), "directory"));
    cases.push((
        fixture("models/invalid/input_rank.onnx"),
        "must have shape [batch, 1, samples]",
    ));
    cases.push((fixture("models/invalid/missing_labels.onnx"), "\"labels\""));
    for (model, cause) in &cases {
        for cmd in ["info", "analyze"] {
            let o = bin()
                .args([cmd, "--model"])
                .arg(model)
                .args((cmd == "analyze").then_some(&f))
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(2), "{cmd} {model:?}");
            let err = stderr(&o);
            assert!(
                err.contains(&*model.display().to_string())
                    && err.to_lowercase().contains(&cause.to_lowercase())
                    && !err.contains("panicked"),
                "{cmd} {model:?}: expected the path and {cause:?} in {err}"
            );
        }
    }
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

/// Builds a stand-in shared library that exports `OrtGetApiBase` reporting `version` and, like a
/// runtime of another API generation or a damaged one, no API table.
fn stub_runtime(dir: &Path, name: &str, version: &str) -> std::path::PathBuf {
    let src = dir.join(format!("{name}.c"));
    std::fs::write(
        &src,
        format!(
            r#"typedef struct {{ const void* (*get_api)(unsigned); const char* (*version)(void); }} Base;
static const void* get_api(unsigned v) {{ (void)v; return 0; }}
static const char* version(void) {{ return "{version}"; }}
static const Base base = {{ get_api, version }};
const Base* OrtGetApiBase(void) {{ return &base; }}
"#
        ),
    )
    .unwrap();
    let lib = dir.join(format!("{name}.so"));
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) builds the stub runtime");
    assert!(status.success());
    lib
}

#[test]
fn missing_or_wrong_runtime_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, "not a library").unwrap();
    let libs = [
        (dir.path().join("nope.so"), "not found"),
        (fake, "cannot be loaded"),
        (
            stub_runtime(dir.path(), "old", "1.16.3"),
            "is ONNX Runtime 1.16.3; need 1.",
        ),
        (
            stub_runtime(
                dir.path(),
                "no_api",
                instrument_meter::runtime::SHIPPED_ORT_VERSION,
            ),
            "claims ONNX Runtime",
        ),
    ];
    for (lib, cause) in libs {
        let o = bin()
            .env("ORT_DYLIB_PATH", &lib)
            .args(["info", "--model"])
            .arg(fixture(MODEL))
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(
            err.contains(&format!("{}: {cause}", lib.display())),
            "names the path tried and why it failed: {err}"
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
