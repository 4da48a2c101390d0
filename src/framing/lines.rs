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
    /// The delimiter when it is one byte (`\n` mostly): the fast path's
    /// search, without looking through the `Cow` on every line.
    single: Option<u8>,
    /// `\n` delimiter with an optional `\r` before it.
    lenient_cr: bool,
    /// At most `u32::MAX`: a connection's protocol object is most of what
    /// an idle connection costs, so the fields are kept small.
    max: u32,
    /// Bytes of the current unfinished line already searched (a hint:
    /// saturates rather than wraps, and a smaller value only rescans).
    scanned: u32,
    /// Skipping an over-long line: zero when not, `SKIP_TO_DELIMITER`
    /// while dropping input through the next delimiter, else the bytes to
    /// drop (the over-long line ended there, delimiter included; a skip is
    /// never empty). One field, so that the common case is one test.
    skip: usize,
}

/// `Lines::skip`: drop input through the next delimiter, wherever it is
/// (a skip that long cannot be known: it would be past any input).
const SKIP_TO_DELIMITER: usize = usize::MAX;

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
        let single = match *delimiter {
            [byte] => Some(byte),
            _ => None,
        };
        Lines { delimiter, single, lenient_cr, max: DEFAULT_MAX_LINE as u32, scanned: 0, skip: 0 }
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

    /// Sets the maximum line length, delimiter not counted; values over
    /// `u32::MAX` (4 GiB - 1) are taken as `u32::MAX`.
    pub fn max_length(mut self, max: usize) -> Lines {
        self.max = u32::try_from(max).unwrap_or(u32::MAX);
        self
    }

    /// The maximum line length.
    pub fn max(&self) -> usize {
        self.max as usize
    }

    /// The delimiter lines are sent with.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// Finds the delimiter in `input[from..]`; returns its position.
    #[inline]
    fn find(&self, input: &[u8], from: usize) -> Option<usize> {
        let hay = input.get(from..)?;
        let found = match self.single {
            Some(byte) => find_byte(byte, hay),
            None => memchr::memmem::find(hay, &self.delimiter),
        };
        found.map(|p| p + from)
    }

    /// How many bytes of an unfinished line may be buffered before it is
    /// surely too long: the maximum plus what could still turn out to be a
    /// delimiter (or the `\r` before one).
    fn limit(&self) -> usize {
        let slack = if self.lenient_cr { 1 } else { self.delimiter.len() - 1 };
        (self.max as usize).saturating_add(slack)
    }
}

/// How far [`find_byte`] looks eight bytes at a time before it hands the
/// rest to `memchr`: most lines are short, and `memchr`'s set-up (about 40
/// instructions) costs more than the whole line's word-at-a-time scan.
const WORD_SCAN: usize = 64;

/// The first `byte` in `hay`. On x86-64, sixteen bytes or more go to
/// `memchr`'s SSE2 search directly (no run-time dispatch: SSE2 is part of
/// x86-64), whose first compare of sixteen bytes finds a short line. Else
/// (and always on other targets) the first [`WORD_SCAN`] bytes eight at a
/// time (a word's zero-byte test after XOR with the byte repeated), the
/// rest through `memchr`'s vector loop.
#[inline]
fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = ONES * u64::from(byte);
    // Sixteen bytes or more on x86-64: SSE2 (part of every x86-64) through
    // `memchr`'s vector search called directly, without the run-time
    // dispatch of `memchr::memchr`: its first unaligned sixteen-byte
    // compare finds most lines.
    #[cfg(target_arch = "x86_64")]
    if hay.len() >= 16 {
        use memchr::arch::x86_64::sse2::memchr::One;
        // `\n` spelled as a constant: its vector is loaded, not built.
        let one = if byte == b'\n' { One::new(b'\n') } else { One::new(byte) };
        if let Some(one) = one {
            return one.find(hay);
        }
    }
    let short = hay.len().min(WORD_SCAN);
    let mut at = 0;
    while at + 8 <= short {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&hay[at..at + 8]);
        let x = u64::from_le_bytes(bytes) ^ pattern;
        // The lowest set bit marks the first zero byte of `x` exactly
        // (a borrow can only mark bytes above it).
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    while at < short {
        if hay[at] == byte {
            return Some(at);
        }
        at += 1;
    }
    if short == hay.len() {
        return None;
    }
    memchr::memchr(byte, &hay[short..]).map(|p| p + short)
}

