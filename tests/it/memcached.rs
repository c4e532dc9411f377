//! Memcached (`data_store: 1`) end to end, against real memcached servers.
//!
//! - A differential run (the habit of dynomite's `test/dual_run.py`): a fixed
//!   corpus is sent to (a) the proxy in front of one memcached and (b) a second,
//!   fresh memcached directly, once one request at a time and once as a single
//!   pipelined write, and the replies are compared byte for byte.
//! - Multi-get over two shards (and with one of them failing), `quit`,
//!   requests split into single bytes, half-close, a memcached killed and
//!   restarted under traffic, a datastore timeout, the pymemcache client
//!   library, and a two-rack cluster.

use crate::harness::conf;
use crate::harness::{
    direct_mode, free_port, python_module_version, run_client, show, wait_for, Dynomite, McClient,
    MemcachedServer, INSTALL_HINT,
};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The proxy's error line for a datastore it cannot reach.
const REFUSED: &[u8] = b"SERVER_ERROR Storage: Datastore refused connection\r\n";
/// The proxy's error line for a request the datastore did not answer in time.
const TIMED_OUT: &[u8] = b"SERVER_ERROR Storage: Datastore timed out\r\n";

// ---------------------------------------------------------------------------
// differential corpus
// ---------------------------------------------------------------------------

/// How a pair of replies is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// Byte for byte.
    Exact,
    /// Both are one `VERSION ...` line.
    Version,
    /// Both are one complete reply, not compared (`stats`: the proxy does not
    /// forward it).
    Any,
}

/// One corpus entry: one request and the number of replies it gets.
struct Step {
    check: Check,
    /// Replies expected (memcached answers some bad input with two lines, and
    /// `noreply` requests with none).
    replies: usize,
    /// The request bytes; `$CAS` stands for the unique of the last `gets`
    /// reply seen on the same connection.
    request: Vec<u8>,
    /// What the direct memcached must answer (all replies concatenated), when
    /// the corpus states it.
    expect: Option<Vec<u8>>,
    /// Where the entry comes from, for messages.
    label: String,
}

/// The text corpus. Each line: a check (`=` exact, `V` version line, `*` any
/// one reply), the number of replies, then the request up to the end of the
/// line (leading spaces kept), to which CRLF is appended. An optional
/// ` ==> ` gives the expected reply. Escapes: `\r`, `\n`, `\t`, `\\`,
/// `\xHH`; `<K250>` is a key of 250 `k` bytes. Lines starting with `@` insert
/// generated entries (see `generated`). `#` starts a comment line.
const CORPUS: &str = r#"
# --- storage commands and retrieval ------------------------------------------
= 1 get s:missing ==> END\r\n
= 1 set s:a 0 0 5\r\nhello ==> STORED\r\n
= 1 get s:a ==> VALUE s:a 0 5\r\nhello\r\nEND\r\n
= 1 set s:a 42 0 5\r\nworld ==> STORED\r\n
= 1 get s:a ==> VALUE s:a 42 5\r\nworld\r\nEND\r\n
= 1 add s:a 0 0 1\r\nx ==> NOT_STORED\r\n
= 1 add s:b 1 0 3\r\nnew ==> STORED\r\n
= 1 replace s:missing 0 0 1\r\nx ==> NOT_STORED\r\n
= 1 replace s:b 2 0 4\r\nrepl ==> STORED\r\n
= 1 set s:empty 0 0 0\r\n ==> STORED\r\n
= 1 get s:empty ==> VALUE s:empty 0 0\r\n\r\nEND\r\n
= 1 set s:flags 4294967295 0 1\r\nf ==> STORED\r\n
= 1 get s:flags ==> VALUE s:flags 4294967295 1\r\nf\r\nEND\r\n
= 1 set s:flags2 4294967296 0 1\r\nf ==> STORED\r\n
= 1 get s:flags2 ==> VALUE s:flags2 0 1\r\nf\r\nEND\r\n
= 2 set s:flags2 -1 0 1\r\nf ==> CLIENT_ERROR bad command line format\r\nERROR\r\n
= 1 set s:crlf 0 0 12\r\n\r\nEND\r\nEND\r\n ==> STORED\r\n
= 1 get s:crlf ==> VALUE s:crlf 0 12\r\n\r\nEND\r\nEND\r\n\r\nEND\r\n
= 1 set s:utf8-\xc3\xa9 0 0 2\r\n\xc3\xa9 ==> STORED\r\n
= 1 get s:utf8-\xc3\xa9 ==> VALUE s:utf8-\xc3\xa9 0 2\r\n\xc3\xa9\r\nEND\r\n
= 1 set <K250> 0 0 3\r\nmax ==> STORED\r\n
= 1 get <K250> ==> VALUE <K250> 0 3\r\nmax\r\nEND\r\n
= 1 set s:exp 0 1000 3\r\nttl ==> STORED\r\n
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n
= 1 set s:past 0 -1 4\r\ngone ==> STORED\r\n
= 1 get s:past ==> END\r\n
= 1 get s:a s:b s:missing s:empty s:flags ==> VALUE s:a 42 5\r\nworld\r\nVALUE s:b 2 4\r\nrepl\r\nVALUE s:empty 0 0\r\n\r\nVALUE s:flags 4294967295 1\r\nf\r\nEND\r\n
= 1 get s:flags s:missing s:b s:a
= 1 get s:a s:a s:b s:a ==> VALUE s:a 42 5\r\nworld\r\nVALUE s:a 42 5\r\nworld\r\nVALUE s:b 2 4\r\nrepl\r\nVALUE s:a 42 5\r\nworld\r\nEND\r\n
= 1 get s:missing s:missing2 ==> END\r\n
= 1    get   s:a    s:b\x20\x20
= 1 gets s:a s:b
= 1 gat 0 s:a s:missing s:b
= 1 gats 1000 s:b s:a
= 1 gat 0 s:missing ==> END\r\n
= 1 touch s:a 1000 ==> TOUCHED\r\n
= 1 touch s:missing 1000 ==> NOT_FOUND\r\n
= 1 touch s:a 0 ==> TOUCHED\r\n

