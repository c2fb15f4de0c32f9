//! The server's integration tests: one binary (one link) for all of them.

// A test that unwraps says "this must hold" and fails with the cause when it does not.
#![allow(clippy::unwrap_used)]

mod binary;
mod board_sockets;
mod boards;
mod cancel;
mod catalogue;
mod changes;
mod chaos;
mod copy;
mod cut;
mod headers;
mod hostile;
mod http_api;
mod migrate;
mod socket;
mod support;
mod versions;
