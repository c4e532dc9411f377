//! Connections (dyn_connection.c): one struct for every kind of socket the
//! node holds, told apart by [`ConnKind`], and the socket I/O they share.
//!
//! ```text
//!            accept                      connect
//!  Proxy ───────────► Client ──req──► Server ──► datastore
//!  DnodeProxy ──────► DnodeClient      DnodePeer ──► other node   (cluster)
//! ```
//!
//! A connection never closes itself: handlers report, and the context's
//! dispatcher closes (core.rs).

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use crate::conf::Consistency;
use crate::core::Context;
use crate::dnode::msg::{DmsgHeader, DmsgInfo, DmsgParser};
use crate::ids::PeerId;
use crate::mbuf::{MbufId, Seg};
use crate::msg::{ConnId, MsgId};
use crate::proto::memcache;
use crate::proto::redis::{ReqParser, RspParser};

/// What a connection is for (the original's `connection_type_t`).
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
}

impl Sock {
    /// The mio source, for (de)registration.
    pub fn source(&mut self) -> &mut dyn mio::event::Source {
        match self {
            Sock::TcpListener(s) => s,
            Sock::UnixListener(s) => s,
            Sock::Tcp(s) => s,
            Sock::Unix(s) => s,
        }
    }

    /// Reads into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.read(buf),
            Sock::Unix(s) => s.read(buf),
            _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// Writes the slices in one system call.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Sock::Tcp(s) => s.write_vectored(bufs),
            Sock::Unix(s) => s.write_vectored(bufs),
            _ => Err(io::Error::from(io::ErrorKind::Unsupported)),
        }
    }

    /// The pending socket error of a connect in progress, if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Sock::Tcp(s) => s.take_error(),
            Sock::Unix(s) => s.take_error(),
            _ => Ok(None),
        }
    }

    /// True once a non-blocking connect has completed.
    pub fn is_connected(&self) -> bool {
        match self {
            Sock::Tcp(s) => s.peer_addr().is_ok(),
            Sock::Unix(s) => s.peer_addr().is_ok(),
            _ => true,
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
}

/// Buffers of an HTTP connection (stats and admin): small, so plain vectors.
#[derive(Debug, Default)]
pub struct HttpBuf {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    /// Close once `output` is written.
    pub close: bool,
}

/// One connection and everything queued on it.
#[derive(Debug)]
pub struct Conn {
    pub kind: ConnKind,
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
    /// Request parser (clients).
    pub req_parser: ReqParser,
    /// Reply parser (servers).
    pub rsp_parser: RspParser,
    /// Memcached parsers (`data_store: 1`).
    pub mc_req_parser: memcache::ReqParser,
    pub mc_rsp_parser: memcache::RspParser,
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
    /// Client: its requests speak RESP3 (HELLO 3).
    pub resp3: bool,
    /// Client: its CLIENT ID.
    pub client_id: u64,
    /// Client: name set with CLIENT SETNAME.
    pub name: Option<Vec<u8>>,
    /// Client: consistency of this connection's reads and writes.
    pub read_consistency: Consistency,
    pub write_consistency: Consistency,
    /// Server: where it sits in the pools.
    pub slot: Option<ServerSlot>,
    /// Peer connections: frame header parser and the header of the frame
    /// whose payload is being read.
    pub dmsg_parser: DmsgParser,
    pub dmsg_info: DmsgInfo,
    pub dhdr: Option<DmsgHeader>,
    /// Payload bytes of a frame still to skip (gossip, unknown types).
    pub skip: u64,
    /// DnodePeer: (peer index, slot).
    pub peer_slot: Option<(PeerId, usize)>,
    /// The peer closed its side (EOF) rather than failing.
    pub eof: bool,
    /// StatsClient: request bytes read and response bytes to write.
    pub http: Option<Box<HttpBuf>>,
    /// Human-readable peer address for log lines.
    pub peer: String,
}

impl Conn {
    /// A new connection of `kind` on `sock`.
    pub fn new(kind: ConnKind, state: ConnState, sock: Sock, peer: String) -> Conn {
        Conn {
            kind,
            state,
            sock,
            rbuf: None,
            rpos: 0,
            rend: 0,
            rmsg: None,
            req_parser: ReqParser::default(),
            rsp_parser: RspParser::default(),
            mc_req_parser: memcache::ReqParser::default(),
            mc_rsp_parser: memcache::RspParser::default(),
            omsg_q: VecDeque::new(),
            imsg_q: VecDeque::new(),
            send_off: 0,
            want_write: false,
            in_flush: false,
            blocked: false,
            no_more_input: false,
            resp3: false,
            client_id: 0,
            name: None,
            read_consistency: Consistency::DcOne,
            write_consistency: Consistency::DcOne,
            slot: None,
            dmsg_parser: DmsgParser::new(),
            dmsg_info: DmsgInfo::default(),
            dhdr: None,
            skip: 0,
            peer_slot: None,
            eof: false,
            http: None,
            peer,
        }
    }

    /// True when the connection can carry traffic.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            ConnState::Connecting | ConnState::Connected | ConnState::Eof
        )
    }
}

impl Context {
    /// Reads from a client or server connection until the socket would block,
    /// parsing as it goes. Returns `Ok(true)` when the peer closed its side.
    ///
    /// A connection keeps a reference on the chunk it reads into only while
    /// that chunk has room or holds the start of an unfinished message; an
    /// idle connection holds no chunk at all.
    pub fn conn_read(&mut self, cid: ConnId) -> io::Result<bool> {
        let client = matches!(
            self.conns[cid.0].kind,
            ConnKind::Client | ConnKind::DnodeClient
        );
        loop {
            if client {
                self.client_parse(cid);
                let c = &self.conns[cid.0];
                if c.blocked || c.no_more_input || !c.is_active() {
                    return Ok(false);
                }
            } else {
                self.server_parse(cid)?;
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
            match c.sock.read(self.mbufs.spare_mut(buf)) {
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

    /// Copies a few generated bytes (a frame header, `+OK`) into the chunk
    /// shared by all small generated pieces and returns their segment, so
    /// that a 40-byte header does not take a chunk of its own.
    pub fn small_seg(&mut self, data: &[u8]) -> Seg {
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
    pub fn msg_add_range(&mut self, mid: MsgId, buf: MbufId, start: usize, end: usize) {
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
