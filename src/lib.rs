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
//! ```
//! use reel::{Context, Protocol, Reactor};
//! use std::io::{BufRead, BufReader, Write};
//!
//! /// Answers every line with "Hello, <line>!".
//! struct Hello { buf: Vec<u8> }
//!
//! impl Protocol for Hello {
//!     fn connection_made(&mut self, cx: &mut Context<'_>) {
//!         cx.write(b"Welcome!\n");
//!     }
//!     fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
//!         self.buf.extend_from_slice(data);
//!         while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
//!             let line: Vec<u8> = self.buf.drain(..=end).collect();
//!             cx.write(b"Hello, ");
//!             cx.write(&line[..line.len() - 1]);
//!             cx.write(b"!\n");
//!         }
//!     }
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! let mut reactor = Reactor::new()?;
//! let id = reactor.listen_tcp("127.0.0.1:0", |_| Hello { buf: Vec::new() })?;
//! let addr = reactor.listener_addr(id).unwrap();
//! let handle = reactor.handle();
//! let client = std::thread::spawn(move || -> std::io::Result<String> {
//!     let mut stream = std::net::TcpStream::connect(addr)?;
//!     stream.write_all(b"reel\n")?;
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
//! The guide (`docs/guide.md`) and the architecture notes
//! (`docs/architecture.md`) tell the rest.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub, rust_2018_idioms)]

mod accept;
mod addr;
mod buffer;
mod clock;
mod conn;
mod context;
mod core;
mod dispatch;
pub mod framing;
mod handle;
mod id;
mod options;
pub mod policies;
mod protocol;
pub mod protocols;
mod reactor;
mod reason;
mod signals;
mod sources;
mod tcp;
pub mod testing;
mod timer;
pub mod tls;
mod transport;
mod udp;

pub use crate::addr::ToSocketAddr;
pub use crate::clock::Clock;
pub use crate::context::{Context, DatagramContext, ReactorContext};
pub use crate::handle::ReactorHandle;
pub use crate::id::{ConnId, ListenerId, TimerId, UdpId};
pub use crate::options::{FlowControl, ListenOptions, ReactorConfig, TcpOptions};
pub use crate::protocol::{DatagramProtocol, Factory, Protocol};
pub use crate::reactor::Reactor;
pub use crate::reason::{OutputLimit, Reason};

/// The guide's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide.md")]
mod guide {}

/// The TLS chapter of the guide, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/guide/tls.md")]
mod guide_tls {}

/// The README's code blocks, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
