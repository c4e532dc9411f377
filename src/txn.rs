//! Transactions (MULTI / EXEC / DISCARD / WATCH / UNWATCH): redis' own
//! semantics, kept by the node for each client, and run on the datastore as
//! one unit. The original has no counterpart (it refuses MULTI).
//!
//! ```text
//!  MULTI ─► Txn (per client, ClientState::txn)
//!  cmd   ─► lookup/arity error: the error, the Txn is dirty
//!        ─► encoded (canonical RESP) into Txn::buf, its keys' owner noted ─► +QUEUED
//!  EXEC  ─► dirty: -EXECABORT;  keys of several owners: error, nothing runs
//!        ─► the EXEC request becomes  DYNO_EXEC <db> <key> <unit>
//!           unit = MULTI, the queued commands, EXEC (one write)
//!           ─► coordinate: routed by <key> like a write, replicated as one
//!              message to the other racks and DCs at the client's
//!              consistency level
//!           ─► execute_local (any node): the unit is written as is on one
//!              datastore connection; the datastore's first n+1 replies
//!              (+OK, +QUEUED ...) are read and dropped, EXEC's reply is
//!              the answer (Msg::skip_replies)
//! ```
//!
//! The unit travels between nodes as one ordinary request, `DYNO_EXEC`, so
//! a peer frame still holds exactly one datastore message; a C peer answers
//! it with an error (it does not know the command), so the transaction
//! fails there loudly instead of running command by command. Requests of
//! clients never name `DYNO_EXEC` (refused as an unknown command).
//!
//! WATCH needs the connection that will run EXEC: the client gets a
//! datastore connection of its own (server.rs `server_owned_*`, bounded by
//! [`crate::server::OWNED_CONNS_MAX`]) from WATCH until EXEC, DISCARD,
//! UNWATCH or its close; WATCH and the unit run on it. Its keys must be
//! owned by this node (a single node, or keys whose local-rack owner is
//! this node, with one node per rack).
//!
//! Limits: at most [`TXN_MAX_CMDS`] commands and [`TXN_MAX_BYTES`] bytes
//! queued per transaction; past them the queued commands are dropped at
//! once and EXEC answers EXECABORT.

use crate::core::Context;
use crate::errors;
use crate::msg::{Coalesce, ConnId, MsgId};
use crate::proto::redis::{self, Arg, Command, Route};

/// Most commands queued in one transaction.
pub const TXN_MAX_CMDS: u32 = 4096;
/// Most bytes (canonical RESP) queued in one transaction.
pub const TXN_MAX_BYTES: usize = 8 * 1024 * 1024;

/// `MULTI` and `EXEC` in canonical RESP: the ends of a unit.
const MULTI: &[u8] = b"*1\r\n$5\r\nMULTI\r\n";
const EXEC: &[u8] = b"*1\r\n$4\r\nEXEC\r\n";

/// The name of the wrapper request that carries a unit.
pub const DYNO_EXEC: &[u8] = b"DYNO_EXEC";

/// Why a transaction cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnError {
    /// A command was refused while queueing (redis' EXECABORT).
    Dirty,
    /// More than [`TXN_MAX_CMDS`] commands or [`TXN_MAX_BYTES`] bytes.
    TooLarge,
    /// Keys owned by different nodes or datastores.
    Span,
}

/// A transaction being queued by one client (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Txn {
    /// The queued commands, each in canonical RESP.
    buf: Vec<u8>,
    /// How many commands `buf` holds.
    count: u32,
    /// A command was refused while queueing.
    dirty: bool,
    /// The limits were passed (`buf` was dropped).
    too_large: bool,
    /// Keys of several owners were queued.
    span: bool,
    /// The owner of the keys queued so far: (local-rack node, server).
    owner: Option<(usize, usize)>,
    /// The first key queued: the unit is routed by it.
    key: Vec<u8>,
}

impl Txn {
    /// A command was refused while queueing.
    pub fn flag(&mut self) {
        self.dirty = true;
    }

