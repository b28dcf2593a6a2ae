//! Histoscore's scoring engine: the original ResNet18 model, loaded from the lab's own weight
//! file (or the labelled demo model), built as an ONNX graph and run on its own thread.

pub mod backend;
pub mod finetune;
#[doc(hidden)]
pub mod fuzzing;
pub mod learning;
pub mod onnx;
pub mod ort_backend;
pub mod scorer;
pub mod slide;
pub mod train;
pub mod weights;
pub mod worker;

pub use backend::{Backend, BackendError, TractBackend, INPUT_LEN};
pub use scorer::{DecodedMeta, Prepared, ScoreError, ScoredImage, Scorer};
pub use weights::{Weights, WeightsError};
pub use worker::{InferenceQueue, InferenceThread, SubmitError};

use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which inference backend runs the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// ONNX Runtime when its library is found, tract otherwise.
    Auto,
    /// ONNX Runtime (`libonnxruntime.so`, loaded at run time).
    Ort,
    /// tract, pure Rust, always available.
    Tract,
}

impl EngineKind {
    /// The one written form: `auto`, `ort`, `tract` (flags, logs, the API).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ort => "ort",
            Self::Tract => "tract",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for EngineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "ort" => Ok(Self::Ort),
            "tract" => Ok(Self::Tract),
            other => Err(format!("unknown engine {other:?}: use auto, ort or tract")),
        }
    }
}

/// Threads for one inference: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A model ready to score: validated weights plus where they came from.
#[derive(Debug, Clone)]
pub struct Model {
    weights: Weights,
    id: String,
    demo: bool,
    source: Option<PathBuf>,
}

/// What outputs and `model inspect` say about a model.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ModelRef {
    pub id: String,
    pub demo: bool,
}

impl Model {
    /// Loads the weights in `path` (`.pth` state_dict or `.safetensors`).
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let weights = Weights::load(path)?;
        Ok(Self {
            id: weights.id(),
            weights,
            demo: false,
            source: Some(path.to_path_buf()),
        })
    }

    /// A model from weights held in memory (e.g. a newly trained head on a parent).
    pub fn from_weights(weights: Weights) -> Self {
        Self {
            id: weights.id(),
            weights,
            demo: false,
            source: None,
        }
    }

    /// The deterministic demo model with `head` outputs. Its scores are not meaningful.
    pub fn demo(head: usize) -> Self {
        let weights = Weights::demo(head);
        Self {
            id: weights.id(),
            weights,
            demo: true,
            source: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn is_demo(&self) -> bool {
        self.demo
    }

    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    pub fn head(&self) -> usize {
        self.weights.head()
    }

    pub fn reference(&self) -> ModelRef {
        ModelRef {
            id: self.id.clone(),
            demo: self.demo,
        }
    }

    /// Writes the weights as `.safetensors` (float32, PyTorch's state_dict names), loadable with
    /// `safetensors.torch.load_file` and `model.load_state_dict`.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), WeightsError> {
        let fail = |message: String| WeightsError::Write {
            path: path.display().to_string(),
            message,
        };
        let mut map = std::collections::HashMap::new();
        for (name, t) in self.weights.tensors() {
            let tensor = candle_core::Tensor::from_slice(
                &t.data,
                t.shape.as_slice(),
                &candle_core::Device::Cpu,
            )
            .map_err(|e| fail(format!("{name}: {e}")))?;
            map.insert(name.clone(), tensor);
            // PyTorch's BatchNorm also has this buffer; strict `load_state_dict` wants it.
            if let Some(prefix) = name.strip_suffix(".running_mean") {
                let count = candle_core::Tensor::new(0i64, &candle_core::Device::Cpu)
                    .map_err(|e| fail(e.to_string()))?;
                map.insert(format!("{prefix}.num_batches_tracked"), count);
            }
        }
        candle_core::safetensors::save(&map, path).map_err(|e| fail(e.to_string()))
    }

    /// The network as a serialised ONNX graph.
    pub fn onnx(&self) -> Vec<u8> {
        let doc = if self.demo {
            format!(
                "Histoscore DEMO model {} (untrained; scores are not meaningful)",
                self.id
            )
        } else {
            format!("Histoscore ResNet18 scoring model {}", self.id)
        };
        onnx::build_onnx_bytes(&self.weights, &doc)
    }

    /// Starts an inference thread that returns the 512 pooled features of each image instead
    /// of the scores (the input of the head; see [`train`]).
    pub fn start_features(
        &self,
        kind: EngineKind,
        threads: usize,
    ) -> Result<(InferenceQueue, InferenceThread), BackendError> {
        let graph = onnx::build_features_onnx_bytes(&self.weights, "Histoscore ResNet18 features");
        let n = onnx::FEATURES;
        let backend: Box<dyn Backend> = match kind {
            EngineKind::Tract => Box::new(TractBackend::new(graph, n, threads)?),
            EngineKind::Ort => Box::new(ort_backend::OrtBackend::new(&graph, n, threads)?),
            EngineKind::Auto => match ort_backend::OrtBackend::new(&graph, n, threads) {
                Ok(b) => Box::new(b),
                Err(_) => Box::new(TractBackend::new(graph, n, threads)?),
            },
        };
        Ok(InferenceQueue::start(backend, n, 16, 8))
    }

    /// Starts an inference thread for this model with the tract backend.
    pub fn start_tract(
        &self,
        capacity: usize,
        max_batch: usize,
    ) -> Result<(InferenceQueue, InferenceThread), BackendError> {
        self.start(EngineKind::Tract, default_threads(), capacity, max_batch)
    }

    /// Builds the backend `kind` asks for and starts its inference thread. `Auto` uses ONNX
    /// Runtime when its library can be loaded and tract otherwise.
    pub fn start(
        &self,
        kind: EngineKind,
        threads: usize,
        capacity: usize,
        max_batch: usize,
    ) -> Result<(InferenceQueue, InferenceThread), BackendError> {
        let graph = self.onnx();
        let backend: Box<dyn Backend> = match kind {
            EngineKind::Tract => Box::new(TractBackend::new(graph, self.head(), threads)?),
            EngineKind::Ort => {
                Box::new(ort_backend::OrtBackend::new(&graph, self.head(), threads)?)
            }
            EngineKind::Auto => match ort_backend::OrtBackend::new(&graph, self.head(), threads) {
                Ok(b) => Box::new(b),
                Err(e) => {
                    tracing::warn!(
                        "ONNX Runtime unavailable, scoring with tract (several times slower; \
                         scripts/run or scripts/fetch-ort puts the library beside the binary): {e}"
                    );
                    Box::new(TractBackend::new(graph, self.head(), threads)?)
                }
            },
        };
        Ok(InferenceQueue::start(
            backend,
            self.head(),
            capacity,
            max_batch,
        ))
    }
}
