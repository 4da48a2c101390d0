//! The TLS transport: rustls over a non-blocking byte stream.
//!
//! Ciphertext in, plaintext out. The connection state machine sees only
//! plaintext: what [`Transport::read`] returns and what
//! [`Transport::write`] takes. Records of rustls's own (the handshake,
//! session tickets, alerts, `close_notify`) are sent from `read` as they
//! arise, and whatever the socket did not take then waits in rustls:
//! [`Transport::wants_write`] tells the settle phase to call
//! [`Transport::flush_own`] at the next writable edge.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use rustls::Connection;

use super::Link;
use super::{TlsFailure, TlsInfo};
use crate::transport::{Establish, Transport};

/// A TLS session over a [`Link`].
pub(crate) struct TlsStream<L: Link> {
    link: L,
    tls: Connection,
    /// Whether the link itself is connected (false while a client's TCP
    /// connect is in progress).
    link_up: bool,
    /// How long the handshake may take once the link is up.
    handshake_timeout: Duration,
    /// Cleartext to send before any TLS record: what the protocol queued
    /// before [`start_tls`](crate::Context::start_tls) (the "go ahead"
    /// line of a STARTTLS exchange).
    clear_prefix: Vec<u8>,
    /// Bytes received in cleartext that belong to the TLS session (those
    /// that came in the same read as the STARTTLS line), fed to rustls
    /// before the socket is read.
    early_ciphertext: Vec<u8>,
    /// Something was read from the link since the session started.
    link_read: bool,
    /// The last read from the link was short (it had less than rustls
    /// asked for) and the last plaintext read emptied rustls's buffer:
    /// under edge-triggered polling nothing is left to read until the next
    /// edge (see [`Transport::short_read_drains`]).
    drained: bool,
    /// `close_notify` was queued.
    close_sent: bool,
    /// Our side is to be shut once everything is out (a `shutdown_write`
    /// that could not flush at once).
    shutdown_pending: bool,
    /// The link's write side is shut.
    shut: bool,
}

impl<L: Link> std::fmt::Debug for TlsStream<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("link", &self.link)
            .field("handshaking", &self.tls.is_handshaking())
            .field("close_sent", &self.close_sent)
            .finish_non_exhaustive()
    }
}

impl<L: Link> TlsStream<L> {
    /// A session over `link`; `link_up` is false for a client whose
    /// connect is still in progress.
    pub(crate) fn new(link: L, tls: Connection, link_up: bool, handshake_timeout: Duration) -> TlsStream<L> {
        TlsStream {
            link,
            tls,
            link_up,
            handshake_timeout,
            clear_prefix: Vec::new(),
            early_ciphertext: Vec::new(),
            link_read: false,
            drained: false,
            close_sent: false,
            shutdown_pending: false,
            shut: false,
        }
    }

    /// Cleartext to send first (see `clear_prefix`).
    pub(crate) fn set_clear_prefix(&mut self, bytes: Vec<u8>) {
        self.clear_prefix = bytes;
    }

    /// Ciphertext that arrived before the switch (see `early_ciphertext`).
    pub(crate) fn push_early_ciphertext(&mut self, bytes: &[u8]) {
        self.early_ciphertext.extend_from_slice(bytes);
    }

    /// Reads ciphertext into rustls: first what came before the switch,
    /// then the link. `Ok(0)` is the link's end.
    fn read_ciphertext(&mut self) -> io::Result<usize> {
        if !self.early_ciphertext.is_empty() {
            let mut early: &[u8] = &self.early_ciphertext;
            let n = self.tls.read_tls(&mut early)?;
            self.early_ciphertext.drain(..n);
            return Ok(n.max(1)); // never taken for the link's end
        }
        self.link_read = true;
        let mut probe = Probe { link: &mut self.link, short: false };
        let result = self.tls.read_tls(&mut probe);
        self.drained = probe.short; // `process` may clear it
        result
    }

    /// Decrypts what was read. On a TLS error the alert rustls queued is
    /// sent (as far as the socket takes it) and the error returned.
    fn process(&mut self) -> io::Result<()> {
        match self.tls.process_new_packets() {
            Ok(state) => {
                // The peer's close_notify: its end is read next, and no
                // edge will come for it.
                if state.peer_has_closed() {
                    self.drained = false;
                }
                Ok(())
            }
            Err(e) => {
                log::debug!("tls: {e}");
                let _ = self.send_own();
                Err(TlsFailure::Error(e.to_string()).into_io())
            }
        }
    }

    /// Sends the cleartext prefix, then rustls's records, until done or the
    /// socket would block; then, if asked, shuts the write side.
    fn send_own(&mut self) -> io::Result<()> {
        while !self.clear_prefix.is_empty() {
            match self.link.write(&self.clear_prefix) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.clear_prefix.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.link) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_pending && !self.shut {
            self.shut = true;
            self.link.shutdown_write()?;
        }
        Ok(())
    }