# --- append / prepend ---------------------------------------------------------
= 1 append ap:missing 0 0 1\r\nx ==> NOT_STORED\r\n
= 1 prepend ap:missing 0 0 1\r\nx ==> NOT_STORED\r\n
= 1 set ap:a 5 0 3\r\nmid ==> STORED\r\n
= 1 append ap:a 9 0 4\r\n-end ==> STORED\r\n
= 1 prepend ap:a 0 0 6\r\nstart- ==> STORED\r\n
= 1 get ap:a ==> VALUE ap:a 5 13\r\nstart-mid-end\r\nEND\r\n
= 1 append ap:a 0 0 0\r\n ==> STORED\r\n
= 1 gets ap:a

# --- cas ----------------------------------------------------------------------
= 1 gets cas:missing ==> END\r\n
= 1 cas cas:missing 0 0 1 1\r\nx ==> NOT_FOUND\r\n
= 1 set cas:a 0 0 2\r\nv1 ==> STORED\r\n
= 1 gets cas:a
= 1 cas cas:a 3 0 2 $CAS\r\nv2 ==> STORED\r\n
= 1 cas cas:a 0 0 2 $CAS\r\nv3 ==> EXISTS\r\n
= 1 get cas:a ==> VALUE cas:a 3 2\r\nv2\r\nEND\r\n
= 1 gets cas:a
= 0 cas cas:a 0 0 2 $CAS noreply\r\nv4
= 1 get cas:a ==> VALUE cas:a 0 2\r\nv4\r\nEND\r\n
= 1 cas cas:a 0 0 2 0\r\nv5 ==> EXISTS\r\n
= 2 cas cas:a 0 0 2\r\nv6 ==> ERROR\r\nERROR\r\n

# --- incr / decr --------------------------------------------------------------
= 1 incr n:missing 1 ==> NOT_FOUND\r\n
= 1 decr n:missing 1 ==> NOT_FOUND\r\n
= 1 set n:a 0 0 2\r\n10 ==> STORED\r\n
= 1 incr n:a 5 ==> 15\r\n
= 1 decr n:a 3 ==> 12\r\n
= 1 decr n:a 100 ==> 0\r\n
= 1 incr n:a 18446744073709551615 ==> 18446744073709551615\r\n
= 1 incr n:a 2 ==> 1\r\n
= 1 get n:a
= 1 set n:text 0 0 3\r\nabc ==> STORED\r\n
= 1 incr n:text 1 ==> CLIENT_ERROR cannot increment or decrement non-numeric value\r\n
= 1 decr n:text 1 ==> CLIENT_ERROR cannot increment or decrement non-numeric value\r\n
= 1 incr n:a abc ==> CLIENT_ERROR invalid numeric delta argument\r\n
= 1 incr n:a -1 ==> CLIENT_ERROR invalid numeric delta argument\r\n
= 1 set n:wide 0 0 2\r\n99 ==> STORED\r\n
= 1 incr n:wide 1 ==> 100\r\n
= 1 get n:wide ==> VALUE n:wide 0 3\r\n100\r\nEND\r\n
= 1 decr n:wide 1 ==> 99\r\n
= 1 get n:wide
= 0 incr n:wide 1 noreply
= 0 incr n:text 1 noreply
= 1 get n:wide n:text

# --- delete -------------------------------------------------------------------
= 1 delete s:empty ==> DELETED\r\n
= 1 delete s:empty ==> NOT_FOUND\r\n
= 1 delete s:b 0 ==> DELETED\r\n
= 1 delete s:a 5 ==> CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n
= 1 get s:a s:b s:empty ==> VALUE s:a 42 5\r\nworld\r\nEND\r\n
= 0 delete s:a noreply
= 1 get s:a ==> END\r\n

# --- noreply between normal commands --------------------------------------------
= 0 set nr:a 0 0 1 noreply\r\na
= 1 get nr:a ==> VALUE nr:a 0 1\r\na\r\nEND\r\n
= 0 add nr:a 0 0 1 noreply\r\nb
= 0 replace nr:missing 0 0 1 noreply\r\nc
= 0 append nr:a 0 0 1 noreply\r\nd
= 0 prepend nr:a 0 0 1 noreply\r\ne
= 1 get nr:a ==> VALUE nr:a 0 3\r\nead\r\nEND\r\n
= 0 touch nr:a 1000 noreply
= 0 delete nr:missing noreply
= 1 set nr:b 0 0 1\r\nb ==> STORED\r\n
= 0 set nr:c 0 0 1 noreply\r\nc
= 1 delete nr:b ==> DELETED\r\n
= 0 incr nr:missing 1 noreply
= 0 decr nr:a 1 noreply
= 0 delete nr:a 5 noreply
= 1 get nr:a nr:b nr:c ==> VALUE nr:a 0 3\r\nead\r\nVALUE nr:c 0 1\r\nc\r\nEND\r\n
= 1 decr nr:a 1 2 noreply ==> ERROR\r\n
= 1 set nr:d 0 0 1 noreply\r\nabc ==> ERROR\r\n
= 1 get nr:d ==> END\r\n

# --- bad input: memcached's own error lines, the connection goes on ---------------
= 1 bogus ==> ERROR\r\n
= 1 bogus with three args ==> ERROR\r\n
= 1  ==> ERROR\r\n
= 2 SET s:up 0 0 1\r\nx ==> ERROR\r\nERROR\r\n
= 1 GET s:exp ==> ERROR\r\n
= 1 Get s:exp ==> ERROR\r\n
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n
# memcached 1.6 answers two consecutive gets with a too long key, read
# together, with one CLIENT_ERROR: keep another command between them.
= 1 get <K250>k ==> CLIENT_ERROR bad command line format\r\n
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n
= 1 get s:exp <K250>k ==> CLIENT_ERROR bad command line format\r\n
= 2 set <K250>k 0 0 1\r\nx ==> CLIENT_ERROR bad command line format\r\nERROR\r\n
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n
= 1 delete <K250>k ==> CLIENT_ERROR bad command line format\r\n
= 1 incr <K250>k 1 ==> CLIENT_ERROR bad command line format\r\n
= 1 touch <K250>k 1 ==> CLIENT_ERROR bad command line format\r\n
= 2 set s:chunk 0 0 1\r\nabc ==> CLIENT_ERROR bad data chunk\r\nERROR\r\n
= 1 get s:chunk ==> END\r\n
= 2 set s:chunk 0 0 2\r\nab\n ==> CLIENT_ERROR bad data chunk\r\nERROR\r\n
= 1 get s:chunk ==> END\r\n
= 1 set s:neg 0 0 -1 ==> CLIENT_ERROR bad command line format\r\n
= 2 set s:neg x 0 1\r\na ==> CLIENT_ERROR bad command line format\r\nERROR\r\n
= 1 set s:a 0 0 ==> ERROR\r\n
= 1 incr s:a ==> ERROR\r\n
= 1 get ==> ERROR\r\n
= 1 touch s:exp abc ==> CLIENT_ERROR invalid exptime argument\r\n
= 1 gat abc s:exp ==> CLIENT_ERROR invalid exptime argument\r\n
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n
* 1 stats
= 1 version
= 1 get s:exp ==> VALUE s:exp 0 3\r\nttl\r\nEND\r\n

