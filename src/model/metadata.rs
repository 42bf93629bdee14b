//! Parsing and validating the `metadata_props` of the model contract (docs/model-contract.md).
//! Pure functions over a key → value lookup, so every rule is unit-testable without ONNX Runtime.

use serde::Serialize;

use super::ModelError;

/// The model contract version this build understands.
pub const CONTRACT_VERSION: u32 = 1;
/// Sample rates a model may declare (the range the front end resamples between).
pub const MODEL_RATE_RANGE: std::ops::RangeInclusive<u32> = 8_000..=192_000;
/// Longest analysis window accepted, in seconds of model-rate audio.
pub const MAX_WINDOW_SECONDS: u32 = 30;
/// Threshold used for every class when the model carries none (contract default).
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// How a window is scaled before the graph runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Divide the window by its RMS, floored at 1e-8.
    Rms,
    /// Feed the window as is.
    None,
}

impl Normalization {
    pub fn as_str(self) -> &'static str {
        match self {
            Normalization::Rms => "rms",
            Normalization::None => "none",
        }
    }
}

/// Everything the runtime needs to know about a model, read from its metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Class codes, in output order.
    pub labels: Vec<String>,
    /// Display names (the codes when the model has none).
    pub label_names: Vec<String>,
    pub sample_rate: u32,
    pub window_samples: usize,
    pub normalization: Normalization,
    /// Per-class decision thresholds, same order as `labels`.
    pub thresholds: Vec<f32>,
    /// Whether `thresholds` came from the model (false: contract default 0.5 everywhere).
    pub thresholds_from_model: bool,
    pub model_name: Option<String>,
    pub model_version: Option<String>,
    pub architecture: Option<String>,
    /// Parsed `metrics` JSON, if present and valid JSON.
    pub metrics: Option<serde_json::Value>,
    pub training_data: Option<String>,
    pub contract_version: Option<u32>,
}

impl ModelInfo {
    pub fn num_classes(&self) -> usize {
        self.labels.len()
    }

    /// Window length in seconds.
    pub fn window_seconds(&self) -> f64 {
        self.window_samples as f64 / self.sample_rate as f64
    }

    /// A short human name: `model_name model_version`, or a placeholder.
    pub fn display_name(&self) -> String {
        match (&self.model_name, &self.model_version) {
            (Some(n), Some(v)) => format!("{n} {v}"),
            (Some(n), None) => n.clone(),
            _ => "unnamed model".into(),
        }
    }

    /// Parses and validates the metadata. `get` returns the value of a key, if present.
    pub fn from_metadata(get: impl Fn(&str) -> Option<String>) -> Result<ModelInfo, ModelError> {
        let required = |key: &'static str| get(key).ok_or(ModelError::MissingMetadata { key });
        let bad = |key: &'static str, value: &str, reason: String| ModelError::BadMetadata {
            key,
            value: shorten(value),
            reason,
        };

