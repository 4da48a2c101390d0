//! [`GroupError`]: why a reactor group ended badly or could not start.

use std::fmt;
use std::io;

/// Why a group ended badly (or could not start).
#[derive(Debug)]
pub enum GroupError {
    /// The setup closure of reactor `reactor` failed (or the reactor could
    /// not be created): the group did not start.
    Setup {
        /// Which reactor.
        reactor: usize,
        /// Why.
        error: io::Error,
    },
    /// Reactor `reactor`'s loop failed (polling failed): the group was
    /// stopped.
    Failed {
        /// Which reactor.
        reactor: usize,
        /// Why.
        error: io::Error,
    },
    /// A panic escaped reactor `reactor`'s thread (reel catches the
    /// panics of callbacks; this is one from reel itself, a setup closure,
    /// or a destructor): the group was stopped.
    Panicked {
        /// Which reactor.
        reactor: usize,
        /// The panic's message.
        message: String,
    },
}

impl GroupError {
    /// The reactor the failure happened on.
    pub fn reactor(&self) -> usize {
        match self {
            GroupError::Setup { reactor, .. }
            | GroupError::Failed { reactor, .. }
            | GroupError::Panicked { reactor, .. } => *reactor,
        }
    }
}

impl fmt::Display for GroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Setup { reactor, error } => write!(f, "reactor {reactor} could not start: {error}"),
            GroupError::Failed { reactor, error } => write!(f, "reactor {reactor} failed: {error}"),
            GroupError::Panicked { reactor, message } => write!(f, "reactor {reactor} panicked: {message}"),
        }
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GroupError::Setup { error, .. } | GroupError::Failed { error, .. } => Some(error),
            GroupError::Panicked { .. } => None,
        }
    }
}

impl From<GroupError> for io::Error {
    /// A setup error keeps its kind (`AddrInUse` stays `AddrInUse`).
    fn from(e: GroupError) -> io::Error {
        let kind = match &e {
            GroupError::Setup { error, .. } | GroupError::Failed { error, .. } => error.kind(),
            GroupError::Panicked { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}
