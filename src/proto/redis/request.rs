//! RESP requests (dyn_redis.c `redis_parse_req`): the resumable request
//! parser, the position of each argument, and inline-command arguments.
//!
//! The parser is fed the bytes of one message chunk by chunk (each chunk is
//! the unread part of one mbuf) and keeps its own running offset inside the
//! message, so positions are message offsets whatever the chunking:
//!
//! ```text
//!   chunk ──> ReqParser::parse ──> Again ──> next chunk ...
//!                      │
//!                      ├──> Done(n): message = previous chunks + chunk[..n];
//!                      │             ReqInfo.args holds (offset, length) of
//!                      │             every argument; the parser is reset
//!                      └──> Error(text): the stream cannot be framed; text is
//!                                    the redis reply (after the `-`)
//! ```
//!
//! Requests follow redis `networking.c` (`processMultibulkBuffer`,
//! `processInlineBuffer`): the same inputs are accepted and the same inputs are
//! rejected with the same words. Lengths are capped before anything is
//! allocated for them, and bulk payloads are skipped, not scanned.

use std::borrow::Cow;

use memchr::memchr;

use crate::errors::{
    expected_dollar, ERR_BULK_LEN, ERR_INLINE_TOO_BIG, ERR_MULTIBULK_LEN, ERR_UNBALANCED_QUOTES,
};
use crate::proto::Parse;

/// Most elements a request array may claim (`*<n>`).
pub const REQ_MAX_ELEMS: i64 = 1 << 20;
/// Most bytes a bulk string may claim (redis `proto-max-bulk-len` default).
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Longest inline command line (redis `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;

/// Arguments reserved up front, whatever a request claims.
pub const ARGS_PREALLOC: usize = 16;

const _: () = assert!(MAX_BULK_LEN <= u32::MAX as i64);
const _: () = assert!(MAX_INLINE_LEN <= u32::MAX as usize);

/// Decimal number read one byte at a time with redis `string2ll` rules: an
/// optional `-`, no `+`, no leading zeros, "-0" and "" invalid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Num {
    pub(super) neg: bool,
    /// Digits seen so far.
    digits: u8,
    /// The first digit was `0` (nothing may follow it).
    zero: bool,
    pub(super) val: u64,
}

impl Num {
    /// Adds one byte; `max` caps the absolute value. Returns false if the byte
    /// cannot continue a valid number no greater than `max`.
    pub(super) fn push(&mut self, b: u8, max: u64) -> bool {
        debug_assert!(max <= i64::MAX as u64);
        if b == b'-' && !self.neg && self.digits == 0 {
            self.neg = true;
            return true;
        }
        if !b.is_ascii_digit() || self.zero {
            return false;
        }
        if b == b'0' && self.digits == 0 {
            if self.neg {
                return false;
            }
            self.zero = true;
        }
        let v = self.val.checked_mul(10).map(|v| v + u64::from(b - b'0'));
        let Some(v) = v.filter(|&v| v <= max) else {
            return false;
        };
        self.val = v;
        self.digits += 1;
        true
    }

    /// The value once the number has ended, if it is a number at all.
    pub(super) fn get(&self) -> Option<i64> {
        if self.digits == 0 {
            return None;
        }
        let v = self.val as i64;
        Some(if self.neg { -v } else { v })
    }
}

/// Position of one request argument inside its message: `off` is the byte
/// offset from the start of the message, `len` the argument's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// Offset of the argument's first byte from the message's first byte.
    pub off: u64,
    /// Length in bytes (at most [`MAX_BULK_LEN`]).
    pub len: u32,
}

/// What the request parser learned about one complete request.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReqInfo {
    /// The request came as an inline command, not as a RESP array.
    pub inline: bool,
    /// Every argument, the command name first. For inline requests an argument
    /// is the raw token, quotes and escapes included; see [`inline_arg`].
    pub args: Vec<Arg>,
}

/// Where the inline tokenizer is inside a line (redis `sdssplitargs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Inline {
    /// Between tokens.
    Space,
    /// In an unquoted token.
    Word,
    /// Inside `"..."`.
    Dq,
    /// Just after a `\` inside `"..."`.
    DqEsc,
    /// Inside `'...'`.
    Sq,
    /// Just after a `\` inside `'...'`.
    SqEsc,
    /// Just after a closing quote: whitespace or the line end must follow.
    Closed,
}

/// Request parser states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqState {
    /// First byte of a request (or of a skipped empty line/array).
    Start,
    /// Digits of `*<n>`.
    Count(Num),
    /// The byte after the CR of `*<n>` (skipped unchecked, as redis does).
    CountLf(i64),
    /// Expecting the `$` of the next element.
    Dollar,
    /// Digits of `$<len>`.
    BulkLen(Num),
    /// The byte after the CR of `$<len>`.
    BulkLenLf(u32),
    /// Payload plus its two trailer bytes still to skip (the trailer is not
    /// checked, as redis does not check it).
    Bulk(u64),
    /// Inside an inline line.
    Inline(Inline),
}

