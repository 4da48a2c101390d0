//! Ready-made protocols and protocol toolkits.
//!
//! The classic small services, each over TCP and UDP: [`echo`] (RFC 862),
//! [`discard`] (RFC 863), [`chargen`] (RFC 864), [`qotd`] (RFC 865),
//! [`daytime`] (RFC 867) and [`time`] (RFC 868). Every UDP responder refuses
//! to answer source port 0 and the ports of the other such services
//! ([`echo::is_reflector_port`]). [`clock_text`] formats the wall-clock
//! time (`ctime`, the daytime line) and caches it per second.
//!
//! [`http`] is a strict HTTP/1.0 and 1.1 request-head parser (one pass, no
//! allocation, limits and smuggling rules enforced) and a response writer,
//! for servers that answer HTTP from their input buffer.

pub mod chargen;
pub mod clock_text;
pub mod daytime;
pub mod discard;
pub mod echo;
pub mod http;
pub mod proxy;
pub mod qotd;
pub mod time;
