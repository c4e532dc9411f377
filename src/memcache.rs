//! Memcached requests on the node (the routing half of dyn_memcache.c):
//! proxy-answered commands, the multi-get split and merge, and the reply
//! summary the quorum code reads. The routing entries of the commands are in
//! [`proto::memcache::command`](mod@crate::proto::memcache::command).
//!
//! ```text
//!  get k1 k2 k3 ─► split by owner ─► "get k1 k3\r\n", "get k2\r\n"
//!       replies: VALUE k1 … VALUE k3 … END | VALUE k2 … END
//!  ─► client: VALUE k1 … VALUE k2 … VALUE k3 … END   (key order, one END)
//! ```
//!
//! `noreply` requests are queued for no reply anywhere: the client waits for
//! nothing, and the datastore connection frees them once written.
//!
//! Meta commands (`mg ms md ma me`) are routed by their key (decoded first
//! when the `b` flag says it is base64) and relayed as they are, with one
//! exception: quiet mode. A `q` flag lets memcached skip a reply, which would
//! leave the proxy unable to pair replies with requests, so the proxy blanks
//! the flag before forwarding (the datastore always answers) and drops the
//! replies quiet mode suppresses itself, as memcached 1.6 does:
//!
//! ```text
//!  mg: EN        ms, md: HD        ma: HD and VA (success)
//! ```
//!
//! `mn` is answered `MN` by the proxy: replies leave in request order, so it
//! follows every reply owed before it. `version` and `stats` go to this
//! node's datastore (the first one when there are several); `stats
//! dynomite` answers the node's own counters; `verbosity` is answered `OK`;
//! `flush_all` reaches every datastore of the cluster and answers `OK` only
//! when every one did. Binary-protocol requests are rewritten as meta
//! commands first ([`crate::memcache_binary`]).

use std::io::Write as _;

use crate::cluster::plan::Target;
use crate::core::Context;
use crate::errors::ERR_MC_FLUSH_FAILED;
use crate::mbuf::{seg_ranges, Seg};
use crate::msg::{Coalesce, ConnId, MsgId, MsgKind};
use crate::proto::memcache::{command_of, McCmd};
use crate::proto::redis::Arg;

/// Most bytes of a failed datastore's reply quoted in a flush_all error.
const FLUSH_QUOTE_MAX: usize = 120;

/// Whether quiet mode suppresses a reply starting with `code` (its first
/// three bytes) to meta command `cmd`.
pub fn quiet_suppressed(cmd: McCmd, code: &[u8]) -> bool {
    let is = |c: &[u8]| code.len() >= 3 && &code[..2] == c && matches!(code[2], b' ' | b'\r');
    match cmd {
        McCmd::Mg => is(b"EN"),
        McCmd::Ms | McCmd::Md => is(b"HD"),
        McCmd::Ma => is(b"HD") || is(b"VA"),
        _ => false,
    }
}

