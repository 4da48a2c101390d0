//! The chat example (docs/protocols.md, "chat") over real loopback sockets: the
//! server on a reactor thread, members as blocking `std::net` clients with
//! read timeouts, and the interactive client in-process with its keyboard
//! replaced by a TCP connection the test types into.
//!
//! Every wait is on something that will happen (a line, an end of
//! stream, a thread's end), bounded by [`IO_TIMEOUT`]; nothing sleeps.

#[path = "../examples/common/mod.rs"]
mod common;
mod example_bin;

#[path = "../examples/common/chat.rs"]
mod chat;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chat::{ChatArgs, ClientArgs, ClientExit, Console};
use reel::protocols::clock_text::{self, WallClock};
use reel::{Reactor, ReactorConfig, ReactorHandle, Reason, TcpOptions};

/// Read and write timeout of every test socket, and the longest wait for
/// anything.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// A reactor that drains quickly when stopped.
fn test_reactor() -> Reactor {
    init_logging();
    let config = ReactorConfig { grace_period: Duration::from_secs(2), ..Default::default() };
    Reactor::with_config(config).expect("create reactor")
}

// ----- the server on its thread -------------------------------------------------

/// A chat server running on its own thread; stopped (and joined) on drop.
struct Server {
    addr: SocketAddr,
    handle: ReactorHandle,
    thread: Option<JoinHandle<()>>,
}

/// Starts a server on a free loopback port, with `tweak` applied to the
/// default arguments.
fn server_with(tweak: impl FnOnce(&mut ChatArgs) + Send + 'static) -> Server {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("chat-server".into())
        .spawn(move || {
            let mut reactor = test_reactor();
            let mut args = ChatArgs::default();
            args.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
            tweak(&mut args);
            let id = chat::start(&mut reactor, &args);
            let addr = reactor.listener_addr(id).expect("listener address");
            tx.send((addr, reactor.handle())).expect("report the address");
            reactor.run().expect("reactor run");
        })
        .expect("spawn the server thread");
    let (addr, handle) = rx.recv_timeout(IO_TIMEOUT).expect("the server starts");
    Server { addr, handle, thread: Some(thread) }
}

fn server() -> Server {
    server_with(|_| {})
}

/// Stops the reactor gracefully and waits for its thread; a panic there
/// fails the test. Declared first in a test, the server is dropped last,
/// after the members closed their ends, so the drain is immediate (the
/// server lingers on a connection until its peer closes too).
impl Drop for Server {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(thread) = self.thread.take() {
            if let Err(panic) = thread.join() {
                if !std::thread::panicking() {
                    std::panic::resume_unwind(panic);
                }
            }
        }
    }
}

// ----- a member: a blocking client ----------------------------------------------------

/// One chat connection from the test's side.
struct Peer {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Peer {
    fn connect(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        stream.set_nodelay(true).expect("nodelay");
        let reader = BufReader::new(stream.try_clone().expect("clone the stream"));
        Peer { stream, reader }
    }

    /// Connects and joins; the server must answer `success`.
    fn join(addr: SocketAddr, name: &str, room: &str) -> Peer {
        let mut peer = Peer::connect(addr);
        peer.send(format!("{name} {room}\n").as_bytes());
        assert_eq!(peer.line(), "success", "{name} joins {room}");
        peer
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next line as bytes, without its `\n`; fails at the end of
    /// stream or on a timeout.
    fn raw_line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Ok(_) if line.last() == Some(&b'\n') => {
                line.pop();
                line
            }
            Ok(_) => panic!("end of stream instead of a line (got {:?})", String::from_utf8_lossy(&line)),
            Err(e) => panic!("no line: {e} (got {:?})", String::from_utf8_lossy(&line)),
        }
    }

    fn line(&mut self) -> String {
        String::from_utf8(self.raw_line()).expect("the server sends UTF-8")
    }

    /// The next line, which must start with `[ctime] `; returns the rest.
    fn stamped(&mut self) -> String {
        let line = self.line();
        assert!(
            line.len() > 27 && line.starts_with('[') && &line[25..27] == "] " && is_ctime(&line[1..25]),
            "not a [ctime] line: {line:?}"
        );
        line[27..].to_string()
    }

