//! Heads as a server reads them: requests pipelined in one buffer, every
//! split of a head into two reads, and the limits seen before a head ends.
use super::*;

/// Parses requests one after the other from one buffer, as the server
/// does, skipping each body.
fn parse_all(mut buf: &[u8]) -> Vec<Parsed> {
    let mut results = Vec::new();
    loop {
        let parsed = parse_request(buf);
        results.push(parsed);
        match parsed {
            Parsed::Request(r) if r.head_len + r.body_len <= buf.len() => {
                buf = &buf[r.head_len + r.body_len..];
            }
            _ => return results,
        }
    }
}

#[test]
fn pipelined() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST /x HTTP/1.1\nHost: a\nContent-Length: 5\n\nhello\
        \r\nHEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
        GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
        GET / HTTP/1.1\r\nHo";
    let request = |method, path_ok, keep_alive, http10, head_len, body_len| {
        Parsed::Request(Request { method, path_ok, keep_alive, http10, head_len, body_len })
    };
    assert_eq!(
        parse_all(buf),
        [
            request(Get, true, true, false, 27, 0),
            request(Other, false, true, false, 44, 5),
            // The empty line a client may send after a body is skipped.
            request(Head, true, true, true, 45, 0),
            request(Get, true, false, false, 46, 0),
            PARTIAL,
        ]
    );
}

#[test]
fn pipelined_smuggling_stops_at_error() {
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
        POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n\
        GET /admin HTTP/1.1\r\nHost: a\r\n\r\n";
    let results = parse_all(buf);
    assert_eq!(results.len(), 2);
    assert_eq!(results[1], E400);
}

#[test]
fn body_is_not_parsed() {
    // Whatever follows the head is the caller's: garbage, or the body.
    let buf = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n\0\r\x01 ";
    match parse_request(buf) {
        Parsed::Request(r) => assert_eq!((r.head_len, r.body_len), (buf.len() - 4, 4)),
        other => panic!("{other:?}"),
    }
}

/// Requests for the segmentation test: valid ones, invalid ones, and
/// ones over a limit.
fn segmentation_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = [
        &b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\nHost: a\n\n",
        b"\r\n\nHEAD /?x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rX\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]
    .iter()
    .map(|input| input.to_vec())
    .collect();
    inputs.push(target_of(MAX_TARGET_LEN + 1));
    inputs.push(section_of(MAX_HEADER_SECTION_LEN + 1));
    inputs.push(fields(MAX_HEADERS + 1));
    inputs
}

#[test]
fn segmentation() {
    for input in segmentation_inputs() {
        let whole = parse_request(&input);
        let step = if input.len() > 4096 { 7 } else { 1 };
        for split in (0..=input.len()).step_by(step) {
            // The server got `split` bytes first, then the rest.
            let first = parse_request(&input[..split]);
            let result = if first == PARTIAL { parse_request(&input) } else { first };
            assert_eq!(result, whole, "split {split} of {:?}", show(&input));
            let complete = match whole {
                Parsed::Request(r) => split >= r.head_len,
                _ => false,
            };
            if complete {
                assert_eq!(first, whole);
            }
        }
        // Byte by byte: Partial, then the final result for good.
        let mut seen_final = false;
        for end in 0..=input.len().min(4096) {
            let got = parse_request(&input[..end]);
            if seen_final {
                assert_eq!(got, whole);
            } else if got != PARTIAL {
                assert_eq!(got, whole, "byte {end} of {:?}", show(&input));
                seen_final = true;
            }
        }
    }
}

#[test]
fn limits_seen_while_partial() {
    // A 20 KiB head that never ends is refused at once, not kept.
    let long_fields = format!("{GET}{}", "X-Long: abcdefgh\r\n".repeat(1200));
    assert_eq!(parse_request(long_fields.as_bytes()), E431);
    let long_line = format!("GET /{}", "a".repeat(20 * 1024));
    assert_eq!(parse_request(long_line.as_bytes()), E414);
    // Just under the limit it is still Partial.
    let under = format!("{GET}X: {}", "v".repeat(MAX_HEADER_SECTION_LEN - 30));
    assert_eq!(parse_request(under.as_bytes()), PARTIAL);
}

#[test]
fn longest_head() {
    let line = format!(
        "{}{} /{} HTTP/1.1\r\n",
        "\r\n".repeat(100),
        "M".repeat(MAX_REQUEST_LINE_LEN - MAX_TARGET_LEN - 210),
        "a".repeat(MAX_TARGET_LEN - 1)
    );
    assert_eq!(line.len(), MAX_REQUEST_LINE_LEN + 2);
    let mut head = line.into_bytes();
    head.extend_from_slice(b"Host: a\r\nX:");
    head.resize(MAX_HEAD_LEN - 4, b'v');
    head.extend_from_slice(b"\r\n");
    assert_eq!(parse_request(&head), PARTIAL);
    head.extend_from_slice(b"\r\n");
    assert_eq!(head.len(), MAX_HEAD_LEN);
    match parse_request(&head) {
        Parsed::Request(r) => assert_eq!(r.head_len, MAX_HEAD_LEN),
        other => panic!("{other:?}"),
    }
    check_prefixes(&head);
    // One more byte in the field is over the limit.
    head.insert(MAX_HEAD_LEN - 5, b'v');
    assert_eq!(parse_request(&head), E431);
    check_prefixes(&head);
}
