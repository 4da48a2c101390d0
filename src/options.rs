//! Settings, each with a documented default.

use std::time::Duration;

use crate::Clock;

/// Settings of one TCP connection. Every field has a documented default.
///
/// Sizes are kept per connection as 32-bit numbers: anything above 4 GiB
/// counts as 4 GiB. Durations are kept in milliseconds: one under a
/// millisecond counts as zero, and one of 49 days or more (`Duration::MAX`
/// among them) means never.
///
/// ```
/// use std::time::Duration;
///
/// let opts = reel::TcpOptions {
///     high_water: 256 * 1024,
///     low_water: 128 * 1024,
///     close_timeout: Duration::from_secs(5),
///     ..Default::default()
/// };
/// assert_eq!(opts.output_limit, 4 * 1024 * 1024);
/// assert_eq!(opts.flow_control, reel::FlowControl::Auto);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpOptions {
    /// `TCP_NODELAY`. Default `true`: reel already coalesces the writes of
    /// one callback into one system call, so Nagle's algorithm would only
    /// add latency to request/response protocols.
    pub nodelay: bool,
    /// Queued output above which [`Protocol::pause_writing`] is called
    /// (and, with flow control, reading pauses). Default 64 KiB; at most
    /// `output_ceiling`.
    ///
    /// [`Protocol::pause_writing`]: crate::Protocol::pause_writing
    pub high_water: usize,
    /// Queued output at or below which [`Protocol::resume_writing`] is
    /// called after a pause. Default 32 KiB.
    ///
    /// [`Protocol::resume_writing`]: crate::Protocol::resume_writing
    pub low_water: usize,
    /// Flow control: while the output that answers a connection's input
    /// is above `high_water`, the reactor stops reading from it, and
    /// resumes at or below `low_water`, so that a peer sending requests
    /// faster than it reads the replies is pushed back through TCP rather
    /// than growing our buffers (and a framer delivers no further frame
    /// until then). Default [`FlowControl::Auto`]: on for accepted
    /// connections, off for client ones.
    pub flow_control: FlowControl,
    /// The soft output limit: a connection whose queued output stays above
    /// it with no byte sent for `output_stall` is aborted with
    /// [`Reason::OutputLimitExceeded`](crate::Reason::OutputLimitExceeded)
    /// (`Stalled`): the peer does not read. The same holds for any output
    /// queued while flow control has paused reading (the queue then stays
    /// near `high_water`, below this limit, and the peer's requests wait
    /// unread). A peer that reads, however slowly, is never cut by it. Default 4 MiB (Redis's
    /// `client-output-buffer-limit` soft limit works the same way).
    pub output_limit: usize,
    /// How long output may stay above `output_limit` without progress.
    /// Default 30 s: longer than any pause an honest peer makes (a
    /// congested link, a stopped-and-resumed process), short enough that a
    /// stuck peer gives its memory back. `Duration::MAX`: never.
    pub output_stall: Duration,
    /// The absolute output ceiling: past it the connection is aborted at
    /// once ([`OutputLimit::Ceiling`](crate::OutputLimit::Ceiling)),
    /// however fast the peer reads. Default 64 MiB: sixteen times the soft
    /// limit, room for a protocol answering one large request in one go
    /// (with flow control on, queued output rarely passes `high_water` by
    /// more than the replies to one read).
    pub output_ceiling: usize,
    /// How long a client connect may take before it fails with
    /// [`Reason::TimedOut`](crate::Reason::TimedOut). Default 30 s;
    /// `Duration::MAX`: never.
    pub connect_timeout: Duration,
    /// How long a close may take to flush what is queued (Twisted's
    /// `abortTimeout`): past it the connection is aborted with
    /// [`Reason::TimedOut`](crate::Reason::TimedOut). Default 30 s;
    /// `Duration::MAX`: never.
    pub close_timeout: Duration,
    /// After a clean close, how long to keep reading (and discarding) until
    /// the peer closes too, so that a peer still sending does not turn the
    /// close into a reset that destroys the last response. Default 2 s.
    pub close_linger: Duration,
    /// How long a TLS handshake may take, on connections of
    /// [`listen_tls`](crate::Reactor::listen_tls) and
    /// [`connect_tls`](crate::Reactor::connect_tls) (for a client, counted
    /// from the TCP connect; [`start_tls`](crate::Context::start_tls)
    /// takes its own). Past it the connection ends with
    /// [`Reason::TimedOut`](crate::Reason::TimedOut), through
    /// `connection_failed`. Default 10 s; `Duration::MAX`: never.
    pub handshake_timeout: Duration,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            nodelay: true,
            high_water: 64 * 1024,
            low_water: 32 * 1024,
            flow_control: FlowControl::Auto,
            output_limit: 4 * 1024 * 1024,
            output_stall: Duration::from_secs(30),
            output_ceiling: 64 * 1024 * 1024,
            connect_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(30),
            close_linger: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Whether a connection stops being read while the answers to its input
/// pile up ([`TcpOptions::flow_control`]).
///
/// Only one side of a connection should push back this way: if both did,
/// two peers that each write more than they read (an upload to an echo
/// server) could each stop reading the other and wait for ever. The server
/// side is the one that must protect itself from a client that pipelines
/// without reading; a client reads what it asked for. Hence the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowControl {
    /// On for connections accepted by a listener (and the in-memory
    /// harness's, which stand for them), off for client connections.
    #[default]
    Auto,
    /// On, whichever side opened the connection.
    On,
    /// Off: the connection is read whatever it owes the peer (the output
    /// limits still apply).
    Off,
}