    /// Everything up to the end of stream.
    fn rest(&mut self) -> Vec<u8> {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).expect("read to the end of stream");
        rest
    }

    fn expect_eof(&mut self) {
        let rest = self.rest();
        assert!(rest.is_empty(), "expected the end of stream, got {:?}", String::from_utf8_lossy(&rest));
    }
}

/// Whether `s` has the shape of C's `ctime`: `Sat Nov 21 23:53:24 2026`,
/// `Sun Nov  1 09:05:03 2026`.
fn is_ctime(s: &str) -> bool {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let number = |r: std::ops::Range<usize>| s[r].trim_start().parse::<u32>().ok();
    b.len() == 24
        && s.is_char_boundary(3)
        && DAYS.contains(&&s[0..3])
        && b[3] == b' '
        && MONTHS.contains(&&s[4..7])
        && b[7] == b' '
        && (b[8] == b' ' || b[8].is_ascii_digit() && b[8] != b'0')
        && b[9].is_ascii_digit()
        && number(8..10).is_some_and(|d| (1..=31).contains(&d))
        && b[10] == b' '
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && number(11..13).is_some_and(|h| h < 24)
        && number(14..16).is_some_and(|m| m < 60)
        && number(17..19).is_some_and(|sec| sec < 61)
        && b[19] == b' '
        && digits(20..24)
}

// ----- text rules --------------------------------------------------------------------

/// The shape check accepts what the contract shows, and nothing close.
#[test]
fn the_ctime_shape_check_knows_the_format() {
    use chrono::TimeZone;
    let utc = chrono::FixedOffset::east_opt(0).expect("offset");
    let saturday = utc.with_ymd_and_hms(2026, 11, 21, 23, 53, 24).unwrap();
    assert!(is_ctime(&clock_text::ctime(&saturday)));
    assert!(is_ctime(&clock_text::ctime(&utc.with_ymd_and_hms(2026, 11, 1, 9, 5, 3).unwrap())));
    for bad in
        ["Sun Nov 01 09:05:03 2026", "Sun Nov  1 9:05:03 2026 ", "Sun Nov  0 09:05:03 2026", "sun Nov  1 09:05:03 2026"]
    {
        assert!(!is_ctime(bad), "{bad:?}");
    }
}

#[test]
fn sanitising_drops_controls_and_replaces_invalid_utf8() {
    let clean = |input: &[u8]| {
        let mut out = Vec::new();
        chat::push_sanitized(&mut out, input);
        String::from_utf8(out).expect("always UTF-8")
    };
    assert_eq!(clean(b"plain text, caf\xc3\xa9"), "plain text, café");
    assert_eq!(clean(b"a\tb"), "a\tb");
    assert_eq!(clean(b"\x1b[31mred\x1b[0m\x07\x00\r\x7f"), "[31mred[0m");
    // C1 controls (U+0080..U+009F) go; the Latin-1 letters after them stay.
    assert_eq!(clean("x\u{85}y\u{9b}z\u{a0}\u{ff}".as_bytes()), "xyz\u{a0}\u{ff}");
    assert_eq!(clean(b"bad \xff\xfe end \xe2\x82"), "bad \u{FFFD}\u{FFFD} end \u{FFFD}");
}

