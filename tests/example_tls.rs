//! The examples over TLS, poked by real clients: `curl --cacert` with
//! keep-alive reuse and `http_get` against `http_hello --tls-cert`,
//! `openssl s_client` and the example's own `--tls` client against
//! `echo_hello --tls-cert`, and headless Chromium rendering the HTTPS
//! page while trusting the test certificate by its key's hash. The
//! certificate is the demo's (`demo_certificate`: localhost, 127.0.0.1,
//! ::1).
//!
//! curl, openssl and chromium are looked up on `PATH`; a missing one
//! skips its test with a note, except under CI (the `CI` environment
//! variable set), where `.ci/run` installs them and the test fails.

// `http_get.rs` declares its own `mod common` (it is a binary's root).
#![allow(clippy::duplicate_mod)]

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "../examples/common/echo_hello.rs"]
mod echo_hello;
#[path = "../examples/common/http_hello.rs"]
mod http_hello;
mod tools;
#[path = "example_util/mod.rs"]
mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh directory with the demo's certificate and key, removed on drop.
struct Certs {
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Certs {
    fn new() -> Certs {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("reel-example-tls-{}-{nanos}", std::process::id()));
        let (cert, key) = http_hello::demo_certificate(&dir).expect("write the certificate");
        Certs { dir, cert, key }
    }