    /// Queues one command given by its arguments. Past the limits the
    /// transaction keeps only the fact that it is too large.
    pub fn push(&mut self, args: &[Vec<u8>]) {
        if self.too_large {
            return;
        }
        let before = self.buf.len();
        encode(&mut self.buf, args.iter().map(|a| a.as_slice()));
        self.count += 1;
        if self.count > TXN_MAX_CMDS || self.buf.len() > TXN_MAX_BYTES {
            debug_assert!(self.buf.len() > before);
            self.too_large = true;
            self.buf = Vec::new();
        }
    }

    /// Notes the owner of one key of a queued command (the first key seen
    /// routes the unit).
    pub fn key_owner(&mut self, key: &[u8], owner: (usize, usize)) {
        match self.owner {
            None => {
                self.owner = Some(owner);
                self.key = key.to_vec();
            }
            Some(o) if o != owner => self.span = true,
            Some(_) => {}
        }
    }

    /// Commands queued.
    pub fn len(&self) -> u32 {
        self.count
    }

    /// No command queued.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The owner of the keys queued so far: (local-rack node, server).
    pub fn owner(&self) -> Option<(usize, usize)> {
        self.owner
    }

    /// The key the unit is routed by (empty: no key, this node runs it).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The unit to run (MULTI, the commands, EXEC), or why not.
    pub fn unit(&self) -> Result<Vec<u8>, TxnError> {
        if self.too_large {
            return Err(TxnError::TooLarge);
        }
        if self.dirty {
            return Err(TxnError::Dirty);
        }
        if self.span {
            return Err(TxnError::Span);
        }
        let mut out = Vec::with_capacity(MULTI.len() + self.buf.len() + EXEC.len());
        out.extend_from_slice(MULTI);
        out.extend_from_slice(&self.buf);
        out.extend_from_slice(EXEC);
        Ok(out)
    }
}

/// Appends the canonical RESP array of `args` to `out`.
pub fn encode<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The wrapper request `DYNO_EXEC <db> <key> <unit>` and its arguments'
/// positions (as the request parser would give them).
pub fn wrap(db: u32, key: &[u8], unit: &[u8]) -> (Vec<u8>, Vec<Arg>) {
    let db = db.to_string();
    crate::cluster::resp::encode(&[DYNO_EXEC, db.as_bytes(), key, unit])
}

/// Checks a unit received in `DYNO_EXEC`: canonical RESP arrays of bulk
/// strings, MULTI first, EXEC last, no other MULTI, EXEC, DISCARD, WATCH
/// or SELECT inside. Returns how many commands it holds (MULTI and
/// EXEC included): the datastore answers each.
pub fn check_unit(unit: &[u8]) -> Option<u32> {
    let mut pos = 0;
    let mut n = 0u32;
    let mut last_exec = false;
    while pos < unit.len() {
        let (name, next) = command_name(unit, pos)?;
        let first = n == 0;
        let mut upper = [0u8; 8];
        let shown = name.len().min(8);
        for (d, s) in upper.iter_mut().zip(&name[..shown]) {
            *d = s.to_ascii_uppercase();
        }
        let name = if name.len() <= 8 {
            &upper[..shown]
        } else {
            b"" as &[u8]
        };
        match name {
            b"MULTI" if first => {}
            b"EXEC" if !first => last_exec = true,
            _ if first => return None,
            b"MULTI" | b"EXEC" | b"DISCARD" | b"WATCH" | b"SELECT" => return None,
            _ => {
                if last_exec {
                    return None;
                }
            }
        }
        n += 1;
        pos = next;
    }
    (last_exec && n >= 2).then_some(n)
}

/// Reads the canonical RESP array at `pos`: its first element and the
/// position after the array.
fn command_name(b: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let (count, mut p) = line_num(b, pos, b'*')?;
    if count == 0 {
        return None;
    }
    let mut name: &[u8] = b"";
    for i in 0..count {
        let (len, q) = line_num(b, p, b'$')?;
        let end = q.checked_add(len)?;
        if b.get(end..end + 2)? != b"\r\n" {
            return None;
        }
        if i == 0 {
            name = &b[q..end];
        }
        p = end + 2;
    }
    Some((name, p))
}

