//! The command-line conventions of docs/protocols.md: `--help` (exit 0),
//! usage errors (exit 2) with addresses explained, the usual server
//! options ([`ServerArgs`]), a client's `--tls` and `--ca`
//! ([`ClientTls`]), and the `client` subcommand ([`ServerOrClient`]).

use std::any::TypeId;
use std::fmt::Display;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::process::exit;

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

/// Prints usage to stdout and exits 0 (for `-h`/`--help`), also when
/// stdout is closed (`--help | true`): the usage is then dropped silently.
pub fn help(usage: &str) -> ! {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", full_usage(usage)).and_then(|()| out.flush());
    exit(0)
}

/// Prints a usage error to stderr and exits 2, also when stderr is closed.
pub fn bad_args(usage: &str, err: impl Display) -> ! {
    super::report!("error: {err}\n\n{}", full_usage(usage));
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
    /// `--threads N`: reactors sharing the port (see [`serve`](super::serve)).
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
    /// The limit `--max-conns` sets for the whole process: made on first
    /// use (after the arguments are read) and shared by every clone of
    /// these arguments, so that the listeners of all `--threads` reactors
    /// (and a Unix listener beside the TCP one) count together.
    pub conn_limit: std::sync::Arc<std::sync::OnceLock<reel::ConnectionLimit>>,
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
            conn_limit: Default::default(),
        }
    }

    /// The process's connection limit (`--max-conns`), shared by every
    /// listener of every reactor.
    pub fn conn_limit(&self) -> reel::ConnectionLimit {
        self.conn_limit.get_or_init(|| reel::ConnectionLimit::new(self.max_conns)).clone()
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

/// The default `--max-conns`: the descriptor limit less a reserve for
/// listeners, stdio and the like.
pub fn default_max_conns() -> usize {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, _)) => (soft.saturating_sub(32)).max(1) as usize,
        Err(_) => 1000,
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

/// The next command-line argument, `None` at the end; a parse error is a
/// usage error (exit 2).
pub fn next_arg<'a>(usage: &str, parser: &'a mut lexopt::Parser) -> Option<lexopt::Arg<'a>> {
    match parser.next() {
        Ok(arg) => arg,
        Err(e) => bad_args(usage, e),
    }
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

/// The value of `--threads`: 1 to 1024, or a usage error (exit 2).
pub fn threads(usage: &str, parser: &mut lexopt::Parser) -> usize {
    let n: usize = value(usage, parser, "--threads");
    if !(1..=1024).contains(&n) {
        bad_args(usage, format!("--threads {n}: expected 1 to 1024"));
    }
    n
}
