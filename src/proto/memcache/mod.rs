//! Memcached ASCII and meta requests and replies (dyn_memcache.c): the resumable
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

pub use command::{command, command_of, McCmd};
pub use reply::{McRsp, McRspType, McValue, RspParser, RSP_MAX_LINE};
pub use request::{
    base64_decode, bin_cmd, binary_refusal, key_ok, BinReq, McReq, ReqParser, BIN_EXTRAS_MAX,
    BIN_HEADER_LEN, GET_MAX_SPACES, KEY_MAX_LEN, MAX_DATA_LEN, MAX_GET_LINE, MAX_LINE,
};

// The error texts live in `crate::errors`; these are the names callers knew
// them by here.
pub use crate::errors::{
    server_error, ERR_MC_BAD_DATA_CHUNK as ERR_BAD_DATA_CHUNK, ERR_MC_BAD_DELTA as ERR_BAD_DELTA,
    ERR_MC_BAD_EXPTIME as ERR_BAD_EXPTIME, ERR_MC_BAD_FORMAT as ERR_BAD_FORMAT,
    ERR_MC_BINARY as ERR_BINARY, ERR_MC_DATA_TOO_LARGE as ERR_DATA_TOO_LARGE,
    ERR_MC_DELETE_USAGE as ERR_DELETE_USAGE, ERR_MC_ERROR as ERR_ERROR,
    ERR_MC_LINE_TOO_LONG as ERR_LINE_TOO_LONG, ERR_MC_RSP_CRLF as ERR_RSP_CRLF,
    ERR_MC_RSP_LINE as ERR_RSP_LINE, ERR_MC_RSP_UNKNOWN as ERR_RSP_UNKNOWN,
    ERR_MC_RSP_VALUE as ERR_RSP_VALUE,
};
