//! Writing an HTTP/1.1 response (a submodule of `protocols::http`).

/// Appends a complete HTTP/1.1 response to `out`.
///
/// Writes the status line `HTTP/1.1 {status} {reason}`, then `Date: {date}`
/// (`date` is an IMF-fixdate such as `Sun, 06 Nov 1994 08:49:37 GMT`),
/// `Content-Length: {body.len()}` (always, also for `HEAD`),
/// `Connection: close` when `close`, `Content-Type` when given, then each of
/// `extra_headers` as `name: value` (e.g. `("Allow", "GET, HEAD")`), the empty
/// line, and `body` unless `head_only`. Lines end in CRLF. The strings must
/// not contain CR or LF. Allocates nothing but the growth of `out`.
#[allow(clippy::too_many_arguments)]
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &str,
    date: &[u8],
    extra_headers: &[(&str, &str)],
    content_type: Option<&str>,
    body: &[u8],
    head_only: bool,
    close: bool,
) {
    debug_assert!(!has_line_break(reason.as_bytes()) && !has_line_break(date));
    debug_assert!(extra_headers.iter().all(|(n, v)| !has_line_break(n.as_bytes()) && !has_line_break(v.as_bytes())));
    debug_assert!(content_type.map_or(true, |t| !has_line_break(t.as_bytes())));

    let extra_len: usize = extra_headers.iter().map(|(name, value)| name.len() + value.len() + 4).sum();
    out.reserve(
        128 + reason.len()
            + date.len()
            + extra_len
            + content_type.map_or(0, str::len)
            + if head_only { 0 } else { body.len() },
    );

    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, usize::from(status));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nContent-Length: ");
    push_decimal(out, body.len());
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if let Some(content_type) = content_type {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(content_type.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in extra_headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(body);
    }
}

/// Whether `s` holds a CR or an LF.
fn has_line_break(s: &[u8]) -> bool {
    s.iter().any(|&b| b == b'\r' || b == b'\n')
}

/// Appends `n` in decimal.
pub(super) fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        *slot = b"0123456789"[n % 10];
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(start..).unwrap_or_default());
}
