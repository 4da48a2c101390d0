//! systemd socket activation, for real: this test binary starts itself
//! again as a child through `sh`, which moves a listening socket to
//! descriptor 3 and sets `LISTEN_FDS=1` and `LISTEN_PID` to the child's
//! own pid (a shell's `exec` keeps its pid), as systemd does. The child
//! takes the socket with `reel::activation::listen_fds`, adopts it, and
//! serves one echo connection; the parent is the client. A second child
//! gets a `LISTEN_PID` that is not its own and must take nothing.
//!
//! The listener reaches the child as its standard input (no `pre_exec`,
//! no `unsafe`); the shell line `exec 3<&0 0</dev/null` moves it.

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use reel::activation::{listen_fds, Inherited};

/// The environment variable that makes the child entry point run.
const CHILD: &str = "REEL_ACTIVATION_CHILD";

/// Starts this test binary as a child running `entry`, with `listener`
/// at descriptor 3 and `LISTEN_PID` set to `pid` (`$$`: the child's own).
fn spawn_child(entry: &str, listener: OwnedFd, pid: &str) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary path");
    let script = format!("exec 3<&0 0</dev/null; export LISTEN_FDS=1 LISTEN_PID={pid}; exec \"$0\" \"$@\"");
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(exe)
        .args(["--exact", entry, "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::from(listener))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child")
}

#[test]
fn a_listener_passed_at_descriptor_3_is_served() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let child = spawn_child("child_serves_the_inherited_listener", listener.into(), "$$");
    // The child may not be listening through reel yet: the kernel queues
    // the connection in the backlog until it accepts.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(util::IO_TIMEOUT)).unwrap();
    s.write_all(b"activated\n").unwrap();
    let mut got = [0u8; 10];
    s.read_exact(&mut got).expect("the child echoes");
    assert_eq!(&got, b"activated\n");
    drop(s);
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("CHILD: served 1 inherited listener(s)"), "{text}");
}

#[test]
fn another_process_s_listen_pid_is_ignored() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // pid 1 is never this child.
    let child = spawn_child("child_takes_nothing_for_another_pid", listener.into(), "1");
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {text}");
    assert!(text.contains("CHILD: took nothing"), "{text}");
}

/// Child entry point (not a test of its own: run by the tests above,
/// ignored otherwise).
#[test]
#[ignore = "the child process of a_listener_passed_at_descriptor_3_is_served"]
fn child_serves_the_inherited_listener() {
    assert_eq!(std::env::var(CHILD).as_deref(), Ok("1"), "run by the parent test only");
    let fds = listen_fds().expect("LISTEN_FDS");
    assert_eq!(fds.len(), 1, "one socket passed: {fds:?}");
    assert!(listen_fds().unwrap().is_empty(), "the descriptors are taken once");
    let mut reactor = util::reactor();
    for socket in fds {
        let Inherited::TcpListener(l) = socket else { panic!("not a TCP listener: {socket:?}") };
        // Echo until the client closes, then stop.
        struct EchoOnce;
        impl reel::Protocol for EchoOnce {
            fn data_received(&mut self, cx: &mut reel::Context<'_>, data: &[u8]) {
                cx.write(data);
            }
            fn connection_lost(&mut self, cx: &mut reel::Context<'_>, _reason: reel::Reason) {
                cx.stop();
            }
        }
        reactor.context().adopt_tcp_listener(l, |_| EchoOnce, Default::default()).unwrap();
    }
    util::run(&mut reactor);
    println!("CHILD: served 1 inherited listener(s)");
}

/// Child entry point of another_process_s_listen_pid_is_ignored.
#[test]
#[ignore = "the child process of another_process_s_listen_pid_is_ignored"]
fn child_takes_nothing_for_another_pid() {
    assert_eq!(std::env::var(CHILD).as_deref(), Ok("1"), "run by the parent test only");
    assert_eq!(std::env::var("LISTEN_PID").as_deref(), Ok("1"));
    let fds = listen_fds().expect("LISTEN_FDS");
    assert!(fds.is_empty(), "{fds:?}");
    println!("CHILD: took nothing");
}