# --- binary values, 1 MB values, 500-key multi-get (generated) ----------------
@binary
@big
@multiget
= 1 get s:exp s:crlf
"#;

/// Decodes the escapes of a corpus field.
fn unescape(text: &str, line: usize) -> Vec<u8> {
    let text = text.replace("<K250>", &"k".repeat(250));
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let esc = *bytes
            .get(i + 1)
            .unwrap_or_else(|| panic!("corpus line {line}: trailing backslash"));
        i += 2;
        match esc {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = std::str::from_utf8(&bytes[i..i + 2]).expect("ascii");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 2;
            }
            _ => panic!("corpus line {line}: unknown escape \\{}", esc as char),
        }
    }
    out
}

/// The corpus as steps, generated entries included.
fn corpus() -> Vec<Step> {
    let mut steps = Vec::new();
    for (n, raw) in CORPUS.lines().enumerate() {
        let line = n + 1;
        if raw.trim().is_empty() || raw.starts_with('#') {
            continue;
        }
        if let Some(name) = raw.strip_prefix('@') {
            steps.extend(generated(name));
            continue;
        }
        let mut parts = raw.splitn(3, ' ');
        let check = match parts.next() {
            Some("=") => Check::Exact,
            Some("V") => Check::Version,
            Some("*") => Check::Any,
            other => panic!("corpus line {line}: bad check {other:?}"),
        };
        let replies = parts
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("corpus line {line}: bad reply count"));
        let rest = parts.next().unwrap_or("");
        let (request, expect) = match rest.split_once(" ==> ") {
            Some((r, e)) => (r, Some(unescape(e, line))),
            None => (rest, None),
        };
        let mut request = unescape(request, line);
        request.extend_from_slice(b"\r\n");
        steps.push(Step {
            check,
            replies,
            request,
            expect,
            label: format!("corpus line {line}"),
        });
    }
    steps
}

/// A storage request with a data block.
fn storage(cmd: &str, key: &str, flags: u32, data: &[u8], noreply: bool) -> Vec<u8> {
    let mut r = format!(
        "{cmd} {key} {flags} 0 {}{}\r\n",
        data.len(),
        if noreply { " noreply" } else { "" }
    )
    .into_bytes();
    r.extend_from_slice(data);
    r.extend_from_slice(b"\r\n");
    r
}

/// One `VALUE` block as memcached writes it (without the final `END`).
fn value_block(key: &str, flags: u32, data: &[u8]) -> Vec<u8> {
    let mut r = format!("VALUE {key} {flags} {}\r\n", data.len()).into_bytes();
    r.extend_from_slice(data);
    r.extend_from_slice(b"\r\n");
    r
}

/// Entries too large or too many to write by hand.
fn generated(name: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut push = |replies: usize, request: Vec<u8>, expect: Option<Vec<u8>>, what: String| {
        steps.push(Step {
            check: Check::Exact,
            replies,
            request,
            expect,
            label: format!("@{name}: {what}"),
        });
    };
    let stored = || Some(b"STORED\r\n".to_vec());
    match name {
        "binary" => {
            let all: Vec<u8> = (0..=255u8).collect();
            let rev: Vec<u8> = (0..=255u8).rev().collect();
            // Data that looks like protocol: it must be skipped, not parsed.
            let tricky = b"END\r\nVALUE x 0 1\r\nx\r\nEND\r\nSTORED\r\n\0".to_vec();
            push(
                1,
                storage("set", "bin:all", 7, &all, false),
                stored(),
                "set all bytes".into(),
            );
            let mut both = all.clone();
            both.extend_from_slice(&rev);
            let mut expect = value_block("bin:all", 7, &all);
            expect.extend_from_slice(b"END\r\n");
            push(
                1,
                b"get bin:all\r\n".to_vec(),
                Some(expect),
                "get all bytes".into(),
            );
            push(
                1,
                storage("append", "bin:all", 0, &rev, false),
                stored(),
                "append reversed".into(),
            );
            push(
                1,
                storage("set", "bin:tricky", 1, &tricky, false),
                stored(),
                "set protocol-like data".into(),
            );
            let mut expect = value_block("bin:all", 7, &both);
            expect.extend(value_block("bin:tricky", 1, &tricky));
            expect.extend_from_slice(b"END\r\n");
            push(
                1,
                b"get bin:all bin:tricky\r\n".to_vec(),
                Some(expect),
                "get both".into(),
            );
            push(
                1,
                b"gets bin:tricky bin:all\r\n".to_vec(),
                None,
                "gets both".into(),
            );
        }
        "big" => {
            let big: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 + 7) as u8).collect();
            let too_big = vec![b'z'; 3 << 20];
            push(
                1,
                storage("set", "big:1m", 3, &big, false),
                stored(),
                "set 1 MB".into(),
            );
            let mut expect = value_block("big:1m", 3, &big);
            expect.extend_from_slice(b"END\r\n");
            push(
                1,
                b"get big:1m\r\n".to_vec(),
                Some(expect),
                "get 1 MB".into(),
            );
            push(
                1,
                storage("append", "big:1m", 0, b"0123456789", false),
                stored(),
                "append to 1 MB".into(),
            );
            push(
                1,
                b"get s:missing big:1m s:exp big:1m\r\n".to_vec(),
                None,
                "get 1 MB twice".into(),
            );
            push(
                1,
                storage("set", "big:3m", 0, &too_big, false),
                Some(b"SERVER_ERROR object too large for cache\r\n".to_vec()),
                "set 3 MB".into(),
            );
            push(
                1,
                b"get big:3m\r\n".to_vec(),
                Some(b"END\r\n".to_vec()),
                "get 3 MB".into(),
            );
            push(
                0,
                storage("set", "big:3m", 0, &too_big, true),
                None,
                "set 3 MB noreply".into(),
            );
            push(
                1,
                b"get big:3m s:exp\r\n".to_vec(),
                Some(b"VALUE s:exp 0 3\r\nttl\r\nEND\r\n".to_vec()),
                "get after 3 MB noreply".into(),
            );
            push(
                1,
                storage("set", "big:1m", 0, &big, false),
                stored(),
                "set 1 MB again".into(),
            );
            push(1, b"gets big:1m\r\n".to_vec(), None, "gets 1 MB".into());
        }
        "multiget" => {
            // Even keys are stored (every fourth with noreply), odd ones miss.
            for i in (0..500).step_by(2) {
                let data = format!("value-{i}-").repeat(i % 7 + 1);
                let noreply = i.is_multiple_of(4);
                push(
                    usize::from(!noreply),
                    storage(
                        "set",
                        &format!("mg:{i}"),
                        i as u32,
                        data.as_bytes(),
                        noreply,
                    ),
                    if noreply { None } else { stored() },
                    format!("set mg:{i}"),
                );
            }
            let keys = |order: &mut dyn Iterator<Item = usize>| -> (Vec<u8>, Vec<u8>) {
                let mut req = b"get".to_vec();
                let mut expect = Vec::new();
                for i in order {
                    req.extend_from_slice(format!(" mg:{i}").as_bytes());
                    if i.is_multiple_of(2) {
                        let data = format!("value-{i}-").repeat(i % 7 + 1);
                        expect.extend(value_block(&format!("mg:{i}"), i as u32, data.as_bytes()));
                    }
                }
                req.extend_from_slice(b"\r\n");
                expect.extend_from_slice(b"END\r\n");
                (req, expect)
            };
            let (req, expect) = keys(&mut (0..500));
            push(1, req, Some(expect), "get 500 keys".into());
            let (req, expect) = keys(&mut (0..500).rev());
            push(1, req, Some(expect), "get 500 keys reversed".into());
            let (req, expect) = keys(&mut (0..500).map(|i| i * 7919 % 500));
            push(1, req, Some(expect), "get 500 keys shuffled".into());
            let (req, _) = keys(&mut (0..500).map(|i| i * 331 % 500));
            let mut gets = b"gets".to_vec();
            gets.extend_from_slice(&req[3..]);
            push(1, gets, None, "gets 500 keys".into());
        }
        _ => panic!("unknown generator @{name}"),
    }
    steps
}

