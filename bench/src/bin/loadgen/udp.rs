//! The UDP client: `conns` connected sockets, each with `depth` datagrams
//! `ping N` in flight; the reply must be `Hello, ping N!` (udp_echo_hello)
//! or `ping N` itself (udp_echo), byte for byte.
//!
//! Datagrams may be lost or reordered, so replies are matched to requests
//! by their number, among the socket's own `depth` slots. A request
//! unanswered within the timeout is an error (lost) and is replaced by a
//! new one; its reply, if it comes after all, is counted as late, not as
//! an error. A reply that is not what any request in flight expects is an
//! error, charged to the oldest request, which is replaced.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use reel::{DatagramContext, DatagramProtocol, ReactorContext, TimerId};

use super::{mismatch, show, Line, Phase, Shared, State};

const HELLO_PRE: &[u8] = b"Hello, ";
const HELLO_POST: &[u8] = b"!";

#[derive(Clone, Copy)]
struct Slot {
    busy: bool,
    seq: u64,
    sent: Instant,
    line: Line,
}

pub(super) struct UdpClient {
    sh: Rc<Shared>,
    hello: bool,
    /// `depth` requests, allocated once.
    slots: Vec<Slot>,
}

/// Opens the `conns` sockets.
pub(super) fn start(sh: &Rc<Shared>, cx: &mut ReactorContext<'_>) -> Result<(), String> {
    let remote = sh.cfg.addr;
    let local: SocketAddr =
        if remote.is_ipv6() { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() } else { ([0, 0, 0, 0], 0).into() };
    for _ in 0..sh.cfg.conns {
        let client = UdpClient {
            sh: Rc::clone(sh),
            hello: sh.cfg.target == super::Target::UdpEchoHello,
            slots: vec![Slot { busy: false, seq: 0, sent: Instant::now(), line: Line::EMPTY }; sh.cfg.depth],
        };
        cx.connect_udp(local, remote, client).map_err(|e| format!("cannot open a UDP socket to {remote}: {e}"))?;
    }
    Ok(())
}

impl UdpClient {
    /// Sends a new request in slot `i` (unless the run is over).
    fn send(&mut self, cx: &mut DatagramContext<'_>, st: &mut State, i: usize, now: Instant) {
        if st.phase == Phase::Done {
            self.slots[i].busy = false;
            return;
        }
        let seq = st.next_seq();
        let line = Line::ping(seq);
        if let Err(e) = cx.send(line.payload()) {
            // Only a closing endpoint refuses (it is connected): the run is over.
            log::debug!("udp send: {e}");
            self.slots[i].busy = false;
            return;
        }
        if st.measuring() {
            st.bytes_out += line.payload().len() as u64;
        }
        self.slots[i] = Slot { busy: true, seq, sent: now, line };
    }

    /// The payload of a reply (`ping N`), if it has the right frame.
    fn payload<'a>(&self, data: &'a [u8]) -> Option<&'a [u8]> {
        if self.hello {
            data.strip_prefix(HELLO_PRE)?.strip_suffix(HELLO_POST)
        } else {
            Some(data)
        }
    }

    /// What slot `i` expects back.
    fn expected(&self, i: usize) -> Vec<u8> {
        let payload = self.slots[i].line.payload();
        if self.hello {
            [HELLO_PRE, payload, HELLO_POST].concat()
        } else {
            payload.to_vec()
        }
    }
}

impl DatagramProtocol for UdpClient {
    fn started(&mut self, cx: &mut DatagramContext<'_>) {
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        let now = Instant::now();
        for i in 0..self.slots.len() {
            self.send(cx, &mut st, i, now);
        }
        cx.set_interval(super::tcp::check_interval(sh.cfg.timeout));
    }

    fn datagram_received(&mut self, cx: &mut DatagramContext<'_>, data: &[u8], _from: SocketAddr) {
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        if st.measuring() {
            st.bytes_in += data.len() as u64;
        }
        let now = Instant::now();
        let payload = self.payload(data);
        let seq = payload.and_then(Line::parse_seq);
        let slot = seq.and_then(|s| self.slots.iter().position(|sl| sl.busy && sl.seq == s));
        match (slot, payload) {
            (Some(i), Some(p)) if p == self.slots[i].line.payload() => {
                if st.completed(&sh.cfg, cx, self.slots[i].sent, now) {
                    self.send(cx, &mut st, i, now);
                } else {
                    self.slots[i].busy = false;
                }
            }
            _ if seq.is_some_and(|s| s < st.seq) && slot.is_none() => st.late += 1,
            _ => {
                // Charge the request it names, else the oldest in flight.
                let oldest = slot.or_else(|| {
                    (0..self.slots.len()).filter(|&i| self.slots[i].busy).min_by_key(|&i| self.slots[i].seq)
                });
                let addr = sh.cfg.addr;
                if st.phase != Phase::Done {
                    match oldest {
                        Some(i) => {
                            let expected = self.expected(i);
                            st.error(|| format!("{addr}: udp {}", mismatch("reply", &expected, 0, data)));
                        }
                        None => {
                            st.error(|| format!("{addr}: udp datagram with nothing in flight: {}", show(data, 256)))
                        }
                    }
                }
                if let Some(i) = oldest {
                    self.send(cx, &mut st, i, now);
                }
            }
        }
    }

    fn error_received(&mut self, _cx: &mut DatagramContext<'_>, error: &std::io::Error) {
        // Not counted: the requests it concerns time out and are counted then.
        let addr = self.sh.cfg.addr;
        self.sh.st.borrow_mut().note(|| format!("{addr}: udp socket error: {error}"));
    }

    fn timer_fired(&mut self, cx: &mut DatagramContext<'_>, _timer: TimerId) {
        let sh = Rc::clone(&self.sh);
        let mut st = sh.st.borrow_mut();
        let timeout = sh.cfg.timeout;
        let now = Instant::now();
        for i in 0..self.slots.len() {
            let slot = self.slots[i];
            if slot.busy && now.saturating_duration_since(slot.sent) > timeout {
                if st.phase != Phase::Done {
                    let addr = sh.cfg.addr;
                    st.error(|| {
                        format!("{addr}: no reply to {} within {timeout:?} (lost)", show(slot.line.payload(), 64))
                    });
                }
                self.send(cx, &mut st, i, now);
            }
        }
    }

    fn stopped(&mut self, _cx: &mut DatagramContext<'_>) {
        super::observe_stop(&self.sh);
    }
}
