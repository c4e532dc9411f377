//! Memcached's binary protocol on the node (the binary half of
//! dyn_memcache.c, which the original never had): each binary request is
//! served as the meta (or text) command that does the same, and the
//! datastore's answer is turned back into a binary response.
//!
//! ```text
//!  0x80 GET k (opaque 7) ─► "mg k v f c"          ─► route by k, replicate
//!  "VA 2 f5 c9\r\nhi"    ─► 0x81 GET status 0, extras flags 5, cas 9, "hi"
//!  "EN"                  ─► 0x81 GET status 0x0001 "Not found"
//! ```
//!
//! Everything after the translation (routing, replication, quorum, peers,
//! timeouts) sees an ordinary meta request, so a binary client is served in a
//! cluster exactly like a meta client. Quiet opcodes are sent without quiet
//! mode and their suppressed responses (misses of getq/getkq/gatq/gatkq,
//! successes of the other quiet opcodes) are dropped here, as with the meta
//! `q` flag. `noop` and `quit` are answered by the node; opcodes it does not
//! serve (verbosity, SASL, ...) get "Unknown command" and the connection
//! goes on.
//!
//! Unlike the text and meta paths, a binary request allocates: its
//! translated line and its response header are built in small vectors
//! (values are still referenced, never copied).

use std::io::Write as _;

use crate::core::Context;
use crate::errors::{ERR_MC_BAD_FORMAT, ERR_MC_BINARY};
use crate::msg::{ConnId, MsgId};
use crate::proto::memcache::{BinReq, McCmd};
use crate::proto::redis::Arg;

/// Response status: success.
const ST_OK: u16 = 0x0000;
/// Response status: key not found.
const ST_NOT_FOUND: u16 = 0x0001;
/// Response status: key exists (cas mismatch, add of an existing key).
const ST_EXISTS: u16 = 0x0002;
/// Response status: value too large.
const ST_TOO_LARGE: u16 = 0x0003;
/// Response status: invalid arguments.
const ST_INVALID: u16 = 0x0004;
/// Response status: item not stored.
const ST_NOT_STORED: u16 = 0x0005;
/// Response status: incr/decr on a non-numeric value.
const ST_NON_NUMERIC: u16 = 0x0006;
/// Response status: unknown command.
const ST_UNKNOWN: u16 = 0x0081;
/// Response status: out of memory.
const ST_NO_MEMORY: u16 = 0x0082;
/// Response status: internal error (the node's own failures included).
const ST_INTERNAL: u16 = 0x0084;

/// Most bytes of a datastore answer's first line read to translate it.
const HEAD_MAX: usize = 2048;

/// A quiet opcode whose successes are not answered (setq … decrq, quitq,
/// flushq, deleteq).
fn quiet_success(opcode: u8) -> bool {
    matches!(opcode, 0x11..=0x1a)
}

/// A quiet get (getq, getkq, gatq, gatkq): misses are not answered.
fn quiet_miss(opcode: u8) -> bool {
    matches!(opcode, 0x09 | 0x0d | 0x1e | 0x24)
}

/// The get forms that return the key (getk, getkq, gatk, gatkq).
fn with_key(opcode: u8) -> bool {
    matches!(opcode, 0x0c | 0x0d | 0x23 | 0x24)
}

/// A binary response: header, extras, key, value.
pub fn bin_response(
    bin: &BinReq,
    status: u16,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + extras.len() + key.len() + value.len());
    out.push(0x81);
    out.push(bin.opcode);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.push(extras.len() as u8);
    out.push(0);
    out.extend_from_slice(&status.to_be_bytes());
    let body = (extras.len() + key.len() + value.len()) as u32;
    out.extend_from_slice(&body.to_be_bytes());
    out.extend_from_slice(&bin.opaque);
    out.extend_from_slice(&cas.to_be_bytes());
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
    out
}

/// The number after flag letter `flag` in a meta reply line (`c123`).
fn meta_flag(line: &[u8], flag: u8) -> Option<u64> {
    line.split(|&b| b == b' ')
        .skip(1)
        .find(|t| t.first() == Some(&flag))
        .and_then(|t| std::str::from_utf8(&t[1..]).ok()?.parse().ok())
}

