//! Replies and the message tree (dyn_response.c, the reply side of
//! dyn_client.c): a request gets its reply, a child reports to its parent,
//! and a parent's reply is made from its children's.
//!
//! ```text
//!  server_reply / peer_reply / reply_error ─► attach_reply(req, rsp)
//!     ├─ req is a child ─► child_done(parent, idx)
//!     │     ├─ Quorum: QuorumState::record ─ every DC decided ─► quorum_decide
//!     │     │            (MGET replicas disagree: reconcile_mget key by key)
//!     │     ├─ First (broadcast): child 0 answered ─► finalize_with
//!     │     └─ split: last fragment answered ─► merge_split
//!     │                    └─► finish_parent ─► attach_reply(parent, merged)
//!     ├─ req from a client ─► schedule_flush (a peer's: reply header first)
//!     └─ nobody waits (orphan, detached child) ─► try_free
//! ```
//!
//! A parent's children are made all at once (`make_children`) and only then
//! sent, with the parent `building`: an answer that comes back at once (a
//! peer not connected) is recorded, and the parent decides in
//! `fanout_done` after its last child is out. The tree lives in the pooled
//! messages (`Msg::frag`), so replying allocates nothing in steady state.

use std::io::Write as _;

use log::{debug, log_enabled, Level};

use crate::cluster::plan::MAX_RACKS;
use crate::cluster::response_mgr::{Pick, Verdict};
use crate::core::Context;
use crate::hashkit::crc32::crc32_update;
use crate::mbuf::Seg;
use crate::msg::{Coalesce, MsgId, MsgKind};
use crate::proto::redis::Multi;

pub use crate::errors::ERR_NO_QUORUM;
use crate::errors::ERR_SPLIT_REPLY;

/// `<prefix><n>\r\n` written into `buf` (a RESP header or integer), without
/// the heap.
pub fn num_line(buf: &mut [u8; 32], prefix: u8, n: i64) -> &[u8] {
    let left = {
        let mut w = &mut buf[..];
        let res = write!(w, "{}{n}\r\n", prefix as char);
        debug_assert!(res.is_ok());
        w.len()
    };
    &buf[..32 - left]
}

impl Context {
    /// A new request with the same bytes, arguments and origin.
    pub(crate) fn copy_request(&mut self, mid: MsgId) -> MsgId {
        let c = self.msgs.get(MsgKind::Request);
        let src = std::mem::take(&mut self.msgs[mid].segs);
        let mut segs = std::mem::take(&mut self.msgs[c].segs);
        let mlen = self.msgs[mid].mlen;
        self.mbufs.append_ref(&mut segs, &src, 0, mlen);
        let mut args = std::mem::take(&mut self.msgs[c].req.args);
        args.extend_from_slice(&self.msgs[mid].req.args);
        let m = &mut self.msgs[mid];
        m.segs = src;
        let (cmd, resp3, owner, dnode, inline) = (m.cmd, m.resp3, m.owner, m.dnode, m.req.inline);
        let cm = &mut self.msgs[c];
        cm.segs = segs;
        cm.mlen = mlen;
        cm.req.args = args;
        cm.req.inline = inline;
        cm.cmd = cmd;
        cm.resp3 = resp3;
        cm.owner = owner;
        cm.dnode = dnode;
        let db = self.msgs[mid].db;
        self.msgs[c].db = db;
        c
    }

    /// Makes `n` copies of `mid` its children (`frag.frags`), merged by
    /// `coalesce`. The parent is `building` until [`Context::fanout_done`]:
    /// the caller sends every child, then calls it.
    pub(crate) fn make_children(&mut self, mid: MsgId, n: usize, coalesce: Coalesce) {
        debug_assert!(n > 0);
        debug_assert!(!self.msgs[mid].frag.is_parent());
        self.msgs.lend_parts(mid);
        let mut frags = std::mem::take(&mut self.msgs[mid].frag.frags);
        frags.clear();
        for i in 0..n {
            let c = self.copy_request(mid);
            let cm = &mut self.msgs[c];
            cm.in_client = true;
            cm.parent = Some((mid, i as u32));
            frags.push(c);
        }
        let fp = &mut self.msgs[mid].frag;
        fp.frags = frags;
        fp.key_map.clear();
        fp.coalesce = Some(coalesce);
        fp.pending = n as u32;
        fp.building = true;
    }

