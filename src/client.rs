//! Client connections (dyn_client.c): read requests, hand them to routing,
//! write replies back strictly in request order.
//!
//! ```text
//!  recv ─► parse ─► omsg_q.push(req) ─► request routing (request.rs)
//!                                            │
//!  send ◄─ writev of every reply ready at the head of omsg_q
//! ```
//!
//! A framing error is answered with an error reply after the replies already
//! owed, then the connection closes; a bad command is answered and the
//! connection goes on. Inbound peers (`DnodeClient`) share the request
//! parsing and the writing here; their frame layer is in dnode/client.rs.
//! The handlers return an [`Outcome`]; the dispatcher closes.

use std::io;

use log::{debug, warn};

use crate::conn::{CloseReason, ConnKind, ConnState, Outcome, Role, IOV_MAX};
use crate::core::Context;
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::Parse;

/// Most requests one client may have outstanding; past it the client is
/// paused until replies drain (the original closed it at 20000).
pub const CLIENT_PENDING_MAX: usize = 20_000;

impl Context {
    /// Readable event on a client or inbound peer.
    pub(crate) fn client_recv(&mut self, cid: ConnId) -> Outcome {
        if self.conns[cid.0].state != ConnState::Connected {
            return Outcome::Ok;
        }
        match self.conn_read(cid) {
            Ok(false) => {
                // memcached `quit` with nothing owed: done.
                let c = &self.conns[cid.0];
                if c.state == ConnState::Eof && c.omsg_q.is_empty() {
                    Outcome::Close(CloseReason::Done)
                } else {
                    Outcome::Ok
                }
            }
            Ok(true) => self.client_eof(cid),
            Err(e) => {
                if e.kind() == io::ErrorKind::ConnectionReset {
                    debug!("c {} reset by peer", cid.0);
                } else if e.kind() == io::ErrorKind::InvalidData {
                    let c = &self.conns[cid.0];
                    if c.kind() == ConnKind::Client {
                        // Only TLS reports bad input from the socket itself.
                        warn!("c {} from {} closed: {}", cid.0, c.peer, e);
                    } else {
                        warn!("dc {} bad frame from peer: {}", cid.0, e);
                    }
                    return Outcome::Close(CloseReason::Protocol);
                } else {
                    warn!("c {} read failed: {}", cid.0, e);
                }
                Outcome::Close(CloseReason::Error)
            }
        }
    }

    /// The client shut its sending side: drop any unfinished request, write
    /// what is owed, then close.
    fn client_eof(&mut self, cid: ConnId) -> Outcome {
        let c = &mut self.conns[cid.0];
        debug!("c {} eof with {} replies owed", cid.0, c.omsg_q.len());
        c.state = ConnState::Eof;
        c.eof = true;
        c.no_more_input = true;
        if let Some(m) = c.rmsg.take() {
            self.msgs.put(&mut self.mbufs, m);
        }
        c.client_mut().parser.redis = Default::default();
        // A blocked or subscribed client that leaves is gone, as redis
        // sees it: nothing it is owed would come soon, if ever.
        if self.conns[cid.0].omsg_q.is_empty() || self.dedicated_in_use(cid) {
            Outcome::Close(CloseReason::Eof)
        } else {
            self.schedule_flush(cid);
            Outcome::Ok
        }
    }

    /// Parses buffered bytes into requests and routes each one.
    pub(crate) fn client_parse(&mut self, cid: ConnId) {
        while let Some(rmid) = self.client_parse_req(cid) {
            self.client_request(cid, rmid);
        }
    }

    /// Parses buffered bytes of a client or inbound peer into one request.
    /// Returns it once complete; `None` when every byte was taken, the
    /// client is paused, or input ended (a protocol error is answered here,
    /// behind the replies already owed).
    pub(crate) fn client_parse_req(&mut self, cid: ConnId) -> Option<MsgId> {
        let c = &mut self.conns[cid.0];
        if c.no_more_input || !c.is_active() {
            return None;
        }
        let buf = c.rbuf?;
        let filled = c.rend;
        if c.rpos >= filled {
            return None;
        }
        if c.omsg_q.len() >= CLIENT_PENDING_MAX {
            // Too much outstanding: pause until replies are written.
            if !c.blocked {
                c.blocked = true;
                self.blocked.push(cid);
            }
            return None;
        }
        let rmid = match c.rmsg {
            Some(m) => m,
            None => {
                if self.msgs.exhausted() {
                    c.blocked = true;
                    self.blocked.push(cid);
                    return None;
                }
                let m = self.msgs.get(MsgKind::Request);
                c.rmsg = Some(m);
                m
            }
        };
        let parser = match &mut c.role {
            Role::Client(s) => &mut s.parser,
            Role::DnodeClient(p) => &mut p.client.parser,
            _ => unreachable!("only clients read requests"),
        };
        let chunk = self.mbufs.range(buf, c.rpos, filled);
        let res = if self.settings.memcache {
            parser.memcache.parse(chunk, &mut self.msgs[rmid].mc)
        } else {
            parser.redis.parse(chunk, &mut self.msgs[rmid].req)
        };
        let start = c.rpos;
        match res {
            Parse::Again => {
                c.rpos = filled;
                self.msg_add_range(rmid, buf, start, filled);
                None
            }
            Parse::Done(k) => {
                c.rpos = start + k;
                c.rmsg = None;
                self.msg_add_range(rmid, buf, start, start + k);
                Some(rmid)
            }
            Parse::Error(text) if text == crate::errors::ERR_MC_BINARY => {
                // A memcached binary-protocol packet that cannot be framed:
                // one binary error response, then the connection is closed.
                let reply = crate::proto::memcache::binary_refusal(chunk);
                log::warn!(
                    "c {} {} memcached binary protocol: bad request packet, closing",
                    cid.0,
                    c.peer
                );
                c.rpos = filled;
                c.rmsg = None;
                c.no_more_input = true;
                let m = &mut self.msgs[rmid];
                m.owner = Some(cid);
                m.in_client = true;
                m.close_after = true;
                self.conns[cid.0].omsg_q.push_back(rmid);
                self.reply_bytes(rmid, &reply);
                None
            }
            Parse::Error(text) => {
                debug!("c {} protocol error: {}", cid.0, text);
                c.rpos = filled;
                c.rmsg = None;
                c.no_more_input = true;
                // The unfinished request becomes the carrier of the error
                // reply, queued behind the replies already owed.
                let m = &mut self.msgs[rmid];
                m.owner = Some(cid);
                m.in_client = true;
                m.close_after = true;
                self.conns[cid.0].omsg_q.push_back(rmid);
                self.reply_error(rmid, text);
                None
            }
        }
    }