/// Settings of one TCP listener.
///
/// ```
/// let opts = reel::ListenOptions { max_connections: Some(1000), ..Default::default() };
/// assert!(opts.tcp.nodelay);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenOptions {
    /// The `listen(2)` backlog. Default 1024.
    pub backlog: i32,
    /// At most this many connections at once from this listener; a client
    /// over the limit receives the factory's
    /// [`busy_farewell`](crate::Factory::busy_farewell) and is closed at once.
    /// Default: no limit.
    pub max_connections: Option<usize>,
    /// A limit shared with other listeners, of this reactor or of others
    /// (each reactor of a [`ReactorGroup`](crate::ReactorGroup) listens
    /// on its own socket): their connections together stay within it,
    /// and a client over it is refused as over `max_connections`. Both
    /// apply when both are set. Default: none.
    pub shared_limit: Option<crate::ConnectionLimit>,
    /// At most this many connections at once from one peer IP address.
    /// Default: no limit.
    pub max_per_peer: Option<usize>,
    /// Settings of every accepted connection.
    pub tcp: TcpOptions,
    /// `SO_REUSEPORT`: several sockets (of this process or another of the
    /// same user) may listen on the same address and port, and the kernel
    /// spreads new connections among them by a hash of each connection's
    /// addresses. This is how a [`ReactorGroup`](crate::ReactorGroup)'s
    /// reactors share a port. Default `false`: a second bind of the port
    /// fails with `AddrInUse`, which is what a single server wants (with
    /// the option on, a second copy of the program started by mistake
    /// would silently share the port instead).
    pub reuse_port: bool,
    /// For an IPv6 address: also accept IPv4 clients (`IPV6_V6ONLY` off),
    /// so that `[::]:PORT` serves both families on one socket. IPv4 peers
    /// then appear with their IPv4 address (`127.0.0.1`, not
    /// `::ffff:127.0.0.1`). Default `false`: an IPv6 listener is IPv6 only,
    /// and an IPv4 listener may share its port. No effect on an IPv4
    /// address.
    pub dual_stack: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            max_connections: None,
            shared_limit: None,
            max_per_peer: None,
            tcp: TcpOptions::default(),
            reuse_port: false,
            dual_stack: false,
        }
    }
}

/// Settings of one UDP endpoint
/// ([`ReactorContext::listen_udp_with`](crate::ReactorContext::listen_udp_with)).
///
/// ```
/// let opts = reel::UdpOptions { reuse_port: true, ..Default::default() };
/// assert!(!opts.dual_stack);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UdpOptions {
    /// `SO_REUSEPORT`: several endpoints may bind the same address and
    /// port; the kernel spreads arriving datagrams among them by a hash
    /// of the sender's and receiver's addresses, so one sender's datagrams
    /// all reach the same endpoint. Default `false`.
    pub reuse_port: bool,
    /// For an IPv6 address: also exchange datagrams with IPv4 peers
    /// (`IPV6_V6ONLY` off); they appear with their IPv4 address. Default
    /// `false`. No effect on an IPv4 address.
    pub dual_stack: bool,
}

/// Settings of a [`Reactor`](crate::Reactor).
///
/// ```
/// use std::time::Duration;
///
/// let config = reel::ReactorConfig { grace_period: Duration::from_secs(1), ..Default::default() };
/// let reactor = reel::Reactor::with_config(config)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReactorConfig {
    /// Size of the one reactor-wide read buffer. Default 64 KiB; never less
    /// than 64 KiB, whatever is set here, so that any UDP datagram fits
    /// whole (a datagram is never silently truncated).
    pub read_buffer_size: usize,
    /// Reads per connection per turn before others get their turn.
    /// Default 16; 0 counts as 1.
    pub read_budget: usize,
    /// Bytes per connection per turn before others get their turn (the
    /// read that passes it is the turn's last). Default 256 KiB; 0 counts
    /// as 1.
    pub read_byte_budget: usize,
    /// Accepts per listener per turn. Default 64.
    pub accept_budget: usize,
    /// How long a graceful stop waits for connections to flush and close.
    /// Default 5 s; `Duration::MAX`: as long as it takes.
    pub grace_period: Duration,
    /// Datagrams queued per UDP endpoint while its socket buffer is full;
    /// beyond it they are dropped and counted. Default 1024.
    pub udp_queue_limit: usize,
    /// Coalesced receives on UDP endpoints (`UDP_GRO`, Linux 5.0 and
    /// later): the kernel may hand over a run of one sender's datagrams
    /// of one size as one buffer (a local sender's grouped send, or a
    /// network card's receive offload), which the reactor cuts back into
    /// datagrams, each still its own `datagram_received`. Fewer, larger
    /// receives; on loopback a grouped send also reaches the socket
    /// without being cut up on the sender's CPU. Default `true`; set on
    /// every UDP endpoint the reactor opens or adopts.
    pub udp_gro: bool,
    /// The clock timers run on. Default: the monotonic system clock.
    pub clock: Clock,
    /// The debug mode (asyncio's is the model): when set, every callback
    /// and every turn of the loop is timed, and one that takes longer than
    /// this is logged as a warning naming the connection and the callback
    /// (`slow callback: conn#3.7: data_received took 240 ms`). A callback
    /// that blocks stalls every connection of the reactor; this finds it.
    /// Off (`None`), nothing is timed.
    ///
    /// Default: `None`, unless the environment variable `REEL_DEBUG` is
    /// set: `REEL_DEBUG=1` means 100 ms, `REEL_DEBUG=20` 20 ms.
    pub slow_callback: Option<Duration>,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            read_buffer_size: 64 * 1024,
            read_budget: 16,
            read_byte_budget: 256 * 1024,
            accept_budget: 64,
            grace_period: Duration::from_secs(5),
            udp_queue_limit: 1024,
            udp_gro: true,
            clock: Clock::system(),
            slow_callback: crate::debug::from_env(),
        }
    }
}
