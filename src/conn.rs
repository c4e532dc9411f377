//! Connections (dyn_connection.c): one struct for every kind of socket the
//! node holds. A connection has one [`Role`], set when it is made, holding
//! the state that role needs (parsers, pool slot, frame layer, HTTP buffers);
//! [`ConnKind`] is its cheap tag for log lines and matches. The socket I/O
//! every role shares lives here once: reading into the shared ingest chunk,
//! writing a queue of messages with one writev, moving written messages to
//! the in-flight queue, parsing datastore replies.
//!
//! ```text
//!            accept                      connect
//!  Proxy ───────────► Client ──req──► Server ──► datastore
//!  DnodeProxy ──────► DnodeClient      DnodePeer ──► other node   (cluster)
//!  StatsProxy ──────► StatsClient                                 (HTTP)
//! ```
//!
//! A connection never closes itself: handlers return an [`Outcome`], and the
//! context's dispatcher closes (core/mod.rs).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use log::{info, warn};

use crate::conf::Consistency;
use crate::core::Context;
use crate::dnode::frame::{Direction, Framer};
use crate::ids::PeerId;
use crate::mbuf::{MbufId, Seg};
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::memcache;
use crate::proto::redis::{ReqParser, RspParser};
use crate::proto::Parse;
use crate::stats::Histogram;
use crate::tls::TlsStream;

/// Most iovecs handed to one writev (twemproxy's NC_IOV_MAX); kept on the stack.
pub const IOV_MAX: usize = 128;

/// What a connection is for (the original's `connection_type_t`): the cheap
/// tag of its [`Role`] (`Conn::kind`), for log lines and matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    /// Client listener (`listen`).
    Proxy,
    /// A client of this node.
    Client,
    /// A connection to this node's datastore.
    Server,
    /// Peer listener (`dyn_listen`); cluster work.
    DnodeProxy,
    /// A peer node connected to us; cluster work.
    DnodeClient,
    /// Our connection to a peer node; cluster work.
    DnodePeer,
    /// Stats and admin HTTP listener (`stats_listen`).
    StatsProxy,
    /// An HTTP client of the stats listener.
    StatsClient,
}

impl ConnKind {
    /// Short tag used in log lines, as twemproxy prints them.
    pub fn tag(self) -> &'static str {
        match self {
            ConnKind::Proxy => "p",
            ConnKind::Client => "c",
            ConnKind::Server => "s",
            ConnKind::DnodeProxy => "dp",
            ConnKind::DnodeClient => "dc",
            ConnKind::DnodePeer => "dn",
            ConnKind::StatsProxy => "sp",
            ConnKind::StatsClient => "sc",
        }
    }
}

/// Life cycle of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Non-blocking connect in progress.
    Connecting,
    /// Usable.
    Connected,
    /// The other side stopped sending (or we stopped reading): write what is
    /// owed, then close.
    Eof,
    /// Closed; the slab entry goes after the event batch.
    Closing,
}

/// The socket.
#[derive(Debug)]
pub enum Sock {
    TcpListener(mio::net::TcpListener),
    UnixListener(mio::net::UnixListener),
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
    /// TCP through a TLS session (tls.rs): TLS clients, datastores and peer
    /// links. Boxed: the session is large, and plain sockets should not
    /// carry its room.
    Tls(Box<TlsStream>),
}

impl Sock {
    /// Starts a non-blocking TCP connect with Nagle off (datastores, peers).
    pub fn connect_tcp(addr: std::net::SocketAddr) -> io::Result<Sock> {
        let s = mio::net::TcpStream::connect(addr)?;
        let _ = s.set_nodelay(true);
        Ok(Sock::Tcp(s))
    }

