//! TLS: reel's server against a blocking rustls client, reel's client
//! against reel's server and against a plain rustls server thread, and
//! the edges: ciphertext a byte at a time, truncation, a silent client,
//! a bad certificate name, STARTTLS with pipelined ciphertext, SNI and
//! ALPN. Loopback only; every blocking read has a timeout, every reactor
//! run a deadline.

mod tls_util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::tls::{rustls, TlsInfo, TlsRole};
use reel::{Context, ListenOptions, Protocol, Reactor, Reason, TcpOptions};
use tls_util::{client, read_n, send, tcp, TestCert, IO_TIMEOUT};

/// What a protocol saw, in order.
#[derive(Debug, Default)]
struct Log {
    made: Vec<Option<TlsInfo>>,
    data: Vec<u8>,
    eof: bool,
    lost: Vec<Reason>,
    failed: Vec<Reason>,
}

type Shared = Rc<RefCell<Log>>;

/// The test protocol of both ends: logs what it sees (the session once
/// made, the data, the end of input, the reason it ended); on connect
/// writes `payload`, then half-closes if `half_close`; echoes if `echo`;
/// closes once as many bytes came back as it sent, unless it half-closed
/// (then it reads on until the peer ends).
struct Peer {
    log: Shared,
    payload: Vec<u8>,
    echo: bool,
    half_close: bool,
}

impl Peer {
    /// Echoes, and logs (a server).
    fn echo(log: Shared) -> Self {
        Peer { log, payload: Vec::new(), echo: true, half_close: false }
    }
    /// Sends `payload` on connect, collects what comes back, closes once
    /// it has it all (a client).
    fn sender(payload: Vec<u8>, log: Shared) -> Self {
        Peer { log, payload, echo: false, half_close: false }
    }
    /// Sends `payload`, then half-closes (`write_eof`) and keeps reading.
    fn half_closer(payload: Vec<u8>, log: Shared) -> Self {
        Peer { log, payload, echo: false, half_close: true }
    }
}

impl Protocol for Peer {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.log.borrow_mut().made.push(cx.tls_info());
        if !self.payload.is_empty() {
            cx.write(&self.payload);
        }
        if self.half_close {
            cx.write_eof();
        }
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let mut log = self.log.borrow_mut();
        log.data.extend_from_slice(data);
        if self.echo {
            cx.write(data);
        } else if !self.half_close && log.data.len() >= self.payload.len() {
            cx.close();
        }
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        self.log.borrow_mut().eof = true;
        if !self.half_close {
            cx.close();
        }
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
    fn connection_failed(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().failed.push(reason);
    }
}

/// Runs the reactor until `done` or the deadline (a failure).
fn run_until(reactor: &mut Reactor, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        reactor.turn(Some(Duration::from_millis(50))).expect("turn");
    }
}

/// A reactor serving [`Peer::echo`] over TLS with `config`; the log and address.
fn echo_server(reactor: &mut Reactor, config: rustls::ServerConfig, opts: ListenOptions) -> (Shared, SocketAddr) {
    let log: Shared = Default::default();
    let l = log.clone();
    let id =
        reactor.listen_tls_with("127.0.0.1:0", Arc::new(config), move |_| Peer::echo(l.clone()), opts).expect("listen");
    (log, reactor.listener_addr(id).expect("address"))
}

/// A [`Peer::sender`] of `payload` connected over TLS to `addr` as
/// `name`; its log.
fn connect_sender(
    reactor: &mut Reactor,
    addr: SocketAddr,
    name: &str,
    config: rustls::ClientConfig,
    payload: Vec<u8>,
) -> Shared {
    let log: Shared = Default::default();
    reactor.connect_tls(addr, name, Arc::new(config), Peer::sender(payload, log.clone()));
    log
}

/// A std client on a thread: its result once done.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> std::thread::JoinHandle<T> {
    std::thread::spawn(f)
}

/// Runs the reactor until the thread is done, then joins it.
fn join<T>(reactor: &mut Reactor, t: std::thread::JoinHandle<T>) -> T {
    run_until(reactor, "the client thread", || t.is_finished());
    t.join().expect("the client thread panicked")
}

