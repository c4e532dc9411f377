//! RESP requests and replies (dyn_redis.c): the resumable request parser, the
//! RESP2/RESP3 reply parser and the command table.
//!
//! Both parsers are fed the bytes of one message chunk by chunk (each chunk is
//! the unread part of one mbuf) and keep their own running offset inside the
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
//!
//! The command table follows redis 7 (`COMMAND` output: arity and legacy key
//! positions), with the proxy's routing class added to each entry.

use std::borrow::Cow;

use memchr::memchr;

use super::Parse;

/// Most elements a request array may claim (`*<n>`).
pub const REQ_MAX_ELEMS: i64 = 1 << 20;
/// Most bytes a bulk string may claim (redis `proto-max-bulk-len` default).
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Longest inline command line (redis `PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Most elements a reply aggregate may claim. Replies such as `KEYS *` or
/// `LRANGE k 0 -1` legitimately exceed the request cap; the count never sizes
/// an allocation, so the bound is redis's own multibulk limit (`INT_MAX`).
pub const RSP_MAX_ELEMS: i64 = i32::MAX as i64;
/// Deepest nesting of reply aggregates (attributes count as a level).
pub const RSP_MAX_DEPTH: usize = 128;
/// Longest simple-string/error/number line of a reply.
pub const RSP_MAX_LINE: u64 = MAX_BULK_LEN as u64;

/// Arguments reserved up front, whatever a request claims.
const ARGS_PREALLOC: usize = 16;

const _: () = assert!(REQ_MAX_ELEMS <= RSP_MAX_ELEMS);
const _: () = assert!(MAX_BULK_LEN <= u32::MAX as i64);
const _: () = assert!(MAX_INLINE_LEN <= u32::MAX as usize);

/// `*<n>` is not a number, has leading zeros or exceeds [`REQ_MAX_ELEMS`].
pub const ERR_MULTIBULK_LEN: &str = "ERR Protocol error: invalid multibulk length";
/// `$<len>` is not a number, is negative or exceeds [`MAX_BULK_LEN`].
pub const ERR_BULK_LEN: &str = "ERR Protocol error: invalid bulk length";
/// An inline line longer than [`MAX_INLINE_LEN`].
pub const ERR_INLINE_TOO_BIG: &str = "ERR Protocol error: too big inline request";
/// An inline line with an open quote, or a closing quote not followed by a space.
pub const ERR_UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";
/// A reply value starting with an unknown type byte (streamed strings included).
pub const ERR_RSP_TYPE: &str = "ERR Protocol error: unknown reply type";
/// A reply length or count that is not a number, negative (other than a
/// RESP2 null) or over its cap.
pub const ERR_RSP_LEN: &str = "ERR Protocol error: invalid reply length";
/// A `:` reply that is not an i64.
pub const ERR_RSP_INTEGER: &str = "ERR Protocol error: invalid reply integer";
/// A reply header or bulk payload not followed by CRLF.
pub const ERR_RSP_CRLF: &str = "ERR Protocol error: reply line not ended by CRLF";
/// Reply aggregates nested deeper than [`RSP_MAX_DEPTH`].
pub const ERR_RSP_DEPTH: &str = "ERR Protocol error: reply nested too deep";
/// A reply line longer than [`RSP_MAX_LINE`].
pub const ERR_RSP_LINE: &str = "ERR Protocol error: reply line too long";

macro_rules! expected_dollar {
    ($($c:literal)*) => {
        [$(concat!("ERR Protocol error: expected '$', got '", $c, "'")),*]
    };
}

/// redis: `expected '$', got '%c'`, one text per printable byte.
static EXPECTED_DOLLAR: [&str; 95] = expected_dollar!(
    ' ' '!' '"' '#' '$' '%' '&' '\'' '(' ')' '*' '+' ',' '-' '.' '/' '0' '1' '2' '3' '4' '5'
    '6' '7' '8' '9' ':' ';' '<' '=' '>' '?' '@' 'A' 'B' 'C' 'D' 'E' 'F' 'G' 'H' 'I' 'J' 'K'
    'L' 'M' 'N' 'O' 'P' 'Q' 'R' 'S' 'T' 'U' 'V' 'W' 'X' 'Y' 'Z' '[' '\\' ']' '^' '_' '`' 'a'
    'b' 'c' 'd' 'e' 'f' 'g' 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' 'p' 'q' 'r' 's' 't' 'u' 'v' 'w'
    'x' 'y' 'z' '{' '|' '}' '~'
);

/// The error for a request element that does not start with `$`. redis prints
/// the byte itself and turns CR/LF into spaces; bytes that are not printable
/// ASCII are shown as `?` here.
fn expected_dollar(b: u8) -> &'static str {
    match b {
        b'\r' | b'\n' => EXPECTED_DOLLAR[0],
        0x20..=0x7e => EXPECTED_DOLLAR[usize::from(b - 0x20)],
        _ => "ERR Protocol error: expected '$', got '?'",
    }
}

/// Decimal number read one byte at a time with redis `string2ll` rules: an
/// optional `-`, no `+`, no leading zeros, "-0" and "" invalid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Num {
    neg: bool,
    /// Digits seen so far.
    digits: u8,
    /// The first digit was `0` (nothing may follow it).
    zero: bool,
    val: u64,
}