    /// Writes every reply ready at the head of the queue with one writev.
    pub(crate) fn client_send(&mut self, cid: ConnId) -> Outcome {
        match self.tls_flush(cid) {
            Ok(true) => {}
            Ok(false) => return Outcome::Ok,
            Err(e) => {
                debug!("c {} write failed: {}", cid.0, e);
                return Outcome::Close(CloseReason::Error);
            }
        }
        loop {
            let c = &self.conns[cid.0];
            let mut iov = [io::IoSlice::new(&[]); IOV_MAX];
            let mut niov = 0;
            let mut skip = c.send_off;
            for &req in c.omsg_q.iter() {
                let m = &self.msgs[req];
                if !m.done {
                    break;
                }
                let rsp = &self.msgs[m.peer.expect("a done request has a reply")];
                let segs = rsp.wire_segs();
                if !self.mbufs.fill_iov(segs, &mut skip, &mut iov, &mut niov) {
                    break;
                }
            }
            if niov == 0 {
                // Nothing to write (or only empty replies): pop what is done.
                if self.client_sent(cid, 0) {
                    return Outcome::Close(CloseReason::Done);
                }
                self.set_write_interest(cid, false);
                return Outcome::Ok;
            }
            let res = self.conns[cid.0].sock.write_vectored(&iov[..niov]);
            match res {
                Ok(n) => {
                    if self.client_sent(cid, n as u64) {
                        return Outcome::Close(CloseReason::Done);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(cid, true);
                    return Outcome::Ok;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("c {} write failed: {}", cid.0, e);
                    return Outcome::Close(CloseReason::Error);
                }
            }
        }
    }

    /// Releases the requests whose replies were written completely. Returns
    /// true when the connection is done (a reply that closes it was written,
    /// or everything owed after EOF).
    fn client_sent(&mut self, cid: ConnId, n: u64) -> bool {
        let mut n = n + self.conns[cid.0].send_off;
        let mut close = false;
        loop {
            let c = &mut self.conns[cid.0];
            let Some(&req) = c.omsg_q.front() else { break };
            let m = &self.msgs[req];
            if !m.done {
                break;
            }
            let len = self.msgs[m.peer.expect("done")].wire_len();
            if n < len {
                break;
            }
            n -= len;
            let kind = c.kind();
            c.omsg_q.pop_front();
            let m = &mut self.msgs[req];
            m.in_client = false;
            close |= m.close_after;
            if let (Some(start), Some(cmd)) = (m.start, m.cmd) {
                let micros = self.now.saturating_duration_since(start).as_micros() as u64;
                self.stats.record_latency(cmd.name, micros);
            }
            let m = &self.msgs[req];
            if m.peer.is_some_and(|r| self.msgs[r].rsp.ty == b'-') {
                if kind == ConnKind::DnodeClient {
                    self.stats.pool.peer_forward_error += 1;
                } else {
                    self.stats.pool.forward_error += 1;
                }
            }
            self.try_free(req);
            if close {
                break;
            }
        }
        let c = &mut self.conns[cid.0];
        c.send_off = n;
        let drained = c.omsg_q.is_empty();
        close || (drained && c.state == ConnState::Eof)
    }

    /// A client closed: its requests are released; those still at a server
    /// are marked so that their replies are dropped.
    pub(crate) fn client_closed(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let pool = &mut self.stats.pool;
        match (c.kind(), c.eof) {
            (ConnKind::Client, true) => pool.client_eof += 1,
            (ConnKind::Client, false) => pool.client_err += 1,
            (_, true) => pool.dnode_client_eof += 1,
            (_, false) => pool.dnode_client_err += 1,
        }
        let reqs: Vec<_> = c.omsg_q.drain(..).collect();
        // A datastore connection of its own (WATCH) goes with it.
        self.server_owned_release(cid);
        let dropped = reqs.iter().filter(|&&r| !self.msgs[r].done).count() as u64;
        self.stats.pool.client_dropped_requests += dropped;
        for req in reqs {
            let m = &mut self.msgs[req];
            m.in_client = false;
            m.swallow = true;
            self.try_free(req);
        }
        self.dedicated_client_closed(cid);
    }
}
