//! Outgoing peer connections (dyn_dnode_peer.c): a pool of connections to
//! every other node, frames out, replies matched by id.
//!
//! ```text
//!  peer_forward(req) ─► hdr "   $2014$ <id> 3|4 …" + req bytes ─► imsg_q
//!      ─writev─► in flight (omsg_q) ─► reply frame, id matched ─► req.peer
//! ```
//!
//! A request whose slot is not connected fails at once ("Peer Node is not
//! connected"); a connection that closes fails what it carries ("refused
//! connection") unless read failover has another replica to try. Reconnects
//! back off from 1 s to 10 s.
//!
//! `PeerPools` holds the slots of every node, keyed by the topology's
//! `PeerId`; a pool is made when its node is added (`Context::peer_added`
//! in cluster/membership.rs), never by position.

use std::io;
use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::Interest;

use crate::cluster::coordinator::ERR_PEER_REFUSED;
use crate::conf::PoolConf;
use crate::conn::{Conn, ConnKind, ConnState, Sock};
use crate::core::{
    Context, Timer, TIMEOUT_PEER_READ, TIMEOUT_PEER_WRITE, TIMEOUT_REMOTE_READ,
    TIMEOUT_REMOTE_WRITE,
};
use crate::dnode::msg::{write_header, DmsgHeader, DmsgType, FLAG_RESP3};
use crate::ids::PeerId;
use crate::msg::{ConnId, MsgId};
use crate::server::Slot;

/// Reconnect back-off: 1 s doubling up to 10 s.
const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The outgoing connections to one peer.
#[derive(Debug, Clone)]
pub struct PeerPool {
    /// One slot per connection; none for this node.
    pub slots: Vec<Slot>,
}

/// The outgoing pools of every node, keyed by the topology's `PeerId`: a
/// pool is created in the same call that adds its node
/// (`Context::peer_added`), so the two never disagree on who exists. Indexed
/// by `PeerId` only, never by a position.
#[derive(Debug, Clone)]
pub struct PeerPools {
    /// Pool of node `i` at `i`; `None` where no node has that id.
    pools: Vec<Option<PeerPool>>,
    /// Slots for a peer of this DC (`local_peer_connections`).
    local_conns: usize,
    /// Slots for a peer of another DC (`remote_peer_connections`).
    remote_conns: usize,
}

impl PeerPools {
    /// No pool yet; slot counts from the configuration (at least one).
    pub fn new(pool: &PoolConf) -> PeerPools {
        PeerPools {
            pools: Vec::new(),
            local_conns: pool.local_peer_connections.max(1) as usize,
            remote_conns: pool.remote_peer_connections.max(1) as usize,
        }
    }

    /// Creates the pool of node `id`: `local_peer_connections` slots for a
    /// peer of this DC, `remote_peer_connections` for others, none for this
    /// node.
    pub fn add(&mut self, id: PeerId, same_dc: bool) {
        let n = if id.is_local() {
            0
        } else if same_dc {
            self.local_conns
        } else {
            self.remote_conns
        };
        if self.pools.len() <= id.idx() {
            self.pools.resize_with(id.idx() + 1, || None);
        }
        debug_assert!(self.pools[id.idx()].is_none(), "peer {} added twice", id.0);
        self.pools[id.idx()] = Some(PeerPool {
            slots: vec![Slot::default(); n],
        });
    }

    /// The pool of node `id`, if it exists.
    pub fn get(&self, id: PeerId) -> Option<&PeerPool> {
        self.pools.get(id.idx()).and_then(Option::as_ref)
    }
}

impl Index<PeerId> for PeerPools {
    type Output = PeerPool;

    fn index(&self, id: PeerId) -> &PeerPool {
        self.pools[id.idx()].as_ref().expect("peer has a pool")
    }
}

impl IndexMut<PeerId> for PeerPools {
    fn index_mut(&mut self, id: PeerId) -> &mut PeerPool {
        self.pools[id.idx()].as_mut().expect("peer has a pool")
    }
}