/// The cas unique of the last `VALUE` line with one, if any.
fn last_cas(reply: &[u8]) -> Option<Vec<u8>> {
    let mut found = None;
    let mut at = 0;
    while at < reply.len() {
        let eol = reply[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let line = &reply[at..eol];
        if let Some(rest) = line.strip_prefix(b"VALUE ") {
            let tokens: Vec<&[u8]> = rest.split(|&b| b == b' ').collect();
            let len: usize = std::str::from_utf8(tokens[2]).ok()?.parse().ok()?;
            if let Some(cas) = tokens.get(3) {
                found = Some(cas.to_vec());
            }
            at = eol + 2 + len + 2;
        } else {
            at = eol + 2;
        }
    }
    found
}

/// Replaces every `$CAS` in `request` with `cas`.
fn with_cas(request: &[u8], cas: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(request.len());
    let mut i = 0;
    while i < request.len() {
        if request[i..].starts_with(b"$CAS") {
            out.extend_from_slice(cas);
            i += 4;
        } else {
            out.push(request[i]);
            i += 1;
        }
    }
    out
}

/// A proxy in front of one memcached, and a second memcached used directly.
struct Pair {
    _backend: MemcachedServer,
    direct: MemcachedServer,
    proxy: Dynomite,
}

impl Pair {
    fn start() -> Pair {
        let backend = MemcachedServer::start();
        let direct = MemcachedServer::start();
        let proxy = Dynomite::start_memcached(&[backend.port()]);
        Pair {
            _backend: backend,
            direct,
            proxy,
        }
    }
}

/// Compares the replies of one step (proxy, direct).
fn compare(step: &Step, request: &[u8], proxied: &[Vec<u8>], direct: &[Vec<u8>], mode: &str) {
    let context = || {
        format!(
            "{mode}, {}: request \"{}\"\n proxy: \"{}\"\ndirect: \"{}\"",
            step.label,
            show(request),
            show(&proxied.concat()),
            show(&direct.concat())
        )
    };
    match step.check {
        Check::Exact => {
            if let Some(expect) = &step.expect {
                assert!(
                    direct.concat() == *expect,
                    "the corpus expects \"{}\" ({})",
                    show(expect),
                    context()
                );
            }
            assert!(proxied == direct, "replies differ ({})", context());
        }
        Check::Version => {
            for r in proxied.iter().chain(direct) {
                assert!(
                    r.starts_with(b"VERSION ") && r.ends_with(b"\r\n"),
                    "not a version line ({})",
                    context()
                );
            }
        }
        Check::Any => {}
    }
}

/// Reads `n` replies, failing the test with `what` on error.
fn read_n(c: &mut McClient, n: usize, what: &str) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            c.try_read_reply()
                .unwrap_or_else(|e| panic!("{what}: reply {} of {n}: {e}", i + 1))
        })
        .collect()
}

/// Sends the corpus one request at a time (each request's replies read
/// before the next is sent). Returns the requests as sent to the direct
/// memcached (`$CAS` filled in).
fn run_one_at_a_time(steps: &[Step]) -> Vec<Vec<u8>> {
    let pair = Pair::start();
    let mut p = pair.proxy.mc_client();
    let mut d = pair.direct.client();
    let (mut p_cas, mut d_cas) = (b"0".to_vec(), b"0".to_vec());
    let mut sent = Vec::with_capacity(steps.len());
    for step in steps {
        let p_req = with_cas(&step.request, &p_cas);
        let d_req = with_cas(&step.request, &d_cas);
        p.send(&p_req);
        d.send(&d_req);
        let pr = read_n(&mut p, step.replies, &format!("proxy, {}", step.label));
        let dr = read_n(&mut d, step.replies, &format!("direct, {}", step.label));
        compare(step, &d_req, &pr, &dr, "one at a time");
        if let Some(cas) = pr.last().and_then(|r| last_cas(r)) {
            p_cas = cas;
        }
        if let Some(cas) = dr.last().and_then(|r| last_cas(r)) {
            d_cas = cas;
        }
        sent.push(d_req);
    }
    // Nothing extra may follow the last reply.
    for (who, c) in [("proxy", &mut p), ("direct", &mut d)] {
        assert_eq!(
            c.cmd(b"get end:of:corpus\r\n"),
            b"END\r\n",
            "{who}: stray bytes after the corpus"
        );
    }
    sent
}

