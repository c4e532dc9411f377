//! Memcached ASCII requests and replies (dyn_memcache.c): the resumable
//! request parser ([`request`]), the reply parser ([`reply`]) and the
//! commands with their routing entries ([`command`](mod@command)).
//!
//! Both parsers follow the contract of the RESP ones ([`super::redis`]): they
//! are fed the bytes of one message chunk by chunk, keep their own running
//! offset inside the message and record positions as message offsets.
//!
//! The names used elsewhere are re-exported here, so callers write
//! `proto::memcache::ReqParser` or `proto::memcache::McCmd`.

pub mod command;
pub mod reply;
pub mod request;

pub use command::{command, McCmd};
pub use reply::{
    server_error, McRsp, McRspType, McValue, RspParser, ERR_RSP_CRLF, ERR_RSP_LINE,
    ERR_RSP_UNKNOWN, ERR_RSP_VALUE, RSP_MAX_LINE,
};
pub use request::{
    key_ok, McReq, ReqParser, ERR_BAD_DATA_CHUNK, ERR_BAD_DELTA, ERR_BAD_EXPTIME, ERR_BAD_FORMAT,
    ERR_DATA_TOO_LARGE, ERR_DELETE_USAGE, ERR_ERROR, ERR_LINE_TOO_LONG, GET_MAX_SPACES,
    KEY_MAX_LEN, MAX_DATA_LEN, MAX_GET_LINE, MAX_LINE,
};
