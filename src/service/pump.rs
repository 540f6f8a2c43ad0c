//! The streaming pump every CSV import runs: the body's chunks as they arrive → CSV records
//! → a mapping's rows → one binary `COPY`, sent whenever a chunk of rows is ready while the
//! file is still good, and ended (finished, or aborted when the file is refused) on every
//! path. Memory stays flat however large the file.

use crate::error::Result;
use crate::ingest::csv::{Record, RecordReader};
use crate::service::detach::Body;
use crate::store::copy::{CopyIn, Encoded};
use futures_util::StreamExt;

/// Where the pump's records go: a mapping (customers', orders') and the encoder of the rows
/// it makes.
pub trait RecordSink {
    type Rows: Encoded;

    /// Reads one record (a bad one is remembered, not returned: only what refuses the whole
    /// body at once, such as an undecodable header, is an `Err`).
    fn record(&mut self, record: Record<'_>) -> Result<()>;

    /// The encoded rows waiting to be sent.
    fn rows(&mut self) -> &mut Self::Rows;

    /// Whether every record so far was good (rows are sent only then).
    fn clean(&self) -> bool;

    /// At the body's end: the error that refuses the file, if any.
    fn verdict(&self) -> Result<()>;
}

/// Pumps the rest of `body` (unless it has `ended` already) through `reader` into `sink`,
/// feeding `copy`; ends the `COPY` either way. Rows the sink made before the call go first.
pub async fn pump<S: RecordSink>(
    copy: CopyIn<'_>,
    body: &mut Body,
    ended: bool,
    reader: &mut RecordReader,
    sink: &mut S,
) -> Result<()> {
    let mut copy = copy;
    let fed = async {
        if !ended {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                reader.feed(&chunk, &mut |r: Record<'_>| sink.record(r))?;
                if sink.clean() {
                    copy.send_ready(sink.rows()).await?;
                }
            }
            reader.finish(&mut |r: Record<'_>| sink.record(r))?;
        }
        sink.verdict()
    }
    .await;
    copy.end(fed, sink.rows()).await
}
