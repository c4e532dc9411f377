//! Datastore connections (dyn_server.c): the pools of connections to each
//! `servers` entry, connect and reconnect with back-off (the bookkeeping is
//! conn_pool.rs'), sending requests and pairing replies with them in order.
//! Only datastores: peers have their own handlers in dnode/peer.rs.
//!
//! ```text
//!  forward(req) ─► imsg_q ──writev──► inflight (omsg_q) ──reply──► req.peer
//!                                        │ timeout: the request alone fails,
//!                                        │ its late reply is swallowed
//!  error / EOF: the dispatcher closes; every request on the connection
//!  is queued to fail (answered by the loop, not inside the close), and the
//!  slot reconnects after 1 s, 2 s, 4 s … up to server_retry_timeout
//! ```
//!
//! A datastore that stops reading (SIGSTOP, a hung host) cannot stall the
//! node: a connection holds at most half the message pool (more requests
//! are answered "Datastore queue is full" at once), and the watchdog
//! (`servers_watchdog`) closes a connection whose connect takes longer than
//! `timeout` or that has requests outstanding and has answered (or written)
//! nothing for twice `timeout` (at least 1 s): its requests fail ("Datastore
//! timed out"), its memory is freed, and the slot reconnects at once. Reconnects back off from 1 s to at most 2 s (or
//! `server_retry_timeout` when lower), so a datastore that comes back is
//! used within about 2 s, even while ejected: a completed connect ends the
//! ejection.
//!
//! Each server has two pools of `datastore_connections` connections: one for
//! RESP2 clients and one (opened on first use, with `HELLO 3` sent first) for
//! RESP3 clients, so that replies pass through unchanged.
//!
//! Every connection starts with the node's own handshake, queued ahead of
//! the first requests (pipelined with them) and sent again on each
//! reconnect:
//!
//! ```text
//!  AUTH [redis_auth_user] redis_auth   when redis_auth is set
//!  HELLO 3                             RESP3 pool only
//!  SELECT redis_db                     when redis_db is not 0
//! ```
//!
//! Their replies come first and are read here, never given to a client
//! (`ServerState::handshake`). An error reply to AUTH or SELECT closes the
//! connection: its requests get `ERR Storage: datastore authentication
//! failed` (or the redis_db error), and so do requests sent to the slot
//! while it waits to reconnect with the usual back-off; the server's
//! `server_auth_failures` counts it, and a log line (at most one per
//! minute per server) names the server and redis' error code, never the
//! password.
//!
//! Dedicated connections serve one client alone (blocking commands,
//! subscriptions; see blocking.rs, pubsub.rs), for commands that hold a
//! connection for as long as they like:
//!
//! ```text
//!  server_connect_dedicated(client, server, resp3) ─► ConnId, or an error
//!      (DEDICATED_MAX per datastore)     same handshake, in no pool, not
//!                                        watched by servers_watchdog
//!  server_forward_dedicated(req, conn)   no request deadline: the caller's
//!  release_dedicated(conn)               closes it; also when the client
//!                                        closes (dedicated_client_closed)
//! ```
//!
//! `ServerSlot::owner` names the client; a dedicated connection's close
//! fails what it carries with the usual storage error and frees its place.
//!
//! Beside the two pools, a server has connections outside them
//! (`Server::extra`, `ServerState::extra`), opened on demand, never
//! reconnected (the next request opens a new one) and bounded:
//!
//! ```text
//!  server_db_conn      a pool per database other than redis_db (SELECT),
//!                      DB_POOLS_MAX databases per protocol
//!  server_owned_open   a connection owned by one client (WATCH), until
//!  server_owned_release  it lets it go (closed once idle) or closes;
//!                      OWNED_CONNS_MAX per server
//!  server_oneshot      one request's connection (SCRIPT KILL), closed
//!                      after its reply; counted with the owned ones
//! ```
//!
//! A request goes on one of them when `server_extra_conn` says so (its
//! client owns a connection to that server, its database is not
//! `redis_db`, or it must not wait behind a busy script).

use std::io;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::Interest;

use crate::auth::held_back;
use crate::conf::Endpoint;
use crate::conn::{
    CloseReason, Conn, ConnKind, ConnState, ExtraConn, Outcome, QueueStats, Role, ServerSlot, Sock,
};
pub use crate::conn_pool::Server;
use crate::core::{Context, FailedReq, Timer, TIMEOUT_DATASTORE};
use crate::errors::ERR_DATASTORE_QUEUE_FULL;
use crate::msg::{ConnId, MsgId, MsgKind};

/// Cap of a datastore slot's reconnect back-off (or `server_retry_timeout`
/// when lower): the reconnect is the probe that brings a datastore back.
pub const SERVER_PROBE_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// The shortest time a datastore connection with requests outstanding may
/// go without answering before the watchdog closes it.
pub const SERVER_STALL_MIN: std::time::Duration = std::time::Duration::from_secs(1);

/// The RESP3 handshake sent first on connections of the RESP3 pool.
const HELLO3: &[u8] = b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";

/// `ServerState::handshake` bits: the node's AUTH, HELLO 3 and SELECT, in
/// the order they are sent (and answered).
const HANDSHAKE_AUTH: u8 = 1;
const HANDSHAKE_HELLO: u8 = 2;
const HANDSHAKE_SELECT: u8 = 4;
/// At most one log line per this period per server about a refused
/// handshake (a wrong password is refused at every reconnect).
const AUTH_LOG_EVERY: Duration = Duration::from_secs(60);

use crate::errors::{ERR_DB_POOLS, ERR_DB_RANGE, ERR_OWNED_CONNS};
pub use crate::errors::{
    ERR_DEDICATED_LIMIT, ERR_REFUSED, ERR_STORAGE_AUTH, ERR_STORAGE_DB, ERR_TIMEOUT,
};