    /// Every child of `parent` is out: decide now if the answers that came
    /// back meanwhile are enough.
    pub(crate) fn fanout_done(&mut self, parent: MsgId) {
        let fp = &mut self.msgs[parent].frag;
        debug_assert!(fp.building);
        fp.building = false;
        self.parent_decide(parent);
    }

    /// Child `idx` of `parent` has its answer.
    pub(crate) fn child_done(&mut self, parent: MsgId, idx: u32) {
        let fp = &mut self.msgs[parent].frag;
        let Some(coalesce) = fp.coalesce else {
            return;
        };
        match coalesce {
            Coalesce::Quorum => self.quorum_answer(parent, idx),
            Coalesce::First | Coalesce::Watched => fp.pending = fp.pending.saturating_sub(1),
            _ => {
                debug_assert!(fp.pending > 0);
                fp.pending = fp.pending.saturating_sub(1);
            }
        }
        if !self.msgs[parent].frag.building {
            self.parent_decide(parent);
        }
    }

    /// Makes the parent's reply once its children's answers allow it.
    fn parent_decide(&mut self, parent: MsgId) {
        let fp = &self.msgs[parent].frag;
        let Some(coalesce) = fp.coalesce else {
            return;
        };
        match coalesce {
            Coalesce::First => {
                let child = fp.frags[0];
                if self.msgs[child].done {
                    self.finalize_with(parent, Some(child), None);
                }
            }
            Coalesce::Watched => {
                let child = fp.frags[0];
                if self.msgs[child].done {
                    self.txn_watched_done(parent, child);
                }
            }
            Coalesce::Quorum => {
                let q = fp.quorum.as_ref().expect("quorum parent");
                if q.all_done() {
                    self.quorum_decide(parent);
                }
            }
            _ => {
                if fp.pending == 0 {
                    self.merge_split(parent);
                }
            }
        }
    }

    /// The CRC-32 of a reply's bytes (exact: no case folding).
    pub(crate) fn reply_checksum(&self, rsp: MsgId) -> u32 {
        if self.settings.memcache {
            return self.mc_reply_checksum(rsp);
        }
        let m = &self.msgs[rsp];
        let mut crc = !0u32;
        for s in &m.segs {
            crc = crc32_update(crc, self.mbufs.bytes(*s));
        }
        !crc
    }

    /// Counts the answer of quorum child `idx`.
    fn quorum_answer(&mut self, parent: MsgId, idx: u32) {
        let child = self.msgs[parent].frag.frags[idx as usize];
        let rsp = self.msgs[child].peer.expect("answered child");
        let is_err = matches!(self.msgs[rsp].rsp.ty, b'-' | b'!') || self.msgs[rsp].generated;
        let empty = crate::cluster::repair::is_empty_reply(&self.msgs[rsp].rsp);
        let repairs = self.msgs[parent]
            .frag
            .quorum
            .as_ref()
            .is_some_and(|q| q.repairs());
        let sum = if repairs {
            self.repair_checksum(child, rsp)
        } else {
            self.reply_checksum(rsp)
        };
        let q = self.msgs[parent]
            .frag
            .quorum
            .as_mut()
            .expect("quorum parent");
        q.record_answer(idx, is_err, empty, sum);
    }

