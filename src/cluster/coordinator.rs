//! The coordinator (the fan-out of dyn_client.c, dyn_response.c): where a
//! request goes in the cluster, and which answer the client gets.
//!
//! ```text
//!  coordinate(req)
//!    ├─ single node, or local-only command ─► execute_local
//!    ├─ MGET/MSET/DEL/… over several owners ─► split by local-rack owner,
//!    │                                          replicate each fragment
//!    └─ replicate(req, token)
//!         DC_ONE:     req ─► local-rack owner (read failover to other racks)
//!                     copies ─► other racks, one per remote DC (answers dropped)
//!         DC_QUORUM,  copies ─► every rack of the local DC ─► RspMgr
//!         SAFE:       (remote DCs get one dropped copy for writes)
//!         EACH_SAFE:  copies ─► every rack of every DC ─► one RspMgr per DC
//! ```
//!
//! A request that waits for several answers is a parent; its copies (or
//! fragments) are children that hold `parent`. `child_done` runs for every
//! child answer; when the decision is taken the parent gets its reply and
//! the children left are detached (their late answers are dropped).

use log::debug;

use crate::cluster::response_mgr::{RspMgr, Verdict};
use crate::conf::Consistency;
use crate::core::{Context, Target};
use crate::hashkit::crc32::crc32_update;
use crate::ids::PeerId;
use crate::mbuf::Seg;
use crate::msg::{Coalesce, FragParent, MsgId, MsgKind};
use crate::proto::redis::{Multi, Route};
use crate::request::SplitBy;

/// Quorum bookkeeping of one parent.
#[derive(Debug, Clone)]
pub struct QuorumState {
    /// One manager per DC taking part (the local DC first).
    pub mgrs: Vec<RspMgr>,
    /// Per manager: child indices in arrival order.
    pub arrivals: Vec<Vec<u32>>,
    /// Per child: its manager.
    pub child_mgr: Vec<u32>,
}

use crate::errors::ERR_SPLIT_REPLY;
pub use crate::errors::{
    ERR_ADMIN_MODE, ERR_NO_QUORUM, ERR_PEER_NOT_CONNECTED, ERR_PEER_REFUSED, ERR_PEER_TIMEOUT,
};

impl Context {
    /// Entry point for every request that is not answered by the proxy.
    pub fn coordinate(&mut self, mid: MsgId) {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("a routed request was looked up");
        if let Some(d) = m.dnode {
            // From a peer: type 3 runs here; type 4 is replicated to every
            // rack of this DC (this node answers for its own rack).
            if d.ty == 4 && !self.topology.is_single() {
                self.replicate_key(mid);
            } else {
                self.execute_local(mid);
            }
            return;
        }
        if self.admin_op == 1 && cmd.name == "del" {
            self.admin_del(mid);
            return;
        }
        if self.topology.is_single() {
            self.execute_local(mid);
            return;
        }
        match cmd.route {
            Route::Local | Route::Proxy | Route::Unsupported => self.execute_local(mid),
            Route::AllNodes => self.broadcast_cluster(mid),
            Route::Eval | Route::Key | Route::LocalRackOwner => {
                if cmd.multi != Multi::None && m.req.args.len() > 2 {
                    self.defer_begin();
                    if let Some(frags) = self.split(mid, cmd, SplitBy::Peer) {
                        for (fid, _) in frags {
                            self.replicate_key(fid);
                        }
                        self.defer_end();
                        return;
                    }
                    self.defer_end();
                }
                self.replicate_key(mid);
            }
        }
    }

    /// Admin mode 1: DEL runs only on this node's datastore, and only for keys
    /// this node owns in its rack.
    fn admin_del(&mut self, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut scratch = Vec::new();
        let all_local = (1..nargs).all(|i| {
            let h = self.arg_hash(mid, i, &mut scratch);
            self.topology.local_owner(h).is_local()
        });
        if all_local {
            self.execute_local(mid);
        } else {
            self.reply_error(mid, ERR_ADMIN_MODE);
        }
    }

