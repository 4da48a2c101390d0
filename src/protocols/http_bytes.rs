//! The byte classes of the strict HTTP head parser and the word-at-a-time
//! runs over them (a submodule of `protocols::http`, split out so that the
//! parser reads on its own).

use super::{is_authority_byte, is_tchar};

/// Byte classes, one bit each, for [`CLASS`].
pub(super) const TCHAR: u8 = 1;
/// Visible ASCII: what a request target is made of.
pub(super) const VCHAR: u8 = 2;
/// What a field value may hold: visible ASCII, space, tab and `obs-text`.
pub(super) const VALUE: u8 = 4;
/// What a `Host` value may hold: see [`is_authority_byte`].
pub(super) const AUTHORITY: u8 = 8;

/// The class bits of every byte.
pub(super) static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        let mut class = 0;
        if is_tchar(byte) {
            class |= TCHAR;
        }
        if byte.is_ascii_graphic() {
            class |= VCHAR;
        }
        if byte == b'\t' || (byte >= b' ' && byte != 0x7f) {
            class |= VALUE;
        }
        if is_authority_byte(byte) {
            class |= AUTHORITY;
        }
        table[b] = class;
        b += 1;
    }
    table
};

/// Whether byte `b` is of class `class`.
#[inline(always)]
pub(super) fn is(b: u8, class: u8) -> bool {
    CLASS[usize::from(b)] & class != 0
}

/// The length of the run of bytes of class `class` at the front of `s`.
#[inline(always)]
pub(super) fn run(s: &[u8], class: u8) -> usize {
    s.iter().position(|&b| !is(b, class)).unwrap_or(s.len())
}

/// Each byte's top bit, in a word of 8 bytes.
pub(super) const HIGH: u64 = 0x8080_8080_8080_8080;
/// Each byte 1, in a word of 8 bytes.
pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

// The word tests below mark bytes by setting their top bit. A mark is
// exact at the lowest marked byte: a subtraction's borrow or an addition's
// carry only runs upwards, so it can only disturb the bytes above the first
// byte that produced one, which is marked itself. That is all the runs
// need: every byte below the lowest mark is known to be good.

/// Marks the bytes of `x` below `n` (`n` at most 128).
#[inline(always)]
pub(super) const fn below(x: u64, n: u8) -> u64 {
    x.wrapping_sub(ONES * n as u64) & !x & HIGH
}

/// Marks the bytes of `x` equal to `n`.
#[inline(always)]
pub(super) const fn equal(x: u64, n: u8) -> u64 {
    below(x ^ (ONES * n as u64), 1)
}

/// Marks the bytes of `x` (below 0x80) that are at least `lo`.
#[inline(always)]
pub(super) const fn at_least(x: u64, lo: u8) -> u64 {
    x.wrapping_add(ONES * (0x80 - lo) as u64) & HIGH
}

/// Marks the bytes of `x` (below 0x80) that are at most `hi`.
#[inline(always)]
pub(super) const fn at_most(x: u64, hi: u8) -> u64 {
    !x.wrapping_add(ONES * (0x7f - hi) as u64) & HIGH
}

/// Marks the bytes of `x` that are ASCII letters or digits, or in
/// `lo..=hi` (two ranges of punctuation, each below `0x7f`); meaningful up
/// to the first byte at or above 0x80 (marked by the callers).
#[inline(always)]
const fn alnum_or(x: u64, (lo1, hi1): (u8, u8), (lo2, hi2): (u8, u8)) -> u64 {
    let folded = x | (ONES * 0x20);
    let letter = at_least(folded, b'a') & at_most(folded, b'z');
    let digit = at_least(x, b'0') & at_most(x, b'9');
    letter | digit | (at_least(x, lo1) & at_most(x, hi1)) | (at_least(x, lo2) & at_most(x, hi2))
}

/// The length of the run of bytes of class `class` at the front of `s`,
/// 8 bytes at a time: `marks(word)` marks (top bit) at least every byte of
/// the word outside the class, and its lowest mark must be exact (see
/// above). A marked byte that is in the class after all is stepped over
/// and the words go on after it. The last bytes, fewer than a word, are
/// looked at one by one (cheaper, measured, than a last word shifted into
/// place).
#[inline(always)]
pub(super) fn run_marked(s: &[u8], class: u8, marks: fn(u64) -> u64) -> usize {
    let mut at = 0;
    while let Some(word) = s.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let marked = marks(u64::from_le_bytes(*word));
        if marked == 0 {
            at += 8;
            continue;
        }
        let first = at + (marked.trailing_zeros() / 8) as usize;
        match s.get(first) {
            Some(&b) if is(b, class) => at = first + 1,
            _ => return first,
        }
    }
    at + run(s.get(at..).unwrap_or_default(), class)
}