#[test]
fn a_rustls_client_gets_its_bytes_echoed_and_both_ends_see_what_was_negotiated() {
    let cert = TestCert::new(&["localhost"]);
    let mut config = cert.server_config();
    config.alpn_protocols = vec![b"echo/2".to_vec(), b"echo/1".to_vec()];
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = echo_server(&mut reactor, config, ListenOptions::default());
    let mut cc = cert.client_config();
    cc.alpn_protocols = vec![b"echo/1".to_vec()];
    let t = on_thread(move || {
        let mut c = client(addr, "localhost", cc);
        send(&mut c, b"hello, tls\n").unwrap();
        let echoed = read_n(&mut c, 11).unwrap();
        let alpn = c.conn.alpn_protocol().map(<[u8]>::to_vec);
        c.conn.send_close_notify();
        c.flush().unwrap();
        // After close_notify both ways: a clean end of stream.
        let mut rest = Vec::new();
        let end = c.read_to_end(&mut rest);
        (echoed, alpn, end.map_err(|e| e.kind()))
    });
    let (echoed, alpn, end) = join(&mut reactor, t);
    run_until(&mut reactor, "the connection to end", || !log.borrow().lost.is_empty());
    assert_eq!(echoed, b"hello, tls\n");
    assert_eq!(alpn.as_deref(), Some(&b"echo/1"[..]));
    assert_eq!(end, Ok(0));
    let log = log.borrow();
    let info = log.made[0].clone().expect("connection_made sees the handshake's outcome");
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert_eq!(info.alpn.as_deref(), Some(&b"echo/1"[..]));
    assert_eq!(info.version, Some(rustls::ProtocolVersion::TLSv1_3));
    assert!(info.peer_certificates.is_none(), "the client sent no certificate");
    assert!(log.eof, "close_notify is the peer's end of stream");
    assert_eq!(log.lost, vec![Reason::PeerClosed]);
}

#[test]
fn tls_1_2_works_too() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let cc = rustls::ClientConfig::builder_with_provider(reel::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots.add(cert.cert.clone()).unwrap();
            roots
        })
        .with_no_client_auth();
    let t = on_thread(move || {
        let mut c = client(addr, "localhost", cc);
        send(&mut c, b"twelve").unwrap();
        read_n(&mut c, 6).unwrap()
    });
    assert_eq!(join(&mut reactor, t), b"twelve");
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    assert_eq!(log.borrow().made[0].as_ref().unwrap().version, Some(rustls::ProtocolVersion::TLSv1_2));
}

#[test]
fn reels_client_and_server_move_a_megabyte_both_ways_with_alpn() {
    let cert = TestCert::new(&["localhost"]);
    let mut sc = cert.server_config();
    sc.alpn_protocols = vec![b"b".to_vec(), b"a".to_vec()];
    let mut reactor = Reactor::new().unwrap();
    let (server_log, addr) = echo_server(&mut reactor, sc, ListenOptions::default());
    let mut cc = cert.client_config();
    cc.alpn_protocols = vec![b"a".to_vec(), b"c".to_vec()];
    let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let log = connect_sender(&mut reactor, addr, "localhost", cc, payload.clone());
    run_until(&mut reactor, "both ends to end", || {
        !log.borrow().lost.is_empty() && !server_log.borrow().lost.is_empty()
    });
    let log = log.borrow();
    assert!(log.failed.is_empty(), "{:?}", log.failed);
    assert!(log.data == payload, "the echo came back whole and in order ({} bytes)", log.data.len());
    assert_eq!(log.lost, vec![Reason::Closed]);
    let client_info = log.made[0].clone().unwrap();
    assert_eq!(client_info.alpn.as_deref(), Some(&b"a"[..]));
    assert_eq!(client_info.peer_certificates.as_deref(), Some(&[cert.cert.clone()][..]));
    let server = server_log.borrow();
    assert_eq!(server.made[0].as_ref().unwrap().alpn.as_deref(), Some(&b"a"[..]));
    assert_eq!(server.lost, vec![Reason::PeerClosed]);
}