/// The status and message of an answer that is not a success.
fn failure(opcode: u8, line: &[u8]) -> (u16, &[u8]) {
    let code = line.split(|&b| b == b' ').next().unwrap_or(b"");
    let text_after = |p: &[u8]| line.get(p.len()..).unwrap_or(b"");
    match code {
        b"EN" | b"NF" => (ST_NOT_FOUND, b"Not found"),
        b"EX" => (ST_EXISTS, b"Data exists for key."),
        // add of an existing key, replace of a missing one.
        b"NS" if matches!(opcode, 0x02 | 0x12) => (ST_EXISTS, b"Data exists for key."),
        b"NS" if matches!(opcode, 0x03 | 0x13) => (ST_NOT_FOUND, b"Not found"),
        b"NS" => (ST_NOT_STORED, b"Not stored."),
        b"CLIENT_ERROR" if line.ends_with(b"non-numeric value") => (
            ST_NON_NUMERIC,
            b"Non-numeric server-side value for incr or decr",
        ),
        b"CLIENT_ERROR" => (ST_INVALID, text_after(b"CLIENT_ERROR ")),
        b"SERVER_ERROR" if line.ends_with(b"too large for cache") => (ST_TOO_LARGE, b"Too large."),
        b"SERVER_ERROR" if line.starts_with(b"SERVER_ERROR out of memory") => {
            (ST_NO_MEMORY, b"Out of memory")
        }
        b"SERVER_ERROR" => (ST_INTERNAL, text_after(b"SERVER_ERROR ")),
        b"ERROR" => (ST_UNKNOWN, b"Unknown command"),
        _ => (ST_INTERNAL, line),
    }
}

impl Context {
    /// A binary request arrived on client `cid`: answers what the node
    /// answers (unknown opcodes, bad keys, noop, quit) and returns false;
    /// otherwise rewrites the message as its meta or text command and
    /// returns true (the caller routes it).
    pub(crate) fn mc_bin_request(&mut self, cid: ConnId, mid: MsgId) -> bool {
        let m = &mut self.msgs[mid];
        let bin = m.mc.bin.expect("a binary request");
        let cmd = m.mc.cmd;
        if cmd == McCmd::Quit && bin.opcode == 0x17 {
            // quitq: closed without a response, as text quit.
            return true;
        }
        let answer = match (m.mc.error, cmd) {
            (Some(e), _) if e == ERR_MC_BAD_FORMAT => Some((ST_INVALID, &b"Invalid arguments"[..])),
            (Some(_), _) => Some((ST_UNKNOWN, &b"Unknown command"[..])),
            (None, McCmd::Mn | McCmd::Quit) => Some((ST_OK, &b""[..])),
            _ => None,
        };
        if let Some((status, text)) = answer {
            m.in_client = true;
            if cmd == McCmd::Quit {
                m.close_after = true;
                self.conns[cid.0].no_more_input = true;
            }
            self.conns[cid.0].omsg_q.push_back(mid);
            let rsp = bin_response(&bin, status, 0, &[], &[], text);
            self.reply_bytes(mid, &rsp);
            return false;
        }
        self.mc_bin_rewrite(mid, &bin);
        true
    }

