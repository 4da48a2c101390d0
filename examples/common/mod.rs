//! What every example program shares: logging, the command-line
//! conventions of docs/protocols.md (`--help`, exit statuses), and bind errors.
//!
//! The parts, each a submodule re-exported here (an example says
//! `common::serve`, wherever it lives): the program's name and logging
//! (this file); the command line (`cli.rs`); listening and connecting
//! (`net.rs`); making and running reactors, one or a group for
//! `--threads N` (`reactors.rs`). The other files in `examples/common/`
//! are not part of this module: they are the examples' own modules
//! (`chat.rs`, `http_hello.rs`, ...), each included with `#[path]`.
#![allow(dead_code)] // each example uses a part

use std::io::Write as _;

/// `eprintln!` that never panics: a line for stderr, written if stderr
/// can take it and dropped if not (closed, as in `2>&1 | true`, or full).
/// `eprintln!` panics on such a failure, which inside a reactor callback
/// would be caught and logged while the program went on (a client then
/// never reached its exit) and elsewhere would exit 101 with a backtrace.
/// Every message of the examples goes through this.
#[allow(unused_macros)]
macro_rules! report {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}
#[allow(unused_imports)]
pub(crate) use report;

mod cli;
mod net;
mod reactors;

// Each example uses a part of these re-exports too (as of the items: the
// `dead_code` allowance above).
#[allow(unused_imports)]
pub use self::cli::{
    bad_args, default_max_conns, explain_bad_addr, help, next_arg, parse_server_args, parse_server_or_client, threads,
    value, ClientTls, ServerArgs, ServerOrClient, ADDR_HELP,
};
#[allow(unused_imports)]
pub use self::net::{
    bind_failed, connect, listen, listen_options, listen_tcp, listen_udp, listen_unix, raise_fd_limit, refuses_source,
    tls_server_config, Guarded, EXAMPLE_UDP_PORTS,
};
#[allow(unused_imports)]
pub use self::reactors::{group_member, reactor, run, run_client, serve, start_group};

/// The name of the program: the crate this module is compiled into
/// (`echo_hello` for `examples/echo_hello.rs`).
pub fn program() -> &'static str {
    let path = module_path!();
    path.split("::").next().unwrap_or(path)
}

/// Logs to stderr at `info` unless `RUST_LOG` says otherwise. A line names
/// the program (`[INFO  echo_hello] listening on ...`), whichever of its
/// modules logged it; the library's lines name their module (`reel::...`).
/// `RUST_LOG` filters by module path as usual (`RUST_LOG=echo_hello=debug`).
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let target = record.target();
            let program = program();
            let source = match target.strip_prefix(program) {
                Some(rest) if rest.is_empty() || rest.starts_with("::") => program,
                _ => target,
            };
            let style = buf.default_level_style(record.level());
            writeln!(buf, "[{style}{:<5}{style:#} {source}] {}", record.level(), record.args())
        })
        .init();
}
