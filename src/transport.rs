//! The transport seam: the byte stream under a connection.
//!
//! The connection state machine (`crate::conn`) never names a socket type.
//! It reads, writes, shuts down and resets through [`Stream`], whose
//! variants are the transports reel knows: a TCP socket, a Unix domain
//! stream socket, the process's standard input, and any [`Transport`]
//! implementation behind a box (the in-memory connections of
//! [`crate::testing`]; TLS plugs in the same way).
//!
//! A transport moves bytes and reports what the peer did; it owns no phase
//! and runs no user code. A stateful transport (TLS: ciphertext in,
//! plaintext out, records of its own during a handshake) keeps its state
//! behind `read` / `write` and says, through [`Transport::wants_write`], that
//! it has bytes of its own to send.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use crate::conn::Event;

/// A byte stream that is not a plain socket: the seam for in-memory
/// connections (tests), TLS (`crate::tls`) and, later, Unix domain sockets.
///
/// Every method is non-blocking: `read` and `write` return
/// `ErrorKind::WouldBlock` when they cannot make progress now.
pub(crate) trait Transport: std::fmt::Debug {
    /// Reads plaintext into `buf`. `Ok(0)` is the peer's end of stream.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes plaintext from `buf`.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Ends our side of the stream (the peer reads EOF).
    fn shutdown_write(&mut self) -> io::Result<()>;
    /// Makes the coming close a reset rather than an orderly end.
    fn set_reset_on_close(&mut self);
    /// A pending error the peer caused (a reset), if any.
    fn take_error(&mut self) -> io::Result<Option<io::Error>> {
        Ok(None)
    }
    /// Whether a read shorter than the buffer proves nothing is left to
    /// read (true for sockets under edge-triggered polling).
    fn short_read_drains(&self) -> bool {
        false
    }
    /// The poll registration, if the transport is polled (an in-memory
    /// transport is not: the harness drives it).
    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        None
    }
    /// Whether a hang-up reported by the poll, with no pending error,
    /// means the peer reset the connection (true of TCP only; a pipe's
    /// hang-up is its writer's end).
    fn hang_up_is_reset(&self) -> bool {
        false
    }
    /// Sees what the reactor did on the connection (the harness logs it).
    fn observe(&mut self, event: &Event) {
        let _ = event;
    }
    /// The socket under the transport, if there is one (a TLS transport
    /// gives its inner socket's): what `Context::sock_ref`, the peer
    /// credentials and the addresses of non-TCP transports are read from.
    fn sock_ref(&self) -> Option<socket2::SockRef<'_>> {
        None
    }
    /// Whether the transport holds bytes of its own not yet sent (TLS
    /// records: handshake, alerts, `close_notify`, or ciphertext of
    /// plaintext already taken by [`write`](Transport::write)). While it
    /// does, a writable edge brings the connection to the settle phase,
    /// which calls [`flush_own`](Transport::flush_own).
    fn wants_write(&self) -> bool {
        false
    }
    /// Sends the bytes of its own as far as the socket takes them
    /// (`WouldBlock` when it takes no more now).
    fn flush_own(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Whether a closing connection may end now (its own bytes and, for
    /// TLS, `close_notify` sent); asked once the queued output is flushed.
    /// A transport that says no is asked again at the next writable edge,
    /// within the close timeout.
    fn close_ready(&mut self) -> bool {
        true
    }
    /// Moves a connection in phase `Connecting` along (a TCP connect, then
    /// a TLS handshake); see [`Establish`].
    fn establish(&mut self) -> io::Result<Establish> {
        Ok(Establish::Done)
    }
    /// The local and peer addresses, once connected.
    fn addrs(&self) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
        None
    }
    /// Whether input given to the protocol may still be handed back (TLS
    /// just started on the connection, nothing read from the socket yet).
    fn takes_early_input(&self) -> bool {
        false
    }
    /// Takes input handed back (see `takes_early_input`).
    fn take_early_input(&mut self, bytes: &[u8]) {
        let _ = bytes;
    }
    /// Whether a TLS handshake is in progress.
    fn handshaking(&self) -> bool {
        false
    }
    /// What TLS negotiated, for a TLS transport past its handshake.
    fn tls_info(&self) -> Option<crate::tls::TlsInfo> {
        None
    }
}

/// Where [`Transport::establish`] left a connection being established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Establish {
    /// Still in progress; the next readiness event moves it on.
    Pending,
    /// The link under it (TCP) just connected; the handshake over it has
    /// this long, from now (the phase deadline is re-armed).
    LinkUp(std::time::Duration),
    /// Established: the protocol hears `connection_made`.
    Done,
}

/// A connection's byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(mio::net::TcpStream),
    /// A Unix domain stream socket (inline like TCP: no box, no virtual
    /// call on the hot path; a TLS transport wraps one the same way it
    /// wraps a TCP socket, as a `Read + Write + mio::event::Source`).
    Unix(mio::net::UnixStream),
    /// The process's standard input (a duplicate of descriptor 0): read
    /// only.
    Stdin(mio::unix::pipe::Receiver),
    /// Any other transport.
    Other(Box<dyn Transport>),
}

impl Stream {
    /// Tells the transport what happened (only boxed transports listen).
    #[inline]
    pub(crate) fn note(&mut self, event: impl FnOnce() -> Event) {
        if let Stream::Other(t) = self {
            t.observe(&event());
        }
    }

