//! Taskwire's browser app: a Leptos client-side app compiled to WebAssembly.
//!
//! The logic that decides things (connection states, backoff, merging) is plain Rust in
//! [`client`], tested natively; the modules around it are the thin browser shell.
//!
//! Layout:
//!
//! - [`client`]: the pure core. `client/machine/` decides for one socket (its
//!   `mod.rs` lists a file per job); `store`, `outbox` and `registry` beside it.
//! - [`socket`]: the shell that executes the core's commands: `conn` (one `WebSocket`),
//!   `service/` (the queue, sockets, timers and HTTP refresh).
//! - [`board`]: what the views read, as signals, written from the core's notices (each
//!   carries its values) and figures that the shell hands over.
//! - [`taskwire`]: the facade the views use; [`api`]: the HTTP calls.
//! - [`app`] (the routes, with leptos_router), `pages` and `components`: the views.

pub mod api;
pub mod app;
pub mod board;
pub mod client;
mod components;
mod pages;
mod pending_sign_out;
pub mod saved_changes;
pub mod socket;
pub mod taskwire;
