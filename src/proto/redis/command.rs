//! The redis command table (dyn_redis.c: the command switch of
//! `redis_parse_req`, and the `msg_type_t` list of dyn_message.h): one entry
//! per command with its arity, key positions, write flag, routing class and
//! multi-key kind; the lookup by name and subcommand; the checks and error
//! texts that use the table (arity, numkeys, SELECT, unknown and unsupported
//! commands).
//!
//! The table follows redis 7 (`COMMAND` output: arity and legacy key
//! positions), with the proxy's routing class added to each entry.

use memchr::memchr;

use super::request::Num;
use crate::errors::{self, ERR_NOT_INTEGER, ERR_NUMKEYS_NEGATIVE, ERR_NUMKEYS_TOO_BIG, ERR_SELECT};

/// Where a command is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// By the token of its first key (other keys are not checked for
    /// co-location; use hash tags).
    Key,
    /// The first key's owner in the local rack only, no quorum (cursor and
    /// whole-collection reads: HGETALL HKEYS HVALS HSCAN SSCAN ZSCAN).
    LocalRackOwner,
    /// Keyless: this node's datastore, consistency DC_ONE, never replicated.
    Local,
    /// Sent to every node; the client gets this node's datastore reply.
    AllNodes,
    /// Scripts: numkeys at argument 2, keys from argument 3 ([`eval_keys`]);
    /// numkeys 0 runs as [`Route::Local`].
    Eval,
    /// Answered by the proxy itself.
    Proxy,
    /// Rejected with [`error_unsupported`]; [`lookup`] never returns these.
    Unsupported,
}

/// Commands whose keys are split per owner and whose replies are merged.
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

/// One entry of the command table.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Lower-case redis full name: `get`, `config|get` for a subcommand.
    pub name: &'static str,
    /// redis convention: n > 0 exactly n arguments including the name (and
    /// the subcommand), n < 0 at least -n.
    pub arity: i32,
    /// Argument index of the first key; 0 for keyless commands.
    pub first_key: i32,
    /// Index of the last key; negative counts from the end (-1 = last argument).
    pub last_key: i32,
    /// Distance between keys (2 for MSET).
    pub key_step: i32,
    /// A write by redis semantics (SORT and GEORADIUS(BYMEMBER) count as
    /// writes whether or not STORE is given, as redis flags them; EVAL,
    /// EVALSHA, FCALL and SCRIPT LOAD/FLUSH/KILL are writes as in the original).
    pub write: bool,
    /// Where the command is executed.
    pub route: Route,
    /// Whether the keys are split per owner and the replies merged.
    pub multi: Multi,
}

#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    first_key: i32,
    last_key: i32,
    key_step: i32,
    write: bool,
    route: Route,
    multi: Multi,
) -> Command {
    Command {
        name,
        arity,
        first_key,
        last_key,
        key_step,
        write,
        route,
        multi,
    }
}