    /// Replaces the bytes of binary request `mid` by the meta or text
    /// command that does the same, and its key by the key in that line.
    fn mc_bin_rewrite(&mut self, mid: MsgId, bin: &BinReq) {
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        let m = &self.msgs[mid];
        let cmd = m.mc.cmd;
        let key = m.mc.keys.first().copied();
        let mut key_at = None;
        line.extend_from_slice(cmd.name().as_bytes());
        if let Some(k) = key {
            line.push(b' ');
            key_at = Some(Arg {
                off: line.len() as u64,
                len: k.len,
            });
            self.mbufs
                .copy_out(&m.segs, k.off, u64::from(k.len), &mut line);
        }
        let value_len = bin.value.1 - bin.value.0;
        let cas = |line: &mut Vec<u8>| {
            if bin.cas != 0 {
                let _ = write!(line, " C{}", bin.cas);
            }
        };
        let res = match (cmd, bin.opcode) {
            // touch: the new expiry only.
            (McCmd::Mg, 0x1c) => write!(line, " T{}", bin.extra(0, 4).unwrap_or(0)),
            (McCmd::Mg, 0x1d | 0x1e | 0x23 | 0x24) => {
                write!(line, " v f c T{}", bin.extra(0, 4).unwrap_or(0))
            }
            (McCmd::Mg, _) => write!(line, " v f c"),
            (McCmd::Ms, op) => {
                let mode = match op {
                    0x02 | 0x12 => "E",
                    0x03 | 0x13 => "R",
                    0x0e | 0x19 => "A",
                    0x0f | 0x1a => "P",
                    _ => "S",
                };
                let _ = write!(line, " {value_len} M{mode} c");
                if !matches!(mode, "A" | "P") {
                    let flags = bin.extra(0, 4).unwrap_or(0);
                    let exptime = bin.extra(4, 4).unwrap_or(0);
                    let _ = write!(line, " F{flags} T{exptime}");
                }
                cas(&mut line);
                Ok(())
            }
            (McCmd::Md, _) => {
                cas(&mut line);
                Ok(())
            }
            (McCmd::Ma, op) => {
                let mode = if matches!(op, 0x05 | 0x15) { "I" } else { "D" };
                let delta = bin.extra(0, 8).unwrap_or(1);
                let initial = bin.extra(8, 8).unwrap_or(0);
                let _ = write!(line, " v c M{mode} D{delta} J{initial}");
                // An expiry of all ones: do not create a missing counter.
                match bin.extra(16, 4) {
                    Some(0xffff_ffff) | None => {}
                    Some(exptime) => {
                        let _ = write!(line, " N{exptime}");
                    }
                }
                cas(&mut line);
                Ok(())
            }
            (McCmd::FlushAll, _) => match bin.extra(0, 4) {
                Some(delay) if delay > 0 => write!(line, " {delay}"),
                _ => Ok(()),
            },
            _ => Ok(()),
        };
        debug_assert!(res.is_ok());
        line.extend_from_slice(b"\r\n");
        let line_len = line.len() as u64;
        let mut segs = Vec::new();
        self.mbufs.append(&mut segs, &line);
        if cmd == McCmd::Ms {
            let src = std::mem::take(&mut self.msgs[mid].segs);
            self.mbufs
                .append_ref(&mut segs, &src, bin.value.0, value_len);
            self.msgs[mid].segs = src;
            self.mbufs.append(&mut segs, b"\r\n");
        }
        self.scratch = line;
        let m = &mut self.msgs[mid];
        let mut old = std::mem::replace(&mut m.segs, segs);
        m.mlen = if cmd == McCmd::Ms {
            line_len + value_len + 2
        } else {
            line_len
        };
        m.mc.keys.clear();
        m.mc.keys.extend(key_at);
        if cmd == McCmd::Ms {
            m.mc.data = Some((line_len, line_len + value_len + 2));
        }
        self.mbufs.put_segs(&mut old);
    }

