//! The slow path of `protocols::http`: the byte-by-byte scan of a head the
//! one pass did not accept (incomplete, or wrong), which decides each error
//! at the byte that makes it visible, in the order the contract gives.

use super::*;

/// What the byte-by-byte scan found at the front of the buffer.
pub(super) enum Scan {
    /// No error visible yet, head incomplete.
    Partial,
    /// The first error, in byte order.
    Error(ErrorStatus),
    /// A syntactically valid head within the limits (what it holds is for
    /// the tests' reference parser).
    #[cfg_attr(not(test), allow(dead_code))]
    Complete {
        /// Its length, final empty line included.
        head_len: usize,
        /// HTTP/1.0 (else HTTP/1.1).
        http10: bool,
    },
}

/// Checks the head's syntax and limits byte by byte, deciding each error at
/// the byte that makes it visible: the slow path, for heads the one pass
/// did not accept.
#[cold]
#[inline(never)]
pub(super) fn scan_head(buf: &[u8]) -> Scan {
    use ErrorStatus::{BadRequest, HeaderFieldsTooLarge, UriTooLong, VersionNotSupported};

    // The byte at an index, or Partial when it has not arrived yet.
    macro_rules! byte_at {
        ($i:expr) => {
            match buf.get($i) {
                Some(&b) => b,
                None => return Scan::Partial,
            }
        };
    }

    let mut i = 0;

    // Empty lines before the request line: skipped, but counted against the
    // request line's limit so that they cannot pile up.
    loop {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        match b {
            b'\n' => i += 1,
            b'\r' if byte_at!(i + 1) == b'\n' => i += 2,
            b'\r' => return Scan::Error(BadRequest),
            _ => break,
        }
    }

    // Method: a token, then exactly one space.
    let method_start = i;
    loop {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        if b == b' ' && i > method_start {
            i += 1;
            break;
        }
        if !is_tchar(b) {
            return Scan::Error(BadRequest);
        }
        i += 1;
    }

    // Target: visible ASCII, then exactly one space.
    let target_start = i;
    loop {
        let b = byte_at!(i);
        if b == b' ' && i > target_start {
            i += 1;
            break;
        }
        if i >= MAX_REQUEST_LINE_LEN || i - target_start >= MAX_TARGET_LEN {
            return Scan::Error(UriTooLong);
        }
        if !b.is_ascii_graphic() {
            return Scan::Error(BadRequest);
        }
        i += 1;
    }

    // Version: exactly `HTTP/d.d`, then the line ending.
    let (mut major, mut minor) = (0, 0);
    for (k, &want) in b"HTTP/#.#".iter().enumerate() {
        let b = byte_at!(i);
        if i >= MAX_REQUEST_LINE_LEN {
            return Scan::Error(UriTooLong);
        }
        let ok = if want == b'#' { b.is_ascii_digit() } else { b == want };
        if !ok {
            return Scan::Error(BadRequest);
        }
        match k {
            5 => major = b,
            7 => minor = b,
            _ => {}
        }
        i += 1;
    }
    match byte_at!(i) {
        b'\n' => i += 1,
        b'\r' if byte_at!(i + 1) == b'\n' => i += 2,
        _ => return Scan::Error(BadRequest),
    }
    if major != b'1' || (minor != b'0' && minor != b'1') {
        return Scan::Error(VersionNotSupported);
    }
    let http10 = minor == b'0';

    // Header section: field lines until an empty line.
    let section_start = i;
    let mut fields = 0;
    loop {
        // Start of a line: the final empty line, or a new field.
        let b = byte_at!(i);
        match b {
            b'\n' => return Scan::Complete { head_len: i + 1, http10 },
            b'\r' if byte_at!(i + 1) == b'\n' => return Scan::Complete { head_len: i + 2, http10 },
            _ => {}
        }
        fields += 1;
        if i - section_start >= MAX_HEADER_SECTION_LEN || fields > MAX_HEADERS {
            return Scan::Error(HeaderFieldsTooLarge);
        }
        // Also refuses a bare CR, and a space or tab (obs-fold).
        if !is_tchar(b) {
            return Scan::Error(BadRequest);
        }
        i += 1;

        // The rest of the name, up to the colon.
        loop {
            let b = byte_at!(i);
            if i - section_start >= MAX_HEADER_SECTION_LEN {
                return Scan::Error(HeaderFieldsTooLarge);
            }
            i += 1;
            if b == b':' {
                break;
            }
            if !is_tchar(b) {
                return Scan::Error(BadRequest);
            }
        }

        // The value, up to and including the line ending.
        loop {
            let b = byte_at!(i);
            if i - section_start >= MAX_HEADER_SECTION_LEN {
                return Scan::Error(HeaderFieldsTooLarge);
            }
            match b {
                b'\n' => {
                    i += 1;
                    break;
                }
                b'\r' => {
                    if byte_at!(i + 1) != b'\n' {
                        return Scan::Error(BadRequest);
                    }
                    if i + 1 - section_start >= MAX_HEADER_SECTION_LEN {
                        return Scan::Error(HeaderFieldsTooLarge);
                    }
                    i += 2;
                    break;
                }
                b'\t' | b' '..=b'~' | 0x80..=0xff => i += 1,
                _ => return Scan::Error(BadRequest),
            }
        }
    }
}