/// `n` as a scan hint: saturated, never wrapped.
fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Lines {
    /// Dropping an over-long line: through its delimiter when that is
    /// known, else up to what could still begin one.
    #[cold]
    fn decode_skipping(&mut self, input: &[u8], dlen: usize) -> Decoded {
        if self.skip != SKIP_TO_DELIMITER {
            let n = std::mem::take(&mut self.skip);
            self.scanned = 0;
            return Decoded::Skip(n);
        }
        let from = (self.scanned as usize).saturating_sub(dlen - 1);
        if let Some(p) = self.find(input, from) {
            self.skip = 0;
            self.scanned = 0;
            return Decoded::Skip(p + dlen);
        }
        let keep = dlen - 1;
        match input.len().checked_sub(keep) {
            Some(n) if n > 0 => {
                self.scanned = saturate(keep);
                Decoded::Skip(n)
            }
            _ => {
                self.scanned = saturate(input.len());
                Decoded::Incomplete
            }
        }
    }
}

impl Decoder for Lines {
    type Meta = ();

    // Always inlined: called once per line, and a call's prologue and
    // epilogue cost a fifth of a short line's whole decode.
    #[inline(always)]
    fn decode(&mut self, input: &[u8]) -> Decoded {
        // The common case, a line at the start of a read or after another
        // one: a one-byte delimiter, not skipping, nothing scanned yet (one
        // test for the last two).
        if let Some(byte) = self.single {
            if self.skip | self.scanned as usize == 0 {
                return match find_byte(byte, input) {
                    Some(p) => self.line_ends_at(input, p, 1),
                    None => self.no_line_end(input),
                };
            }
        }
        self.decode_resumed(input)
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.skip = 0;
    }

    fn too_long_reason(&self) -> &'static str {
        "line too long"
    }
}

impl Lines {
    /// [`Decoder::decode`] skipping, or going on with a line partly
    /// scanned, or with a delimiter of several bytes.
    #[inline(never)]
    fn decode_resumed(&mut self, input: &[u8]) -> Decoded {
        if self.skip != 0 {
            return self.decode_skipping(input, self.delimiter.len());
        }
        let (found, dlen) = match self.single {
            // One byte: no delimiter can straddle what was scanned.
            Some(byte) => {
                let from = self.scanned as usize;
                (input.get(from..).and_then(|hay| find_byte(byte, hay)).map(|p| p + from), 1)
            }
            None => {
                let dlen = self.delimiter.len();
                (self.find(input, (self.scanned as usize).saturating_sub(dlen - 1)), dlen)
            }
        };
        match found {
            Some(p) => {
                self.scanned = 0;
                self.line_ends_at(input, p, dlen)
            }
            None => self.no_line_end(input),
        }
    }

    /// The line's delimiter (`dlen` bytes) is at `p`; nothing is scanned.
    #[inline(always)]
    fn line_ends_at(&mut self, input: &[u8], p: usize, dlen: usize) -> Decoded {
        let mut end = p;
        // At 0, `wrapping_sub` makes an index `get` refuses.
        if self.lenient_cr && input.get(p.wrapping_sub(1)) == Some(&b'\r') {
            end -= 1;
        }
        if end > self.max as usize {
            self.skip = p + dlen;
            return Decoded::TooLong(end as u64);
        }
        Decoded::Frame { start: 0, end, consumed: p + dlen, meta: () }
    }

    /// No delimiter in `input`: remember how far it was scanned, and refuse
    /// the line if it is surely too long.
    #[inline]
    fn no_line_end(&mut self, input: &[u8]) -> Decoded {
        self.scanned = saturate(input.len());
        if input.len() > self.limit() {
            self.skip = SKIP_TO_DELIMITER;
            return Decoded::TooLong(input.len() as u64);
        }
        Decoded::Incomplete
    }
}

impl Encoder for Lines {
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        if payload.len() > self.max as usize {
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
        // Every length around the word and the word-scan boundaries, the
        // byte at every place, with bytes that differ from it by one bit
        // (and 0x80, 0xff, the byte plus 0x80) around it to catch a wrong
        // zero-byte test.
        for byte in [b'\n', 0, 0x7f, 0x80, 0xff, b'\r'] {
            for filler in [b'x', byte ^ 1, byte ^ 0x80, byte.wrapping_add(1), 0xff, 0] {
                if filler == byte {
                    continue;
                }
                for len in (0..=80).chain([100, 129, 200]) {
                    for at in 0..=len {
                        let mut hay = vec![filler; len];
                        if at < len {
                            hay[at] = byte;
                            // A second match later never wins over the first.
                            if at + 3 < len {
                                hay[at + 3] = byte;
                            }
                        }
                        let want = if at < len { Some(at) } else { None };
                        assert_eq!(
                            find_byte(byte, &hay),
                            want,
                            "byte {byte:#x}, filler {filler:#x}, len {len}, at {at}"
                        );
                        assert_eq!(memchr::memchr(byte, &hay), want);
                    }
                }
            }
        }
    }

    proptest::proptest! {
        /// Any bytes, any byte sought: the same answer as `memchr`.
        #[test]
        fn agrees_with_memchr_on_any_bytes(hay in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), byte: u8) {
            proptest::prop_assert_eq!(find_byte(byte, &hay), memchr::memchr(byte, &hay));
        }
    }
}
