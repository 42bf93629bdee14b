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
        println!("metrics:        {m}");
    }
    if let Some(rt) = rt {
        println!(
            "onnxruntime:    {} ({})",
            rt.version,
            rt.library_path.display()
        );
    }
}
