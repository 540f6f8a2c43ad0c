//! Request bodies as they come: plain, or compressed (`Content-Encoding: gzip`) so that a CRM
//! uploads a large export as it is. A compressed body is decoded as it streams in, through a
//! fixed 64 KiB buffer, so the server's memory stays flat whatever the compression ratio, and
//! what it decodes to is bounded: a small body cannot expand without end.

use crate::error::Error;
use actix_web::HttpRequest;
use actix_web::http::header;
use bytes::Bytes;
use futures_util::stream::{LocalBoxStream, StreamExt, TryStreamExt};

/// The most bytes a compressed import may decode to (`--max-decompressed-bytes`).
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimit(pub u64);

/// An import's body: any size as it is; compressed, at most the [`DecodeLimit`] decoded.
pub fn import_body(
    req: &HttpRequest,
    payload: actix_web::web::Payload,
) -> Result<LocalBoxStream<'static, Result<Bytes, Error>>, Error> {
    let max = req
        .app_data::<DecodeLimit>()
        .map_or(DEFAULT_DECODE_LIMIT, |l| l.0);
    decoded(
        req,
        payload.into_inner(),
        |encoding| (encoding != Encoding::Identity).then_some(max),
        |limit| {
            Error::PayloadTooLarge(format!(
                "the compressed body decodes to more than the limit of {limit} bytes \
                 (--max-decompressed-bytes)"
            ))
        },
    )
}

/// 4 GiB.
pub const DEFAULT_DECODE_LIMIT: u64 = 4 << 30;

/// Decoded output is produced in pieces of at most this many bytes.
const PIECE: usize = 64 * 1024;

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// The body's `Content-Encoding`: none, `identity` or `gzip` (`x-gzip`); anything else is a
/// 415 saying what is accepted.
pub fn encoding(req: &HttpRequest) -> Result<Encoding, Error> {
    let Some(value) = req.headers().get(header::CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let Ok(given) = value.to_str() else {
        return Err(Error::UnsupportedMediaType(
            "Content-Encoding is not visible ASCII; send the body as it is or with `gzip`".into(),
        ));
    };
    let given = given.trim().to_ascii_lowercase();
    match given.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        _ => Err(Error::UnsupportedMediaType(format!(
            "Content-Encoding: {} is not accepted here; send the body as it is or with `gzip`",
            crate::error::quote(&given)
        ))),
    }
}

/// The body, decoded, as a stream of pieces. When it decodes to more than `limit(encoding)`
/// bytes the stream ends with `too_large(limit)`. A body that is not valid gzip ends it with
/// a 400.
pub fn decoded(
    req: &HttpRequest,
    payload: actix_web::dev::Payload,
    limit: impl FnOnce(Encoding) -> Option<u64>,
    too_large: fn(u64) -> Error,
) -> Result<LocalBoxStream<'static, Result<Bytes, Error>>, Error> {
    let encoding = encoding(req)?;
    let limit = limit(encoding);
    let read_error = |e: actix_web::error::PayloadError| {
        Error::Malformed(format!("could not read the request body: {e}"))
    };
    let pieces = match encoding {
        Encoding::Identity => payload.map_err(read_error).boxed_local(),
        Encoding::Gzip => {
            let compressed =
                tokio_util::io::StreamReader::new(payload.map_err(std::io::Error::other));
            let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(compressed);
            // `gzip a b > ab` concatenates members: all of them are the body.
            decoder.multiple_members(true);
            tokio_util::io::ReaderStream::with_capacity(decoder, PIECE)
                .map_err(|e| {
                    Error::Malformed(format!(
                        "could not read the request body: it is not valid gzip ({e})"
                    ))
                })
                .boxed_local()
        }
    };
    let Some(limit) = limit else {
        return Ok(pieces);
    };
    Ok(pieces
        .scan((0u64, false), move |(seen, ended), piece| {
            if *ended {
                return std::future::ready(None);
            }
            let piece = piece.and_then(|bytes| {
                *seen += bytes.len() as u64;
                if *seen > limit {
                    Err(too_large(limit))
                } else {
                    Ok(bytes)
                }
            });
            // An error is the stream's last item.
            *ended = piece.is_err();
            std::future::ready(Some(piece))
        })
        .boxed_local())
}