    /// The mio source, for (de)registration.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Sock::TcpListener(s) => s,
            Sock::UnixListener(s) => s,
            Sock::Tcp(s) => s,
            Sock::Unix(s) => s,
            Sock::Tls(t) => t.tcp_mut(),
        }
    }

    /// Reads into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
            Sock::Tls(t) => t.read(buf),
            _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// Writes the slices in one system call.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Unix(s) => s.write_vectored(bufs),
            Sock::Tls(t) => t.write_vectored(bufs),
            _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// The pending socket error of a connect in progress, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Tcp(s) => s.take_error(),
            Sock::Unix(s) => s.take_error(),
            Sock::Tls(t) => t.tcp().take_error(),
            _ => Ok(None),
        }
    }

    /// True once a non-blocking connect has completed.
    pub fn is_connected(&self) -> bool {
        match self {
            Sock::Tcp(s) => s.peer_addr().is_ok(),
            Sock::Unix(s) => s.peer_addr().is_ok(),
            Sock::Tls(t) => t.tcp().peer_addr().is_ok(),
            _ => true,
        }
    }

    /// True for a socket that speaks TLS (an inbound peer link that may
    /// still ask for it included).
    pub fn is_tls(&self) -> bool {
        matches!(self, Sock::Tls(_))
    }

    /// True while a TLS session holds bytes for the socket.
    pub fn tls_wants_write(&self) -> bool {
        match self {
            Sock::Tls(t) => t.wants_write(),
            _ => false,
        }
    }
}

/// Which datastore connection a server connection is: server index, protocol
/// pool (0 = RESP2, 1 = RESP3) and slot in that pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSlot {
    pub server: usize,
    pub proto: usize,
    pub slot: usize,
    /// A dedicated connection (server.rs `server_connect_dedicated`): the
    /// client that owns it. Such a connection sits in no pool (`slot` is
    /// meaningless) and serves that client alone.
    pub owner: Option<ConnId>,
}

/// Buffers of an HTTP connection (stats and admin): small, so plain vectors.
#[derive(Debug, Default)]
pub struct HttpBuf {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    /// Close once `output` is written.
    pub close: bool,
}

/// The request parsers of a connection that reads requests; which one runs
/// depends on the node's `data_store`.
#[derive(Debug, Default)]
pub struct ReqParsers {
    pub redis: ReqParser,
    pub memcache: memcache::ReqParser,
}

/// The reply parsers of a connection that reads replies.
#[derive(Debug, Default)]
pub struct RspParsers {
    pub redis: RspParser,
    pub memcache: memcache::RspParser,
}

/// A client of this node (also the client half of an inbound peer).
#[derive(Debug)]
pub struct ClientState {
    /// Request parsers.
    pub parser: ReqParsers,
    /// Its requests speak RESP3 (HELLO 3; for a peer, the frame's flag).
    pub resp3: bool,
    /// It gave the `requirepass` password (AUTH or HELLO ... AUTH). Only
    /// read while `requirepass` is set, and only for clients: requests
    /// from peers are not asked for a password.
    pub authenticated: bool,
    /// Its CLIENT ID.
    pub client_id: u64,
    /// Name set with CLIENT SETNAME.
    pub name: Option<Vec<u8>>,
    /// Consistency of this connection's reads and writes.
    pub read_consistency: Consistency,
    pub write_consistency: Consistency,
    /// The dedicated datastore connection of its blocking commands
    /// (blocking.rs), while one runs.
    pub blocking_conn: Option<ConnId>,
    /// The dedicated datastore connection of its subscriptions (pubsub.rs).
    pub sub_conn: Option<ConnId>,
    /// It is in redis' subscription context: it has subscriptions (by the
    /// datastore's last confirmation) or asked for some.
    pub subscribed: bool,
    /// The database SELECT chose, when it is not the node's default
    /// (`redis_db`).
    pub db: Option<u32>,
    /// The transaction being queued, between MULTI and EXEC (txn.rs).
    pub txn: Option<Box<crate::txn::Txn>>,
    /// The datastore connection this client owns while it WATCHes keys
    /// (server index, connection), see server.rs `server_owned_open`.
    pub watch: Option<(usize, ConnId)>,
    /// The connection of a WATCH closed before EXEC: the next EXEC answers
    /// as a failed watch (a null reply), so the client retries.
    pub watch_lost: bool,
    /// When it connected, when its last request came and which command it
    /// was (CLIENT LIST's age, idle and cmd).
    pub created: std::time::Instant,
    pub last_at: std::time::Instant,
    pub last_cmd: &'static str,
}

impl ClientState {
    /// A client with id `client_id` at the node's consistency levels.
    pub fn new(client_id: u64, read: Consistency, write: Consistency) -> ClientState {
        ClientState {
            parser: ReqParsers::default(),
            resp3: false,
            authenticated: false,
            client_id,
            name: None,
            read_consistency: read,
            write_consistency: write,
            blocking_conn: None,
            sub_conn: None,
            subscribed: false,
            db: None,
            txn: None,
            watch: None,
            watch_lost: false,
            created: std::time::Instant::now(),
            last_at: std::time::Instant::now(),
            last_cmd: "NULL",
        }
    }
}

