//! The coordinator (the fan-out of dyn_client.c and dyn_request.c): where a
//! request goes in the cluster, and how it runs on this node.
//!
//! ```text
//!  coordinate(req)
//!    ├─ single node, or local-only command ─► execute_local
//!    ├─ MGET/MSET/DEL/… over several owners ─► split by local-rack owner,
//!    │                                          replicate each fragment
//!    └─ replicate(req, token)
//!         plan::plan(topology, token, level, write, origin) ─► Plan
//!         orphans  ─► send_orphan (answers dropped)
//!         DC_ONE:  req ─► dispatch(primary), failover list kept in the msg
//!         quorum:  make_children ─► dispatch each counted copy ─► fanout_done
//!  dispatch(target) ─┬─ Local ─► execute_local ─► shard (split by shard) ─► server_forward
//!                    └─ Peer  ─► peer_forward, else next failover, else error
//! ```
//!
//! Which copies go where is decided by the pure plan (cluster/plan.rs);
//! this file only executes it. Replies and the decision between children
//! live in response.rs. Nothing here allocates on the way of a single-key
//! request: the plan, the failover list and the quorum state are fixed-size
//! values, and keys are hashed in place.

use crate::cluster::plan::{self, Origin, Target};
use crate::conf::Consistency;
use crate::core::Context;
use crate::dnode::peer::Undeliverable;
use crate::ids::PeerId;
use crate::msg::{Coalesce, ConnId, MsgId};
use crate::proto::redis::{self, Multi, Route};

pub use crate::errors::{
    ERR_ADMIN_MODE, ERR_PEER_NOT_CONNECTED, ERR_PEER_REFUSED, ERR_PEER_TIMEOUT, ERR_SCRIPT_SPAN,
};

/// The request was already answered (with an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered;