    /// Feeds the `n` bytes of ciphertext at the front of `buf` to rustls,
    /// record by record, and moves the plaintext to the front of `buf`:
    /// as it goes, onto bytes already consumed (a record's plaintext is
    /// shorter than its ciphertext), and at the end into the rest of
    /// `buf` (a record begun in an earlier read finishes in this one, so
    /// its plaintext may outgrow what this read consumed). Plaintext that
    /// does not fit stays in rustls, and the socket is not taken as
    /// drained. Returns the plaintext's length.
    fn decrypt_in_place(&mut self, buf: &mut [u8], n: usize) -> io::Result<usize> {
        let (mut pos, mut filled) = (0, 0);
        while pos < n {
            let mut input = &buf[pos..n];
            let k = self.tls.read_tls(&mut input)?;
            if k == 0 {
                break; // after close_notify: nothing more is read
            }
            pos += k;
            self.process()?;
            filled += self.take_plaintext(&mut buf[filled..pos])?;
        }
        filled += self.take_plaintext(&mut buf[filled..])?;
        if filled == buf.len() {
            self.drained = false; // more may wait in rustls
        }
        Ok(filled)
    }

    /// Moves decrypted bytes from rustls into `dest`; 0 when there are
    /// none (the end of stream, if any, is told by the next read).
    fn take_plaintext(&mut self, dest: &mut [u8]) -> io::Result<usize> {
        match self.tls.reader().read(dest) {
            Ok(m) => Ok(m),
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::UnexpectedEof) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Sends rustls's own records, if any, keeping only real errors.
    fn send_pending(&mut self) -> io::Result<()> {
        if self.tls.wants_write() {
            match self.send_own() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// A read error from the link: before `WouldBlock` is returned,
    /// records of rustls's own go out.
    fn would_block(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::WouldBlock {
            if let Err(f) = self.send_pending() {
                return f;
            }
        }
        e
    }

    /// Queues `close_notify` once.
    fn queue_close_notify(&mut self) {
        if !self.close_sent {
            self.close_sent = true;
            self.tls.send_close_notify();
        }
    }
}

/// A reader over the link that notes whether a read came back short.
struct Probe<'a, L> {
    link: &'a mut L,
    short: bool,
}

impl<L: Read> Read for Probe<'_, L> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.link.read(buf)?;
        self.short = n > 0 && n < buf.len();
        Ok(n)
    }
}

