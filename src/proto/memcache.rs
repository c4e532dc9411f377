//! Memcached ASCII requests and replies (dyn_memcache.c): the resumable
//! request parser, the reply parser and the proxy's error lines.
//!
//! Both parsers follow the contract of the RESP ones ([`super::redis`]): they
//! are fed the bytes of one message chunk by chunk, keep their own running
//! offset inside the message and record positions as message offsets:
//!
//! ```text
//!   chunk ──> ReqParser::parse ──> Again ──> next chunk ...
//!                      │
//!                      ├──> Done(n): message = previous chunks + chunk[..n];
//!                      │             McReq holds the command, its keys and
//!                      │             numbers, or the error line memcached
//!                      │             would answer (the connection goes on);
//!                      │             the parser is reset
//!                      └──> Error(text): the stream cannot be framed any
//!                                    further (memcached closes it)
//! ```
//!
//! Requests follow memcached 1.6 `proto_text.c` (`try_read_command_ascii`,
//! `tokenize_command`, `process_*_command`): one message per line, tokens
//! split at spaces only, a CR before the LF dropped, a NUL ends the line,
//! numbers read as `strtol`/`strtoull` read them. A request memcached answers
//! with `ERROR` or `CLIENT_ERROR ...` is a complete message with
//! [`McReq::error`] set, and only the bytes memcached itself consumes belong
//! to it: after a storage line that is refused, the data block is read as the
//! next request line, as memcached does. A data block is skipped, not
//! scanned, and must be followed by CRLF (`CLIENT_ERROR bad data chunk`).
//!
//! Lines other than get/gets are gathered in a buffer of at most
//! [`MAX_LINE`] bytes; get/gets keys are streamed, so a multi-get line may be
//! up to [`MAX_GET_LINE`] bytes long.
//!
//! Replies: one message is one reply line, or every `VALUE` block of a
//! retrieval reply up to its `END`. The parser needs no knowledge of the
//! request.

use memchr::memchr;

use super::redis::Arg;
use super::Parse;

/// Longest key (memcached `KEY_MAX_LENGTH`).
pub const KEY_MAX_LEN: usize = 250;
/// Most bytes of a request line (CR included, LF excluded) other than a
/// get/gets line: memcached closes a connection holding more than 2048 bytes
/// without a newline.
pub const MAX_LINE: usize = 2048;
/// Most bytes of a get/gets line. memcached grows its buffer for these
/// without a fixed bound; this is the proxy's own limit.
pub const MAX_GET_LINE: usize = 1 << 20;
/// A get/gets line with more leading spaces than this is held to
/// [`MAX_LINE`], as memcached does.
pub const GET_MAX_SPACES: usize = 100;
/// Largest data block a storage command may announce (memcached's largest
/// item size, `-I 1024m`).
pub const MAX_DATA_LEN: u64 = 1 << 30;
/// Longest reply line (a `VALUE` line is at most about 300 bytes).
pub const RSP_MAX_LINE: usize = 2048;

const _: () = assert!(KEY_MAX_LEN < MAX_LINE);
const _: () = assert!(MAX_LINE < MAX_GET_LINE);
const _: () = assert!(MAX_DATA_LEN < i32::MAX as u64 - 2);
const _: () = assert!(KEY_MAX_LEN < RSP_MAX_LINE);

/// memcached: an unknown command, a wrong number of tokens, and every
/// command the proxy does not serve (see [`McCmd::Unknown`]).
pub const ERR_ERROR: &str = "ERROR";
/// memcached: a bad key (too long; here also control characters) or a bad
/// number on a storage line.
pub const ERR_BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
/// memcached: the data block is not followed by CRLF.
pub const ERR_BAD_DATA_CHUNK: &str = "CLIENT_ERROR bad data chunk";
/// memcached: the incr/decr value is not an unsigned 64-bit number.
pub const ERR_BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument";
/// memcached: the touch/gat exptime is not a number.
pub const ERR_BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
/// memcached: `delete <key> <x>` where `<x>` is neither `0` nor `noreply`
/// (two spaces after the dot, as memcached writes it).
pub const ERR_DELETE_USAGE: &str =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

/// [`Parse::Error`]: a request line longer than [`MAX_LINE`] (or a get line
/// longer than [`MAX_GET_LINE`]). memcached closes the connection without a
/// reply; the text is for the log.
pub const ERR_LINE_TOO_LONG: &str = "CLIENT_ERROR line too long";
/// [`Parse::Error`]: a storage command announcing more than
/// [`MAX_DATA_LEN`] bytes. memcached's words for a value it cannot store;
/// memcached then swallows the block, the proxy closes the connection.
pub const ERR_DATA_TOO_LARGE: &str = "SERVER_ERROR object too large for cache";

