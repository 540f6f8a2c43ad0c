//! PostgreSQL's binary COPY format: a buffer that encodes rows in chunks worth a round trip,
//! field encoders, and an incremental decoder. Every bulk path of the store uses them.

use super::Result;
use chrono::{DateTime, Utc};
use smallvec::SmallVec;

/// The file signature that starts a binary COPY stream.
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
const CHUNK_BYTES: usize = 1 << 20;
/// 2000-01-01T00:00:00Z, PostgreSQL's timestamp epoch, in Unix microseconds.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// Encoded rows waiting to be sent, with the stream header first.
#[derive(Debug)]
pub struct CopyBuffer {
    buf: Vec<u8>,
    rows: u64,
}

impl Default for CopyBuffer {
    fn default() -> Self {
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
        // Signature, flags, header extension length.
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0u32.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        Self { buf, rows: 0 }
    }
}

impl CopyBuffer {
    /// Starts a row of `fields` fields; the caller appends them to the returned buffer.
    pub fn row(&mut self, fields: u16) -> &mut Vec<u8> {
        self.rows += 1;
        self.buf.extend_from_slice(&fields.to_be_bytes());
        &mut self.buf
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Whether enough is buffered to be worth a round trip.
    pub fn chunk_ready(&self) -> bool {
        self.buf.len() >= CHUNK_BYTES
    }

    pub fn take_chunk(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096))
    }

    /// The last chunk, with the end-of-data marker.
    pub fn take_last_chunk(&mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.take_chunk()
    }

    #[cfg(test)]
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// A field or array element: its length, then its bytes.
pub fn field(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn null(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(-1i32).to_be_bytes());
}

pub fn text(buf: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => field(buf, s.as_bytes()),
        None => null(buf),
    }
}

pub fn float(buf: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(x) => field(buf, &x.to_be_bytes()),
        None => null(buf),
    }
}

pub fn int4(buf: &mut Vec<u8>, v: Option<i32>) {
    match v {
        Some(x) => field(buf, &x.to_be_bytes()),
        None => null(buf),
    }
}

pub fn int8(buf: &mut Vec<u8>, v: i64) {
    field(buf, &v.to_be_bytes());
}

pub fn timestamp(buf: &mut Vec<u8>, t: DateTime<Utc>) {
    int8(buf, t.timestamp_micros() - PG_EPOCH_MICROS);
}

/// An incremental decoder of PostgreSQL's binary COPY format.
pub struct CopyDecoder {
    buf: Vec<u8>,
    fields: usize,
    header_done: bool,
    ended: bool,
}

impl CopyDecoder {
    pub fn new(fields: usize) -> Self {
        Self {
            buf: Vec::new(),
            fields,
            header_done: false,
            ended: false,
        }
    }

    /// Decodes the rows `chunk` completes. PostgreSQL sends one row per message: rows whole
    /// in a chunk are read where they are, and only a partial row is kept for the next.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        mut row: impl FnMut(&[Option<&[u8]>]) -> Result<()>,
    ) -> Result<()> {
        if self.buf.is_empty() {
            let used = self.rows(chunk, &mut row)?;
            self.buf.extend_from_slice(&chunk[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.buf);
            buf.extend_from_slice(chunk);
            let used = self.rows(&buf, &mut row);
            buf.drain(..*used.as_ref().unwrap_or(&0));
            self.buf = buf;
            used?;
        }
        Ok(())
    }

    /// Decodes the whole rows at the start of `buf`; returns the bytes they took.
    fn rows(
        &mut self,
        buf: &[u8],
        row: &mut impl FnMut(&[Option<&[u8]>]) -> Result<()>,
    ) -> Result<usize> {
        let mut at = 0;
        let read_i32 = |at: usize| i32::from_be_bytes(buf[at..at + 4].try_into().expect("4"));
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(decode("not a binary COPY stream"));
            }
            let ext = read_i32(15) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            at = 19 + ext;
            self.header_done = true;
        }
        let mut fields: SmallVec<[Option<&[u8]>; 8]> = SmallVec::with_capacity(self.fields);
        'rows: while !self.ended && at + 2 <= buf.len() {
            let count = i16::from_be_bytes([buf[at], buf[at + 1]]);
            if count == -1 {
                self.ended = true;
                at += 2;
                break;
            }
            if count as usize != self.fields {
                return Err(decode(format!("unexpected field count {count}")));
            }
            let mut p = at + 2;
            fields.clear();
            for _ in 0..count {
                if p + 4 > buf.len() {
                    break 'rows;
                }
                let len = read_i32(p);
                p += 4;
                if len < 0 {
                    fields.push(None);
                } else {
                    let len = len as usize;
                    if p + len > buf.len() {
                        break 'rows;
                    }
                    fields.push(Some(&buf[p..p + len]));
                    p += len;
                }
            }
            row(&fields)?;
            at = p;
        }
        Ok(at)
    }

    pub fn finish(&self) -> Result<()> {
        if !(self.ended && self.buf.is_empty()) {
            return Err(decode("the COPY stream ended early"));
        }
        Ok(())
    }
}