    /// Every DC has decided: the parent's reply. When the local DC's
    /// replicas disagree on a multi-key read, they are merged key by key
    /// first.
    fn quorum_decide(&mut self, parent: MsgId) {
        // The read-repair metadata scheme answers its reads itself.
        if self.msgs[parent].meta.is_some() && self.meta_decided(parent) {
            return;
        }
        // (memcached get replies are not RESP arrays: no key-by-key merge.)
        let merge_mget = !self.settings.memcache
            && self.msgs[parent]
                .cmd
                .is_some_and(|c| c.multi == Multi::Mget);
        let fp = &self.msgs[parent].frag;
        let q = fp.quorum.as_ref().expect("quorum parent");
        let local = &q.mgrs[0];
        if merge_mget && !local.agreed() && !matches!(local.verdict(), Verdict::Error(_)) {
            let mut children = [MsgId(0); MAX_RACKS];
            let mut n = 0;
            for i in local.good_answers() {
                children[n] = fp.frags[q.child_at(0, i) as usize];
                n += 1;
            }
            let (quorum, safe) = (local.quorum(), local.is_safe());
            let others_ok = q.mgrs[1..]
                .iter()
                .all(|m| matches!(m.verdict(), Verdict::Reply(_)));
            if others_ok {
                if let Some(rsp) = self.reconcile_mget(&children[..n], quorum, safe) {
                    debug!(
                        "request {} answered by a key-by-key merge of its replicas",
                        self.msgs[parent].id
                    );
                    let out = std::mem::take(&mut self.msgs[rsp].segs);
                    self.finish_parent(parent, rsp, out, b'*', false);
                    return;
                }
            }
        }
        let fp = &self.msgs[parent].frag;
        let q = fp.quorum.as_ref().expect("quorum parent");
        let pick = q.pick();
        if log_enabled!(Level::Debug) {
            let verdicts: Vec<Verdict> = q.mgrs.iter().map(|m| m.verdict()).collect();
            debug!("request {} decided: {:?}", self.msgs[parent].id, verdicts);
        }
        let repairs = q.repairs();
        if repairs && matches!(pick, Pick::Child(_)) {
            self.repair_decided(parent);
        }
        let fp = &self.msgs[parent].frag;
        match pick {
            Pick::Child(c) => {
                let child = fp.frags[c as usize];
                self.finalize_with(parent, Some(child), None)
            }
            Pick::NoQuorum => {
                let write = self.msgs[parent].cmd.is_some_and(|c| c.write);
                if write {
                    self.stats.pool.client_non_quorum_w_responses += 1;
                } else {
                    self.stats.pool.client_non_quorum_r_responses += 1;
                }
                self.finalize_with(parent, None, Some(ERR_NO_QUORUM))
            }
        }
    }

    /// The position `i` of MGET replies `replies` that a quorum of them
    /// agree on: the index of one of those replies.
    fn mget_majority(&self, replies: &[MsgId], i: usize, quorum: usize) -> Option<usize> {
        let mut sums = [0u32; MAX_RACKS];
        for (j, &r) in replies.iter().enumerate() {
            let (a, b) = self.msgs[r].rsp.elems[i];
            let mut crc = !0u32;
            for part in crate::mbuf::seg_ranges(&self.msgs[r].segs, a, b - a) {
                crc = crc32_update(crc, self.mbufs.bytes(part));
            }
            sums[j] = crc;
        }
        let sums = &sums[..replies.len()];
        (0..sums.len()).find(|&j| sums.iter().filter(|&&s| s == sums[j]).count() >= quorum)
    }

    /// Merges MGET answers that disagree key by key: each position takes the
    /// value a quorum of answers agree on; without one, the first answer's at
    /// DC_QUORUM, and no merge at the SAFE levels. Returns the merged reply,
    /// or `None` when no merge is possible (answers of different shapes, or
    /// a position without quorum at a SAFE level).
    fn reconcile_mget(&mut self, children: &[MsgId], quorum: usize, safe: bool) -> Option<MsgId> {
        debug_assert!(children.len() <= MAX_RACKS);
        let mut replies = [MsgId(0); MAX_RACKS];
        let mut nr = 0;
        for &c in children {
            if let Some(r) = self.msgs[c].peer {
                replies[nr] = r;
                nr += 1;
            }
        }
        let replies = &replies[..nr];
        let first = *replies.first()?;
        let n = self.msgs[first].rsp.elems.len();
        let shaped = |ctx: &Self, r: MsgId| {
            let info = &ctx.msgs[r].rsp;
            info.ty == b'*' && info.elems.len() == n && info.count == n as i64
        };
        if replies.iter().any(|&r| !shaped(self, r)) {
            return None;
        }
        if safe && (0..n).any(|i| self.mget_majority(replies, i, quorum).is_none()) {
            return None;
        }
        let rsp = self.msgs.get(MsgKind::Response);
        let mut out = std::mem::take(&mut self.msgs[rsp].segs);
        let mut buf = [0u8; 32];
        self.mbufs
            .append(&mut out, num_line(&mut buf, b'*', n as i64));
        for i in 0..n {
            let r = match self.mget_majority(replies, i, quorum) {
                Some(j) => replies[j],
                None => first,
            };
            let (a, b) = self.msgs[r].rsp.elems[i];
            let src = std::mem::take(&mut self.msgs[r].segs);
            self.mbufs.append_ref(&mut out, &src, a, b - a);
            self.msgs[r].segs = src;
        }
        self.msgs[rsp].segs = out;
        Some(rsp)
    }

