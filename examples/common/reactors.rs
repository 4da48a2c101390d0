//! Making and running reactors: one that stops on SIGINT/SIGTERM, run to
//! its end with the exit status of docs/protocols.md, or with
//! `--threads N` a `reel::ReactorGroup` of them ([`serve`]), whose member
//! the setup's listeners bind through ([`MEMBER`]).

use std::process::exit;

/// A reactor that stops gracefully on SIGINT/SIGTERM; exits 1 if the OS
/// refuses one.
pub fn reactor() -> reel::Reactor {
    let mut reactor = match reel::Reactor::new() {
        Ok(r) => r,
        Err(e) => {
            super::report!("error: cannot create the reactor: {e}");
            exit(1)
        }
    };
    if let Err(e) = reactor.stop_on_signals() {
        super::report!("error: cannot install signal handlers: {e}");
        exit(1)
    }
    reactor
}

/// Runs the reactor to its end; exit 0 on a clean stop, 1 on a failure.
pub fn run(mut reactor: reel::Reactor) -> ! {
    match reactor.run() {
        Ok(()) => exit(0),
        Err(e) => {
            super::report!("error: {e}");
            exit(1)
        }
    }
}

/// Runs a client's reactor to its end, then exits with the status the
/// client left in `status` (1 if the reactor itself failed).
pub fn run_client(mut reactor: reel::Reactor, status: &std::cell::Cell<i32>) -> ! {
    if let Err(e) = reactor.run() {
        super::report!("error: {e}");
        exit(1);
    }
    exit(status.get())
}

// ----- --threads N: one reactor per thread ------------------------------------------

thread_local! {
    /// The group member whose reactor this thread runs, while `serve`
    /// sets it up with more than one thread:
    /// [`listen_tcp`](super::listen_tcp) and
    /// [`listen_udp`](super::listen_udp) then bind with `SO_REUSEPORT`, on
    /// reactor 0's port.
    pub(super) static MEMBER: std::cell::RefCell<Option<reel::GroupMember>> = const { std::cell::RefCell::new(None) };
}

/// Which reactor of how many this thread sets up and runs, and the
/// group's handle; `None` with `--threads 1`.
pub fn group_member() -> Option<(usize, reel::GroupHandle)> {
    MEMBER.with(|m| m.borrow().as_ref().map(|m| (m.index(), m.group().clone())))
}

/// Serves with `threads` reactors, each set up by `setup` (the same calls
/// a single-reactor server makes: [`listen_tcp`](super::listen_tcp),
/// [`listen_udp`](super::listen_udp), ...),
/// and exits: 0 after a clean stop (SIGINT/SIGTERM drain every reactor),
/// 1 on a failure. With one thread this is [`reactor`] + `setup` +
/// [`run`], on this thread; with more, a `reel::ReactorGroup` whose
/// listeners share each port through `SO_REUSEPORT`.
pub fn serve(threads: usize, setup: impl Fn(&mut reel::Reactor) + Send + Sync + 'static) -> ! {
    if threads <= 1 {
        let mut reactor = reactor();
        setup(&mut reactor);
        run(reactor)
    }
    let config = reel::GroupConfig { threads, stop_on_signals: true, ..Default::default() };
    let group = match start_group(config, setup) {
        Ok(g) => g,
        Err(e) => {
            super::report!("error: {e}");
            exit(1)
        }
    };
    log::info!("serving with {threads} reactors");
    match group.join() {
        Ok(()) => exit(0),
        Err(e) => {
            super::report!("error: {e}");
            exit(1)
        }
    }
}

/// Starts a group whose reactors are each set up by `setup`, with
/// [`group_member`] (and so [`listen_tcp`](super::listen_tcp) and
/// [`listen_udp`](super::listen_udp)) knowing the member during the setup
/// and after; [`serve`] without the exit.
///
/// # Errors
///
/// As `reel::ReactorGroup::start`.
pub fn start_group(
    config: reel::GroupConfig,
    setup: impl Fn(&mut reel::Reactor) + Send + Sync + 'static,
) -> Result<reel::ReactorGroup, reel::GroupError> {
    reel::ReactorGroup::start(config, move |reactor, member| {
        MEMBER.with(|m| *m.borrow_mut() = Some(member));
        setup(reactor);
        Ok(())
    })
}
