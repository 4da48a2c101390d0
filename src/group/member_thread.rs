//! The life of one reactor thread of a group, and what the starting
//! thread ([`ReactorGroup::start`](super::ReactorGroup::start)) tells it.

use std::cell::Cell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use super::{GroupError, GroupHandle, GroupMember};
use crate::{Reactor, ReactorConfig, ReactorHandle};

/// What the starting thread tells a reactor thread.
pub(super) enum Control {
    /// Run the setup closure now.
    Setup(GroupHandle),
    /// Every reactor is set up: run.
    Run,
    /// Another reactor failed to start: end.
    Abort,
}

/// The text of a panic payload.
pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".to_string())
}

type Setup = dyn Fn(&mut Reactor, GroupMember) -> io::Result<()> + Send + Sync;
type Report = mpsc::Sender<(usize, Result<Option<ReactorHandle>, GroupError>)>;

/// The life of one reactor thread: create the reactor, report its handle,
/// wait for its turn to be set up, wait for the word to run, run; and
/// whatever ends it, stop the rest of the group.
pub(super) fn member_thread(
    index: usize,
    config: ReactorConfig,
    signals: bool,
    core: Option<core_affinity::CoreId>,
    setup: &Setup,
    control: &mpsc::Receiver<Control>,
    report: &Report,
) {
    if let Some(core) = core {
        if !core_affinity::set_for_current(core) {
            log::warn!("reactor {index}: cannot pin to core {}: running unpinned", core.id);
        }
    }
    // Set when the group is known and running: failures after that are
    // recorded there and stop the others.
    let mut group: Option<GroupHandle> = None;
    // Whether the starting thread waits for this one's first report: a
    // panic before it is sent (creating the reactor, installing the signal
    // handlers) must still send one, or `start` would wait for ever.
    let mut owed = true;
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<(), GroupError> {
        let mut reactor = Reactor::with_config(config)
            .and_then(|mut r| if signals { r.stop_on_signals().map(|()| r) } else { Ok(r) })
            .map_err(|error| GroupError::Setup { reactor: index, error });
        let _ = report.send((index, reactor.as_ref().map(|r| Some(r.handle())).map_err(clone_setup_error)));
        owed = false;
        let Ok(reactor) = reactor.as_mut() else { return Ok(()) };
        let handle = match control.recv() {
            Ok(Control::Setup(handle)) => handle,
            _ => return Ok(()),
        };
        // (A panic from here on is the setup's, caught below; it is
        // reported as the setup's outcome.)
        let member = GroupMember { index, group: handle.clone(), binds: Cell::new(0) };
        let set_up = catch_unwind(AssertUnwindSafe(|| setup(reactor, member)));
        let set_up = match set_up {
            Ok(Ok(())) => Ok(None),
            Ok(Err(error)) => Err(GroupError::Setup { reactor: index, error }),
            Err(payload) => Err(GroupError::Setup {
                reactor: index,
                error: io::Error::other(format!("setup panicked: {}", panic_message(payload.as_ref()))),
            }),
        };
        let failed = set_up.is_err();
        let _ = report.send((index, set_up));
        owed = false;
        if failed {
            return Ok(());
        }
        match control.recv() {
            Ok(Control::Run) => {}
            _ => return Ok(()),
        }
        group = Some(handle);
        log::debug!("reactor {index} running");
        reactor.run().map_err(|error| GroupError::Failed { reactor: index, error })
    }));
    let Some(group) = group else {
        if let (true, Err(payload)) = (owed, &outcome) {
            let error = io::Error::other(format!("panicked: {}", panic_message(payload.as_ref())));
            let _ = report.send((index, Err(GroupError::Setup { reactor: index, error })));
        }
        return;
    };
    match outcome {
        Ok(Ok(())) => log::debug!("reactor {index} stopped"),
        Ok(Err(failure)) => group.record(failure),
        Err(payload) => group.record(GroupError::Panicked { reactor: index, message: panic_message(payload.as_ref()) }),
    }
    // One reactor ended: the group ends (no half-alive server).
    group.stop();
}

/// A setup error to report while the original stays with the thread.
fn clone_setup_error(e: &GroupError) -> GroupError {
    match e {
        GroupError::Setup { reactor, error } => {
            GroupError::Setup { reactor: *reactor, error: io::Error::new(error.kind(), error.to_string()) }
        }
        other => GroupError::Setup { reactor: other.reactor(), error: io::Error::other(other.to_string()) },
    }
}
