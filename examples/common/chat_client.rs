//! The chat client (`chat client`): part of the `chat` module
//! (`examples/common/chat.rs`), split out so that each file holds one
//! concern. See the module's documentation.

use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;

use reel::framing::{FrameHandler, Framed, Framer, Lines};
use reel::{ConnId, Context, Protocol, Reactor, Reason};

use super::*;

/// The options of `chat client`.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// `--user NAME`.
    pub user: String,
    /// `--room ROOM`.
    pub room: String,
    /// `--connect ADDR` (default 127.0.0.1:8888).
    pub connect: SocketAddr,
    /// `--tls`, `--ca FILE`: connect over TLS.
    pub tls: common::ClientTls,
}

/// How a client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientExit {
    /// The user left (`quit` typed, or the end of input) and the server
    /// confirmed it.
    Quit,
    /// A signal stopped the client; it said `quit` on its way out.
    Interrupted,
    /// The server refused to let us in; the words say why.
    Refused(String),
    /// The connection could not be made.
    ConnectFailed(Reason),
    /// The server ended the session (shutdown, idle timeout, an error
    /// line, a crash): the last `error:` it sent, if any.
    ServerClosed(Option<String>),
    /// The input source could not be read.
    Input(String),
}

impl ClientExit {
    /// The process exit status: 0 for a quit or a signal, 1 otherwise.
    pub fn code(&self) -> i32 {
        match self {
            ClientExit::Quit | ClientExit::Interrupted => 0,
            _ => 1,
        }
    }

    /// What to tell the user on the way out, if anything.
    pub fn message(&self) -> Option<String> {
        match self {
            ClientExit::Quit | ClientExit::Interrupted => None,
            ClientExit::Refused(why) => Some(why.clone()),
            ClientExit::ConnectFailed(reason) => Some(format!("cannot connect: {reason}")),
            ClientExit::ServerClosed(None) => Some("the server closed the connection".into()),
            ClientExit::ServerClosed(Some(why)) => Some(format!("the server closed the connection: {why}")),
            ClientExit::Input(why) => Some(format!("cannot read the input: {why}")),
        }
    }
}

/// Where the client prints: room lines to `out`, its own notices to `err`.
pub struct Console {
    /// Room lines, one per line, as they arrive.
    pub out: Box<dyn Write>,
    /// Notices (joined, and so on).
    pub err: Box<dyn Write>,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console").finish_non_exhaustive()
    }
}

impl Console {
    /// Standard output and standard error.
    pub fn stdio() -> Console {
        Console { out: Box::new(io::stdout()), err: Box::new(io::stderr()) }
    }
}