    /// Replicates by the request's routing key (first key; EVAL's keys must
    /// share one owner in the local rack).
    fn replicate_key(&mut self, mid: MsgId) {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("looked up");
        let nargs = m.req.args.len();
        let mut scratch = Vec::new();
        if cmd.route == Route::Eval {
            // Replicated by its first key; every key must share its owner.
            match self.script_owner(mid, |ctx, h| ctx.topology.local_owner(h).idx()) {
                Ok(Some(_)) => {
                    let hash = self.arg_hash(mid, 3, &mut scratch);
                    self.replicate(mid, hash);
                }
                Ok(None) => self.execute_local(mid),
                Err(crate::request::Answered) => {}
            }
            return;
        }
        let key = cmd.first_key.max(0) as usize;
        if key == 0 || key >= nargs {
            self.execute_local(mid);
            return;
        }
        let hash = self.arg_hash(mid, key, &mut scratch);
        self.replicate(mid, hash);
    }

    /// The consistency level a request runs at.
    fn level_of(&self, mid: MsgId) -> Consistency {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("looked up");
        if m.dnode.is_some() || m.noreply || cmd.route == Route::LocalRackOwner {
            return Consistency::DcOne;
        }
        let conn = m.owner.and_then(|c| self.conns.get(c.0)?.client_state());
        match conn {
            Some(c) if cmd.write => c.write_consistency,
            Some(c) => c.read_consistency,
            None => Consistency::DcOne,
        }
    }

    fn target_of(peer: PeerId, forward: bool) -> Target {
        if peer.is_local() {
            Target::Local
        } else {
            Target::Peer { peer, forward }
        }
    }

