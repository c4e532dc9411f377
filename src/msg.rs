//! Messages (dyn_message.c): one request or one reply, its bytes as segments
//! of pooled chunks, and what the parser learned about it.
//!
//! ```text
//!  client conn                      server conn
//!  omsg_q: [req1, req2, req3]       imsg_q (to send):  [req3]
//!            │     │                 inflight (sent):   [req2]
//!            │     └── peer ─► rsp2 (done, waits behind req1)
//!            └─ waiting for its reply
//! ```
//!
//! A request is referenced by its client (until its reply is written) and by
//! the server connection carrying it (until its reply arrives). It is freed
//! when neither holds it any more: `in_client` and `in_server` say who does.

use slab::Slab;

use crate::cluster::plan::{Failover, Target};
use crate::cluster::response_mgr::QuorumState;
use crate::mbuf::{MbufPool, Seg};
use crate::proto::memcache::{McReq, McRsp, McRspType};
use crate::proto::redis::{Command, ReqInfo, RspInfo, ARGS_PREALLOC};

pub use crate::ids::{ConnId, MsgId};

/// How the replies of a split request's fragments are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coalesce {
    /// MGET: one array, values in the client's key order.
    Mget,
    /// DEL, EXISTS, UNLINK, TOUCH: the sum of the integers.
    Sum,
    /// MSET: `+OK` once every part said so.
    Ok,
    /// Broadcast (SCRIPT …): the first child's reply.
    First,
    /// Replicas at a quorum level: the response managers decide.
    Quorum,
    /// Memcached get/gets/gat/gats: VALUE blocks in key order, one END.
    McGet,
    /// Memcached flush_all: `OK` once every copy said so, else an error
    /// naming each one that did not. True when the copies went to the
    /// cluster's nodes, false when to this node's datastores.
    McFlush(bool),
    /// KEYS over several shards: one array of every element.
    Concat,
    /// INFO: the datastore's text and the node's `# Dynomite` section.
    Info,
    /// SCAN of one shard: the cursor rewritten to the cluster's (the shard
    /// and the shard count are in `key_map[0]`).
    Scan,
    /// FLUSHDB, FLUSHALL (keyless.rs): `+OK` when every child said so,
    /// else an error naming the first that failed (`key_map[i]` tells what
    /// child i was sent to: (0, server) or (1, peer id)).
    Flush,
    /// A transaction under WATCH (txn.rs): its one child runs on the
    /// client's own connection; when EXEC ran, the parent (the unit) is
    /// copied to the other racks and DCs.
    Watched,
}

/// The children of a request (fragments of a split, copies to replicas):
/// how their replies are merged. It lives inside the message and keeps its
/// vectors (and its quorum box) across reuse, so that a parent allocates
/// nothing in steady state.
#[derive(Debug, Default)]
pub struct FragParent {
    /// How the children's replies are merged; `None` when the message has no
    /// children (or no longer has: its reply is made).
    pub coalesce: Option<Coalesce>,
    /// The children, in creation order (a child's `parent` index).
    pub frags: Vec<MsgId>,
    /// For each key of the client's request: (fragment index, element index).
    pub key_map: Vec<(u32, u32)>,
    /// Children still waiting for a reply (splits and broadcasts).
    pub pending: u32,
    /// True while the children are being sent: an answer that comes at once
    /// (a peer not connected) is recorded, and the decision waits until the
    /// last child is out (`Context::fanout_done`).
    pub building: bool,
    /// Quorum bookkeeping (`Coalesce::Quorum`); boxed on first use and kept
    /// with the pooled message.
    pub quorum: Option<Box<QuorumState>>,
}

impl FragParent {
    /// True when the message waits for children.
    pub fn is_parent(&self) -> bool {
        self.coalesce.is_some()
    }

    /// Forgets the children, keeping the vectors' capacity and the quorum box.
    pub fn clear(&mut self) {
        self.coalesce = None;
        self.frags.clear();
        self.key_map.clear();
        self.pending = 0;
        self.building = false;
    }
}

/// What a parent needs besides the message itself, recycled on its own
/// (see `MsgPool::parts`).
#[derive(Debug, Default)]
struct FanoutParts {
    frags: Vec<MsgId>,
    key_map: Vec<(u32, u32)>,
    quorum: Option<Box<QuorumState>>,
}

