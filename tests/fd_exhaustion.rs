//! Running out of file descriptors: the reactor neither spins nor exits,
//! clients it cannot serve are closed promptly instead of hanging in the
//! backlog, and serving resumes by itself once descriptors free up.
//!
//! The clients run in a child process (this test binary, re-run with an
//! environment variable), since the descriptor limit is per process.

mod util;

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use reel::protocols::echo::Echo;
use reel::Protocol;

const CLIENT_ENV: &str = "REEL_FD_EXHAUSTION_CLIENT";

/// The child: waits for "go", opens `n` connections, tries a round trip on
/// each, and prints `served closed hung`.
#[test]
fn fd_exhaustion_client_process() {
    let Ok(spec) = std::env::var(CLIENT_ENV) else { return };
    let (addr, n) = spec.split_once(',').expect("ADDR,N");
    let addr: SocketAddr = addr.parse().expect("addr");
    let n: usize = n.parse().expect("n");
    let mut go = String::new();
    std::io::stdin().lock().read_line(&mut go).expect("go line");
    let mut conns = Vec::new();
    for _ in 0..n {
        let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3))).expect("timeout");
        conns.push(s);
    }
    let (mut served, mut closed, mut hung) = (0, 0, 0);
    for s in &mut conns {
        let _ = s.write_all(b"x");
        let mut buf = [0u8; 1];
        match s.read(&mut buf) {
            Ok(1) => served += 1,
            Ok(_) => closed += 1,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => hung += 1,
            Err(_) => closed += 1, // reset
        }
    }
    println!("RESULT {served} {closed} {hung}");
}

fn open_fds() -> u64 {
    let dir = std::fs::read_dir("/proc/self/fd").unwrap_or_else(|e| panic!("cannot count open descriptors: {e}"));
    dir.count() as u64
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` (`/proc/self/task/TID/stat`). Fails the test when
/// it cannot be read: without it the "does not spin" check would compare
/// zero with zero and pass without having measured anything.
fn thread_cpu() -> Duration {
    let path = "/proc/thread-self/stat";
    let stat = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    // Fields after the parenthesised command name start at field 3 (state);
    // utime and stime are fields 14 and 15, in clock ticks.
    let (_, rest) = stat.rsplit_once(')').unwrap_or_else(|| panic!("no command name in {path}: {stat:?}"));
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize, name: &str| -> u64 {
        let text = fields.get(i).unwrap_or_else(|| panic!("no {name} in {path}: {stat:?}"));
        text.parse().unwrap_or_else(|e| panic!("{name} {text:?} in {path}: {e}"))
    };
    let ticks = field(11, "utime") + field(12, "stime");
    // USER_HZ, the unit of /proc, is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

fn run_clients(addr: SocketAddr, n: usize, lower_limit_to: Option<u64>) -> (u32, u32, u32) {
    let exe = std::env::current_exe().expect("test exe");
    let mut child = Command::new(exe)
        .args(["--exact", "fd_exhaustion_client_process", "--nocapture", "--test-threads=1"])
        .env(CLIENT_ENV, format!("{addr},{n}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn client process");
    if let Some(limit) = lower_limit_to {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
        rlimit::setrlimit(rlimit::Resource::NOFILE, limit, hard).expect("setrlimit");
    }
    child.stdin.take().expect("stdin").write_all(b"go\n").expect("go");
    let out = child.wait_with_output().expect("client output");
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text.find("RESULT ").unwrap_or_else(|| panic!("no result: {text}"));
    let v: Vec<u32> = text[at..].split_whitespace().skip(1).take(3).map(|x| x.parse().expect("number")).collect();
    (v[0], v[1], v[2])
}

#[test]
fn out_of_descriptors_clients_are_closed_promptly_and_serving_resumes() {
    if std::env::var(CLIENT_ENV).is_ok() {
        return;
    }
    let mut reactor = util::reactor();
    let id = reactor.listen_tcp("127.0.0.1:0", |_| Box::new(Echo) as Box<dyn Protocol>).unwrap();
    let addr = reactor.listener_addr(id).unwrap();
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("getrlimit");
    // Room for about 8 accepted connections beyond what is open now.
    let limit = open_fds() + 8;
    let handle = reactor.handle();
    let driver = std::thread::spawn(move || {
        let first = run_clients(addr, 30, Some(limit));
        // The first client process is gone: its connections closed, so the
        // server's descriptors free up. Raise the limit back; serving must
        // resume without any new listener event being needed.
        rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard).expect("restore limit");
        let second = run_clients(addr, 5, None);
        handle.stop();
        (first, second)
    });
    let cpu0 = thread_cpu();
    let wall0 = Instant::now();
    util::run_limited(&mut reactor, Duration::from_secs(30));
    let (cpu, wall) = (thread_cpu() - cpu0, wall0.elapsed());
    let ((served, closed, hung), second) = driver.join().expect("driver");
    assert_eq!(hung, 0, "no client may hang in the backlog (served {served}, closed {closed})");
    assert!(served >= 1, "some clients are served (closed {closed})");
    assert!(closed >= 1, "clients over the limit are closed (served {served})");
    assert_eq!(second, (5, 0, 0), "serving resumes once descriptors free up");
    assert!(cpu.as_secs_f64() < 0.5 * wall.as_secs_f64() + 0.05, "the reactor spun: {cpu:?} of CPU in {wall:?}");
}
