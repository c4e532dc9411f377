//! Outgoing peer connections (dyn_dnode_peer.c): a pool of connections to
//! every other node, frames out, replies matched by id. These connections
//! have their own handlers (`peer_connecting`, `peer_recv`, `peer_send`,
//! `peer_sent`, `peer_closed`); what they share with datastore connections
//! (reading, writev of a queue, the in-flight move, the reply parser) is in
//! conn.rs, the back-off in conn_pool.rs, the frame layer in dnode/frame.rs.
//!
//! ```text
//!  peer_forward(req) ─► hdr "   $2014$ <id> 3|4 …" + req bytes ─► imsg_q
//!      ─writev─► in flight (omsg_q) ─► reply frame (Framer, RESP parser),
//!      id matched ─► req.peer
//! ```
//!
//! A request whose slot is not connected fails at once ("Peer Node is not
//! connected"); a connection that closes fails what it carries ("refused
//! connection") unless read failover has another replica to try; both happen
//! in the loop after the close (`Context::fail_queued`), never inside it.
//! Reconnects back off from 1 s to 2 s.
//!
//! Failure detection (cluster/health.rs) hears of every fault here: a
//! refused or timed-out connect, a lost connection, a connection the
//! watchdog (`peers_watchdog`) found stuck. A peer found down is not sent
//! anything but a probe: every new connection first carries a PING (a
//! `version` for memcached) whose answer, like any reply, marks the peer up.
//!
//! ```text
//!  peer_forward ─► admin DOWN, detected down, not connected, or its queue
//!                  past peer_queue_max_msgs / _bytes ─► Err(Undeliverable)
//!  a copy nobody waits for that cannot go ─► copy_undeliverable (counted,
//!                  logged at most once a second per peer; hints go here)
//! ```
//!
//! `PeerPools` holds the slots of every node, keyed by the topology's
//! `PeerId`; a pool is made when its node is added (`Context::peer_added`
//! in cluster/membership.rs), never by position.

use std::io;
use std::time::Instant;

use log::{debug, info, warn};
use mio::Interest;

use crate::cluster::health::{Fault, Transition};
use crate::cluster::state::PeerHealth;
use crate::conn::{CloseReason, Conn, ConnState, Outcome, QueueStats, Role, Sock};
use crate::conn_pool::PEER_BACKOFF_MAX;
pub use crate::conn_pool::{PeerPool, PeerPools};
use crate::core::{
    Context, FailedReq, Timer, TIMEOUT_PEER_READ, TIMEOUT_PEER_WRITE, TIMEOUT_REMOTE_READ,
    TIMEOUT_REMOTE_WRITE,
};
use crate::dnode::msg::{DmsgHeader, DmsgType, FLAG_DB, FLAG_RESP3};
use crate::errors::{
    ERR_PEER_DOWN, ERR_PEER_NOT_CONNECTED, ERR_PEER_QUEUE_FULL, ERR_PEER_REFUSED, ERR_PEER_TIMEOUT,
};
use crate::ids::PeerId;
use crate::msg::{ConnId, MsgId, MsgKind};

/// Why a request or copy could not be queued for (or was lost on the way
/// to) a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undeliverable {
    /// An operator set the peer DOWN.
    AdminDown,
    /// Failure detection found it down.
    Down,
    /// No connection is up.
    NotConnected,
    /// Its queue holds `peer_queue_max_msgs` or `peer_queue_max_bytes`.
    QueueFull,
    /// Queued, then lost when its connection closed.
    ConnLost,
    /// The peer answered with a storage error: its datastore failed.
    Storage,
    /// The peer has hints pending: a newer copy goes behind them
    /// (cluster/handoff.rs), so that writes of a key keep their order.
    Behind,
}

impl Undeliverable {
    /// The error a client gets when this was its request.
    pub fn error(self) -> &'static str {
        match self {
            Undeliverable::AdminDown | Undeliverable::NotConnected => ERR_PEER_NOT_CONNECTED,
            Undeliverable::Down => ERR_PEER_DOWN,
            Undeliverable::QueueFull => ERR_PEER_QUEUE_FULL,
            Undeliverable::ConnLost | Undeliverable::Storage | Undeliverable::Behind => {
                ERR_PEER_REFUSED
            }
        }
    }

    /// Name for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Undeliverable::AdminDown => "set down by the operator",
            Undeliverable::Down => "peer down",
            Undeliverable::NotConnected => "not connected",
            Undeliverable::QueueFull => "queue full",
            Undeliverable::ConnLost => "connection lost",
            Undeliverable::Storage => "its datastore failed",
            Undeliverable::Behind => "queued behind its hints",
        }
    }
}

/// The probe sent first on every new peer connection (redis, memcached).
const PROBE_REDIS: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const PROBE_MEMCACHE: &[u8] = b"version\r\n";

impl Context {
    /// Opens every slot of every peer (at start).
    pub(crate) fn peers_connect(&mut self) {
        if self.admin_op > 0 {
            info!("admin mode {}: no connection to peers", self.admin_op);
            return;
        }
        for p in self.topology.peer_ids().collect::<Vec<_>>() {
            self.peer_pool_connect(p);
        }
    }

