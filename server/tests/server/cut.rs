//! Clients that vanish mid-request, as a phone in a tunnel or a closed tab does: raw
//! HTTP requests whose TCP connection is reset (RST) at a seeded moment, and sockets
//! reset mid-request. Shared by the cancel-safety tests.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// A small seeded generator (SplitMix64), so that a failing run replays exactly: the
/// seed is printed, and `TASKWIRE_CUT_SEED` sets it.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(test: &str) -> Self {
        let seed = std::env::var("TASKWIRE_CUT_SEED")
            .ok()
            .and_then(|seed| seed.parse().ok())
            .unwrap_or_else(|| {
                // A new seed each run explores new moments; the printed one replays it.
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |since| since.as_nanos() as u64)
            });
        println!("{test}: seed {seed} (TASKWIRE_CUT_SEED={seed} replays it)");
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// When a request's connection is reset.
#[derive(Debug, Clone, Copy)]
pub enum Cut {
    /// After this many bytes of the request: the server never reads it whole.
    Sending(usize),
    /// This long after the whole request was sent: somewhere inside the handling.
    After(Duration),
    /// After the whole answer was read.
    Answered,
}

impl Cut {
    /// One in ten before the request is whole, one in ten after the answer, the rest
    /// spread evenly over twice the call's usual answer time.
    pub fn draw(rng: &mut Rng, request_len: usize, answer_time: Duration) -> Self {
        match rng.below(10) {
            0 => Self::Sending(1 + rng.below(request_len as u64 - 1) as usize),
            1 => Self::Answered,
            _ => {
                let span = u64::try_from(answer_time.as_nanos() * 2).unwrap_or(u64::MAX);
                Self::After(Duration::from_nanos(rng.below(span)))
            }
        }
    }
}

/// How many cuts fell where: printed by the tests.
#[derive(Debug, Default)]
pub struct Tally {
    pub sending: usize,
    pub after: usize,
    pub answered: usize,
}

impl Tally {
    pub fn count(&mut self, cut: Cut) {
        match cut {
            Cut::Sending(_) => self.sending += 1,
            Cut::After(_) => self.after += 1,
            Cut::Answered => self.answered += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.sending + self.after + self.answered
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} cuts: {} while sending, {} while handling, {} after the answer",
            self.total(),
            self.sending,
            self.after,
            self.answered
        )
    }
}

/// An HTTP/1.1 request as bytes.
pub struct RawRequest {
    pub bytes: Vec<u8>,
}

impl RawRequest {
    pub fn new(
        addr: SocketAddr,
        method: &str,
        path: &str,
        token: Option<&str>,
        cookie: Option<&str>,
        body: Option<&Value>,
    ) -> Self {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(cookie) = cookie {
            head.push_str(&format!("Cookie: taskwire_refresh={cookie}\r\n"));
        }
        let body = body.map(Value::to_string).unwrap_or_default();
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        Self { bytes }
    }

    /// Sends the request and resets the connection at `cut`.
    pub async fn cut(&self, addr: SocketAddr, cut: Cut) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        match cut {
            Cut::Sending(bytes) => {
                let _ = stream.write_all(&self.bytes[..bytes]).await;
            }
            Cut::After(wait) => {
                stream.write_all(&self.bytes).await.expect("send");
                spin(wait).await;
            }
            Cut::Answered => {
                stream.write_all(&self.bytes).await.expect("send");
                read_answer(&mut stream).await;
            }
        }
        reset(stream);
    }

    /// Sends the request and reads the answer whole; returns its status and how long it
    /// took.
    pub async fn answer(&self, addr: SocketAddr) -> (u16, Duration) {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let started = Instant::now();
        stream.write_all(&self.bytes).await.expect("send");
        let status = read_answer(&mut stream).await;
        (status, started.elapsed())
    }
}

/// Ends a connection with a reset rather than a FIN, as a dropped mobile link looks.
pub fn reset(stream: TcpStream) {
    stream.set_zero_linger().expect("SO_LINGER 0");
    drop(stream);
}

/// Waits `wait` without the timer wheel's millisecond steps: the cuts fall inside
/// calls that take about a millisecond.
pub async fn spin(wait: Duration) {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        tokio::task::yield_now().await;
    }
}

/// Reads one answer (headers, then a `Content-Length` body) and returns its status.
async fn read_answer(stream: &mut TcpStream) -> u16 {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return head
                    .split(' ')
                    .nth(1)
                    .and_then(|status| status.parse().ok())
                    .expect("a status line");
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(read > 0, "the server closed before answering");
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The median of how long `request` takes to answer, over a few calls.
pub async fn answer_time(addr: SocketAddr, request: &RawRequest) -> Duration {
    let mut times = Vec::new();
    for _ in 0..15 {
        let (status, took) = request.answer(addr).await;
        assert!(status < 500, "status {status}");
        times.push(took);
    }
    times.sort();
    times[times.len() / 2]
}