        let contract_version = match get("contract_version") {
            None => None,
            Some(v) => {
                let n: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| bad("contract_version", &v, "expected an integer".into()))?;
                if n != CONTRACT_VERSION {
                    return Err(bad(
                        "contract_version",
                        &v,
                        format!("this build understands contract version {CONTRACT_VERSION} only"),
                    ));
                }
                Some(n)
            }
        };

        let labels_raw = required("labels")?;
        let labels = parse_string_array(&labels_raw).map_err(|r| bad("labels", &labels_raw, r))?;
        if labels.is_empty() {
            return Err(bad("labels", &labels_raw, "no classes".into()));
        }
        if let Some(i) = labels.iter().position(|l| l.trim().is_empty()) {
            return Err(bad("labels", &labels_raw, format!("label {i} is empty")));
        }
        for (i, l) in labels.iter().enumerate() {
            if labels[..i].contains(l) {
                return Err(bad(
                    "labels",
                    &labels_raw,
                    format!("label {l:?} appears twice"),
                ));
            }
        }

        let label_names = match get("label_names") {
            None => labels.clone(),
            Some(raw) => {
                let names = parse_string_array(&raw).map_err(|r| bad("label_names", &raw, r))?;
                if names.len() != labels.len() {
                    return Err(ModelError::LengthMismatch {
                        key: "label_names",
                        found: names.len(),
                        labels: labels.len(),
                    });
                }
                names
            }
        };

        let rate_raw = required("sample_rate")?;
        let sample_rate: u32 = rate_raw.trim().parse().map_err(|_| {
            bad(
                "sample_rate",
                &rate_raw,
                "expected an integer number of Hz".into(),
            )
        })?;
        if !MODEL_RATE_RANGE.contains(&sample_rate) {
            return Err(bad(
                "sample_rate",
                &rate_raw,
                format!(
                    "must be between {} and {} Hz",
                    MODEL_RATE_RANGE.start(),
                    MODEL_RATE_RANGE.end()
                ),
            ));
        }

        let win_raw = required("window_samples")?;
        let window_samples: usize = win_raw.trim().parse().map_err(|_| {
            bad(
                "window_samples",
                &win_raw,
                "expected a positive integer".into(),
            )
        })?;
        let max_window = MAX_WINDOW_SECONDS as usize * sample_rate as usize;
        if window_samples < 16 || window_samples > max_window {
            return Err(bad(
                "window_samples",
                &win_raw,
                format!("must be between 16 and {max_window} ({MAX_WINDOW_SECONDS} s at {sample_rate} Hz)"),
            ));
        }

        let norm_raw = required("normalization")?;
        let normalization = match norm_raw.trim() {
            "rms" => Normalization::Rms,
            "none" => Normalization::None,
            _ => {
                return Err(bad(
                    "normalization",
                    &norm_raw,
                    "expected \"rms\" or \"none\"".into(),
                ))
            }
        };

        let (thresholds, thresholds_from_model) = match get("thresholds") {
            None => (vec![DEFAULT_THRESHOLD; labels.len()], false),
            Some(raw) => {
                let values: Vec<f64> = serde_json::from_str(&raw).map_err(|e| {
                    bad(
                        "thresholds",
                        &raw,
                        format!("expected a JSON array of numbers: {e}"),
                    )
                })?;
                if values.len() != labels.len() {
                    return Err(ModelError::LengthMismatch {
                        key: "thresholds",
                        found: values.len(),
                        labels: labels.len(),
                    });
                }
                // Checked as f32, the type used: 0.9999999999 or 1e-50 round to 1 or 0 there.
                if let Some((i, v)) = values
                    .iter()
                    .enumerate()
                    .find(|(_, v)| !(**v as f32 > 0.0 && (**v as f32) < 1.0))
                {
                    return Err(bad(
                        "thresholds",
                        &raw,
                        format!("threshold {i} ({}) = {v} is not inside (0, 1)", labels[i]),
                    ));
                }
                (values.into_iter().map(|v| v as f32).collect(), true)
            }
        };

        Ok(ModelInfo {
            labels,
            label_names,
            sample_rate,
            window_samples,
            normalization,
            thresholds,
            thresholds_from_model,
            model_name: get("model_name"),
            model_version: get("model_version"),
            architecture: get("architecture"),
            metrics: get("metrics").and_then(|m| serde_json::from_str(&m).ok()),
            training_data: get("training_data"),
            contract_version,
        })
    }
}

