//! Why a connection ended.

use std::borrow::Cow;
use std::fmt;
use std::io;

/// Why a connection ended (or why a connect attempt failed).
///
/// Passed to [`Protocol::connection_lost`](crate::Protocol::connection_lost)
/// exactly once per connection, and to
/// [`Protocol::connection_failed`](crate::Protocol::connection_failed) for a
/// client connection that never got established.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// This side closed cleanly with [`Context::close`](crate::Context::close)
    /// after everything queued was sent.
    Closed,
    /// The peer ended its side of the stream (EOF) and the connection then
    /// closed cleanly.
    PeerClosed,
    /// The peer reset the connection (`ECONNRESET`, `EPIPE`).
    Reset,
    /// The connection was refused (`ECONNREFUSED`) by the peer.
    Refused,
    /// Another I/O error ended the connection: its kind, and the OS error
    /// number when there is one (`EMFILE`, `ENETUNREACH`, ...).
    Io(io::ErrorKind, Option<i32>),
    /// This side aborted the connection with
    /// [`Context::abort`](crate::Context::abort): queued output was dropped.
    Aborted,
    /// A deadline passed: a connect timeout, a close that could not flush
    /// within [`TcpOptions::close_timeout`](crate::TcpOptions::close_timeout),
    /// or an idle timeout closed it.
    TimedOut,
    /// The peer was cut for its output: it read nothing for
    /// [`TcpOptions::output_stall`](crate::TcpOptions::output_stall) while
    /// more than [`TcpOptions::output_limit`](crate::TcpOptions::output_limit)
    /// was queued, or the queue passed
    /// [`TcpOptions::output_ceiling`](crate::TcpOptions::output_ceiling).
    /// Queued output was dropped.
    OutputLimitExceeded(OutputLimit),
    /// A callback of the protocol panicked; its queued output was dropped.
    ProtocolPanicked,
    /// The reactor stopped and the connection did not finish within the
    /// grace period.
    Shutdown,
    /// The protocol ended the connection because of bad input, with a reason
    /// in words (for example `"line too long"`).
    Protocol(Cow<'static, str>),
    /// TLS failed: a protocol error, a certificate the verifier refused (a
    /// bad name, an unknown issuer, an expired certificate), or an alert
    /// the peer sent; rustls's words. When the error was ours, the alert
    /// telling the peer was sent before the connection ended. A handshake
    /// that fails this way reaches the protocol through
    /// [`Protocol::connection_failed`](crate::Protocol::connection_failed).
    Tls(crate::tls::TlsError),
    /// The peer ended the TCP stream of a TLS connection without sending
    /// `close_notify` first: what it sent may have been cut short by an
    /// attacker (a truncation attack), so the end is not a clean
    /// [`PeerClosed`](Reason::PeerClosed). Many HTTP clients end this way
    /// after a complete response; a protocol that frames its own messages
    /// may treat it as clean.
    TlsTruncated,
}

/// Which output limit cut a connection
/// ([`Reason::OutputLimitExceeded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OutputLimit {
    /// Above the soft limit with no byte sent for the stall period: the
    /// peer does not read.
    Stalled,
    /// Above the absolute ceiling.
    Ceiling,
}

impl Reason {
    /// Whether the connection ended cleanly, with nothing queued lost:
    /// [`Reason::Closed`] or [`Reason::PeerClosed`].
    pub fn is_clean(&self) -> bool {
        matches!(self, Reason::Closed | Reason::PeerClosed)
    }

    /// Maps an I/O error to the reason it stands for.
    pub fn from_io(err: &io::Error) -> Reason {
        if let Some(tls) = err.get_ref().and_then(|e| e.downcast_ref::<crate::tls::TlsFailure>()) {
            return tls.reason();
        }
        match err.kind() {
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted => {
                Reason::Reset
            }
            io::ErrorKind::ConnectionRefused => Reason::Refused,
            io::ErrorKind::TimedOut => Reason::TimedOut,
            kind => Reason::Io(kind, err.raw_os_error()),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Closed => f.write_str("closed by this side"),
            Reason::PeerClosed => f.write_str("closed by the peer"),
            Reason::Reset => f.write_str("connection reset by the peer"),
            Reason::Refused => f.write_str("connection refused"),
            Reason::Io(_, Some(code)) => write!(f, "i/o error: {}", io::Error::from_raw_os_error(*code)),
            Reason::Io(kind, None) => write!(f, "i/o error: {kind}"),
            Reason::Aborted => f.write_str("aborted by this side"),
            Reason::TimedOut => f.write_str("timed out"),
            Reason::OutputLimitExceeded(OutputLimit::Stalled) => {
                f.write_str("output limit exceeded: the peer read nothing for the stall period")
            }
            Reason::OutputLimitExceeded(OutputLimit::Ceiling) => {
                f.write_str("output ceiling exceeded: too much output queued for the peer")
            }
            Reason::ProtocolPanicked => f.write_str("protocol panicked"),
            Reason::Shutdown => f.write_str("reactor shut down"),
            Reason::Protocol(why) => write!(f, "protocol error: {why}"),
            Reason::Tls(why) => write!(f, "tls error: {why}"),
            Reason::TlsTruncated => f.write_str("tls stream truncated: the peer closed without close_notify"),
        }
    }
}

impl std::error::Error for Reason {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reasons_keep_the_os_error() {
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        let reason = Reason::from_io(&emfile);
        assert_eq!(reason, Reason::Io(emfile.kind(), Some(libc::EMFILE)));
        assert!(reason.to_string().contains("Too many open files"), "{reason}");
        assert_eq!(Reason::from_io(&io::ErrorKind::ConnectionReset.into()), Reason::Reset);
        assert_eq!(Reason::from_io(&io::ErrorKind::ConnectionRefused.into()), Reason::Refused);
        assert!(!reason.is_clean());
    }
}