    /// Reads into `buf`. A socket is read with `recv` through `rustix`
    /// (a direct system call: about 60 instructions less per read than
    /// `std`'s wrappers and libc's cancellation-point handling).
    #[inline]
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_recv(&*s, buf),
            Stream::Unix(s) => socket_recv(&*s, buf),
            Stream::Stdin(r) => r.read(buf),
            Stream::Other(t) => t.read(buf),
        }
    }

    /// The socket of a TCP or Unix stream connection (the common path
    /// reads and writes it directly).
    #[inline]
    pub(crate) fn socket(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match self {
            Stream::Tcp(s) => Some(s.as_fd()),
            Stream::Unix(s) => Some(s.as_fd()),
            _ => None,
        }
    }

    /// Whether a short read means the stream is drained until the next
    /// readiness edge. Not for a terminal (a read returns one line however
    /// much was pasted) nor for transports the harness drives.
    #[inline]
    pub(crate) fn short_read_drains(&self) -> bool {
        match self {
            Stream::Tcp(_) | Stream::Unix(_) => true,
            Stream::Stdin(_) => false,
            Stream::Other(t) => t.short_read_drains(),
        }
    }

    /// Whether a hang-up with no pending error means a reset: on Linux a
    /// TCP socket reports one only when both directions are shut or the
    /// socket is closed, so while our write side is open it is the peer's
    /// reset. A pipe's hang-up is its writer's end: the EOF is read after
    /// what is still in it. So is a Unix stream socket's (Linux reports it
    /// when the peer closes; a peer that closed with our bytes unread
    /// leaves `ECONNRESET` pending, which `take_error` reports).
    #[inline]
    pub(crate) fn hang_up_is_reset(&self) -> bool {
        match self {
            Stream::Tcp(_) => true,
            Stream::Unix(_) | Stream::Stdin(_) => false,
            Stream::Other(t) => t.hang_up_is_reset(),
        }
    }

    /// Whether the transport has bytes of its own to send (never for TCP).
    #[inline]
    pub(crate) fn wants_write(&self) -> bool {
        matches!(self, Stream::Other(t) if t.wants_write())
    }

    /// Sends the transport's own bytes (see [`Transport::flush_own`]).
    pub(crate) fn flush_own(&mut self) -> io::Result<()> {
        match self {
            Stream::Other(t) => t.flush_own(),
            _ => Ok(()),
        }
    }

    /// Whether a closing connection whose queue is flushed may end now
    /// (see [`Transport::close_ready`]).
    pub(crate) fn close_ready(&mut self) -> bool {
        match self {
            Stream::Other(t) => t.close_ready(),
            _ => true,
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Stdin(_) => Ok(()),
            Stream::Other(t) => t.shutdown_write(),
        }
    }

    /// A pending socket error (`SO_ERROR`): how a reset is learnt when
    /// nothing is being read or written.
    pub(crate) fn take_error(&mut self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
            Stream::Stdin(_) => Ok(None),
            Stream::Other(t) => t.take_error(),
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
            // A Unix stream socket has no reset to send: the peer reads
            // EOF (or ECONNRESET if it had left our bytes unread).
            Stream::Unix(_) | Stream::Stdin(_) => {}
            Stream::Other(t) => t.set_reset_on_close(),
        }
    }

    /// `TCP_NODELAY` on a TCP socket; nothing on other transports.
    pub(crate) fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nodelay(on),
            _ => Ok(()),
        }
    }

    /// The socket under the connection, for options reel does not wrap:
    /// the TCP or Unix socket itself, or a boxed transport's inner socket.
    pub(crate) fn sock_ref(&self) -> Option<socket2::SockRef<'_>> {
        match self {
            Stream::Tcp(s) => Some(socket2::SockRef::from(s)),
            Stream::Unix(s) => Some(socket2::SockRef::from(s)),
            Stream::Stdin(_) => None,
            Stream::Other(t) => t.sock_ref(),
        }
    }
}

impl Write for Stream {
    /// Writes from `buf`; a socket with `send(MSG_NOSIGNAL)` through
    /// `rustix`, as `std` does, without its wrappers.
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => socket_send(&*s, buf),
            Stream::Unix(s) => socket_send(&*s, buf),
            Stream::Stdin(_) => Err(io::Error::new(io::ErrorKind::Unsupported, "standard input is read only")),
            Stream::Other(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `recv(fd, buf, 0)`, as `std`'s `Read` for a socket.
#[inline]
fn socket_recv(fd: impl std::os::fd::AsFd, buf: &mut [u8]) -> io::Result<usize> {
    match rustix::net::recv(fd, buf, rustix::net::RecvFlags::empty()) {
        // Never more than asked: no TRUNC flag.
        Ok((n, _)) => Ok(n),
        Err(e) => Err(e.into()),
    }
}

/// `send(fd, buf, MSG_NOSIGNAL)`, as `std`'s `Write` for a socket: a peer
/// gone is `EPIPE`, never a `SIGPIPE`.
#[inline]
fn socket_send(fd: impl std::os::fd::AsFd, buf: &[u8]) -> io::Result<usize> {
    rustix::net::send(fd, buf, rustix::net::SendFlags::NOSIGNAL).map_err(io::Error::from)
}
