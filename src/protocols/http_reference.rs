//! The parser as it was before the one pass: the byte-by-byte scan, then
//! `httparse` splitting the same bytes, then the `Host` and framing checks,
//! and the hello page's target rule. The tests hold the one pass to it on
//! every input they make.

use super::{scan_head, trim_ows, ErrorStatus, Scan, MAX_BODY_LEN, MAX_HEADERS};

/// The method, as the hello page cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Other,
}

/// A complete, valid request head, as the old parser described it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request {
    pub(super) method: Method,
    /// Path `/` with an optional query, in origin or absolute form.
    pub(super) path_ok: bool,
    pub(super) keep_alive: bool,
    pub http10: bool,
    pub(super) head_len: usize,
    pub(super) body_len: usize,
}

/// The old parser's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parsed {
    Partial,
    Request(Request),
    Error(ErrorStatus),
}

/// The old `parse_request`.
pub(super) fn parse_request(buf: &[u8]) -> Parsed {
    let (head_len, http10) = match scan_head(buf) {
        Scan::Partial => return Parsed::Partial,
        Scan::Error(status) => return Parsed::Error(status),
        Scan::Complete { head_len, http10 } => (head_len, http10),
    };
    let head = &buf[..head_len];
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(len)) if len == head_len => {}
        other => panic!("httparse disagrees with the scan: {other:?}"),
    }
    match check_head(&request, http10) {
        Ok((keep_alive, body_len)) => Parsed::Request(Request {
            method: match request.method {
                Some("GET") => Method::Get,
                Some("HEAD") => Method::Head,
                _ => Method::Other,
            },
            path_ok: request.path.is_some_and(is_hello_target),
            keep_alive,
            http10,
            head_len,
            body_len,
        }),
        Err(status) => Parsed::Error(status),
    }
}

fn check_head(request: &httparse::Request<'_, '_>, http10: bool) -> Result<(bool, usize), ErrorStatus> {
    let mut hosts = 0;
    let mut host_ok = true;
    let mut content_lengths = 0;
    let mut content_length: &[u8] = b"";
    let mut transfer_encoding = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            host_ok &=
                header.value.iter().copied().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b));
        } else if name.eq_ignore_ascii_case("content-length") {
            content_lengths += 1;
            content_length = header.value;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&b| b == b',') {
                let option = trim_ows(option);
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if hosts > 1 || (hosts == 0 && !http10) || !host_ok {
        return Err(ErrorStatus::BadRequest);
    }
    if content_lengths > 1 || (content_lengths == 1 && transfer_encoding) {
        return Err(ErrorStatus::BadRequest);
    }
    let body_len = if content_lengths == 1 {
        let value = content_length;
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return Err(ErrorStatus::BadRequest);
        }
        let len =
            value.iter().fold(0usize, |len, &digit| len.saturating_mul(10).saturating_add(usize::from(digit - b'0')));
        if len > MAX_BODY_LEN {
            return Err(ErrorStatus::PayloadTooLarge);
        }
        len
    } else {
        0
    };
    if transfer_encoding {
        return Err(if http10 { ErrorStatus::BadRequest } else { ErrorStatus::NotImplemented });
    }
    Ok((!close && (keep_alive || !http10), body_len))
}

fn is_hello_target(target: &str) -> bool {
    let strip = |prefix: &str| {
        let head = target.get(..prefix.len())?;
        head.eq_ignore_ascii_case(prefix).then(|| &target[prefix.len()..])
    };
    let path_and_query = if target.starts_with('/') {
        target
    } else if let Some(rest) = strip("http://").or_else(|| strip("https://")) {
        let (authority, path_and_query) = match rest.find(['/', '?']) {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return false;
        }
        path_and_query
    } else {
        return false;
    };
    let path = path_and_query.split_once('?').map_or(path_and_query, |(path, _query)| path);
    path == "/" || path.is_empty()
}