impl Num {
    /// Adds one byte; `max` caps the absolute value. Returns false if the byte
    /// cannot continue a valid number no greater than `max`.
    fn push(&mut self, b: u8, max: u64) -> bool {
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
    fn get(&self) -> Option<i64> {
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

/// One open aggregate of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    /// Values still to come (twice the pairs for maps and attributes).
    left: u64,
    /// An attribute: completing it does not complete a value of its parent.
    attr: bool,
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
    /// Open aggregates, outermost first.
    stack: Vec<Frame>,
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
            elem_start: None,
        }
    }

    fn reset(&mut self) {
        self.state = RspState::Type;
        self.off = 0;
        self.line_len = 0;
        self.stack.clear();
        self.elem_start = None;
    }

    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` (and after
    /// `Error`) the parser is ready for the next reply.
    pub fn parse(&mut self, chunk: &[u8], info: &mut RspInfo) -> Parse {
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert!(self.stack.is_empty());
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => {}
        }
        r
    }

    /// Whether a value starting now is a top-level element to record.
    fn at_top_elem(&self) -> bool {
        self.stack.len() == 1 && !self.stack[0].attr
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
            let Some(top) = self.stack.last_mut() else {
                return true;
            };
            debug_assert!(top.left > 0);
            top.left -= 1;
            if top.left > 0 {
                return false;
            }
            let attr = top.attr;
            self.stack.pop();
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
                if self.stack.len() >= RSP_MAX_DEPTH {
                    return Err(ERR_RSP_DEPTH);
                }
                let pairs = ty == b'%' || ty == b'|';
                let left = if pairs { n as u64 * 2 } else { n as u64 };
                self.stack.push(Frame {
                    left,
                    attr: ty == b'|',
                });
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

// ---------------------------------------------------------------------------
// Command table
// ---------------------------------------------------------------------------

/// Where a command is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// By the token of its first key (other keys are not checked for
    /// co-location; use hash tags).
    Key,
    /// The first key's owner in the local rack only, no quorum (cursor and
    /// whole-collection reads: HGETALL HKEYS HVALS HSCAN SSCAN ZSCAN).
    LocalRackOwner,
    /// Keyless: this node's datastore, consistency DC_ONE, never replicated.
    Local,
    /// Sent to every node; the client gets this node's datastore reply.
    AllNodes,
    /// Scripts: numkeys at argument 2, keys from argument 3 ([`eval_keys`]);
    /// numkeys 0 runs as [`Route::Local`].
    Eval,
    /// Answered by the proxy itself.
    Proxy,
    /// Rejected with [`error_unsupported`]; [`lookup`] never returns these.
    Unsupported,
}

/// Commands whose keys are split per owner and whose replies are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    None,
    Mget,
    Del,
    Exists,
    Mset,
    Unlink,
    Touch,
}

/// One entry of the command table.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Lower-case redis full name: `get`, `config|get` for a subcommand.
    pub name: &'static str,
    /// redis convention: n > 0 exactly n arguments including the name (and
    /// the subcommand), n < 0 at least -n.
    pub arity: i32,
    /// Argument index of the first key; 0 for keyless commands.
    pub first_key: i32,
    /// Index of the last key; negative counts from the end (-1 = last argument).
    pub last_key: i32,
    /// Distance between keys (2 for MSET).
    pub key_step: i32,
    /// A write by redis semantics (SORT and GEORADIUS(BYMEMBER) count as
    /// writes whether or not STORE is given, as redis flags them; EVAL,
    /// EVALSHA, FCALL and SCRIPT LOAD/FLUSH/KILL are writes as in the original).
    pub write: bool,
    /// Where the command is executed.
    pub route: Route,
    /// Whether the keys are split per owner and the replies merged.
    pub multi: Multi,
}

#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    first_key: i32,
    last_key: i32,
    key_step: i32,
    write: bool,
    route: Route,
    multi: Multi,
) -> Command {
    Command {
        name,
        arity,
        first_key,
        last_key,
        key_step,
        write,
        route,
        multi,
    }
}

/// Why a command cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdError {
    /// Not a command redis knows.
    Unknown,
    /// A subcommand the container (the entry carried) does not have.
    UnknownSub(&'static Command),
    /// Wrong number of arguments (only a container without subcommand is
    /// found by [`lookup`]; otherwise call [`check_arity`]).
    Arity(&'static Command),
    /// A command redis knows and the proxy does not serve.
    Unsupported(&'static Command),
}

impl CmdError {
    /// The error text for the client (after the `-`). `name` is the command
    /// name as sent, `args` the arguments after it.
    pub fn text(&self, name: &[u8], args: &[&[u8]]) -> String {
        match *self {
            CmdError::Unknown => error_unknown(name, args),
            CmdError::UnknownSub(c) => error_unknown_sub(c, args.first().copied().unwrap_or(b"")),
            CmdError::Arity(c) => error_arity(c),
            CmdError::Unsupported(c) => error_unsupported(c),
        }
    }
}

/// Our own text for commands the proxy refuses; the command's name follows
/// it, then `'`.
pub const ERR_UNSUPPORTED: &str = "ERR unsupported command '";
/// redis: numkeys (or a SELECT index) that is not an integer.
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// redis: numkeys larger than the arguments after it.
pub const ERR_NUMKEYS_TOO_BIG: &str = "ERR Number of keys can't be greater than number of args";
/// redis: negative numkeys.
pub const ERR_NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
/// SELECT of any database but 0 (redis cluster's wording).
pub const ERR_SELECT: &str = "ERR SELECT is not allowed in cluster mode";

/// Appends at most `max` bytes of `s` as redis `%.*s` would (stopping at a
/// NUL), with CR and LF turned into spaces.
fn push_clean(out: &mut String, s: &[u8], max: usize) {
    let s = &s[..s.len().min(max)];
    let s = match memchr(0, s) {
        Some(p) => &s[..p],
        None => s,
    };
    for c in String::from_utf8_lossy(s).chars() {
        out.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
}

/// redis 7: `ERR unknown command '<name>', with args beginning with: '<a1>' ... `
/// (name cut at 128 bytes, the argument list at about 128 bytes).
pub fn error_unknown(name: &[u8], args: &[&[u8]]) -> String {
    let mut out = String::from("ERR unknown command '");
    push_clean(&mut out, name, 128);
    out.push_str("', with args beginning with: ");
    let mut list = String::new();
    for a in args {
        // redis measures in bytes; so does `list.len()`, except where lossy
        // decoding widened invalid bytes.
        if list.len() >= 128 {
            break;
        }
        let max = 128 - list.len();
        list.push('\'');
        push_clean(&mut list, a, max);
        list.push_str("' ");
    }
    out.push_str(&list);
    out
}

/// redis 7: `ERR unknown subcommand '<sub>'. Try <CONTAINER> HELP.`
pub fn error_unknown_sub(container: &Command, sub: &[u8]) -> String {
    let mut out = String::from("ERR unknown subcommand '");
    push_clean(&mut out, sub, 128);
    out.push_str("'. Try ");
    out.push_str(&container.name.to_ascii_uppercase());
    out.push_str(" HELP.");
    out
}

/// redis 7: `ERR wrong number of arguments for '<name>' command`.
pub fn error_arity(cmd: &Command) -> String {
    format!("ERR wrong number of arguments for '{}' command", cmd.name)
}

/// `ERR unsupported command '<name>'`.
pub fn error_unsupported(cmd: &Command) -> String {
    format!("{ERR_UNSUPPORTED}{}'", cmd.name)
}

/// Container commands: the second argument names the subcommand.
static CONTAINERS: [&str; 15] = [
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
    "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
];

/// Longest `name|sub` looked up; longer names are unknown.
const MAX_NAME_LEN: usize = 64;

/// FNV-1a, for the command index: names are short and trusted-shape, and
/// this runs once or twice per request.
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Slots of the open-addressing index over `COMMANDS` (a power of two, more
/// than twice the table so that probes stay short).
const INDEX_SLOTS: usize = 1024;
const _: () = assert!(INDEX_SLOTS >= 2 * COMMANDS.len());

/// Index of `COMMANDS` by name: `u16::MAX` marks an empty slot.
fn index() -> &'static [u16; INDEX_SLOTS] {
    static INDEX: std::sync::OnceLock<[u16; INDEX_SLOTS]> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = [u16::MAX; INDEX_SLOTS];
        for (i, c) in COMMANDS.iter().enumerate() {
            let mut slot = fnv1a(c.name.as_bytes()) as usize & (INDEX_SLOTS - 1);
            while idx[slot] != u16::MAX {
                slot = (slot + 1) & (INDEX_SLOTS - 1);
            }
            idx[slot] = i as u16;
        }
        idx
    })
}

