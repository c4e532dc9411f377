//! RESP requests and replies (dyn_redis.c). STUB: interface only; the parser and
//! the command table are being written.

use super::Parse;

/// Position of one request argument inside its message: `off` is the byte
/// offset from the start of the message, `len` the argument's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    pub off: u64,
    pub len: u32,
}

/// What the request parser learned about one complete request.
#[derive(Debug, Default, Clone)]
pub struct ReqInfo {
    /// The request came as an inline command, not as a RESP array.
    pub inline: bool,
    /// Every argument, the command name first.
    pub args: Vec<Arg>,
}

/// Resumable RESP request parser (arrays of bulk strings, and inline commands).
#[derive(Debug, Default)]
pub struct ReqParser {}

impl ReqParser {
    /// Feeds the next bytes of the stream; see [`Parse`]. After `Done` the parser
    /// is ready for the next message.
    pub fn parse(&mut self, _chunk: &[u8], _info: &mut ReqInfo) -> Parse {
        Parse::Error("not implemented")
    }
}

/// What the reply parser learned about one complete reply.
#[derive(Debug, Default, Clone)]
pub struct RspInfo {
    /// Type byte of the top-level value (after any attribute): `+ - : $ * % ~ _ , # ! = ( > |`.
    pub ty: u8,
    /// Value of a `:` reply.
    pub integer: i64,
    /// Length of a bulk, element count of an aggregate; -1 for RESP2 nulls.
    pub count: i64,
    /// Set by the caller before parsing: record `elems`.
    pub record_elems: bool,
    /// Byte ranges `[start, end)` (message offsets) of each top-level element of an aggregate.
    pub elems: Vec<(u64, u64)>,
}

/// Resumable RESP2/RESP3 reply parser.
#[derive(Debug, Default)]
pub struct RspParser {}

impl RspParser {
    /// Feeds the next bytes of the stream; see [`Parse`].
    pub fn parse(&mut self, _chunk: &[u8], _info: &mut RspInfo) -> Parse {
        Parse::Error("not implemented")
    }
}
