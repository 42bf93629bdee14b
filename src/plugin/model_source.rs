//! Which model the plugin runs: the user's path (a parameter), else the `INSTRUMENT_METER_MODEL`
//! variable, else the embedded default; loading it with an error text that says how to fix it, and
//! keeping the last one across activations.

use crate::model::{ModelError, ModelRunner, SessionConfig};

/// Environment variable naming a model file used when the model-path parameter is empty.
pub const MODEL_ENV: &str = "INSTRUMENT_METER_MODEL";

/// Where a model comes from: the user's path, the `INSTRUMENT_METER_MODEL` variable, or the
/// embedded default.
pub fn resolve_model_path(user: Option<String>) -> Option<String> {
    user.or_else(|| {
        std::env::var(MODEL_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty())
    })
}

/// Loads and validates a model (the model contract); the error text says how to fix it.
pub fn load_model(path: Option<&str>) -> Result<ModelRunner, String> {
    let config = SessionConfig { intra_threads: 1 };
    let result = match path {
        Some(p) => ModelRunner::from_file(std::path::Path::new(p), &config),
        None => ModelRunner::default_model(&config),
    };
    result.map_err(|e| describe_model_error(&e, path))
}

fn describe_model_error(e: &ModelError, path: Option<&str>) -> String {
    match e {
        ModelError::Runtime(r) => format!("ONNX Runtime not loaded: {r}"),
        ModelError::NoDefaultModel => format!(
            "This build has no embedded model (assets/model.onnx was absent when it was built). \
             Fix: choose a model file (.onnx) under Settings › Model, or set {MODEL_ENV}."
        ),
        other => match path {
            Some(p) => format!(
                "Model {p} cannot be used: {other}. Fix: pick a model exported by \
                 `instrument-meter-train export` (see docs/model-contract.md), or clear the path to use the embedded one."
            ),
            None => format!("The embedded model cannot be used: {other}"),
        },
    }
}

/// A loaded model and the path it came from (None: the embedded default).
pub type LoadedModel = (ModelRunner, Option<String>);

/// The model of the previous activation, reused when the path did not change (loading a model
/// takes long enough to notice on every sample-rate or block-size change).
#[derive(Default)]
pub struct ModelCache(Option<LoadedModel>);

impl ModelCache {
    /// The model for the path `user` names now: the cached one if it came from there, else a new
    /// load.
    pub fn take(&mut self, user: Option<String>) -> Result<LoadedModel, String> {
        let path = resolve_model_path(user);
        if let Some((runner, cached_path)) = self.0.take() {
            if cached_path == path {
                return Ok((runner, cached_path));
            }
        }
        load_model(path.as_deref()).map(|r| (r, path))
    }

    /// Keeps a model for the next activation.
    pub fn put(&mut self, model: LoadedModel) {
        self.0 = Some(model);
    }
}
