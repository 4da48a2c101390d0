//! Multi-user chat rooms (the README's "ported from" table): a server, and
//! a full-duplex interactive client on the same single-threaded reactor.
//!
//! ```text
//! cargo run --release --example chat -- [--listen 127.0.0.1:8888]
//! nc 127.0.0.1 8888                  # type "alice lobby", then chat; "quit" leaves
//! cargo run --release --example chat -- client --user bob --room lobby [--ca cert.pem]
//! ```
//!
//! The first line is `USERNAME ROOM`; the server answers `success`, or
//! `reuse` (name taken in that room) or `error: <reason>` and closes. Every
//! later line goes to the other members of the room as
//! `[Sat Nov 21 23:53:24 2026] alice: hello`; joins and leaves are
//! announced the same way. See docs/protocols.md, "chat", for the whole contract
//! and `examples/common/chat.rs` for the code.
//!
//! The client reads the keyboard (standard input, one more event source)
//! and the server at once: lines are sent as they are typed, room lines
//! printed as they arrive. End of input (Ctrl-D) says `quit`.

#[path = "common/chat.rs"]
mod chat;
#[path = "common/chat_group.rs"]
mod chat_group;
mod common;

use std::process::exit;

use lexopt::Arg;

const USAGE: &str =
    "usage: chat [--listen ADDR] [--unix PATH] [--max-conns N] [--idle-timeout SECS] [--max-output BYTES] [--threads N]
       chat client --user NAME --room ROOM [--connect ADDR] [--tls] [--ca FILE]

Multi-user chat rooms. The first line a client sends is `USERNAME ROOM`,
then every line goes to the others in that room; `quit` leaves.

server options:
  --listen ADDR         address to serve on (default 127.0.0.1:8888)
  --unix PATH           also serve on this Unix socket (only there without --listen; @NAME: abstract)
  --threads N           reactors (threads) sharing the port (default 1)
  --max-conns N         most connections at once (default: the file limit less a reserve)
  --tls-cert FILE       serve over TLS with this certificate chain (PEM; with --tls-key)
  --tls-key FILE        the private key of --tls-cert (PEM)
  --idle-timeout SECS   close a connection silent for this long (default 300, 0: never)
  --max-output BYTES    disconnect a member whose unread output passes this (default 1048576)

client options:
  -u, --user NAME       user name (1-32 bytes, no spaces or control characters)
  -r, --room ROOM       room to join (same rules)
  --connect ADDR        server address (default 127.0.0.1:8888)
  --tls                 connect over TLS (the certificate must name the address)
  --ca FILE             trust the certificates of FILE (PEM; implies --tls)

  -h, --help            show this help";

/// What the command line asked for.
enum Mode {
    Server(chat::ChatArgs),
    Client(chat::ClientArgs),
}

fn main() {
    common::init_logging();
    match parse_args() {
        // With --threads N > 1 the rooms span the reactors (chat_group.rs).
        Mode::Server(args) => common::serve(args.server.reactors(), move |reactor| {
            chat_group::start(reactor, &args);
        }),
        Mode::Client(args) => run_client(&args),
    }
}

/// Server options, or `client` and its options.
fn parse_args() -> Mode {
    let mut parser = lexopt::Parser::from_env();
    let mut server = chat::ChatArgs::default();
    let mut first = true;
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => return Mode::Server(server),
            Err(e) => common::bad_args(USAGE, e),
        };
        match arg {
            Arg::Short('h') | Arg::Long("help") => common::help(USAGE),
            Arg::Value(v) if first && v == "client" => return Mode::Client(parse_client(&mut parser)),
            Arg::Long(name) => {
                let name = name.to_string();
                if !server.take(USAGE, Some(&name), &mut parser) {
                    common::bad_args(USAGE, format!("invalid option '--{name}'"));
                }
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
        first = false;
    }
}

/// The options after `client`.
fn parse_client(parser: &mut lexopt::Parser) -> chat::ClientArgs {
    let (mut user, mut room): (Option<String>, Option<String>) = (None, None);
    let mut tls = common::ClientTls::default();
    let mut connect = match chat::DEFAULT_LISTEN.parse() {
        Ok(addr) => addr,
        Err(e) => common::bad_args(USAGE, e),
    };
    while let Some(arg) = common::next_arg(USAGE, parser) {
        match arg {
            Arg::Short('h') | Arg::Long("help") => common::help(USAGE),
            Arg::Short('u') | Arg::Long("user") => user = Some(common::value(USAGE, parser, "--user")),
            Arg::Short('r') | Arg::Long("room") => room = Some(common::value(USAGE, parser, "--room")),
            Arg::Long("connect") => connect = common::value(USAGE, parser, "--connect"),
            Arg::Long(name) if matches!(name, "tls" | "ca") => {
                let name = name.to_string();
                tls.take(USAGE, &name, parser);
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    let (Some(user), Some(room)) = (user, room) else {
        common::bad_args(USAGE, "client needs --user NAME and --room ROOM")
    };
    // The server would refuse them; say so before connecting (and never
    // let a newline in a name smuggle a line).
    for (option, what, text) in [("--user", "name", &user), ("--room", "room", &room)] {
        if let Err(why) = chat::check_name(what, text.as_bytes()) {
            common::bad_args(USAGE, format!("{option} {text:?}: {why}"));
        }
    }
    chat::ClientArgs { user, room, connect, tls }
}

/// Runs the interactive client to its end and exits with its status.
fn run_client(args: &chat::ClientArgs) -> ! {
    let mut reactor = common::reactor();
    // Standard input is the keyboard; a test attaches something else.
    let outcome = chat::start_client(&mut reactor, args, chat::Console::stdio(), Box::new(|cx, kb| cx.add_stdin(kb)));
    if let Err(e) = reactor.run() {
        common::report!("error: {e}");
        exit(1)
    }
    let outcome = outcome.borrow_mut().take().unwrap_or(chat::ClientExit::Interrupted);
    if let Some(message) = outcome.message() {
        common::report!("chat: {message}");
    }
    exit(outcome.code())
}