/// The command named `name` (already lower-case).
fn find(name: &[u8]) -> Option<&'static Command> {
    let idx = index();
    let mut slot = fnv1a(name) as usize & (INDEX_SLOTS - 1);
    loop {
        let i = idx[slot];
        if i == u16::MAX {
            return None;
        }
        let c = &COMMANDS[i as usize];
        if c.name.as_bytes() == name {
            return Some(c);
        }
        slot = (slot + 1) & (INDEX_SLOTS - 1);
    }
}

/// Finds a command by name (any case). `sub` is the second argument, if any;
/// it is only looked at for container commands (CONFIG, CLIENT, SCRIPT, ...).
/// Commands the proxy does not serve come back as [`CmdError::Unsupported`].
pub fn lookup(name: &[u8], sub: Option<&[u8]>) -> Result<&'static Command, CmdError> {
    let mut buf = [0u8; MAX_NAME_LEN];
    // `config|get` is the table's spelling of a subcommand, not a name.
    if name.is_empty() || name.len() > MAX_NAME_LEN || memchr(b'|', name).is_some() {
        return Err(CmdError::Unknown);
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let base = &buf[..name.len()];
    let cmd = find(base).ok_or(CmdError::Unknown)?;
    let cmd = if CONTAINERS.binary_search(&cmd.name).is_ok() {
        match sub {
            None => {
                if !check_arity(cmd, 1) {
                    return Err(CmdError::Arity(cmd));
                }
                cmd
            }
            Some(sub) => {
                let full = name.len() + 1 + sub.len();
                if full > MAX_NAME_LEN {
                    return Err(CmdError::UnknownSub(cmd));
                }
                buf[name.len()] = b'|';
                for (d, s) in buf[name.len() + 1..].iter_mut().zip(sub) {
                    *d = s.to_ascii_lowercase();
                }
                find(&buf[..full]).ok_or(CmdError::UnknownSub(cmd))?
            }
        }
    } else {
        cmd
    };
    if cmd.route == Route::Unsupported {
        return Err(CmdError::Unsupported(cmd));
    }
    Ok(cmd)
}

/// Whether `nargs` arguments (the name included) fit the command's arity.
pub fn check_arity(cmd: &Command, nargs: usize) -> bool {
    debug_assert!(cmd.arity != 0);
    let n = nargs as i64;
    let a = i64::from(cmd.arity);
    if a > 0 {
        n == a
    } else {
        n >= -a
    }
}

