//! Blocking commands (beyond the original, which refuses them): BLPOP,
//! BRPOP, BRPOPLPUSH, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, and
//! XREAD / XREADGROUP with BLOCK.
//!
//! ```text
//!  client ─► request.rs ─► blocking_request
//!     keys' owner: one node of the rack (this one) and one shard, else error
//!     dedicated datastore connection of the client (server.rs), handshake
//!     included ─► the command waits there, nobody waits behind it
//!     Timer::Blocked at the command's timeout + the node's `timeout`
//!  reply ─► server.rs server_reply ─► blocking_reply
//!     cluster: what was popped ─► the equivalent plain command, sent to the
//!              other racks (and one node per remote DC) like a DC_ONE
//!              write's copies: LPOP/RPOP key [n], RPOPLPUSH, LMOVE,
//!              ZREM key member..., XREADGROUP without BLOCK
//!     the connection, idle again, is released (Timer::ReleaseDedicated)
//! ```
//!
//! Why the equivalent command rather than the blocking one: a copy that
//! blocked on another rack could pop a later element there, and a consumer
//! on every rack would each take the same element. The owner's datastore
//! decides which consumer gets an element; the other racks apply that
//! decision. A list pop is applied by position (LPOP/RPOP), which removes
//! the same element when the replicas are in sync, as every DC_ONE write
//! assumes; a sorted-set pop is applied by member (ZREM), which removes
//! exactly what was popped even if the replicas had drifted.
//!
//! Consumers of one key should connect through the nodes of one rack: two
//! racks' datastores each wake their own blocked clients, so consumers
//! blocked on both racks could each receive the element one push delivered
//! to both racks.
//!
//! A blocked client that disconnects: its request is dropped, its dedicated
//! connection closed (redis forgets the blocked client), its place under
//! `DEDICATED_MAX` freed. A command whose keys have different owners, or
//! whose owner is another node of the rack, is refused with a clear error
//! (blocking requests are not forwarded to peers: a peer link is shared
//! and answered in order, and a blocked request would hold up every other
//! request on it).

use std::time::Duration;

use log::debug;

use crate::conn::ConnKind;
use crate::core::{Context, Timer};
use crate::errors::{ERR_BLOCKING_REMOTE, ERR_BLOCKING_SPAN, ERR_BLOCKING_TIMEOUT};
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::redis::{self, Command};

/// The blocking commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Blpop,
    Brpop,
    Brpoplpush,
    Blmove,
    Blmpop,
    Bzpopmin,
    Bzpopmax,
    Bzmpop,
    Xread,
    Xreadgroup,
}

/// The blocking command named `name` (the table's lower-case name).
pub fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "blpop" => Kind::Blpop,
        "brpop" => Kind::Brpop,
        "brpoplpush" => Kind::Brpoplpush,
        "blmove" => Kind::Blmove,
        "blmpop" => Kind::Blmpop,
        "bzpopmin" => Kind::Bzpopmin,
        "bzpopmax" => Kind::Bzpopmax,
        "bzmpop" => Kind::Bzmpop,
        "xread" => Kind::Xread,
        "xreadgroup" => Kind::Xreadgroup,
        _ => return None,
    })
}

/// What routing needs of one blocking request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Argument indices of its keys (empty when redis will refuse the
    /// arguments at once: bad numkeys, no STREAMS).
    pub keys: Vec<usize>,
    /// It blocks (XREAD and XREADGROUP only with BLOCK).
    pub blocks: bool,
    /// Its own timeout; `None` for "forever" (0) or one the datastore
    /// will refuse at once.
    pub timeout: Option<Duration>,
}

/// Seconds as redis reads a blocking timeout (a float; 0 is forever).
fn seconds(arg: &[u8]) -> Option<Duration> {
    let s = std::str::from_utf8(arg).ok()?.trim();
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() || v <= 0.0 || v > 1e9 {
        return None;
    }
    Some(Duration::from_secs_f64(v))
}