/// Kind of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgKind {
    Request,
    Response,
}

/// What a node's own request is for, so that its reply finds its way back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Internal {
    /// `DBSIZE` before `warmup_on_start`.
    WarmCheck,
    /// A `SCAN` of the current donor node.
    WarmScan,
    /// `DUMP` of copy `n`.
    WarmDump(u32),
    /// `PTTL` of copy `n`.
    WarmPttl(u32),
    /// `RESTORE` of copy `n`.
    WarmRestore(u32),
    /// A quorum read's copy still out when the client got its answer
    /// (cluster/repair.rs): its answer is compared with the winner's
    /// (`sum`, read from `source`); `to` is the replica it went to.
    RepairLate {
        sum: u32,
        source: Target,
        to: Target,
    },
    /// `DUMP` for read repair `n`.
    RepairDump(u32),
    /// `PTTL` for read repair `n`.
    RepairPttl(u32),
    /// `RESTORE` (with `REPLACE` or without) of read repair `n`.
    RepairRestore(u32),
    /// A replayed hint (cluster/handoff.rs), by its sequence number.
    Hint(u64),
    /// An anti-entropy `SCAN` (cluster/entropy.rs).
    EntropyScan,
    /// An anti-entropy digest script: request `req` of batch `batch`.
    EntropyDigest { batch: u32, req: u16 },
    /// A metadata request's copy still out when its parent was decided
    /// (cluster/rr_meta.rs): its answer goes to job `job`; `to` is the
    /// replica it went to.
    MetaLate { job: u32, to: Target },
    /// A repair write of the metadata scheme (answer counted and dropped).
    MetaWrite,
    /// A tombstone clean-up of the metadata scheme (answer dropped).
    MetaClean,
}

impl Internal {
    /// True for the metadata scheme's requests (cluster/rr_meta.rs).
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            Internal::MetaLate { .. } | Internal::MetaWrite | Internal::MetaClean
        )
    }

    /// True for read repair's requests (cluster/repair.rs), false for the
    /// warm-up's.
    pub fn is_repair(self) -> bool {
        matches!(
            self,
            Internal::RepairLate { .. }
                | Internal::RepairDump(_)
                | Internal::RepairPttl(_)
                | Internal::RepairRestore(_)
        )
    }

    /// An anti-entropy request (its answer goes to `entropy_reply`).
    pub fn is_entropy(self) -> bool {
        matches!(self, Internal::EntropyScan | Internal::EntropyDigest { .. })
    }
}

/// One request or reply.
#[derive(Debug)]
pub struct Msg {
    /// Unique id (never reused), to catch stale indices.
    pub id: u64,
    pub kind: MsgKind,
    /// The bytes.
    pub segs: Vec<Seg>,
    /// Total length of `segs` in bytes.
    pub mlen: u64,
    /// Client connection the request came from (requests only).
    pub owner: Option<ConnId>,
    /// Parsed request arguments.
    pub req: ReqInfo,
    /// Parsed reply shape.
    pub rsp: RspInfo,
    /// Memcached: the parsed request and reply.
    pub mc: McReq,
    pub mcr: McRsp,
    /// The request expects no reply (memcached `noreply`).
    pub noreply: bool,
    /// The command, once looked up.
    pub cmd: Option<&'static Command>,
    /// For a request: its reply once there is one.
    pub peer: Option<MsgId>,
    /// A request whose reply is ready to be written to the client.
    pub done: bool,
    /// The reply to this request is not for any client (internal handshake,
    /// timed-out request, client gone): read it and drop it.
    pub swallow: bool,
    /// Held by the client's `omsg_q`.
    pub in_client: bool,
    /// Held by a server connection's queues.
    pub in_server: bool,
    /// For a fragment: the parent request and this fragment's index.
    pub parent: Option<(MsgId, u32)>,
    /// For a parent (split request, broadcast, quorum request): its children.
    pub frag: FragParent,
    /// The client asked to close after this request's reply (QUIT, protocol error).
    pub close_after: bool,
    /// The request speaks RESP3 (its client said HELLO 3).
    pub resp3: bool,
    /// A peer frame header sent before `segs` (requests to peers, replies to
    /// peers); not counted in `mlen`.
    pub hdr: Option<Seg>,
    /// An encrypted peer frame's payload (dnode/mod.rs `frame_out`): the
    /// ciphertext of `segs`, written after `hdr` instead of them; empty for
    /// plain frames.
    pub enc: Vec<Seg>,
    /// Total length of `enc` in bytes.
    pub enc_len: u64,
    /// A reply made by this node (peer or datastore failure), as opposed to
    /// one that came from a datastore.
    pub generated: bool,
    /// For a request that came from a peer: its frame's id, type and same_dc.
    pub dnode: Option<DnodeOrigin>,
    /// For a DC_ONE read: other replicas to try, in order, when the chosen
    /// one cannot be reached (read failover).
    pub failover: Failover,
    /// When the request was received (latency) and when it was queued to
    /// a datastore or peer (round trip).
    pub start: Option<std::time::Instant>,
    pub sent_at: Option<std::time::Instant>,
    /// The server or peer index the request was last queued to.
    pub dest: u32,
    /// A request of the node's own (warm-up): its reply goes back to the
    /// code that made it, never to a client.
    pub internal: Option<Internal>,
    /// The database the request runs in when it is not the node's default
    /// (`redis_db`): its client said SELECT, or its peer frame carried it.
    pub db: Option<u32>,
    /// Replies of the datastore to read and drop before the one that
    /// answers this request: a transaction unit (MULTI ... EXEC, txn.rs)
    /// is answered once per command, and only EXEC's reply is wanted.
    pub skip_replies: u32,
    /// A client request rewritten by the read-repair metadata scheme
    /// (`read_repairs_enabled`, cluster/rr_meta.rs): what it was and its
    /// timestamp.
    pub meta: Option<MetaOp>,
}

