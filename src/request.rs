//! Requests (dyn_request.c): look the command up, answer what the proxy
//! answers itself, pick the datastore, split multi-key commands.
//!
//! ```text
//!  client_request ─► lookup + arity ──error──► reply_error
//!        │ Proxy route (HELLO, CLIENT, QUIT, SELECT, DYNO_CONFIG) ─► local reply
//!        │ MGET/MSET/DEL/EXISTS/UNLINK/TOUCH over several owners ─► fragments
//!        └─ one owner ─► server_forward (the request's own bytes, unchanged)
//! ```

use log::debug;

use crate::conf::Consistency;
use crate::conn::ConnKind;
use crate::core::Context;
pub use crate::errors::ERR_SCRIPT_SPAN;
use crate::errors::{
    hello_syntax, unrecognized_option, ERR_CLIENT_NAME, ERR_CONSISTENCY, ERR_NOPROTO, ERR_PROTOVER,
};
use crate::hashkit;
use crate::msg::{Coalesce, ConnId, FragParent, MsgId, MsgKind};
use crate::proto::redis::{self, Command, Multi, Route};

/// Longest command name looked up; longer names are unknown commands.
const NAME_MAX: usize = 64;
/// Arguments at most this long are copied into fragments; longer ones are
/// referenced where they lie.
const COPY_MAX: u64 = 256;
/// Version the proxy reports in its HELLO reply.
pub const REDIS_VERSION_REPORTED: &str = "7.0.0";

impl Context {
    /// Copies argument `i` of request `mid` into `out` (cleared first).
    pub fn arg_copy(&self, mid: MsgId, i: usize, out: &mut Vec<u8>) {
        out.clear();
        let m = &self.msgs[mid];
        let a = m.req.args[i];
        self.mbufs.copy_out(&m.segs, a.off, a.len as u64, out);
        if m.req.inline {
            // Inline arguments are raw tokens: resolve quotes and escapes.
            if let std::borrow::Cow::Owned(v) = redis::inline_arg(out) {
                *out = v;
            }
        }
    }

