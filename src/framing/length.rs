//! Length-prefixed framing: Twisted's `Int8/16/32StringReceiver`, tokio's
//! `LengthDelimitedCodec`.

use super::{Decoded, Decoder, Encoder, FrameError};

/// Byte order of a length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endian {
    /// Network order (the default).
    #[default]
    Big,
    /// Least significant byte first.
    Little,
}

/// Frames preceded by a 1, 2, 4 or 8-byte unsigned length.
///
/// The maximum frame length (default 8 MiB) is enforced from the header
/// alone: a header announcing 4 GiB is refused the moment its 4 bytes
/// arrive, and nothing is allocated for the announced size, ever — the
/// framer only keeps bytes that actually arrived.
///
/// ```
/// use reel::framing::{Endian, LengthPrefixed};
/// let codec = LengthPrefixed::u16().endian(Endian::Little).max_length(1000);
/// assert_eq!(codec.width(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    width: usize,
    endian: Endian,
    max: u64,
    /// Bytes of an over-long frame still to skip.
    skip: u64,
}

/// The default maximum frame length: 8 MiB.
pub const DEFAULT_MAX_FRAME: u64 = 8 * 1024 * 1024;

impl LengthPrefixed {
    /// A prefix of `width` bytes (1, 2, 4 or 8), big endian.
    ///
    /// # Panics
    ///
    /// For any other width.
    pub fn new(width: usize) -> LengthPrefixed {
        assert!(matches!(width, 1 | 2 | 4 | 8), "length prefix width must be 1, 2, 4 or 8, not {width}");
        LengthPrefixed { width, endian: Endian::Big, max: DEFAULT_MAX_FRAME, skip: 0 }
    }

    /// A 1-byte prefix (Twisted's `Int8StringReceiver`).
    pub fn u8() -> LengthPrefixed {
        LengthPrefixed::new(1)
    }

    /// A 2-byte prefix.
    pub fn u16() -> LengthPrefixed {
        LengthPrefixed::new(2)
    }

    /// A 4-byte prefix (Twisted's `Int32StringReceiver`).
    pub fn u32() -> LengthPrefixed {
        LengthPrefixed::new(4)
    }

    /// An 8-byte prefix.
    pub fn u64() -> LengthPrefixed {
        LengthPrefixed::new(8)
    }

    /// Sets the byte order.
    pub fn endian(mut self, endian: Endian) -> LengthPrefixed {
        self.endian = endian;
        self
    }

    /// Sets the maximum frame length (payload bytes).
    pub fn max_length(mut self, max: u64) -> LengthPrefixed {
        self.max = max;
        self
    }

    /// The prefix width in bytes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The longest payload this codec sends or accepts.
    pub fn max(&self) -> u64 {
        let prefix_max = if self.width == 8 { u64::MAX } else { (1u64 << (8 * self.width)) - 1 };
        self.max.min(prefix_max)
    }

    fn read_len(&self, header: &[u8]) -> u64 {
        let mut bytes = [0u8; 8];
        match self.endian {
            Endian::Big => {
                bytes[8 - self.width..].copy_from_slice(header);
                u64::from_be_bytes(bytes)
            }
            Endian::Little => {
                bytes[..self.width].copy_from_slice(header);
                u64::from_le_bytes(bytes)
            }
        }
    }
}

impl Decoder for LengthPrefixed {
    type Meta = ();

    fn decode(&mut self, input: &[u8]) -> Decoded {
        if self.skip > 0 {
            if input.is_empty() {
                return Decoded::Incomplete;
            }
            let n = (input.len() as u64).min(self.skip);
            self.skip -= n;
            return Decoded::Skip(n as usize);
        }
        if input.len() < self.width {
            return Decoded::Incomplete;
        }
        let len = self.read_len(&input[..self.width]);
        // The length is the peer's: a frame whose end cannot even be
        // counted in memory is too long, whatever the maximum says.
        let end = usize::try_from(len).ok().and_then(|len| len.checked_add(self.width));
        let Some(end) = end.filter(|_| len <= self.max) else {
            self.skip = len.saturating_add(self.width as u64);
            return Decoded::TooLong(len);
        };
        if input.len() < end {
            return Decoded::Incomplete;
        }
        Decoded::Frame { start: self.width, end, consumed: end, meta: () }
    }

    fn reset(&mut self) {
        self.skip = 0;
    }
}

impl Encoder for LengthPrefixed {
    fn encode(&self, payload: &[u8], write: &mut dyn FnMut(&[u8])) -> Result<(), FrameError> {
        let len = payload.len() as u64;
        if len > self.max() {
            return Err(FrameError::TooLong { len: payload.len(), max: self.max() });
        }
        let header = match self.endian {
            Endian::Big => len.to_be_bytes(),
            Endian::Little => len.to_le_bytes(),
        };
        match self.endian {
            Endian::Big => write(&header[8 - self.width..]),
            Endian::Little => write(&header[..self.width]),
        }
        write(payload);
        Ok(())
    }
}
