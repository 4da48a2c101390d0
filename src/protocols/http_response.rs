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

#[cfg(test)]
mod tests {
    use super::{push_decimal, write_response};

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn response_page() {
        let mut out = b"previous".to_vec();
        write_response(
            &mut out,
            200,
            "OK",
            DATE,
            &[],
            Some("text/html; charset=utf-8"),
            b"<h1>Hello</h1>",
            false,
            false,
        );
        assert_eq!(
            out,
            b"previousHTTP/1.1 200 OK\r\n\
            Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
            Content-Length: 14\r\n\
            Content-Type: text/html; charset=utf-8\r\n\
            \r\n\
            <h1>Hello</h1>"
        );
    }

    #[test]
    fn response_head_only() {
        let mut out = Vec::new();
        write_response(&mut out, 200, "OK", DATE, &[], None, b"0123456789", true, false);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\n\
            Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
            Content-Length: 10\r\n\
            \r\n"
        );
    }

    #[test]
    fn response_error_close() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            405,
            "Method Not Allowed",
            DATE,
            &[("Allow", "GET, HEAD"), ("X-A", "")],
            Some("text/plain; charset=utf-8"),
            b"method not allowed\n",
            false,
            true,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 405 Method Not Allowed\r\n\
            Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
            Content-Length: 19\r\n\
            Connection: close\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\
            Allow: GET, HEAD\r\n\
            X-A: \r\n\
            \r\n\
            method not allowed\n"
        );
    }

    #[test]
    fn response_parses_back() {
        let mut out = Vec::new();
        let body = vec![b'x'; 1_234_567];
        write_response(&mut out, 599, "", b"", &[], None, &body, false, true);
        assert!(out.starts_with(b"HTTP/1.1 599 \r\nDate: \r\nContent-Length: 1234567\r\n"));
        let mut headers = [httparse::EMPTY_HEADER; 4];
        let mut response = httparse::Response::new(&mut headers);
        assert_eq!(response.parse(&out), Ok(httparse::Status::Complete(out.len() - body.len())));
    }

    #[test]
    fn decimal() {
        for n in [0, 7, 10, 99, 100, 65_535, 1_000_000, usize::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
