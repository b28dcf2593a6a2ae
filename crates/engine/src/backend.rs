//! Inference backends: anything that can run the ONNX graph on a batch of input tensors.

use crate::onnx::INPUT_NAME;
use crate::EngineKind;
use std::collections::HashMap;
use std::sync::Arc;
use tract_onnx::prelude::*;

/// Number of f32 values in one input image tensor (3 × 224 × 224).
pub const INPUT_LEN: usize = 3 * 224 * 224;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the {backend} engine could not load the model graph: {message}")]
    Load {
        backend: EngineKind,
        message: String,
    },
    #[error("the {backend} engine failed while running the model: {message}")]
    Run {
        backend: EngineKind,
        message: String,
    },
}

/// Runs the network. `run` takes `n` images of [`INPUT_LEN`] values each, concatenated, and
/// returns `n × head` raw outputs.
pub trait Backend: Send {
    fn name(&self) -> EngineKind;
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>, BackendError>;
}

type Plan = Arc<TypedRunnableModel>;

/// Pure-Rust inference with tract. A plan is optimised for each batch size on first use.
pub struct TractBackend {
    graph: Vec<u8>,
    head: usize,
    plans: HashMap<usize, Plan>,
    executor: tract_linalg::multithread::Executor,
}

impl TractBackend {
    /// Prepares the backend and optimises the batch-1 plan up front, so a broken graph fails
    /// at start rather than on the first image.
    pub fn new(onnx_graph: Vec<u8>, head: usize, threads: usize) -> Result<Self, BackendError> {
        use tract_linalg::multithread::Executor;
        let executor = if threads > 1 {
            Executor::multithread_with_name(threads, "tract")
        } else {
            Executor::SingleThread
        };
        let mut b = Self {
            graph: onnx_graph,
            head,
            plans: HashMap::new(),
            executor,
        };
        b.plan(1)?;
        Ok(b)
    }

    fn plan(&mut self, batch: usize) -> Result<Plan, BackendError> {
        if let Some(p) = self.plans.get(&batch) {
            return Ok(p.clone());
        }
        let load = |e: TractError| BackendError::Load {
            backend: EngineKind::Tract,
            message: format!("{e:#}"),
        };
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &self.graph[..])
            .map_err(load)?
            .with_input_names([INPUT_NAME])
            .map_err(load)?
            .with_input_fact(0, f32::fact([batch, 3, 224, 224]).into())
            .map_err(load)?
            .into_optimized()
            .map_err(load)?
            .into_runnable()
            .map_err(load)?;
        self.plans.insert(batch, plan.clone());
        Ok(plan)
    }
}

impl Backend for TractBackend {
    fn name(&self) -> EngineKind {
        EngineKind::Tract
    }

    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>, BackendError> {
        assert_eq!(input.len(), n * INPUT_LEN, "input holds n images");
        let plan = self.plan(n)?;
        let err = |e: TractError| BackendError::Run {
            backend: EngineKind::Tract,
            message: format!("{e:#}"),
        };
        let tensor = Tensor::from_shape(&[n, 3, 224, 224], input).map_err(err)?;
        let out = tract_linalg::multithread::multithread_tract_scope(self.executor.clone(), || {
            plan.run(tvec!(tensor.into()))
        })
        .map_err(err)?;
        let view = out[0].to_plain_array_view::<f32>().map_err(err)?;
        let values: Vec<f32> = view.iter().copied().collect();
        if values.len() != n * self.head {
            return Err(BackendError::Run {
                backend: EngineKind::Tract,
                message: format!("expected {} outputs, got {}", n * self.head, values.len()),
            });
        }
        Ok(values)
    }
}
