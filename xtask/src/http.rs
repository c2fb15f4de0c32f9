//! Plain HTTP/1.1 over `TcpStream`, enough for xtask's few JSON calls (the test server's
//! API, chromedriver's WebDriver API) without an HTTP client dependency.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::Result;
use crate::error::Error;

/// One HTTP/1.1 request with a JSON body and answer; fails on a status over 299.
pub fn http(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Value> {
    let what = format!("{method} http://{address}{path}");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|token| format!("Authorization: Bearer {token}\r\n"))
        .unwrap_or_default();
    let mut stream = TcpStream::connect(address).map_err(Error::io(what.clone()))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(Error::io(what.clone()))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(Error::io(what.clone()))?;
    // Read the head, then exactly Content-Length bytes: chromedriver keeps the
    // connection open despite `Connection: close`.
    let mut answer = Vec::new();
    let mut buffer = [0; 16 * 1024];
    let split = loop {
        if let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let n = stream.read(&mut buffer).map_err(Error::io(what.clone()))?;
        if n == 0 {
            return Err(Error::Other(format!("{what}: no HTTP answer")));
        }
        answer.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&answer[..split]).to_lowercase();
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == "content-length").then(|| value.trim().parse::<usize>().ok())?
    });
    let mut content = answer[split + 4..].to_vec();
    match length {
        Some(length) => {
            while content.len() < length {
                let n = stream.read(&mut buffer).map_err(Error::io(what.clone()))?;
                if n == 0 {
                    break;
                }
                content.extend_from_slice(&buffer[..n]);
            }
        }
        None => {
            stream
                .read_to_end(&mut content)
                .map_err(Error::io(what.clone()))?;
            if head.contains("transfer-encoding: chunked") {
                content = dechunk(&content);
            }
        }
    }
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(Error::Other(format!(
            "{what} answered {status}: {}",
            String::from_utf8_lossy(&content)
        )));
    }
    if content.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&content)
        .map_err(|error| Error::Other(format!("{what}: the answer is not JSON: {error}")))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        let start = end + 2;
        if size == 0 || start + size > data.len() {
            break;
        }
        out.extend_from_slice(&data[start..start + size]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}
