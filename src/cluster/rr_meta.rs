//! Read repair with metadata (the original's beta "redis repair", spec
//! replication-and-consistency §8), behind `read_repairs_enabled` and the
//! admin `/read_repairs/enable|disable` switch: every supported write
//! leaves a timestamp in sorted sets kept beside the data, every supported
//! read answers its status and timestamp, and the newest answer wins.
//!
//! ```text
//!  replicate ─► meta_rewrite (switch on, both global levels above DC_ONE,
//!               a client's single-key SET/DEL/HSET/HMSET/HDEL, or a
//!               GET/HGET at a quorum level)
//!     SET k v  ─► EVAL <SCRIPT_SET> 3 k ._add-set ._rem-set set 1 <ts> v
//!     DEL k    ─► EVAL <SCRIPT_DEL> 3 k ._rem-set ._add-set del 0 <ts>
//!     HSET k f v … ─► EVAL <SCRIPT_HSET> 3 k ._add-set ._rem-set hset <n> <ts> f v …
//!     HDEL k f …   ─► EVAL <SCRIPT_FIELD_DEL> 3 k ._rem-set ._add-set hdel <n> <ts> f …
//!     SADD k m …   ─► EVAL <SCRIPT_SADD> 3 k ._add-set ._rem-set sadd <n> <ts> m …
//!     SREM, ZREM   ─► as HDEL (srem, zrem)
//!     ZADD k [NX|XX|CH …] s m … ─► EVAL <SCRIPT_ZADD> 3 k ._add-set ._rem-set
//!                                  zadd <nopts> <n> <ts> <opts…> s m …
//!     GET k    ─► EVAL <SCRIPT_GET> 3 k ._add-set ._rem-set get 0 <ts>
//!     HGET k f ─► EVAL <SCRIPT_FIELD_GET> 3 k ._add-set ._rem-set hget 1 <ts> f
//!     SISMEMBER, ZSCORE ─► as HGET (sismember, zscore)
//!  quorum_decide ─► meta_decided(parent)
//!     read:   answers [status, timestamp, value]; the newest E or R wins,
//!             every older answer and every X ("never saw it") is repaired
//!             with the winner's write (SET/HSET/SADD/ZADD) or delete
//!             (DEL/HDEL/SREM/ZREM) at the winner's timestamp; the client
//!             gets the plain reply
//!     delete: once every counted replica has answered without an error,
//!             the tombstone is cleaned up (SCRIPT_CLEAN), late answers
//!             included; a read that finds the same tombstone on every
//!             replica cleans it up too (a delete one replica missed)
//!  copies still out at the decision ─► Internal::MetaLate ─► meta_reply
//! ```
//!
//! Metadata (what a mixed cluster shares with the original, byte for byte):
//! `._add-set` and `._rem-set` are sorted sets whose members are keys and
//! whose scores are the coordinator's wall clock in milliseconds (last
//! accepted write; deletion); `._add-set_<key>` and `._rem-set_<key>` hold
//! the same for the fields or members of hash, set or sorted set `<key>`.
//! The scripts are `KEYS = <key>, <add-set>, <rem-set>` (the two swapped
//! for deletes) and `ARGV = <command name>, [<number of options>,] <number
//! of fields>, <timestamp>, [<options…>,] <fields and values…>` (options
//! for ZADD only; SET counts its value as one field); the
//! spec gives their behaviour, not their text, so the text here is this
//! project's (a C coordinator's EVAL runs its own scripts on our redis, and
//! ours on its, over the same keys).
//!
//! Beyond the original: a replica that answers `X` is repaired too, a
//! refused stale SET (or an HSET whose every field is older) answers
//! [`ERR_STALE_WRITE`](crate::errors::ERR_STALE_WRITE) instead of `-1`, and
//! a tombstone is cleaned up when every replica has answered, whenever the
//! answers arrive. Commands not listed (SET with options, multi-key DEL,
//! ZADD with GT, LT or INCR, every other write and read) are passed
//! through plainly and leave no metadata; their reads are still repaired
//! without metadata at the quorum levels (cluster/repair.rs).

use log::debug;
use slab::Slab;

use crate::cluster::plan::Target;
use crate::cluster::resp::{decode, Value};
use crate::cluster::response_mgr::{Pick, Verdict};
use crate::conf::Consistency;
use crate::core::Context;
use crate::ids::MsgId;
use crate::msg::{Internal, MetaCmd, MetaOp};
use crate::proto::redis::{self, Route};

// Every write script changes the data before the metadata: a command that
// fails (WRONGTYPE, a score that is not a number) stops the script, and a
// script is not rolled back, so its metadata must not be written first.

/// The sorted set of keys' last accepted writes.
pub const ADD_SET: &str = "._add-set";
/// The sorted set of keys' deletions (tombstones).
pub const REM_SET: &str = "._rem-set";

/// SET: refused if the key's last write or tombstone is newer.
pub const SCRIPT_SET: &str = "\
local ts = tonumber(ARGV[3])
local a = redis.call('ZSCORE', KEYS[2], KEYS[1])
local r = redis.call('ZSCORE', KEYS[3], KEYS[1])
if (a and tonumber(a) > ts) or (r and tonumber(r) > ts) then
  return redis.error_reply('ERR Dynomite: stale write, a newer write or delete of this key exists')
end
local res = redis.call(ARGV[1], KEYS[1], ARGV[4])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('ZADD', KEYS[2], ts, KEYS[1])
return res
";

/// DEL (`KEYS[2]` is the rem-set): skipped with 0 if the key's last write is
/// newer or its tombstone as new; else the field sets go, the tombstone is
/// recorded and the key deleted.
pub const SCRIPT_DEL: &str = "\
local ts = tonumber(ARGV[3])
local r = redis.call('ZSCORE', KEYS[2], KEYS[1])
local a = redis.call('ZSCORE', KEYS[3], KEYS[1])
if (a and tonumber(a) > ts) or (r and tonumber(r) >= ts) then
  return 0
end
local res = redis.call(ARGV[1], KEYS[1])
redis.call('DEL', KEYS[3] .. '_' .. KEYS[1], KEYS[2] .. '_' .. KEYS[1])
redis.call('ZREM', KEYS[3], KEYS[1])
redis.call('ZADD', KEYS[2], ts, KEYS[1])
return res
";

/// HSET / HMSET: each field is written unless its own last write or
/// tombstone, or the key's tombstone, is newer; the key's entry is updated.
pub const SCRIPT_HSET: &str = "\
local ts = tonumber(ARGV[3])
local n = tonumber(ARGV[2])
local fa = KEYS[2] .. '_' .. KEYS[1]
local fr = KEYS[3] .. '_' .. KEYS[1]
local kr = redis.call('ZSCORE', KEYS[3], KEYS[1])
local added = 0
local applied = 0
for i = 0, n - 1 do
  local f = ARGV[4 + 2 * i]
  local a = redis.call('ZSCORE', fa, f)
  local r = redis.call('ZSCORE', fr, f)
  if not ((a and tonumber(a) > ts) or (r and tonumber(r) > ts) or (kr and tonumber(kr) > ts)) then
    added = added + redis.call('HSET', KEYS[1], f, ARGV[5 + 2 * i])
    redis.call('ZREM', fr, f)
    redis.call('ZADD', fa, ts, f)
    applied = applied + 1
  end
