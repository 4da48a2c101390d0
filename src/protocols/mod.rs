//! Ready-made protocols and protocol toolkits.

pub mod http;
pub mod echo;
