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

use std::io::Write as _;

use crate::core::Context;
use crate::mbuf::{seg_ranges, Seg};
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::memcache::{command, McCmd};
use crate::proto::redis::Arg;

impl Context {
    /// A complete memcached request arrived on client (or peer) `cid`.
    pub(crate) fn client_request_mc(&mut self, cid: ConnId, mid: MsgId) {
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