    /// Gives `parent` the answer of `child` (or an error text) and detaches
    /// every child.
    pub(crate) fn finalize_with(
        &mut self,
        parent: MsgId,
        child: Option<MsgId>,
        error: Option<&str>,
    ) {
        let rsp = self.msgs.get(MsgKind::Response);
        let mut out = std::mem::take(&mut self.msgs[rsp].segs);
        let mut generated = false;
        let mut ty = b'-';
        if let Some(c) = child {
            let r = self.msgs[c].peer.expect("answered child");
            self.ref_whole(&mut out, r);
            generated = self.msgs[r].generated;
            ty = self.msgs[r].rsp.ty;
        } else if let Some(e) = error {
            match (self.settings.memcache, e.strip_prefix("ERR ")) {
                // memcached: `SERVER_ERROR <source> <message>`.
                (true, Some(rest)) => {
                    self.mbufs.append(&mut out, b"SERVER_ERROR ");
                    self.mbufs.append(&mut out, rest.as_bytes());
                }
                _ => {
                    self.mbufs.append(&mut out, b"-");
                    self.mbufs.append(&mut out, e.as_bytes());
                }
            }
            self.mbufs.append(&mut out, b"\r\n");
            generated = true;
        }
        self.finish_parent(parent, rsp, out, ty, generated);
    }

    /// Appends the RESP error line `-<text>\r\n` (an error path: three small
    /// appends rather than a formatted copy).
    fn append_error_line(&mut self, out: &mut Vec<Seg>, text: &str) {
        self.mbufs.append(out, b"-");
        self.mbufs.append(out, text.as_bytes());
        self.mbufs.append(out, b"\r\n");
    }

    /// Appends references to the whole of reply `r`.
    fn ref_whole(&mut self, out: &mut Vec<Seg>, r: MsgId) {
        let src = std::mem::take(&mut self.msgs[r].segs);
        let len = self.msgs[r].mlen;
        self.mbufs.append_ref(out, &src, 0, len);
        self.msgs[r].segs = src;
    }

    /// Installs the parent's reply `rsp` (bytes `out`) and releases its
    /// children: those still out are marked so that their answers are
    /// dropped.
    fn finish_parent(&mut self, parent: MsgId, rsp: MsgId, out: Vec<Seg>, ty: u8, generated: bool) {
        let mlen = out.iter().map(|s| s.len() as u64).sum();
        let m = &mut self.msgs[rsp];
        m.segs = out;
        m.mlen = mlen;
        m.rsp.ty = ty;
        m.generated = generated;
        let mut children = std::mem::take(&mut self.msgs[parent].frag.frags);
        self.msgs[parent].frag.clear();
        for &f in &children {
            let fm = &mut self.msgs[f];
            fm.in_client = false;
            fm.parent = None;
            // A copy read repair still waits for (`Internal::RepairLate`)
            // keeps its answer.
            if !fm.done && fm.internal.is_none() {
                fm.swallow = true;
            }
            self.try_free(f);
        }
        children.clear();
        self.msgs[parent].frag.frags = children;
        self.attach_reply(parent, rsp);
    }

