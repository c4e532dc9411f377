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
//! Reconnects back off from 1 s to 10 s.
//!
//! `PeerPools` holds the slots of every node, keyed by the topology's
//! `PeerId`; a pool is made when its node is added (`Context::peer_added`
//! in cluster/membership.rs), never by position.

use std::io;
use std::time::Instant;

use log::{debug, info, warn};
use mio::Interest;

use crate::conn::{CloseReason, Conn, ConnState, Outcome, QueueStats, Role, Sock};
use crate::conn_pool::PEER_BACKOFF_MAX;
pub use crate::conn_pool::{PeerPool, PeerPools};
use crate::core::{
    Context, FailedReq, Timer, TIMEOUT_PEER_READ, TIMEOUT_PEER_WRITE, TIMEOUT_REMOTE_READ,
    TIMEOUT_REMOTE_WRITE,
};
use crate::dnode::msg::{DmsgHeader, DmsgType, FLAG_RESP3};
use crate::errors::ERR_PEER_REFUSED;
use crate::ids::PeerId;
use crate::msg::{ConnId, MsgId};

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
                warn!("connect to peer {name} failed: {e}");
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
                self.peers[peer].slots[slot].connecting(cid);
                debug!("dn {} connecting to peer {}", cid.0, name);
            }
            Err(e) => {
                warn!("registering a connection to peer {name} failed: {e}");
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
                warn!("dn {} connect to peer {} failed: {}", cid.0, c.peer, e);
                return Outcome::Close(CloseReason::Error);
            }
        }
        let c = &self.conns[cid.0];
        let (peer, slot) = c.peer_slot().expect("peer conn has a slot");
        info!("dn {} connected to peer {}", cid.0, c.peer);
        self.peers[peer].slots[slot].connected();
        Outcome::Ok
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
        let (peer, _) = self.conns[cid.0].peer_slot().expect("peer conn has a slot");
        let queue = if self.topology.same_dc(peer) {
            QueueStats::Peer
        } else {
            QueueStats::RemotePeer
        };
        self.conn_sent(cid, n, queue);
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
            self.peer_reply(cid, rsp, h.id);
        }
        Ok(())
    }

    /// Queues a request for a peer; false when the slot is not connected.
    pub(crate) fn peer_forward(&mut self, mid: MsgId, peer: PeerId, forward: bool) -> bool {
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
            if m.swallow || m.done {
                self.try_free(mid);
            } else {
                self.failed.push_back(FailedReq {
                    mid,
                    uid: m.id,
                    error: ERR_PEER_REFUSED,
                    failover: true,
                });
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Topology;
    use crate::conf::Conf;
    use crate::core::Target;
    use crate::msg::MsgKind;

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
        assert!(ctx.peer_forward(mid, a, false));
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
}
