//! In-process test harness for the reactor (no counterpart in the original;
//! the shape of sozu's protocol unit tests, a first step towards simulation
//! tests): real nodes started by [`Context::start`] on loopback listeners and
//! turned one poll at a time by the test thread, in front of real
//! `redis-server` processes or of sockets that fail on purpose.
//!
//! ```text
//!  Redis::start()           redis-server on a free port; SIGCONT + SIGKILL in Drop
//!  Hang::bind()             listens, never accepts: connects complete, nothing answers
//!                           (close_after_request: the test closes them)
//!  Refuse::bind()           bound, not listening: every connect is refused
//!  Node::start(body)        YAML ─► Conf::parse_str ─► listeners on 127.0.0.1:0
//!                           ─► Context::start ─► connect_all
//!  Cluster::start(specs)    peer listeners bound first, dyn_seeds written from
//!                           their ports, one Node (and one Redis) per spec
//!  pump(nodes, what, cond)  turn every node in turn until cond holds; panics
//!                           at the deadline (deadlines, never sleeps)
//!  Client                   a non-blocking TcpStream; call = send + pump until
//!                           one whole RESP reply is buffered
//! ```
//!
//! Tests look inside a node only through the functions at the end of this
//! file (`datastore_backoff`, `peer_connected`, `pool_stats`, ...): when the
//! context's fields change, those functions are the only code to fix.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::Events;

use crate::cluster::topology::Topology;
use crate::conf::{Conf, Endpoint};
use crate::conn::{ConnState, Sock};
use crate::core::{Context, Listeners, Timer, EVENTS_MAX};
use crate::proxy;
use crate::stats::{PoolStats, ServerStats};

/// How long a test waits for anything (a reply, a connection) before it
/// fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(5);
/// Longest sleep of one node's poll in `pump`, so that every node of a test
/// gets its turn often.
const TURN_WAIT: Duration = Duration::from_millis(1);
/// How long redis may take to answer its first PING.
const REDIS_START: Duration = Duration::from_secs(10);

/// A loopback TCP port that was free a moment ago (the kernel picks it).
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Sends `signal` to process `pid` (a child of this test).
fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on the PID of our own child, not reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

// ---------------------------------------------------------------------------
// Datastores and faulty endpoints.

/// A `redis-server` child on a free loopback port, without persistence.
/// Dropping it resumes it if stopped, then kills and reaps it.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    stopped: bool,
}

