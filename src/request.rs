//! Requests (dyn_request.c): the front door. Look the command up, check its
//! arity, answer what the proxy answers itself, and hand the rest to the
//! coordinator.
//!
//! ```text
//!  client_request ─► lookup + arity ──error──► reply_error (response.rs)
//!        │ requirepass: not authenticated ─► -NOAUTH (but AUTH, HELLO, QUIT)
//!        │ subscribed client, (P|S)(UN)SUBSCRIBE ─► pubsub.rs
//!        │ blocking commands ─► blocking.rs (a datastore connection of its own)
//!        │ Proxy route (AUTH, HELLO, CLIENT, QUIT, SELECT, DYNO_CONFIG) ─► local reply
//!        └─ everything else ─► coordinate (cluster/coordinator.rs)
//!                                 ├─ split by owner (fragment.rs)
//!                                 └─ replicate / execute_local
//! ```
//!
//! With `requirepass` set, a client must give the password (`AUTH
//! <password>`, `AUTH default <password>` or `HELLO <v> AUTH default
//! <password>`) before anything but AUTH, HELLO and QUIT; the checks,
//! texts and their order are redis 7's (auth.rs compares in constant time).
//! Requests that peers forward (inbound peer connections) are not asked for
//! it: the peer port is protected by peer encryption or TLS and by the
//! network, not by the client password.
//!
//! Calls go one way: request ─► coordinator ─► response; replies from
//! servers and peers go to response.rs. Neither calls back in here.

use std::time::Duration;

use log::warn;

use crate::auth::{self, Verdict};
use crate::conf::Consistency;
use crate::conn::ConnKind;
use crate::core::Context;
use crate::errors::{
    hello_syntax, unrecognized_option, ERR_AUTH_NOT_SET, ERR_CLIENT_NAME, ERR_CONSISTENCY,
    ERR_NOAUTH, ERR_NOAUTH_HELLO, ERR_NOPROTO, ERR_PROTOVER, ERR_SYNTAX, ERR_WRONGPASS,
};
use crate::msg::{ConnId, MsgId};
use crate::proto::redis::{self, Command, Route};

/// Longest command name looked up; longer names are unknown commands.
const NAME_MAX: usize = 64;
/// At most one log line per this period about wrong client passwords.
const AUTH_LOG_EVERY: Duration = Duration::from_secs(10);
/// Version the proxy reports in its HELLO reply.
pub const REDIS_VERSION_REPORTED: &str = "7.0.0";