/// What one side answered to the pipelined corpus.
struct Pipelined {
    /// The replies of each step.
    replies: Vec<Vec<Vec<u8>>>,
    /// The reply to the closing `get`, which must be a bare `END`.
    trailer: Result<Vec<u8>, String>,
}

/// Sends all `requests` in one write (from a second thread, so that neither
/// side blocks on a full socket buffer) and reads every reply.
fn send_pipelined(c: &mut McClient, requests: &[Vec<u8>], steps: &[Step]) -> Pipelined {
    let mut all = requests.concat();
    all.extend_from_slice(b"get end:of:corpus\r\n");
    let mut w = c.writer();
    let writer = thread::spawn(move || w.write_all(&all));
    let replies = steps
        .iter()
        .map(|s| read_n(c, s.replies, &format!("pipelined, {}", s.label)))
        .collect();
    let trailer = c.try_read_reply().map_err(|e| e.to_string());
    writer
        .join()
        .expect("writer thread")
        .expect("write the pipeline");
    Pipelined { replies, trailer }
}

#[test]
fn differential_corpus_one_at_a_time_and_pipelined() {
    let steps = corpus();
    assert!(steps.len() >= 80, "corpus has {} entries", steps.len());
    let requests = run_one_at_a_time(&steps);

    // Fresh servers see the same requests in the same order, so the cas
    // uniques learnt above are valid again.
    let pair = Pair::start();
    let (mut p, mut d) = (pair.proxy.mc_client(), pair.direct.client());
    let (proxied, direct) = thread::scope(|s| {
        let h = s.spawn(|| send_pipelined(&mut d, &requests, &steps));
        let proxied = send_pipelined(&mut p, &requests, &steps);
        (proxied, h.join().expect("direct pipeline"))
    });
    for (i, step) in steps.iter().enumerate() {
        compare(
            step,
            &requests[i],
            &proxied.replies[i],
            &direct.replies[i],
            "pipelined",
        );
    }
    for (who, side) in [("proxy", &proxied), ("direct", &direct)] {
        assert_eq!(
            side.trailer.as_deref().map(show),
            Ok(show(b"END\r\n")),
            "{who}: the reply after the pipelined corpus"
        );
    }
}

// ---------------------------------------------------------------------------
// behaviour around the corpus
// ---------------------------------------------------------------------------

#[test]
fn version_is_the_datastores() {
    // libmemcached and php-memcached parse `VERSION <major>.<minor>.<patch>`:
    // the node answers with its datastore's own line.
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut c = proxy.mc_client();
    let want = backend.client().cmd(b"version\r\n");
    assert!(want.starts_with(b"VERSION 1."), "{}", show(&want));
    assert_eq!(c.cmd(b"version\r\n"), want);
    assert_eq!(c.cmd(b"get v\r\n"), b"END\r\n");
}

#[test]
fn keys_with_control_characters_are_refused_and_the_connection_goes_on() {
    if direct_mode() {
        // memcached itself takes them.
        return;
    }
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut c = proxy.mc_client();
    let bad = b"CLIENT_ERROR bad command line format\r\n";
    assert_eq!(c.cmd(b"get a\x01b\r\n"), bad);
    assert_eq!(c.cmd(b"get ok a\x7fb\r\n"), bad);
    assert_eq!(c.cmd(b"delete a\x1bb\r\n"), bad);
    assert_eq!(c.cmd(b"set ok 0 0 2\r\nok\r\n"), b"STORED\r\n");
    assert_eq!(c.cmd(b"get ok\r\n"), b"VALUE ok 0 2\r\nok\r\nEND\r\n");
    // Nothing reached memcached under such a key.
    let mut d = backend.client();
    assert_eq!(d.cmd(b"get a\x01b a\x7fb\r\n"), b"END\r\n");
}

/// Reads until the peer closes (within `timeout`); returns every byte
/// received, or fails when the connection stays open.
fn read_to_close(c: &mut McClient, timeout: Duration, who: &str) -> Vec<u8> {
    assert!(
        c.wait_closed(timeout),
        "{who}: connection still open, received \"{}\"",
        show(c.pending())
    );
    c.pending().to_vec()
}

#[test]
fn quit_closes_without_a_reply() {
    let backend = MemcachedServer::start();
    let direct = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let cases: [(&[u8], &[u8]); 4] = [
        (b"quit\r\n", b""),
        (b"set q 0 0 1\r\nx\r\nquit\r\nget q\r\n", b"STORED\r\n"),
        (
            b"get q\r\nset q 0 0 1 noreply\r\ny\r\nquit\r\nset q 0 0 1\r\nz\r\n",
            b"VALUE q 0 1\r\nx\r\nEND\r\n",
        ),
        (b"bogus\r\nquit\r\nbogus\r\n", b"ERROR\r\n"),
    ];
    for (request, expect) in cases {
        for (who, port) in [("proxy", proxy.port()), ("direct", direct.port())] {
            let mut c = McClient::connect(port);
            c.send(request);
            let got = read_to_close(&mut c, Duration::from_secs(5), who);
            assert_eq!(
                got,
                expect,
                "{who}: \"{}\" got \"{}\"",
                show(request),
                show(&got)
            );
        }
    }
    // Requests after quit were not executed.
    let mut c = proxy.mc_client();
    assert_eq!(c.cmd(b"get q\r\n"), b"VALUE q 0 1\r\ny\r\nEND\r\n");
}

// ---------------------------------------------------------------------------
// two shards
// ---------------------------------------------------------------------------

