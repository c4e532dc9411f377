//! Memcached ASCII replies (dyn_memcache.c `memcache_parse_rsp`): the
//! resumable reply parser, and the error lines the proxy itself writes to
//! memcached clients.
//!
//! The parser follows the contract of the request parser
//! ([`super::request`]). One message is one reply line, or every `VALUE`
//! block of a retrieval reply up to its `END`; the parser needs no knowledge
//! of the request. It records the byte range of every `VALUE` block, which is
//! what a multi-get merge needs.

use memchr::memchr;

use super::request::{KEY_MAX_LEN, MAX_DATA_LEN};
use crate::errors::{ERR_MC_RSP_CRLF, ERR_MC_RSP_LINE, ERR_MC_RSP_UNKNOWN, ERR_MC_RSP_VALUE};
use crate::proto::redis::Arg;
use crate::proto::Parse;

/// Longest reply line (a `VALUE` line is at most about 300 bytes).
pub const RSP_MAX_LINE: usize = 2048;

const _: () = assert!(KEY_MAX_LEN < RSP_MAX_LINE);

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
    /// `VA <size> <flag>*` and its data block (meta: a value).
    Va,
    /// `HD <flag>*` (meta: success, no value).
    Hd,
    /// `EN` (meta: miss).
    En,
    /// `NF <flag>*` (meta: not found).
    Nf,
    /// `NS <flag>*` (meta: not stored).
    Ns,
    /// `EX <flag>*` (meta: exists, CAS mismatch).
    Ex,
    /// `MN` (meta no-op).
    Mn,
    /// `ME <key> <k>=<v>*` (meta debug).
    Me,
    /// `STAT`, `ITEM` or `PREFIX` lines and `END` (stats).
    Stats,
    /// `RESET` (stats reset).
    Reset,
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
    /// Data bytes of a `VALUE` (or `VA`) block still to skip.
    Data(u64),
    /// Expecting the CR (false) or LF (true) after a data block.
    Trailer(bool),
}

