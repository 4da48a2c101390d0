//! The chat rooms of PROTOCOLS.md ("chat") across the reactors of a group
//! (`chat --threads N`, N > 1). Include it next to `common` and `chat`:
//!
//! ```ignore
//! mod common;
//! #[path = "common/chat.rs"]
//! mod chat;
//! #[path = "common/chat_group.rs"]
//! mod chat_group;
//! ```
//!
//! # One owner reactor per room
//!
//! Members of one room may be served by different reactors (the kernel
//! picks the reactor of each connection). Each room has exactly one owner,
//! the reactor `hash(room) % N`: the owner alone holds the room's member
//! list (name → reactor and connection), decides joins (`success` or
//! `reuse`), stamps and formats each line once, and sends it to the
//! members: directly ([`Context::write_to`]) to those on its own reactor,
//! and as one message per other reactor that has members (the line and
//! the list of connections there). A member's own reactor sends the
//! member's join, lines and leave to the owner.
//!
//! Why an owner rather than a replica of every room on every reactor:
//! a name must be unique in its room (`reuse`), and two replicas could
//! each accept the same name at the same moment; with one owner the
//! decision is made in one place, without locks, and every member sees
//! the same order of lines, joins and leaves (the owner's). The cost is
//! one more hop for a line whose sender is not on the owner.
//!
//! Messages between reactors are batched: what a reactor has for another
//! during one turn leaves as one `call_on` at the start of the next turn
//! (a zero-delay timer), so a burst of lines costs one cross-thread call
//! per reactor, not one per line, and never one per member. Measured with
//! `bench/load/chat_group.py` (8 members, two reactors), batching took
//! the server's CPU time per delivered line from about 2 µs to 0.18 µs
//! (one reactor: 0.11 µs); see `docs/SCALING.md`.
//!
//! Order: messages from one thread to one reactor run in the order they
//! were sent ([`reel::GroupHandle::call_on`]), and a batch keeps the order
//! of its messages, so a sender's lines reach
//! the owner in order, and the owner's lines reach each reactor in order:
//! every member sees each sender's lines in the order they were sent, and
//! a member's `success` before any line of its room.
//!
//! Everything a message carries is `Send` (names, bytes, [`ConnId`]s);
//! the rooms stay on their owner's thread, in a thread-local hub that the
//! messages reach when they run there. Nothing is locked on the way of a
//! line.

#![allow(dead_code)] // each program uses a part

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::policies::IdleTimeout;
use reel::protocols::clock_text::ClockText;
use reel::{ConnId, Context, Factory, GroupHandle, ListenerId, Protocol, Reactor, ReactorContext, Reason};

use crate::chat::{self, ChatArgs};
use crate::common;

/// A member as the owner knows it: its reactor and its connection there.
type Address = (usize, ConnId);

/// Starts the chat server: across the group when this thread runs a
/// reactor of a `--threads N` group (N > 1), else [`chat::start`].
pub fn start(reactor: &mut Reactor, args: &ChatArgs) -> ListenerId {
    start_observed(reactor, args, None)
}

/// Called with each accepted peer's address on the reactor that accepted
/// it (tests learn which reactor serves which client this way).
pub type AcceptHook = Box<dyn Fn(SocketAddr)>;

/// [`start`], calling `on_accept` for each accepted connection (group
/// mode only).
pub fn start_observed(reactor: &mut Reactor, args: &ChatArgs, on_accept: Option<AcceptHook>) -> ListenerId {
    let Some((index, group)) = common::group_member().filter(|(_, g)| g.len() > 1) else {
        return chat::start(reactor, args);
    };
    let count = group.len();
    let mut opts = common::listen_options(&args.server);
    // As in `chat::start`: broadcasts are output nobody asked for, so a
    // member that does not read is dropped rather than pushed back.
    opts.tcp.output_limit = args.max_output;
    opts.tcp.output_stall = chat::MEMBER_STALL;
    opts.tcp.output_ceiling = args.max_output.saturating_mul(16);
    let hub = Rc::new(RefCell::new(Hub {
        index,
        group,
        rooms: HashMap::new(),
        shutting_down: false,
        clock: ClockText::ctime(args.clock.clone()),
        line: Vec::new(),
        outbox: (0..count).map(|_| Vec::new()).collect(),
        flush_armed: false,
    }));
    HUB.with(|h| *h.borrow_mut() = Some(Rc::clone(&hub)));
    // As in `chat::start`: `--unix` (reactor 0 serves it) and `--tls-cert`.
    let unix = GroupChatFactory { hub: Rc::clone(&hub), idle_timeout: args.server.idle_timeout, on_accept: None };
    let factory = GroupChatFactory { hub, idle_timeout: args.server.idle_timeout, on_accept };
    match common::listen_unix(reactor, &args.server, unix, opts.clone()) {
        Some(id) if !args.server.serve_tcp() => id,
        _ => common::listen(reactor, &args.server, factory, opts),
    }
}