    /// Sends a request to its replicas at its consistency level.
    pub fn replicate(&mut self, mid: MsgId, hash: u32) {
        let level = self.level_of(mid);
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("looked up");
        let write = cmd.write;
        let forwarded = m.dnode.is_some_and(|d| d.ty == 4);
        let rack_only = cmd.route == Route::LocalRackOwner;
        let topo = &self.topology;
        let local_rack = topo.local_rack;
        let primary = Self::target_of(topo.local_owner(hash), false);
        let others: Vec<Target> = (0..topo.dcs[0].racks.len())
            .filter(|&r| r != local_rack)
            .map(|r| Self::target_of(topo.owner(0, r, hash), false))
            .collect();
        let remote_on =
            !forwarded && !rack_only && (write || level == Consistency::DcEachSafeQuorum);
        // For each remote DC: its racks' owners, the preselected rack first.
        let remote: Vec<Vec<Target>> = if remote_on {
            topo.dcs
                .iter()
                .enumerate()
                .skip(1)
                .map(|(d, dc)| {
                    let n = dc.racks.len();
                    (0..n)
                        .map(|k| (dc.preselected + k) % n)
                        .map(|r| Target::Peer {
                            peer: topo.owner(d, r, hash),
                            forward: true,
                        })
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };

        if level == Consistency::DcOne || rack_only || forwarded {
            self.defer_begin();
            if write && !rack_only {
                for &t in &others {
                    self.send_orphan(mid, &[t]);
                }
            }
            for candidates in &remote {
                self.send_orphan(mid, candidates);
            }
            if !write && !rack_only && !forwarded && !others.is_empty() {
                self.msgs[mid].failover = Some(Box::new(others));
            }
            self.dispatch(mid, primary);
            self.defer_end();
            return;
        }

        // Quorum levels: one child per replica whose answer counts.
        let mut targets = vec![(primary, 0u32)];
        targets.extend(others.iter().map(|&t| (t, 0u32)));
        let mut mgrs = vec![RspMgr::new(self.topology.dcs[0].racks.len(), level)];
        if level == Consistency::DcEachSafeQuorum {
            for (d, racks) in remote.iter().enumerate() {
                mgrs.push(RspMgr::new(racks.len(), level));
                for &t in racks {
                    // A direct copy to every remote rack, applied there only.
                    let Target::Peer { peer, .. } = t else {
                        continue;
                    };
                    targets.push((
                        Target::Peer {
                            peer,
                            forward: false,
                        },
                        (d + 1) as u32,
                    ));
                }
            }
        }
        self.defer_begin();
        if level != Consistency::DcEachSafeQuorum {
            for candidates in &remote {
                self.send_orphan(mid, candidates);
            }
        }
        let children = self.make_children(mid, targets.len(), Coalesce::Quorum);
        let nmgr = mgrs.len();
        if let Some(fp) = self.msgs[mid].frag.as_mut() {
            fp.quorum = Some(Box::new(QuorumState {
                mgrs,
                arrivals: vec![Vec::new(); nmgr],
                child_mgr: targets.iter().map(|&(_, g)| g).collect(),
            }));
        }
        for (fid, (t, _)) in children.into_iter().zip(targets) {
            self.dispatch(fid, t);
        }
        self.defer_end();
    }

    /// Sends to every node of the cluster (SCRIPT LOAD …); the client gets
    /// this node's answer.
    fn broadcast_cluster(&mut self, mid: MsgId) {
        let n = self.topology.peer_count();
        self.defer_begin();
        let children = self.make_children(mid, n, Coalesce::First);
        for (p, fid) in self.topology.peer_ids().zip(children).collect::<Vec<_>>() {
            self.dispatch(fid, Self::target_of(p, false));
        }
        self.defer_end();
    }

    /// Sends a request to one replica. A peer that cannot take it fails the
    /// request at once, unless read failover has another replica to try.
    pub fn dispatch(&mut self, mid: MsgId, target: Target) {
        match target {
            Target::Local => self.execute_local(mid),
            Target::Peer { peer, forward } => {
                if self.peer_forward(mid, peer, forward) {
                    return;
                }
                if let Some(next) = self.next_failover(mid) {
                    self.dispatch(mid, next);
                    return;
                }
                self.reply_error(mid, ERR_PEER_NOT_CONNECTED);
            }
        }
    }

    /// The next replica of a DC_ONE read, if any is left.
    pub fn next_failover(&mut self, mid: MsgId) -> Option<Target> {
        let m = &mut self.msgs[mid];
        let list = m.failover.as_mut()?;
        if list.is_empty() {
            m.failover = None;
            return None;
        }
        Some(list.remove(0))
    }

    /// A copy whose answer nobody waits for (other racks at DC_ONE, remote
    /// DCs): tried on each candidate until one takes it.
    fn send_orphan(&mut self, mid: MsgId, candidates: &[Target]) {
        for &t in candidates {
            let c = self.copy_request(mid);
            let m = &mut self.msgs[c];
            m.swallow = true;
            match t {
                Target::Local => {
                    self.execute_local(c);
                    return;
                }
                Target::Peer { peer, forward } => {
                    if self.peer_forward(c, peer, forward) {
                        return;
                    }
                    self.msgs.put(&mut self.mbufs, c);
                }
            }
        }
    }

    /// A new request with the same bytes, arguments and origin.
    pub fn copy_request(&mut self, mid: MsgId) -> MsgId {
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
        c
    }

    /// Makes `n` copies of `mid` its children, merged by `coalesce`.
    pub fn make_children(&mut self, mid: MsgId, n: usize, coalesce: Coalesce) -> Vec<MsgId> {
        let mut children = Vec::with_capacity(n);
        for i in 0..n {
            let c = self.copy_request(mid);
            let cm = &mut self.msgs[c];
            cm.in_client = true;
            cm.parent = Some((mid, i as u32));
            children.push(c);
        }
        self.msgs[mid].frag = Some(Box::new(FragParent {
            coalesce,
            frags: children.clone(),
            key_map: Vec::new(),
            pending: n as u32,
            quorum: None,
        }));
        children
    }

    /// While a fan-out is being built, answers that arrive at once (a peer
    /// not connected, a node state refusing) wait until every child is out.
    pub fn defer_begin(&mut self) {
        self.defer_depth += 1;
    }

    /// Ends a fan-out; runs the answers that waited.
    pub fn defer_end(&mut self) {
        debug_assert!(self.defer_depth > 0);
        self.defer_depth -= 1;
        if self.defer_depth > 0 {
            return;
        }
        while !self.deferred.is_empty() {
            let list = std::mem::take(&mut self.deferred);
            for (parent, idx, uid) in list {
                if self
                    .msgs
                    .get_checked(parent, uid)
                    .is_some_and(|m| m.frag.is_some())
                {
                    self.child_done(parent, idx);
                }
            }
        }
    }

    /// Child `idx` of `parent` has its answer.
    pub fn child_done(&mut self, parent: MsgId, idx: u32) {
        if self.defer_depth > 0 {
            let uid = self.msgs[parent].id;
            self.deferred.push((parent, idx, uid));
            return;
        }
        let Some(fp) = self.msgs[parent].frag.as_mut() else {
            return;
        };
        match fp.coalesce {
            Coalesce::First => {
                fp.pending = fp.pending.saturating_sub(1);
                if idx == 0 {
                    let child = fp.frags[0];
                    self.finalize_with(parent, Some(child), None);
                }
            }
            Coalesce::Quorum => self.quorum_answer(parent, idx),
            _ => {
                debug_assert!(fp.pending > 0);
                fp.pending -= 1;
                if fp.pending == 0 {
                    self.merge_split(parent);
                }
            }
        }
    }

    /// The CRC-32 of a reply's bytes (exact: no case folding).
    fn reply_checksum(&self, rsp: MsgId) -> u32 {
        let m = &self.msgs[rsp];
        let mut crc = !0u32;
        for s in &m.segs {
            crc = crc32_update(crc, self.mbufs.bytes(*s));
        }
        !crc
    }

    fn quorum_answer(&mut self, parent: MsgId, idx: u32) {
        let fp = self.msgs[parent].frag.as_ref().expect("parent");
        let child = fp.frags[idx as usize];
        let rsp = self.msgs[child].peer.expect("answered child");
        let is_err = matches!(self.msgs[rsp].rsp.ty, b'-' | b'!') || self.msgs[rsp].generated;
        let sum = self.reply_checksum(rsp);
        let fp = self.msgs[parent].frag.as_mut().expect("parent");
        let q = fp.quorum.as_mut().expect("quorum parent");
        let g = q.child_mgr[idx as usize] as usize;
        q.arrivals[g].push(idx);
        q.mgrs[g].add(is_err, sum);
        if !q.mgrs.iter().all(|m| m.verdict().is_done()) {
            return;
        }
        // Every DC has decided. When the local DC's replicas disagree on a
        // multi-key read, merge them key by key first.
        let merge_mget = self.msgs[parent]
            .cmd
            .is_some_and(|c| c.multi == Multi::Mget);
        let fp = self.msgs[parent].frag.as_ref().expect("parent");
        let q = fp.quorum.as_ref().expect("quorum parent");
        let local = &q.mgrs[0];
        if merge_mget && !local.agreed() && !matches!(local.verdict(), Verdict::Error(_)) {
            let children: Vec<MsgId> = local
                .good_answers()
                .map(|i| fp.frags[q.arrivals[0][i] as usize])
                .collect();
            let (quorum, safe) = (local.quorum(), local.is_safe());
            let others_ok = q.mgrs[1..]
                .iter()
                .all(|m| matches!(m.verdict(), Verdict::Reply(_)));
            if others_ok {
                if let Some(out) = self.reconcile_mget(&children, quorum, safe) {
                    debug!(
                        "request {} answered by a key-by-key merge of its replicas",
                        self.msgs[parent].id
                    );
                    let fp = self.msgs[parent].frag.take().expect("parent");
                    let rsp = self.msgs.get(MsgKind::Response);
                    self.finish_parent(parent, rsp, out, fp.frags, b'*', false);
                    return;
                }
            }
        }
        let fp = self.msgs[parent].frag.as_mut().expect("parent");
        let q = fp.quorum.as_mut().expect("quorum parent");
        // The local DC's answer, unless another DC failed.
        let mut chosen: Option<Result<u32, ()>> = None;
        for (g, mgr) in q.mgrs.iter().enumerate() {
            let pick = match mgr.verdict() {
                Verdict::Reply(i) => Ok(q.arrivals[g][i]),
                Verdict::Error(i) => Err(Some(q.arrivals[g][i])),
                Verdict::NoQuorum => Err(None),
                Verdict::Wait => unreachable!("all decided"),
            };
            match (g, pick) {
                (0, Ok(c)) => chosen = Some(Ok(c)),
                (_, Err(Some(c))) => {
                    chosen = Some(Ok(c));
                    break;
                }
                (_, Err(None)) => {
                    chosen = Some(Err(()));
                    break;
                }
                _ => {}
            }
        }
        let verdicts: Vec<Verdict> = q.mgrs.iter().map(|m| m.verdict()).collect();
        let child = match chosen {
            Some(Ok(c)) => Some(fp.frags[c as usize]),
            _ => None,
        };
        debug!("request {} decided: {:?}", self.msgs[parent].id, verdicts);
        match chosen {
            Some(Ok(_)) => self.finalize_with(parent, child, None),
            _ => {
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

    /// Merges MGET answers that disagree key by key: each position takes the
    /// value a quorum of answers agree on; without one, the first answer's at
    /// DC_QUORUM, and no merge at the SAFE levels. `None` when no merge is
    /// possible (answers of different shapes, or a position without quorum
    /// at a SAFE level).
    fn reconcile_mget(
        &mut self,
        children: &[MsgId],
        quorum: usize,
        safe: bool,
    ) -> Option<Vec<Seg>> {
        let replies: Vec<MsgId> = children.iter().filter_map(|&c| self.msgs[c].peer).collect();
        let first = *replies.first()?;
        let n = self.msgs[first].rsp.elems.len();
        let shaped = |ctx: &Self, r: MsgId| {
            let info = &ctx.msgs[r].rsp;
            info.ty == b'*' && info.elems.len() == n && info.count == n as i64
        };
        if replies.iter().any(|&r| !shaped(self, r)) {
            return None;
        }
        let mut picks = Vec::with_capacity(n);
        for i in 0..n {
            let sums: Vec<u32> = replies
                .iter()
                .map(|&r| {
                    let (a, b) = self.msgs[r].rsp.elems[i];
                    let mut crc = !0u32;
                    for part in crate::mbuf::seg_ranges(&self.msgs[r].segs, a, b - a) {
                        crc = crc32_update(crc, self.mbufs.bytes(part));
                    }
                    crc
                })
                .collect();
            let majority =
                (0..sums.len()).find(|&j| sums.iter().filter(|&&s| s == sums[j]).count() >= quorum);
            match (majority, safe) {
                (Some(j), _) => picks.push(replies[j]),
                (None, false) => picks.push(first),
                (None, true) => return None,
            }
        }
        let mut out = Vec::new();
        self.mbufs.append(&mut out, format!("*{n}\r\n").as_bytes());
        for (i, r) in picks.into_iter().enumerate() {
            let (a, b) = self.msgs[r].rsp.elems[i];
            let src = std::mem::take(&mut self.msgs[r].segs);
            self.mbufs.append_ref(&mut out, &src, a, b - a);
            self.msgs[r].segs = src;
        }
        Some(out)
    }

    /// Gives `parent` the answer of `child` (or an error text) and detaches
    /// every child.
    fn finalize_with(&mut self, parent: MsgId, child: Option<MsgId>, error: Option<&str>) {
        let fp = self.msgs[parent].frag.take().expect("parent");
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
            self.mbufs.append(&mut out, format!("-{e}\r\n").as_bytes());
            generated = true;
        }
        self.finish_parent(parent, rsp, out, fp.frags, ty, generated);
    }

    /// Appends references to the whole of reply `r`.
    fn ref_whole(&mut self, out: &mut Vec<Seg>, r: MsgId) {
        let src = std::mem::take(&mut self.msgs[r].segs);
        let len = self.msgs[r].mlen;
        self.mbufs.append_ref(out, &src, 0, len);
        self.msgs[r].segs = src;
    }

    /// Installs the parent's reply and releases its children.
    fn finish_parent(
        &mut self,
        parent: MsgId,
        rsp: MsgId,
        out: Vec<Seg>,
        children: Vec<MsgId>,
        ty: u8,
        generated: bool,
    ) {
        let mlen = out.iter().map(|s| s.len() as u64).sum();
        let m = &mut self.msgs[rsp];
        m.segs = out;
        m.mlen = mlen;
        m.rsp.ty = ty;
        m.generated = generated;
        for f in children {
            let fm = &mut self.msgs[f];
            fm.in_client = false;
            fm.parent = None;
            if !fm.done {
                fm.swallow = true;
            }
            self.try_free(f);
        }
        self.attach_reply(parent, rsp);
    }

    /// Every fragment of a split request has its answer: merge them.
    fn merge_split(&mut self, parent: MsgId) {
        let fp = self.msgs[parent].frag.take().expect("parent of a fragment");
        let rsp = self.msgs.get(MsgKind::Response);
        let mut out = std::mem::take(&mut self.msgs[rsp].segs);
        let replies: Vec<MsgId> = fp
            .frags
            .iter()
            .map(|&f| self.msgs[f].peer.expect("done fragment"))
            .collect();
        let error = replies
            .iter()
            .copied()
            .find(|&r| matches!(self.msgs[r].rsp.ty, b'-' | b'!'));
        let mut ty = b'+';
        let mut generated = false;
        match (error, fp.coalesce) {
            (Some(r), _) => {
                self.ref_whole(&mut out, r);
                ty = b'-';
                generated = self.msgs[r].generated;
            }
            (None, Coalesce::Ok) => self.mbufs.append(&mut out, b"+OK\r\n"),
            (None, Coalesce::McGet) => {
                let segs = self.mc_merge_get(&fp.frags, &replies, &fp.key_map);
                out.extend(segs);
                ty = b'*';
            }
            (None, Coalesce::Sum) => {
                let mut sum = 0i64;
                let mut bad = false;
                for &r in &replies {
                    let info = &self.msgs[r].rsp;
                    bad |= info.ty != b':';
                    sum = sum.saturating_add(info.integer);
                }
                if bad {
                    self.mbufs
                        .append(&mut out, format!("-{ERR_SPLIT_REPLY}\r\n").as_bytes());
                    ty = b'-';
                } else {
                    self.mbufs
                        .append(&mut out, format!(":{sum}\r\n").as_bytes());
                    ty = b':';
                }
            }
            (None, _) => {
                let ok = replies.iter().all(|&r| {
                    let info = &self.msgs[r].rsp;
                    info.ty == b'*' && info.elems.len() as i64 == info.count
                });
                if ok {
                    self.mbufs
                        .append(&mut out, format!("*{}\r\n", fp.key_map.len()).as_bytes());
                    for &(fi, ei) in &fp.key_map {
                        let r = replies[fi as usize];
                        let Some(&(a, b)) = self.msgs[r].rsp.elems.get(ei as usize) else {
                            continue;
                        };
                        let src = std::mem::take(&mut self.msgs[r].segs);
                        self.mbufs.append_ref(&mut out, &src, a, b - a);
                        self.msgs[r].segs = src;
                    }
                    ty = b'*';
                } else {
                    self.mbufs
                        .append(&mut out, format!("-{ERR_SPLIT_REPLY}\r\n").as_bytes());
                    ty = b'-';
                }
            }
        }
        self.finish_parent(parent, rsp, out, fp.frags, ty, generated);
    }
}
