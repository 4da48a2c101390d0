//! SIGINT and SIGTERM as one more event source of the reactor (Unix only:
//! the one platform-specific file besides what mio hides).

use std::io;

use libc::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

/// The registered signal source.
pub(crate) struct SignalSource {
    pub(crate) signals: Signals,
    /// Signals received so far.
    pub(crate) received: u32,
}

impl SignalSource {
    pub(crate) fn new(registry: &mio::Registry, token: mio::Token) -> io::Result<SignalSource> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        registry.register(&mut signals, token, mio::Interest::READABLE)?;
        Ok(SignalSource { signals, received: 0 })
    }

    /// The names of the signals that arrived since the last call.
    pub(crate) fn drain(&mut self) -> Vec<&'static str> {
        self.signals
            .pending()
            .map(|s| match s {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                _ => "signal",
            })
            .collect()
    }
}

impl std::fmt::Debug for SignalSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalSource").field("received", &self.received).finish()
    }
}
