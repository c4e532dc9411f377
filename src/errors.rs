//! Every error text the node generates and sends to clients or peers
//! (dyn_message.h: the `dyn_error_t` codes, `dn_strerror` and
//! `dyn_error_source`; and the error replies of proto/dyn_redis.c and
//! proto/dyn_memcache.c), in one place with a line on when each is sent.
//!
//! Texts are the redis error reply after its `-`, or the memcached line,
//! without CR/LF. The proxy's own `ERR <source>: <message>` texts follow the
//! original's shape; for memcached clients `Context::reply_error` sends them
//! as `SERVER_ERROR <source>: <message>`. Texts redis or memcached would send
//! for the same input are copied byte for byte.
//!
//! This module depends on nothing else in the crate, so that the protocol
//! parsers and the logic files can both use it.

use memchr::memchr;

// ---------------------------------------------------------------------------
// The node's own errors (`<source>: <message>`).

/// A request the admin mode does not allow (the original's
/// `DYNOMITE_INVALID_ADMIN_REQ`).
pub const ERR_ADMIN_MODE: &str = "ERR Dynomite: Invalid request in Dynomite's admin mode";
/// A request the node's current state refuses (`DYNOMITE_INVALID_STATE`).
pub const ERR_STATE: &str = "ERR Dynomite: Dynomite's current state does not allow this request";
/// Too few replicas answered alike for the consistency level
/// (`DYNOMITE_NO_QUORUM_ACHIEVED`).
pub const ERR_NO_QUORUM: &str = "ERR Dynomite: Failed to achieve Quorum";
/// A write older than the key's (or field's) last write or delete, refused
/// by the read-repair metadata scheme (`read_repairs_enabled`); the
/// original answered `-1` here. The same text is in the scripts of
/// cluster/rr_meta.rs.
pub const ERR_STALE_WRITE: &str =
    "ERR Dynomite: stale write, a newer write or delete of this key exists";
/// EVAL keys owned by more than one node (or shard)
/// (`DYNOMITE_SCRIPT_SPANS_NODES`).
pub const ERR_SCRIPT_SPAN: &str = "ERR Dynomite: Keys in the script cannot span multiple nodes";
/// A fragment of a split request (DEL, EXISTS, MGET, ...) answered with
/// something the merge cannot add up or concatenate.
pub const ERR_SPLIT_REPLY: &str = "ERR Dynomite: unexpected reply to a split request";
/// `DYNO_CONFIG:CONN_CONSISTENCY` with an unknown level.
pub const ERR_CONSISTENCY: &str =
    "ERR Dynomite: consistency must be one of DC_ONE DC_QUORUM DC_SAFE_QUORUM DC_EACH_SAFE_QUORUM";
/// The peer that owns the key has no connection up (`PEER_HOST_NOT_CONNECTED`).
pub const ERR_PEER_NOT_CONNECTED: &str = "ERR Peer: Peer Node is not connected";
/// The connection to the peer was refused or lost (`PEER_CONNECTION_REFUSE`).
pub const ERR_PEER_REFUSED: &str = "ERR Peer: Peer Node refused connection";
/// The peer did not answer in time.
pub const ERR_PEER_TIMEOUT: &str = "ERR Peer: Peer Node timed out";
/// The connection to the datastore was refused or lost
/// (`STORAGE_CONNECTION_REFUSE`).
pub const ERR_REFUSED: &str = "ERR Storage: Datastore refused connection";
/// The datastore did not answer in time.
pub const ERR_TIMEOUT: &str = "ERR Storage: Datastore timed out";
/// The datastore refused the password of `redis_auth` (and
/// `redis_auth_user`): the requests on that connection, and those sent to it
/// while it waits to reconnect, get this.
pub const ERR_STORAGE_AUTH: &str = "ERR Storage: datastore authentication failed";
/// The datastore refused the `SELECT` of `redis_db`.
pub const ERR_STORAGE_DB: &str = "ERR Storage: datastore refused the database of redis_db";
/// Not in the original: a blocked or subscribed client needs a datastore
/// connection of its own, and `DEDICATED_MAX` of them are open already.
pub const ERR_DEDICATED_LIMIT: &str =
    "ERR Storage: too many blocked or subscribed clients on this datastore, try again later";