/// `<prefix><digits>\r\n` at `pos`: the number and the position after it.
fn line_num(b: &[u8], pos: usize, prefix: u8) -> Option<(usize, usize)> {
    if *b.get(pos)? != prefix {
        return None;
    }
    let mut n: usize = 0;
    let mut p = pos + 1;
    let start = p;
    while let Some(&d) = b.get(p) {
        if !d.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
        p += 1;
    }
    if p == start || b.get(p..p + 2)? != b"\r\n" {
        return None;
    }
    Some((n, p + 2))
}

/// What the front door does with a request of a client in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InMulti {
    /// Runs now (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
    Run,
    /// Refused and the transaction flagged: commands the proxy answers
    /// itself (SELECT, AUTH, HELLO, CLIENT ...) cannot be queued.
    Refuse,
    /// Queued.
    Queue,
}

/// How a looked-up command is treated between MULTI and EXEC.
pub fn in_multi(cmd: &Command) -> InMulti {
    match cmd.name {
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset" => InMulti::Run,
        // Queued as redis queues it (a no-op there: EXEC unwatches).
        "unwatch" => InMulti::Queue,
        _ if cmd.route == Route::Proxy => InMulti::Refuse,
        _ => InMulti::Queue,
    }
}

impl Context {
    /// The front door's hook: a looked-up request of client `cid` that
    /// belongs to transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) or
    /// arrives between MULTI and EXEC. True when it was handled here.
    pub(crate) fn txn_request(&mut self, cid: ConnId, mid: MsgId, cmd: &'static Command) -> bool {
        let Some(state) = self.conns[cid.0].client_state() else {
            return false;
        };
        let queueing = state.txn.is_some();
        match cmd.name {
            "multi" => {
                if queueing {
                    self.reply_error(mid, errors::ERR_MULTI_NESTED);
                } else {
                    self.conns[cid.0].client_mut().txn = Some(Box::default());
                    self.reply_bytes(mid, b"+OK\r\n");
                }
                true
            }
            "exec" => {
                self.txn_exec(cid, mid);
                true
            }
            "discard" => {
                if queueing {
                    let st = self.conns[cid.0].client_mut();
                    st.txn = None;
                    st.watch_lost = false;
                    self.server_owned_release(cid);
                    self.reply_bytes(mid, b"+OK\r\n");
                } else {
                    self.reply_error(mid, errors::ERR_DISCARD_WITHOUT_MULTI);
                }
                true
            }
            "watch" if queueing => {
                self.reply_error(mid, errors::ERR_WATCH_IN_MULTI);
                true
            }
            "watch" => {
                self.txn_watch(cid, mid);
                true
            }
            "unwatch" if !queueing => {
                self.conns[cid.0].client_mut().watch_lost = false;
                self.server_owned_release(cid);
                self.reply_bytes(mid, b"+OK\r\n");
                true
            }
            _ if !queueing => false,
            _ => {
                match in_multi(cmd) {
                    InMulti::Run => return false,
                    InMulti::Refuse => {
                        self.txn_flag(cid);
                        self.reply_error(mid, &errors::not_in_transaction(cmd.name));
                    }
                    InMulti::Queue => self.txn_queue(cid, mid, cmd),
                }
                true
            }
        }
    }

    /// A request of client `cid` was refused (unknown command, arity)
    /// while it queues a transaction: EXEC will answer EXECABORT.
    pub(crate) fn txn_flag(&mut self, cid: ConnId) {
        if let Some(t) = self
            .conns
            .get_mut(cid.0)
            .and_then(|c| c.client_state_mut())
            .and_then(|s| s.txn.as_mut())
        {
            t.flag();
        }
    }

