//! The event loop (dyn_core.c): one thread, one mio `Poll`, one `Context` that
//! owns every connection, message and chunk.
//!
//! ```text
//!  loop {                                 // run: turn() after turn()
//!      poll(timeout = next timer)          // epoll, edge-triggered
//!      for each event: dispatch by ConnKind ── recv/send handlers ─► Outcome
//!      expire timers (request timeouts, reconnects)
//!      resume clients paused by backpressure
//!      fail_queued: requests of connections closed so far fail over or fail
//!      flush: one writev per connection with output pending (then
//!             fail_queued again for what the writes closed)
//!      reap: free the slab entries of connections closed this turn
//!  }
//! ```
//!
//! Handlers never close a connection: they return an `Outcome`, and only the
//! dispatcher (`dispatch_event`, `resume_blocked`, `flush_all`), admin
//! actions and the watchdog timer (a stuck connection) call `close_conn`.
//! Closing releases the connection's messages at once, queues those still
//! owed an answer on `failed` (answered by
//! `fail_queued`, so that a close never re-enters routing), and leaves the
//! slab entry (state `Closing`) for `reap`, so that a token seen later in the
//! same event batch still names a dead connection, not a new one.

mod start;
mod timers;

#[cfg(test)]
pub(crate) mod harness;
#[cfg(test)]
mod tests;

pub use start::Listeners;
pub use timers::{
    Timer, TIMEOUT_CLASSES, TIMEOUT_DATASTORE, TIMEOUT_PEER_READ, TIMEOUT_PEER_WRITE,
    TIMEOUT_REMOTE_READ, TIMEOUT_REMOTE_WRITE,
};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::cluster::topology::Topology;
use crate::conf::{Consistency, PoolConf};
use crate::conn::{CloseReason, Conn, ConnKind, ConnState, Outcome, Role, Sock};
use crate::conn_pool::{PeerPools, Server};
use crate::mbuf::MbufPool;
use crate::msg::{ConnId, MsgId, MsgPool};
use crate::signal::{SignalAction, Signals};
use crate::stats::Stats;

/// Token of the signal pipe; connection tokens are slab keys.
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Token of the seed provider's waker (`cluster/seeds`).
pub(crate) const SEEDS_TOKEN: Token = Token(usize::MAX - 2);
/// Most events taken from one poll.
pub(crate) const EVENTS_MAX: usize = 1024;
/// Longest sleep of the loop when no timer is due.
const POLL_MAX: Duration = Duration::from_millis(1000);

/// Where one copy of a request goes (defined with the plans that choose it).
pub use crate::cluster::plan::Target;

/// The node's state (admin `/state/...`), which gates requests on the local
/// datastore.
pub use crate::cluster::state::NodeState;

pub use crate::errors::ERR_STATE;

/// A request whose datastore or peer connection closed, waiting in
/// `Context::failed` for the loop to fail it over or answer its error. It is
/// held by no connection (`in_server == false`); its client (or parent) may
/// still free it meanwhile, which `uid` detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedReq {
    pub mid: MsgId,
    /// The message's unique id when it was queued.
    pub uid: u64,
    /// The error answered when nothing else can take the request.
    pub error: &'static str,
    /// A request to a peer: a DC_ONE read may fail over to another replica.
    pub failover: bool,
}

/// Node-wide settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub server_retry_timeout: Duration,
    pub server_failure_limit: u32,
    pub auto_eject_hosts: bool,
    pub preconnect: bool,
    pub datastore_connections: usize,
    pub read_consistency: Consistency,
    pub write_consistency: Consistency,
    pub hash: crate::hashkit::HashKind,
    pub hash_tag: Option<[u8; 2]>,
    /// Redis or Memcached, for the whole node.
    pub memcache: bool,
    /// Passwords and database: `requirepass`, `redis_auth`,
    /// `redis_auth_user`, `redis_db`.
    pub auth: AuthSettings,
    /// Most messages queued for one peer: `peer_queue_max_msgs`, and never
    /// more than a quarter of the message pool, so that one stuck peer
    /// cannot take the pool from everyone else.
    pub peer_queue_max_msgs: u64,
    /// Most bytes queued for one peer (`peer_queue_max_bytes`).
    pub peer_queue_max_bytes: u64,
    /// Most requests one datastore connection holds (half the message
    /// pool): a datastore that stops reading cannot stall the node.
    pub server_queue_max: usize,
}

