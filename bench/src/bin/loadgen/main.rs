//! A load generator for the example servers, built on reel itself: one
//! thread, one reactor, client connections from `connect_tcp_with`, UDP
//! sockets from `connect_udp`, timers for the clock.
//!
//! ```text
//! cargo run --release --example echo_hello &
//! cargo run --release -p reel-bench --bin loadgen -- --target echo_hello --conns 50 --depth 8 --server-pid $!
//! cargo run --release -p reel-bench --bin loadgen -- --target echo_hello --idle 10000 --duration 5 --server-pid $!
//! ```
//!
//! Every reply is checked byte for byte; a wrong one is counted, the
//! first is printed with its bytes, and its connection is opened anew.
//! The report gives requests per second, MB/s, latency percentiles (HDR
//! histogram) and CPU time per request of both sides, so that it is
//! plain which side was the bottleneck. See `engine.rs` for the machinery.

#[path = "../../../../examples/common/mod.rs"]
mod common;
mod engine;

use std::io::IsTerminal;
use std::process::exit;
use std::time::Duration;

use engine::{Config, Report, Target};

const USAGE: &str = "usage: loadgen [--target T] [--connect ADDR] [--conns N] [--depth D]
               [--duration SECS | --requests COUNT] [--warmup SECS] [--timeout SECS]
               [--server-pid PID] [--json] [--tls] [--ca FILE] [--no-gro]
       loadgen --handshakes [--connect ADDR] [--conns N] [--duration SECS] [--ca FILE]
               [--server-pid PID]
       loadgen --bulk [--connect ADDR] [--duration SECS] [--tls] [--ca FILE] [--server-pid PID]
       loadgen --idle K [--target echo_hello|http_hello] [--connect ADDR] [--duration SECS]
               [--server-pid PID] [--json]

Drives an example server with pipelined requests and checks every reply byte
for byte; reports requests/s, MB/s, latency percentiles and the CPU time per
request of both sides.