    /// Installs a reply the proxy made (`reply_made`) as the parent's and
    /// releases its children (cluster/rr_meta.rs).
    pub(crate) fn finish_parent_made(&mut self, parent: MsgId, rsp: MsgId) {
        let out = std::mem::take(&mut self.msgs[rsp].segs);
        let ty = self.msgs[rsp].rsp.ty;
        self.finish_parent(parent, rsp, out, ty, false);
    }

    /// A parent is freed before its reply was made (its client went away):
    /// its children are detached and their answers dropped.
    pub(crate) fn release_children(&mut self, mid: MsgId) {
        if !self.msgs[mid].frag.is_parent() {
            return;
        }
        let mut children = std::mem::take(&mut self.msgs[mid].frag.frags);
        self.msgs[mid].frag.clear();
        for &f in &children {
            let fm = &mut self.msgs[f];
            fm.in_client = false;
            fm.swallow = true;
            fm.parent = None;
            self.try_free(f);
        }
        children.clear();
        self.msgs[mid].frag.frags = children;
    }

    /// Every fragment of a split request has its answer: merge them.
    fn merge_split(&mut self, parent: MsgId) {
        let coalesce = self.msgs[parent]
            .frag
            .coalesce
            .expect("parent of a fragment");
        let frags = std::mem::take(&mut self.msgs[parent].frag.frags);
        let key_map = std::mem::take(&mut self.msgs[parent].frag.key_map);
        let reply = |ctx: &Self, f: MsgId| ctx.msgs[f].peer.expect("done fragment");
        let rsp = self.msgs.get(MsgKind::Response);
        let mut out = std::mem::take(&mut self.msgs[rsp].segs);
        let error = frags
            .iter()
            .map(|&f| reply(self, f))
            .find(|&r| matches!(self.msgs[r].rsp.ty, b'-' | b'!'));
        let mut ty = b'+';
        let mut generated = false;
        let mut buf = [0u8; 32];
        match (error, coalesce) {
            (_, Coalesce::McFlush(cluster)) => {
                ty = self.mc_merge_flush(&frags, cluster, &mut out);
                generated = ty == b'-';
            }
            (_, Coalesce::Flush) => {
                ty = self.merge_flush(&frags, &key_map, &mut out);
                generated = ty == b'-';
            }
            (Some(r), _) => {
                self.ref_whole(&mut out, r);
                ty = b'-';
                generated = self.msgs[r].generated;
            }
            (None, Coalesce::Ok) => self.mbufs.append(&mut out, b"+OK\r\n"),
            (None, Coalesce::McGet) => {
                self.mc_merge_get(&frags, &key_map, &mut out);
                ty = b'*';
            }
            (None, Coalesce::Concat | Coalesce::Info | Coalesce::Scan) => {
                ty = self.merge_keyless(coalesce, &frags, &key_map, &mut out);
            }
            (None, Coalesce::Sum) => {
                let mut sum = 0i64;
                let mut bad = false;
                for &f in &frags {
                    let info = &self.msgs[reply(self, f)].rsp;
                    bad |= info.ty != b':';
                    sum = sum.saturating_add(info.integer);
                }
                if bad {
                    self.append_error_line(&mut out, ERR_SPLIT_REPLY);
                    ty = b'-';
                } else {
                    self.mbufs.append(&mut out, num_line(&mut buf, b':', sum));
                    ty = b':';
                }
            }
            (None, _) => {
                let ok = frags.iter().all(|&f| {
                    let info = &self.msgs[reply(self, f)].rsp;
                    info.ty == b'*' && info.elems.len() as i64 == info.count
                });
                if ok {
                    let header = num_line(&mut buf, b'*', key_map.len() as i64);
                    self.mbufs.append(&mut out, header);
                    for &(fi, ei) in &key_map {
                        let r = reply(self, frags[fi as usize]);
                        let Some(&(a, b)) = self.msgs[r].rsp.elems.get(ei as usize) else {
                            continue;
                        };
                        let src = std::mem::take(&mut self.msgs[r].segs);
                        self.mbufs.append_ref(&mut out, &src, a, b - a);
                        self.msgs[r].segs = src;
                    }
                    ty = b'*';
                } else {
                    self.append_error_line(&mut out, ERR_SPLIT_REPLY);
                    ty = b'-';
                }
            }
        }
        let fp = &mut self.msgs[parent].frag;
        fp.frags = frags;
        fp.key_map = key_map;
        self.finish_parent(parent, rsp, out, ty, generated);
    }