#[test]
fn join_lines_are_checked() {
    assert_eq!(chat::parse_join(b"alice lobby").ok(), Some(("alice", "lobby")));
    assert_eq!(chat::parse_join(b"  alice   lobby ").ok(), Some(("alice", "lobby")));
    let max = "n".repeat(chat::MAX_NAME);
    assert!(chat::parse_join(format!("{max} {max}").as_bytes()).is_ok());
    for bad in [
        &b""[..],
        b"alice",
        b"alice lobby extra",
        b"alice\tlobby",
        b"al\x01ice lobby",
        b"alice lob\x7fby",
        b"\xff lobby",
        "al\u{85}ice lobby".as_bytes(),
        "alice\u{3000}lobby".as_bytes(),
    ] {
        assert!(chat::parse_join(bad).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
    }
    let long = "n".repeat(chat::MAX_NAME + 1);
    assert_eq!(
        chat::parse_join(format!("{long} lobby").as_bytes()).err().as_deref(),
        Some("name must be 1 to 32 bytes")
    );
    assert!(chat::parse_join(format!("alice {long}").as_bytes()).is_err());
}

/// The handshake and `quit` give the same answers however the input is
/// chunked (the in-memory harness, every split point and one byte at a
/// time).
#[test]
fn member_protocol_is_chunking_invariant() {
    use reel::testing::assert_chunking_invariant;
    let make = || chat::member_protocol(&Default::default(), Duration::ZERO);
    let t = assert_chunking_invariant(make, b"alice lobby\r\nhello\n\x1b[1mbold\r\nquit\nignored\n", false);
    assert_eq!(t.written, b"success\nquit\n");
    let t = assert_chunking_invariant(make, b"alice\nlobby\n", false);
    assert_eq!(t.written, b"error: expected USERNAME ROOM\n");
    let t = assert_chunking_invariant(make, b"alice lobby\nlast words", true);
    assert_eq!(t.written, b"success\n");
}

// ----- the server ----------------------------------------------------------------------

#[test]
fn join_answers_success_reuse_and_error() {
    let srv = server();
    let mut alice = Peer::join(srv.addr, "alice", "lobby");
    // The same name in another room is another person.
    let _alice2 = Peer::join(srv.addr, "alice", "kitchen");

    let mut again = Peer::connect(srv.addr);
    again.send(b"alice lobby\n");
    assert_eq!(again.line(), "reuse");
    again.expect_eof();

    let long = "x".repeat(33);
    let bad: [&[u8]; 7] = [
        b"\n",
        b"alice\n",
        b"alice lobby extra\n",
        b"ali\x1bce lobby\n",
        b"alice lob\xffby\n",
        format!("{long} lobby\n").leak().as_bytes(),
        format!("bob {long}\n").leak().as_bytes(),
    ];
    for input in bad {
        let mut peer = Peer::connect(srv.addr);
        peer.send(input);
        let answer = peer.line();
        assert!(answer.starts_with("error: ") && answer.len() > 7, "{input:?} → {answer:?}");
        peer.expect_eof();
    }

    // Nobody else heard anything: alice's next line is bob's join.
    let _bob = Peer::join(srv.addr, "bob", "lobby");
    assert_eq!(alice.stamped(), "* bob joined lobby");
}

/// The stamp is the server's wall clock in local time, as `ctime` writes
/// it, and follows that clock.
#[test]
fn lines_are_stamped_with_the_wall_clock() {
    let start = std::time::UNIX_EPOCH + Duration::from_secs(1_795_305_204);
    let clock = WallClock::manual(start);
    let server_clock = clock.clone();
    let srv = server_with(move |args| args.clock = server_clock);
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let mut ben = Peer::join(srv.addr, "ben", "lobby");
    assert_eq!(ann.line(), format!("[{}] * ben joined lobby", clock_text::ctime_local(start)));
    clock.advance(Duration::from_secs(3600 * 24 * 40 + 1));
    ben.send(b"later\n");
    assert_eq!(ann.line(), format!("[{}] ben: later", clock_text::ctime_local(clock.now())));
}

/// Joins `names` to `room` one by one; everyone already in hears each
/// join.
fn fill_room(addr: SocketAddr, room: &str, names: &[&str]) -> Vec<Peer> {
    let mut members: Vec<Peer> = Vec::new();
    for name in names {
        let newcomer = Peer::join(addr, name, room);
        for m in &mut members {
            assert_eq!(m.stamped(), format!("* {name} joined {room}"));
        }
        members.push(newcomer);
    }
    members
}

#[test]
fn messages_reach_exactly_the_other_members_of_the_room() {
    let srv = server();
    let mut red = fill_room(srv.addr, "red", &["ann", "ben", "cat"]);
    let mut blue = fill_room(srv.addr, "blue", &["dan", "eve", "ann"]);

    for (room, name, members) in [("red", ["ann", "ben", "cat"], &mut red), ("blue", ["dan", "eve", "ann"], &mut blue)]
    {
        for from in 0..3 {
            let text = format!("hello {room} from {}, ünïcödé ok", name[from]);
            members[from].send(format!("{text}\n").as_bytes());
            for (to, m) in members.iter_mut().enumerate() {
                if to != from {
                    assert_eq!(m.stamped(), format!("{}: {text}", name[from]));
                }
            }
        }
    }
    // A last round proves nobody got anything extra: each member's next
    // line is exactly this one.
    red[0].send(b"end red\n");
    blue[0].send(b"end blue\n");
    let expect = |m: &mut Peer, line: &str| assert_eq!(m.stamped(), line);
    for m in &mut red[1..] {
        expect(m, "ann: end red");
    }
    for m in &mut blue[1..] {
        expect(m, "dan: end blue");
    }
    red[1].send(b"to ann\n");
    expect(&mut red[0], "ben: to ann");
    blue[1].send(b"to ann\n");
    expect(&mut blue[0], "eve: to ann");
}

#[test]
fn quit_is_answered_then_closed_and_announced() {
    let srv = server();
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben"]);
    room[1].send(b"quit\nthis is never relayed\n");
    assert_eq!(room[1].line(), "quit");
    room[1].expect_eof();
    assert_eq!(room[0].stamped(), "* ben left lobby");
    // "quit" inside a message is just text.
    let mut cat = Peer::join(srv.addr, "cat", "lobby");
    assert_eq!(room[0].stamped(), "* cat joined lobby");
    cat.send(b"quit \n quit\n");
    assert_eq!(room[0].stamped(), "cat: quit ");
    assert_eq!(room[0].stamped(), "cat:  quit");
}

#[test]
fn disconnect_and_half_close_announce_the_leave_once() {
    let srv = server();
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben", "cat"]);
    let cat = room.pop().expect("cat");
    let mut ben = room.pop().expect("ben");
    let mut ann = room.pop().expect("ann");

    drop(cat); // a plain disconnect
    assert_eq!(ann.stamped(), "* cat left lobby");
    assert_eq!(ben.stamped(), "* cat left lobby");

    // A half-close: the unfinished last line still counts, then ben leaves.
    ben.send(b"bye for now");
    ben.stream.shutdown(Shutdown::Write).expect("half-close");
    assert_eq!(ann.stamped(), "ben: bye for now");
    assert_eq!(ann.stamped(), "* ben left lobby");
    ben.expect_eof();

    // Nothing more: ann's next line is dan's join.
    let _dan = Peer::join(srv.addr, "dan", "lobby");
    assert_eq!(ann.stamped(), "* dan joined lobby");
}

#[test]
fn control_characters_and_invalid_utf8_are_cleaned() {
    let srv = server();
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben"]);
    room[0].send(b"\x1b]0;pwned\x07\x1b[2Jclear\tscreen \xc0\xff caf\xc3\xa9 \xc2\x9b6n\x7f\x00\r\n");
    let raw = room[1].raw_line();
    let text = String::from_utf8(raw).expect("UTF-8 after cleaning");
    assert!(text.starts_with('[') && is_ctime(&text[1..25]), "{text:?}");
    assert_eq!(&text[25..], "] ann: ]0;pwned[2Jclear\tscreen \u{FFFD}\u{FFFD} café 6n");
    assert!(!text.chars().any(|c| c != '\t' && c.is_control()));
}

#[test]
fn a_line_over_16_kib_is_refused_and_the_member_leaves() {
    let srv = server();
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben"]);
    // Exactly the maximum is fine.
    let max = "m".repeat(chat::MAX_LINE);
    room[0].send(format!("{max}\n").as_bytes());
    assert_eq!(room[1].stamped(), format!("ann: {max}"));
    // One more byte is not.
    room[0].send(format!("{max}x\n").as_bytes());
    assert_eq!(room[0].line(), "error: line too long");
    room[0].expect_eof();
    assert_eq!(room[1].stamped(), "* ann left lobby");
    // Also as the first line.
    let mut newcomer = Peer::connect(srv.addr);
    newcomer.send(&vec![b'n'; chat::MAX_LINE + 100]);
    assert_eq!(newcomer.line(), "error: line too long");
    newcomer.expect_eof();
}

#[test]
fn pipelined_input_is_split_into_lines() {
    let srv = server();
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let mut ben = Peer::connect(srv.addr);
    ben.send(b"ben lobby\r\none\ntwo\r\n\nthree\n");
    assert_eq!(ben.line(), "success");
    assert_eq!(ann.stamped(), "* ben joined lobby");
    for text in ["ben: one", "ben: two", "ben: ", "ben: three"] {
        assert_eq!(ann.stamped(), text);
    }
}

#[test]
fn input_one_byte_at_a_time_is_the_same() {
    let srv = server();
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let mut ben = Peer::connect(srv.addr);
    for &b in "ben lobby\nhé llo\r\nquit\n".as_bytes() {
        ben.send(&[b]);
    }
    assert_eq!(ben.line(), "success");
    assert_eq!(ben.line(), "quit");
    ben.expect_eof();
    assert_eq!(ann.stamped(), "* ben joined lobby");
    assert_eq!(ann.stamped(), "ben: hé llo");
    assert_eq!(ann.stamped(), "* ben left lobby");
}

#[test]
fn a_member_that_stops_reading_is_dropped_and_the_room_goes_on() {
    let srv = server_with(|args| args.max_output = 64 * 1024);
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben", "slow"]);
    let _slow = room.pop().expect("slow"); // never reads again
    let (ann, ben) = room.split_at_mut(1);
    let (ann, ben) = (&mut ann[0], &mut ben[0]);

    // Ann talks, ben reads every line, in lock step: ben never falls
    // behind, slow's kernel buffers fill, then its queue passes the limit.
    let text = "z".repeat(16_000);
    let start = Instant::now();
    let mut sent = 0;
    loop {
        assert!(sent < 4096, "slow was not dropped after {sent} messages of 16 kB");
        assert!(start.elapsed() < Duration::from_secs(8), "slow was not dropped in time");
        ann.send(format!("{text}\n").as_bytes());
        sent += 1;
        let line = ben.stamped();
        if line == "* slow left lobby" {
            break;
        }
        assert_eq!(line.len(), 5 + text.len(), "ben gets ann's message whole");
    }
    assert_eq!(ann.stamped(), "* slow left lobby");
    // The message in flight when slow went, then the room goes on.
    assert_eq!(ben.stamped(), format!("ann: {text}"));
    ann.send(b"still here\n");
    assert_eq!(ben.stamped(), "ann: still here");
    ben.send(b"me too\n");
    assert_eq!(ann.stamped(), "ben: me too");
}

#[test]
fn shutdown_tells_every_member_exactly_once() {
    let srv = server();
    let mut red = fill_room(srv.addr, "red", &["ann", "ben"]);
    let mut blue = fill_room(srv.addr, "blue", &["cat", "dan", "eve"]);
    let mut stranger = Peer::connect(srv.addr); // never joined
                                                // Make sure the stranger's connection is accepted before the stop.
    let _probe = fill_room(srv.addr, "probe", &["zed"]);
    srv.handle.stop();
    for m in red.iter_mut().chain(blue.iter_mut()) {
        assert_eq!(String::from_utf8_lossy(&m.rest()), "* server shutting down\n");
    }
    stranger.expect_eof();
    drop((red, blue, stranger, _probe));
    drop(srv); // the reactor drained and ended
}

#[test]
fn an_idle_member_is_closed_and_announced() {
    let srv = server_with(|args| args.server.idle_timeout = Duration::from_millis(300));
    let start = Instant::now();
    let mut ben = Peer::join(srv.addr, "ben", "lobby");
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    assert_eq!(ben.stamped(), "* ann joined lobby");
    // Ben joined first, so he times out first; ann hears it, then times out.
    assert_eq!(ann.stamped(), "* ben left lobby");
    ben.expect_eof();
    ann.expect_eof();
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn over_max_conns_the_answer_is_server_busy() {
    let srv = server_with(|args| args.server.max_conns = 2);
    let _ann = Peer::join(srv.addr, "ann", "lobby");
    let _ben = Peer::join(srv.addr, "ben", "lobby");
    let mut third = Peer::connect(srv.addr);
    assert_eq!(third.line(), "error: server busy");
    third.expect_eof();
}

// ----- the interactive client, in-process -------------------------------------------------

/// A writer that hands each write to a channel: the client's console.
struct ChannelWriter(Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // The test may have stopped listening; the client must not care.
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Lines from a [`ChannelWriter`].
struct Lines {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
}

impl Lines {
    fn new(rx: Receiver<Vec<u8>>) -> Lines {
        Lines { rx, buf: Vec::new() }
    }

    fn line(&mut self) -> String {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return String::from_utf8_lossy(&line[..end]).into_owned();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(bytes) => self.buf.extend_from_slice(&bytes),
                Err(e) => panic!("no line from the client: {e} (have {:?})", String::from_utf8_lossy(&self.buf)),
            }
        }
    }

    /// Everything printed until the client's reactor dropped the console.
    fn rest(mut self) -> String {
        while let Ok(bytes) = self.rx.recv_timeout(IO_TIMEOUT) {
            self.buf.extend_from_slice(&bytes);
        }
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

/// The client on its own reactor thread, its keyboard a TCP connection.
struct ClientRun {
    out: Lines,
    err: Lines,
    keyboard: Option<Receiver<TcpStream>>,
    thread: JoinHandle<Option<ClientExit>>,
}

fn run_client(server: SocketAddr, user: &str, room: &str) -> ClientRun {
    let keys = TcpListener::bind("127.0.0.1:0").expect("bind the keyboard");
    let keys_addr = keys.local_addr().expect("keyboard address");
    let (kb_tx, kb_rx) = mpsc::channel();
    // Accepted on a thread so that a client that never attaches its input
    // (a refused join) leaves nothing blocked; the thread ends with the test.
    std::thread::spawn(move || {
        if let Ok((stream, _)) = keys.accept() {
            let _ = kb_tx.send(stream);
        }
    });
    let (out_tx, out_rx) = mpsc::channel();
    let (err_tx, err_rx) = mpsc::channel();
    let args = ClientArgs { user: user.into(), room: room.into(), connect: server, tls: Default::default() };
    let thread = std::thread::Builder::new()
        .name("chat-client".into())
        .spawn(move || {
            let mut reactor = test_reactor();
            let console = Console { out: Box::new(ChannelWriter(out_tx)), err: Box::new(ChannelWriter(err_tx)) };
            let exit = chat::start_client(
                &mut reactor,
                &args,
                console,
                Box::new(move |cx, keyboard| {
                    // Like standard input, the keyboard does not linger
                    // for the test to close its end.
                    let opts = TcpOptions { close_linger: Duration::ZERO, ..Default::default() };
                    Ok(cx.connect_tcp_with(keys_addr, keyboard, &opts))
                }),
            );
            reactor.run().expect("client reactor run");
            let exit = exit.borrow_mut().take();
            exit
        })
        .expect("spawn the client thread");
    ClientRun { out: Lines::new(out_rx), err: Lines::new(err_rx), keyboard: Some(kb_rx), thread }
}

impl ClientRun {
    /// The keyboard: what the test writes here, the client reads as typed.
    fn keyboard(&mut self) -> TcpStream {
        let rx = self.keyboard.take().expect("one keyboard");
        let kb = rx.recv_timeout(IO_TIMEOUT).expect("the client attaches its input after success");
        kb.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        kb
    }

    /// Waits for the client's reactor to end; returns how the session did.
    fn exit(self) -> (ClientExit, String, String) {
        let exit = self.thread.join().expect("the client thread ends cleanly").expect("the session ended");
        (exit, self.out.rest(), self.err.rest())
    }
}

/// Strips and checks the `[ctime] ` of a line the client printed.
fn unstamp(line: &str) -> &str {
    assert!(line.len() > 27 && line.starts_with('[') && is_ctime(&line[1..25]) && &line[25..27] == "] ", "{line:?}");
    &line[27..]
}

#[test]
fn client_is_full_duplex_and_says_quit_at_end_of_input() {
    let srv = server();
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let mut client = run_client(srv.addr, "bob", "lobby");
    assert_eq!(ann.stamped(), "* bob joined lobby");
    assert!(client.err.line().starts_with("joined room lobby as bob"));
    let mut kb = client.keyboard();

    // Both ways, interleaved: typed lines go out as typed, room lines are
    // printed as they arrive.
    kb.write_all(b"hello ann\n").expect("type");
    assert_eq!(ann.stamped(), "bob: hello ann");
    ann.send(b"hi bob\n");
    assert_eq!(unstamp(&client.out.line()), "ann: hi bob");
    kb.write_all(b"a line ").expect("type");
    kb.write_all(b"typed slowly\n").expect("type");
    assert_eq!(ann.stamped(), "bob: a line typed slowly");
    ann.send(b"\x1b[2J sneaky\n");
    assert_eq!(unstamp(&client.out.line()), "ann: [2J sneaky");

    // End of input, in the middle of a line: the line is finished, then quit.
    kb.write_all(b"unfinished").expect("type");
    kb.shutdown(Shutdown::Write).expect("end of input");
    assert_eq!(ann.stamped(), "bob: unfinished");
    assert_eq!(ann.stamped(), "* bob left lobby");
    let (exit, out, _) = client.exit();
    assert_eq!(exit, ClientExit::Quit);
    assert_eq!(exit.code(), 0);
    assert_eq!(out, "");
}

#[test]
fn client_quit_typed_ends_the_session() {
    let srv = server();
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let mut client = run_client(srv.addr, "bob", "lobby");
    assert_eq!(ann.stamped(), "* bob joined lobby");
    let kb = client.keyboard();
    (&kb).write_all(b"quit\n").expect("type");
    assert_eq!(ann.stamped(), "* bob left lobby");
    let (exit, _, _) = client.exit();
    assert_eq!(exit, ClientExit::Quit);
    drop(kb);
}

#[test]
fn client_refused_join_exits_1_with_a_clear_message() {
    let srv = server();
    let mut ann = Peer::join(srv.addr, "ann", "lobby");
    let (exit, out, err) = run_client(srv.addr, "ann", "lobby").exit();
    assert_eq!(exit.code(), 1);
    assert!(matches!(&exit, ClientExit::Refused(why) if why.contains("already in use")), "{exit:?}");
    assert_eq!((out.as_str(), err.as_str()), ("", ""));
    // ann heard nothing of it.
    let _cat = Peer::join(srv.addr, "cat", "lobby");
    assert_eq!(ann.stamped(), "* cat joined lobby");

    // A name the server would refuse is refused before it is sent.
    let (exit, _, _) = run_client(srv.addr, "two\nlines", "lobby").exit();
    assert!(matches!(&exit, ClientExit::Refused(why) if why.contains("control character")), "{exit:?}");
}

#[test]
fn client_reports_a_busy_server() {
    let srv = server_with(|args| args.server.max_conns = 1);
    let _ann = Peer::join(srv.addr, "ann", "lobby");
    let (exit, _, _) = run_client(srv.addr, "bob", "lobby").exit();
    assert_eq!(exit, ClientExit::Refused("the server refused: server busy".into()));
    assert_eq!(exit.code(), 1);
}

#[test]
fn client_reports_a_server_that_goes_away() {
    let srv = server();
    let mut client = run_client(srv.addr, "bob", "lobby");
    assert!(client.err.line().starts_with("joined room lobby as bob"));
    let kb = client.keyboard();
    srv.handle.stop();
    assert_eq!(client.out.line(), "* server shutting down");
    drop(kb);
    let (exit, _, _) = client.exit();
    assert_eq!(exit, ClientExit::ServerClosed(None));
    assert_eq!(exit.code(), 1);
    assert!(exit.message().is_some_and(|m| m.contains("closed")));
}

#[test]
fn client_reports_a_refused_connection() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("address")
    };
    let (exit, _, _) = run_client(closed, "bob", "lobby").exit();
    assert_eq!(exit, ClientExit::ConnectFailed(Reason::Refused));
    assert_eq!(exit.code(), 1);
}

/// The `seq`th line `name` sends in the flow-control test: 1,000 bytes.
fn talk_line(name: &str, seq: usize) -> String {
    let mut line = format!("{name} {seq:06} ");
    line.extend(std::iter::repeat('z').take(1000 - line.len()));
    line
}

/// Reads `peer`'s stamped lines until `want` messages from `talkers`
/// arrived, checking each talker's messages come in the order sent; calls
/// `pace` after every line (a slow reader sleeps there). Returns the other
/// lines seen (joins, leaves).
fn read_talk(peer: &mut Peer, talkers: &[&str], want: usize, mut pace: impl FnMut(usize)) -> Vec<String> {
    let mut next = vec![0usize; talkers.len()];
    let mut others = Vec::new();
    let mut got = 0;
    while got < want {
        let line = peer.stamped();
        let Some((from, text)) = line.split_once(": ") else {
            others.push(line);
            continue;
        };
        let t = talkers.iter().position(|n| *n == from).unwrap_or_else(|| panic!("message from {from}"));
        assert_eq!(text, talk_line(from, next[t]), "{from}'s message {} out of order or damaged", next[t]);
        next[t] += 1;
        got += 1;
        pace(got);
    }
    others
}

#[test]
fn a_member_that_reads_slowly_gets_every_line_and_one_that_never_reads_is_dropped() {
    const TALKERS: [&str; 3] = ["ann", "ben", "cat"];
    const LINES: usize = 2 * 1024 * 1024 / 1000; // 2 MiB each
    let srv = server();
    let mut room = fill_room(srv.addr, "lobby", &["ann", "ben", "cat", "dan", "eve"]);
    let _eve = room.pop().expect("eve"); // never reads
    let mut dan = room.pop().expect("dan");
    // Each talker writes 2 MiB as fast as it can, and reads what the
    // others say on a thread of its own (a talker that did not read would
    // be a non-reader too).
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (i, mut talker) in room.into_iter().enumerate() {
        let mut writer = talker.stream.try_clone().expect("clone");
        writers.push(std::thread::spawn(move || {
            for seq in 0..LINES {
                writer.write_all(format!("{}\n", talk_line(TALKERS[i], seq)).as_bytes()).expect("talk");
            }
        }));
        readers.push(std::thread::spawn(move || {
            let others: Vec<&str> = TALKERS.iter().copied().filter(|n| *n != TALKERS[i]).collect();
            read_talk(&mut talker, &others, 2 * LINES, |_| {});
            talker
        }));
    }
    // Dan reads about 2 MB/s: slower than three talkers together, so more
    // than --max-output (1 MiB) waits for him at times; but he reads.
    let seen = read_talk(&mut dan, &TALKERS, 3 * LINES, |n| {
        if n % 4 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    for w in writers {
        w.join().expect("a talker's writer");
    }
    let mut talkers: Vec<Peer> = readers.into_iter().map(|r| r.join().expect("a talker's reader")).collect();
    // Eve, who never reads, is dropped once she has read nothing for the
    // stall period with more than the limit queued.
    if !seen.iter().any(|l| l == "* eve left lobby") {
        assert_eq!(dan.stamped(), "* eve left lobby");
    }
    // The room goes on.
    talkers[0].send(b"still here\n");
    assert_eq!(dan.stamped(), "ann: still here");
}

/// The client ends with its status also when it cannot say why: stderr
/// closed (`2>&1 | true`), an error to report. It used to panic on the
/// failed `eprintln!` inside a callback, which the reactor caught and
/// logged, and then run on with nothing to do, for ever.
#[test]
fn the_client_exits_1_when_it_cannot_report_its_failure() {
    let addr = example_bin::refused_tcp_addr().to_string();
    example_bin::assert_exits_1_with_stderr_closed(
        "chat",
        ["client", "--user", "ann", "--room", "r1", "--connect", &addr],
    );
}
