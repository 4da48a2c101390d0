//! What every example program shares: logging, the command-line
//! conventions of docs/protocols.md (`--help`, exit statuses), and bind errors.
#![allow(dead_code)] // each example uses a part

use std::any::TypeId;
use std::fmt::Display;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::exit;

/// The name of the program: the crate this module is compiled into
/// (`echo_hello` for `examples/echo_hello.rs`).
pub fn program() -> &'static str {
    let path = module_path!();
    path.split("::").next().unwrap_or(path)
}

/// Logs to stderr at `info` unless `RUST_LOG` says otherwise. A line names
/// the program (`[INFO  echo_hello] listening on ...`), whichever of its
/// modules logged it; the library's lines name their module (`reel::...`).
/// `RUST_LOG` filters by module path as usual (`RUST_LOG=echo_hello=debug`).
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let target = record.target();
            let program = program();
            let source = match target.strip_prefix(program) {
                Some(rest) if rest.is_empty() || rest.starts_with("::") => program,
                _ => target,
            };
            let style = buf.default_level_style(record.level());
            writeln!(buf, "[{style}{:<5}{style:#} {source}] {}", record.level(), record.args())
        })
        .init();
}

/// What `ADDR` looks like, for the usage texts that mention it.
pub const ADDR_HELP: &str =
    "ADDR is an IP address and a port: 127.0.0.1:9999, or [::1]:9999 for IPv6 (port 0: any free port).";

/// The usage text, with what `ADDR` looks like when it mentions one.
fn full_usage(usage: &str) -> String {
    if usage.contains("ADDR") {
        format!("{usage}\n\n{ADDR_HELP}")
    } else {
        usage.to_string()
    }
}

/// Prints usage to stdout and exits 0 (for `-h`/`--help`).
pub fn help(usage: &str) -> ! {
    println!("{}", full_usage(usage));
    exit(0)
}

/// Prints a usage error to stderr and exits 2.
pub fn bad_args(usage: &str, err: impl Display) -> ! {
    eprintln!("error: {err}\n\n{}", full_usage(usage));
    exit(2)
}

/// Why `text` is not an address (`IP:PORT`), in words a user can act on.
pub fn explain_bad_addr(text: &str) -> String {
    let Some((host, port)) = text.rsplit_once(':') else {
        return "expected IP:PORT, such as 127.0.0.1:9999 or [::1]:9999".to_string();
    };
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    if bracketed.is_none() && host.contains(':') {
        return "an IPv6 address needs brackets, as in [::1]:9999".to_string();
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return format!("the port {port:?} is not a number (0-65535)");
    }
    if port.parse::<u16>().is_err() {
        return "port must be 0-65535".to_string();
    }
    match bracketed {
        Some(ip) if ip.parse::<std::net::Ipv6Addr>().is_err() => format!("{ip:?} is not an IPv6 address"),
        None if host.parse::<IpAddr>().is_err() => {
            format!("{host:?} is not an IP address (a host name is not resolved: use 127.0.0.1 or [::1])")
        }
        _ => "expected IP:PORT, such as 127.0.0.1:9999 or [::1]:9999".to_string(),
    }
}

/// The value of the option just read, parsed, or a usage error (exit 2).
/// An address (`SocketAddr`) that does not parse is explained
/// ([`explain_bad_addr`]): `--listen 127.0.0.1:99999: port must be 0-65535`.
pub fn value<T>(usage: &str, parser: &mut lexopt::Parser, what: &str) -> T
where
    T: std::str::FromStr + 'static,
    T::Err: Display,
{
    let raw = match parser.value() {
        Ok(v) => v,
        Err(e) => bad_args(usage, e),
    };
    let text = match raw.into_string() {
        Ok(t) => t,
        Err(raw) => bad_args(usage, format!("{what}: not valid UTF-8: {raw:?}")),
    };
    match text.parse() {
        Ok(v) => v,
        Err(_) if TypeId::of::<T>() == TypeId::of::<SocketAddr>() => {
            bad_args(usage, format!("{what} {text}: {}", explain_bad_addr(&text)))
        }
        Err(e) => bad_args(usage, format!("{what} {text:?}: {e}")),
    }
}

