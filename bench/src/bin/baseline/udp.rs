//! UDP `echo_hello` (PROTOCOLS.md: a datagram `X`, trailing CR/LF dropped,
//! answered with one datagram `Hello, X!`; no answer to a reflector port)
//! served without reel, three ways, for `--proto udp_echo_hello`:
//!
//! - `mio`: a hand-written mio loop, one `recv_from` and one `send_to` per
//!   datagram until `WouldBlock`, a reply that would block is dropped (as
//!   the kernel drops datagrams): the speed limit of a readiness loop.
//! - `tokio`: tokio's current-thread runtime, one task looping on
//!   `UdpSocket::recv_from` and `send_to`.
//! - `threads`: a blocking `std::net::UdpSocket` loop on one thread.
//!
//! The three share [`answer`]; none allocates per datagram.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reel::protocols::echo::is_reflector_port;

/// The largest datagram read.
const READ_BUF: usize = 64 * 1024;

/// Formats the answer to datagram `data` from `from` into `out`; false when
/// it must not be answered.
pub fn answer(data: &[u8], from: SocketAddr, out: &mut Vec<u8>) -> bool {
    // The example's rule (examples/common/net.rs, `refuses_source`): the
    // well-known reflector ports and the examples' own UDP ports.
    if is_reflector_port(from) || matches!(from.port(), 1313 | 7007 | 9998 | 9999 | 21567) {
        return false;
    }
    let mut x = data;
    while let [rest @ .., b'\r' | b'\n'] = x {
        x = rest;
    }
    out.clear();
    out.extend_from_slice(b"Hello, ");
    out.extend_from_slice(x);
    out.push(b'!');
    true
}

/// Binds a UDP socket as reel does (`IPV6_V6ONLY` for IPv6).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// The hand-written mio loop.
///
/// # Errors
///
/// When the poller cannot be created or fails.
pub fn serve_mio(socket: UdpSocket, stop: Arc<AtomicBool>) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    let mut socket = mio::net::UdpSocket::from_std(socket);
    let mut poll = mio::Poll::new()?;
    poll.registry().register(&mut socket, mio::Token(0), mio::Interest::READABLE)?;
    let mut events = mio::Events::with_capacity(16);
    let mut buf = vec![0; READ_BUF];
    let mut out = Vec::with_capacity(READ_BUF + 16);
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        loop {
            let (n, from) = match socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An ICMP error for an earlier send, reported here: go on.
                Err(_) => continue,
            };
            if answer(&buf[..n], from, &mut out) {
                // A full socket buffer drops the reply, as the network may.
                let _ = socket.send_to(&out, from);
            }
        }
    }
    Ok(())
}

/// The blocking `std::net` loop.
///
/// # Errors
///
/// Never, in practice: receive errors (ICMP reports) are skipped.
pub fn serve_blocking(socket: UdpSocket, stop: Arc<AtomicBool>) -> io::Result<()> {
    let mut buf = vec![0; READ_BUF];
    let mut out = Vec::with_capacity(READ_BUF + 16);
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        if answer(&buf[..n], from, &mut out) {
            let _ = socket.send_to(&out, from);
        }
    }
    Ok(())
}

/// tokio's current-thread runtime, one task.
///
/// # Errors
///
/// When the runtime cannot be built or the socket registered.
pub fn serve_tokio(socket: UdpSocket, stop: Arc<AtomicBool>) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let mut buf = vec![0; READ_BUF];
        let mut out = Vec::with_capacity(READ_BUF + 16);
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else { continue };
            if answer(&buf[..n], from, &mut out) {
                let _ = socket.send_to(&out, from).await;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn answers_as_the_contract_says() {
        let from = "127.0.0.1:5000".parse().unwrap();
        let mut out = Vec::new();
        assert!(answer(b"ping 1\r\n", from, &mut out));
        assert_eq!(out, b"Hello, ping 1!");
        assert!(answer(b"", from, &mut out));
        assert_eq!(out, b"Hello, !");
        assert!(!answer(b"x", "127.0.0.1:7".parse().unwrap(), &mut out));
    }
}
