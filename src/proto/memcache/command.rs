//! Memcached commands (dyn_memcache.c: the command names of
//! `memcache_parse_req` and the `MSG_REQ_MC_*` types of dyn_message.h): the
//! command enum with its classes (retrieval, storage, write, noreply), and the
//! routing entry each command gets in the redis command table's shape, so
//! that the coordinator routes memcached requests as it routes redis ones.

use crate::proto::redis::{Command, Multi, Route};

/// A request command. Names are lower case only, as in memcached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum McCmd {
    /// `get <key>+`
    Get,
    /// `gets <key>+`
    Gets,
    /// `gat <exptime> <key>*` (get and touch)
    Gat,
    /// `gats <exptime> <key>*`
    Gats,
    /// `set <key> <flags> <exptime> <bytes>[ noreply]` + data
    Set,
    /// `add ...` as set
    Add,
    /// `replace ...` as set
    Replace,
    /// `append ...` as set
    Append,
    /// `prepend ...` as set
    Prepend,
    /// `cas <key> <flags> <exptime> <bytes> <cas>[ noreply]` + data
    Cas,
    /// `incr <key> <delta>[ noreply]`
    Incr,
    /// `decr <key> <delta>[ noreply]`
    Decr,
    /// `touch <key> <exptime>[ noreply]`
    Touch,
    /// `delete <key>[ 0][ noreply]`
    Delete,
    /// `quit`: the connection is closed, nothing is answered.
    Quit,
    /// `version`: this node's datastore answers (`VERSION 1.6.x`).
    Version,
    /// `mg <key> <flag>*`: meta get.
    Mg,
    /// `ms <key> <datalen> <flag>*` + data: meta set.
    Ms,
    /// `md <key> <flag>*`: meta delete.
    Md,
    /// `ma <key> <flag>*`: meta arithmetic.
    Ma,
    /// `me <key>`: meta debug (the item's internals).
    Me,
    /// `mn`: meta no-op, the end of a pipeline of quiet requests; answered
    /// `MN` by the proxy, behind every reply owed before it.
    Mn,
    /// `stats[ <args>]`: this node's datastore answers, except
    /// `stats dynomite` (the node's own counters).
    Stats,
    /// `flush_all[ <delay>][ noreply]`: sent to every datastore of the
    /// cluster.
    FlushAll,
    /// `verbosity <level>[ noreply]`: answered `OK` by the proxy.
    Verbosity,
    /// No command the proxy serves: unknown to memcached, an empty line, or a
    /// memcached command the proxy refuses with `ERROR` (shutdown, slabs,
    /// lru_crawler, watch, cache_memlimit, ...).
    /// [`McReq::error`](super::McReq::error) is always set.
    #[default]
    Unknown,
}

impl McCmd {
    /// The command named `name` exactly (case-sensitive).
    pub fn from_name(name: &[u8]) -> McCmd {
        match name {
            b"get" => McCmd::Get,
            b"gets" => McCmd::Gets,
            b"gat" => McCmd::Gat,
            b"gats" => McCmd::Gats,
            b"set" => McCmd::Set,
            b"add" => McCmd::Add,
            b"replace" => McCmd::Replace,
            b"append" => McCmd::Append,
            b"prepend" => McCmd::Prepend,
            b"cas" => McCmd::Cas,
            b"incr" => McCmd::Incr,
            b"decr" => McCmd::Decr,
            b"touch" => McCmd::Touch,
            b"delete" => McCmd::Delete,
            b"quit" => McCmd::Quit,
            b"version" => McCmd::Version,
            b"mg" => McCmd::Mg,
            b"ms" => McCmd::Ms,
            b"md" => McCmd::Md,
            b"ma" => McCmd::Ma,
            b"me" => McCmd::Me,
            b"mn" => McCmd::Mn,
            b"stats" => McCmd::Stats,
            b"flush_all" => McCmd::FlushAll,
            b"verbosity" => McCmd::Verbosity,
            _ => McCmd::Unknown,
        }
    }

