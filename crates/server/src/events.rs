//! Record changes pushed to clients as server-sent events.
//!
//! One task per server process follows the database's change feed (`Store::changes_since`),
//! so changes made by any process (another server, a `histoscore worker` elsewhere) reach
//! every client. Local writes wake the task at once; otherwise it looks twice a second.

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::Stream;
use histoscore_store::{Change, Store};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch, Notify};

use crate::AppState;

#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Change>,
    wake: Arc<Notify>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Self {
            tx,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Something changed here: look at the database now.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.tx.subscribe()
    }

    /// Follows the change feed until `stop` turns true.
    pub async fn follow(self, store: Store, mut stop: watch::Receiver<bool>) {
        let mut mark: Option<String> = None;
        loop {
            match store.changes_since(mark.as_deref(), 500).await {
                Ok((changes, m)) => {
                    let full = changes.len() == 500;
                    for c in changes {
                        // No subscribers is fine.
                        let _ = self.tx.send(c);
                    }
                    mark = Some(m);
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!("reading the change feed failed: {e}"),
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }
}

/// `GET /api/events`: `event: image` with `{id, status, version, deleted}` for every changed
/// record; `event: resync` when this client fell behind and should reload what it shows.
#[utoipa::path(get, path = "/api/events", tag = "images",
    responses((status = 200, description = "text/event-stream of `image` and `resync` events", content_type = "text/event-stream")))]
pub async fn events(
    State(s): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = s.events.subscribe();
    let stop = s.shutdown.clone();
    // Ends when the server shuts down, so graceful shutdown does not wait for clients.
    let stream = futures_util::stream::unfold((rx, stop), |(mut rx, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let got = tokio::select! {
            _ = stop.changed() => return None,
            got = rx.recv() => got,
        };
        let event = match got {
            Ok(c) => Event::default()
                .event("image")
                .data(serde_json::to_string(&c).unwrap_or_default()),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                Event::default().event("resync").data("{}")
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, stop)))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
