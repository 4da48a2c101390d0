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
    #[inline]
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
            if bytes.is_empty() {
                // Nothing queued holds no storage (an empty write).
                return;
            }
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
    #[inline]
    pub(crate) fn consume(&mut self, n: usize, pool: &mut BufferPool) {
        self.pos += n;
        debug_assert!(self.pos <= self.data.len());
        if self.pos >= self.data.len() {
            self.release(pool);
        }
    }

    /// Drops everything queued and returns the storage to the pool.
    #[inline]
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        self.pos = 0;
        pool.give(std::mem::take(&mut self.data));
    }

    /// Writes as much as `sink` takes. Returns the bytes written, and the
    /// error that stopped it, if any (`WouldBlock` included).
    #[inline(always)]
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
///
/// A buffer given back waits in `hot` (when it is free), apart from the list: a
/// request/response connection gives its buffer back after each flush
/// and takes one again at its next answer, and the slot makes that pair
/// a few moves instead of a push and a pop.
#[derive(Debug)]
pub(crate) struct BufferPool {
    hot: Option<Vec<u8>>,
    free: Vec<Vec<u8>>,
    /// Buffers kept at most (the hot one included).
    max_buffers: usize,
    /// Larger buffers are freed rather than kept.
    max_capacity: usize,
    /// Capacity of a new buffer.
    initial_capacity: usize,
}

impl BufferPool {
    pub(crate) fn new() -> Self {
        BufferPool { hot: None, free: Vec::new(), max_buffers: 256, max_capacity: 256 * 1024, initial_capacity: 4096 }
    }

    #[inline]
    pub(crate) fn take(&mut self) -> Vec<u8> {
        match self.hot.take() {
            Some(buf) => buf,
            None => self.take_listed(),
        }
    }

