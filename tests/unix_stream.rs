//! Unix domain stream sockets: round trips both ways (std client against
//! a reel listener, reel client against a reel listener), addresses, peer
//! credentials, abstract names, stale socket files, file mode, and the
//! socket file removed when the listener closes.

mod util;

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use reel::{Context, PeerCred, Protocol, Reason, SocketAddress, UnixAddr, UnixListenOptions};
use util::Log;

/// A fresh directory under the system's temporary directory, removed on
/// drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("reel-unix-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create temp dir");
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn connect(path: &Path) -> UnixStream {
    let s = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect {}: {e}", path.display()));
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s
}

/// Echoes, and records what the context says of the connection.
struct Recorder {
    seen: Log<(SocketAddress, SocketAddress, std::net::SocketAddr, Option<PeerCred>)>,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let cred = cx.peer_cred().ok();
        self.seen.borrow_mut().push((cx.peer_address(), cx.local_address(), cx.peer_addr(), cred));
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
}

#[test]
fn std_client_round_trip_addresses_and_peer_credentials() {
    let dir = TempDir::new();
    let path = dir.path("echo.sock");
    let mut reactor = util::reactor();
    let seen = util::log();
    let s2 = seen.clone();
    let id = reactor.listen_unix(&path, move |_| Recorder { seen: s2.clone() }).expect("listen_unix");
    assert_eq!(reactor.listener_address(id), Some(SocketAddress::Unix(UnixAddr::Path(path.clone()))));
    assert_eq!(reactor.listener_addr(id).map(|a| a.ip().is_unspecified()), Some(true));
    let p = path.clone();
    let client = util::client(&reactor, move || {
        let mut s = connect(&p);
        s.write_all(b"hello over unix\n").unwrap();
        let mut got = [0u8; 16];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello over unix\n");
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
    util::run(&mut reactor);
    client.join();
    let meta = std::fs::metadata(&path);
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let (peer, local, peer_ip, cred) = &seen[0];
    assert_eq!(*peer, SocketAddress::Unix(UnixAddr::Unnamed), "an unbound client has no name");
    assert_eq!(*local, SocketAddress::Unix(UnixAddr::Path(path.clone())));
    assert!(peer_ip.ip().is_unspecified(), "peer_addr() of a Unix connection is the unspecified address");
    let cred = cred.expect("peer credentials");
    assert_eq!(cred.pid, std::process::id(), "the peer is this process");
    // The socket file was created by this process: its owner is our uid/gid.
    drop(meta);
    let dir_meta = std::fs::metadata(&dir.0).unwrap();
    assert_eq!(cred.uid, dir_meta.uid());
    assert_eq!(cred.gid, dir_meta.gid());
    drop(seen);
    drop(reactor);
    assert!(!path.exists(), "the socket file is removed with its listener");
}

/// A client that sends `msg`, checks the echo, and stops the reactor.
struct PingClient {
    msg: &'static [u8],
    got: Vec<u8>,
    log: Log<String>,
}

impl Protocol for PingClient {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.log.borrow_mut().push(format!("made peer={}", cx.peer_address()));
        cx.write(self.msg);
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        self.got.extend_from_slice(data);
        if self.got.len() >= self.msg.len() {
            self.log.borrow_mut().push(format!("echo {}", String::from_utf8_lossy(&self.got)));
            cx.close();
        }
    }
    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().push(format!("lost {reason:?}"));
        cx.stop();
    }
    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().push(format!("failed {reason:?}"));
        cx.stop();
    }
}

#[test]
fn reel_client_to_reel_listener() {
    let dir = TempDir::new();
    let path = dir.path("ping.sock");
    let mut reactor = util::reactor();
    reactor.listen_unix(&path, util::echo_factory()).expect("listen_unix");
    let log = util::log();
    reactor.connect_unix(&path, PingClient { msg: b"ping", got: Vec::new(), log: log.clone() });
    util::run(&mut reactor);
    assert_eq!(*log.borrow(), [format!("made peer={}", path.display()), "echo ping".into(), "lost Closed".into()]);
}

#[test]
fn connecting_to_nothing_fails_through_the_protocol() {
    let dir = TempDir::new();
    let mut reactor = util::reactor();
    let log = util::log();
    reactor.connect_unix(dir.path("nobody.sock"), PingClient { msg: b"x", got: Vec::new(), log: log.clone() });
    util::run(&mut reactor);
    let log = log.borrow();
    assert_eq!(log.len(), 1);
    assert!(log[0].starts_with("failed Io(NotFound"), "{log:?}");
}

#[test]
fn abstract_names() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("reel-test-{}-abstract", std::process::id());
    let mut reactor = util::reactor();
    let seen = util::log();
    let s2 = seen.clone();
    let id = reactor.listen_unix(format!("\0{name}"), move |_| Recorder { seen: s2.clone() }).expect("listen");
    assert_eq!(reactor.listener_address(id), Some(SocketAddress::Unix(UnixAddr::Abstract(name.clone().into_bytes()))));
    assert_eq!(reactor.listener_address(id).unwrap().to_string(), format!("@{name}"));
    let n2 = name.clone();
    let client = util::client(&reactor, move || {
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(n2.as_bytes()).unwrap();
        let mut s = UnixStream::connect_addr(&addr).expect("connect to the abstract name");
        s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
        s.write_all(b"abc").unwrap();
        let mut got = [0u8; 3];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abc");
    });
    util::run(&mut reactor);
    client.join();
    let seen = seen.borrow();
    assert_eq!(seen[0].1, SocketAddress::Unix(UnixAddr::Abstract(name.into_bytes())));
    assert_eq!(seen[0].3.map(|c| c.pid), Some(std::process::id()));
}