    /// Queues a command of a transaction: its bytes and its keys' owner.
    fn txn_queue(&mut self, cid: ConnId, mid: MsgId, cmd: &'static Command) {
        let nargs = self.msgs[mid].req.args.len();
        let args: Vec<Vec<u8>> = (0..nargs).map(|i| self.arg_vec(mid, i)).collect();
        let keys: Vec<usize> = if cmd.route == Route::Eval {
            match redis::eval_keys(&args[2], nargs) {
                Ok(r) => r.collect(),
                Err(e) => {
                    self.txn_flag(cid);
                    self.reply_error(mid, e);
                    return;
                }
            }
        } else {
            redis::key_indices(cmd, nargs).collect()
        };
        let owners: Vec<(usize, usize)> = keys
            .iter()
            .map(|&i| {
                let h = self.arg_hash(mid, i);
                (self.txn_node_of(h), self.server_for_hash(h))
            })
            .collect();
        let Some(txn) = self.conns[cid.0].client_mut().txn.as_mut() else {
            return;
        };
        for (&i, &o) in keys.iter().zip(&owners) {
            txn.key_owner(&args[i], o);
        }
        txn.push(&args);
        self.reply_bytes(mid, b"+QUEUED\r\n");
    }

    /// The node of this rack that owns a token (0 on a single node).
    fn txn_node_of(&self, hash: u32) -> usize {
        if self.topology.is_single() {
            0
        } else {
            self.topology.local_owner(hash).idx()
        }
    }

    /// This node's index in `txn_node_of`'s terms.
    fn txn_node_of_local(&self) -> usize {
        if self.topology.is_single() {
            0
        } else {
            crate::ids::PeerId::LOCAL.idx()
        }
    }

    /// EXEC: the unit leaves as one request, or the error.
    fn txn_exec(&mut self, cid: ConnId, mid: MsgId) {
        let Some(txn) = self.conns[cid.0].client_mut().txn.take() else {
            self.reply_error(mid, errors::ERR_EXEC_WITHOUT_MULTI);
            return;
        };
        if std::mem::take(&mut self.conns[cid.0].client_mut().watch_lost) {
            // The watch cannot be vouched for: a failed watch, retried.
            let null: &[u8] = if self.conns[cid.0].client().resp3 {
                b"_\r\n"
            } else {
                b"*-1\r\n"
            };
            self.reply_bytes(mid, null);
            return;
        }
        let unit = match txn.unit() {
            Ok(u) => u,
            Err(e) => {
                self.server_owned_release(cid);
                let text = match e {
                    TxnError::Dirty => errors::ERR_EXECABORT,
                    TxnError::TooLarge => errors::ERR_TXN_TOO_LARGE,
                    TxnError::Span => errors::ERR_TXN_SPAN,
                };
                self.reply_error(mid, text);
                return;
            }
        };
        let state = self.conns[cid.0].client();
        let db = state.db.unwrap_or(self.settings.auth.redis_db);
        let watched = state.watch.is_some();
        if let (Some((server, _)), Some(owner)) = (state.watch, txn.owner()) {
            // Under WATCH the unit runs on the watch's connection: its keys
            // must live there too.
            let local = self.txn_node_of_local();
            if owner != (local, server) {
                self.server_owned_release(cid);
                self.reply_error(mid, errors::ERR_TXN_SPAN);
                return;
            }
        }
        let (bytes, args) = wrap(db, txn.key(), &unit);
        let cmd = redis::lookup(b"dyno_exec", None).expect("DYNO_EXEC is in the table");
        // The EXEC request itself becomes the unit: it keeps its place in
        // the client's queue.
        let m = &mut self.msgs[mid];
        let mut segs = std::mem::take(&mut m.segs);
        self.mbufs.put_segs(&mut segs);
        self.mbufs.append(&mut segs, &bytes);
        let m = &mut self.msgs[mid];
        m.segs = segs;
        m.mlen = bytes.len() as u64;
        m.req.inline = false;
        m.req.args.clear();
        m.req.args.extend_from_slice(&args);
        m.cmd = Some(cmd);
        if watched {
            // WATCH's keys are this node's: the unit runs on its connection
            // (which closes after EXEC's reply), then goes to the other
            // racks if EXEC ran (txn_watched_done).
            self.make_children(mid, 1, Coalesce::Watched);
            let fid = self.msgs[mid].frag.frags[0];
            self.execute_local(fid);
            self.server_owned_release(cid);
            self.fanout_done(mid);
        } else {
            self.coordinate(mid);
        }
    }