/// Reply parser error: a reply line longer than [`RSP_MAX_LINE`].
pub const ERR_RSP_LINE: &str = "SERVER_ERROR reply line too long";
/// Reply parser error: a reply line, or a `VALUE` data block, not ended by CRLF.
pub const ERR_RSP_CRLF: &str = "SERVER_ERROR reply not ended by CRLF";
/// Reply parser error: a `VALUE` line that is not `VALUE <key> <flags> <bytes>[ <cas>]`.
pub const ERR_RSP_VALUE: &str = "SERVER_ERROR bad VALUE line";
/// Reply parser error: a line that is no memcached reply, or a `VALUE`
/// block followed by anything but `VALUE`, `END` or an error line.
pub const ERR_RSP_UNKNOWN: &str = "SERVER_ERROR unknown reply";

/// A request command. Names are lower case only, as in memcached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum McCmd {
    /// `get <key>+`
    Get,
    /// `gets <key>+`
    Gets,
    /// `gat <exptime> <key>*` (get and touch)
    Gat,
    /// `gats <exptime> <key>*`
    Gats,
    /// `set <key> <flags> <exptime> <bytes>[ noreply]` + data
    Set,
    /// `add ...` as set
    Add,
    /// `replace ...` as set
    Replace,
    /// `append ...` as set
    Append,
    /// `prepend ...` as set
    Prepend,
    /// `cas <key> <flags> <exptime> <bytes> <cas>[ noreply]` + data
    Cas,
    /// `incr <key> <delta>[ noreply]`
    Incr,
    /// `decr <key> <delta>[ noreply]`
    Decr,
    /// `touch <key> <exptime>[ noreply]`
    Touch,
    /// `delete <key>[ 0][ noreply]`
    Delete,
    /// `quit`: the connection is closed, nothing is answered.
    Quit,
    /// `version`: answered by the proxy itself.
    Version,
    /// No command the proxy serves: unknown to memcached, an empty line, or a
    /// memcached command the proxy refuses with `ERROR` (stats, flush_all,
    /// verbosity, shutdown, slabs, lru_crawler, watch, the meta commands
    /// mg/ms/md/ma/mn/me, ...). [`McReq::error`] is always set.
    #[default]
    Unknown,
}

impl McCmd {
    /// The command named `name` exactly (case-sensitive).
    pub fn from_name(name: &[u8]) -> McCmd {
        match name {
            b"get" => McCmd::Get,
            b"gets" => McCmd::Gets,
            b"gat" => McCmd::Gat,
            b"gats" => McCmd::Gats,
            b"set" => McCmd::Set,
            b"add" => McCmd::Add,
            b"replace" => McCmd::Replace,
            b"append" => McCmd::Append,
            b"prepend" => McCmd::Prepend,
            b"cas" => McCmd::Cas,
            b"incr" => McCmd::Incr,
            b"decr" => McCmd::Decr,
            b"touch" => McCmd::Touch,
            b"delete" => McCmd::Delete,
            b"quit" => McCmd::Quit,
            b"version" => McCmd::Version,
            _ => McCmd::Unknown,
        }
    }

    /// The command's name as memcached spells it (`""` for Unknown).
    pub fn name(self) -> &'static str {
        match self {
            McCmd::Get => "get",
            McCmd::Gets => "gets",
            McCmd::Gat => "gat",
            McCmd::Gats => "gats",
            McCmd::Set => "set",
            McCmd::Add => "add",
            McCmd::Replace => "replace",
            McCmd::Append => "append",
            McCmd::Prepend => "prepend",
            McCmd::Cas => "cas",
            McCmd::Incr => "incr",
            McCmd::Decr => "decr",
            McCmd::Touch => "touch",
            McCmd::Delete => "delete",
            McCmd::Quit => "quit",
            McCmd::Version => "version",
            McCmd::Unknown => "",
        }
    }

    /// Answered with `VALUE` blocks and `END`; every key may go to a
    /// different server (get, gets, gat, gats).
    pub fn is_retrieval(self) -> bool {
        matches!(self, McCmd::Get | McCmd::Gets | McCmd::Gat | McCmd::Gats)
    }

    /// Followed by a data block (set, add, replace, append, prepend, cas).
    pub fn has_data(self) -> bool {
        matches!(
            self,
            McCmd::Set | McCmd::Add | McCmd::Replace | McCmd::Append | McCmd::Prepend | McCmd::Cas
        )
    }

    /// Changes the datastore: the storage commands, incr, decr, touch,
    /// delete, and gat/gats (they set a new expiry, so every replica must
    /// see them, although they answer like get).
    pub fn is_write(self) -> bool {
        self.has_data()
            || matches!(
                self,
                McCmd::Incr | McCmd::Decr | McCmd::Touch | McCmd::Delete | McCmd::Gat | McCmd::Gats
            )
    }

    /// Takes a `noreply` last token (storage, incr, decr, touch, delete).
    pub fn takes_noreply(self) -> bool {
        self.has_data()
            || matches!(
                self,
                McCmd::Incr | McCmd::Decr | McCmd::Touch | McCmd::Delete
            )
    }
}

