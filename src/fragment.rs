//! A request's arguments and fragments (msg_fragment of dyn_message.c,
//! redis_fragment of dyn_redis.c): read an argument, hash a key, split a
//! multi-key command by owner. Both the front door (request.rs) and the
//! coordinator use it; it calls neither.
//!
//! ```text
//!  MGET k1 k2 k3 ─ owner_of(hash(k)) ─► owners 1 0 1
//!      ─► fragments, by owner: "MGET k2" (owner 0), "MGET k1 k3" (owner 1)
//!         parent.frag: frags [f0, f1], key_map [(1,0) (0,0) (1,1)]
//! ```
//!
//! Keys are hashed where they lie when they sit in one chunk, else copied
//! into the context's scratch buffer: hashing allocates nothing.

use log::debug;

use crate::core::Context;
use crate::hashkit;
use crate::msg::{Coalesce, MsgId, MsgKind};
use crate::proto::redis::{self, Command, Multi};
use crate::response::num_line;

/// Arguments at most this long are copied into fragments; longer ones are
/// referenced where they lie.
const COPY_MAX: u64 = 256;
/// A key of `key_map` whose fragment is not chosen yet (`.0` is its owner).
const UNASSIGNED: u32 = u32::MAX;

impl Context {
    /// Copies argument `i` of request `mid` into `out` (cleared first).
    pub(crate) fn arg_copy(&self, mid: MsgId, i: usize, out: &mut Vec<u8>) {
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

    /// Argument `i` as an owned vector (small arguments only).
    pub(crate) fn arg_vec(&self, mid: MsgId, i: usize) -> Vec<u8> {
        let mut v = Vec::new();
        self.arg_copy(mid, i, &mut v);
        v
    }

    /// The token of a key (hash tag applied).
    fn key_hash(&self, key: &[u8]) -> u32 {
        let part = hashkit::hash_tag_part(key, self.settings.hash_tag);
        self.settings.hash.hash(part)
    }

    /// The token of argument `i` (hash tag applied): hashed in place when
    /// the argument lies in one chunk, else through the scratch buffer.
    pub(crate) fn arg_hash(&mut self, mid: MsgId, i: usize) -> u32 {
        let m = &self.msgs[mid];
        let a = m.req.args[i];
        if m.mc.b64 {
            // A memcached meta key sent in base64 (`b` flag) is placed by
            // its decoded bytes, as the text commands place it.
            let mut enc = std::mem::take(&mut self.scratch);
            self.arg_copy(mid, i, &mut enc);
            let mut key = Vec::with_capacity(enc.len());
            let h = if crate::proto::memcache::base64_decode(&enc, &mut key) {
                self.key_hash(&key)
            } else {
                self.key_hash(&enc)
            };
            self.scratch = enc;
            return h;
        }
        if !m.req.inline {
            let mut parts = crate::mbuf::seg_ranges(&m.segs, a.off, a.len as u64);
            if let Some(p) = parts.next() {
                if p.len() == a.len as usize {
                    return self.key_hash(self.mbufs.bytes(p));
                }
            }
        }
        let mut key = std::mem::take(&mut self.scratch);
        self.arg_copy(mid, i, &mut key);
        let h = self.key_hash(&key);
        self.scratch = key;
        h
    }

    /// Splits a multi-key request by `owner_of(token)` (a shard of this
    /// node, or a peer of the local rack). Returns `None` when every key has
    /// the same owner (the request then goes out unchanged); otherwise the
    /// number of fragments, now children of `mid` in `frag.frags`, each with
    /// its owner in `dest` (zero when the request was answered with an error
    /// instead).
    pub(crate) fn split(
        &mut self,
        mid: MsgId,
        cmd: &'static Command,
        owner_of: impl Fn(&Self, u32) -> usize,
    ) -> Option<usize> {
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
        debug_assert!(!self.msgs[mid].frag.is_parent());
        let nargs = self.msgs[mid].req.args.len();
        if !(nargs - 1).is_multiple_of(step) {
            self.reply_error(mid, &redis::error_arity(cmd));
            return Some(0);
        }
        let nkeys = (nargs - 1) / step;
        self.msgs.lend_parts(mid);
        // `key_map` first holds each key's owner, then its place.
        let mut key_map = std::mem::take(&mut self.msgs[mid].frag.key_map);
        key_map.clear();
        for i in 0..nkeys {
            let h = self.arg_hash(mid, 1 + i * step);
            let owner = owner_of(self, h);
            debug_assert!(owner < UNASSIGNED as usize);
            key_map.push((owner as u32, UNASSIGNED));
        }
        let first = key_map[0].0;
        if key_map.iter().all(|&(o, _)| o == first) {
            key_map.clear();
            self.msgs[mid].frag.key_map = key_map;
            return None;
        }
        let mut frags = std::mem::take(&mut self.msgs[mid].frag.frags);
        frags.clear();
        let (resp3, owner, dnode) = {
            let m = &self.msgs[mid];
            (m.resp3, m.owner, m.dnode)
        };
        // One fragment per owner, in owner order.
        while let Some(target) = key_map
            .iter()
            .filter(|&&(_, pos)| pos == UNASSIGNED)
            .map(|&(o, _)| o)
            .min()
        {
            let fi = frags.len() as u32;
            let mine = |e: &(u32, u32)| *e == (target, UNASSIGNED);
            let fid = if mc {
                let keys = (0..nkeys).filter(|&k| mine(&key_map[k]));
                self.mc_fragment(mid, keys)
            } else {
                let fid = self.msgs.get(MsgKind::Request);
                let mut scratch = std::mem::take(&mut self.scratch);
                let segs = std::mem::take(&mut self.msgs[fid].segs);
                let args = std::mem::take(&mut self.msgs[fid].req.args);
                let mut b = FragBuilder::new(segs, args);
                let n = key_map.iter().filter(|e| mine(e)).count();
                b.header(&mut self.mbufs, 1 + n * step);
                b.bulk_bytes(&mut self.mbufs, name);
                for k in (0..nkeys).filter(|&k| mine(&key_map[k])) {
                    for j in 0..step {
                        self.frag_arg(mid, 1 + k * step + j, &mut b, &mut scratch);
                    }
                }
                self.scratch = scratch;
                let f = &mut self.msgs[fid];
                f.segs = b.segs;
                f.mlen = b.len;
                f.req.args = b.args;
                f.resp3 = resp3;
                f.cmd = Some(cmd);
                f.owner = owner;
                f.dnode = dnode;
                fid
            };
            for (pos, e) in key_map.iter_mut().filter(|e| mine(e)).enumerate() {
                *e = (fi, pos as u32);
            }
            let f = &mut self.msgs[fid];
            f.in_client = true;
            f.parent = Some((mid, fi));
            f.dest = target;
            frags.push(fid);
        }
        let n = frags.len();
        debug!(
            "{} split into {} fragments",
            String::from_utf8_lossy(name),
            n
        );
        // Requests count per fragment: the client request was counted once.
        let extra = n as u64 - 1;
        let pool = &mut self.stats.pool;
        pool.fragments += n as u64;
        if cmd.write {
            pool.client_write_requests += extra;
        } else {
            pool.client_read_requests += extra;
        }
        let fp = &mut self.msgs[mid].frag;
        fp.coalesce = Some(coalesce);
        fp.frags = frags;
        fp.key_map = key_map;
        fp.pending = n as u32;
        fp.building = false;
        Some(n)
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
}

/// Builds a RESP array request out of generated and referenced bytes,
/// recording each argument's position as the parser would.
pub struct FragBuilder {
    pub segs: Vec<crate::mbuf::Seg>,
    pub len: u64,
    pub args: Vec<redis::Arg>,
}

impl FragBuilder {
    /// A builder filling a recycled message's (empty) vectors.
    fn new(segs: Vec<crate::mbuf::Seg>, mut args: Vec<redis::Arg>) -> FragBuilder {
        debug_assert!(segs.is_empty());
        args.clear();
        FragBuilder { segs, len: 0, args }
    }

    fn push(&mut self, mbufs: &mut crate::mbuf::MbufPool, bytes: &[u8]) {
        mbufs.append(&mut self.segs, bytes);
        self.len += bytes.len() as u64;
    }

    fn header(&mut self, mbufs: &mut crate::mbuf::MbufPool, n: usize) {
        let mut buf = [0u8; 32];
        self.push(mbufs, num_line(&mut buf, b'*', n as i64));
    }

    fn bulk_bytes(&mut self, mbufs: &mut crate::mbuf::MbufPool, data: &[u8]) {
        let mut buf = [0u8; 32];
        self.push(mbufs, num_line(&mut buf, b'$', data.len() as i64));
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
        let mut buf = [0u8; 32];
        self.push(mbufs, num_line(&mut buf, b'$', len as i64));
        self.args.push(redis::Arg { off: self.len, len });
        mbufs.append_ref(&mut self.segs, src, off, len as u64);
        self.len += len as u64;
        self.push(mbufs, b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Topology;
    use crate::conf::Conf;
    use crate::msg::ConnId;
    use std::cell::Cell;

    fn ctx() -> Context {
        let text = "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  hash_tag: \"{}\"\n  servers:\n  - 127.0.0.1:6379:1\n";
        let conf = Conf::parse_str("test.yml", text).expect("valid conf");
        let topo = Topology::from_conf(&conf.pool).expect("topology");
        Context::new(&conf.pool, topo, 4096, 64).expect("context")
    }

    /// A RESP request of `parts`, its bytes cut into two chunks at `cut`.
    fn request(ctx: &mut Context, parts: &[&[u8]], cut: usize) -> MsgId {
        let mut bytes = format!("*{}\r\n", parts.len()).into_bytes();
        let mut args = Vec::new();
        for p in parts {
            bytes.extend_from_slice(format!("${}\r\n", p.len()).as_bytes());
            args.push(redis::Arg {
                off: bytes.len() as u64,
                len: p.len() as u32,
            });
            bytes.extend_from_slice(p);
            bytes.extend_from_slice(b"\r\n");
        }
        let mid = ctx.msgs.get(MsgKind::Request);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        ctx.mbufs.append(&mut first, &bytes[..cut]);
        ctx.mbufs.append(&mut second, &bytes[cut..]);
        first.extend(second);
        let name = parts[0].to_ascii_lowercase();
        let m = &mut ctx.msgs[mid];
        m.segs = first;
        m.mlen = bytes.len() as u64;
        m.req.args = args;
        m.cmd = Some(redis::lookup(&name, None).expect("known command"));
        m.owner = Some(ConnId(7));
        m.in_client = true;
        mid
    }

    fn bytes_of(ctx: &Context, mid: MsgId) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in &ctx.msgs[mid].segs {
            out.extend_from_slice(ctx.mbufs.bytes(s));
        }
        out
    }

    #[test]
    fn keys_hash_the_same_in_one_chunk_or_two() {
        let mut ctx = ctx();
        let parts: [&[u8]; 2] = [b"GET", b"user{42}:name"];
        let whole = request(&mut ctx, &parts, 2);
        let h = ctx.arg_hash(whole, 1);
        // Cut inside the key (it starts at byte 18), and inside the tag.
        for cut in [19, 23, 25] {
            let split = request(&mut ctx, &parts, cut);
            assert_eq!(ctx.msgs[split].segs.len(), 2);
            assert_eq!(ctx.arg_hash(split, 1), h, "cut at {cut}");
        }
        // The hash tag: only `42` counts.
        let other = request(&mut ctx, &[b"GET", b"order{42}"], 2);
        assert_eq!(ctx.arg_hash(other, 1), h);
    }

    #[test]
    fn split_by_owner_and_merge_in_key_order() {
        let mut ctx = ctx();
        let parts: [&[u8]; 4] = [b"MGET", b"a", b"b", b"c"];
        let mid = request(&mut ctx, &parts, 9);
        let cmd = ctx.msgs[mid].cmd.expect("looked up");
        // Owners 1, 0, 1 by key order.
        let next = Cell::new(0usize);
        let owners = [1usize, 0, 1];
        let owner_of = |_: &Context, _h: u32| {
            let i = next.get();
            next.set(i + 1);
            owners[i]
        };
        assert_eq!(ctx.split(mid, cmd, owner_of), Some(2));
        let fp = &ctx.msgs[mid].frag;
        assert_eq!(fp.coalesce, Some(Coalesce::Mget));
        assert_eq!(fp.key_map, [(1, 0), (0, 0), (1, 1)]);
        let frags = fp.frags.clone();
        assert_eq!(bytes_of(&ctx, frags[0]), b"*2\r\n$4\r\nmget\r\n$1\r\nb\r\n");
        assert_eq!(
            bytes_of(&ctx, frags[1]),
            b"*3\r\n$4\r\nmget\r\n$1\r\na\r\n$1\r\nc\r\n"
        );
        assert_eq!(ctx.msgs[frags[0]].dest, 0);
        assert_eq!(ctx.msgs[frags[1]].dest, 1);
        assert_eq!(ctx.msgs[frags[1]].parent, Some((mid, 1)));
        // Replies, the second fragment first.
        for (f, reply, elems) in [
            (
                frags[1],
                &b"*2\r\n$2\r\nva\r\n$2\r\nvc\r\n"[..],
                [(4u64, 12u64), (12, 20)].to_vec(),
            ),
            (frags[0], &b"*1\r\n$2\r\nvb\r\n"[..], [(4, 12)].to_vec()),
        ] {
            let rsp = ctx.reply_made(reply, false);
            let info = &mut ctx.msgs[rsp].rsp;
            info.count = elems.len() as i64;
            info.elems.extend(elems);
            ctx.attach_reply(f, rsp);
        }
        let rsp = ctx.msgs[mid].peer.expect("merged");
        assert_eq!(
            bytes_of(&ctx, rsp),
            b"*3\r\n$2\r\nva\r\n$2\r\nvb\r\n$2\r\nvc\r\n"
        );
        ctx.msgs[mid].in_client = false;
        ctx.try_free(mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn split_sums_integer_replies() {
        let mut ctx = ctx();
        let mid = request(&mut ctx, &[b"DEL", b"a", b"b"], 20);
        let cmd = ctx.msgs[mid].cmd.expect("looked up");
        let next = Cell::new(0usize);
        let owner_of = |_: &Context, _h: u32| {
            let i = next.get();
            next.set(i + 1);
            i
        };
        assert_eq!(ctx.split(mid, cmd, owner_of), Some(2));
        let frags = ctx.msgs[mid].frag.frags.clone();
        for (f, n) in frags.into_iter().zip([1i64, 1]) {
            let rsp = ctx.reply_made(b":1\r\n", false);
            ctx.msgs[rsp].rsp.integer = n;
            ctx.attach_reply(f, rsp);
        }
        let rsp = ctx.msgs[mid].peer.expect("merged");
        assert_eq!(bytes_of(&ctx, rsp), b":2\r\n");
        // Every key with one owner: no split.
        let whole = request(&mut ctx, &[b"DEL", b"a", b"b"], 5);
        assert_eq!(ctx.split(whole, cmd, |_, _| 3), None);
        assert!(!ctx.msgs[whole].frag.is_parent());
        assert!(ctx.msgs[whole].frag.key_map.is_empty());
    }
}
