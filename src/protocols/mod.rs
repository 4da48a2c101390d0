//! Ready-made protocols and protocol toolkits.

pub mod echo;
pub mod http;