    /// Server arguments serving TLS with these files on a free port.
    fn args(&self, idle_secs: u64) -> common::ServerArgs {
        let mut args = common::ServerArgs::new("127.0.0.1:0", idle_secs);
        args.tls_cert = Some(self.cert.clone());
        args.tls_key = Some(self.key.clone());
        args
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `http_hello --tls-cert --tls-key` on a free port, on its own thread.
fn https_server(certs: &Certs) -> util::Server {
    let args = certs.args(0);
    util::serve(move |reactor| {
        let id = http_hello::start(reactor, &args);
        reactor.listener_addr(id).expect("address")
    })
}

#[test]
fn curl_fetches_the_page_over_https_twice_on_one_connection() {
    if !tools::have("curl", "curl") {
        return;
    }
    let certs = Certs::new();
    let server = https_server(&certs);
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let mut cmd = Command::new("curl");
    cmd.arg("-sS").arg("-v").arg("--max-time").arg("20").arg("--cacert").arg(&certs.cert).arg(&url).arg(&url);
    let (out, err, ok) = tools::run(cmd, b"");
    assert!(ok, "curl failed: {err}");
    assert_eq!(out.matches("<h1>Hello World</h1>").count(), 2, "two pages: {out}");
    assert!(err.to_lowercase().contains("re-using existing connection"), "curl did not reuse: {err}");
    assert!(err.contains("SSL connection using TLSv1.3"), "{err}");
    assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
    server.stop();
}

#[test]
fn curl_refuses_the_server_without_the_ca() {
    if !tools::have("curl", "curl") {
        return;
    }
    let certs = Certs::new();
    let server = https_server(&certs);
    let mut cmd = Command::new("curl");
    // An empty CA file: nothing is trusted.
    let empty = certs.dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    cmd.arg("-sS").arg("--max-time").arg("20").arg("--cacert").arg(&empty);
    cmd.arg(format!("https://127.0.0.1:{}/", server.addr.port()));
    let (_, err, ok) = tools::run(cmd, b"");
    assert!(!ok, "curl trusted an unknown certificate");
    assert!(err.to_lowercase().contains("certificate") || err.contains("SSL"), "{err}");
    server.stop();
}

#[test]
fn openssl_s_client_completes_a_handshake_and_greets() {
    if !tools::have("openssl", "openssl") {
        return;
    }
    let certs = Certs::new();
    let args = certs.args(60);
    let server = util::serve(move |reactor| echo_hello::start(reactor, &args));
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .arg("-connect")
        .arg(server.addr.to_string())
        .arg("-CAfile")
        .arg(&certs.cert)
        .arg("-verify_return_error")
        .arg("-quiet");
    // -quiet implies -ign_eof: s_client waits for the server's close.
    let (out, err, ok) = tools::run(cmd, b"Bob\nexit\n");
    assert!(ok, "s_client failed: {err}");
    assert_eq!(out, "Welcome!\nHello, Bob!\n", "stderr: {err}");
    server.stop();
}

/// A TLS client that never sends a byte is idle: closed after the idle
/// timeout (1 s here), not held for the 10 s handshake timeout.
#[test]
fn a_tls_client_that_sends_nothing_ends_after_the_idle_timeout() {
    use std::io::Read;
    let certs = Certs::new();
    let args = certs.args(1);
    let server = util::serve(move |reactor| echo_hello::start(reactor, &args));
    let mut s = std::net::TcpStream::connect(server.addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(8))).expect("read timeout");
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the end of the connection, got {other:?} after {:?}", started.elapsed()),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "ended after {:?}", started.elapsed());
    server.stop();
}

#[test]
fn the_echo_hello_client_greets_over_tls() {
    let certs = Certs::new();
    let args = certs.args(60);
    let server = util::serve(move |reactor| echo_hello::start(reactor, &args));
    let mut reactor = util::reactor();
    let out = util::SharedBuf::default();
    let tls = common::ClientTls { enabled: true, ca: Some(certs.cert.clone()) };
    let status =
        echo_hello::start_client_over(&mut reactor, server.addr, &tls, vec![b"Ann".to_vec()], Box::new(out.clone()));
    util::run_client(&mut reactor);
    assert_eq!(status.get(), 0);
    assert_eq!(out.contents(), b"Welcome!\nHello, Ann!\n");
    server.stop();
}

/// The SHA-256 of the certificate's public key (its SubjectPublicKeyInfo),
/// in base64: what Chromium's `--ignore-certificate-errors-spki-list`
/// takes.
fn spki_hash(key_pem: &Path) -> String {
    use rcgen::PublicKeyData;
    let pem = std::fs::read_to_string(key_pem).expect("read the key");
    let key = rcgen::KeyPair::from_pem(&pem).expect("parse the key");
    let spki = key.subject_public_key_info();
    let provider = reel::tls::rustls::crypto::ring::default_provider();
    // The hash of a suite whose hash is SHA-256 (32 bytes).
    let digest = provider
        .cipher_suites
        .iter()
        .filter_map(|s| s.tls13())
        .map(|s| s.common.hash_provider.hash(&spki))
        .find(|d| d.as_ref().len() == 32)
        .expect("a SHA-256 suite");
    base64(digest.as_ref())
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_the_rfc_examples() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn headless_chromium_renders_the_https_page_trusting_the_test_key() {
    let Some(chromium) = tools::chromium() else {
        return;
    };
    let certs = Certs::new();
    let server = https_server(&certs);
    let profile = certs.dir.join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let mut cmd = tools::headless_dump_dom(&chromium, &profile);
    cmd.arg(format!("--ignore-certificate-errors-spki-list={}", spki_hash(&certs.key)))
        .arg(format!("https://127.0.0.1:{}/", server.addr.port()));
    let (dom, err, ok) = tools::run(cmd, b"");
    assert!(ok, "chromium failed; stderr:\n{err}");
    assert!(dom.contains("<title>Hello</title>"), "no title in the DOM:\n{dom}\nstderr:\n{err}");
    assert!(dom.contains("<h1>Hello World</h1>"), "no heading in the DOM:\n{dom}\nstderr:\n{err}");
    server.stop();
}

/// `http_get`'s URL form, split.
#[path = "../examples/http_get.rs"]
#[allow(dead_code)]
mod http_get;

#[test]
fn urls_split_into_scheme_host_port_and_path() {
    assert_eq!(http_get::split_url("https://127.0.0.1:12346/"), Some((true, "127.0.0.1".into(), 12346, "/".into())));
    assert_eq!(http_get::split_url("http://localhost/a?b"), Some((false, "localhost".into(), 80, "/a?b".into())));
    assert_eq!(http_get::split_url("https://[::1]:8443"), Some((true, "::1".into(), 8443, "/".into())));
    assert_eq!(http_get::split_url("https://example.test"), Some((true, "example.test".into(), 443, "/".into())));
    for bad in ["ftp://x/", "https://", "https://host:port/", "https://[::1/", "127.0.0.1:80"] {
        assert_eq!(http_get::split_url(bad), None, "{bad}");
    }
}

#[test]
fn http_get_fetches_an_https_url() {
    let certs = Certs::new();
    let server = https_server(&certs);
    let mut reactor = util::reactor();
    let head = util::SharedBuf::default();
    let body = util::SharedBuf::default();
    let mut target = http_get::Target::plain(server.addr).over_tls("localhost", Some(certs.cert.clone()));
    target.host = format!("localhost:{}", server.addr.port());
    let outcome =
        http_get::get_target(&mut reactor, &target, "/", Box::new(head.clone()), Some(Box::new(body.clone())));
    util::run_client(&mut reactor);
    assert_eq!(outcome.take(), Some(Ok(200)));
    let head = String::from_utf8(head.contents()).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    assert!(String::from_utf8(body.contents()).unwrap().contains("<h1>Hello World</h1>"));
    server.stop();
}

#[path = "../examples/common/framed.rs"]
mod framed;

#[test]
fn the_framed_client_runs_its_commands_over_tls() {
    let certs = Certs::new();
    let args = certs.args(60);
    let server = util::serve(move |reactor| framed::start(reactor, &args));
    let mut reactor = util::reactor();
    let out = util::SharedBuf::default();
    let tls = common::ClientTls { enabled: true, ca: Some(certs.cert.clone()) };
    let commands = vec!["echo over tls".to_string(), "upper secret".to_string()];
    let status = framed::start_client_over(&mut reactor, server.addr, &tls, commands, Box::new(out.clone()));
    util::run_client(&mut reactor);
    assert_eq!(status.get(), 0);
    assert_eq!(out.contents(), b"over tls\nSECRET\n");
    server.stop();
}