/// Parses a retrieval reply into (key, flags, data, cas) blocks and checks it
/// ends with exactly one `END`.
fn parse_values(reply: &[u8]) -> Vec<(String, String, Vec<u8>, Option<String>)> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let eol = reply[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("unterminated reply \"{}\"", show(reply)))
            + at;
        let line = String::from_utf8_lossy(&reply[at..eol]).into_owned();
        if line == "END" {
            assert_eq!(eol + 2, reply.len(), "bytes after END: \"{}\"", show(reply));
            return out;
        }
        let t: Vec<&str> = line.split(' ').collect();
        assert!(
            t[0] == "VALUE" && (t.len() == 4 || t.len() == 5),
            "bad line {line:?} in \"{}\"",
            show(reply)
        );
        let len: usize = t[3].parse().expect("length");
        let data = reply[eol + 2..eol + 2 + len].to_vec();
        out.push((
            t[1].to_string(),
            t[2].to_string(),
            data,
            t.get(4).map(|s| s.to_string()),
        ));
        at = eol + 2 + len + 2;
    }
}

#[test]
fn multi_get_over_two_shards_keeps_the_client_key_order() {
    if direct_mode() {
        return;
    }
    let a = MemcachedServer::start();
    let b = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[a.port(), b.port()]);
    let mut c = proxy.mc_client();
    let key = |i: usize| format!("shard:{i}");
    let value = |i: usize| format!("v{i}").repeat(i % 5 + 1);
    // Every third key is never stored.
    let stored = |i: usize| !i.is_multiple_of(3);
    let mut pipeline = Vec::new();
    for i in (0..120).filter(|&i| stored(i)) {
        pipeline.extend(storage(
            "set",
            &key(i),
            i as u32,
            value(i).as_bytes(),
            false,
        ));
    }
    c.send(&pipeline);
    for i in (0..120).filter(|&i| stored(i)) {
        assert_eq!(c.read_reply(), b"STORED\r\n", "set {}", key(i));
    }

    // Each key lives in exactly one backend, and both hold some.
    let (mut da, mut db) = (a.client(), b.client());
    let (mut on_a, mut on_b) = (0, 0);
    for i in 0..120 {
        let req = format!("get {}\r\n", key(i));
        let in_a = da.cmd(req.as_bytes()) != b"END\r\n";
        let in_b = db.cmd(req.as_bytes()) != b"END\r\n";
        if stored(i) {
            assert!(in_a ^ in_b, "{} in a: {in_a}, in b: {in_b}", key(i));
        } else {
            assert!(!in_a && !in_b, "{} was never stored", key(i));
        }
        on_a += usize::from(in_a);
        on_b += usize::from(in_b);
    }
    assert!(on_a > 0 && on_b > 0, "keys per shard: {on_a} and {on_b}");

    // Orders: natural, reversed, interleaved; with misses and a repeat.
    let orders: Vec<Vec<usize>> = vec![
        (0..120).collect(),
        (0..120).rev().collect(),
        (0..120).map(|i| i * 37 % 120).collect(),
        vec![5, 0, 5, 7, 3, 119, 1, 2],
    ];
    for order in &orders {
        let mut req = b"get".to_vec();
        let mut expect = Vec::new();
        for &i in order {
            req.extend_from_slice(format!(" {}", key(i)).as_bytes());
            if stored(i) {
                expect.extend(value_block(&key(i), i as u32, value(i).as_bytes()));
            }
        }
        req.extend_from_slice(b"\r\n");
        expect.extend_from_slice(b"END\r\n");
        let got = c.cmd(&req);
        assert!(
            got == expect,
            "get of {} keys: got \"{}\", expected \"{}\"",
            order.len(),
            show(&got),
            show(&expect)
        );

        // gets: same order, and each unique is the owning backend's.
        let mut gets = b"gets".to_vec();
        gets.extend_from_slice(&req[3..]);
        let blocks = parse_values(&c.cmd(&gets));
        let want: Vec<String> = order
            .iter()
            .filter(|&&i| stored(i))
            .map(|&i| key(i))
            .collect();
        let got_keys: Vec<String> = blocks.iter().map(|b| b.0.clone()).collect();
        assert_eq!(got_keys, want, "gets key order");
        let mut gat = b"gat 1000".to_vec();
        gat.extend_from_slice(&req[3..]);
        let gat_keys: Vec<String> = parse_values(&c.cmd(&gat))
            .into_iter()
            .map(|b| b.0)
            .collect();
        assert_eq!(gat_keys, want, "gat key order");
        for (k, flags, data, cas) in &blocks {
            let req = format!("gets {k}\r\n");
            let (ra, rb) = (da.cmd(req.as_bytes()), db.cmd(req.as_bytes()));
            let owner = if ra != b"END\r\n" { ra } else { rb };
            let direct = parse_values(&owner);
            assert_eq!(
                direct,
                vec![(k.clone(), flags.clone(), data.clone(), cas.clone())],
                "gets {k} through the proxy and from its backend"
            );
        }
    }

    // Split gets pipelined with other commands: replies stay in order.
    let mut req = Vec::new();
    req.extend_from_slice(b"get shard:1 shard:2 shard:4\r\n");
    req.extend_from_slice(b"set shard:new 0 0 1 noreply\r\nn\r\n");
    req.extend_from_slice(b"get shard:0 shard:new shard:1\r\n");
    req.extend_from_slice(b"delete shard:new\r\n");
    req.extend_from_slice(b"get shard:5 shard:0 shard:3\r\n");
    c.send(&req);
    let mut expect_first = value_block(&key(1), 1, value(1).as_bytes());
    expect_first.extend(value_block(&key(2), 2, value(2).as_bytes()));
    expect_first.extend(value_block(&key(4), 4, value(4).as_bytes()));
    expect_first.extend_from_slice(b"END\r\n");
    assert_eq!(show(&c.read_reply()), show(&expect_first));
    let mut expect = value_block("shard:new", 0, b"n");
    expect.extend(value_block(&key(1), 1, value(1).as_bytes()));
    expect.extend_from_slice(b"END\r\n");
    assert_eq!(show(&c.read_reply()), show(&expect));
    assert_eq!(show(&c.read_reply()), show(b"DELETED\r\n"));
    let mut expect = value_block(&key(5), 5, value(5).as_bytes());
    expect.extend_from_slice(b"END\r\n");
    assert_eq!(show(&c.read_reply()), show(&expect));
}

// ---------------------------------------------------------------------------
// datastore failures
// ---------------------------------------------------------------------------