/// A connection to this node's datastore.
#[derive(Debug)]
pub struct ServerState {
    /// Where it sits in the pools.
    pub slot: ServerSlot,
    /// Reply parsers.
    pub parser: RspParsers,
    /// The node's own requests whose replies come first on this connection
    /// (AUTH, HELLO 3, SELECT: bits of server.rs' `HANDSHAKE_*`, answered
    /// in that order); their replies are read by the node, never given to a
    /// client.
    pub handshake: u8,
    /// The error the requests on this connection get when it closes, when
    /// it is not the usual storage error (the datastore refused the
    /// handshake).
    pub close_error: Option<&'static str>,
    /// A subscription connection (pubsub.rs): every reply is relayed to
    /// the owner as it comes, none is paired with a request.
    pub relay: bool,
    /// A subscription connection's counts by the datastore's last
    /// confirmations: channels and patterns, shard channels.
    pub subs: [i64; 2],
    /// A subscription connection whose client is being dropped (its
    /// backlog passed the bound): nothing more is relayed.
    pub dropping: bool,
    /// A connection outside the pools (a database's pool, or one client's
    /// own connection): `slot` is then not a pool slot.
    pub extra: Option<ExtraConn>,
}

/// What a datastore connection outside the pools is for (server.rs
/// `server_db_conn`, `server_owned_open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtraConn {
    /// The database it selected (sent in its handshake).
    pub db: u32,
    /// The client that owns it (WATCH), or `None` for a slot of a
    /// database's pool (`slot.slot` is then its index there).
    pub owner: Option<ConnId>,
    /// Its owner let it go: it closes once nothing is in flight on it.
    pub released: bool,
}

/// A peer node connected to us: a client whose requests come in frames.
#[derive(Debug)]
pub struct InboundPeerState {
    /// The client half: request parsers, protocol, id.
    pub client: ClientState,
    /// The frame layer in front of the request parser. Boxed: peers are few,
    /// and a plain client's `Conn` should not carry a framer's room.
    pub framer: Box<Framer>,
    /// A gossip payload that arrived in pieces, until its last byte.
    pub gossip: Vec<u8>,
}

/// Our connection to a peer node.
#[derive(Debug)]
pub struct OutboundPeerState {
    /// The peer and the slot of its pool this connection fills.
    pub peer: PeerId,
    pub slot: usize,
    /// Reply parsers, for the payloads of reply frames.
    pub parser: RspParsers,
    /// The frame layer in front of the reply parser (boxed, as inbound).
    pub framer: Box<Framer>,
    /// A gossip payload that arrived in pieces, until its last byte.
    pub gossip: Vec<u8>,
}

/// What a connection is for, with the state that role needs (the original
/// sets a connection's handlers once, in `conn_get`).
#[derive(Debug)]
pub enum Role {
    /// Client listener.
    Proxy,
    /// A client of this node.
    Client(ClientState),
    /// A connection to this node's datastore.
    Server(ServerState),
    /// Peer listener.
    DnodeProxy,
    /// A peer node connected to us.
    DnodeClient(InboundPeerState),
    /// Our connection to a peer node.
    DnodePeer(OutboundPeerState),
    /// Stats and admin HTTP listener.
    StatsProxy,
    /// An HTTP client of the stats listener. Boxed: HTTP clients are few and
    /// their buffers are not wanted in every connection.
    StatsClient(Box<HttpBuf>),
}

impl Role {
    /// The role of a listener of `kind`.
    pub fn listener(kind: ConnKind) -> Role {
        match kind {
            ConnKind::Proxy => Role::Proxy,
            ConnKind::DnodeProxy => Role::DnodeProxy,
            ConnKind::StatsProxy => Role::StatsProxy,
            _ => unreachable!("{kind:?} is not a listener"),
        }
    }

    /// A client of the client listener.
    pub fn client(state: ClientState) -> Role {
        Role::Client(state)
    }

    /// A peer accepted on the peer listener.
    pub fn dnode_client(client: ClientState) -> Role {
        Role::DnodeClient(InboundPeerState {
            client,
            framer: Box::new(Framer::new(Direction::Inbound)),
            gossip: Vec::new(),
        })
    }