fn parse_string_array(raw: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(raw)
        .map_err(|e| format!("expected a JSON array of strings: {e}"))
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("contract_version", "1".to_string()),
            ("labels", r#"["cel","flu","pia"]"#.to_string()),
            ("label_names", r#"["Cello","Flute","Piano"]"#.to_string()),
            ("sample_rate", "22050".to_string()),
            ("window_samples", "22050".to_string()),
            ("normalization", "rms".to_string()),
            ("thresholds", "[0.3, 0.4, 0.5]".to_string()),
        ])
    }

    fn parse(m: &HashMap<&'static str, String>) -> Result<ModelInfo, ModelError> {
        ModelInfo::from_metadata(|k| m.get(k).cloned())
    }

    fn with(key: &'static str, value: &str) -> Result<ModelInfo, ModelError> {
        let mut m = base();
        m.insert(key, value.to_string());
        parse(&m)
    }

    fn without(key: &'static str) -> Result<ModelInfo, ModelError> {
        let mut m = base();
        m.remove(key);
        parse(&m)
    }

    #[test]
    fn valid_metadata_parses() {
        let info = parse(&base()).unwrap();
        assert_eq!(info.labels, ["cel", "flu", "pia"]);
        assert_eq!(info.label_names[1], "Flute");
        assert_eq!(info.sample_rate, 22050);
        assert_eq!(info.window_samples, 22050);
        assert_eq!(info.normalization, Normalization::Rms);
        assert_eq!(info.thresholds, [0.3, 0.4, 0.5]);
        assert!(info.thresholds_from_model);
    }

    #[test]
    fn optional_keys_have_contract_defaults() {
        let mut m = base();
        m.remove("label_names");
        m.remove("thresholds");
        m.remove("contract_version");
        let info = parse(&m).unwrap();
        assert_eq!(info.label_names, info.labels);
        assert_eq!(info.thresholds, [0.5; 3]);
        assert!(!info.thresholds_from_model);
    }

    #[test]
    fn each_required_key_is_reported_by_name() {
        for key in ["labels", "sample_rate", "window_samples", "normalization"] {
            match without(key) {
                Err(ModelError::MissingMetadata { key: k }) => assert_eq!(k, key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    fn bad_key(r: Result<ModelInfo, ModelError>) -> &'static str {
        match r {
            Err(ModelError::BadMetadata { key, .. }) => key,
            Err(ModelError::LengthMismatch { key, .. }) => key,
            other => panic!("expected a metadata error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_values_are_rejected_with_their_key() {
        assert_eq!(bad_key(with("labels", "cel,flu")), "labels");
        assert_eq!(bad_key(with("labels", "[]")), "labels");
        assert_eq!(bad_key(with("labels", r#"["a","a","b"]"#)), "labels");
        assert_eq!(bad_key(with("labels", r#"["a","","b"]"#)), "labels");
        assert_eq!(bad_key(with("label_names", r#"["A","B"]"#)), "label_names");
        assert_eq!(bad_key(with("sample_rate", "22.05k")), "sample_rate");
        assert_eq!(bad_key(with("sample_rate", "4000")), "sample_rate");
        assert_eq!(bad_key(with("sample_rate", "384000")), "sample_rate");
        assert_eq!(bad_key(with("window_samples", "0")), "window_samples");
        assert_eq!(bad_key(with("window_samples", "-5")), "window_samples");
        assert_eq!(
            bad_key(with("window_samples", "99999999")),
            "window_samples"
        );
        assert_eq!(bad_key(with("normalization", "peak")), "normalization");
        assert_eq!(bad_key(with("thresholds", "[0.5, 0.5]")), "thresholds");
        assert_eq!(bad_key(with("thresholds", "[0.5, 1.0, 0.5]")), "thresholds");
        assert_eq!(bad_key(with("thresholds", "[0.5, 0.0, 0.5]")), "thresholds");
        assert_eq!(bad_key(with("thresholds", "0.5")), "thresholds");
        // Inside (0, 1) as f64 but not as the f32 the detector compares with.
        assert_eq!(
            bad_key(with("thresholds", "[0.5, 0.9999999999, 0.5]")),
            "thresholds"
        );
        assert_eq!(
            bad_key(with("thresholds", "[0.5, 1e-50, 0.5]")),
            "thresholds"
        );
        assert_eq!(bad_key(with("contract_version", "2")), "contract_version");
    }

    #[test]
    fn error_messages_name_key_and_reason() {
        let e = with("thresholds", "[0.5, 1.5, 0.5]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("thresholds") && e.contains("flu") && e.contains("(0, 1)"),
            "{e}"
        );
        let e = without("labels").unwrap_err().to_string();
        assert!(e.contains("labels"), "{e}");
    }
}