    /// The command's name as memcached spells it (`""` for Unknown).
    pub fn name(self) -> &'static str {
        match self {
            McCmd::Get => "get",
            McCmd::Gets => "gets",
            McCmd::Gat => "gat",
            McCmd::Gats => "gats",
            McCmd::Set => "set",
            McCmd::Add => "add",
            McCmd::Replace => "replace",
            McCmd::Append => "append",
            McCmd::Prepend => "prepend",
            McCmd::Cas => "cas",
            McCmd::Incr => "incr",
            McCmd::Decr => "decr",
            McCmd::Touch => "touch",
            McCmd::Delete => "delete",
            McCmd::Quit => "quit",
            McCmd::Version => "version",
            McCmd::Mg => "mg",
            McCmd::Ms => "ms",
            McCmd::Md => "md",
            McCmd::Ma => "ma",
            McCmd::Me => "me",
            McCmd::Mn => "mn",
            McCmd::Stats => "stats",
            McCmd::FlushAll => "flush_all",
            McCmd::Verbosity => "verbosity",
            McCmd::Unknown => "",
        }
    }

    /// Answered with `VALUE` blocks and `END`; every key may go to a
    /// different server (get, gets, gat, gats).
    pub fn is_retrieval(self) -> bool {
        matches!(self, McCmd::Get | McCmd::Gets | McCmd::Gat | McCmd::Gats)
    }

    /// Followed by a data block (set, add, replace, append, prepend, cas,
    /// ms).
    pub fn has_data(self) -> bool {
        matches!(
            self,
            McCmd::Set
                | McCmd::Add
                | McCmd::Replace
                | McCmd::Append
                | McCmd::Prepend
                | McCmd::Cas
                | McCmd::Ms
        )
    }

    /// A meta command (mg, ms, md, ma, me, mn): flags instead of positional
    /// arguments, `q` instead of `noreply`.
    pub fn is_meta(self) -> bool {
        matches!(
            self,
            McCmd::Mg | McCmd::Ms | McCmd::Md | McCmd::Ma | McCmd::Me | McCmd::Mn
        )
    }

    /// Changes the datastore: the storage commands, incr, decr, touch,
    /// delete, gat/gats (they set a new expiry, so every replica must
    /// see them, although they answer like get), ms, md, ma and flush_all.
    /// (An `mg` that touches or creates the item is a write too: see
    /// [`McReq::write`](super::McReq::write).)
    pub fn is_write(self) -> bool {
        self.has_data()
            || matches!(
                self,
                McCmd::Incr
                    | McCmd::Decr
                    | McCmd::Touch
                    | McCmd::Delete
                    | McCmd::Gat
                    | McCmd::Gats
                    | McCmd::Md
                    | McCmd::Ma
                    | McCmd::FlushAll
            )
    }

    /// Takes a `noreply` last token (storage, incr, decr, touch, delete,
    /// flush_all, verbosity).
    pub fn takes_noreply(self) -> bool {
        (self.has_data() && self != McCmd::Ms)
            || matches!(
                self,
                McCmd::Incr
                    | McCmd::Decr
                    | McCmd::Touch
                    | McCmd::Delete
                    | McCmd::FlushAll
                    | McCmd::Verbosity
            )
    }
}

const fn mc(name: &'static str, write: bool, route: Route, multi: Multi) -> Command {
    Command {
        name,
        arity: -2,
        first_key: 1,
        last_key: -1,
        key_step: 1,
        write,
        route,
        multi,
    }
}