    /// Argument `i` copied into `buf` when it fits (command names,
    /// subcommands): no allocation on the request path.
    fn arg_small<'b>(&self, mid: MsgId, i: usize, buf: &'b mut [u8; NAME_MAX]) -> Option<&'b [u8]> {
        let m = &self.msgs[mid];
        let a = m.req.args[i];
        if a.len as usize > NAME_MAX {
            return None;
        }
        if m.req.inline {
            let v = self.arg_vec(mid, i);
            let out = buf.get_mut(..v.len())?;
            out.copy_from_slice(&v);
            return Some(out);
        }
        let n = self
            .mbufs
            .copy_to_slice(&m.segs, a.off, &mut buf[..a.len as usize]);
        Some(&buf[..n])
    }

    /// The first bytes of each of the first arguments, for error texts.
    fn args_preview(&self, mid: MsgId) -> Vec<Vec<u8>> {
        let m = &self.msgs[mid];
        m.req.args[1..]
            .iter()
            .take(8)
            .map(|a| {
                let mut v = Vec::new();
                self.mbufs
                    .copy_out(&m.segs, a.off, (a.len as u64).min(128), &mut v);
                v
            })
            .collect()
    }

    /// Argument `i` as an owned vector (small arguments only).
    fn arg_vec(&self, mid: MsgId, i: usize) -> Vec<u8> {
        let mut v = Vec::new();
        self.arg_copy(mid, i, &mut v);
        v
    }

    /// The token of argument `i` (hash tag applied).
    pub fn arg_hash(&self, mid: MsgId, i: usize, scratch: &mut Vec<u8>) -> u32 {
        self.arg_copy(mid, i, scratch);
        let part = hashkit::hash_tag_part(scratch, self.settings.hash_tag);
        self.settings.hash.hash(part)
    }

    /// The server that owns a token: the servers split the token space into
    /// equal ranges, in configuration order; an ejected server's range goes to
    /// the next live one.
    pub fn server_for_hash(&self, hash: u32) -> usize {
        let n = self.servers.len();
        if n <= 1 {
            return 0;
        }
        let idx = ((hash as u64 * n as u64) >> 32) as usize;
        let now = self.now;
        (0..n)
            .map(|i| (idx + i) % n)
            .find(|&i| !self.servers[i].is_ejected(now))
            .unwrap_or(idx)
    }

    /// A complete request arrived on client `cid`.
    pub fn client_request(&mut self, cid: ConnId, mid: MsgId) {
        if self.settings.memcache {
            self.client_request_mc(cid, mid);
            return;
        }
        let c = &mut self.conns[cid.0];
        let resp3 = c.client().resp3;
        let m = &mut self.msgs[mid];
        if m.req.args.is_empty() {
            // `*0` and friends: nothing to answer, as redis does.
            self.msgs.put(&mut self.mbufs, mid);
            return;
        }
        m.owner = Some(cid);
        m.in_client = true;
        m.resp3 = resp3;
        c.omsg_q.push_back(mid);
        let depth = if c.kind() == ConnKind::DnodeClient {
            &mut self.stats.dnode_client_out_queue
        } else {
            &mut self.stats.client_out_queue
        };
        depth.record(c.omsg_q.len() as u64);

        let nargs = m.req.args.len();
        let name_len = m.req.args[0].len as usize;
        let mut name_buf = [0u8; NAME_MAX];
        let mut sub_buf = [0u8; NAME_MAX];
        let name = self.arg_small(mid, 0, &mut name_buf);
        let sub = if nargs > 1 {
            self.arg_small(mid, 1, &mut sub_buf)
        } else {
            None
        };
        let found = match name {
            Some(name) => redis::lookup(name, sub),
            None => Err(redis::CmdError::Unknown),
        };
        let cmd = match found {
            Ok(cmd) => cmd,
            Err(e) => {
                let mut shown = Vec::new();
                let m = &self.msgs[mid];
                self.mbufs.copy_out(
                    &m.segs,
                    m.req.args[0].off,
                    (name_len as u64).min(128),
                    &mut shown,
                );
                let args = self.args_preview(mid);
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                self.reply_error(mid, &e.text(&shown, &args));
                return;
            }
        };
        let m = &mut self.msgs[mid];
        m.cmd = Some(cmd);
        m.start = Some(self.now);
        let bytes = m.mlen;
        self.stats.record_request(cmd.name, cmd.write, bytes);
        if !redis::check_arity(cmd, nargs) {
            self.reply_error(mid, &redis::error_arity(cmd));
            return;
        }
        match cmd.route {
            Route::Proxy => self.proxy_command(cid, mid, cmd),
            Route::Unsupported => self.reply_error(mid, &redis::error_unsupported(cmd)),
            _ => self.coordinate(mid),
        }
    }

    /// Runs a request on this node's own datastore(s): the node-state gate,
    /// then the shard of its key, or a split over the shards.
    pub fn execute_local(&mut self, mid: MsgId) {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("a routed request was looked up");
        let client = m.owner.unwrap_or(ConnId(0));
        let nargs = m.req.args.len();
        if let Err(e) = self.state_allows(cmd.write) {
            self.reply_error(mid, e);
            return;
        }
        match cmd.route {
            Route::AllNodes if self.servers.len() > 1 => self.broadcast(client, mid),
            Route::Eval => self.route_eval(client, mid),
            Route::Key | Route::LocalRackOwner => {
                if cmd.multi != Multi::None && self.servers.len() > 1 {
                    if let Some(frags) = self.split(mid, cmd, SplitBy::Shard) {
                        for (fid, shard) in frags {
                            self.server_forward(fid, shard, client);
                        }
                        return;
                    }
                }
                let k = cmd.first_key.max(0) as usize;
                let server = if k == 0 || k >= nargs || self.servers.len() == 1 {
                    0
                } else {
                    let mut scratch = Vec::new();
                    self.server_for_hash(self.arg_hash(mid, k, &mut scratch))
                };
                self.server_forward(mid, server, client);
            }
            _ => self.server_forward(mid, 0, client),
        }
    }

    /// EVAL/EVALSHA: every key must live on one server.
    fn route_eval(&mut self, cid: ConnId, mid: MsgId) {
        if let Ok(server) = self.script_owner(mid, |ctx, h| ctx.server_for_hash(h)) {
            self.server_forward(mid, server.unwrap_or(0), cid);
        }
    }

    /// The one owner of a script's keys (EVAL, EVALSHA, FCALL and their
    /// read-only forms), by `owner_of(token)`: `Ok(None)` for a script
    /// without keys. `Err` when the request was answered with an error
    /// (bad numkeys, keys of several owners).
    pub fn script_owner(
        &mut self,
        mid: MsgId,
        owner_of: impl Fn(&Self, u32) -> usize,
    ) -> Result<Option<usize>, Answered> {
        let nargs = self.msgs[mid].req.args.len();
        let keys = match redis::eval_keys(&self.arg_vec(mid, 2), nargs) {
            Ok(k) => k,
            Err(e) => {
                self.reply_error(mid, e);
                return Err(Answered);
            }
        };
        let mut scratch = Vec::new();
        let mut owner = None;
        for i in keys {
            let o = owner_of(self, self.arg_hash(mid, i, &mut scratch));
            if owner.is_some_and(|x| x != o) {
                self.reply_error(mid, ERR_SCRIPT_SPAN);
                return Err(Answered);
            }
            owner = Some(o);
        }
        Ok(owner)
    }

    /// Splits a multi-key request by owner: this node's shards, or the
    /// peers of the local rack. Returns `None` when every key has the same
    /// owner (the request then goes out unchanged); otherwise the fragments
    /// and the owner of each (an empty list when the request was answered
    /// with an error instead).
    pub fn split(
        &mut self,
        mid: MsgId,
        cmd: &'static Command,
        by: SplitBy,
    ) -> Option<Vec<(MsgId, usize)>> {
        let mc = self.settings.memcache;
        let (step, coalesce, name): (usize, Coalesce, &[u8]) = match cmd.multi {
            Multi::Mget if mc => (1, Coalesce::McGet, b"get"),
            Multi::Mget => (1, Coalesce::Mget, b"mget"),
            Multi::Del => (1, Coalesce::Sum, b"del"),
            Multi::Exists => (1, Coalesce::Sum, b"exists"),
            Multi::Unlink => (1, Coalesce::Sum, b"unlink"),
            Multi::Touch => (1, Coalesce::Sum, b"touch"),
            Multi::Mset => (2, Coalesce::Ok, b"mset"),
            Multi::None => return None,
        };
        let nargs = self.msgs[mid].req.args.len();
        if !(nargs - 1).is_multiple_of(step) {
            self.reply_error(mid, &redis::error_arity(cmd));
            return Some(Vec::new());
        }
        let nkeys = (nargs - 1) / step;
        let mut scratch = Vec::new();
        let owners: Vec<usize> = (0..nkeys)
            .map(|i| {
                let h = self.arg_hash(mid, 1 + i * step, &mut scratch);
                match by {
                    SplitBy::Shard => self.server_for_hash(h),
                    SplitBy::Peer => self.topology.local_owner(h).idx(),
                }
            })
            .collect();
        if owners.iter().all(|&o| o == owners[0]) {
            return None;
        }
        let ngroups = owners.iter().copied().max().unwrap_or(0) + 1;
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); ngroups];
        for (i, &o) in owners.iter().enumerate() {
            groups[o].push(i);
        }
        let mut key_map = vec![(0u32, 0u32); nkeys];
        let mut out = Vec::new();
        let (resp3, owner, dnode) = {
            let m = &self.msgs[mid];
            (m.resp3, m.owner, m.dnode)
        };
        for (target, keys) in groups.iter().enumerate() {
            if keys.is_empty() {
                continue;
            }
            let fi = out.len() as u32;
            if mc {
                let fid = self.mc_fragment(mid, keys);
                for (pos, &k) in keys.iter().enumerate() {
                    key_map[k] = (fi, pos as u32);
                }
                let f = &mut self.msgs[fid];
                f.in_client = true;
                f.parent = Some((mid, fi));
                out.push((fid, target));
                continue;
            }
            let fid = self.msgs.get(MsgKind::Request);
            let mut b = FragBuilder::new(std::mem::take(&mut self.msgs[fid].segs));
            b.header(&mut self.mbufs, 1 + keys.len() * step);
            b.bulk_bytes(&mut self.mbufs, name);
            for (pos, &k) in keys.iter().enumerate() {
                key_map[k] = (fi, pos as u32);
                for j in 0..step {
                    self.frag_arg(mid, 1 + k * step + j, &mut b, &mut scratch);
                }
            }
            let f = &mut self.msgs[fid];
            f.segs = b.segs;
            f.mlen = b.len;
            f.req.args = b.args;
            f.owner = owner;
            f.in_client = true;
            f.parent = Some((mid, fi));
            f.resp3 = resp3;
            f.cmd = Some(cmd);
            f.dnode = dnode;
            out.push((fid, target));
        }
        debug!(
            "{} split into {} fragments",
            String::from_utf8_lossy(name),
            out.len()
        );
        // Requests count per fragment: the client request was counted once.
        let extra = out.len() as u64 - 1;
        let pool = &mut self.stats.pool;
        pool.fragments += out.len() as u64;
        if cmd.write {
            pool.client_write_requests += extra;
        } else {
            pool.client_read_requests += extra;
        }
        self.msgs[mid].frag = Some(Box::new(FragParent {
            coalesce,
            frags: out.iter().map(|&(f, _)| f).collect(),
            key_map,
            pending: out.len() as u32,
            quorum: None,
        }));
        Some(out)
    }

    /// Appends argument `i` of `mid` to a fragment as a RESP bulk: small ones
    /// copied, large ones referenced in place.
    fn frag_arg(&mut self, mid: MsgId, i: usize, b: &mut FragBuilder, scratch: &mut Vec<u8>) {
        let a = self.msgs[mid].req.args[i];
        if (a.len as u64) <= COPY_MAX || self.msgs[mid].req.inline {
            self.arg_copy(mid, i, scratch);
            b.bulk_bytes(&mut self.mbufs, scratch);
        } else {
            let src = std::mem::take(&mut self.msgs[mid].segs);
            b.bulk_ref(&mut self.mbufs, &src, a.off, a.len);
            self.msgs[mid].segs = src;
        }
    }

    /// Sends a request to every server; the client gets the first one's reply.
    fn broadcast(&mut self, cid: ConnId, mid: MsgId) {
        let n = self.servers.len();
        let frags = self.make_children(mid, n, Coalesce::First);
        for (i, fid) in frags.into_iter().enumerate() {
            self.server_forward(fid, i, cid);
        }
    }

    /// Commands the proxy answers itself (the table's `Route::Proxy`).
    fn proxy_command(&mut self, cid: ConnId, mid: MsgId, cmd: &'static Command) {
        let resp3 = self.conns[cid.0].client().resp3;
        match cmd.name {
            "quit" => {
                self.msgs[mid].close_after = true;
                self.conns[cid.0].no_more_input = true;
                self.reply_bytes(mid, b"+OK\r\n");
            }
            "hello" => self.hello(cid, mid),
            "select" => match redis::select_db(&self.arg_vec(mid, 1)) {
                Ok(()) => self.reply_bytes(mid, b"+OK\r\n"),
                Err(e) => self.reply_error(mid, e),
            },
            "client|setname" => {
                let name = self.arg_vec(mid, 2);
                if name.iter().any(|&b| b <= b' ' || b >= 127) {
                    self.reply_error(mid, ERR_CLIENT_NAME);
                } else {
                    self.conns[cid.0].client_mut().name =
                        if name.is_empty() { None } else { Some(name) };
                    self.reply_bytes(mid, b"+OK\r\n");
                }
            }
            "client|getname" => {
                let reply = match &self.conns[cid.0].client().name {
                    Some(n) => bulk(n),
                    None => null(resp3).to_vec(),
                };
                self.reply_bytes(mid, &reply);
            }
            "client|id" => {
                let id = self.conns[cid.0].client().client_id;
                self.reply_bytes(mid, format!(":{id}\r\n").as_bytes());
            }
            "client|setinfo" => {
                let mut attr = self.arg_vec(mid, 2);
                attr.make_ascii_lowercase();
                if attr == b"lib-name" || attr == b"lib-ver" {
                    self.reply_bytes(mid, b"+OK\r\n");
                } else {
                    let a = String::from_utf8_lossy(&attr).into_owned();
                    self.reply_error(mid, &unrecognized_option(&sanitize(&a)));
                }
            }
            "dyno_config:conn_consistency" => {
                let level = String::from_utf8_lossy(&self.arg_vec(mid, 1)).into_owned();
                match Consistency::from_name(&level) {
                    Some(c) => {
                        let conn = self.conns[cid.0].client_mut();
                        conn.read_consistency = c;
                        conn.write_consistency = c;
                        self.reply_bytes(mid, b"+OK\r\n");
                    }
                    None => self.reply_error(mid, ERR_CONSISTENCY),
                }
            }
            _ => self.reply_error(mid, &redis::error_unsupported(cmd)),
        }
    }

    /// HELLO [protover [AUTH user pass] [SETNAME name]].
    fn hello(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut proto = if self.conns[cid.0].client().resp3 {
            3
        } else {
            2
        };
        let mut i = 1;
        if nargs > 1 {
            let v = String::from_utf8_lossy(&self.arg_vec(mid, 1)).into_owned();
            match v.parse::<i64>() {
                Ok(2) => proto = 2,
                Ok(3) => proto = 3,
                Ok(_) => {
                    self.reply_error(mid, ERR_NOPROTO);
                    return;
                }
                Err(_) => {
                    self.reply_error(mid, ERR_PROTOVER);
                    return;
                }
            }
            i = 2;
        }
        let mut name = None;
        while i < nargs {
            let mut opt = self.arg_vec(mid, i);
            opt.make_ascii_lowercase();
            match opt.as_slice() {
                // The datastore behind the proxy is reached without credentials;
                // credentials given here are accepted and not checked.
                b"auth" if i + 2 < nargs => i += 3,
                b"setname" if i + 1 < nargs => {
                    name = Some(self.arg_vec(mid, i + 1));
                    i += 2;
                }
                _ => {
                    let o = String::from_utf8_lossy(&self.arg_vec(mid, i)).into_owned();
                    self.reply_error(mid, &hello_syntax(&sanitize(&o)));
                    return;
                }
            }
        }
        let c = self.conns[cid.0].client_mut();
        c.resp3 = proto == 3;
        if let Some(n) = name {
            c.name = Some(n);
        }
        let id = c.client_id;
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(if proto == 3 { b"%7\r\n" } else { b"*14\r\n" });
        for (k, v) in [("server", "redis"), ("version", REDIS_VERSION_REPORTED)] {
            out.extend_from_slice(&bulk(k.as_bytes()));
            out.extend_from_slice(&bulk(v.as_bytes()));
        }
        out.extend_from_slice(&bulk(b"proto"));
        out.extend_from_slice(format!(":{proto}\r\n").as_bytes());
        out.extend_from_slice(&bulk(b"id"));
        out.extend_from_slice(format!(":{id}\r\n").as_bytes());
        for (k, v) in [("mode", "standalone"), ("role", "master")] {
            out.extend_from_slice(&bulk(k.as_bytes()));
            out.extend_from_slice(&bulk(v.as_bytes()));
        }
        out.extend_from_slice(&bulk(b"modules"));
        out.extend_from_slice(b"*0\r\n");
        // The request itself goes on as RESP3 (or not) like the ones after it.
        self.msgs[mid].resp3 = proto == 3;
        self.reply_bytes(mid, &out);
    }

    /// Answers a request with bytes the proxy made.
    pub fn reply_bytes(&mut self, req: MsgId, bytes: &[u8]) {
        self.reply_made(req, bytes, false);
    }

    /// Answers a request with bytes the proxy made; `error` marks a failure of
    /// this node (peer or datastore unreachable, timeout, quorum), which the
    /// coordinator tells apart from a datastore's own error reply.
    fn reply_made(&mut self, req: MsgId, bytes: &[u8], error: bool) {
        let rsp = self.msgs.get(MsgKind::Response);
        let mut segs = std::mem::take(&mut self.msgs[rsp].segs);
        if bytes.len() <= 512.min(self.mbufs.chunk_size() / 8) {
            let seg = self.small_seg(bytes);
            segs.push(seg);
        } else {
            self.mbufs.append(&mut segs, bytes);
        }
        let m = &mut self.msgs[rsp];
        m.segs = segs;
        m.mlen = bytes.len() as u64;
        // Errors read as `-` whatever the protocol (memcached's start with
        // `SERVER_ERROR`), so that merging and quorum code see them.
        m.rsp.ty = if error {
            b'-'
        } else {
            bytes.first().copied().unwrap_or(b'+')
        };
        m.generated = error;
        self.attach_reply(req, rsp);
    }

    /// Answers a request with `-<text>\r\n` (text has no CR/LF).
    pub fn reply_error(&mut self, req: MsgId, text: &str) {
        debug_assert!(!text.contains('\r') && !text.contains('\n'));
        let mut b = Vec::with_capacity(text.len() + 16);
        match (self.settings.memcache, text.strip_prefix("ERR ")) {
            // memcached: `SERVER_ERROR <source> <message>`.
            (true, Some(rest)) => {
                b.extend_from_slice(b"SERVER_ERROR ");
                b.extend_from_slice(rest.as_bytes());
            }
            (true, None) => b.extend_from_slice(text.as_bytes()),
            (false, _) => {
                b.push(b'-');
                b.extend_from_slice(text.as_bytes());
            }
        }
        b.extend_from_slice(b"\r\n");
        self.reply_made(req, &b, true);
    }

    /// Gives a request its reply: a fragment reports to its parent, a client
    /// request waits to be written, an orphan is freed.
    pub fn attach_reply(&mut self, req: MsgId, rsp: MsgId) {
        let m = &mut self.msgs[req];
        debug_assert!(m.peer.is_none(), "a request gets one reply");
        if m.peer.is_some() {
            self.msgs.put(&mut self.mbufs, rsp);
            return;
        }
        m.peer = Some(rsp);
        m.done = true;
        if let Some((parent, idx)) = m.parent {
            if m.in_client {
                self.child_done(parent, idx);
            } else {
                self.try_free(req);
            }
            return;
        }
        match (m.in_client, m.owner) {
            (true, Some(cid)) => {
                if m.dnode.is_some() {
                    self.add_reply_header(req, rsp);
                }
                self.schedule_flush(cid)
            }
            _ => self.try_free(req),
        }
    }
}

