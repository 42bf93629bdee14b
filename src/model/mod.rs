//! Loading an ONNX model, validating it against docs/model-contract.md, and running it.

mod metadata;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

pub use metadata::{
    ModelInfo, Normalization, CONTRACT_VERSION, DEFAULT_THRESHOLD, MODEL_RATE_RANGE,
};

use crate::runtime::{self, DenormalGuard, RuntimeError};

/// Graph input name required by the contract.
pub const INPUT_NAME: &str = "audio";
/// Graph output name required by the contract.
pub const OUTPUT_NAME: &str = "probs";
/// Oldest ONNX opset the contract allows.
pub const MIN_OPSET: u32 = 17;
/// Largest model file read: protobuf messages, and so single-file ONNX models, stop at 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// The default model embedded at build time (`assets/model.onnx`), if the build had one.
#[cfg(has_default_model)]
pub const DEFAULT_MODEL: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/model.onnx"
)));
#[cfg(not(has_default_model))]
pub const DEFAULT_MODEL: Option<&[u8]> = None;

/// Everything that can be wrong with a model, each with the precise cause.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("this build has no embedded default model (assets/model.onnx was absent at build time); pass --model FILE")]
    NoDefaultModel,
    #[error("cannot read model file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the model file is empty (0 bytes)")]
    Empty,
    #[error("the model is larger than {} MiB, the most an ONNX file can hold", MAX_MODEL_BYTES >> 20)]
    TooLarge,
    #[error("ONNX Runtime cannot load the model: {0}")]
    Load(String),
    #[error("model uses ONNX opset {found}; the contract requires opset {MIN_OPSET} or newer")]
    Opset { found: u32 },
    #[error("model must have exactly one input named \"{INPUT_NAME}\", found {found:?}")]
    InputName { found: Vec<String> },
    #[error("model must have exactly one output named \"{OUTPUT_NAME}\", found {found:?}")]
    OutputName { found: Vec<String> },
    #[error("{which} \"{name}\" must be a float32 tensor, found {found}")]
    NotFloatTensor {
        which: &'static str,
        name: String,
        found: String,
    },
    #[error("input \"{INPUT_NAME}\" must have shape [batch, 1, samples], found {found:?}")]
    InputShape { found: Vec<i64> },
    #[error("input \"{INPUT_NAME}\" has a fixed length of {found} samples but metadata window_samples is {window_samples}")]
    InputSamples { found: i64, window_samples: usize },
    #[error("output \"{OUTPUT_NAME}\" must have shape [batch, classes], found {found:?}")]
    OutputShape { found: Vec<i64> },
    #[error("output \"{OUTPUT_NAME}\" has {found} classes but metadata labels lists {labels}")]
    OutputWidth { found: usize, labels: usize },
    #[error("model metadata is missing required key \"{key}\"")]
    MissingMetadata { key: &'static str },
    #[error("model metadata \"{key}\" = {value:?} is invalid: {reason}")]
    BadMetadata {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("model metadata \"{key}\" has {found} entries but labels has {labels}")]
    LengthMismatch {
        key: &'static str,
        found: usize,
        labels: usize,
    },
    #[error("output \"{OUTPUT_NAME}\" gave {value} on a test window; it must be a probability in [0, 1] (put the sigmoid inside the graph)")]
    NotProbabilities { value: f32 },
    #[error("inference failed: {0}")]
    Inference(String),
}

/// Session settings for the inference thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// ONNX Runtime intra-op threads. 1 keeps the plugin's worker to one core and is the fastest
    /// per-window setting for small models; the CLI exposes it as `--threads`.
    pub intra_threads: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { intra_threads: 1 }
    }
}

/// A validated model with its own ONNX Runtime session.
///
/// `Send`: create it anywhere and move it to the one thread that runs inference (the plugin's
/// analysis worker, or the CLI's main thread). Sessions are not shared between threads.
pub struct ModelRunner {
    session: Session,
    info: Arc<ModelInfo>,
    /// Largest batch the graph accepts (1 when the batch dimension is fixed to 1).
    max_batch: usize,
    /// Where the model came from, for messages.
    source: String,
}

impl std::fmt::Debug for ModelRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelRunner")
            .field("source", &self.source)
            .field("info", &self.info)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

