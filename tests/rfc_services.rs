//! The library's small services (`reel::protocols`): discard (RFC 863),
//! chargen (RFC 864), quote of the day (RFC 865), daytime (RFC 867) and
//! time (RFC 868). TCP sides on the in-memory harness with a manual wall
//! clock (every chunking of the input, back-pressure for chargen), UDP sides
//! over real loopback sockets, and the reflector-port rule.

mod example_util;

use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use example_util as util;
use reel::protocols::chargen::{self, Chargen, UdpChargen};
use reel::protocols::clock_text::{daytime_local, ClockText, WallClock};
use reel::protocols::daytime::{Daytime, UdpDaytime};
use reel::protocols::discard::Discard;
use reel::protocols::qotd::{Qotd, UdpQotd, DEFAULT_QUOTE};
use reel::protocols::time::{rfc868_seconds, Time, UdpTime};
use reel::testing::{assert_chunking_invariant, Event, Harness};
use reel::{Protocol, Reason};

/// Sat Nov 21 23:53:24 2026 UTC.
const T: u64 = 1_795_305_204;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Some input of every kind: lines, binary, a long run.
fn junk() -> Vec<u8> {
    let mut input = b"hello\r\nworld\n\0\xff\xfe".to_vec();
    input.extend((0..300u32).map(|i| (i * 7 % 256) as u8));
    input
}

// ----- discard -------------------------------------------------------------

#[test]
fn discard_sends_nothing_whatever_the_chunking() {
    let transcript = assert_chunking_invariant(|| Discard, &junk(), true);
    assert!(transcript.written.is_empty());
    assert_eq!(transcript.events, vec![Event::Lost(Reason::PeerClosed)]);
}

// ----- chargen -------------------------------------------------------------

/// The pattern from line 0, `len` bytes of it.
fn pattern(len: usize) -> Vec<u8> {
    (0..).flat_map(|n| chargen::line(n).iter().copied()).take(len).collect()
}

#[test]
fn chargen_writes_the_rotating_pattern_while_the_peer_reads() {
    let mut h = Harness::new(Chargen::new());
    for _ in 0..20 {
        h.advance(Duration::ZERO);
    }
    let written = h.take_written();
    assert!(written.len() >= 20 * 2 * 95 * 74, "only {} bytes", written.len());
    assert_eq!(written, pattern(written.len()));
    assert_eq!(&written[..74], b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n");
    assert_eq!(h.lost(), None);
}

#[test]
fn chargen_stops_producing_when_the_peer_stops_reading() {
    let mut h = Harness::new(Chargen::new());
    h.set_peer_window(Some(0));
    for _ in 0..100 {
        h.advance(Duration::ZERO);
    }
    let queued = h.queued();
    // Bounded: the low water mark (32 KiB by default) plus one batch: the
    // pull producer is asked only while the queue is at or below it.
    assert!(queued > 32 * 1024 && queued <= 32 * 1024 + 2 * 95 * 74, "{queued} bytes queued");
    assert!(!h.events().contains(&Event::PauseWriting), "never above the high mark");
    // Paused: more turns produce nothing more.
    for _ in 0..100 {
        h.advance(Duration::from_secs(1));
    }
    assert_eq!(h.queued(), queued);

    // The peer reads again: production resumes, and the stream goes on
    // exactly where it stopped.
    h.peer_reads(1024 * 1024);
    for _ in 0..10 {
        h.advance(Duration::ZERO);
    }
    let written = h.written();
    assert!(written.len() > queued, "{} bytes after resuming", written.len());
    assert_eq!(written, pattern(written.len()));
    assert_eq!(h.lost(), None);
}

#[test]
fn chargen_ignores_input_and_a_half_close() {
    let mut h = Harness::new(Chargen::new());
    h.feed(&junk());
    h.feed_eof();
    h.advance(Duration::ZERO);
    assert_eq!(h.lost(), None);
    let written = h.written();
    assert_eq!(written, pattern(written.len()));
    // The user ends it.
    h.with_context(|cx| cx.close());
    assert_eq!(h.lost(), Some(Reason::PeerClosed));
}

#[test]
fn chargen_over_a_real_socket() {
    let server = util::serve(|reactor| {
        let id = reactor.listen_tcp("127.0.0.1:0", |_| Box::new(Chargen::new()) as Box<dyn Protocol>).expect("listen");
        reactor.listener_addr(id).expect("address")
    });
    let mut stream = util::connect(server.addr);
    let got = util::read_exact(&mut stream, 200_000);
    assert_eq!(got, pattern(200_000));
}

#[test]
fn udp_chargen_answers_one_burst_per_datagram() {
    let server = util::serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpChargen::new()).expect("bind");
        reactor.udp_addr(id).expect("address")
    });
    let first = util::udp_ask(server.addr, b"");
    let second = util::udp_ask(server.addr, b"anything");
    assert!(first.len() <= 512);
    assert_eq!(first, (0..chargen::UDP_LINES).flat_map(|n| chargen::line(n).to_vec()).collect::<Vec<u8>>());
    assert_eq!(second, (1..=chargen::UDP_LINES).flat_map(|n| chargen::line(n).to_vec()).collect::<Vec<u8>>());
}

