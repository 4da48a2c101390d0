//! The `proxy` example, as a process, against real clients and targets:
//! byte-exact both ways, half-close passed on each way, a reset on one side
//! ends both, a refused target closes the client at once (and is logged),
//! memory bounded per pair with a slow reader, 1,000 concurrent pairs.

mod example_bin;
use example_bin::spawn_logging;

mod example_util;

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(10);

/// A running proxy: its process, its address, and its log lines.
struct Proxy {
    child: Child,
    addr: SocketAddr,
    log: mpsc::Receiver<String>,
}

impl Proxy {
    fn start(target: SocketAddr) -> Proxy {
        let (child, log) = spawn_logging("proxy", ["--listen", "127.0.0.1:0", "--connect", &target.to_string()]);
        let mut lines = log.lines();
        let addr = loop {
            let line = lines.next().expect("the proxy logs before serving").expect("stderr line");
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.trim_end_matches(" (tcp)").parse().expect("logged address");
            }
        };
        let (tx, log) = mpsc::channel();
        thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Proxy { child, addr, log }
    }

    /// The proxy's resident memory, in KiB (`VmRSS`).
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("VmRSS value")
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect_timeout(&self.addr, TIMEOUT).expect("connect to the proxy");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
        s
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A target listener whose one connection `serve` handles on a thread;
/// returns its address and the thread's result.
fn spawn_target<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
    let addr = listener.local_addr().expect("target addr");
    let handle = thread::spawn(move || {
        let (s, _) = listener.accept().expect("target accept");
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        s.set_write_timeout(Some(TIMEOUT)).expect("timeout");
        serve(s)
    });
    (addr, handle)
}

/// `n` bytes of a stream that repeats every 251 bytes (a prime, so that it
/// lines up with no buffer size), from byte `offset`.
fn stream(offset: usize, n: usize) -> Vec<u8> {
    (offset..offset + n).map(|i| (i % 251) as u8).collect()
}

fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap_or_else(|e| panic!("read to end after {} bytes: {e}", out.len()));
    out
}

/// The client half-closes first: the target reads everything and its EOF,
/// then answers and half-closes; the client reads the answer after its own
/// half-close.
#[test]
fn byte_exact_both_ways_with_the_clients_half_close_first() {
    let up = stream(3, 3 * 1024 * 1024 + 17);
    let down = stream(100, 2 * 1024 * 1024 + 5);
    let down2 = down.clone();
    let (taddr, target) = spawn_target(move |mut s| {
        let got = read_all(&mut s);
        s.write_all(&down2).expect("target write");
        s.shutdown(Shutdown::Write).expect("target shutdown");
        got
    });
    let proxy = Proxy::start(taddr);
    let mut c = proxy.connect();
    let mut w = c.try_clone().expect("clone");
    let up2 = up.clone();
    let writer = thread::spawn(move || {
        w.write_all(&up2).expect("client write");
        w.shutdown(Shutdown::Write).expect("client shutdown");
    });
    let got = read_all(&mut c);
    writer.join().expect("writer");
    assert!(got == down, "target → client: {} bytes, {} expected", got.len(), down.len());
    let at_target = target.join().expect("target");
    assert!(at_target == up, "client → target: {} bytes, {} expected", at_target.len(), up.len());
}

/// The target half-closes first (right after accepting): the client reads
/// its answer and EOF, then sends and half-closes; the target reads it all.
#[test]
fn byte_exact_both_ways_with_the_targets_half_close_first() {
    let up = stream(7, 1024 * 1024 + 3);
    let down = stream(0, 5 * 1024 * 1024 + 1);
    let down2 = down.clone();
    let (taddr, target) = spawn_target(move |mut s| {
        s.write_all(&down2).expect("target write");
        s.shutdown(Shutdown::Write).expect("target shutdown");
        read_all(&mut s)
    });
    let proxy = Proxy::start(taddr);
    let mut c = proxy.connect();
    let got = read_all(&mut c);
    assert!(got == down, "target → client: {} bytes, {} expected", got.len(), down.len());
    c.write_all(&up).expect("client write after the target's EOF");
    c.shutdown(Shutdown::Write).expect("client shutdown");
    let at_target = target.join().expect("target");
    assert!(at_target == up, "client → target: {} bytes, {} expected", at_target.len(), up.len());
    // Both directions done: the client's side ends.
    assert_eq!(read_all(&mut c), b"");
}