/// Milliseconds as XREAD BLOCK reads them (an integer; 0 is forever).
fn millis(arg: &[u8]) -> Option<Duration> {
    let v: u64 = std::str::from_utf8(arg).ok()?.parse().ok()?;
    (v > 0).then(|| Duration::from_millis(v))
}

/// numkeys at `at`, keys after it, as BLMPOP and BZMPOP take them.
fn numkeys_keys(args: &[Vec<u8>], at: usize) -> Vec<usize> {
    let n: usize = match args
        .get(at)
        .and_then(|a| std::str::from_utf8(a).ok()?.parse().ok())
    {
        Some(n) => n,
        None => return Vec::new(),
    };
    if n == 0 || at + 1 + n > args.len() {
        return Vec::new();
    }
    (at + 1..at + 1 + n).collect()
}

/// The shape of a request of `kind` with arguments `args` (the name
/// first), which passed the arity check.
pub fn shape(kind: Kind, args: &[Vec<u8>]) -> Shape {
    let n = args.len();
    let last = |a: &[Vec<u8>]| a.last().and_then(|t| seconds(t));
    match kind {
        Kind::Blpop | Kind::Brpop | Kind::Bzpopmin | Kind::Bzpopmax => Shape {
            keys: (1..n - 1).collect(),
            blocks: true,
            timeout: last(args),
        },
        Kind::Brpoplpush => Shape {
            keys: vec![1, 2],
            blocks: true,
            timeout: seconds(&args[3]),
        },
        Kind::Blmove => Shape {
            keys: vec![1, 2],
            blocks: true,
            timeout: seconds(&args[5]),
        },
        Kind::Blmpop | Kind::Bzmpop => Shape {
            keys: numkeys_keys(args, 2),
            blocks: true,
            timeout: seconds(&args[1]),
        },
        Kind::Xread | Kind::Xreadgroup => {
            let mut blocks = false;
            let mut timeout = None;
            let mut keys = Vec::new();
            let mut i = if kind == Kind::Xreadgroup { 4 } else { 1 };
            while i < n {
                let a = args[i].to_ascii_lowercase();
                if a == b"block" && i + 1 < n {
                    blocks = true;
                    timeout = millis(&args[i + 1]);
                    i += 2;
                } else if a == b"streams" {
                    let rest = n - i - 1;
                    if rest > 0 && rest.is_multiple_of(2) {
                        keys = (i + 1..i + 1 + rest / 2).collect();
                    }
                    break;
                } else if a == b"count" {
                    i += 2;
                } else {
                    i += 1;
                }
            }
            Shape {
                keys,
                blocks,
                timeout,
            }
        }
    }
}

/// A RESP value, as much of it as the copies need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Bulk, simple and verbatim strings, doubles and big numbers (their
    /// text).
    Str(Vec<u8>),
    Int(i64),
    /// Arrays, sets, pushes; a map as its keys and values in turn.
    Array(Vec<Value>),
    Null,
    Error(Vec<u8>),
}

