//! The byte stream under a TLS session, [`Link`]: a TCP or a Unix stream
//! socket, each saying how it shuts, resets and reports its addresses.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

/// The byte stream under a TLS session: a TCP or a Unix stream socket.
pub(crate) trait Link: Read + Write + mio::event::Source + std::os::fd::AsFd + std::fmt::Debug {
    /// Ends our side of the stream.
    fn shutdown_write(&self) -> io::Result<()>;
    /// A pending socket error (`SO_ERROR`).
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// Makes the coming close a reset.
    fn set_reset_on_close(&self);
    /// Whether a connect in progress has completed (`Ok(false)`: not yet).
    fn is_connected(&self) -> io::Result<bool>;
    /// The local and peer addresses.
    fn addrs(&self) -> Option<(SocketAddr, SocketAddr)>;
    /// Whether a hang-up without a pending error means a reset.
    fn hang_up_is_reset(&self) -> bool;
}

impl Link for mio::net::TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::TcpStream::take_error(self)
    }
    fn set_reset_on_close(&self) {
        if let Err(e) = socket2::SockRef::from(self).set_linger(Some(Duration::ZERO)) {
            log::debug!("set_linger(0) failed: {e}");
        }
    }
    fn is_connected(&self) -> io::Result<bool> {
        if let Some(e) = mio::net::TcpStream::take_error(self)? {
            return Err(e);
        }
        match self.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
            Err(e) => Err(e),
        }
    }
    fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        Some((self.local_addr().ok()?, self.peer_addr().ok()?))
    }
    fn hang_up_is_reset(&self) -> bool {
        true
    }
}

impl Link for mio::net::UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        mio::net::UnixStream::take_error(self)
    }
    /// A Unix socket has no reset: the peer reads an end of stream.
    fn set_reset_on_close(&self) {}
    /// A Unix connect completes or fails at once.
    fn is_connected(&self) -> io::Result<bool> {
        match mio::net::UnixStream::take_error(self)? {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }
    /// No IP addresses: the connection keeps its placeholders, and
    /// `Context::peer_address` reads the socket's own.
    fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        None
    }
    fn hang_up_is_reset(&self) -> bool {
        false
    }
}
