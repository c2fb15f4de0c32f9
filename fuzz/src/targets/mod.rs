//! What is fuzzed: each target takes any bytes, must never panic, and asserts what must
//! hold of its result (an assertion that fails is a finding like any other panic).

mod frames;
mod machine;
mod store;

use crate::rng::Rng;
use crate::{corpus, mutate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// `protocol::decode_client`, the server's reader of a client's text frame.
    ServerDecode,
    /// The server's handling of a text frame short of its database and socket.
    ServerHandler,
    /// `Input::from_text`, the app's reader of a server's text frame.
    AppDecode,
    /// The app's task store under sequences of snapshots, replays, events and local
    /// changes.
    StoreMerge,
    /// The app's connection machine fed a script of frames and events.
    Machine,
}

impl Target {
    pub const ALL: [Self; 5] = [
        Self::ServerDecode,
        Self::ServerHandler,
        Self::AppDecode,
        Self::StoreMerge,
        Self::Machine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::ServerDecode => "server-decode",
            Self::ServerHandler => "server-handler",
            Self::AppDecode => "app-decode",
            Self::StoreMerge => "store-merge",
            Self::Machine => "machine",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|target| target.name() == name)
    }

    /// The longest input worth making: frames past the server's limit, scripts only
    /// as long as they are read.
    pub fn max_input(self) -> usize {
        match self {
            Self::ServerDecode | Self::ServerHandler | Self::AppDecode => mutate::MAX_INPUT,
            // Some 64 operations of a few dozen bytes each.
            Self::StoreMerge => 4 * 1024,
            Self::Machine => 16 * 1024,
        }
    }

    /// Where mutation starts.
    pub fn seeds(self) -> Vec<Vec<u8>> {
        match self {
            Self::ServerDecode | Self::ServerHandler => corpus::client_texts(),
            Self::AppDecode => corpus::server_texts(),
            Self::StoreMerge => (0..16u64)
                .map(|n| {
                    let mut rng = Rng::new(n);
                    (0..16 + 24 * n).map(|_| rng.next_u64() as u8).collect()
                })
                .collect(),
            Self::Machine => machine::seeds(),
        }
    }

    /// Runs the target on `input`. True when the input got far (a frame was read, a
    /// store followed the log): such inputs are kept to mutate further.
    pub fn run(self, input: &[u8]) -> bool {
        match self {
            Self::ServerDecode => frames::server_decode(input),
            Self::ServerHandler => frames::server_handler(input),
            Self::AppDecode => frames::app_decode(input),
            Self::StoreMerge => store::store_merge(input),
            Self::Machine => machine::machine(input),
        }
    }
}

/// An input read as a stream of choices. Past its end every byte is 0, so any input,
/// the empty one included, is a valid script.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&byte, rest)) => {
                self.0 = rest;
                byte
            }
            None => 0,
        }
    }

    /// One of `items` (which must not be empty).
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.byte()) % items.len()]
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }
}
