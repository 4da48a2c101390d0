//! Listening and connecting: TCP, TLS, Unix and UDP listeners that log
//! `listening on ADDR (PROTO)` or exit with one clear line, bound on
//! reactor 0's port under `--threads N` ([`bind_in_group`]), and a
//! client's TCP or TLS connection.

use std::net::SocketAddr;
use std::process::exit;

use super::reactors::MEMBER;
use super::{ClientTls, ServerArgs};

/// One clear line naming the address and the reason, then exit 1.
pub fn bind_failed(addr: SocketAddr, proto: &str, err: &std::io::Error) -> ! {
    let why = match err.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        _ => err.to_string(),
    };
    super::report!("error: cannot listen on {addr} ({proto}): {why}");
    exit(1)
}

/// Raises the soft descriptor limit to the hard one (for servers expecting
/// many clients).
pub fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        log::debug!("could not raise the descriptor limit: {e}");
    }
}

/// Starts a TCP listener and logs `listening on ADDR (tcp)`; on failure
/// prints one clear line and exits 1.
pub fn listen_tcp(
    reactor: &mut reel::Reactor,
    addr: SocketAddr,
    factory: impl reel::Factory + 'static,
    opts: reel::ListenOptions,
) -> reel::ListenerId {
    let listened = bind_in_group(addr, "tcp", |addr, reuse_port| {
        let id = reactor.listen_tcp_with(addr, factory, reel::ListenOptions { reuse_port, ..opts })?;
        Ok((id, reactor.listener_addr(id).unwrap_or(addr)))
    });
    match listened {
        Ok(id) => {
            log::info!("listening on {} (tcp)", reactor.listener_addr(id).unwrap_or(addr));
            id
        }
        Err(e) => bind_failed(addr, "tcp", &e),
    }
}

/// With `--unix PATH`, starts a Unix socket listener there and logs
/// `listening on PATH (unix)`; on failure prints one clear line (naming the
/// path and why: a live server on it, a file that is not a socket, a
/// missing directory) and exits 1. `@name` names an abstract socket.
pub fn listen_unix(
    reactor: &mut reel::Reactor,
    args: &ServerArgs,
    factory: impl reel::Factory + 'static,
    opts: reel::ListenOptions,
) -> Option<reel::ListenerId> {
    let path = args.unix.as_ref()?;
    // One listener per path: with --threads N, reactor 0 serves the Unix
    // socket (the kernel spreads Unix connections over no SO_REUSEPORT
    // group), the others serve TCP.
    if MEMBER.with(|m| m.borrow().as_ref().is_some_and(|member| member.index() != 0)) {
        return None;
    }
    let addr = match path.to_str().and_then(|p| p.strip_prefix('@')) {
        Some(name) => reel::UnixAddr::Abstract(name.as_bytes().to_vec()),
        None => reel::UnixAddr::Path(path.clone()),
    };
    let opts = reel::UnixListenOptions { listen: opts, ..Default::default() };
    // With --tls-cert/--tls-key the Unix socket serves TLS too: the same
    // contract wherever the server listens.
    let (listened, kind) = match tls_server_config(args) {
        Some(config) => (reactor.listen_unix_tls(&addr, config, factory, opts), "unix, tls"),
        None => (reactor.listen_unix_with(&addr, factory, opts), "unix"),
    };
    match listened {
        Ok(id) => {
            log::info!("listening on {addr} ({kind})");
            Some(id)
        }
        Err(e) => {
            let text = e.to_string();
            let why = text.strip_prefix(&format!("{addr}: ")).unwrap_or(&text);
            super::report!("error: cannot listen on {addr} (unix): {why}");
            exit(1)
        }
    }
}

