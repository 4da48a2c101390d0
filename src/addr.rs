//! Socket addresses as the API takes them: anything that names one.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one socket address: a [`SocketAddr`], an
/// `(ip, port)` pair, or text such as `"127.0.0.1:9000"` or `"[::1]:0"`.
///
/// Only numeric addresses: reel never resolves a host name behind the
/// caller's back (a resolver blocks, and the loop must not).
///
/// ```
/// use reel::ToSocketAddr;
/// let a = "127.0.0.1:9000".to_socket_addr()?;
/// assert_eq!(a, ([127, 0, 0, 1], 9000).to_socket_addr()?);
/// assert!("localhost:80".to_socket_addr().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddr {
    /// The address.
    ///
    /// # Errors
    ///
    /// `ErrorKind::InvalidInput` for text that is not a numeric socket
    /// address.
    fn to_socket_addr(&self) -> io::Result<SocketAddr>;
}

impl ToSocketAddr for SocketAddr {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        Ok(*self)
    }
}

impl ToSocketAddr for SocketAddrV4 {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V4(*self))
    }
}

impl ToSocketAddr for SocketAddrV6 {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::V6(*self))
    }
}

impl<I: Into<IpAddr> + Copy> ToSocketAddr for (I, u16) {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::new(self.0.into(), self.1))
    }
}

impl ToSocketAddr for str {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        self.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?} is not a numeric socket address (like 127.0.0.1:9000 or [::1]:9000)"),
            )
        })
    }
}

impl ToSocketAddr for String {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        self.as_str().to_socket_addr()
    }
}

impl<T: ToSocketAddr + ?Sized> ToSocketAddr for &T {
    fn to_socket_addr(&self) -> io::Result<SocketAddr> {
        (**self).to_socket_addr()
    }
}

/// The unspecified address of the same family, port 0.
pub(crate) fn unspecified(v6: bool) -> SocketAddr {
    if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    }
}
