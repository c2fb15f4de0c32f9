//! app

pub mod client;