/// The command a request rewritten into the metadata scheme's `EVAL` was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCmd {
    Set,
    Del,
    Hset,
    Hmset,
    Hdel,
    Sadd,
    Srem,
    Zadd,
    Zrem,
    Get,
    Hget,
    Sismember,
    Zscore,
}

impl MetaCmd {
    /// True for the reads (answered `[status, timestamp, value]`).
    pub fn is_read(self) -> bool {
        matches!(
            self,
            MetaCmd::Get | MetaCmd::Hget | MetaCmd::Sismember | MetaCmd::Zscore
        )
    }

    /// True for the deletes (their tombstones are cleaned up).
    pub fn is_delete(self) -> bool {
        matches!(
            self,
            MetaCmd::Del | MetaCmd::Hdel | MetaCmd::Srem | MetaCmd::Zrem
        )
    }
}

/// A request rewritten by the metadata scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaOp {
    pub cmd: MetaCmd,
    /// The coordinator's wall clock at arrival, in milliseconds.
    pub ts_ms: u64,
}

/// Where a request from a peer came from, to answer it in the same frame shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnodeOrigin {
    pub id: u64,
    /// 3 (apply locally) or 4 (replicate to every rack of this DC).
    pub ty: u8,
    pub same_dc: bool,
    /// The frame carried a database (`FLAG_DB`): the reply echoes the flag.
    pub db: bool,
}

impl Msg {
    /// Fills the generic reply summary from a parsed memcached reply: errors
    /// read as `-`, retrievals as `*` with one element per VALUE block, numbers
    /// as `:`, the rest as `+`.
    pub fn summarize_mc_reply(&mut self) {
        let m = self;
        let r = &m.mcr;
        m.rsp.ty = match r.ty {
            t if t.is_error() => b'-',
            McRspType::Values => b'*',
            McRspType::Number => b':',
            _ => b'+',
        };
        m.rsp.integer = r.number.min(i64::MAX as u64) as i64;
        m.rsp.count = r.values.len() as i64;
        m.rsp.elems.clear();
        m.rsp
            .elems
            .extend(r.values.iter().map(|v| (v.start, v.end)));
    }

    /// Bytes on the wire: the frame header, if any, and the message (its
    /// ciphertext when encrypted).
    pub fn wire_len(&self) -> u64 {
        let body = if self.enc.is_empty() {
            self.mlen
        } else {
            self.enc_len
        };
        body + self.hdr.map_or(0, |h| h.len() as u64)
    }

    /// The segments written on the wire, in order: the frame header, if
    /// any, then the message (its ciphertext when encrypted).
    pub fn wire_segs(&self) -> impl Iterator<Item = &Seg> {
        let body = if self.enc.is_empty() {
            &self.segs
        } else {
            &self.enc
        };
        self.hdr.iter().chain(body.iter())
    }