/// Not in the original: a blocking command whose keys have different owners
/// (nodes of the rack, or shards of the node).
pub const ERR_BLOCKING_SPAN: &str =
    "ERR Dynomite: the keys of a blocking command must have one owner (use hash tags)";
/// Not in the original: a blocking command on a key that another node of
/// this rack owns (the client must connect to the owner).
pub const ERR_BLOCKING_REMOTE: &str =
    "ERR Dynomite: blocking commands run on the node that owns the key in its rack, connect to that node";
/// Not in the original: a blocking command that outlived its own timeout
/// by the node's `timeout` (the datastore did not answer).
pub const ERR_BLOCKING_TIMEOUT: &str = "ERR Storage: Datastore timed out on a blocking command";
/// Not in the original: WAIT counts redis replicas, which a cluster of
/// nodes does not have.
pub const ERR_WAIT: &str =
    "ERR unsupported command 'wait': copies go to the other racks by the consistency level";
/// Not in the original: the peer is known down (failure detection) and the
/// request is answered at once instead of waiting for a timeout.
pub const ERR_PEER_DOWN: &str = "ERR Peer: Peer Node is down";
/// Not in the original: too many requests are already queued for the peer
/// (`peer_queue_max_msgs`, `peer_queue_max_bytes`).
pub const ERR_PEER_QUEUE_FULL: &str = "ERR Peer: Peer Node queue is full";
/// Not in the original: the datastore does not read what is queued for it;
/// new requests are refused rather than held.
pub const ERR_DATASTORE_QUEUE_FULL: &str = "ERR Storage: Datastore queue is full";

// ---------------------------------------------------------------------------
// Peer frames (dyn_dnode_msg.c).

/// A peer frame whose data_len exceeds
/// [`MAX_DATA_LEN`](crate::dnode::msg::MAX_DATA_LEN).
pub const ERR_DATA_LEN: &str = "ERR Peer protocol error: invalid data length";
/// A peer frame whose payload_len exceeds
/// [`MAX_PAYLOAD_LEN`](crate::dnode::msg::MAX_PAYLOAD_LEN).
pub const ERR_PAYLOAD_LEN: &str = "ERR Peer protocol error: invalid payload length";

// ---------------------------------------------------------------------------
// RESP requests (redis networking.c).

/// `*<n>` is not a number, has leading zeros or exceeds
/// [`REQ_MAX_ELEMS`](crate::proto::redis::REQ_MAX_ELEMS).
pub const ERR_MULTIBULK_LEN: &str = "ERR Protocol error: invalid multibulk length";
/// `$<len>` is not a number, is negative or exceeds
/// [`MAX_BULK_LEN`](crate::proto::redis::MAX_BULK_LEN).
pub const ERR_BULK_LEN: &str = "ERR Protocol error: invalid bulk length";
/// An inline line longer than
/// [`MAX_INLINE_LEN`](crate::proto::redis::MAX_INLINE_LEN).
pub const ERR_INLINE_TOO_BIG: &str = "ERR Protocol error: too big inline request";
/// An inline line with an open quote, or a closing quote not followed by a space.
pub const ERR_UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";

macro_rules! expected_dollar {
    ($($c:literal)*) => {
        [$(concat!("ERR Protocol error: expected '$', got '", $c, "'")),*]
    };
}

/// redis: `expected '$', got '%c'`, one text per printable byte.
static EXPECTED_DOLLAR: [&str; 95] = expected_dollar!(
    ' ' '!' '"' '#' '$' '%' '&' '\'' '(' ')' '*' '+' ',' '-' '.' '/' '0' '1' '2' '3' '4' '5'
    '6' '7' '8' '9' ':' ';' '<' '=' '>' '?' '@' 'A' 'B' 'C' 'D' 'E' 'F' 'G' 'H' 'I' 'J' 'K'
    'L' 'M' 'N' 'O' 'P' 'Q' 'R' 'S' 'T' 'U' 'V' 'W' 'X' 'Y' 'Z' '[' '\\' ']' '^' '_' '`' 'a'
    'b' 'c' 'd' 'e' 'f' 'g' 'h' 'i' 'j' 'k' 'l' 'm' 'n' 'o' 'p' 'q' 'r' 's' 't' 'u' 'v' 'w'
    'x' 'y' 'z' '{' '|' '}' '~'
);