/// The usual server options: `--listen`, `--max-conns`, `--idle-timeout`,
/// `--threads`, `--unix`, `--tls-cert FILE --tls-key FILE`.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    pub listen: SocketAddr,
    pub max_conns: usize,
    pub idle_timeout: std::time::Duration,
    /// `--threads N`: reactors sharing the port (see [`serve`]).
    pub threads: usize,
    /// `--unix PATH`: also serve on this Unix socket (instead of TCP when
    /// `--listen` is not given). `\0name` or `@name` is an abstract name.
    pub unix: Option<std::path::PathBuf>,
    /// Whether `--listen` was given.
    pub listen_given: bool,
    /// `--tls-cert`: serve over TLS with this certificate chain (PEM).
    pub tls_cert: Option<std::path::PathBuf>,
    /// `--tls-key`: the private key of `--tls-cert` (PEM).
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServerArgs {
    pub fn new(default_listen: &str, default_idle_secs: u64) -> ServerArgs {
        ServerArgs {
            listen: default_listen.parse().expect("default address is valid"),
            max_conns: default_max_conns(),
            idle_timeout: std::time::Duration::from_secs(default_idle_secs),
            threads: 1,
            unix: None,
            listen_given: false,
            tls_cert: None,
            tls_key: None,
        }
    }

    /// Whether to serve TCP (and UDP): unless `--unix` was given alone.
    pub fn serve_tcp(&self) -> bool {
        self.unix.is_none() || self.listen_given
    }

    /// How many reactors to run: `--threads`, or one when only `--unix`
    /// is served (reactor 0 alone serves the Unix socket: the others would
    /// have nothing to listen on).
    pub fn reactors(&self) -> usize {
        if self.serve_tcp() {
            self.threads
        } else {
            1
        }
    }

    /// Takes a server option if `long` (the name of a `--long` option) is
    /// one; returns whether it was.
    pub fn take(&mut self, usage: &str, long: Option<&str>, parser: &mut lexopt::Parser) -> bool {
        match long {
            Some("listen") => {
                self.listen = value(usage, parser, "--listen");
                self.listen_given = true;
            }
            Some("unix") => {
                let path: String = value(usage, parser, "--unix");
                if path.is_empty() {
                    bad_args(usage, "--unix: an empty path");
                }
                self.unix = Some(path.into());
            }
            Some("max-conns") => self.max_conns = value(usage, parser, "--max-conns"),
            Some("idle-timeout") => {
                let secs: u64 = value(usage, parser, "--idle-timeout");
                self.idle_timeout = std::time::Duration::from_secs(secs);
            }
            Some("threads") => self.threads = threads(usage, parser),
            Some("tls-cert") => self.tls_cert = Some(value::<String>(usage, parser, "--tls-cert").into()),
            Some("tls-key") => self.tls_key = Some(value::<String>(usage, parser, "--tls-key").into()),
            _ => return false,
        }
        true
    }
}

/// One clear line naming the address and the reason, then exit 1.
pub fn bind_failed(addr: SocketAddr, proto: &str, err: &std::io::Error) -> ! {
    let why = match err.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "address not available".to_string(),
        _ => err.to_string(),
    };
    eprintln!("error: cannot listen on {addr} ({proto}): {why}");
    exit(1)
}

/// The default `--max-conns`: the descriptor limit less a reserve for
/// listeners, stdio and the like.
pub fn default_max_conns() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => (soft.saturating_sub(32)).max(1) as usize,
        Err(_) => 1000,
    }
}

