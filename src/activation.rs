//! systemd socket activation: the listening sockets a service manager
//! opened for this process (`LISTEN_FDS` descriptors from 3 on, meant for
//! us when `LISTEN_PID` is our process id), typed so that a reactor can
//! adopt them.
//!
//! ```no_run
//! use reel::activation::{listen_fds, Inherited};
//! # use reel::{Context, Protocol};
//! # struct Echo;
//! # impl Protocol for Echo {
//! #     fn data_received(&mut self, cx: &mut Context<'_>, d: &[u8]) { cx.write(d) }
//! # }
//! let mut reactor = reel::Reactor::new()?;
//! for socket in listen_fds()? {
//!     match socket {
//!         Inherited::TcpListener(l) => {
//!             reactor.context().adopt_tcp_listener(l, |_| Echo, Default::default())?;
//!         }
//!         Inherited::UnixListener(l) => {
//!             reactor.context().adopt_unix_listener(l, |_| Echo, Default::default())?;
//!         }
//!         other => eprintln!("not serving {other:?}"),
//!     }
//! }
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Why not the `listenfd` crate: it accepts a missing `LISTEN_PID` (a
//! variant of the protocol for development tools) where systemd's
//! `sd_listen_fds` requires it, and it removes the variables with
//! `env::remove_var`, which races with any other thread reading the
//! environment. Here the one `unsafe` operation, taking ownership of the
//! inherited descriptors, is guarded so that it happens at most once per
//! process.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::sync::atomic::{AtomicBool, Ordering};

use socket2::{Domain, Socket, Type};

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// Set once the inherited descriptors have been taken.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// One socket passed by the service manager.
#[derive(Debug)]
#[non_exhaustive]
pub enum Inherited {
    /// A listening TCP socket (IPv4 or IPv6).
    TcpListener(std::net::TcpListener),
    /// A listening Unix stream socket.
    UnixListener(UnixListener),
    /// A bound UDP socket.
    Udp(std::net::UdpSocket),
    /// A bound Unix datagram socket.
    UnixDatagram(UnixDatagram),
    /// Anything else (a FIFO, a connected socket with `Accept=yes`, a
    /// netlink socket...), as a plain descriptor.
    Other(OwnedFd),
}

/// Takes the sockets passed by the service manager, in order (the order of
/// the unit's `ListenStream=`/`ListenDatagram=` lines). Each is marked
/// close-on-exec, so that it does not leak into children.
///
/// Returns an empty list when `LISTEN_PID` is absent or names another
/// process (the variables were inherited from a parent that was activated,
/// not meant for us), when `LISTEN_FDS` is absent, and on every call after
/// the first that took descriptors. The variables themselves are left in
/// place: removing them is not thread-safe, and `LISTEN_PID` already makes
/// them meaningless to any child.
///
/// # Errors
///
/// `InvalidData` when `LISTEN_FDS` or `LISTEN_PID` is not a number, or a
/// descriptor in the range is not open.
pub fn listen_fds() -> io::Result<Vec<Inherited>> {
    let Some(pid) = std::env::var_os("LISTEN_PID") else { return Ok(Vec::new()) };
    let pid: u32 = parse(&pid, "LISTEN_PID")?;
    if pid != std::process::id() {
        log::debug!("LISTEN_PID={pid} is not this process: ignoring LISTEN_FDS");
        return Ok(Vec::new());
    }
    let Some(count) = std::env::var_os("LISTEN_FDS") else { return Ok(Vec::new()) };
    let count: RawFd = parse(&count, "LISTEN_FDS")?;
    if count <= 0 || TAKEN.swap(true, Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    (FIRST_FD..FIRST_FD.saturating_add(count)).map(take).collect()
}

fn parse<T: std::str::FromStr>(value: &std::ffi::OsStr, name: &str) -> io::Result<T> {
    value
        .to_str()
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("{name}={value:?} is not a number")))
}

/// Takes ownership of one inherited descriptor and types it.
#[allow(unsafe_code)]
fn take(fd: RawFd) -> io::Result<Inherited> {
    // SAFETY: `fcntl(F_GETFD)` only reads the descriptor's flags; it is
    // defined for any integer (an unopened one fails with EBADF).
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("LISTEN_FDS: descriptor {fd}: {e}")));
    }
    // SAFETY: the descriptor is open (checked above), and the service
    // manager handed it to this process (`LISTEN_PID` is ours) for us to
    // own: nothing else in the process owns it. `TAKEN` makes this run at
    // most once per descriptor, so no second `OwnedFd` can close it twice.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let socket = Socket::from(owned);
    socket.set_cloexec(true)?;
    let kind = socket.r#type().ok();
    let domain = socket.local_addr().ok().map(|a| a.domain());
    let listening = socket.is_listener().unwrap_or(false);
    Ok(match (domain, kind) {
        (Some(Domain::IPV4 | Domain::IPV6), Some(Type::STREAM)) if listening => Inherited::TcpListener(socket.into()),
        (Some(Domain::UNIX), Some(Type::STREAM)) if listening => Inherited::UnixListener(socket.into()),
        (Some(Domain::IPV4 | Domain::IPV6), Some(Type::DGRAM)) => Inherited::Udp(socket.into()),
        (Some(Domain::UNIX), Some(Type::DGRAM)) => Inherited::UnixDatagram(socket.into()),
        _ => Inherited::Other(socket.into()),
    })
}