/// What the request parser learned about one complete request.
///
/// When [`McReq::error`] is set only `cmd`, `noreply` and `error` mean
/// anything: `keys` is empty and `data` is None.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct McReq {
    /// The command named on the line; [`McCmd::Unknown`] if none the proxy
    /// serves.
    pub cmd: McCmd,
    /// Key positions (message offsets): every key of a retrieval command in
    /// line order, else the one key. Empty for quit and version, and for
    /// `gat <exptime>` without keys (memcached answers `END` to it).
    pub keys: Vec<Arg>,
    /// The last token is `noreply` (storage, incr, decr, touch, delete). No
    /// reply is due, and memcached sends none even for an error, so the
    /// caller must not send `error` either.
    pub noreply: bool,
    /// The complete reply line (no CRLF) memcached gives instead of executing
    /// the request: one of the `ERR_*` request texts. The caller answers it
    /// (unless `noreply`) and keeps the connection.
    pub error: Option<&'static str>,
    /// Storage commands: client flags (memcached keeps the low 32 bits of
    /// larger values).
    pub flags: u32,
    /// Storage commands, touch, gat, gats: exptime (memcached keeps the low
    /// 32 bits of any i64).
    pub exptime: i32,
    /// Storage commands: data block length announced on the line.
    pub bytes: u32,
    /// cas: the compare-and-swap value.
    pub cas: u64,
    /// incr, decr: the amount.
    pub delta: u64,
    /// Storage commands: message offsets `[start, end)` of the data block and
    /// its CRLF (`end - start == bytes + 2`); `start` is the end of the line.
    pub data: Option<(u64, u64)>,
}

impl McReq {
    fn clear(&mut self) {
        self.cmd = McCmd::Unknown;
        self.keys.clear();
        self.noreply = false;
        self.error = None;
        self.flags = 0;
        self.exptime = 0;
        self.bytes = 0;
        self.cas = 0;
        self.delta = 0;
        self.data = None;
    }

    fn fail(&mut self, text: &'static str) {
        self.error = Some(text);
        self.keys.clear();
        self.data = None;
    }
}

/// A key memcached stores and the proxy forwards: 1..=250 bytes, none of them
/// a space or a control character (C `iscntrl`, DEL included). memcached
/// itself only checks the length.
pub fn key_ok(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= KEY_MAX_LEN && key.iter().all(|&b| b > b' ' && b != 0x7f)
}

