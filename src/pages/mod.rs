//! One module per route.

mod admin;
mod board;
mod diagnostics;
mod login;
mod not_found;

pub use admin::Admin;
pub use board::{BoardPage, BoardsShown, Home};
pub use diagnostics::Diagnostics;
pub use login::Login;
pub use not_found::NotFound;
