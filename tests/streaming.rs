//! The analysis core as a stream: block sizes, layouts, rates, channel counts, silence and
//! non-finite input.
mod common;

use common::{runner, tones, Lcg};
use instrument_meter::{AnalysisConfig, Analyzer, WindowResult};

fn analyzer(model: &str, rate: u32, batch: usize) -> Analyzer {
    let config = AnalysisConfig {
        max_batch: batch,
        ..AnalysisConfig::default()
    };
    Analyzer::new(runner(model), rate, &config).unwrap()
}

fn whole(model: &str, rate: u32, ch: usize, x: &[f32], batch: usize) -> Vec<WindowResult> {
    let mut a = analyzer(model, rate, batch);
    let mut out = Vec::new();
    a.push_interleaved(x, ch, &mut out).unwrap();
    a.finish(&mut out).unwrap();
    out
}

#[test]
fn random_block_sizes_give_the_same_windows_as_one_block() {
    for &(rate, ch) in &[(44_100u32, 2usize), (22_050, 1), (48_000, 3)] {
        let x = tones(4.3, rate, ch);
        let reference = whole("models/tiny4.onnx", rate, ch, &x, 1);
        assert_eq!(reference.len(), 7, "4.3 s at hop 0.5 with 1-s windows");
        let mut rng = Lcg(rate as u64);
        for _ in 0..3 {
            let mut a = analyzer("models/tiny4.onnx", rate, 1);
            let mut out = Vec::new();
            let mut pos = 0;
            while pos < x.len() / ch {
                let n = (1 + rng.below(5000) as usize).min(x.len() / ch - pos);
                a.push_interleaved(&x[pos * ch..(pos + n) * ch], ch, &mut out)
                    .unwrap();
                pos += n;
            }
            a.finish(&mut out).unwrap();
            assert_eq!(out, reference, "rate {rate}, {ch} ch");
        }
    }
}

#[test]
fn batching_does_not_change_results() {
    let x = tones(6.0, 44_100, 2);
    let a = whole("models/tiny4.onnx", 44_100, 2, &x, 1);
    let b = whole("models/tiny4.onnx", 44_100, 2, &x, 16);
    assert_eq!(a.len(), b.len());
    for (wa, wb) in a.iter().zip(&b) {
        assert_eq!((wa.start_s, wa.end_s), (wb.start_s, wb.end_s));
        for (p, q) in wa.probs.iter().zip(&wb.probs) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}

#[test]
fn planar_mono_and_interleaved_agree() {
    let x = tones(2.5, 32_000, 2);
    let left: Vec<f32> = x.iter().step_by(2).copied().collect();
    let right: Vec<f32> = x.iter().skip(1).step_by(2).copied().collect();
    let mono: Vec<f32> = left
        .iter()
        .zip(&right)
        .map(|(l, r)| (l + r) * 0.5)
        .collect();
    let inter = whole("models/tiny4.onnx", 32_000, 2, &x, 1);

    let mut a = analyzer("models/tiny4.onnx", 32_000, 1);
    let mut planar = Vec::new();
    for (l, r) in left.chunks(777).zip(right.chunks(777)) {
        a.push_planar(&[l, r], &mut planar).unwrap();
    }
    a.finish(&mut planar).unwrap();
    assert_eq!(planar, inter);

    let mut a = analyzer("models/tiny4.onnx", 32_000, 1);
    let mut m = Vec::new();
    a.push_mono(&mono, &mut m).unwrap();
    a.finish(&mut m).unwrap();
    assert_eq!(m, inter);
}

#[test]
fn any_rate_from_8k_to_192k_gives_windows_on_the_same_timeline() {
    for rate in [8_000u32, 11_025, 16_000, 44_100, 48_000, 96_000, 192_000] {
        let out = whole("models/tiny4.onnx", rate, 2, &tones(3.0, rate, 2), 16);
        let starts: Vec<f64> = out.iter().map(|w| w.start_s).collect();
        assert_eq!(starts, [0.0, 0.5, 1.0, 1.5, 2.0], "rate {rate}");
        assert!(out
            .iter()
            .all(|w| !w.silent && w.probs.iter().all(|p| (0.0..=1.0).contains(p))));
    }
    // The same music at two rates should be analysed nearly identically (resampling is transparent).
    let a = whole("models/tiny4.onnx", 44_100, 1, &tones(3.0, 44_100, 1), 1);
    let b = whole("models/tiny4.onnx", 48_000, 1, &tones(3.0, 48_000, 1), 1);
    for (wa, wb) in a.iter().zip(&b) {
        for (p, q) in wa.probs.iter().zip(&wb.probs) {
            assert!((p - q).abs() < 0.02, "{p} vs {q}");
        }
    }
}

#[test]
fn out_of_range_rates_are_rejected() {
    let config = AnalysisConfig::default();
    for rate in [4_000u32, 384_000] {
        let e = Analyzer::new(runner("models/tiny4.onnx"), rate, &config)
            .err()
            .unwrap();
        assert!(e.to_string().contains(&rate.to_string()), "{e}");
    }
}

#[test]
fn many_channels() {
    let out = whole("models/tiny4.onnx", 48_000, 8, &tones(2.0, 48_000, 8), 4);
    assert_eq!(out.len(), 3);
}

#[test]
fn silence_scores_zero_without_running_the_model() {
    let x = vec![0.0f32; 44_100 * 3];
    let out = whole("models/tiny4.onnx", 44_100, 1, &x, 8);
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|w| w.silent && w.probs == [0.0; 4]));
    // Just under -60 dBFS is still silence; just above is not.
    let quiet: Vec<f32> = (0..22_050 * 2)
        .map(|i| if i % 2 == 0 { 0.00095 } else { -0.00095 })
        .collect();
    let out = whole("models/tiny4.onnx", 22_050, 1, &quiet, 1);
    assert!(out.iter().all(|w| w.silent));
    let louder: Vec<f32> = quiet.iter().map(|x| x * 1.2).collect();
    let out = whole("models/tiny4.onnx", 22_050, 1, &louder, 1);
    assert!(out.iter().all(|w| !w.silent));
}