/// Why a command cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdError {
    /// Not a command redis knows.
    Unknown,
    /// A subcommand the container (the entry carried) does not have.
    UnknownSub(&'static Command),
    /// Wrong number of arguments (only a container without subcommand is
    /// found by [`lookup`]; otherwise call [`check_arity`]).
    Arity(&'static Command),
    /// A command redis knows and the proxy does not serve.
    Unsupported(&'static Command),
}

impl CmdError {
    /// The error text for the client (after the `-`). `name` is the command
    /// name as sent, `args` the arguments after it.
    pub fn text(&self, name: &[u8], args: &[&[u8]]) -> String {
        match *self {
            CmdError::Unknown => error_unknown(name, args),
            CmdError::UnknownSub(c) => error_unknown_sub(c, args.first().copied().unwrap_or(b"")),
            CmdError::Arity(c) => error_arity(c),
            CmdError::Unsupported(c) => error_unsupported(c),
        }
    }
}

/// redis 7: `ERR unknown command '<name>', with args beginning with: '<a1>' ... `
/// ([`errors::unknown_command`]).
pub fn error_unknown(name: &[u8], args: &[&[u8]]) -> String {
    errors::unknown_command(name, args)
}

/// redis 7: `ERR unknown subcommand '<sub>'. Try <CONTAINER> HELP.`
/// ([`errors::unknown_subcommand`]).
pub fn error_unknown_sub(container: &Command, sub: &[u8]) -> String {
    errors::unknown_subcommand(container.name, sub)
}

/// redis 7: `ERR wrong number of arguments for '<name>' command`
/// ([`errors::wrong_arity`]).
pub fn error_arity(cmd: &Command) -> String {
    errors::wrong_arity(cmd.name)
}

/// `ERR unsupported command '<name>'` ([`errors::unsupported_command`]).
pub fn error_unsupported(cmd: &Command) -> String {
    errors::unsupported_command(cmd.name)
}

/// Container commands: the second argument names the subcommand.
static CONTAINERS: [&str; 15] = [
    "acl", "client", "cluster", "command", "config", "function", "latency", "memory", "module",
    "object", "pubsub", "script", "slowlog", "xgroup", "xinfo",
];

/// Longest `name|sub` looked up; longer names are unknown.
const MAX_NAME_LEN: usize = 64;

/// FNV-1a, for the command index: names are short and trusted-shape, and
/// this runs once or twice per request.
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h ^= u64::from(c);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Slots of the open-addressing index over `COMMANDS` (a power of two, more
/// than twice the table so that probes stay short).
const INDEX_SLOTS: usize = 1024;
const _: () = assert!(INDEX_SLOTS >= 2 * COMMANDS.len());

/// Index of `COMMANDS` by name: `u16::MAX` marks an empty slot.
fn index() -> &'static [u16; INDEX_SLOTS] {
    static INDEX: std::sync::OnceLock<[u16; INDEX_SLOTS]> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        let mut idx = [u16::MAX; INDEX_SLOTS];
        for (i, c) in COMMANDS.iter().enumerate() {
            let mut slot = fnv1a(c.name.as_bytes()) as usize & (INDEX_SLOTS - 1);
            while idx[slot] != u16::MAX {
                slot = (slot + 1) & (INDEX_SLOTS - 1);
            }
            idx[slot] = i as u16;
        }
        idx
    })
}

/// The command named `name` (already lower-case).
fn find(name: &[u8]) -> Option<&'static Command> {
    let idx = index();
    let mut slot = fnv1a(name) as usize & (INDEX_SLOTS - 1);
    loop {
        let i = idx[slot];
        if i == u16::MAX {
            return None;
        }
        let c = &COMMANDS[i as usize];
        if c.name.as_bytes() == name {
            return Some(c);
        }
        slot = (slot + 1) & (INDEX_SLOTS - 1);
    }
}

/// Finds a command by name (any case). `sub` is the second argument, if any;
/// it is only looked at for container commands (CONFIG, CLIENT, SCRIPT, ...).
/// Commands the proxy does not serve come back as [`CmdError::Unsupported`].
pub fn lookup(name: &[u8], sub: Option<&[u8]>) -> Result<&'static Command, CmdError> {
    let mut buf = [0u8; MAX_NAME_LEN];
    // `config|get` is the table's spelling of a subcommand, not a name.
    if name.is_empty() || name.len() > MAX_NAME_LEN || memchr(b'|', name).is_some() {
        return Err(CmdError::Unknown);
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let base = &buf[..name.len()];
    let cmd = find(base).ok_or(CmdError::Unknown)?;
    let cmd = if CONTAINERS.binary_search(&cmd.name).is_ok() {
        match sub {
            None => {
                if !check_arity(cmd, 1) {
                    return Err(CmdError::Arity(cmd));
                }
                cmd
            }
            Some(sub) => {
                let full = name.len() + 1 + sub.len();
                if full > MAX_NAME_LEN {
                    return Err(CmdError::UnknownSub(cmd));
                }
                buf[name.len()] = b'|';
                for (d, s) in buf[name.len() + 1..].iter_mut().zip(sub) {
                    *d = s.to_ascii_lowercase();
                }
                find(&buf[..full]).ok_or(CmdError::UnknownSub(cmd))?
            }
        }
    } else {
        cmd
    };
    if cmd.route == Route::Unsupported {
        return Err(CmdError::Unsupported(cmd));
    }
    Ok(cmd)
}

/// Whether `nargs` arguments (the name included) fit the command's arity.
pub fn check_arity(cmd: &Command, nargs: usize) -> bool {
    debug_assert!(cmd.arity != 0);
    let n = nargs as i64;
    let a = i64::from(cmd.arity);
    if a > 0 {
        n == a
    } else {
        n >= -a
    }
}