    /// The local run of a transaction under WATCH answered: if EXEC ran
    /// (an array, not the null of a failed watch), the unit is copied to
    /// the other racks and DCs; the client gets the local answer.
    pub(crate) fn txn_watched_done(&mut self, parent: MsgId, child: MsgId) {
        let rsp = self.msgs[child].peer.expect("answered child");
        let r = &self.msgs[rsp].rsp;
        let ran = r.ty == b'*' && r.count >= 0;
        if ran && !self.topology.is_single() {
            let hash = self.arg_hash(parent, 2);
            self.replicate_orphans(parent, hash);
        }
        self.finalize_with(parent, Some(child), None);
    }

    /// WATCH key [key ...]: a connection of the client's own, at the keys'
    /// owner, holds the watch until EXEC, DISCARD, UNWATCH or the close.
    fn txn_watch(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut server = None;
        for i in 1..nargs {
            let h = self.arg_hash(mid, i);
            if !self.topology.is_single() && !self.topology.local_owner(h).is_local() {
                self.reply_error(mid, errors::ERR_WATCH_NOT_LOCAL);
                return;
            }
            let s = self.server_for_hash(h);
            if server.is_some_and(|x| x != s) {
                self.reply_error(mid, errors::ERR_TXN_SPAN);
                return;
            }
            server = Some(s);
        }
        let server = server.unwrap_or(0);
        if let Some((held, _)) = self.conns[cid.0].client().watch {
            if held != server {
                self.reply_error(mid, errors::ERR_TXN_SPAN);
                return;
            }
        }
        self.msgs[mid].cmd = None;
        if let Err(e) = self.server_owned_open(cid, server) {
            self.reply_error(mid, e);
            return;
        }
        self.execute_local_on(mid, server);
    }

    /// `DYNO_EXEC <db> <key> <unit>` reached the node that runs it: the
    /// unit is checked and written as is, on the datastore that owns the
    /// key. Called by `execute_local`.
    pub(crate) fn txn_execute_local(&mut self, mid: MsgId) {
        let db = String::from_utf8_lossy(&self.arg_vec(mid, 1))
            .parse::<u32>()
            .ok();
        let unit = self.arg_vec(mid, 3);
        let (Some(db), Some(n)) = (db, check_unit(&unit)) else {
            self.reply_error(mid, errors::ERR_TXN_BAD_UNIT);
            return;
        };
        let server = if self.msgs[mid].req.args[2].len == 0 {
            0
        } else {
            let h = self.arg_hash(mid, 2);
            self.server_for_hash(h)
        };
        let m = &mut self.msgs[mid];
        let mut segs = std::mem::take(&mut m.segs);
        self.mbufs.put_segs(&mut segs);
        self.mbufs.append(&mut segs, &unit);
        let m = &mut self.msgs[mid];
        m.segs = segs;
        m.mlen = unit.len() as u64;
        m.req.args.clear();
        m.skip_replies = n - 1;
        m.db = (db != self.settings.auth.redis_db).then_some(db);
        self.execute_local_on(mid, server);
    }