#[test]
fn nan_and_inf_are_replaced_not_propagated() {
    let clean = tones(3.0, 22_050, 1);
    let mut dirty = clean.clone();
    let mut zeroed = clean.clone();
    for (i, v) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
        .iter()
        .cycle()
        .take(300)
        .enumerate()
    {
        let at = 1000 + i * 200;
        dirty[at] = *v;
        zeroed[at] = 0.0;
    }
    let a = whole("models/tiny4.onnx", 22_050, 1, &dirty, 1);
    let b = whole("models/tiny4.onnx", 22_050, 1, &zeroed, 1);
    assert_eq!(a, b);
    assert!(a.iter().all(|w| w.probs.iter().all(|p| p.is_finite())));
    // All-NaN input is silence.
    let out = whole("models/tiny4.onnx", 22_050, 1, &vec![f32::NAN; 30_000], 1);
    assert!(out.iter().all(|w| w.silent));
}

#[test]
fn clip_shorter_than_a_window_gets_one_padded_window() {
    let out = whole("models/tiny4.onnx", 44_100, 1, &tones(0.3, 44_100, 1), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start_s, 0.0);
    assert!((out[0].end_s - 0.3).abs() < 1e-3, "{}", out[0].end_s);
    assert!(whole("models/tiny4.onnx", 44_100, 1, &[], 1).is_empty());
}

#[test]
fn hop_controls_window_spacing() {
    let config = AnalysisConfig {
        hop_s: 0.25,
        ..AnalysisConfig::default()
    };
    let mut a = Analyzer::new(runner("models/tiny4.onnx"), 22_050, &config).unwrap();
    let mut out = Vec::new();
    a.push_mono(&tones(3.0, 22_050, 1), &mut out).unwrap();
    a.finish(&mut out).unwrap();
    // 0.25 s is 5512.5 samples at 22.05 kHz: starts are rounded per window, never accumulated.
    assert_eq!(out.len(), 9);
    assert_eq!(out[1].start_s, 5513.0 / 22_050.0);
    assert_eq!(out[8].start_s, 2.0);
}

#[test]
fn analyzer_is_reusable_after_finish_and_rate_change() {
    let x = tones(2.0, 44_100, 2);
    let mut a = analyzer("models/tiny4.onnx", 44_100, 1);
    let mut first = Vec::new();
    a.push_interleaved(&x, 2, &mut first).unwrap();
    a.finish(&mut first).unwrap();
    let mut second = Vec::new();
    a.push_interleaved(&x, 2, &mut second).unwrap();
    a.finish(&mut second).unwrap();
    assert_eq!(first, second);
    a.set_input_rate(48_000, &AnalysisConfig::default())
        .unwrap();
    let mut third = Vec::new();
    a.push_interleaved(&tones(2.0, 48_000, 2), 2, &mut third)
        .unwrap();
    a.finish(&mut third).unwrap();
    assert_eq!(third.len(), first.len());
}

#[test]
fn analyzer_and_runner_can_move_to_a_worker_thread() {
    let a = analyzer("models/tiny4.onnx", 44_100, 1);
    let handle = std::thread::spawn(move || {
        let mut a = a;
        let mut out = Vec::new();
        a.push_interleaved(&tones(1.5, 44_100, 2), 2, &mut out)
            .unwrap();
        a.finish(&mut out).unwrap();
        out.len()
    });
    assert_eq!(handle.join().unwrap(), 2);
}