impl Redis {
    /// Starts redis and waits until it answers PING.
    pub(crate) fn start() -> Redis {
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(std::env::temp_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed to run the reactor tests");
            let mut redis = Redis {
                child,
                port,
                stopped: false,
            };
            let deadline = Instant::now() + REDIS_START;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = redis.child.try_wait() {
                    break; // the port was taken meanwhile: another one
                }
                if redis.try_cmd(&[b"PING"]).is_ok_and(|r| r == b"+PONG\r\n") {
                    return redis;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        panic!("redis-server did not start");
    }

    /// Its address.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Stops it (SIGSTOP): connections are accepted by the kernel and never
    /// answered, as with a hung datastore.
    pub(crate) fn stop(&mut self) {
        signal(self.child.id(), libc::SIGSTOP);
        self.stopped = true;
    }

    /// Runs one command straight on redis (blocking), returns the raw reply.
    pub(crate) fn cmd(&self, args: &[&[u8]]) -> String {
        let reply = self.try_cmd(args);
        text(reply.unwrap_or_else(|e| panic!("redis :{} failed: {e}", self.port)))
    }

    fn try_cmd(&self, args: &[&[u8]]) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(self.addr())?;
        s.set_read_timeout(Some(DEADLINE))?;
        s.write_all(&encode(args))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(n) = reply_len(&buf) {
                buf.truncate(n);
                return Ok(buf);
            }
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if self.stopped {
            signal(self.child.id(), libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback listener that never accepts on its own: connects complete in
/// the kernel's backlog and whatever is sent is never answered (a hung
/// datastore or peer), until the test calls `close_after_request`.
pub(crate) struct Hang {
    listener: TcpListener,
    accepted: Vec<TcpStream>,
}

impl Hang {
    pub(crate) fn bind() -> Hang {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        Hang {
            listener,
            accepted: Vec::new(),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("local_addr")
    }

    /// Accepts the pending connections; once bytes have arrived on one of
    /// them, reads what is there and closes them all (a node that fails with
    /// a request in flight). True once closed.
    pub(crate) fn close_after_request(&mut self) -> bool {
        while let Ok((s, _)) = self.listener.accept() {
            s.set_nonblocking(true).expect("non-blocking");
            self.accepted.push(s);
        }
        let mut chunk = [0u8; 4096];
        let mut got = false;
        for s in &mut self.accepted {
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                got = true;
            }
        }
        if got {
            self.accepted.clear();
        }
        got
    }
}

/// A loopback port that refuses connections: a socket bound to it but not
/// listening, so the port stays ours while every connect gets a reset.
pub(crate) struct Refuse {
    _sock: socket2::Socket,
    addr: SocketAddr,
}

impl Refuse {
    pub(crate) fn bind() -> Refuse {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        sock.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = sock
            .local_addr()
            .expect("local_addr")
            .as_socket()
            .expect("an inet address");
        Refuse { _sock: sock, addr }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

// ---------------------------------------------------------------------------
// RESP for the test client (independent of the crate's parsers).

/// A RESP array of bulk strings.
pub(crate) fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A bulk string reply (of a UTF-8 value).
pub(crate) fn bulk(v: &[u8]) -> String {
    let v = std::str::from_utf8(v).expect("a UTF-8 value");
    format!("${}\r\n{v}\r\n", v.len())
}

/// A reply as text: the tests' values are ASCII, and a failed assertion
/// then shows the reply readably.
fn text(reply: Vec<u8>) -> String {
    String::from_utf8(reply).unwrap_or_else(|e| panic!("a reply that is not UTF-8: {e}"))
}

/// The length of the first whole RESP2/RESP3 reply in `buf`, if it is all
/// there.
pub(crate) fn reply_len(buf: &[u8]) -> Option<usize> {
    value_end(buf, 0)
}

fn value_end(buf: &[u8], at: usize) -> Option<usize> {
    let ty = *buf.get(at)?;
    let eol = at + memchr::memmem::find(&buf[at..], b"\r\n")?;
    let line_end = eol + 2;
    let num = || -> Option<i64> { std::str::from_utf8(&buf[at + 1..eol]).ok()?.parse().ok() };
    match ty {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Some(line_end),
        b'$' | b'!' | b'=' => {
            let n = num()?;
            if n < 0 {
                return Some(line_end);
            }
            let end = line_end + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            let n = if matches!(ty, b'%' | b'|') { n * 2 } else { n };
            let mut end = line_end;
            for _ in 0..n.max(0) {
                end = value_end(buf, end)?;
            }
            Some(end)
        }
        _ => panic!("not RESP: {:?}", String::from_utf8_lossy(buf)),
    }
}

/// A test client: a non-blocking socket read between turns.
pub(crate) struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to `addr` (the kernel completes the handshake; the node
    /// accepts on its next turn).
    pub(crate) fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect to the node");
        stream.set_nonblocking(true).expect("non-blocking");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one command (small: it fits the socket buffer at once).
    pub(crate) fn send(&mut self, args: &[&[u8]]) {
        self.stream.write_all(&encode(args)).expect("send");
    }

    /// Reads what arrived; returns the first whole reply, if any.
    pub(crate) fn try_reply(&mut self) -> Option<String> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("client read failed: {e}"),
            }
        }
        let n = reply_len(&self.buf)?;
        Some(text(self.buf.drain(..n).collect()))
    }

    /// Sends a command and turns `nodes` until its reply is in.
    pub(crate) fn call(&mut self, nodes: &mut [Node], args: &[&[u8]]) -> String {
        self.send(args);
        self.wait_reply(nodes)
    }

    /// Turns `nodes` until a reply is in.
    pub(crate) fn wait_reply(&mut self, nodes: &mut [Node]) -> String {
        let mut reply = None;
        pump(nodes, "a reply", |_| {
            reply = self.try_reply();
            reply.is_some()
        });
        reply.expect("pumped until a reply came")
    }
}

// ---------------------------------------------------------------------------
// Nodes.

/// A node of the test: its context, turned by the test thread, and the
/// addresses it listens on.
pub(crate) struct Node {
    pub(crate) ctx: Context,
    events: Events,
    /// Where clients connect (`listen`, bound on port 0).
    pub(crate) addr: SocketAddr,
}

/// An endpoint on 127.0.0.1 port 0; the kernel picks the port at bind.
fn loopback_any() -> Endpoint {
    Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: 0,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

/// Binds `127.0.0.1:0` and rewrites `endpoint` to the bound address (so that
/// the node's log lines and stats name the real port).
fn bind_loopback(endpoint: &mut Endpoint) -> (Sock, SocketAddr) {
    let sock = proxy::bind(&loopback_any(), 128).expect("bind 127.0.0.1:0");
    let addr = match &sock {
        Sock::TcpListener(l) => l.local_addr().expect("local_addr"),
        _ => unreachable!("a TCP endpoint gives a TCP listener"),
    };
    *endpoint = Endpoint::Tcp {
        host: "127.0.0.1".into(),
        port: addr.port(),
        addr,
    };
    (sock, addr)
}

impl Node {
    /// Starts a node from the directives in `body` (YAML lines of the pool,
    /// unindented). `listen` and `stats_listen` are added by the harness and
    /// bound on free ports.
    pub(crate) fn start(body: &str) -> Node {
        Node::start_with_peer(body, None)
    }

    /// Like `start`, with `dyn_listen` on `peer`, a listener bound already
    /// (the other nodes' seeds name its port).
    fn start_with_peer(body: &str, peer: Option<(Sock, SocketAddr)>) -> Node {
        // Placeholders: `Conf` refuses port 0; both are rebound below.
        let mut yaml =
            String::from("dyn_o_mite:\n  listen: 127.0.0.1:1\n  stats_listen: 127.0.0.1:2\n");
        if let Some((_, addr)) = &peer {
            yaml.push_str(&format!("  dyn_listen: {addr}\n"));
        }
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            yaml.push_str("  ");
            yaml.push_str(line.trim_start());
            yaml.push('\n');
        }
        let mut conf =
            Conf::parse_str("harness.yml", &yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let (client, _) = bind_loopback(&mut conf.pool.listen);
        let (stats, _) = bind_loopback(&mut conf.pool.stats_listen);
        let listeners = Listeners {
            client,
            stats,
            peer: peer.map(|(s, _)| s),
        };
        Node::from_conf(&conf, listeners).expect("node start-up")
    }

    /// Starts a node of `conf` on `listeners`, as the binary does, and opens
    /// its datastore and peer connections.
    pub(crate) fn from_conf(conf: &Conf, listeners: Listeners) -> io::Result<Node> {
        let addr = match &listeners.client {
            Sock::TcpListener(l) => l.local_addr()?,
            _ => return Err(io::ErrorKind::Unsupported.into()),
        };
        let topology = Topology::from_conf(&conf.pool).map_err(io::Error::other)?;
        let mut ctx = Context::start(
            conf,
            topology,
            listeners,
            conf.mbuf_size_or(None),
            conf.max_msgs_or(None),
            0,
        )?;
        ctx.connect_all();
        Ok(Node {
            ctx,
            events: Events::with_capacity(EVENTS_MAX),
            addr,
        })
    }

    /// One turn of the node's loop (waiting at most `TURN_WAIT`).
    pub(crate) fn turn(&mut self) {
        // Only the node's own work is counted, never the test's.
        crate::sys::alloc_count::counted(|| self.ctx.turn(&mut self.events, TURN_WAIT))
            .expect("a turn of the loop");
    }

    /// A new client of this node.
    pub(crate) fn client(&self) -> Client {
        Client::connect(self.addr)
    }
}

/// Turns every node, one after the other, until `cond` holds; panics naming
/// `what` when `DEADLINE` passes first.
pub(crate) fn pump(nodes: &mut [Node], what: &str, mut cond: impl FnMut(&mut [Node]) -> bool) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if cond(nodes) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what} within {DEADLINE:?}");
        for n in nodes.iter_mut() {
            n.turn();
        }
    }
}

/// Turns every node for `d` (to let late answers arrive and be dropped).
pub(crate) fn pump_for(nodes: &mut [Node], d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        for n in nodes.iter_mut() {
            n.turn();
        }
    }
}

/// Where a node sits in a cluster (each node has a redis of its own).
pub(crate) struct Spec {
    pub(crate) dc: &'static str,
    pub(crate) rack: &'static str,
    /// `tokens:` text, e.g. `"2147483647"`.
    pub(crate) tokens: &'static str,
}

/// A node of `dc`/`rack` with `tokens`.
pub(crate) fn spec(dc: &'static str, rack: &'static str, tokens: &'static str) -> Spec {
    Spec { dc, rack, tokens }
}

/// Several nodes in one test thread, each knowing the others as seeds.
/// Dropping it closes the nodes first, then stops their redis.
pub(crate) struct Cluster {
    pub(crate) nodes: Vec<Node>,
    /// The redis of each node.
    pub(crate) redis: Vec<Redis>,
    /// The peer address of each node.
    peer_addrs: Vec<SocketAddr>,
}

impl Cluster {
    /// Starts one node per spec with the pool directives of `body`, plus
    /// `extra_seeds` (seed lines of peers outside the harness) on every node,
    /// and waits until every node is connected to every other.
    pub(crate) fn start(specs: &[Spec], extra_seeds: &[String], body: &str) -> Cluster {
        // Peer listeners first: the seeds of each node name the others' ports.
        let peers: Vec<(Sock, SocketAddr)> = specs
            .iter()
            .map(|_| bind_loopback(&mut loopback_any()))
            .collect();
        let peer_addrs: Vec<SocketAddr> = peers.iter().map(|p| p.1).collect();
        let redis: Vec<Redis> = specs.iter().map(|_| Redis::start()).collect();
        let mut nodes = Vec::new();
        for (i, (s, peer)) in specs.iter().zip(peers).enumerate() {
            let store = redis[i].addr();
            let mut y = format!(
                "datacenter: {}\nrack: {}\ntokens: '{}'\nservers:\n- {store}:1\n",
                s.dc, s.rack, s.tokens
            );
            y.push_str(body);
            let mut seeds: Vec<String> = specs
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(j, o)| format!("{}:{}:{}:{} n{j}", peer_addrs[j], o.rack, o.dc, o.tokens))
                .collect();
            seeds.extend_from_slice(extra_seeds);
            if !seeds.is_empty() {
                y.push_str("\ndyn_seeds:\n");
                for seed in seeds {
                    y.push_str(&format!("- {seed}\n"));
                }
            }
            nodes.push(Node::start_with_peer(&y, Some(peer)));
        }
        let mut cluster = Cluster {
            nodes,
            redis,
            peer_addrs,
        };
        cluster.wait_connected();
        cluster
    }