/// The lines of a stats reply before its `END`.
fn is_stats_line(line: &[u8]) -> bool {
    line.starts_with(b"STAT ") || line.starts_with(b"ITEM ") || line.starts_with(b"PREFIX ")
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
    /// The data block being read is a meta `VA` value: the reply ends with
    /// it.
    meta_value: bool,
    /// `STAT`-like lines were read: the reply ends at `END`.
    stats: bool,
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
            meta_value: false,
            stats: false,
        }
    }

    fn reset(&mut self) {
        self.state = RspState::Line;
        self.off = 0;
        self.line.clear();
        self.line_start = 0;
        self.meta_value = false;
        self.stats = false;
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
                        return Parse::Error(ERR_MC_RSP_LINE);
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
                        return Parse::Error(ERR_MC_RSP_CRLF);
                    }
                    self.state = RspState::Trailer(true);
                }
                RspState::Trailer(true) => {
                    if b != b'\n' {
                        return Parse::Error(ERR_MC_RSP_CRLF);
                    }
                    if self.meta_value {
                        info.ty = McRspType::Va;
                        return Parse::Done(i + 1);
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
            return Err(ERR_MC_RSP_CRLF);
        };
        if let Some(rest) = line.strip_prefix(b"VALUE ") {
            // VALUE <key> <flags> <bytes>[ <cas>], single spaces.
            let mut it = rest.split(|&b| b == b' ');
            let (Some(key), Some(flags), Some(bytes)) = (it.next(), it.next(), it.next()) else {
                return Err(ERR_MC_RSP_VALUE);
            };
            let cas_ok = it.next().is_none_or(|c| digits(c).is_some());
            let flags_ok = digits(flags).is_some_and(|f| f <= u64::from(u32::MAX));
            let bytes = digits(bytes).filter(|&n| n <= MAX_DATA_LEN);
            let key_len_ok = !key.is_empty() && key.len() <= KEY_MAX_LEN;
            let Some(bytes) =
                bytes.filter(|_| key_len_ok && flags_ok && cas_ok && it.next().is_none())
            else {
                return Err(ERR_MC_RSP_VALUE);
            };
            self.key = Arg {
                off: self.line_start + 6,
                len: key.len() as u32,
            };
            self.line.clear();
            self.state = RspState::Data(bytes);
            return Ok(false);
        }
        if let Some(rest) = line.strip_prefix(b"VA ") {
            // VA <size> <flag>*: one value, the whole reply.
            let size = rest.split(|&b| b == b' ').next().and_then(digits);
            let Some(size) = size.filter(|&n| n <= MAX_DATA_LEN && info.values.is_empty()) else {
                return Err(ERR_MC_RSP_VALUE);
            };
            self.meta_value = true;
            self.line.clear();
            self.state = RspState::Data(size);
            return Ok(false);
        }
        if is_stats_line(line) && info.values.is_empty() {
            self.stats = true;
            self.line.clear();
            self.line_start = end;
            return Ok(false);
        }
        let ty = match line {
            b"END" if self.stats => McRspType::Stats,
            b"END" => McRspType::Values,
            b"RESET" => McRspType::Reset,
            _ if is_word(line, b"EN") => McRspType::En,
            _ if is_word(line, b"MN") => McRspType::Mn,
            _ if is_word(line, b"HD") => McRspType::Hd,
            _ if is_word(line, b"NF") => McRspType::Nf,
            _ if is_word(line, b"NS") => McRspType::Ns,
            _ if is_word(line, b"EX") => McRspType::Ex,
            _ if is_word(line, b"ME") => McRspType::Me,
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
                    return Err(ERR_MC_RSP_UNKNOWN);
                };
                info.number = n;
                McRspType::Number
            }
        };
        let ends_values = ty == McRspType::Values || ty.is_error();
        if !info.values.is_empty() && !ends_values {
            return Err(ERR_MC_RSP_UNKNOWN);
        }
        if self.stats && !(ty == McRspType::Stats || ty.is_error()) {
            return Err(ERR_MC_RSP_UNKNOWN);
        }
        info.ty = ty;
        self.line.clear();
        self.line_start = end;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::proto::testing::{expand, feed_all, show, Run};

    fn rsp_run(input: &[u8]) -> Run<McRsp> {
        feed_all(input, McRsp::default(), RspParser::parse)
    }

    /// One reply as text: `<end> <type> [number] [key@start-end ...]`.
    fn render_rsp(input: &[u8], start: u64, end: u64, r: &McRsp) -> String {
        let mut s = format!("{end} {:?}", r.ty);
        if r.ty == McRspType::Number {
            s += &format!(" {}", r.number);
        } else {
            assert_eq!(r.number, 0);
        }
        for v in &r.values {
            let k = (start + v.key.off) as usize;
            let (vs, ve) = ((start + v.start) as usize, (start + v.end) as usize);
            assert!(vs < k && k + v.key.len as usize <= ve && ve <= end as usize);
            assert!(input[vs..].starts_with(b"VALUE "));
            assert_eq!(&input[ve - 2..ve], b"\r\n");
            s += &format!(
                " {}@{}-{}",
                show(&input[k..k + v.key.len as usize]),
                v.start,
                v.end
            );
        }
        s
    }

    fn render_rsps(input: &[u8], run: &Run<McRsp>) -> Vec<String> {
        run.each_msg(|start, end, r| render_rsp(input, start, end, r))
    }

    #[test]
    fn rsp_ok() {
        let cases: &[(&[u8], &[&str])] = &[
            (b"END\r\n", &["5 Values"]),
            (b"VALUE k 0 1\r\na\r\nEND\r\n", &["21 Values k@0-16"]),
            (b"VALUE k 5 3 99\r\na\r\n\r\nEND\r\n", &["26 Values k@0-21"]),
            (b"VALUE k 0 0\r\n\r\nEND\r\n", &["20 Values k@0-15"]),
            (
                b"VALUE a 0 2\r\nxy\r\nVALUE bb 4294967295 3 18446744073709551615\r\nEND\r\nEND\r\n",
                &["71 Values a@0-17 bb@17-66"],
            ),
            (b"STORED\r\n", &["8 Stored"]),
            (b"NOT_STORED\r\n", &["12 NotStored"]),
            (b"EXISTS\r\n", &["8 Exists"]),
            (b"NOT_FOUND\r\n", &["11 NotFound"]),
            (b"DELETED\r\n", &["9 Deleted"]),
            (b"TOUCHED\r\n", &["9 Touched"]),
            (b"OK\r\n", &["4 Ok"]),
            (b"0\r\n", &["3 Number 0"]),
            (b"18446744073709551615\r\n", &["22 Number 18446744073709551615"]),
            (b"ERROR\r\n", &["7 Error"]),
            (b"ERROR Too many open connections\r\n", &["33 Error"]),
            (b"CLIENT_ERROR bad data chunk\r\n", &["29 ClientError"]),
            (b"SERVER_ERROR object too large for cache\r\n", &["41 ServerError"]),
            (b"SERVER_ERROR\r\n", &["14 ServerError"]),
            (b"VERSION 1.6.18\r\n", &["16 Version"]),
            // Meta replies.
            (b"VA 2\r\nhi\r\n", &["10 Va"]),
            (b"VA 2 f0 t-1 c1 ka s2 O123\r\nhi\r\n", &["31 Va"]),
            (b"VA 0\r\n\r\n", &["8 Va"]),
            (b"VA 5\r\nEND\r\n\r\n", &["13 Va"]),
            (b"HD\r\n", &["4 Hd"]),
            (b"HD ka O1\r\n", &["10 Hd"]),
            (b"EN\r\n", &["4 En"]),
            (b"EN km:miss O9\r\n", &["15 En"]),
            (b"NF\r\n", &["4 Nf"]),
            (b"NS Oab\r\n", &["8 Ns"]),
            (b"EX\r\n", &["4 Ex"]),
            (b"MN\r\n", &["4 Mn"]),
            (b"ME a exp=-1 la=2 cas=1 fetch=yes cls=1 size=62\r\n", &["48 Me"]),
            // Stats replies.
            (b"STAT pid 1\r\nSTAT uptime 5\r\nEND\r\n", &["32 Stats"]),
            (b"ITEM k [1 b; 0 s]\r\nEND\r\n", &["24 Stats"]),
            (b"PREFIX a get 1 hit 0 set 0 del 0\r\nEND\r\n", &["39 Stats"]),
            (b"RESET\r\n", &["7 Reset"]),
            (
                b"STAT a 1\r\nEND\r\nVA 1 ka\r\nx\r\nHD\r\n",
                &["15 Stats", "27 Va", "31 Hd"],
            ),
            // A retrieval reply cut short by an error line.
            (
                b"VALUE k 0 1\r\na\r\nSERVER_ERROR out of memory writing get response\r\n",
                &["65 ServerError k@0-16"],
            ),
            // Pipelined.
            (
                b"STORED\r\nVALUE k 0 1\r\na\r\nEND\r\nEND\r\n7\r\nDELETED\r\n",
                &["8 Stored", "29 Values k@0-16", "34 Values", "37 Number 7", "46 Deleted"],
            ),
            // Incomplete: nothing yet.
            (b"VALUE k 0 1\r\na\r\n", &[]),
            (b"VALUE k 0 1073741824\r\n", &[]),
            (b"STORED\r", &[]),
            (b"", &[]),
        ];
        for (input, want) in cases {
            let run = rsp_run(input);
            assert_eq!(run.err, None, "{}", show(input));
            assert_eq!(render_rsps(input, &run), *want, "{}", show(input));
        }
    }

    #[test]
    fn rsp_errors() {
        let cases: &[(&[u8], &str)] = &[
            (b"STORED\n", ERR_MC_RSP_CRLF),
            (b"\n", ERR_MC_RSP_CRLF),
            (b"\r\n", ERR_MC_RSP_UNKNOWN),
            (b"stored\r\n", ERR_MC_RSP_UNKNOWN),
            (b"STORED \r\n", ERR_MC_RSP_UNKNOWN),
            (b"ERRORS\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VERSION\r\n", ERR_MC_RSP_UNKNOWN),
            (b"STAT pid 1\r\nSTORED\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VALUE k 0 1\r\na\r\nSTAT a 1\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VALUE k 0 1\r\na\r\nVA 1\r\n", ERR_MC_RSP_VALUE),
            (b"VA x\r\n", ERR_MC_RSP_VALUE),
            (b"VA\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VA 1\r\nab\r\n", ERR_MC_RSP_CRLF),
            (b"HDX\r\n", ERR_MC_RSP_UNKNOWN),
            (b"ENX\r\n", ERR_MC_RSP_UNKNOWN),
            (b"-1\r\n", ERR_MC_RSP_UNKNOWN),
            (b"18446744073709551616\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VALUE k 0 1\r\na\r\nSTORED\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VALUE k 0 1\r\na\r\n5\r\n", ERR_MC_RSP_UNKNOWN),
            (b"VALUE k 0 1\r\nab\r\n", ERR_MC_RSP_CRLF),
            (b"VALUE k 0 1\r\na\n", ERR_MC_RSP_CRLF),
            (b"VALUE k 0\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 0 1 2 3\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE  k 0 1\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 0 1 \r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k x 1\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 4294967296 1\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 0 -1\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 0 1073741825\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE k 0 1 x\r\n", ERR_MC_RSP_VALUE),
            (b"VALUE <K251> 0 1\r\n", ERR_MC_RSP_VALUE),
            // Earlier pipelined replies still count.
            (b"OK\r\nbogus\r\n", ERR_MC_RSP_UNKNOWN),
        ];
        for (input, want) in cases {
            let input = expand(input);
            let run = rsp_run(&input);
            assert_eq!(run.err, Some(*want), "{}", show(&input));
        }
        assert_eq!(rsp_run(b"OK\r\nbogus\r\n").msgs.len(), 1);
        let mut long = b"SERVER_ERROR ".to_vec();
        long.resize(RSP_MAX_LINE, b'x');
        long.extend_from_slice(b"\n");
        assert_eq!(rsp_run(&long).err, Some(ERR_MC_RSP_CRLF));
        long.insert(0, b'x');
        assert_eq!(rsp_run(&long).err, Some(ERR_MC_RSP_LINE));
        assert_eq!(
            rsp_run(&[b'1'; RSP_MAX_LINE + 1]).err,
            Some(ERR_MC_RSP_LINE)
        );
    }

    #[test]
    fn rsp_big_value_and_many() {
        let mut input = b"VALUE big 0 1048576 5\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'\n', 1_048_576));
        input.extend_from_slice(b"\r\nEND\r\nSTORED\r\n");
        let run = rsp_run(&input);
        assert_eq!(run.err, None);
        let end = input.len() as u64 - 8;
        assert_eq!(
            render_rsps(&input, &run),
            [
                format!("{end} Values big@0-{}", end - 5),
                format!("{} Stored", end + 8)
            ]
        );

        let mut input = Vec::new();
        let mut want = String::new();
        for i in 0..500 {
            let start = input.len();
            input.extend_from_slice(format!("VALUE key{i} {i} {}\r\n", i % 7).as_bytes());
            input.extend(std::iter::repeat_n(b'v', i % 7));
            input.extend_from_slice(b"\r\n");
            want += &format!(" key{i}@{start}-{}", input.len());
        }
        input.extend_from_slice(b"END\r\n");
        let run = rsp_run(&input);
        assert_eq!(run.err, None);
        assert_eq!(
            render_rsps(&input, &run),
            [format!("{} Values{want}", input.len())]
        );
    }
}
