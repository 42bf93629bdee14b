//! `instrument-meter analyze`'s text outputs for one file: table, JSON Lines object, CSV rows.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use instrument_meter::analysis::{detect, Detector, DetectorConfig, Segment};
use instrument_meter::model::ModelInfo;
use instrument_meter::offline::FileAnalysis;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// Class code → probability, as a JSON object in label order.
struct Scores<'a> {
    labels: &'a [String],
    probs: &'a [f32],
}

impl Serialize for Scores<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.labels.len()))?;
        for (l, &p) in self.labels.iter().zip(self.probs) {
            m.serialize_entry(l, &round6(p))?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct JsonWindow<'a> {
    start_s: f64,
    end_s: f64,
    scores: Scores<'a>,
    /// Classes the streaming detector (smoothing, hysteresis) holds active after this window.
    active: Vec<&'a String>,
}

/// The windows, serialised one by one: a `serde_json::Value` tree of a long file's windows costs
/// tens of MiB (33 MiB for 1 h with 11 classes), the text itself a few.
struct JsonWindows<'a> {
    a: &'a FileAnalysis,
    labels: &'a [String],
    detection: &'a DetectorConfig,
}

impl Serialize for JsonWindows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut detector = Detector::new(self.detection);
        s.collect_seq(self.a.windows.iter().map(|w| {
            JsonWindow {
                start_s: round_time(w.start_s),
                end_s: round_time(w.end_s),
                scores: Scores {
                    labels: self.labels,
                    probs: &w.probs,
                },
                active: (self.labels.iter())
                    .zip(detector.push(&w.probs))
                    .filter(|(_, &on)| on)
                    .map(|(l, _)| l)
                    .collect(),
            }
        }))
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    file: String,
    duration_s: f64,
    sample_rate: u32,
    model: String,
    labels: &'a [String],
    scores: Scores<'a>,
    detected: Vec<&'a String>,
    segments: &'a [Segment],
    windows: JsonWindows<'a>,
}

/// Six decimals keep the JSON short and are far below any meaningful difference.
fn round6(p: f32) -> f64 {
    (p as f64 * 1e6).round() / 1e6
}

fn round_time(t: f64) -> f64 {
    (t * 1e6).round() / 1e6
}

pub fn json_line(
    a: &FileAnalysis,
    info: &ModelInfo,
    detection: &DetectorConfig,
    segments: &[Segment],
) -> String {
    let line = JsonLine {
        file: a.path.display().to_string(),
        duration_s: round_time(a.duration_s),
        sample_rate: a.sample_rate,
        model: info.display_name(),
        labels: &info.labels,
        scores: Scores {
            labels: &info.labels,
            probs: &a.scores,
        },
        detected: detect(&a.scores, &detection.thresholds)
            .into_iter()
            .map(|i| &info.labels[i])
            .collect(),
        segments,
        windows: JsonWindows {
            a,
            labels: &info.labels,
            detection,
        },
    };
    let mut text = serde_json::to_string(&line).expect("plain data serialises");
    text.push('\n');
    text
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV header line.
pub fn csv_header(labels: &[String]) -> String {
    let mut header = String::from("file,start_s,end_s");
    for l in labels {
        header.push(',');
        header.push_str(&csv_field(l));
    }
    header.push('\n');
    header
}

pub fn csv_rows(a: &FileAnalysis) -> String {
    let file = csv_field(&a.path.display().to_string());
    let mut s = String::new();
    for w in &a.windows {
        s.push_str(&format!("{file},{:.6},{:.6}", w.start_s, w.end_s));
        for p in &w.probs {
            s.push_str(&format!(",{p:.6}"));
        }
        s.push('\n');
    }
    s
}

/// Shade for a probability: five levels from nothing to a full block.
fn shade(p: f32) -> char {
    match p {
        p if p < 0.2 => '·',
        p if p < 0.4 => '░',
        p if p < 0.6 => '▒',
        p if p < 0.8 => '▓',
        _ => '█',
    }
}

/// Most timeline cells in one row; longer files get wider cells.
const MAX_CELLS: usize = 100;

pub fn table(
    a: &FileAnalysis,
    info: &ModelInfo,
    thresholds: &[f32],
    segments: &[Segment],
) -> String {
    let detected = detect(&a.scores, thresholds);
    let mut s = format!(
        "{}  ({:.2} s, {} Hz, {} ch; model: {})\n",
        a.path.display(),
        a.duration_s,
        a.sample_rate,
        a.channels,
        info.display_name()
    );
    if detected.is_empty() {
        s.push_str("  detected: none\n");
    } else {
        let list: Vec<String> = detected
            .iter()
            .map(|&i| format!("{} {:.2}", info.label_names[i], a.scores[i]))
            .collect();
        s.push_str(&format!("  detected: {}\n", list.join(", ")));
    }
    // Per-cell value: mean of the windows whose centre falls inside the cell.
    let cell_s = (a.duration_s / MAX_CELLS as f64).ceil().max(1.0);
    let cells = ((a.duration_s / cell_s).ceil() as usize).max(1);
    let classes = info.num_classes();
    let mut sums = vec![0.0f64; cells * classes];
    let mut counts = vec![0usize; cells];
    for w in &a.windows {
        let c = (((w.start_s + w.end_s) / 2.0 / cell_s) as usize).min(cells - 1);
        counts[c] += 1;
        for (k, &p) in w.probs.iter().enumerate() {
            sums[c * classes + k] += p as f64;
        }
    }
    let name_w = info
        .label_names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .max(10);
    s.push_str(&format!(
        "  {:<name_w$}  {:>5}  {:>5}  timeline (1 cell = {} s; · <0.2 ░ <0.4 ▒ <0.6 ▓ <0.8 █)\n",
        "instrument", "score", "thr", cell_s
    ));
    for k in 0..classes {
        let mark = if detected.contains(&k) { '*' } else { ' ' };
        let line: String = (0..cells)
            .map(|c| {
                if counts[c] == 0 {
                    ' '
                } else {
                    shade((sums[c * classes + k] / counts[c] as f64) as f32)
                }
            })
            .collect();
        s.push_str(&format!(
            "{mark} {:<name_w$}  {:>5.2}  {:>5.2}  {line}\n",
            info.label_names[k], a.scores[k], thresholds[k]
        ));
    }
    // The detector's segments (the JSON's `segments`), in its order.
    if segments.is_empty() {
        s.push_str("  segments: none\n");
    } else {
        s.push_str(&format!(
            "  segments ({}; instrument, start-end, peak):\n",
            segments.len()
        ));
        for seg in segments {
            let name = info
                .label_names
                .get(seg.class)
                .map_or(seg.label.as_str(), |n| n.as_str());
            let range = format!("{:.2}-{:.2} s", seg.start_s, seg.end_s);
            s.push_str(&format!(
                "    {name:<name_w$}  {range:<17}  peak {:.2}\n",
                seg.peak
            ));
        }
    }
    s.push('\n');
    s
}