/// Argument indices of the keys by the table's key spec, for a request of
/// `nargs` arguments that passed [`check_arity`]. Empty for keyless commands.
/// For [`Route::Eval`] use [`eval_keys`] instead.
pub fn key_indices(cmd: &Command, nargs: usize) -> impl Iterator<Item = usize> {
    let n = nargs as i64;
    let first = i64::from(cmd.first_key);
    let last = if cmd.last_key < 0 {
        n + i64::from(cmd.last_key)
    } else {
        i64::from(cmd.last_key)
    };
    let last = last.min(n - 1);
    let step = i64::from(cmd.key_step).max(1) as usize;
    let range = if first <= 0 || last < first {
        0..0
    } else {
        first as usize..last as usize + 1
    };
    range.step_by(step)
}

/// Argument indices of the keys of EVAL/EVALSHA/FCALL (and their _RO forms):
/// `numkeys` is argument 2, `nargs` counts every argument. An empty range means
/// a keyless script (route [`Route::Local`]).
pub fn eval_keys(numkeys: &[u8], nargs: usize) -> Result<std::ops::Range<usize>, &'static str> {
    debug_assert!(nargs >= 3);
    let mut num = Num::default();
    for &b in numkeys {
        if !num.push(b, i64::MAX as u64) {
            return Err(ERR_NOT_INTEGER);
        }
    }
    let n = num.get().ok_or(ERR_NOT_INTEGER)?;
    if n > nargs as i64 - 3 {
        return Err(ERR_NUMKEYS_TOO_BIG);
    }
    if n < 0 {
        return Err(ERR_NUMKEYS_NEGATIVE);
    }
    Ok(3..3 + n as usize)
}

/// SELECT's argument: only database 0 exists behind the proxy.
pub fn select_db(db: &[u8]) -> Result<(), &'static str> {
    let mut num = Num::default();
    for &b in db {
        if !num.push(b, i64::MAX as u64) {
            return Err(ERR_NOT_INTEGER);
        }
    }
    match num.get() {
        None => Err(ERR_NOT_INTEGER),
        Some(0) => Ok(()),
        Some(_) => Err(ERR_SELECT),
    }
}

/// The whole table, sorted by name.
pub fn commands() -> &'static [Command] {
    &COMMANDS
}