#[test]
fn reels_client_talks_to_a_plain_rustls_server_thread() {
    let cert = TestCert::new(&["localhost"]);
    let sc = Arc::new(cert.server_config());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = on_thread(move || -> std::io::Result<Vec<u8>> {
        let (sock, _) = listener.accept()?;
        sock.set_read_timeout(Some(IO_TIMEOUT))?;
        let conn = rustls::ServerConnection::new(sc).unwrap();
        let mut s = rustls::StreamOwned::new(conn, sock);
        let got = read_n(&mut s, 5)?;
        s.write_all(b"pong!")?;
        s.conn.send_close_notify();
        s.flush()?;
        Ok(got)
    });
    let mut reactor = Reactor::new().unwrap();
    let log = connect_sender(&mut reactor, addr, "localhost", cert.client_config(), b"ping!".to_vec());
    run_until(&mut reactor, "the client to end", || !log.borrow().lost.is_empty());
    assert_eq!(server.join().unwrap().unwrap(), b"ping!");
    assert_eq!(log.borrow().data, b"pong!");
}

#[test]
fn ciphertext_arriving_one_byte_at_a_time_is_handled() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let cc = Arc::new(cert.client_config());
    let t = on_thread(move || -> std::io::Result<Vec<u8>> {
        // A rustls session driven by hand: every record it produces goes
        // out one byte per write (TCP_NODELAY: one segment each).
        let mut sock = tcp(addr);
        sock.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(cc, name).unwrap();
        conn.writer().write_all(b"one byte at a time")?;
        let mut echoed = Vec::new();
        while echoed.len() < 18 {
            let mut out = Vec::new();
            while conn.wants_write() {
                conn.write_tls(&mut out)?;
            }
            for b in &out {
                sock.write_all(std::slice::from_ref(b))?;
            }
            if conn.wants_read() {
                if conn.read_tls(&mut sock)? == 0 {
                    break;
                }
                conn.process_new_packets().map_err(std::io::Error::other)?;
                let _ = conn.reader().read_to_end(&mut echoed);
            }
        }
        Ok(echoed)
    });
    assert_eq!(join(&mut reactor, t).unwrap(), b"one byte at a time");
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    assert_eq!(log.borrow().data, b"one byte at a time");
}

#[test]
fn an_end_without_close_notify_is_truncation() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let cc = cert.client_config();
    let t = on_thread(move || {
        let mut c = client(addr, "localhost", cc);
        send(&mut c, b"cut").unwrap();
        assert_eq!(read_n(&mut c, 3).unwrap(), b"cut");
        // The TCP stream ends with no close_notify.
        c.sock.shutdown(std::net::Shutdown::Both).unwrap();
    });
    join(&mut reactor, t);
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    let log = log.borrow();
    assert_eq!(log.lost, vec![Reason::TlsTruncated]);
    assert!(!log.eof, "truncation is not an end of stream");
}

#[test]
fn a_silent_client_is_dropped_at_the_handshake_timeout_and_others_are_served_meanwhile() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let opts = ListenOptions {
        tcp: TcpOptions { handshake_timeout: Duration::from_millis(300), ..Default::default() },
        ..Default::default()
    };
    let (log, addr) = echo_server(&mut reactor, cert.server_config(), opts);
    let mut silent = tcp(addr);
    let started = Instant::now();
    // A second client, served while the first one says nothing.
    let cc = cert.client_config();
    let other = on_thread(move || {
        let mut c = client(addr, "localhost", cc);
        send(&mut c, b"served").unwrap();
        read_n(&mut c, 6).unwrap()
    });
    run_until(&mut reactor, "the silent client to be dropped", || !log.borrow().failed.is_empty());
    let waited = started.elapsed();
    assert_eq!(join(&mut reactor, other), b"served");
    assert_eq!(log.borrow().failed, vec![Reason::TimedOut]);
    assert!(waited >= Duration::from_millis(250), "dropped after {waited:?}");
    assert_eq!(log.borrow().made.len(), 1, "only the other client was made");
    // The silent client sees its connection end.
    reactor.turn(Some(Duration::ZERO)).unwrap();
    let mut buf = [0; 16];
    match silent.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the end, got {other:?}"),
    }
}

