//! A hello server on a thread of its own, for tests and benchmarks: part of
//! the `http_hello` module (`examples/common/http_hello.rs`), which
//! re-exports its items.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reel::{Factory, ListenOptions, Protocol, Reactor, ReactorConfig, ReactorHandle};

use super::{Deadlines, HelloFactory};

/// A hello server on a thread of its own, with its own reactor: for tests
/// and benchmarks. Stopped (gracefully, within a 1 s grace period) when
/// dropped.
#[derive(Debug)]
pub struct Background {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Connections accepted so far (refused ones not counted).
    pub accepted: Arc<AtomicUsize>,
    handle: ReactorHandle,
    thread: Option<std::thread::JoinHandle<io::Result<()>>>,
}

impl Background {
    /// Listens on `listen` (port 0 picks one: see [`Background::addr`]) with
    /// at most `max_conns` connections and the given deadlines.
    ///
    /// # Errors
    ///
    /// When the reactor cannot be made or the address bound.
    pub fn spawn(listen: SocketAddr, max_conns: Option<usize>, deadlines: Deadlines) -> io::Result<Background> {
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("http_hello".into()).spawn(move || {
            let started = (|| {
                let config = ReactorConfig { grace_period: Duration::from_secs(1), ..Default::default() };
                let mut reactor = Reactor::with_config(config)?;
                let opts = ListenOptions { max_connections: max_conns, ..Default::default() };
                let factory = Counting { inner: HelloFactory::new(deadlines), accepted: counter };
                let id = reactor.listen_tcp_with(listen, factory, opts)?;
                let addr = reactor.listener_addr(id).unwrap_or(listen);
                Ok::<_, io::Error>((reactor, addr))
            })();
            match started {
                Ok((mut reactor, addr)) => {
                    let _ = tx.send(Ok((addr, reactor.handle())));
                    reactor.run()
                }
                Err(e) => {
                    let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    Err(e)
                }
            }
        })?;
        let (addr, handle) = rx.recv().map_err(|_| io::Error::other("the server thread ended early"))??;
        Ok(Background { addr, accepted, handle, thread: Some(thread) })
    }

    /// Stops the server and waits for its thread.
    ///
    /// # Errors
    ///
    /// When the reactor failed, or its thread panicked.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.handle.stop();
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("the server thread panicked")),
            None => Ok(()),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            log::warn!("http_hello server: {e}");
        }
    }
}

/// A [`HelloFactory`] that counts the connections it builds.
struct Counting {
    inner: HelloFactory,
    accepted: Arc<AtomicUsize>,
}

impl Factory for Counting {
    fn build_protocol(&mut self, peer: SocketAddr) -> Box<dyn Protocol> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.inner.build_protocol(peer)
    }

    fn busy_farewell(&mut self, peer: SocketAddr) -> Vec<u8> {
        self.inner.busy_farewell(peer)
    }
}