static GET: Command = mc("get", false, Route::Key, Multi::Mget);
static GETS: Command = mc("gets", false, Route::Key, Multi::Mget);
static GAT: Command = mc("gat", true, Route::Key, Multi::Mget);
static GATS: Command = mc("gats", true, Route::Key, Multi::Mget);
static SET: Command = mc("set", true, Route::Key, Multi::None);
static ADD: Command = mc("add", true, Route::Key, Multi::None);
static REPLACE: Command = mc("replace", true, Route::Key, Multi::None);
static APPEND: Command = mc("append", true, Route::Key, Multi::None);
static PREPEND: Command = mc("prepend", true, Route::Key, Multi::None);
static CAS: Command = mc("cas", true, Route::Key, Multi::None);
static INCR: Command = mc("incr", true, Route::Key, Multi::None);
static DECR: Command = mc("decr", true, Route::Key, Multi::None);
static TOUCH: Command = mc("touch", true, Route::Key, Multi::None);
static DELETE: Command = mc("delete", true, Route::Key, Multi::None);
static QUIT: Command = mc("quit", false, Route::Proxy, Multi::None);
static VERSION: Command = mc("version", false, Route::Local, Multi::None);
static MG: Command = mc("mg", false, Route::Key, Multi::None);
/// `mg` with a flag that changes the item (T: touch, N: create on miss, E:
/// set the CAS): replicated as a write.
static MG_WRITE: Command = mc("mg", true, Route::Key, Multi::None);
static MS: Command = mc("ms", true, Route::Key, Multi::None);
static MD: Command = mc("md", true, Route::Key, Multi::None);
static MA: Command = mc("ma", true, Route::Key, Multi::None);
static ME: Command = mc("me", false, Route::Key, Multi::None);
static MN: Command = mc("mn", false, Route::Proxy, Multi::None);
static STATS: Command = mc("stats", false, Route::Local, Multi::None);
static FLUSH_ALL: Command = mc("flush_all", true, Route::AllNodes, Multi::None);
static VERBOSITY: Command = mc("verbosity", false, Route::Proxy, Multi::None);

/// The routing entry of a memcached command (for `mg`, the read entry; see
/// [`command_of`]).
pub fn command(cmd: McCmd) -> Option<&'static Command> {
    Some(match cmd {
        McCmd::Get => &GET,
        McCmd::Gets => &GETS,
        McCmd::Gat => &GAT,
        McCmd::Gats => &GATS,
        McCmd::Set => &SET,
        McCmd::Add => &ADD,
        McCmd::Replace => &REPLACE,
        McCmd::Append => &APPEND,
        McCmd::Prepend => &PREPEND,
        McCmd::Cas => &CAS,
        McCmd::Incr => &INCR,
        McCmd::Decr => &DECR,
        McCmd::Touch => &TOUCH,
        McCmd::Delete => &DELETE,
        McCmd::Quit => &QUIT,
        McCmd::Version => &VERSION,
        McCmd::Mg => &MG,
        McCmd::Ms => &MS,
        McCmd::Md => &MD,
        McCmd::Ma => &MA,
        McCmd::Me => &ME,
        McCmd::Mn => &MN,
        McCmd::Stats => &STATS,
        McCmd::FlushAll => &FLUSH_ALL,
        McCmd::Verbosity => &VERBOSITY,
        McCmd::Unknown => return None,
    })
}

/// The routing entry of a parsed request: [`command`], except that an `mg`
/// that changes the item is a write.
pub fn command_of(req: &super::McReq) -> Option<&'static Command> {
    if req.cmd == McCmd::Mg && req.write {
        return Some(&MG_WRITE);
    }
    command(req.cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_classes() {
        use McCmd::*;
        let all = [
            Get, Gets, Gat, Gats, Set, Add, Replace, Append, Prepend, Cas, Incr, Decr, Touch,
            Delete, Quit, Version, Mg, Ms, Md, Ma, Me, Mn, Stats, FlushAll, Verbosity,
        ];
        for c in all {
            assert_eq!(McCmd::from_name(c.name().as_bytes()), c);
            assert!(!(c.is_retrieval() && c.has_data()));
            assert_eq!(command(c).map(|e| e.name), Some(c.name()));
            if !c.is_meta() && !matches!(c, FlushAll | Verbosity) {
                assert_eq!(c.takes_noreply(), c.is_write() && !c.is_retrieval());
            }
        }
        assert_eq!(McCmd::from_name(b"GET"), Unknown);
        assert_eq!(McCmd::from_name(b""), Unknown);
        let writes: Vec<McCmd> = all.iter().copied().filter(|c| c.is_write()).collect();
        assert_eq!(
            writes,
            [
                Gat, Gats, Set, Add, Replace, Append, Prepend, Cas, Incr, Decr, Touch, Delete, Ms,
                Md, Ma, FlushAll
            ]
        );
        let reads: Vec<McCmd> = all.iter().copied().filter(|c| c.is_retrieval()).collect();
        assert_eq!(reads, [Get, Gets, Gat, Gats]);
    }
}