/// Most dedicated connections (blocked clients, subscribers) open to one
/// datastore at a time; redis' own default `maxclients` is 10000, and the
/// node's pools need their share of it.
pub const DEDICATED_MAX: usize = 1024;

/// Most datastore connections owned by one client each (WATCH), per
/// server; past it WATCH gets [`ERR_OWNED_CONNS`].
pub const OWNED_CONNS_MAX: usize = 256;
/// Most databases other than `redis_db` with a pool of their own, per
/// server and protocol; past it requests in another database get
/// [`ERR_DB_POOLS`].
pub const DB_POOLS_MAX: usize = 16;

impl Context {
    /// Opens the RESP2 pool of every server at start (`preconnect`).
    pub(crate) fn preconnect(&mut self) {
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
    pub(crate) fn server_connect(
        &mut self,
        server: usize,
        proto: usize,
        slot: usize,
    ) -> Option<ConnId> {
        let sl = ServerSlot {
            server,
            proto,
            slot,
            owner: None,
        };
        let cid = match self.server_open(sl, None) {
            Ok(c) => c,
            Err(()) => {
                self.server_failed(server, proto, slot);
                return None;
            }
        };
        self.servers[server].pools[proto][slot].connecting(cid, Instant::now());
        Some(cid)
    }

    /// Opens a datastore connection for `sl` (a pool slot, a dedicated
    /// connection, or with `extra` a connection outside the pools) and
    /// queues the node's handshake on it: AUTH, HELLO 3 (RESP3), SELECT (the
    /// database of `extra`, else `redis_db`, when not 0). A failure is
    /// logged here.
    fn server_open(&mut self, sl: ServerSlot, extra: Option<ExtraConn>) -> Result<ConnId, ()> {
        let server = sl.server;
        let proto = sl.proto;
        let endpoint = self.servers[server].conf.endpoint.clone();
        let name = self.servers[server].conf.name.clone();
        let sock = match &endpoint {
            Endpoint::Tcp { addr, .. } => Sock::connect_tcp(*addr),
            Endpoint::Unix(path) => mio::net::UnixStream::connect(path).map(Sock::Unix),
        }
        .and_then(|s| self.datastore_tls_sock(s, &endpoint));
        let sock = match sock {
            Ok(s) => s,
            Err(e) => {
                warn!("connect to datastore {name} failed: {e}");
                return Err(());
            }
        };
        let mut role = Role::server(sl);
        if let Role::Server(st) = &mut role {
            st.extra = extra;
        }
        let conn = Conn::new(role, ConnState::Connecting, sock, name.clone());
        let cid = match self.add_conn(conn, Interest::READABLE | Interest::WRITABLE) {
            Ok(c) => c,
            Err(e) => {
                warn!("registering datastore connection to {name} failed: {e}");
                return Err(());
            }
        };
        debug!(
            "s {} connecting to {} (pool {} slot {}{})",
            cid.0,
            name,
            proto,
            sl.slot,
            match (sl.owner, extra) {
                (Some(c), _) => format!(", dedicated to c {}", c.0),
                (
                    None,
                    Some(ExtraConn {
                        db, owner: None, ..
                    }),
                ) => format!(", database {db}"),
                (
                    None,
                    Some(ExtraConn {
                        db, owner: Some(c), ..
                    }),
                ) => format!(", database {db}, owned by c {}", c.0),
                (None, None) => String::new(),
            }
        );
        let mut steps = 0;
        if let Some(pass) = &self.settings.auth.redis_auth {
            let mut auth = Vec::with_capacity(64);
            let pass = pass.expose().as_bytes();
            match self.settings.auth.redis_auth_user.as_deref() {
                Some(user) => resp_command(&mut auth, &[b"AUTH", user.as_bytes(), pass]),
                None => resp_command(&mut auth, &[b"AUTH", pass]),
            }
            self.server_handshake(cid, &auth);
            // Wipe this temporary copy of the password.
            auth.fill(0);
            steps |= HANDSHAKE_AUTH;
        }
        if proto == 1 {
            // The RESP3 pool says HELLO 3 before any request; its reply is
            // read and dropped.
            self.server_handshake(cid, HELLO3);
            steps |= HANDSHAKE_HELLO;
        }
        // A dedicated connection (blocking, subscriptions) runs in the
        // database its client selected.
        let db = match (extra, sl.owner) {
            (Some(e), _) => e.db,
            (None, Some(client)) => self
                .conns
                .get(client.0)
                .and_then(|c| c.client_state())
                .and_then(|st| st.db)
                .unwrap_or(self.settings.auth.redis_db),
            (None, None) => self.settings.auth.redis_db,
        };
        if db != 0 {
            let mut select = Vec::with_capacity(32);
            resp_command(&mut select, &[b"SELECT", db.to_string().as_bytes()]);
            self.server_handshake(cid, &select);
            steps |= HANDSHAKE_SELECT;
        }
        if let Some(st) = self.conns[cid.0].server_state_mut() {
            st.handshake = steps;
        }
        Ok(cid)
    }

    /// The pool slot a connection fills; `None` for a dedicated connection,
    /// which sits in no pool.
    fn pool_slot(&mut self, sl: ServerSlot) -> Option<&mut crate::conn_pool::Slot> {
        if sl.owner.is_some() {
            return None;
        }
        Some(&mut self.servers[sl.server].pools[sl.proto][sl.slot])
    }

    /// Opens a datastore connection of `client`'s own to `server`, in the
    /// protocol of the RESP3 pool when `resp3` (blocking commands,
    /// subscriptions; transactions with WATCH can use the same). It gets
    /// the handshake every datastore connection gets (AUTH `redis_auth`,
    /// HELLO 3, SELECT `redis_db`), sits in no pool, is not watched for
    /// stalls (it may wait as long as its command does) and serves only
    /// its client: requests are queued on it with
    /// [`Context::server_forward_dedicated`], and it is closed with
    /// [`Context::release_dedicated`], at the latest when the client
    /// closes. At most [`DEDICATED_MAX`] are open to one datastore: past
    /// that the caller gets [`ERR_DEDICATED_LIMIT`] to answer.
    pub(crate) fn server_connect_dedicated(
        &mut self,
        client: ConnId,
        server: usize,
        resp3: bool,
    ) -> Result<ConnId, &'static str> {
        let s = &mut self.servers[server];
        if s.dedicated >= DEDICATED_MAX {
            self.stats.faults.dedicated_refused += 1;
            if let Some(held) = s.log.allow(self.now) {
                warn!(
                    "datastore {}: {} dedicated connections open, c {} refused \
                     ({held} more not logged)",
                    s.conf.name, s.dedicated, client.0
                );
            }
            return Err(ERR_DEDICATED_LIMIT);
        }
        let sl = ServerSlot {
            server,
            proto: usize::from(resp3),
            slot: 0,
            owner: Some(client),
        };
        match self.server_open(sl, None) {
            Ok(cid) => {
                self.servers[server].dedicated += 1;
                Ok(cid)
            }
            Err(()) => Err(ERR_REFUSED),
        }
    }