#[test]
fn a_certificate_for_another_name_fails_the_handshake_with_a_tls_reason_on_both_sides() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (server_log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let log = connect_sender(&mut reactor, addr, "not-localhost.example", cert.client_config(), b"never".to_vec());
    run_until(&mut reactor, "both handshakes to fail", || {
        !log.borrow().failed.is_empty() && !server_log.borrow().failed.is_empty()
    });
    let failed = log.borrow().failed[0].clone();
    match &failed {
        Reason::Tls(text) => {
            assert!(text.message().contains("NotValidForName") || text.message().contains("name"), "{text}")
        }
        other => panic!("expected Reason::Tls, got {other:?}"),
    }
    assert!(log.borrow().made.is_empty());
    // The client's alert told the server why.
    match &server_log.borrow().failed[0] {
        Reason::Tls(text) => assert!(text.message().to_lowercase().contains("alert"), "{text}"),
        other => panic!("expected Reason::Tls on the server, got {other:?}"),
    }
    assert!(failed.to_string().starts_with("tls error: "), "{failed}");
}

#[test]
fn an_unknown_issuer_is_refused() {
    let cert = TestCert::new(&["localhost"]);
    let other = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (_server_log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let log = connect_sender(&mut reactor, addr, "localhost", other.client_config(), b"never".to_vec());
    run_until(&mut reactor, "the handshake to fail", || !log.borrow().failed.is_empty());
    // Two self-signed certificates of the same subject: rustls says
    // BadSignature rather than UnknownIssuer; refused either way.
    assert!(
        matches!(&log.borrow().failed[0], Reason::Tls(t) if t.message().contains("invalid peer certificate")),
        "{:?}",
        log.borrow()
    );
}

#[test]
fn sni_chooses_the_certificate_by_name() {
    let one = TestCert::new(&["one.test"]);
    let two = TestCert::new(&["two.test"]);
    let mut resolver = rustls::server::ResolvesServerCertUsingSni::new();
    let provider = reel::tls::provider();
    for (name, cert) in [("one.test", &one), ("two.test", &two)] {
        let key = provider.key_provider.load_private_key(cert.key()).unwrap();
        resolver.add(name, rustls::sign::CertifiedKey::new(vec![cert.cert.clone()], key)).unwrap();
    }
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    let mut reactor = Reactor::new().unwrap();
    let (server_log, addr) = echo_server(&mut reactor, config, ListenOptions::default());
    let mut logs = Vec::new();
    for (name, cert) in [("one.test", &one), ("two.test", &two)] {
        // Each client trusts only its own name's certificate.
        logs.push(connect_sender(&mut reactor, addr, name, cert.client_config(), name.as_bytes().to_vec()));
    }
    run_until(&mut reactor, "both clients to end", || logs.iter().all(|l| !l.borrow().lost.is_empty()));
    for (log, (name, cert)) in logs.iter().zip([("one.test", &one), ("two.test", &two)]) {
        let log = log.borrow();
        assert!(log.failed.is_empty(), "{name}: {:?}", log.failed);
        assert_eq!(log.data, name.as_bytes());
        let info = log.made[0].clone().unwrap();
        assert_eq!(info.peer_certificates.unwrap()[0], cert.cert, "{name}: its own certificate");
    }
    run_until(&mut reactor, "the server side to end", || server_log.borrow().lost.len() == 2);
    let mut names: Vec<String> =
        server_log.borrow().made.iter().map(|i| i.clone().unwrap().server_name.unwrap()).collect();
    names.sort();
    assert_eq!(names, ["one.test", "two.test"]);
}

/// A STARTTLS server on lines: `STARTTLS` → `GO` in the clear, then TLS;
/// after it every line comes back as `tls: LINE`.
struct StartTlsServer {
    config: Arc<rustls::ServerConfig>,
    log: Shared,
}

impl FrameHandler<Lines> for StartTlsServer {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        if line == b"STARTTLS" {
            cx.write(b"GO\n");
            cx.start_tls(TlsRole::Server(self.config.clone()), &[]).expect("start_tls");
        } else {
            self.log.borrow_mut().made.push(cx.tls_info());
            cx.write_all(&[b"tls: ", line, b"\n"]);
        }
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
}

/// A [`StartTlsServer`] serving `cert` on a free port: its log and address.
fn starttls_server(reactor: &mut Reactor, cert: &TestCert) -> (Shared, SocketAddr) {
    let config = Arc::new(cert.server_config());
    let log: Shared = Default::default();
    let l = log.clone();
    let id = reactor
        .listen_tcp("127.0.0.1:0", move |_| {
            Framed::new(Lines::lf(), StartTlsServer { config: config.clone(), log: l.clone() })
        })
        .unwrap();
    (log, reactor.listener_addr(id).unwrap())
}

/// A blocking STARTTLS client: sends `STARTTLS` with its TLS hello in the
/// same write (the server reads them together), waits for `GO` in the
/// clear, sends `message` over TLS and returns the `answer_len` bytes of
/// the answer, then sends close_notify.
fn starttls_client(
    addr: SocketAddr,
    cc: Arc<rustls::ClientConfig>,
    message: &[u8],
    answer_len: usize,
) -> std::io::Result<Vec<u8>> {
    let mut sock = tcp(addr);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(cc, name).unwrap();
    let mut first = b"STARTTLS\n".to_vec();
    conn.write_tls(&mut first)?;
    sock.write_all(&first)?;
    assert_eq!(read_n(&mut sock, 3)?, b"GO\n", "the go-ahead comes in the clear");
    let mut s = rustls::StreamOwned::new(conn, sock);
    s.write_all(message)?;
    s.flush()?;
    let got = read_n(&mut s, answer_len)?;
    s.conn.send_close_notify();
    s.flush()?;
    Ok(got)
}

#[test]
fn starttls_hands_ciphertext_pipelined_behind_the_command_to_tls() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = starttls_server(&mut reactor, &cert);
    let cc = Arc::new(cert.client_config());
    let t = on_thread(move || starttls_client(addr, cc, b"secret\n", 12));
    assert_eq!(join(&mut reactor, t).unwrap(), b"tls: secret\n");
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    let info = log.borrow().made[0].clone().expect("the line came over TLS");
    assert_eq!(info.version, Some(rustls::ProtocolVersion::TLSv1_3));
}