/// The error for a request element that does not start with `$`. redis prints
/// the byte itself and turns CR/LF into spaces; bytes that are not printable
/// ASCII are shown as `?` here.
pub fn expected_dollar(b: u8) -> &'static str {
    match b {
        b'\r' | b'\n' => EXPECTED_DOLLAR[0],
        0x20..=0x7e => EXPECTED_DOLLAR[usize::from(b - 0x20)],
        _ => "ERR Protocol error: expected '$', got '?'",
    }
}

// ---------------------------------------------------------------------------
// RESP replies from the datastore (the proxy's own words).

/// A reply value starting with an unknown type byte (streamed strings included).
pub const ERR_RSP_TYPE: &str = "ERR Protocol error: unknown reply type";
/// A reply length or count that is not a number, negative (other than a
/// RESP2 null) or over its cap.
pub const ERR_RSP_LEN: &str = "ERR Protocol error: invalid reply length";
/// A `:` reply that is not an i64.
pub const ERR_RSP_INTEGER: &str = "ERR Protocol error: invalid reply integer";
/// A reply header or bulk payload not followed by CRLF.
pub const ERR_RSP_CRLF: &str = "ERR Protocol error: reply line not ended by CRLF";
/// A reply line longer than [`RSP_MAX_LINE`](crate::proto::redis::RSP_MAX_LINE).
pub const ERR_RSP_LINE: &str = "ERR Protocol error: reply line too long";

// ---------------------------------------------------------------------------
// redis commands: lookup, arity, arguments (redis server.c, db.c, networking.c).

/// Our own text for commands the proxy refuses; the command's name follows
/// it, then `'`.
pub const ERR_UNSUPPORTED: &str = "ERR unsupported command '";
/// redis: numkeys (or a SELECT index) that is not an integer.
pub const ERR_NOT_INTEGER: &str = "ERR value is not an integer or out of range";
/// redis: numkeys larger than the arguments after it.
pub const ERR_NUMKEYS_TOO_BIG: &str = "ERR Number of keys can't be greater than number of args";
/// redis: negative numkeys.
pub const ERR_NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
/// SELECT of any database but 0 (redis cluster's wording).
pub const ERR_SELECT: &str = "ERR SELECT is not allowed in cluster mode";
/// redis: CLIENT SETNAME with a space or a byte outside `!`..`~`.
pub const ERR_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
/// redis: HELLO with a protocol version other than 2 or 3.
pub const ERR_NOPROTO: &str = "NOPROTO unsupported protocol version";
/// redis: HELLO with a protocol version that is not a number.
pub const ERR_PROTOVER: &str = "ERR Protocol version is not an integer or out of range";
/// redis: any command but AUTH, HELLO and QUIT from a client that has not
/// authenticated while `requirepass` is set.
pub const ERR_NOAUTH: &str = "NOAUTH Authentication required.";
/// redis 7: HELLO without its AUTH option from a client that has not
/// authenticated.
pub const ERR_NOAUTH_HELLO: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";
/// redis: AUTH (or HELLO ... AUTH) with a wrong password or an unknown user.
pub const ERR_WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// redis 7: `AUTH <password>` while no password is set.
pub const ERR_AUTH_NOT_SET: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
/// redis: AUTH with more than two arguments.
pub const ERR_SYNTAX: &str = "ERR syntax error";