impl Context {
    /// Opens every slot of every peer (at start).
    pub fn peers_connect(&mut self) {
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
        let sock = match mio::net::TcpStream::connect(addr) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                Sock::Tcp(s)
            }
            Err(e) => {
                warn!("connect to peer {name} failed: {e}");
                self.peer_failed(peer, slot);
                return;
            }
        };
        let mut conn = Conn::new(
            ConnKind::DnodePeer,
            ConnState::Connecting,
            sock,
            name.clone(),
        );
        conn.peer_slot = Some((peer, slot));
        match self.add_conn(conn, Interest::READABLE | Interest::WRITABLE) {
            Ok(cid) => {
                let sl = &mut self.peers[peer].slots[slot];
                sl.conn = Some(cid);
                sl.retry_at = None;
                debug!("dn {} connecting to peer {}", cid.0, name);
            }
            Err(e) => {
                warn!("registering a connection to peer {name} failed: {e}");
                self.peer_failed(peer, slot);
            }
        }
    }

    fn peer_failed(&mut self, peer: PeerId, slot: usize) {
        let sl = &mut self.peers[peer].slots[slot];
        sl.conn = None;
        sl.backoff = if sl.backoff.is_zero() {
            BACKOFF_START
        } else {
            (sl.backoff * 2).min(BACKOFF_MAX)
        };
        let at = Instant::now() + sl.backoff;
        sl.retry_at = Some(at);
        self.add_timer(at, Timer::PeerReconnect { peer, slot });
    }

    /// The reconnect timer of a peer slot fired.
    pub fn peer_reconnect(&mut self, peer: PeerId, slot: usize) {
        let sl = &self.peers[peer].slots[slot];
        if sl.conn.is_some() || sl.retry_at.is_none_or(|t| t > Instant::now()) {
            return;
        }
        self.peer_connect(peer, slot);
    }

    /// A connect to a peer completed.
    pub fn peer_connected(&mut self, cid: ConnId) {
        let c = &self.conns[cid.0];
        let (peer, slot) = c.peer_slot.expect("peer conn has a slot");
        info!("dn {} connected to peer {}", cid.0, c.peer);
        self.peers[peer].slots[slot].backoff = Duration::ZERO;
    }

    /// Queues a request for a peer; false when the slot is not connected.
    pub fn peer_forward(&mut self, mid: MsgId, peer: PeerId, forward: bool) -> bool {
        let pool = &self.peers[peer];
        if pool.slots.is_empty() || !self.topology.peer(peer).state.routable() {
            return false;
        }
        let owner = self.msgs[mid].owner.map_or(0, |c| c.0);
        let slot = owner % pool.slots.len();
        let Some(cid) = pool.slots[slot].conn else {
            return false;
        };
        if self.conns[cid.0].state != ConnState::Connected {
            return false;
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
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        write_header(&mut bytes, &h, m.mlen as usize);
        let hseg = self.small_seg(&bytes);
        self.scratch = bytes;
        let m = &mut self.msgs[mid];
        if let Some(old) = m.hdr.take() {
            self.mbufs.put(old.buf);
        }
        m.hdr = Some(hseg);
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
        let q = &mut self.conns[cid.0].imsg_q;
        q.push_back(mid);
        let depth = if same_dc {
            &mut self.stats.peer_in_queue
        } else {
            &mut self.stats.remote_peer_in_queue
        };
        depth.record(q.len() as u64);
        self.schedule_flush(cid);
        true
    }

    /// A reply frame with id `id` arrived: match it with the oldest
    /// outstanding request (older ones were lost and fail; a stale reply is
    /// dropped).
    pub fn peer_reply(&mut self, cid: ConnId, rsp: MsgId, id: u64) {
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
            let m = &mut self.msgs[req];
            m.in_server = false;
            if id == rid {
                if let Some(sent) = m.sent_at {
                    let micros = self.now.saturating_duration_since(sent).as_micros() as u64;
                    let dest = PeerId(m.dest);
                    let bytes = self.msgs[rsp].mlen;
                    self.stats.record_peer_response(dest, bytes, micros);
                }
                let m = &self.msgs[req];
                if m.swallow || m.done {
                    self.msgs.put(&mut self.mbufs, rsp);
                    self.try_free(req);
                } else {
                    self.attach_reply(req, rsp);
                }
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

    /// A request to a peer failed: try the next replica of a failover read,
    /// else answer the error.
    fn peer_request_failed(&mut self, req: MsgId, text: &str) {
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

    /// An outgoing peer connection closed.
    pub fn peer_closed(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let (peer, slot) = c.peer_slot.expect("peer conn has a slot");
        let eof = c.eof;
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
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
            self.msgs[mid].in_server = false;
            self.peer_request_failed(mid, ERR_PEER_REFUSED);
        }
        if self.peers[peer].slots[slot].conn == Some(cid) {
            self.peer_failed(peer, slot);
        }
    }
}

/// An error on a peer connection's stream.
pub fn bad_frame(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}