    /// Makes a recycled message new again, keeping its vectors' capacity.
    fn reset(&mut self, id: u64, kind: MsgKind) {
        debug_assert!(self.segs.is_empty());
        let mut args = std::mem::take(&mut self.req.args);
        args.clear();
        let mut elems = std::mem::take(&mut self.rsp.elems);
        elems.clear();
        let mut keys = std::mem::take(&mut self.mc.keys);
        keys.clear();
        let mut values = std::mem::take(&mut self.mcr.values);
        values.clear();
        let segs = std::mem::take(&mut self.segs);
        debug_assert!(self.enc.is_empty());
        let enc = std::mem::take(&mut self.enc);
        let mut frag = std::mem::take(&mut self.frag);
        frag.clear();
        *self = Msg::new(id, kind);
        self.segs = segs;
        self.enc = enc;
        self.frag = frag;
        self.req.args = args;
        self.rsp.elems = elems;
        self.mc.keys = keys;
        self.mcr.values = values;
    }

    fn new(id: u64, kind: MsgKind) -> Msg {
        Msg {
            id,
            kind,
            segs: Vec::new(),
            mlen: 0,
            owner: None,
            req: ReqInfo::default(),
            rsp: RspInfo::default(),
            mc: McReq::default(),
            mcr: McRsp::default(),
            noreply: false,
            cmd: None,
            peer: None,
            done: false,
            swallow: false,
            in_client: false,
            in_server: false,
            parent: None,
            frag: FragParent::default(),
            close_after: false,
            resp3: false,
            hdr: None,
            enc: Vec::new(),
            enc_len: 0,
            generated: false,
            dnode: None,
            failover: Failover::default(),
            start: None,
            sent_at: None,
            dest: 0,
            internal: None,
            db: None,
            skip_replies: 0,
            meta: None,
        }
    }
}

/// Freed messages kept for reuse, so that a steady stream of requests
/// allocates no vectors.
const SPARE_MAX: usize = 4096;

/// The bounded pool of messages (`max_msgs`).
#[derive(Debug)]
pub struct MsgPool {
    /// Boxed, so that taking a message in and out of the pool moves a pointer,
    /// not the whole struct.
    msgs: Slab<Box<Msg>>,
    /// Freed messages whose vectors keep their capacity. Boxed like `msgs`:
    /// the same allocation goes back and forth between the two.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Msg>>,
    /// The vectors and quorum state of freed parents, lent to the next
    /// message that becomes one (`lend_parts`). Any message may become a
    /// parent, so these travel on their own: kept with the message, they
    /// would be allocated again whenever a message that never was a parent
    /// becomes one.
    parts: Vec<FanoutParts>,
    next_id: u64,
    limit: usize,
}

impl MsgPool {
    /// A pool that holds at most `limit` messages for client requests.
    pub fn new(limit: usize) -> MsgPool {
        debug_assert!(limit > 0);
        MsgPool {
            msgs: Slab::new(),
            spare: Vec::new(),
            parts: Vec::new(),
            next_id: 1,
            limit,
        }
    }

    /// Messages alive.
    pub fn in_use(&self) -> usize {
        self.msgs.len()
    }

    /// Freed messages kept for reuse.
    pub fn spare_count(&self) -> usize {
        self.spare.len()
    }

    /// True when client reads must wait (backpressure).
    pub fn exhausted(&self) -> bool {
        self.msgs.len() >= self.limit
    }

    /// A new empty message. Callers reading client requests check
    /// [`MsgPool::exhausted`] first; replies and generated messages are always
    /// allowed so that the pool can drain.
    pub fn get(&mut self, kind: MsgKind) -> MsgId {
        let id = self.next_id;
        self.next_id += 1;
        let msg = match self.spare.pop() {
            Some(mut m) => {
                m.reset(id, kind);
                m
            }
            None => Box::new(Msg::new(id, kind)),
        };
        MsgId(self.msgs.insert(msg))
    }