/// A reset by the target ends the client's side at once, and a reset by
/// the client ends the target's.
#[test]
fn a_reset_on_either_side_ends_both() {
    // The target resets.
    let (taddr, target) = spawn_target(|s| {
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).expect("linger 0");
        drop(s);
    });
    let proxy = Proxy::start(taddr);
    let mut c = proxy.connect();
    target.join().expect("target");
    let start = Instant::now();
    let mut buf = [0u8; 64];
    match c.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("{n} bytes from a reset target"),
    }
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(proxy);

    // The client resets.
    let (taddr, target) = spawn_target(|mut s| {
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    panic!("the target's side did not end after the client's reset")
                }
                Err(_) => return,
            }
        }
    });
    let proxy = Proxy::start(taddr);
    let mut c = proxy.connect();
    c.write_all(b"x").expect("write");
    socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO)).expect("linger 0");
    drop(c);
    target.join().expect("target");
}

/// A refused target: the client is closed at once, and the proxy says why.
#[test]
fn a_refused_target_closes_the_client_at_once_and_is_logged() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    }; // closed: connecting to it is refused
    let proxy = Proxy::start(dead);
    let mut c = proxy.connect();
    let start = Instant::now();
    assert_eq!(read_all(&mut c), b"", "a clean close, nothing sent");
    assert!(start.elapsed() < Duration::from_secs(2), "closed after {:?}", start.elapsed());
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let line = proxy.log.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a log line");
        if line.contains(&format!("cannot connect to {dead}")) {
            assert!(line.contains("refused"), "{line}");
            break;
        }
    }
}

/// 256 MiB from a fast target to a client that reads slowly: the proxy's
/// resident memory grows by less than 4 MiB, and every byte arrives in
/// order.
#[test]
fn a_slow_reader_keeps_the_proxys_memory_bounded() {
    const TOTAL: usize = 256 * 1024 * 1024;
    const CHUNK: usize = 1024 * 1024;
    let (taddr, target) = spawn_target(|mut s| {
        let block = stream(0, CHUNK + 251);
        let mut sent = 0;
        while sent < TOTAL {
            let off = sent % 251;
            s.write_all(&block[off..off + CHUNK]).expect("target write");
            sent += CHUNK;
        }
        s.shutdown(Shutdown::Write).expect("shutdown");
    });
    let proxy = Proxy::start(taddr);
    let before = proxy.rss_kib();
    let mut c = proxy.connect();
    let expected = stream(0, 64 * 1024 + 251);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut got, mut peak, mut next_pause) = (0usize, before, 0usize);
    loop {
        // Slow: a pause every 16 MiB lets every buffer on the way fill.
        if got >= next_pause {
            thread::sleep(Duration::from_millis(30));
            peak = peak.max(proxy.rss_kib());
            next_pause += 16 * 1024 * 1024;
        }
        let n = c.read(&mut buf).expect("client read");
        if n == 0 {
            break;
        }
        let off = got % 251;
        assert!(buf[..n] == expected[off..off + n], "bytes differ near offset {got}");
        got += n;
    }
    peak = peak.max(proxy.rss_kib());
    target.join().expect("target");
    assert_eq!(got, TOTAL);
    let growth = peak.saturating_sub(before);
    eprintln!("proxy RSS: {before} KiB before, {peak} KiB at most: +{growth} KiB for 256 MiB forwarded");
    assert!(growth < 4 * 1024, "the proxy's RSS grew by {growth} KiB");
}

/// 1,000 pairs open at once, each with its own bytes, all answered.
#[test]
fn a_thousand_concurrent_pairs() {
    const PAIRS: usize = 1000;
    if let Err(e) = rlimit::increase_nofile_limit(4 * PAIRS as u64 + 256) {
        eprintln!("could not raise the descriptor limit: {e}");
    }
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    if soft < 2 * PAIRS as u64 + 128 {
        eprintln!("skipped: the descriptor limit ({soft}) is below what {PAIRS} pairs need here");
        return;
    }
    let echo = example_util::serve(|reactor| {
        let id = reactor
            .listen_tcp_with(
                "127.0.0.1:0",
                |_| Box::new(reel::protocols::echo::Echo) as Box<dyn reel::Protocol>,
                reel::ListenOptions { backlog: 2048, ..Default::default() },
            )
            .expect("listen");
        reactor.listener_addr(id).expect("addr")
    });
    let proxy = Proxy::start(echo.addr);
    let mut clients: Vec<TcpStream> = (0..PAIRS).map(|_| proxy.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("pair {i}\n").as_bytes()).expect("write");
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let want = format!("pair {i}\n");
        let mut got = vec![0u8; want.len()];
        c.read_exact(&mut got).unwrap_or_else(|e| panic!("pair {i}: {e}"));
        assert_eq!(got, want.as_bytes());
    }
    drop(clients);
    echo.stop();
}

