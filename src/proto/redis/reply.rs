//! RESP replies (dyn_redis.c `redis_parse_rsp`): the resumable RESP2/RESP3
//! reply parser.
//!
//! Like the request parser ([`super::request`]), it is fed the bytes of one
//! reply chunk by chunk and records message offsets: the type of the
//! top-level value, its integer or count, and, when asked, the byte range of
//! each top-level element (what a multi-key merge needs). Payloads are
//! skipped, not scanned.
//!
//! Aggregates nest as deep as the datastore sends them (a script may return
//! a table nested thousands of levels deep): the parser iterates, never
//! recurses, and keeps the open aggregates as runs of identical frames, so
//! that the usual deep shapes (`*1 *1 *1 …`, or `*2 :1 *2 :2 …` once each
//! first element is read) cost one entry whatever their depth:
//!
//! ```text
//!   *2 :1 *2 :2 *2 :3 …      frames (left): 1 1 1 … 2   runs: (1 × d-1) (2 × 1)
//! ```

use memchr::memchr;

use super::request::{Num, MAX_BULK_LEN, REQ_MAX_ELEMS};
use crate::errors::{ERR_RSP_CRLF, ERR_RSP_INTEGER, ERR_RSP_LEN, ERR_RSP_LINE, ERR_RSP_TYPE};
use crate::proto::Parse;

/// Most elements a reply aggregate may claim. Replies such as `KEYS *` or
/// `LRANGE k 0 -1` legitimately exceed the request cap; the count never sizes
/// an allocation, so the bound is redis's own multibulk limit (`INT_MAX`).
pub const RSP_MAX_ELEMS: i64 = i32::MAX as i64;
/// Runs of open aggregates a parser keeps between replies; a deeper reply's
/// stack is given back to the allocator once it is parsed.
const RUNS_KEEP: usize = 64;
/// Longest simple-string/error/number line of a reply.
pub const RSP_MAX_LINE: u64 = MAX_BULK_LEN as u64;

const _: () = assert!(REQ_MAX_ELEMS <= RSP_MAX_ELEMS);

/// What the reply parser learned about one complete reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RspInfo {
    /// Type byte of the top-level value (after any attribute): `+ - : $ * % ~ _ , # ! = ( >`.
    pub ty: u8,
    /// Value of a `:` reply.
    pub integer: i64,
    /// Length of a bulk (`$ ! =`), element count of an aggregate (pairs for a
    /// map); -1 for the nulls `$-1`, `*-1` and `_`; 0 otherwise.
    pub count: i64,
    /// Set by the caller before parsing: record `elems`.
    pub record_elems: bool,
    /// Byte ranges `[start, end)` (message offsets) of each top-level element of
    /// an aggregate; a map's keys and values are separate elements. An
    /// attribute in front of an element belongs to that element's range.
    pub elems: Vec<(u64, u64)>,
}

/// `count` consecutive open aggregates of a reply in the same state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Values still to come in each (twice the pairs for maps and
    /// attributes).
    left: u64,
    /// Attributes: completing one does not complete a value of its parent.
    attr: bool,
    /// How many aggregates, one inside the other (at least 1).
    count: u64,
}

/// Reply parser states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RspState {
    /// Expecting a type byte.
    Type,
    /// Scanning a `+ - , ( # _` line for its CR.
    Line,
    /// Just after a CR inside such a line.
    LineCr,
    /// Digits of a length, count or integer after type `ty`.
    Num(u8, Num),
    /// Expecting the LF that ends a length/count/integer line.
    NumLf(u8, i64),
    /// Bulk payload bytes still to skip.
    Payload(u64),
    /// Expecting the CR (false) or LF (true) after a bulk payload.
    Trailer(bool),
}

/// Resumable RESP2/RESP3 reply parser.
#[derive(Debug)]
pub struct RspParser {
    state: RspState,
    /// Bytes of the current reply consumed so far.
    off: u64,
    /// Length of the current line so far.
    line_len: u64,
    /// Open aggregates as runs, outermost first.
    stack: Vec<Run>,
    /// Open aggregates (the sum of the runs' counts).
    depth: u64,
    /// Start of the top-level element being parsed, when recording.
    elem_start: Option<u64>,
}