thread_local! {
    /// This reactor's hub, for the messages other reactors send here.
    static HUB: RefCell<Option<Rc<RefCell<Hub>>>> = const { RefCell::new(None) };
}

/// Runs `f` with this reactor's hub (a message arriving after the hub is
/// gone does nothing).
fn with_hub(f: impl FnOnce(&mut Hub)) {
    let hub = HUB.with(|h| h.borrow().clone());
    if let Some(hub) = hub {
        f(&mut hub.borrow_mut());
    }
}

/// The reactor that owns `room`: the same on every reactor (the standard
/// hasher with its fixed keys).
pub fn owner_of(room: &str, reactors: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    room.hash(&mut h);
    (h.finish() % reactors as u64) as usize
}

/// One reactor's part of the chat: the rooms it owns.
struct Hub {
    index: usize,
    group: GroupHandle,
    /// The rooms this reactor owns: room → name → member.
    rooms: HashMap<Box<str>, HashMap<Box<str>, Address>>,
    /// Set by the first `stop_requested` here: nothing more is delivered
    /// to this reactor's members, so their last line is the shutdown
    /// notice, and nothing more is broadcast from its rooms.
    shutting_down: bool,
    clock: ClockText,
    /// The line being built, reused.
    line: Vec<u8>,
    /// Messages for each reactor, sent as one batch per reactor at the
    /// start of the next turn: a burst of lines costs one cross-thread
    /// call (and at most one wake) per reactor, not one per line.
    outbox: Vec<Vec<Message>>,
    /// A flush is due next turn.
    flush_armed: bool,
}

/// What one reactor sends another (in order, batched per turn).
enum Message {
    /// To a room's owner.
    ToOwner(ToOwner),
    /// To a member's reactor: the owner's answer to its join.
    Answer { conn: ConnId, accepted: bool },
    /// To a member's reactor: a room line for these members of it.
    Deliver { line: Box<[u8]>, conns: Vec<ConnId> },
}

/// What a member's reactor asks of a room's owner.
enum ToOwner {
    Join { room: Box<str>, name: Box<str>, from: Address },
    Say { room: Box<str>, name: Box<str>, from: Address, text: Vec<u8> },
    Leave { room: Box<str>, name: Box<str>, from: Address, announce: bool },
}

impl Hub {
    /// Sends `request` to the owner of its room: handled here at once if
    /// this reactor owns it.
    fn send_to_owner(&mut self, cx: &mut ReactorContext<'_>, room: &str, request: ToOwner) {
        let owner = owner_of(room, self.group.len());
        if owner == self.index {
            self.handle(cx, request);
        } else {
            self.post(cx, owner, Message::ToOwner(request));
        }
    }

    /// Queues a message for another reactor; the batch leaves next turn.
    fn post(&mut self, cx: &mut ReactorContext<'_>, reactor: usize, message: Message) {
        self.outbox[reactor].push(message);
        if !self.flush_armed {
            self.flush_armed = true;
            cx.call_later(Duration::ZERO, |_cx| with_hub(Hub::flush));
        }
    }