options:
  --target T         echo_hello (default), http_hello, udp_echo_hello or udp_echo
  --connect ADDR     the server (default: the target's, 127.0.0.1:9999 for echo_hello
                     and udp_echo_hello, :12345 for http_hello, :7007 for udp_echo)
  --conns N          TCP connections, or UDP sockets (default 1)
  --depth D          requests in flight per connection, 1 = ping-pong (default 1)
  --duration SECS    measure this long (default 10 unless --requests is given)
  --requests COUNT   stop after this many measured requests (with --duration too:
                     whichever comes first)
  --warmup SECS      not measured, before the measurement (default 1)
  --timeout SECS     a request unanswered this long is an error (default 1 for UDP,
                     where it means lost, 10 for TCP)
  --idle K           open K TCP connections, send nothing, hold them --duration seconds
                     (default 10), and report how many opened and, with --server-pid,
                     the server's memory per connection (start the server afresh:
                     memory its earlier connections freed stays in its RSS)
  --server-pid PID   also measure the server's CPU time (and memory in --idle mode)
                     from /proc/PID
  --json             print one JSON object line instead of the text report
  --no-gro           UDP: receive without coalesced receives (UDP GRO), as a client
                     that does not ask for them (the server's grouped replies are then
                     cut into datagrams at this socket, on loopback by the server's CPU)
  --tls              connect over TLS (the server's certificate must name its IP address)
  --ca FILE          trust the certificates of FILE (PEM; implies --tls)
  --handshakes       make full TLS handshakes on --conns connections, each closed and
                     opened anew, and report handshakes/s and the server's CPU per one
  --bulk             stream 16,000-byte lines to echo_hello on one connection, 32 in
                     flight, and report MB/s (both ways) and MB per server-CPU-second
  -h, --help         show this help

Exit status: 0 when no error was seen, 1 when some were (or nothing could be
done), 2 for bad arguments.";

struct Args {
    cfg: Config,
    json: bool,
    /// `--handshakes`: measure TLS handshakes, not requests.
    handshakes: bool,
    /// `--bulk`: measure bulk throughput.
    bulk: bool,
}

fn secs(usage: &str, parser: &mut lexopt::Parser, what: &str) -> Duration {
    let s: f64 = common::value(usage, parser, what);
    if !(0.0..=1e9).contains(&s) {
        common::bad_args(usage, format!("{what}: {s} is not a number of seconds"));
    }
    Duration::from_secs_f64(s)
}

fn parse_args() -> Args {
    let mut parser = lexopt::Parser::from_env();
    let mut target = Target::EchoHello;
    let mut connect = None;
    let (mut conns, mut depth) = (1usize, 1usize);
    let (mut duration, mut requests, mut warmup, mut timeout) = (None, None, None, None);
    let (mut idle, mut server_pid, mut json) = (None, None, false);
    let mut tls = common::ClientTls::default();
    let mut handshakes = false;
    let mut bulk = false;
    let mut no_gro = false;
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => common::bad_args(USAGE, e),
        };
        match arg {
            lexopt::Arg::Short('h') | lexopt::Arg::Long("help") => common::help(USAGE),
            lexopt::Arg::Long("target") => target = common::value(USAGE, &mut parser, "--target"),
            lexopt::Arg::Long("connect") => connect = Some(common::value(USAGE, &mut parser, "--connect")),
            lexopt::Arg::Long("conns") => conns = common::value(USAGE, &mut parser, "--conns"),
            lexopt::Arg::Long("depth") => depth = common::value(USAGE, &mut parser, "--depth"),
            lexopt::Arg::Long("duration") => duration = Some(secs(USAGE, &mut parser, "--duration")),
            lexopt::Arg::Long("requests") => requests = Some(common::value(USAGE, &mut parser, "--requests")),
            lexopt::Arg::Long("warmup") => warmup = Some(secs(USAGE, &mut parser, "--warmup")),
            lexopt::Arg::Long("timeout") => timeout = Some(secs(USAGE, &mut parser, "--timeout")),
            lexopt::Arg::Long("idle") => idle = Some(common::value(USAGE, &mut parser, "--idle")),
            lexopt::Arg::Long("server-pid") => server_pid = Some(common::value(USAGE, &mut parser, "--server-pid")),
            lexopt::Arg::Long("json") => json = true,
            lexopt::Arg::Long("no-gro") => no_gro = true,
            lexopt::Arg::Long("handshakes") => handshakes = true,
            lexopt::Arg::Long("bulk") => bulk = true,
            lexopt::Arg::Long(name) if matches!(name, "tls" | "ca") => {
                let name = name.to_string();
                tls.take(USAGE, &name, &mut parser);
            }
            other => common::bad_args(USAGE, other.unexpected()),
        }
    }
    if conns == 0 || depth == 0 || depth > 65536 {
        common::bad_args(USAGE, "--conns must be at least 1, --depth from 1 to 65536");
    }
    if requests == Some(0) || idle == Some(0) {
        common::bad_args(USAGE, "--requests and --idle must be at least 1");
    }
    if duration.is_some_and(|d: Duration| d.is_zero()) || timeout.is_some_and(|t: Duration| t.is_zero()) {
        common::bad_args(USAGE, "--duration and --timeout must be more than 0");
    }
    if idle.is_some() && target.is_udp() {
        common::bad_args(USAGE, "--idle needs a TCP target (echo_hello or http_hello)");
    }
    if idle.is_some() && requests.is_some() {
        common::bad_args(USAGE, "--idle sends no requests: --requests makes no sense with it");
    }
    let mut cfg = Config::new(target);
    cfg.addr = connect.unwrap_or(cfg.addr);
    cfg.conns = conns;
    cfg.depth = depth;
    cfg.requests = requests;
    cfg.duration = match (duration, requests) {
        (Some(d), _) => Some(d),
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    cfg.warmup = warmup.unwrap_or(cfg.warmup);
    cfg.timeout = timeout.unwrap_or(cfg.timeout);
    cfg.idle = idle;
    cfg.server_pid = server_pid;
    cfg.udp_gro = !no_gro;
    cfg.progress = std::io::stderr().is_terminal();
    cfg.announce = !json;
    cfg.signals = true;
    if tls.enabled || handshakes {
        if target.is_udp() {
            common::bad_args(USAGE, "--tls and --handshakes need a TCP target");
        }
        match engine::tls::client_config(tls.ca.as_deref(), !handshakes) {
            Ok(config) => cfg.tls = Some(config),
            Err(e) => {
                eprintln!("error: {e}");
                exit(1)
            }
        }
    }
    Args { cfg, json, handshakes, bulk }
}

fn main() {
    // Warnings only by default: reel's info lines would break the progress line.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let args = parse_args();
    common::raise_fd_limit();
    let wanted = args.cfg.idle.unwrap_or(args.cfg.conns) as u64 + 16;
    if let Ok((limit, _)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        if wanted > limit {
            eprintln!("loadgen: warning: about {wanted} descriptors needed, the limit is {limit}: some will fail");
        }
    }
    if args.bulk {
        let cfg = &args.cfg;
        let duration = cfg.duration.unwrap_or(Duration::from_secs(10));
        match engine::tls::bulk(cfg.addr, cfg.tls.clone(), cfg.warmup, duration, cfg.server_pid) {
            Ok(r) => {
                print!("{}", r.text());
                exit(if r.ok && r.bytes > 0 { 0 } else { 1 })
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit(1)
            }
        }
    }
    if args.handshakes {
        let cfg = &args.cfg;
        let config = cfg.tls.clone().expect("set with --handshakes");
        let duration = cfg.duration.unwrap_or(Duration::from_secs(10));
        match engine::tls::handshakes(cfg.addr, config, cfg.conns, cfg.warmup, duration, cfg.server_pid) {
            Ok(r) => {
                print!("{}", r.text());
                exit(if r.errors > 0 || r.handshakes == 0 { 1 } else { 0 })
            }
            Err(e) => {
                eprintln!("error: {e}");
                exit(1)
            }
        }
    }
    let report = match engine::run(args.cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            exit(1)
        }
    };
    if args.json {
        println!("{}", json(&report));
    } else {
        print!("{}", text(&report));
    }
    let nothing = match &report.idle {
        Some(idle) => idle.opened == 0,
        None => report.requests == 0,
    };
    exit(if report.errors > 0 || nothing { 1 } else { 0 })
}