/// Appends at most `max` bytes of `s` as redis `%.*s` would (stopping at a
/// NUL), with CR and LF turned into spaces.
fn push_clean(out: &mut String, s: &[u8], max: usize) {
    let s = &s[..s.len().min(max)];
    let s = match memchr(0, s) {
        Some(p) => &s[..p],
        None => s,
    };
    for c in String::from_utf8_lossy(s).chars() {
        out.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
}

/// redis 7: `ERR unknown command '<name>', with args beginning with: '<a1>' ... `
/// (name cut at 128 bytes, the argument list at about 128 bytes).
pub fn unknown_command(name: &[u8], args: &[&[u8]]) -> String {
    let mut out = String::from("ERR unknown command '");
    push_clean(&mut out, name, 128);
    out.push_str("', with args beginning with: ");
    let mut list = String::new();
    for a in args {
        // redis measures in bytes; so does `list.len()`, except where lossy
        // decoding widened invalid bytes.
        if list.len() >= 128 {
            break;
        }
        let max = 128 - list.len();
        list.push('\'');
        push_clean(&mut list, a, max);
        list.push_str("' ");
    }
    out.push_str(&list);
    out
}

/// redis 7: `ERR unknown subcommand '<sub>'. Try <CONTAINER> HELP.`;
/// `container` is the container command's name.
pub fn unknown_subcommand(container: &str, sub: &[u8]) -> String {
    let mut out = String::from("ERR unknown subcommand '");
    push_clean(&mut out, sub, 128);
    out.push_str("'. Try ");
    out.push_str(&container.to_ascii_uppercase());
    out.push_str(" HELP.");
    out
}

/// redis 7: `ERR wrong number of arguments for '<name>' command`.
pub fn wrong_arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

/// `ERR unsupported command '<name>'`.
pub fn unsupported_command(name: &str) -> String {
    if name == "wait" {
        return ERR_WAIT.to_string();
    }
    format!("{ERR_UNSUPPORTED}{name}'")
}

/// redis: CLIENT SETINFO with an attribute other than LIB-NAME or LIB-VER;
/// `opt` is already cleaned of CR/LF.
pub fn unrecognized_option(opt: &str) -> String {
    format!("ERR Unrecognized option '{opt}'")
}

/// redis: HELLO with an option other than AUTH or SETNAME (or one missing
/// its arguments); `opt` is already cleaned of CR/LF.
pub fn hello_syntax(opt: &str) -> String {
    format!("ERR Syntax error in HELLO option '{opt}'")
}

// ---------------------------------------------------------------------------
// memcached requests (memcached proto_text.c).

/// memcached: an unknown command, a wrong number of tokens, and every
/// command the proxy does not serve (see
/// [`McCmd::Unknown`](crate::proto::memcache::McCmd::Unknown)).
pub const ERR_MC_ERROR: &str = "ERROR";
/// memcached: a bad key (too long; here also control characters) or a bad
/// number on a storage line.
pub const ERR_MC_BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
/// memcached: the data block is not followed by CRLF.
pub const ERR_MC_BAD_DATA_CHUNK: &str = "CLIENT_ERROR bad data chunk";
/// memcached: the incr/decr value is not an unsigned 64-bit number.
pub const ERR_MC_BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument";
/// memcached: the touch/gat exptime is not a number.
pub const ERR_MC_BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
/// memcached: `delete <key> <x>` where `<x>` is neither `0` nor `noreply`
/// (two spaces after the dot, as memcached writes it).
pub const ERR_MC_DELETE_USAGE: &str =
    "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

/// [`Parse::Error`](crate::proto::Parse::Error): a request line longer than
/// [`MAX_LINE`](crate::proto::memcache::MAX_LINE) (or a get line longer than
/// [`MAX_GET_LINE`](crate::proto::memcache::MAX_GET_LINE)). memcached closes
/// the connection without a reply; the text is for the log.
pub const ERR_MC_LINE_TOO_LONG: &str = "CLIENT_ERROR line too long";
/// [`Parse::Error`](crate::proto::Parse::Error): a storage command announcing
/// more than [`MAX_DATA_LEN`](crate::proto::memcache::MAX_DATA_LEN) bytes.
/// memcached's words for a value it cannot store; memcached then swallows the
/// block, the proxy closes the connection.
pub const ERR_MC_DATA_TOO_LARGE: &str = "SERVER_ERROR object too large for cache";
/// [`Parse::Error`](crate::proto::Parse::Error): a binary-protocol
/// connection sent a packet without the request magic (0x80): the stream
/// cannot be framed any further. The client gets one binary error response
/// (status 0x0083, this text as its body) and the connection is closed.
pub const ERR_MC_BINARY: &str = "binary protocol: not a request packet";
/// A flush_all that did not reach every datastore of the cluster: followed
/// by what failed.
pub const ERR_MC_FLUSH_FAILED: &str = "SERVER_ERROR flush_all failed on";

// ---------------------------------------------------------------------------
// memcached replies from the datastore (the proxy's own words).

/// Reply parser error: a reply line longer than
/// [`RSP_MAX_LINE`](crate::proto::memcache::RSP_MAX_LINE).
pub const ERR_MC_RSP_LINE: &str = "SERVER_ERROR reply line too long";
/// Reply parser error: a reply line, or a `VALUE` data block, not ended by CRLF.
pub const ERR_MC_RSP_CRLF: &str = "SERVER_ERROR reply not ended by CRLF";
/// Reply parser error: a `VALUE` line that is not `VALUE <key> <flags> <bytes>[ <cas>]`.
pub const ERR_MC_RSP_VALUE: &str = "SERVER_ERROR bad VALUE line";
/// Reply parser error: a line that is no memcached reply, or a `VALUE`
/// block followed by anything but `VALUE`, `END` or an error line.
pub const ERR_MC_RSP_UNKNOWN: &str = "SERVER_ERROR unknown reply";

/// A proxy-generated error line for memcached clients (spec §4), without its
/// CRLF: `server_error("Storage: Datastore refused connection")` is
/// `SERVER_ERROR Storage: Datastore refused connection`. CR and LF become
/// spaces.
pub fn server_error(source_and_message: &str) -> String {
    let mut out = String::with_capacity(13 + source_and_message.len());
    out.push_str("SERVER_ERROR ");
    for c in source_and_message.chars() {
        out.push(if c == '\r' || c == '\n' { ' ' } else { c });
    }
    out
}

// Transactions, databases and dedicated datastore connections (txn.rs,
// server.rs `server_owned_*`, `server_db_*`): redis 7's texts where redis
// has one.

/// redis: MULTI inside MULTI.
pub const ERR_MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
/// redis: EXEC without MULTI.
pub const ERR_EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
/// redis: DISCARD without MULTI.
pub const ERR_DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
/// redis: WATCH inside MULTI.
pub const ERR_WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
/// redis: EXEC after a command was refused while queueing.
pub const ERR_EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
/// EXEC of a transaction past the node's limits (txn.rs `TXN_MAX_CMDS`,
/// `TXN_MAX_BYTES`).
pub const ERR_TXN_TOO_LARGE: &str = "EXECABORT Transaction discarded: more than 4096 commands \
     or 8 MiB queued (the node's limit)";
/// EXEC (or WATCH) of keys owned by different nodes or datastores.
pub const ERR_TXN_SPAN: &str = "ERR Transaction keys are owned by different nodes; nothing was \
     run (keep them together with a hash tag)";
/// WATCH of a key another node of this rack owns.
pub const ERR_WATCH_NOT_LOCAL: &str = "ERR WATCH needs keys this node owns in its rack; connect \
     to the key's owner or use a single node per rack";
/// A `DYNO_EXEC` unit that is not MULTI, commands, EXEC.
pub const ERR_TXN_BAD_UNIT: &str = "ERR Storage: malformed transaction unit";
/// The bound on datastore connections owned by one client each (WATCH,
/// SCRIPT KILL) was reached (server.rs `OWNED_CONNS_MAX`).
pub const ERR_OWNED_CONNS: &str = "ERR Storage: too many dedicated datastore connections \
     (WATCH); try again later";
/// The bound on databases with a pool of their own was reached (server.rs
/// `DB_POOLS_MAX`).
pub const ERR_DB_POOLS: &str = "ERR Storage: too many databases in use at once on this node";
/// redis: SELECT of a database the datastore does not have (the database's
/// connection refused it).
pub const ERR_DB_RANGE: &str = "ERR DB index is out of range";
/// SELECT of a database past 255 in a cluster (peer frames carry 0..=255).
pub const ERR_SELECT_CLUSTER: &str = "ERR SELECT in a cluster takes databases 0 to 255 (peer \
     frames carry no more)";
/// A peer answered a request in a database other than the default without
/// honouring the database (a C node, which ran it in its default one).
pub const ERR_PEER_NO_DB: &str = "ERR Peer: the peer cannot run requests in another database \
     (a C node ran it in its default database)";
/// FLUSHDB or FLUSHALL failed on `failed` of `total` nodes or
/// datastores; `first` names the first one and says why (no CR/LF).
pub fn flush_failed(failed: usize, total: usize, first: &str) -> String {
    format!("ERR Storage: the flush failed on {failed} of {total} ({first})")
}

/// A command the proxy answers itself cannot be queued in a transaction.
pub fn not_in_transaction(name: &str) -> String {
    format!("ERR Command '{name}' cannot be queued in a transaction on this proxy")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_is_cut_and_cleaned() {
        assert_eq!(
            unknown_command(b"foo", &[]),
            "ERR unknown command 'foo', with args beginning with: "
        );
        // Recorded from redis 7: the list stops at about 128 bytes.
        let long = [b'x'; 200];
        let want = format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        );
        assert_eq!(unknown_command(b"foo", &[&long, b"bb"]), want);
        let t = unknown_command(b"f\r\no", &[b"a\nb", b"c\rd"]);
        assert_eq!(
            t,
            "ERR unknown command 'f  o', with args beginning with: 'a b' 'c d' "
        );
        assert_eq!(
            unknown_command(b"a\0b", &[b"c\0d"]),
            "ERR unknown command 'a', with args beginning with: 'c' "
        );
    }

    #[test]
    fn server_error_line() {
        assert_eq!(
            server_error("Storage: Datastore refused connection"),
            "SERVER_ERROR Storage: Datastore refused connection"
        );
        assert_eq!(
            server_error("unknown: a\r\nb"),
            "SERVER_ERROR unknown: a  b"
        );
    }

    #[test]
    fn no_text_holds_cr_or_lf() {
        let all = [
            ERR_ADMIN_MODE,
            ERR_STATE,
            ERR_NO_QUORUM,
            ERR_SCRIPT_SPAN,
            ERR_SPLIT_REPLY,
            ERR_CONSISTENCY,
            ERR_PEER_NOT_CONNECTED,
            ERR_PEER_REFUSED,
            ERR_PEER_TIMEOUT,
            ERR_REFUSED,
            ERR_TIMEOUT,
            ERR_STORAGE_AUTH,
            ERR_STORAGE_DB,
            ERR_DEDICATED_LIMIT,
            ERR_BLOCKING_SPAN,
            ERR_BLOCKING_REMOTE,
            ERR_BLOCKING_TIMEOUT,
            ERR_WAIT,
            ERR_NOAUTH,
            ERR_NOAUTH_HELLO,
            ERR_WRONGPASS,
            ERR_AUTH_NOT_SET,
            ERR_SYNTAX,
            ERR_DATA_LEN,
            ERR_PAYLOAD_LEN,
            ERR_MULTIBULK_LEN,
            ERR_BULK_LEN,
            ERR_INLINE_TOO_BIG,
            ERR_UNBALANCED_QUOTES,
            ERR_RSP_TYPE,
            ERR_RSP_LEN,
            ERR_RSP_INTEGER,
            ERR_RSP_CRLF,
            ERR_RSP_LINE,
            ERR_UNSUPPORTED,
            ERR_NOT_INTEGER,
            ERR_NUMKEYS_TOO_BIG,
            ERR_NUMKEYS_NEGATIVE,
            ERR_SELECT,
            ERR_CLIENT_NAME,
            ERR_NOPROTO,
            ERR_PROTOVER,
            ERR_MC_ERROR,
            ERR_MC_BAD_FORMAT,
            ERR_MC_BAD_DATA_CHUNK,
            ERR_MC_BAD_DELTA,
            ERR_MC_BAD_EXPTIME,
            ERR_MC_DELETE_USAGE,
            ERR_MC_LINE_TOO_LONG,
            ERR_MC_DATA_TOO_LARGE,
            ERR_MC_BINARY,
            ERR_MC_FLUSH_FAILED,
            ERR_MC_RSP_LINE,
            ERR_MC_RSP_CRLF,
            ERR_MC_RSP_VALUE,
            ERR_MC_RSP_UNKNOWN,
        ];
        for t in all.iter().copied().chain(EXPECTED_DOLLAR) {
            assert!(!t.contains('\r') && !t.contains('\n'), "{t:?}");
        }
    }
}