/// Raises the soft descriptor limit to the hard one (for servers expecting
/// many clients).
pub fn raise_fd_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        log::debug!("could not raise the descriptor limit: {e}");
    }
}

/// Parses a server command line that has only the usual options.
pub fn parse_server_args(usage: &str, mut args: ServerArgs) -> ServerArgs {
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(None) => return args,
            Ok(Some(lexopt::Arg::Short('h') | lexopt::Arg::Long("help"))) => help(usage),
            Ok(Some(lexopt::Arg::Long(name))) => {
                let name = name.to_string();
                if !args.take(usage, Some(&name), &mut parser) {
                    bad_args(usage, format!("invalid option '--{name}'"));
                }
            }
            Ok(Some(other)) => bad_args(usage, other.unexpected()),
            Err(e) => bad_args(usage, e),
        }
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
            eprintln!("error: cannot listen on {addr} (unix): {why}");
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
            eprintln!("error: --tls-cert and --tls-key go together");
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
            eprintln!("error: cannot load the TLS certificate and key: {e}");
            exit(1)
        }
    }
}

/// A client's `--tls` and `--ca FILE`: connect over TLS, trusting the
/// certificates of FILE (else the usual roots, `webpki-roots`).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub enabled: bool,
    pub ca: Option<std::path::PathBuf>,
}

impl ClientTls {
    /// Takes `--tls` or `--ca FILE` if `long` is one; returns whether it was.
    pub fn take(&mut self, usage: &str, long: &str, parser: &mut lexopt::Parser) -> bool {
        match long {
            "tls" => self.enabled = true,
            "ca" => {
                self.ca = Some(value::<String>(usage, parser, "--ca").into());
                self.enabled = true;
            }
            _ => return false,
        }
        true
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
            eprintln!("error: cannot load the CA certificates: {e}");
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

/// Listen options from the usual server arguments.
pub fn listen_options(args: &ServerArgs) -> reel::ListenOptions {
    reel::ListenOptions { max_connections: Some(args.max_conns), ..Default::default() }
}

/// A reactor that stops gracefully on SIGINT/SIGTERM; exits 1 if the OS
/// refuses one.
pub fn reactor() -> reel::Reactor {
    let mut reactor = match reel::Reactor::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot create the reactor: {e}");
            exit(1)
        }
    };
    if let Err(e) = reactor.stop_on_signals() {
        eprintln!("error: cannot install signal handlers: {e}");
        exit(1)
    }
    reactor
}

/// Runs the reactor to its end; exit 0 on a clean stop, 1 on a failure.
pub fn run(mut reactor: reel::Reactor) -> ! {
    match reactor.run() {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    }
}

/// The next command-line argument, `None` at the end; a parse error is a
/// usage error (exit 2).
pub fn next_arg<'a>(usage: &str, parser: &'a mut lexopt::Parser) -> Option<lexopt::Arg<'a>> {
    match parser.next() {
        Ok(arg) => arg,
        Err(e) => bad_args(usage, e),
    }
}

/// Runs a client's reactor to its end, then exits with the status the
/// client left in `status` (1 if the reactor itself failed).
pub fn run_client(mut reactor: reel::Reactor, status: &std::cell::Cell<i32>) -> ! {
    if let Err(e) = reactor.run() {
        eprintln!("error: {e}");
        exit(1);
    }
    exit(status.get())
}

/// What a program with a server and a `client [--connect ADDR]` subcommand
/// was asked to be.
#[derive(Debug)]
pub enum ServerOrClient {
    /// Serve, with these arguments.
    Server(ServerArgs),
    /// Be the client of this address (default: the server's address),
    /// over TLS when `--tls` or `--ca FILE` say so.
    Client(SocketAddr, ClientTls),
}

