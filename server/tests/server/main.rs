//! The server's integration tests: one binary (one link) for all of them.

mod binary;
mod hostile;
mod http_api;
mod socket;
mod support;