/// A raw STARTTLS client protocol: sends `STARTTLS`, switches on `GO`,
/// then sends a line and waits for its answer.
struct StartTlsClient {
    config: Arc<rustls::ClientConfig>,
    switched: bool,
    log: Shared,
}

impl Protocol for StartTlsClient {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        cx.write(b"STARTTLS\n");
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if !self.switched {
            assert_eq!(data, b"GO\n");
            self.switched = true;
            let role = TlsRole::client("localhost", self.config.clone()).unwrap();
            cx.start_tls(role, &[]).unwrap();
            cx.write(b"over tls\n"); // held until the handshake is done
            return;
        }
        let mut log = self.log.borrow_mut();
        log.data.extend_from_slice(data);
        if log.data.ends_with(b"\n") {
            log.made.push(cx.tls_info());
            cx.close();
        }
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
}

#[test]
fn reel_switches_to_tls_on_both_sides() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (server_log, addr) = starttls_server(&mut reactor, &cert);
    let log: Shared = Default::default();
    reactor.connect_tcp(
        addr,
        StartTlsClient { config: Arc::new(cert.client_config()), switched: false, log: log.clone() },
    );
    run_until(&mut reactor, "both ends", || !log.borrow().lost.is_empty() && !server_log.borrow().lost.is_empty());
    assert_eq!(log.borrow().data, b"tls: over tls\n");
    assert!(log.borrow().made[0].is_some());
    assert_eq!(log.borrow().lost, vec![Reason::Closed]);
    assert_eq!(server_log.borrow().lost, vec![Reason::PeerClosed]);
}

#[test]
fn garbage_instead_of_a_hello_ends_with_a_tls_reason() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let t = on_thread(move || {
        let mut s = tcp(addr);
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    });
    run_until(&mut reactor, "the failure", || !log.borrow().failed.is_empty());
    let answer = join(&mut reactor, t);
    assert!(matches!(&log.borrow().failed[0], Reason::Tls(_)), "{:?}", log.borrow().failed);
    // The alert went out before the close: a TLS alert record (type 21).
    assert_eq!(answer.first(), Some(&21), "{answer:?}");
}

