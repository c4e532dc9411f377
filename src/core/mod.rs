//! The event loop (dyn_core.c): one thread, one mio `Poll`, one `Context` that
//! owns every connection, message and chunk.
//!
//! ```text
//!  loop {
//!      poll(timeout = next timer)          // epoll, edge-triggered
//!      for each event: dispatch by ConnKind ── recv/send handlers
//!      expire timers (request timeouts, reconnects)
//!      resume clients paused by backpressure
//!      flush: one writev per connection with output pending
//!      reap: free the slab entries of connections closed this turn
//!  }
//! ```
//!
//! Handlers never close a connection under the dispatcher's feet: they call
//! `close_conn`, which fails or releases the connection's messages at once and
//! leaves the slab entry (state `Closing`) for `reap`, so that a token seen
//! later in the same event batch still names a dead connection, not a new one.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::time::{Duration, Instant};

use log::{debug, error, info, warn};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;

use crate::cluster::topology::Topology;
use crate::conf::{Consistency, PoolConf};
use crate::conn::{Conn, ConnKind, ConnState, Sock};
use crate::dnode::peer::PeerPool;
use crate::ids::PeerId;
use crate::mbuf::MbufPool;
use crate::msg::{ConnId, MsgId, MsgPool};
use crate::server::Server;
use crate::signal::{SignalAction, Signals};
use crate::stats::Stats;

/// Token of the signal pipe; connection tokens are slab keys.
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// Most events taken from one poll.
const EVENTS_MAX: usize = 1024;
/// Longest sleep of the loop when no timer is due.
const POLL_MAX: Duration = Duration::from_millis(1000);

/// Where one copy of a request goes (defined with the plans that choose it).
pub use crate::cluster::plan::Target;

/// The node's state (admin `/state/...`), which gates requests on the local
/// datastore.
pub use crate::stats::http::State as NodeState;

/// Error for a request the node state refuses.
pub const ERR_STATE: &str = "ERR Dynomite: Dynomite's current state does not allow this request";

/// Request timeout classes: each has its own FIFO of deadlines (all requests
/// of a class share one timeout, so each FIFO stays sorted).
pub const TIMEOUT_DATASTORE: usize = 0;
pub const TIMEOUT_PEER_READ: usize = 1;
pub const TIMEOUT_PEER_WRITE: usize = 2;
pub const TIMEOUT_REMOTE_READ: usize = 3;
pub const TIMEOUT_REMOTE_WRITE: usize = 4;
const TIMEOUT_CLASSES: usize = 5;

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Reconnect a datastore connection slot.
    Reconnect {
        server: usize,
        proto: usize,
        slot: usize,
    },
    /// Reconnect a peer connection slot.
    PeerReconnect { peer: PeerId, slot: usize },
    /// Retry accepting after running out of descriptors.
    Accept(ConnId),
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
    pub poll: Poll,
    pub conns: Slab<Conn>,
    pub msgs: MsgPool,
    pub mbufs: MbufPool,
    pub servers: Vec<Server>,
    pub settings: Settings,
    /// Timers by deadline; stale entries are skipped when they fire.
    pub timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// Request deadlines in the order requests were queued. Every request gets
    /// the same timeout, so this FIFO is already sorted: the loop pops expired
    /// entries and, from the front, entries whose request is finished. Its
    /// length stays near the number of requests in flight, with no per-request
    /// heap operation.
    pub req_timers: [VecDeque<(Instant, MsgId, u64)>; TIMEOUT_CLASSES],
    /// The cluster as this node sees it.
    pub topology: Topology,
    /// Outgoing connections to each peer, indexed by `PeerId`.
    pub peers: Vec<PeerPool>,
    /// Gates requests on the local datastore.
    pub state: NodeState,
    /// Counters and histograms (`/info`, `/metrics`).
    pub stats: Stats,
    /// Admin mode (`-x N`): above 0 no peer connection is opened; 1 also
    /// limits DEL to keys this node owns in its rack.
    pub admin_op: u32,
    /// The read-repair switch (`read_repairs_enabled`, `/read_repairs/...`).
    pub read_repairs: bool,
    /// Names this node reports.
    pub node: NodeNames,
    /// Multiplies every request timeout (admin `/set_timeout_factor`, 1..10).
    pub timeout_factor: u32,
    /// Connections with output to write this turn.
    pub flush: Vec<ConnId>,
    /// Clients paused by backpressure.
    pub blocked: Vec<ConnId>,
    /// Connections closed this turn, freed by `reap`.
    pub closed: Vec<ConnId>,
    /// The chunk reads go into (shared by every connection; see `conn_read`).
    pub ingest: Option<crate::mbuf::MbufId>,
    /// The chunk small generated pieces go into (see `small_seg`).
    pub small: Option<crate::mbuf::MbufId>,
    /// A reusable buffer for formatting headers, error lines and keys that
    /// span two chunks (taken and put back, never held across a call out).
    pub scratch: Vec<u8>,
    /// The time after the last poll: one clock read per loop turn.
    pub now: Instant,
    /// Next client id (CLIENT ID).
    pub next_client_id: u64,
    signals: Option<Signals>,
    shutdown: bool,
    /// Chunks released to the allocator since the last trim.
    released_chunks: usize,
    last_trim: Instant,
}