/// Resumable RESP request parser (arrays of bulk strings, and inline commands).
#[derive(Debug)]
pub struct ReqParser {
    state: ReqState,
    /// Bytes of the current message consumed so far (skipped prefix included).
    off: u64,
    /// Elements of the array still to come.
    elems_left: u32,
    /// Inline: offset of the current token's first byte.
    tok_start: u64,
    /// Inline: offset of the current line's first byte.
    line_start: u64,
}

impl Default for ReqParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ReqParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        ReqParser {
            state: ReqState::Start,
            off: 0,
            elems_left: 0,
            tok_start: 0,
            line_start: 0,
        }
    }

    fn reset(&mut self) {
        *self = Self::new();
    }

    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` the parser
    /// is ready for the next message. After `Error` the stream is unusable; the
    /// parser is reset all the same.
    pub fn parse(&mut self, chunk: &[u8], info: &mut ReqInfo) -> Parse {
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert!(!info.args.is_empty());
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => {}
        }
        r
    }

    fn parse_inner(&mut self, chunk: &[u8], info: &mut ReqInfo) -> Parse {
        let base = self.off;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let at = base + i as u64;
            match self.state {
                ReqState::Start => {
                    info.args.clear();
                    if b == b'*' {
                        info.inline = false;
                        self.state = ReqState::Count(Num::default());
                    } else {
                        info.inline = true;
                        self.line_start = at;
                        self.state = ReqState::Inline(Inline::Space);
                        continue; // the byte belongs to the line
                    }
                }
                ReqState::Count(mut num) => {
                    if b == b'\r' {
                        let Some(n) = num.get() else {
                            return Parse::Error(ERR_MULTIBULK_LEN);
                        };
                        self.state = ReqState::CountLf(n);
                    } else if num.push(b, REQ_MAX_ELEMS as u64) {
                        self.state = ReqState::Count(num);
                    } else if num.neg && b.is_ascii_digit() && !num.zero {
                        // A negative count is ignored whatever its size, but
                        // must still be a valid i64.
                        if num.push(b, i64::MAX as u64) {
                            self.state = ReqState::Count(num);
                        } else {
                            return Parse::Error(ERR_MULTIBULK_LEN);
                        }
                    } else {
                        return Parse::Error(ERR_MULTIBULK_LEN);
                    }
                }
                ReqState::CountLf(n) => {
                    if n <= 0 {
                        // redis ignores `*0` and `*-1`: not a message.
                        self.state = ReqState::Start;
                    } else {
                        debug_assert!(n <= REQ_MAX_ELEMS);
                        self.elems_left = n as u32;
                        info.args.reserve((n as usize).min(ARGS_PREALLOC));
                        self.state = ReqState::Dollar;
                    }
                }
                ReqState::Dollar => {
                    if b != b'$' {
                        return Parse::Error(expected_dollar(b));
                    }
                    self.state = ReqState::BulkLen(Num::default());
                }
                ReqState::BulkLen(mut num) => {
                    if b == b'\r' {
                        let Some(n) = num.get() else {
                            return Parse::Error(ERR_BULK_LEN);
                        };
                        debug_assert!((0..=MAX_BULK_LEN).contains(&n));
                        self.state = ReqState::BulkLenLf(n as u32);
                    } else if b != b'-' && num.push(b, MAX_BULK_LEN as u64) {
                        self.state = ReqState::BulkLen(num);
                    } else {
                        return Parse::Error(ERR_BULK_LEN);
                    }
                }
                ReqState::BulkLenLf(len) => {
                    info.args.push(Arg { off: at + 1, len });
                    self.state = ReqState::Bulk(u64::from(len) + 2);
                }
                ReqState::Bulk(left) => {
                    debug_assert!(left > 0);
                    let take = left.min((chunk.len() - i) as u64);
                    i += take as usize;
                    let left = left - take;
                    if left > 0 {
                        self.state = ReqState::Bulk(left);
                        continue;
                    }
                    self.elems_left -= 1;
                    if self.elems_left == 0 {
                        return Parse::Done(i);
                    }
                    self.state = ReqState::Dollar;
                    continue;
                }
                ReqState::Inline(st) => {
                    if b == b'\n' {
                        match st {
                            Inline::Dq | Inline::DqEsc | Inline::Sq | Inline::SqEsc => {
                                return Parse::Error(ERR_UNBALANCED_QUOTES);
                            }
                            Inline::Word => self.push_token(at, info),
                            Inline::Space | Inline::Closed => {}
                        }
                        if info.args.is_empty() {
                            // An empty line is skipped, not a message.
                            self.state = ReqState::Start;
                        } else {
                            return Parse::Done(i + 1);
                        }
                    } else {
                        // At most MAX_INLINE_LEN bytes before the "\r\n".
                        let len = at - self.line_start;
                        let cap = MAX_INLINE_LEN as u64;
                        if len > cap || (len == cap && b != b'\r') {
                            return Parse::Error(ERR_INLINE_TOO_BIG);
                        }
                        match self.inline_byte(st, b, at, info) {
                            Some(next) => self.state = ReqState::Inline(next),
                            None => return Parse::Error(ERR_UNBALANCED_QUOTES),
                        }
                    }
                }
            }
            i += 1;
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }

    fn push_token(&mut self, end: u64, info: &mut ReqInfo) {
        debug_assert!(end > self.tok_start);
        let len = end - self.tok_start;
        debug_assert!(len <= MAX_INLINE_LEN as u64);
        info.args.push(Arg {
            off: self.tok_start,
            len: len as u32,
        });
    }

    /// One byte of an inline line other than its `\n`; None on bad quoting.
    fn inline_byte(&mut self, st: Inline, b: u8, at: u64, info: &mut ReqInfo) -> Option<Inline> {
        Some(match st {
            Inline::Space => {
                if is_space(b) || b == 0 {
                    Inline::Space
                } else {
                    self.tok_start = at;
                    match b {
                        b'"' => Inline::Dq,
                        b'\'' => Inline::Sq,
                        _ => Inline::Word,
                    }
                }
            }
            Inline::Word => match b {
                b' ' | b'\r' | b'\t' | 0 => {
                    self.push_token(at, info);
                    Inline::Space
                }
                b'"' => Inline::Dq,
                b'\'' => Inline::Sq,
                _ => Inline::Word,
            },
            Inline::Dq => match b {
                b'\\' => Inline::DqEsc,
                b'"' => {
                    self.push_token(at + 1, info);
                    Inline::Closed
                }
                _ => Inline::Dq,
            },
            Inline::DqEsc => Inline::Dq,
            Inline::Sq => match b {
                b'\\' => Inline::SqEsc,
                b'\'' => {
                    self.push_token(at + 1, info);
                    Inline::Closed
                }
                _ => Inline::Sq,
            },
            Inline::SqEsc => Inline::Sq,
            Inline::Closed => {
                if !is_space(b) {
                    return None;
                }
                Inline::Space
            }
        })
    }
}

/// C `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The value of one inline argument, given the raw token the parser recorded:
/// quotes removed and escapes decoded as redis `sdssplitargs` does. Tokens
/// without quotes are returned as they are.
pub fn inline_arg(raw: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'"', raw).is_none() && memchr(b'\'', raw).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    let mut quote = 0u8;
    while i < raw.len() {
        let c = raw[i];
        match quote {
            b'"' => {
                if c == b'\\' && i + 3 < raw.len() && raw[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(raw[i + 2]), hex_val(raw[i + 3])) {
                        out.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < raw.len() {
                    out.push(match raw[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    quote = 0;
                } else {
                    out.push(c);
                }
            }
            b'\'' => {
                if c == b'\\' && i + 1 < raw.len() && raw[i + 1] == b'\'' {
                    out.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    quote = 0;
                } else {
                    out.push(c);
                }
            }
            _ => {
                if c == b'"' || c == b'\'' {
                    quote = c;
                } else {
                    out.push(c);
                }
            }
        }
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::testing::{feed_all, Run};

    fn req_run(input: &[u8]) -> Run<ReqInfo> {
        feed_all(input, ReqInfo::default(), ReqParser::parse)
    }

    /// The arguments of each message as bytes.
    fn req_args(input: &[u8], run: &Run<ReqInfo>) -> Vec<Vec<Vec<u8>>> {
        run.each_msg(|start, end, info| {
            info.args
                .iter()
                .map(|a| {
                    let s = (start + a.off) as usize;
                    assert!(s + a.len as usize <= end as usize);
                    input[s..s + a.len as usize].to_vec()
                })
                .collect()
        })
    }

    #[test]
    fn req_ok() {
        // (input, messages as (end, inline, args)).
        type Case = (
            &'static [u8],
            &'static [(u64, bool, &'static [&'static [u8]])],
        );
        let cases: &[Case] = &[
            (b"*1\r\n$4\r\nPING\r\n", &[(14, false, &[b"PING"])]),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
                &[(26, false, &[b"SET", b"k", b""])],
            ),
            (
                b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
                &[
                    (20, false, &[b"GET", b"a"]),
                    (34, false, &[b"PING"]),
                    (40, true, &[b"PING"]),
                ],
            ),
            (b"PING\r\n", &[(6, true, &[b"PING"])]),
            (b"PING\n", &[(5, true, &[b"PING"])]),
            (b"  set \t a  b\r\n", &[(14, true, &[b"set", b"a", b"b"])]),
            (b"\r\n\n  \r\nPING\r\n", &[(13, true, &[b"PING"])]),
            (
                b"ECHO \"a b\" 'c\\'d' a\"b c\"\r\n",
                &[(26, true, &[b"ECHO", b"\"a b\"", b"'c\\'d'", b"a\"b c\""])],
            ),
            (
                b"ECHO \"a\\\"b\"\n",
                &[(12, true, &[b"ECHO", b"\"a\\\"b\""])],
            ),
            (b"ECHO \"x\"\r\r\n", &[(11, true, &[b"ECHO", b"\"x\""])]),
            // redis ignores empty and null arrays: they prefix the next message.
            (b"*0\r\n*1\r\n$4\r\nPING\r\n", &[(18, false, &[b"PING"])]),
            (b"*-1\r\n*-5\r\nPING\r\n", &[(16, true, &[b"PING"])]),
            (
                b"*-9223372036854775807\r\nPING\r\n",
                &[(29, true, &[b"PING"])],
            ),
            // The byte after a CR and the two after a payload are not checked.
            (b"*1\rx$4\r\nPINGxx", &[(14, false, &[b"PING"])]),
            // Incomplete: nothing yet.
            (b"*2\r\n$3\r\nGET\r\n", &[]),
            (b"*1048576\r\n$1\r\n", &[]),
            (b"*1\r\n$536870912\r\nabc", &[]),
            (b"GET a", &[]),
            (b"\r\n\r\n", &[]),
        ];
        for (input, want) in cases {
            let run = req_run(input);
            assert_eq!(run.err, None, "{:?}", String::from_utf8_lossy(input));
            let args = req_args(input, &run);
            assert_eq!(
                run.msgs.len(),
                want.len(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            for (i, (end, inline, wargs)) in want.iter().enumerate() {
                assert_eq!(run.msgs[i].0, *end);
                assert_eq!(run.msgs[i].1.inline, *inline);
                let wargs: Vec<Vec<u8>> = wargs.iter().map(|a| a.to_vec()).collect();
                assert_eq!(args[i], wargs, "{:?}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn req_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"*abc\r\n", ERR_MULTIBULK_LEN),
            (b"*\r\n", ERR_MULTIBULK_LEN),
            (b"*01\r\n", ERR_MULTIBULK_LEN),
            (b"*+1\r\n", ERR_MULTIBULK_LEN),
            (b"*-0\r\n", ERR_MULTIBULK_LEN),
            (b"*1 \r\n", ERR_MULTIBULK_LEN),
            (b"*-99999999999999999999\r\n", ERR_MULTIBULK_LEN),
            (b"*1\n$4\r\nPING\r\n", ERR_MULTIBULK_LEN),
            // Too many elements fails at the digit that overflows the cap.
            (b"*1048577", ERR_MULTIBULK_LEN),
            (b"*99999999999999999999999", ERR_MULTIBULK_LEN),
            (b"*1\r\nx", "ERR Protocol error: expected '$', got 'x'"),
            (b"*1\r\n\r\n", "ERR Protocol error: expected '$', got ' '"),
            (b"*1\r\n\x80", "ERR Protocol error: expected '$', got '?'"),
            (
                b"*2\r\n$1\r\na\r\n:1\r\n",
                "ERR Protocol error: expected '$', got ':'",
            ),
            (b"*1\r\n$x\r\n", ERR_BULK_LEN),
            (b"*1\r\n$\r\n", ERR_BULK_LEN),
            (b"*1\r\n$-1\r\n", ERR_BULK_LEN),
            (b"*1\r\n$04\r\nPING\r\n", ERR_BULK_LEN),
            (b"*1\r\n$+4\r\nPING\r\n", ERR_BULK_LEN),
            (b"*1\r\n$536870913\r\n", ERR_BULK_LEN),
            // A bulk claiming 2^40 bytes fails before its line ends.
            (b"*1\r\n$1099511627776", ERR_BULK_LEN),
            (b"ECHO \"ab\r\n", ERR_UNBALANCED_QUOTES),
            (b"ECHO \"ab\"c\r\n", ERR_UNBALANCED_QUOTES),
            (b"ECHO 'a'b\r\n", ERR_UNBALANCED_QUOTES),
            (b"ECHO \"a\\\"\n", ERR_UNBALANCED_QUOTES),
            (b"ECHO 'a\n", ERR_UNBALANCED_QUOTES),
            // Earlier pipelined messages still count.
            (b"PING\r\n*x", ERR_MULTIBULK_LEN),
        ];
        for (input, want) in cases {
            let run = req_run(input);
            assert_eq!(run.err, Some(*want), "{:?}", String::from_utf8_lossy(input));
        }
        assert_eq!(req_run(b"PING\r\n*x").msgs.len(), 1);
    }

    #[test]
    fn req_inline_limit() {
        let mut line = vec![b'a'; MAX_INLINE_LEN];
        line.extend_from_slice(b"\r\n");
        let run = req_run(&line);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 1);
        let mut long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(req_run(&long).err, Some(ERR_INLINE_TOO_BIG));
        long.push(b'\n');
        assert_eq!(req_run(&long).err, Some(ERR_INLINE_TOO_BIG));
    }

    #[test]
    fn req_big_bulk_and_state_reset() {
        let mut input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n".to_vec();
        let payload_off = input.len() as u64;
        input.extend(std::iter::repeat_n(b'v', 100_000));
        input.extend_from_slice(b"\r\n*1\r\n$4\r\nPING\r\n");
        let run = req_run(&input);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 2);
        let args = &run.msgs[0].1.args;
        assert_eq!(
            args[2],
            Arg {
                off: payload_off,
                len: 100_000
            }
        );
        assert_eq!(run.msgs[1].1.args, vec![Arg { off: 8, len: 4 }]);
        // A claimed huge array reserves only a small bound.
        let mut p = ReqParser::new();
        let mut info = ReqInfo::default();
        assert_eq!(p.parse(b"*1048576\r\n$1\r\na\r\n", &mut info), Parse::Again);
        assert!(info.args.capacity() <= 64);
    }

    #[test]
    fn inline_arg_decoding() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain", b"plain"),
            (b"\"a b\"", b"a b"),
            (b"\"a\\x41b\"", b"aAb"),
            (b"\"\\n\\r\\t\\b\\a\\q\"", b"\n\r\t\x08\x07q"),
            (b"\"\\x4g\"", b"x4g"),
            (b"'c\\'d'", b"c'd"),
            (b"'c\\nd'", b"c\\nd"),
            (b"a\"b c\"", b"ab c"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                &*inline_arg(raw),
                *want,
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }
}