/// A proxy-generated error line for memcached clients (spec §4), without its
/// CRLF: `server_error("Storage: Datastore refused connection")` is
/// `SERVER_ERROR Storage: Datastore refused connection`. CR and LF become
/// spaces.
pub fn server_error(source_and_message: &str) -> String {
    let mut out = String::with_capacity(13 + source_and_message.len());
    out.push_str("SERVER_ERROR ");
    for c in source_and_message.chars() {
        out.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
    out
}

/// C `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A token read as C `strtoull`/`strtol` read it, with memcached's `safe_*`
/// end check: leading whitespace, an optional sign, at least one digit, then
/// the token's end or whitespace (anything after it is ignored). Returns the
/// sign and the magnitude; None for no digits, junk after them, or a
/// magnitude over `u64::MAX` (ERANGE).
fn c_number(tok: &[u8]) -> Option<(bool, u64)> {
    let mut i = 0;
    while i < tok.len() && is_space(tok[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < tok.len() && (tok[i] == b'+' || tok[i] == b'-') {
        neg = tok[i] == b'-';
        i += 1;
    }
    let start = i;
    let mut val = Some(0u64);
    while i < tok.len() && tok[i].is_ascii_digit() {
        let d = u64::from(tok[i] - b'0');
        val = val
            .and_then(|v| v.checked_mul(10))
            .and_then(|v| v.checked_add(d));
        i += 1;
    }
    if i == start || (i < tok.len() && !is_space(tok[i])) {
        return None;
    }
    Some((neg, val?))
}

/// memcached `safe_strtoull`: a negative number is refused only when the
/// wrapped result looks negative as an i64 (so `-0` is 0 and
/// `-9223372036854775809` is 9223372036854775807).
fn safe_strtoull(tok: &[u8]) -> Option<u64> {
    let (neg, mag) = c_number(tok)?;
    let v = if neg { mag.wrapping_neg() } else { mag };
    if neg && (v as i64) < 0 {
        return None;
    }
    Some(v)
}

/// memcached `safe_strtoul` on a 64-bit host, stored into a u32: as
/// [`safe_strtoull`], keeping the low 32 bits.
fn safe_strtoul32(tok: &[u8]) -> Option<u32> {
    safe_strtoull(tok).map(|v| v as u32)
}

/// memcached `safe_strtol` on a 64-bit host: `strtol` (i64 range, else
/// ERANGE), the result stored into an i32 (low 32 bits).
fn safe_strtol32(tok: &[u8]) -> Option<i32> {
    let (neg, mag) = c_number(tok)?;
    let v = if neg {
        if mag > 1 << 63 {
            return None;
        }
        (mag as i64).wrapping_neg()
    } else {
        i64::try_from(mag).ok()?
    };
    Some(v as i32)
}

/// The words of a request line (split at spaces, as memcached
/// `tokenize_command`), with their offsets in the line.
fn words(line: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < line.len() && line[pos] == b' ' {
            pos += 1;
        }
        if pos == line.len() {
            return None;
        }
        let start = pos;
        pos = memchr(b' ', &line[pos..]).map_or(line.len(), |p| pos + p);
        Some((start, &line[start..pos]))
    })
}

/// Words of a line looked at by position (at most the command and six more).
const LINE_WORDS: usize = 8;

/// Request parser states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqState {
    /// Leading spaces and the command name, byte by byte, into `line`.
    Name,
    /// The rest of a line other than a get/gets line, into `line`.
    Line,
    /// The keys of a get/gets line, streamed.
    Keys,
    /// The rest of a get/gets line after a NUL or a bad key, skipped.
    KeysSkip,
    /// Data block bytes still to skip.
    Data(u64),
    /// The two bytes after a data block: None before the first, then whether
    /// the first was CR.
    Trailer(Option<bool>),
}

