//! Random heads for the HTTP head parser: good requests cut and mutated,
//! and fragments good and bad, each held to the reference parser and to
//! `httparse` (what the one pass accepts, `httparse` accepts with the same
//! length).
use super::*;

/// Fragments that random requests are made of: good and bad pieces.
const FRAGMENTS: &[&[u8]] = &[
    b"GET",
    b"HEAD",
    b"POST",
    b"get",
    b" ",
    b"  ",
    b"\t",
    b"/",
    b"/?q",
    b"/x",
    b"http://a/",
    b"*",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"HTTP/1.",
    b"\r\n",
    b"\n",
    b"\r",
    b"\0",
    b"\x7f",
    b"\xc3\xa9",
    b":",
    b" :",
    b"Host: a",
    b"Host:",
    b"Content-Length: 5",
    b"Content-Length: x",
    b"Content-Length: 99999999",
    b"Transfer-Encoding: chunked",
    b"Connection: close",
    b"Connection: keep-alive",
    b"X: y",
    b" folded",
    b"hello",
    b"Host: a\r\n",
    b"X: y\n",
    b"Content-Length: 0\r\n",
    b"Connection: close\n",
];

/// How random requests start.
const PREFIXES: &[&[u8]] = &[b"", b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: a\r\n", b"HEAD /?x HTTP/1.0\n"];

/// One of `PREFIXES`, then random fragments.
fn requests() -> impl Strategy<Value = Vec<u8>> {
    let fragment = proptest::sample::select(FRAGMENTS);
    let prefix = proptest::sample::select(PREFIXES);
    (prefix, proptest::collection::vec(fragment, 0..24)).prop_map(|(prefix, fragments)| {
        let mut buf = prefix.to_vec();
        for fragment in fragments {
            buf.extend_from_slice(fragment);
        }
        buf
    })
}

/// Valid requests with a few bytes inserted, replaced or removed.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<usize>(), any::<u8>(), 0..3u8);
    proptest::collection::vec(edit, 1..4).prop_map(|edits| {
        let mut buf = b"GET /?a=b HTTP/1.1\r\nHost: a:1\r\nContent-Length: 3\r\n\
            Connection: keep-alive, close\r\nX-Y: z z\r\n\r\nabc"
            .to_vec();
        for (at, byte, kind) in edits {
            let at = at % buf.len();
            match kind {
                0 => buf.insert(at, byte),
                1 => buf[at] = byte,
                _ => {
                    buf.remove(at);
                }
            }
        }
        buf
    })
}

/// Whatever the scanner accepts, httparse accepts with the same length.
fn httparse_agrees(buf: &[u8]) {
    if let Scan::Complete { head_len, .. } = scan_head(buf) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        assert_eq!(request.parse(&buf[..head_len]), Ok(httparse::Status::Complete(head_len)), "{:?}", show(buf));
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_prefixes(&buf);
        httparse_agrees(&buf);
        agrees_with_reference(&buf);
    }

    #[test]
    fn random_requests(buf in requests()) {
        check_prefixes(&buf);
        httparse_agrees(&buf);
        agrees_with_reference(&buf);
    }

    #[test]
    fn mutated_requests(buf in mutated()) {
        check_prefixes(&buf);
        httparse_agrees(&buf);
        agrees_with_reference(&buf);
    }
}

proptest! {
    /// The word-at-a-time runs say what the byte-by-byte ones say.
    #[test]
    fn word_runs_agree(buf in proptest::collection::vec(prop_oneof![any::<u8>(), Just(b'a'), Just(b' ')], 0..40)) {
        prop_assert_eq!(run_value(&buf), run(&buf, VALUE));
        prop_assert_eq!(run_visible(&buf), run(&buf, VCHAR));
        prop_assert_eq!(run_token(&buf), run(&buf, TCHAR));
        prop_assert_eq!(all_authority(&buf), run(&buf, AUTHORITY) == buf.len());
    }

    /// The same on runs made mostly of one class's bytes, from every offset
    /// (the words then start at every alignment, and the bytes the word
    /// tests mark but the class holds, such as `_` or a tab, are stepped
    /// over in every position).
    #[test]
    fn word_runs_agree_within_a_class(
        buf in proptest::collection::vec(prop_oneof![
            8 => proptest::sample::select(&b"az09AZ-.:_~!$[]%\t |^`\x80\xff"[..]),
            1 => any::<u8>(),
        ], 0..64),
    ) {
        for from in 0..=buf.len() {
            let s = &buf[from..];
            prop_assert_eq!(run_value(s), run(s, VALUE));
            prop_assert_eq!(run_visible(s), run(s, VCHAR));
            prop_assert_eq!(run_token(s), run(s, TCHAR));
            for to in 0..=s.len() {
                let s = &s[..to];
                prop_assert_eq!(all_authority(s), run(s, AUTHORITY) == s.len());
            }
        }
    }
}
