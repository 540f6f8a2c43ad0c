//! Database work that a request cannot cut short.
//!
//! A handler's future is dropped when its client goes away. Dropped in the middle of a
//! `COPY`, it would leave the connection mid-protocol and lose it to the pool for good. So the
//! writes run on their own task: [`detached`] for work whose input is already read, and
//! [`streamed`] for imports that read the body as it arrives. The request only forwards the
//! body's chunks; a body that stops without its end reaches the task as an error, and the task
//! ends its `COPY` and rolls back as on any other error.

use crate::error::{Error, Result};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Chunks buffered between the request and the task.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Runs `work` on its own task and waits for it: dropping the caller does not stop it.
pub async fn detached<T, F>(work: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work).await.map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "the database work of a request failed: {e}"
        ))
    })?
}

/// One piece of a request body, as forwarded to the task.
enum Piece {
    Data(Bytes),
    Failed(Error),
    End,
}

/// The request body as the task sees it.
pub struct Body {
    pieces: mpsc::Receiver<Piece>,
    ended: bool,
}

impl Stream for Body {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let piece = std::task::ready!(self.pieces.poll_recv(cx));
        Poll::Ready(match piece {
            Some(Piece::Data(bytes)) => Some(Ok(bytes)),
            Some(Piece::Failed(e)) => {
                self.ended = true;
                Some(Err(e))
            }
            Some(Piece::End) => {
                self.ended = true;
                None
            }
            None => {
                self.ended = true;
                Some(Err(Error::Malformed(
                    "could not read the request body: the client went away before it ended"
                        .to_owned(),
                )))
            }
        })
    }
}

/// Runs `work` on its own task, feeding it `body` as it arrives.
pub async fn streamed<S, T, F, Fut>(mut body: S, work: F) -> Result<T>
where
    S: Stream<Item = Result<Bytes>> + Unpin,
    F: FnOnce(Body) -> Fut,
    Fut: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (sender, pieces) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let task = tokio::spawn(work(Body {
        pieces,
        ended: false,
    }));
    loop {
        let piece = match body.next().await {
            Some(Ok(bytes)) => Piece::Data(bytes),
            Some(Err(e)) => Piece::Failed(e),
            None => Piece::End,
        };
        let last = !matches!(piece, Piece::Data(_));
        // A task that stopped reading (it found an error) has its answer ready.
        if sender.send(piece).await.is_err() || last {
            break;
        }
    }
    drop(sender);
    task.await.map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "the database work of an import failed: {e}"
        ))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    async fn collect(body: Body) -> Result<Vec<u8>> {
        let mut body = body;
        let mut all = Vec::new();
        while let Some(chunk) = body.next().await {
            all.extend_from_slice(&chunk?);
        }
        Ok(all)
    }

    #[tokio::test]
    async fn the_task_reads_the_whole_body() {
        let chunks = vec![Ok(Bytes::from("ab")), Ok(Bytes::from("cd"))];
        let got = streamed(stream::iter(chunks), collect).await.unwrap();
        assert_eq!(got, b"abcd");
    }

    #[tokio::test]
    async fn a_body_error_reaches_the_task() {
        let chunks = vec![
            Ok(Bytes::from("ab")),
            Err(Error::Malformed("reset".to_owned())),
        ];
        let err = streamed(stream::iter(chunks), collect).await.unwrap_err();
        assert!(err.to_string().contains("reset"), "{err}");
    }

    #[tokio::test]
    async fn a_request_dropped_mid_body_ends_the_task_with_an_error() {
        let (done, seen) = tokio::sync::oneshot::channel();
        let body = stream::iter(vec![Ok(Bytes::from("ab"))]).chain(stream::pending());
        let request = streamed(body, |b| async move {
            let r = collect(b).await;
            let _ = done.send(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            r
        });
        // The request waits for a body that never ends; the client goes away.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(50), request).await;
        let outcome = seen.await.unwrap();
        assert!(outcome.unwrap_err().contains("went away"));
    }
}