impl Context {
    /// Argument `i` copied into `buf` when it fits (command names,
    /// subcommands): no allocation on the request path.
    fn arg_small<'b>(&self, mid: MsgId, i: usize, buf: &'b mut [u8; NAME_MAX]) -> Option<&'b [u8]> {
        let m = &self.msgs[mid];
        let a = m.req.args[i];
        if a.len as usize > NAME_MAX {
            return None;
        }
        if m.req.inline {
            let v = self.arg_vec(mid, i);
            let out = buf.get_mut(..v.len())?;
            out.copy_from_slice(&v);
            return Some(out);
        }
        let n = self
            .mbufs
            .copy_to_slice(&m.segs, a.off, &mut buf[..a.len as usize]);
        Some(&buf[..n])
    }

    /// The first bytes of each of the first arguments, for error texts.
    fn args_preview(&self, mid: MsgId) -> Vec<Vec<u8>> {
        let m = &self.msgs[mid];
        m.req.args[1..]
            .iter()
            .take(8)
            .map(|a| {
                let mut v = Vec::new();
                self.mbufs
                    .copy_out(&m.segs, a.off, (a.len as u64).min(128), &mut v);
                v
            })
            .collect()
    }

    /// A complete request arrived on client `cid`.
    pub(crate) fn client_request(&mut self, cid: ConnId, mid: MsgId) {
        if self.settings.memcache {
            self.client_request_mc(cid, mid);
            return;
        }
        let c = &mut self.conns[cid.0];
        let resp3 = c.client().resp3;
        let m = &mut self.msgs[mid];
        if m.req.args.is_empty() {
            // `*0` and friends: nothing to answer, as redis does.
            self.msgs.put(&mut self.mbufs, mid);
            return;
        }
        m.owner = Some(cid);
        m.in_client = true;
        m.resp3 = resp3;
        c.omsg_q.push_back(mid);
        let depth = if c.kind() == ConnKind::DnodeClient {
            &mut self.stats.dnode_client_out_queue
        } else {
            &mut self.stats.client_out_queue
        };
        depth.record(c.omsg_q.len() as u64);

        let nargs = m.req.args.len();
        let name_len = m.req.args[0].len as usize;
        let mut name_buf = [0u8; NAME_MAX];
        let mut sub_buf = [0u8; NAME_MAX];
        let name = self.arg_small(mid, 0, &mut name_buf);
        let sub = if nargs > 1 {
            self.arg_small(mid, 1, &mut sub_buf)
        } else {
            None
        };
        let found = match name {
            Some(name) => redis::lookup(name, sub),
            None => Err(redis::CmdError::Unknown),
        };
        let found = match found {
            // The transaction wrapper travels between nodes only (txn.rs).
            Ok(cmd) if cmd.name == "dyno_exec" && self.conns[cid.0].kind() == ConnKind::Client => {
                Err(redis::CmdError::Unknown)
            }
            other => other,
        };
        let cmd = match found {
            Ok(cmd) => cmd,
            Err(redis::CmdError::Unsupported(_)) if self.client_needs_auth(cid) => {
                // redis answers NOAUTH for every command it knows.
                self.reply_error(mid, ERR_NOAUTH);
                return;
            }
            Err(e) => {
                self.txn_flag(cid);
                let mut shown = Vec::new();
                let m = &self.msgs[mid];
                self.mbufs.copy_out(
                    &m.segs,
                    m.req.args[0].off,
                    (name_len as u64).min(128),
                    &mut shown,
                );
                let args = self.args_preview(mid);
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                self.reply_error(mid, &e.text(&shown, &args));
                return;
            }
        };
        let m = &mut self.msgs[mid];
        m.cmd = Some(cmd);
        m.start = Some(self.now);
        let bytes = m.mlen;
        self.stats.record_request(cmd.name, cmd.write, bytes);
        if !redis::check_arity(cmd, nargs) {
            self.txn_flag(cid);
            self.reply_error(mid, &redis::error_arity(cmd));
            return;
        }
        // After lookup and arity, as redis checks.
        if !matches!(cmd.name, "auth" | "hello" | "quit") && self.client_needs_auth(cid) {
            self.reply_error(mid, ERR_NOAUTH);
            return;
        }
        // MULTI ... EXEC, WATCH (txn.rs).
        if self.txn_request(cid, mid, cmd) {
            return;
        }
        let st = self.conns[cid.0].client_mut();
        st.last_at = self.now;
        st.last_cmd = cmd.name;
        if st.db.is_some() {
            // A peer's request keeps the database of its frame.
            self.msgs[mid].db = st.db;
        }
        // Subscribed clients, SUBSCRIBE and friends (pubsub.rs), blocking
        // commands (blocking.rs).
        if self.pubsub_request(cid, mid, cmd) || self.blocking_request(cid, mid, cmd) {
            return;
        }
        // FLUSHDB, DBSIZE, KEYS, SCAN, INFO, CLIENT LIST ... (keyless.rs).
        if self.keyless_request(cid, mid, cmd) {
            return;
        }
        match cmd.route {
            Route::Proxy => self.proxy_command(cid, mid, cmd),
            Route::Unsupported => self.reply_error(mid, &redis::error_unsupported(cmd)),
            _ => self.coordinate(mid),
        }
    }

    /// Commands the proxy answers itself (the table's `Route::Proxy`).
    fn proxy_command(&mut self, cid: ConnId, mid: MsgId, cmd: &'static Command) {
        let resp3 = self.conns[cid.0].client().resp3;
        match cmd.name {
            "quit" => {
                self.msgs[mid].close_after = true;
                self.conns[cid.0].no_more_input = true;
                self.reply_bytes(mid, b"+OK\r\n");
            }
            "auth" => self.auth(cid, mid),
            "hello" => self.hello(cid, mid),
            "select" => self.select(cid, mid),
            "client|setname" => {
                let name = self.arg_vec(mid, 2);
                if name.iter().any(|&b| b <= b' ' || b >= 127) {
                    self.reply_error(mid, ERR_CLIENT_NAME);
                } else {
                    self.conns[cid.0].client_mut().name =
                        if name.is_empty() { None } else { Some(name) };
                    self.reply_bytes(mid, b"+OK\r\n");
                }
            }
            "client|getname" => {
                let reply = match &self.conns[cid.0].client().name {
                    Some(n) => bulk(n),
                    None => null(resp3).to_vec(),
                };
                self.reply_bytes(mid, &reply);
            }
            "client|id" => {
                let id = self.conns[cid.0].client().client_id;
                self.reply_bytes(mid, format!(":{id}\r\n").as_bytes());
            }
            "client|setinfo" => {
                let mut attr = self.arg_vec(mid, 2);
                attr.make_ascii_lowercase();
                if attr == b"lib-name" || attr == b"lib-ver" {
                    self.reply_bytes(mid, b"+OK\r\n");
                } else {
                    let a = String::from_utf8_lossy(&attr).into_owned();
                    self.reply_error(mid, &unrecognized_option(&sanitize(&a)));
                }
            }
            "dyno_config:conn_consistency" => {
                let level = String::from_utf8_lossy(&self.arg_vec(mid, 1)).into_owned();
                match Consistency::from_name(&level) {
                    Some(c) => {
                        let conn = self.conns[cid.0].client_mut();
                        conn.read_consistency = c;
                        conn.write_consistency = c;
                        self.reply_bytes(mid, b"+OK\r\n");
                    }
                    None => self.reply_error(mid, ERR_CONSISTENCY),
                }
            }
            _ => self.reply_error(mid, &redis::error_unsupported(cmd)),
        }
    }

    /// True when client `cid` must still give the `requirepass` password.
    /// Inbound peers never must.
    fn client_needs_auth(&self, cid: ConnId) -> bool {
        if self.settings.auth.requirepass.is_none() {
            return false;
        }
        let c = &self.conns[cid.0];
        c.kind() == ConnKind::Client && !c.client().authenticated
    }

    /// AUTH <password> | AUTH <user> <password>.
    fn auth(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        if nargs > 3 {
            self.reply_error(mid, ERR_SYNTAX);
            return;
        }
        let (user, pass) = if nargs == 3 {
            (Some(self.arg_vec(mid, 1)), self.arg_vec(mid, 2))
        } else {
            (None, self.arg_vec(mid, 1))
        };
        if self.authenticate(cid, mid, user.as_deref(), &pass) {
            self.reply_bytes(mid, b"+OK\r\n");
        }
    }

    /// Checks credentials; on success the client is authenticated and true
    /// is returned, otherwise `mid` is answered with redis' error. A failed
    /// check leaves an authenticated client authenticated, as in redis.
    fn authenticate(&mut self, cid: ConnId, mid: MsgId, user: Option<&[u8]>, pass: &[u8]) -> bool {
        match auth::check(self.settings.auth.requirepass.as_ref(), user, pass) {
            Verdict::Accepted => {
                self.conns[cid.0].client_mut().authenticated = true;
                true
            }
            Verdict::Wrong => {
                if let Some(held) = self.auth_log.allow(self.now, AUTH_LOG_EVERY) {
                    // Neither the password nor the user name is logged.
                    warn!(
                        "c {} {} gave a wrong password{}",
                        cid.0,
                        self.conns[cid.0].peer,
                        auth::held_back(held)
                    );
                }
                self.reply_error(mid, ERR_WRONGPASS);
                false
            }
            Verdict::NoPassword => {
                self.reply_error(mid, ERR_AUTH_NOT_SET);
                false
            }
        }
    }

    /// HELLO [protover [AUTH user pass] [SETNAME name]]: options are read
    /// first, then the credentials checked, then the client must be
    /// authenticated, then the name checked (redis 7's order).
    fn hello(&mut self, cid: ConnId, mid: MsgId) {
        let nargs = self.msgs[mid].req.args.len();
        let mut proto = if self.conns[cid.0].client().resp3 {
            3
        } else {
            2
        };
        let mut i = 1;
        if nargs > 1 {
            let v = String::from_utf8_lossy(&self.arg_vec(mid, 1)).into_owned();
            match v.parse::<i64>() {
                Ok(2) => proto = 2,
                Ok(3) => proto = 3,
                Ok(_) => {
                    self.reply_error(mid, ERR_NOPROTO);
                    return;
                }
                Err(_) => {
                    self.reply_error(mid, ERR_PROTOVER);
                    return;
                }
            }
            i = 2;
        }
        let mut name = None;
        let mut creds = None;
        while i < nargs {
            let mut opt = self.arg_vec(mid, i);
            opt.make_ascii_lowercase();
            match opt.as_slice() {
                // The last AUTH given counts.
                b"auth" if i + 2 < nargs => {
                    creds = Some((self.arg_vec(mid, i + 1), self.arg_vec(mid, i + 2)));
                    i += 3;
                }
                b"setname" if i + 1 < nargs => {
                    name = Some(self.arg_vec(mid, i + 1));
                    i += 2;
                }
                _ => {
                    let o = String::from_utf8_lossy(&self.arg_vec(mid, i)).into_owned();
                    self.reply_error(mid, &hello_syntax(&sanitize(&o)));
                    return;
                }
            }
        }
        if let Some((user, pass)) = creds {
            if !self.authenticate(cid, mid, Some(&user), &pass) {
                return;
            }
        }
        if self.client_needs_auth(cid) {
            self.reply_error(mid, ERR_NOAUTH_HELLO);
            return;
        }
        if name
            .as_ref()
            .is_some_and(|n| n.iter().any(|&b| b <= b' ' || b >= 127))
        {
            self.reply_error(mid, ERR_CLIENT_NAME);
            return;
        }
        let c = self.conns[cid.0].client_mut();
        c.resp3 = proto == 3;
        if let Some(n) = name {
            c.name = if n.is_empty() { None } else { Some(n) };
        }
        let id = c.client_id;
        let mut out = Vec::with_capacity(160);
        out.extend_from_slice(if proto == 3 { b"%7\r\n" } else { b"*14\r\n" });
        for (k, v) in [("server", "redis"), ("version", REDIS_VERSION_REPORTED)] {
            out.extend_from_slice(&bulk(k.as_bytes()));
            out.extend_from_slice(&bulk(v.as_bytes()));
        }
        out.extend_from_slice(&bulk(b"proto"));
        out.extend_from_slice(format!(":{proto}\r\n").as_bytes());
        out.extend_from_slice(&bulk(b"id"));
        out.extend_from_slice(format!(":{id}\r\n").as_bytes());
        for (k, v) in [("mode", "standalone"), ("role", "master")] {
            out.extend_from_slice(&bulk(k.as_bytes()));
            out.extend_from_slice(&bulk(v.as_bytes()));
        }
        out.extend_from_slice(&bulk(b"modules"));
        out.extend_from_slice(b"*0\r\n");
        // The request itself goes on as RESP3 (or not) like the ones after it.
        self.msgs[mid].resp3 = proto == 3;
        self.reply_bytes(mid, &out);
    }
}

/// A RESP bulk string.
fn bulk(b: &[u8]) -> Vec<u8> {
    let mut v = format!("${}\r\n", b.len()).into_bytes();
    v.extend_from_slice(b);
    v.extend_from_slice(b"\r\n");
    v
}

/// The null reply of the client's protocol.
fn null(resp3: bool) -> &'static [u8] {
    if resp3 {
        b"_\r\n"
    } else {
        b"$-1\r\n"
    }
}

/// Makes text safe for an error reply (no CR/LF).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}
