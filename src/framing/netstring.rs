//! Netstrings (`len:data,`): Twisted's `NetstringReceiver`.

use super::{Decoded, Decoder, Encoder, FrameError};

/// Frames written as netstrings: decimal length, `:`, data, `,`.
///
/// Lengths have no sign, no spaces and no leading zeros (except `0`
/// itself); anything else is [`Decoded::Malformed`] with a clear reason, and
/// decoding stops. The maximum (default 8 MiB) is enforced from the length
/// digits, before the data arrives; after a too-long netstring the rest of
/// the stream is discarded, since nothing marks where the next one starts.
///
/// ```
/// let codec = reel::framing::Netstrings::new().max_length(100);
/// assert_eq!(codec.max(), 100);
/// ```
#[derive(Debug, Clone)]
pub struct Netstrings {
    max: u64,
    skip: u64,
    /// After a too-long length, the stream cannot be resynchronized: the
    /// rest is discarded.
    poisoned: bool,
}

impl Default for Netstrings {
    fn default() -> Self {
        Netstrings::new()
    }
}

impl Netstrings {
    /// Netstrings of at most 8 MiB.
    pub fn new() -> Netstrings {
        Netstrings { max: super::length::DEFAULT_MAX_FRAME, skip: 0, poisoned: false }
    }

    /// Sets the maximum data length.
    pub fn max_length(mut self, max: u64) -> Netstrings {
        self.max = max;
        self
    }

    /// The maximum data length.
    pub fn max(&self) -> u64 {
        self.max
    }
}

impl Decoder for Netstrings {
    type Meta = ();

    fn decode(&mut self, input: &[u8]) -> Decoded {
        if self.poisoned {
            return if input.is_empty() { Decoded::Incomplete } else { Decoded::Skip(input.len()) };
        }
        if self.skip > 0 {
            if input.is_empty() {
                return Decoded::Incomplete;
            }
            let n = (input.len() as u64).min(self.skip);
            self.skip -= n;
            return Decoded::Skip(n as usize);
        }
        let mut len: u64 = 0;
        for (i, &b) in input.iter().enumerate() {
            match b {
                b'0'..=b'9' => {
                    if i == 1 && input[0] == b'0' {
                        return Decoded::Malformed("netstring length has a leading zero");
                    }
                    // Checked: without it a maximum near u64::MAX would let
                    // a peer send digits forever (each call rescanning them).
                    match len.checked_mul(10).and_then(|l| l.checked_add(u64::from(b - b'0'))) {
                        Some(l) if l <= self.max => len = l,
                        too_long => {
                            self.poisoned = true;
                            return Decoded::TooLong(too_long.unwrap_or(u64::MAX));
                        }
                    }
                }
                b':' if i == 0 => return Decoded::Malformed("netstring length is empty"),
                b':' => {
                    let start = i + 1;
                    // A length the address space cannot hold never arrives.
                    let Some(end) = usize::try_from(len).ok().and_then(|len| len.checked_add(start)) else {
                        self.poisoned = true;
                        return Decoded::TooLong(len);
                    };
                    if input.len() <= end {
                        return Decoded::Incomplete;
                    }
                    if input[end] != b',' {
                        return Decoded::Malformed("netstring does not end with ','");
                    }
                    return Decoded::Frame { start, end, consumed: end + 1, meta: () };
                }
                _ => return Decoded::Malformed("netstring length is not a decimal number"),
            }
        }
        Decoded::Incomplete
    }

    fn reset(&mut self) {
        self.skip = 0;
    }
}

impl Encoder for Netstrings {
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        if payload.len() as u64 > self.max {
            return Err(FrameError::TooLong { len: payload.len(), max: self.max });
        }
        let mut digits = [0u8; 20];
        let mut n = payload.len();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        write(&digits[i..]);
        write(b":");
        write(payload);
        write(b",");
        Ok(())
    }
}
