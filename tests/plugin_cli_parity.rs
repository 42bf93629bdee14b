//! One analysis path: the plugin fed a file (in process, through the CLAP host harness, offline
//! render so that no window is dropped) and `instrument-meter analyze` on the same file give the
//! same window scores and the same per-window detections at the same settings.
#![cfg(feature = "test-hooks")]

use std::process::Command;
use std::sync::Arc;

use instrument_meter::decode::AudioFileReader;
use instrument_meter::plugin::shared::{live_instances, Shared};

#[path = "common/clap_host.rs"]
mod clap_host;
#[path = "common/mod.rs"]
mod common;
use clap_host::*;
use common::fixture;

/// Sensitivity +0.1 in the plugin is threshold offset −0.1 in the CLI (docs/architecture.md).
/// nice-plug takes continuous CLAP values normalised: [−0.5, 0.5] → 0.6 is +0.1.
const SENSITIVITY_NORMALISED: f64 = 0.6;
const THRESHOLD_OFFSET: &str = "-0.1";
/// The plugin's default hop; the CLI is told the same.
const HOP: &str = "0.25";

#[test]
fn plugin_and_cli_agree_on_a_file() {
    if plugin_path().is_some() {
        println!("SKIPPED: needs the in-process plugin's state (INSTRUMENT_METER_CLAP is set)");
        return;
    }
    let model = setup_env();
    let file = fixture("audio/plugin_cello.flac");

    // The file as planar channels at its own rate.
    let mut reader = AudioFileReader::open(&file).unwrap();
    let rate = reader.sample_rate();
    let mut planes: Vec<Vec<f32>> = Vec::new();
    while let Some((block, ch)) = reader.next_block().unwrap() {
        planes.resize(ch, Vec::new());
        for frame in block.chunks_exact(ch) {
            for (p, &x) in planes.iter_mut().zip(frame) {
                p.push(x);
            }
        }
    }
    let layout = match planes.len() {
        1 => Layout::Mono,
        2 => Layout::StereoSidechain,
        n => panic!("fixture has {n} channels"),
    };

    // The plugin, offline: every window is analysed.
    let loaded = load();
    let before: Vec<*const Shared> = live_instances().iter().map(Arc::as_ptr).collect();
    let mut instance = instantiate(&loaded);
    let state = live_instances()
        .into_iter()
        .find(|s| !before.contains(&Arc::as_ptr(s)))
        .expect("the new instance's state");
    let sensitivity = param_id(&mut instance, "Sensitivity");
    let block = 512;
    let mut stream = Stream::start(&mut instance, rate, block, layout, true);
    let frames = planes[0].len();
    let mut pos = 0;
    while pos < frames {
        let n = block.min(frames - pos);
        let chunk: Vec<&[f32]> = planes.iter().map(|p| &p[pos..pos + n]).collect();
        let events = if pos == 0 {
            &[(sensitivity, SENSITIVITY_NORMALISED)][..]
        } else {
            &[]
        };
        stream.process(&chunk, events);
        pos += n;
    }
    assert!(stream.bit_exact);
    stream.stop(&mut instance);
    let panel = state.panel();
    let labels = panel
        .status
        .info
        .as_ref()
        .expect("a model ran")
        .labels
        .clone();
    let plugin: Vec<_> = panel.history.iter().collect();

    // The CLI on the same file with the same settings (attack, release, hysteresis: the plugin's
    // defaults are the CLI's).
    let out = Command::new(env!("CARGO_BIN_EXE_instrument-meter"))
        .args(["analyze", "--format", "json", "--hop", HOP])
        .args(["--threshold-offset", THRESHOLD_OFFSET, "--model"])
        .arg(&model)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli = json["windows"].as_array().unwrap();

    // The CLI also analyses the file's tail (a last, padded window) the live plugin never sees.
    assert!(plugin.len() >= 10, "{} windows", plugin.len());
    assert!(
        cli.len() >= plugin.len() && cli.len() <= plugin.len() + 4,
        "{} CLI windows, {} plugin windows",
        cli.len(),
        plugin.len()
    );
    let mut detections = 0;
    for (i, (p, c)) in plugin.iter().zip(cli).enumerate() {
        let end = c["end_s"].as_f64().unwrap();
        assert!(
            (p.time_s - end).abs() < 1e-3,
            "window {i}: {} vs {end}",
            p.time_s
        );
        for (k, label) in labels.iter().enumerate() {
            let want = c["scores"][label].as_f64().unwrap();
            assert!(
                (p.scores[k] as f64 - want).abs() < 1e-5,
                "window {i} {label}: plugin {} CLI {want}",
                p.scores[k]
            );
        }
        let cli_active: Vec<&str> = c["active"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let plugin_active: Vec<&str> = (labels.iter().enumerate())
            .filter(|(k, _)| p.detected & (1 << k) != 0)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(plugin_active, cli_active, "window {i}");
        detections += cli_active.len();
    }
    println!("{} windows agree ({} detections)", plugin.len(), detections);
}
