//! Mutations of an input: byte-level ones (bit flips, inserts, deletes, duplicated and
//! repeated chunks, splices of two inputs) and JSON-aware ones that replace a token (a
//! string, number or literal) with a value chosen to hit edge cases: integers at and
//! past `u64`'s range, negative and fractional numbers, `null`, deep nesting, long
//! strings, invalid UTF-8, escaped NULs and lone surrogates, and the protocol's own
//! keys, frame types and topics, so that a mutated frame often stays well formed enough
//! to reach the code behind the JSON parser.

use crate::rng::Rng;

/// The longest frame a mutation leaves: past the server's 64 KiB frame limit, so that
/// the size check is exercised, and small enough to keep executions fast.
pub const MAX_INPUT: usize = 80 * 1024;
/// What one repetition mostly adds at most: inputs that grow at every mutation spend
/// the run copying bytes.
const MOST_REPEATED: usize = 4 * 1024;

/// Bytes that change a JSON text's structure when they land in it.
const BYTES: &[u8] = b"\0\x01\x1f\x7f\x80\xbf\xc0\xff\"\\{}[]:,-+.eE0179 \t\ntfnu";

/// Values that sit on an edge of some reader.
const VALUES: &[&str] = &[
    "0",
    "1",
    "2",
    "-1",
    "-0",
    "0.5",
    "1.0",
    "1e2",
    "1e400",
    "-1e400",
    "01",
    "NaN",
    "Infinity",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "null",
    "true",
    "false",
    "{}",
    "[]",
    "[null]",
    "{\"\":null}",
    "\"\"",
    "\" \"",
    "\"\\u0000\"",
    "\"a\\u0000b\"",
    "\"\\u001b[31mred\"",
    "\"\\ud800\"",
    "\"\\udc00\\ud800\"",
    "\"\\ud83e\\udd80\"",
    "\"é🦀\"",
    "\"\\\"\"",
    "\"\\\\\"",
    "\"\\x\"",
    "\"type\"",
    "\"id\"",
    "\"topic\"",
    "\"since\"",
    "\"epoch\"",
    "\"seq\"",
    "\"items\"",
    "\"item\"",
    "\"events\"",
    "\"op\"",
    "\"fields\"",
    "\"version\"",
    "\"ok\"",
    "\"error\"",
    "\"code\"",
    "\"current\"",
    "\"method\"",
    "\"params\"",
    "\"title\"",
    "\"done\"",
    "\"if_version\"",
    "\"board\"",
    "\"auth\"",
    "\"auth_ok\"",
    "\"ping\"",
    "\"pong\"",
    "\"subscribe\"",
    "\"unsubscribe\"",
    "\"request\"",
    "\"result\"",
    "\"snapshot\"",
    "\"replay\"",
    "\"event\"",
    "\"unsubscribed\"",
    "\"presence\"",
    "\"upsert\"",
    "\"patch\"",
    "\"delete\"",
    "\"removed\"",
    "\"deleted\"",
    "\"conflict\"",
    "\"bad_request\"",
    "\"owner\"",
    "\"viewer\"",
    "\"task.create\"",
    "\"task.update\"",
    "\"task.delete\"",
    "\"task.clear_done\"",
    "\"tasks\"",
    "\"boards\"",
    "\"board:\"",
    "\"board:0190a000-0000-7000-8000-000000000001\"",
    "\"board:0190A000-0000-7000-8000-000000000001\"",
    "\"board:0190a00000007000800000000000000001\"",
    "\"0190a000-0000-7000-8000-000000000001\"",
    "\"0190a000-0000-7000-8000-000000000002\"",
    "\"00000000-0000-0000-0000-000000000000\"",
    "\"urn:uuid:0190a000-0000-7000-8000-000000000001\"",
    "\"{0190a000-0000-7000-8000-000000000001}\"",
    "\"2026-01-01T00:00:00Z\"",
    "\"2026-01-01T00:00:00.5Z\"",
    "\"2026-01-01T01:00:00+01:00\"",
    "\"9999-12-31T23:59:60.999999999999-99:99\"",
    "\"0000-00-00T00:00:00Z\"",
    "\"2026-13-40T25:61:61Z\"",
    "\"2026-01-01 00:00:00z\"",
];

/// Reusable mutations, with the generated values (deep nests, long strings) built once.
pub struct Mutator {
    values: Vec<Vec<u8>>,
    /// The values that are strings, numbers, or neither: a token replaced by one of its
    /// kind mostly leaves the frame readable, so the change reaches past the parser.
    strings: Vec<Vec<u8>>,
    numbers: Vec<Vec<u8>>,
    others: Vec<Vec<u8>>,
}

impl Default for Mutator {
    fn default() -> Self {
        Self::new()
    }
}