impl Context {
    /// A complete memcached request arrived on client (or peer) `cid`.
    pub(crate) fn client_request_mc(&mut self, cid: ConnId, mid: MsgId) {
        self.msgs[mid].owner = Some(cid);
        if self.msgs[mid].mc.bin.is_some() && !self.mc_bin_request(cid, mid) {
            return;
        }
        let m = &mut self.msgs[mid];
        let noreply = m.mc.noreply;
        m.noreply = noreply;
        if let Some(err) = m.mc.error {
            if noreply {
                self.msgs.put(&mut self.mbufs, mid);
            } else {
                m.in_client = true;
                self.conns[cid.0].omsg_q.push_back(mid);
                self.reply_line(mid, err);
            }
            return;
        }
        let Some(cmd) = command_of(&m.mc) else {
            m.in_client = true;
            self.conns[cid.0].omsg_q.push_back(mid);
            self.reply_line(mid, crate::proto::memcache::ERR_ERROR);
            return;
        };
        if cmd.name == "quit" {
            // memcached closes without a reply, after what is owed.
            self.msgs.put(&mut self.mbufs, mid);
            let c = &mut self.conns[cid.0];
            c.no_more_input = true;
            // The dispatcher closes it once nothing is owed (`client_recv`,
            // `client_sent`).
            c.state = crate::conn::ConnState::Eof;
            return;
        }
        // The generic routing reads keys as arguments 1..: argument 0 stands
        // for the command name.
        let m = &mut self.msgs[mid];
        let mut args = std::mem::take(&mut m.req.args);
        args.clear();
        args.push(Arg { off: 0, len: 0 });
        args.extend_from_slice(&m.mc.keys);
        m.req.args = args;
        m.cmd = Some(cmd);
        m.start = Some(self.now);
        if !noreply {
            m.in_client = true;
            self.conns[cid.0].omsg_q.push_back(mid);
        }
        let bytes = self.msgs[mid].mlen;
        self.stats.record_request(cmd.name, cmd.write, bytes);
        match self.msgs[mid].mc.cmd {
            McCmd::Mn => {
                self.reply_bytes(mid, b"MN\r\n");
                return;
            }
            McCmd::Verbosity => {
                if noreply {
                    self.msgs.put(&mut self.mbufs, mid);
                } else {
                    self.reply_bytes(mid, b"OK\r\n");
                }
                return;
            }
            McCmd::Stats if self.msgs[mid].mc.node_stats => {
                let text = self.mc_node_stats();
                self.reply_bytes(mid, text.as_bytes());
                return;
            }
            McCmd::Stats | McCmd::Version | McCmd::FlushAll => {
                self.coordinate(mid);
                return;
            }
            _ => {}
        }
        if let Some(q) = self.msgs[mid].mc.quiet {
            // The datastore must answer: blank the flag (memcached skips
            // repeated spaces); the reply is dropped on its way back if
            // quiet mode suppresses it (`mc_client_reply`).
            let m = &mut self.msgs[mid];
            self.mbufs.overwrite(&m.segs, q.off, q.len as u64, b' ');
        }
        if self.msgs[mid].req.args.len() < 2 {
            // `gat <exptime>` with no key: memcached answers END.
            self.reply_bytes(mid, b"END\r\n");
            return;
        }
        self.coordinate(mid);
    }

    /// A reply for client request `req` arrived: in quiet mode, the replies
    /// memcached would not send are emptied (nothing is written for them);
    /// a binary request's reply becomes a binary response
    /// ([`Context::mc_bin_reply`]).
    pub(crate) fn mc_client_reply(&mut self, req: MsgId, rsp: MsgId) {
        let m = &self.msgs[req];
        if m.dnode.is_some() {
            return;
        }
        if m.mc.bin.is_some() {
            self.mc_bin_reply(req, rsp);
            return;
        }
        if m.mc.quiet.is_none() {
            return;
        }
        let mut code = [0u8; 3];
        let r = &self.msgs[rsp];
        let n = self.mbufs.copy_to_slice(&r.segs, 0, &mut code);
        if !quiet_suppressed(m.mc.cmd, &code[..n]) || r.hdr.is_some() {
            return;
        }
        let r = &mut self.msgs[rsp];
        let mut segs = std::mem::take(&mut r.segs);
        self.mbufs.put_segs(&mut segs);
        let r = &mut self.msgs[rsp];
        r.segs = segs;
        r.mlen = 0;
    }

