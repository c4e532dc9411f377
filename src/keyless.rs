//! Keyless and admin commands as users expect them from one redis: the
//! original sends them to the local datastore only, or refuses them.
//!
//! ```text
//!  FLUSHDB, FLUSHALL ─► every node of the cluster (all racks and DCs),
//!                       each on every datastore ─► +OK when all said so,
//!                       else the first failure (Coalesce::Ok)
//!  DBSIZE ─► every node of the local rack ─► the sum       (Coalesce::Sum)
//!  KEYS   ─► every node of the local rack ─► one array     (Coalesce::Concat)
//!  SCAN   ─► one shard at a time: the cursor is redis' cursor * shards +
//!            shard, and a shard's end moves on to the next (Coalesce::Scan)
//!  INFO   ─► this node's datastore, plus a `# Dynomite` section
//!  CLIENT LIST / INFO / KILL ─► this node's own clients, in redis' format
//!  SCRIPT KILL, FUNCTION KILL ─► a connection of its own on every datastore
//!            (server.rs `server_extra_conn`), so it is not queued behind the
//!            busy script; BUSY replies pass through unchanged
//! ```
//!
//! Shards are the nodes of the local rack (a node asked by a peer answers
//! for all of its datastores), or on a single node its datastores.

use std::fmt::Write as _;
use std::os::fd::AsRawFd;

use crate::cluster::plan::Target;
use crate::conn::{ConnKind, Sock};
use crate::core::Context;
use crate::errors::{ERR_NOT_INTEGER, ERR_SYNTAX};
use crate::ids::PeerId;
use crate::mbuf::Seg;
use crate::msg::{Coalesce, ConnId, MsgId};
use crate::proto::redis::Command;

/// Where the shards of a fan-out are.
#[derive(Debug, Clone)]
enum Shards {
    /// This node's datastores.
    Servers(usize),
    /// Nodes of the cluster (this node included).
    Peers(Vec<PeerId>),
}

impl Shards {
    fn len(&self) -> usize {
        match self {
            Shards::Servers(n) => *n,
            Shards::Peers(p) => p.len(),
        }
    }
}

impl Context {
    /// The front door's hook for keyless and admin commands; true when the
    /// request was handled here.
    pub(crate) fn keyless_request(
        &mut self,
        cid: ConnId,
        mid: MsgId,
        cmd: &'static Command,
    ) -> bool {
        let from_client = self.conns[cid.0].kind() == ConnKind::Client;
        match cmd.name {
            "client|list" if from_client => self.client_list(cid, mid),
            "client|info" if from_client => {
                let line = self.client_line(cid);
                self.reply_verbatim(cid, mid, line.as_bytes());
            }
            "client|kill" if from_client => self.client_kill(cid, mid),
            "flushdb" | "flushall" => {
                let shards = if from_client && !self.topology.is_single() {
                    Shards::Peers(self.topology.peer_ids().collect())
                } else {
                    Shards::Servers(self.servers.len())
                };
                self.fanout(cid, mid, &shards, Coalesce::Flush);
            }
            "dbsize" | "keys" => {
                let coalesce = if cmd.name == "dbsize" {
                    Coalesce::Sum
                } else {
                    Coalesce::Concat
                };
                let shards = self.rack_shards(from_client);
                self.fanout(cid, mid, &shards, coalesce);
            }
            "scan" if from_client => {
                let shards = self.rack_shards(true);
                self.scan(cid, mid, &shards);
            }
            "info" if from_client => self.info(cid, mid),
            _ => return false,
        }
        true
    }

    /// The shards of a local-rack command: this rack's nodes for a client
    /// of a cluster, this node's datastores otherwise.
    fn rack_shards(&self, from_client: bool) -> Shards {
        if from_client && !self.topology.is_single() {
            let rack = &self.topology.dcs[0].racks[self.topology.local_rack];
            let mut peers = rack.peers.clone();
            peers.sort_by_key(|p| p.0);
            Shards::Peers(peers)
        } else {
            Shards::Servers(self.servers.len())
        }
    }

