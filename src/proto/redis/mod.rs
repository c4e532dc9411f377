//! RESP requests and replies (dyn_redis.c): the resumable request parser
//! ([`request`]), the RESP2/RESP3 reply parser ([`reply`]) and the command
//! table ([`command`]).
//!
//! Both parsers are fed the bytes of one message chunk by chunk (each chunk is
//! the unread part of one mbuf) and keep their own running offset inside the
//! message, so positions are message offsets whatever the chunking. The
//! command table says, for each command, how it is checked and routed; it
//! knows nothing of connections.
//!
//! The names used elsewhere are re-exported here, so callers write
//! `proto::redis::ReqParser` or `proto::redis::lookup`.

pub mod command;
pub mod reply;
pub mod request;

pub use command::{
    check_arity, commands, error_arity, error_unknown, error_unknown_sub, error_unsupported,
    eval_keys, key_indices, lookup, select_db, select_index, CmdError, Command, Multi, Route,
};
pub use reply::{RspInfo, RspParser, RSP_MAX_ELEMS, RSP_MAX_LINE};
pub use request::{
    inline_arg, Arg, ReqInfo, ReqParser, ARGS_PREALLOC, MAX_BULK_LEN, MAX_INLINE_LEN, REQ_MAX_ELEMS,
};

// The error texts live in `crate::errors`; these are the names callers knew
// them by here.
pub use crate::errors::{
    ERR_BULK_LEN, ERR_INLINE_TOO_BIG, ERR_MULTIBULK_LEN, ERR_NOT_INTEGER, ERR_NUMKEYS_NEGATIVE,
    ERR_NUMKEYS_TOO_BIG, ERR_RSP_CRLF, ERR_RSP_INTEGER, ERR_RSP_LEN, ERR_RSP_LINE, ERR_RSP_TYPE,
    ERR_SELECT, ERR_UNBALANCED_QUOTES, ERR_UNSUPPORTED,
};