/// The client password and what the node sends to its datastores.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    /// Clients must AUTH with this first (`requirepass`).
    pub requirepass: Option<crate::auth::Secret>,
    /// The AUTH of every datastore connection (`redis_auth`).
    pub redis_auth: Option<crate::auth::Secret>,
    /// Its ACL user (`redis_auth_user`).
    pub redis_auth_user: Option<String>,
    /// The database every datastore connection selects (`redis_db`).
    pub redis_db: u32,
}

/// Names this node reports in `/info`.
#[derive(Debug, Clone)]
pub struct NodeNames {
    pub pool: String,
    pub rack: String,
    pub dc: String,
}

/// The one owner of all state.
pub struct Context {
    pub(crate) poll: Poll,
    pub(crate) conns: Slab<Conn>,
    pub(crate) msgs: MsgPool,
    pub(crate) mbufs: MbufPool,
    pub(crate) servers: Vec<Server>,
    pub(crate) settings: Settings,
    /// Timers by deadline; stale entries are skipped when they fire.
    pub(crate) timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Request deadlines in the order requests were queued. Every request gets
    /// the same timeout, so this FIFO is already sorted: the loop pops expired
    /// entries and, from the front, entries whose request is finished. Its
    /// length stays near the number of requests in flight, with no per-request
    /// heap operation.
    pub(crate) req_timers: [VecDeque<(Instant, MsgId, u64)>; TIMEOUT_CLASSES],
    /// The cluster as this node sees it.
    pub(crate) topology: Topology,
    /// Outgoing connections to each peer, keyed by the topology's `PeerId`
    /// and created with the peer (`peer_added`, `apply_topology`).
    pub(crate) peers: PeerPools,
    /// Gates requests on the local datastore.
    pub(crate) state: NodeState,
    /// Counters and histograms (`/info`, `/metrics`).
    pub(crate) stats: Stats,
    /// Admin mode (`-x N`): above 0 no peer connection is opened; 1 also
    /// limits DEL to keys this node owns in its rack.
    pub(crate) admin_op: u32,
    /// The read-repair switch (`read_repairs_enabled`, `/read_repairs/...`).
    pub(crate) read_repairs: bool,
    /// Names this node reports.
    pub(crate) node: NodeNames,
    /// Multiplies every request timeout (admin `/set_timeout_factor`, 1..10).
    pub(crate) timeout_factor: u32,
    /// Connections with output to write this turn.
    pub(crate) flush: Vec<ConnId>,
    /// The list `flush_all` works through while handlers queue the next one
    /// on `flush`; the two swap, so neither gives its capacity back.
    flushing: Vec<ConnId>,
    /// Clients paused by backpressure.
    pub(crate) blocked: Vec<ConnId>,
    /// Connections closed this turn, freed by `reap`.
    pub(crate) closed: Vec<ConnId>,
    /// Requests of closed connections, failed over or answered by
    /// `fail_queued` after the event batch, never inside `close_conn`.
    pub(crate) failed: VecDeque<FailedReq>,
    /// The chunk reads go into (shared by every connection; see `conn_read`).
    pub(crate) ingest: Option<crate::mbuf::MbufId>,
    /// The chunk small generated pieces go into (see `small_seg`).
    pub(crate) small: Option<crate::mbuf::MbufId>,
    /// Peer encryption: option, RSA key, buffers (dnode/crypto.rs).
    pub(crate) crypto: crate::dnode::crypto::PeerCrypto,
    /// A reusable buffer for formatting headers, error lines and keys that
    /// span two chunks (taken and put back, never held across a call out).
    pub(crate) scratch: Vec<u8>,
    /// The time after the last poll: one clock read per loop turn.
    pub(crate) now: Instant,
    /// Next client id (CLIENT ID).
    pub(crate) next_client_id: u64,
    /// Rate limit of the log line about clients giving a wrong password.
    pub(crate) auth_log: crate::auth::LogLimit,
    /// The seed provider's thread, when `dyn_seed_provider` names one, and
    /// host names being resolved for gossip.
    pub(crate) seeds: Option<crate::cluster::seeds::Poller>,
    /// What gossip knows (`cluster/gossip.rs`).
    pub(crate) gossip: crate::cluster::gossip::Gossip,
    /// The cold-cache warm-up (`cluster/warmup.rs`).
    pub(crate) warmup: crate::cluster::warmup::Warmup,
    /// Read repairs under way (`cluster/repair.rs`).
    pub(crate) repair: crate::cluster::repair::Repairs,
    /// Anti-entropy runs (`cluster/entropy.rs`).
    pub(crate) entropy: crate::cluster::entropy::Entropy,
    /// The metadata scheme's jobs (late answers, clean-ups) under way.
    pub(crate) meta: crate::cluster::rr_meta::MetaJobs,
    /// TLS configurations (tls.rs), read at start and on SIGHUP.
    pub(crate) tls: crate::tls::TlsConfigs,
    /// Hints for peers that could not take their copies (cluster/handoff.rs).
    pub(crate) handoff: crate::cluster::handoff::Handoff,
    signals: Option<Signals>,
    shutdown: bool,
    /// Chunks released to the allocator since the last trim.
    released_chunks: usize,
    last_trim: Instant,
}

