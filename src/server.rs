//! Datastore connections (dyn_server.c): the pools of connections to each
//! `servers` entry, connect and reconnect with back-off, sending requests and
//! pairing replies with them in order.
//!
//! ```text
//!  forward(req) ─► imsg_q ──writev──► inflight (omsg_q) ──reply──► req.peer
//!                                        │ timeout: the request alone fails,
//!                                        │ its late reply is swallowed
//!  error / EOF: every request on the connection fails, reconnect after
//!  1 s, 2 s, 4 s … up to server_retry_timeout
//! ```
//!
//! Each server has two pools of `datastore_connections` connections: one for
//! RESP2 clients and one (opened on first use, with `HELLO 3` sent first) for
//! RESP3 clients, so that replies pass through unchanged.

use std::io;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::Interest;

use crate::cluster::coordinator::ERR_PEER_TIMEOUT;
use crate::conf::{Endpoint, ServerConf};
use crate::conn::{Conn, ConnKind, ConnState, ServerSlot, Sock};
use crate::core::{Context, Timer, TIMEOUT_DATASTORE};
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::Parse;

/// Reconnect back-off starts here and doubles.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Most iovecs handed to one writev (twemproxy's NC_IOV_MAX); kept on the stack.
pub const IOV_MAX: usize = 128;

/// The RESP3 handshake sent first on connections of the RESP3 pool.
const HELLO3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

/// State of one connection slot of a server.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The live connection, if any.
    pub conn: Option<ConnId>,
    /// A reconnect is scheduled for this instant; until then requests fail.
    pub retry_at: Option<Instant>,
    /// Current back-off.
    pub backoff: Duration,
}

/// One `servers` entry and its connection pools.
#[derive(Debug)]
pub struct Server {
    pub conf: ServerConf,
    /// `pools[0]` serves RESP2 clients, `pools[1]` RESP3 clients.
    pub pools: [Vec<Slot>; 2],
    /// Consecutive failures (connect refused, connection lost).
    pub failures: u32,
    /// Ejected from key placement until this instant (`auto_eject_hosts`).
    pub ejected_until: Option<Instant>,
}

impl Server {
    /// A server with `n` connection slots per protocol.
    pub fn new(conf: ServerConf, n: usize) -> Server {
        Server {
            conf,
            pools: [vec![Slot::default(); n], vec![Slot::default(); n]],
            failures: 0,
            ejected_until: None,
        }
    }

    /// True while the server is ejected from placement.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|t| t > now)
    }
}

pub use crate::errors::{ERR_REFUSED, ERR_TIMEOUT};

impl Context {
    /// Opens the RESP2 pool of every server at start (`preconnect`).
    pub fn preconnect(&mut self) {
        if !self.settings.preconnect {
            return;
        }
        for s in 0..self.servers.len() {
            for slot in 0..self.settings.datastore_connections {
                self.server_connect(s, 0, slot);
            }
        }
    }

    /// Starts a non-blocking connect for one slot. On immediate failure the
    /// slot gets a reconnect timer.
    pub fn server_connect(&mut self, server: usize, proto: usize, slot: usize) -> Option<ConnId> {
        let endpoint = self.servers[server].conf.endpoint.clone();
        let name = self.servers[server].conf.name.clone();
        let sock = match &endpoint {
            Endpoint::Tcp { addr, .. } => mio::net::TcpStream::connect(*addr).map(|s| {
                let _ = s.set_nodelay(true);
                Sock::Tcp(s)
            }),
            Endpoint::Unix(path) => mio::net::UnixStream::connect(path).map(Sock::Unix),
        };
        let sock = match sock {
            Ok(s) => s,
            Err(e) => {
                warn!("connect to datastore {name} failed: {e}");
                self.server_failed(server, proto, slot);
                return None;
            }
        };
        let mut conn = Conn::new(ConnKind::Server, ConnState::Connecting, sock, name.clone());
        conn.slot = Some(ServerSlot {
            server,
            proto,
            slot,
        });
        let cid = match self.add_conn(conn, Interest::READABLE | Interest::WRITABLE) {
            Ok(c) => c,
            Err(e) => {
                warn!("registering datastore connection to {name} failed: {e}");
                self.server_failed(server, proto, slot);
                return None;
            }
        };
        let s = &mut self.servers[server].pools[proto][slot];
        s.conn = Some(cid);
        s.retry_at = None;
        debug!(
            "s {} connecting to {} (pool {} slot {})",
            cid.0, name, proto, slot
        );
        if proto == 1 {
            // The RESP3 pool says HELLO 3 before anything else; its reply is
            // read and dropped.
            let mid = self.msgs.get(MsgKind::Request);
            let m = &mut self.msgs[mid];
            m.swallow = true;
            m.in_server = true;
            let mut segs = std::mem::take(&mut m.segs);
            self.mbufs.append(&mut segs, HELLO3);
            let m = &mut self.msgs[mid];
            m.mlen = HELLO3.len() as u64;
            m.segs = segs;
            self.conns[cid.0].imsg_q.push_back(mid);
        }
        Some(cid)
    }