/// Rows encoded for COPY into a [`CopyBuffer`]: the customer staging, order staging and
/// assignment encoders are one each.
pub trait Encoded {
    fn buffer(&mut self) -> &mut CopyBuffer;
}

impl Encoded for CopyBuffer {
    fn buffer(&mut self) -> &mut CopyBuffer {
        self
    }
}

/// A `COPY … FROM STDIN` in progress on a transaction's connection: send the encoded
/// chunks as they fill, then `finish_with` the rest (or `abort` to fail the COPY).
pub struct CopyIn<'c>(sqlx::postgres::PgCopyIn<&'c mut sqlx::PgConnection>);

impl<'c> CopyIn<'c> {
    /// Starts `statement` (a `COPY … FROM STDIN`) on the connection.
    pub(super) async fn start(conn: &'c mut sqlx::PgConnection, statement: &str) -> Result<Self> {
        Ok(Self(conn.copy_in_raw(statement).await?))
    }

    async fn send(&mut self, chunk: impl std::ops::Deref<Target = [u8]>) -> Result<()> {
        self.0.send(chunk).await?;
        Ok(())
    }

    /// Sends what `rows` has buffered, once that is worth a round trip.
    pub async fn send_ready(&mut self, rows: &mut impl Encoded) -> Result<()> {
        let buffer = rows.buffer();
        if buffer.chunk_ready() {
            self.send(buffer.take_chunk()).await?;
        }
        Ok(())
    }

    /// Sends the rest of `rows` with the end-of-data marker and ends the COPY; returns the
    /// rows PostgreSQL received.
    pub async fn finish_with(mut self, rows: &mut impl Encoded) -> Result<u64> {
        self.send(rows.buffer().take_last_chunk()).await?;
        Ok(self.0.finish().await?)
    }

    pub async fn abort(self, why: impl Into<String>) -> Result<()> {
        Ok(self.0.abort(why).await?)
    }

    /// Ends the COPY by how feeding it went: finished with the rest of `rows` when `fed` is
    /// `Ok`, aborted when it is an error (which is returned). A COPY left open would leave its
    /// connection mid-protocol, lost to the pool, so every path that starts one ends here.
    pub async fn end<T, E: From<super::Error>>(
        self,
        fed: std::result::Result<T, E>,
        rows: &mut impl Encoded,
    ) -> std::result::Result<T, E> {
        match fed {
            Ok(value) => {
                self.finish_with(rows).await?;
                Ok(value)
            }
            Err(e) => {
                self.abort("the input was refused").await?;
                Err(e)
            }
        }
    }
}

pub(super) fn decode(
    message: impl std::fmt::Display + std::fmt::Debug + Send + Sync + 'static,
) -> super::Error {
    super::Error::Decode(anyhow::Error::msg(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(rows: &[(&str, Option<f64>)]) -> Vec<u8> {
        let mut b = SIGNATURE.to_vec();
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        for (id, v) in rows {
            b.extend_from_slice(&2i16.to_be_bytes());
            b.extend_from_slice(&(id.len() as i32).to_be_bytes());
            b.extend_from_slice(id.as_bytes());
            match v {
                Some(v) => {
                    b.extend_from_slice(&8i32.to_be_bytes());
                    b.extend_from_slice(&v.to_be_bytes());
                }
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b
    }

    const ROWS: [(&str, Option<f64>); 3] = [("a", Some(1.5)), ("bé", None), ("c", Some(-2.0))];

    /// The rows of [`ROWS`]' stream fed to a decoder in these parts.
    fn decoded<'a>(parts: impl Iterator<Item = &'a [u8]>) -> Vec<(String, Option<f64>)> {
        let mut d = CopyDecoder::new(2);
        let mut seen = Vec::new();
        for part in parts {
            d.feed(part, |f| {
                seen.push((
                    String::from_utf8(f[0].unwrap().to_vec())?,
                    f[1].map(|b| f64::from_be_bytes(b.try_into().unwrap())),
                ));
                Ok(())
            })
            .unwrap();
        }
        d.finish().unwrap();
        seen
    }

    #[test]
    fn decodes_rows_split_at_every_byte() {
        let bytes = stream(&ROWS);
        let want: Vec<_> = ROWS.iter().map(|(i, v)| (i.to_string(), *v)).collect();
        for split in 0..bytes.len() {
            let parts = [&bytes[..split], &bytes[split..]];
            assert_eq!(decoded(parts.into_iter()), want, "split at {split}");
        }
    }

    #[test]
    fn decodes_rows_fed_a_byte_at_a_time_and_whole() {
        let bytes = stream(&ROWS);
        let want: Vec<_> = ROWS.iter().map(|(i, v)| (i.to_string(), *v)).collect();
        for size in [1, 3, 7, bytes.len()] {
            assert_eq!(decoded(bytes.chunks(size)), want, "chunks of {size}");
        }
    }

    #[test]
    fn a_truncated_stream_is_an_error() {
        let bytes = stream(&[("a", Some(1.0))]);
        let mut d = CopyDecoder::new(2);
        d.feed(&bytes[..bytes.len() - 2], |_| Ok(())).unwrap();
        assert!(d.finish().is_err());
    }
}