impl Context {
    /// Builds the context for one pool; listeners are bound by the caller.
    pub fn new(
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
        };
        let servers = pool
            .servers
            .iter()
            .map(|s| Server::new(s.clone(), settings.datastore_connections))
            .collect();
        Ok(Context {
            poll: Poll::new()?,
            conns: Slab::new(),
            msgs: MsgPool::new(max_msgs),
            mbufs: MbufPool::new(mbuf_size, max_msgs),
            servers,
            settings,
            timers: BinaryHeap::new(),
            req_timers: Default::default(),
            peers: topology
                .peers
                .iter()
                .map(|p| PeerPool::new(p, &topology, pool))
                .collect(),
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
            blocked: Vec::new(),
            closed: Vec::new(),
            next_client_id: 1,
            now: Instant::now(),
            ingest: None,
            small: None,
            scratch: Vec::with_capacity(64),
            signals: None,
            shutdown: false,
            released_chunks: 0,
            last_trim: Instant::now(),
        })
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
    pub fn add_conn(&mut self, mut conn: Conn, interest: Interest) -> io::Result<ConnId> {
        let entry = self.conns.vacant_entry();
        let id = entry.key();
        self.poll
            .registry()
            .register(conn.sock.source(), Token(id), interest)?;
        conn.want_write = interest.is_writable();
        entry.insert(conn);
        Ok(ConnId(id))
    }

    /// Arms a timer.
    pub fn add_timer(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    /// Asks for `cid`'s output to be written at the end of this turn.
    pub fn schedule_flush(&mut self, cid: ConnId) {
        if let Some(c) = self.conns.get_mut(cid.0) {
            if !c.in_flush && c.is_active() {
                c.in_flush = true;
                self.flush.push(cid);
            }
        }
    }

    /// Turns WRITABLE interest on or off.
    pub fn set_write_interest(&mut self, cid: ConnId, on: bool) {
        let c = &mut self.conns[cid.0];
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
            warn!("{} {} reregister failed: {}", c.kind.tag(), cid.0, e);
        }
        c.want_write = on;
    }

