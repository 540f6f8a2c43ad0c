//! The one spelling of a path the gate accepts: RFC 3986's normal form.
//!
//! The router matches a path with its escapes decoded (`/%761/keys` is `/v1/keys`), and the
//! gate decides on that same decoded path, so no spelling can reach an operation other than
//! the one decided on. A path that is not in normal form is refused before anything is
//! decided anyway (400, naming what is wrong): no client needs one, and logs, audit and rate
//! limits then see one spelling per resource.
//!
//! Refused: a `%` not followed by two hex digits; an escaped unreserved character (`%76` for
//! `v`, `%2E` for `.`, which clients never escape: RFC 3986 §6.2.2.2); escapes that do not
//! decode to UTF-8 (overlong forms such as `%C0%AF`, lone bytes); `.` and `..` segments;
//! empty segments (`//`) but a trailing one. Escapes of other characters (`%2F` or `%20`
//! inside an id, `%3F`) are how ids carry them: the router keeps `%2F` escaped, so an
//! escaped slash never separates segments.

/// Why a path is not in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NonCanonical {
    /// Not `/`-rooted (`*`, or an absolute form the request line should not carry).
    NotRooted,
    /// A `%` not followed by two hex digits, at this byte offset.
    BadEscape(usize),
    /// `%XX` standing for an unreserved character, which is sent as it is.
    EscapedUnreserved { escape: String, character: char },
    /// The escapes decode to bytes that are not UTF-8 (an overlong or cut sequence).
    NotUtf8,
    /// A `.` or `..` segment.
    DotSegment,
    /// An empty segment (`//`) before the last.
    EmptySegment,
}

impl std::fmt::Display for NonCanonical {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NonCanonical::NotRooted => f.write_str("the path does not start with `/`"),
            NonCanonical::BadEscape(at) => write!(
                f,
                "the `%` at byte {at} of the path is not followed by two hex digits"
            ),
            NonCanonical::EscapedUnreserved { escape, character } => write!(
                f,
                "the path spells `{character}` as `{escape}`: send letters, digits and `-._~` \
                 as they are, unescaped"
            ),
            NonCanonical::NotUtf8 => f.write_str(
                "the path's escapes do not decode to UTF-8 (an overlong or cut sequence)",
            ),
            NonCanonical::DotSegment => {
                f.write_str("the path has a `.` or `..` segment: send the path they resolve to")
            }
            NonCanonical::EmptySegment => f.write_str("the path has an empty segment (`//`)"),
        }
    }
}

fn unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// `Ok` when `path` (as the request line sent it) is in canonical form.
pub fn check(path: &str) -> Result<(), NonCanonical> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(NonCanonical::NotRooted);
    }
    if memchr::memchr(b'%', bytes).is_some() {
        check_escapes(bytes)?;
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        match segment {
            "." | ".." => return Err(NonCanonical::DotSegment),
            "" if segments.peek().is_some() => return Err(NonCanonical::EmptySegment),
            _ => {}
        }
    }
    Ok(())
}

/// Every escape is well formed, none stands for an unreserved character, and the path
/// decodes to UTF-8.
fn check_escapes(bytes: &[u8]) -> Result<(), NonCanonical> {
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            decoded.push(bytes[i]);
            i += 1;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            return Err(NonCanonical::BadEscape(i));
        };
        let byte = high << 4 | low;
        if unreserved(byte) {
            return Err(NonCanonical::EscapedUnreserved {
                escape: String::from_utf8_lossy(&bytes[i..i + 3]).into_owned(),
                character: byte as char,
            });
        }
        decoded.push(byte);
        i += 3;
    }
    std::str::from_utf8(&decoded).map_err(|_| NonCanonical::NotUtf8)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_form_passes_and_every_other_spelling_is_named() {
        for fine in [
            "/",
            "/v1/customers",
            "/v1/customers/0001",
            "/v1/customers/a%2Fb",
            "/v1/customers/Jo%20Ann",
            "/v1/customers/%C3%A9t%C3%A9",
            "/v1/customers/a;b",
            "/v1/customers/a%3Fb",
            "/docs/",
            "/v1/customers/..a",
        ] {
            assert_eq!(check(fine), Ok(()), "{fine}");
        }
        let cases: &[(&str, NonCanonical)] = &[
            ("*", NonCanonical::NotRooted),
            ("/%761/keys", unreserved_escape("%76", 'v')),
            ("/v1/%63ustomers", unreserved_escape("%63", 'c')),
            ("/v1/customers/%30001", unreserved_escape("%30", '0')),
            ("/v1/%2E/customers", unreserved_escape("%2E", '.')),
            ("/v1/customers/%7e", unreserved_escape("%7e", '~')),
            ("/v1/customers/%", NonCanonical::BadEscape(14)),
            ("/v1/customers/%4", NonCanonical::BadEscape(14)),
            ("/v1/customers/%zz", NonCanonical::BadEscape(14)),
            ("/v1/customers/%C0%AF", NonCanonical::NotUtf8),
            ("/v1/customers/%FF", NonCanonical::NotUtf8),
            ("/v1/customers/%C3", NonCanonical::NotUtf8),
            ("/v1/./customers", NonCanonical::DotSegment),
            ("/v1/customers/..", NonCanonical::DotSegment),
            ("/v1/x/../customers", NonCanonical::DotSegment),
            ("//v1/customers", NonCanonical::EmptySegment),
            ("/v1//customers", NonCanonical::EmptySegment),
        ];
        for (path, why) in cases {
            assert_eq!(check(path).as_ref(), Err(why), "{path}");
        }
    }

    fn unreserved_escape(escape: &str, character: char) -> NonCanonical {
        NonCanonical::EscapedUnreserved {
            escape: escape.to_owned(),
            character,
        }
    }
}
