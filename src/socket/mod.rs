//! The browser shell of the socket service (first cut: filled in next).
