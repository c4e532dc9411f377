//! Memcached requests on the node (the routing half of dyn_memcache.c): the
//! command table the coordinator routes by, proxy-answered commands, the
//! multi-get split and merge, and the reply summary the quorum code reads.
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
use crate::proto::memcache::{McCmd, McRspType};
use crate::proto::redis::{Arg, Command, Multi, Route};

const fn mc(name: &'static str, write: bool, route: Route, multi: Multi) -> Command {
    Command {
        name,
        arity: -2,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        write,
        route,
        multi,
    }
}

static GET: Command = mc("get", false, Route::Key, Multi::Mget);
static GETS: Command = mc("gets", false, Route::Key, Multi::Mget);
static GAT: Command = mc("gat", true, Route::Key, Multi::Mget);
static GATS: Command = mc("gats", true, Route::Key, Multi::Mget);
static SET: Command = mc("set", true, Route::Key, Multi::None);
static ADD: Command = mc("add", true, Route::Key, Multi::None);
static REPLACE: Command = mc("replace", true, Route::Key, Multi::None);
static APPEND: Command = mc("append", true, Route::Key, Multi::None);
static PREPEND: Command = mc("prepend", true, Route::Key, Multi::None);
static CAS: Command = mc("cas", true, Route::Key, Multi::None);
static INCR: Command = mc("incr", true, Route::Key, Multi::None);
static DECR: Command = mc("decr", true, Route::Key, Multi::None);
static TOUCH: Command = mc("touch", true, Route::Key, Multi::None);
static DELETE: Command = mc("delete", true, Route::Key, Multi::None);
static QUIT: Command = mc("quit", false, Route::Proxy, Multi::None);
static VERSION: Command = mc("version", false, Route::Proxy, Multi::None);

/// The routing entry of a memcached command.
pub fn command(cmd: McCmd) -> Option<&'static Command> {
    Some(match cmd {
        McCmd::Get => &GET,
        McCmd::Gets => &GETS,
        McCmd::Gat => &GAT,
        McCmd::Gats => &GATS,
        McCmd::Set => &SET,
        McCmd::Add => &ADD,
        McCmd::Replace => &REPLACE,
        McCmd::Append => &APPEND,
        McCmd::Prepend => &PREPEND,
        McCmd::Cas => &CAS,
        McCmd::Incr => &INCR,
        McCmd::Decr => &DECR,
        McCmd::Touch => &TOUCH,
        McCmd::Delete => &DELETE,
        McCmd::Quit => &QUIT,
        McCmd::Version => &VERSION,
        McCmd::Unknown => return None,
    })
}

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
            c.state = crate::conn::ConnState::Eof;
            if c.omsg_q.is_empty() {
                self.close_conn(cid);
            }
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
    /// (indices into the request's keys, in order).
    pub fn mc_fragment(&mut self, mid: MsgId, keys: impl Iterator<Item = usize>) -> MsgId {
        let m = &self.msgs[mid];
        let cmd = m.cmd.expect("routed");
        let mut line = Vec::with_capacity(16 + keys.size_hint().0 * 16);
        line.extend_from_slice(cmd.name.as_bytes());
        if matches!(m.mc.cmd, McCmd::Gat | McCmd::Gats) {
            line.extend_from_slice(format!(" {}", m.mc.exptime).as_bytes());
        }
        let mut args = vec![Arg { off: 0, len: 0 }];
        let mut key = Vec::new();
        for k in keys {
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

    /// Merges the replies of a split get into `out`: every fragment's VALUE
    /// blocks in the client's key order, then one END. `key_map` gives each
    /// client key its (fragment, position in fragment). Called by
    /// `merge_split` (response.rs) once every fragment has its reply.
    pub fn mc_merge_get(
        &mut self,
        frags: &[MsgId],
        key_map: &[(u32, u32)],
        out: &mut Vec<crate::mbuf::Seg>,
    ) {
        let reply = |ctx: &Self, f: MsgId| ctx.msgs[f].peer.expect("done fragment");
        // For each fragment: which VALUE block answers which of its keys.
        // memcached answers in request order and skips misses.
        let mut found: Vec<Vec<Option<usize>>> = Vec::with_capacity(frags.len());
        let (mut want, mut have) = (Vec::new(), Vec::new());
        for &f in frags {
            let fm = &self.msgs[f];
            let rm = &self.msgs[reply(self, f)];
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
        for &(fi, pos) in key_map {
            let Some(v) = found[fi as usize][pos as usize] else {
                continue;
            };
            let r = reply(self, frags[fi as usize]);
            let value = &self.msgs[r].mcr.values[v];
            let (a, b) = (value.start, value.end);
            let src = std::mem::take(&mut self.msgs[r].segs);
            self.mbufs.append_ref(out, &src, a, b - a);
            self.msgs[r].segs = src;
        }
        self.mbufs.append(out, b"END\r\n");
    }
}