impl Context {
    /// Entry point for every request that is not answered by the proxy.
    pub(crate) fn coordinate(&mut self, mid: MsgId) {
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
            Route::AllNodes if self.settings.memcache => self.mc_flush_cluster(mid),
            Route::AllNodes => self.broadcast_cluster(mid),
            Route::Eval | Route::Key | Route::LocalRackOwner => {
                if cmd.multi != Multi::None && m.req.args.len() > 2 {
                    let by_peer = |ctx: &Self, h| ctx.topology.local_owner(h).idx();
                    if let Some(n) = self.split(mid, cmd, by_peer) {
                        // A fragment answered at once reports to the parent;
                        // the parent decides only after its last fragment.
                        for i in 0..n {
                            let Some(&fid) = self.msgs[mid].frag.frags.get(i) else {
                                break;
                            };
                            self.replicate_key(fid);
                        }
                        return;
                    }
                }
                self.replicate_key(mid);
            }
        }
    }

    /// Admin mode 1: DEL runs only on this node's datastore, and only for keys
    /// this node owns in its rack.
    fn admin_del(&mut self, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut all_local = true;
        for i in 1..nargs {
            let h = self.arg_hash(mid, i);
            if !self.topology.local_owner(h).is_local() {
                all_local = false;
                break;
            }
        }
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
        if cmd.route == Route::Eval {
            // Replicated by its first key; every key must share its owner.
            match self.script_owner(mid, |ctx, h| ctx.topology.local_owner(h).idx()) {
                Ok(Some(_)) => {
                    let hash = self.arg_hash(mid, 3);
                    self.replicate(mid, hash);
                }
                Ok(None) => self.execute_local(mid),
                Err(Answered) => {}
            }
            return;
        }
        let key = cmd.first_key.max(0) as usize;
        if key == 0 || key >= nargs {
            self.execute_local(mid);
            return;
        }
        let hash = self.arg_hash(mid, key);
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

    /// Where a request came from, for its plan.
    fn origin_of(&self, mid: MsgId) -> Origin {
        let m = &self.msgs[mid];
        let rack_only = m.cmd.is_some_and(|c| c.route == Route::LocalRackOwner);
        match m.dnode {
            Some(d) if d.ty != 4 => Origin::Peer,
            _ if rack_only => Origin::RackOwner,
            Some(_) => Origin::Forwarded,
            None => Origin::Client,
        }
    }

    /// Sends a request to its replicas at its consistency level: makes the
    /// plan and executes it. Copies whose answers are dropped go first; at
    /// the quorum levels every counted copy is made before any is sent, so
    /// an answer that comes back at once finds its parent complete.
    pub(crate) fn replicate(&mut self, mid: MsgId, hash: u32) {
        let level = self.level_of(mid);
        let origin = self.origin_of(mid);
        let write = self.msgs[mid].cmd.expect("looked up").write;
        // `read_repairs_enabled`: SET, GET, HSET … become the metadata
        // scheme's EVAL (cluster/rr_meta.rs), routed as what they were.
        self.meta_rewrite(mid, level);
        let plan = plan::plan(&self.topology, hash, level, write, origin);
        for candidates in plan.orphans.iter() {
            self.send_orphan(mid, candidates);
        }
        if !plan.undeliverable.is_empty() {
            self.undeliverable_copies(mid, &plan.undeliverable);
        }
        if !plan.is_quorum() {
            self.msgs[mid].failover.set(&plan.failover);
            self.dispatch(mid, plan.primary);
            return;
        }
        self.make_children(mid, plan.counted.len(), Coalesce::Quorum);
        let q = self.msgs[mid].frag.quorum.get_or_insert_with(Box::default);
        q.init(
            plan.level,
            &plan.groups,
            plan.counted.iter().map(|&(_, g)| g),
        );
        for (i, &(target, _)) in plan.counted.iter().enumerate() {
            q.targets[i] = target;
        }
        if !write && self.repair_applies(mid) {
            if let Some(q) = self.msgs[mid].frag.quorum.as_mut() {
                q.set_repair(true);
            }
        }
        for (i, &(target, _)) in plan.counted.iter().enumerate() {
            let fid = self.msgs[mid].frag.frags[i];
            self.dispatch(fid, target);
        }
        self.fanout_done(mid);
    }

    /// Sends a node's own write `mid` to the replicas of `hash` outside this
    /// node's rack only (the other racks' owners, one node per remote DC),
    /// like a DC_ONE write's copies whose answers are dropped: the pops of
    /// blocking commands (blocking.rs), and a transaction under WATCH once
    /// it ran here (txn.rs). `mid` stays the caller's.
    pub(crate) fn replicate_orphans(&mut self, mid: MsgId, hash: u32) {
        let plan = plan::plan(
            &self.topology,
            hash,
            Consistency::DcOne,
            true,
            Origin::Client,
        );
        for candidates in plan.orphans.iter() {
            self.send_orphan(mid, candidates);
        }
        if !plan.undeliverable.is_empty() {
            self.undeliverable_copies(mid, &plan.undeliverable);
        }
    }

    /// Sends to every node of the cluster (SCRIPT LOAD …); the client gets
    /// this node's answer.
    fn broadcast_cluster(&mut self, mid: MsgId) {
        let peers: Vec<_> = self.topology.peer_ids().collect();
        self.make_children(mid, peers.len(), Coalesce::First);
        for (i, p) in peers.into_iter().enumerate() {
            let fid = self.msgs[mid].frag.frags[i];
            self.dispatch(fid, Target::of(p, false));
        }
        self.fanout_done(mid);
    }

    /// Sends a request to one replica. A peer that cannot take it fails the
    /// request at once, unless read failover has another replica to try.
    pub(crate) fn dispatch(&mut self, mid: MsgId, target: Target) {
        match target {
            Target::Local => self.execute_local(mid),
            Target::Peer { peer, forward } => {
                let Err(why) = self.peer_forward(mid, peer, forward) else {
                    return;
                };
                self.peer_refused(peer, why);
                if let Some(next) = self.next_failover(mid) {
                    self.dispatch(mid, next);
                    return;
                }
                self.hint_quorum_write(mid, peer, why);
                self.reply_error(mid, why.error());
            }
        }
    }

    /// A quorum-level write's copy for a replica that could not take it
    /// (down, not connected, queue full, connection lost): the write may
    /// still be acknowledged by the other replicas, so that replica gets it
    /// later as a hint, like a DC_ONE write's copy (cluster/handoff.rs).
    pub(crate) fn hint_quorum_write(&mut self, mid: MsgId, peer: PeerId, why: Undeliverable) {
        let m = &self.msgs[mid];
        let write = m.cmd.is_some_and(|c| c.write) && m.internal.is_none();
        let quorum_child = m
            .parent
            .is_some_and(|(p, _)| matches!(self.msgs[p].frag.coalesce, Some(Coalesce::Quorum)));
        if !write || !quorum_child {
            return;
        }
        let c = self.copy_request(mid);
        let cm = &mut self.msgs[c];
        cm.swallow = true;
        cm.parent = None;
        cm.owner = None;
        cm.in_client = false;
        self.copy_undeliverable(peer, c, why);
    }

    /// The next replica of a DC_ONE read, if any is left.
    pub(crate) fn next_failover(&mut self, mid: MsgId) -> Option<Target> {
        self.msgs[mid].failover.next_target()
    }

    /// A copy whose answer nobody waits for (other racks at DC_ONE, remote
    /// DCs): tried on each candidate until one takes it.
    fn send_orphan(&mut self, mid: MsgId, candidates: &[Target]) {
        let mut refused = None;
        for &t in candidates {
            let c = self.copy_request(mid);
            let m = &mut self.msgs[c];
            m.swallow = true;
            match t {
                Target::Local => {
                    self.execute_local(c);
                    return;
                }
                Target::Peer { peer, forward } => match self.peer_forward(c, peer, forward) {
                    Ok(()) => return,
                    Err(why) => {
                        refused.get_or_insert((peer, why));
                        self.msgs.put(&mut self.mbufs, c);
                    }
                },
            }
        }
        // No candidate took it: handed over as the first candidate's.
        if let Some((peer, why)) = refused {
            let c = self.copy_request(mid);
            self.msgs[c].swallow = true;
            self.copy_undeliverable(peer, c, why);
        }
    }

    /// The copies a plan found no live peer for (`Plan::undeliverable`).
    fn undeliverable_copies(&mut self, mid: MsgId, targets: &[Target]) {
        for &t in targets {
            if let Target::Peer { peer, .. } = t {
                let c = self.copy_request(mid);
                self.msgs[c].swallow = true;
                let why = if self.topology.peer(peer).state.routable() {
                    Undeliverable::Down
                } else {
                    Undeliverable::AdminDown
                };
                self.copy_undeliverable(peer, c, why);
            }
        }
    }

    /// Runs a request on this node's own datastore(s): the node-state gate,
    /// then the shard of its key, or a split over the shards.
    pub(crate) fn execute_local(&mut self, mid: MsgId) {
        // A client's read while this node warms up: the donor rack has it.
        if self.warmup.reads_elsewhere() && self.msgs[mid].dnode.is_none() {
            if let Some(t) = self.warmup_read_target(mid) {
                self.dispatch(mid, t);
                return;
            }
        }
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("a routed request was looked up");
        let client = m.owner.unwrap_or(ConnId(0));
        let nargs = m.req.args.len();
        if let Err(e) = self.state_allows(cmd.write) {
            self.reply_error(mid, e);
            return;
        }
        if cmd.name == "dyno_exec" {
            // A transaction unit (txn.rs): written as one on one connection.
            self.txn_execute_local(mid);
            return;
        }
        match cmd.route {
            Route::AllNodes if self.servers.len() > 1 && self.settings.memcache => {
                self.mc_flush_servers(client, mid)
            }
            Route::AllNodes if self.servers.len() > 1 => self.broadcast(client, mid),
            Route::Eval => self.route_eval(client, mid),
            Route::Key | Route::LocalRackOwner => {
                if cmd.multi != Multi::None && self.servers.len() > 1 {
                    if let Some(n) = self.split(mid, cmd, |ctx, h| ctx.server_for_hash(h)) {
                        for i in 0..n {
                            let Some(&fid) = self.msgs[mid].frag.frags.get(i) else {
                                break;
                            };
                            let shard = self.msgs[fid].dest as usize;
                            self.server_forward(fid, shard, client);
                        }
                        return;
                    }
                }
                let k = cmd.first_key.max(0) as usize;
                let server = if k == 0 || k >= nargs || self.servers.len() == 1 {
                    0
                } else {
                    let h = self.arg_hash(mid, k);
                    self.server_for_hash(h)
                };
                self.server_forward(mid, server, client);
            }
            _ => self.server_forward(mid, 0, client),
        }
    }

    /// The server that owns a token: the servers split the token space into
    /// equal ranges, in configuration order; an ejected server's range goes to
    /// the next live one.
    pub(crate) fn server_for_hash(&self, hash: u32) -> usize {
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
    pub(crate) fn script_owner(
        &mut self,
        mid: MsgId,
        owner_of: impl Fn(&Self, u32) -> usize,
    ) -> Result<Option<usize>, Answered> {
        let nargs = self.msgs[mid].req.args.len();
        // numkeys is short: read it into a stack buffer when it fits.
        let mut buf = [0u8; 32];
        let m = &self.msgs[mid];
        let a = m.req.args[2];
        let found = if !m.req.inline && a.len as usize <= buf.len() {
            let n = self
                .mbufs
                .copy_to_slice(&m.segs, a.off, &mut buf[..a.len as usize]);
            redis::eval_keys(&buf[..n], nargs)
        } else {
            redis::eval_keys(&self.arg_vec(mid, 2), nargs)
        };
        let keys = match found {
            Ok(k) => k,
            Err(e) => {
                self.reply_error(mid, e);
                return Err(Answered);
            }
        };
        let mut owner = None;
        for i in keys {
            let h = self.arg_hash(mid, i);
            let o = owner_of(self, h);
            if owner.is_some_and(|x| x != o) {
                self.reply_error(mid, ERR_SCRIPT_SPAN);
                return Err(Answered);
            }
            owner = Some(o);
        }
        Ok(owner)
    }

    /// Sends a request to every server; the client gets the first one's reply.
    fn broadcast(&mut self, cid: ConnId, mid: MsgId) {
        let n = self.servers.len();
        self.make_children(mid, n, Coalesce::First);
        for i in 0..n {
            let fid = self.msgs[mid].frag.frags[i];
            self.server_forward(fid, i, cid);
        }
        self.fanout_done(mid);
    }
}