/// The run of token bytes at the front of `s`. Letters, digits, `-` and
/// `.` (what field names are made of) are taken 8 bytes at a time; the
/// other token bytes (`!#$%&'*+^_`|~`) are stepped over one by one.
#[inline(always)]
pub(super) fn run_token(s: &[u8]) -> usize {
    run_marked(s, TCHAR, token_marks)
}

/// The word test of [`run_token`] (a function, not a closure, so that it
/// is inlined).
#[inline(always)]
const fn token_marks(x: u64) -> u64 {
    (x & HIGH) | (!alnum_or(x, (b'-', b'.'), (b'-', b'.')) & HIGH)
}

/// Whether every byte of `s` is of class `class`: [`run_marked`]'s word
/// test on each word of `s`, the last one overlapping the one before when
/// the length is not a multiple of 8, so that no byte is looked at alone.
/// A marked byte (which may be in the class after all) sends the whole
/// check to the bytewise run.
#[inline(always)]
pub(super) fn all_of(s: &[u8], class: u8, marks: fn(u64) -> u64) -> bool {
    let Some(last) = s.last_chunk::<8>() else {
        return run(s, class) == s.len();
    };
    let mut marked = marks(u64::from_le_bytes(*last));
    let mut words = s.chunks_exact(8);
    for word in &mut words {
        if let Ok(word) = <[u8; 8]>::try_from(word) {
            marked |= marks(u64::from_le_bytes(word));
        }
    }
    marked == 0 || run(s, class) == s.len()
}

/// Whether `s` is made of bytes a `Host` value may hold ([`all_of`] with
/// [`authority_marks`]).
#[inline(always)]
pub(super) fn all_authority(s: &[u8]) -> bool {
    all_of(s, AUTHORITY, authority_marks)
}

/// The word test of [`all_authority`]: letters, digits, `-`, `.` and `:`
/// (names, addresses and ports) unmarked, the other authority bytes marked.
#[inline(always)]
const fn authority_marks(x: u64) -> u64 {
    (x & HIGH) | (!alnum_or(x, (b'-', b'.'), (b':', b':')) & HIGH)
}

/// The run of field-value bytes (no control byte but tab, no DEL) at the
/// front of `s`. A tab is marked (it is below 0x20) and stepped over.
#[inline(always)]
pub(super) fn run_value(s: &[u8]) -> usize {
    run_marked(s, VALUE, value_marks)
}

/// The word test of [`run_value`].
#[inline(always)]
const fn value_marks(x: u64) -> u64 {
    below(x, 0x20) | equal(x, 0x7f)
}

/// The run of visible ASCII bytes (0x21 to 0x7e) at the front of `s`.
#[inline(always)]
pub(super) fn run_visible(s: &[u8]) -> usize {
    run_marked(s, VCHAR, visible_marks)
}

/// The word test of [`run_visible`].
#[inline(always)]
const fn visible_marks(x: u64) -> u64 {
    (x & HIGH) | below(x, 0x21) | equal(x, 0x7f)
}

/// `s`'s 8 bytes from `at` as a little-endian word with every letter in
/// lower case (`| 0x20` on each byte: exact for letters, and no token byte
/// other than a letter becomes one), 0 when `s` is shorter.
#[inline(always)]
pub(super) fn folded_word(s: &[u8], at: usize) -> u64 {
    s.get(at..).and_then(<[u8]>::first_chunk::<8>).map_or(0, |w| u64::from_le_bytes(*w) | (ONES * 0x20))
}

/// The 8 bytes of `s` from `at` as a little-endian word (for constants to
/// compare [`folded_word`] with; `s` in lower case).
pub(super) const fn word_of(s: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    let mut k = 0;
    while k < 8 {
        bytes[k] = s[at + k];
        k += 1;
    }
    u64::from_le_bytes(bytes)
}
