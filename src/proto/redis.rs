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

/// Where a command goes (stub; replaced by the full table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Key,
    LocalRackOwner,
    Local,
    AllNodes,
    Eval,
    Proxy,
    Unsupported,
}

/// Multi-key commands that are split per owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Multi {
    None,
    Mget,
    Del,
    Exists,
    Mset,
    Unlink,
    Touch,
}

/// One command of the table.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub arity: i32,
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub write: bool,
    pub route: Route,
    pub multi: Multi,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub String);

/// Looks a command up.
pub fn lookup(_name: &[u8], _sub: Option<&[u8]>) -> Result<&'static Command, CmdError> {
    Err(CmdError("ERR unknown command".into()))
}

/// Arity check.
pub fn check_arity(cmd: &Command, nargs: usize) -> bool {
    if cmd.arity >= 0 {
        nargs == cmd.arity as usize
    } else {
        nargs >= (-cmd.arity) as usize
    }
}

/// Makes text safe for an error reply (no CR/LF).
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c == '\r' || c == '\n' { ' ' } else { c }).collect()
}

/// Wrong number of arguments.
pub fn error_arity(cmd: &Command) -> String {
    format!("ERR wrong number of arguments for '{}' command", cmd.name)
}

/// A command the proxy does not carry.
pub fn error_unsupported(cmd: &Command) -> String {
    format!("ERR unsupported command '{}'", cmd.name)
}
