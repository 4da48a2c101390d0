//! The baselines added for issue 12: the lenient `httparse`-only hello page
//! server (`bench/src/bin/baseline/lenient.rs`) and the three UDP `echo_hello`
//! loops (`bench/src/bin/baseline/udp.rs`), over real loopback sockets.

#[path = "../src/bin/baseline/lenient.rs"]
mod lenient;
#[path = "../src/bin/baseline/mio_shared.rs"]
mod mio_shared;
#[path = "../src/bin/baseline/proto.rs"]
#[allow(dead_code)]
mod proto;
#[path = "../src/bin/baseline/udp.rs"]
mod udp;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Reads until `n` complete responses (each ends with the page) came.
fn read_pages(stream: &mut TcpStream, n: usize) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while String::from_utf8_lossy(&got).matches("</html>").count() < n {
        let k = stream.read(&mut buf).expect("an answer in time");
        assert!(k > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..k]);
    }
    String::from_utf8(got).unwrap()
}

#[test]
fn lenient_answers_every_pipelined_head_even_split() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let server = thread::spawn(move || lenient::serve(listener, flag));

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let head = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    stream.write_all(head.repeat(3).as_bytes()).unwrap();
    let three = read_pages(&mut stream, 3);
    assert_eq!(three.matches("HTTP/1.1 200 OK\r\nDate: ").count(), 3, "{three}");
    assert!(three.contains(&format!("Content-Length: {}\r\n", proto::PAGE.len())));
    // A head cut in two writes is answered once it is whole.
    stream.write_all(&head.as_bytes()[..10]).unwrap();
    stream.flush().unwrap();
    thread::sleep(Duration::from_millis(20));
    stream.write_all(&head.as_bytes()[10..]).unwrap();
    assert_eq!(read_pages(&mut stream, 1).matches("200 OK").count(), 1);
    // What httparse refuses closes the connection.
    stream.write_all(b"GET / HTTP/1.1\r\nHost a\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty());

    stop.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(addr);
    server.join().unwrap().unwrap();
}

type UdpServe = fn(UdpSocket, Arc<AtomicBool>) -> std::io::Result<()>;

fn udp_kind(serve: UdpServe) {
    let socket = udp::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr: SocketAddr = socket.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let server = thread::spawn(move || serve(socket, flag));

    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 256];
    for (sent, want) in [(&b"Tracy\r\n"[..], &b"Hello, Tracy!"[..]), (b"", b"Hello, !"), (b"a b\n\n", b"Hello, a b!")] {
        client.send_to(sent, addr).unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (want, addr));
    }
    stop.store(true, Ordering::Relaxed);
    // Wake the loop so that it sees the flag.
    client.send_to(b"bye", addr).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn udp_mio_loop_answers() {
    udp_kind(udp::serve_mio);
}

#[test]
fn udp_tokio_loop_answers() {
    udp_kind(udp::serve_tokio);
}

#[test]
fn udp_blocking_loop_answers() {
    udp_kind(udp::serve_blocking);
}
