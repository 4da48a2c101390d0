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

/// Whether some byte of `x` is below `n` (`n` at most 128).
#[inline(always)]
pub(super) const fn some_below(x: u64, n: u8) -> bool {
    x.wrapping_sub(ONES * n as u64) & !x & HIGH != 0
}

/// Whether some byte of `x` is `n`.
#[inline(always)]
pub(super) const fn some_equal(x: u64, n: u8) -> bool {
    some_below(x ^ (ONES * n as u64), 1)
}

/// [`run`] for a class that the word test `fine` decides 8 bytes at a time:
/// `fine(word)` true means all 8 bytes are in the class; false means some
/// byte may not be, and the bytes are then looked at one by one.
#[inline(always)]
pub(super) fn run_words(s: &[u8], class: u8, fine: impl Fn(u64) -> bool) -> usize {
    let mut words = s.chunks_exact(8);
    let mut done = 0;
    for word in &mut words {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else { break };
        if !fine(u64::from_le_bytes(bytes)) {
            break;
        }
        done += 8;
    }
    done + run(s.get(done..).unwrap_or_default(), class)
}

/// Each byte's top bit set where byte `x` (below 0x80) is at least `lo`.
#[inline(always)]
pub(super) const fn at_least(x: u64, lo: u8) -> u64 {
    x.wrapping_add(ONES * (0x80 - lo) as u64) & HIGH
}

/// Each byte's top bit set where byte `x` (below 0x80) is at most `hi`.
#[inline(always)]
pub(super) const fn at_most(x: u64, hi: u8) -> u64 {
    !x.wrapping_add(ONES * (0x7f - hi) as u64) & HIGH
}

/// The run of token bytes at the front of `s`. A word of letters, digits
/// and `-` (what field names are made of) is taken 8 bytes at a time; the
/// other token bytes (`!#$%&'*+.^_`|~`) one by one.
#[inline(always)]
pub(super) fn run_token(s: &[u8]) -> usize {
    run_words(s, TCHAR, |x| {
        if x & HIGH != 0 {
            return false;
        }
        let folded = x | (ONES * 0x20);
        let letter = at_least(folded, b'a') & at_most(folded, b'z');
        let digit = at_least(x, b'0') & at_most(x, b'9');
        let dash = at_least(x, b'-') & at_most(x, b'-');
        letter | digit | dash == HIGH
    })
}

/// The run of field-value bytes (no control byte but tab, no DEL) at the
/// front of `s`.
#[inline(always)]
pub(super) fn run_value(s: &[u8]) -> usize {
    // A tab is below 0x20 too: a word holding one is looked at bytewise.
    run_words(s, VALUE, |x| !some_below(x, 0x20) && !some_equal(x, 0x7f))
}

/// The run of visible ASCII bytes (0x21 to 0x7e) at the front of `s`.
#[inline(always)]
pub(super) fn run_visible(s: &[u8]) -> usize {
    run_words(s, VCHAR, |x| x & HIGH == 0 && !some_below(x, 0x21) && !some_equal(x, 0x7f))
}