impl ModelRunner {
    /// Loads the model embedded in this build, or [`ModelError::NoDefaultModel`].
    pub fn default_model(config: &SessionConfig) -> Result<ModelRunner, ModelError> {
        let bytes = DEFAULT_MODEL.ok_or(ModelError::NoDefaultModel)?;
        Self::from_bytes_named(bytes, "embedded default model".into(), config)
    }

    /// Loads and validates a model file.
    pub fn from_file(path: &Path, config: &SessionConfig) -> Result<ModelRunner, ModelError> {
        let bytes = read_model_file(path)?;
        Self::from_bytes_named(&bytes, path.display().to_string(), config)
    }

    /// Loads and validates a model from memory.
    pub fn from_bytes(bytes: &[u8], config: &SessionConfig) -> Result<ModelRunner, ModelError> {
        Self::from_bytes_named(bytes, "model from memory".into(), config)
    }

    fn from_bytes_named(
        bytes: &[u8],
        source: String,
        config: &SessionConfig,
    ) -> Result<ModelRunner, ModelError> {
        if bytes.is_empty() {
            return Err(ModelError::Empty);
        }
        let rt = runtime::runtime()?;
        let session = Session::builder(&rt.environment)
            .map_err(load_err)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(load_err)?
            .with_intra_threads(config.intra_threads.max(1))
            .map_err(load_err)?
            .with_inter_threads(1)
            .map_err(load_err)?
            // Spinning threads burn a core between windows; the plugin shares the machine with a DAW.
            .with_intra_op_spinning(false)
            .map_err(load_err)?
            .with_inter_op_spinning(false)
            .map_err(load_err)?
            .with_flush_to_zero()
            .map_err(load_err)?
            .commit_from_memory(bytes)
            .map_err(load_err)?;

        if let Some(found) = session.opset_for_domain("") {
            if found < MIN_OPSET {
                return Err(ModelError::Opset { found });
            }
        }

        let meta = session.metadata().map_err(load_err)?;
        let info = ModelInfo::from_metadata(|k| meta.custom(k))?;
        drop(meta);

        let max_batch = check_graph(&session, &info)?;
        let mut runner = ModelRunner {
            session,
            info: Arc::new(info),
            max_batch,
            source,
        };
        runner.probe()?;
        Ok(runner)
    }

    /// The model's metadata. Cheap to clone and share with a GUI thread.
    pub fn info(&self) -> &Arc<ModelInfo> {
        &self.info
    }

    /// Largest number of windows one [`ModelRunner::run`] call may take.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Where the model was loaded from (path or "embedded default model").
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs `n` prepared (already normalised) windows, laid out back to back in `windows`
    /// (`n * window_samples` values), writing `n * classes` probabilities to `out`.
    /// Non-finite outputs become 0 and the rest are clamped to [0, 1].
    pub fn run(&mut self, windows: &[f32], n: usize, out: &mut [f32]) -> Result<(), ModelError> {
        let ws = self.info.window_samples;
        let classes = self.info.num_classes();
        assert_eq!(windows.len(), n * ws, "windows buffer length");
        assert_eq!(out.len(), n * classes, "output buffer length");
        if n == 0 {
            return Ok(());
        }
        let _ftz = DenormalGuard::new();
        let mut done = 0;
        while done < n {
            let b = (n - done).min(self.max_batch);
            let dest = &mut out[done * classes..(done + b) * classes];
            self.infer(&windows[done * ws..(done + b) * ws], b, |shape, probs| {
                if shape.len() != 2 || shape[0] as usize != b || shape[1] as usize != classes {
                    return Err(ModelError::OutputWidth {
                        found: shape.get(1).copied().unwrap_or(0).max(0) as usize,
                        labels: classes,
                    });
                }
                for (o, &p) in dest.iter_mut().zip(probs) {
                    *o = if p.is_finite() {
                        p.clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                }
                Ok(())
            })?;
            done += b;
        }
        Ok(())
    }

    /// Runs the graph on `b` windows laid back to back and hands the output's shape and values
    /// to `check` (the output borrows the session, so it cannot be returned).
    fn infer<R>(
        &mut self,
        windows: &[f32],
        b: usize,
        check: impl FnOnce(&[i64], &[f32]) -> Result<R, ModelError>,
    ) -> Result<R, ModelError> {
        let inference = |e: ort::Error| ModelError::Inference(e.to_string());
        let input = TensorRef::from_array_view(([b, 1, self.info.window_samples], windows))
            .map_err(inference)?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT_NAME => input])
            .map_err(inference)?;
        let (shape, probs) = outputs[OUTPUT_NAME]
            .try_extract_tensor::<f32>()
            .map_err(inference)?;
        check(shape, probs)
    }

    /// Runs one zero window to check the real output width and range (dynamic dimensions are
    /// only known after a run).
    fn probe(&mut self) -> Result<(), ModelError> {
        let classes = self.info.num_classes();
        let zeros = vec![0.0f32; self.info.window_samples];
        self.infer(&zeros, 1, |shape, probs| {
            if shape.len() != 2 || shape[0] != 1 {
                return Err(ModelError::OutputShape {
                    found: shape.to_vec(),
                });
            }
            if shape[1] as usize != classes {
                return Err(ModelError::OutputWidth {
                    found: shape[1].max(0) as usize,
                    labels: classes,
                });
            }
            if let Some(&bad) = probs
                .iter()
                .find(|p| !(p.is_finite() && (0.0..=1.0).contains(*p)))
            {
                return Err(ModelError::NotProbabilities { value: bad });
            }
            Ok(())
        })
    }
}

