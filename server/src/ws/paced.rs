//! A socket's connection that notes when the peer last took some of what was written. A
//! write to a peer whose receive window stays shut (a frozen tab's, or a hostile
//! client's) waits for good, and while it waits nothing else of that socket runs: its
//! close requests, its idle check, its user's place and presence. The socket gives up on
//! such a write once nothing was taken for its idle timeout, yet lets a slow but moving
//! link take a snapshot of megabytes for as long as it keeps taking it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// When the peer last took bytes, shared by the connection and the socket's task.
#[derive(Debug)]
pub struct Pace {
    start: Instant,
    /// Milliseconds after `start`.
    took_at: AtomicU64,
}

impl Pace {
    /// How long the peer has taken nothing written.
    pub fn idle_for(&self) -> Duration {
        let took_at = Duration::from_millis(self.took_at.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(took_at)
    }

    fn took(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.took_at.store(now, Ordering::Relaxed);
    }
}

/// `io`, noting in its [`Pace`] each write the peer takes.
#[derive(Debug)]
pub struct Paced<T> {
    io: T,
    pace: Arc<Pace>,
}

impl<T> Paced<T> {
    pub fn new(io: T) -> Self {
        Self {
            io,
            pace: Arc::new(Pace {
                start: Instant::now(),
                took_at: AtomicU64::new(0),
            }),
        }
    }

    pub fn pace(&self) -> Arc<Pace> {
        self.pace.clone()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Paced<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Paced<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.pace.took();
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.pace.took();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test(start_paused = true)]
    async fn a_write_the_peer_takes_resets_the_idle_time() {
        let (near, _far) = tokio::io::duplex(4);
        let mut paced = Paced::new(near);
        let pace = paced.pace();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(pace.idle_for(), Duration::from_secs(5));
        assert!(paced.write_all(b"abcd").await.is_ok());
        assert_eq!(pace.idle_for(), Duration::ZERO);
        // The peer reads nothing: a full pipe takes no more, and the idle time grows.
        let more = tokio::time::timeout(Duration::from_secs(3), paced.write_all(b"e")).await;
        assert!(more.is_err(), "the write waits on the peer");
        assert_eq!(pace.idle_for(), Duration::from_secs(3));
    }
}