/// A RESP bulk string.
fn bulk(b: &[u8]) -> Vec<u8> {
    let mut v = format!("${}\r\n", b.len()).into_bytes();
    v.extend_from_slice(b);
    v.extend_from_slice(b"\r\n");
    v
}

/// The null reply of the client's protocol.
fn null(resp3: bool) -> &'static [u8] {
    if resp3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    }
}

/// Makes text safe for an error reply (no CR/LF).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

/// The request was already answered (with an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered;

/// What a multi-key request is split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBy {
    /// This node's `servers` entries.
    Shard,
    /// The key owners in this node's rack.
    Peer,
}

/// Builds a RESP array request out of generated and referenced bytes,
/// recording each argument's position as the parser would.
pub struct FragBuilder {
    pub segs: Vec<crate::mbuf::Seg>,
    pub len: u64,
    pub args: Vec<redis::Arg>,
}

impl FragBuilder {
    fn new(segs: Vec<crate::mbuf::Seg>) -> FragBuilder {
        debug_assert!(segs.is_empty());
        FragBuilder {
            segs,
            len: 0,
            args: Vec::new(),
        }
    }

    fn push(&mut self, mbufs: &mut crate::mbuf::MbufPool, bytes: &[u8]) {
        mbufs.append(&mut self.segs, bytes);
        self.len += bytes.len() as u64;
    }

    fn header(&mut self, mbufs: &mut crate::mbuf::MbufPool, n: usize) {
        self.push(mbufs, format!("*{n}\r\n").as_bytes());
    }

    fn bulk_bytes(&mut self, mbufs: &mut crate::mbuf::MbufPool, data: &[u8]) {
        self.push(mbufs, format!("${}\r\n", data.len()).as_bytes());
        self.args.push(redis::Arg {
            off: self.len,
            len: data.len() as u32,
        });
        self.push(mbufs, data);
        self.push(mbufs, b"\r\n");
    }

    fn bulk_ref(
        &mut self,
        mbufs: &mut crate::mbuf::MbufPool,
        src: &[crate::mbuf::Seg],
        off: u64,
        len: u32,
    ) {
        self.push(mbufs, format!("${len}\r\n").as_bytes());
        self.args.push(redis::Arg { off: self.len, len });
        mbufs.append_ref(&mut self.segs, src, off, len as u64);
        self.len += len as u64;
        self.push(mbufs, b"\r\n");
    }
}