/// Starts the server's stream listener on `args.listen`: TLS when
/// `--tls-cert`/`--tls-key` were given (logs `listening on ADDR (tls)`),
/// else TCP. A missing half of the pair, an unreadable file or a key that
/// does not fit: one clear line, exit 1 (bad arguments: exit 2).
pub fn listen(
    reactor: &mut reel::Reactor,
    args: &ServerArgs,
    factory: impl reel::Factory + 'static,
    opts: reel::ListenOptions,
) -> reel::ListenerId {
    match tls_server_config(args) {
        None => listen_tcp(reactor, args.listen, factory, opts),
        Some(config) => {
            let listened = bind_in_group(args.listen, "tcp", |addr, reuse_port| {
                let id = reactor.listen_tls_with(addr, config, factory, reel::ListenOptions { reuse_port, ..opts })?;
                Ok((id, reactor.listener_addr(id).unwrap_or(addr)))
            });
            match listened {
                Ok(id) => {
                    log::info!("listening on {} (tls)", reactor.listener_addr(id).unwrap_or(args.listen));
                    id
                }
                Err(e) => bind_failed(args.listen, "tls", &e),
            }
        }
    }
}

/// The TLS configuration `--tls-cert` and `--tls-key` ask for, if any;
/// exits on an error (see [`listen`]).
pub fn tls_server_config(args: &ServerArgs) -> Option<std::sync::Arc<reel::tls::ServerConfig>> {
    let (cert, key) = match (&args.tls_cert, &args.tls_key) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => {
            super::report!("error: --tls-cert and --tls-key go together");
            exit(2)
        }
    };
    match reel::tls::server_config(cert, key) {
        Ok(mut config) => {
            // HTTP/1.1 is the only application protocol any example
            // speaks that ALPN names; a client that asks for nothing is
            // served the same.
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(std::sync::Arc::new(config))
        }
        Err(e) => {
            super::report!("error: cannot load the TLS certificate and key: {e}");
            exit(1)
        }
    }
}

/// Connects to `addr` over TCP, or over TLS when `tls` says so (the
/// server's certificate must name `addr`'s IP address). A CA file that
/// cannot be loaded: one clear line, exit 1.
pub fn connect(
    reactor: &mut reel::Reactor,
    addr: SocketAddr,
    tls: &ClientTls,
    protocol: impl reel::Protocol + 'static,
) -> reel::ConnId {
    if !tls.enabled {
        return reactor.connect_tcp(addr, protocol);
    }
    let config = match reel::tls::client_config(tls.ca.as_deref()) {
        Ok(c) => std::sync::Arc::new(c),
        Err(e) => {
            super::report!("error: cannot load the CA certificates: {e}");
            exit(1)
        }
    };
    reactor.connect_tls(addr, &addr.ip().to_string(), config, protocol)
}
/// Starts a UDP endpoint and logs `listening on ADDR (udp)`; on failure
/// prints one clear line and exits 1.
pub fn listen_udp(
    reactor: &mut reel::Reactor,
    addr: SocketAddr,
    protocol: impl reel::DatagramProtocol + 'static,
) -> reel::UdpId {
    let listened = bind_in_group(addr, "udp", |addr, reuse_port| {
        let id = reactor.listen_udp_with(addr, protocol, &reel::UdpOptions { reuse_port, ..Default::default() })?;
        Ok((id, reactor.udp_addr(id).unwrap_or(addr)))
    });
    match listened {
        Ok(id) => {
            log::info!("listening on {} (udp)", reactor.udp_addr(id).unwrap_or(addr));
            id
        }
        Err(e) => bind_failed(addr, "udp", &e),
    }
}

/// The UDP ports the examples serve on by default, each answering every
/// datagram: daytime 1313, echo 7007, factorial 9998, echo_hello 9999,
/// timestamp 21567.
pub const EXAMPLE_UDP_PORTS: [u16; 5] = [1313, 7007, 9998, 9999, 21567];

// `refuses_source` spells the list as a pattern: the two agree.
const _: () = {
    let mut i = 0;
    while i < EXAMPLE_UDP_PORTS.len() {
        assert!(matches!(EXAMPLE_UDP_PORTS[i], 1313 | 7007 | 9998 | 9999 | 21567));
        i += 1;
    }
};