/// Parses one complete RESP2/RESP3 value at the start of `buf` (attributes
/// are skipped); `None` for anything malformed or deeper than 32 levels.
pub fn parse_value(buf: &[u8]) -> Option<Value> {
    fn line(buf: &[u8], p: usize) -> Option<(&[u8], usize)> {
        let end = memchr::memchr(b'\n', buf.get(p..)?)? + p;
        if end == p || buf[end - 1] != b'\r' {
            return None;
        }
        Some((&buf[p..end - 1], end + 1))
    }
    fn value(buf: &[u8], p: usize, depth: u32) -> Option<(Value, usize)> {
        if depth > 32 {
            return None;
        }
        let ty = *buf.get(p)?;
        let (text, next) = line(buf, p + 1)?;
        let num = || -> Option<i64> { std::str::from_utf8(text).ok()?.parse().ok() };
        match ty {
            b'+' | b',' | b'(' => Some((Value::Str(text.to_vec()), next)),
            b'-' => Some((Value::Error(text.to_vec()), next)),
            b':' => Some((Value::Int(num()?), next)),
            b'_' => Some((Value::Null, next)),
            b'#' => Some((Value::Int(i64::from(text == b"t")), next)),
            b'$' | b'=' | b'!' => {
                let n = num()?;
                if n < 0 {
                    return Some((Value::Null, next));
                }
                let end = next.checked_add(n as usize)?;
                if buf.get(end..end + 2)? != b"\r\n" {
                    return None;
                }
                let s = &buf[next..end];
                if ty == b'!' {
                    return Some((Value::Error(s.to_vec()), end + 2));
                }
                // A verbatim string's `txt:` prefix is not its text.
                let s = if ty == b'=' && s.len() >= 4 {
                    &s[4..]
                } else {
                    s
                };
                Some((Value::Str(s.to_vec()), end + 2))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = num()?;
                if n < 0 {
                    return Some((Value::Null, next));
                }
                let n = if matches!(ty, b'%' | b'|') {
                    n.saturating_mul(2)
                } else {
                    n
                } as usize;
                let mut items = Vec::with_capacity(n.min(1024));
                let mut p = next;
                for _ in 0..n {
                    let (v, q) = value(buf, p, depth + 1)?;
                    items.push(v);
                    p = q;
                }
                if ty == b'|' {
                    // An attribute comes before the value it describes.
                    return value(buf, p, depth + 1);
                }
                Some((Value::Array(items), p))
            }
            _ => None,
        }
    }
    value(buf, 0, 0).map(|(v, _)| v)
}

