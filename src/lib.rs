//! # reel
//!
//! A single-threaded, Twisted-style reactor for callback-style TCP and UDP
//! services, on [`mio`].
//!
//! - A [`Reactor`] owns one `mio::Poll` and serves TCP listeners, TCP
//!   connections (server and client side) and UDP endpoints from one thread.
//! - Each connection has a [`Protocol`] trait object built by a [`Factory`];
//!   each UDP endpoint a [`DatagramProtocol`].
//! - Callbacks reach the reactor through their context ([`Context`] for a
//!   connection, [`DatagramContext`] for an endpoint, [`ReactorContext`] for
//!   timers and calls from other threads): write to this or any other
//!   connection, close, abort, pause reading, set timers, start listeners
//!   and connections, stop.
//! - Output is buffered per connection, flushed once per dispatch, with
//!   water marks, flow control (a peer whose answers pile up is not read
//!   until it reads them) and output limits; timers, cross-thread calls
//!   ([`ReactorHandle`]), and a graceful stop on signals are built in.
//!
//! ## Where to start
//!
//! | you want to | read |
//! |---|---|
//! | see it work | `cargo run --release --example demo`, then `nc 127.0.0.1 9999` |
//! | understand protocols, factories and the reactor | [`guide::basics`] |
//! | write a server | the example below, then [`guide::server`] |
//! | write a client, with reconnection | [`guide::client`], [`policies::Reconnecting`] |
//! | serve UDP | [`guide::udp`], [`DatagramProtocol`] |
//! | use timers | [`guide::timers`] |
//! | reach other connections (a chat room) | [`guide::broadcast`] |
//! | stop gracefully | [`guide::shutdown`] |
//! | read a byte stream as lines or frames | [`guide::framing`], [`framing`] |
//! | test a protocol without sockets | [`guide::testing`], [`testing`] |
//! | know what the callbacks promise | [`Protocol`], [`Factory`], [`Context`] |
//! | know how it works inside | `docs/architecture.md` in the repository |
//! | read complete programs | the examples (`examples/`), contract in `docs/protocols.md` |
//!
//! The [`guide`] has every chapter, in reading order.
//!
//! ## A server in a few lines
//!
//! TCP delivers bytes, not messages: one read may hold half a line or three
//! lines. [`Framed`](framing::Framed) with the [`Lines`](framing::Lines)
//! codec cuts the stream into lines, whatever the segmentation, and hands
//! each whole line to a [`FrameHandler`](framing::FrameHandler):
//!
//! ```
//! use reel::framing::{FrameHandler, Framed, Framer, Lines};
//! use reel::{Context, Protocol, Reactor};
//! use std::io::{BufRead, BufReader, Write};
//!
//! /// Greets, then answers every line with "Hello, <line>!".
//! struct Hello;
//!
//! impl FrameHandler<Lines> for Hello {
//!     fn connection_made(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>) {
//!         cx.write(b"Welcome!\n");
//!     }
//!     fn frame_received(&mut self, cx: &mut Context<'_>, _: &mut Framer<Lines>, line: &[u8]) {
//!         cx.write_all(&[b"Hello, ", line, b"!\n"]);
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut reactor = Reactor::new()?;
//! // A line over 16 KiB closes its connection instead of growing a buffer.
//! let id = reactor.listen_tcp("127.0.0.1:0", |_peer| {
//!     Box::new(Framed::new(Lines::lf().max_length(16 * 1024), Hello)) as Box<dyn Protocol>
//! })?;
//! let addr = reactor.listener_addr(id).unwrap();
//!
//! // A client on another thread; a real server would call
//! // `reactor.stop_on_signals()?` and run until Ctrl-C.
//! let handle = reactor.handle();
//! let client = std::thread::spawn(move || -> std::io::Result<String> {
//!     let mut stream = std::net::TcpStream::connect(addr)?;
//!     stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
//!     stream.write_all(b"re")?; // half a line...
//!     stream.write_all(b"el\r\n")?; // ...and the rest
//!     let mut reader = BufReader::new(stream);
//!     let (mut welcome, mut reply) = (String::new(), String::new());
//!     reader.read_line(&mut welcome)?;
//!     reader.read_line(&mut reply)?;
//!     handle.stop();
//!     Ok(welcome + &reply)
//! });
//! reactor.run()?;
//! assert_eq!(client.join().unwrap()?, "Welcome!\nHello, reel!\n");
//! # Ok(())
//! # }
//! ```
//!
//! ## Platforms
//!
//! Linux only. reel relies on epoll's edge-triggered semantics as Linux
//! implements them and on Linux error numbers (`ENONET` among the accept
//! errors it rides out); other systems are refused at compile time rather
//! than left untested. The minimum Rust version is the `rust-version` of
//! `Cargo.toml`.

// `unsafe` in two places, each block with its SAFETY note and a test:
// taking ownership of the descriptors a service manager passed
// (`activation::take`), and the batched datagram system calls
// (`udp_batch`: `recvmmsg`, `sendmmsg`/`sendto` and reading the addresses
// received or queued).
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "reel supports Linux only: it relies on Linux's epoll and error numbers (such as ENONET) and is tested on Linux alone"
);

mod accept;
pub mod activation;
mod addr;
mod adopt;
mod buffer;
mod clock;
mod conn;
mod context;
mod core;
mod debug;
mod dispatch;
pub mod framing;
mod group;
pub mod guide;
mod handle;
mod id;
mod limit;
mod options;
pub mod policies;
pub mod producer;
mod protocol;
pub mod protocols;
mod reactor;
mod reason;
mod resolve;
mod signals;
mod sources;
mod stats;
mod tcp;
#[cfg(test)]
mod test_log;
pub mod testing;
mod timer;
pub mod tls;
mod transport;
mod udp;
#[allow(unsafe_code)]
mod udp_batch;
mod unix;

pub use crate::addr::ToSocketAddr;
pub use crate::clock::Clock;
pub use crate::context::{Context, DatagramContext, ReactorContext};
pub use crate::group::{GroupConfig, GroupError, GroupHandle, GroupMember, ReactorGroup};
pub use crate::handle::ReactorHandle;
pub use crate::id::{ConnId, ListenerId, ProducerId, TimerId, UdpId};
pub use crate::limit::ConnectionLimit;
pub use crate::options::{FlowControl, ListenOptions, ReactorConfig, TcpOptions, UdpOptions};
pub use crate::protocol::{DatagramProtocol, Factory, Protocol};
pub use crate::reactor::Reactor;
pub use crate::reason::{OutputLimit, Reason};
pub use crate::stats::Stats;
pub use crate::unix::dgram::{UnixDatagramContext, UnixDatagramProtocol, UnixDgramId};
pub use crate::unix::{PeerCred, SocketAddress, ToUnixAddr, UnixAddr, UnixListenOptions};

/// The README's code blocks, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
