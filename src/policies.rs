//! Policies users expect from Twisted's `policies` module, as composable
//! helpers: an idle timeout for a connection, connection limits for a
//! listener (see [`ListenOptions`](crate::ListenOptions)), and a
//! reconnecting client with exponential back-off.

mod idle;
mod reconnect;

pub use self::idle::IdleTimeout;
pub use self::reconnect::{Backoff, Reconnecting, ReconnectingHandle};