    /// A connect in progress reported an event: finish it or fail it.
    pub fn server_connecting(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        match c.sock.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => {
                let what = if c.kind == ConnKind::DnodePeer {
                    "peer"
                } else {
                    "datastore"
                };
                warn!(
                    "{} {} connect to {} {} failed: {}",
                    c.kind.tag(),
                    cid.0,
                    what,
                    c.peer,
                    e
                );
                self.close_conn(cid);
                return;
            }
        }
        if !c.sock.is_connected() {
            return;
        }
        c.state = ConnState::Connected;
        if c.kind == ConnKind::DnodePeer {
            self.peer_connected(cid);
            self.set_write_interest(cid, false);
            self.schedule_flush(cid);
            return;
        }
        let slot = c.slot.expect("server conn has a slot");
        info!("s {} connected to datastore {}", cid.0, c.peer);
        let server = &mut self.servers[slot.server];
        server.failures = 0;
        server.ejected_until = None;
        server.pools[slot.proto][slot.slot].backoff = Duration::ZERO;
        self.set_write_interest(cid, false);
        self.schedule_flush(cid);
    }

    /// Records a failure of a slot and schedules its reconnect.
    fn server_failed(&mut self, server: usize, proto: usize, slot: usize) {
        let retry_max = self.settings.server_retry_timeout;
        let limit = self.settings.server_failure_limit;
        let eject = self.settings.auto_eject_hosts;
        let now = Instant::now();
        let s = &mut self.servers[server];
        s.failures = s.failures.saturating_add(1);
        if eject && s.failures >= limit && !s.is_ejected(now) {
            warn!(
                "datastore {} ejected for {:?} after {} failures",
                s.conf.name, retry_max, s.failures
            );
            s.ejected_until = Some(now + retry_max);
        }
        let sl = &mut s.pools[proto][slot];
        sl.conn = None;
        sl.backoff = if sl.backoff.is_zero() {
            BACKOFF_START
        } else {
            sl.backoff * 2
        };
        sl.backoff = sl.backoff.min(retry_max);
        let at = now + sl.backoff;
        sl.retry_at = Some(at);
        self.add_timer(
            at,
            Timer::Reconnect {
                server,
                proto,
                slot,
            },
        );
    }

    /// The reconnect timer of a slot fired.
    pub fn server_reconnect(&mut self, server: usize, proto: usize, slot: usize) {
        let sl = &self.servers[server].pools[proto][slot];
        if sl.conn.is_some() || sl.retry_at.is_none_or(|t| t > Instant::now()) {
            return;
        }
        self.server_connect(server, proto, slot);
    }

    /// Queues a request on the connection of `server` that serves `client`.
    /// Fails it at once when that connection is down.
    pub fn server_forward(&mut self, mid: MsgId, server: usize, client: ConnId) {
        let proto = usize::from(self.msgs[mid].resp3);
        let slot = client.0 % self.settings.datastore_connections;
        let sl = &self.servers[server].pools[proto][slot];
        let cid = match sl.conn {
            Some(c) => Some(c),
            None if sl.retry_at.is_none() => self.server_connect(server, proto, slot),
            None => None,
        };
        let Some(cid) = cid else {
            self.reply_error(mid, ERR_REFUSED);
            return;
        };
        debug_assert_eq!(self.conns[cid.0].kind, ConnKind::Server);
        let m = &mut self.msgs[mid];
        m.in_server = true;
        m.sent_at = Some(self.now);
        m.dest = server as u32;
        if let Some(cmd) = m.cmd {
            let bytes = m.mlen;
            self.stats
                .record_server_request(server, cmd.name, cmd.write, bytes, true);
        }
        let q = &mut self.conns[cid.0].imsg_q;
        q.push_back(mid);
        self.stats.server_in_queue.record(q.len() as u64);
        self.arm_timeout(mid, TIMEOUT_DATASTORE);
        self.schedule_flush(cid);
    }

    /// A request's deadline passed: it alone fails; its reply, if it ever
    /// comes, is dropped.
    pub fn request_timed_out(&mut self, mid: MsgId, uid: u64, class: usize) {
        let Some(m) = self.msgs.get_checked(mid, uid) else {
            return;
        };
        if m.done || !m.in_server || m.swallow {
            return;
        }
        debug!("request {} timed out", uid);
        self.msgs[mid].swallow = true;
        let dest = self.msgs[mid].dest as usize;
        if class == TIMEOUT_DATASTORE {
            if let Some((_, st)) = self.stats.servers.get_mut(dest) {
                st.server_timedout_requests += 1;
            }
        } else if self.topology.get(crate::ids::PeerId(dest as u32)).is_some() {
            self.stats
                .record_peer_timeout(crate::ids::PeerId(dest as u32));
        }
        let text = if class == TIMEOUT_DATASTORE {
            ERR_TIMEOUT
        } else {
            ERR_PEER_TIMEOUT
        };
        self.reply_error(mid, text);
    }

    /// Writes queued requests with one writev.
    pub fn server_send(&mut self, cid: ConnId) {
        loop {
            let c = &self.conns[cid.0];
            if c.state != ConnState::Connected || c.imsg_q.is_empty() {
                if c.state == ConnState::Connected {
                    self.set_write_interest(cid, false);
                }
                return;
            }
            let mut iov = [io::IoSlice::new(&[]); IOV_MAX];
            let mut niov = 0;
            let mut skip = c.send_off;
            for &mid in c.imsg_q.iter() {
                let m = &self.msgs[mid];
                let segs = m.hdr.iter().chain(m.segs.iter());
                if !self.mbufs.fill_iov(segs, &mut skip, &mut iov, &mut niov) {
                    break;
                }
            }
            let res = self.conns[cid.0].sock.write_vectored(&iov[..niov]);
            match res {
                Ok(n) => self.server_sent(cid, n as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(cid, true);
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    warn!("s {} write to datastore failed: {}", cid.0, e);
                    self.close_conn(cid);
                    return;
                }
            }
        }
    }

    /// Moves fully written requests from `imsg_q` to the in-flight queue.
    fn server_sent(&mut self, cid: ConnId, mut n: u64) {
        let mut written = Vec::new();
        let c = &mut self.conns[cid.0];
        // Where the queue waits and depths of this connection are recorded.
        let (wait, depth) = match c.peer_slot {
            None => (
                &mut self.stats.server_queue_wait,
                &mut self.stats.server_out_queue,
            ),
            Some((p, _)) if self.topology.same_dc(p) => (
                &mut self.stats.cross_zone_queue_wait,
                &mut self.stats.peer_out_queue,
            ),
            Some(_) => (
                &mut self.stats.cross_region_queue_wait,
                &mut self.stats.remote_peer_out_queue,
            ),
        };
        n += c.send_off;
        while let Some(&mid) = c.imsg_q.front() {
            let m = &self.msgs[mid];
            let len = m.wire_len();
            if n < len {
                break;
            }
            n -= len;
            c.imsg_q.pop_front();
            if let Some(queued) = m.sent_at {
                wait.record(self.now.saturating_duration_since(queued).as_micros() as u64);
            }
            if m.noreply {
                written.push(mid);
            } else {
                c.omsg_q.push_back(mid);
                depth.record(c.omsg_q.len() as u64);
            }
        }
        c.send_off = n;
        // No reply will come for these: they are done once written.
        for mid in written {
            self.msgs[mid].in_server = false;
            self.try_free(mid);
        }
    }

    /// Reads replies.
    pub fn server_recv(&mut self, cid: ConnId) {
        let res = self.conn_read(cid).and_then(|eof| {
            if eof {
                Err(io::Error::from(io::ErrorKind::UnexpectedEof))
            } else {
                Ok(())
            }
        });
        match res {
            Ok(()) => {}
            Err(e) => {
                let eof = e.kind() == io::ErrorKind::UnexpectedEof;
                self.conns[cid.0].eof = eof;
                let c = &self.conns[cid.0];
                let what = if c.kind == ConnKind::DnodePeer {
                    "peer"
                } else {
                    "datastore"
                };
                if eof {
                    info!(
                        "{} {} {} {} closed the connection",
                        c.kind.tag(),
                        cid.0,
                        what,
                        c.peer
                    );
                } else {
                    warn!("{} {} {} {}: {}", c.kind.tag(), cid.0, what, c.peer, e);
                }
                self.close_conn(cid);
            }
        }
    }

    /// Parses what is buffered for a server connection into replies.
    pub fn server_parse(&mut self, cid: ConnId) -> io::Result<()> {
        loop {
            let c = &mut self.conns[cid.0];
            let Some(buf) = c.rbuf else { return Ok(()) };
            let filled = c.rend;
            if c.rpos >= filled {
                return Ok(());
            }
            if !self.frame_layer(cid, buf, filled)? {
                return Ok(());
            }
            let c = &mut self.conns[cid.0];
            if c.rpos >= filled {
                return Ok(());
            }
            let rmid = match c.rmsg {
                Some(m) => m,
                None => {
                    let m = self.msgs.get(MsgKind::Response);
                    // MGET fragments need the element ranges of their reply.
                    let record = c
                        .omsg_q
                        .front()
                        .and_then(|&r| self.msgs[r].parent)
                        .is_some();
                    self.msgs[m].rsp.record_elems = record;
                    c.rmsg = Some(m);
                    m
                }
            };
            let chunk = self.mbufs.range(buf, c.rpos, filled);
            let m = &mut self.msgs[rmid];
            let res = if self.settings.memcache {
                let r = c.mc_rsp_parser.parse(chunk, &mut m.mcr);
                if let Parse::Done(_) = r {
                    crate::memcache::summarize_reply(m);
                }
                r
            } else {
                c.rsp_parser.parse(chunk, &mut m.rsp)
            };
            let start = c.rpos;
            let end = match res {
                Parse::Done(k) => start + k,
                Parse::Again => filled,
                Parse::Error(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad reply: {e}"),
                    ));
                }
            };
            c.rpos = end;
            self.msg_add_range(rmid, buf, start, end);
            if let Parse::Done(_) = res {
                let c = &mut self.conns[cid.0];
                c.rmsg = None;
                match c.dhdr.take() {
                    Some(h) => self.peer_reply(cid, rmid, h.id),
                    None => self.server_reply(cid, rmid)?,
                }
            }
        }
    }

    /// A complete reply arrived: pair it with the oldest in-flight request.
    fn server_reply(&mut self, cid: ConnId, rsp: MsgId) -> io::Result<()> {
        if self.msgs[rsp].rsp.ty == b'>' {
            // RESP3 push data is out of band: no request waits for it.
            self.msgs.put(&mut self.mbufs, rsp);
            return Ok(());
        }
        let Some(req) = self.conns[cid.0].omsg_q.pop_front() else {
            self.msgs.put(&mut self.mbufs, rsp);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply without a request",
            ));
        };
        let m = &mut self.msgs[req];
        m.in_server = false;
        if let (Some(sent), Some(cmd)) = (m.sent_at, m.cmd) {
            let micros = self.now.saturating_duration_since(sent).as_micros() as u64;
            let server = m.dest as usize;
            let bytes = self.msgs[rsp].mlen;
            self.stats
                .record_server_response(server, cmd.write, bytes, micros);
        }
        let m = &self.msgs[req];
        if m.swallow || m.done {
            self.msgs.put(&mut self.mbufs, rsp);
            self.try_free(req);
            return Ok(());
        }
        self.attach_reply(req, rsp);
        Ok(())
    }

    /// A server connection closed: everything on it fails, the slot reconnects
    /// after its back-off.
    pub fn server_closed(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let slot = c.slot.expect("server conn has a slot");
        let eof = c.eof;
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
        let dropped = queued
            .iter()
            .filter(|&&m| !self.msgs[m].swallow && !self.msgs[m].done)
            .count() as u64;
        self.stats.pool.server_ejects += 1;
        if let Some((_, st)) = self.stats.servers.get_mut(slot.server) {
            if eof {
                st.server_eof += 1;
            } else {
                st.server_err += 1;
            }
            st.server_dropped_requests += dropped;
            st.server_ejected_at = unix_ms();
        }
        for mid in queued {
            let m = &mut self.msgs[mid];
            m.in_server = false;
            if m.swallow || m.done {
                self.try_free(mid);
            } else {
                self.reply_error(mid, ERR_REFUSED);
            }
        }
        let sl = &self.servers[slot.server].pools[slot.proto][slot.slot];
        if sl.conn == Some(cid) {
            self.server_failed(slot.server, slot.proto, slot.slot);
        }
    }
}

/// Milliseconds since the Unix epoch (the stats' `*_ejected_at`).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