mod tls_util;
mod tools;

/// The server conventions hold for the proxy too: `--tls-cert/--tls-key`
/// terminate TLS (the target is reached in the clear), `--unix` serves a
/// Unix socket beside the port (over TLS too, with a certificate), and
/// `--threads 2` runs two reactors. The
/// proxy took these options before and silently ignored them.
#[test]
fn tls_unix_and_threads_options_are_served_not_ignored() {
    let cert = tls_util::TestCert::new(&["localhost"]);
    let dir = tools::TempDir::new("proxy-tls");
    let (cert_file, key_file) = cert.write_to(&dir.0);
    let sock = dir.0.join("proxy.sock");
    // A target that echoes each of its two connections (one over TLS, one
    // over the Unix socket), to its client's EOF.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind target");
    let target = listener.local_addr().expect("target addr");
    let echo = thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().expect("target accept");
            s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            let mut buf = [0; 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => s.write_all(&buf[..n]).expect("echo"),
                }
            }
        }
    });
    let target = target.to_string();
    let (cert_arg, key_arg, sock_arg) =
        (cert_file.to_str().expect("path"), key_file.to_str().expect("path"), sock.to_str().expect("path"));
    let (child, stderr) = spawn_logging(
        "proxy",
        ["--listen", "127.0.0.1:0", "--connect", &target, "--threads", "2"].into_iter().chain([
            "--tls-cert",
            cert_arg,
            "--tls-key",
            key_arg,
            "--unix",
            sock_arg,
        ]),
    );
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let proxy = Proxy { child, addr: "127.0.0.1:0".parse().expect("addr"), log: rx };
    let mut log = Vec::new();
    while !log.iter().any(|l: &String| l.contains("serving with 2 reactors")) {
        match proxy.log.recv_timeout(TIMEOUT) {
            Ok(line) => log.push(line),
            Err(e) => panic!("the proxy did not serve with 2 reactors ({e}): {log:?}"),
        }
    }
    let tls: Vec<&String> = log.iter().filter(|l| l.ends_with(" (tls)")).collect();
    assert_eq!(tls.len(), 2, "one TLS listener per reactor: {log:?}");
    assert!(log.iter().any(|l| l.ends_with(" (unix, tls)")), "a Unix listener, over TLS too: {log:?}");
    let addr: SocketAddr =
        tls[0].split("listening on ").nth(1).expect("address").trim_end_matches(" (tls)").parse().expect("addr");
    let mut c = tls_util::client(addr, "localhost", cert.client_config());
    tls_util::send(&mut c, b"through TLS").expect("send over TLS");
    assert_eq!(tls_util::read_n(&mut c, 11).expect("echo over TLS"), b"through TLS");
    drop(c);
    let u = std::os::unix::net::UnixStream::connect(&sock).expect("connect to the Unix socket");
    u.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let name = reel::tls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let session =
        reel::tls::rustls::ClientConnection::new(std::sync::Arc::new(cert.client_config()), name).expect("session");
    let mut u = reel::tls::rustls::StreamOwned::new(session, u);
    tls_util::send(&mut u, b"through unix").expect("send over the Unix socket");
    assert_eq!(tls_util::read_n(&mut u, 12).expect("echo over the Unix socket"), b"through unix");
    drop(u);
    echo.join().expect("target");
    drop(proxy);
}

/// Options the proxy does not honour are refused, not taken and ignored.
#[test]
fn idle_timeout_is_refused_not_ignored() {
    let out = std::process::Command::new(example_bin::example("proxy"))
        .args(["--connect", "127.0.0.1:9", "--idle-timeout", "5"])
        .output()
        .expect("run the proxy");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--idle-timeout"), "names the option: {err}");
}