    /// A buffer from the list, or a new one.
    #[inline(never)]
    fn take_listed(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(self.initial_capacity))
    }

    #[inline(always)]
    pub(crate) fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > self.max_capacity {
            return;
        }
        buf.clear();
        match self.hot {
            None => self.hot = Some(buf),
            Some(_) => self.give_listed(buf),
        }
    }

    /// Keeps a buffer on the list, if there is room.
    #[inline(never)]
    fn give_listed(&mut self, buf: Vec<u8>) {
        if self.free.len() + 1 < self.max_buffers {
            self.free.push(buf);
        }
    }

    /// Buffers kept, the hot one included.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.free.len() + usize::from(self.hot.is_some())
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

    /// A sink that answers each `write` from a script, taking the bytes it
    /// reports as written, and fails the test when called past the script
    /// (a write loop that does not stop when it should).
    struct Scripted {
        script: std::collections::VecDeque<io::Result<usize>>,
        taken: Vec<u8>,
    }

    impl Scripted {
        fn new(script: Vec<io::Result<usize>>) -> Self {
            Scripted { script: script.into(), taken: Vec::new() }
        }
    }

    impl io::Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let answer = self.script.pop_front().expect("write called after the script ended");
            if let Ok(n) = answer {
                self.taken.extend_from_slice(&buf[..n]);
            }
            answer
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_empty_push_takes_no_storage() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(b"", &mut pool);
        assert!(out.is_empty() && !out.has_storage());
        out.push(b"x", &mut pool);
        out.push(b"", &mut pool);
        assert_eq!(out.pending(), b"x");
    }

    #[test]
    fn len_counts_the_unsent_bytes() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        assert_eq!((out.len(), out.is_empty()), (0, true));
        out.push(b"hello world", &mut pool);
        assert_eq!((out.len(), out.is_empty()), (11, false));
        out.consume(6, &mut pool);
        assert_eq!((out.len(), out.pending(), out.is_empty()), (5, &b"world"[..], false));
        out.consume(5, &mut pool);
        assert_eq!((out.len(), out.is_empty(), out.has_storage()), (0, true, false));
    }

    #[test]
    fn write_to_retries_after_interrupted() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(b"abcdef", &mut pool);
        let mut sink = Scripted::new(vec![Ok(2), Err(io::ErrorKind::Interrupted.into()), Ok(4)]);
        let (n, err) = out.write_to(&mut sink, &mut pool);
        assert_eq!(n, 6);
        assert!(err.is_none(), "{err:?}");
        assert_eq!(sink.taken, b"abcdef");
        assert!(out.is_empty() && !out.has_storage());
    }

    #[test]
    fn write_to_stops_at_would_block_and_other_errors() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(b"abcdef", &mut pool);
        let mut sink = Scripted::new(vec![Ok(1), Ok(2), Err(io::ErrorKind::WouldBlock.into())]);
        let (n, err) = out.write_to(&mut sink, &mut pool);
        assert_eq!((n, err.map(|e| e.kind())), (3, Some(io::ErrorKind::WouldBlock)));
        assert_eq!(out.pending(), b"def");
        let mut sink = Scripted::new(vec![Err(io::ErrorKind::BrokenPipe.into())]);
        let (n, err) = out.write_to(&mut sink, &mut pool);
        assert_eq!((n, err.map(|e| e.kind())), (0, Some(io::ErrorKind::BrokenPipe)));
        assert_eq!(out.pending(), b"def");
    }

    #[test]
    fn write_to_reports_a_sink_that_takes_nothing() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(b"abc", &mut pool);
        let mut sink = Scripted::new(vec![Ok(0)]);
        let (n, err) = out.write_to(&mut sink, &mut pool);
        assert_eq!((n, err.map(|e| e.kind())), (0, Some(io::ErrorKind::WriteZero)));
        assert_eq!(out.pending(), b"abc");
        // Nothing queued: no write at all.
        let mut out = OutBuf::default();
        let (n, err) = out.write_to(&mut Scripted::new(vec![]), &mut pool);
        assert_eq!((n, err.is_none()), (0, true));
    }

    #[test]
    fn a_slow_reader_does_not_grow_the_buffer_when_the_sent_prefix_can_be_reclaimed() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        out.push(&data, &mut pool);
        let capacity = out.data.capacity();
        assert_eq!(capacity, 4096);
        out.consume(2500, &mut pool);
        // Exactly fills the storage: nothing to reclaim yet.
        let fill = vec![7u8; capacity - 3000];
        out.push(&fill, &mut pool);
        assert_eq!(out.pos, 2500, "no copying while the storage has room");
        // One more byte would grow it: the sent 2500 bytes are dropped instead.
        out.push(b"!", &mut pool);
        assert_eq!(out.pos, 0);
        assert_eq!(out.data.capacity(), capacity, "reclaimed, not grown");
        let mut expected = data[2500..].to_vec();
        expected.extend_from_slice(&fill);
        expected.push(b'!');
        assert_eq!(out.pending(), expected);
        assert_eq!(out.len(), expected.len());
    }

    #[test]
    fn a_small_sent_prefix_is_not_copied_away() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(&[1u8; 4096], &mut pool);
        out.consume(100, &mut pool);
        // Less than half was sent: growing is cheaper than moving the rest.
        out.push(&[2u8; 10], &mut pool);
        assert_eq!(out.pos, 100);
        assert!(out.data.capacity() > 4096);
        assert_eq!(out.len(), 4006);
        assert_eq!(&out.pending()[3990..], &[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn append_target_holds_exactly_the_queued_bytes() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.append_target(&mut pool).extend_from_slice(b"hello ");
        assert!(out.has_storage());
        assert_eq!(out.pending(), b"hello ");
        out.consume(2, &mut pool);
        let target = out.append_target(&mut pool);
        assert_eq!(target.as_slice(), b"llo ");
        target.extend_from_slice(b"there");
        assert_eq!(out.pos, 0);
        assert_eq!(out.pending(), b"llo there");
    }

    #[test]
    fn release_drops_the_queue_and_returns_clean_storage() {
        let mut pool = BufferPool::new();
        let mut out = OutBuf::default();
        out.push(b"unsent", &mut pool);
        out.consume(2, &mut pool);
        out.release(&mut pool);
        assert!(out.is_empty() && !out.has_storage());
        assert_eq!(out.len(), 0);
        assert_eq!(pool.kept(), 1);
        out.push(b"new", &mut pool);
        assert_eq!(out.pending(), b"new", "the pooled storage came back empty");
        assert!(pool.kept() == 0);
    }

    #[test]
    fn the_pool_hands_out_empty_buffers_of_the_initial_capacity() {
        let mut pool = BufferPool::new();
        let fresh = pool.take();
        assert!(fresh.is_empty());
        assert_eq!(fresh.capacity(), pool.initial_capacity);
        let mut used = fresh;
        used.extend_from_slice(b"leftover");
        pool.give(used);
        let again = pool.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), pool.initial_capacity);
    }

    #[test]
    fn the_pool_keeps_neither_huge_nor_empty_buffers_nor_too_many() {
        let mut pool = BufferPool::new();
        pool.give(Vec::new());
        assert_eq!(pool.kept(), 0, "no storage, nothing to keep");
        let largest = Vec::with_capacity(pool.max_capacity);
        assert_eq!(largest.capacity(), pool.max_capacity);
        pool.give(largest);
        assert_eq!(pool.kept(), 1, "the largest size kept");
        pool.give(Vec::with_capacity(pool.max_capacity + 1));
        assert_eq!(pool.kept(), 1, "a larger one is freed");
        pool.give(Vec::with_capacity(1));
        assert_eq!(pool.kept(), 2);
        while pool.kept() < pool.max_buffers {
            pool.give(Vec::with_capacity(16));
        }
        pool.give(Vec::with_capacity(16));
        assert_eq!(pool.kept(), pool.max_buffers, "at most max_buffers kept");
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

    #[test]
    fn the_pool_hands_back_its_hot_buffer_first() {
        let mut pool = BufferPool::new();
        let a = pool.take();
        let b = pool.take();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.kept(), 2);
        let (first, second) = (pool.take(), pool.take());
        assert_eq!(first.as_ptr(), pa, "the hot slot's buffer first");
        assert_eq!(second.as_ptr(), pb, "then the list's");
        assert_eq!(pool.kept(), 0);
        drop((first, second));
    }
}
