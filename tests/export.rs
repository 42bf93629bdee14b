//! Exports of a real analysis (fixture audio, the embedded default model): the MIDI file parsed
//! back with midly and compared with the JSON result, the Audacity labels, and the timeline
//! picture decoded and checked for size and for the playing instrument's row lighting up.
mod common;

use std::path::Path;

use common::{analyze, fixture, stderr};
use midly::{MetaMessage, MidiMessage, Smf, TrackEventKind};
use serde_json::Value;

use instrument_meter::analysis::{
    detect_segments, Detector, DetectorConfig, Smoothing, ThresholdOverride,
};
use instrument_meter::export::{midi, picture, Timeline};
use instrument_meter::midi_map::cc_value;
use instrument_meter::model::{ModelInfo, ModelRunner, SessionConfig};
use instrument_meter::offline::OfflineAnalyzer;
use instrument_meter::palette;
use instrument_meter::AnalysisConfig;

/// The cello fixture the plugin tests also use (12 s of solo cello).
const CELLO: &str = "audio/plugin_cello.flac";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn default_info() -> std::sync::Arc<ModelInfo> {
    ModelRunner::default_model(&SessionConfig::default())
        .expect("embedded model")
        .info()
        .clone()
}

/// Runs the CLI on the cello fixture with every export at once; returns its JSON result.
fn export_all(dir: &Path, extra: &[&str]) -> Value {
    let f = fixture(CELLO);
    let exports = ["midi", "audacity", "png", "json"]
        .map(|k| format!("{k}={}", dir.join(format!("out.{k}")).display()));
    let mut args = vec![s(&f), "--format", "json"];
    for e in &exports {
        args.extend(["--export", e.as_str()]);
    }
    args.extend(extra);
    let o = analyze(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out.json")).unwrap()).unwrap();
    assert_eq!(v, written, "--export json writes the streamed object");
    v
}

/// The CC value of `p`; the JSON's six decimals may round a value lying on a step's edge to the
/// neighbouring step.
fn same_cc(sent: u8, p: f32) -> bool {
    let edge = ((p * 127.0).fract() - 0.5).abs() < 1e-3;
    sent == cc_value(p) || (edge && sent.abs_diff(cc_value(p)) == 1)
}

#[test]
fn midi_file_carries_the_json_activations_as_cc_lanes_and_segments_as_gates() {
    let d = tempfile::tempdir().unwrap();
    let v = export_all(d.path(), &["--midi-gates", "--midi-channel", "3"]);
    let bytes = std::fs::read(d.path().join("out.midi")).unwrap();
    let smf = Smf::parse(&bytes).expect("a valid Standard MIDI File");
    let labels = v["labels"].as_array().unwrap();
    assert_eq!(
        smf.tracks.len(),
        1 + labels.len(),
        "a tempo track + one per instrument"
    );
    let windows = v["windows"].as_array().unwrap();
    let segments = v["segments"].as_array().unwrap();
    assert!(!segments.is_empty(), "the cello is detected");
    // The lane carries the plugin detector's smoothed activation (default settings, hop 0.5 s):
    // run the JSON's window scores through the same detector.
    let info = default_info();
    let config = DetectorConfig::new(
        &info.thresholds,
        ThresholdOverride::Model,
        Smoothing {
            hop_s: 0.5,
            ..Smoothing::default()
        },
    );
    let mut detector = Detector::new(&config);
    let expected: Vec<Vec<f32>> = windows
        .iter()
        .map(|w| {
            let probs: Vec<f32> = labels
                .iter()
                .map(|l| w["scores"][l.as_str().unwrap()].as_f64().unwrap() as f32)
                .collect();
            detector.push(&probs);
            detector.smoothed().to_vec()
        })
        .collect();
    for (class, (track, label)) in smf.tracks[1..].iter().zip(labels).enumerate() {
        let mut tick = 0u32;
        let mut name = None;
        let mut ccs = Vec::new();
        let mut notes = Vec::new();
        for ev in track {
            tick += u32::from(ev.delta);
            match ev.kind {
                TrackEventKind::Meta(MetaMessage::TrackName(n)) => name = Some(n.to_vec()),
                TrackEventKind::Midi { channel, message } => {
                    assert_eq!(u8::from(channel), 2, "channel 3, 0-based 2");
                    match message {
                        MidiMessage::Controller { controller, value } => {
                            assert_eq!(u8::from(controller) as usize, 20 + class);
                            ccs.push((tick, u8::from(value)));
                        }
                        MidiMessage::NoteOn { key, vel } => {
                            assert_eq!(u8::from(key) as usize, 36 + class);
                            notes.push((tick, u8::from(vel)));
                        }
                        MidiMessage::NoteOff { key, .. } => {
                            assert_eq!(u8::from(key) as usize, 36 + class);
                            notes.push((tick, 0));
                        }
                        other => panic!("unexpected {other:?}"),
                    }
                }
                _ => {}
            }
        }
        assert!(name.is_some(), "track {class} is named");
        // The CC lane: each window's value at its centre, sent only when it changes.
        let centres: Vec<u32> = windows
            .iter()
            .map(|w| {
                midi::ticks((w["start_s"].as_f64().unwrap() + w["end_s"].as_f64().unwrap()) / 2.0)
            })
            .collect();
        assert!(
            ccs.iter().all(|(t, _)| centres.contains(t)),
            "CCs sit on window centres"
        );
        assert!(
            ccs.windows(2).all(|p| p[0].1 != p[1].1),
            "sent on change only"
        );
        for (a, &centre) in expected.iter().zip(&centres) {
            let sent = ccs.iter().rev().find(|(t, _)| *t <= centre).unwrap().1;
            assert!(
                same_cc(sent, a[class]),
                "{label} at {centre}: sent {sent}, want {}",
                a[class]
            );
        }
        // The gates: one note per segment of this instrument.
        let mut want = Vec::new();
        for seg in segments.iter().filter(|g| g["label"] == *label) {
            let peak = seg["peak"].as_f64().unwrap() as f32;
            want.push((
                midi::ticks(seg["start_s"].as_f64().unwrap()),
                cc_value(peak).max(1),
            ));
            want.push((midi::ticks(seg["end_s"].as_f64().unwrap()), 0));
        }
        assert_eq!(notes, want, "gates of {label}");
    }
}

#[test]
fn audacity_labels_are_the_segments() {
    let d = tempfile::tempdir().unwrap();
    let v = export_all(d.path(), &[]);
    let text = std::fs::read_to_string(d.path().join("out.audacity")).unwrap();
    let labels: Vec<&str> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let segments = v["segments"].as_array().unwrap();
    assert_eq!(text.lines().count(), segments.len());
    let info = default_info();
    for (line, seg) in text.lines().zip(segments) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 3, "{line:?}");
        let start: f64 = cols[0].parse().unwrap();
        let end: f64 = cols[1].parse().unwrap();
        assert!((start - seg["start_s"].as_f64().unwrap()).abs() < 1e-5);
        assert!((end - seg["end_s"].as_f64().unwrap()).abs() < 1e-5);
        let class = labels.iter().position(|l| *l == seg["label"]).unwrap();
        assert_eq!(cols[2], info.label_names[class]);
    }
}