    /// Turns the nodes until each has its connections to every other node
    /// of the cluster up (peers outside the harness are not waited for).
    pub(crate) fn wait_connected(&mut self) {
        let addrs = self.peer_addrs.clone();
        pump(&mut self.nodes, "connected cluster", |nodes| {
            nodes.iter().enumerate().all(|(i, n)| {
                addrs
                    .iter()
                    .enumerate()
                    .all(|(j, &a)| i == j || peer_connected(&n.ctx, a))
            })
        });
    }

    /// The redis of node `i`.
    pub(crate) fn redis(&mut self, i: usize) -> &mut Redis {
        &mut self.redis[i]
    }

    /// The peer address (`dyn_listen`) of node `i`.
    pub(crate) fn peer_addr(&self, i: usize) -> SocketAddr {
        self.peer_addrs[i]
    }
}

// ---------------------------------------------------------------------------
// Looks inside a node. Every access to the context's fields is here.

/// The hash of `key` on this node (its `hash:` and `hash_tag:`).
pub(crate) fn key_hash(ctx: &Context, key: &[u8]) -> u32 {
    let part = crate::hashkit::hash_tag_part(key, ctx.settings.hash_tag);
    ctx.settings.hash.hash(part)
}

/// The first `n` of `k:0`, `k:1`, ... for which `pred` holds on this node.
pub(crate) fn keys_where(
    ctx: &Context,
    n: usize,
    pred: impl Fn(&Context, &[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("k:{i}").into_bytes())
        .filter(|k| pred(ctx, k))
        .take(n)
        .collect();
    assert_eq!(keys.len(), n, "not enough keys with the property");
    keys
}

/// The first of `k:0`, `k:1`, ... for which `pred` holds on this node.
pub(crate) fn key_where(ctx: &Context, pred: impl Fn(&Context, &[u8]) -> bool) -> Vec<u8> {
    keys_where(ctx, 1, pred).remove(0)
}

/// The shard of this node's datastores that serves `key` (ejected ones
/// skipped).
pub(crate) fn key_shard(ctx: &Context, key: &[u8]) -> usize {
    ctx.server_for_hash(key_hash(ctx, key))
}

/// Current back-off and next reconnect time of RESP2 connection slot `slot`
/// of datastore `server`.
pub(crate) fn datastore_backoff(
    ctx: &Context,
    server: usize,
    slot: usize,
) -> (Duration, Option<Instant>) {
    let s = &ctx.servers[server].pools[0][slot];
    (s.backoff, s.retry_at)
}

/// Instants of the reconnect timers armed for that slot (stale ones
/// included: they are skipped when they fire).
pub(crate) fn datastore_timers(ctx: &Context, server: usize, slot: usize) -> Vec<Instant> {
    ctx.timers
        .iter()
        .filter_map(|std::cmp::Reverse((at, t))| match *t {
            Timer::Reconnect {
                server: s,
                proto: 0,
                slot: l,
            } if s == server && l == slot => Some(*at),
            _ => None,
        })
        .collect()
}

/// Consecutive failures of datastore `server`.
pub(crate) fn datastore_failures(ctx: &Context, server: usize) -> u32 {
    ctx.servers[server].health.failures
}

/// True while datastore `server` is ejected from placement.
pub(crate) fn datastore_ejected(ctx: &Context, server: usize) -> bool {
    ctx.servers[server].is_ejected(Instant::now())
}

/// Makes the pending reconnect of a slot due now, as if its back-off had
/// passed (the one write of this file: tests do not sleep through
/// back-offs). The slot's own timer still fires later and is skipped.
pub(crate) fn expire_datastore_backoff(ctx: &mut Context, server: usize, slot: usize) {
    let now = Instant::now();
    let s = &mut ctx.servers[server].pools[0][slot];
    assert!(s.retry_at.is_some(), "no reconnect pending");
    s.retry_at = Some(now);
    ctx.add_timer(
        now,
        Timer::Reconnect {
            server,
            proto: 0,
            slot,
        },
    );
}

/// True when every connection of this node to the peer listening on `addr`
/// is up.
pub(crate) fn peer_connected(ctx: &Context, addr: SocketAddr) -> bool {
    let Some(id) = ctx
        .topology
        .peer_ids()
        .find(|&id| ctx.topology.peer(id).addr == Some(addr))
    else {
        return false;
    };
    ctx.peers[id].slots.iter().all(|s| {
        s.conn
            .is_some_and(|c| ctx.conns[c.0].state == ConnState::Connected)
    })
}

/// The node's pool counters.
pub(crate) fn pool_stats(ctx: &Context) -> &PoolStats {
    &ctx.stats.pool
}

/// The node's fault counters.
pub(crate) fn fault_stats(ctx: &Context) -> &crate::stats::faults::FaultStats {
    &ctx.stats.faults
}

/// The counters of datastore `server`.
pub(crate) fn server_stats(ctx: &Context, server: usize) -> &ServerStats {
    &ctx.stats.servers[server].1
}

/// Messages alive in the node (requests and replies).
pub(crate) fn msgs_in_use(ctx: &Context) -> usize {
    ctx.msgs.in_use()
}

/// True when the node's chunks in use are only those the context keeps for
/// its own writing (ingest, small pieces, encryption): no connection or
/// message holds one.
pub(crate) fn only_context_chunks(ctx: &Context) -> bool {
    let own = [ctx.ingest, ctx.small, ctx.crypto.out]
        .iter()
        .filter(|c| c.is_some())
        .count();
    ctx.msgs.in_use() == 0 && ctx.mbufs.in_use() == own
}

/// Datastore connections of server `server` owned by clients (WATCH) or
/// serving one request (SCRIPT KILL), open or closing.
pub(crate) fn owned_conns(ctx: &Context, server: usize) -> usize {
    ctx.servers[server].extra.owned
}

/// Databases with a pool of their own at server `server` (SELECT).
pub(crate) fn db_pools(ctx: &Context, server: usize) -> usize {
    ctx.servers[server].extra.db.len()
}
