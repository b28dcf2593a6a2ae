//! The inference thread: one backend, owned by one thread, fed through a bounded queue.
//!
//! Callers never touch the backend directly. `submit` waits for room in the queue;
//! `try_submit` refuses at once when it is full (the server answers 429/503 with that).
//! When several requests are waiting, the thread takes them together as one batch.

use crate::backend::{Backend, BackendError, INPUT_LEN};
use crate::EngineKind;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

struct Job {
    input: Vec<f32>,
    reply: SyncSender<Result<Vec<f32>, BackendError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("the inference queue is full; try again shortly")]
    QueueFull,
    #[error("the inference thread has stopped")]
    Stopped,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// A handle to the inference thread. Cloneable; the thread stops when every handle is dropped.
#[derive(Clone)]
pub struct InferenceQueue {
    tx: SyncSender<Job>,
    backend: EngineKind,
    head: usize,
}

/// The inference thread itself. It ends once every [`InferenceQueue`] handle is dropped and
/// the jobs already queued are done; [`join`](Self::join) waits for that. Dropping this value
/// does not wait.
pub struct InferenceThread(JoinHandle<()>);

impl InferenceThread {
    /// Waits for the thread to finish. Drop every queue handle first, or this waits forever.
    pub fn join(self) {
        let _ = self.0.join();
    }
}

impl InferenceQueue {
    /// Starts the thread. `capacity` bounds the number of images waiting; `max_batch` bounds
    /// how many are run together.
    pub fn start(
        backend: Box<dyn Backend>,
        head: usize,
        capacity: usize,
        max_batch: usize,
    ) -> (Self, InferenceThread) {
        let (tx, rx) = mpsc::sync_channel::<Job>(capacity.max(1));
        let name = backend.name();
        let handle = std::thread::Builder::new()
            .name(format!("inference-{name}"))
            .spawn(move || run_loop(backend, rx, head, max_batch.max(1)))
            .expect("spawn inference thread");
        (
            Self {
                tx,
                backend: name,
                head,
            },
            InferenceThread(handle),
        )
    }

    pub fn backend(&self) -> EngineKind {
        self.backend
    }

    fn wait(rx: Receiver<Result<Vec<f32>, BackendError>>) -> Result<Vec<f32>, SubmitError> {
        rx.recv()
            .map_err(|_| SubmitError::Stopped)?
            .map_err(Into::into)
    }

    /// Runs one preprocessed image (`3 × 224 × 224` values) and returns its raw outputs,
    /// waiting for room in the queue if needed.
    pub fn submit(&self, input: Vec<f32>) -> Result<Vec<f32>, SubmitError> {
        assert_eq!(input.len(), INPUT_LEN);
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Job { input, reply })
            .map_err(|_| SubmitError::Stopped)?;
        Self::wait(rx)
    }

    /// Like [`submit`](Self::submit) but refuses immediately when the queue is full.
    pub fn try_submit(&self, input: Vec<f32>) -> Result<Vec<f32>, SubmitError> {
        assert_eq!(input.len(), INPUT_LEN);
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .try_send(Job { input, reply })
            .map_err(|e| match e {
                TrySendError::Full(_) => SubmitError::QueueFull,
                TrySendError::Disconnected(_) => SubmitError::Stopped,
            })?;
        Self::wait(rx)
    }

    pub fn head(&self) -> usize {
        self.head
    }
}

fn run_loop(mut backend: Box<dyn Backend>, rx: Receiver<Job>, head: usize, max_batch: usize) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let n = jobs.len();
        let mut input = Vec::with_capacity(n * INPUT_LEN);
        for j in &jobs {
            input.extend_from_slice(&j.input);
        }
        let started = std::time::Instant::now();
        let result = backend.run(&input, n);
        tracing::debug!(
            batch = n,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "forward"
        );
        match result {
            Ok(out) => {
                for (i, j) in jobs.into_iter().enumerate() {
                    let _ = j.reply.send(Ok(out[i * head..(i + 1) * head].to_vec()));
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(BackendError::Run {
                        backend: backend.name(),
                        message: msg.clone(),
                    }));
                }
            }
        }
    }
}