    /// Queues a request on dedicated connection `cid`. No request deadline
    /// is armed: the caller knows how long the command may take (see
    /// blocking.rs).
    pub(crate) fn server_forward_dedicated(&mut self, mid: MsgId, cid: ConnId) {
        debug_assert!(self.conns[cid.0]
            .server_slot()
            .is_some_and(|s| s.owner.is_some()));
        let server = self.conns[cid.0].server_slot().map_or(0, |s| s.server);
        let m = &mut self.msgs[mid];
        m.in_server = true;
        m.sent_at = Some(self.now);
        m.dest = server as u32;
        self.conns[cid.0].imsg_q.push_back(mid);
        self.schedule_flush(cid);
    }

    /// True when `cid` is a live dedicated connection of `client`.
    pub(crate) fn is_dedicated_of(&self, cid: ConnId, client: ConnId) -> bool {
        self.conns.get(cid.0).is_some_and(|c| {
            c.is_active() && c.server_slot().is_some_and(|s| s.owner == Some(client))
        })
    }

    /// `Timer::ReleaseDedicated`: closes dedicated connection `conn` of
    /// `owner` if nothing is queued on it and it holds no subscription.
    pub(crate) fn dedicated_idle(&mut self, conn: ConnId, owner: ConnId) {
        if !self.is_dedicated_of(conn, owner) {
            return;
        }
        let c = &self.conns[conn.0];
        if !c.imsg_q.is_empty() || !c.omsg_q.is_empty() {
            return;
        }
        let Some(cs) = self.conns[owner.0].client_state() else {
            return;
        };
        if cs.sub_conn == Some(conn) && cs.subscribed {
            return;
        }
        self.release_dedicated(conn);
    }

    /// True when client `cid` holds a dedicated connection (blocked, or
    /// subscribed).
    pub(crate) fn dedicated_in_use(&self, cid: ConnId) -> bool {
        let Some(cs) = self.conns.get(cid.0).and_then(|c| c.client_state()) else {
            return false;
        };
        [cs.blocking_conn, cs.sub_conn]
            .into_iter()
            .flatten()
            .any(|c| self.is_dedicated_of(c, cid))
    }

    /// Client `cid` closed: its dedicated connections go with it (a blocked
    /// command is forgotten by redis, subscriptions end).
    pub(crate) fn dedicated_client_closed(&mut self, cid: ConnId) {
        let Some(cs) = self.conns.get(cid.0).and_then(|c| c.client_state()) else {
            return;
        };
        let conns = [cs.blocking_conn, cs.sub_conn];
        for conn in conns.into_iter().flatten() {
            if self.is_dedicated_of(conn, cid) {
                self.release_dedicated(conn);
            }
        }
    }

    /// Closes dedicated connection `cid`: requests still on it fail (or
    /// are dropped when their client is gone), and its place under
    /// `DEDICATED_MAX` is free again.
    pub(crate) fn release_dedicated(&mut self, cid: ConnId) {
        debug_assert!(self
            .conns
            .get(cid.0)
            .is_none_or(|c| c.server_slot().is_none_or(|s| s.owner.is_some())));
        self.close_conn(cid);
    }

    /// Queues one request of the node's own handshake on `cid`: its reply
    /// is read by `server_handshake_reply`, never given to a client.
    fn server_handshake(&mut self, cid: ConnId, bytes: &[u8]) {
        let mid = self.msgs.get(MsgKind::Request);
        let m = &mut self.msgs[mid];
        m.swallow = true;
        m.in_server = true;
        let mut segs = std::mem::take(&mut m.segs);
        self.mbufs.append(&mut segs, bytes);
        let m = &mut self.msgs[mid];
        m.mlen = bytes.len() as u64;
        m.segs = segs;
        self.conns[cid.0].imsg_q.push_back(mid);
    }