impl Context {
    /// Builds the context for one pool; listeners are bound by the caller.
    pub(crate) fn new(
        pool: &PoolConf,
        topology: Topology,
        mbuf_size: usize,
        max_msgs: usize,
    ) -> io::Result<Context> {
        let settings = Settings {
            timeout: Duration::from_millis(pool.timeout_ms),
            server_retry_timeout: Duration::from_millis(pool.server_retry_timeout_ms.max(1)),
            server_failure_limit: pool.server_failure_limit.max(1),
            auto_eject_hosts: pool.auto_eject_hosts,
            preconnect: pool.preconnect,
            datastore_connections: pool.datastore_connections.max(1) as usize,
            read_consistency: pool.read_consistency,
            write_consistency: pool.write_consistency,
            hash: pool.hash,
            hash_tag: pool.hash_tag,
            memcache: pool.data_store == crate::conf::DataStore::Memcache,
            auth: AuthSettings {
                requirepass: pool.requirepass.clone(),
                redis_auth: pool.redis_auth.clone(),
                redis_auth_user: pool.redis_auth_user.clone(),
                redis_db: pool.redis_db,
            },
            peer_queue_max_msgs: pool.peer_queue_max_msgs.min(max_msgs as u64 / 4).max(1),
            peer_queue_max_bytes: pool.peer_queue_max_bytes.max(1),
            server_queue_max: (max_msgs / 2).max(1),
        };
        let servers = pool
            .servers
            .iter()
            .map(|s| Server::new(s.clone(), settings.datastore_connections))
            .collect();
        let mut ctx = Context {
            poll: Poll::new()?,
            conns: Slab::new(),
            msgs: MsgPool::new(max_msgs),
            mbufs: MbufPool::new(mbuf_size, max_msgs),
            servers,
            settings,
            timers: BinaryHeap::new(),
            req_timers: Default::default(),
            peers: PeerPools::new(pool),
            topology,
            state: NodeState::Normal,
            stats: Stats::new(
                Instant::now(),
                pool.servers.iter().map(|s| s.name.clone()).collect(),
            ),
            read_repairs: pool.read_repairs_enabled,
            admin_op: 0,
            node: NodeNames {
                pool: pool.name.clone(),
                rack: pool.rack.clone(),
                dc: pool.datacenter.clone(),
            },
            timeout_factor: 1,
            flush: Vec::new(),
            flushing: Vec::new(),
            blocked: Vec::new(),
            closed: Vec::new(),
            failed: VecDeque::new(),
            next_client_id: 1,
            now: Instant::now(),
            ingest: None,
            small: None,
            crypto: crate::dnode::crypto::PeerCrypto::new(pool),
            scratch: Vec::with_capacity(64),
            auth_log: crate::auth::LogLimit::default(),
            seeds: None,
            gossip: crate::cluster::gossip::Gossip::new(pool, &|k| std::env::var(k).ok()),
            warmup: crate::cluster::warmup::Warmup::new(
                pool.warmup_on_start,
                pool.warmup_state_file.clone().map(Into::into),
            ),
            repair: crate::cluster::repair::Repairs::new(pool.quorum_read_repair),
            entropy: crate::cluster::entropy::Entropy::new(
                pool.entropy_keys_per_sec,
                pool.entropy_interval_s,
            ),
            meta: crate::cluster::rr_meta::MetaJobs::default(),
            tls: Default::default(),
            handoff: crate::cluster::handoff::Handoff::new(&pool.handoff),
            signals: None,
            shutdown: false,
            released_chunks: 0,
            last_trim: Instant::now(),
        };
        for peer in ctx.topology.peer_ids().collect::<Vec<_>>() {
            ctx.peer_added(peer);
        }
        Ok(ctx)
    }

