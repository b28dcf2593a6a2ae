//! The inference thread: one backend, owned by one thread, fed through a bounded queue.
//!
//! Callers never touch the backend directly. `submit` waits for room in the queue;
//! `try_submit` refuses at once when it is full (the server answers 429/503 with that).
//! When several requests are waiting, the thread takes them together as one batch.

use crate::backend::{Backend, BackendError, INPUT_LEN};
use crate::EngineKind;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

/// One or more images that are run in the same batch, and where their outputs go.
struct Job {
    /// `n` images of `INPUT_LEN` values, one after another.
    input: Vec<f32>,
    n: usize,
    /// The `n × head` raw outputs, in the order of the images.
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
            .send(Job { input, n: 1, reply })
            .map_err(|_| SubmitError::Stopped)?;
        Self::wait(rx)
    }

    /// Runs several preprocessed images in one batch (never split between batches) and
    /// returns the raw outputs of each, in order. Waits for room in the queue if needed.
    pub fn submit_batch(&self, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, SubmitError> {
        assert!(inputs.iter().all(|i| i.len() == INPUT_LEN));
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .send(Job {
                input: inputs.concat(),
                n: inputs.len(),
                reply,
            })
            .map_err(|_| SubmitError::Stopped)?;
        let out = Self::wait(rx)?;
        Ok(out.chunks(self.head.max(1)).map(<[f32]>::to_vec).collect())
    }

    /// Like [`submit`](Self::submit) but refuses immediately when the queue is full.
    pub fn try_submit(&self, input: Vec<f32>) -> Result<Vec<f32>, SubmitError> {
        assert_eq!(input.len(), INPUT_LEN);
        let (reply, rx) = mpsc::sync_channel(1);
        self.tx
            .try_send(Job { input, n: 1, reply })
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
    // A job that did not fit into the last batch starts the next one.
    let mut carried: Option<Job> = None;
    loop {
        let first = match carried.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        let mut images = first.n;
        let mut jobs = vec![first];
        while images < max_batch {
            match rx.try_recv() {
                Ok(j) if images + j.n > max_batch => {
                    carried = Some(j);
                    break;
                }
                Ok(j) => {
                    images += j.n;
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let input = if jobs.len() == 1 {
            std::mem::take(&mut jobs[0].input)
        } else {
            let mut input = Vec::with_capacity(images * INPUT_LEN);
            for j in &jobs {
                input.extend_from_slice(&j.input);
            }
            input
        };
        let started = std::time::Instant::now();
        let result = backend.run(&input, images);
        tracing::debug!(
            batch = images,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "forward"
        );
        match result {
            Ok(out) => {
                let mut at = 0;
                for j in jobs {
                    let len = j.n * head;
                    let _ = j.reply.send(Ok(out[at..at + len].to_vec()));
                    at += len;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A backend that answers each image with its first value and records its batch sizes.
    struct Echo(Arc<Mutex<Vec<usize>>>);

    impl Backend for Echo {
        fn name(&self) -> EngineKind {
            EngineKind::Tract
        }
        fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>, BackendError> {
            self.0.lock().unwrap().push(n);
            Ok((0..n).map(|i| input[i * INPUT_LEN]).collect())
        }
    }

    fn image(v: f32) -> Vec<f32> {
        vec![v; INPUT_LEN]
    }

    #[test]
    fn a_batch_runs_as_one_forward_pass_with_outputs_in_order() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (q, thread) = InferenceQueue::start(Box::new(Echo(batches.clone())), 1, 4, 8);
        let out = q
            .submit_batch(&[image(1.0), image(2.0), image(3.0), image(4.0)])
            .unwrap();
        assert_eq!(out, vec![vec![1.0], vec![2.0], vec![3.0], vec![4.0]]);
        assert_eq!(q.submit(image(5.0)).unwrap(), vec![5.0]);
        assert!(q.submit_batch(&[]).unwrap().is_empty());
        drop(q);
        thread.join();
        assert_eq!(*batches.lock().unwrap(), vec![4, 1]);
    }

    #[test]
    fn a_batch_larger_than_max_batch_is_not_split() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (q, thread) = InferenceQueue::start(Box::new(Echo(batches.clone())), 1, 4, 2);
        let inputs: Vec<_> = (0..3).map(|i| image(i as f32)).collect();
        assert_eq!(q.submit_batch(&inputs).unwrap().len(), 3);
        drop(q);
        thread.join();
        assert_eq!(*batches.lock().unwrap(), vec![3]);
    }
}
