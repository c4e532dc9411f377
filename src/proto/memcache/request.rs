//! Memcached ASCII requests (dyn_memcache.c `memcache_parse_req`): the
//! resumable request parser and what it learns about each request.
//!
//! The parser follows the contract of the RESP one ([`crate::proto::redis`]):
//! it is fed the bytes of one message chunk by chunk, keeps its own running
//! offset inside the message and records positions as message offsets:
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
//! Meta commands (`mg ms md ma me mn`) are lines of the same shape: the key
//! is the second token, flags follow (`ms` has its data length first and a
//! data block like `set`). A stream whose first byte is 0x80 is in the
//! binary protocol: one message is one packet, its header read into
//! [`BinReq`] and its command given as the meta command that serves it.
//!
//! Lines other than get/gets are gathered in a buffer of at most
//! [`MAX_LINE`] bytes; get/gets keys are streamed, so a multi-get line may be
//! up to [`MAX_GET_LINE`] bytes long.

use memchr::memchr;

use super::command::McCmd;
use crate::errors::{
    ERR_MC_BAD_DATA_CHUNK, ERR_MC_BAD_DELTA, ERR_MC_BAD_EXPTIME, ERR_MC_BAD_FORMAT, ERR_MC_BINARY,
    ERR_MC_DATA_TOO_LARGE, ERR_MC_DELETE_USAGE, ERR_MC_ERROR, ERR_MC_LINE_TOO_LONG,
};
use crate::proto::redis::Arg;
use crate::proto::Parse;

/// Longest key (memcached `KEY_MAX_LENGTH`).
pub const KEY_MAX_LEN: usize = 250;
/// Most bytes of a request line (CR included, LF excluded) other than a
/// get/gets line: memcached closes a connection holding more than 2048 bytes
/// without a newline. (It still reads a longer line whose newline came in
/// the same read; the parser cannot see reads, so it refuses them all.)
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

const _: () = assert!(KEY_MAX_LEN < MAX_LINE);
const _: () = assert!(MAX_LINE < MAX_GET_LINE);
const _: () = assert!(MAX_DATA_LEN < i32::MAX as u64 - 2);

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
    /// the request: one of the `ERR_MC_*` request texts of [`crate::errors`].
    /// The caller answers it (unless `noreply`) and keeps the connection.
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
    /// Meta commands: the one `q` flag token (message offsets). The proxy
    /// blanks it before forwarding, so the datastore always answers, and
    /// drops the replies quiet mode suppresses itself. None when there is
    /// no `q` flag, or more than one (memcached then answers
    /// `CLIENT_ERROR duplicate flag`, which quiet mode never suppresses).
    pub quiet: Option<Arg>,
    /// Meta commands: the `b` flag, the key is base64; it is hashed decoded.
    pub b64: bool,
    /// `mg` with a flag that changes the item (`T` touch, `N` create on miss,
    /// `E` new CAS): routed and replicated as a write.
    pub write: bool,
    /// `stats dynomite`: the node's own counters, answered by the proxy.
    pub node_stats: bool,
    /// A binary-protocol request: its header fields. `cmd` is the meta (or
    /// other text) command it is served as, `keys` its key.
    pub bin: Option<BinReq>,
}

/// Length of a binary-protocol header.
pub const BIN_HEADER_LEN: usize = 24;
/// Most extras bytes a binary request may carry (incr/decr: 20).
pub const BIN_EXTRAS_MAX: usize = 20;

/// The header of a binary-protocol request (magic 0x80).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BinReq {
    /// The opcode (`0x00` get, `0x01` set, …).
    pub opcode: u8,
    /// Echoed in the response.
    pub opaque: [u8; 4],
    /// The compare-and-swap value (0: none).
    pub cas: u64,
    /// The extras, as sent (the first `extras_len` bytes).
    pub extras: [u8; BIN_EXTRAS_MAX],
    /// How many extras bytes were sent.
    pub extras_len: u8,
    /// Message offsets `[start, end)` of the value.
    pub value: (u64, u64),
}

impl BinReq {
    /// The big-endian number in extras bytes `at..at + n`, if sent.
    pub fn extra(&self, at: usize, n: usize) -> Option<u64> {
        if at + n > usize::from(self.extras_len) {
            return None;
        }
        Some(
            self.extras[at..at + n]
                .iter()
                .fold(0u64, |v, &b| v << 8 | u64::from(b)),
        )
    }
}

/// The command a binary opcode is served as (Unknown: not served).
pub fn bin_cmd(opcode: u8) -> McCmd {
    match opcode {
        // get, getq, getk, getkq, touch, gat, gatq, gatk, gatkq
        0x00 | 0x09 | 0x0c | 0x0d | 0x1c | 0x1d | 0x1e | 0x23 | 0x24 => McCmd::Mg,
        // set, add, replace, append, prepend and their quiet forms
        0x01..=0x03 | 0x0e | 0x0f | 0x11..=0x13 | 0x19 | 0x1a => McCmd::Ms,
        0x04 | 0x14 => McCmd::Md,
        0x05 | 0x06 | 0x15 | 0x16 => McCmd::Ma,
        0x07 | 0x17 => McCmd::Quit,
        0x08 | 0x18 => McCmd::FlushAll,
        0x0a => McCmd::Mn,
        0x0b => McCmd::Version,
        0x10 => McCmd::Stats,
        _ => McCmd::Unknown,
    }
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
        self.quiet = None;
        self.b64 = false;
        self.write = false;
        self.node_stats = false;
        self.bin = None;
    }

    fn fail(&mut self, text: &'static str) {
        self.error = Some(text);
        self.keys.clear();
        self.data = None;
        self.quiet = None;
    }
}

/// A big-endian u16.
fn bin_u16(b: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([b[0], b[1]]))
}

/// The binary-protocol response to a packet that cannot be framed, whose
/// first bytes are `head`: magic 0x81, its opcode and opaque (when present),
/// status 0x0083 (not supported) and [`ERR_MC_BINARY`] as its body.
pub fn binary_refusal(head: &[u8]) -> Vec<u8> {
    let body = ERR_MC_BINARY.as_bytes();
    let mut out = vec![0u8; 24];
    out[0] = 0x81;
    out[1] = head.get(1).copied().unwrap_or(0);
    out[6..8].copy_from_slice(&0x0083u16.to_be_bytes());
    out[8..12].copy_from_slice(&(body.len() as u32).to_be_bytes());
    if let Some(opaque) = head.get(12..16) {
        out[12..16].copy_from_slice(opaque);
    }
    out.extend_from_slice(body);
    out
}