    /// Opens every slot of one peer.
    pub(crate) fn peer_pool_connect(&mut self, peer: PeerId) {
        for s in 0..self.peers[peer].slots.len() {
            self.peer_connect(peer, s);
        }
    }

    fn peer_connect(&mut self, peer: PeerId, slot: usize) {
        if self.admin_op > 0 {
            return;
        }
        let Some(addr) = self.topology.peer(peer).addr else {
            return;
        };
        let name = format!("{} ({})", self.topology.peer(peer).name, addr);
        let sock = match Sock::connect_tcp(addr).and_then(|s| self.peer_tls_sock(s, peer)) {
            Ok(s) => s,
            Err(e) => {
                self.peer_log(peer, || format!("connect to peer {name} failed: {e}"));
                self.peer_fault(peer, Fault::ConnectFailed);
                self.peer_failed(peer, slot);
                return;
            }
        };
        let conn = Conn::new(
            Role::dnode_peer(peer, slot),
            ConnState::Connecting,
            sock,
            name.clone(),
        );
        match self.add_conn(conn, Interest::READABLE | Interest::WRITABLE) {
            Ok(cid) => {
                self.peers[peer].slots[slot].connecting(cid, Instant::now());
                debug!("dn {} connecting to peer {}", cid.0, name);
            }
            Err(e) => {
                warn!("registering a connection to peer {name} failed: {e}");
                self.peer_fault(peer, Fault::ConnectFailed);
                self.peer_failed(peer, slot);
            }
        }
    }

    fn peer_failed(&mut self, peer: PeerId, slot: usize) {
        let at = self.peers[peer].slots[slot].failure(Instant::now(), PEER_BACKOFF_MAX);
        self.add_timer(at, Timer::PeerReconnect { peer, slot });
    }

    /// The reconnect timer of a peer slot fired.
    pub(crate) fn peer_reconnect(&mut self, peer: PeerId, slot: usize) {
        if !self.peers[peer].slots[slot].reconnect_due(Instant::now()) {
            return;
        }
        self.peer_connect(peer, slot);
    }

    /// A connect in progress reported an event: finish it or fail it.
    pub(crate) fn peer_connecting(&mut self, cid: ConnId) -> Outcome {
        match self.conn_connect_done(cid) {
            Ok(true) => {}
            Ok(false) => return Outcome::Ok,
            Err(e) => {
                let c = &self.conns[cid.0];
                let (peer, slot) = c.peer_slot().expect("peer conn has a slot");
                let line = format!("dn {} connect to peer {} failed: {}", cid.0, c.peer, e);
                self.peer_log(peer, || line);
                let sl = &mut self.peers[peer].slots[slot];
                if sl.conn == Some(cid) {
                    sl.fault = Some(Fault::ConnectFailed);
                }
                return Outcome::Close(CloseReason::Error);
            }
        }
        let c = &self.conns[cid.0];
        let (peer, slot) = c.peer_slot().expect("peer conn has a slot");
        info!("dn {} connected to peer {}", cid.0, c.peer);
        self.peers[peer].slots[slot].connected();
        self.peer_probe(cid, peer);
        Outcome::Ok
    }

    /// Queues the probe on a new connection: its answer (like any reply)
    /// tells failure detection the peer is up. It is not counted as a
    /// request, and its reply is dropped.
    fn peer_probe(&mut self, cid: ConnId, peer: PeerId) {
        let body = if self.settings.memcache {
            PROBE_MEMCACHE
        } else {
            PROBE_REDIS
        };
        let mid = self.msgs.get(MsgKind::Request);
        let mut segs = std::mem::take(&mut self.msgs[mid].segs);
        self.mbufs.append(&mut segs, body);
        let m = &mut self.msgs[mid];
        m.segs = segs;
        m.mlen = body.len() as u64;
        let h = DmsgHeader::new(m.id, DmsgType::Req, self.topology.same_dc(peer));
        // Framed like any request: encrypted (carrying the session key) on
        // a link that encrypts.
        let encrypt = self.link_encrypts(peer);
        self.frame_out(cid, mid, h, encrypt);
        let now = self.now;
        let m = &mut self.msgs[mid];
        m.swallow = true;
        m.in_server = true;
        m.sent_at = Some(now);
        m.dest = peer.0;
        let (_, slot) = self.conns[cid.0].peer_slot().expect("peer conn has a slot");
        self.peers[peer].slots[slot].queued_bytes += body.len() as u64;
        self.conns[cid.0].imsg_q.push_back(mid);
        self.stats.faults.peer_probes += 1;
        self.schedule_flush(cid);
    }