    /// Registers the signal pipe with the loop.
    pub fn set_signals(&mut self, mut signals: Signals) -> io::Result<()> {
        self.poll
            .registry()
            .register(signals.source(), SIGNAL_TOKEN, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Adds a connection to the slab and registers it for reading.
    pub(crate) fn add_conn(&mut self, mut conn: Conn, interest: Interest) -> io::Result<ConnId> {
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        self.poll
            .registry()
            .register(conn.sock.source(), Token(id), interest)?;
        conn.want_write = interest.is_writable();
        entry.insert(conn);
        Ok(ConnId(id))
    }

    /// Asks for `cid`'s output to be written at the end of this turn.
    pub(crate) fn schedule_flush(&mut self, cid: ConnId) {
        if let Some(c) = self.conns.get_mut(cid.0) {
            if !c.in_flush && c.is_active() {
                c.in_flush = true;
                self.flush.push(cid);
            }
        }
    }

    /// Turns WRITABLE interest on or off.
    pub(crate) fn set_write_interest(&mut self, cid: ConnId, on: bool) {
        let c = &mut self.conns[cid.0];
        // A TLS session's own bytes (handshake, alerts, encrypted output
        // the socket did not take) keep WRITABLE on.
        let on = on || c.sock.tls_wants_write();
        if c.want_write == on || c.state == ConnState::Closing {
            return;
        }
        let interest = if on {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if let Err(e) = self
            .poll
            .registry()
            .reregister(c.sock.source(), Token(cid.0), interest)
        {
            warn!("{} {} reregister failed: {}", c.kind().tag(), cid.0, e);
        }
        c.want_write = on;
    }

    /// Runs the loop until a shutdown signal.
    pub fn run(&mut self) -> io::Result<()> {
        self.connect_all();
        let mut events = Events::with_capacity(EVENTS_MAX);
        while !self.shutdown {
            self.turn(&mut events, POLL_MAX)?;
        }
        info!("shutting down");
        Ok(())
    }

    /// Opens the connections a node makes at start: its datastores
    /// (`preconnect`) and every peer. Called once, before the first turn.
    pub fn connect_all(&mut self) {
        self.preconnect();
        self.peers_connect();
        if self.warmup.on_start {
            self.warmup_start(true);
        }
        self.entropy_schedule();
        self.add_timer(Instant::now() + timers::WATCHDOG_TICK, Timer::Watchdog);
    }

    /// One turn of the loop: one poll (sleeping at most until the next timer,
    /// and at most `max_wait`), the handlers of its events, then timers,
    /// paused clients, writes, and the slab entries of connections closed
    /// this turn. An interrupted poll is an empty turn.
    pub fn turn(&mut self, events: &mut Events, max_wait: Duration) -> io::Result<()> {
        let timeout = self.poll_timeout().min(max_wait);
        if let Err(e) = self.poll.poll(events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(());
            }
            error!("event loop failed: {e}");
            return Err(e);
        }
        self.now = Instant::now();
        for ev in events.iter() {
            if ev.token() == SIGNAL_TOKEN {
                self.handle_signals();
                continue;
            }
            if ev.token() == SEEDS_TOKEN {
                self.seeds_received();
                continue;
            }
            self.dispatch_event(ConnId(ev.token().0), ev);
        }
        self.expire_timers();
        self.resume_blocked();
        self.handoff_turn();
        self.flush_all();
        self.reap();
        self.trim_memory();
        #[cfg(debug_assertions)]
        self.check_invariants();
        Ok(())
    }

    /// After a burst (many chunks handed back to the allocator), asks the
    /// allocator to return free pages to the system, at most once a second, so
    /// that an idle proxy's memory goes back to its idle size.
    fn trim_memory(&mut self) {
        const TRIM_AFTER_CHUNKS: usize = 256;
        const TRIM_EVERY: Duration = Duration::from_secs(1);
        if self.released_chunks < TRIM_AFTER_CHUNKS {
            self.released_chunks += self.mbufs.take_released();
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_trim) < TRIM_EVERY {
            return;
        }
        self.released_chunks = 0;
        self.last_trim = now;
        crate::sys::malloc_trim();
    }

    fn poll_timeout(&self) -> Duration {
        if !self.flush.is_empty() || !self.failed.is_empty() {
            // Work left over from a busy turn: do not sleep on it.
            return Duration::ZERO;
        }
        match self.next_deadline() {
            Some(at) => at.saturating_duration_since(Instant::now()).min(POLL_MAX),
            None => POLL_MAX,
        }
    }

    fn handle_signals(&mut self) {
        let Some(sig) = self.signals.as_mut() else {
            return;
        };
        for action in sig.drain() {
            match action {
                SignalAction::Shutdown => self.shutdown = true,
                SignalAction::Reload => self.tls_reload(),
                SignalAction::Other => {}
            }
        }
    }

    /// Routes one event to the handler of the connection's kind, and closes
    /// the connection when the handler says so.
    fn dispatch_event(&mut self, cid: ConnId, ev: &mio::event::Event) {
        let Some(c) = self.conns.get(cid.0) else {
            return;
        };
        if c.state == ConnState::Closing {
            return;
        }
        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
        let kind = c.kind();
        let outcome = match kind {
            ConnKind::Proxy | ConnKind::DnodeProxy => {
                self.proxy_accept(cid);
                Outcome::Ok
            }
            ConnKind::StatsProxy => {
                self.stats_accept(cid);
                Outcome::Ok
            }
            ConnKind::StatsClient if readable => self.stats_recv(cid),
            ConnKind::Client | ConnKind::DnodeClient if readable => self.client_recv(cid),
            ConnKind::StatsClient | ConnKind::Client | ConnKind::DnodeClient => Outcome::Ok,
            ConnKind::Server | ConnKind::DnodePeer => {
                let peer = kind == ConnKind::DnodePeer;
                if c.state == ConnState::Connecting {
                    let o = if peer {
                        self.peer_connecting(cid)
                    } else {
                        self.server_connecting(cid)
                    };
                    if let Outcome::Close(why) = o {
                        self.close_for(cid, why);
                        return;
                    }
                    if self.conns[cid.0].state != ConnState::Connected {
                        return;
                    }
                }
                match (readable, peer) {
                    (false, _) => Outcome::Ok,
                    (true, true) => self.peer_recv(cid),
                    (true, false) => self.server_recv(cid),
                }
            }
        };
        match outcome {
            Outcome::Close(why) => self.close_for(cid, why),
            Outcome::Ok => {
                let listener = matches!(
                    kind,
                    ConnKind::Proxy | ConnKind::DnodeProxy | ConnKind::StatsProxy
                );
                if ev.is_writable() && !listener {
                    self.schedule_flush(cid);
                }
            }
        }
    }

    /// Closes a connection whose handler asked for it.
    fn close_for(&mut self, cid: ConnId, why: CloseReason) {
        if let Some(c) = self.conns.get(cid.0) {
            debug!("{} {} closing: {:?}", c.kind().tag(), cid.0, why);
        }
        self.close_conn(cid);
    }

    /// Resumes reading from clients paused by backpressure once the pools have
    /// room again.
    fn resume_blocked(&mut self) {
        if self.blocked.is_empty() || self.msgs.exhausted() || self.mbufs.exhausted() {
            return;
        }
        let blocked = std::mem::take(&mut self.blocked);
        for cid in blocked {
            if let Some(c) = self.conns.get_mut(cid.0) {
                if c.blocked && c.is_active() {
                    c.blocked = false;
                    debug!("c {} resumes reading", cid.0);
                    if let Outcome::Close(why) = self.client_recv(cid) {
                        self.close_for(cid, why);
                    }
                }
            }
        }
    }

    fn flush_all(&mut self) {
        // Writing may queue more (a server reply completes a client's request
        // only on read, so one pass suffices; loop for safety). A write that
        // fails closes its connection, whose requests fail over (to another
        // peer's queue) or are answered (to a client's) before the next pass.
        let mut rounds = 0;
        loop {
            self.fail_queued();
            if self.flush.is_empty() || rounds >= 4 {
                break;
            }
            rounds += 1;
            let mut list = std::mem::take(&mut self.flushing);
            debug_assert!(list.is_empty());
            std::mem::swap(&mut list, &mut self.flush);
            for cid in list.drain(..) {
                let Some(c) = self.conns.get_mut(cid.0) else {
                    continue;
                };
                c.in_flush = false;
                if !c.is_active() {
                    continue;
                }
                let outcome = match c.kind() {
                    ConnKind::Client | ConnKind::DnodeClient => self.client_send(cid),
                    ConnKind::Server => self.server_send(cid),
                    ConnKind::DnodePeer => self.peer_send(cid),
                    ConnKind::StatsClient => self.stats_send(cid),
                    _ => Outcome::Ok,
                };
                if let Outcome::Close(why) = outcome {
                    self.close_for(cid, why);
                }
            }
            self.flushing = list;
        }
    }

    /// Closes a connection: its messages are released now, those still owed
    /// an answer are queued on `failed` (see `fail_queued`); the slab entry
    /// goes in `reap`. The one entry point for closing: the dispatcher calls
    /// it on a handler's `Outcome::Close`, admin actions call it directly.
    pub(crate) fn close_conn(&mut self, cid: ConnId) {
        let Some(c) = self.conns.get_mut(cid.0) else {
            return;
        };
        if c.state == ConnState::Closing {
            return;
        }
        let kind = c.kind();
        c.state = ConnState::Closing;
        if let Err(e) = self.poll.registry().deregister(c.sock.source()) {
            debug!("{} {} deregister: {}", kind.tag(), cid.0, e);
        }
        match kind {
            ConnKind::Client | ConnKind::DnodeClient => self.client_closed(cid),
            ConnKind::Server => self.server_closed(cid),
            ConnKind::DnodePeer => self.peer_closed(cid),
            _ => {}
        }
        let c = &mut self.conns[cid.0];
        if let Some(m) = c.rmsg.take() {
            self.msgs.put(&mut self.mbufs, m);
        }
        if let Some(b) = c.rbuf.take() {
            self.mbufs.put(b);
        }
        if matches!(kind, ConnKind::DnodeClient | ConnKind::DnodePeer) {
            self.frame_release(cid);
        }
        self.closed.push(cid);
    }

    /// Fails over or answers the requests of connections closed so far, in
    /// the order they were queued. Runs in the loop, outside any close, so
    /// that a close never re-enters routing (failover dispatches, error
    /// replies complete parents).
    pub(crate) fn fail_queued(&mut self) {
        while let Some(f) = self.failed.pop_front() {
            let Some(m) = self.msgs.get_checked(f.mid, f.uid) else {
                continue; // freed meanwhile (its client or parent went away)
            };
            debug_assert!(!m.in_server, "a queued request is held by no connection");
            if f.failover {
                self.peer_request_failed(f.mid, f.error);
            } else if m.swallow || m.done {
                self.try_free(f.mid);
            } else {
                self.reply_error(f.mid, f.error);
            }
        }
    }

    fn reap(&mut self) {
        for cid in std::mem::take(&mut self.closed) {
            let c = self.conns.remove(cid.0);
            debug_assert!(c.omsg_q.is_empty());
            debug_assert!(c.imsg_q.is_empty());
            drop(c);
        }
    }

    /// Frees a request (and its reply) once neither its client nor a server
    /// holds it.
    pub(crate) fn try_free(&mut self, mid: MsgId) {
        let m = &self.msgs[mid];
        if m.in_client || m.in_server {
            return;
        }
        if let Some(rsp) = m.peer {
            self.msgs.put(&mut self.mbufs, rsp);
        }
        self.release_children(mid);
        self.msgs.put(&mut self.mbufs, mid);
    }

    /// Whether the node state lets a request run on the local datastore.
    pub(crate) fn state_allows(&self, write: bool) -> Result<(), &'static str> {
        match (self.state, write) {
            (NodeState::Normal, _) => Ok(()),
            (NodeState::WritesOnly | NodeState::Resuming, true) => Ok(()),
            // Before the node has joined, serve rather than stall.
            (NodeState::Init | NodeState::Joining, _) => Ok(()),
            _ => Err(ERR_STATE),
        }
    }

    /// Debug builds check the cross-references once per loop turn.
    #[cfg(debug_assertions)]
    fn check_invariants(&self) {
        debug_assert!(
            self.failed.is_empty(),
            "failed requests are answered each turn"
        );
        for f in self.failed.iter() {
            if let Some(m) = self.msgs.get_checked(f.mid, f.uid) {
                debug_assert!(!m.in_server);
            }
        }
        for (id, c) in self.conns.iter() {
            if c.state == ConnState::Closing {
                continue;
            }
            for &m in c.omsg_q.iter() {
                debug_assert!(self.msgs.contains(m), "conn {id} holds a freed message");
                if matches!(c.kind(), ConnKind::Client | ConnKind::DnodeClient) {
                    debug_assert!(self.msgs[m].in_client);
                } else {
                    debug_assert!(self.msgs[m].in_server);
                }
            }
            for &m in c.imsg_q.iter() {
                debug_assert!(self.msgs[m].in_server);
            }
        }
    }

    /// A listener socket for the slab.
    pub(crate) fn add_listener(
        &mut self,
        sock: Sock,
        kind: ConnKind,
        name: String,
    ) -> io::Result<ConnId> {
        self.add_conn(
            Conn::new(Role::listener(kind), ConnState::Connected, sock, name),
            Interest::READABLE,
        )
    }
}