    /// The reply to the oldest handshake request still answered on `cid`.
    /// An error to AUTH or SELECT fails the connection (`Err`); the slot
    /// remembers why until a later handshake succeeds.
    fn server_handshake_reply(&mut self, cid: ConnId, rsp: MsgId) -> io::Result<()> {
        let c = &mut self.conns[cid.0];
        let slot = c.server_slot().expect("server conn has a slot");
        let st = c.server_state_mut().expect("server conn");
        debug_assert_ne!(st.handshake, 0);
        let step = st.handshake & st.handshake.wrapping_neg();
        st.handshake &= !step;
        let done = st.handshake == 0;
        let refused = self.msgs[rsp].rsp.ty == b'-';
        if let Some(extra) = self.conns[cid.0].server_extra() {
            // Outside the pools: no slot to mark; a refused SELECT is
            // redis' own error for the database.
            if !refused {
                return Ok(());
            }
            let text = if step == HANDSHAKE_SELECT {
                ERR_DB_RANGE
            } else {
                ERR_STORAGE_AUTH
            };
            if let Some(st) = self.conns[cid.0].server_state_mut() {
                st.close_error = Some(text);
            }
            debug!(
                "s {} datastore refused the handshake of database {}",
                cid.0, extra.db
            );
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "datastore refused the handshake",
            ));
        }
        let text = match step {
            HANDSHAKE_AUTH if refused => ERR_STORAGE_AUTH,
            HANDSHAKE_SELECT if refused => ERR_STORAGE_DB,
            _ => {
                if done {
                    if let Some(sl) = self.pool_slot(slot) {
                        sl.refused = None;
                    }
                }
                return Ok(());
            }
        };
        if let Some(st) = self.conns[cid.0].server_state_mut() {
            st.close_error = Some(text);
        }
        // The error's code (WRONGPASS, NOAUTH, ERR ...) alone: the rest of
        // a reply may echo the request, and the request held the password.
        let mut code = Vec::with_capacity(16);
        let m = &self.msgs[rsp];
        self.mbufs
            .copy_out(&m.segs, 1, m.mlen.saturating_sub(1).min(32), &mut code);
        let end = code
            .iter()
            .position(|&b| !b.is_ascii_alphanumeric())
            .unwrap_or(code.len());
        let code = String::from_utf8_lossy(&code[..end]).into_owned();
        if let Some(sl) = self.pool_slot(slot) {
            sl.refused = Some(text);
        }
        let server = &mut self.servers[slot.server];
        let what = if step == HANDSHAKE_AUTH {
            "the password of redis_auth"
        } else {
            "the database of redis_db"
        };
        if let Some(held) = server.auth_log.allow(self.now, AUTH_LOG_EVERY) {
            error!(
                "s {} datastore {} refused {} ({}); closing, retrying with back-off{}",
                cid.0,
                server.conf.name,
                what,
                code,
                held_back(held)
            );
        }
        if let Some((_, st)) = self.stats.servers.get_mut(slot.server) {
            st.server_auth_failures += 1;
        }
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "datastore refused the handshake",
        ))
    }

    /// A connect in progress reported an event: finish it or fail it.
    pub(crate) fn server_connecting(&mut self, cid: ConnId) -> Outcome {
        match self.conn_connect_done(cid) {
            Ok(true) => {}
            Ok(false) => return Outcome::Ok,
            Err(e) => {
                let c = &self.conns[cid.0];
                warn!("s {} connect to datastore {} failed: {}", cid.0, c.peer, e);
                return Outcome::Close(CloseReason::Error);
            }
        }
        let c = &self.conns[cid.0];
        let slot = c.server_slot().expect("server conn has a slot");
        if c.server_extra().is_some() {
            debug!("s {} connected to datastore {}", cid.0, c.peer);
            return Outcome::Ok;
        }
        info!("s {} connected to datastore {}", cid.0, c.peer);
        self.servers[slot.server].health.connected();
        if let Some(sl) = self.pool_slot(slot) {
            sl.connected();
        }
        if slot.owner.is_none() {
            // A datastore that restarted empty is warmed up again
            // (warmup_on_start).
            self.warmup_datastore_back();
        }
        Outcome::Ok
    }

    /// Records a failure of a slot and schedules its reconnect.
    fn server_failed(&mut self, server: usize, proto: usize, slot: usize) {
        let retry_max = self.settings.server_retry_timeout;
        let limit = self.settings.server_failure_limit;
        let eject = self.settings.auto_eject_hosts;
        let now = Instant::now();
        let s = &mut self.servers[server];
        if s.health.failure(now, eject, limit, retry_max) {
            warn!(
                "datastore {} ejected for {:?} after {} failures",
                s.conf.name, retry_max, s.health.failures
            );
        }
        let at = s.pools[proto][slot].failure(now, retry_max.min(SERVER_PROBE_MAX));
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
    pub(crate) fn server_reconnect(&mut self, server: usize, proto: usize, slot: usize) {
        if !self.servers[server].pools[proto][slot].reconnect_due(Instant::now()) {
            return;
        }
        self.server_connect(server, proto, slot);
    }

    /// Queues a request on the connection of `server` that serves `client`.
    /// Fails it at once when that connection is down.
    pub(crate) fn server_forward(&mut self, mid: MsgId, server: usize, client: ConnId) {
        let proto = usize::from(self.msgs[mid].resp3);
        let slot = client.0 % self.settings.datastore_connections;
        let cid = match self.server_extra_conn(mid, server, client) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                self.reply_error(mid, e);
                return;
            }
            None => {
                let sl = &self.servers[server].pools[proto][slot];
                match sl.conn {
                    Some(c) => Some(c),
                    None if sl.retry_at.is_none() => self.server_connect(server, proto, slot),
                    None => None,
                }
            }
        };
        let Some(cid) = cid else {
            // This node's datastore is unreachable: a DC_ONE read goes to
            // another rack's replica.
            if let Some(next) = self.next_failover(mid) {
                self.stats.faults.storage_error_failovers += 1;
                self.dispatch(mid, next);
                return;
            }
            let sl = &self.servers[server].pools[proto][slot];
            self.reply_error(mid, sl.refused.unwrap_or(ERR_REFUSED));
            return;
        };
        debug_assert_eq!(self.conns[cid.0].kind(), ConnKind::Server);
        let c = &self.conns[cid.0];
        if c.imsg_q.len() + c.omsg_q.len() >= self.settings.server_queue_max {
            self.stats.faults.server_queue_full += 1;
            let now = Instant::now();
            if let Some(held) = self.servers[server].log.allow(now) {
                warn!(
                    "s {} datastore {} does not keep up: {} requests queued, request refused \
                     ({held} more not logged)",
                    cid.0,
                    c.peer,
                    c.imsg_q.len() + c.omsg_q.len()
                );
            }
            self.reply_error(mid, ERR_DATASTORE_QUEUE_FULL);
            return;
        }
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

    /// Writes queued requests with one writev.
    pub(crate) fn server_send(&mut self, cid: ConnId) -> Outcome {
        match self.conn_send(cid, Context::server_sent) {
            Ok(()) => Outcome::Ok,
            Err(e) => {
                warn!("s {} write to datastore failed: {}", cid.0, e);
                Outcome::Close(CloseReason::Error)
            }
        }
    }

    /// Moves fully written requests from `imsg_q` to the in-flight queue.
    fn server_sent(&mut self, cid: ConnId, n: u64) {
        self.conn_sent(cid, n, QueueStats::Server);
        if n > 0 && self.conns[cid.0].server_extra().is_none() {
            let sl = self.conns[cid.0]
                .server_slot()
                .expect("server conn has a slot");
            let now = self.now;
            if let Some(sl) = self.pool_slot(sl) {
                sl.written_at = Some(now);
            }
        }
    }

    /// The watchdog's round over the datastore connections (see
    /// core/timers.rs): a connect slower than `timeout`, or requests
    /// outstanding with nothing answered or written for twice `timeout` (at
    /// least 1 s), closes the connection (its requests fail with
    /// "Datastore timed out").
    pub(crate) fn servers_watchdog(&mut self, now: Instant) {
        // Twice the request timeout, and at least a second: a request that
        // timed out is answered at once, and a datastore that resumes soon
        // after (a pause, a slow command) keeps its connection and the
        // writes queued on it.
        let limit = (self.timeout_of(TIMEOUT_DATASTORE) * 2).max(SERVER_STALL_MIN);
        let connect_limit = self.connect_timeout();
        for server in 0..self.servers.len() {
            for proto in 0..2 {
                for slot in 0..self.servers[server].pools[proto].len() {
                    let sl = &self.servers[server].pools[proto][slot];
                    let Some(cid) = sl.conn else { continue };
                    let Some(c) = self.conns.get(cid.0) else {
                        continue;
                    };
                    let front = |q: &std::collections::VecDeque<MsgId>| {
                        q.front().and_then(|&m| self.msgs[m].sent_at)
                    };
                    let (stuck, what) = match c.state {
                        ConnState::Connecting => (
                            sl.since
                                .is_some_and(|t| now.saturating_duration_since(t) > connect_limit),
                            "connect timed out",
                        ),
                        ConnState::Connected => (
                            sl.stalled(now, front(&c.omsg_q), front(&c.imsg_q), limit),
                            "no progress",
                        ),
                        _ => (false, ""),
                    };
                    if !stuck {
                        continue;
                    }
                    let f = &mut self.stats.faults;
                    if c.state == ConnState::Connecting {
                        f.server_connect_timeouts += 1;
                    } else {
                        f.server_stalls += 1;
                    }
                    let queued = c.imsg_q.len() + c.omsg_q.len();
                    let name = c.peer.clone();
                    if let Some(held) = self.servers[server].log.allow(now) {
                        warn!(
                            "s {} datastore {}: {} ({} requests queued), closing \
                             ({held} more not logged)",
                            cid.0, name, what, queued
                        );
                    }
                    self.servers[server].pools[proto][slot].fault =
                        Some(crate::cluster::health::Fault::Stalled);
                    self.close_conn(cid);
                }
            }
        }
    }

    /// Reads replies.
    pub(crate) fn server_recv(&mut self, cid: ConnId) -> Outcome {
        let out = self.conn_recv_replies(cid, "datastore");
        if out == Outcome::Ok && self.server_owned_idle(cid) {
            // Its owner let it go and its last reply is in.
            return Outcome::Close(CloseReason::Done);
        }
        out
    }

    /// Parses what is buffered for a server connection into replies.
    pub(crate) fn server_parse(&mut self, cid: ConnId) -> io::Result<()> {
        while let Some(rsp) = self.conn_parse_reply(cid)? {
            self.server_reply(cid, rsp)?;
        }
        Ok(())
    }

    /// A complete reply arrived: pair it with the oldest in-flight request.
    fn server_reply(&mut self, cid: ConnId, rsp: MsgId) -> io::Result<()> {
        let relay = self.conns[cid.0]
            .server_state_mut()
            .is_some_and(|st| st.relay && st.handshake == 0);
        if relay {
            // A subscription connection: everything goes to its client.
            self.pubsub_relay(cid, rsp);
            return Ok(());
        }
        if self.msgs[rsp].rsp.ty == b'>' {
            // RESP3 push data is out of band: no request waits for it.
            self.msgs.put(&mut self.mbufs, rsp);
            return Ok(());
        }
        let sl = self.conns[cid.0]
            .server_slot()
            .expect("server conn has a slot");
        let now = self.now;
        if self.conns[cid.0].server_extra().is_none() {
            if let Some(sl) = self.pool_slot(sl) {
                sl.answered_at = Some(now);
            }
        }
        let handshake = self.conns[cid.0]
            .server_state_mut()
            .is_some_and(|st| st.handshake != 0);
        if !handshake {
            if let Some(&front) = self.conns[cid.0].omsg_q.front() {
                let m = &mut self.msgs[front];
                if m.skip_replies > 0 {
                    // A transaction unit's +OK / +QUEUED: EXEC's reply
                    // answers it.
                    m.skip_replies -= 1;
                    self.msgs.put(&mut self.mbufs, rsp);
                    return Ok(());
                }
            }
        }
        let Some(req) = self.conns[cid.0].omsg_q.pop_front() else {
            self.msgs.put(&mut self.mbufs, rsp);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply without a request",
            ));
        };
        if self.conns[cid.0]
            .server_state_mut()
            .is_some_and(|st| st.handshake != 0)
        {
            debug_assert!(self.msgs[req].swallow);
            self.msgs[req].in_server = false;
            let r = self.server_handshake_reply(cid, rsp);
            self.msgs.put(&mut self.mbufs, rsp);
            self.try_free(req);
            return r;
        }
        let m = &mut self.msgs[req];
        m.in_server = false;
        if let (Some(sent), Some(cmd)) = (m.sent_at, m.cmd) {
            let micros = self.now.saturating_duration_since(sent).as_micros() as u64;
            let server = m.dest as usize;
            let bytes = self.msgs[rsp].mlen;
            self.stats
                .record_server_response(server, cmd.write, bytes, micros);
        }
        if sl.owner.is_some() {
            // A blocking command's answer: its pop goes to the other racks,
            // and an idle connection is released (blocking.rs).
            self.blocking_reply(cid, req, rsp);
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

    /// A server connection closed: everything on it is queued to fail (the
    /// loop answers it after the event batch, see `Context::fail_queued`),
    /// the slot reconnects after its back-off.
    pub(crate) fn server_closed(&mut self, cid: ConnId) {
        if self.conns[cid.0].server_extra().is_some() {
            self.server_extra_closed(cid);
            return;
        }
        let c = &mut self.conns[cid.0];
        let slot = c.server_slot().expect("server conn has a slot");
        if slot.owner.is_some() {
            self.dedicated_closed(cid, slot);
            return;
        }
        self.warmup_datastore_lost();
        let c = &mut self.conns[cid.0];
        let close_error = c.server_state_mut().and_then(|st| st.close_error);
        let eof = c.eof;
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
        let sl = &mut self.servers[slot.server].pools[slot.proto][slot.slot];
        let stalled = sl.conn == Some(cid) && sl.fault.take().is_some();
        let error = if stalled {
            ERR_TIMEOUT
        } else {
            close_error.unwrap_or(ERR_REFUSED)
        };
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
                // A DC_ONE read may still be served by another rack
                // (`fail_queued` tries its failover list first).
                self.failed.push_back(FailedReq {
                    mid,
                    uid: m.id,
                    error,
                    failover: true,
                });
            }
        }
        let sl = &mut self.servers[slot.server].pools[slot.proto][slot.slot];
        if stalled {
            // The datastore took the connection but stopped answering: a
            // new connection is tried at once (the timeout was the wait),
            // not after a back-off during which every request would be
            // refused.
            // The loop's clock: the timer fires in the round that closed
            // the connection.
            let now = self.now;
            sl.conn = None;
            sl.retry_at = Some(now);
            self.add_timer(
                now,
                Timer::Reconnect {
                    server: slot.server,
                    proto: slot.proto,
                    slot: slot.slot,
                },
            );
        } else if sl.conn == Some(cid) {
            self.server_failed(slot.server, slot.proto, slot.slot);
        }
    }

    // Datastore connections outside the pools: a pool per database in use
    // (SELECT), and connections owned by one client (WATCH; the same set
    // serves any client that needs a connection of its own). Both are
    // bounded, opened on demand, never reconnected (the next request opens
    // a new one), and not watched by `servers_watchdog` (their requests
    // have the usual timeouts).

    /// The connection outside the pools that request `mid` of `client`
    /// must use, if any: the client's own connection to `server`, or the
    /// pool of the request's database. `Err` when the bound is reached or
    /// the connect failed at once.
    fn server_extra_conn(
        &mut self,
        mid: MsgId,
        server: usize,
        client: ConnId,
    ) -> Option<Result<ConnId, &'static str>> {
        let proto = usize::from(self.msgs[mid].resp3);
        if self.msgs[mid]
            .cmd
            .is_some_and(|c| matches!(c.name, "script|kill" | "function|kill"))
        {
            // Not behind the busy script on a shared connection.
            return Some(self.server_oneshot(server, proto, client));
        }
        let owned = self
            .conns
            .get(client.0)
            .filter(|c| c.kind() == ConnKind::Client)
            .and_then(|c| c.client_state())
            .and_then(|st| st.watch);
        if let Some((s, cid)) = owned {
            if s == server
                && self
                    .conns
                    .get(cid.0)
                    .is_some_and(|c| c.state != ConnState::Closing)
            {
                return Some(Ok(cid));
            }
        }
        let db = self.msgs[mid].db?;
        Some(self.server_db_conn(server, proto, db, client))
    }

    /// A connection for one request of `client` (SCRIPT KILL, FUNCTION
    /// KILL): counted with the owned connections, closed after its reply.
    /// Its handshake selects no database (a busy redis refuses SELECT).
    fn server_oneshot(
        &mut self,
        server: usize,
        proto: usize,
        client: ConnId,
    ) -> Result<ConnId, &'static str> {
        if self.servers[server].extra.owned >= OWNED_CONNS_MAX {
            return Err(ERR_OWNED_CONNS);
        }
        let extra = ExtraConn {
            db: 0,
            owner: Some(client),
            released: true,
        };
        let at = ServerSlot {
            server,
            proto,
            slot: 0,
            owner: None,
        };
        let cid = self
            .server_open(at, Some(extra))
            .map_err(|()| ERR_REFUSED)?;
        self.servers[server].extra.owned += 1;
        Ok(cid)
    }

    /// The connection of `client`'s slot in the pool of database `db`
    /// (opened on first use).
    pub(crate) fn server_db_conn(
        &mut self,
        server: usize,
        proto: usize,
        db: u32,
        client: ConnId,
    ) -> Result<ConnId, &'static str> {
        let n = self.settings.datastore_connections;
        let slot = client.0 % n;
        let pools = &mut self.servers[server].extra.db;
        if !pools.contains_key(&(proto, db))
            && pools.keys().filter(|(p, _)| *p == proto).count() >= DB_POOLS_MAX
        {
            return Err(ERR_DB_POOLS);
        }
        let slots = pools.entry((proto, db)).or_insert_with(|| vec![None; n]);
        if let Some(c) = slots[slot] {
            return Ok(c);
        }
        let extra = ExtraConn {
            db,
            owner: None,
            released: false,
        };
        let at = ServerSlot {
            server,
            proto,
            slot,
            owner: None,
        };
        let cid = self
            .server_open(at, Some(extra))
            .map_err(|()| ERR_REFUSED)?;
        if let Some(slots) = self.servers[server].extra.db.get_mut(&(proto, db)) {
            slots[slot] = Some(cid);
        }
        Ok(cid)
    }

    /// Gives `client` a datastore connection of its own to `server` (in
    /// its database), unless it has one there already. The bound is
    /// [`OWNED_CONNS_MAX`] per server.
    pub(crate) fn server_owned_open(
        &mut self,
        client: ConnId,
        server: usize,
    ) -> Result<ConnId, &'static str> {
        let st = self.conns[client.0].client();
        if let Some((s, cid)) = st.watch {
            if s == server {
                return Ok(cid);
            }
        }
        if self.servers[server].extra.owned >= OWNED_CONNS_MAX {
            if let Some(held) = self.servers[server].log.allow(self.now) {
                warn!(
                    "c {} refused a dedicated datastore connection: {} in use \
                     ({held} more not logged)",
                    client.0, OWNED_CONNS_MAX
                );
            }
            return Err(ERR_OWNED_CONNS);
        }
        let db = st.db.unwrap_or(self.settings.auth.redis_db);
        let proto = usize::from(st.resp3);
        let extra = ExtraConn {
            db,
            owner: Some(client),
            released: false,
        };
        let at = ServerSlot {
            server,
            proto,
            slot: 0,
            owner: None,
        };
        let cid = self
            .server_open(at, Some(extra))
            .map_err(|()| ERR_REFUSED)?;
        self.servers[server].extra.owned += 1;
        self.server_owned_release(client);
        self.conns[client.0].client_mut().watch = Some((server, cid));
        Ok(cid)
    }

    /// `client` no longer needs its own connection (EXEC, DISCARD,
    /// UNWATCH, its close): it closes now, or after the replies still owed
    /// on it.
    pub(crate) fn server_owned_release(&mut self, client: ConnId) {
        let Some(cid) = self
            .conns
            .get_mut(client.0)
            .and_then(|c| c.client_state_mut())
            .and_then(|st| st.watch.take())
            .map(|(_, c)| c)
        else {
            return;
        };
        let Some(c) = self.conns.get_mut(cid.0) else {
            return;
        };
        if let Some(e) = c.server_state_mut().and_then(|st| st.extra.as_mut()) {
            e.released = true;
        }
        if self.server_owned_idle(cid) {
            self.close_conn(cid);
        }
    }

    /// True for an owned connection that was released and has nothing in
    /// flight.
    fn server_owned_idle(&self, cid: ConnId) -> bool {
        let Some(c) = self.conns.get(cid.0) else {
            return false;
        };
        c.server_extra().is_some_and(|e| e.released)
            && c.imsg_q.is_empty()
            && c.omsg_q.is_empty()
            && c.state != ConnState::Closing
    }

    /// A connection outside the pools closed: its requests fail (in the
    /// loop), its place is freed; nothing reconnects.
    fn server_extra_closed(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let slot = c.server_slot().expect("server conn has a slot");
        let extra = c.server_extra().expect("an extra connection");
        let error = c
            .server_state_mut()
            .and_then(|st| st.close_error)
            .unwrap_or(ERR_REFUSED);
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
        for mid in queued {
            let m = &mut self.msgs[mid];
            m.in_server = false;
            if m.swallow || m.done {
                self.try_free(mid);
            } else {
                self.failed.push_back(FailedReq {
                    mid,
                    uid: m.id,
                    error,
                    failover: false,
                });
            }
        }
        let pools = &mut self.servers[slot.server].extra;
        match extra.owner {
            Some(owner) => {
                pools.owned = pools.owned.saturating_sub(1);
                if let Some(st) = self
                    .conns
                    .get_mut(owner.0)
                    .and_then(|c| c.client_state_mut())
                {
                    if st.watch.is_some_and(|(_, c)| c == cid) {
                        st.watch = None;
                        st.watch_lost = !extra.released;
                    }
                }
            }
            None => {
                if let Some(slots) = pools.db.get_mut(&(slot.proto, extra.db)) {
                    if slots[slot.slot] == Some(cid) {
                        slots[slot.slot] = None;
                    }
                }
            }
        }
    }
}