    /// The datastore's (or the node's) answer `rsp` to binary request
    /// `req`, turned into a binary response in place; emptied when the
    /// request is quiet and the response is one quiet mode suppresses.
    pub(crate) fn mc_bin_reply(&mut self, req: MsgId, rsp: MsgId) {
        let m = &self.msgs[req];
        let bin = m.mc.bin.expect("a binary request");
        let cmd = m.mc.cmd;
        let mut head = Vec::new();
        let r = &self.msgs[rsp];
        // A stats reply is read whole: each line becomes a response.
        let want = if cmd == McCmd::Stats {
            r.mlen
        } else {
            r.mlen.min(HEAD_MAX as u64)
        };
        self.mbufs.copy_out(&r.segs, 0, want, &mut head);
        if head.first() == Some(&0x81) {
            // Answered by the node in binary already.
            return;
        }
        if cmd == McCmd::Stats && (head.starts_with(b"STAT ") || head.starts_with(b"END\r\n")) {
            let mut out = Vec::new();
            for line in head.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if let Some(stat) = line.strip_prefix(b"STAT ") {
                    let sp = stat.iter().position(|&b| b == b' ').unwrap_or(stat.len());
                    let value = stat.get(sp + 1..).unwrap_or(b"");
                    out.extend(bin_response(&bin, ST_OK, 0, &[], &stat[..sp], value));
                } else if line == b"END" {
                    out.extend(bin_response(&bin, ST_OK, 0, &[], &[], &[]));
                    break;
                }
            }
            self.mc_bin_replace(rsp, &out, None);
            return;
        }
        let Some(nl) = head.iter().position(|&b| b == b'\n') else {
            self.mc_bin_replace(
                rsp,
                &bin_response(&bin, ST_INTERNAL, 0, &[], &[], ERR_MC_BINARY.as_bytes()),
                None,
            );
            return;
        };
        let line = head[..nl].strip_suffix(b"\r").unwrap_or(&head[..nl]);
        let value_at = (nl + 1) as u64;
        let success = match cmd {
            McCmd::Mg => line.starts_with(b"VA ") || line == b"HD" || line.starts_with(b"HD "),
            McCmd::Ms | McCmd::Md => line == b"HD" || line.starts_with(b"HD "),
            McCmd::Ma => line.starts_with(b"VA "),
            McCmd::Version => line.starts_with(b"VERSION "),
            McCmd::FlushAll => line == b"OK",
            _ => false,
        };
        let quiet = if success {
            quiet_success(bin.opcode)
        } else {
            quiet_miss(bin.opcode) && line.starts_with(b"EN")
        };
        if quiet {
            self.mc_bin_replace(rsp, &[], None);
            return;
        }
        let mut key = Vec::new();
        if with_key(bin.opcode) {
            if let Some(k) = m.mc.keys.first() {
                self.mbufs
                    .copy_out(&m.segs, k.off, u64::from(k.len), &mut key);
            }
        }
        if !success {
            let (status, text) = failure(bin.opcode, line);
            let out = bin_response(&bin, status, 0, &[], &key, text);
            self.mc_bin_replace(rsp, &out, None);
            return;
        }
        let cas = meta_flag(line, b'c').unwrap_or(0);
        let size: u64 = line
            .strip_prefix(b"VA ")
            .and_then(|r| r.split(|&b| b == b' ').next())
            .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            .unwrap_or(0);
        let out = match cmd {
            McCmd::Mg if bin.opcode == 0x1c => bin_response(&bin, ST_OK, cas, &[], &[], &[]),
            McCmd::Mg => {
                let flags = meta_flag(line, b'f').unwrap_or(0) as u32;
                let hdr = bin_response(&bin, ST_OK, cas, &flags.to_be_bytes(), &key, &[]);
                // The value is referenced where it lies: patch the body
                // length to include it.
                let mut hdr = hdr;
                let body = u32::from_be_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) + size as u32;
                hdr[8..12].copy_from_slice(&body.to_be_bytes());
                self.mc_bin_replace(rsp, &hdr, Some((value_at, size)));
                return;
            }
            McCmd::Ma => {
                let mut digits = Vec::new();
                let r = &self.msgs[rsp];
                self.mbufs
                    .copy_out(&r.segs, value_at, size.min(20), &mut digits);
                let n: u64 = std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| d.trim().parse().ok())
                    .unwrap_or(0);
                bin_response(&bin, ST_OK, cas, &[], &[], &n.to_be_bytes())
            }
            McCmd::Version => bin_response(&bin, ST_OK, 0, &[], &[], &line[8..]),
            _ => bin_response(&bin, ST_OK, cas, &[], &[], &[]),
        };
        self.mc_bin_replace(rsp, &out, None);
    }

    /// Replaces the bytes of reply `rsp` by `head` and, when given, the
    /// reply's own bytes `value.0..value.0 + value.1` after it.
    fn mc_bin_replace(&mut self, rsp: MsgId, head: &[u8], value: Option<(u64, u64)>) {
        let mut src = std::mem::take(&mut self.msgs[rsp].segs);
        let mut segs = Vec::new();
        self.mbufs.append(&mut segs, head);
        let mut len = head.len() as u64;
        if let Some((off, n)) = value {
            self.mbufs.append_ref(&mut segs, &src, off, n);
            len += n;
        }
        self.mbufs.put_segs(&mut src);
        let r = &mut self.msgs[rsp];
        r.segs = segs;
        r.mlen = len;
    }
}