    /// Runs the loop until a shutdown signal.
    pub fn run(&mut self) -> io::Result<()> {
        self.preconnect();
        self.peers_connect();
        let mut events = Events::with_capacity(EVENTS_MAX);
        while !self.shutdown {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
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
                self.dispatch_event(ConnId(ev.token().0), ev);
            }
            self.expire_timers();
            self.resume_blocked();
            self.flush_all();
            self.reap();
            self.trim_memory();
            #[cfg(debug_assertions)]
            self.check_invariants();
        }
        info!("shutting down");
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
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    fn poll_timeout(&self) -> Duration {
        let next = self
            .req_timers
            .iter()
            .filter_map(|q| q.front().map(|e| e.0))
            .chain(self.timers.peek().map(|Reverse((a, _))| *a))
            .min();
        match next {
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
                SignalAction::Other => {}
            }
        }
    }

    /// Routes one event to the handler of the connection's kind.
    fn dispatch_event(&mut self, cid: ConnId, ev: &mio::event::Event) {
        let Some(c) = self.conns.get(cid.0) else {
            return;
        };
        if c.state == ConnState::Closing {
            return;
        }
        match c.kind {
            ConnKind::Proxy | ConnKind::DnodeProxy => self.proxy_accept(cid),
            ConnKind::StatsProxy => self.stats_accept(cid),
            ConnKind::StatsClient => {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.stats_recv(cid);
                }
                if ev.is_writable() {
                    self.schedule_flush(cid);
                }
            }
            ConnKind::Client | ConnKind::DnodeClient => {
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.client_recv(cid);
                }
                if ev.is_writable() {
                    self.schedule_flush(cid);
                }
            }
            ConnKind::Server | ConnKind::DnodePeer => {
                if c.state == ConnState::Connecting {
                    self.server_connecting(cid);
                    if !self
                        .conns
                        .get(cid.0)
                        .is_some_and(|c| c.state == ConnState::Connected)
                    {
                        return;
                    }
                }
                if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                    self.server_recv(cid);
                }
                if ev.is_writable() {
                    self.schedule_flush(cid);
                }
            }
        }
    }

    fn expire_timers(&mut self) {
        let now = Instant::now();
        for class in 0..TIMEOUT_CLASSES {
            while let Some(&(at, mid, uid)) = self.req_timers[class].front() {
                let live = self
                    .msgs
                    .get_checked(mid, uid)
                    .is_some_and(|m| m.in_server && !m.done && !m.swallow);
                if live && at > now {
                    break;
                }
                self.req_timers[class].pop_front();
                if live {
                    self.request_timed_out(mid, uid, class);
                }
            }
        }
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Reverse((_, t)) = self.timers.pop().expect("peeked");
            match t {
                Timer::Reconnect {
                    server,
                    proto,
                    slot,
                } => self.server_reconnect(server, proto, slot),
                Timer::PeerReconnect { peer, slot } => self.peer_reconnect(peer, slot),
                Timer::Accept(cid) => self.proxy_accept(cid),
            }
        }
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
                    self.client_recv(cid);
                }
            }
        }
    }

    fn flush_all(&mut self) {
        // Writing may queue more (a server reply completes a client's request
        // only on read, so one pass suffices; loop for safety).
        let mut rounds = 0;
        while !self.flush.is_empty() && rounds < 4 {
            rounds += 1;
            let list = std::mem::take(&mut self.flush);
            for cid in list {
                let Some(c) = self.conns.get_mut(cid.0) else {
                    continue;
                };
                c.in_flush = false;
                if !c.is_active() {
                    continue;
                }
                match c.kind {
                    ConnKind::Client | ConnKind::DnodeClient => self.client_send(cid),
                    ConnKind::Server | ConnKind::DnodePeer => self.server_send(cid),
                    ConnKind::StatsClient => self.stats_send(cid),
                    _ => {}
                }
            }
        }
    }

    /// Closes a connection: its messages are failed or released now; the slab
    /// entry goes in `reap`.
    pub fn close_conn(&mut self, cid: ConnId) {
        let Some(c) = self.conns.get_mut(cid.0) else {
            return;
        };
        if c.state == ConnState::Closing {
            return;
        }
        let kind = c.kind;
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
        self.closed.push(cid);
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
    pub fn try_free(&mut self, mid: MsgId) {
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

    /// The timeout of a request class, with the admin factor applied.
    pub fn timeout_of(&self, class: usize) -> Duration {
        let extra_ms = match class {
            TIMEOUT_PEER_READ => 200,
            TIMEOUT_PEER_WRITE => 20_200,
            TIMEOUT_REMOTE_READ => 5_000,
            TIMEOUT_REMOTE_WRITE => 25_000,
            _ => 0,
        };
        (self.settings.timeout + Duration::from_millis(extra_ms)) * self.timeout_factor.max(1)
    }

    /// Queues a request's deadline.
    pub fn arm_timeout(&mut self, mid: MsgId, class: usize) {
        let uid = self.msgs[mid].id;
        let at = self.now + self.timeout_of(class);
        self.req_timers[class].push_back((at, mid, uid));
    }

    /// Whether the node state lets a request run on the local datastore.
    pub fn state_allows(&self, write: bool) -> Result<(), &'static str> {
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
        for (id, c) in self.conns.iter() {
            if c.state == ConnState::Closing {
                continue;
            }
            for &m in c.omsg_q.iter() {
                debug_assert!(self.msgs.contains(m), "conn {id} holds a freed message");
                if matches!(c.kind, ConnKind::Client | ConnKind::DnodeClient) {
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
    pub fn add_listener(&mut self, sock: Sock, kind: ConnKind, name: String) -> io::Result<ConnId> {
        self.add_conn(
            Conn::new(kind, ConnState::Connected, sock, name),
            Interest::READABLE,
        )
    }
}