impl Context {
    /// A dedicated connection closed: what it carried fails (its client
    /// may still be waiting), the client forgets it, its place under
    /// `DEDICATED_MAX` is free.
    fn dedicated_closed(&mut self, cid: ConnId, slot: ServerSlot) {
        let owner = slot.owner.expect("a dedicated connection");
        let c = &mut self.conns[cid.0];
        let mut queued: Vec<MsgId> = c.omsg_q.drain(..).collect();
        queued.extend(c.imsg_q.drain(..));
        c.send_off = 0;
        let s = &mut self.servers[slot.server];
        s.dedicated = s.dedicated.saturating_sub(1);
        debug!("s {} dedicated to c {} closed", cid.0, owner.0);
        for mid in queued {
            let m = &mut self.msgs[mid];
            m.in_server = false;
            if m.swallow || m.done || !m.in_client {
                self.try_free(mid);
            } else {
                self.failed.push_back(FailedReq {
                    mid,
                    uid: m.id,
                    error: ERR_REFUSED,
                    failover: false,
                });
            }
        }
        let relay = self.conns[cid.0]
            .server_state_mut()
            .is_some_and(|st| st.relay);
        let live = self.conns.get(owner.0).is_some_and(|c| c.is_active());
        let Some(cs) = self.conns.get_mut(owner.0).and_then(|c| match &mut c.role {
            Role::Client(cs) => Some(cs),
            _ => None,
        }) else {
            return;
        };
        if cs.blocking_conn == Some(cid) {
            cs.blocking_conn = None;
        }
        if cs.sub_conn == Some(cid) {
            cs.sub_conn = None;
            let subscribed = std::mem::take(&mut cs.subscribed);
            let id = cs.client_id;
            if relay && subscribed && live {
                // Its subscriptions are gone with the connection (the
                // datastore failed): the client is closed too, so that its
                // library reconnects and subscribes again rather than wait
                // for messages that cannot come.
                info!(
                    "s {} subscription connection of c {} lost, closing the client",
                    cid.0, owner.0
                );
                self.add_timer(self.now, Timer::DropSubscriber { client: owner, id });
            }
        }
    }
}