    /// Sends a copy of `mid` to every shard; the replies merge by `coalesce`.
    fn fanout(&mut self, cid: ConnId, mid: MsgId, shards: &Shards, coalesce: Coalesce) {
        if let Shards::Servers(1) = shards {
            self.server_forward(mid, 0, cid);
            return;
        }
        self.make_children(mid, shards.len(), coalesce);
        if coalesce == Coalesce::Flush {
            // What each child went to, to name failures.
            let map = &mut self.msgs[mid].frag.key_map;
            match shards {
                Shards::Servers(n) => map.extend((0..*n as u32).map(|i| (0, i))),
                Shards::Peers(p) => map.extend(p.iter().map(|p| (1, p.0))),
            }
        }
        for i in 0..shards.len() {
            let fid = self.msgs[mid].frag.frags[i];
            self.shard_send(cid, fid, shards, i);
        }
        self.fanout_done(mid);
    }

    /// Sends `mid` to shard `i`.
    fn shard_send(&mut self, cid: ConnId, mid: MsgId, shards: &Shards, i: usize) {
        match shards {
            Shards::Servers(_) => self.server_forward(mid, i, cid),
            Shards::Peers(p) => self.dispatch(mid, Target::of(p[i], false)),
        }
    }

    /// SCAN cursor [options]: redis' cursor of one shard, then the next.
    fn scan(&mut self, cid: ConnId, mid: MsgId, shards: &Shards) {
        let n = shards.len() as u64;
        let cursor = String::from_utf8_lossy(&self.arg_vec(mid, 1))
            .parse::<u64>()
            .ok();
        let Some(cursor) = cursor else {
            self.reply_error(mid, "ERR invalid cursor");
            return;
        };
        let shard = (cursor % n) as usize;
        let inner = cursor / n;
        if n == 1 {
            self.shard_send(cid, mid, shards, 0);
            return;
        }
        // The request with the shard's own cursor.
        let nargs = self.msgs[mid].req.args.len();
        let mut args: Vec<Vec<u8>> = (0..nargs).map(|i| self.arg_vec(mid, i)).collect();
        args[1] = inner.to_string().into_bytes();
        let mut bytes = Vec::new();
        crate::txn::encode(&mut bytes, args.iter().map(|a| a.as_slice()));
        self.rewrite_request(mid, &bytes, &args);
        self.make_children(mid, 1, Coalesce::Scan);
        // The merge reads the shard and the shard count from here.
        self.msgs[mid].frag.key_map.push((shard as u32, n as u32));
        let fid = self.msgs[mid].frag.frags[0];
        self.shard_send(cid, fid, shards, shard);
        self.fanout_done(mid);
    }

    /// Replaces the bytes of request `mid` with `bytes`, the canonical RESP
    /// array of `args`.
    pub(crate) fn rewrite_request(&mut self, mid: MsgId, bytes: &[u8], args: &[Vec<u8>]) {
        let m = &mut self.msgs[mid];
        let mut segs = std::mem::take(&mut m.segs);
        self.mbufs.put_segs(&mut segs);
        self.mbufs.append(&mut segs, bytes);
        let m = &mut self.msgs[mid];
        m.segs = segs;
        m.mlen = bytes.len() as u64;
        m.req.inline = false;
        m.req.args.clear();
        let mut off = format!("*{}\r\n", args.len()).len() as u64;
        for a in args {
            off += format!("${}\r\n", a.len()).len() as u64;
            m.req.args.push(crate::proto::redis::Arg {
                off,
                len: a.len() as u32,
            });
            off += a.len() as u64 + 2;
        }
        debug_assert_eq!(off, bytes.len() as u64);
    }

    /// INFO [section ...]: the datastore's answer and the node's section.
    fn info(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut ours = nargs == 1;
        let mut only_ours = nargs > 1;
        for i in 1..nargs {
            let a = self.arg_vec(mid, i).to_ascii_lowercase();
            let dyn_section = a == b"dynomite";
            ours |= dyn_section || a == b"all" || a == b"everything" || a == b"default";
            only_ours &= dyn_section;
        }
        if only_ours {
            let text = self.dynomite_section();
            self.reply_verbatim(cid, mid, text.as_bytes());
            return;
        }
        if !ours {
            self.server_forward(mid, 0, cid);
            return;
        }
        self.make_children(mid, 1, Coalesce::Info);
        let fid = self.msgs[mid].frag.frags[0];
        self.server_forward(fid, 0, cid);
        self.fanout_done(mid);
    }