/// Parses `[server options]` or `client [--connect ADDR] [--tls] [--ca
/// FILE]`; the long options in `not_here` are refused even though
/// `ServerArgs` knows them.
pub fn parse_server_or_client(usage: &str, mut server: ServerArgs, not_here: &[&str]) -> ServerOrClient {
    let mut parser = lexopt::Parser::from_env();
    let mut client: Option<SocketAddr> = None;
    let mut tls = ClientTls::default();
    while let Some(arg) = next_arg(usage, &mut parser) {
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => help(usage),
            lexopt::Arg::Long("connect") if client.is_some() => {
                client = Some(value(usage, &mut parser, "--connect"));
            }
            lexopt::Arg::Long(name) if client.is_some() && matches!(name, "tls" | "ca") => {
                let name = name.to_string();
                tls.take(usage, &name, &mut parser);
            }
            lexopt::Arg::Long(name) if client.is_none() && !not_here.contains(&name) => {
                let name = name.to_string();
                if !server.take(usage, Some(&name), &mut parser) {
                    bad_args(usage, format!("invalid option '--{name}'"));
                }
            }
            lexopt::Arg::Value(v) if client.is_none() && v == "client" => client = Some(server.listen),
            other => bad_args(usage, other.unexpected()),
        }
    }
    match client {
        Some(addr) => ServerOrClient::Client(addr, tls),
        None => ServerOrClient::Server(server),
    }
}

// ----- --threads N: one reactor per thread ------------------------------------------

/// The value of `--threads`: 1 to 1024, or a usage error (exit 2).
pub fn threads(usage: &str, parser: &mut lexopt::Parser) -> usize {
    let n: usize = value(usage, parser, "--threads");
    if !(1..=1024).contains(&n) {
        bad_args(usage, format!("--threads {n}: expected 1 to 1024"));
    }
    n
}

thread_local! {
    /// The group member whose reactor this thread runs, while `serve`
    /// sets it up with more than one thread: [`listen_tcp`] and
    /// [`listen_udp`] then bind with `SO_REUSEPORT`, on reactor 0's port.
    static MEMBER: std::cell::RefCell<Option<reel::GroupMember>> = const { std::cell::RefCell::new(None) };
}

/// Which reactor of how many this thread sets up and runs, and the
/// group's handle; `None` with `--threads 1`.
pub fn group_member() -> Option<(usize, reel::GroupHandle)> {
    MEMBER.with(|m| m.borrow().as_ref().map(|m| (m.index(), m.group().clone())))
}

/// Serves with `threads` reactors, each set up by `setup` (the same calls
/// a single-reactor server makes: [`listen_tcp`], [`listen_udp`], ...),
/// and exits: 0 after a clean stop (SIGINT/SIGTERM drain every reactor),
/// 1 on a failure. With one thread this is [`reactor`] + `setup` +
/// [`run`], on this thread; with more, a `reel::ReactorGroup` whose
/// listeners share each port through `SO_REUSEPORT`.
pub fn serve(threads: usize, setup: impl Fn(&mut reel::Reactor) + Send + Sync + 'static) -> ! {
    if threads <= 1 {
        let mut reactor = reactor();
        setup(&mut reactor);
        run(reactor)
    }
    let config = reel::GroupConfig { threads, stop_on_signals: true, ..Default::default() };
    let group = match start_group(config, setup) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    };
    log::info!("serving with {threads} reactors");
    match group.join() {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    }
}

/// Starts a group whose reactors are each set up by `setup`, with
/// [`group_member`] (and so [`listen_tcp`] and [`listen_udp`]) knowing
/// the member during the setup and after; [`serve`] without the exit.
///
/// # Errors
///
/// As `reel::ReactorGroup::start`.
pub fn start_group(
    config: reel::GroupConfig,
    setup: impl Fn(&mut reel::Reactor) + Send + Sync + 'static,
) -> Result<reel::ReactorGroup, reel::GroupError> {
    reel::ReactorGroup::start(config, move |reactor, member| {
        MEMBER.with(|m| *m.borrow_mut() = Some(member));
        setup(reactor);
        Ok(())
    })
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
