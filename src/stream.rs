//! The byte stream under a connection: a real TCP socket, or an in-memory
//! pipe for the protocol-testing harness. Both go through the same buffer,
//! water-mark and close logic.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;

/// What an in-memory connection's peer has received and allows.
#[derive(Debug, Default)]
pub(crate) struct MemoryPeer {
    /// Every byte the protocol's writes delivered.
    pub(crate) received: Vec<u8>,
    /// How many more bytes the peer accepts before writes would block;
    /// `None` is unbounded.
    pub(crate) window: Option<usize>,
    /// The protocol's side shut down writing (a clean close).
    pub(crate) write_shutdown: bool,
    /// The connection was reset (aborted) by the protocol's side.
    pub(crate) reset: bool,
    /// What the reactor did on this connection, in order.
    pub(crate) log: Vec<crate::testing::Event>,
}

/// A connection's byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    Memory(Rc<RefCell<MemoryPeer>>),
    /// The process's standard input (a duplicate of descriptor 0): read
    /// only.
    Stdin(mio::unix::pipe::Receiver),
}

impl Stream {
    /// Records an event on an in-memory connection (nothing for sockets).
    pub(crate) fn note(&self, event: impl FnOnce() -> crate::testing::Event) {
        if let Stream::Memory(m) = self {
            m.borrow_mut().log.push(event());
        }
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            // Input to in-memory connections is fed by the harness.
            Stream::Memory(_) => Err(io::ErrorKind::WouldBlock.into()),
            Stream::Stdin(r) => r.read(buf),
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Memory(m) => {
                m.borrow_mut().write_shutdown = true;
                Ok(())
            }
            Stream::Stdin(_) => Ok(()),
        }
    }

    /// Makes the coming close send a reset (`SO_LINGER` 0).
    pub(crate) fn set_reset_on_close(&mut self) {
        match self {
            Stream::Tcp(s) => {
                if let Err(e) = socket2::SockRef::from(&*s).set_linger(Some(std::time::Duration::ZERO)) {
                    log::debug!("set_linger(0) failed: {e}");
                }
            }
            Stream::Memory(m) => m.borrow_mut().reset = true,
            Stream::Stdin(_) => {}
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Memory(m) => {
                let mut peer = m.borrow_mut();
                let n = match peer.window {
                    None => buf.len(),
                    Some(0) => return Err(io::ErrorKind::WouldBlock.into()),
                    Some(w) => w.min(buf.len()),
                };
                if let Some(w) = peer.window.as_mut() {
                    *w -= n;
                }
                peer.received.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Stream::Stdin(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "standard input is read only")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