/// Resumable memcached ASCII request parser.
#[derive(Debug)]
pub struct ReqParser {
    state: ReqState,
    /// Bytes of the current message consumed so far.
    off: u64,
    /// Name, Line: every byte of the line so far (`line.len() == off`).
    line: Vec<u8>,
    /// Leading spaces of the line.
    spaces: usize,
    /// Keys: offset of the current key's first byte, if inside a key.
    tok: Option<u64>,
    /// Keys: the current key holds a control character.
    tok_bad: bool,
    /// Keys: the previous byte was a CR (dropped if an LF follows it).
    cr: bool,
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
            state: ReqState::Name,
            off: 0,
            line: Vec::new(),
            spaces: 0,
            tok: None,
            tok_bad: false,
            cr: false,
        }
    }

    fn reset(&mut self) {
        self.state = ReqState::Name;
        self.off = 0;
        // The buffer is kept: it never holds more than MAX_LINE bytes.
        self.line.clear();
        self.spaces = 0;
        self.tok = None;
        self.tok_bad = false;
        self.cr = false;
    }

    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` the
    /// parser is ready for the next message. After `Error` the stream is
    /// unusable; the parser is reset all the same.
    pub fn parse(&mut self, chunk: &[u8], info: &mut McReq) -> Parse {
        if self.off == 0 && self.state == ReqState::Name {
            debug_assert!(self.line.is_empty());
            info.clear();
        }
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert!(info.error.is_none() || info.keys.is_empty());
                debug_assert!(info.error.is_some() || info.cmd != McCmd::Unknown);
                debug_assert!(info.data.is_some() == (info.error.is_none() && info.cmd.has_data()));
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => {}
        }
        r
    }

    fn parse_inner(&mut self, chunk: &[u8], info: &mut McReq) -> Parse {
        let base = self.off;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let at = base + i as u64;
            match self.state {
                ReqState::Name => {
                    debug_assert!(self.line.len() as u64 == at);
                    if b == b'\n' {
                        match self.line_done(at + 1, info) {
                            Ok(true) => return Parse::Done(i + 1),
                            Ok(false) => {}
                            Err(e) => return Parse::Error(e),
                        }
                    } else {
                        if at >= MAX_LINE as u64 {
                            return Parse::Error(ERR_LINE_TOO_LONG);
                        }
                        if b == b' ' && self.line.len() == self.spaces {
                            self.spaces += 1;
                        } else if b == b' ' {
                            let name = &self.line[self.spaces..];
                            if name == b"get" || name == b"gets" {
                                info.cmd = McCmd::from_name(name);
                                self.line.clear();
                                self.state = ReqState::Keys;
                                i += 1;
                                continue;
                            }
                            self.state = ReqState::Line;
                        }
                        self.line.push(b);
                    }
                }
                ReqState::Line => {
                    let rest = &chunk[i..];
                    let nl = memchr(b'\n', rest);
                    let seg = &rest[..nl.unwrap_or(rest.len())];
                    if self.line.len() + seg.len() > MAX_LINE {
                        return Parse::Error(ERR_LINE_TOO_LONG);
                    }
                    self.line.extend_from_slice(seg);
                    let Some(p) = nl else {
                        break;
                    };
                    i += p;
                    match self.line_done(base + i as u64 + 1, info) {
                        Ok(true) => return Parse::Done(i + 1),
                        Ok(false) => {}
                        Err(e) => return Parse::Error(e),
                    }
                }
                ReqState::Keys => {
                    if b != b'\n' && at >= self.get_line_cap() {
                        return Parse::Error(ERR_LINE_TOO_LONG);
                    }
                    if self.cr {
                        self.cr = false;
                        if b == b'\n' {
                            // memcached drops the CR before the LF.
                            self.key_end(at - 1, info);
                            return self.keys_done(i, info);
                        }
                        // Any other CR is part of the key.
                        self.tok_bad = true;
                    }
                    match b {
                        b'\n' => {
                            self.key_end(at, info);
                            return self.keys_done(i, info);
                        }
                        b' ' => self.key_end(at, info),
                        0 => {
                            // memcached reads the line as a C string.
                            self.key_end(at, info);
                            self.state = ReqState::KeysSkip;
                        }
                        _ => {
                            self.tok.get_or_insert(at);
                            if b == b'\r' {
                                self.cr = true;
                            } else if b < b' ' || b == 0x7f {
                                self.tok_bad = true;
                            }
                        }
                    }
                }
                ReqState::KeysSkip => {
                    let rest = &chunk[i..];
                    let nl = memchr(b'\n', rest);
                    let len = nl.unwrap_or(rest.len()) as u64;
                    if at + len > self.get_line_cap() {
                        return Parse::Error(ERR_LINE_TOO_LONG);
                    }
                    let Some(p) = nl else {
                        break;
                    };
                    i += p;
                    return self.keys_done(i, info);
                }
                ReqState::Data(left) => {
                    let take = left.min((chunk.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == left {
                        ReqState::Trailer(None)
                    } else {
                        ReqState::Data(left - take)
                    };
                    continue;
                }
                ReqState::Trailer(None) => self.state = ReqState::Trailer(Some(b == b'\r')),
                ReqState::Trailer(Some(cr)) => {
                    // memcached reads `bytes + 2` bytes and then checks the
                    // last two; the next request starts right after them.
                    if !(cr && b == b'\n') {
                        info.fail(ERR_BAD_DATA_CHUNK);
                    }
                    return Parse::Done(i + 1);
                }
            }
            i += 1;
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }

    /// Offset a get/gets line must end before.
    fn get_line_cap(&self) -> u64 {
        if self.spaces > GET_MAX_SPACES {
            MAX_LINE as u64
        } else {
            MAX_GET_LINE as u64
        }
    }

    /// A get/gets key token ends just before message offset `end` (it may be
    /// empty: no token, or a lone CR before the LF).
    fn key_end(&mut self, end: u64, info: &mut McReq) {
        let bad = std::mem::take(&mut self.tok_bad);
        let Some(start) = self.tok.take() else {
            return;
        };
        debug_assert!(end >= start);
        let len = end - start;
        if len == 0 {
            return;
        }
        if bad || len > KEY_MAX_LEN as u64 {
            info.fail(ERR_BAD_FORMAT);
            self.state = ReqState::KeysSkip;
            return;
        }
        info.keys.push(Arg {
            off: start,
            len: len as u32,
        });
    }

    /// The LF of a get/gets line is at `chunk[i]`.
    fn keys_done(&mut self, i: usize, info: &mut McReq) -> Parse {
        if info.error.is_none() && info.keys.is_empty() {
            // `get ` with no key: too few tokens.
            info.fail(ERR_ERROR);
        }
        Parse::Done(i + 1)
    }

    /// A line gathered in `line` ended; `end` is the message offset after its
    /// LF. Returns Ok(true) if the message is complete, Ok(false) if a data
    /// block follows.
    fn line_done(&mut self, end: u64, info: &mut McReq) -> Result<bool, &'static str> {
        let mut len = self.line.len();
        if len > 1 && self.line[len - 1] == b'\r' {
            len -= 1;
        }
        if let Some(p) = memchr(0, &self.line[..len]) {
            len = p;
        }
        let line = &self.line[..len];
        let mut w: [(usize, &[u8]); LINE_WORDS] = [(0, &[]); LINE_WORDS];
        let mut count = 0;
        for (k, word) in words(line).enumerate() {
            if k < LINE_WORDS {
                w[k] = word;
            }
            count = k + 1;
        }
        // memcached's token count: at most 23 words, plus the terminal token.
        let nt = count.min(23) + 1;
        let last = if count > 0 && count <= LINE_WORDS {
            w[count - 1].1
        } else {
            &[]
        };
        let arg = |k: usize| Arg {
            off: w[k].0 as u64,
            len: w[k].1.len() as u32,
        };
        if count == 0 || w[0].1.len() < 2 {
            info.fail(ERR_ERROR);
            return Ok(true);
        }
        let cmd = McCmd::from_name(w[0].1);
        info.cmd = cmd;
        match cmd {
            McCmd::Unknown => info.fail(ERR_ERROR),
            McCmd::Get | McCmd::Gets | McCmd::Gat | McCmd::Gats => {
                if nt < 3 {
                    info.fail(ERR_ERROR);
                    return Ok(true);
                }
                let mut first = 1;
                if matches!(cmd, McCmd::Gat | McCmd::Gats) {
                    let Some(exptime) = safe_strtol32(w[1].1) else {
                        info.fail(ERR_BAD_EXPTIME);
                        return Ok(true);
                    };
                    info.exptime = exptime;
                    first = 2;
                }
                for (off, key) in words(line).skip(first) {
                    if !key_ok(key) {
                        info.fail(ERR_BAD_FORMAT);
                        return Ok(true);
                    }
                    info.keys.push(Arg {
                        off: off as u64,
                        len: key.len() as u32,
                    });
                }
            }
            McCmd::Set
            | McCmd::Add
            | McCmd::Replace
            | McCmd::Append
            | McCmd::Prepend
            | McCmd::Cas => {
                let want = if cmd == McCmd::Cas { 7 } else { 6 };
                if nt != want && nt != want + 1 {
                    info.fail(ERR_ERROR);
                    return Ok(true);
                }
                info.noreply = last == b"noreply";
                if !key_ok(w[1].1) {
                    info.fail(ERR_BAD_FORMAT);
                    return Ok(true);
                }
                let nums = (
                    safe_strtoul32(w[2].1),
                    safe_strtol32(w[3].1),
                    safe_strtol32(w[4].1),
                );
                let (Some(flags), Some(exptime), Some(vlen)) = nums else {
                    info.fail(ERR_BAD_FORMAT);
                    return Ok(true);
                };
                if cmd == McCmd::Cas {
                    let Some(cas) = safe_strtoull(w[5].1) else {
                        info.fail(ERR_BAD_FORMAT);
                        return Ok(true);
                    };
                    info.cas = cas;
                }
                if !(0..=i32::MAX - 2).contains(&vlen) {
                    info.fail(ERR_BAD_FORMAT);
                    return Ok(true);
                }
                let vlen = vlen as u64;
                if vlen > MAX_DATA_LEN {
                    return Err(ERR_DATA_TOO_LARGE);
                }
                info.keys.push(arg(1));
                info.flags = flags;
                info.exptime = exptime;
                info.bytes = vlen as u32;
                info.data = Some((end, end + vlen + 2));
                self.state = ReqState::Data(vlen);
                return Ok(false);
            }
            McCmd::Incr | McCmd::Decr | McCmd::Touch => {
                if nt != 4 && nt != 5 {
                    info.fail(ERR_ERROR);
                    return Ok(true);
                }
                info.noreply = last == b"noreply";
                if !key_ok(w[1].1) {
                    info.fail(ERR_BAD_FORMAT);
                    return Ok(true);
                }
                if cmd == McCmd::Touch {
                    let Some(exptime) = safe_strtol32(w[2].1) else {
                        info.fail(ERR_BAD_EXPTIME);
                        return Ok(true);
                    };
                    info.exptime = exptime;
                } else {
                    let Some(delta) = safe_strtoull(w[2].1) else {
                        info.fail(ERR_BAD_DELTA);
                        return Ok(true);
                    };
                    info.delta = delta;
                }
                info.keys.push(arg(1));
            }
            McCmd::Delete => {
                if !(3..=5).contains(&nt) {
                    info.fail(ERR_ERROR);
                    return Ok(true);
                }
                if nt > 3 {
                    // memcached still accepts the old `<time>` argument if
                    // it is exactly `0`.
                    let hold_zero = w[2].1 == b"0";
                    info.noreply = last == b"noreply";
                    let valid = (nt == 4 && (hold_zero || info.noreply))
                        || (nt == 5 && hold_zero && info.noreply);
                    if !valid {
                        info.fail(ERR_DELETE_USAGE);
                        return Ok(true);
                    }
                }
                if !key_ok(w[1].1) {
                    info.fail(ERR_BAD_FORMAT);
                    return Ok(true);
                }
                info.keys.push(arg(1));
            }
            // memcached ignores any further tokens of these two.
            McCmd::Quit | McCmd::Version => {}
        }
        Ok(true)
    }
}

/// Kinds of reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum McRspType {
    /// A retrieval reply: the `VALUE` blocks in [`McRsp::values`] (none for
    /// a plain `END`), then `END`.
    #[default]
    Values,
    /// `STORED`
    Stored,
    /// `NOT_STORED`
    NotStored,
    /// `EXISTS`
    Exists,
    /// `NOT_FOUND`
    NotFound,
    /// `DELETED`
    Deleted,
    /// `TOUCHED`
    Touched,
    /// `OK`
    Ok,
    /// A decimal number (incr/decr), in [`McRsp::number`].
    Number,
    /// `ERROR`, or `ERROR <msg>` (e.g. `ERROR Too many open connections`).
    Error,
    /// `CLIENT_ERROR <msg>`
    ClientError,
    /// `SERVER_ERROR <msg>`
    ServerError,
    /// `VERSION <v>`
    Version,
}

impl McRspType {
    /// An error line (ERROR, CLIENT_ERROR, SERVER_ERROR).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            McRspType::Error | McRspType::ClientError | McRspType::ServerError
        )
    }
}

/// One `VALUE` block of a retrieval reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct McValue {
    /// The key on the `VALUE` line (message offsets).
    pub key: Arg,
    /// Message offset of the `V` of `VALUE`.
    pub start: u64,
    /// Message offset just after the CRLF that ends the data block.
    pub end: u64,
}

/// What the reply parser learned about one complete reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct McRsp {
    /// The kind of reply (for a retrieval reply cut short by an error line,
    /// the error's kind, with the blocks before it still in `values`).
    pub ty: McRspType,
    /// The value of a [`McRspType::Number`] reply; 0 otherwise.
    pub number: u64,
    /// Every `VALUE` block, in order. A retrieval reply's message ends after
    /// its `END`, which follows the last block.
    pub values: Vec<McValue>,
}

/// Reply parser states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RspState {
    /// Gathering a line into `line`.
    Line,
    /// Data bytes of a `VALUE` block still to skip.
    Data(u64),
    /// Expecting the CR (false) or LF (true) after a data block.
    Trailer(bool),
}

/// Resumable memcached ASCII reply parser.
#[derive(Debug)]
pub struct RspParser {
    state: RspState,
    /// Bytes of the current reply consumed so far.
    off: u64,
    /// The current line so far (at most [`RSP_MAX_LINE`] bytes).
    line: Vec<u8>,
    /// Message offset of the current line (or `VALUE` block).
    line_start: u64,
    /// The key of the `VALUE` block being read.
    key: Arg,
}

impl Default for RspParser {
    fn default() -> Self {
        Self::new()
    }
}

/// A reply number: 1 to 20 decimal digits that fit a u64, nothing else.
fn digits(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || tok.len() > 20 {
        return None;
    }
    tok.iter().try_fold(0u64, |v, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        v.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// `line` is `word` alone or `word` and a space and more.
fn is_word(line: &[u8], word: &[u8]) -> bool {
    line.strip_prefix(word)
        .is_some_and(|rest| rest.is_empty() || rest[0] == b' ')
}

impl RspParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        RspParser {
            state: RspState::Line,
            off: 0,
            line: Vec::new(),
            line_start: 0,
            key: Arg { off: 0, len: 0 },
        }
    }

    fn reset(&mut self) {
        self.state = RspState::Line;
        self.off = 0;
        self.line.clear();
        self.line_start = 0;
    }

    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` (and
    /// after `Error`) the parser is ready for the next reply.
    pub fn parse(&mut self, chunk: &[u8], info: &mut McRsp) -> Parse {
        if self.off == 0 && self.state == RspState::Line {
            debug_assert!(self.line.is_empty());
            info.ty = McRspType::Values;
            info.number = 0;
            info.values.clear();
        }
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert!(
                    info.values.is_empty() || info.ty == McRspType::Values || info.ty.is_error()
                );
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => {}
        }
        r
    }

    fn parse_inner(&mut self, chunk: &[u8], info: &mut McRsp) -> Parse {
        let base = self.off;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let at = base + i as u64;
            match self.state {
                RspState::Line => {
                    let rest = &chunk[i..];
                    let nl = memchr(b'\n', rest);
                    let seg = &rest[..nl.unwrap_or(rest.len())];
                    if self.line.len() + seg.len() > RSP_MAX_LINE {
                        return Parse::Error(ERR_RSP_LINE);
                    }
                    self.line.extend_from_slice(seg);
                    let Some(p) = nl else {
                        break;
                    };
                    i += p;
                    match self.line_done(base + i as u64 + 1, info) {
                        Ok(true) => return Parse::Done(i + 1),
                        Ok(false) => {}
                        Err(e) => return Parse::Error(e),
                    }
                }
                RspState::Data(left) => {
                    let take = left.min((chunk.len() - i) as u64);
                    i += take as usize;
                    self.state = if take == left {
                        RspState::Trailer(false)
                    } else {
                        RspState::Data(left - take)
                    };
                    continue;
                }
                RspState::Trailer(false) => {
                    if b != b'\r' {
                        return Parse::Error(ERR_RSP_CRLF);
                    }
                    self.state = RspState::Trailer(true);
                }
                RspState::Trailer(true) => {
                    if b != b'\n' {
                        return Parse::Error(ERR_RSP_CRLF);
                    }
                    info.values.push(McValue {
                        key: self.key,
                        start: self.line_start,
                        end: at + 1,
                    });
                    self.line_start = at + 1;
                    self.state = RspState::Line;
                }
            }
            i += 1;
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }

    /// A line gathered in `line` ended; `end` is the message offset after its
    /// LF. Returns Ok(true) if the reply is complete.
    fn line_done(&mut self, end: u64, info: &mut McRsp) -> Result<bool, &'static str> {
        let Some((&b'\r', line)) = self.line.split_last() else {
            return Err(ERR_RSP_CRLF);
        };
        if let Some(rest) = line.strip_prefix(b"VALUE ") {
            // VALUE <key> <flags> <bytes>[ <cas>], single spaces.
            let mut it = rest.split(|&b| b == b' ');
            let (Some(key), Some(flags), Some(bytes)) = (it.next(), it.next(), it.next()) else {
                return Err(ERR_RSP_VALUE);
            };
            let cas_ok = it.next().is_none_or(|c| digits(c).is_some());
            let flags_ok = digits(flags).is_some_and(|f| f <= u64::from(u32::MAX));
            let bytes = digits(bytes).filter(|&n| n <= MAX_DATA_LEN);
            let key_len_ok = !key.is_empty() && key.len() <= KEY_MAX_LEN;
            let Some(bytes) =
                bytes.filter(|_| key_len_ok && flags_ok && cas_ok && it.next().is_none())
            else {
                return Err(ERR_RSP_VALUE);
            };
            self.key = Arg {
                off: self.line_start + 6,
                len: key.len() as u32,
            };
            self.line.clear();
            self.state = RspState::Data(bytes);
            return Ok(false);
        }
        let ty = match line {
            b"END" => McRspType::Values,
            b"STORED" => McRspType::Stored,
            b"NOT_STORED" => McRspType::NotStored,
            b"EXISTS" => McRspType::Exists,
            b"NOT_FOUND" => McRspType::NotFound,
            b"DELETED" => McRspType::Deleted,
            b"TOUCHED" => McRspType::Touched,
            b"OK" => McRspType::Ok,
            _ if is_word(line, b"ERROR") => McRspType::Error,
            _ if is_word(line, b"CLIENT_ERROR") => McRspType::ClientError,
            _ if is_word(line, b"SERVER_ERROR") => McRspType::ServerError,
            _ if line.starts_with(b"VERSION ") => McRspType::Version,
            _ => {
                let Some(n) = digits(line) else {
                    return Err(ERR_RSP_UNKNOWN);
                };
                info.number = n;
                McRspType::Number
            }
        };
        let ends_values = ty == McRspType::Values || ty.is_error();
        if !info.values.is_empty() && !ends_values {
            return Err(ERR_RSP_UNKNOWN);
        }
        info.ty = ty;
        self.line.clear();
        self.line_start = end;
        Ok(true)
    }
}