    /// A datastore connection for `slot`.
    pub fn server(slot: ServerSlot) -> Role {
        Role::Server(ServerState {
            slot,
            parser: RspParsers::default(),
            handshake: 0,
            close_error: None,
            relay: false,
            subs: [0, 0],
            dropping: false,
            extra: None,
        })
    }

    /// A connection to `peer` for slot `slot` of its pool.
    pub fn dnode_peer(peer: PeerId, slot: usize) -> Role {
        Role::DnodePeer(OutboundPeerState {
            peer,
            slot,
            parser: RspParsers::default(),
            framer: Box::new(Framer::new(Direction::Outbound)),
            gossip: Vec::new(),
        })
    }
}

/// What a recv or send handler asks of the dispatcher (twemproxy's
/// `core_core`, sozu's `SessionResult`): only the dispatcher closes.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep the connection.
    Ok,
    /// Close it.
    Close(CloseReason),
}

/// Why a handler asks for its connection to be closed (for the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The other side closed its end.
    Eof,
    /// A socket error or a failed connect.
    Error,
    /// Bad input: a framing or protocol error that cannot be answered.
    Protocol,
    /// Everything owed was written after QUIT, EOF or an answered error.
    Done,
}

/// One connection and everything queued on it.
#[derive(Debug)]
pub struct Conn {
    /// What it is for, and that role's state.
    pub role: Role,
    pub state: ConnState,
    pub sock: Sock,
    /// Chunk holding bytes read and not parsed yet; the connection holds one
    /// reference on it while it does.
    pub rbuf: Option<MbufId>,
    /// Bytes `rpos..rend` of `rbuf` were read and are not parsed yet.
    pub rpos: usize,
    pub rend: usize,
    /// Message being parsed.
    pub rmsg: Option<MsgId>,
    /// Client: requests in arrival order, waiting for their replies to be
    /// written. Server: requests sent, waiting for their replies.
    pub omsg_q: VecDeque<MsgId>,
    /// Server: requests not yet (completely) written.
    pub imsg_q: VecDeque<MsgId>,
    /// Bytes of the head message (client: of its reply; server: of the head
    /// of `imsg_q`) already written.
    pub send_off: u64,
    /// WRITABLE interest is registered.
    pub want_write: bool,
    /// Queued in the context's flush list.
    pub in_flush: bool,
    /// Reading is paused because the message or chunk pool is exhausted.
    pub blocked: bool,
    /// Stop parsing input (QUIT seen, protocol error): only write what is owed.
    pub no_more_input: bool,
    /// The peer closed its side (EOF) rather than failing.
    pub eof: bool,
    /// Human-readable peer address for log lines.
    pub peer: String,
}

impl Conn {
    /// A new connection of `role` on `sock`.
    pub fn new(role: Role, state: ConnState, sock: Sock, peer: String) -> Conn {
        Conn {
            role,
            state,
            sock,
            rbuf: None,
            rpos: 0,
            rend: 0,
            rmsg: None,
            omsg_q: VecDeque::new(),
            imsg_q: VecDeque::new(),
            send_off: 0,
            want_write: false,
            in_flush: false,
            blocked: false,
            no_more_input: false,
            eof: false,
            peer,
        }
    }

    /// The role's tag.
    pub fn kind(&self) -> ConnKind {
        match self.role {
            Role::Proxy => ConnKind::Proxy,
            Role::Client(_) => ConnKind::Client,
            Role::Server(_) => ConnKind::Server,
            Role::DnodeProxy => ConnKind::DnodeProxy,
            Role::DnodeClient(_) => ConnKind::DnodeClient,
            Role::DnodePeer(_) => ConnKind::DnodePeer,
            Role::StatsProxy => ConnKind::StatsProxy,
            Role::StatsClient(_) => ConnKind::StatsClient,
        }
    }