    /// Frees a message and its segments.
    pub fn put(&mut self, mbufs: &mut MbufPool, id: MsgId) {
        let mut m = self.msgs.remove(id.0);
        mbufs.put_segs(&mut m.segs);
        mbufs.put_segs(&mut m.enc);
        if let Some(h) = m.hdr.take() {
            mbufs.put(h.buf);
        }
        let f = &mut m.frag;
        if f.frags.capacity() > 0 || f.key_map.capacity() > 0 || f.quorum.is_some() {
            let mut parts = FanoutParts {
                frags: std::mem::take(&mut f.frags),
                key_map: std::mem::take(&mut f.key_map),
                quorum: f.quorum.take(),
            };
            parts.frags.clear();
            parts.key_map.clear();
            if self.parts.len() < SPARE_MAX
                && parts.frags.capacity() <= 64
                && parts.key_map.capacity() <= 64
            {
                self.parts.push(parts);
            }
        }
        if self.spare.len() < SPARE_MAX
            && m.req.args.capacity() <= 64
            && m.frag.key_map.capacity() <= 64
        {
            // Any spare may come back as a request (parsed, or a copy for a
            // replica), whatever it was last: give each the argument room a
            // request starts with once, so that which message is reused
            // never decides whether a request allocates.
            if m.req.args.capacity() < ARGS_PREALLOC {
                m.req.args.reserve_exact(ARGS_PREALLOC);
            }
            self.spare.push(m);
        }
    }

    /// Gives message `id`, about to become a parent, the vectors and quorum
    /// state of a freed parent, unless it has its own already.
    pub fn lend_parts(&mut self, id: MsgId) {
        let f = &mut self.msgs[id.0].frag;
        debug_assert!(!f.is_parent());
        if f.frags.capacity() > 0 || f.key_map.capacity() > 0 || f.quorum.is_some() {
            return;
        }
        if let Some(p) = self.parts.pop() {
            debug_assert!(p.frags.is_empty() && p.key_map.is_empty());
            f.frags = p.frags;
            f.key_map = p.key_map;
            f.quorum = p.quorum;
        }
    }

    /// The message at `id`, if it is still the one with unique id `uid`.
    pub fn get_checked(&self, id: MsgId, uid: u64) -> Option<&Msg> {
        self.msgs.get(id.0).map(|m| &**m).filter(|m| m.id == uid)
    }

    /// True when `id` still names a live message.
    pub fn contains(&self, id: MsgId) -> bool {
        self.msgs.contains(id.0)
    }
}

impl std::ops::Index<MsgId> for MsgPool {
    type Output = Msg;
    fn index(&self, id: MsgId) -> &Msg {
        &self.msgs[id.0]
    }
}

impl std::ops::IndexMut<MsgId> for MsgPool {
    fn index_mut(&mut self, id: MsgId) -> &mut Msg {
        &mut self.msgs[id.0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::plan::Target;

    #[test]
    fn a_freed_parents_vectors_serve_the_next_parent() {
        let mut mbufs = MbufPool::new(512, 8);
        let mut pool = MsgPool::new(8);
        let a = pool.get(MsgKind::Request);
        let m = &mut pool[a];
        m.frag.coalesce = Some(Coalesce::Quorum);
        m.frag.frags.extend([MsgId(1), MsgId(2)]);
        m.frag.key_map.push((0, 0));
        m.frag.pending = 2;
        m.frag.building = true;
        m.frag.quorum = Some(Box::default());
        m.failover.set(&[Target::Local]);
        let frags_at = m.frag.frags.as_ptr();
        let quorum_at: *const QuorumState = &**m.frag.quorum.as_ref().expect("set");
        pool.put(&mut mbufs, a);

        let b = pool.get(MsgKind::Request);
        let m = &mut pool[b];
        assert!(!m.frag.is_parent());
        assert!(m.frag.frags.is_empty());
        assert!(m.frag.key_map.is_empty());
        assert_eq!(m.frag.pending, 0);
        assert!(!m.frag.building);
        assert_eq!(m.failover.next_target(), None);
        // A message that becomes a parent borrows the freed parent's
        // allocations: whichever message it is, nothing is allocated again.
        let c = pool.get(MsgKind::Request);
        pool.lend_parts(c);
        let m = &mut pool[c];
        assert!(!m.frag.is_parent());
        assert!(m.frag.frags.is_empty());
        assert_eq!(m.frag.frags.as_ptr(), frags_at);
        let quorum_now: *const QuorumState = &**m.frag.quorum.as_ref().expect("kept");
        assert!(std::ptr::eq(quorum_now, quorum_at));
    }
}
