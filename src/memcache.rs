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

use crate::core::Context;
use crate::msg::{ConnId, Msg, MsgId, MsgKind};
use crate::proto::memcache::{command, McCmd, McRspType};
use crate::proto::redis::Arg;

/// Fills the generic reply summary from a parsed memcached reply: errors
/// read as `-`, retrievals as `*` with one element per VALUE block, numbers
/// as `:`, the rest as `+`.
pub fn summarize_reply(m: &mut Msg) {
    let r = &m.mcr;
    m.rsp.ty = match r.ty {
        t if t.is_error() => b'-',
        McRspType::Values => b'*',
        McRspType::Number => b':',
        _ => b'+',
    };
    m.rsp.integer = r.number.min(i64::MAX as u64) as i64;
    m.rsp.count = r.values.len() as i64;
    m.rsp.elems.clear();
    m.rsp
        .elems
        .extend(r.values.iter().map(|v| (v.start, v.end)));
}

impl Context {
    /// A complete memcached request arrived on client (or peer) `cid`.
    pub fn client_request_mc(&mut self, cid: ConnId, mid: MsgId) {
        let m = &mut self.msgs[mid];
        let noreply = m.mc.noreply;
        m.owner = Some(cid);
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
        let Some(cmd) = command(m.mc.cmd) else {
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
        if cmd.name == "version" {
            self.reply_bytes(
                mid,
                format!("VERSION dynomite-{}\r\n", crate::VERSION).as_bytes(),
            );
            return;
        }
        if self.msgs[mid].req.args.len() < 2 {
            // `gat <exptime>` with no key: memcached answers END.
            self.reply_bytes(mid, b"END\r\n");
            return;
        }
        self.coordinate(mid);
    }

    /// Answers with one protocol line (memcached errors come as whole lines).
    pub fn reply_line(&mut self, req: MsgId, line: &str) {
        let mut b = Vec::with_capacity(line.len() + 2);
        b.extend_from_slice(line.as_bytes());
        b.extend_from_slice(b"\r\n");
        self.reply_bytes(req, &b);
        let rsp = self.msgs[req].peer;
        if let Some(r) = rsp {
            self.msgs[r].rsp.ty = b'-';
        }
    }

    /// Builds one `get`-family fragment of `mid` with the keys at `keys`
    /// (indices into the request's keys).
    pub fn mc_fragment(&mut self, mid: MsgId, keys: &[usize]) -> MsgId {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("routed");
        let mut line = Vec::with_capacity(16 + keys.len() * 16);
        line.extend_from_slice(cmd.name.as_bytes());
        if matches!(m.mc.cmd, McCmd::Gat | McCmd::Gats) {
            line.extend_from_slice(format!(" {}", m.mc.exptime).as_bytes());
        }
        let mut args = vec![Arg { off: 0, len: 0 }];
        let mut key = Vec::new();
        for &k in keys {
            let a = m.mc.keys[k];
            key.clear();
            self.mbufs.copy_out(&m.segs, a.off, a.len as u64, &mut key);
            line.push(b' ');
            args.push(Arg {
                off: line.len() as u64,
                len: a.len,
            });
            line.extend_from_slice(&key);
        }
        line.extend_from_slice(b"\r\n");
        let (owner, dnode, mc) = (m.owner, m.dnode, m.mc.clone());
        let fid = self.msgs.get(MsgKind::Request);
        let mut segs = std::mem::take(&mut self.msgs[fid].segs);
        self.mbufs.append(&mut segs, &line);
        let f = &mut self.msgs[fid];
        f.segs = segs;
        f.mlen = line.len() as u64;
        f.req.args = args;
        f.mc = mc;
        f.mc.keys.clear();
        f.cmd = Some(cmd);
        f.owner = owner;
        f.dnode = dnode;
        fid
    }

    /// Merges the replies of a split get: every fragment's VALUE blocks in
    /// the client's key order, then one END. `key_map` gives each client key
    /// its (fragment, position in fragment).
    pub fn mc_merge_get(
        &mut self,
        frags: &[MsgId],
        replies: &[MsgId],
        key_map: &[(u32, u32)],
    ) -> Vec<crate::mbuf::Seg> {
        // For each fragment: which VALUE block answers which of its keys.
        // memcached answers in request order and skips misses.
        let mut found: Vec<Vec<Option<usize>>> = Vec::with_capacity(frags.len());
        let (mut want, mut have) = (Vec::new(), Vec::new());
        for (&f, &r) in frags.iter().zip(replies) {
            let fm = &self.msgs[f];
            let rm = &self.msgs[r];
            let nkeys = fm.req.args.len() - 1;
            let mut map = vec![None; nkeys];
            let mut v = 0;
            for (k, slot) in map.iter_mut().enumerate() {
                let Some(value) = rm.mcr.values.get(v) else {
                    break;
                };
                let a = fm.req.args[k + 1];
                want.clear();
                self.mbufs
                    .copy_out(&fm.segs, a.off, a.len as u64, &mut want);
                have.clear();
                self.mbufs
                    .copy_out(&rm.segs, value.key.off, value.key.len as u64, &mut have);
                if want == have {
                    *slot = Some(v);
                    v += 1;
                }
            }
            found.push(map);
        }
        let mut out = Vec::new();
        for &(fi, pos) in key_map {
            let Some(v) = found[fi as usize][pos as usize] else {
                continue;
            };
            let r = replies[fi as usize];
            let value = &self.msgs[r].mcr.values[v];
            let (a, b) = (value.start, value.end);
            let src = std::mem::take(&mut self.msgs[r].segs);
            self.mbufs.append_ref(&mut out, &src, a, b - a);
            self.msgs[r].segs = src;
        }
        self.mbufs.append(&mut out, b"END\r\n");
        out
    }
}