    /// True when the connection can carry traffic.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            ConnState::Connecting | ConnState::Connected | ConnState::Eof
        )
    }

    /// The client state of a client or inbound peer connection.
    pub fn client_state(&self) -> Option<&ClientState> {
        match &self.role {
            Role::Client(c) => Some(c),
            Role::DnodeClient(p) => Some(&p.client),
            _ => None,
        }
    }

    /// The client state of a client or inbound peer connection; only called
    /// on those.
    pub fn client(&self) -> &ClientState {
        self.client_state()
            .unwrap_or_else(|| unreachable!("not a client connection"))
    }

    /// Mutable [`Conn::client_state`].
    pub fn client_state_mut(&mut self) -> Option<&mut ClientState> {
        match &mut self.role {
            Role::Client(c) => Some(c),
            Role::DnodeClient(p) => Some(&mut p.client),
            _ => None,
        }
    }

    /// Mutable [`Conn::client`].
    pub fn client_mut(&mut self) -> &mut ClientState {
        match &mut self.role {
            Role::Client(c) => c,
            Role::DnodeClient(p) => &mut p.client,
            _ => unreachable!("not a client connection"),
        }
    }

    /// The state of a datastore connection.
    pub fn server_state_mut(&mut self) -> Option<&mut ServerState> {
        match &mut self.role {
            Role::Server(s) => Some(s),
            _ => None,
        }
    }

    /// What a datastore connection outside the pools is for.
    pub fn server_extra(&self) -> Option<ExtraConn> {
        match &self.role {
            Role::Server(s) => s.extra,
            _ => None,
        }
    }

    /// Where a datastore connection sits in the pools.
    pub fn server_slot(&self) -> Option<ServerSlot> {
        match &self.role {
            Role::Server(s) => Some(s.slot),
            _ => None,
        }
    }

    /// The peer and pool slot of an outbound peer connection.
    pub fn peer_slot(&self) -> Option<(PeerId, usize)> {
        match &self.role {
            Role::DnodePeer(p) => Some((p.peer, p.slot)),
            _ => None,
        }
    }

    /// The buffers of an HTTP connection.
    pub fn http_mut(&mut self) -> Option<&mut HttpBuf> {
        match &mut self.role {
            Role::StatsClient(h) => Some(h),
            _ => None,
        }
    }
}

/// Which queue statistics a server or peer connection's sends go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStats {
    /// A datastore connection.
    Server,
    /// A peer in this DC.
    Peer,
    /// A peer in another DC.
    RemotePeer,
}

