//! The HTTP/1.1 connection loop: bounded connections (in all and per client address), a
//! deadline for request headers, and an idle deadline on every connection, so that clients
//! that open connections and send nothing (or stop sending a body half-way) cannot exhaust the
//! server's file descriptors or upload slots.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Limits of the connection loop.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Open connections at once; more are closed on accept.
    pub max_connections: usize,
    /// Open connections from one client address at once.
    pub max_per_address: usize,
    /// Time a client has to send a request's headers.
    pub header_timeout: Duration,
    /// A connection on which nothing is read or written for this long is closed (a stalled
    /// upload included; event streams send keep-alives more often).
    pub idle_timeout: Duration,
    /// Trusted proxies (`--trusted-proxies`) carry many clients' connections: the
    /// per-address limit does not apply to them.
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        let max = default_max_connections();
        Self {
            max_connections: max,
            max_per_address: (max / 4).clamp(16, 256),
            header_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            trusted_proxies: Arc::default(),
        }
    }
}

/// Below the process's file-descriptor limit, leaving room for the database, stored files and
/// the decoders.
pub fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    soft.saturating_sub(256).clamp(64, 16_384)
}

/// Connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

struct AddressSlot(Arc<PerAddress>, IpAddr);

impl PerAddress {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// A socket that notes when bytes last moved, in either direction.
struct Watched<S> {
    inner: S,
    last: Arc<AtomicU64>,
    epoch: Instant,
}

impl<S> Watched<S> {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Resolves when nothing has moved on the connection for `idle`.
async fn idle_for(last: Arc<AtomicU64>, epoch: Instant, idle: Duration) {
    loop {
        let since = Duration::from_millis(last.load(Ordering::Relaxed));
        let quiet = epoch.elapsed().saturating_sub(since);
        if quiet >= idle {
            return;
        }
        tokio::time::sleep(idle - quiet).await;
    }
}

/// Serves `app` on `listener` until `shutdown` turns true; then stops accepting, lets the
/// requests in progress finish and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_address = Arc::new(PerAddress::default());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let http = Arc::new(http);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|v| *v) => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of descriptors or similar: wait a moment instead of spinning.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while tasks.try_join_next().is_some() {}
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                "refused a connection from {peer}: {} connections are open (the limit)",
                limits.max_connections
            );
            continue; // dropping the stream closes it
        };
        let per_address_limit = if limits
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&peer.ip()))
        {
            usize::MAX
        } else {
            limits.max_per_address
        };
        let Some(address_slot) = per_address.enter(peer.ip(), per_address_limit) else {
            tracing::warn!(
                "refused a connection from {peer}: it has {} open (the per-address limit)",
                limits.max_per_address
            );
            continue;
        };
        let _ = stream.set_nodelay(true);
        let epoch = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let io = TokioIo::new(Watched {
            inner: stream,
            last: last.clone(),
            epoch,
        });
        let app = app.clone();
        let http = http.clone();
        let mut stop = shutdown.clone();
        let idle = limits.idle_timeout;
        tasks.spawn(async move {
            let _slots = (slot, address_slot);
            let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                app.clone().oneshot(req)
            });
            let conn = http.serve_connection(io, service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = idle_for(last.clone(), epoch, idle) => return, // drops the connection
                _ = stop.wait_for(|v| *v) => {}
            }
            // Shutting down: finish the request in progress, then close.
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = idle_for(last, epoch, idle) => {}
            }
        });
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_address_slots_are_counted_and_freed() {
        let p = Arc::new(PerAddress::default());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = p.enter(ip, 2).unwrap();
        let _b = p.enter(ip, 2).unwrap();
        assert!(p.enter(ip, 2).is_none());
        assert!(p.enter("10.0.0.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(p.enter(ip, 2).is_some());
    }

    #[test]
    fn the_connection_cap_is_below_the_descriptor_limit() {
        let n = default_max_connections();
        assert!((64..=16_384).contains(&n));
    }
}