/// Sets `shard:<i>` through `c` until each of `a` and `b` holds one; returns
/// (a key stored on `a`, a key stored on `b`).
fn key_per_shard(c: &mut McClient, a: &mut McClient, b: &mut McClient) -> (String, String) {
    let (mut on_a, mut on_b) = (None, None);
    for i in 0..200 {
        let key = format!("shard:{i}");
        assert_eq!(
            c.cmd(&storage("set", &key, 0, key.as_bytes(), false)),
            b"STORED\r\n"
        );
        if holds(a, &key) {
            on_a.get_or_insert(key);
        } else if holds(b, &key) {
            on_b.get_or_insert(key);
        }
        if let (Some(ka), Some(kb)) = (&on_a, &on_b) {
            return (ka.clone(), kb.clone());
        }
    }
    panic!("200 keys did not reach both shards");
}

#[test]
fn multi_get_with_a_failed_shard_is_an_error_not_a_miss() {
    if direct_mode() {
        return;
    }
    let a = MemcachedServer::start();
    let mut b = MemcachedServer::start();
    let proxy = Dynomite::start_memcached_with(
        &[a.port(), b.port()],
        &[("timeout", "200"), ("server_retry_timeout", "1000")],
        &[],
    );
    let mut c = proxy.mc_client();
    let (ka, kb) = key_per_shard(&mut c, &mut a.client(), &mut b.client());
    let both = format!("get {ka} {kb}\r\n");
    let mut expect = value_block(&ka, 0, ka.as_bytes());
    expect.extend(value_block(&kb, 0, kb.as_bytes()));
    expect.extend_from_slice(b"END\r\n");
    assert_eq!(show(&c.cmd(both.as_bytes())), show(&expect));

    // The shard holding `kb` does not answer in time: its keys must not be
    // reported as misses.
    b.pause();
    let reply = c.cmd(both.as_bytes());
    b.resume();
    assert_eq!(
        show(&reply),
        show(TIMED_OUT),
        "get of a key per shard while one shard stalls"
    );
    assert_eq!(show(&c.cmd(both.as_bytes())), show(&expect));

    // The shard is gone.
    b.kill();
    for request in [both.clone(), format!("gets {kb} {ka}\r\n")] {
        let reply = c.cmd(request.as_bytes());
        assert_eq!(
            show(&reply),
            show(REFUSED),
            "\"{}\" while one shard is down",
            show(request.as_bytes())
        );
    }
}

#[test]
fn requests_split_into_single_bytes_and_half_close() {
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut c = proxy.mc_client();
    let pipeline: &[u8] =
        b"set one 1 0 3\r\na\rb\r\nget one\r\nbogus\r\nset two 0 0 1 noreply\r\n2\r\nget two one\r\n";
    for &byte in pipeline {
        c.send(&[byte]);
    }
    assert_eq!(c.read_reply(), b"STORED\r\n");
    assert_eq!(c.read_reply(), b"VALUE one 1 3\r\na\rb\r\nEND\r\n");
    assert_eq!(c.read_reply(), b"ERROR\r\n");
    assert_eq!(
        c.read_reply(),
        b"VALUE two 0 1\r\n2\r\nVALUE one 1 3\r\na\rb\r\nEND\r\n"
    );

    // After a half-close the replies owed are delivered, an incomplete
    // trailing request is dropped, then the connection closes.
    let mut h = proxy.mc_client();
    h.send(b"set hc 0 0 2\r\nhc\r\nget hc one\r\nget h");
    h.writer()
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    let got = read_to_close(&mut h, Duration::from_secs(5), "half-closed client");
    assert_eq!(
        show(&got),
        show(b"STORED\r\nVALUE hc 0 2\r\nhc\r\nVALUE one 1 3\r\na\rb\r\nEND\r\n")
    );
}

/// What the traffic threads saw.
#[derive(Default)]
struct Traffic {
    ok: AtomicUsize,
    errors: AtomicUsize,
    /// Replies that are neither right nor a storage error, and hangs.
    bad: Mutex<Vec<String>>,
}

/// Sends `set` + `get` pairs through `port` until `stop`, recording what
/// came back in `seen`.
fn traffic(port: u16, id: usize, stop: Arc<AtomicBool>, seen: Arc<Traffic>) {
    let mut c = McClient::connect(port);
    c.set_read_timeout(Duration::from_secs(5));
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let key = format!("t{id}:{n}");
        let data = format!("{id}-{n}");
        let mut req = storage("set", &key, 0, data.as_bytes(), false);
        req.extend_from_slice(format!("get {key}\r\n").as_bytes());
        c.send(&req);
        let mut stored = false;
        for what in ["set", "get"] {
            let reply = match c.try_read_reply() {
                Ok(r) => r,
                Err(e) => {
                    seen.bad.lock().unwrap().push(format!("{what} {key}: {e}"));
                    return;
                }
            };
            let mut value = value_block(&key, 0, data.as_bytes());
            value.extend_from_slice(b"END\r\n");
            if reply == REFUSED || reply == TIMED_OUT {
                seen.errors.fetch_add(1, Ordering::Relaxed);
            } else if what == "set" && reply == b"STORED\r\n" {
                stored = true;
                seen.ok.fetch_add(1, Ordering::Relaxed);
            } else if what == "get" && (reply == value || (!stored && reply == b"END\r\n")) {
                seen.ok.fetch_add(1, Ordering::Relaxed);
            } else {
                seen.bad
                    .lock()
                    .unwrap()
                    .push(format!("{what} {key}: \"{}\"", show(&reply)));
            }
        }
    }
}