impl Context {
    /// Reads from a client, server or peer connection until the socket would
    /// block, parsing as it goes. Returns `Ok(true)` when the other side
    /// closed its end; an error of the socket or of the input ends the
    /// connection.
    ///
    /// A connection keeps a reference on the chunk it reads into only while
    /// that chunk has room or holds the start of an unfinished message; an
    /// idle connection holds no chunk at all.
    pub(crate) fn conn_read(&mut self, cid: ConnId) -> io::Result<bool> {
        let kind = self.conns[cid.0].kind();
        let client = matches!(kind, ConnKind::Client | ConnKind::DnodeClient);
        loop {
            match kind {
                ConnKind::Client => self.client_parse(cid),
                ConnKind::DnodeClient => self.dnode_client_parse(cid)?,
                ConnKind::Server => self.server_parse(cid)?,
                ConnKind::DnodePeer => self.peer_parse(cid)?,
                _ => unreachable!("{kind:?} does not read messages"),
            }
            if client {
                let c = &self.conns[cid.0];
                if c.blocked || c.no_more_input || !c.is_active() {
                    return Ok(false);
                }
            }
            let c = &mut self.conns[cid.0];
            if let Some(b) = c.rbuf.take() {
                debug_assert_eq!(c.rpos, c.rend, "everything read was parsed");
                self.mbufs.put(b);
            }
            if client && (self.msgs.exhausted() || self.mbufs.exhausted()) {
                self.conns[cid.0].blocked = true;
                self.blocked.push(cid);
                log::debug!("c {} paused: message or buffer pool exhausted", cid.0);
                return Ok(false);
            }
            let buf = self.ingest_chunk();
            let start = self.mbufs.filled(buf);
            let c = &mut self.conns[cid.0];
            let res = c.sock.read(self.mbufs.spare_mut(buf));
            if c.sock.is_tls() {
                self.tls_read_done(cid);
            }
            let c = &mut self.conns[cid.0];
            match res {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.mbufs.commit(buf, n);
                    self.mbufs.incref(buf);
                    c.rbuf = Some(buf);
                    c.rpos = start;
                    c.rend = start + n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Parses one reply of a server or outbound peer connection from what
    /// is buffered (for a peer, the payload of the current frame). Returns
    /// the reply once complete, `None` when every buffered byte was taken and
    /// more are needed.
    pub(crate) fn conn_parse_reply(&mut self, cid: ConnId) -> io::Result<Option<MsgId>> {
        let c = &mut self.conns[cid.0];
        let Some(buf) = c.rbuf else { return Ok(None) };
        let filled = c.rend;
        if c.rpos >= filled {
            return Ok(None);
        }
        let rmid = match c.rmsg {
            Some(m) => m,
            None => {
                let m = self.msgs.get(MsgKind::Response);
                // MGET fragments need the element ranges of their reply,
                // and read repair those of SMEMBERS (repair_checksum).
                let record = c.omsg_q.front().is_some_and(|&r| {
                    self.msgs[r].parent.is_some() || self.msgs[r].internal.is_some()
                });
                self.msgs[m].rsp.record_elems = record;
                c.rmsg = Some(m);
                m
            }
        };
        let parser = match &mut c.role {
            Role::Server(s) => &mut s.parser,
            Role::DnodePeer(p) => &mut p.parser,
            _ => unreachable!("only servers and peers read replies"),
        };
        let chunk = self.mbufs.range(buf, c.rpos, filled);
        let m = &mut self.msgs[rmid];
        let res = if self.settings.memcache {
            let r = parser.memcache.parse(chunk, &mut m.mcr);
            if let Parse::Done(_) = r {
                m.summarize_mc_reply();
            }
            r
        } else {
            parser.redis.parse(chunk, &mut m.rsp)
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
        match res {
            Parse::Done(_) => {
                self.conns[cid.0].rmsg = None;
                Ok(Some(rmid))
            }
            _ => Ok(None),
        }
    }

    /// Writes the queued requests of a server or peer connection, one writev
    /// per round, until the queue is empty or the socket would block; `sent`
    /// moves what each write finished (`server_sent`, `peer_sent`).
    pub(crate) fn conn_send(
        &mut self,
        cid: ConnId,
        sent: fn(&mut Context, ConnId, u64),
    ) -> io::Result<()> {
        if self.conns[cid.0].state == ConnState::Connected && !self.tls_flush(cid)? {
            return Ok(());
        }
        loop {
            let c = &self.conns[cid.0];
            if c.state != ConnState::Connected || c.imsg_q.is_empty() {
                if c.state == ConnState::Connected {
                    self.set_write_interest(cid, false);
                }
                return Ok(());
            }
            let mut iov = [io::IoSlice::new(&[]); IOV_MAX];
            let mut niov = 0;
            let mut skip = c.send_off;
            for &mid in c.imsg_q.iter() {
                let segs = self.msgs[mid].wire_segs();
                if !self.mbufs.fill_iov(segs, &mut skip, &mut iov, &mut niov) {
                    break;
                }
            }
            let res = self.conns[cid.0].sock.write_vectored(&iov[..niov]);
            match res {
                Ok(n) => sent(self, cid, n as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(cid, true);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves fully written requests from `imsg_q` to the in-flight queue
    /// (`omsg_q`), recording their queue wait and the in-flight depth in
    /// `queue`'s statistics. A request that expects no reply is done once
    /// written.
    pub(crate) fn conn_sent(&mut self, cid: ConnId, mut n: u64, queue: QueueStats) {
        let mut written = Vec::new();
        let c = &mut self.conns[cid.0];
        let (wait, depth): (&mut Histogram, &mut Histogram) = match queue {
            QueueStats::Server => (
                &mut self.stats.server_queue_wait,
                &mut self.stats.server_out_queue,
            ),
            QueueStats::Peer => (
                &mut self.stats.cross_zone_queue_wait,
                &mut self.stats.peer_out_queue,
            ),
            QueueStats::RemotePeer => (
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

    /// Reads replies on a datastore or outbound peer connection (`what`
    /// names it in log lines): the other side closing is an expected close,
    /// bad bytes a protocol close, anything else an error.
    pub(crate) fn conn_recv_replies(&mut self, cid: ConnId, what: &str) -> Outcome {
        match self.conn_read(cid) {
            Ok(false) => Outcome::Ok,
            Ok(true) => {
                let c = &mut self.conns[cid.0];
                c.eof = true;
                let tag = c.kind().tag();
                info!("{tag} {} {what} {} closed the connection", cid.0, c.peer);
                Outcome::Close(CloseReason::Eof)
            }
            Err(e) => {
                let c = &self.conns[cid.0];
                if e.kind() == io::ErrorKind::PermissionDenied {
                    // A refused handshake: server.rs logged it, rate-limited.
                    log::debug!("{} {} {what} {}: {}", c.kind().tag(), cid.0, c.peer, e);
                } else {
                    warn!("{} {} {what} {}: {}", c.kind().tag(), cid.0, c.peer, e);
                }
                Outcome::Close(if e.kind() == io::ErrorKind::InvalidData {
                    CloseReason::Protocol
                } else {
                    CloseReason::Error
                })
            }
        }
    }

    /// Finishes a non-blocking connect (datastore or peer): `Ok(true)` once
    /// it completed, the connection then `Connected`, writing only when it
    /// has output and flushed this turn (requests may have queued while it
    /// connected); `Ok(false)` while it is still in progress; the socket's
    /// error when it failed.
    pub(crate) fn conn_connect_done(&mut self, cid: ConnId) -> io::Result<bool> {
        let c = &mut self.conns[cid.0];
        if let Some(e) = c.sock.take_error()? {
            return Err(e);
        }
        if !c.sock.is_connected() {
            return Ok(false);
        }
        c.state = ConnState::Connected;
        self.set_write_interest(cid, false);
        self.schedule_flush(cid);
        Ok(true)
    }

    /// Copies a few generated bytes (a frame header, `+OK`) into the chunk
    /// shared by all small generated pieces and returns their segment, so
    /// that a 40-byte header does not take a chunk of its own.
    pub(crate) fn small_seg(&mut self, data: &[u8]) -> Seg {
        debug_assert!(data.len() <= self.mbufs.chunk_size() / 8);
        let b = match self.small {
            Some(b) if self.mbufs.spare_len(b) >= data.len() => b,
            old => {
                if let Some(b) = old {
                    self.mbufs.put(b);
                }
                let b = self.mbufs.get();
                self.small = Some(b);
                b
            }
        };
        let start = self.mbufs.filled(b);
        self.mbufs.spare_mut(b)[..data.len()].copy_from_slice(data);
        self.mbufs.commit(b, data.len());
        self.mbufs.incref(b);
        Seg {
            buf: b,
            start: start as u32,
            end: (start + data.len()) as u32,
        }
    }

    /// The chunk every connection reads into. Reads from all connections fill
    /// one chunk after another, so a thousand clients that each send a small
    /// request use a few chunks between them, not one each; a new chunk is
    /// taken when less than a quarter of the current one is left.
    fn ingest_chunk(&mut self) -> MbufId {
        let min = (self.mbufs.chunk_size() / 4).max(256);
        if let Some(b) = self.ingest {
            if self.mbufs.spare_len(b) >= min {
                return b;
            }
            self.mbufs.put(b);
        }
        let b = self.mbufs.get();
        self.ingest = Some(b);
        b
    }

    /// Appends bytes `start..end` of chunk `buf` to a message, merging with its
    /// last segment when they touch.
    pub(crate) fn msg_add_range(&mut self, mid: MsgId, buf: MbufId, start: usize, end: usize) {
        if start == end {
            return;
        }
        let m = &mut self.msgs[mid];
        m.mlen += (end - start) as u64;
        if let Some(last) = m.segs.last_mut() {
            if last.buf == buf && last.end as usize == start {
                last.end = end as u32;
                return;
            }
        }
        self.mbufs.incref(buf);
        m.segs.push(Seg {
            buf,
            start: start as u32,
            end: end as u32,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An idle client costs its `Conn` (ARCHITECTURE.md, Memory): the role
    /// enum must not make it bigger than the struct with every role's fields
    /// was (760 bytes on x86-64; 360 with the role enum).
    #[test]
    fn conn_stays_small() {
        let size = std::mem::size_of::<Conn>();
        eprintln!(
            "Conn {size} bytes: role {}, client {}, inbound peer {}, outbound peer {}, server {}, framer {}",
            std::mem::size_of::<Role>(),
            std::mem::size_of::<ClientState>(),
            std::mem::size_of::<InboundPeerState>(),
            std::mem::size_of::<OutboundPeerState>(),
            std::mem::size_of::<ServerState>(),
            std::mem::size_of::<Framer>(),
        );
        assert!(size <= 760, "Conn grew to {size} bytes");
    }
}