/// Argument indices of the keys by the table's key spec, for a request of
/// `nargs` arguments that passed [`check_arity`]. Empty for keyless commands.
/// For [`Route::Eval`] use [`eval_keys`] instead.
pub fn key_indices(cmd: &Command, nargs: usize) -> impl Iterator<Item = usize> {
    let n = nargs as i64;
    let first = i64::from(cmd.first_key);
    let last = if cmd.last_key < 0 {
        n + i64::from(cmd.last_key)
    } else {
        i64::from(cmd.last_key)
    };
    let last = last.min(n - 1);
    let step = i64::from(cmd.key_step).max(1) as usize;
    let range = if first <= 0 || last < first {
        0..0
    } else {
        first as usize..last as usize + 1
    };
    range.step_by(step)
}

/// Argument indices of the keys of EVAL/EVALSHA/FCALL (and their _RO forms):
/// `numkeys` is argument 2, `nargs` counts every argument. An empty range means
/// a keyless script (route [`Route::Local`]).
pub fn eval_keys(numkeys: &[u8], nargs: usize) -> Result<std::ops::Range<usize>, &'static str> {
    debug_assert!(nargs >= 3);
    let mut num = Num::default();
    for &b in numkeys {
        if !num.push(b, i64::MAX as u64) {
            return Err(ERR_NOT_INTEGER);
        }
    }
    let n = num.get().ok_or(ERR_NOT_INTEGER)?;
    if n > nargs as i64 - 3 {
        return Err(ERR_NUMKEYS_TOO_BIG);
    }
    if n < 0 {
        return Err(ERR_NUMKEYS_NEGATIVE);
    }
    Ok(3..3 + n as usize)
}

/// SELECT's argument when the node uses database 0.
pub fn select_db(db: &[u8]) -> Result<(), &'static str> {
    select_index(db, 0)
}

/// SELECT's argument against the one database the node's datastore
/// connections use (`redis_db`, default 0): that one is accepted, any other
/// is refused as redis cluster refuses every database but 0.
pub fn select_index(db: &[u8], allowed: i64) -> Result<(), &'static str> {
    let mut num = Num::default();
    for &b in db {
        if !num.push(b, i64::MAX as u64) {
            return Err(ERR_NOT_INTEGER);
        }
    }
    match num.get() {
        None => Err(ERR_NOT_INTEGER),
        Some(n) if n == allowed => Ok(()),
        Some(_) => Err(ERR_SELECT),
    }
}

/// The whole table, sorted by name.
pub fn commands() -> &'static [Command] {
    &COMMANDS
}