impl Default for RspParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RspParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        RspParser {
            state: RspState::Type,
            off: 0,
            line_len: 0,
            stack: Vec::new(),
            depth: 0,
            elem_start: None,
        }
    }

    fn reset(&mut self) {
        self.state = RspState::Type;
        self.off = 0;
        self.line_len = 0;
        self.stack.clear();
        if self.stack.capacity() > RUNS_KEEP {
            self.stack = Vec::new();
        }
        self.depth = 0;
        self.elem_start = None;
    }

    /// Opens an aggregate expecting `left` values.
    fn push(&mut self, left: u64, attr: bool) {
        debug_assert!(left > 0);
        self.depth += 1;
        match self.stack.last_mut() {
            Some(top) if top.left == left && top.attr == attr => top.count += 1,
            _ => self.stack.push(Run {
                left,
                attr,
                count: 1,
            }),
        }
    }

    /// Closes the innermost aggregate.
    fn pop(&mut self) {
        let top = self.stack.last_mut().expect("an open aggregate");
        debug_assert!(self.depth > 0);
        self.depth -= 1;
        if top.count > 1 {
            top.count -= 1;
        } else {
            self.stack.pop();
        }
    }

    /// One value of the innermost aggregate is done and more are to come.
    fn took_one(&mut self) {
        let n = self.stack.len();
        let top = &mut self.stack[n - 1];
        debug_assert!(top.left > 1);
        let (left, attr) = (top.left - 1, top.attr);
        if top.count > 1 {
            top.count -= 1;
            self.stack.push(Run {
                left,
                attr,
                count: 1,
            });
            return;
        }
        top.left = left;
        if n >= 2 && self.stack[n - 2].left == left && self.stack[n - 2].attr == attr {
            self.stack[n - 2].count += 1;
            self.stack.pop();
        }
    }

    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` (and after
    /// `Error`) the parser is ready for the next reply.
    pub fn parse(&mut self, chunk: &[u8], info: &mut RspInfo) -> Parse {
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert!(self.stack.is_empty() && self.depth == 0);
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => {}
        }
        r
    }

    /// Whether a value starting now is a top-level element to record.
    fn at_top_elem(&self) -> bool {
        self.depth == 1 && !self.stack[0].attr
    }

    /// A value (or attribute) begins at message offset `at` with type `ty`.
    fn value_start(&mut self, at: u64, info: &mut RspInfo) {
        if info.record_elems && self.at_top_elem() && self.elem_start.is_none() {
            self.elem_start = Some(at);
        }
    }

    /// A value ended just before message offset `end`. Returns true when it
    /// completes the reply.
    fn value_done(&mut self, end: u64, info: &mut RspInfo) -> bool {
        loop {
            if info.record_elems && self.at_top_elem() {
                let start = self.elem_start.take();
                debug_assert!(start.is_some());
                if let Some(start) = start {
                    info.elems.push((start, end));
                }
            }
            let Some(top) = self.stack.last() else {
                return true;
            };
            debug_assert!(top.left > 0);
            if top.left > 1 {
                self.took_one();
                return false;
            }
            let attr = top.attr;
            self.pop();
            if attr {
                // The attribute is done; the value it describes follows.
                return false;
            }
        }
    }

    /// A header `ty n` ended just before message offset `end`. Returns
    /// `Ok(true)` when the reply is complete.
    fn header_done(
        &mut self,
        ty: u8,
        n: i64,
        end: u64,
        info: &mut RspInfo,
    ) -> Result<bool, &'static str> {
        let top = self.stack.is_empty();
        if top && ty != b'|' {
            info.ty = ty;
            info.count = n;
            if ty == b':' {
                info.integer = n;
                info.count = 0;
            }
        }
        match ty {
            b':' => Ok(self.value_done(end, info)),
            b'$' | b'!' | b'=' => {
                if n < 0 {
                    debug_assert!(n == -1);
                    return Ok(self.value_done(end, info));
                }
                self.state = RspState::Payload(n as u64);
                Ok(false)
            }
            _ => {
                if n <= 0 {
                    if ty == b'|' {
                        return Ok(false);
                    }
                    return Ok(self.value_done(end, info));
                }
                let pairs = ty == b'%' || ty == b'|';
                let left = if pairs { n as u64 * 2 } else { n as u64 };
                self.push(left, ty == b'|');
                Ok(false)
            }
        }
    }

    fn parse_inner(&mut self, chunk: &[u8], info: &mut RspInfo) -> Parse {
        let base = self.off;
        if base == 0 && self.state == RspState::Type && self.stack.is_empty() {
            info.ty = 0;
            info.integer = 0;
            info.count = 0;
            info.elems.clear();
        }
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let at = base + i as u64;
            match self.state {
                RspState::Type => {
                    self.value_start(at, info);
                    match b {
                        b'+' | b'-' | b',' | b'(' | b'#' | b'_' => {
                            if self.stack.is_empty() {
                                info.ty = b;
                                info.integer = 0;
                                info.count = if b == b'_' { -1 } else { 0 };
                            }
                            self.line_len = 0;
                            self.state = RspState::Line;
                        }
                        b':' | b'$' | b'!' | b'=' | b'*' | b'%' | b'~' | b'>' | b'|' => {
                            self.state = RspState::Num(b, Num::default());
                        }
                        _ => return Parse::Error(ERR_RSP_TYPE),
                    }
                }
                RspState::Line => {
                    let rest = &chunk[i..];
                    let Some(p) = memchr(b'\r', rest) else {
                        self.line_len += rest.len() as u64;
                        if self.line_len > RSP_MAX_LINE {
                            return Parse::Error(ERR_RSP_LINE);
                        }
                        break;
                    };
                    self.line_len += p as u64;
                    if self.line_len > RSP_MAX_LINE {
                        return Parse::Error(ERR_RSP_LINE);
                    }
                    i += p;
                    self.state = RspState::LineCr;
                }
                RspState::LineCr => {
                    if b == b'\n' {
                        if self.value_done(at + 1, info) {
                            return Parse::Done(i + 1);
                        }
                        self.state = RspState::Type;
                    } else {
                        // A lone CR is part of the line.
                        self.line_len += 1;
                        if b != b'\r' {
                            self.state = RspState::Line;
                        }
                    }
                }
                RspState::Num(ty, mut num) => {
                    if b == b'\r' {
                        let Some(n) = num.get() else {
                            return Parse::Error(if ty == b':' {
                                ERR_RSP_INTEGER
                            } else {
                                ERR_RSP_LEN
                            });
                        };
                        self.state = RspState::NumLf(ty, n);
                    } else {
                        let ok = match ty {
                            b':' => num.push(b, i64::MAX as u64),
                            b'$' | b'!' | b'=' => num.push(b, MAX_BULK_LEN as u64),
                            _ => num.push(b, RSP_MAX_ELEMS as u64),
                        };
                        // Only -1 (RESP2 null) may be negative.
                        let null_ok = (ty == b'$' || ty == b'*') && num.val <= 1;
                        if !ok || (ty != b':' && num.neg && !null_ok) {
                            return Parse::Error(if ty == b':' {
                                ERR_RSP_INTEGER
                            } else {
                                ERR_RSP_LEN
                            });
                        }
                        self.state = RspState::Num(ty, num);
                    }
                }
                RspState::NumLf(ty, n) => {
                    if b != b'\n' {
                        return Parse::Error(ERR_RSP_CRLF);
                    }
                    if ty != b':' && n < -1 {
                        return Parse::Error(ERR_RSP_LEN);
                    }
                    self.state = RspState::Type;
                    match self.header_done(ty, n, at + 1, info) {
                        Ok(true) => return Parse::Done(i + 1),
                        Ok(false) => {}
                        Err(e) => return Parse::Error(e),
                    }
                }
                RspState::Payload(left) => {
                    let take = left.min((chunk.len() - i) as u64);
                    i += take as usize;
                    self.state = if left == take {
                        RspState::Trailer(false)
                    } else {
                        RspState::Payload(left - take)
                    };
                    continue;
                }
                RspState::Trailer(lf) => {
                    if !lf {
                        if b != b'\r' {
                            return Parse::Error(ERR_RSP_CRLF);
                        }
                        self.state = RspState::Trailer(true);
                    } else {
                        if b != b'\n' {
                            return Parse::Error(ERR_RSP_CRLF);
                        }
                        if self.value_done(at + 1, info) {
                            return Parse::Done(i + 1);
                        }
                        self.state = RspState::Type;
                    }
                }
            }
            i += 1;
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::testing::{feed, feed_all, Run};

    fn rsp_run(input: &[u8]) -> Run<RspInfo> {
        let info = RspInfo {
            record_elems: true,
            ..RspInfo::default()
        };
        let run = feed_all(input, info, RspParser::parse);
        // Without recording, the same outcome and no elements.
        let mut p = RspParser::new();
        let bare = feed(input, &[], RspInfo::default(), |c, i| p.parse(c, i));
        assert_eq!(bare.err, run.err);
        assert_eq!(bare.msgs.len(), run.msgs.len());
        for ((e1, i1), (e2, i2)) in bare.msgs.iter().zip(&run.msgs) {
            assert_eq!(e1, e2);
            assert_eq!((i1.ty, i1.integer, i1.count), (i2.ty, i2.integer, i2.count));
            assert!(i1.elems.is_empty());
        }
        run
    }

    /// (end, ty, integer, count, elems) of one reply.
    type Got = (u64, u8, i64, i64, Vec<(u64, u64)>);

    #[test]
    fn rsp_ok() {
        // (input, (end, ty, integer, count, elems) per reply).
        type Want = (u64, u8, i64, i64, &'static [(u64, u64)]);
        let cases: &[(&[u8], &[Want])] = &[
            (b"+OK\r\n", &[(5, b'+', 0, 0, &[])]),
            (b"-ERR bad\r\n", &[(10, b'-', 0, 0, &[])]),
            (b"+a\rb\r\r\n", &[(7, b'+', 0, 0, &[])]),
            (b":42\r\n", &[(5, b':', 42, 0, &[])]),
            (b":-7\r\n", &[(5, b':', -7, 0, &[])]),
            (b"$3\r\nfoo\r\n", &[(9, b'$', 0, 3, &[])]),
            (b"$3\r\n\r\n\r\r\n", &[(9, b'$', 0, 3, &[])]),
            (b"$0\r\n\r\n", &[(6, b'$', 0, 0, &[])]),
            (b"$-1\r\n", &[(5, b'$', 0, -1, &[])]),
            (b"*-1\r\n", &[(5, b'*', 0, -1, &[])]),
            (b"*0\r\n", &[(4, b'*', 0, 0, &[])]),
            (
                b"*2\r\n$1\r\na\r\n:1\r\n",
                &[(15, b'*', 0, 2, &[(4, 11), (11, 15)])],
            ),
            (
                b"*2\r\n$1\r\n0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n",
                &[(29, b'*', 0, 2, &[(4, 11), (11, 29)])],
            ),
            (
                b"*3\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n*-1\r\n+x\r\n",
                &[(31, b'*', 0, 3, &[(4, 22), (22, 27), (27, 31)])],
            ),
            (
                b"*2\r\n*0\r\n_\r\n",
                &[(11, b'*', 0, 2, &[(4, 8), (8, 11)])],
            ),
            (
                b"%2\r\n+a\r\n:1\r\n+b\r\n%0\r\n",
                &[(20, b'%', 0, 2, &[(4, 8), (8, 12), (12, 16), (16, 20)])],
            ),
            (
                b"~2\r\n,1.5\r\n#t\r\n",
                &[(14, b'~', 0, 2, &[(4, 10), (10, 14)])],
            ),
            (b"_\r\n", &[(3, b'_', 0, -1, &[])]),
            (b",3.14\r\n", &[(7, b',', 0, 0, &[])]),
            (b",inf\r\n", &[(6, b',', 0, 0, &[])]),
            (b"#f\r\n", &[(4, b'#', 0, 0, &[])]),
            (b"!3\r\nerr\r\n", &[(9, b'!', 0, 3, &[])]),
            (b"=7\r\ntxt:abc\r\n", &[(13, b'=', 0, 7, &[])]),
            (
                b"(123456789012345678901234567890\r\n",
                &[(33, b'(', 0, 0, &[])],
            ),
            (
                b">2\r\n+message\r\n+x\r\n",
                &[(18, b'>', 0, 2, &[(4, 14), (14, 18)])],
            ),
            // An attribute precedes the value it describes.
            (b"|1\r\n+key\r\n+val\r\n:5\r\n", &[(20, b':', 5, 0, &[])]),
            (b"|0\r\n+OK\r\n", &[(9, b'+', 0, 0, &[])]),
            (
                b"|1\r\n+k\r\n*1\r\n:1\r\n*2\r\n:1\r\n:2\r\n",
                &[(28, b'*', 0, 2, &[(20, 24), (24, 28)])],
            ),
            (
                b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
                &[(24, b'*', 0, 2, &[(4, 20), (20, 24)])],
            ),
            (
                b"*1\r\n*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
                &[(28, b'*', 0, 1, &[(4, 28)])],
            ),
            // Pipelined replies.
            (
                b"+OK\r\n:1\r\n*1\r\n$1\r\nx\r\n",
                &[
                    (5, b'+', 0, 0, &[]),
                    (9, b':', 1, 0, &[]),
                    (20, b'*', 0, 1, &[(4, 11)]),
                ],
            ),
            // Incomplete.
            (b"*2\r\n:1\r\n", &[]),
            (b"$5\r\nab", &[]),
            (b"+OK\r", &[]),
            (b"|1\r\n+a\r\n+b\r\n", &[]),
        ];
        for (input, want) in cases {
            let run = rsp_run(input);
            assert_eq!(run.err, None, "{:?}", String::from_utf8_lossy(input));
            let got: Vec<Got> = run
                .msgs
                .iter()
                .map(|(e, i)| (*e, i.ty, i.integer, i.count, i.elems.clone()))
                .collect();
            let want: Vec<Got> = want
                .iter()
                .map(|w| (w.0, w.1, w.2, w.3, w.4.to_vec()))
                .collect();
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn rsp_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"?x\r\n", ERR_RSP_TYPE),
            (b"*1\r\n@\r\n", ERR_RSP_TYPE),
            (b"$-2\r\n", ERR_RSP_LEN),
            (b"*-2\r\n", ERR_RSP_LEN),
            (b"%-1\r\n", ERR_RSP_LEN),
            (b"$-0\r\n", ERR_RSP_LEN),
            (b"$\r\n", ERR_RSP_LEN),
            (b"$?\r\n", ERR_RSP_LEN),
            (b"*x\r\n", ERR_RSP_LEN),
            (b":\r\n", ERR_RSP_INTEGER),
            (b":1.5\r\n", ERR_RSP_INTEGER),
            (b":99999999999999999999\r\n", ERR_RSP_INTEGER),
            (b":1\rx", ERR_RSP_CRLF),
            (b"$3\r\nfooXX", ERR_RSP_CRLF),
            (b"$3\r\nfoo\rX", ERR_RSP_CRLF),
            // Huge claims fail before their line ends.
            (b"$1099511627776", ERR_RSP_LEN),
            (b"*2147483648", ERR_RSP_LEN),
            (b"%1099511627776", ERR_RSP_LEN),
        ];
        for (input, want) in cases {
            let run = rsp_run(input);
            assert_eq!(run.err, Some(*want), "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn rsp_nesting() {
        let deep = |n: usize| {
            let mut v = b"*1\r\n".repeat(n);
            v.extend_from_slice(b":1\r\n");
            v
        };
        for n in [1, 128, 129, 1000] {
            let ok = deep(n);
            let run = rsp_run(&ok);
            assert_eq!(run.err, None);
            assert_eq!(run.msgs.len(), 1);
            assert_eq!(run.msgs[0].0, ok.len() as u64);
            assert_eq!(run.msgs[0].1.elems, vec![(4, ok.len() as u64)]);
        }
        // Nested maps and sets mixed, then a second reply.
        let mixed = b"%1\r\n~1\r\n*2\r\n%1\r\n:1\r\n$-1\r\n>1\r\n_\r\n=3\r\nx:y\r\n+n\r\n";
        let run = rsp_run(mixed);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 2);
        assert_eq!(run.msgs[0].1.elems, vec![(4, 32), (32, 41)]);
        assert_eq!(run.msgs[1].1.ty, b'+');
    }

    /// What a script returning `{1, {2, {3, … {n}}}}` (or the RESP3 maps and
    /// sets, attributes in front) sends: the reply ends where it should, and
    /// the parser's stack stays one or two runs deep whatever `n` is.
    #[test]
    fn rsp_deep_shapes_keep_few_runs() {
        let nested = |n: usize, head: &[u8]| {
            let mut v = Vec::new();
            for i in 0..n {
                v.extend_from_slice(head);
                v.extend_from_slice(format!(":{i}\r\n").as_bytes());
            }
            v.extend_from_slice(b"+end\r\n");
            v
        };
        for (shape, head) in [
            ("array", &b"*2\r\n"[..]),
            ("set", b"~2\r\n"),
            ("map", b"%1\r\n"),
            ("attribute", b"*2\r\n|1\r\n+a\r\n+b\r\n"),
        ] {
            for n in [1, 2, 1000, 100_000] {
                let input = nested(n, head);
                let mut p = RspParser::new();
                let mut info = RspInfo::default();
                // One byte short: incomplete, with every level open.
                assert_eq!(p.parse(&input[..input.len() - 1], &mut info), Parse::Again);
                assert_eq!(p.depth, n as u64, "{shape} {n}");
                assert!(p.stack.len() <= 3, "{shape} {n}: {} runs", p.stack.len());
                assert_eq!(
                    p.parse(&input[input.len() - 1..], &mut info),
                    Parse::Done(1),
                    "{shape} {n}"
                );
                assert_eq!(p.depth, 0);
                assert!(p.stack.capacity() <= RUNS_KEEP);
                assert_eq!(info.ty, head[0]);
            }
        }
        // Aggregates of different sizes, one inside the other, then a
        // second reply.
        let mut input = Vec::new();
        for i in 1..=300u32 {
            input.extend_from_slice(format!("*{}\r\n", i % 7 + 1).as_bytes());
        }
        let mut close = Vec::new();
        for i in (1..=300u32).rev() {
            // The innermost is closed by its values; each outer one has
            // its first element (the inner aggregate) done and needs the rest.
            let n = i % 7 + 1;
            for _ in 0..n - 1 {
                close.extend_from_slice(b":1\r\n");
            }
        }
        input.extend_from_slice(b":1\r\n");
        input.extend_from_slice(&close);
        let end = input.len() as u64;
        input.extend_from_slice(b"+next\r\n");
        let run = rsp_run(&input);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 2);
        assert_eq!(run.msgs[0].0, end);
    }

    #[test]
    fn rsp_big_bulk() {
        let mut input = b"*2\r\n$200000\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 200_000));
        input.extend_from_slice(b"\r\n:7\r\n");
        let run = rsp_run(&input);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 1);
        let end = input.len() as u64;
        assert_eq!(run.msgs[0].1.elems, vec![(4, end - 4), (end - 4, end)]);
    }
}