/// Attaches the input source once the server let us in: given a
/// [`Keyboard`] protocol, make something feed it and return its id.
/// The program uses `|cx, kb| cx.add_stdin(kb)`; a test can use a TCP
/// connection it writes into (`Ok(cx.connect_tcp(addr, kb))`).
pub type AttachInput = Box<dyn FnOnce(&mut Context<'_>, Keyboard) -> io::Result<ConnId>>;

/// What the two sides of the client share.
struct Session {
    user: String,
    room: String,
    /// The server connection.
    server: Option<ConnId>,
    /// The input source, once attached and until it ends.
    input: Option<ConnId>,
    /// Taken when the server says `success`.
    attach: Option<AttachInput>,
    console: Console,
    joined: bool,
    /// The last byte sent from the input was a newline (or none was sent):
    /// `quit` at the end of input must start a line of its own.
    at_line_start: bool,
    /// The words of the last `error:` line from the server.
    last_error: Option<String>,
    exit: Option<ClientExit>,
    /// Reused to sanitise what is printed.
    scratch: Vec<u8>,
}

impl Session {
    fn finish(&mut self, exit: ClientExit) {
        if self.exit.is_none() {
            self.exit = Some(exit);
        }
    }

    /// Prints a line from the server, cleaned like the server cleans
    /// messages (a hostile server cannot drive the terminal either).
    fn print(&mut self, line: &[u8]) {
        self.scratch.clear();
        push_sanitized(&mut self.scratch, line);
        self.scratch.push(b'\n');
        let out = &mut self.console.out;
        if let Err(e) = out.write_all(&self.scratch).and_then(|()| out.flush()) {
            log::debug!("cannot print: {e}");
        }
    }

    fn notice(&mut self, text: fmt::Arguments<'_>) {
        let err = &mut self.console.err;
        if let Err(e) = writeln!(err, "{text}").and_then(|()| err.flush()) {
            log::debug!("cannot print: {e}");
        }
    }
}

/// Starts a chat client on `reactor`: connects, joins, and once in, reads
/// the input attached by `attach`. Room lines go to `console.out` as they
/// arrive. The reactor is stopped when the session ends; the returned cell
/// then says how (`None` only if the reactor stopped for another reason
/// first).
pub fn start_client(
    reactor: &mut Reactor,
    args: &ClientArgs,
    console: Console,
    attach: AttachInput,
) -> Rc<RefCell<Option<ClientExit>>> {
    let exit = Rc::new(RefCell::new(None));
    let session = Rc::new(RefCell::new(Session {
        user: args.user.clone(),
        room: args.room.clone(),
        server: None,
        input: None,
        attach: Some(attach),
        console,
        joined: false,
        at_line_start: true,
        last_error: None,
        exit: None,
        scratch: Vec::new(),
    }));
    // Server lines grow at most threefold from sanitising, plus a prefix.
    let link = ServerLink { session: Rc::clone(&session), exit: Rc::clone(&exit) };
    let framed = Framed::new(Lines::lf().max_length(4 * MAX_LINE), link);
    let id = common::connect(reactor, args.connect, &args.tls, framed);
    session.borrow_mut().server = Some(id);
    exit
}

/// The client's connection to the server.
struct ServerLink {
    session: Rc<RefCell<Session>>,
    /// Published when the session ends.
    exit: Rc<RefCell<Option<ClientExit>>>,
}

impl ServerLink {
    /// Ends the session: the input goes, the reactor stops.
    fn end(&mut self, cx: &mut Context<'_>, default: ClientExit) {
        let (exit, input) = {
            let mut s = self.session.borrow_mut();
            s.finish(default);
            (s.exit.clone(), s.input.take())
        };
        if let Some(input) = input {
            cx.close_conn(input);
        }
        *self.exit.borrow_mut() = exit;
        cx.stop();
    }

    /// The server's answer to the join line.
    fn answer(&mut self, cx: &mut Context<'_>, line: &[u8]) {
        let mut s = self.session.borrow_mut();
        if line == b"success" {
            s.joined = true;
            let (user, room) = (s.user.clone(), s.room.clone());
            s.notice(format_args!("joined room {room} as {user}; type to chat, quit or end of input to leave"));
            let attach = s.attach.take();
            let keyboard = Keyboard { session: Rc::clone(&self.session) };
            drop(s); // the input's connection_made runs inside `attach`
            if let Some(attach) = attach {
                match attach(cx, keyboard) {
                    Ok(id) => self.session.borrow_mut().input = Some(id),
                    Err(e) => {
                        self.session.borrow_mut().finish(ClientExit::Input(e.to_string()));
                        cx.write(b"quit\n");
                        cx.close();
                    }
                }
            }
            return;
        }
        let why = if line == b"reuse" {
            format!("the name {} is already in use in room {}", s.user, s.room)
        } else if let Some(reason) = line.strip_prefix(b"error: ") {
            format!("the server refused: {}", String::from_utf8_lossy(&sanitized(reason)))
        } else {
            format!("unexpected answer from the server: {:?}", String::from_utf8_lossy(&sanitized(line)))
        };
        s.finish(ClientExit::Refused(why));
        cx.close();
    }
}

/// `text`, cleaned by [`push_sanitized`] (for one-off messages).
fn sanitized(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    push_sanitized(&mut out, text);
    out
}

impl FrameHandler<Lines> for ServerLink {
    fn connection_made(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        let mut s = self.session.borrow_mut();
        let checked = check_name("name", s.user.as_bytes()).and_then(|_| check_name("room", s.room.as_bytes()));
        match checked {
            Ok(_) => cx.write(format!("{} {}\n", s.user, s.room).as_bytes()),
            // Never send a name the server would refuse (or one that smuggles
            // a second line): refuse it here, in the server's words.
            Err(why) => {
                s.finish(ClientExit::Refused(format!("cannot join: {why}")));
                cx.close();
            }
        }
    }

    fn frame_received(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>, line: &[u8]) {
        if !self.session.borrow().joined {
            return self.answer(cx, line);
        }
        let mut s = self.session.borrow_mut();
        if line == b"quit" {
            // Our `quit` was heard; the server closes next.
            s.finish(ClientExit::Quit);
            return;
        }
        if let Some(why) = line.strip_prefix(b"error: ") {
            s.last_error = Some(String::from_utf8_lossy(&sanitized(why)).into_owned());
        }
        s.print(line);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        log::debug!("server connection lost: {reason}");
        let last_error = self.session.borrow_mut().last_error.take();
        self.end(cx, ClientExit::ServerClosed(last_error));
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        self.end(cx, ClientExit::ConnectFailed(reason));
    }

    fn stop_requested(&mut self, cx: &mut Context<'_>, _framer: &mut Framer<Lines>) {
        let joined = {
            let mut s = self.session.borrow_mut();
            s.finish(ClientExit::Interrupted);
            s.joined
        };
        if joined {
            cx.write(b"quit\n");
        }
        cx.close();
    }
}

/// The input side of the client: whatever is typed goes to the server as
/// it is typed; at the end of input the client says `quit` and waits for
/// the server to close.
pub struct Keyboard {
    session: Rc<RefCell<Session>>,
}

impl fmt::Debug for Keyboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyboard").finish_non_exhaustive()
    }
}

impl Protocol for Keyboard {
    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        let server = {
            let mut s = self.session.borrow_mut();
            if let Some(&last) = data.last() {
                s.at_line_start = last == b'\n';
            }
            s.server
        };
        if let Some(server) = server {
            cx.write_to(server, data);
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        let (server, newline) = {
            let mut s = self.session.borrow_mut();
            s.input = None;
            (s.server, !s.at_line_start)
        };
        if let Some(server) = server {
            if newline {
                cx.write_to(server, b"\n");
            }
            cx.write_to(server, b"quit\n");
        }
        cx.close();
    }
}