    /// Sends a request to server `server` for its client (or for the node,
    /// when it came from a peer).
    fn execute_local_on(&mut self, mid: MsgId, server: usize) {
        let client = self.msgs[mid].owner.unwrap_or(ConnId(0));
        self.server_forward(mid, server, client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_unit_is_multi_the_commands_exec() {
        let mut t = Txn::default();
        assert!(t.is_empty());
        t.push(&args(&["SET", "a", "1"]));
        t.key_owner(b"a", (0, 0));
        t.push(&args(&["INCR", "a"]));
        t.key_owner(b"a", (0, 0));
        assert_eq!(t.len(), 2);
        let u = t.unit().unwrap();
        assert_eq!(
            u,
            b"*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
              *2\r\n$4\r\nINCR\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n"
                .to_vec()
        );
        assert_eq!(check_unit(&u), Some(4));
        assert_eq!(t.key(), b"a");
    }

    #[test]
    fn an_empty_transaction_is_multi_exec() {
        let t = Txn::default();
        let u = t.unit().unwrap();
        assert_eq!(check_unit(&u), Some(2));
        assert_eq!(t.key(), b"");
    }

    #[test]
    fn a_refused_command_aborts_at_exec() {
        let mut t = Txn::default();
        t.push(&args(&["SET", "a", "1"]));
        t.flag();
        assert_eq!(t.unit(), Err(TxnError::Dirty));
    }

    #[test]
    fn keys_of_two_owners_do_not_run() {
        let mut t = Txn::default();
        t.key_owner(b"a", (0, 0));
        t.key_owner(b"b", (1, 0));
        assert_eq!(t.unit(), Err(TxnError::Span));
        let mut t = Txn::default();
        t.key_owner(b"a", (0, 0));
        t.key_owner(b"b", (0, 1));
        assert_eq!(t.unit(), Err(TxnError::Span));
        // The first key routes it.
        assert_eq!(t.key(), b"a");
    }

    #[test]
    fn too_many_commands_or_bytes_abort_and_free_the_queue() {
        let mut t = Txn::default();
        for _ in 0..TXN_MAX_CMDS {
            t.push(&args(&["PING"]));
        }
        assert!(t.unit().is_ok());
        t.push(&args(&["PING"]));
        assert_eq!(t.unit(), Err(TxnError::TooLarge));
        assert_eq!(t.buf.capacity(), 0);
        let mut t = Txn::default();
        let big = vec![b'x'; TXN_MAX_BYTES];
        t.push(&[b"SET".to_vec(), b"k".to_vec(), big]);
        assert_eq!(t.unit(), Err(TxnError::TooLarge));
        // Too large wins over dirty: the reply says why.
        t.flag();
        assert_eq!(t.unit(), Err(TxnError::TooLarge));
    }

    #[test]
    fn the_wrapper_carries_db_key_and_unit() {
        let unit = b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n";
        let (w, a) = wrap(3, b"key", unit);
        assert_eq!(a.len(), 4);
        let arg = |i: usize| &w[a[i].off as usize..a[i].off as usize + a[i].len as usize];
        assert_eq!(arg(0), b"DYNO_EXEC");
        assert_eq!(arg(1), b"3");
        assert_eq!(arg(2), b"key");
        assert_eq!(arg(3), unit);
        assert!(w.starts_with(b"*4\r\n$9\r\nDYNO_EXEC\r\n$1\r\n3\r\n$3\r\nkey\r\n"));
        assert!(w.ends_with(b"EXEC\r\n\r\n"));
    }

    #[test]
    fn units_that_could_desync_a_connection_are_refused() {
        let ok = b"*1\r\n$5\r\nmulti\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nexec\r\n";
        assert_eq!(check_unit(ok), Some(3));
        let bad: &[&[u8]] = &[
            b"",
            b"*1\r\n$4\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n*1\r\n$4\r\nPING\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*1\r\n$4\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*2\r\n$5\r\nWATCH\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r\nPING\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$9\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*0\r\n*1\r\n$4\r\nEXEC\r\n",
            b"*1\r\n$5\r\nMULTI\r\n*1\r\n$4\r\nEXEC\r",
            b"*1\r\n$99999999999999999999999\r\nMULTI\r\n",
        ];
        for b in bad {
            assert_eq!(check_unit(b), None, "{:?}", String::from_utf8_lossy(b));
        }
    }

    /// The transaction state machine in a node turned by the test, in
    /// front of two real redis shards.
    #[test]
    fn a_node_queues_runs_and_cleans_up_transactions() {
        use crate::core::harness::{
            bulk, db_pools, key_shard, key_where, msgs_in_use, owned_conns, pump, Node, Redis,
        };
        let (r0, r1) = (Redis::start(), Redis::start());
        let mut nodes = [Node::start(&format!(
            "servers:\n- {}:1\n- {}:1\n",
            r0.addr(),
            r1.addr()
        ))];
        let k0 = key_where(&nodes[0].ctx, |ctx, k| key_shard(ctx, k) == 0);
        let k1 = key_where(&nodes[0].ctx, |ctx, k| key_shard(ctx, k) == 1);
        let mut c = nodes[0].client();
        assert_eq!(c.call(&mut nodes, &[b"MULTI"]), "+OK\r\n");
        assert_eq!(c.call(&mut nodes, &[b"SET", &k1, b"v"]), "+QUEUED\r\n");
        assert_eq!(c.call(&mut nodes, &[b"GET", &k1]), "+QUEUED\r\n");
        assert_eq!(c.call(&mut nodes, &[b"EXEC"]), "*2\r\n+OK\r\n$1\r\nv\r\n");
        assert_eq!(r1.cmd(&[b"GET", &k1]), bulk(b"v"));
        // Keys of two shards: nothing runs.
        assert_eq!(c.call(&mut nodes, &[b"MULTI"]), "+OK\r\n");
        c.call(&mut nodes, &[b"SET", &k0, b"x"]);
        c.call(&mut nodes, &[b"SET", &k1, b"x"]);
        assert!(c
            .call(&mut nodes, &[b"EXEC"])
            .starts_with("-ERR Transaction keys are owned by different nodes"));
        assert_eq!(r0.cmd(&[b"EXISTS", &k0]), ":0\r\n");
        assert_eq!(r1.cmd(&[b"GET", &k1]), bulk(b"v"));

        // Under WATCH the keys must live at the watch's datastore.
        assert_eq!(c.call(&mut nodes, &[b"WATCH", &k0]), "+OK\r\n");
        assert_eq!(c.call(&mut nodes, &[b"MULTI"]), "+OK\r\n");
        c.call(&mut nodes, &[b"SET", &k1, b"w"]);
        assert!(c
            .call(&mut nodes, &[b"EXEC"])
            .starts_with("-ERR Transaction keys are owned by different nodes"));
        assert_eq!(r1.cmd(&[b"GET", &k1]), bulk(b"v"));
        pump(&mut nodes, "owned connection released", |n| {
            owned_conns(&n[0].ctx, 0) == 0
        });

        // WATCH: one owned connection, gone with its client.
        assert_eq!(c.call(&mut nodes, &[b"WATCH", &k0]), "+OK\r\n");
        assert_eq!(owned_conns(&nodes[0].ctx, 0), 1);
        assert_eq!(c.call(&mut nodes, &[b"SELECT", b"2"]), "+OK\r\n");
        assert_eq!(
            db_pools(&nodes[0].ctx, 0),
            0,
            "the WATCH connection served it"
        );
        drop(c);
        pump(&mut nodes, "owned connection released", |n| {
            owned_conns(&n[0].ctx, 0) == 0
        });
        // A client in database 2 gets a pool of database 2.
        let mut d = nodes[0].client();
        assert_eq!(d.call(&mut nodes, &[b"SELECT", b"2"]), "+OK\r\n");
        assert_eq!(d.call(&mut nodes, &[b"SET", &k0, b"in2"]), "+OK\r\n");
        assert_eq!(db_pools(&nodes[0].ctx, 0), 1);
        assert_eq!(r0.cmd(&[b"EXISTS", &k0]), ":0\r\n");
        drop(d);
        pump(&mut nodes, "every message freed", |n| {
            msgs_in_use(&n[0].ctx) == 0
        });
    }

    #[test]
    fn what_runs_between_multi_and_exec() {
        let get = |n: &str| redis::commands().iter().find(|c| c.name == n).unwrap();
        assert_eq!(in_multi(get("exec")), InMulti::Run);
        assert_eq!(in_multi(get("discard")), InMulti::Run);
        assert_eq!(in_multi(get("multi")), InMulti::Run);
        assert_eq!(in_multi(get("select")), InMulti::Refuse);
        assert_eq!(in_multi(get("client|setname")), InMulti::Refuse);
        assert_eq!(in_multi(get("set")), InMulti::Queue);
        assert_eq!(in_multi(get("ping")), InMulti::Queue);
        assert_eq!(in_multi(get("unwatch")), InMulti::Queue);
    }
}