    /// The CRC-32 a quorum compares replicas' answers by: the reply's bytes
    /// without its CAS values (the `c<n>` flag of a meta reply line, the
    /// fifth token of a `VALUE` line). Each memcached numbers its own items,
    /// so replicas that agree on everything else answer different CAS
    /// values; the client gets the picked replica's.
    pub(crate) fn mc_reply_checksum(&self, rsp: MsgId) -> u32 {
        let m = &self.msgs[rsp];
        // Where each reply line that may carry a CAS value starts.
        let starts = std::iter::once(0).chain(m.mcr.values.iter().map(|v| v.start));
        let mut skip: Vec<(u64, u64)> = Vec::new();
        let mut buf = [0u8; 512];
        for at in starts {
            let n = self.mbufs.copy_to_slice(
                &m.segs,
                at,
                &mut buf[..(m.mlen - at.min(m.mlen)).min(512) as usize],
            );
            let line = &buf[..n];
            let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(n)];
            let value = line.starts_with(b"VALUE ");
            let meta = matches!(
                line.get(..3),
                Some(b"VA " | b"HD " | b"EN " | b"NF " | b"NS " | b"EX ")
            );
            if !value && !meta {
                continue;
            }
            let mut pos = 0usize;
            for (i, tok) in line.split(|&b| b == b' ').enumerate() {
                let tok = tok.strip_suffix(b"\r").unwrap_or(tok);
                let cas = if value {
                    i == 4
                } else {
                    i > 0 && tok.first() == Some(&b'c')
                };
                if cas {
                    skip.push((at + pos as u64, at + (pos + tok.len()) as u64));
                }
                pos += tok.len() + 1;
            }
        }
        let mut crc = !0u32;
        let mut from = 0u64;
        for (a, b) in skip.into_iter().chain(std::iter::once((m.mlen, m.mlen))) {
            for part in seg_ranges(&m.segs, from, a.saturating_sub(from)) {
                crc = crate::hashkit::crc32::crc32_update(crc, self.mbufs.bytes(part));
            }
            from = b;
        }
        !crc
    }

    /// `stats dynomite`: the node's own counters as memcached stats lines
    /// (the pool counters of `/info`, then each datastore's as
    /// `server_<n>_<counter>`, `n` counting from 0 in configuration order).
    fn mc_node_stats(&mut self) -> String {
        self.update_gauges();
        let mut out = String::new();
        let uptime = self.now.saturating_duration_since(self.stats.started);
        let mut line = |name: &str, value: &dyn std::fmt::Display| {
            use std::fmt::Write as _;
            let _ = write!(out, "STAT {name} {value}\r\n");
        };
        line("pid", &std::process::id());
        line("uptime", &uptime.as_secs());
        line("version", &format_args!("dynomite-{}", crate::VERSION));
        for (name, v) in self.stats.pool.fields() {
            line(name, &v);
        }
        for (i, (_, st)) in self.stats.servers.iter().enumerate() {
            for (name, v) in st.fields() {
                line(&format!("server_{i}_{name}"), &v);
            }
        }
        out.push_str("END\r\n");
        out
    }

    /// flush_all in a cluster: one copy to every node (all racks, all DCs),
    /// merged by [`Context::mc_merge_flush`]. With `noreply` the copies go
    /// out with nobody waiting for their answers.
    pub(crate) fn mc_flush_cluster(&mut self, mid: MsgId) {
        let peers: Vec<_> = self.topology.peer_ids().collect();
        if self.msgs[mid].noreply {
            for p in peers {
                let c = self.copy_request(mid);
                self.msgs[c].noreply = true;
                self.msgs[c].swallow = true;
                self.dispatch(c, Target::of(p, false));
            }
            self.try_free(mid);
            return;
        }
        self.make_children(mid, peers.len(), Coalesce::McFlush(true));
        for (i, p) in peers.into_iter().enumerate() {
            let fid = self.msgs[mid].frag.frags[i];
            self.dispatch(fid, Target::of(p, false));
        }
        self.fanout_done(mid);
    }

    /// flush_all on a node with several datastores: one copy to each.
    pub(crate) fn mc_flush_servers(&mut self, cid: ConnId, mid: MsgId) {
        let n = self.servers.len();
        if self.msgs[mid].noreply {
            for i in 0..n {
                let c = self.copy_request(mid);
                self.msgs[c].noreply = true;
                self.msgs[c].swallow = true;
                self.server_forward(c, i, cid);
            }
            self.try_free(mid);
            return;
        }
        self.make_children(mid, n, Coalesce::McFlush(false));
        for i in 0..n {
            let fid = self.msgs[mid].frag.frags[i];
            self.server_forward(fid, i, cid);
        }
        self.fanout_done(mid);
    }

    /// The answer to a flush_all once every copy answered: `OK` when every
    /// datastore said `OK`, else one error line naming each one that did
    /// not, with the start of its answer. `cluster`: the copies went to the
    /// cluster's nodes (in topology order), else to this node's datastores.
    /// Returns the reply's type byte.
    pub(crate) fn mc_merge_flush(
        &mut self,
        frags: &[MsgId],
        cluster: bool,
        out: &mut Vec<Seg>,
    ) -> u8 {
        let mut failed = String::new();
        let peers: Vec<_> = if cluster {
            self.topology.peer_ids().collect()
        } else {
            Vec::new()
        };
        for (i, &f) in frags.iter().enumerate() {
            let r = self.msgs[f].peer.expect("done child");
            let mut head = Vec::new();
            let rm = &self.msgs[r];
            self.mbufs.copy_out(
                &rm.segs,
                0,
                rm.mlen.min(FLUSH_QUOTE_MAX as u64 + 2),
                &mut head,
            );
            if head == b"OK\r\n" {
                continue;
            }
            let text: String = String::from_utf8_lossy(&head)
                .chars()
                .filter(|c| !c.is_control())
                .take(FLUSH_QUOTE_MAX)
                .collect();
            let name = match peers.get(i) {
                Some(&p) if cluster => {
                    let peer = self.topology.peer(p);
                    format!("{}:{} ({}/{})", peer.host, peer.port, peer.dc, peer.rack)
                }
                _ => self
                    .stats
                    .servers
                    .get(i)
                    .map_or_else(|| format!("datastore {i}"), |s| s.0.clone()),
            };
            if !failed.is_empty() {
                failed.push(';');
            }
            failed.push_str(&format!(" {name}: {}", text.trim()));
        }
        if failed.is_empty() {
            self.mbufs.append(out, b"OK\r\n");
            return b'+';
        }
        self.mbufs.append(out, ERR_MC_FLUSH_FAILED.as_bytes());
        self.mbufs.append(out, failed.as_bytes());
        self.mbufs.append(out, b"\r\n");
        b'-'
    }

    /// Answers with one protocol line (memcached errors come as whole lines).
    pub(crate) fn reply_line(&mut self, req: MsgId, line: &str) {
        let mut b = std::mem::take(&mut self.scratch);
        b.clear();
        b.extend_from_slice(line.as_bytes());
        b.extend_from_slice(b"\r\n");
        let rsp = self.reply_made(&b, false);
        self.scratch = b;
        self.msgs[rsp].rsp.ty = b'-';
        self.attach_reply(req, rsp);
    }

    /// Builds one `get`-family fragment of `mid` with the keys at `keys`
    /// (indices into the request's keys, in order). The line is built in the
    /// context's scratch buffer and the fragment's vectors are recycled ones.
    pub(crate) fn mc_fragment(&mut self, mid: MsgId, keys: impl Iterator<Item = usize>) -> MsgId {
        let fid = self.msgs.get(MsgKind::Request);
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        let mut args = std::mem::take(&mut self.msgs[fid].req.args);
        args.clear();
        args.push(Arg { off: 0, len: 0 });
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("routed");
        line.extend_from_slice(cmd.name.as_bytes());
        if matches!(m.mc.cmd, McCmd::Gat | McCmd::Gats) {
            let res = write!(line, " {}", m.mc.exptime);
            debug_assert!(res.is_ok());
        }
        for k in keys {
            let a = m.mc.keys[k];
            line.push(b' ');
            args.push(Arg {
                off: line.len() as u64,
                len: a.len,
            });
            self.mbufs.copy_out(&m.segs, a.off, a.len as u64, &mut line);
        }
        line.extend_from_slice(b"\r\n");
        let (owner, dnode) = (m.owner, m.dnode);
        // The request's fields without its keys: a clone with no heap.
        let src_keys = std::mem::take(&mut self.msgs[mid].mc.keys);
        let mut mc = self.msgs[mid].mc.clone();
        self.msgs[mid].mc.keys = src_keys;
        mc.keys = std::mem::take(&mut self.msgs[fid].mc.keys);
        mc.keys.clear();
        let mut segs = std::mem::take(&mut self.msgs[fid].segs);
        self.mbufs.append(&mut segs, &line);
        let f = &mut self.msgs[fid];
        f.segs = segs;
        f.mlen = line.len() as u64;
        f.req.args = args;
        f.mc = mc;
        f.cmd = Some(cmd);
        f.owner = owner;
        f.dnode = dnode;
        self.scratch = line;
        fid
    }

    /// True when bytes `a_off..a_off + len` of the message made of `a` equal
    /// bytes `b_off..b_off + len` of `b` (compared where they lie).
    fn segs_eq(&self, a: &[Seg], a_off: u64, b: &[Seg], b_off: u64, len: u64) -> bool {
        let mut ai = seg_ranges(a, a_off, len).map(|s| self.mbufs.bytes(s));
        let mut bi = seg_ranges(b, b_off, len).map(|s| self.mbufs.bytes(s));
        let (mut x, mut y): (&[u8], &[u8]) = (&[], &[]);
        loop {
            if x.is_empty() {
                match ai.next() {
                    Some(s) => x = s,
                    None => return y.is_empty() && bi.next().is_none(),
                }
            }
            if y.is_empty() {
                match bi.next() {
                    Some(s) => y = s,
                    None => return x.is_empty() && ai.next().is_none(),
                }
            }
            let n = x.len().min(y.len());
            if x[..n] != y[..n] {
                return false;
            }
            x = &x[n..];
            y = &y[n..];
        }
    }

    /// Merges the replies of a split get into `out`: every fragment's VALUE
    /// blocks in the client's key order, then one END. `key_map` gives each
    /// client key its (fragment, position in fragment). Called by
    /// `merge_split` (response.rs) once every fragment has its reply.
    ///
    /// memcached answers a fragment's keys in request order and skips
    /// misses, so each fragment's VALUE blocks are matched against its keys
    /// with one cursor per fragment; `key_map` lists a fragment's positions
    /// in increasing order.
    pub(crate) fn mc_merge_get(
        &mut self,
        frags: &[MsgId],
        key_map: &[(u32, u32)],
        out: &mut Vec<Seg>,
    ) {
        // Next VALUE block of each fragment; on the stack for up to
        // CURSORS_INLINE fragments.
        const CURSORS_INLINE: usize = 64;
        let mut inline = [0usize; CURSORS_INLINE];
        let mut heap = Vec::new();
        let cursors: &mut [usize] = if frags.len() <= CURSORS_INLINE {
            &mut inline[..frags.len()]
        } else {
            heap.resize(frags.len(), 0);
            &mut heap
        };
        for &(fi, pos) in key_map {
            let f = frags[fi as usize];
            let r = self.msgs[f].peer.expect("done fragment");
            let v = cursors[fi as usize];
            let (fm, rm) = (&self.msgs[f], &self.msgs[r]);
            let Some(value) = rm.mcr.values.get(v) else {
                continue;
            };
            let a = fm.req.args[pos as usize + 1];
            let same = a.len == value.key.len
                && self.segs_eq(&fm.segs, a.off, &rm.segs, value.key.off, a.len as u64);
            if !same {
                continue;
            }
            cursors[fi as usize] = v + 1;
            let (start, end) = (value.start, value.end);
            let src = std::mem::take(&mut self.msgs[r].segs);
            self.mbufs.append_ref(out, &src, start, end - start);
            self.msgs[r].segs = src;
        }
        self.mbufs.append(out, b"END\r\n");
    }
}