end
if applied == 0 then
  return redis.error_reply('ERR Dynomite: stale write, a newer write or delete of this key exists')
end
redis.call('ZREM', KEYS[3], KEYS[1])
local ka = redis.call('ZSCORE', KEYS[2], KEYS[1])
if not ka or tonumber(ka) < ts then
  redis.call('ZADD', KEYS[2], ts, KEYS[1])
end
if ARGV[1] == 'hmset' then
  return redis.status_reply('OK')
end
return added
";

/// HDEL, SREM, ZREM (`KEYS[2]` is the rem-set): each field or member is
/// removed and tombstoned unless its last write is newer or its tombstone
/// as new.
pub const SCRIPT_FIELD_DEL: &str = "\
local ts = tonumber(ARGV[3])
local n = tonumber(ARGV[2])
local fr = KEYS[2] .. '_' .. KEYS[1]
local fa = KEYS[3] .. '_' .. KEYS[1]
local removed = 0
for i = 0, n - 1 do
  local f = ARGV[4 + i]
  local a = redis.call('ZSCORE', fa, f)
  local r = redis.call('ZSCORE', fr, f)
  if not ((a and tonumber(a) > ts) or (r and tonumber(r) >= ts)) then
    removed = removed + redis.call(ARGV[1], KEYS[1], f)
    redis.call('ZREM', fa, f)
    redis.call('ZADD', fr, ts, f)
  end
end
return removed
";

/// GET: `[status, timestamp, value]`.
pub const SCRIPT_GET: &str = "\
local a = redis.call('ZSCORE', KEYS[2], KEYS[1])
local r = redis.call('ZSCORE', KEYS[3], KEYS[1])
local v = redis.call(ARGV[1], KEYS[1])
if r and (not a or tonumber(r) >= tonumber(a)) then
  return {'R', r, v}
end
if a then
  return {'E', a, v}
end
return {'X', '0', v}
";

/// HGET, SISMEMBER, ZSCORE: `[status, timestamp, value]` of the field or
/// member (a key's tombstone newer than the field's state counts as the
/// field's).
pub const SCRIPT_FIELD_GET: &str = "\
local f = ARGV[4]
local a = redis.call('ZSCORE', KEYS[2] .. '_' .. KEYS[1], f)
local r = redis.call('ZSCORE', KEYS[3] .. '_' .. KEYS[1], f)
local kr = redis.call('ZSCORE', KEYS[3], KEYS[1])
if kr and (not r or tonumber(kr) > tonumber(r)) then
  r = kr
end
local v = redis.call(ARGV[1], KEYS[1], f)
if r and (not a or tonumber(r) >= tonumber(a)) then
  return {'R', r, v}
end
if a then
  return {'E', a, v}
end
return {'X', '0', v}
";

/// SADD: each member is added unless its own last write or tombstone, or
/// the key's tombstone, is newer; the key's entry is updated.
pub const SCRIPT_SADD: &str = "\
local ts = tonumber(ARGV[3])
local n = tonumber(ARGV[2])
local fa = KEYS[2] .. '_' .. KEYS[1]
local fr = KEYS[3] .. '_' .. KEYS[1]
local kr = redis.call('ZSCORE', KEYS[3], KEYS[1])
local added = 0
local applied = 0
for i = 0, n - 1 do
  local f = ARGV[4 + i]
  local a = redis.call('ZSCORE', fa, f)
  local r = redis.call('ZSCORE', fr, f)
  if not ((a and tonumber(a) > ts) or (r and tonumber(r) > ts) or (kr and tonumber(kr) > ts)) then
    added = added + redis.call('SADD', KEYS[1], f)
    redis.call('ZREM', fr, f)
    redis.call('ZADD', fa, ts, f)
    applied = applied + 1
  end
end
if applied == 0 then
  return redis.error_reply('ERR Dynomite: stale write, a newer write or delete of this key exists')
end
redis.call('ZREM', KEYS[3], KEYS[1])
local ka = redis.call('ZSCORE', KEYS[2], KEYS[1])
if not ka or tonumber(ka) < ts then
  redis.call('ZADD', KEYS[2], ts, KEYS[1])
end
return added
";

/// ZADD (`ARGV = zadd, <number of options>, <number of members>,
/// <timestamp>, <options…>, <score member…>`; options NX, XX, CH): each
/// member as SADD's, written with the options; returns the sum of the
/// answers.
pub const SCRIPT_ZADD: &str = "\
local nopts = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local ts = tonumber(ARGV[4])
local fa = KEYS[2] .. '_' .. KEYS[1]
local fr = KEYS[3] .. '_' .. KEYS[1]
local kr = redis.call('ZSCORE', KEYS[3], KEYS[1])
local opts = {}
for i = 1, nopts do
  opts[i] = ARGV[4 + i]
