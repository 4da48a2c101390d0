//! A TCP port forwarder (Twisted's `portforward`): each accepted
//! connection is joined to a new connection to a target, bytes passed
//! unchanged both ways.
//!
//! Built on [`crate::producer`]: each side is registered as the producer
//! of the other side's output, so a slow reader on one side stops the
//! reactor reading from the other (its sender is pushed back through TCP)
//! and memory per pair stays bounded — about the high water mark plus one
//! read per direction — whatever the speed of each side. A half-close is
//! passed on with [`write_eof_of`](crate::ReactorContext::write_eof_of)
//! and the other direction keeps flowing; a reset or failure on either
//! side aborts the other; a target that refuses or cannot be reached
//! closes the client at once, and the failure is logged.
//!
//! ```no_run
//! use reel::protocols::proxy::PortForward;
//! use reel::Reactor;
//!
//! let mut reactor = Reactor::new()?;
//! let target = "127.0.0.1:7007".parse().unwrap();
//! reactor.listen_tcp("127.0.0.1:7070", PortForward::new(target))?;
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use crate::{ConnId, Context, Factory, Protocol, Reason, TcpOptions};

/// The factory of a port forwarder: one [`PortForward`] per listener.
#[derive(Debug, Clone)]
pub struct PortForward {
    target: SocketAddr,
    opts: TcpOptions,
}

impl PortForward {
    /// Forwards every accepted connection to `target`.
    pub fn new(target: SocketAddr) -> PortForward {
        PortForward { target, opts: TcpOptions::default() }
    }

    /// Options for the connections to the target.
    pub fn target_options(mut self, opts: TcpOptions) -> PortForward {
        self.opts = opts;
        self
    }
}

impl Factory for PortForward {
    fn build_protocol(&mut self, _peer: SocketAddr) -> Box<dyn Protocol> {
        Box::new(ClientSide {
            target: self.target,
            opts: self.opts.clone(),
            pair: Rc::default(),
            server_id: Cell::new(None),
        })
    }
}

/// What the two sides of one pair share.
#[derive(Debug, Default)]
struct Pair {
    /// The client's EOF came before the target connected: pass it on then.
    client_eof: Cell<bool>,
    connected: Cell<bool>,
}

/// The accepted side.
#[derive(Debug)]
struct ClientSide {
    target: SocketAddr,
    opts: TcpOptions,
    pair: Rc<Pair>,
    /// The connection to the target (set in `connection_made`).
    server_id: Cell<Option<ConnId>>,
}

impl ClientSide {
    fn server(&self) -> Option<ConnId> {
        self.server_id.get()
    }
}

/// The side connected to the target.
#[derive(Debug)]
struct ServerSide {
    client: ConnId,
    target: SocketAddr,
    pair: Rc<Pair>,
}

impl Protocol for ClientSide {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        let me = cx.conn_id();
        let server = ServerSide { client: me, target: self.target, pair: Rc::clone(&self.pair) };
        let server = cx.connect_tcp_with(self.target, server, &self.opts);
        self.server_id.set(Some(server));
        // Each side produces the other's output: a full queue on one side
        // stops reading the other.
        cx.register_producer(server, me);
        cx.register_producer(me, server);
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        if let Some(server) = self.server() {
            cx.write_to(server, data);
        }
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        // Half-close passed on; the other direction keeps flowing.
        match self.server() {
            Some(server) if self.pair.connected.get() => {
                cx.write_eof_of(server);
            }
            _ => self.pair.client_eof.set(true),
        }
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        if let Some(server) = self.server() {
            end_other(cx, server, &reason);
        }
    }
}

impl Protocol for ServerSide {
    fn connection_made(&mut self, cx: &mut Context<'_>) {
        self.pair.connected.set(true);
        if self.pair.client_eof.get() {
            cx.write_eof();
        }
    }

    fn data_received(&mut self, cx: &mut Context<'_>, data: &[u8]) {
        cx.write_to(self.client, data);
    }

    fn eof_received(&mut self, cx: &mut Context<'_>) {
        cx.write_eof_of(self.client);
    }

    fn connection_lost(&mut self, cx: &mut Context<'_>, reason: Reason) {
        end_other(cx, self.client, &reason);
    }

    fn connection_failed(&mut self, cx: &mut Context<'_>, reason: Reason) {
        let peer = cx.peer_addr_of(self.client).map_or_else(|| "a client".to_string(), |a| a.to_string());
        log::warn!("cannot connect to {} for {peer}: {reason}; closing the client", self.target);
        cx.close_conn(self.client);
    }
}

/// One side ended: a clean end (both directions done) closes the other
/// after it flushes; a reset or failure aborts it.
fn end_other(cx: &mut Context<'_>, other: ConnId, reason: &Reason) {
    if reason.is_clean() {
        cx.close_conn(other);
    } else {
        log::debug!("{}: {reason}: aborting its other side {other}", cx.conn_id());
        cx.abort_conn(other);
    }
}