    /// Sends each reactor its batch (one `call_on` each).
    fn flush(&mut self) {
        self.flush_armed = false;
        for (reactor, queued) in self.outbox.iter_mut().enumerate() {
            if queued.is_empty() {
                continue;
            }
            let batch = std::mem::take(queued);
            self.group.call_on(reactor, move |cx| {
                let hub = HUB.with(|h| h.borrow().clone());
                if let Some(hub) = hub {
                    hub.borrow_mut().receive(cx, batch);
                }
            });
        }
    }

    /// A batch from another reactor, in the order it was sent.
    fn receive(&mut self, cx: &mut ReactorContext<'_>, batch: Vec<Message>) {
        for message in batch {
            match message {
                Message::ToOwner(request) => self.handle(cx, request),
                Message::Answer { conn, accepted } => answer_join(cx, conn, accepted),
                Message::Deliver { line, conns } => {
                    // Nothing after the shutdown line.
                    if !self.shutting_down {
                        for conn in conns {
                            cx.write_to(conn, &line);
                        }
                    }
                }
            }
        }
    }

    /// The owner's side: apply a request to the room.
    fn handle(&mut self, cx: &mut ReactorContext<'_>, request: ToOwner) {
        match request {
            ToOwner::Join { room, name, from } => {
                let members = self.rooms.entry(room.clone()).or_default();
                if members.contains_key(&name) {
                    self.answer(cx, from, false);
                    return;
                }
                members.insert(name.clone(), from);
                self.answer(cx, from, true);
                self.broadcast(cx, &room, from, |out| {
                    out.extend_from_slice(b"* ");
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b" joined ");
                    out.extend_from_slice(room.as_bytes());
                });
            }
            ToOwner::Say { room, name, from, text } => {
                // Lines of a member the room refused (or that left) are dropped.
                if self.rooms.get(&room).and_then(|m| m.get(&name)) != Some(&from) {
                    return;
                }
                self.broadcast(cx, &room, from, |out| {
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b": ");
                    chat::push_sanitized(out, &text);
                });
            }
            ToOwner::Leave { room, name, from, announce } => {
                let Some(members) = self.rooms.get_mut(&room) else { return };
                // Only the member that holds the name leaves under it.
                if members.get(&name) != Some(&from) {
                    return;
                }
                members.remove(&name);
                if members.is_empty() {
                    self.rooms.remove(&room);
                    return;
                }
                if announce {
                    self.broadcast(cx, &room, from, |out| {
                        out.extend_from_slice(b"* ");
                        out.extend_from_slice(name.as_bytes());
                        out.extend_from_slice(b" left ");
                        out.extend_from_slice(room.as_bytes());
                    });
                }
            }
        }
    }

    /// Tells a member how its join went (on its reactor).
    fn answer(&mut self, cx: &mut ReactorContext<'_>, (reactor, conn): Address, accepted: bool) {
        if reactor == self.index {
            answer_join(cx, conn, accepted);
        } else {
            self.post(cx, reactor, Message::Answer { conn, accepted });
        }
    }

    /// Queues `[ctime] <body>\n` on every member of `room` but `except`:
    /// formatted once; one message per other reactor with members.
    fn broadcast(&mut self, cx: &mut ReactorContext<'_>, room: &str, except: Address, body: impl FnOnce(&mut Vec<u8>)) {
        if self.shutting_down {
            return;
        }
        let Some(members) = self.rooms.get(room) else { return };
        let line = &mut self.line;
        chat::stamp_line(line, &self.clock, body);
        let mut remote: Vec<Vec<ConnId>> = vec![Vec::new(); self.group.len()];
        for &(reactor, conn) in members.values() {
            if (reactor, conn) == except {
                continue;
            }
            if reactor == self.index {
                cx.write_to(conn, line);
            } else {
                remote[reactor].push(conn);
            }
        }
        for (reactor, conns) in remote.into_iter().enumerate() {
            if !conns.is_empty() {
                let line = self.line.clone().into_boxed_slice();
                self.post(cx, reactor, Message::Deliver { line, conns });
            }
        }
    }
}

/// On a member's reactor: the owner's answer to its join.
fn answer_join(cx: &mut ReactorContext<'_>, conn: ConnId, accepted: bool) {
    if accepted {
        cx.write_to(conn, b"success\n");
    } else {
        cx.write_to(conn, b"reuse\n");
        cx.close_conn(conn);
    }
}