// ----- quote of the day ----------------------------------------------------

#[test]
fn qotd_sends_the_quote_and_closes_whatever_the_input() {
    let transcript = assert_chunking_invariant(Qotd::default, &junk(), true);
    assert_eq!(transcript.written, DEFAULT_QUOTE.as_bytes());
    assert_eq!(transcript.events, vec![Event::Lost(Reason::Closed)]);
    assert!(transcript.write_shutdown);

    let quote: Rc<[u8]> = b"To be, or not to be.\r\n".as_slice().into();
    let h = Harness::new(Qotd::new(Rc::clone(&quote)));
    assert_eq!(h.written(), &*quote);
}

// ----- daytime -------------------------------------------------------------

#[test]
fn daytime_sends_the_line_and_closes() {
    let clock = WallClock::manual(at(T));
    let text = Rc::new(ClockText::daytime(clock.clone()));
    let transcript = assert_chunking_invariant(|| Daytime::new(Rc::clone(&text)), &junk(), true);
    assert_eq!(transcript.written, format!("{}\r\n", daytime_local(at(T))).as_bytes());
    assert_eq!(transcript.events, vec![Event::Lost(Reason::Closed)]);
    clock.advance(Duration::from_secs(61));
    let h = Harness::new(Daytime::new(text));
    assert_eq!(h.written(), format!("{}\r\n", daytime_local(at(T + 61))).as_bytes());
}

// ----- time ----------------------------------------------------------------

#[test]
fn time_sends_four_bytes_and_closes() {
    let clock = WallClock::manual(at(T));
    let transcript = assert_chunking_invariant(|| Time::new(clock.clone()), &junk(), true);
    let expected = (T + 2_208_988_800) as u32;
    assert_eq!(transcript.written, expected.to_be_bytes());
    assert_eq!(transcript.events, vec![Event::Lost(Reason::Closed)]);
    assert_eq!(rfc868_seconds(at(T)), expected);
    assert_eq!(rfc868_seconds(UNIX_EPOCH), 2_208_988_800);
}

// ----- UDP responders and the reflector rule -------------------------------

#[test]
fn udp_responders_answer_over_ipv4_and_ipv6() {
    let families: &[&str] = if util::loopback_available(true) {
        &["127.0.0.1:0", "[::1]:0"]
    } else {
        eprintln!("skipped: the IPv6 half, no IPv6 loopback here");
        &["127.0.0.1:0"]
    };
    for &listen in families {
        let server = util::serve_all(move |reactor| {
            let clock = WallClock::manual(at(T));
            let text = Rc::new(ClockText::daytime(clock.clone()));
            let addr: std::net::SocketAddr = listen.parse().expect("address");
            let ids = [
                reactor.listen_udp(addr, UdpQotd::default()),
                reactor.listen_udp(addr, UdpDaytime::new(text)),
                reactor.listen_udp(addr, UdpTime::new(clock)),
            ];
            ids.into_iter().map(|id| reactor.udp_addr(id.expect("bind")).expect("address")).collect()
        });
        let [qotd, daytime, time] = server.addrs[..] else { panic!("three endpoints") };
        assert_eq!(util::udp_ask(qotd, b""), DEFAULT_QUOTE.as_bytes());
        assert_eq!(util::udp_ask(daytime, b"x"), format!("{}\r\n", daytime_local(at(T))).as_bytes());
        assert_eq!(util::udp_ask(time, b"\n"), ((T + 2_208_988_800) as u32).to_be_bytes());
    }
}

/// Sends from port 37 to `server` and checks that no answer comes back.
/// Fails, rather than passing without having checked anything, when port
/// 37 cannot be bound: that takes root, `CAP_NET_BIND_SERVICE`, or
/// `net.ipv4.ip_unprivileged_port_start` at 37 or below.
fn check_port_37_ignored(server: std::net::SocketAddr) {
    util::check_reflector_port_ignored(server, 37, b"");
}

#[test]
fn udp_responders_refuse_reflector_ports() {
    let server = util::serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpChargen::new()).expect("bind");
        reactor.udp_addr(id).expect("address")
    });
    check_port_37_ignored(server.addr);
    let server = util::serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpQotd::default()).expect("bind");
        reactor.udp_addr(id).expect("address")
    });
    check_port_37_ignored(server.addr);
    let server = util::serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpTime::default()).expect("bind");
        reactor.udp_addr(id).expect("address")
    });
    check_port_37_ignored(server.addr);
    let server = util::serve(|reactor| {
        let id = reactor.listen_udp("127.0.0.1:0", UdpDaytime::default()).expect("bind");
        reactor.udp_addr(id).expect("address")
    });
    check_port_37_ignored(server.addr);
}