    /// The `# Dynomite` section of INFO.
    pub(crate) fn dynomite_section(&self) -> String {
        let local = self.topology.peer(PeerId::LOCAL);
        let clients = self
            .conns
            .iter()
            .filter(|(_, c)| c.kind() == ConnKind::Client)
            .count();
        let racks: usize = self.topology.dcs.iter().map(|d| d.racks.len()).sum();
        let mut s = String::from("# Dynomite\r\n");
        let _ = write!(
            s,
            "dynomite_version:{}\r\ndyn_dc:{}\r\ndyn_rack:{}\r\ndyn_nodes:{}\r\n\
             dyn_racks:{}\r\ndyn_datacenters:{}\r\ndyn_datastores:{}\r\n\
             dyn_connected_clients:{}\r\ndyn_read_consistency:{}\r\n\
             dyn_write_consistency:{}\r\n",
            crate::VERSION,
            local.dc,
            local.rack,
            self.topology.peer_count(),
            racks,
            self.topology.dcs.len(),
            self.servers.len(),
            clients,
            self.settings.read_consistency.name(),
            self.settings.write_consistency.name(),
        );
        s
    }

    /// Answers with a bulk string (RESP2) or a verbatim `txt` string
    /// (RESP3), as redis answers CLIENT LIST and INFO.
    fn reply_verbatim(&mut self, cid: ConnId, mid: MsgId, text: &[u8]) {
        let resp3 = self.conns[cid.0].client().resp3;
        let out = verbatim(text, resp3);
        self.reply_bytes(mid, &out);
    }