    /// Writes queued frames with one writev.
    pub(crate) fn peer_send(&mut self, cid: ConnId) -> Outcome {
        match self.conn_send(cid, Context::peer_sent) {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                warn!("dn {} write to peer failed: {}", cid.0, e);
                Outcome::Close(CloseReason::Error)
            }
        }
    }

    /// Moves fully written frames to the in-flight queue; the queue
    /// statistics are those of a peer in this DC or in another.
    fn peer_sent(&mut self, cid: ConnId, n: u64) {
        let (peer, slot) = self.conns[cid.0].peer_slot().expect("peer conn has a slot");
        let queue = if self.topology.same_dc(peer) {
            QueueStats::Peer
        } else {
            QueueStats::RemotePeer
        };
        self.conn_sent(cid, n, queue);
        let c = &self.conns[cid.0];
        let idle = c.imsg_q.is_empty() && c.omsg_q.is_empty();
        let sl = &mut self.peers[peer].slots[slot];
        if n > 0 {
            sl.written_at = Some(self.now);
        }
        if idle {
            // Requests that expect no reply leave the queue once written;
            // the byte count starts over whenever the queue is empty.
            sl.queued_bytes = 0;
        }
    }

    /// Reads reply frames.
    pub(crate) fn peer_recv(&mut self, cid: ConnId) -> Outcome {
        self.conn_recv_replies(cid, "peer")
    }

    /// Parses what is buffered: frame headers (dnode/frame.rs), then the reply
    /// each reply frame carries.
    pub(crate) fn peer_parse(&mut self, cid: ConnId) -> io::Result<()> {
        while self.frame_next(cid)? {
            let Some(rsp) = self.conn_parse_reply(cid)? else {
                // Every buffered byte was taken; the framer may have more
                // (the next decrypted unit of an encrypted frame).
                continue;
            };
            let Role::DnodePeer(p) = &mut self.conns[cid.0].role else {
                unreachable!("peer_parse on a peer connection");
            };
            let h = p
                .framer
                .datastore_done()
                .expect("a reply is read inside a frame");
            // Marks a reply that honoured a request's database (FLAG_DB).
            self.msgs[rsp].db = (h.flags & FLAG_DB != 0).then_some(0);
            self.peer_reply(cid, rsp, h.id);
        }
        Ok(())
    }

    /// Queues a request for a peer, unless the peer is down (set by an
    /// operator or detected), not connected, or holds as much as its queue
    /// bound allows (`peer_queue_max_msgs`, `peer_queue_max_bytes`, across
    /// its connections, written or not): then nothing is queued and the
    /// reason is returned.
    pub(crate) fn peer_forward(
        &mut self,
        mid: MsgId,
        peer: PeerId,
        forward: bool,
    ) -> Result<(), Undeliverable> {
        let p = self.topology.peer(peer);
        if !p.state.routable() {
            return Err(Undeliverable::AdminDown);
        }
        if p.health == PeerHealth::Down {
            return Err(Undeliverable::Down);
        }
        let pool = &self.peers[peer];
        if pool.slots.is_empty() {
            return Err(Undeliverable::NotConnected);
        }
        let owner = self.msgs[mid].owner.map_or(0, |c| c.0);
        let slot = owner % pool.slots.len();
        let Some(cid) = pool.slots[slot].conn else {
            return Err(Undeliverable::NotConnected);
        };
        if self.conns[cid.0].state != ConnState::Connected {
            return Err(Undeliverable::NotConnected);
        }
        let m = &self.msgs[mid];
        let copy = m.swallow && m.internal.is_none() && m.cmd.is_some_and(|c| c.write);
        if copy && self.handoff.pending(peer) {
            // A copy: hints for this peer go first (cluster/handoff.rs).
            return Err(Undeliverable::Behind);
        }
        let (msgs, bytes) = self.peer_queued(peer);
        let len = self.msgs[mid].mlen;
        if msgs >= self.settings.peer_queue_max_msgs
            || bytes + len > self.settings.peer_queue_max_bytes
        {
            return Err(Undeliverable::QueueFull);
        }
        let same_dc = self.topology.same_dc(peer);
        let m = &self.msgs[mid];
        let ty = if forward {
            DmsgType::ReqForward
        } else {
            DmsgType::Req
        };
        let mut h = DmsgHeader::new(m.id, ty, same_dc);
        if m.resp3 {
            h.flags |= FLAG_RESP3;
        }
        if let Some(db) = m.db {
            // select.rs refuses databases past 255 in a cluster.
            debug_assert!(db <= u32::from(u8::MAX));
            h.flags |= FLAG_DB;
            h.version = db as u8;
        }
        let encrypt = self.link_encrypts(peer);
        self.frame_out(cid, mid, h, encrypt);
        let m = &mut self.msgs[mid];
        m.in_server = true;
        m.sent_at = Some(self.now);
        m.dest = peer.0;
        let bytes = m.wire_len();
        let write = m.cmd.is_some_and(|c| c.write);
        self.stats.record_peer_request(peer, bytes);
        let class = match (same_dc, write) {
            (true, false) => TIMEOUT_PEER_READ,
            (true, true) => TIMEOUT_PEER_WRITE,
            (false, false) => TIMEOUT_REMOTE_READ,
            (false, true) => TIMEOUT_REMOTE_WRITE,
        };
        self.arm_timeout(mid, class);
        self.peers[peer].slots[slot].queued_bytes += len;
        let q = &mut self.conns[cid.0].imsg_q;
        q.push_back(mid);
        let depth = if same_dc {
            &mut self.stats.peer_in_queue
        } else {
            &mut self.stats.remote_peer_in_queue
        };
        depth.record(q.len() as u64);
        self.schedule_flush(cid);
        Ok(())
    }

    /// Messages and bytes queued for `peer` on all its connections, written
    /// or not.
    pub(crate) fn peer_queued(&self, peer: PeerId) -> (u64, u64) {
        let mut msgs = 0;
        let mut bytes = 0;
        for sl in self.peers[peer].slots.iter() {
            if let Some(c) = sl.conn.and_then(|c| self.conns.get(c.0)) {
                msgs += (c.imsg_q.len() + c.omsg_q.len()) as u64;
                bytes += sl.queued_bytes;
            }
        }
        (msgs, bytes)
    }

    /// A request (not a copy) could not go to `peer`: counted, and logged at
    /// most once a second per peer.
    pub(crate) fn peer_refused(&mut self, peer: PeerId, why: Undeliverable) {
        let f = &mut self.stats.faults;
        match why {
            Undeliverable::Down => f.peer_fail_fast += 1,
            Undeliverable::QueueFull => {
                f.peer_queue_full += 1;
                f.peer_undeliverable += 1;
                let c = &mut self.peers[peer].counts;
                c.queue_full += 1;
                c.undeliverable += 1;
            }
            _ => {}
        }
        if matches!(why, Undeliverable::Down | Undeliverable::QueueFull) {
            let name = self.peer_label(peer);
            let line = format!("request for peer {name} answered at once: {}", why.name());
            self.peer_log(peer, || line);
        }
    }

    /// The one place where a copy nobody waits for (another rack's or DC's
    /// replica of a write) ends when it cannot reach `peer`: not sent, or
    /// lost with its connection. Counted (`peer_dropped_requests` or
    /// `remote_peer_dropped_requests`, and the fault counters) and logged at
    /// most once a second per peer, then released. Hinted handoff
    /// (cluster/handoff.rs) keeps it as a hint instead: then it is counted
    /// as undeliverable (unless it only queued behind earlier hints), not
    /// as dropped.
    pub(crate) fn copy_undeliverable(&mut self, peer: PeerId, mid: MsgId, why: Undeliverable) {
        debug_assert!(!self.msgs[mid].in_server);
        if why != Undeliverable::Behind {
            let f = &mut self.stats.faults;
            let c = &mut self.peers[peer].counts;
            f.peer_undeliverable += 1;
            c.undeliverable += 1;
            if why == Undeliverable::QueueFull {
                f.peer_queue_full += 1;
                c.queue_full += 1;
            }
        }
        if self.hint_keep(peer, mid, why) {
            return;
        }
        let same = self.topology.same_dc(peer);
        let pool = &mut self.stats.pool;
        if same {
            pool.peer_dropped_requests += 1;
        } else {
            pool.remote_peer_dropped_requests += 1;
        }
        let m = &mut self.msgs[mid];
        m.swallow = true;
        let uid = m.id;
        let name = self.peer_label(peer);
        let line = format!("copy {uid} for peer {name} not delivered: {}", why.name());
        self.peer_log(peer, || line);
        self.try_free(mid);
    }

    /// Logs a fault of `peer` at warn level, at most once a second per peer
    /// (with the count of lines held back since the last one); the line is
    /// only made when it is written.
    pub(crate) fn peer_log(&mut self, peer: PeerId, line: impl FnOnce() -> String) {
        let now = Instant::now();
        if let Some(held) = self.peers[peer].log.allow(now) {
            if held > 0 {
                warn!("{} ({held} similar events not logged)", line());
            } else {
                warn!("{}", line());
            }
        }
    }

    /// Failure detection heard of a fault of `peer`.
    pub(crate) fn peer_fault(&mut self, peer: PeerId, fault: Fault) {
        let same = self.topology.same_dc(peer);
        match fault {
            Fault::Stalled => {
                self.stats.faults.peer_stalls += 1;
                self.peers[peer].counts.stalls += 1;
                if same {
                    self.stats.pool.peer_timedout += 1;
                } else {
                    self.stats.pool.remote_peer_timedout += 1;
                }
            }
            Fault::ConnectTimeout => self.stats.faults.peer_connect_timeouts += 1,
            Fault::ConnectFailed | Fault::ConnLost | Fault::GossipSilent => {}
        }
        let change = self.peers[peer].detect.fault(Instant::now(), fault);
        self.peer_health_changed(peer, change, fault.name());
    }

    /// How log lines name a peer: its address, with its seed name when
    /// that says more.
    pub(crate) fn peer_label(&self, peer: PeerId) -> String {
        let p = self.topology.peer(peer);
        if p.name == p.host {
            format!("{}:{}", p.host, p.port)
        } else {
            format!("{} ({}:{})", p.name, p.host, p.port)
        }
    }

    /// Applies a health change (if any): mirrored in the topology, where
    /// routing reads it, counted and logged.
    fn peer_health_changed(&mut self, peer: PeerId, change: Option<Transition>, why: &str) {
        let Some((from, to)) = change else {
            return;
        };
        self.topology.set_health(peer, to);
        self.stats.faults.peer_state_changes += 1;
        self.peers[peer].counts.state_changes += 1;
        let p = self.topology.peer(peer);
        let failures = self.peers[peer].detect.failures;
        let admin = p.state.name();
        let name = self.peer_label(peer);
        if to == PeerHealth::Up {
            self.handoff_peer_up(peer);
            info!(
                "peer {name} is {} (was {}; operator state {admin})",
                to.name(),
                from.name(),
            );
        } else {
            warn!(
                "peer {name} is {} (was {}): {why}, {failures} failures since its last answer; \
                 operator state {admin}",
                to.name(),
                from.name(),
            );
        }
    }

    /// The watchdog's round over the peers (every `WATCHDOG_TICK`): a
    /// connect that takes longer than `timeout`, or a connection with
    /// requests outstanding and nothing answered or written for the peer
    /// read timeout, is closed and reported to failure detection; a
    /// suspect peer that has not answered for that long is down. Walks the
    /// pools by id, without allocating.
    pub(crate) fn peers_watchdog(&mut self, now: Instant) {
        for i in 0..self.peers.ids_end() {
            let peer = PeerId(i);
            if peer.is_local() || self.peers.get(peer).is_none() {
                continue;
            }
            let same = self.topology.same_dc(peer);
            let limit = self.timeout_of(if same {
                TIMEOUT_PEER_READ
            } else {
                TIMEOUT_REMOTE_READ
            });
            let connect_limit = self.connect_timeout();
            for slot in 0..self.peers[peer].slots.len() {
                let sl = &self.peers[peer].slots[slot];
                let Some(cid) = sl.conn else { continue };
                let Some(c) = self.conns.get(cid.0) else {
                    continue;
                };
                let fault = match c.state {
                    ConnState::Connecting => sl
                        .since
                        .is_some_and(|t| now.saturating_duration_since(t) > connect_limit)
                        .then_some(Fault::ConnectTimeout),
                    ConnState::Connected => {
                        let front = |q: &std::collections::VecDeque<MsgId>| {
                            q.front().and_then(|&m| self.msgs[m].sent_at)
                        };
                        sl.stalled(now, front(&c.omsg_q), front(&c.imsg_q), limit)
                            .then_some(Fault::Stalled)
                    }
                    _ => None,
                };
                let Some(fault) = fault else { continue };
                let (msgs, _) = self.peer_queued(peer);
                let name = c.peer.clone();
                let line = format!(
                    "dn {} peer {}: {} ({} requests queued), closing",
                    cid.0,
                    name,
                    fault.name(),
                    msgs
                );
                self.peer_log(peer, || line);
                self.peers[peer].slots[slot].fault = Some(fault);
                self.close_conn(cid);
            }
            let change = self.peers[peer].detect.tick(now, limit);
            self.peer_health_changed(peer, change, "no answer");
        }
    }

    /// A reply frame with id `id` arrived: match it with the oldest
    /// outstanding request (older ones were lost and fail; a stale reply is
    /// dropped).
    pub(crate) fn peer_reply(&mut self, cid: ConnId, rsp: MsgId, id: u64) {
        loop {
            let Some(&req) = self.conns[cid.0].omsg_q.front() else {
                debug!(
                    "dn {} reply {} with nothing outstanding, dropped",
                    cid.0, id
                );
                self.msgs.put(&mut self.mbufs, rsp);
                return;
            };
            let rid = self.msgs[req].id;
            if id < rid {
                debug!("dn {} stale reply {} dropped", cid.0, id);
                self.msgs.put(&mut self.mbufs, rsp);
                return;
            }
            self.conns[cid.0].omsg_q.pop_front();
            let len = self.msgs[req].mlen;
            let (peer, slot) = self.conns[cid.0].peer_slot().expect("peer conn has a slot");
            let sl = &mut self.peers[peer].slots[slot];
            sl.queued_bytes = sl.queued_bytes.saturating_sub(len);
            let m = &mut self.msgs[req];
            m.in_server = false;
            if id == rid {
                self.peers[peer].slots[slot].answered_at = Some(self.now);
                if self.peers[peer].detect.health != PeerHealth::Up
                    || self.peers[peer].detect.failures > 0
                {
                    let change = self.peers[peer].detect.answered(self.now);
                    self.peer_health_changed(peer, change, "answered");
                }
                let m = &mut self.msgs[req];
                // A probe (no command) is not a request in the statistics.
                if let (Some(sent), Some(_)) = (m.sent_at, m.cmd) {
                    let micros = self.now.saturating_duration_since(sent).as_micros() as u64;
                    let dest = PeerId(m.dest);
                    let bytes = self.msgs[rsp].mlen;
                    self.stats.record_peer_response(dest, bytes, micros);
                }
                let m = &self.msgs[req];
                let copy = m.swallow
                    && !m.done
                    && !m.in_client
                    && m.internal.is_none()
                    && m.cmd.is_some_and(|c| c.write);
                if copy && self.storage_error(rsp) {
                    // A replica's copy its datastore did not take: a hint.
                    self.msgs.put(&mut self.mbufs, rsp);
                    self.copy_undeliverable(peer, req, Undeliverable::Storage);
                    return;
                }
                if m.swallow || m.done {
                    self.msgs.put(&mut self.mbufs, rsp);
                    self.try_free(req);
                    return;
                }
                if m.db.is_some() && self.msgs[rsp].db.is_none() {
                    // The peer ran it in its default database (a C node).
                    self.msgs.put(&mut self.mbufs, rsp);
                    self.reply_error(req, crate::errors::ERR_PEER_NO_DB);
                    return;
                }
                if self.storage_error(rsp) {
                    // The owner is up but its datastore failed: a DC_ONE
                    // read goes to the next rack's replica.
                    if let Some(next) = self.next_failover(req) {
                        self.msgs.put(&mut self.mbufs, rsp);
                        self.stats.faults.storage_error_failovers += 1;
                        debug!("read {} fails over: the owner's datastore failed", rid);
                        self.dispatch(req, next);
                        return;
                    }
                }
                self.attach_reply(req, rsp);
                return;
            }
            // The peer never answered `req`: it is lost.
            warn!(
                "dn {} request {} lost (reply {} came first)",
                cid.0, rid, id
            );
            self.peer_request_failed(req, ERR_PEER_REFUSED);
        }
    }

    /// True when reply `rsp` is a node's storage error (`-ERR Storage: …`,
    /// memcached `SERVER_ERROR Storage: …`): the node answered, its
    /// datastore did not.
    pub(crate) fn storage_error(&self, rsp: MsgId) -> bool {
        const REDIS: &[u8] = b"-ERR Storage:";
        const MEMCACHE: &[u8] = b"SERVER_ERROR Storage:";
        let m = &self.msgs[rsp];
        let mut head = [0u8; MEMCACHE.len()];
        let n = self.mbufs.copy_to_slice(&m.segs, 0, &mut head);
        head[..n].starts_with(REDIS) || head[..n].starts_with(MEMCACHE)
    }

    /// A request to a peer failed: try the next replica of a failover read,
    /// else answer the error.
    pub(crate) fn peer_request_failed(&mut self, req: MsgId, text: &str) {
        let m = &self.msgs[req];
        if m.swallow || m.done {
            self.try_free(req);
            return;
        }
        if let Some(next) = self.next_failover(req) {
            debug!("read failover of request {}", self.msgs[req].id);
            self.dispatch(req, next);
            return;
        }
        self.reply_error(req, text);
    }

    /// An outgoing peer connection closed: what it carried is queued to fail
    /// over or fail (`Context::fail_queued`, after the event batch), the slot
    /// reconnects after its back-off.
    pub(crate) fn peer_closed(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let (peer, slot) = c.peer_slot().expect("peer conn has a slot");
        let eof = c.eof;
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
        let current = self.peers[peer].slots[slot].conn == Some(cid);
        let fault = if current {
            self.peers[peer].slots[slot].fault.take()
        } else {
            None
        };
        let error = if fault == Some(Fault::Stalled) {
            ERR_PEER_TIMEOUT
        } else {
            ERR_PEER_REFUSED
        };
        let dropped = queued
            .iter()
            .filter(|&&m| !self.msgs[m].swallow && !self.msgs[m].done)
            .count() as u64;
        let same = self.topology.same_dc(peer);
        let pool = &mut self.stats.pool;
        if eof {
            pool.peer_eof += 1;
        } else {
            pool.peer_err += 1;
        }
        if same {
            pool.peer_dropped_requests += dropped;
        } else {
            pool.remote_peer_dropped_requests += dropped;
        }
        pool.peer_ejected_at = crate::server::unix_ms();
        for _ in 0..dropped {
            self.stats.record_peer_error(peer);
        }
        for mid in queued {
            let m = &mut self.msgs[mid];
            m.in_server = false;
            let copy = m.swallow && !m.done && !m.in_client && m.cmd.is_some_and(|c| c.write);
            if copy {
                // A replica's copy (its answer was never awaited).
                self.copy_undeliverable(peer, mid, Undeliverable::ConnLost);
            } else if m.swallow || m.done {
                self.try_free(mid);
            } else {
                // A quorum write's copy lost with the connection: the other
                // replicas may acknowledge it; this one gets it as a hint.
                let uid = m.id;
                self.hint_quorum_write(mid, peer, Undeliverable::ConnLost);
                self.failed.push_back(FailedReq {
                    mid,
                    uid,
                    error,
                    failover: true,
                });
            }
        }
        if current {
            self.peer_fault(peer, fault.unwrap_or(Fault::ConnLost));
            self.peer_failed(peer, slot);
        }
    }
}

