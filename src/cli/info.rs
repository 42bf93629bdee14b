//! `instrument-meter info`: the model's metadata.

use instrument_meter::model::ModelRunner;
use instrument_meter::runtime;

pub fn print(runner: &ModelRunner, json: bool) {
    let info = runner.info();
    let rt = runtime::runtime().ok();
    if json {
        let mut v = serde_json::to_value(info.as_ref()).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("source".into(), runner.source().into());
            if let Some(rt) = rt {
                o.insert("onnxruntime_version".into(), rt.version.clone().into());
                o.insert(
                    "onnxruntime_library".into(),
                    rt.library_path.display().to_string().into(),
                );
            }
        }
        println!("{v}");
        return;
    }
    println!("model:          {}", info.display_name());
    println!("source:         {}", runner.source());
    if let Some(a) = &info.architecture {
        println!("architecture:   {a}");
    }
    println!("sample rate:    {} Hz", info.sample_rate);
    println!(
        "window:         {} samples ({:.3} s)",
        info.window_samples,
        info.window_seconds()
    );
    println!("normalization:  {}", info.normalization.as_str());
    println!(
        "thresholds:     {}",
        if info.thresholds_from_model {
            "from the model"
        } else {
            "none in the model: 0.5 for every class"
        }
    );
    println!("classes:        {}", info.num_classes());
    for (i, code) in info.labels.iter().enumerate() {
        println!(
            "  {code:<8} {:<24} threshold {:.3}",
            info.label_names[i], info.thresholds[i]
        );
    }
    if let Some(t) = &info.training_data {
        println!("training data:  {t}");
    }
    if let Some(m) = &info.metrics {
        print_metrics(m);
    }
    if let Some(rt) = rt {
        println!(
            "onnxruntime:    {} ({})",
            rt.version,
            rt.library_path.display()
        );
    }
}

/// The model's figures in words: validation, held-out test and leave-one-family-out (the honest
/// estimate for recordings the model never heard); `--json` prints the whole record.
fn print_metrics(m: &serde_json::Value) {
    let num = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_f64());
    let line = |label: &str, lrap: Option<f64>, macro_: Option<f64>, micro: Option<f64>| {
        let parts: Vec<String> = [("LRAP", lrap), ("F1-macro", macro_), ("F1-micro", micro)]
            .iter()
            .filter_map(|(n, v)| v.map(|v| format!("{n} {v:.3}")))
            .collect();
        if !parts.is_empty() {
            println!("{label:<15} {}", parts.join(", "));
        }
    };
    if let Some(v) = m.get("validation") {
        line(
            "validation:",
            num(v, "val_lrap"),
            num(v, "val_f1_macro"),
            num(v, "val_f1_micro"),
        );
    }
    if let Some(t) = m.get("test_honest") {
        line(
            "test:",
            num(t, "lrap"),
            num(t, "f1_macro"),
            num(t, "f1_micro"),
        );
    }
    if let Some(l) = m.get("lofo") {
        let folds: Vec<&str> = l
            .get("folds")
            .and_then(|f| f.as_array())
            .map(|f| f.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        // Each protocol's mean is {"lrap": {"mean", "std", "n"}, ...}.
        let mean = |proto: &str, k: &str| {
            l.get("mean")
                .and_then(|p| p.get(proto))
                .and_then(|p| p.get(k))
                .and_then(|x| x.get("mean"))
                .and_then(|x| x.as_f64())
        };
        println!(
            "leave-one-family-out ({} held-out folds: {}):",
            folds.len(),
            folds.join(", ")
        );
        for (proto, what) in [
            ("calibrated", "  out-of-family thresholds:"),
            ("honest", "  in-family thresholds:"),
        ] {
            line(
                what,
                mean(proto, "lrap"),
                mean(proto, "f1_macro"),
                mean(proto, "f1_micro"),
            );
        }
    }
}
