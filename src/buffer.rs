//! Outbound buffers: each connection's queue of unsent bytes, and the
//! reactor-wide pool their storage comes from.
//!
//! A connection with nothing queued holds no heap memory: when its queue
//! empties, the storage goes back to the pool, and the next write takes it
//! from there, so steady-state request/response traffic allocates nothing.

use std::io;

/// Queued output of one connection: `data[pos..]` is unsent.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    data: Vec<u8>,
    pos: usize,
}

impl OutBuf {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.data.len()
    }

    /// The unsent bytes.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    /// Whether storage is attached.
    pub(crate) fn has_storage(&self) -> bool {
        self.data.capacity() != 0
    }

    /// Appends `bytes`, taking storage from `pool` when none is attached.
    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8], pool: &mut BufferPool) {
        if !self.has_storage() {
            self.data = pool.take();
        } else if self.pos > 0
            && self.pos >= self.data.len() / 2
            && self.data.len() + bytes.len() > self.data.capacity()
        {
            // Reclaim the sent prefix before growing.
            self.data.drain(..self.pos);
            self.pos = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// The storage, for appending in place: taken from the pool if none is
    /// attached, and with the sent prefix dropped, so that it holds exactly
    /// the queued bytes.
    #[inline]
    pub(crate) fn append_target(&mut self, pool: &mut BufferPool) -> &mut Vec<u8> {
        if !self.has_storage() {
            self.data = pool.take();
        } else if self.pos > 0 {
            self.data.drain(..self.pos);
            self.pos = 0;
        }
        &mut self.data
    }

    /// Marks `n` bytes as sent; when empty, returns the storage to the pool.
    pub(crate) fn consume(&mut self, n: usize, pool: &mut BufferPool) {
        self.pos += n;
        debug_assert!(self.pos <= self.data.len());
        if self.pos >= self.data.len() {
            self.release(pool);
        }
    }

    /// Drops everything queued and returns the storage to the pool.
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        self.pos = 0;
        pool.give(std::mem::take(&mut self.data));
    }

    /// Writes as much as `sink` takes. Returns the bytes written, and the
    /// error that stopped it, if any (`WouldBlock` included).
    pub(crate) fn write_to<W: io::Write>(&mut self, sink: &mut W, pool: &mut BufferPool) -> (usize, Option<io::Error>) {
        let mut total = 0;
        while !self.is_empty() {
            match sink.write(self.pending()) {
                Ok(0) => return (total, Some(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    total += n;
                    self.consume(n, pool);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (total, Some(e)),
            }
        }
        (total, None)
    }
}

/// Spare output storage shared by all connections of a reactor.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    /// Buffers kept at most.
    max_buffers: usize,
    /// Larger buffers are freed rather than kept.
    max_capacity: usize,
    /// Capacity of a new buffer.
    initial_capacity: usize,
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        BufferPool { free: Vec::new(), max_buffers: 256, max_capacity: 256 * 1024, initial_capacity: 4096 }
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(self.initial_capacity))
    }

    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity || self.free.len() >= self.max_buffers {
            return;
        }
        buf.clear();
        self.free.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `window` bytes, then would block.
    struct Window {
        taken: Vec<u8>,
        window: usize,
    }

    impl io::Write for Window {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.window == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.window).min(1000);
            self.window -= n;
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn empty_buffer_holds_no_storage_and_storage_is_reused() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        assert!(!out.has_storage());
        out.push(b"hello", &mut pool);
        let ptr = out.pending().as_ptr();
        let mut sink = Window { taken: Vec::new(), window: usize::MAX };
        let (n, err) = out.write_to(&mut sink, &mut pool);
        assert_eq!((n, err.is_none()), (5, true));
        assert!(!out.has_storage());
        out.push(b"again", &mut pool);
        assert_eq!(out.pending().as_ptr(), ptr, "storage came back from the pool");
    }

    #[test]
    fn partial_writes_keep_order() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        let mut sink = Window { taken: Vec::new(), window: 0 };
        for chunk in data.chunks(777) {
            out.push(chunk, &mut pool);
            sink.window = 500;
            let (_, err) = out.write_to(&mut sink, &mut pool);
            assert!(err.is_some());
        }
        sink.window = usize::MAX;
        out.write_to(&mut sink, &mut pool);
        assert_eq!(sink.taken, data);
        assert!(out.is_empty());
    }
}