    /// CLIENT LIST [TYPE type] [ID id ...].
    fn client_list(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut ids: Option<Vec<u64>> = None;
        let mut none = false;
        let mut i = 2;
        while i < nargs {
            let opt = self.arg_vec(mid, i).to_ascii_lowercase();
            match opt.as_slice() {
                b"type" if i + 1 < nargs => {
                    let t = self.arg_vec(mid, i + 1).to_ascii_lowercase();
                    match t.as_slice() {
                        b"normal" => {}
                        b"master" | b"replica" | b"slave" | b"pubsub" => none = true,
                        _ => {
                            let t = String::from_utf8_lossy(&t).replace(['\r', '\n'], " ");
                            self.reply_error(mid, &format!("ERR Unknown client type '{t}'"));
                            return;
                        }
                    }
                    i += 2;
                }
                b"id" if i + 1 < nargs => {
                    let mut v = Vec::new();
                    for j in i + 1..nargs {
                        match String::from_utf8_lossy(&self.arg_vec(mid, j)).parse::<u64>() {
                            Ok(id) if id > 0 => v.push(id),
                            _ => {
                                self.reply_error(mid, "ERR Invalid client ID");
                                return;
                            }
                        }
                    }
                    ids = Some(v);
                    i = nargs;
                }
                _ => {
                    self.reply_error(mid, ERR_SYNTAX);
                    return;
                }
            }
        }
        let mut out = String::new();
        if !none {
            let clients: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| c.kind() == ConnKind::Client)
                .filter(|(_, c)| {
                    ids.as_ref()
                        .is_none_or(|v| v.contains(&c.client().client_id))
                })
                .map(|(k, _)| ConnId(k))
                .collect();
            for c in clients {
                out.push_str(&self.client_line(c));
            }
        }
        self.reply_verbatim(cid, mid, out.as_bytes());
    }

    /// One client in CLIENT LIST's format (a line ending in `\n`).
    fn client_line(&self, cid: ConnId) -> String {
        let c = &self.conns[cid.0];
        let st = c.client();
        let (laddr, fd) = match &c.sock {
            Sock::Tcp(s) => (
                s.local_addr().map(|a| a.to_string()).unwrap_or_default(),
                s.as_raw_fd(),
            ),
            Sock::Unix(s) => (String::new(), s.as_raw_fd()),
            Sock::Tls(t) => (
                t.tcp()
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                t.tcp().as_raw_fd(),
            ),
            _ => (String::new(), -1),
        };
        let age = self.now.saturating_duration_since(st.created).as_secs();
        let idle = self.now.saturating_duration_since(st.last_at).as_secs();
        let (flags, multi) = match &st.txn {
            Some(t) => ("x", i64::from(t.len())),
            None => ("N", -1),
        };
        let db = st.db.unwrap_or(self.settings.auth.redis_db);
        let name = st
            .name
            .as_deref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let events = if c.want_write { "rw" } else { "r" };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub=0 psub=0 \
             ssub=0 multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 \
             oll={} omem=0 tot-mem=0 events={} cmd={} user=default redir=-1 resp={}\n",
            st.client_id,
            c.peer,
            laddr,
            fd,
            name,
            age,
            idle,
            flags,
            db,
            multi,
            c.omsg_q.len(),
            events,
            st.last_cmd,
            if st.resp3 { 3 } else { 2 },
        )
    }

    /// CLIENT KILL addr:port | CLIENT KILL <filter value> ...
    fn client_kill(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        if nargs == 3 {
            // The old form: one address, +OK or an error.
            let addr = self.arg_vec(mid, 2);
            let found = self.clients_matching(cid, &KillFilter::addr(addr), false);
            match found.first() {
                Some(&victim) => {
                    self.kill_clients(cid, mid, &[victim]);
                    self.reply_bytes(mid, b"+OK\r\n");
                }
                None => self.reply_error(mid, "ERR No such client"),
            }
            return;
        }
        if !nargs.is_multiple_of(2) {
            self.reply_error(mid, ERR_SYNTAX);
            return;
        }
        let mut f = KillFilter::default();
        let mut skipme = true;
        let mut i = 2;
        while i + 1 < nargs {
            let opt = self.arg_vec(mid, i).to_ascii_lowercase();
            let val = self.arg_vec(mid, i + 1);
            match opt.as_slice() {
                b"id" => match String::from_utf8_lossy(&val).parse::<u64>() {
                    Ok(id) if id > 0 => f.id = Some(id),
                    _ => {
                        self.reply_error(mid, "ERR client-id should be greater than 0");
                        return;
                    }
                },
                b"addr" => f.addr = Some(val),
                b"laddr" => f.laddr = Some(val),
                b"user" => f.user = Some(val),
                b"type" => {
                    let t = val.to_ascii_lowercase();
                    if t != b"normal" {
                        f.no_match = true;
                    }
                }
                b"maxage" => match String::from_utf8_lossy(&val).parse::<u64>() {
                    Ok(a) => f.maxage = Some(a),
                    Err(_) => {
                        self.reply_error(mid, ERR_NOT_INTEGER);
                        return;
                    }
                },
                b"skipme" => match val.to_ascii_lowercase().as_slice() {
                    b"yes" => skipme = true,
                    b"no" => skipme = false,
                    _ => {
                        self.reply_error(mid, ERR_SYNTAX);
                        return;
                    }
                },
                _ => {
                    self.reply_error(mid, ERR_SYNTAX);
                    return;
                }
            }
            i += 2;
        }
        let victims = self.clients_matching(cid, &f, skipme);
        self.kill_clients(cid, mid, &victims);
        self.reply_bytes(mid, format!(":{}\r\n", victims.len()).as_bytes());
    }

    /// Clients (of the client port) that match a CLIENT KILL filter.
    fn clients_matching(&self, me: ConnId, f: &KillFilter, skipme: bool) -> Vec<ConnId> {
        if f.no_match {
            return Vec::new();
        }
        self.conns
            .iter()
            .filter(|(k, c)| c.kind() == ConnKind::Client && !(skipme && *k == me.0))
            .filter(|(_, c)| {
                let st = c.client();
                f.id.is_none_or(|id| st.client_id == id)
                    && f.addr.as_ref().is_none_or(|a| c.peer.as_bytes() == a)
                    && f.user.as_ref().is_none_or(|u| u == b"default")
                    && f.maxage.is_none_or(|a| {
                        self.now.saturating_duration_since(st.created).as_secs() >= a
                    })
                    && f.laddr.as_ref().is_none_or(|l| {
                        let local = match &c.sock {
                            Sock::Tcp(s) => s.local_addr().ok(),
                            Sock::Tls(t) => t.tcp().local_addr().ok(),
                            _ => None,
                        };
                        local.is_some_and(|a| a.to_string().as_bytes() == l)
                    })
            })
            .map(|(k, _)| ConnId(k))
            .collect()
    }

    /// Closes the clients `victims`; the client asking is closed after its
    /// reply, as redis does.
    fn kill_clients(&mut self, me: ConnId, mid: MsgId, victims: &[ConnId]) {
        for &v in victims {
            if v == me {
                self.msgs[mid].close_after = true;
                self.conns[me.0].no_more_input = true;
            } else {
                log::info!("c {} closed by CLIENT KILL of c {}", v.0, me.0);
                self.close_conn(v);
            }
        }
    }
}

