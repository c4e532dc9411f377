//! Databases (SELECT): a client's requests run in the database it chose,
//! on datastore connections that selected it. The original refuses SELECT.
//!
//! ```text
//!  SELECT n ─► n is redis_db: +OK, the node's pools
//!           ─► n > 255 in a cluster of several nodes: refused
//!              (ERR_SELECT_CLUSTER)
//!           ─► otherwise the client's db is n; the SELECT itself runs on
//!              the pool of database n (server.rs `server_db_conn`), so
//!              redis answers it: +OK, or its range error
//!  every later request ─► Msg::db ─► server_forward ─► the pool of its db
//! ```
//!
//! A pool per database is opened on demand (`datastore_connections`
//! connections, each with `SELECT n` in its handshake) and bounded
//! (server.rs `DB_POOLS_MAX` databases per server and protocol).
//! A SELECT that redis refuses (a database past `databases`) is
//! answered with redis' error, but the client stays in that database: its
//! next requests get the same error until it selects a valid one.
//!
//! Peers: a request in database n travels with flags bit 6 (`FLAG_DB`,
//! dnode/msg.rs) and n in the frame's version field, which C nodes never
//! read; a Rust replica runs it in n and echoes the bit in its reply. A
//! reply without the echo came from a node that ran the request in its
//! default database (a C node): the client gets `ERR_PEER_NO_DB` instead.
//! A C replica has then already run it in its default database, so a
//! cluster with C nodes must not use SELECT (README).

use crate::core::Context;
use crate::errors::{ERR_DB_RANGE, ERR_NOT_INTEGER, ERR_SELECT_CLUSTER};
use crate::msg::{ConnId, MsgId};

/// SELECT's argument: a database number, or redis' error.
pub fn parse_db(arg: &[u8]) -> Result<u32, &'static str> {
    let s = std::str::from_utf8(arg).map_err(|_| ERR_NOT_INTEGER)?;
    let n: i64 = s.parse().map_err(|_| ERR_NOT_INTEGER)?;
    if !(0..=i64::from(i32::MAX)).contains(&n) {
        return Err(ERR_DB_RANGE);
    }
    Ok(n as u32)
}

impl Context {
    /// SELECT n (the proxy route of request.rs).
    pub(crate) fn select(&mut self, cid: ConnId, mid: MsgId) {
        let db = match parse_db(&self.arg_vec(mid, 1)) {
            Ok(db) => db,
            Err(e) => {
                self.reply_error(mid, e);
                return;
            }
        };
        let default = self.settings.auth.redis_db;
        if db == default {
            self.conns[cid.0].client_mut().db = None;
            self.reply_bytes(mid, b"+OK\r\n");
            return;
        }
        if !self.topology.is_single() && db > u32::from(u8::MAX) {
            self.reply_error(mid, ERR_SELECT_CLUSTER);
            return;
        }
        self.conns[cid.0].client_mut().db = Some(db);
        // The datastore answers on a connection of database n.
        self.msgs[mid].db = Some(db);
        self.server_forward(mid, 0, cid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_numbers() {
        assert_eq!(parse_db(b"0"), Ok(0));
        assert_eq!(parse_db(b"15"), Ok(15));
        assert_eq!(parse_db(b"2147483647"), Ok(2147483647));
        assert_eq!(parse_db(b"-1"), Err(ERR_DB_RANGE));
        assert_eq!(parse_db(b"2147483648"), Err(ERR_DB_RANGE));
        assert_eq!(parse_db(b"x"), Err(ERR_NOT_INTEGER));
        assert_eq!(parse_db(b""), Err(ERR_NOT_INTEGER));
        assert_eq!(parse_db(b"1.5"), Err(ERR_NOT_INTEGER));
    }
}