/// Reads a model file without trusting its size (`/dev/zero` and pipes have none): at most
/// [`MAX_MODEL_BYTES`] + 1 bytes, enough to tell that it is too large.
fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    use std::io::Read;
    let io = |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge);
    }
    let mut bytes = Vec::new();
    file.take(MAX_MODEL_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(ModelError::TooLarge);
    }
    Ok(bytes)
}

fn load_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Load(e.to_string())
}

fn describe_type(t: &ValueType) -> String {
    match t {
        ValueType::Tensor { ty, .. } => format!("a {ty:?} tensor"),
        other => format!("{other:?}"),
    }
}

/// Checks names, element types, ranks and fixed sizes; returns the largest usable batch.
fn check_graph(session: &Session, info: &ModelInfo) -> Result<usize, ModelError> {
    let inputs = session.inputs();
    if inputs.len() != 1 || inputs[0].name() != INPUT_NAME {
        return Err(ModelError::InputName {
            found: inputs.iter().map(|i| i.name().to_string()).collect(),
        });
    }
    let outputs = session.outputs();
    if outputs.len() != 1 || outputs[0].name() != OUTPUT_NAME {
        return Err(ModelError::OutputName {
            found: outputs.iter().map(|o| o.name().to_string()).collect(),
        });
    }

    let float_shape =
        |which: &'static str, name: &str, t: &ValueType| -> Result<Vec<i64>, ModelError> {
            match t {
                ValueType::Tensor {
                    ty: TensorElementType::Float32,
                    shape,
                    ..
                } => Ok(shape.to_vec()),
                other => Err(ModelError::NotFloatTensor {
                    which,
                    name: name.to_string(),
                    found: describe_type(other),
                }),
            }
        };

    let in_shape = float_shape("input", INPUT_NAME, inputs[0].dtype())?;
    // -1 marks a dynamic dimension.
    if in_shape.len() != 3 || !(in_shape[1] == 1 || in_shape[1] == -1) || in_shape[0] == 0 {
        return Err(ModelError::InputShape { found: in_shape });
    }
    if in_shape[2] != -1 && in_shape[2] != info.window_samples as i64 {
        return Err(ModelError::InputSamples {
            found: in_shape[2],
            window_samples: info.window_samples,
        });
    }
    let out_shape = float_shape("output", OUTPUT_NAME, outputs[0].dtype())?;
    if out_shape.len() != 2 || out_shape[0] == 0 {
        return Err(ModelError::OutputShape { found: out_shape });
    }
    if out_shape[1] != -1 && out_shape[1] != info.num_classes() as i64 {
        return Err(ModelError::OutputWidth {
            found: out_shape[1].max(0) as usize,
            labels: info.num_classes(),
        });
    }
    // A fixed batch dimension N means exactly N windows per run; we only support N = 1 then.
    match in_shape[0] {
        -1 => Ok(usize::MAX),
        1 => Ok(1),
        _ => Err(ModelError::InputShape { found: in_shape }),
    }
}