impl Context {
    /// Merges the replies of KEYS, INFO and SCAN fan-outs (response.rs
    /// `merge_split`, after the error check) into `out`; returns the reply's
    /// type byte.
    pub(crate) fn merge_keyless(
        &mut self,
        coalesce: Coalesce,
        frags: &[MsgId],
        key_map: &[(u32, u32)],
        out: &mut Vec<Seg>,
    ) -> u8 {
        let replies: Vec<Vec<u8>> = frags
            .iter()
            .map(|&f| {
                let r = &self.msgs[self.msgs[f].peer.expect("done fragment")];
                let mut v = Vec::with_capacity(r.mlen as usize);
                self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut v);
                v
            })
            .collect();
        let made = match coalesce {
            Coalesce::Concat => concat_arrays(&replies),
            Coalesce::Info => bulk_text(&replies[0]).map(|(text, resp3)| {
                let mut t = text.to_vec();
                if !t.is_empty() && !t.ends_with(b"\r\n\r\n") {
                    t.extend_from_slice(b"\r\n");
                }
                t.extend_from_slice(self.dynomite_section().as_bytes());
                verbatim(&t, resp3)
            }),
            _ => {
                let (shard, n) = key_map.first().copied().unwrap_or((0, 1));
                scan_reply(&replies[0], u64::from(shard), u64::from(n))
            }
        };
        match made {
            Some(bytes) => {
                self.mbufs.append(out, &bytes);
                bytes[0]
            }
            None => {
                // Not the expected shape: the first reply, unchanged.
                self.mbufs.append(out, &replies[0]);
                replies[0].first().copied().unwrap_or(b'-')
            }
        }
    }
}

impl Context {
    /// The reply of a flush fan-out: `+OK` when every child answered `+OK`,
    /// else an error naming the first that did not. Returns the type byte.
    pub(crate) fn merge_flush(
        &mut self,
        frags: &[MsgId],
        key_map: &[(u32, u32)],
        out: &mut Vec<Seg>,
    ) -> u8 {
        let mut failed = 0;
        let mut first = None;
        for (i, &f) in frags.iter().enumerate() {
            let r = &self.msgs[self.msgs[f].peer.expect("done fragment")];
            let mut text = Vec::new();
            self.mbufs.copy_out(&r.segs, 0, r.mlen.min(200), &mut text);
            if text.starts_with(b"+OK") {
                continue;
            }
            failed += 1;
            if first.is_none() {
                let what = match key_map.get(i) {
                    Some(&(0, s)) => self
                        .servers
                        .get(s as usize)
                        .map_or_else(String::new, |s| format!("datastore {}", s.conf.name)),
                    Some(&(_, p)) => self.topology.get(PeerId(p)).map_or_else(String::new, |p| {
                        if p.addr.is_none() {
                            format!("this node ({}/{})", p.dc, p.rack)
                        } else {
                            format!("node {}:{} ({}/{})", p.host, p.port, p.dc, p.rack)
                        }
                    }),
                    None => String::new(),
                };
                let why = String::from_utf8_lossy(&text)
                    .trim_start_matches(['-', '+'])
                    .replace(['\r', '\n'], " ")
                    .trim()
                    .to_string();
                first = Some(format!("{what}: {why}"));
            }
        }
        match first {
            None => {
                self.mbufs.append(out, b"+OK\r\n");
                b'+'
            }
            Some(first) => {
                let text = crate::errors::flush_failed(failed, frags.len(), &first);
                self.mbufs.append(out, b"-");
                self.mbufs.append(out, text.as_bytes());
                self.mbufs.append(out, b"\r\n");
                b'-'
            }
        }
    }
}

/// One array of the elements of several array replies.
pub fn concat_arrays(replies: &[Vec<u8>]) -> Option<Vec<u8>> {
    let mut total = 0u64;
    let mut bodies = Vec::with_capacity(replies.len());
    for r in replies {
        if r.first() != Some(&b'*') {
            return None;
        }
        let nl = memchr::memchr(b'\n', r)?;
        let n: u64 = std::str::from_utf8(r.get(1..nl.checked_sub(1)?)?)
            .ok()?
            .parse()
            .ok()?;
        total += n;
        bodies.push(&r[nl + 1..]);
    }
    let mut out = format!("*{total}\r\n").into_bytes();
    for b in bodies {
        out.extend_from_slice(b);
    }
    Some(out)
}

/// The filters of CLIENT KILL's new form.
#[derive(Debug, Default)]
struct KillFilter {
    id: Option<u64>,
    addr: Option<Vec<u8>>,
    laddr: Option<Vec<u8>>,
    user: Option<Vec<u8>>,
    maxage: Option<u64>,
    /// A TYPE no client of the proxy has.
    no_match: bool,
}