#[test]
fn memcached_killed_under_traffic_then_restarted() {
    if direct_mode() {
        return;
    }
    let mut backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached_with(
        &[backend.port()],
        &[("server_retry_timeout", "1000"), ("timeout", "1000")],
        &[],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Traffic::default());
    let workers: Vec<_> = (0..2)
        .map(|id| {
            let (stop, seen, port) = (stop.clone(), seen.clone(), proxy.port());
            thread::spawn(move || traffic(port, id, stop, seen))
        })
        .collect();
    let no_bad = |seen: &Traffic| seen.bad.lock().unwrap().is_empty();

    wait_for(Duration::from_secs(10), "traffic to flow", || {
        seen.ok.load(Ordering::Relaxed) >= 50
    });
    backend.kill();
    let errors = seen.errors.load(Ordering::Relaxed);
    wait_for(Duration::from_secs(5), "storage errors", || {
        seen.errors.load(Ordering::Relaxed) >= errors + 10 || !no_bad(&seen)
    });
    assert!(no_bad(&seen), "{:?}", seen.bad.lock().unwrap());
    // A new client is answered at once too.
    let mut c = proxy.mc_client();
    c.set_read_timeout(Duration::from_secs(3));
    assert_eq!(show(&c.cmd(b"get k\r\n")), show(REFUSED));

    backend.restart();
    let ok = seen.ok.load(Ordering::Relaxed);
    wait_for(Duration::from_secs(10), "service to resume", || {
        seen.ok.load(Ordering::Relaxed) >= ok + 50 || !no_bad(&seen)
    });
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("traffic thread");
    }
    assert!(no_bad(&seen), "{:?}", seen.bad.lock().unwrap());
    assert_eq!(c.cmd(b"set k 0 0 1\r\nk\r\n"), b"STORED\r\n");
    assert_eq!(c.cmd(b"get k\r\n"), b"VALUE k 0 1\r\nk\r\nEND\r\n");
}

#[test]
fn a_datastore_timeout_fails_that_request_alone() {
    if direct_mode() {
        return;
    }
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached_with(&[backend.port()], &[("timeout", "200")], &[]);
    let mut c = proxy.mc_client();
    assert_eq!(c.cmd(b"set a 0 0 1\r\na\r\n"), b"STORED\r\n");
    assert_eq!(c.cmd(b"set b 0 0 1\r\nb\r\n"), b"STORED\r\n");

    backend.pause();
    let t = Instant::now();
    let reply = c.cmd(b"get a\r\n");
    let waited = t.elapsed();
    backend.resume();
    assert_eq!(show(&reply), show(TIMED_OUT));
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(2),
        "the timeout fired after {waited:?}"
    );

    // The late reply to `get a` is not handed to the next request, and the
    // datastore connection was kept: the next request is served at once.
    assert_eq!(
        show(&c.cmd(b"get b\r\n")),
        show(b"VALUE b 0 1\r\nb\r\nEND\r\n")
    );
    assert_eq!(
        show(&c.cmd(b"get a b\r\n")),
        show(b"VALUE a 0 1\r\na\r\nVALUE b 0 1\r\nb\r\nEND\r\n")
    );
    let mut other = proxy.mc_client();
    assert_eq!(
        other.cmd(b"incr a 1\r\n"),
        b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(other.cmd(b"delete b\r\n"), b"DELETED\r\n");
}

// ---------------------------------------------------------------------------
// a client library
// ---------------------------------------------------------------------------

#[test]
fn pymemcache_client() {
    let hint = format!("pymemcache is required: pip install pymemcache (or {INSTALL_HINT})");
    python_module_version("pymemcache", &hint);

    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let port = proxy.port().to_string();
    let stdout = run_client("python3", &["memcache_check.py", &port]);
    assert!(
        stdout.contains("pymemcache: all checks passed"),
        "output:\n{stdout}"
    );
}

// ---------------------------------------------------------------------------
// two racks
// ---------------------------------------------------------------------------

/// True when memcached on `server` holds `key`.
pub(crate) fn holds(server: &mut McClient, key: &str) -> bool {
    server.cmd(format!("get {key}\r\n").as_bytes()) != b"END\r\n"
}

/// A node of a one-datacenter cluster of memcached nodes with token 0.
pub(crate) fn rack_node(
    backend: &MemcachedServer,
    rack: &str,
    dyn_port: u16,
    peer: &str,
) -> Dynomite {
    let listen = conf::addr(dyn_port);
    Dynomite::start_memcached_with(
        &[backend.port()],
        &[
            ("dyn_listen", &listen),
            ("tokens", "'0'"),
            ("rack", rack),
            ("datacenter", "dc1"),
            ("read_consistency", "DC_ONE"),
            ("write_consistency", "DC_ONE"),
        ],
        &[peer.to_string()],
    )
}

#[test]
fn two_racks_replicate_sets() {
    if direct_mode() {
        return;
    }
    let (ma, mb) = (MemcachedServer::start(), MemcachedServer::start());
    let (pa, pb) = (free_port(), free_port());
    let a = rack_node(&ma, "rack1", pa, &conf::seed(pb, "rack2", "dc1", "0"));
    let b = rack_node(&mb, "rack2", pb, &conf::seed(pa, "rack1", "dc1", "0"));
    let (mut da, mut db) = (ma.client(), mb.client());

    // Wait until each node replicates to the other.
    let mut n = 0;
    for (from, to) in [(&a, &mut db), (&b, &mut da)] {
        let mut c = from.mc_client();
        wait_for(Duration::from_secs(30), "the peers to connect", || {
            n += 1;
            let key = format!("ready:{n}");
            assert_eq!(
                c.cmd(format!("set {key} 0 0 1\r\nr\r\n").as_bytes()),
                b"STORED\r\n"
            );
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                if holds(to, &key) {
                    return true;
                }
                thread::sleep(Duration::from_millis(10));
            }
            false
        });
    }

    let mut ca = a.mc_client();
    let mut cb = b.mc_client();
    let mut req = Vec::new();
    for i in 0..20 {
        req.extend(storage(
            "set",
            &format!("rk:{i}"),
            i,
            format!("val{i}").as_bytes(),
            i.is_multiple_of(2),
        ));
    }
    ca.send(&req);
    for _ in 0..10 {
        assert_eq!(ca.read_reply(), b"STORED\r\n");
    }
    let mut get = b"get".to_vec();
    let mut expect = Vec::new();
    for i in (0..20).rev() {
        get.extend_from_slice(format!(" rk:{i}").as_bytes());
        expect.extend(value_block(
            &format!("rk:{i}"),
            i,
            format!("val{i}").as_bytes(),
        ));
    }
    get.extend_from_slice(b"\r\n");
    expect.extend_from_slice(b"END\r\n");
    let mut last = Vec::new();
    wait_for(Duration::from_secs(5), "the sets to reach rack2", || {
        last = cb.cmd(&get);
        last == expect
    });
    assert_eq!(ca.cmd(&get), expect, "read through the writing node");
    for i in 0..20 {
        let key = format!("rk:{i}");
        assert!(holds(&mut da, &key), "{key} missing in rack1's memcached");
        assert!(holds(&mut db, &key), "{key} missing in rack2's memcached");
    }
}
