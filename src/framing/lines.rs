//! Line framing: Twisted's `LineReceiver`, done right.

use std::borrow::Cow;

use super::{Decoded, Decoder, Encoder, FrameError};

/// Splits the stream into lines ending in a delimiter.
///
/// - [`Lines::crlf`] (the default): lines end in `\r\n`.
/// - [`Lines::lf`]: lines end in `\n`, and a `\r` before it is dropped, so
///   both `nc`'s bare LF and telnet's CRLF work. Lines are sent with `\n`.
/// - [`Lines::delimited`]: any delimiter.
///
/// A line longer than the maximum (default 16 KiB, the delimiter not
/// counted) is refused as soon as that many bytes arrived without a
/// delimiter, without buffering more. Scanning never looks at a byte twice
/// (apart from a delimiter's length at chunk edges), so a 1 MiB line
/// arriving one byte at a time costs linear time.
///
/// ```
/// let lines = reel::framing::Lines::lf().max_length(1024);
/// assert_eq!(lines.max(), 1024);
/// ```
#[derive(Debug, Clone)]
pub struct Lines {
    delimiter: Cow<'static, [u8]>,
    /// `\n` delimiter with an optional `\r` before it.
    lenient_cr: bool,
    max: usize,
    /// Bytes of the current unfinished line already searched.
    scanned: usize,
    /// Skipping an over-long line: drop input through the next delimiter.
    skipping: bool,
    /// The over-long line ended here (bytes to skip, delimiter included).
    skip_through: Option<usize>,
}

/// The default maximum line length: 16 KiB.
pub const DEFAULT_MAX_LINE: usize = 16 * 1024;

impl Default for Lines {
    fn default() -> Self {
        Lines::crlf()
    }
}

impl Lines {
    fn with(delimiter: Cow<'static, [u8]>, lenient_cr: bool) -> Lines {
        assert!(!delimiter.is_empty(), "a line delimiter cannot be empty");
        Lines { delimiter, lenient_cr, max: DEFAULT_MAX_LINE, scanned: 0, skipping: false, skip_through: None }
    }

    /// Lines ending in `\r\n`.
    pub fn crlf() -> Lines {
        Lines::with(Cow::Borrowed(b"\r\n"), false)
    }

    /// Lines ending in `\n`, a `\r` before it dropped; sent with `\n`.
    pub fn lf() -> Lines {
        Lines::with(Cow::Borrowed(b"\n"), true)
    }

    /// Lines ending in `delimiter` (not empty).
    ///
    /// # Panics
    ///
    /// If `delimiter` is empty.
    pub fn delimited(delimiter: impl Into<Cow<'static, [u8]>>) -> Lines {
        Lines::with(delimiter.into(), false)
    }

    /// Sets the maximum line length, delimiter not counted.
    pub fn max_length(mut self, max: usize) -> Lines {
        self.max = max;
        self
    }

    /// The maximum line length.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The delimiter lines are sent with.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// Finds the delimiter in `input[from..]`; returns its position.
    #[inline]
    fn find(&self, input: &[u8], from: usize) -> Option<usize> {
        let hay = input.get(from..)?;
        let found = match *self.delimiter {
            [byte] => find_byte(byte, hay),
            ref delimiter => memchr::memmem::find(hay, delimiter),
        };
        found.map(|p| p + from)
    }

    /// How many bytes of an unfinished line may be buffered before it is
    /// surely too long: the maximum plus what could still turn out to be a
    /// delimiter (or the `\r` before one).
    fn limit(&self) -> usize {
        let slack = if self.lenient_cr { 1 } else { self.delimiter.len() - 1 };
        self.max.saturating_add(slack)
    }
}

/// The first `byte` in `hay`. Below 32 bytes `memchr` cannot use its
/// vector loop and its setup costs more than looking at the bytes one by
/// one (about 150 instructions against 45 for a 10-byte line).
#[inline]
fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < 32 {
        hay.iter().position(|&b| b == byte)
    } else {
        memchr::memchr(byte, hay)
    }
}

impl Lines {
    /// Dropping an over-long line: through its delimiter when that is
    /// known, else up to what could still begin one.
    #[cold]
    fn decode_skipping(&mut self, input: &[u8], dlen: usize) -> Decoded {
        if let Some(n) = self.skip_through.take() {
            self.scanned = 0;
            return Decoded::Skip(n);
        }
        let from = self.scanned.saturating_sub(dlen - 1);
        if let Some(p) = self.find(input, from) {
            self.skipping = false;
            self.scanned = 0;
            return Decoded::Skip(p + dlen);
        }
        let keep = dlen - 1;
        match input.len().checked_sub(keep) {
            Some(n) if n > 0 => {
                self.scanned = keep;
                Decoded::Skip(n)
            }
            _ => {
                self.scanned = input.len();
                Decoded::Incomplete
            }
        }
    }
}

impl Decoder for Lines {
    type Meta = ();

    #[inline]
    fn decode(&mut self, input: &[u8]) -> Decoded {
        let dlen = self.delimiter.len();
        if self.skip_through.is_some() || self.skipping {
            return self.decode_skipping(input, dlen);
        }
        let from = self.scanned.saturating_sub(dlen - 1);
        match self.find(input, from) {
            Some(p) => {
                let mut end = p;
                if self.lenient_cr && end > 0 && input[end - 1] == b'\r' {
                    end -= 1;
                }
                self.scanned = 0;
                if end > self.max {
                    self.skip_through = Some(p + dlen);
                    return Decoded::TooLong(end as u64);
                }
                Decoded::Frame { start: 0, end, consumed: p + dlen, meta: () }
            }
            None => {
                self.scanned = input.len();
                if input.len() > self.limit() {
                    self.skipping = true;
                    return Decoded::TooLong(input.len() as u64);
                }
                Decoded::Incomplete
            }
        }
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.skipping = false;
        self.skip_through = None;
    }

    fn too_long_reason(&self) -> &'static str {
        "line too long"
    }
}

impl Encoder for Lines {
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        if payload.len() > self.max {
            return Err(FrameError::TooLong { len: payload.len(), max: self.max as u64 });
        }
        if self.find(payload, 0).is_some() {
            return Err(FrameError::ContainsDelimiter);
        }
        write(payload);
        write(&self.delimiter);
        Ok(())
    }
}

#[cfg(test)]
mod find_tests {
    use super::find_byte;

    #[test]
    fn short_and_long_haystacks_agree_with_memchr() {
        for len in [0, 1, 15, 31, 32, 33, 64, 100] {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                if at < len {
                    hay[at] = b'\n';
                }
                let want = if at < len { Some(at) } else { None };
                assert_eq!(find_byte(b'\n', &hay), want, "len {len}, at {at}");
                assert_eq!(memchr::memchr(b'\n', &hay), want);
            }
        }
    }
}