#[test]
fn a_stale_socket_file_is_removed() {
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    drop(UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
    assert!(path.exists());
    let mut reactor = util::reactor();
    reactor.listen_unix(&path, util::echo_factory()).expect("a stale file is replaced");
    let p = path.clone();
    let client = util::client(&reactor, move || {
        let mut s = connect(&p);
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
    });
    util::run(&mut reactor);
    client.join();
}

#[test]
fn a_live_socket_is_never_removed() {
    let dir = TempDir::new();
    let path = dir.path("live.sock");
    let live = UnixListener::bind(&path).unwrap();
    let mut reactor = util::reactor();
    let err = reactor.listen_unix(&path, util::echo_factory()).expect_err("a live socket is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let text = err.to_string();
    assert!(text.contains("another server is listening") && text.contains("live.sock"), "{text}");
    // Still the live server's socket: a client reaches it.
    let _c = connect(&path);
    assert!(live.accept().is_ok());
}

#[test]
fn a_file_that_is_not_a_socket_is_never_removed() {
    let dir = TempDir::new();
    let path = dir.path("data.txt");
    std::fs::write(&path, b"precious").unwrap();
    let mut reactor = util::reactor();
    let err = reactor.listen_unix(&path, util::echo_factory()).expect_err("a regular file is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn stale_files_are_kept_when_asked() {
    let dir = TempDir::new();
    let path = dir.path("keep.sock");
    drop(UnixListener::bind(&path).unwrap());
    let mut reactor = util::reactor();
    let opts = UnixListenOptions { remove_stale: false, ..Default::default() };
    let err = reactor.listen_unix_with(&path, util::echo_factory(), opts).expect_err("not removed");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    assert!(path.exists());
}

#[test]
fn file_mode_and_removal_on_close() {
    let dir = TempDir::new();
    let path = dir.path("mode.sock");
    let mut reactor = util::reactor();
    for mode in [0o600, 0o660] {
        let opts = UnixListenOptions { mode: Some(mode), ..Default::default() };
        let id = reactor.listen_unix_with(&path, util::echo_factory(), opts).expect("listen");
        let got = std::fs::symlink_metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, mode, "mode {mode:o}");
        assert!(reactor.context().close_listener(id));
        assert!(!path.exists(), "closing the listener removes its socket file");
    }
}

#[test]
fn a_replaced_socket_file_is_left_alone() {
    let dir = TempDir::new();
    let path = dir.path("replaced.sock");
    let mut reactor = util::reactor();
    let id = reactor.listen_unix(&path, util::echo_factory()).expect("listen");
    // Another server takes the path over (as a restart would).
    std::fs::remove_file(&path).unwrap();
    let _other = UnixListener::bind(&path).unwrap();
    reactor.context().close_listener(id);
    assert!(path.exists(), "the other server's socket file stays");
}

#[test]
fn peer_cred_is_unsupported_over_tcp() {
    struct Check(Log<String>);
    impl Protocol for Check {
        fn connection_made(&mut self, cx: &mut Context<'_>) {
            self.0.borrow_mut().push(format!("{:?}", cx.peer_cred().map_err(|e| e.kind())));
            self.0.borrow_mut().push(format!("inet={}", cx.peer_address().as_inet() == Some(cx.peer_addr())));
            cx.close();
        }
        fn data_received(&mut self, _cx: &mut Context<'_>, _data: &[u8]) {}
    }
    let mut reactor = util::reactor();
    let log = util::log();
    let l2 = log.clone();
    let id = reactor.listen_tcp("127.0.0.1:0", move |_| Check(l2.clone())).unwrap();
    let addr = reactor.listener_addr(id).unwrap();
    let client = util::client(&reactor, move || util::read_to_end(&mut util::connect(addr)));
    util::run(&mut reactor);
    client.join();
    assert_eq!(*log.borrow(), ["Err(Unsupported)", "inet=true"]);
}

#[test]
fn bulk_both_ways_with_flow_control() {
    // 4 MiB through the echo while the client writes and reads at once:
    // partial writes, water marks and flow control over a Unix socket.
    const TOTAL: usize = 4 * 1024 * 1024;
    let dir = TempDir::new();
    let path = dir.path("bulk.sock");
    let mut reactor = util::reactor();
    reactor.listen_unix(&path, util::echo_factory()).expect("listen_unix");
    let p = path.clone();
    let client = util::client(&reactor, move || {
        let s = connect(&p);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            for chunk in util::pattern(0, TOTAL).chunks(64 * 1024) {
                w.write_all(chunk).unwrap();
            }
            w.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut got = Vec::with_capacity(TOTAL);
        (&s).read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        got
    });
    util::run(&mut reactor);
    util::check_pattern(&client.join(), TOTAL);
}