/// Logs the peer's credentials and echoes (TLS over a Unix socket).
struct CredEcho {
    log: Shared,
    creds: Rc<RefCell<Vec<reel::PeerCred>>>,
}

impl Protocol for CredEcho {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.log.borrow_mut().made.push(cx.tls_info());
        self.creds.borrow_mut().push(cx.peer_cred().expect("peer credentials over TLS on a Unix socket"));
    }
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write(data);
    }
    fn eof_received(&mut self, cx: &mut Context<'_>) {
        cx.close();
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
}

#[test]
fn tls_runs_over_a_unix_socket_with_the_peers_credentials() {
    let dir = std::env::temp_dir().join(format!("reel-tls-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("tls.sock");
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (server_log, creds): (Shared, Rc<RefCell<Vec<reel::PeerCred>>>) = Default::default();
    let (l, c) = (server_log.clone(), creds.clone());
    reactor
        .listen_unix_tls(
            &path,
            Arc::new(cert.server_config()),
            move |_| CredEcho { log: l.clone(), creds: c.clone() },
            reel::UnixListenOptions::default(),
        )
        .expect("listen");
    let payload: Vec<u8> = (0..200_000).map(|i| (i % 253) as u8).collect();
    let log: Shared = Default::default();
    reactor.connect_unix_tls(
        &path,
        "localhost",
        Arc::new(cert.client_config()),
        Peer::sender(payload.clone(), log.clone()),
    );
    run_until(&mut reactor, "both ends to end", || {
        !log.borrow().lost.is_empty() && !server_log.borrow().lost.is_empty()
    });
    let log = log.borrow();
    assert!(log.failed.is_empty(), "{:?}", log.failed);
    assert!(log.data == payload, "the echo came back whole ({} bytes)", log.data.len());
    assert!(log.made[0].as_ref().is_some_and(|i| i.version.is_some()), "the client saw a TLS session");
    assert!(server_log.borrow().made[0].is_some(), "the server saw a TLS session");
    let cred = creds.borrow()[0];
    assert_eq!(cred.pid, std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn write_eof_over_tls_sends_close_notify_and_keeps_reading_the_answer() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let (server_log, addr) = echo_server(&mut reactor, cert.server_config(), ListenOptions::default());
    let payload: Vec<u8> = (0..300_000).map(|i| (i % 241) as u8).collect();
    let log: Shared = Default::default();
    reactor.connect_tls(
        addr,
        "localhost",
        Arc::new(cert.client_config()),
        Peer::half_closer(payload.clone(), log.clone()),
    );
    run_until(&mut reactor, "both ends to end", || {
        !log.borrow().lost.is_empty() && !server_log.borrow().lost.is_empty()
    });
    let server = server_log.borrow();
    assert!(server.eof, "the server saw our close_notify as an end of stream");
    assert!(server.data == payload, "the server got every byte before the end ({})", server.data.len());
    let log = log.borrow();
    assert!(log.failed.is_empty(), "{:?}", log.failed);
    assert!(log.data == payload, "the answer arrived after our half-close ({} bytes)", log.data.len());
    assert!(log.eof, "the server's close_notify ended our input");
    assert!(!matches!(log.lost[0], Reason::Tls(_)), "{:?}", log.lost);
}

/// Answers each line with 256 KiB, and logs the water marks.
struct BigReplies {
    log: Shared,
    paused: Rc<RefCell<Vec<(&'static str, usize)>>>,
    /// Told of the first pause.
    tell: std::sync::mpsc::Sender<()>,
}

impl Protocol for BigReplies {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        for _ in data.iter().filter(|&&b| b == b'\n') {
            let n = self.log.borrow().data.len();
            let reply: Vec<u8> = (0..256 * 1024).map(|i| ((n + i) % 251) as u8).collect();
            self.log.borrow_mut().data.push(b'\n');
            cx.write(&reply);
        }
    }
    fn pause_writing(&mut self, cx: &mut Context<'_>) {
        let queued = cx.queued_of(cx.conn_id());
        self.paused.borrow_mut().push(("pause", queued));
        let _ = self.tell.send(());
    }
    fn resume_writing(&mut self, cx: &mut Context<'_>) {
        let queued = cx.queued_of(cx.conn_id());
        self.paused.borrow_mut().push(("resume", queued));
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
}

#[test]
fn water_marks_and_flow_control_count_plaintext_over_tls() {
    let cert = TestCert::new(&["localhost"]);
    let mut reactor = Reactor::new().unwrap();
    let log: Shared = Default::default();
    let marks = Rc::new(RefCell::new(Vec::new()));
    let (l, m) = (log.clone(), marks.clone());
    let (tell, paused) = std::sync::mpsc::channel();
    let id = reactor
        .listen_tls("127.0.0.1:0", Arc::new(cert.server_config()), move |_| BigReplies {
            log: l.clone(),
            paused: m.clone(),
            tell: tell.clone(),
        })
        .unwrap();
    let addr = reactor.listener_addr(id).unwrap();
    let cc = cert.client_config();
    let t = on_thread(move || -> std::io::Result<usize> {
        let mut c = client(addr, "localhost", cc);
        // 64 requests at once (16 MiB of answers, more than the socket
        // buffers hold), read nothing until the server paused, then read
        // everything.
        send(&mut c, &[b'\n'; 64])?;
        paused.recv_timeout(IO_TIMEOUT).expect("the server paused");
        let mut got = vec![0u8; 64 * 256 * 1024];
        c.read_exact(&mut got)?;
        c.conn.send_close_notify();
        c.flush()?;
        Ok(got.len())
    });
    assert_eq!(join(&mut reactor, t).unwrap(), 64 * 256 * 1024);
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    let marks = marks.borrow();
    // The queue, in plaintext, passed the high mark (64 KiB) and came back
    // to the low one (32 KiB): the reactor counted what the protocol wrote.
    assert!(matches!(marks.first(), Some(("pause", q)) if *q > 64 * 1024), "{marks:?}");
    assert!(marks.iter().any(|(what, q)| *what == "resume" && *q <= 32 * 1024), "{marks:?}");
    assert_eq!(log.borrow().lost, vec![Reason::PeerClosed]);
}

/// A STARTTLS server that reads bytes itself (no framer): the bytes after
/// the command line in the same read go back to `start_tls`.
struct RawStartTls {
    config: Arc<rustls::ServerConfig>,
    switched: bool,
    log: Shared,
}

impl Protocol for RawStartTls {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if self.switched {
            self.log.borrow_mut().data.extend_from_slice(data);
            cx.write(data);
            return;
        }
        let Some(end) = data.iter().position(|&b| b == b'\n') else { return };
        assert_eq!(&data[..end], b"STARTTLS");
        // The test's client sends its hello in the same write: check that
        // it did arrive with the command, so that this test tests that.
        self.log.borrow_mut().eof = end + 1 < data.len();
        cx.write(b"GO\n");
        cx.start_tls(TlsRole::Server(self.config.clone()), &data[end + 1..]).unwrap();
        self.switched = true;
    }
    fn connection_lost(&mut self, _cx: &mut Context<'_>, reason: Reason) {
        self.log.borrow_mut().lost.push(reason);
    }
}

#[test]
fn starttls_takes_the_ciphertext_a_raw_protocol_hands_back() {
    let cert = TestCert::new(&["localhost"]);
    let config = Arc::new(cert.server_config());
    let mut reactor = Reactor::new().unwrap();
    let log: Shared = Default::default();
    let l = log.clone();
    let id = reactor
        .listen_tcp("127.0.0.1:0", move |_| RawStartTls { config: config.clone(), switched: false, log: l.clone() })
        .unwrap();
    let addr = reactor.listener_addr(id).unwrap();
    let cc = Arc::new(cert.client_config());
    let t = on_thread(move || starttls_client(addr, cc, b"raw and encrypted", 17));
    assert_eq!(join(&mut reactor, t).unwrap(), b"raw and encrypted");
    run_until(&mut reactor, "the end", || !log.borrow().lost.is_empty());
    let log = log.borrow();
    assert!(log.eof, "the hello came in the same read as the command");
    assert_eq!(log.data, b"raw and encrypted");
    assert_eq!(log.lost, vec![Reason::PeerClosed]);
}
