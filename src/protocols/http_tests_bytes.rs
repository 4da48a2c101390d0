//! Byte by byte: the word scans at every edge of their byte classes, and
//! the framing field names in every letter case and one byte off.
use super::*;

#[test]
fn word_runs_at_each_class_edge() {
    for b in 0..=255u8 {
        for at in 0..17 {
            let mut buf = vec![b'a'; 17];
            buf[at] = b;
            assert_eq!(run_value(&buf), run(&buf, VALUE), "{b:#x} at {at}");
            assert_eq!(run_visible(&buf), run(&buf, VCHAR), "{b:#x} at {at}");
            assert_eq!(run_token(&buf), run(&buf, TCHAR), "{b:#x} at {at}");
            for len in 0..=buf.len() {
                let s = &buf[..len];
                assert_eq!(all_authority(s), run(s, AUTHORITY) == len, "{b:#x} at {at} of {len}");
            }
            // After a byte at or above 0x80 the word tests' carries may
            // disturb the bytes above it: those must not matter.
            buf[at] = 0x80 | b;
            if at + 1 < buf.len() {
                buf[at + 1] = b;
            }
            assert_eq!(run_value(&buf), run(&buf, VALUE), "{b:#x} after a high byte at {at}");
            assert_eq!(run_visible(&buf), run(&buf, VCHAR), "{b:#x} after a high byte at {at}");
            assert_eq!(run_token(&buf), run(&buf, TCHAR), "{b:#x} after a high byte at {at}");
            assert_eq!(all_authority(&buf), run(&buf, AUTHORITY) == buf.len(), "{b:#x} after a high byte at {at}");
        }
    }
}

/// The framing fields are found by length and words in lower case: every
/// spelling of each name in any letter case counts, and every name that
/// differs from one in a single byte (any byte value a name may hold) does
/// not.
#[test]
fn framing_names_in_every_case_and_one_byte_off() {
    let names = ["host", "connection", "content-length", "transfer-encoding"];
    let values = ["a", "close", "5", "chunked"];
    for (name, value) in names.iter().zip(values) {
        for flips in 0..(1u32 << name.len()).min(1 << 12) {
            let spelled: Vec<u8> = name
                .bytes()
                .enumerate()
                .map(|(k, b)| if flips >> (k % 12) & 1 == 1 { b.to_ascii_uppercase() } else { b })
                .collect();
            let mut head = b"GET / HTTP/1.1\r\nHost: b\r\n".to_vec();
            head.extend_from_slice(&spelled);
            head.extend_from_slice(b": ");
            head.extend_from_slice(value.as_bytes());
            head.extend_from_slice(b"\r\n\r\n");
            assert_eq!(parse_request(&head), super::super::reference::parse_request(&head), "{:?}", show(&head));
        }
        for at in 0..name.len() {
            for b in 0..=255u8 {
                let mut spelled = name.as_bytes().to_vec();
                spelled[at] = b;
                let mut head = b"GET / HTTP/1.1\r\nHost: b\r\n".to_vec();
                head.extend_from_slice(&spelled);
                head.extend_from_slice(b": ");
                head.extend_from_slice(value.as_bytes());
                head.extend_from_slice(b"\r\n\r\n");
                agrees_with_reference(&head);
            }
        }
    }
}