impl Value {
    fn str(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// The plain command that applies on another rack what a blocking command
/// `kind` (arguments `args`) did on the owner, given the owner's `reply`;
/// and the index of its key. `None` when nothing was popped (timeout,
/// error) or the command changes nothing (XREAD).
pub fn pop_copy(kind: Kind, args: &[Vec<u8>], reply: &Value) -> Option<(Vec<Vec<u8>>, usize)> {
    let items = match reply {
        Value::Array(v) => Some(v.as_slice()),
        _ => None,
    };
    let upper = |a: &[u8]| a.to_ascii_uppercase();
    let copy = match kind {
        Kind::Blpop | Kind::Brpop => {
            let key = items?.first()?.str()?;
            let name: &[u8] = if kind == Kind::Blpop {
                b"LPOP"
            } else {
                b"RPOP"
            };
            vec![name.to_vec(), key.to_vec()]
        }
        Kind::Brpoplpush => {
            reply.str()?;
            vec![b"RPOPLPUSH".to_vec(), args[1].clone(), args[2].clone()]
        }
        Kind::Blmove => {
            reply.str()?;
            vec![
                b"LMOVE".to_vec(),
                args[1].clone(),
                args[2].clone(),
                upper(&args[3]),
                upper(&args[4]),
            ]
        }
        Kind::Blmpop => {
            let items = items?;
            let key = items.first()?.str()?;
            let Value::Array(elems) = items.get(1)? else {
                return None;
            };
            let keys = numkeys_keys(args, 2);
            let dir = upper(args.get(keys.last()? + 1)?);
            let name: &[u8] = if dir == b"LEFT" { b"LPOP" } else { b"RPOP" };
            vec![
                name.to_vec(),
                key.to_vec(),
                elems.len().to_string().into_bytes(),
            ]
        }
        Kind::Bzpopmin | Kind::Bzpopmax => {
            let items = items?;
            let key = items.first()?.str()?;
            let member = items.get(1)?.str()?;
            vec![b"ZREM".to_vec(), key.to_vec(), member.to_vec()]
        }
        Kind::Bzmpop => {
            let items = items?;
            let key = items.first()?.str()?;
            let Value::Array(pairs) = items.get(1)? else {
                return None;
            };
            let mut c = vec![b"ZREM".to_vec(), key.to_vec()];
            for p in pairs {
                let Value::Array(p) = p else { return None };
                c.push(p.first()?.str()?.to_vec());
            }
            if c.len() == 2 {
                return None;
            }
            c
        }
        Kind::Xread => return None,
        Kind::Xreadgroup => {
            if !matches!(reply, Value::Array(v) if !v.is_empty()) {
                return None;
            }
            // The same read without BLOCK: the replicas deliver the same
            // entries to the same consumer when they hold the same stream.
            let mut c = Vec::with_capacity(args.len());
            let mut key = 0;
            let mut i = 0;
            while i < args.len() {
                let a = args[i].to_ascii_lowercase();
                if i >= 4 && a == b"block" && key == 0 {
                    i += 2;
                    continue;
                }
                if a == b"streams" && key == 0 && i >= 4 {
                    key = c.len() + 1;
                }
                c.push(args[i].clone());
                i += 1;
            }
            if key == 0 || key >= c.len() {
                return None;
            }
            return Some((c, key));
        }
    };
    Some((copy, 1))
}

impl Context {
    /// The front door's hook: a blocking command runs here (true), or it is
    /// not one and goes on as usual (false).
    pub(crate) fn blocking_request(&mut self, cid: ConnId, mid: MsgId, cmd: &Command) -> bool {
        let Some(kind) = kind(cmd.name) else {
            return false;
        };
        let nargs = self.msgs[mid].req.args.len();
        let args: Vec<Vec<u8>> = (0..nargs).map(|i| self.arg_vec(mid, i)).collect();
        let shape = shape(kind, &args);
        if self.conns[cid.0].kind() != ConnKind::Client {
            if !shape.blocks {
                // A peer's copy or forward: it runs here (coordinate).
                return false;
            }
            // A peer never forwards one (see the module comment).
            self.reply_error(mid, ERR_BLOCKING_REMOTE);
            return true;
        }
        let single = self.topology.is_single();
        if let Err(e) = self.state_allows(cmd.write) {
            self.reply_error(mid, e);
            return true;
        }
        if !shape.blocks {
            // XREAD / XREADGROUP without BLOCK: a plain keyed command.
            match shape.keys.first() {
                Some(&k) if single => {
                    let h = self.arg_hash(mid, k);
                    let server = self.server_for_hash(h);
                    self.server_forward(mid, server, cid);
                }
                Some(&k) => {
                    let h = self.arg_hash(mid, k);
                    self.replicate(mid, h);
                }
                None => self.execute_local(mid),
            }
            return true;
        }
        let mut server = None;
        let mut owner = None;
        for &k in &shape.keys {
            let h = self.arg_hash(mid, k);
            let s = self.server_for_hash(h);
            if server.is_some_and(|x| x != s) {
                self.reply_error(mid, ERR_BLOCKING_SPAN);
                return true;
            }
            server = Some(s);
            if !single {
                let o = self.topology.local_owner(h);
                if owner.is_some_and(|x| x != o) {
                    self.reply_error(mid, ERR_BLOCKING_SPAN);
                    return true;
                }
                owner = Some(o);
            }
        }
        if owner.is_some_and(|o| !o.is_local()) {
            self.reply_error(mid, ERR_BLOCKING_REMOTE);
            return true;
        }
        let server = server.unwrap_or(0);
        let resp3 = self.msgs[mid].resp3;
        let proto = usize::from(resp3);
        let conn = match self.conns[cid.0].client().blocking_conn {
            Some(c) if self.is_dedicated_of(c, cid) => {
                let sl = self.conns[c.0]
                    .server_slot()
                    .expect("a datastore connection");
                if sl.server == server && sl.proto == proto {
                    Some(c)
                } else {
                    let idle =
                        self.conns[c.0].imsg_q.is_empty() && self.conns[c.0].omsg_q.is_empty();
                    if !idle {
                        // Pipelined blocking commands of one client on two
                        // shards: the first must end first.
                        self.reply_error(mid, ERR_BLOCKING_SPAN);
                        return true;
                    }
                    self.conns[cid.0].client_mut().blocking_conn = None;
                    self.release_dedicated(c);
                    None
                }
            }
            _ => None,
        };
        let conn = match conn {
            Some(c) => c,
            None => match self.server_connect_dedicated(cid, server, resp3) {
                Ok(c) => {
                    self.conns[cid.0].client_mut().blocking_conn = Some(c);
                    c
                }
                Err(e) => {
                    self.reply_error(mid, e);
                    return true;
                }
            },
        };
        let bytes = self.msgs[mid].mlen;
        self.stats
            .record_server_request(server, cmd.name, cmd.write, bytes, true);
        self.server_forward_dedicated(mid, conn);
        if let Some(t) = shape.timeout {
            // The datastore answers at the command's timeout; the node's
            // own `timeout` is the margin for its answer to arrive.
            let margin = self.settings.timeout.max(Duration::from_secs(1));
            let uid = self.msgs[mid].id;
            self.add_timer(self.now + t + margin, Timer::Blocked { mid, uid });
        }
        debug!("c {} blocks on s {} ({})", cid.0, conn.0, cmd.name);
        true
    }

    /// The answer to a blocking command arrived on dedicated connection
    /// `cid` (server.rs): its pop goes to the other racks, and the
    /// connection is released once idle.
    pub(crate) fn blocking_reply(&mut self, cid: ConnId, req: MsgId, rsp: MsgId) {
        if !self.topology.is_single() {
            self.blocking_copy(req, rsp);
        }
        let c = &self.conns[cid.0];
        if c.imsg_q.is_empty() && c.omsg_q.is_empty() {
            if let Some(owner) = c.server_slot().and_then(|s| s.owner) {
                self.add_timer(self.now, Timer::ReleaseDedicated { conn: cid, owner });
            }
        }
    }

    /// Sends the plain equivalent of what blocking request `req` popped
    /// (its reply `rsp`) to the other racks and remote DCs. It is sent even
    /// when the client has gone: the owner's datastore popped anyway.
    fn blocking_copy(&mut self, req: MsgId, rsp: MsgId) {
        let Some(kind) = self.msgs[req].cmd.and_then(|c| kind(c.name)) else {
            return;
        };
        let r = &self.msgs[rsp];
        if matches!(r.rsp.ty, b'-' | b'_') || kind == Kind::Xread {
            return;
        }
        let mut bytes = Vec::with_capacity(r.mlen.min(1 << 16) as usize);
        self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        let Some(value) = parse_value(&bytes) else {
            return;
        };
        let nargs = self.msgs[req].req.args.len();
        let args: Vec<Vec<u8>> = (0..nargs).map(|i| self.arg_vec(req, i)).collect();
        let Some((copy, key)) = pop_copy(kind, &args, &value) else {
            return;
        };
        let parts: Vec<&[u8]> = copy.iter().map(Vec::as_slice).collect();
        let (out, places) = crate::cluster::resp::encode(&parts);
        let c = self.msgs.get(MsgKind::Request);
        let name = copy[0].to_ascii_lowercase();
        let owner = self.msgs[req].owner;
        let m = &mut self.msgs[c];
        self.mbufs.append(&mut m.segs, &out);
        m.mlen = out.len() as u64;
        m.req.args.extend_from_slice(&places);
        m.cmd = redis::lookup(&name, None).ok();
        m.owner = owner;
        let h = self.arg_hash(c, key);
        self.replicate_orphans(c, h);
        self.try_free(c);
    }

    /// A blocking command outlived its timeout and the margin: its client
    /// gets an error and its dedicated connection is closed (a late answer
    /// could not be paired any more).
    pub(crate) fn blocked_timed_out(&mut self, mid: MsgId, uid: u64) {
        let Some(m) = self.msgs.get_checked(mid, uid) else {
            return;
        };
        if m.done || !m.in_server {
            return;
        }
        let owner = m.owner;
        let dest = m.dest as usize;
        self.msgs[mid].swallow = true;
        if let Some(name) = self.servers.get(dest).map(|s| s.conf.name.clone()) {
            log::warn!("blocking request {uid} to datastore {name} timed out");
        }
        if !self.msgs[mid].done {
            self.reply_error(mid, ERR_BLOCKING_TIMEOUT);
        }
        let conn = owner
            .and_then(|c| self.conns.get(c.0))
            .and_then(|c| c.client_state())
            .and_then(|c| c.blocking_conn);
        if let (Some(conn), Some(owner)) = (conn, owner) {
            if self.is_dedicated_of(conn, owner) {
                self.release_dedicated(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn shapes() {
        let s = shape(Kind::Blpop, &args(&["BLPOP", "a", "b", "1.5"]));
        assert_eq!(s.keys, vec![1, 2]);
        assert!(s.blocks);
        assert_eq!(s.timeout, Some(Duration::from_millis(1500)));
        let s = shape(Kind::Brpop, &args(&["BRPOP", "a", "0"]));
        assert_eq!(s.timeout, None);
        let s = shape(
            Kind::Blmove,
            &args(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "2"]),
        );
        assert_eq!(
            (s.keys, s.timeout),
            (vec![1, 2], Some(Duration::from_secs(2)))
        );
        let s = shape(Kind::Blmpop, &args(&["BLMPOP", "1", "2", "a", "b", "LEFT"]));
        assert_eq!(s.keys, vec![3, 4]);
        let s = shape(Kind::Bzmpop, &args(&["BZMPOP", "1", "x", "a", "MIN"]));
        assert!(s.keys.is_empty(), "bad numkeys: redis answers");
        let s = shape(
            Kind::Xread,
            &args(&[
                "XREAD", "COUNT", "2", "BLOCK", "100", "STREAMS", "s", "t", "$", "$",
            ]),
        );
        assert_eq!(s.keys, vec![6, 7]);
        assert!(s.blocks);
        assert_eq!(s.timeout, Some(Duration::from_millis(100)));
        let s = shape(Kind::Xread, &args(&["XREAD", "STREAMS", "s", "0"]));
        assert!(!s.blocks);
        assert_eq!(s.keys, vec![2]);
        let s = shape(
            Kind::Xreadgroup,
            &args(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ]),
        );
        assert_eq!((s.keys, s.blocks, s.timeout), (vec![7], true, None));
        // A consumer named "streams" is not the keyword.
        let s = shape(
            Kind::Xreadgroup,
            &args(&["XREADGROUP", "GROUP", "g", "streams", "STREAMS", "s", ">"]),
        );
        assert_eq!(s.keys, vec![5]);
    }

    #[test]
    fn values() {
        assert_eq!(
            parse_value(b"*2\r\n$1\r\nk\r\n$2\r\nv1\r\n"),
            Some(Value::Array(vec![
                Value::Str(b"k".to_vec()),
                Value::Str(b"v1".to_vec())
            ]))
        );
        assert_eq!(parse_value(b"*-1\r\n"), Some(Value::Null));
        assert_eq!(parse_value(b"_\r\n"), Some(Value::Null));
        assert_eq!(
            parse_value(b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n,1.5\r\n"),
            Some(Value::Array(vec![
                Value::Str(b"z".to_vec()),
                Value::Str(b"m".to_vec()),
                Value::Str(b"1.5".to_vec())
            ]))
        );
        assert_eq!(parse_value(b"*2\r\n$1\r\nk\r\n"), None, "incomplete");
        assert_eq!(parse_value(b"$3\r\nabcd\r\n"), None);
        // Lengths a reply could claim do not overflow.
        assert_eq!(parse_value(b"%9223372036854775807\r\n"), None);
        assert_eq!(parse_value(b"$9223372036854775807\r\nab\r\n"), None);
        // A map reads as its keys and values in turn.
        assert_eq!(
            parse_value(b"%1\r\n$1\r\ns\r\n*0\r\n"),
            Some(Value::Array(vec![
                Value::Str(b"s".to_vec()),
                Value::Array(vec![])
            ]))
        );
    }

    fn copy_of(kind: Kind, a: &[&str], reply: &[u8]) -> Option<(Vec<String>, usize)> {
        let v = parse_value(reply).expect("reply");
        pop_copy(kind, &args(a), &v).map(|(c, k)| {
            (
                c.into_iter()
                    .map(|x| String::from_utf8(x).expect("utf8"))
                    .collect(),
                k,
            )
        })
    }

    #[test]
    fn copies_of_pops() {
        let kv = b"*2\r\n$1\r\nb\r\n$1\r\nv\r\n";
        assert_eq!(
            copy_of(Kind::Blpop, &["blpop", "a", "b", "0"], kv),
            Some((vec!["LPOP".into(), "b".into()], 1))
        );
        assert_eq!(
            copy_of(Kind::Brpop, &["brpop", "a", "b", "0"], kv).map(|c| c.0[0].clone()),
            Some("RPOP".into())
        );
        assert_eq!(copy_of(Kind::Brpop, &["brpop", "a", "1"], b"*-1\r\n"), None);
        assert_eq!(copy_of(Kind::Brpop, &["brpop", "a", "1"], b"_\r\n"), None);
        assert_eq!(
            copy_of(
                Kind::Brpoplpush,
                &["brpoplpush", "s", "d", "0"],
                b"$1\r\nv\r\n"
            ),
            Some((vec!["RPOPLPUSH".into(), "s".into(), "d".into()], 1))
        );
        assert_eq!(
            copy_of(
                Kind::Blmove,
                &["blmove", "s", "d", "left", "Right", "0"],
                b"$1\r\nv\r\n"
            ),
            Some((
                vec![
                    "LMOVE".into(),
                    "s".into(),
                    "d".into(),
                    "LEFT".into(),
                    "RIGHT".into()
                ],
                1
            ))
        );
        assert_eq!(
            copy_of(
                Kind::Blmpop,
                &["blmpop", "0", "2", "a", "b", "right", "COUNT", "5"],
                b"*2\r\n$1\r\nb\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
            ),
            Some((vec!["RPOP".into(), "b".into(), "2".into()], 1))
        );
        assert_eq!(
            copy_of(
                Kind::Bzpopmin,
                &["bzpopmin", "z", "0"],
                b"*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n"
            ),
            Some((vec!["ZREM".into(), "z".into(), "m".into()], 1))
        );
        assert_eq!(
            copy_of(
                Kind::Bzmpop,
                &["bzmpop", "0", "1", "z", "MAX", "COUNT", "2"],
                b"*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n,2\r\n*2\r\n$1\r\nb\r\n,1\r\n"
            ),
            Some((vec!["ZREM".into(), "z".into(), "a".into(), "b".into()], 1))
        );
        assert_eq!(
            copy_of(
                Kind::Xreadgroup,
                &[
                    "XREADGROUP",
                    "GROUP",
                    "g",
                    "c",
                    "BLOCK",
                    "0",
                    "STREAMS",
                    "s",
                    ">"
                ],
                b"*1\r\n*2\r\n$1\r\ns\r\n*0\r\n"
            ),
            Some((
                vec![
                    "XREADGROUP".into(),
                    "GROUP".into(),
                    "g".into(),
                    "c".into(),
                    "STREAMS".into(),
                    "s".into(),
                    ">".into()
                ],
                5
            ))
        );
        assert_eq!(
            copy_of(
                Kind::Xread,
                &["XREAD", "BLOCK", "0", "STREAMS", "s", "$"],
                b"*0\r\n"
            ),
            None
        );
    }
}
