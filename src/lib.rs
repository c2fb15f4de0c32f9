//! Taskwire's browser app: a Leptos client-side app compiled to WebAssembly.
//!
//! The logic that decides things (connection states, backoff, merging) is plain Rust in
//! [`client`], tested natively; the modules around it are the thin browser shell.

pub mod api;
pub mod app;
pub mod client;
mod components;
mod pages;
pub mod socket;
pub mod taskwire;