/// A duration for people: µs below 1 ms, ms below 1 s.
fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1e3)
    } else {
        format!("{:.3} s", us / 1e6)
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn text(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let o = &mut out;
    if let Some(idle) = &r.idle {
        let _ = writeln!(o, "loadgen: {} at {}, {} idle connections", r.target, r.addr, idle.requested);
        let _ = writeln!(
            o,
            "opened      {} of {} in {:.2} s ({} failed)",
            idle.opened,
            idle.requested,
            idle.open_time.as_secs_f64(),
            idle.failed
        );
        let _ =
            writeln!(o, "held        {:.1} s; still open at the end: {}", idle.held.as_secs_f64(), idle.open_at_end);
        let _ = writeln!(o, "errors      {}", r.errors);
        if let (Some(before), Some(open)) = (idle.rss_before_kib, idle.rss_open_kib) {
            let end = idle.rss_end_kib.map_or_else(|| "?".into(), mib);
            let _ = writeln!(o, "server RSS  {} before, {} with them open, {} at the end", mib(before), mib(open), end);
        }
        if let Some(per) = idle.rss_per_conn_bytes() {
            let _ = writeln!(o, "per conn    {:.0} bytes of server RSS", per);
        }
        return out;
    }
    let _ = writeln!(
        o,
        "loadgen: {} at {}, {} {}, depth {}, {:.2} s measured after {:.1} s warm-up",
        r.target,
        r.addr,
        r.conns,
        if r.target.is_udp() { "sockets" } else { "connections" },
        r.depth,
        r.elapsed.as_secs_f64(),
        r.warmup.as_secs_f64()
    );
    let _ = writeln!(o, "requests    {}  ({:.0}/s)", r.requests, r.rps());
    let late = if r.target.is_udp() { format!("  (late replies, not counted: {})", r.late) } else { String::new() };
    let _ = writeln!(o, "errors      {}{late}", r.errors);
    let _ = writeln!(
        o,
        "transfer    {:.2} MB/s  (sent {:.2} MB, received {:.2} MB)",
        r.mb_per_s(),
        r.bytes_sent as f64 / 1e6,
        r.bytes_received as f64 / 1e6
    );
    match &r.latency {
        Some(l) => {
            let _ = writeln!(
                o,
                "latency     p50 {}  p99 {}  p99.9 {}  max {}  (mean {})",
                human(l.p50),
                human(l.p99),
                human(l.p999),
                human(l.max),
                human(l.mean)
            );
        }
        None => {
            let _ = writeln!(o, "latency     (no request measured)");
        }
    }
    let side = |o: &mut String, name: &str, cpu: Option<engine::CpuTime>, per: Option<f64>, util: Option<f64>| {
        let per = per.map_or_else(|| "?".into(), |p| format!("{p:.2} CPU-µs/request"));
        let split = cpu.map_or_else(String::new, |c| format!(", user {:.2} s + sys {:.2} s", c.user, c.sys));
        let util = util.map_or_else(String::new, |u| format!(", {:.0}% of a core", u * 100.0));
        let _ = writeln!(o, "cpu {name:<8}{per}{split}{util}");
    };
    side(o, "loadgen", r.own_cpu, r.own_us_per_req(), r.own_utilization());
    if r.server_cpu.is_some() {
        side(o, "server", r.server_cpu, r.server_us_per_req(), r.server_utilization());
        let _ = writeln!(o, "            {}", verdict(r));
    }
    out
}

/// Which side limited the rate, as far as CPU time tells.
fn verdict(r: &Report) -> String {
    let (Some(own), Some(server)) = (r.own_utilization(), r.server_utilization()) else {
        return String::new();
    };
    const BUSY: f64 = 0.9;
    match (own >= BUSY, server >= BUSY) {
        (false, true) => "the server's core was saturated: the server is the bottleneck".into(),
        (true, false) => "loadgen's core was saturated: loadgen is the bottleneck, not the server".into(),
        (true, true) => "both cores were saturated (this machine's CPUs are the limit)".into(),
        (false, false) => {
            "neither side used a whole core: latency bound (raise --conns or --depth), or other processes had the CPUs"
                .into()
        }
    }
}

fn json(r: &Report) -> String {
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut v = serde_json::json!({
        "target": r.target.name(),
        "connect": r.addr.to_string(),
        "mode": if r.idle.is_some() { "idle" } else { "load" },
        "conns": r.conns,
        "depth": r.depth,
        "warmup_s": r.warmup.as_secs_f64(),
        "elapsed_s": r.elapsed.as_secs_f64(),
        "requests": r.requests,
        "errors": r.errors,
        "late": r.late,
        "rps": r.rps(),
        "bytes_sent": r.bytes_sent,
        "bytes_received": r.bytes_received,
        "mb_per_s": r.mb_per_s(),
        "latency_p50_us": r.latency.map(|l| us(l.p50)),
        "latency_p99_us": r.latency.map(|l| us(l.p99)),
        "latency_p999_us": r.latency.map(|l| us(l.p999)),
        "latency_max_us": r.latency.map(|l| us(l.max)),
        "latency_mean_us": r.latency.map(|l| us(l.mean)),
        "loadgen_cpu_s": r.own_cpu_secs(),
        "loadgen_cpu_user_s": r.own_cpu.map(|c| c.user),
        "loadgen_cpu_sys_s": r.own_cpu.map(|c| c.sys),
        "loadgen_cpu_us_per_req": r.own_us_per_req(),
        "loadgen_cpu_util": r.own_utilization(),
        "server_cpu_s": r.server_cpu.map(|c| c.total()),
        "server_cpu_user_s": r.server_cpu.map(|c| c.user),
        "server_cpu_sys_s": r.server_cpu.map(|c| c.sys),
        "server_cpu_us_per_req": r.server_us_per_req(),
        "server_cpu_util": r.server_utilization(),
        "first_error": r.first_error,
    });
    if let Some(idle) = &r.idle {
        let extra = serde_json::json!({
            "idle_requested": idle.requested,
            "idle_opened": idle.opened,
            "idle_failed": idle.failed,
            "idle_open_at_end": idle.open_at_end,
            "idle_open_time_s": idle.open_time.as_secs_f64(),
            "idle_held_s": idle.held.as_secs_f64(),
            "server_rss_before_kib": idle.rss_before_kib,
            "server_rss_open_kib": idle.rss_open_kib,
            "server_rss_end_kib": idle.rss_end_kib,
            "server_rss_per_conn_bytes": idle.rss_per_conn_bytes(),
        });
        if let (Some(map), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
            map.extend(extra);
        }
    }
    v.to_string()
}
