//! The guide: how-tos and chapters, in reading order.
//!
//! Every code block of the guide is compiled, and run, as a doc test, so
//! what you read here works. The chapters are `docs/guide/*.md` in the
//! repository.
//!
//! | chapter | what it shows |
//! |---|---|
//! | [`basics`] | a protocol, a factory, a reactor; flow control and back-pressure |
//! | [`server`] | how to write a TCP server with line framing, limits and an idle timeout |
//! | [`client`] | how to write a client: connection failure, and reconnecting with back-off |
//! | [`udp`] | how to serve UDP |
//! | [`timers`] | connection, endpoint and reactor timers; testing them without waiting |
//! | [`broadcast`] | how to reach other connections: a chat room |
//! | [`shutdown`] | a graceful stop: signals, farewells, the grace period |
//! | [`framing`] | lines, length prefixes and netstrings: the sticky-packet problem solved |
//! | [`flow_control`] | back-pressure between connections: producers, consumers, a proxy, a pull producer |
//! | [`codecs`] | writing a codec: a RESP-like one, tested at every segmentation |
//! | [`testing`] | testing a protocol without sockets or waiting |
//! | [`tls`] | TLS on rustls: serving, connecting, SNI, ALPN, STARTTLS, how a TLS connection ends |
//! | [`unix`] | Unix domain sockets, peer credentials, socket options, host names, multicast, adopted sockets |
//! | [`scaling`] | one reactor per core: reactor groups, `SO_REUSEPORT`, messages between reactors |
//! | [`observability`] | stats, the debug mode for slow callbacks, `RUST_LOG=reel=debug` |
//! | [`from_threads`] | three servers written with a thread per connection, and their reel versions |

// A new chapter: a file in docs/guide/, one module below, and a row in the
// table above. The files must stay inside the package (Cargo.toml's
// `include` does not filter docs/), or `cargo package` fails.

#[doc = include_str!("../docs/guide/basics.md")]
pub mod basics {}

#[doc = include_str!("../docs/guide/server.md")]
pub mod server {}

#[doc = include_str!("../docs/guide/client.md")]
pub mod client {}

#[doc = include_str!("../docs/guide/udp.md")]
pub mod udp {}

#[doc = include_str!("../docs/guide/timers.md")]
pub mod timers {}

#[doc = include_str!("../docs/guide/broadcast.md")]
pub mod broadcast {}

#[doc = include_str!("../docs/guide/shutdown.md")]
pub mod shutdown {}

#[doc = include_str!("../docs/guide/framing.md")]
pub mod framing {}

#[doc = include_str!("../docs/guide/testing.md")]
pub mod testing {}

#[doc = include_str!("../docs/guide/from-threads.md")]
pub mod from_threads {}

#[doc = include_str!("../docs/guide/flow-control.md")]
pub mod flow_control {}

#[doc = include_str!("../docs/guide/codecs.md")]
pub mod codecs {}

#[doc = include_str!("../docs/guide/observability.md")]
pub mod observability {}

#[doc = include_str!("../docs/guide/scaling.md")]
pub mod scaling {}

#[doc = include_str!("../docs/guide/unix.md")]
pub mod unix {}

#[doc = include_str!("../docs/guide/tls.md")]
pub mod tls {}