/// Mean brightness of an RGB picture's pixels in `rows` × `cols`.
fn brightness(
    rgb: &[u8],
    width: u32,
    rows: std::ops::Range<u32>,
    cols: std::ops::Range<u32>,
) -> f64 {
    let mut sum = 0.0;
    let mut n = 0.0;
    for y in rows {
        for x in cols.clone() {
            let i = (y * width + x) as usize * 3;
            sum += rgb[i..i + 3].iter().map(|&c| c as f64).sum::<f64>() / 3.0;
            n += 1.0;
        }
    }
    sum / n
}

fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = dec.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn picture_decodes_has_its_size_and_the_cello_row_lights_up() {
    let runner = ModelRunner::default_model(&SessionConfig::default()).expect("embedded model");
    let mut offline = OfflineAnalyzer::new(runner, AnalysisConfig::default()).unwrap();
    let a = offline.analyze_file(&fixture(CELLO), |_| {}).unwrap();
    let info = offline.analyzer().info().clone();
    let smoothing = Smoothing {
        hop_s: AnalysisConfig::default().hop_s,
        ..Smoothing::default()
    };
    let config = DetectorConfig::new(&info.thresholds, ThresholdOverride::Model, smoothing);
    let detection = detect_segments(&a.windows, a.duration_s, &info.labels, &config);
    let t = Timeline {
        analysis: &a,
        info: &info,
        detection: &detection,
    };
    let pic = picture::render(&t).unwrap();
    let (w, h, rgb) = decode_png(&pic.png);
    assert_eq!((w, h), (pic.width, pic.height));
    assert_eq!(w, picture::width_for(a.duration_s));
    assert_eq!(h, picture::height_for(info.num_classes()));
    // Inside each row, away from its borders: the cello row is the brightest.
    let cols = pic.plot_x.start + 2..pic.plot_x.end - 2;
    let rows: Vec<f64> = pic
        .rows
        .iter()
        .map(|r| brightness(&rgb, w, r.start + 3..r.end - 3, cols.clone()))
        .collect();
    let cello = info.labels.iter().position(|l| l == "cel").unwrap();
    let brightest = (0..rows.len())
        .max_by(|&i, &j| rows[i].total_cmp(&rows[j]))
        .unwrap();
    assert_eq!(brightest, cello, "row brightness {rows:?}");
    // The cello holds the longest segment, and a row is outlined in the accent colour exactly
    // when its instrument has a segment (a low threshold may let other rows blip too).
    let longest = detection
        .segments
        .iter()
        .max_by(|a, b| (a.end_s - a.start_s).total_cmp(&(b.end_s - b.start_s)))
        .expect("the cello phrase gives a segment");
    assert_eq!(longest.class, cello, "{:?}", detection.segments);
    let accent = |r: &std::ops::Range<u32>| {
        (r.start.saturating_sub(1)..r.end + 1).any(|y| {
            cols.clone().any(|x| {
                let i = (y * w + x) as usize * 3;
                rgb[i..i + 3] == palette::THRESHOLD
            })
        })
    };
    // (`accent` looks one pixel past a row's edges, so a row next to an outlined one is skipped.)
    let has_segment = |c: usize| detection.segments.iter().any(|s| s.class == c);
    let mut unoutlined = 0;
    for (class, row) in pic.rows.iter().enumerate() {
        if has_segment(class) {
            assert!(accent(row), "row {class} has a segment but no outline");
        } else if !has_segment(class.wrapping_sub(1)) && !has_segment(class + 1) {
            assert!(!accent(row), "row {class} has no segment but an outline");
            unoutlined += 1;
        }
    }
    assert!(unoutlined > 0);

    // The CLI's picture of the same file is the same size, and width grows with duration up to
    // the cap.
    let d = tempfile::tempdir().unwrap();
    export_all(d.path(), &[]);
    let (w2, h2, _) = decode_png(&std::fs::read(d.path().join("out.png")).unwrap());
    assert_eq!((w2, h2), (w, h));
    assert!(picture::width_for(600.0) > picture::width_for(60.0));
    assert_eq!(picture::width_for(100_000.0), picture::MAX_WIDTH);
    assert_eq!(picture::width_for(0.5), picture::MIN_WIDTH);
}