/// Appends the RESP array of `args` to `out`.
fn resp_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Milliseconds since the Unix epoch (the stats' `*_ejected_at`).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::Topology;
    use crate::conf::Conf;

    /// A context with one datastore at `port` (nothing polled: handlers are
    /// called directly).
    fn context(port: u16) -> Context {
        let text = format!(
            "t:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:{port}:1\n  timeout: 5000\n"
        );
        let conf = Conf::parse_str("test.yml", &text).expect("conf");
        let topology = Topology::from_conf(&conf.pool).expect("topology");
        Context::new(&conf.pool, topology, 16 * 1024, 1024).expect("context")
    }

    #[test]
    fn a_closed_datastore_connection_fails_its_requests_in_the_loop() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut ctx = context(listener.local_addr().expect("addr").port());
        // A client's request (its client is not in the slab: its flush is
        // a no-op), queued on the datastore connection.
        let mid = ctx.msgs.get(MsgKind::Request);
        let m = &mut ctx.msgs[mid];
        m.in_client = true;
        m.owner = Some(ConnId(usize::MAX));
        let uid = m.id;
        ctx.server_forward(mid, 0, ConnId(0));
        let cid = ctx.servers[0].pools[0][0].conn.expect("connecting");
        assert!(ctx.msgs[mid].in_server);

        ctx.close_conn(cid);
        // Nothing is answered inside the close: the request waits, held by
        // no connection (so its deadline cannot fire), counted as dropped.
        let m = &ctx.msgs[mid];
        assert!(!m.in_server);
        assert!(!m.done);
        assert!(m.peer.is_none());
        assert_eq!(ctx.failed.len(), 1);
        assert_eq!(ctx.failed[0].uid, uid);
        assert_eq!(ctx.stats.servers[0].1.server_dropped_requests, 1);
        assert_eq!(ctx.stats.servers[0].1.server_err, 1);
        let slot = &ctx.servers[0].pools[0][0];
        assert_eq!(slot.conn, None);
        assert!(slot.retry_at.is_some());
        assert_eq!(ctx.servers[0].health.failures, 1);

        ctx.fail_queued();
        assert!(ctx.failed.is_empty());
        let m = &ctx.msgs[mid];
        assert!(m.done);
        let rsp = &ctx.msgs[m.peer.expect("answered")];
        let mut text = Vec::new();
        ctx.mbufs.copy_out(&rsp.segs, 0, rsp.mlen, &mut text);
        assert_eq!(text, format!("-{ERR_REFUSED}\r\n").into_bytes());
    }

    #[test]
    fn dedicated_connections_are_bounded_and_released() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut ctx = context(listener.local_addr().expect("addr").port());
        let client = ConnId(usize::MAX);
        ctx.servers[0].dedicated = DEDICATED_MAX;
        assert_eq!(
            ctx.server_connect_dedicated(client, 0, false),
            Err(ERR_DEDICATED_LIMIT)
        );
        assert_eq!(ctx.stats.faults.dedicated_refused, 1);
        ctx.servers[0].dedicated = DEDICATED_MAX - 1;
        let cid = ctx
            .server_connect_dedicated(client, 0, true)
            .expect("one place left");
        assert_eq!(ctx.servers[0].dedicated, DEDICATED_MAX);
        assert!(ctx.is_dedicated_of(cid, client));
        let slot = ctx.conns[cid.0]
            .server_slot()
            .expect("a datastore connection");
        assert_eq!((slot.proto, slot.owner), (1, Some(client)));
        // In no pool: the pools' slots did not move.
        assert!(ctx.servers[0].pools[1].iter().all(|s| s.conn.is_none()));
        // A request on it that its client still waits for fails when it
        // closes; the place is free again.
        let mid = ctx.msgs.get(MsgKind::Request);
        let m = &mut ctx.msgs[mid];
        m.in_client = true;
        m.owner = Some(client);
        ctx.server_forward_dedicated(mid, cid);
        ctx.release_dedicated(cid);
        assert_eq!(ctx.servers[0].dedicated, DEDICATED_MAX - 1);
        assert!(!ctx.is_dedicated_of(cid, client));
        assert_eq!(ctx.failed.len(), 1);
        ctx.fail_queued();
        assert!(ctx.msgs[mid].done);
    }

    #[test]
    fn a_request_freed_while_queued_is_skipped() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut ctx = context(listener.local_addr().expect("addr").port());
        let mid = ctx.msgs.get(MsgKind::Request);
        ctx.msgs[mid].in_client = true;
        ctx.server_forward(mid, 0, ConnId(0));
        let cid = ctx.servers[0].pools[0][0].conn.expect("connecting");
        ctx.close_conn(cid);
        assert_eq!(ctx.failed.len(), 1);
        // Its client goes away before the loop gets to it (client_closed).
        let m = &mut ctx.msgs[mid];
        m.in_client = false;
        m.swallow = true;
        ctx.try_free(mid);
        // The slab key is taken again by another message.
        let other = ctx.msgs.get(MsgKind::Request);
        assert_eq!(other, mid);
        ctx.fail_queued();
        assert!(ctx.failed.is_empty());
        assert!(!ctx.msgs[other].done, "the new message is not answered");
        assert!(ctx.msgs[other].peer.is_none());
    }
}