impl<L: Link + 'static> Transport for TlsStream<L> {
    fn sock_ref(&self) -> Option<socket2::SockRef<'_>> {
        Some(socket2::SockRef::from(&self.link))
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => {
                    // A plaintext read that did not fill `buf` emptied
                    // rustls's buffer; together with a short link read,
                    // the socket is drained.
                    self.drained &= n < buf.len() && self.early_ciphertext.is_empty();
                    return Ok(n); // 0: the peer's close_notify
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(TlsFailure::Truncated.into_io());
                }
                Err(e) => return Err(e),
            }
            if !self.early_ciphertext.is_empty() || buf.len() < 4096 {
                // What came before a STARTTLS switch; or a buffer too
                // small to decrypt in place: rustls reads the link itself.
                match self.read_ciphertext() {
                    Ok(_) => {} // the link's end too: the reader says which end
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.would_block(e)),
                }
                self.process()?;
                self.send_pending()?;
                continue;
            }
            // One read from the socket into `buf`, decrypted in place: a
            // single system call for up to `buf.len()` of ciphertext, where
            // rustls alone reads a record (at most ~16 KiB) at a time.
            let n = match self.link.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.would_block(e)),
            };
            self.link_read = true;
            if n == 0 {
                // The link's end: rustls learns of it, and the reader says
                // whether close_notify came first.
                self.tls.read_tls(&mut io::empty())?;
                self.process()?;
                continue;
            }
            self.drained = n < buf.len();
            let filled = self.decrypt_in_place(buf, n)?; // may clear `drained`
            self.send_pending()?;
            if filled > 0 {
                return Ok(filled);
            }
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Ciphertext of earlier writes goes first: while the socket holds
        // it back, plaintext stays queued in the connection, where the
        // water marks and the output limits count it.
        self.send_own()?;
        let n = self.tls.writer().write(buf)?;
        match self.send_own() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ if n == 0 => Err(io::ErrorKind::WouldBlock.into()),
            _ => Ok(n),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.queue_close_notify();
        self.shutdown_pending = true;
        match self.send_own() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    fn set_reset_on_close(&mut self) {
        self.link.set_reset_on_close();
    }

    fn take_error(&mut self) -> io::Result<Option<io::Error>> {
        self.link.take_error()
    }

    fn short_read_drains(&self) -> bool {
        // A short plaintext read alone proves nothing about the socket;
        // a short read from the socket behind it, with nothing left
        // decrypted, does (saves the read that would say `WouldBlock`).
        self.drained
    }

    fn source(&mut self) -> Option<&mut dyn mio::event::Source> {
        Some(&mut self.link)
    }

    fn hang_up_is_reset(&self) -> bool {
        self.link.hang_up_is_reset()
    }

    fn wants_write(&self) -> bool {
        !self.clear_prefix.is_empty() || self.tls.wants_write() || (self.shutdown_pending && !self.shut)
    }

    fn flush_own(&mut self) -> io::Result<()> {
        self.send_own()
    }

    fn close_ready(&mut self) -> bool {
        // Plaintext written during a handshake (after `start_tls`) waits in
        // rustls for its end; `close_notify` then would drop it, so wait
        // (bounded by the close timeout) while a handshake is on.
        if self.tls.is_handshaking() && self.clear_prefix.is_empty() {
            let _ = self.send_own();
            // Reading (discarding) moves the handshake along.
            return false;
        }
        self.queue_close_notify();
        match self.send_own() {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => true, // the end reports it
        }
    }

    fn establish(&mut self) -> io::Result<Establish> {
        if !self.link_up {
            if !self.link.is_connected()? {
                return Ok(Establish::Pending);
            }
            self.link_up = true;
            return Ok(Establish::LinkUp(self.handshake_timeout));
        }
        loop {
            match self.send_own() {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
            if !self.tls.is_handshaking() {
                return Ok(Establish::Done);
            }
            match self.read_ciphertext() {
                Ok(0) => return Err(TlsFailure::Truncated.into_io()),
                Ok(_) => self.process()?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Establish::Pending),
                Err(e) => return Err(e),
            }
        }
    }

    fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.link.addrs()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        if self.tls.is_handshaking() {
            return None;
        }
        let sni = match &self.tls {
            Connection::Server(s) => s.server_name().map(str::to_owned),
            Connection::Client(_) => None,
        };
        Some(TlsInfo {
            server_name: sni,
            alpn: self.tls.alpn_protocol().map(<[u8]>::to_vec),
            version: self.tls.protocol_version(),
            cipher_suite: self.tls.negotiated_cipher_suite().map(|s| s.suite()),
            peer_certificates: self.tls.peer_certificates().map(|c| c.iter().map(|c| c.clone().into_owned()).collect()),
        })
    }

    fn takes_early_input(&self) -> bool {
        !self.link_read && self.tls.is_handshaking()
    }

    fn take_early_input(&mut self, bytes: &[u8]) {
        self.push_early_ciphertext(bytes);
    }

    fn handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use mio::{Events, Interest, Poll, Token};

    use super::*;

    /// A server configuration and a client configuration trusting it.
    fn configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
        use rustls::pki_types::pem::PemObject;
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = made.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(made.signing_key.serialize_pem().as_bytes()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    /// Waits (bounded) for the next readiness event of the one source.
    fn wait(poll: &mut Poll, events: &mut Events, deadline: Instant) {
        assert!(Instant::now() < deadline, "timed out");
        poll.poll(events, Some(Duration::from_millis(100))).unwrap();
    }

    /// `shutdown_write` over TLS: `close_notify`, then the socket's write
    /// side; the peer still writes, and its `close_notify` is our EOF.
    #[test]
    fn shutdown_write_sends_close_notify_then_fin_and_reading_goes_on() {
        let (server_config, client_config) = configs();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || -> std::io::Result<(Vec<u8>, Vec<u8>)> {
            let sock = std::net::TcpStream::connect(addr)?;
            sock.set_read_timeout(Some(Duration::from_secs(10)))?;
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(client_config, name).unwrap();
            let mut s = rustls::StreamOwned::new(conn, sock);
            s.write_all(b"hi")?;
            s.flush()?;
            // The server's half-close: its data, then a clean end (a
            // truncation would be an UnexpectedEof error here).
            let mut got = Vec::new();
            s.read_to_end(&mut got)?;
            // Then, through the raw socket: the FIN after close_notify.
            let mut raw = [0u8; 16];
            let after = s.sock.read(&mut raw)?;
            s.write_all(b"after")?;
            s.conn.send_close_notify();
            s.flush()?;
            Ok((got, raw[..after].to_vec()))
        });
        let (sock, _) = listener.accept().unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut link = mio::net::TcpStream::from_std(sock);
        let mut poll = Poll::new().unwrap();
        poll.registry().register(&mut link, Token(0), Interest::READABLE | Interest::WRITABLE).unwrap();
        let session = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = TlsStream::new(link, session.into(), true, Duration::from_secs(10));
        let mut events = Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tls.establish().unwrap() != Establish::Done {
            wait(&mut poll, &mut events, deadline);
        }
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        while got.len() < 2 {
            match tls.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait(&mut poll, &mut events, deadline),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"hi");
        assert_eq!(tls.write(b"bye").unwrap(), 3);
        tls.shutdown_write().unwrap();
        while tls.wants_write() {
            wait(&mut poll, &mut events, deadline);
            match tls.flush_own() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                other => other.unwrap(),
            }
        }
        // Reading goes on after our half-close, to the peer's close_notify.
        got.clear();
        loop {
            match tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait(&mut poll, &mut events, deadline),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, b"after");
        let (client_got, raw_after) = client.join().unwrap().unwrap();
        assert_eq!(client_got, b"bye");
        assert!(raw_after.is_empty(), "the socket ends after close_notify: {raw_after:?}");
    }
}