#[test]
fn output_dir_writes_every_export_per_input() {
    let d = tempfile::tempdir().unwrap();
    let lib = d.path().join("lib");
    std::fs::create_dir_all(lib.join("sub")).unwrap();
    std::fs::copy(fixture("audio/cello.ogg"), lib.join("sub/c.ogg")).unwrap();
    std::fs::copy(fixture("audio/cello.mp3"), lib.join("c.mp3")).unwrap();
    let out = d.path().join("out");
    let o = analyze(&[
        s(&lib),
        "--output-dir",
        s(&out),
        "--export",
        "midi",
        "--export",
        "audacity",
        "--export",
        "png",
        "--export",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty(),
        "nothing on stdout unless --format is given"
    );
    for rel in ["sub/c.ogg", "c.mp3"] {
        for ext in ["mid", "txt", "png", "json"] {
            let p = out.join(format!("{rel}.{ext}"));
            assert!(p.is_file(), "{} missing", p.display());
        }
        Smf::parse(&std::fs::read(out.join(format!("{rel}.mid"))).unwrap()).unwrap();
        decode_png(&std::fs::read(out.join(format!("{rel}.png"))).unwrap());
    }
}

#[test]
fn segments_are_the_runs_of_windows_the_detector_holds_active() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/examples/example.ogg");
    let o = analyze(&[s(&example), "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let windows = v["windows"].as_array().unwrap();
    let segments = v["segments"].as_array().unwrap();
    assert!(
        segments.len() >= 3,
        "a mixture gives several segments: {segments:?}"
    );
    let starts: Vec<f64> = segments
        .iter()
        .map(|g| g["start_s"].as_f64().unwrap())
        .collect();
    assert!(starts.windows(2).all(|p| p[0] <= p[1]), "in start order");
    for w in windows {
        let centre = (w["start_s"].as_f64().unwrap() + w["end_s"].as_f64().unwrap()) / 2.0;
        for label in v["labels"].as_array().unwrap() {
            let active = w["active"].as_array().unwrap().contains(label);
            let covered = segments.iter().any(|g| {
                g["label"] == *label
                    && g["start_s"].as_f64().unwrap() < centre
                    && centre < g["end_s"].as_f64().unwrap()
            });
            assert_eq!(active, covered, "{label} at {centre}");
        }
    }
    for g in segments {
        let (peak, mean) = (g["peak"].as_f64().unwrap(), g["mean"].as_f64().unwrap());
        assert!(0.0 < mean && mean <= peak && peak <= 1.0, "{g}");
    }
}
