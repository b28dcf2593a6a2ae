//! Hand-off of preprocessed images from an upload to this process's scoring worker.
//!
//! An upload decodes its file once to accept it. Rather than the worker decoding the stored
//! file again, the upload preprocesses the pixels it already has (after answering the client)
//! and leaves the network's input here, keyed by content hash; a scoring job for that content
//! in the same process takes it and goes straight to the network. Workers in other processes,
//! and jobs whose entry was evicted or never completed, decode the stored file as before: the
//! result is the same tensor, so the hand-off changes only the time it takes.

use histoscore_engine::Prepared;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The most preprocessed images kept waiting (each about 0.6 MB).
pub const CAPACITY: usize = 32;

type Slot = watch::Receiver<Option<Arc<Prepared>>>;

/// Bounded, oldest-first: when full, a new entry pushes out the oldest.
#[derive(Default)]
pub struct Handoff {
    entries: Mutex<VecDeque<(String, Slot)>>,
}

/// Fills the entry it was made for; dropping it unfilled tells the waiting worker to decode
/// the file itself.
pub struct Filler(watch::Sender<Option<Arc<Prepared>>>);

impl Filler {
    pub fn fill(self, prepared: Prepared) {
        let _ = self.0.send(Some(Arc::new(prepared)));
    }
}

impl Handoff {
    /// Announces that the input for `sha256` is being prepared.
    pub fn announce(&self, sha256: &str) -> Filler {
        let (tx, rx) = watch::channel(None);
        let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        e.retain(|(k, _)| k != sha256);
        while e.len() >= CAPACITY {
            e.pop_front();
        }
        e.push_back((sha256.to_string(), rx));
        Filler(tx)
    }

    /// Takes the prepared input for `sha256`, waiting for it if it is being prepared; `None`
    /// when there is none (or its preparation was abandoned).
    pub async fn take(&self, sha256: &str) -> Option<Prepared> {
        let slot = {
            let mut e = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            let i = e.iter().position(|(k, _)| k == sha256)?;
            e.remove(i)?.1
        };
        let mut slot = slot;
        let ready = slot.wait_for(Option::is_some).await.ok()?;
        ready.as_deref().cloned()
    }

    /// Entries waiting.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use histoscore_engine::DecodedMeta;

    fn prepared(v: f32) -> Prepared {
        Prepared {
            image_meta: DecodedMeta {
                width: 1,
                height: 1,
                page: 0,
                format: "TIFF".into(),
                source_mode: "RGB".into(),
                warnings: Vec::new(),
            },
            tensor: vec![v; 3],
        }
    }

    #[tokio::test]
    async fn a_worker_waits_for_the_upload_that_is_preparing_its_input() {
        let h = Arc::new(Handoff::default());
        let filler = h.announce("a");
        let h2 = h.clone();
        let waiter = tokio::spawn(async move { h2.take("a").await });
        tokio::task::yield_now().await;
        filler.fill(prepared(1.0));
        assert_eq!(waiter.await.unwrap().unwrap().tensor, vec![1.0; 3]);
        assert!(h.take("a").await.is_none(), "taken once");
    }

    #[tokio::test]
    async fn an_abandoned_preparation_sends_the_worker_to_the_file() {
        let h = Handoff::default();
        drop(h.announce("a"));
        assert!(h.take("a").await.is_none());
        assert!(h.take("unknown").await.is_none());
    }

    #[tokio::test]
    async fn the_oldest_entries_make_room() {
        let h = Handoff::default();
        for i in 0..CAPACITY + 3 {
            h.announce(&format!("{i}")).fill(prepared(i as f32));
        }
        assert_eq!(h.len(), CAPACITY);
        assert!(h.take("0").await.is_none());
        assert_eq!(
            h.take(&format!("{}", CAPACITY + 2)).await.unwrap().tensor[0],
            (CAPACITY + 2) as f32
        );
    }
}