impl KillFilter {
    fn addr(addr: Vec<u8>) -> KillFilter {
        KillFilter {
            addr: Some(addr),
            ..KillFilter::default()
        }
    }
}

/// A bulk string (RESP2) or a verbatim `txt` string (RESP3).
pub fn verbatim(text: &[u8], resp3: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    if resp3 {
        out.extend_from_slice(format!("={}\r\ntxt:", text.len() + 4).as_bytes());
    } else {
        out.extend_from_slice(format!("${}\r\n", text.len()).as_bytes());
    }
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
    out
}

/// The text of a bulk (`$`) or verbatim (`=`) reply, without a verbatim
/// string's format prefix; `None` for any other reply.
pub fn bulk_text(reply: &[u8]) -> Option<(&[u8], bool)> {
    let resp3 = match reply.first()? {
        b'$' => false,
        b'=' => true,
        _ => return None,
    };
    let nl = memchr::memchr(b'\n', reply)?;
    let len: usize = std::str::from_utf8(reply.get(1..nl.checked_sub(1)?)?)
        .ok()?
        .parse()
        .ok()?;
    let body = reply.get(nl + 1..nl + 1 + len)?;
    if resp3 {
        Some((body.get(4..)?, true))
    } else {
        Some((body, false))
    }
}

/// A shard's SCAN reply with the cluster's cursor: `shard` of `n`
/// answered `reply`; `None` when it is not a SCAN reply.
pub fn scan_reply(reply: &[u8], shard: u64, n: u64) -> Option<Vec<u8>> {
    let rest = reply.strip_prefix(b"*2\r\n")?;
    let (cursor, rest) = match rest.first()? {
        b'$' => {
            let nl = memchr::memchr(b'\n', rest)?;
            let len: usize = std::str::from_utf8(rest.get(1..nl - 1)?)
                .ok()?
                .parse()
                .ok()?;
            let c = rest.get(nl + 1..nl + 1 + len)?;
            (c, rest.get(nl + 3 + len..)?)
        }
        _ => return None,
    };
    let inner: u64 = std::str::from_utf8(cursor).ok()?.parse().ok()?;
    let next = if inner == 0 {
        if shard + 1 < n {
            shard + 1
        } else {
            0
        }
    } else {
        inner.checked_mul(n)?.checked_add(shard)?
    };
    let next = next.to_string();
    let mut out = format!("*2\r\n${}\r\n{}\r\n", next.len(), next).into_bytes();
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_and_bulk_text_agree() {
        for resp3 in [false, true] {
            let v = verbatim(b"a:1\r\nb:2\r\n", resp3);
            assert_eq!(bulk_text(&v), Some((&b"a:1\r\nb:2\r\n"[..], resp3)));
        }
        assert_eq!(verbatim(b"x", false), b"$1\r\nx\r\n");
        assert_eq!(verbatim(b"x", true), b"=5\r\ntxt:x\r\n");
        assert_eq!(bulk_text(b"+OK\r\n"), None);
        assert_eq!(bulk_text(b"$5\r\nab\r\n"), None);
    }

    #[test]
    fn scan_cursors_walk_the_shards() {
        let reply = |c: &str| format!("*2\r\n${}\r\n{c}\r\n*1\r\n$1\r\nk\r\n", c.len());
        // A shard in the middle of its keys keeps its place.
        assert_eq!(
            scan_reply(reply("7").as_bytes(), 1, 3).unwrap(),
            reply("22").into_bytes()
        );
        // A shard at its end moves on to the next one, the last one ends.
        assert_eq!(
            scan_reply(reply("0").as_bytes(), 0, 3).unwrap(),
            reply("1").into_bytes()
        );
        assert_eq!(
            scan_reply(reply("0").as_bytes(), 2, 3).unwrap(),
            reply("0").into_bytes()
        );
        assert_eq!(scan_reply(b"-ERR x\r\n", 0, 2), None);
        assert_eq!(
            concat_arrays(&[
                b"*1\r\n$1\r\na\r\n".to_vec(),
                b"*0\r\n".to_vec(),
                b"*1\r\n:1\r\n".to_vec()
            ]),
            Some(b"*2\r\n$1\r\na\r\n:1\r\n".to_vec())
        );
        assert_eq!(concat_arrays(&[b"+OK\r\n".to_vec()]), None);
        assert_eq!(scan_reply(reply("x").as_bytes(), 0, 2), None);
    }
}