/// Whether the examples' UDP services must not answer a datagram from
/// `from`: the library's reflector ports (source port 0 and the
/// well-known echo-type services 7, 13, 17, 19, 37:
/// `reel::protocols::echo::is_reflector_port`), and the examples' own
/// default UDP ports ([`EXAMPLE_UDP_PORTS`]). Two examples answer each
/// other's datagrams as readily as two well-known services do: one
/// datagram forged from daytime's port 1313 to echo's 7007 would
/// otherwise bounce between them for ever (and pin `demo`, which serves
/// both in one reactor).
#[inline]
pub fn refuses_source(from: SocketAddr) -> bool {
    // `EXAMPLE_UDP_PORTS` spelled as a pattern: a few compares, where
    // `contains` walked the array.
    reel::protocols::echo::is_reflector_port(from) || matches!(from.port(), 1313 | 7007 | 9998 | 9999 | 21567)
}

/// A UDP service that ignores the datagrams [`refuses_source`] refuses,
/// for the library's services (`UdpEcho`, `UdpDaytime`), which know only
/// the well-known ports. The examples' own services ask `refuses_source`
/// themselves, first thing: a wrapper around them cost about 15
/// instructions per datagram more than the check alone (the CI guard's
/// UDP case, 2 December 2026).
pub struct Guarded<P>(pub P);

impl<P: reel::DatagramProtocol> reel::DatagramProtocol for Guarded<P> {
    fn started(&mut self, cx: &mut reel::DatagramContext<'_>) {
        self.0.started(cx);
    }

    #[inline]
    fn datagram_received(&mut self, cx: &mut reel::DatagramContext<'_>, data: &[u8], from: SocketAddr) {
        if refuses_source(from) {
            log::debug!("not answering {from}: a reflector port");
            return;
        }
        self.0.datagram_received(cx, data, from);
    }

    fn error_received(&mut self, cx: &mut reel::DatagramContext<'_>, error: &std::io::Error) {
        self.0.error_received(cx, error);
    }

    fn stopped(&mut self, cx: &mut reel::DatagramContext<'_>) {
        self.0.stopped(cx);
    }

    fn timer_fired(&mut self, cx: &mut reel::DatagramContext<'_>, timer: reel::TimerId) {
        self.0.timer_fired(cx, timer);
    }
}

/// Listen options from the usual server arguments.
pub fn listen_options(args: &ServerArgs) -> reel::ListenOptions {
    let mut tcp = reel::TcpOptions::default();
    // A TLS client that sends nothing is as idle as one that sends no
    // line: its handshake gets no longer than the idle timeout.
    if !args.idle_timeout.is_zero() {
        tcp.handshake_timeout = tcp.handshake_timeout.min(args.idle_timeout);
    }
    // `--max-conns` counts the whole process's connections: one limit for
    // every listener of every reactor (`--threads`).
    reel::ListenOptions { shared_limit: Some(args.conn_limit()), tcp, ..Default::default() }
}

/// Binds through the group member of this thread, if any: on reactor 0's
/// port (which matters for port 0), after checking that nobody else holds
/// the port (`SO_REUSEPORT` would otherwise let a second copy of the
/// server share it silently). Without a group, `bind(addr)` as it is.
fn bind_in_group<T>(
    addr: SocketAddr,
    proto: &str,
    bind: impl FnOnce(SocketAddr, bool) -> std::io::Result<(T, SocketAddr)>,
) -> std::io::Result<T> {
    MEMBER.with(|m| match m.borrow().as_ref() {
        None => bind(addr, false).map(|(made, _)| made),
        Some(member) => member.bind_shared(addr, |shared| {
            if member.index() == 0 && shared.port() != 0 {
                // A plain bind fails if any socket holds the port.
                match proto {
                    "udp" => drop(std::net::UdpSocket::bind(shared)?),
                    _ => drop(std::net::TcpListener::bind(shared)?),
                }
            }
            bind(shared, true)
        }),
    })
}
