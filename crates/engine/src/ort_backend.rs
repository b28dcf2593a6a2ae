//! ONNX Runtime backend, loaded at run time (`load-dynamic`): the library is looked for in
//! `ORT_DYLIB_PATH`, next to the executable, then on the system's library path.

use crate::backend::{Backend, BackendError, INPUT_LEN};
use crate::onnx::OUTPUT_NAME;
use crate::EngineKind;
use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use std::path::PathBuf;
use std::sync::OnceLock;

const LIB_NAME: &str = "libonnxruntime.so";

/// Where ONNX Runtime's shared library may be, in the order tried.
fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Ok(p) = std::env::var("ORT_DYLIB_PATH") {
        if !p.is_empty() {
            c.push(PathBuf::from(p));
        }
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.to_path_buf()))
    {
        c.push(dir.join(LIB_NAME));
        // Test binaries live one level further down (target/debug/deps).
        if let Some(up) = dir.parent() {
            c.push(up.join(LIB_NAME));
        }
    }
    // Bare name: the dynamic loader searches the system's library path.
    c.push(PathBuf::from(LIB_NAME));
    c
}

/// Why ONNX Runtime cannot be used in this process (the library is missing or unusable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct OrtUnavailable(pub String);

static ENVIRONMENT: OnceLock<Result<(Environment, String), OrtUnavailable>> = OnceLock::new();

/// Loads ONNX Runtime once per process. Returns the library used, or why none could be used.
pub fn ort_environment() -> Result<&'static (Environment, String), OrtUnavailable> {
    ENVIRONMENT
        .get_or_init(|| {
            let mut tried = Vec::new();
            for path in candidates() {
                if path.is_absolute() && !path.exists() {
                    continue;
                }
                match ort::init_from(&path) {
                    Ok(builder) => {
                        return builder
                            .with_name("histoscore")
                            .build()
                            .map(|env| (env, path.display().to_string()))
                            .map_err(|e| OrtUnavailable(format!("{}: {e}", path.display())));
                    }
                    Err(e) => tried.push(format!("{}: {e}", path.display())),
                }
            }
            Err(OrtUnavailable(format!(
                "ONNX Runtime ({LIB_NAME}) was not found; set ORT_DYLIB_PATH or put it next to \
                 the histoscore binary (tried: {})",
                tried.join("; ")
            )))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Whether ONNX Runtime can be loaded in this process.
pub fn ort_available() -> bool {
    ort_environment().is_ok()
}

pub struct OrtBackend {
    session: Session,
    head: usize,
}

impl OrtBackend {
    pub fn new(onnx_graph: &[u8], head: usize, threads: usize) -> Result<Self, BackendError> {
        let load = |message: String| BackendError::Load {
            backend: EngineKind::Ort,
            message,
        };
        let (env, _) = ort_environment().map_err(|e| load(e.0))?;
        let session = Session::builder(env)
            .map_err(|e| load(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| load(e.to_string()))?
            .with_intra_threads(threads.max(1))
            .map_err(|e| load(e.to_string()))?
            // Idle intra-op threads sleep instead of spinning: spinning threads would take
            // the cores that decode and preprocess the next images need.
            .with_intra_op_spinning(false)
            .map_err(|e| load(e.to_string()))?
            .commit_from_memory(onnx_graph)
            .map_err(|e| load(e.to_string()))?;
        Ok(Self { session, head })
    }
}

impl Backend for OrtBackend {
    fn name(&self) -> EngineKind {
        EngineKind::Ort
    }

    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>, BackendError> {
        assert_eq!(input.len(), n * INPUT_LEN, "input holds n images");
        let err = |e: ort::Error| BackendError::Run {
            backend: EngineKind::Ort,
            message: e.to_string(),
        };
        let tensor = Tensor::from_array(([n, 3, 224, 224], input.to_vec())).map_err(err)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(err)?;
        let value = outputs.get(OUTPUT_NAME).ok_or_else(|| BackendError::Run {
            backend: EngineKind::Ort,
            message: format!("the graph has no output {OUTPUT_NAME:?}"),
        })?;
        let (_, data) = value.try_extract_tensor::<f32>().map_err(err)?;
        if data.len() != n * self.head {
            return Err(BackendError::Run {
                backend: EngineKind::Ort,
                message: format!("expected {} outputs, got {}", n * self.head, data.len()),
            });
        }
        Ok(data.to_vec())
    }
}