    /// Answers a request with bytes the proxy made.
    pub(crate) fn reply_bytes(&mut self, req: MsgId, bytes: &[u8]) {
        let rsp = self.reply_made(bytes, false);
        self.attach_reply(req, rsp);
    }

    /// A reply holding bytes the proxy made (not yet attached); `error`
    /// marks a failure of this node (peer or datastore unreachable, timeout, quorum), which the
    /// coordinator tells apart from a datastore's own error reply.
    pub(crate) fn reply_made(&mut self, bytes: &[u8], error: bool) -> MsgId {
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
        rsp
    }

    /// Answers a request with `-<text>\r\n` (text has no CR/LF). The line is
    /// built in the context's scratch buffer.
    pub(crate) fn reply_error(&mut self, req: MsgId, text: &str) {
        debug_assert!(!text.contains('\r') && !text.contains('\n'));
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
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
        let rsp = self.reply_made(&b, true);
        self.scratch = b;
        self.attach_reply(req, rsp);
    }

    /// Gives a request its reply: a fragment reports to its parent, a client
    /// request waits to be written, an orphan is freed.
    pub(crate) fn attach_reply(&mut self, req: MsgId, rsp: MsgId) {
        if let Some(crate::msg::Internal::Hint(seq)) = self.msgs[req].internal {
            self.handoff_reply(req, rsp, seq);
            return;
        }
        if let Some(tag) = self.msgs[req].internal {
            if tag.is_meta() {
                self.meta_reply(req, rsp, tag);
            } else if tag.is_repair() {
                self.repair_reply(req, rsp, tag);
            } else if tag.is_entropy() {
                self.entropy_reply(req, rsp, tag);
            } else {
                self.warmup_reply(req, rsp, tag);
            }
            return;
        }
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
                } else if self.settings.memcache {
                    self.mc_client_reply(req, rsp);
                }
                self.schedule_flush(cid)
            }
            _ => self.try_free(req),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Topology;
    use crate::conf::{Conf, Consistency};
    use crate::msg::ConnId;

    /// A single-node context; nothing is connected (replies are attached by
    /// hand, and the client connection the requests name does not exist).
    fn ctx() -> Context {
        let text = "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n";
        let conf = Conf::parse_str("test.yml", text).expect("valid conf");
        let topo = Topology::from_conf(&conf.pool).expect("topology");
        Context::new(&conf.pool, topo, 4096, 64).expect("context")
    }

    /// A client's GET, held by its (absent) client connection.
    fn request(ctx: &mut Context) -> MsgId {
        let mid = ctx.msgs.get(MsgKind::Request);
        let m = &mut ctx.msgs[mid];
        m.cmd = Some(crate::proto::redis::lookup(b"get", None).expect("get"));
        m.owner = Some(ConnId(7));
        m.in_client = true;
        mid
    }

    /// The bytes of request `mid`'s reply.
    fn reply_of(ctx: &Context, mid: MsgId) -> Option<Vec<u8>> {
        let r = ctx.msgs[mid].peer?;
        let mut out = Vec::new();
        for &s in &ctx.msgs[r].segs {
            out.extend_from_slice(ctx.mbufs.bytes(s));
        }
        Some(out)
    }

    /// Lets the client go: the request and everything under it is freed.
    fn release(ctx: &mut Context, mid: MsgId) {
        ctx.msgs[mid].in_client = false;
        ctx.try_free(mid);
    }

    fn quorum_parent(ctx: &mut Context, n: usize) -> MsgId {
        let mid = request(ctx);
        ctx.make_children(mid, n, Coalesce::Quorum);
        let groups = [n as u8];
        let q = ctx.msgs[mid].frag.quorum.get_or_insert_with(Box::default);
        q.init(Consistency::DcQuorum, &groups, std::iter::repeat_n(0, n));
        mid
    }

    #[test]
    fn answers_during_the_fan_out_wait_for_its_end() {
        let mut ctx = ctx();
        let mid = quorum_parent(&mut ctx, 3);
        let kids = ctx.msgs[mid].frag.frags.clone();
        ctx.reply_bytes(kids[0], b"$1\r\nA\r\n");
        ctx.reply_bytes(kids[1], b"$1\r\nA\r\n");
        assert_eq!(reply_of(&ctx, mid), None, "no decision while building");
        assert!(ctx.msgs[mid].frag.is_parent());
        ctx.fanout_done(mid);
        assert_eq!(reply_of(&ctx, mid).as_deref(), Some(&b"$1\r\nA\r\n"[..]));
        assert!(!ctx.msgs[mid].frag.is_parent());
        // The third child was never sent: detached and freed.
        assert!(!ctx.msgs.contains(kids[2]));
        release(&mut ctx, mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn quorum_errors_answer_with_the_first_error() {
        let mut ctx = ctx();
        let mid = quorum_parent(&mut ctx, 3);
        ctx.fanout_done(mid);
        let kids = ctx.msgs[mid].frag.frags.clone();
        // Child 1 is out at a server.
        ctx.msgs[kids[1]].in_server = true;
        ctx.reply_error(kids[2], "ERR first");
        assert_eq!(reply_of(&ctx, mid), None);
        ctx.reply_error(kids[0], "ERR second");
        assert_eq!(reply_of(&ctx, mid).as_deref(), Some(&b"-ERR first\r\n"[..]));
        // The child still out is detached; its late answer will be dropped.
        let late = &ctx.msgs[kids[1]];
        assert!(late.swallow);
        assert_eq!(late.parent, None);
        assert!(!late.in_client);
        ctx.msgs[kids[1]].in_server = false;
        ctx.try_free(kids[1]);
        release(&mut ctx, mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn disagreeing_replicas_fail_a_safe_quorum() {
        let mut ctx = ctx();
        let mid = request(&mut ctx);
        ctx.make_children(mid, 2, Coalesce::Quorum);
        let q = ctx.msgs[mid].frag.quorum.get_or_insert_with(Box::default);
        q.init(Consistency::DcSafeQuorum, &[2], [0, 0].into_iter());
        ctx.fanout_done(mid);
        let kids = ctx.msgs[mid].frag.frags.clone();
        ctx.reply_bytes(kids[0], b"$1\r\nA\r\n");
        ctx.reply_bytes(kids[1], b"$1\r\nB\r\n");
        let want = format!("-{ERR_NO_QUORUM}\r\n");
        assert_eq!(reply_of(&ctx, mid).as_deref(), Some(want.as_bytes()));
        assert_eq!(ctx.stats.pool.client_non_quorum_r_responses, 1);
        release(&mut ctx, mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn broadcast_answers_with_the_first_child() {
        let mut ctx = ctx();
        let mid = request(&mut ctx);
        ctx.make_children(mid, 2, Coalesce::First);
        ctx.fanout_done(mid);
        let kids = ctx.msgs[mid].frag.frags.clone();
        ctx.reply_bytes(kids[1], b"+second\r\n");
        assert_eq!(reply_of(&ctx, mid), None);
        ctx.reply_bytes(kids[0], b"+first\r\n");
        assert_eq!(reply_of(&ctx, mid).as_deref(), Some(&b"+first\r\n"[..]));
        release(&mut ctx, mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn a_parent_freed_early_frees_its_children() {
        let mut ctx = ctx();
        let mid = quorum_parent(&mut ctx, 3);
        ctx.fanout_done(mid);
        release(&mut ctx, mid);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn number_lines() {
        let mut buf = [0u8; 32];
        assert_eq!(num_line(&mut buf, b'*', 3), b"*3\r\n");
        assert_eq!(num_line(&mut buf, b':', -12), b":-12\r\n");
        assert_eq!(
            num_line(&mut buf, b':', i64::MIN),
            b":-9223372036854775808\r\n"
        );
    }
}