/// redis 7.0 commands (and RedisJSON, and the proxy's own), sorted by name.
static COMMANDS: [Command; 378] = [
    cmd("acl", -2, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "acl|cat",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|deluser",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|dryrun",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|genpass",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|getuser",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|list",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|load",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|log",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|save",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|setuser",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|users",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "acl|whoami",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("append", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("asking", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("auth", -2, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "bgrewriteaof",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "bgsave",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("bitcount", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("bitfield", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("bitfield_ro", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("bitop", -4, 2, -1, 1, true, Route::Key, Multi::None),
    cmd("bitpos", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("blmove", 6, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "blmpop",
        -5,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("blpop", -3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("brpop", -3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "brpoplpush",
        4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "bzmpop",
        -5,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "bzpopmax",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "bzpopmin",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|caching",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|getname",
        2,
        0,
        0,
        0,
        false,
        Route::Proxy,
        Multi::None,
    ),
    cmd(
        "client|getredir",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("client|id", 2, 0, 0, 0, false, Route::Proxy, Multi::None),
    cmd(
        "client|info",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|kill",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|list",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|no-evict",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|pause",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|reply",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|setinfo",
        4,
        0,
        0,
        0,
        false,
        Route::Proxy,
        Multi::None,
    ),
    cmd(
        "client|setname",
        3,
        0,
        0,
        0,
        false,
        Route::Proxy,
        Multi::None,
    ),
    cmd(
        "client|tracking",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|trackinginfo",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|unblock",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "client|unpause",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|addslots",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|addslotsrange",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|bumpepoch",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|count-failure-reports",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|countkeysinslot",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|delslots",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|delslotsrange",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|failover",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|flushslots",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|forget",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|getkeysinslot",
        4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|info",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|keyslot",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|links",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|meet",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|myid",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|nodes",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|replicas",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|replicate",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|reset",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|saveconfig",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|set-config-epoch",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|setslot",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|shards",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|slaves",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "cluster|slots",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("command", -1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "command|count",
        2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "command|docs",
        -2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "command|getkeys",
        -4,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "command|getkeysandflags",
        -4,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd("command|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "command|info",
        -2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "command|list",
        -2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "config",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("config|get", -3, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("config|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "config|resetstat",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "config|rewrite",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "config|set",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("copy", -3, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("dbsize", 1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("debug", -2, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("decr", 2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("decrby", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("del", -2, 1, -1, 1, true, Route::Key, Multi::Del),
    cmd(
        "discard",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("dump", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "dyno_config:conn_consistency",
        2,
        0,
        0,
        0,
        false,
        Route::Proxy,
        Multi::None,
    ),
    cmd("echo", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("eval", -3, 3, 3, 1, true, Route::Eval, Multi::None),
    cmd("eval_ro", -3, 3, 3, 1, false, Route::Eval, Multi::None),
    cmd("evalsha", -3, 3, 3, 1, true, Route::Eval, Multi::None),
    cmd("evalsha_ro", -3, 3, 3, 1, false, Route::Eval, Multi::None),
    cmd("exec", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("exists", -2, 1, -1, 1, false, Route::Key, Multi::Exists),
    cmd("expire", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("expireat", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("expiretime", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "failover",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("fcall", -3, 3, 3, 1, true, Route::Eval, Multi::None),
    cmd("fcall_ro", -3, 3, 3, 1, false, Route::Eval, Multi::None),
    cmd(
        "flushall",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "flushdb",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "function",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "function|delete",
        3,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "function|dump",
        2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "function|flush",
        -2,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "function|help",
        2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "function|kill",
        2,
        0,
        0,
        0,
        false,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "function|list",
        -2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd(
        "function|load",
        -3,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "function|restore",
        -3,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "function|stats",
        2,
        0,
        0,
        0,
        false,
        Route::Local,
        Multi::None,
    ),
    cmd("geoadd", -5, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("geodist", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("geohash", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("geopos", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("georadius", -6, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("georadius_ro", -6, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "georadiusbymember",
        -5,
        1,
        1,
        1,
        true,
        Route::Key,
        Multi::None,
    ),
    cmd(
        "georadiusbymember_ro",
        -5,
        1,
        1,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd("geosearch", -7, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("geosearchstore", -8, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("get", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("getbit", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("getdel", 2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("getex", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("getrange", 4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("getset", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hdel", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hello", -1, 0, 0, 0, false, Route::Proxy, Multi::None),
    cmd("hexists", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("hget", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "hgetall",
        2,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd("hincrby", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hincrbyfloat", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "hkeys",
        2,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd("hlen", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("hmget", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("hmset", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hrandfield", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "hscan",
        -3,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd("hset", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hsetnx", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("hstrlen", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "hvals",
        2,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd("incr", 2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("incrby", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("incrbyfloat", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("info", -1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("json.arrappend", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("json.arrinsert", -5, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("json.arrlen", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("json.del", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("json.get", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("json.mget", -3, 1, -2, 1, false, Route::Key, Multi::None),
    cmd("json.objkeys", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("json.objlen", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("json.set", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("json.type", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("keys", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("lastsave", 1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "latency",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|doctor",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|graph",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|histogram",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|history",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|latest",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "latency|reset",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("lcs", -3, 1, 2, 1, false, Route::Key, Multi::None),
    cmd("lindex", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("linsert", 5, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("llen", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("lmove", 5, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("lmpop", -4, 2, 2, 1, true, Route::Key, Multi::None),
    cmd("lolwut", -1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("lpop", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("lpos", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("lpush", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("lpushx", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("lrange", 4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("lrem", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("lset", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("ltrim", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "memory",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "memory|doctor",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("memory|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "memory|malloc-stats",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "memory|purge",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "memory|stats",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("memory|usage", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("mget", -2, 1, -1, 1, false, Route::Key, Multi::Mget),
    cmd(
        "migrate",
        -6,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module|list",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module|load",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module|loadex",
        -3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "module|unload",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "monitor",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("move", 3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("mset", -3, 1, -1, 2, true, Route::Key, Multi::Mset),
    cmd("msetnx", -3, 1, -1, 2, true, Route::Key, Multi::None),
    cmd("multi", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "object",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "object|encoding",
        3,
        2,
        2,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd("object|freq", 3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("object|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "object|idletime",
        3,
        2,
        2,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd(
        "object|refcount",
        3,
        2,
        2,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd("persist", 2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("pexpire", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("pexpireat", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("pexpiretime", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("pfadd", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("pfcount", -2, 1, -1, 1, false, Route::Key, Multi::None),
    cmd(
        "pfdebug",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("pfmerge", -2, 1, -1, 1, true, Route::Key, Multi::None),
    cmd(
        "pfselftest",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("ping", -1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("psetex", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "psubscribe",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("psync", -3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("pttl", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "publish",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|channels",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|numpat",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|numsub",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|shardchannels",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "pubsub|shardnumsub",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "punsubscribe",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("quit", -1, 0, 0, 0, false, Route::Proxy, Multi::None),
    cmd("randomkey", 1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "readonly",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "readwrite",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("rename", 3, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("renamenx", 3, 1, 2, 1, true, Route::Key, Multi::None),
    cmd(
        "replconf",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("replicaof", 3, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("reset", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("restore", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "restore-asking",
        -4,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("role", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("rpop", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("rpoplpush", 3, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("rpush", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("rpushx", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("sadd", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("save", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("scan", -2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("scard", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "script",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "script|debug",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "script|exists",
        -3,
        0,
        0,
        0,
        false,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "script|flush",
        -2,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd("script|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "script|kill",
        2,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd(
        "script|load",
        3,
        0,
        0,
        0,
        true,
        Route::AllNodes,
        Multi::None,
    ),
    cmd("sdiff", -2, 1, -1, 1, false, Route::Key, Multi::None),
    cmd("sdiffstore", -3, 1, -1, 1, true, Route::Key, Multi::None),
    cmd("select", 2, 0, 0, 0, false, Route::Proxy, Multi::None),
    cmd("set", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("setbit", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("setex", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("setnx", 3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("setrange", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "shutdown",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("sinter", -2, 1, -1, 1, false, Route::Key, Multi::None),
    cmd("sintercard", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("sinterstore", -3, 1, -1, 1, true, Route::Key, Multi::None),
    cmd("sismember", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("slaveof", 3, 0, 0, 0, false, Route::Local, Multi::None),
    cmd(
        "slowlog",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "slowlog|get",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "slowlog|help",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "slowlog|len",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "slowlog|reset",
        2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("smembers", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("smismember", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("smove", 4, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("sort", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("sort_ro", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("spop", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "spublish",
        3,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("srandmember", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("srem", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "sscan",
        -3,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd(
        "ssubscribe",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("strlen", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "subscribe",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("substr", 4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("sunion", -2, 1, -1, 1, false, Route::Key, Multi::None),
    cmd("sunionstore", -3, 1, -1, 1, true, Route::Key, Multi::None),
    cmd(
        "sunsubscribe",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("swapdb", 3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("sync", 1, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("time", 1, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("touch", -2, 1, -1, 1, false, Route::Key, Multi::Touch),
    cmd("ttl", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("type", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("unlink", -2, 1, -1, 1, true, Route::Key, Multi::Unlink),
    cmd(
        "unsubscribe",
        -1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd(
        "unwatch",
        1,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("wait", 3, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("watch", -2, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd("xack", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("xadd", -5, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("xautoclaim", -6, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("xclaim", -6, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("xdel", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "xgroup",
        -2,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("xgroup|create", -5, 2, 2, 1, true, Route::Key, Multi::None),
    cmd(
        "xgroup|createconsumer",
        5,
        2,
        2,
        1,
        true,
        Route::Key,
        Multi::None,
    ),
    cmd(
        "xgroup|delconsumer",
        5,
        2,
        2,
        1,
        true,
        Route::Key,
        Multi::None,
    ),
    cmd("xgroup|destroy", 4, 2, 2, 1, true, Route::Key, Multi::None),
    cmd("xgroup|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("xgroup|setid", -5, 2, 2, 1, true, Route::Key, Multi::None),
    cmd("xinfo", -2, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "xinfo|consumers",
        4,
        2,
        2,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd("xinfo|groups", 3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("xinfo|help", 2, 0, 0, 0, false, Route::Local, Multi::None),
    cmd("xinfo|stream", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("xlen", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("xpending", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("xrange", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("xread", -4, 0, 0, 0, false, Route::Unsupported, Multi::None),
    cmd(
        "xreadgroup",
        -7,
        0,
        0,
        0,
        false,
        Route::Unsupported,
        Multi::None,
    ),
    cmd("xrevrange", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("xsetid", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("xtrim", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zadd", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zcard", 2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zcount", 4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zdiff", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("zdiffstore", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zincrby", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zinter", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("zintercard", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("zinterstore", -4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zlexcount", 4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zmpop", -4, 2, 2, 1, true, Route::Key, Multi::None),
    cmd("zmscore", -3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zpopmax", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zpopmin", -2, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zrandmember", -2, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zrange", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zrangebylex", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zrangebyscore", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zrangestore", -5, 1, 2, 1, true, Route::Key, Multi::None),
    cmd("zrank", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zrem", -3, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zremrangebylex", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd("zremrangebyrank", 4, 1, 1, 1, true, Route::Key, Multi::None),
    cmd(
        "zremrangebyscore",
        4,
        1,
        1,
        1,
        true,
        Route::Key,
        Multi::None,
    ),
    cmd("zrevrange", -4, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "zrevrangebylex",
        -4,
        1,
        1,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd(
        "zrevrangebyscore",
        -4,
        1,
        1,
        1,
        false,
        Route::Key,
        Multi::None,
    ),
    cmd("zrevrank", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd(
        "zscan",
        -3,
        1,
        1,
        1,
        false,
        Route::LocalRackOwner,
        Multi::None,
    ),
    cmd("zscore", 3, 1, 1, 1, false, Route::Key, Multi::None),
    cmd("zunion", -3, 2, 2, 1, false, Route::Key, Multi::None),
    cmd("zunionstore", -4, 1, 1, 1, true, Route::Key, Multi::None),
];

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::testing::{feed, feed_all, Run};

    fn req_run(input: &[u8]) -> Run<ReqInfo> {
        feed_all(input, ReqInfo::default(), ReqParser::parse)
    }

    /// The arguments of each message as bytes.
    fn req_args(input: &[u8], run: &Run<ReqInfo>) -> Vec<Vec<Vec<u8>>> {
        let mut start = 0u64;
        let mut out = Vec::new();
        for (end, info) in &run.msgs {
            let mut args = Vec::new();
            for a in &info.args {
                let s = (start + a.off) as usize;
                assert!(s + a.len as usize <= *end as usize);
                args.push(input[s..s + a.len as usize].to_vec());
            }
            out.push(args);
            start = *end;
        }
        out
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
        let ok = deep(RSP_MAX_DEPTH);
        let run = rsp_run(&ok);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 1);
        assert_eq!(run.msgs[0].0, ok.len() as u64);
        assert_eq!(run.msgs[0].1.elems, vec![(4, ok.len() as u64)]);
        assert_eq!(rsp_run(&deep(RSP_MAX_DEPTH + 1)).err, Some(ERR_RSP_DEPTH));
        // Nested maps and sets mixed, then a second reply.
        let mixed = b"%1\r\n~1\r\n*2\r\n%1\r\n:1\r\n$-1\r\n>1\r\n_\r\n=3\r\nx:y\r\n+n\r\n";
        let run = rsp_run(mixed);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 2);
        assert_eq!(run.msgs[0].1.elems, vec![(4, 32), (32, 41)]);
        assert_eq!(run.msgs[1].1.ty, b'+');
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

    #[test]
    fn table_sorted_and_consistent() {
        let t = commands();
        for w in t.windows(2) {
            assert!(w[0].name < w[1].name, "{} {}", w[0].name, w[1].name);
        }
        for c in t {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert_ne!(c.arity, 0, "{}", c.name);
            match c.route {
                Route::Key | Route::LocalRackOwner => {
                    assert!(c.first_key > 0, "{}", c.name);
                    assert!(c.key_step > 0, "{}", c.name);
                    assert!(c.arity.abs() > c.first_key, "{}", c.name);
                }
                Route::Eval => assert_eq!(c.first_key, 3),
                _ => assert_eq!(c.first_key, 0, "{}", c.name),
            }
            if c.multi != Multi::None {
                assert_eq!(c.route, Route::Key);
            }
            if c.name.contains('|') {
                let base = c.name.split('|').next().unwrap();
                assert!(CONTAINERS.contains(&base), "{}", c.name);
            }
        }
        for c in CONTAINERS {
            assert!(find(c.as_bytes()).is_some(), "{c}");
        }
    }

    #[test]
    fn lookup_routes() {
        type Case = (
            &'static [u8],
            Option<&'static [u8]>,
            &'static str,
            Route,
            bool,
            Multi,
        );
        let cases: &[Case] = &[
            (b"GET", None, "get", Route::Key, false, Multi::None),
            (b"gEt", None, "get", Route::Key, false, Multi::None),
            (b"set", None, "set", Route::Key, true, Multi::None),
            (b"ttl", None, "ttl", Route::Key, false, Multi::None),
            (b"pfcount", None, "pfcount", Route::Key, false, Multi::None),
            (b"sort", None, "sort", Route::Key, true, Multi::None),
            (b"sort_ro", None, "sort_ro", Route::Key, false, Multi::None),
            (
                b"georadius",
                None,
                "georadius",
                Route::Key,
                true,
                Multi::None,
            ),
            (
                b"zunionstore",
                None,
                "zunionstore",
                Route::Key,
                true,
                Multi::None,
            ),
            (
                b"sunionstore",
                None,
                "sunionstore",
                Route::Key,
                true,
                Multi::None,
            ),
            (b"hstrlen", None, "hstrlen", Route::Key, false, Multi::None),
            (b"bitpos", None, "bitpos", Route::Key, false, Multi::None),
            (b"xadd", None, "xadd", Route::Key, true, Multi::None),
            (b"mget", None, "mget", Route::Key, false, Multi::Mget),
            (b"MSET", None, "mset", Route::Key, true, Multi::Mset),
            (b"del", None, "del", Route::Key, true, Multi::Del),
            (b"exists", None, "exists", Route::Key, false, Multi::Exists),
            (b"unlink", None, "unlink", Route::Key, true, Multi::Unlink),
            (b"touch", None, "touch", Route::Key, false, Multi::Touch),
            (
                b"hgetall",
                None,
                "hgetall",
                Route::LocalRackOwner,
                false,
                Multi::None,
            ),
            (
                b"zscan",
                None,
                "zscan",
                Route::LocalRackOwner,
                false,
                Multi::None,
            ),
            (b"ping", None, "ping", Route::Local, false, Multi::None),
            (b"scan", None, "scan", Route::Local, false, Multi::None),
            (
                b"command",
                None,
                "command",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"COMMAND",
                Some(b"DOCS"),
                "command|docs",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"config",
                Some(b"GeT"),
                "config|get",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"script",
                Some(b"load"),
                "script|load",
                Route::AllNodes,
                true,
                Multi::None,
            ),
            (
                b"script",
                Some(b"exists"),
                "script|exists",
                Route::AllNodes,
                false,
                Multi::None,
            ),
            (b"eval", None, "eval", Route::Eval, true, Multi::None),
            (
                b"evalsha_ro",
                None,
                "evalsha_ro",
                Route::Eval,
                false,
                Multi::None,
            ),
            (b"quit", None, "quit", Route::Proxy, false, Multi::None),
            (b"hello", None, "hello", Route::Proxy, false, Multi::None),
            (b"select", None, "select", Route::Proxy, false, Multi::None),
            (
                b"client",
                Some(b"setname"),
                "client|setname",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"client",
                Some(b"SETINFO"),
                "client|setinfo",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"dyno_config:conn_consistency",
                None,
                "dyno_config:conn_consistency",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"object",
                Some(b"encoding"),
                "object|encoding",
                Route::Key,
                false,
                Multi::None,
            ),
            (
                b"memory",
                Some(b"usage"),
                "memory|usage",
                Route::Key,
                false,
                Multi::None,
            ),
            (b"json.set", None, "json.set", Route::Key, true, Multi::None),
            (
                b"JSON.MGET",
                None,
                "json.mget",
                Route::Key,
                false,
                Multi::None,
            ),
        ];
        for (name, sub, want, route, write, multi) in cases {
            let c = lookup(name, *sub).unwrap();
            assert_eq!(c.name, *want);
            assert_eq!(c.route, *route, "{want}");
            assert_eq!(c.write, *write, "{want}");
            assert_eq!(c.multi, *multi, "{want}");
        }
        // A non-container ignores its second argument.
        assert_eq!(lookup(b"get", Some(b"k")).unwrap().name, "get");
    }

    #[test]
    fn lookup_errors() {
        type Case = (&'static [u8], Option<&'static [u8]>, &'static str);
        let unsupported: &[Case] = &[
            (b"multi", None, "multi"),
            (b"EXEC", None, "exec"),
            (b"watch", None, "watch"),
            (b"subscribe", None, "subscribe"),
            (b"publish", None, "publish"),
            (b"blpop", None, "blpop"),
            (b"bzpopmin", None, "bzpopmin"),
            (b"blmove", None, "blmove"),
            (b"xread", None, "xread"),
            (b"monitor", None, "monitor"),
            (b"flushall", None, "flushall"),
            (b"flushdb", None, "flushdb"),
            (b"auth", None, "auth"),
            (b"migrate", None, "migrate"),
            (b"move", None, "move"),
            (b"client", Some(b"kill"), "client|kill"),
            (b"config", Some(b"set"), "config|set"),
            (b"script", Some(b"debug"), "script|debug"),
        ];
        for (name, sub, full) in unsupported {
            match lookup(name, *sub) {
                Err(e @ CmdError::Unsupported(c)) => {
                    assert_eq!(c.name, *full);
                    assert_eq!(
                        e.text(name, &[]),
                        format!("ERR unsupported command '{full}'")
                    );
                }
                other => panic!("{full}: {other:?}"),
            }
        }
        let e = lookup(b"foo", Some(b"a")).unwrap_err();
        assert_eq!(e, CmdError::Unknown);
        assert_eq!(
            e.text(b"foo", &[b"a", b"b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(lookup(b"", None), Err(CmdError::Unknown));
        assert_eq!(lookup(b"config|get", None), Err(CmdError::Unknown));
        assert_eq!(lookup(&[b'g'; 100], None), Err(CmdError::Unknown));
        let e = lookup(b"CONFIG", None).unwrap_err();
        assert_eq!(
            e.text(b"CONFIG", &[]),
            "ERR wrong number of arguments for 'config' command"
        );
        let e = lookup(b"config", Some(b"xyz")).unwrap_err();
        assert_eq!(
            e.text(b"config", &[b"xyz"]),
            "ERR unknown subcommand 'xyz'. Try CONFIG HELP."
        );
        let e = lookup(b"object", Some(&[b'z'; 80])).unwrap_err();
        assert!(matches!(e, CmdError::UnknownSub(c) if c.name == "object"));
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            error_unknown(b"foo", &[]),
            "ERR unknown command 'foo', with args beginning with: "
        );
        // Recorded from redis 7: the list stops at about 128 bytes.
        let long = [b'x'; 200];
        let want = format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        );
        assert_eq!(error_unknown(b"foo", &[&long, b"bb"]), want);
        let t = error_unknown(b"f\r\no", &[b"a\nb", b"c\rd"]);
        assert_eq!(
            t,
            "ERR unknown command 'f  o', with args beginning with: 'a b' 'c d' "
        );
        assert_eq!(
            error_unknown(b"a\0b", &[b"c\0d"]),
            "ERR unknown command 'a', with args beginning with: 'c' "
        );
        let t = error_unknown_sub(find(b"client").unwrap(), b"x\r\ny");
        assert_eq!(t, "ERR unknown subcommand 'x  y'. Try CLIENT HELP.");
        assert_eq!(
            error_arity(find(b"config|get").unwrap()),
            "ERR wrong number of arguments for 'config|get' command"
        );
        for c in commands() {
            let t = error_unsupported(c) + &error_arity(c);
            assert!(!t.contains('\r') && !t.contains('\n'));
        }
    }

    #[test]
    fn arity_and_keys() {
        let get = lookup(b"get", None).unwrap();
        assert!(check_arity(get, 2));
        assert!(!check_arity(get, 1));
        assert!(!check_arity(get, 3));
        let set = lookup(b"set", None).unwrap();
        assert!(!check_arity(set, 2));
        assert!(check_arity(set, 3));
        assert!(check_arity(set, 9));
        let keys = |name: &[u8], sub: Option<&[u8]>, nargs: usize| -> Vec<usize> {
            key_indices(lookup(name, sub).unwrap(), nargs).collect()
        };
        assert_eq!(keys(b"get", None, 2), vec![1]);
        assert_eq!(keys(b"mset", None, 5), vec![1, 3]);
        assert_eq!(keys(b"del", None, 4), vec![1, 2, 3]);
        assert_eq!(keys(b"bitop", None, 5), vec![2, 3, 4]);
        assert_eq!(keys(b"rpoplpush", None, 3), vec![1, 2]);
        assert_eq!(keys(b"json.mget", None, 4), vec![1, 2]);
        assert_eq!(keys(b"zunion", None, 4), vec![2]);
        assert_eq!(keys(b"lmpop", None, 4), vec![2]);
        assert_eq!(keys(b"object", Some(b"encoding"), 3), vec![2]);
        assert_eq!(keys(b"ping", None, 1), Vec::<usize>::new());
        assert_eq!(keys(b"scan", None, 2), Vec::<usize>::new());
    }

    #[test]
    fn eval_and_select() {
        assert_eq!(eval_keys(b"2", 5), Ok(3..5));
        assert_eq!(eval_keys(b"0", 3), Ok(3..3));
        assert_eq!(eval_keys(b"3", 5), Err(ERR_NUMKEYS_TOO_BIG));
        assert_eq!(eval_keys(b"-1", 5), Err(ERR_NUMKEYS_NEGATIVE));
        assert_eq!(eval_keys(b"x", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"01", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"99999999999999999999", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(select_db(b"0"), Ok(()));
        assert_eq!(select_db(b"1"), Err(ERR_SELECT));
        assert_eq!(select_db(b"x"), Err(ERR_NOT_INTEGER));
    }
}