/// Decodes standard base64 (with or without `=` padding) into `out`
/// (cleared first), as memcached decodes a meta key sent with the `b` flag.
/// Returns false, with `out` unspecified, when `src` is not base64.
pub fn base64_decode(src: &[u8], out: &mut Vec<u8>) -> bool {
    fn val(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    out.clear();
    let body = match src {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        _ => src,
    };
    if body.len() % 4 == 1 {
        return false;
    }
    for quad in body.chunks(4) {
        let mut acc = 0u32;
        for &c in quad {
            let Some(v) = val(c) else {
                return false;
            };
            acc = acc << 6 | v;
        }
        match quad.len() {
            4 => out.extend_from_slice(&acc.to_be_bytes()[1..]),
            3 => out.extend_from_slice(&(acc << 6).to_be_bytes()[1..3]),
            _ => out.push((acc >> 4) as u8),
        }
    }
    true
}

/// A key memcached stores and the proxy forwards: 1..=250 bytes, none of them
/// a space or a control character (C `iscntrl`, DEL included). memcached
/// itself only checks the length.
pub fn key_ok(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= KEY_MAX_LEN && key.iter().all(|&b| b > b' ' && b != 0x7f)
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
    /// Binary protocol: the header, extras and key, into `line`.
    BinHead,
    /// Binary protocol: value bytes still to skip.
    BinValue(u64),
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
    /// Some byte of the stream was read: the binary magic is looked for
    /// only in the first byte.
    started: bool,
    /// The stream is in the binary protocol (its first byte was 0x80).
    binary: bool,
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
            started: false,
            binary: false,
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
        if !self.started && chunk.first() == Some(&0x80) {
            // memcached picks the binary protocol by a connection's first
            // byte.
            self.binary = true;
        }
        self.started |= !chunk.is_empty();
        let r = if self.binary {
            self.parse_binary(chunk, info)
        } else {
            self.parse_inner(chunk, info)
        };
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
                            return Parse::Error(ERR_MC_LINE_TOO_LONG);
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
                        return Parse::Error(ERR_MC_LINE_TOO_LONG);
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
                        return Parse::Error(ERR_MC_LINE_TOO_LONG);
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
                        return Parse::Error(ERR_MC_LINE_TOO_LONG);
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
                ReqState::BinHead | ReqState::BinValue(_) => {
                    unreachable!("text stream in a binary state")
                }
                ReqState::Trailer(None) => self.state = ReqState::Trailer(Some(b == b'\r')),
                ReqState::Trailer(Some(cr)) => {
                    // memcached reads `bytes + 2` bytes and then checks the
                    // last two; the next request starts right after them.
                    if !(cr && b == b'\n') {
                        info.fail(ERR_MC_BAD_DATA_CHUNK);
                    }
                    return Parse::Done(i + 1);
                }
            }
            i += 1;
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }

    /// The binary protocol: one message is one packet (header, extras, key,
    /// value). A packet that is not a request (bad magic) or claims more
    /// than [`MAX_DATA_LEN`] ends the stream.
    fn parse_binary(&mut self, chunk: &[u8], info: &mut McReq) -> Parse {
        let base = self.off;
        let mut i = 0;
        while i < chunk.len() {
            if self.state == ReqState::Name {
                self.state = ReqState::BinHead;
            }
            match self.state {
                ReqState::BinHead => {
                    let need = if self.line.len() < BIN_HEADER_LEN {
                        BIN_HEADER_LEN
                    } else {
                        BIN_HEADER_LEN + usize::from(self.line[4]) + bin_u16(&self.line[2..4])
                    };
                    let take = (need - self.line.len()).min(chunk.len() - i);
                    self.line.extend_from_slice(&chunk[i..i + take]);
                    i += take;
                    if self.line.len() < need {
                        continue;
                    }
                    if need == BIN_HEADER_LEN {
                        let h = &self.line;
                        let (ext, key) = (usize::from(h[4]), bin_u16(&h[2..4]));
                        let body = u64::from(u32::from_be_bytes([h[8], h[9], h[10], h[11]]));
                        if h[0] != 0x80 {
                            return Parse::Error(ERR_MC_BINARY);
                        }
                        if body < (ext + key) as u64 || body - ((ext + key) as u64) > MAX_DATA_LEN {
                            return Parse::Error(ERR_MC_DATA_TOO_LARGE);
                        }
                        if ext > BIN_EXTRAS_MAX || key > KEY_MAX_LEN {
                            // Framed, then refused (memcached answers
                            // "invalid arguments" and goes on).
                            info.cmd = bin_cmd(h[1]);
                            info.bin = Some(BinReq {
                                opcode: h[1],
                                opaque: [h[12], h[13], h[14], h[15]],
                                ..BinReq::default()
                            });
                            info.fail(ERR_MC_BAD_FORMAT);
                            self.line.truncate(BIN_HEADER_LEN);
                            self.state = ReqState::BinValue(body);
                            if body == 0 {
                                return Parse::Done(i);
                            }
                            continue;
                        }
                        if ext + key > 0 {
                            continue;
                        }
                    }
                    let at = base + i as u64;
                    match self.bin_request(at, info) {
                        0 => return Parse::Done(i),
                        left => self.state = ReqState::BinValue(left),
                    }
                }
                ReqState::BinValue(left) => {
                    let take = left.min((chunk.len() - i) as u64);
                    i += take as usize;
                    if take == left {
                        return Parse::Done(i);
                    }
                    self.state = ReqState::BinValue(left - take);
                }
                _ => unreachable!("binary stream in a text state"),
            }
        }
        self.off = base + chunk.len() as u64;
        Parse::Again
    }

    /// The header, extras and key of a binary request are in `line`; `at` is
    /// the message offset after them. Fills `info`; returns the value's
    /// length.
    fn bin_request(&mut self, at: u64, info: &mut McReq) -> u64 {
        let h = &self.line;
        let (ext, key) = (usize::from(h[4]), bin_u16(&h[2..4]));
        let body = u64::from(u32::from_be_bytes([h[8], h[9], h[10], h[11]]));
        let value_len = body - (ext + key) as u64;
        let mut bin = BinReq {
            opcode: h[1],
            opaque: [h[12], h[13], h[14], h[15]],
            cas: u64::from_be_bytes(h[16..24].try_into().expect("8 bytes")),
            extras_len: ext as u8,
            value: (at, at + value_len),
            ..BinReq::default()
        };
        bin.extras[..ext].copy_from_slice(&h[BIN_HEADER_LEN..BIN_HEADER_LEN + ext]);
        info.bin = Some(bin);
        info.cmd = bin_cmd(bin.opcode);
        let keyed = matches!(info.cmd, McCmd::Mg | McCmd::Ms | McCmd::Md | McCmd::Ma);
        if info.cmd == McCmd::Unknown {
            info.fail(ERR_MC_ERROR);
        } else if (keyed || (info.cmd == McCmd::Stats && key > 0))
            && !key_ok(&h[BIN_HEADER_LEN + ext..])
        {
            info.fail(ERR_MC_BAD_FORMAT);
        } else if info.cmd == McCmd::Stats && key > 0 {
            // stat <group>: the group travels as the key.
            let group = &h[BIN_HEADER_LEN + ext..];
            info.node_stats = group == b"dynomite";
            info.keys.push(Arg {
                off: (BIN_HEADER_LEN + ext) as u64,
                len: key as u32,
            });
        } else if keyed {
            info.keys.push(Arg {
                off: (BIN_HEADER_LEN + ext) as u64,
                len: key as u32,
            });
            // touch and the gat family change the item.
            info.write = matches!(bin.opcode, 0x1c | 0x1d | 0x1e | 0x23 | 0x24);
            if info.cmd == McCmd::Ms {
                info.bytes = value_len as u32;
                info.data = Some(bin.value);
            }
        }
        value_len
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
            info.fail(ERR_MC_BAD_FORMAT);
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
            info.fail(ERR_MC_ERROR);
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
            info.fail(ERR_MC_ERROR);
            return Ok(true);
        }
        let cmd = McCmd::from_name(w[0].1);
        info.cmd = cmd;
        match cmd {
            McCmd::Unknown => info.fail(ERR_MC_ERROR),
            McCmd::Get | McCmd::Gets | McCmd::Gat | McCmd::Gats => {
                if nt < 3 {
                    info.fail(ERR_MC_ERROR);
                    return Ok(true);
                }
                let mut first = 1;
                if matches!(cmd, McCmd::Gat | McCmd::Gats) {
                    let Some(exptime) = safe_strtol32(w[1].1) else {
                        info.fail(ERR_MC_BAD_EXPTIME);
                        return Ok(true);
                    };
                    info.exptime = exptime;
                    first = 2;
                }
                for (off, key) in words(line).skip(first) {
                    if !key_ok(key) {
                        info.fail(ERR_MC_BAD_FORMAT);
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
                    info.fail(ERR_MC_ERROR);
                    return Ok(true);
                }
                info.noreply = last == b"noreply";
                if !key_ok(w[1].1) {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                }
                let nums = (
                    safe_strtoul32(w[2].1),
                    safe_strtol32(w[3].1),
                    safe_strtol32(w[4].1),
                );
                let (Some(flags), Some(exptime), Some(vlen)) = nums else {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                };
                if cmd == McCmd::Cas {
                    let Some(cas) = safe_strtoull(w[5].1) else {
                        info.fail(ERR_MC_BAD_FORMAT);
                        return Ok(true);
                    };
                    info.cas = cas;
                }
                if !(0..=i32::MAX - 2).contains(&vlen) {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                }
                let vlen = vlen as u64;
                if vlen > MAX_DATA_LEN {
                    return Err(ERR_MC_DATA_TOO_LARGE);
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
                    info.fail(ERR_MC_ERROR);
                    return Ok(true);
                }
                info.noreply = last == b"noreply";
                if !key_ok(w[1].1) {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                }
                if cmd == McCmd::Touch {
                    let Some(exptime) = safe_strtol32(w[2].1) else {
                        info.fail(ERR_MC_BAD_EXPTIME);
                        return Ok(true);
                    };
                    info.exptime = exptime;
                } else {
                    let Some(delta) = safe_strtoull(w[2].1) else {
                        info.fail(ERR_MC_BAD_DELTA);
                        return Ok(true);
                    };
                    info.delta = delta;
                }
                info.keys.push(arg(1));
            }
            McCmd::Delete => {
                if !(3..=5).contains(&nt) {
                    info.fail(ERR_MC_ERROR);
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
                        info.fail(ERR_MC_DELETE_USAGE);
                        return Ok(true);
                    }
                }
                if !key_ok(w[1].1) {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                }
                info.keys.push(arg(1));
            }
            // memcached ignores any further tokens of these three.
            McCmd::Quit | McCmd::Version | McCmd::Mn => {}
            McCmd::Mg | McCmd::Md | McCmd::Ma | McCmd::Me | McCmd::Ms => {
                if count < 2 {
                    // `me` alone is a format error, the others unknown.
                    info.fail(if cmd == McCmd::Me {
                        ERR_MC_BAD_FORMAT
                    } else {
                        ERR_MC_ERROR
                    });
                    return Ok(true);
                }
                if !key_ok(w[1].1) {
                    info.fail(ERR_MC_BAD_FORMAT);
                    return Ok(true);
                }
                let mut first_flag = 2;
                let mut vlen = 0;
                if cmd == McCmd::Ms {
                    // `ms <key> <datalen> <flag>*`: without a valid length
                    // memcached reads no data block.
                    let len = if count < 3 {
                        None
                    } else {
                        safe_strtol32(w[2].1)
                    };
                    let Some(len) = len.filter(|l| (0..=i32::MAX - 2).contains(l)) else {
                        info.fail(ERR_MC_BAD_FORMAT);
                        return Ok(true);
                    };
                    vlen = len as u64;
                    if vlen > MAX_DATA_LEN {
                        return Err(ERR_MC_DATA_TOO_LARGE);
                    }
                    first_flag = 3;
                }
                let mut quiet = 0;
                for (off, flag) in words(line).skip(first_flag) {
                    match flag[0] {
                        b'q' => {
                            quiet += 1;
                            info.quiet = Some(Arg {
                                off: off as u64,
                                len: flag.len() as u32,
                            });
                        }
                        b'b' => info.b64 = true,
                        b'T' | b'N' | b'E' if cmd == McCmd::Mg => info.write = true,
                        _ => {}
                    }
                }
                if quiet != 1 || cmd == McCmd::Me {
                    info.quiet = None;
                }
                info.keys.push(arg(1));
                if cmd == McCmd::Ms {
                    info.bytes = vlen as u32;
                    info.data = Some((end, end + vlen + 2));
                    self.state = ReqState::Data(vlen);
                    return Ok(false);
                }
            }
            McCmd::Stats => {
                info.node_stats = count == 2 && w[1].1 == b"dynomite";
            }
            McCmd::FlushAll => {
                // `flush_all[ <delay>][ noreply]`
                info.noreply = last == b"noreply";
                let args = count - 1 - usize::from(info.noreply);
                if args > 1 {
                    info.fail(ERR_MC_ERROR);
                    return Ok(true);
                }
                if args == 1 {
                    let Some(delay) = safe_strtol32(w[1].1) else {
                        info.fail(ERR_MC_BAD_EXPTIME);
                        return Ok(true);
                    };
                    info.exptime = delay;
                }
            }
            McCmd::Verbosity => {
                // `verbosity <level>[ noreply]`; memcached does not check the
                // level.
                if !(2..=3).contains(&count) {
                    info.fail(ERR_MC_ERROR);
                    return Ok(true);
                }
                info.noreply = last == b"noreply";
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::testing::{expand, feed_all, show, Run};

    fn req_run(input: &[u8]) -> Run<McReq> {
        feed_all(input, McReq::default(), ReqParser::parse)
    }

    /// One request as text: `<end> <cmd> <keys...> <fields> [noreply] [!error]`.
    fn render_req(input: &[u8], start: u64, end: u64, r: &McReq) -> String {
        let mut s = format!(
            "{end} {}",
            if r.cmd == McCmd::Unknown {
                "?"
            } else {
                r.cmd.name()
            }
        );
        for k in &r.keys {
            let o = (start + k.off) as usize;
            assert!(o + k.len as usize <= end as usize);
            s += &format!(" {}", show(&input[o..o + k.len as usize]));
        }
        if let Some((ds, de)) = r.data {
            assert_eq!(de - ds, u64::from(r.bytes) + 2);
            assert_eq!(start + de, end);
            let d = &input[(start + ds) as usize..(start + de) as usize];
            assert_eq!(&d[d.len() - 2..], b"\r\n");
            s += &format!(
                " f={} e={} d={}",
                r.flags,
                r.exptime,
                show(&d[..d.len() - 2])
            );
        }
        if r.error.is_none() {
            match r.cmd {
                McCmd::Cas => s += &format!(" cas={}", r.cas),
                McCmd::Incr | McCmd::Decr => s += &format!(" delta={}", r.delta),
                McCmd::Touch | McCmd::Gat | McCmd::Gats => s += &format!(" e={}", r.exptime),
                _ => {}
            }
        }
        if r.noreply {
            s += " noreply";
        }
        if let Some(e) = r.error {
            assert!(r.keys.is_empty() && r.data.is_none());
            s += &format!(" !{e}");
        }
        s
    }

    fn render_reqs(input: &[u8], run: &Run<McReq>) -> Vec<String> {
        run.each_msg(|start, end, r| render_req(input, start, end, r))
    }

    #[test]
    fn req_ok() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"get a\r\n", &["7 get a"]),
            (b"get a\n", &["6 get a"]),
            (b"  get   a  bb \r\n", &["16 get a bb"]),
            (b"gets a b c\r\n", &["12 gets a b c"]),
            (b"get a\x00b c\r\n", &["11 get a"]),
            (b"get a \x00 b\r\n", &["11 get a"]),
            (b"get noreply\r\n", &["13 get noreply"]),
            (
                b"get \xc3\xa9t\xc3\xa9\r\n",
                &["11 get \\xc3\\xa9t\\xc3\\xa9"],
            ),
            (b"get <K250>\r\n", &["256 get <K250>"]),
            (b"gat 10 a b\r\n", &["12 gat a b e=10"]),
            (b"gats -1 a\r\n", &["11 gats a e=-1"]),
            // memcached answers END to a gat without keys.
            (b"gat 10\r\n", &["8 gat e=10"]),
            (b"set k 1 2 3\r\nabc\r\n", &["18 set k f=1 e=2 d=abc"]),
            (b"set k 1 2 3\r\na\r\n\r\n", &["18 set k f=1 e=2 d=a\\r\\n"]),
            (b"add k 0 0 0\r\n\r\n", &["15 add k f=0 e=0 d="]),
            (
                b"replace k 0 0 1 noreply\r\nx\r\n",
                &["28 replace k f=0 e=0 d=x noreply"],
            ),
            (b"append k 0 0 1\nx\r\n", &["18 append k f=0 e=0 d=x"]),
            (
                b"prepend  k  0  0  1 \r\nx\r\n",
                &["25 prepend k f=0 e=0 d=x"],
            ),
            (b"cas k 0 0 1 99\r\nx\r\n", &["19 cas k f=0 e=0 d=x cas=99"]),
            (
                b"cas k 0 0 1 99 noreply\r\nx\r\n",
                &["27 cas k f=0 e=0 d=x cas=99 noreply"],
            ),
            // A sixth word that is not `noreply` is ignored.
            (b"set k 0 0 1 foo\r\nx\r\n", &["20 set k f=0 e=0 d=x"]),
            // strtoul/strtol as memcached calls them.
            (b"set k +1 +0 +1\r\nx\r\n", &["19 set k f=1 e=0 d=x"]),
            (b"set k 4294967296 0 1\r\nx\r\n", &["25 set k f=0 e=0 d=x"]),
            (
                b"set k 4294967295 -5 1\r\nx\r\n",
                &["26 set k f=4294967295 e=-5 d=x"],
            ),
            (b"set k 0 0 4294967297\r\nx\r\n", &["25 set k f=0 e=0 d=x"]),
            (b"set k 0 0 1\tx\r\nx\r\n", &["18 set k f=0 e=0 d=x"]),
            (b"set k -0 \t7 1\x0b\r\nx\r\n", &["19 set k f=0 e=7 d=x"]),
            (
                b"set k -18446744073709551615 0 1\r\nx\r\n",
                &["36 set k f=1 e=0 d=x"],
            ),
            (b"set k 0 0 1\x00junk\r\nx\r\n", &["21 set k f=0 e=0 d=x"]),
            (b"incr k 5\r\n", &["10 incr k delta=5"]),
            (
                b"decr k 18446744073709551615 noreply\r\n",
                &["37 decr k delta=18446744073709551615 noreply"],
            ),
            (b"incr k -0\r\n", &["11 incr k delta=0"]),
            (
                b"incr k -9223372036854775809\r\n",
                &["29 incr k delta=9223372036854775807"],
            ),
            (b"incr k 1 foo\r\n", &["14 incr k delta=1"]),
            (b"touch k 10\r\n", &["12 touch k e=10"]),
            (b"touch k 10 noreply\r\n", &["20 touch k e=10 noreply"]),
            (b"touch k 99999999999\r\n", &["21 touch k e=1215752191"]),
            (b"touch k \t5\r\n", &["12 touch k e=5"]),
            (b"delete k\r\n", &["10 delete k"]),
            (b"delete k 0\r\n", &["12 delete k"]),
            (b"delete k noreply\r\n", &["18 delete k noreply"]),
            (b"delete k 0 noreply\r\n", &["20 delete k noreply"]),
            (b"version\r\n", &["9 version"]),
            (b"version foo\r\n", &["13 version"]),
            (b"quit\r\n", &["6 quit"]),
            (b"quit now\n", &["9 quit"]),
            // Pipelined.
            (
                b"get a b\r\nset k 0 0 2\r\nxy\r\ndelete k noreply\r\nbogus\r\nincr n 1\r\n",
                &[
                    "9 get a b",
                    "26 set k f=0 e=0 d=xy",
                    "44 delete k noreply",
                    "51 ? !ERROR",
                    "61 incr n delta=1",
                ],
            ),
            // Incomplete: nothing yet.
            (b"get a", &[]),
            (b"get a\r", &[]),
            (b"set k 0 0 1\r\nx\r", &[]),
            (b"set k 0 0 1073741824\r\n", &[]),
            (b"", &[]),
        ];
        for (input, want) in cases {
            let input = expand(input);
            let run = req_run(&input);
            assert_eq!(run.err, None, "{}", show(&input));
            let want: Vec<String> = want
                .iter()
                .map(|w| String::from_utf8(expand(w.as_bytes())).unwrap())
                .collect();
            assert_eq!(render_reqs(&input, &run), want, "{}", show(&input));
        }
    }

    /// What a client of memcached sees for `input` when every request in it
    /// is refused or silent: the error lines, none for `noreply`, nothing
    /// after `quit`.
    fn client_sees(input: &[u8]) -> Vec<u8> {
        let run = req_run(input);
        assert_eq!(run.err, None, "{}", show(input));
        let mut out = Vec::new();
        for (_, r) in &run.msgs {
            if r.cmd == McCmd::Quit && r.error.is_none() {
                break;
            }
            if r.noreply {
                continue;
            }
            let e = r
                .error
                .unwrap_or_else(|| panic!("{}: {:?} needs a datastore reply", show(input), r.cmd));
            out.extend_from_slice(e.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    #[test]
    fn req_errors_as_memcached() {
        // (input, the bytes memcached 1.6.18 answered to it on a new connection).
        let cases: &[(&[u8], &[u8])] = &[
            (b"\r\n", b"ERROR\r\n"),
            (b"\n", b"ERROR\r\n"),
            (b"x\r\n", b"ERROR\r\n"),
            (b"  \r\n", b"ERROR\r\n"),
            (b"VERSION\r\n", b"ERROR\r\n"),
            (b"GET a\r\n", b"ERROR\r\n"),
            (b"get\r\n", b"ERROR\r\n"),
            (b"get \r\n", b"ERROR\r\n"),
            (b"get  \r\n", b"ERROR\r\n"),
            (b"gets\r\n", b"ERROR\r\n"),
            (b"gat\r\n", b"ERROR\r\n"),
            (b"gat x a\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"gats 1x a\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"get\ta\r\n", b"ERROR\r\n"),
            (b"version\r\r\n", b"ERROR\r\n"),
            (b"version\tx\r\n", b"ERROR\r\n"),
            (b"get \x00a\r\n", b"ERROR\r\n"),
            (b"mz\r\n", b"ERROR\r\n"),
            (b"get <K251>\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"get a <K251>\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"gets a b <K251> c\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"gat 0 a <K251>\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"gat x <K251>\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"set k 0 0 1\r\nabc\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
            (b"set k 0 0 1 noreply\r\nabc\r\n", b"ERROR\r\n"),
            (b"set k 0 0 -1\r\n\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"set k x 0 1\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"set k -1 0 1\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"set k 0 0 1x\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"set k 0 0\r\n", b"ERROR\r\n"),
            (b"set k 0 0 1 noreply x\r\na\r\n", b"ERROR\r\nERROR\r\n"),
            (b"set k 0 x 1 noreply\r\na\r\n", b"ERROR\r\n"),
            (b"SET k 0 0 1\r\na\r\n", b"ERROR\r\nERROR\r\n"),
            (b"set k 0 0 2147483647\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"set k 0 0 2147483646\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"set k 0 0 2147483648\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"set k 0 0 noreply\r\n", b""),
            (b"set <K251> 0 0 1\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"set <K251> 0 0 1 noreply\r\na\r\n", b"ERROR\r\n"),
            (b"add k 0 0 1\r\na\nb\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
            (b"set k 0 0 1\r\nab\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
            (b"replace k 0 0 0\r\nx\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
            (b"prepend k 0 0 2\r\nab\n\n", b"CLIENT_ERROR bad data chunk\r\n"),
            (b"append k 0 0 1\r\na\n", b""),
            (b"cas k 0 0 1\r\na\r\n", b"ERROR\r\nERROR\r\n"),
            (b"cas k 0 0 1 x\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"cas k 0 0 1 -1\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"cas k 0 0 1 noreply\r\na\r\n", b"ERROR\r\n"),
            (b"cas k 0 0 1 18446744073709551616\r\na\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
            (b"incr a\r\n", b"ERROR\r\n"),
            (b"incr a -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a x\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a 18446744073709551616\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a -9223372036854775808\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a x noreply\r\n", b""),
            (b"incr a 1 2 3\r\n", b"ERROR\r\n"),
            (b"decr <K251> 1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"decr <K251> x\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"incr a 0x1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a  \r\n", b"ERROR\r\n"),
            (b"decr a 1.5\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"incr a \t\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
            (b"touch a\r\n", b"ERROR\r\n"),
            (b"touch a x\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"touch a 99999999999999999999\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"touch a 0x10\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"touch <K251> 1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"touch a x noreply\r\n", b""),
            (b"touch a 1 2 3\r\n", b"ERROR\r\n"),
            (b"delete\r\n", b"ERROR\r\n"),
            (b"delete a 5\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            (b"delete a 0 x\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            (b"delete a b c d\r\n", b"ERROR\r\n"),
            (b"delete a 00\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            (b"delete a 5 noreply\r\n", b""),
            (b"delete a noreply\r\n", b""),
            (b"delete a 0 noreply\r\n", b""),
            (b"delete <K251>\r\n", b"CLIENT_ERROR bad command line format\r\n"),
            (b"delete <K251> 5\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            (b"delete <K251> noreply\r\n", b""),
            (b"quit\r\n", b""),
            (b"get\r\nquit\r\nget\r\n", b"ERROR\r\n"),
            (b"get\r\nset k 0 0 1\r\nabc\r\ndelete a 5\r\n", b"ERROR\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\nCLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            (b"set k 0 0 1 noreply\r\na\r\ndelete k noreply\r\nincr k 1 noreply\r\ntouch k 1 noreply\r\nget\r\n", b"ERROR\r\n"),
        ];
        for (input, want) in cases {
            let input = expand(input);
            assert_eq!(show(&client_sees(&input)), show(want), "{}", show(&input));
        }
    }

    #[test]
    fn req_errors_own() {
        // Where the proxy refuses what memcached accepts, or answers it with
        // ERROR instead of serving it.
        let cases: &[(&[u8], &[&str])] = &[
            // Control characters in keys (memcached only checks the length).
            (
                b"get a\x01b\r\n",
                &["9 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"get a\tb c\r\n",
                &["11 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"get a\rb\r\n",
                &["9 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"get a\r\r\n",
                &["8 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"get \r a\r\n",
                &["9 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"get a\x7f\r\n",
                &["8 get !CLIENT_ERROR bad command line format"],
            ),
            (
                b"gat 1 a\x01\r\n",
                &["10 gat !CLIENT_ERROR bad command line format"],
            ),
            (
                b"set a\x01 0 0 1\r\nx\r\n",
                &[
                    "14 set !CLIENT_ERROR bad command line format",
                    "17 ? !ERROR",
                ],
            ),
            (
                b"incr a\x1b 1\r\n",
                &["11 incr !CLIENT_ERROR bad command line format"],
            ),
            (
                b"touch a\x1b 1\r\n",
                &["12 touch !CLIENT_ERROR bad command line format"],
            ),
            (
                b"delete a\x1b\r\n",
                &["11 delete !CLIENT_ERROR bad command line format"],
            ),
            // Meta keys with control characters.
            (
                b"mg a\x01 v\r\n",
                &["9 mg !CLIENT_ERROR bad command line format"],
            ),
            // Commands memcached serves and the proxy does not.
            (b"shutdown\r\n", &["10 ? !ERROR"]),
            (b"slabs reassign 1 2\r\n", &["20 ? !ERROR"]),
            (b"lru_crawler metadump all\r\n", &["26 ? !ERROR"]),
            // The rest of a refused line is not read as a request.
            (
                b"get <K251> get a\r\nget b\r\n",
                &["263 get !CLIENT_ERROR bad command line format", "270 get b"],
            ),
        ];
        for (input, want) in cases {
            let input = expand(input);
            let run = req_run(&input);
            assert_eq!(run.err, None, "{}", show(&input));
            assert_eq!(render_reqs(&input, &run), *want, "{}", show(&input));
        }
    }

    #[test]
    fn req_meta() {
        // (input, rendered messages, quiet flag text, b64, write, node stats)
        type Want = (
            &'static [&'static str],
            Option<&'static str>,
            bool,
            bool,
            bool,
        );
        let cases: &[(&[u8], Want)] = &[
            (b"mg a v\r\n", (&["8 mg a"], None, false, false, false)),
            (
                b"mg a v q k\r\n",
                (&["12 mg a"], Some("q"), false, false, false),
            ),
            (
                b"mg a qx v\r\n",
                (&["11 mg a"], Some("qx"), false, false, false),
            ),
            // Two q flags: memcached refuses them; nothing is blanked.
            (b"mg a q q\r\n", (&["10 mg a"], None, false, false, false)),
            (
                b"mg YQ== b v\r\n",
                (&["13 mg YQ=="], None, true, false, false),
            ),
            (b"mg a T30 v\r\n", (&["12 mg a"], None, false, true, false)),
            (b"mg a N30 v\r\n", (&["12 mg a"], None, false, true, false)),
            (
                b"md a q I\r\n",
                (&["10 md a"], Some("q"), false, false, false),
            ),
            (
                b"ma n N0 J5 v\r\n",
                (&["14 ma n"], None, false, false, false),
            ),
            (b"me a\r\n", (&["6 me a"], None, false, false, false)),
            (b"me a q\r\n", (&["8 me a"], None, false, false, false)),
            (b"mn\r\n", (&["4 mn"], None, false, false, false)),
            (b"mn x y\r\n", (&["8 mn"], None, false, false, false)),
            (
                b"ms a 2 T0 q\r\nhi\r\n",
                (&["17 ms a f=0 e=0 d=hi"], Some("q"), false, false, false),
            ),
            (
                b"ms YQ== 0 b\r\n\r\n",
                (&["15 ms YQ== f=0 e=0 d="], None, true, false, false),
            ),
            (b"stats\r\n", (&["7 stats"], None, false, false, false)),
            (
                b"stats dynomite\r\n",
                (&["16 stats"], None, false, false, true),
            ),
            (
                b"stats slabs\r\n",
                (&["13 stats"], None, false, false, false),
            ),
            (
                b"flush_all\r\n",
                (&["11 flush_all"], None, false, false, false),
            ),
            (
                b"flush_all 10\r\n",
                (&["14 flush_all"], None, false, false, false),
            ),
            (
                b"flush_all 0 noreply\r\n",
                (&["21 flush_all noreply"], None, false, false, false),
            ),
            (
                b"verbosity 1\r\n",
                (&["13 verbosity"], None, false, false, false),
            ),
            (
                b"verbosity 1 noreply\r\n",
                (&["21 verbosity noreply"], None, false, false, false),
            ),
            // Refused as memcached refuses them.
            (b"mg\r\n", (&["4 mg !ERROR"], None, false, false, false)),
            (b"ms\r\n", (&["4 ms !ERROR"], None, false, false, false)),
            (
                b"me\r\n",
                (
                    &["4 me !CLIENT_ERROR bad command line format"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"ms a\r\n",
                (
                    &["6 ms !CLIENT_ERROR bad command line format"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"ms a x\r\nhi\r\n",
                (
                    &["8 ms !CLIENT_ERROR bad command line format", "12 ? !ERROR"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"ms a -1\r\n",
                (
                    &["9 ms !CLIENT_ERROR bad command line format"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"ms a 2\r\nhiXX\r\n",
                (
                    &["12 ms !CLIENT_ERROR bad data chunk", "14 ? !ERROR"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"mg <K251> v\r\n",
                (
                    &["258 mg !CLIENT_ERROR bad command line format"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"flush_all x\r\n",
                (
                    &["13 flush_all !CLIENT_ERROR invalid exptime argument"],
                    None,
                    false,
                    false,
                    false,
                ),
            ),
            (
                b"flush_all 1 2 3\r\n",
                (&["17 flush_all !ERROR"], None, false, false, false),
            ),
            (
                b"verbosity\r\n",
                (&["11 verbosity !ERROR"], None, false, false, false),
            ),
        ];
        for (input, (msgs, quiet, b64, write, node_stats)) in cases {
            let input = expand(input);
            let run = req_run(&input);
            assert_eq!(run.err, None, "{}", show(&input));
            assert_eq!(render_reqs(&input, &run), *msgs, "{}", show(&input));
            let r = &run.msgs[0].1;
            let q = r
                .quiet
                .map(|a| show(&input[a.off as usize..(a.off + u64::from(a.len)) as usize]));
            assert_eq!(q.as_deref(), *quiet, "{}", show(&input));
            assert_eq!(
                (r.b64, r.write, r.node_stats),
                (*b64, *write, *node_stats),
                "{}",
                show(&input)
            );
        }
        assert_eq!(
            req_run(b"ms a 1073741825\r\n").err,
            Some(ERR_MC_DATA_TOO_LARGE)
        );
    }

    /// A binary request packet: header, extras, key, value.
    fn bin_packet(opcode: u8, extras: &[u8], key: &[u8], value: &[u8], opaque: u8) -> Vec<u8> {
        let mut p = vec![0x80, opcode];
        p.extend_from_slice(&(key.len() as u16).to_be_bytes());
        p.push(extras.len() as u8);
        p.extend_from_slice(&[0, 0, 0]);
        let body = (extras.len() + key.len() + value.len()) as u32;
        p.extend_from_slice(&body.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, opaque]);
        p.extend_from_slice(&7u64.to_be_bytes());
        p.extend_from_slice(extras);
        p.extend_from_slice(key);
        p.extend_from_slice(value);
        p
    }

    #[test]
    fn binary_requests_are_framed() {
        let set_extras = [0, 0, 0, 5, 0, 0, 0, 100];
        let mut input = bin_packet(0x00, &[], b"k1", &[], 1);
        let get_end = input.len() as u64;
        input.extend(bin_packet(0x11, &set_extras, b"key", b"value\r\n", 2));
        let set_end = input.len() as u64;
        input.extend(bin_packet(0x0a, &[], &[], &[], 3));
        input.extend(bin_packet(0x10, &[], b"dynomite", &[], 4));
        input.extend(bin_packet(0x2b, &[], b"k", &[], 5));
        input.extend(bin_packet(0x00, &[], &[b'k'; 251], &[], 6));
        input.extend(bin_packet(0x05, &[0; 20], b"n", &[], 7));
        let run = req_run(&input);
        assert_eq!(run.err, None);
        let got: Vec<(u64, McCmd, Option<&str>, u8)> = run
            .msgs
            .iter()
            .map(|(end, r)| (*end, r.cmd, r.error, r.bin.expect("binary").opcode))
            .collect();
        let want = [
            (get_end, McCmd::Mg, None, 0x00),
            (set_end, McCmd::Ms, None, 0x11),
            (set_end + 24, McCmd::Mn, None, 0x0a),
            (set_end + 56, McCmd::Stats, None, 0x10),
            (set_end + 81, McCmd::Unknown, Some(ERR_MC_ERROR), 0x2b),
            (set_end + 356, McCmd::Mg, Some(ERR_MC_BAD_FORMAT), 0x00),
            (set_end + 401, McCmd::Ma, None, 0x05),
        ];
        assert_eq!(got, want);
        let get = &run.msgs[0].1;
        assert_eq!(get.keys, vec![Arg { off: 24, len: 2 }]);
        let set = &run.msgs[1].1;
        let bin = set.bin.expect("binary");
        assert_eq!(set.keys, vec![Arg { off: 32, len: 3 }]);
        assert_eq!((bin.extra(0, 4), bin.extra(4, 4)), (Some(5), Some(100)));
        assert_eq!(bin.extra(8, 4), None);
        assert_eq!((bin.opaque, bin.cas), ([0, 0, 0, 2], 7));
        assert_eq!(bin.value, (35, 42));
        assert_eq!(set.data, Some((35, 42)));
        assert!(run.msgs[3].1.node_stats);
        // A packet without the request magic ends the stream.
        let mut bad = bin_packet(0x00, &[], b"k", &[], 1);
        bad.extend(bin_packet(0x00, &[], b"k", &[], 1));
        bad[25] = 0x81;
        let run = req_run(&bad);
        assert_eq!((run.msgs.len(), run.err), (1, Some(ERR_MC_BINARY)));
        // Later in a text stream the byte is no magic: memcached answers
        // ERROR.
        let run = req_run(b"get a\r\n\x80\r\n");
        assert_eq!(run.err, None);
        assert_eq!(run.msgs[1].1.error, Some(ERR_MC_ERROR));
        let r = binary_refusal(&bad);
        assert_eq!(&r[..2], &[0x81, 0x00]);
        assert_eq!(&r[6..8], &[0x00, 0x83]);
        assert_eq!(&r[8..12], &(ERR_MC_BINARY.len() as u32).to_be_bytes());
        assert_eq!(&r[12..16], &[0, 0, 0, 1]);
        assert_eq!(&r[24..], ERR_MC_BINARY.as_bytes());
        assert_eq!(binary_refusal(&[0x80]).len(), 24 + ERR_MC_BINARY.len());
        // A value over the largest item ends the stream.
        let mut huge = bin_packet(0x01, &set_extras, b"k", &[], 1);
        huge[8..12].copy_from_slice(&(MAX_DATA_LEN as u32 + 10).to_be_bytes());
        assert_eq!(req_run(&huge).err, Some(ERR_MC_DATA_TOO_LARGE));
    }

    /// Random binary streams (valid headers with random fields, lengths
    /// kept small) parse alike whole, split at every byte and byte by byte.
    #[test]
    fn binary_streams_split_anywhere() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for _ in 0..200 {
            let mut input = Vec::new();
            for _ in 0..1 + next(4) {
                let op = [0x00, 0x01, 0x05, 0x0a, 0x0c, 0x10, 0x11, 0x1c, 0x2b][next(9) as usize];
                let extras: Vec<u8> = (0..next(22)).map(|_| next(256) as u8).collect();
                let key: Vec<u8> = (0..next(6)).map(|_| b'a' + next(26) as u8).collect();
                let value: Vec<u8> = (0..next(10)).map(|_| next(256) as u8).collect();
                input.extend(bin_packet(op, &extras, &key, &value, next(256) as u8));
            }
            if next(4) == 0 {
                // A truncated or corrupted tail.
                let at = next(input.len() as u64) as usize;
                input[at] = next(256) as u8;
            }
            let _ = req_run(&input);
        }
    }

    #[test]
    fn base64_keys() {
        let mut out = Vec::new();
        for (enc, dec) in [
            (&b"YQ=="[..], &b"a"[..]),
            (b"YQ", b"a"),
            (b"YWI=", b"ab"),
            (b"YWJj", b"abc"),
            (b"", b""),
            (b"/+8=", b"\xff\xef"),
        ] {
            assert!(base64_decode(enc, &mut out), "{}", show(enc));
            assert_eq!(out, dec, "{}", show(enc));
        }
        for bad in [&b"!!!"[..], b"a", b"YQ=a", b"Y Q="] {
            assert!(!base64_decode(bad, &mut out), "{}", show(bad));
        }
    }

    #[test]
    fn req_line_limits() {
        // memcached closes a connection holding more than 2048 bytes without
        // a newline, unless the line is a get/gets with at most 100 leading
        // spaces.
        let mut line = b"set ".to_vec();
        line.resize(MAX_LINE, b'k');
        let run = req_run(&line);
        assert_eq!((run.err, run.msgs.len()), (None, 0));
        line.extend_from_slice(b"\n");
        let run = req_run(&line);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs[0].1.error, Some(ERR_MC_ERROR));
        line.pop();
        line.push(b'k');
        assert_eq!(req_run(&line).err, Some(ERR_MC_LINE_TOO_LONG));
        line.push(b'\n');
        assert_eq!(req_run(&line).err, Some(ERR_MC_LINE_TOO_LONG));
        assert_eq!(
            req_run(&[b'x'; MAX_LINE + 1]).err,
            Some(ERR_MC_LINE_TOO_LONG)
        );
        let mut gat = b"gat 0".to_vec();
        while gat.len() <= MAX_LINE {
            gat.extend_from_slice(b" k");
        }
        assert_eq!(req_run(&gat).err, Some(ERR_MC_LINE_TOO_LONG));

        let mut get = vec![b' '; GET_MAX_SPACES];
        get.extend_from_slice(b"get");
        while get.len() <= MAX_LINE {
            get.extend_from_slice(b" k");
        }
        let run = req_run(&get);
        assert_eq!((run.err, run.msgs.len()), (None, 0));
        get.insert(0, b' ');
        assert_eq!(req_run(&get).err, Some(ERR_MC_LINE_TOO_LONG));

        let mut get = b"get ".to_vec();
        get.resize(MAX_GET_LINE, b'k');
        assert_eq!(req_run(&get).err, None);
        get.push(b'\n');
        let run = req_run(&get);
        assert_eq!(run.msgs[0].1.error, Some(ERR_MC_BAD_FORMAT));
        get.pop();
        get.extend_from_slice(b"k\n");
        assert_eq!(req_run(&get).err, Some(ERR_MC_LINE_TOO_LONG));
        let mut get = b"get a \x00".to_vec();
        get.resize(MAX_GET_LINE + 1, b'k');
        assert_eq!(req_run(&get).err, Some(ERR_MC_LINE_TOO_LONG));

        // Data blocks up to 1 GiB.
        let run = req_run(b"set k 0 0 1073741824\r\n");
        assert_eq!((run.err, run.msgs.len()), (None, 0));
        let run = req_run(b"set k 0 0 1073741825\r\n");
        assert_eq!(run.err, Some(ERR_MC_DATA_TOO_LARGE));
        // Earlier pipelined messages still count.
        let run = req_run(b"get a\r\nset k 0 0 1073741825\r\n");
        assert_eq!((run.err, run.msgs.len()), (Some(ERR_MC_DATA_TOO_LARGE), 1));
    }

    #[test]
    fn req_big_data_and_multiget() {
        let mut input = b"set big 7 0 1048576\r\n".to_vec();
        let data_off = input.len() as u64;
        input.extend((0..1_048_576u32).map(|i| (i % 251) as u8));
        input.extend_from_slice(b"\r\nget big\r\n");
        let run = req_run(&input);
        assert_eq!(run.err, None);
        assert_eq!(run.msgs.len(), 2);
        let r = &run.msgs[0].1;
        assert_eq!((r.cmd, r.flags, r.bytes), (McCmd::Set, 7, 1_048_576));
        assert_eq!(r.data, Some((data_off, data_off + 1_048_578)));
        assert_eq!(r.keys, vec![Arg { off: 4, len: 3 }]);
        assert_eq!(
            render_reqs(&input, &run)[1],
            format!("{} get big", input.len())
        );

        for key_len in [1, 7, 250] {
            // The last `key_len` digits of 500 zero-padded numbers.
            let keys: Vec<String> = (0..500)
                .map(|i| format!("{i:0>250}")[250 - key_len..].to_string())
                .collect();
            let line = format!("gets {}\r\nget x\r\n", keys.join(" "));
            let run = req_run(line.as_bytes());
            assert_eq!(run.err, None);
            assert_eq!(run.msgs.len(), 2);
            let got = render_reqs(line.as_bytes(), &run);
            let first_len = line.find('\n').unwrap() + 1;
            assert_eq!(got[0], format!("{first_len} gets {}", keys.join(" ")));
            assert_eq!(got[1], format!("{} get x", line.len()));
        }
    }

    #[test]
    fn req_state_reset_and_reuse() {
        // A parser and its info are reused across messages; nothing leaks.
        let mut p = ReqParser::new();
        let mut info = McReq::default();
        assert_eq!(
            p.parse(b"cas k 1 2 3 4 noreply\r\nabc\r\n", &mut info),
            Parse::Done(28)
        );
        assert_eq!(p.parse(b"version\r\n", &mut info), Parse::Done(9));
        assert_eq!(
            info,
            McReq {
                cmd: McCmd::Version,
                ..McReq::default()
            }
        );
        assert_eq!(p.parse(b"get a b", &mut info), Parse::Again);
        assert_eq!(p.parse(b"\r\n", &mut info), Parse::Done(2));
        assert_eq!(
            info.keys,
            vec![Arg { off: 4, len: 1 }, Arg { off: 6, len: 1 }]
        );
        // After an Error the parser starts afresh.
        assert_eq!(
            p.parse(&[b'x'; MAX_LINE + 1], &mut info),
            Parse::Error(ERR_MC_LINE_TOO_LONG)
        );
        assert_eq!(p.parse(b"delete k\r\n", &mut info), Parse::Done(10));
        assert_eq!(info.cmd, McCmd::Delete);
        assert_eq!(info.keys, vec![Arg { off: 7, len: 1 }]);
        // A long line does not grow the buffer past the cap.
        assert!(p.line.capacity() <= 2 * MAX_LINE);
    }

    #[test]
    fn numbers_like_c() {
        assert_eq!(safe_strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(safe_strtoull(b"18446744073709551616"), None);
        assert_eq!(safe_strtoull(b"-1"), None);
        assert_eq!(safe_strtoull(b"-0"), Some(0));
        assert_eq!(safe_strtoull(b" +5\t"), Some(5));
        assert_eq!(safe_strtoull(b"5 "), Some(5));
        assert_eq!(safe_strtoull(b"5x"), None);
        assert_eq!(safe_strtoull(b""), None);
        assert_eq!(safe_strtoull(b"-"), None);
        assert_eq!(safe_strtoull(b"\t"), None);
        assert_eq!(safe_strtoul32(b"4294967297"), Some(1));
        assert_eq!(safe_strtol32(b"-1"), Some(-1));
        assert_eq!(safe_strtol32(b"2147483648"), Some(i32::MIN));
        assert_eq!(safe_strtol32(b"9223372036854775807"), Some(-1));
        assert_eq!(safe_strtol32(b"9223372036854775808"), None);
        assert_eq!(safe_strtol32(b"-9223372036854775808"), Some(0));
        assert_eq!(safe_strtol32(b"-9223372036854775809"), None);
        assert_eq!(safe_strtol32(b"0x10"), None);
    }

    #[test]
    fn key_ok_bytes() {
        assert!(key_ok(b"a"));
        assert!(key_ok("clé".as_bytes()));
        assert!(key_ok(&[b'k'; KEY_MAX_LEN]));
        assert!(!key_ok(&[b'k'; KEY_MAX_LEN + 1]));
        assert!(!key_ok(b""));
        for bad in [
            &b"a b"[..],
            b"a\x00",
            b"a\r",
            b"\n",
            b"a\tb",
            b"\x7f",
            b"\x1f",
        ] {
            assert!(!key_ok(bad), "{}", show(bad));
        }
    }
}