impl Mutator {
    pub fn new() -> Self {
        let mut values: Vec<Vec<u8>> = VALUES.iter().map(|v| v.as_bytes().to_vec()).collect();
        // serde_json stops at 128 levels; around that limit, and far past it.
        for depth in [127, 128, 129, 5_000] {
            values.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
        }
        values.push(format!("{}1{}", "{\"a\":".repeat(130), "}".repeat(130)).into_bytes());
        // Titles and names are bounded in characters, not bytes.
        for text in [
            "x".repeat(200),
            "x".repeat(201),
            "é".repeat(201),
            "x".repeat(70_000),
        ] {
            values.push(format!("\"{text}\"").into_bytes());
        }
        values.push(format!("\"{}\"", "\\u0000".repeat(300)).into_bytes());
        for invalid in [
            &b"\xff"[..],
            b"\xc3\x28",
            b"\xed\xa0\x80",
            b"\xf4\x90\x80\x80",
            b"\xe2\x82",
        ] {
            let mut value = b"\"".to_vec();
            value.extend_from_slice(invalid);
            value.push(b'"');
            values.push(value);
            values.push(invalid.to_vec());
        }
        let kind = |start: fn(u8) -> bool| -> Vec<Vec<u8>> {
            values
                .iter()
                .filter(|value| value.first().is_some_and(|&b| start(b)))
                .cloned()
                .collect()
        };
        let strings = kind(|b| b == b'"');
        let numbers = kind(|b| b == b'-' || b.is_ascii_digit());
        let others = kind(|b| b != b'"' && b != b'-' && !b.is_ascii_digit());
        Self {
            values,
            strings,
            numbers,
            others,
        }
    }

    /// The values of the kind of the token that starts with `first`.
    fn like(&self, first: u8) -> &[Vec<u8>] {
        match first {
            b'"' => &self.strings,
            b'-' | b'0'..=b'9' => &self.numbers,
            _ => &self.others,
        }
    }

    /// Changes `input` once, perhaps with bytes of one of `others`, leaving at most
    /// `max_len` bytes.
    pub fn mutate(&self, rng: &mut Rng, input: &mut Vec<u8>, others: &[Vec<u8>], max_len: usize) {
        match rng.below(11) {
            0 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] = *rng.pick(BYTES);
            }
            2 => {
                let at = rng.below(input.len() + 1);
                let count = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..count)
                    .map(|_| {
                        if rng.one_in(2) {
                            *rng.pick(BYTES)
                        } else {
                            rng.next_u64() as u8
                        }
                    })
                    .collect();
                input.splice(at..at, bytes);
            }
            3 if !input.is_empty() => {
                let (start, end) = range(rng, input.len());
                input.drain(start..end);
            }
            4 if !input.is_empty() => {
                let (start, end) = range(rng, input.len());
                let chunk = input[start..end].to_vec();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, chunk);
            }
            5 if !input.is_empty() => {
                // A chunk many times over: long arrays, many keys, repeated frames.
                let (start, end) = range(rng, input.len());
                let most = if rng.one_in(16) {
                    max_len
                } else {
                    MOST_REPEATED
                };
                let times = 1 + rng.below(100).min(most / (end - start));
                let chunk = input[start..end].repeat(times);
                input.splice(end..end, chunk);
            }
            6 if !others.is_empty() => {
                let other = rng.pick(others);
                let cut = rng.below(input.len() + 1);
                let other_cut = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[other_cut..]);
            }
            7..=9 => match token(input, rng.below(input.len() + 1)) {
                Some((start, end)) => {
                    let values = if rng.one_in(3) {
                        &self.values
                    } else {
                        self.like(input[start])
                    };
                    let value = rng.pick(values).clone();
                    input.splice(start..end, value);
                }
                None => input.extend_from_slice(rng.pick(&self.values).as_slice()),
            },
            _ => {
                let value = rng.pick(&self.values).clone();
                let at = rng.below(input.len() + 1);
                input.splice(at..at, value);
            }
        }
        input.truncate(max_len);
    }
}

/// A short range within `0..len` (which must not be 0), mostly of a few bytes.
fn range(rng: &mut Rng, len: usize) -> (usize, usize) {
    let start = rng.below(len);
    let most = if rng.one_in(4) { len - start } else { 16 };
    let end = start + 1 + rng.below(most.min(len - start));
    (start, end.min(len))
}

/// The first JSON token (string, number or literal) at or after `from`, as a byte
/// range: a heuristic, as `from` may fall inside a string, which fuzzing welcomes.
fn token(input: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from
        + input
            .get(from..)?
            .iter()
            .position(|b| matches!(b, b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'))?;
    let rest = &input[start + 1..];
    let len = match input[start] {
        b'"' => {
            let mut i = 0;
            loop {
                match rest.get(i) {
                    None => break rest.len(),
                    Some(b'\\') => i += 2,
                    Some(b'"') => break i + 1,
                    Some(_) => i += 1,
                }
            }
        }
        b't' | b'f' | b'n' => rest.iter().take_while(|b| b.is_ascii_alphabetic()).count(),
        _ => rest
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
            .count(),
    };
    Some((start, (start + 1 + len).min(input.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens() {
        let text = br#"{"id":12,"ok":null,"t":"a\"b"}"#;
        let at = |from| token(text, from).map(|(s, e)| &text[s..e]);
        assert_eq!(at(0), Some(&br#""id""#[..]));
        assert_eq!(at(5), Some(&b"12"[..]));
        assert_eq!(at(13), Some(&b"null"[..]));
        assert_eq!(at(22), Some(&br#""a\"b""#[..]));
        assert_eq!(at(text.len()), None);
    }

    #[test]
    fn mutations_stay_bounded() {
        let mutator = Mutator::new();
        let mut rng = Rng::new(3);
        let others = vec![b"{\"type\":\"ping\",\"id\":1}".to_vec()];
        let mut input = others[0].clone();
        for _ in 0..20_000 {
            mutator.mutate(&mut rng, &mut input, &others, MAX_INPUT);
            assert!(input.len() <= MAX_INPUT);
            if rng.one_in(50) {
                input = others[0].clone();
            }
        }
    }
}