/// Builds one [`GroupMemberConn`] per connection.
struct GroupChatFactory {
    hub: Rc<RefCell<Hub>>,
    idle_timeout: Duration,
    on_accept: Option<AcceptHook>,
}

impl Factory for GroupChatFactory {
    fn build_protocol(&mut self, peer: SocketAddr) -> Box<dyn Protocol> {
        log::debug!("reactor {}: member from {peer}", self.hub.borrow().index);
        if let Some(hook) = &self.on_accept {
            hook(peer);
        }
        let member = GroupMemberConn { hub: Rc::clone(&self.hub), state: State::Greeting };
        Box::new(IdleTimeout::new(Framed::new(Lines::lf().max_length(chat::MAX_LINE), member), self.idle_timeout))
    }

    fn busy_farewell(&mut self, _peer: SocketAddr) -> Vec<u8> {
        chat::BUSY_LINE.to_vec()
    }
}

/// Where a connection is in its life.
enum State {
    /// Waiting for `USERNAME ROOM`.
    Greeting,
    /// Asked to join (the owner answers `success` or `reuse` directly):
    /// lines go to the owner, who drops them if the join was refused.
    InRoom { name: Box<str>, room: Box<str> },
    /// Refused, quit, or gone.
    Left,
}

/// One chat connection of a group server.
struct GroupMemberConn {
    hub: Rc<RefCell<Hub>>,
    state: State,
}

impl GroupMemberConn {
    fn me(&self, cx: &Context<'_>) -> Address {
        (self.hub.borrow().index, cx.conn_id())
    }

    fn line(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        match &self.state {
            State::Greeting => self.join(cx, line),
            State::InRoom { .. } if line == b"quit" => {
                cx.write(b"quit\n");
                self.leave(cx, true);
                cx.close();
            }
            State::InRoom { name, room } => {
                let request =
                    ToOwner::Say { room: room.clone(), name: name.clone(), from: self.me(cx), text: line.to_vec() };
                let room = room.clone();
                self.hub.borrow_mut().send_to_owner(cx, &room, request);
            }
            State::Left => {}
        }
    }

    fn join(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        let (name, room) = match chat::parse_join(line) {
            Ok(fields) => fields,
            Err(why) => {
                self.state = State::Left;
                chat::refuse_join(cx, why);
                return;
            }
        };
        let (name, room): (Box<str>, Box<str>) = (name.into(), room.into());
        let request = ToOwner::Join { room: room.clone(), name: name.clone(), from: self.me(cx) };
        self.hub.borrow_mut().send_to_owner(cx, &room, request);
        self.state = State::InRoom { name, room };
    }

    /// Leaves the room once (the owner announces it if `announce`).
    fn leave(&mut self, cx: &mut Context<'_>, announce: bool) {
        let State::InRoom { name, room } = std::mem::replace(&mut self.state, State::Left) else { return };
        let request = ToOwner::Leave { room: room.clone(), name, from: self.me(cx), announce };
        self.hub.borrow_mut().send_to_owner(cx, &room, request);
    }
}

impl FrameHandler<Lines> for GroupMemberConn {
    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        self.line(cx, line);
    }

    fn frame_too_long(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, _announced: u64) {
        cx.write(chat::TOO_LONG_LINE);
        self.leave(cx, true);
        cx.close_with(Reason::Protocol(Cow::Borrowed("line too long")));
    }

    fn eof_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, pending: &[u8]) {
        let pending = pending.strip_suffix(b"\r").unwrap_or(pending);
        if pending.len() > chat::MAX_LINE {
            cx.write(chat::TOO_LONG_LINE);
        } else if !pending.is_empty() {
            self.line(cx, pending);
        }
        self.leave(cx, true);
        cx.close();
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, _reason: Reason) {
        self.leave(cx, true);
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        self.hub.borrow_mut().shutting_down = true;
        if matches!(self.state, State::InRoom { .. }) {
            cx.write(chat::SHUTDOWN_LINE);
        }
        self.leave(cx, false); // silent: the whole group is stopping
        cx.close();
    }
}