/// An error on a peer connection's stream.
pub fn bad_frame(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Topology;
    use crate::conf::Conf;
    use crate::core::Target;
    use std::time::Duration;

    /// A node of rack1 with one peer in rack2 and one in rack3, listening
    /// on `ports` (nothing is polled: handlers are called directly).
    fn context(ports: [u16; 2]) -> Context {
        let text = format!(
            "t:\n  datacenter: dc\n  rack: rack1\n  listen: 127.0.0.1:8102\n  \
             dyn_listen: 127.0.0.1:8101\n  dyn_seeds:\n  - 127.0.0.1:{}:rack2:dc:1\n  \
             - 127.0.0.1:{}:rack3:dc:1\n  tokens: '1'\n  servers:\n  - 127.0.0.1:22121:1\n",
            ports[0], ports[1]
        );
        let conf = Conf::parse_str("test.yml", &text).expect("conf");
        let topology = Topology::from_conf(&conf.pool).expect("topology");
        Context::new(&conf.pool, topology, 16 * 1024, 1024).expect("context")
    }

    fn reply_text(ctx: &Context, req: MsgId) -> Vec<u8> {
        let rsp = &ctx.msgs[ctx.msgs[req].peer.expect("answered")];
        let mut text = Vec::new();
        ctx.mbufs.copy_out(&rsp.segs, 0, rsp.mlen, &mut text);
        text
    }

    #[test]
    fn a_closed_peer_connection_fails_over_in_the_loop_not_in_the_close() {
        let l: Vec<_> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let port = |i: usize| l[i].local_addr().expect("addr").port();
        let mut ctx = context([port(0), port(1)]);
        ctx.peers_connect();
        let remote: Vec<PeerId> = ctx.topology.peer_ids().filter(|p| !p.is_local()).collect();
        let [a, b] = remote[..] else {
            panic!("two peers: {remote:?}")
        };
        let conn = |ctx: &Context, p: PeerId| ctx.peers[p].slots[0].conn.expect("opened");
        for p in [a, b] {
            let cid = conn(&ctx, p);
            ctx.conns[cid.0].state = ConnState::Connected;
        }
        // A DC_ONE read for `a` that may fail over to `b`.
        let mid = ctx.msgs.get(MsgKind::Request);
        let m = &mut ctx.msgs[mid];
        m.in_client = true;
        m.failover.set(&[Target::Peer {
            peer: b,
            forward: false,
        }]);
        assert_eq!(ctx.peer_forward(mid, a, false), Ok(()));
        let (ca, cb) = (conn(&ctx, a), conn(&ctx, b));
        assert_eq!(ctx.conns[ca.0].imsg_q.front(), Some(&mid));

        ctx.close_conn(ca);
        assert!(
            ctx.conns[cb.0].imsg_q.is_empty(),
            "no routing inside the close"
        );
        assert!(!ctx.msgs[mid].in_server);
        assert!(!ctx.msgs[mid].done);
        assert_eq!(ctx.failed.len(), 1);
        assert_eq!(ctx.stats.pool.peer_dropped_requests, 1);
        assert_eq!(ctx.peers[a].slots[0].conn, None);

        ctx.fail_queued();
        assert_eq!(ctx.conns[cb.0].imsg_q.front(), Some(&mid), "failed over");
        assert!(ctx.msgs[mid].in_server);
        assert!(!ctx.msgs[mid].done);

        // No replica left: the refusal is the answer.
        ctx.close_conn(cb);
        assert!(!ctx.msgs[mid].done);
        ctx.fail_queued();
        assert!(ctx.msgs[mid].done);
        assert_eq!(
            reply_text(&ctx, mid),
            format!("-{ERR_PEER_REFUSED}\r\n").into_bytes()
        );
    }

    /// Two peers listening (never accepting: a stuck process), their first
    /// slots marked connected.
    fn connected_context() -> (Context, Vec<std::net::TcpListener>, PeerId, PeerId) {
        let l: Vec<_> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let port = |i: usize| l[i].local_addr().expect("addr").port();
        let mut ctx = context([port(0), port(1)]);
        ctx.peers_connect();
        let remote: Vec<PeerId> = ctx.topology.peer_ids().filter(|p| !p.is_local()).collect();
        for &p in &remote {
            let cid = ctx.peers[p].slots[0].conn.expect("opened");
            ctx.conns[cid.0].state = ConnState::Connected;
        }
        (ctx, l, remote[0], remote[1])
    }

    /// A write copy nobody waits for, as `send_orphan` makes it.
    fn write_copy(ctx: &mut Context) -> MsgId {
        let mid = ctx.msgs.get(MsgKind::Request);
        let mut segs = std::mem::take(&mut ctx.msgs[mid].segs);
        ctx.mbufs
            .append(&mut segs, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        let m = &mut ctx.msgs[mid];
        m.segs = segs;
        m.mlen = 27;
        m.swallow = true;
        m.cmd = crate::proto::redis::lookup(b"set", None).ok();
        mid
    }

    #[test]
    fn a_peer_queue_is_bounded_in_messages_and_bytes() {
        let (mut ctx, _l, a, _) = connected_context();
        // Without hints: copies past the bound are dropped.
        ctx.handoff.conf.enabled = false;
        ctx.settings.peer_queue_max_msgs = 3;
        for _ in 0..3 {
            let c = write_copy(&mut ctx);
            assert_eq!(ctx.peer_forward(c, a, false), Ok(()));
        }
        assert_eq!(ctx.peer_queued(a), (3, 81));
        let c = write_copy(&mut ctx);
        assert_eq!(ctx.peer_forward(c, a, false), Err(Undeliverable::QueueFull));
        ctx.copy_undeliverable(a, c, Undeliverable::QueueFull);
        assert!(!ctx.msgs.contains(c), "released");
        assert_eq!(ctx.stats.pool.peer_dropped_requests, 1);
        assert_eq!(ctx.stats.faults.peer_queue_full, 1);
        assert_eq!(ctx.stats.faults.peer_undeliverable, 1);
        assert_eq!(ctx.peers[a].counts.undeliverable, 1);
        // Bytes: room for 3 messages, but not for their bytes.
        ctx.settings.peer_queue_max_msgs = 100;
        ctx.settings.peer_queue_max_bytes = 100;
        let c = write_copy(&mut ctx);
        assert_eq!(ctx.peer_forward(c, a, false), Err(Undeliverable::QueueFull));
        ctx.msgs.put(&mut ctx.mbufs, c);
        ctx.settings.peer_queue_max_bytes = 108;
        let c = write_copy(&mut ctx);
        assert_eq!(ctx.peer_forward(c, a, false), Ok(()));
        // The connection goes: every queued copy is handed over, counted.
        let cid = ctx.peers[a].slots[0].conn.expect("open");
        ctx.close_conn(cid);
        assert_eq!(ctx.stats.pool.peer_dropped_requests, 5);
        assert_eq!(ctx.peer_queued(a), (0, 0));
        assert_eq!(ctx.msgs.in_use(), 0, "every copy released");
    }

    #[test]
    fn a_stuck_peer_connection_is_closed_and_the_peer_is_down_until_it_answers() {
        let (mut ctx, _l, a, b) = connected_context();
        // A DC_ONE read for `a` that may fail over to `b`, sent long ago.
        let mid = ctx.msgs.get(MsgKind::Request);
        let m = &mut ctx.msgs[mid];
        m.in_client = true;
        m.failover.set(&[Target::Peer {
            peer: b,
            forward: false,
        }]);
        assert_eq!(ctx.peer_forward(mid, a, false), Ok(()));
        let ca = ctx.peers[a].slots[0].conn.expect("open");
        // Written, never answered.
        let q = ctx.conns[ca.0].imsg_q.pop_front().expect("queued");
        ctx.conns[ca.0].omsg_q.push_back(q);
        let limit = ctx.timeout_of(TIMEOUT_PEER_READ);
        let start = ctx.msgs[mid].sent_at.expect("queued at");

        ctx.peers_watchdog(start + limit / 2);
        assert_eq!(ctx.peers[a].slots[0].conn, Some(ca), "not yet");
        ctx.peers_watchdog(start + limit + Duration::from_millis(1));
        assert_eq!(ctx.peers[a].slots[0].conn, None, "closed");
        assert_eq!(ctx.topology.peer(a).health, PeerHealth::Down);
        assert_eq!(ctx.stats.faults.peer_stalls, 1);
        assert_eq!(ctx.stats.pool.peer_timedout, 1);
        assert_eq!(ctx.stats.faults.peer_state_changes, 1);
        // The read fails over in the loop.
        ctx.fail_queued();
        let cb = ctx.peers[b].slots[0].conn.expect("open");
        assert_eq!(ctx.conns[cb.0].imsg_q.front(), Some(&mid), "failed over");
        // While down, nothing is sent to it; it is routed again once a
        // reply (the probe's) comes on a new connection.
        let c = write_copy(&mut ctx);
        assert_eq!(ctx.peer_forward(c, a, false), Err(Undeliverable::Down));
        ctx.msgs.put(&mut ctx.mbufs, c);
        let change = ctx.peers[a].detect.answered(ctx.now);
        ctx.peer_health_changed(a, change, "answered");
        assert_eq!(ctx.topology.peer(a).health, PeerHealth::Up);
        assert_eq!(ctx.stats.faults.peer_state_changes, 2);
    }

    #[test]
    fn a_connect_that_hangs_times_out_and_two_faults_make_a_peer_down() {
        let (mut ctx, _l, a, _) = connected_context();
        let ca = ctx.peers[a].slots[0].conn.expect("open");
        ctx.conns[ca.0].state = ConnState::Connecting;
        let since = ctx.peers[a].slots[0].since.expect("connect started");
        ctx.peers_watchdog(since + ctx.connect_timeout() + Duration::from_millis(1));
        assert_eq!(ctx.peers[a].slots[0].conn, None);
        assert_eq!(ctx.stats.faults.peer_connect_timeouts, 1);
        assert_eq!(ctx.topology.peer(a).health, PeerHealth::Suspect);
        ctx.peer_fault(a, Fault::ConnectFailed);
        assert_eq!(ctx.topology.peer(a).health, PeerHealth::Down);
    }
}