end
local base = 5 + nopts
local added = 0
local applied = 0
for i = 0, n - 1 do
  local sc = ARGV[base + 2 * i]
  local f = ARGV[base + 2 * i + 1]
  local a = redis.call('ZSCORE', fa, f)
  local r = redis.call('ZSCORE', fr, f)
  if not ((a and tonumber(a) > ts) or (r and tonumber(r) > ts) or (kr and tonumber(kr) > ts)) then
    local args = {KEYS[1]}
    for j = 1, nopts do
      args[#args + 1] = opts[j]
    end
    args[#args + 1] = sc
    args[#args + 1] = f
    added = added + redis.call('ZADD', unpack(args))
    redis.call('ZREM', fr, f)
    redis.call('ZADD', fa, ts, f)
    applied = applied + 1
  end
end
if applied == 0 then
  return redis.error_reply('ERR Dynomite: stale write, a newer write or delete of this key exists')
end
redis.call('ZREM', KEYS[3], KEYS[1])
local ka = redis.call('ZSCORE', KEYS[2], KEYS[1])
if not ka or tonumber(ka) < ts then
  redis.call('ZADD', KEYS[2], ts, KEYS[1])
end
return added
";

/// Tombstone clean-up: `KEYS = <key>, ._rem-set`, `ARGV = <timestamp>,
/// [fields…]`; removes the key's (or each field's) tombstone if it still
/// carries the delete's timestamp.
pub const SCRIPT_CLEAN: &str = "\
local ts = tonumber(ARGV[1])
local n = 0
if #ARGV == 1 then
  local r = redis.call('ZSCORE', KEYS[2], KEYS[1])
  if r and tonumber(r) == ts then
    n = redis.call('ZREM', KEYS[2], KEYS[1])
  end
  return n
end
local fr = KEYS[2] .. '_' .. KEYS[1]
for i = 2, #ARGV do
  local r = redis.call('ZSCORE', fr, ARGV[i])
  if r and tonumber(r) == ts then
    n = n + redis.call('ZREM', fr, ARGV[i])
  end
end
return n
";

/// Which rewritten command a request is, from its (lower-case) name and
/// argument count (command name included); `None` for the forms that are
/// passed through plainly.
pub fn meta_cmd(name: &str, nargs: usize) -> Option<MetaCmd> {
    match name {
        "set" if nargs == 3 => Some(MetaCmd::Set),
        "del" if nargs == 2 => Some(MetaCmd::Del),
        "get" if nargs == 2 => Some(MetaCmd::Get),
        "hget" if nargs == 3 => Some(MetaCmd::Hget),
        "hset" if nargs >= 4 && nargs.is_multiple_of(2) => Some(MetaCmd::Hset),
        "hmset" if nargs >= 4 && nargs.is_multiple_of(2) => Some(MetaCmd::Hmset),
        "hdel" if nargs >= 3 => Some(MetaCmd::Hdel),
        "sadd" if nargs >= 3 => Some(MetaCmd::Sadd),
        "srem" if nargs >= 3 => Some(MetaCmd::Srem),
        "zadd" if nargs >= 4 => Some(MetaCmd::Zadd),
        "zrem" if nargs >= 3 => Some(MetaCmd::Zrem),
        "sismember" if nargs == 3 => Some(MetaCmd::Sismember),
        "zscore" if nargs == 3 => Some(MetaCmd::Zscore),
        _ => None,
    }
}

/// The command name a rewritten request carries in `ARGV[1]`, and its
/// script.
fn name_script(cmd: MetaCmd) -> (&'static str, &'static str) {
    match cmd {
        MetaCmd::Set => ("set", SCRIPT_SET),
        MetaCmd::Del => ("del", SCRIPT_DEL),
        MetaCmd::Hset => ("hset", SCRIPT_HSET),
        MetaCmd::Hmset => ("hmset", SCRIPT_HSET),
        MetaCmd::Hdel => ("hdel", SCRIPT_FIELD_DEL),
        MetaCmd::Sadd => ("sadd", SCRIPT_SADD),
        MetaCmd::Srem => ("srem", SCRIPT_FIELD_DEL),
        MetaCmd::Zadd => ("zadd", SCRIPT_ZADD),
        MetaCmd::Zrem => ("zrem", SCRIPT_FIELD_DEL),
        MetaCmd::Get => ("get", SCRIPT_GET),
        MetaCmd::Hget => ("hget", SCRIPT_FIELD_GET),
        MetaCmd::Sismember => ("sismember", SCRIPT_FIELD_GET),
        MetaCmd::Zscore => ("zscore", SCRIPT_FIELD_GET),
    }
}

/// The number of ZADD options (NX, XX, CH, any case) before the first
/// score of `rest` (the arguments after the key), if the rest is score and
/// member pairs; `None` for a form that is not rewritten (GT, LT, INCR, or
/// no pairs).
pub fn zadd_options(rest: &[Vec<u8>]) -> Option<usize> {
    let nopts = rest
        .iter()
        .take_while(|a| {
            a.eq_ignore_ascii_case(b"nx")
                || a.eq_ignore_ascii_case(b"xx")
                || a.eq_ignore_ascii_case(b"ch")
        })
        .count();
    let pairs = rest.len() - nopts;
    let bad = rest[nopts..].iter().step_by(2).any(|a| {
        a.eq_ignore_ascii_case(b"gt")
            || a.eq_ignore_ascii_case(b"lt")
            || a.eq_ignore_ascii_case(b"incr")
    });
    (pairs >= 2 && pairs.is_multiple_of(2) && !bad).then_some(nopts)
}

/// The arguments of the `EVAL` that replaces `cmd` on `key` with the
/// arguments after the key `rest`, at timestamp `ts_ms` (for ZADD, `rest`
/// passed [`zadd_options`]).
pub fn eval_args(cmd: MetaCmd, key: &[u8], rest: &[Vec<u8>], ts_ms: u64) -> Vec<Vec<u8>> {
    let (name, script) = name_script(cmd);
    let (first, second) = if cmd.is_delete() {
        (REM_SET, ADD_SET)
    } else {
        (ADD_SET, REM_SET)
    };
    let nopts = match cmd {
        MetaCmd::Zadd => zadd_options(rest),
        _ => None,
    };
    let nfields = match cmd {
        MetaCmd::Hset | MetaCmd::Hmset => rest.len() / 2,
        MetaCmd::Zadd => (rest.len() - nopts.unwrap_or(0)) / 2,
        _ => rest.len(),
    };
    let mut out: Vec<Vec<u8>> = vec![
        b"EVAL".to_vec(),
        script.as_bytes().to_vec(),
        b"3".to_vec(),
        key.to_vec(),
        first.as_bytes().to_vec(),
        second.as_bytes().to_vec(),
        name.as_bytes().to_vec(),
    ];
    if cmd == MetaCmd::Zadd {
        out.push(nopts.unwrap_or(0).to_string().into_bytes());
    }
    out.push(nfields.to_string().into_bytes());
    out.push(ts_ms.to_string().into_bytes());
    out.extend(rest.iter().cloned());
    out
}

/// The clean-up `EVAL` of a delete's tombstones (`fields` empty for DEL).
pub fn clean_args(key: &[u8], fields: &[Vec<u8>], ts_ms: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        b"EVAL".to_vec(),
        SCRIPT_CLEAN.as_bytes().to_vec(),
        b"2".to_vec(),
        key.to_vec(),
        REM_SET.as_bytes().to_vec(),
        ts_ms.to_string().into_bytes(),
    ];
    out.extend(fields.iter().cloned());
    out
}

/// One replica's answer to a rewritten read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAnswer {
    /// `E` (exists), `R` (removed), `X` (no metadata).
    pub status: u8,
    /// Milliseconds (0 for `X`).
    pub ts_ms: u64,
    /// The value, `None` for nil.
    pub value: Option<Vec<u8>>,
    /// SISMEMBER's answer (an integer instead of a value).
    pub int: Option<i64>,
}

/// Decodes `[status, timestamp, value]`; `None` for anything else (an
/// error, or a replica that ran something else).
pub fn parse_read(bytes: &[u8]) -> Option<ReadAnswer> {
    let Value::Array(items) = decode(bytes)? else {
        return None;
    };
    let [Value::Bulk(Some(status)), Value::Bulk(Some(ts)), value] = &items[..] else {
        return None;
    };
    let status = match &status[..] {
        [s @ (b'E' | b'R' | b'X')] => *s,
        _ => return None,
    };
    let ts: f64 = std::str::from_utf8(ts).ok()?.parse().ok()?;
    let (value, int) = match value {
        Value::Bulk(v) => (v.clone(), None),
        Value::Int(n) => (None, Some(*n)),
        _ => return None,
    };
    Some(ReadAnswer {
        status,
        ts_ms: ts.max(0.0) as u64,
        value,
        int,
    })
}

/// The newest answer (`E` or `R`, the largest timestamp; the first of
/// equals) and the answers to repair: every other answer that is older or
/// `X`. `None` when no answer carries metadata.
pub fn choose(answers: &[Option<ReadAnswer>]) -> Option<(usize, Vec<usize>)> {
    let mut win: Option<usize> = None;
    for (i, a) in answers.iter().enumerate() {
        let Some(a) = a else { continue };
        if a.status == b'X' {
            continue;
        }
        if win.is_none_or(|w| answers[w].as_ref().is_some_and(|b| a.ts_ms > b.ts_ms)) {
            win = Some(i);
        }
    }
    let w = win?;
    let wts = answers[w].as_ref()?.ts_ms;
    let stale = answers
        .iter()
        .enumerate()
        .filter(|&(i, a)| {
            i != w
                && a.as_ref()
                    .is_some_and(|a| a.status == b'X' || a.ts_ms < wts)
        })
        .map(|(i, _)| i)
        .collect();
    Some((w, stale))
}

/// True when every replica answered and every answer is the tombstone
/// `win` (same timestamp).
pub fn all_removed_alike(answers: &[Option<ReadAnswer>], win: &ReadAnswer) -> bool {
    win.status == b'R'
        && answers.iter().all(|a| {
            a.as_ref()
                .is_some_and(|a| a.status == b'R' && a.ts_ms == win.ts_ms)
        })
}

/// True when answer `a` is older than the winner at `win_ts` (or has no
/// metadata).
pub fn is_stale(a: &ReadAnswer, win_ts: u64) -> bool {
    a.status == b'X' || a.ts_ms < win_ts
}

/// The plain reply a client gets for `a` (nil for `R`, or a missing value;
/// SISMEMBER's integer, `:0` for `R`).
pub fn plain_reply(a: &ReadAnswer, resp3: bool) -> Vec<u8> {
    if let Some(n) = a.int {
        let n = if a.status == b'R' { 0 } else { n };
        return format!(":{n}\r\n").into_bytes();
    }
    match (&a.value, a.status) {
        (Some(v), b'E' | b'X') => {
            let mut out = format!("${}\r\n", v.len()).into_bytes();
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
            out
        }
        _ if resp3 => b"_\r\n".to_vec(),
        _ => b"$-1\r\n".to_vec(),
    }
}

/// The repair write that brings a replica to answer `win` of a read of
/// `cmd` (`GET`→SET/DEL, `HGET`→HSET/HDEL, `SISMEMBER`→SADD/SREM,
/// `ZSCORE`→ZADD/ZREM; `field` is the field or member).
pub fn repair_args(
    cmd: MetaCmd,
    key: &[u8],
    field: Option<&[u8]>,
    win: &ReadAnswer,
) -> Option<Vec<Vec<u8>>> {
    let (write, rest) = match (cmd, win.status, &win.value, field) {
        (MetaCmd::Get, b'E', Some(v), _) => (MetaCmd::Set, vec![v.clone()]),
        (MetaCmd::Get, b'R', _, _) => (MetaCmd::Del, vec![]),
        (MetaCmd::Hget, b'E', Some(v), Some(f)) => (MetaCmd::Hset, vec![f.to_vec(), v.clone()]),
        (MetaCmd::Hget, b'R', _, Some(f)) => (MetaCmd::Hdel, vec![f.to_vec()]),
        (MetaCmd::Sismember, b'E', _, Some(f)) if win.int == Some(1) => {
            (MetaCmd::Sadd, vec![f.to_vec()])
        }
        (MetaCmd::Sismember, b'R', _, Some(f)) => (MetaCmd::Srem, vec![f.to_vec()]),
        (MetaCmd::Zscore, b'E', Some(v), Some(f)) => (MetaCmd::Zadd, vec![v.clone(), f.to_vec()]),
        (MetaCmd::Zscore, b'R', _, Some(f)) => (MetaCmd::Zrem, vec![f.to_vec()]),
        _ => return None,
    };
    Some(eval_args(write, key, &rest, win.ts_ms))
}

/// The wall clock in milliseconds.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a job waits for.
#[derive(Debug)]
enum JobKind {
    /// A read's copies still out: each answer older than `win_ts` gets
    /// `repair` (the winner's write, if it has one); `clean` (the
    /// clean-up and the replicas) is sent once every answer was the
    /// winner's tombstone.
    Read {
        win_ts: u64,
        repair: Option<Vec<Vec<u8>>>,
        clean: Option<(Vec<Vec<u8>>, Vec<Target>)>,
    },
    /// A delete's copies still out: once all have answered without an
    /// error, `clean` goes to `targets`.
    Clean {
        clean: Vec<Vec<u8>>,
        targets: Vec<Target>,
        all_ok: bool,
    },
}

#[derive(Debug)]
struct Job {
    kind: JobKind,
    /// Copies still out.
    outstanding: u32,
}

/// The metadata scheme's jobs under way.
#[derive(Debug, Default)]
pub struct MetaJobs {
    jobs: Slab<Job>,
}

/// Jobs under way at once; beyond, late answers are dropped unrepaired.
pub const META_JOBS_MAX: usize = 1024;

impl Context {
    /// Rewrites a client's request into the metadata scheme's `EVAL` when
    /// the switch is on and both global levels are above DC_ONE; reads
    /// only at a quorum level `level` (their answer is decided here).
    pub(crate) fn meta_rewrite(&mut self, mid: MsgId, level: Consistency) {
        if !self.read_repairs
            || self.settings.memcache
            || self.settings.read_consistency == Consistency::DcOne
            || self.settings.write_consistency == Consistency::DcOne
        {
            return;
        }
        let m = &self.msgs[mid];
        let Some(c) = m.cmd else { return };
        if m.dnode.is_some()
            || m.internal.is_some()
            || m.parent.is_some()
            || m.meta.is_some()
            || m.noreply
            || c.route != Route::Key
        {
            return;
        }
        let nargs = m.req.args.len();
        let Some(cmd) = meta_cmd(c.name, nargs) else {
            return;
        };
        if cmd.is_read() && level == Consistency::DcOne {
            return;
        }
        let key = self.arg_vec(mid, 1);
        let rest: Vec<Vec<u8>> = (2..nargs).map(|i| self.arg_vec(mid, i)).collect();
        if cmd == MetaCmd::Zadd && zadd_options(&rest).is_none() {
            return;
        }
        let ts_ms = now_ms();
        let args = eval_args(cmd, &key, &rest, ts_ms);
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let (bytes, places) = crate::cluster::resp::encode(&refs);
        let eval = redis::lookup(b"eval", None).ok();
        let m = &mut self.msgs[mid];
        self.mbufs.put_segs(&mut m.segs);
        self.mbufs.append(&mut m.segs, &bytes);
        m.mlen = bytes.len() as u64;
        m.req.args.clear();
        m.req.args.extend_from_slice(&places);
        m.req.inline = false;
        m.cmd = eval;
        m.meta = Some(MetaOp { cmd, ts_ms });
    }

    /// The answer to a rewritten request's copy, as a read's answer.
    fn meta_answer(&self, child: MsgId) -> Option<ReadAnswer> {
        let r = self.msgs[child].peer?;
        let r = &self.msgs[r];
        if r.generated || matches!(r.rsp.ty, b'-' | b'!') {
            return None;
        }
        let mut bytes = Vec::new();
        self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        parse_read(&bytes)
    }

    /// True when child `child` answered without an error.
    fn meta_ok(&self, child: MsgId) -> bool {
        self.msgs[child]
            .peer
            .is_some_and(|r| !self.msgs[r].generated && !matches!(self.msgs[r].rsp.ty, b'-' | b'!'))
    }

    /// A rewritten request's quorum is decided. A read is answered here
    /// (true): the newest answer, its replicas repaired. A delete's
    /// clean-up is set up, and the decision goes on as usual (false).
    pub(crate) fn meta_decided(&mut self, parent: MsgId) -> bool {
        let Some(op) = self.msgs[parent].meta else {
            return false;
        };
        let fp = &self.msgs[parent].frag;
        let Some(q) = fp.quorum.as_ref() else {
            return false;
        };
        if q.mgrs
            .iter()
            .any(|m| matches!(m.verdict(), Verdict::Error(_)))
        {
            return false;
        }
        let pick = q.pick();
        let n = fp.frags.len();
        let children: Vec<MsgId> = fp.frags.clone();
        let targets: Vec<Target> = q.targets[..n].to_vec();
        if op.cmd.is_delete() {
            self.meta_clean_setup(parent, op, &children, &targets);
            return false;
        }
        if !op.cmd.is_read() {
            return false;
        }
        let answers: Vec<Option<ReadAnswer>> = children
            .iter()
            .map(|&c| {
                if self.msgs[c].done {
                    self.meta_answer(c)
                } else {
                    None
                }
            })
            .collect();
        let resp3 = self.msgs[parent].resp3;
        let Some((w, stale)) = choose(&answers) else {
            // No metadata anywhere: the usual choice, in plain form.
            let Pick::Child(c) = pick else {
                return false;
            };
            let Some(a) = answers.get(c as usize).cloned().flatten() else {
                return false;
            };
            self.meta_finish(parent, &plain_reply(&a, resp3));
            return true;
        };
        let win = answers[w].clone().expect("the winner answered");
        let key = self.arg_vec(parent, 3);
        let field = (op.cmd != MetaCmd::Get).then(|| self.arg_vec(parent, 9));
        let repair = repair_args(op.cmd, &key, field.as_deref(), &win);
        if let Some(repair) = &repair {
            for &i in &stale {
                self.meta_send_write(repair, targets[i]);
            }
        }
        // Every replica holding the same tombstone (a delete one of them
        // missed, repaired since): it is no longer needed.
        let answered: Vec<Option<ReadAnswer>> = answers
            .iter()
            .zip(&children)
            .filter(|(_, &c)| self.msgs[c].done)
            .map(|(a, _)| a.clone())
            .collect();
        let clean = all_removed_alike(&answered, &win).then(|| {
            let fields: Vec<Vec<u8>> = field.into_iter().collect();
            clean_args(&key, &fields, win.ts_ms)
        });
        let late: Vec<usize> = (0..n).filter(|&i| !self.msgs[children[i]].done).collect();
        if late.is_empty() {
            if let Some(clean) = clean {
                self.meta_send_clean(&clean, &targets);
            }
        } else if self.meta.jobs.len() < META_JOBS_MAX && (repair.is_some() || clean.is_some()) {
            let job = self.meta.jobs.insert(Job {
                kind: JobKind::Read {
                    win_ts: win.ts_ms,
                    repair,
                    clean: clean.map(|c| (c, targets.clone())),
                },
                outstanding: late.len() as u32,
            }) as u32;
            for i in late {
                self.msgs[children[i]].internal = Some(Internal::MetaLate {
                    job,
                    to: targets[i],
                });
            }
        }
        self.meta_finish(parent, &plain_reply(&win, resp3));
        true
    }

    /// Answers `parent` with `bytes` and releases its children.
    fn meta_finish(&mut self, parent: MsgId, bytes: &[u8]) {
        let rsp = self.reply_made(bytes, false);
        self.finish_parent_made(parent, rsp);
    }

    /// A delete was decided: its tombstone is cleaned up once every
    /// counted replica has answered it without an error.
    fn meta_clean_setup(
        &mut self,
        parent: MsgId,
        op: MetaOp,
        children: &[MsgId],
        targets: &[Target],
    ) {
        let key = self.arg_vec(parent, 3);
        let nargs = self.msgs[parent].req.args.len();
        let fields: Vec<Vec<u8>> = (9..nargs).map(|i| self.arg_vec(parent, i)).collect();
        let clean = clean_args(&key, &fields, op.ts_ms);
        let all_ok = children
            .iter()
            .filter(|&&c| self.msgs[c].done)
            .all(|&c| self.meta_ok(c));
        let late: Vec<usize> = (0..children.len())
            .filter(|&i| !self.msgs[children[i]].done)
            .collect();
        if late.is_empty() {
            if all_ok {
                self.meta_send_clean(&clean, targets);
            }
            return;
        }
        if !all_ok || self.meta.jobs.len() >= META_JOBS_MAX {
            return;
        }
        let job = self.meta.jobs.insert(Job {
            kind: JobKind::Clean {
                clean,
                targets: targets.to_vec(),
                all_ok,
            },
            outstanding: late.len() as u32,
        }) as u32;
        for i in late {
            self.msgs[children[i]].internal = Some(Internal::MetaLate {
                job,
                to: targets[i],
            });
        }
    }

    /// Sends the clean-up to every replica.
    fn meta_send_clean(&mut self, clean: &[Vec<u8>], targets: &[Target]) {
        debug!(
            "read repair: tombstone of {:?} cleaned up on {} replicas",
            String::from_utf8_lossy(&clean[3]),
            targets.len()
        );
        for &t in targets {
            self.stats.faults.read_repair_tombstones_cleaned += 1;
            self.meta_send(clean, t, Internal::MetaClean);
        }
    }

    /// Sends a repair write to one replica.
    fn meta_send_write(&mut self, args: &[Vec<u8>], to: Target) {
        debug!(
            "read repair: {:?} repaired on {:?}",
            String::from_utf8_lossy(&args[3]),
            to
        );
        self.stats.faults.read_repairs_meta_sent += 1;
        self.meta_send(args, to, Internal::MetaWrite);
    }

    /// Sends one of the scheme's own writes (answer dropped).
    fn meta_send(&mut self, args: &[Vec<u8>], to: Target, tag: Internal) {
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let mid = self.internal_request(&refs, tag);
        match to {
            Target::Local => self.execute_local(mid),
            Target::Peer { peer, .. } => {
                if let Err(why) = self.peer_forward(mid, peer, false) {
                    self.reply_error(mid, why.error());
                }
            }
        }
    }

    /// The answer to one of the scheme's own requests (both are freed).
    pub(crate) fn meta_reply(&mut self, req: MsgId, rsp: MsgId, tag: Internal) {
        debug_assert!(tag.is_meta());
        let mut bytes = Vec::new();
        let r = &self.msgs[rsp];
        let failed = r.generated || matches!(r.rsp.ty, b'-' | b'!');
        self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        self.msgs[req].peer = None;
        self.msgs.put(&mut self.mbufs, rsp);
        self.msgs[req].done = true;
        self.msgs[req].internal = None;
        self.try_free(req);
        match tag {
            Internal::MetaWrite => {
                if failed {
                    self.stats.faults.read_repairs_meta_failed += 1;
                } else {
                    self.stats.faults.read_repairs_meta_ok += 1;
                }
            }
            Internal::MetaLate { job, to } => self.meta_late(job, to, failed, &bytes),
            _ => {}
        }
    }

    /// A copy still out at the decision answered.
    fn meta_late(&mut self, n: u32, to: Target, failed: bool, bytes: &[u8]) {
        let Some(job) = self.meta.jobs.get_mut(n as usize) else {
            return;
        };
        job.outstanding = job.outstanding.saturating_sub(1);
        let done = job.outstanding == 0;
        let mut write = None;
        let mut clean = None;
        match &mut job.kind {
            JobKind::Read {
                win_ts,
                repair,
                clean: c,
            } => {
                let a = if failed { None } else { parse_read(bytes) };
                if a.as_ref().is_some_and(|a| is_stale(a, *win_ts)) {
                    write = repair.clone();
                }
                let same = a.is_some_and(|a| a.status == b'R' && a.ts_ms == *win_ts);
                if !same {
                    *c = None;
                }
                if done {
                    clean = c.take();
                }
            }
            JobKind::Clean {
                clean: c,
                targets,
                all_ok,
            } => {
                *all_ok &= !failed;
                if done && *all_ok {
                    clean = Some((std::mem::take(c), std::mem::take(targets)));
                }
            }
        }
        if done {
            self.meta.jobs.remove(n as usize);
        }
        if let Some(w) = write {
            self.meta_send_write(&w, to);
        }
        if let Some((c, t)) = clean {
            self.meta_send_clean(&c, &t);
        }
    }

    /// Jobs under way (tests).
    #[cfg(test)]
    pub(crate) fn meta_jobs_in_flight(&self) -> usize {
        self.meta.jobs.len()
    }
}

/// Reactor tests: three nodes in the test thread, each before its redis.
#[cfg(test)]
mod reactor_tests {
    use crate::core::harness::{bulk, msgs_in_use, pump, spec, Cluster};

    fn idle(nodes: &[crate::core::harness::Node]) -> bool {
        nodes
            .iter()
            .all(|n| n.ctx.meta_jobs_in_flight() == 0 && msgs_in_use(&n.ctx) == 0)
    }

    #[test]
    fn repairs_and_clean_ups_free_every_message() {
        let body = "read_consistency: DC_QUORUM\nwrite_consistency: DC_QUORUM\n\
                    timeout: 200\nread_repairs_enabled: true\n";
        let mut cl = Cluster::start(
            &[
                spec("dc1", "r1", "1"),
                spec("dc1", "r2", "1"),
                spec("dc1", "r3", "1"),
            ],
            &[],
            body,
        );
        let mut c = cl.nodes[0].client();
        assert_eq!(c.call(&mut cl.nodes, &[b"SET", b"mk", b"v"]), "+OK\r\n");
        pump(&mut cl.nodes, "the write on every rack", |_| {
            cl.redis
                .iter()
                .all(|r| r.cmd(&[b"GET", b"mk"]) == bulk(b"v"))
        });
        assert_eq!(cl.redis(2).cmd(&[b"FLUSHALL"]), "+OK\r\n");
        // Through the emptied node: its own X answer loses and is repaired.
        let mut c2 = cl.nodes[2].client();
        assert_eq!(c2.call(&mut cl.nodes, &[b"GET", b"mk"]), bulk(b"v"));
        pump(&mut cl.nodes, "the emptied replica repaired", |_| {
            cl.redis[2].cmd(&[b"GET", b"mk"]) == bulk(b"v")
        });
        pump(&mut cl.nodes, "every message freed", |n| idle(n));
        let f = crate::core::harness::fault_stats(&cl.nodes[2].ctx);
        assert_eq!(f.read_repairs_meta_sent, 1);
        assert_eq!(f.read_repairs_meta_ok, 1);
        assert_eq!(f.read_repairs_sent, 0);
        // A pipelined burst of writes, reads and deletes.
        for i in 0..50 {
            let k = format!("burst{i}").into_bytes();
            c.send(&[b"SET", &k, b"x"]);
            c.send(&[b"GET", &k]);
            c.send(&[b"HSET", b"bh", &k, b"y"]);
            c.send(&[b"DEL", &k]);
        }
        for _ in 0..200 {
            c.wait_reply(&mut cl.nodes);
        }
        pump(&mut cl.nodes, "every tombstone cleaned up", |_| {
            cl.redis
                .iter()
                .all(|r| r.cmd(&[b"ZCARD", b"._rem-set"]) == ":0\r\n")
        });
        pump(&mut cl.nodes, "every message freed", |n| idle(n));
        assert_eq!(cl.redis(1).cmd(&[b"HLEN", b"bh"]), ":50\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ans(status: u8, ts_ms: u64, v: Option<&str>) -> Option<ReadAnswer> {
        Some(ReadAnswer {
            status,
            ts_ms,
            value: v.map(|s| s.as_bytes().to_vec()),
            int: None,
        })
    }

    /// The RESP bytes of `args`.
    fn resp(args: &[Vec<u8>]) -> Vec<u8> {
        let refs: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        crate::cluster::resp::encode(&refs).0
    }

    #[test]
    fn rewritten_forms() {
        assert_eq!(meta_cmd("set", 3), Some(MetaCmd::Set));
        assert_eq!(
            meta_cmd("set", 5),
            None,
            "SET with options is not rewritten"
        );
        assert_eq!(meta_cmd("del", 2), Some(MetaCmd::Del));
        assert_eq!(meta_cmd("del", 3), None, "multi-key DEL is not rewritten");
        assert_eq!(meta_cmd("get", 2), Some(MetaCmd::Get));
        assert_eq!(meta_cmd("hget", 3), Some(MetaCmd::Hget));
        assert_eq!(meta_cmd("hset", 4), Some(MetaCmd::Hset));
        assert_eq!(meta_cmd("hset", 6), Some(MetaCmd::Hset));
        assert_eq!(meta_cmd("hset", 5), None);
        assert_eq!(meta_cmd("hmset", 4), Some(MetaCmd::Hmset));
        assert_eq!(meta_cmd("hdel", 4), Some(MetaCmd::Hdel));
        assert_eq!(meta_cmd("sadd", 3), Some(MetaCmd::Sadd));
        assert_eq!(meta_cmd("srem", 4), Some(MetaCmd::Srem));
        assert_eq!(meta_cmd("zadd", 4), Some(MetaCmd::Zadd));
        assert_eq!(meta_cmd("zrem", 3), Some(MetaCmd::Zrem));
        assert_eq!(meta_cmd("sismember", 3), Some(MetaCmd::Sismember));
        assert_eq!(meta_cmd("zscore", 3), Some(MetaCmd::Zscore));
        assert_eq!(meta_cmd("smismember", 4), None);
        assert_eq!(meta_cmd("lpush", 3), None);
    }

    fn v(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn zadd_options_and_arguments() {
        assert_eq!(zadd_options(&v(&["1", "a"])), Some(0));
        assert_eq!(zadd_options(&v(&["nx", "CH", "1", "a", "2", "b"])), Some(2));
        assert_eq!(zadd_options(&v(&["INCR", "1", "a"])), None);
        assert_eq!(zadd_options(&v(&["gt", "1", "a"])), None);
        assert_eq!(zadd_options(&v(&["xx"])), None);
        assert_eq!(zadd_options(&v(&["1", "a", "2"])), None);
        let z = eval_args(MetaCmd::Zadd, b"z", &v(&["XX", "1", "a", "2", "b"]), 7);
        // key, sets, name, options, members, timestamp, options, pairs
        let want = v(&[
            "z",
            "._add-set",
            "._rem-set",
            "zadd",
            "1",
            "2",
            "7",
            "XX",
            "1",
            "a",
            "2",
            "b",
        ]);
        assert_eq!(&z[3..], &want[..]);
        assert_eq!(z[1], SCRIPT_ZADD.as_bytes());
        let s = eval_args(MetaCmd::Sadd, b"s", &v(&["m1", "m2"]), 7);
        assert_eq!(&s[6..], &v(&["sadd", "2", "7", "m1", "m2"])[..]);
        let r = eval_args(MetaCmd::Srem, b"s", &v(&["m1"]), 7);
        assert_eq!(
            &r[4..],
            &v(&["._rem-set", "._add-set", "srem", "1", "7", "m1"])[..]
        );
        assert_eq!(eval_args(MetaCmd::Zrem, b"z", &v(&["a"]), 7)[6], b"zrem");
    }

    #[test]
    fn member_reads() {
        let a = parse_read(b"*3\r\n$1\r\nE\r\n$1\r\n5\r\n:1\r\n").expect("parsed");
        assert_eq!(a.int, Some(1));
        assert_eq!(plain_reply(&a, false), b":1\r\n");
        let r = parse_read(b"*3\r\n$1\r\nR\r\n$1\r\n6\r\n:0\r\n").expect("parsed");
        assert_eq!(plain_reply(&r, false), b":0\r\n");
        assert_eq!(
            repair_args(MetaCmd::Sismember, b"s", Some(b"m"), &a),
            Some(eval_args(MetaCmd::Sadd, b"s", &v(&["m"]), 5))
        );
        assert_eq!(
            repair_args(MetaCmd::Sismember, b"s", Some(b"m"), &r),
            Some(eval_args(MetaCmd::Srem, b"s", &v(&["m"]), 6))
        );
        let z = parse_read(b"*3\r\n$1\r\nE\r\n$1\r\n5\r\n$3\r\n1.5\r\n").expect("parsed");
        assert_eq!(plain_reply(&z, false), b"$3\r\n1.5\r\n");
        assert_eq!(
            repair_args(MetaCmd::Zscore, b"z", Some(b"m"), &z),
            Some(eval_args(MetaCmd::Zadd, b"z", &v(&["1.5", "m"]), 5))
        );
    }

    #[test]
    fn set_bytes() {
        let got = resp(&eval_args(
            MetaCmd::Set,
            b"k1",
            &[b"v1".to_vec()],
            1733500000123,
        ));
        let mut want = format!("*10\r\n$4\r\nEVAL\r\n${}\r\n", SCRIPT_SET.len()).into_bytes();
        want.extend_from_slice(SCRIPT_SET.as_bytes());
        want.extend_from_slice(
            b"\r\n$1\r\n3\r\n$2\r\nk1\r\n$9\r\n._add-set\r\n$9\r\n._rem-set\r\n\
$3\r\nset\r\n$1\r\n1\r\n$13\r\n1733500000123\r\n$2\r\nv1\r\n",
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }

    #[test]
    fn delete_swaps_the_sets() {
        let got = resp(&eval_args(MetaCmd::Del, b"k", &[], 7));
        let mut want = format!("*9\r\n$4\r\nEVAL\r\n${}\r\n", SCRIPT_DEL.len()).into_bytes();
        want.extend_from_slice(SCRIPT_DEL.as_bytes());
        want.extend_from_slice(
            b"\r\n$1\r\n3\r\n$1\r\nk\r\n$9\r\n._rem-set\r\n$9\r\n._add-set\r\n\
$3\r\ndel\r\n$1\r\n0\r\n$1\r\n7\r\n",
        );
        assert_eq!(got, want);
        let hdel = eval_args(MetaCmd::Hdel, b"h", &[b"f1".to_vec(), b"f2".to_vec()], 9);
        let tail: Vec<&[u8]> = hdel[3..].iter().map(|a| &a[..]).collect();
        let want: [&[u8]; 8] = [
            b"h",
            b"._rem-set",
            b"._add-set",
            b"hdel",
            b"2",
            b"9",
            b"f1",
            b"f2",
        ];
        assert_eq!(tail, want);
        assert_eq!(hdel[1], SCRIPT_FIELD_DEL.as_bytes());
    }

    #[test]
    fn hash_and_read_arguments() {
        let rest = [b"f1".to_vec(), b"a".to_vec(), b"f2".to_vec(), b"b".to_vec()];
        let hset = eval_args(MetaCmd::Hset, b"h", &rest, 5);
        let tail: Vec<&[u8]> = hset[2..].iter().map(|a| &a[..]).collect();
        let want: [&[u8]; 11] = [
            b"3",
            b"h",
            b"._add-set",
            b"._rem-set",
            b"hset",
            b"2",
            b"5",
            b"f1",
            b"a",
            b"f2",
            b"b",
        ];
        assert_eq!(tail, want);
        assert_eq!(eval_args(MetaCmd::Hmset, b"h", &rest, 5)[6], b"hmset");
        let get = eval_args(MetaCmd::Get, b"k", &[], 5);
        let tail: Vec<&[u8]> = get[3..].iter().map(|a| &a[..]).collect();
        let want: [&[u8]; 6] = [b"k", b"._add-set", b"._rem-set", b"get", b"0", b"5"];
        assert_eq!(tail, want);
        let hget = eval_args(MetaCmd::Hget, b"h", &[b"f".to_vec()], 5);
        assert_eq!(hget[1], SCRIPT_FIELD_GET.as_bytes());
        assert_eq!(
            &hget[6..],
            &[
                b"hget".to_vec(),
                b"1".to_vec(),
                b"5".to_vec(),
                b"f".to_vec()
            ]
        );
        let clean = clean_args(b"h", &[b"f".to_vec()], 5);
        let tail: Vec<&[u8]> = clean[2..].iter().map(|a| &a[..]).collect();
        let want: [&[u8]; 5] = [b"2", b"h", b"._rem-set", b"5", b"f"];
        assert_eq!(tail, want);
    }

    #[test]
    fn read_answers() {
        let a = parse_read(b"*3\r\n$1\r\nE\r\n$13\r\n1733500000123\r\n$2\r\nv1\r\n");
        assert_eq!(a, ans(b'E', 1733500000123, Some("v1")));
        let r = parse_read(b"*3\r\n$1\r\nR\r\n$2\r\n42\r\n$-1\r\n");
        assert_eq!(r, ans(b'R', 42, None));
        let x = parse_read(b"*3\r\n$1\r\nX\r\n$1\r\n0\r\n$1\r\nv\r\n");
        assert_eq!(x, ans(b'X', 0, Some("v")));
        assert_eq!(parse_read(b"$1\r\nv\r\n"), None);
        assert_eq!(parse_read(b"-ERR x\r\n"), None);
        assert_eq!(parse_read(b"*3\r\n$1\r\nQ\r\n$1\r\n0\r\n$-1\r\n"), None);
        assert_eq!(parse_read(b"*2\r\n$1\r\nE\r\n$1\r\n0\r\n"), None);
    }

    #[test]
    fn newest_wins_and_never_seen_is_repaired() {
        let answers = [
            ans(b'E', 10, Some("old")),
            ans(b'E', 20, Some("new")),
            ans(b'X', 0, None),
        ];
        assert_eq!(choose(&answers), Some((1, vec![0, 2])));
        let answers = [ans(b'E', 20, Some("v")), ans(b'R', 30, None), None];
        assert_eq!(choose(&answers), Some((1, vec![0])));
        let answers = [ans(b'E', 20, Some("v")), ans(b'E', 20, Some("v"))];
        assert_eq!(choose(&answers), Some((0, vec![])));
        let answers = [ans(b'X', 0, Some("v")), ans(b'X', 0, None)];
        assert_eq!(choose(&answers), None, "no metadata: the usual choice");
        assert!(is_stale(&ans(b'X', 0, None).expect("made"), 1));
        assert!(!is_stale(&ans(b'E', 5, None).expect("made"), 5));
        assert!(is_stale(&ans(b'R', 4, None).expect("made"), 5));
        let r = ans(b'R', 7, None).expect("made");
        assert!(all_removed_alike(
            &[ans(b'R', 7, None), ans(b'R', 7, None)],
            &r
        ));
        assert!(
            !all_removed_alike(&[ans(b'R', 7, None), None], &r),
            "one missing"
        );
        assert!(!all_removed_alike(
            &[ans(b'R', 7, None), ans(b'R', 6, None)],
            &r
        ));
        let e = ans(b'E', 7, Some("v")).expect("made");
        assert!(!all_removed_alike(&[ans(b'E', 7, Some("v"))], &e));
    }

    #[test]
    fn plain_replies_and_repairs() {
        let e = ans(b'E', 5, Some("v")).unwrap();
        let r = ans(b'R', 6, None).unwrap();
        assert_eq!(plain_reply(&e, false), b"$1\r\nv\r\n");
        assert_eq!(plain_reply(&r, false), b"$-1\r\n");
        assert_eq!(plain_reply(&r, true), b"_\r\n");
        assert_eq!(
            repair_args(MetaCmd::Get, b"k", None, &e),
            Some(eval_args(MetaCmd::Set, b"k", &[b"v".to_vec()], 5))
        );
        assert_eq!(
            repair_args(MetaCmd::Get, b"k", None, &r),
            Some(eval_args(MetaCmd::Del, b"k", &[], 6))
        );
        assert_eq!(
            repair_args(MetaCmd::Hget, b"h", Some(b"f"), &e),
            Some(eval_args(
                MetaCmd::Hset,
                b"h",
                &[b"f".to_vec(), b"v".to_vec()],
                5
            ))
        );
        assert_eq!(
            repair_args(MetaCmd::Hget, b"h", Some(b"f"), &r),
            Some(eval_args(MetaCmd::Hdel, b"h", &[b"f".to_vec()], 6))
        );
    }

    #[test]
    fn stale_error_text_is_the_scripts() {
        let quoted = format!("'{}'", crate::errors::ERR_STALE_WRITE);
        assert!(SCRIPT_SET.contains(&quoted));
        assert!(SCRIPT_HSET.contains(&quoted));
        assert!(SCRIPT_SADD.contains(&quoted));
        assert!(SCRIPT_ZADD.contains(&quoted));
    }

    /// The metadata layout and argument order against the spec's own text
    /// (replication-and-consistency §8, copied into tests/data).
    #[test]
    fn layout_matches_the_spec_text() {
        let spec = include_str!("../../tests/data/read_repair_metadata_spec.md");
        for row in [
            format!("| `{ADD_SET}` | sorted set | primary key |"),
            format!("| `{REM_SET}` | sorted set | primary key |"),
            format!("| `{ADD_SET}_<key>` | sorted set |"),
            format!("| `{REM_SET}_<key>` | sorted set |"),
        ] {
            assert!(spec.contains(&row), "{row}");
        }
        assert!(spec.contains("`KEYS = <key>, <add-set name>, <rem-set name>`"));
        assert!(spec.contains("For delete commands the add-set and rem-set names are swapped."));
        assert!(spec.contains(
            "`ARGV = <original command name>, [<number of options>,] <number of fields>, <timestamp>, [<options>...], <field/value...>`"
        ));
        assert!(spec.contains("`E` (exists; timestamp from the add-set), `R` (removed; tombstone timestamp),\n`X` (no metadata, timestamp 0)."));
        // The builders follow it: key, add-set, rem-set; name, fields,
        // timestamp, fields and values.
        let set = eval_args(MetaCmd::Set, b"k", &[b"v".to_vec()], 3);
        assert_eq!(
            &set[2..],
            &[
                b"3".to_vec(),
                b"k".to_vec(),
                ADD_SET.into(),
                REM_SET.into(),
                b"set".to_vec(),
                b"1".to_vec(),
                b"3".to_vec(),
                b"v".to_vec()
            ]
        );
        let del = eval_args(MetaCmd::Del, b"k", &[], 3);
        assert_eq!(
            &del[4..6],
            &[REM_SET.as_bytes().to_vec(), ADD_SET.as_bytes().to_vec()]
        );
        for s in [SCRIPT_GET, SCRIPT_FIELD_GET] {
            for status in ["'E'", "'R'", "'X'"] {
                assert!(s.contains(status));
            }
        }
        // Per-key sets are `<set>_<key>`.
        for s in [
            SCRIPT_DEL,
            SCRIPT_HSET,
            SCRIPT_SADD,
            SCRIPT_ZADD,
            SCRIPT_FIELD_DEL,
            SCRIPT_FIELD_GET,
            SCRIPT_CLEAN,
        ] {
            assert!(s.contains(" .. '_' .. KEYS[1]"));
        }
    }
}
