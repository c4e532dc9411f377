//! Test harness shared by the parsers' unit tests: feed an input whole,
//! split in two at every position, and one byte at a time; every way must
//! report the same messages.

use super::Parse;

/// Everything a parser reported over one stream: for each message, where it
/// ended (stream offset) and what was learned; then the error, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Run<I> {
    pub msgs: Vec<(u64, I)>,
    pub err: Option<&'static str>,
}

impl<I> Run<I> {
    /// `f(start, end, info)` for each message, in order, with the stream
    /// offsets where the message starts and ends.
    pub fn each_msg<T>(&self, mut f: impl FnMut(u64, u64, &I) -> T) -> Vec<T> {
        let mut start = 0;
        let mut out = Vec::with_capacity(self.msgs.len());
        for (end, info) in &self.msgs {
            out.push(f(start, *end, info));
            start = *end;
        }
        out
    }
}

/// Feeds `input` cut at `cuts` (increasing offsets) through `parse`.
pub fn feed<I: Clone>(
    input: &[u8],
    cuts: &[usize],
    info: I,
    mut parse: impl FnMut(&[u8], &mut I) -> Parse,
) -> Run<I> {
    let mut run = Run {
        msgs: Vec::new(),
        err: None,
    };
    let mut info = info;
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(input.len());
    for w in bounds.windows(2) {
        let chunk = &input[w[0]..w[1]];
        let mut pos = 0;
        while pos < chunk.len() {
            match parse(&chunk[pos..], &mut info) {
                Parse::Done(n) => {
                    assert!(n >= 1 && pos + n <= chunk.len());
                    pos += n;
                    run.msgs.push(((w[0] + pos) as u64, info.clone()));
                }
                Parse::Again => break,
                Parse::Error(e) => {
                    run.err = Some(e);
                    return run;
                }
            }
        }
    }
    run
}

/// Feeds `input` one-shot, split in two at every position (at a few hundred
/// places for long inputs), and one byte at a time; all runs must agree.
/// Returns the one-shot run.
pub fn feed_all<I: Clone + PartialEq + std::fmt::Debug, P: Default>(
    input: &[u8],
    info: I,
    parse: fn(&mut P, &[u8], &mut I) -> Parse,
) -> Run<I> {
    let mut p = P::default();
    let oracle = feed(input, &[], info.clone(), |c, i| parse(&mut p, c, i));
    let step = match input.len() {
        0..=1024 => 1,
        1025..=65536 => input.len() / 256,
        _ => input.len() / 16,
    };
    let shown = || String::from_utf8_lossy(&input[..input.len().min(200)]).into_owned();
    for cut in (1..input.len()).step_by(step) {
        let mut p = P::default();
        let run = feed(input, &[cut], info.clone(), |c, i| parse(&mut p, c, i));
        assert!(run == oracle, "split at {cut}: {:?}", shown());
    }
    let bytes: Vec<usize> = (1..input.len()).collect();
    let mut p = P::default();
    let run = feed(input, &bytes, info, |c, i| parse(&mut p, c, i));
    assert!(run == oracle, "bytewise: {:?}", shown());
    oracle
}

/// Bytes as printable text (`\r`, `\xc3`), for assertion messages.
pub fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// `<K250>` and `<K251>` in a test input stand for keys of that length.
pub fn expand(input: &[u8]) -> Vec<u8> {
    let s = String::from_utf8_lossy(input)
        .replace("<K250>", &"k".repeat(250))
        .replace("<K251>", &"k".repeat(251));
    // from_utf8_lossy would spoil non-UTF-8 inputs: only rewrite if needed.
    if s.len() == input.len() && s.as_bytes() == input {
        input.to_vec()
    } else {
        s.into_bytes()
    }
}