/// redis 7.0 commands (and RedisJSON, and the proxy's own), sorted by name.
/// Columns: name, arity, first key, last key, key step, write, route, multi.
#[rustfmt::skip]
static COMMANDS: [Command; 379] = [
    cmd("acl",                           -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|cat",                       -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|deluser",                   -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|dryrun",                    -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|genpass",                   -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|getuser",                    3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|help",                       2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|list",                       2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|load",                       2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|log",                       -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|save",                       2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|setuser",                   -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|users",                      2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("acl|whoami",                     2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("append",                         3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("asking",                         1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("auth",                          -2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("bgrewriteaof",                   1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("bgsave",                        -1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("bitcount",                      -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("bitfield",                      -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("bitfield_ro",                   -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("bitop",                         -4, 2, -1, 1, true,  Route::Key,            Multi::None),
    cmd("bitpos",                        -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("blmove",                         6, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("blmpop",                        -5, 3,  3, 1, true,  Route::Key,            Multi::None),
    cmd("blpop",                         -3, 1, -2, 1, true,  Route::Key,            Multi::None),
    cmd("brpop",                         -3, 1, -2, 1, true,  Route::Key,            Multi::None),
    cmd("brpoplpush",                     4, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("bzmpop",                        -5, 3,  3, 1, true,  Route::Key,            Multi::None),
    cmd("bzpopmax",                      -3, 1, -2, 1, true,  Route::Key,            Multi::None),
    cmd("bzpopmin",                      -3, 1, -2, 1, true,  Route::Key,            Multi::None),
    cmd("client",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|caching",                 3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|getname",                 2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|getredir",                2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|help",                    2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|id",                      2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|info",                    2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|kill",                   -3, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|list",                   -2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|no-evict",                3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|pause",                  -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|reply",                   3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|setinfo",                 4, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|setname",                 3, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("client|tracking",               -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|trackinginfo",            2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|unblock",                -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("client|unpause",                 2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster",                       -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|addslots",              -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|addslotsrange",         -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|bumpepoch",              2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|count-failure-reports",  3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|countkeysinslot",        3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|delslots",              -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|delslotsrange",         -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|failover",              -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|flushslots",             2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|forget",                 3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|getkeysinslot",          4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|help",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|info",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|keyslot",                3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|links",                  2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|meet",                  -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|myid",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|nodes",                  2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|replicas",               3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|replicate",              3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|reset",                 -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|saveconfig",             2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|set-config-epoch",       3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|setslot",               -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|shards",                 2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|slaves",                 3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("cluster|slots",                  2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("command",                       -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|count",                  2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|docs",                  -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|getkeys",               -4, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|getkeysandflags",       -4, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|help",                   2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|info",                  -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("command|list",                  -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("config",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("config|get",                    -3, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("config|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("config|resetstat",               2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("config|rewrite",                 2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("config|set",                    -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("copy",                          -3, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("dbsize",                         1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("debug",                         -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("decr",                           2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("decrby",                         3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("del",                           -2, 1, -1, 1, true,  Route::Key,            Multi::Del),
    cmd("discard",                        1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("dump",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("dyno_config:conn_consistency",   2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("dyno_exec",                      4, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("echo",                           2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("eval",                          -3, 3,  3, 1, true,  Route::Eval,           Multi::None),
    cmd("eval_ro",                       -3, 3,  3, 1, false, Route::Eval,           Multi::None),
    cmd("evalsha",                       -3, 3,  3, 1, true,  Route::Eval,           Multi::None),
    cmd("evalsha_ro",                    -3, 3,  3, 1, false, Route::Eval,           Multi::None),
    cmd("exec",                           1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("exists",                        -2, 1, -1, 1, false, Route::Key,            Multi::Exists),
    cmd("expire",                        -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("expireat",                      -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("expiretime",                     2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("failover",                      -1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("fcall",                         -3, 3,  3, 1, true,  Route::Eval,           Multi::None),
    cmd("fcall_ro",                      -3, 3,  3, 1, false, Route::Eval,           Multi::None),
    cmd("flushall",                      -1, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("flushdb",                       -1, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("function",                      -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("function|delete",                3, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("function|dump",                  2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("function|flush",                -2, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("function|help",                  2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("function|kill",                  2, 0,  0, 0, false, Route::AllNodes,       Multi::None),
    cmd("function|list",                 -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("function|load",                 -3, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("function|restore",              -3, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("function|stats",                 2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("geoadd",                        -5, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("geodist",                       -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("geohash",                       -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("geopos",                        -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("georadius",                     -6, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("georadius_ro",                  -6, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("georadiusbymember",             -5, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("georadiusbymember_ro",          -5, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("geosearch",                     -7, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("geosearchstore",                -8, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("get",                            2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("getbit",                         3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("getdel",                         2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("getex",                         -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("getrange",                       4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("getset",                         3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hdel",                          -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hello",                         -1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("hexists",                        3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hget",                           3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hgetall",                        2, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("hincrby",                        4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hincrbyfloat",                   4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hkeys",                          2, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("hlen",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hmget",                         -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hmset",                         -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hrandfield",                    -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hscan",                         -3, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("hset",                          -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hsetnx",                         4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("hstrlen",                        3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("hvals",                          2, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("incr",                           2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("incrby",                         3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("incrbyfloat",                    3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("info",                          -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("json.arrappend",                -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("json.arrinsert",                -5, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("json.arrlen",                   -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("json.del",                      -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("json.get",                      -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("json.mget",                     -3, 1, -2, 1, false, Route::Key,            Multi::None),
    cmd("json.objkeys",                  -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("json.objlen",                   -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("json.set",                      -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("json.type",                     -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("keys",                           2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("lastsave",                       1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("latency",                       -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|doctor",                 2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|graph",                  3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|help",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|histogram",             -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|history",                3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|latest",                 2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("latency|reset",                 -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("lcs",                           -3, 1,  2, 1, false, Route::Key,            Multi::None),
    cmd("lindex",                         3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("linsert",                        5, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("llen",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("lmove",                          5, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("lmpop",                         -4, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("lolwut",                        -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("lpop",                          -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("lpos",                          -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("lpush",                         -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("lpushx",                        -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("lrange",                         4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("lrem",                           4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("lset",                           4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("ltrim",                          4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("memory",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("memory|doctor",                  2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("memory|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("memory|malloc-stats",            2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("memory|purge",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("memory|stats",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("memory|usage",                  -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("mget",                          -2, 1, -1, 1, false, Route::Key,            Multi::Mget),
    cmd("migrate",                       -6, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module|help",                    2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module|list",                    2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module|load",                   -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module|loadex",                 -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("module|unload",                  3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("monitor",                        1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("move",                           3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("mset",                          -3, 1, -1, 2, true,  Route::Key,            Multi::Mset),
    cmd("msetnx",                        -3, 1, -1, 2, true,  Route::Key,            Multi::None),
    cmd("multi",                          1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("object",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("object|encoding",                3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("object|freq",                    3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("object|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("object|idletime",                3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("object|refcount",                3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("persist",                        2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("pexpire",                       -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("pexpireat",                     -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("pexpiretime",                    2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("pfadd",                         -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("pfcount",                       -2, 1, -1, 1, false, Route::Key,            Multi::None),
    cmd("pfdebug",                        3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("pfmerge",                       -2, 1, -1, 1, true,  Route::Key,            Multi::None),
    cmd("pfselftest",                     1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("ping",                          -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("psetex",                         4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("psubscribe",                    -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("psync",                         -3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("pttl",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("publish",                        3, 0,  0, 0, false, Route::AllNodes,       Multi::None),
    cmd("pubsub",                        -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|channels",               -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|numpat",                  2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|numsub",                 -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|shardchannels",          -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("pubsub|shardnumsub",            -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("punsubscribe",                  -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("quit",                          -1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("randomkey",                      1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("readonly",                       1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("readwrite",                      1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("rename",                         3, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("renamenx",                       3, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("replconf",                      -1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("replicaof",                      3, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("reset",                          1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("restore",                       -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("restore-asking",                -4, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("role",                           1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("rpop",                          -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("rpoplpush",                      3, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("rpush",                         -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("rpushx",                        -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("sadd",                          -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("save",                           1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("scan",                          -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("scard",                          2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("script",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("script|debug",                   3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("script|exists",                 -3, 0,  0, 0, false, Route::AllNodes,       Multi::None),
    cmd("script|flush",                  -2, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("script|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("script|kill",                    2, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("script|load",                    3, 0,  0, 0, true,  Route::AllNodes,       Multi::None),
    cmd("sdiff",                         -2, 1, -1, 1, false, Route::Key,            Multi::None),
    cmd("sdiffstore",                    -3, 1, -1, 1, true,  Route::Key,            Multi::None),
    cmd("select",                         2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("set",                           -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("setbit",                         4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("setex",                          4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("setnx",                          3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("setrange",                       4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("shutdown",                      -1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("sinter",                        -2, 1, -1, 1, false, Route::Key,            Multi::None),
    cmd("sintercard",                    -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("sinterstore",                   -3, 1, -1, 1, true,  Route::Key,            Multi::None),
    cmd("sismember",                      3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("slaveof",                        3, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("slowlog",                       -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("slowlog|get",                   -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("slowlog|help",                   2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("slowlog|len",                    2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("slowlog|reset",                  2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("smembers",                       2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("smismember",                    -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("smove",                          4, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("sort",                          -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("sort_ro",                       -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("spop",                          -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("spublish",                       3, 0,  0, 0, false, Route::AllNodes,       Multi::None),
    cmd("srandmember",                   -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("srem",                          -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("sscan",                         -3, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("ssubscribe",                    -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("strlen",                         2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("subscribe",                     -2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("substr",                         4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("sunion",                        -2, 1, -1, 1, false, Route::Key,            Multi::None),
    cmd("sunionstore",                   -3, 1, -1, 1, true,  Route::Key,            Multi::None),
    cmd("sunsubscribe",                  -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("swapdb",                         3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("sync",                           1, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("time",                           1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("touch",                         -2, 1, -1, 1, false, Route::Key,            Multi::Touch),
    cmd("ttl",                            2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("type",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("unlink",                        -2, 1, -1, 1, true,  Route::Key,            Multi::Unlink),
    cmd("unsubscribe",                   -1, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("unwatch",                        1, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("wait",                           3, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("watch",                         -2, 0,  0, 0, false, Route::Proxy,          Multi::None),
    cmd("xack",                          -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xadd",                          -5, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xautoclaim",                    -6, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xclaim",                        -6, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xdel",                          -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xgroup",                        -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("xgroup|create",                 -5, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("xgroup|createconsumer",          5, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("xgroup|delconsumer",             5, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("xgroup|destroy",                 4, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("xgroup|help",                    2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("xgroup|setid",                  -5, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("xinfo",                         -2, 0,  0, 0, false, Route::Unsupported,    Multi::None),
    cmd("xinfo|consumers",                4, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("xinfo|groups",                   3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("xinfo|help",                     2, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("xinfo|stream",                  -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("xlen",                           2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("xpending",                      -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("xrange",                        -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("xread",                         -4, 0,  0, 0, false, Route::Local,          Multi::None),
    cmd("xreadgroup",                    -7, 0,  0, 0, true,  Route::Local,          Multi::None),
    cmd("xrevrange",                     -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("xsetid",                        -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("xtrim",                         -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zadd",                          -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zcard",                          2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zcount",                         4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zdiff",                         -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("zdiffstore",                    -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zincrby",                        4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zinter",                        -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("zintercard",                    -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("zinterstore",                   -4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zlexcount",                      4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zmpop",                         -4, 2,  2, 1, true,  Route::Key,            Multi::None),
    cmd("zmscore",                       -3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zpopmax",                       -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zpopmin",                       -2, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zrandmember",                   -2, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrange",                        -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrangebylex",                   -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrangebyscore",                 -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrangestore",                   -5, 1,  2, 1, true,  Route::Key,            Multi::None),
    cmd("zrank",                          3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrem",                          -3, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zremrangebylex",                 4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zremrangebyrank",                4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zremrangebyscore",               4, 1,  1, 1, true,  Route::Key,            Multi::None),
    cmd("zrevrange",                     -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrevrangebylex",                -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrevrangebyscore",              -4, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zrevrank",                       3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zscan",                         -3, 1,  1, 1, false, Route::LocalRackOwner, Multi::None),
    cmd("zscore",                         3, 1,  1, 1, false, Route::Key,            Multi::None),
    cmd("zunion",                        -3, 2,  2, 1, false, Route::Key,            Multi::None),
    cmd("zunionstore",                   -4, 1,  1, 1, true,  Route::Key,            Multi::None),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sorted_and_consistent() {
        let t = commands();
        for w in t.windows(2) {
            assert!(w[0].name < w[1].name, "{} {}", w[0].name, w[1].name);
        }
        for c in t {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert_ne!(c.arity, 0, "{}", c.name);
            match c.route {
                Route::Key | Route::LocalRackOwner => {
                    assert!(c.first_key > 0, "{}", c.name);
                    assert!(c.key_step > 0, "{}", c.name);
                    assert!(c.arity.abs() > c.first_key, "{}", c.name);
                }
                Route::Eval => assert_eq!(c.first_key, 3),
                _ => assert_eq!(c.first_key, 0, "{}", c.name),
            }
            if c.multi != Multi::None {
                assert_eq!(c.route, Route::Key);
            }
            if c.name.contains('|') {
                let base = c.name.split('|').next().unwrap();
                assert!(CONTAINERS.contains(&base), "{}", c.name);
            }
        }
        for c in CONTAINERS {
            assert!(find(c.as_bytes()).is_some(), "{c}");
        }
    }

    #[test]
    fn lookup_routes() {
        type Case = (
            &'static [u8],
            Option<&'static [u8]>,
            &'static str,
            Route,
            bool,
            Multi,
        );
        let cases: &[Case] = &[
            (b"GET", None, "get", Route::Key, false, Multi::None),
            (b"gEt", None, "get", Route::Key, false, Multi::None),
            (b"set", None, "set", Route::Key, true, Multi::None),
            (b"ttl", None, "ttl", Route::Key, false, Multi::None),
            (b"pfcount", None, "pfcount", Route::Key, false, Multi::None),
            (b"sort", None, "sort", Route::Key, true, Multi::None),
            (b"sort_ro", None, "sort_ro", Route::Key, false, Multi::None),
            (
                b"georadius",
                None,
                "georadius",
                Route::Key,
                true,
                Multi::None,
            ),
            (
                b"zunionstore",
                None,
                "zunionstore",
                Route::Key,
                true,
                Multi::None,
            ),
            (
                b"sunionstore",
                None,
                "sunionstore",
                Route::Key,
                true,
                Multi::None,
            ),
            (b"hstrlen", None, "hstrlen", Route::Key, false, Multi::None),
            (b"bitpos", None, "bitpos", Route::Key, false, Multi::None),
            (b"xadd", None, "xadd", Route::Key, true, Multi::None),
            (b"mget", None, "mget", Route::Key, false, Multi::Mget),
            (b"MSET", None, "mset", Route::Key, true, Multi::Mset),
            (b"del", None, "del", Route::Key, true, Multi::Del),
            (b"exists", None, "exists", Route::Key, false, Multi::Exists),
            (b"unlink", None, "unlink", Route::Key, true, Multi::Unlink),
            (b"touch", None, "touch", Route::Key, false, Multi::Touch),
            (
                b"hgetall",
                None,
                "hgetall",
                Route::LocalRackOwner,
                false,
                Multi::None,
            ),
            (
                b"zscan",
                None,
                "zscan",
                Route::LocalRackOwner,
                false,
                Multi::None,
            ),
            (b"ping", None, "ping", Route::Local, false, Multi::None),
            (b"scan", None, "scan", Route::Local, false, Multi::None),
            (
                b"command",
                None,
                "command",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"COMMAND",
                Some(b"DOCS"),
                "command|docs",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"config",
                Some(b"GeT"),
                "config|get",
                Route::Local,
                false,
                Multi::None,
            ),
            (
                b"script",
                Some(b"load"),
                "script|load",
                Route::AllNodes,
                true,
                Multi::None,
            ),
            (
                b"script",
                Some(b"exists"),
                "script|exists",
                Route::AllNodes,
                false,
                Multi::None,
            ),
            (b"eval", None, "eval", Route::Eval, true, Multi::None),
            (
                b"evalsha_ro",
                None,
                "evalsha_ro",
                Route::Eval,
                false,
                Multi::None,
            ),
            (b"quit", None, "quit", Route::Proxy, false, Multi::None),
            (b"hello", None, "hello", Route::Proxy, false, Multi::None),
            (b"select", None, "select", Route::Proxy, false, Multi::None),
            (
                b"client",
                Some(b"setname"),
                "client|setname",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"client",
                Some(b"SETINFO"),
                "client|setinfo",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"dyno_config:conn_consistency",
                None,
                "dyno_config:conn_consistency",
                Route::Proxy,
                false,
                Multi::None,
            ),
            (
                b"object",
                Some(b"encoding"),
                "object|encoding",
                Route::Key,
                false,
                Multi::None,
            ),
            (
                b"memory",
                Some(b"usage"),
                "memory|usage",
                Route::Key,
                false,
                Multi::None,
            ),
            (b"json.set", None, "json.set", Route::Key, true, Multi::None),
            (
                b"JSON.MGET",
                None,
                "json.mget",
                Route::Key,
                false,
                Multi::None,
            ),
        ];
        for (name, sub, want, route, write, multi) in cases {
            let c = lookup(name, *sub).unwrap();
            assert_eq!(c.name, *want);
            assert_eq!(c.route, *route, "{want}");
            assert_eq!(c.write, *write, "{want}");
            assert_eq!(c.multi, *multi, "{want}");
        }
        // A non-container ignores its second argument.
        assert_eq!(lookup(b"get", Some(b"k")).unwrap().name, "get");
    }

    #[test]
    fn lookup_errors() {
        type Case = (&'static [u8], Option<&'static [u8]>, &'static str);
        let unsupported: &[Case] = &[
            (b"monitor", None, "monitor"),
            (b"migrate", None, "migrate"),
            (b"move", None, "move"),
            (b"config", Some(b"set"), "config|set"),
            (b"script", Some(b"debug"), "script|debug"),
        ];
        for (name, sub, full) in unsupported {
            match lookup(name, *sub) {
                Err(e @ CmdError::Unsupported(c)) => {
                    assert_eq!(c.name, *full);
                    assert_eq!(
                        e.text(name, &[]),
                        format!("ERR unsupported command '{full}'")
                    );
                }
                other => panic!("{full}: {other:?}"),
            }
        }
        let e = lookup(b"foo", Some(b"a")).unwrap_err();
        assert_eq!(e, CmdError::Unknown);
        assert_eq!(
            e.text(b"foo", &[b"a", b"b"]),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(lookup(b"", None), Err(CmdError::Unknown));
        assert_eq!(lookup(b"config|get", None), Err(CmdError::Unknown));
        assert_eq!(lookup(&[b'g'; 100], None), Err(CmdError::Unknown));
        let e = lookup(b"CONFIG", None).unwrap_err();
        assert_eq!(
            e.text(b"CONFIG", &[]),
            "ERR wrong number of arguments for 'config' command"
        );
        let e = lookup(b"config", Some(b"xyz")).unwrap_err();
        assert_eq!(
            e.text(b"config", &[b"xyz"]),
            "ERR unknown subcommand 'xyz'. Try CONFIG HELP."
        );
        let e = lookup(b"object", Some(&[b'z'; 80])).unwrap_err();
        assert!(matches!(e, CmdError::UnknownSub(c) if c.name == "object"));
    }

    #[test]
    fn error_texts() {
        let t = error_unknown_sub(find(b"client").unwrap(), b"x\r\ny");
        assert_eq!(t, "ERR unknown subcommand 'x  y'. Try CLIENT HELP.");
        assert_eq!(
            error_arity(find(b"config|get").unwrap()),
            "ERR wrong number of arguments for 'config|get' command"
        );
        for c in commands() {
            let t = error_unsupported(c) + &error_arity(c);
            assert!(!t.contains('\r') && !t.contains('\n'));
        }
    }

    #[test]
    fn arity_and_keys() {
        let get = lookup(b"get", None).unwrap();
        assert!(check_arity(get, 2));
        assert!(!check_arity(get, 1));
        assert!(!check_arity(get, 3));
        let set = lookup(b"set", None).unwrap();
        assert!(!check_arity(set, 2));
        assert!(check_arity(set, 3));
        assert!(check_arity(set, 9));
        let keys = |name: &[u8], sub: Option<&[u8]>, nargs: usize| -> Vec<usize> {
            key_indices(lookup(name, sub).unwrap(), nargs).collect()
        };
        assert_eq!(keys(b"get", None, 2), vec![1]);
        assert_eq!(keys(b"mset", None, 5), vec![1, 3]);
        assert_eq!(keys(b"del", None, 4), vec![1, 2, 3]);
        assert_eq!(keys(b"bitop", None, 5), vec![2, 3, 4]);
        assert_eq!(keys(b"rpoplpush", None, 3), vec![1, 2]);
        assert_eq!(keys(b"json.mget", None, 4), vec![1, 2]);
        assert_eq!(keys(b"zunion", None, 4), vec![2]);
        assert_eq!(keys(b"lmpop", None, 4), vec![2]);
        assert_eq!(keys(b"object", Some(b"encoding"), 3), vec![2]);
        assert_eq!(keys(b"ping", None, 1), Vec::<usize>::new());
        assert_eq!(keys(b"scan", None, 2), Vec::<usize>::new());
    }

    #[test]
    fn eval_and_select() {
        assert_eq!(eval_keys(b"2", 5), Ok(3..5));
        assert_eq!(eval_keys(b"0", 3), Ok(3..3));
        assert_eq!(eval_keys(b"3", 5), Err(ERR_NUMKEYS_TOO_BIG));
        assert_eq!(eval_keys(b"-1", 5), Err(ERR_NUMKEYS_NEGATIVE));
        assert_eq!(eval_keys(b"x", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"01", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(eval_keys(b"99999999999999999999", 5), Err(ERR_NOT_INTEGER));
        assert_eq!(select_db(b"0"), Ok(()));
        assert_eq!(select_db(b"1"), Err(ERR_SELECT));
        assert_eq!(select_db(b"x"), Err(ERR_NOT_INTEGER));
        assert_eq!(select_index(b"3", 3), Ok(()));
        assert_eq!(select_index(b"0", 3), Err(ERR_SELECT));
    }
}
