//! The driver shared by the fuzz targets (one target per parser).
//!
//! A target feeds one input, as a stream, to a resumable parser several
//! times: in one shot, cut in two, cut into chunks whose sizes come from the
//! input's first bytes, and (for short inputs) one byte at a time. Every
//! feeding must report the same messages, ending at the same stream offsets
//! with the same info, and the same error. Each message and each partial
//! state is checked by the target as it is reported:
//!
//! ```text
//!   input ──> cuts ──> chunk ──> parse ──> Done(n) ──> Target::done(message bytes)
//!                                  │                     └─> payload bytes to skip
//!                                  ├──> Again ──> Target::again(message so far)
//!                                  └──> Error ──> the stream ends
//! ```
//!
//! Positions are stream offsets here and message offsets in the parsers'
//! info; the message starts right after the previous message (and after the
//! payload the target asked to skip).

use std::fmt::Debug;

use dynomite::proto::Parse;

/// Inputs up to this length are also fed one byte at a time.
pub const BYTEWISE_MAX: usize = 1024;

/// One parser under test, with the checks on what it reports.
pub trait Target {
    /// What the parser learns about a message.
    type Info: Clone + Default + PartialEq + Debug;

    /// Feeds one chunk of the stream to the parser.
    fn parse(&mut self, chunk: &[u8], info: &mut Self::Info) -> Parse;

    /// A message is complete: `msg` holds all of its bytes (from the first
    /// byte fed after the previous message), `rest` the stream after it.
    /// Returns how many bytes of `rest` are a payload that the parser must
    /// not see (at most `rest.len()`).
    fn done(&mut self, msg: &[u8], rest: &[u8], info: &Self::Info) -> usize;

    /// The parser consumed every byte of `fed` (the message so far) and
    /// needs more.
    fn again(&mut self, fed: &[u8], info: &Self::Info);
}

/// Everything a parser reported over one stream.
#[derive(Debug, PartialEq)]
pub struct Run<I> {
    /// For each message: the stream offset just after it, and its info.
    pub msgs: Vec<(usize, I)>,
    /// The error that ended the stream, if any.
    pub err: Option<&'static str>,
    /// The info left after the last byte (a partial message, if any).
    pub tail: I,
}

/// Feeds `input` to a fresh target, cut at `cuts` (increasing stream offsets
/// inside the input).
pub fn feed<T: Target>(t: &mut T, input: &[u8], cuts: &[usize]) -> Run<T::Info> {
    let mut run = Run {
        msgs: Vec::new(),
        err: None,
        tail: T::Info::default(),
    };
    let mut info = T::Info::default();
    let mut bounds = Vec::with_capacity(cuts.len() + 2);
    bounds.push(0);
    bounds.extend_from_slice(cuts);
    bounds.push(input.len());
    // Stream offset of the current message's first byte.
    let mut msg_start = 0;
    for w in bounds.windows(2) {
        assert!(w[0] <= w[1]);
        let (mut pos, end) = (w[0], w[1]);
        // A payload skipped after the previous message may cover this chunk.
        pos = pos.max(msg_start);
        while pos < end {
            let chunk = &input[pos..end];
            match t.parse(chunk, &mut info) {
                Parse::Done(n) => {
                    assert!(n >= 1, "Done(0)");
                    assert!(
                        n <= chunk.len(),
                        "Done({n}) past a chunk of {}",
                        chunk.len()
                    );
                    let e = pos + n;
                    let skip = t.done(&input[msg_start..e], &input[e..], &info);
                    assert!(skip <= input.len() - e);
                    run.msgs.push((e, info.clone()));
                    msg_start = e + skip;
                    pos = msg_start;
                }
                Parse::Again => {
                    t.again(&input[msg_start..end], &info);
                    pos = end;
                }
                Parse::Error(text) => {
                    assert!(!text.is_empty());
                    assert!(
                        !text.contains(['\r', '\n']),
                        "error text with CR/LF: {text:?}"
                    );
                    run.err = Some(text);
                    run.tail = info;
                    return run;
                }
            }
        }
    }
    run.tail = info;
    run
}

/// Cut points for the input: two chunks at an offset read from the first
/// two bytes, and chunks of 1..=32 bytes whose sizes cycle through the first
/// eight bytes.
pub fn cut_sets(input: &[u8]) -> Vec<Vec<usize>> {
    let mut sets = Vec::new();
    if input.len() < 2 {
        return sets;
    }
    let v = usize::from(input[0]) << 8 | usize::from(input[1]);
    sets.push(vec![1 + v % (input.len() - 1)]);
    let seed = &input[..input.len().min(8)];
    let mut cuts = Vec::new();
    let mut at = 0;
    for k in 0.. {
        at += 1 + usize::from(seed[k % seed.len()] & 0x1f);
        if at >= input.len() {
            break;
        }
        cuts.push(at);
    }
    sets.push(cuts);
    if input.len() <= BYTEWISE_MAX {
        sets.push((1..input.len()).collect());
    }
    sets
}

/// Feeds `input` in one shot and at every cut set of [`cut_sets`], each time
/// to a target from `make`; asserts that all runs agree and returns the
/// one-shot run.
pub fn check<T: Target>(input: &[u8], make: impl Fn() -> T) -> Run<T::Info> {
    let oracle = feed(&mut make(), input, &[]);
    for cuts in cut_sets(input) {
        let run = feed(&mut make(), input, &cuts);
        assert_eq!(
            run,
            oracle,
            "chunked feed ({} cuts, first {:?}) disagrees with one shot",
            cuts.len(),
            &cuts[..cuts.len().min(8)]
        );
    }
    oracle
}

/// Asserts that a list grown while parsing stays proportional to the stream:
/// `len` entries (at most one per byte fed) and a capacity that doubling
/// from a small reserve explains.
pub fn assert_bounded(what: &str, len: usize, cap: usize, fed: usize, stream: usize) {
    assert!(len <= fed, "{what}: {len} entries for {fed} bytes");
    assert!(
        cap <= 2 * stream + 32,
        "{what}: capacity {cap} for a stream of {stream} bytes"
    );
}

/// The bytes `[off, off + len)` of `msg`, asserting they lie inside it.
pub fn span(msg: &[u8], off: u64, len: u64) -> &[u8] {
    let end = off.checked_add(len).expect("offset overflow");
    assert!(
        end <= msg.len() as u64,
        "range {off}+{len} past the {} bytes fed",
        msg.len()
    );
    &msg[off as usize..end as usize]
}
