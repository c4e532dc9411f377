//! Differential run against plain redis (the habit of dynomite's
//! `test/dual_run.py`): a fixed corpus of commands is sent in order to
//! (a) a redis directly and (b) the proxy in front of a second, fresh redis,
//! and every pair of replies is compared byte for byte.
//!
//! Only replies that may legitimately differ are compared loosely: TTLs (by a
//! small tolerance; the corpus uses large TTLs) and errors for unknown
//! commands or wrong arity (the proxy may word those itself: only the `-ERR`
//! prefix is compared, and a PING afterwards must still be answered).

use crate::harness::{encode, pattern, show, Client, Dynomite, RedisServer};
use std::io::Write;
use std::thread;

/// How a pair of replies is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// Byte for byte.
    Exact,
    /// Both are errors starting with `-ERR`; the connection stays usable.
    ErrPrefix,
    /// Both are integers differing by at most this much (TTLs).
    Approx(i64),
}

/// One corpus entry.
struct Step {
    check: Check,
    args: Vec<Vec<u8>>,
    /// Line of the corpus text, for messages.
    line: usize,
}

/// The text corpus. Each line: a check (`=` exact, `E` error prefix, `~N`
/// integer within N), then the command. Tokens are separated by spaces; a
/// token in double quotes may contain spaces and the escapes `\xHH`, `\r`,
/// `\n`, `\t`, `\0`, `\\` and `\"`. `#` starts a comment line.
const CORPUS: &str = r#"
# --- connection ---------------------------------------------------------
= PING
= PING "hello world"
= CONFIG GET maxmemory-policy

# --- strings ------------------------------------------------------------
= GET str:missing
= SET str:a hello
= GET str:a
= SET str:a world XX GET
= GET str:a
= SET str:b v NX
= SET str:b v2 NX
= SET str:c 1 XX
= SETNX str:d first
= SETNX str:d second
= GETSET str:d third
= GET str:d
= APPEND str:d "-tail"
= APPEND str:new abc
= STRLEN str:d
= STRLEN str:missing
= GETRANGE str:d 0 3
= GETRANGE str:d -4 -1
= GETRANGE str:d 100 200
= SETRANGE str:d 2 XYZ
= GET str:d
= SETRANGE str:pad 5 "\x00\xff"
= GET str:pad
= SET num:a 10
= INCR num:a
= INCRBY num:a 5
= DECR num:a
= DECRBY num:a 20
= INCR num:new
= INCRBYFLOAT num:f 10.5
= INCRBYFLOAT num:f -0.25
= INCRBYFLOAT num:f 5.0e3
= GET num:f
= SET num:big 9223372036854775807
= INCR num:big
= INCR str:a
= INCRBYFLOAT str:a 1
= SET str:opt v EX notanumber
= SET str:opt v XX NX
= TYPE str:a
= TYPE str:missing
= DUMP str:a
= DUMP num:a
= DUMP str:missing
= KEYS str:a
= KEYS nomatch*

# --- multi-key ----------------------------------------------------------
= MSET m:1 one m:2 two m:3 three
= MGET m:1 m:2 m:missing m:3 m:1
= EXISTS m:1 m:2 m:missing m:1
= DEL m:1 m:missing
= EXISTS m:1
= MGET m:1 m:2
= MGET m:missing
= DEL m:2 m:3 m:2
= EXISTS m:2 m:3

# --- expiry -------------------------------------------------------------
= SETEX ttl:a 100000 v
~1 TTL ttl:a
~1500 PTTL ttl:a
= PSETEX ttl:b 100000000 v
~1 TTL ttl:b
= SET ttl:c v
= TTL ttl:c
= TTL ttl:missing
= PTTL ttl:missing
= EXPIRE ttl:c 200000
~1 TTL ttl:c
= PERSIST ttl:c
= PERSIST ttl:c
= TTL ttl:c
= PEXPIRE ttl:c 300000000
~1 TTL ttl:c
= EXPIREAT ttl:c 4102444800
~2 TTL ttl:c
= PEXPIREAT ttl:c 4102444800000
~2 TTL ttl:c
= EXPIRE ttl:missing 100
= SET ttl:d v EX 100000
~1 TTL ttl:d
= SET ttl:d v2 KEEPTTL
~1 TTL ttl:d
= GET ttl:d
= EXPIRE ttl:d notanumber
= SETEX ttl:e 0 v

# --- hashes -------------------------------------------------------------
= HSET h:a f1 v1 f2 v2
= HSET h:a f1 v1b
= HGET h:a f1
= HGET h:a nofield
= HGET h:missing f
= HEXISTS h:a f2
= HEXISTS h:a nofield
= HSETNX h:a f3 v3
= HSETNX h:a f3 other
= HMSET h:a f4 v4 f5 v5
= HMGET h:a f1 nofield f5
= HLEN h:a
= HKEYS h:a
= HVALS h:a
= HGETALL h:a
= HINCRBY h:a n 5
= HINCRBY h:a n -7
= HINCRBYFLOAT h:a fl 1.5
= HINCRBYFLOAT h:a f1 1
= HINCRBY h:a f1 1
= HDEL h:a f2 nofield
= HGETALL h:a
= HSCAN h:a 0
= HSCAN h:a 0 MATCH f* COUNT 100
= HGETALL h:missing
= HLEN h:missing

# --- lists --------------------------------------------------------------
= RPUSH l:a a b c
= LPUSH l:a z y
= LRANGE l:a 0 -1
= LLEN l:a
= LINDEX l:a 0
= LINDEX l:a -1
= LINDEX l:a 99
= LINSERT l:a BEFORE b b-before
= LINSERT l:a AFTER nothere x
= LSET l:a 0 first
= LSET l:a 99 x
= LREM l:a 0 a
= LRANGE l:a 0 -1
= LTRIM l:a 0 3
= LRANGE l:a 0 -1
= LPOP l:a
= RPOP l:a
= LPUSHX l:a p
= LPUSHX l:missing p
= RPUSHX l:a q
= RPOPLPUSH l:a l:b
= LRANGE l:a 0 -1
= LRANGE l:b 0 -1
= LPOP l:missing
= LLEN l:missing
= RPUSH l:num 3 1 2 10
= SORT l:num
= SORT l:num DESC LIMIT 0 2
= RPUSH l:alpha c a b
= SORT l:alpha ALPHA
= SORT l:alpha

# --- sets (integer members: intsets reply in a fixed order) -------------
= SADD s:a 3 1 2
= SADD s:a 2 4
= SMEMBERS s:a
= SCARD s:a
= SISMEMBER s:a 3
= SISMEMBER s:a 9
= SREM s:a 4 9
= SADD s:b 2 3 5
= SINTER s:a s:b
= SUNION s:a s:b
= SDIFF s:a s:b
= SINTERSTORE s:c s:a s:b
= SMEMBERS s:c
= SDIFFSTORE s:d s:a s:b
= SMEMBERS s:d
= SUNIONSTORE s:e s:a s:b
= SMEMBERS s:e
= SMOVE s:a s:b 1
= SMEMBERS s:a
= SMEMBERS s:b
= SSCAN s:b 0
= SADD s:words apple banana cherry
= SCARD s:words
= SISMEMBER s:words banana
= SORT s:words ALPHA
= SADD s:one only
= SRANDMEMBER s:one
= SPOP s:one
= SPOP s:one
= SMEMBERS s:missing

# --- sorted sets --------------------------------------------------------
= ZADD z:a 1 one 2 two 3 three
= ZADD z:a 1.5 onehalf
= ZADD z:a XX CH 2.5 two
= ZADD z:a NX 100 one
= ZADD z:a INCR 10 three
= ZCARD z:a
= ZSCORE z:a two
= ZSCORE z:a nomember
= ZRANK z:a two
= ZREVRANK z:a two
= ZRANK z:a nomember
= ZRANGE z:a 0 -1
= ZRANGE z:a 0 -1 WITHSCORES
= ZRANGE z:a +inf -inf BYSCORE REV
= ZREVRANGE z:a 0 1 WITHSCORES
= ZRANGEBYSCORE z:a 1 2.5
= ZRANGEBYSCORE z:a (1 +inf WITHSCORES LIMIT 0 2
= ZREVRANGEBYSCORE z:a +inf -inf
= ZCOUNT z:a 1 2
= ZINCRBY z:a 0.5 one
= ZREM z:a onehalf nomember
= ZADD z:lex 0 a 0 b 0 c 0 d
= ZRANGEBYLEX z:lex - +
= ZRANGEBYLEX z:lex [b (d
= ZREVRANGEBYLEX z:lex + - LIMIT 0 2
= ZLEXCOUNT z:lex [b +
= ZREMRANGEBYLEX z:lex - [a
= ZREMRANGEBYRANK z:lex 0 0
= ZRANGE z:lex 0 -1
= ZREMRANGEBYSCORE z:a 0 1.9
= ZUNIONSTORE z:u 2 z:a z:lex
= ZRANGE z:u 0 -1 WITHSCORES
= ZINTERSTORE z:i 2 z:a z:u WEIGHTS 1 2
= ZRANGE z:i 0 -1 WITHSCORES
= ZSCAN z:a 0
= ZADD z:a notafloat x
= ZRANGEBYSCORE z:a a b

# --- bitmaps ------------------------------------------------------------
= SETBIT bm:a 7 1
= SETBIT bm:a 7 1
= SETBIT bm:a 100 1
= GETBIT bm:a 7
= GETBIT bm:a 8
= GETBIT bm:a 100000
= GETBIT bm:missing 3
= BITCOUNT bm:a
= BITCOUNT bm:a 0 0
= BITCOUNT bm:a 0 -1 BIT
= BITCOUNT bm:missing
= BITPOS bm:a 1
= BITPOS bm:a 0
= BITPOS bm:a 1 1
= BITPOS bm:a 1 0 -1 BIT
= BITPOS bm:missing 1
= SET bm:b "\xff\xf0\x00"
= BITPOS bm:b 0
= BITCOUNT bm:b
= GET bm:a
= SETBIT bm:a -1 1
= SETBIT bm:a 1 2
= BITPOS bm:a 2

# --- HyperLogLog --------------------------------------------------------
= PFADD hll:a a b c d e
= PFADD hll:a a b
= PFCOUNT hll:a
= PFADD hll:b
= PFCOUNT hll:b
= PFCOUNT hll:missing
= PFADD str:a x
= PFCOUNT str:a

# --- geo ----------------------------------------------------------------
= GEOADD geo:a 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
= GEODIST geo:a Palermo Catania
= GEODIST geo:a Palermo Catania km
= GEOHASH geo:a Palermo Catania nowhere
= GEOPOS geo:a Palermo nowhere Catania
= GEORADIUS geo:a 15 37 200 km WITHDIST ASC
= GEORADIUS geo:a 15 37 200 km WITHCOORD WITHDIST ASC
= GEORADIUSBYMEMBER geo:a Palermo 300 km ASC
= ZRANGE geo:a 0 -1 WITHSCORES

# --- wrong types --------------------------------------------------------
= GET l:a
= LPUSH str:a x
= HSET l:a f v
= SADD h:a x
= ZADD str:a 1 x
= HGETALL str:a
= SMEMBERS z:a
= ZRANGE s:a 0 -1

# --- scripting ----------------------------------------------------------
= EVAL "return redis.call('set', KEYS[1], ARGV[1])" 1 lua:a hello
= EVAL "return redis.call('get', KEYS[1])" 1 lua:a
= EVAL "return {1, 2, {3, 'x', {4}}, 'end'}" 1 lua:a
= EVAL "return {KEYS[1], ARGV[1], ARGV[2]}" 1 lua:b a1 a2
= EVAL "return redis.status_reply('FINE')" 1 lua:a
= EVAL "return redis.error_reply('MYERR boom')" 1 lua:a
= EVAL "return 3.99" 1 lua:a
= EVAL "return nil" 1 lua:a
= EVAL "return false" 1 lua:a
= EVAL "return true" 1 lua:a
= EVAL "return {1, nil, 3}" 1 lua:a
= EVAL "return redis.call('incr', KEYS[1])" 1 l:a
= EVAL "this is not lua" 1 lua:a
= EVAL "return redis.call('hgetall', KEYS[1])" 1 h:a
= SCRIPT LOAD "return 'loaded'"
= SCRIPT EXISTS b534286061d4b9e4026607613b95c06c06015ae8
= SCRIPT EXISTS 0000000000000000000000000000000000000000
= EVALSHA b534286061d4b9e4026607613b95c06c06015ae8 1 lua:a
= EVALSHA 0000000000000000000000000000000000000000 1 lua:a

# --- binary-safe keys and values ---------------------------------------
= SET "bin\x00\r\nkey\xff" "val\r\n\x00\xff\x00end"
= GET "bin\x00\r\nkey\xff"
= STRLEN "bin\x00\r\nkey\xff"
= APPEND "bin\x00\r\nkey\xff" "\r\n"
= GET "bin\x00\r\nkey\xff"
= EVAL "return redis.call('get', KEYS[1])" 1 "bin\x00\r\nkey\xff"
= HSET "h:bin\x00" "f\r\n\x00" "\xff\xfe"
= HGETALL "h:bin\x00"
= RPUSH "l:bin\r\n" "\x00" "\r\n" ""
= LRANGE "l:bin\r\n" 0 -1
= SET "k\xff" ""
= GET "k\xff"
= MSET "m\x00a" "\x00" "m\r\nb" "\r\n"
= MGET "m\x00a" "m\r\nb" "m\r\nmissing"
= EXISTS "m\x00a" "m\r\nb"
= DEL "m\x00a" "m\r\nb"
= SET "$5\r\nkey" "*1\r\n$4\r\nPING\r\n"
= GET "$5\r\nkey"
= SET "k:with space" "v a l"
= GET "k:with space"
= SET "\xf0\x9f\x8d\x95" "\xe2\x82\xac"
= GET "\xf0\x9f\x8d\x95"

# --- errors the proxy may word itself ----------------------------------
E FOOBAR
E FOOBAR arg1 arg2
E "NOT\x00A\xffCMD" x
E GET
E GET a b
E SET onlykey
E HGET h:a
E EXPIRE ttl:a
= GET str:a
"#;

/// Splits one corpus line into arguments (see `CORPUS`).
fn tokenize(line: &str) -> Vec<Vec<u8>> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b' ' {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        if bytes[i] == b'"' {
            i += 1;
            loop {
                assert!(i < bytes.len(), "unterminated quote in corpus: {line}");
                match bytes[i] {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let (b, used) = match bytes[i + 1] {
                            b'x' => {
                                let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).unwrap();
                                (u8::from_str_radix(hex, 16).unwrap(), 4)
                            }
                            b'r' => (b'\r', 2),
                            b'n' => (b'\n', 2),
                            b't' => (b'\t', 2),
                            b'0' => (0, 2),
                            b'\\' => (b'\\', 2),
                            b'"' => (b'"', 2),
                            other => panic!("bad escape \\{} in corpus: {line}", other as char),
                        };
                        arg.push(b);
                        i += used;
                    }
                    b => {
                        arg.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && bytes[i] != b' ' {
                arg.push(bytes[i]);
                i += 1;
            }
        }
        args.push(arg);
    }
    args
}

/// The corpus: the text part, then values too large to write inline.
fn corpus() -> Vec<Step> {
    let mut steps = Vec::new();
    for (n, raw) in CORPUS.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (check, rest) = line.split_once(' ').expect("check and command");
        let check = match check {
            "=" => Check::Exact,
            "E" => Check::ErrPrefix,
            t if t.starts_with('~') => Check::Approx(t[1..].parse().expect("tolerance")),
            other => panic!("unknown check {other:?} on corpus line {}", n + 1),
        };
        steps.push(Step {
            check,
            args: tokenize(rest),
            line: n + 1,
        });
    }

    // Values that span many proxy buffer chunks, long keys, a long MGET.
    let line = 0;
    let mut exact = |args: Vec<Vec<u8>>| {
        steps.push(Step {
            check: Check::Exact,
            args,
            line,
        })
    };
    let v = |s: &str| s.as_bytes().to_vec();
    let big = pattern(300_000, 1);
    exact(vec![v("SET"), v("big:a"), big]);
    exact(vec![v("GET"), v("big:a")]);
    exact(vec![v("STRLEN"), v("big:a")]);
    exact(vec![v("GETRANGE"), v("big:a"), v("100000"), v("100010")]);
    exact(vec![v("APPEND"), v("big:a"), pattern(100_000, 2)]);
    exact(vec![v("GET"), v("big:a")]);
    exact(vec![v("HSET"), v("big:h"), v("f"), pattern(70_000, 3)]);
    exact(vec![v("HGET"), v("big:h"), v("f")]);
    let mut rpush = vec![v("RPUSH"), v("big:l")];
    for i in 0..200 {
        rpush.push(pattern(1000, 100 + i));
    }
    exact(rpush);
    exact(vec![v("LRANGE"), v("big:l"), v("0"), v("-1")]);
    let long_key = pattern(1000, 4);
    exact(vec![v("SET"), long_key.clone(), v("long-key-value")]);
    exact(vec![v("GET"), long_key.clone()]);
    exact(vec![v("DEL"), long_key]);
    let mut mset = vec![v("MSET")];
    let mut mget = vec![v("MGET")];
    for i in 0..200u64 {
        let key = format!("mm:{i}").into_bytes();
        mset.push(key.clone());
        mset.push(pattern(100, 1000 + i));
        mget.push(key);
    }
    mget.push(v("mm:missing"));
    exact(mset);
    exact(mget);
    exact(vec![v("GET"), v("str:a")]);
    steps
}

/// Parses an integer reply.
fn integer(reply: &[u8]) -> Option<i64> {
    let body = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(body).ok()?.parse().ok()
}

/// Compares one pair of replies; `Err` describes the mismatch.
fn compare(check: Check, direct: &[u8], proxy: &[u8]) -> Result<(), String> {
    match check {
        Check::Exact if direct == proxy => Ok(()),
        Check::Exact => Err("replies differ".into()),
        Check::ErrPrefix => {
            if !direct.starts_with(b"-ERR") {
                return Err("corpus bug: redis did not answer -ERR".into());
            }
            if !proxy.starts_with(b"-ERR") {
                return Err("expected an -ERR reply".into());
            }
            Ok(())
        }
        Check::Approx(tol) => match (integer(direct), integer(proxy)) {
            (Some(a), Some(b)) if (a - b).abs() <= tol => Ok(()),
            (Some(_), Some(_)) => Err(format!("integers differ by more than {tol}")),
            _ => Err("expected two integer replies".into()),
        },
    }
}

/// Renders a mismatch for the failure message.
fn describe(step: &Step, what: &str, direct: &[u8], proxy: &[u8]) -> String {
    let args: Vec<&[u8]> = step.args.iter().map(|a| a.as_slice()).collect();
    let cmd: Vec<String> = args.iter().map(|a| format!("\"{}\"", show(a))).collect();
    format!(
        "corpus line {} {:?}: {what}\n    command: {}\n    redis:   \"{}\"\n    proxy:   \"{}\"",
        step.line,
        step.check,
        cmd.join(" "),
        show(direct),
        show(proxy)
    )
}

/// The request bytes for the whole corpus; a PING follows every step whose
/// error reply is compared by prefix only, to prove the connection survived.
fn requests(steps: &[Step]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for step in steps {
        let args: Vec<&[u8]> = step.args.iter().map(|a| a.as_slice()).collect();
        out.push(encode(&args));
        if step.check == Check::ErrPrefix {
            out.push(encode(&[b"PING"]));
        }
    }
    out
}

/// Checks every reply pair, in order, and fails with a report of all
/// mismatches.
fn verify(steps: &[Step], direct: &[Vec<u8>], proxy: &[Vec<u8>]) {
    let mut failures = Vec::new();
    let mut at = 0;
    for step in steps {
        if let Err(what) = compare(step.check, &direct[at], &proxy[at]) {
            failures.push(describe(step, &what, &direct[at], &proxy[at]));
        }
        at += 1;
        if step.check == Check::ErrPrefix {
            if proxy[at] != b"+PONG\r\n" || direct[at] != b"+PONG\r\n" {
                failures.push(describe(
                    step,
                    "connection not usable afterwards (PING)",
                    &direct[at],
                    &proxy[at],
                ));
            }
            at += 1;
        }
    }
    assert_eq!(at, direct.len());
    if !failures.is_empty() {
        let shown = failures.len().min(25);
        panic!(
            "{} of {} corpus steps differ between redis and the proxy:\n{}",
            failures.len(),
            steps.len(),
            failures[..shown].join("\n")
        );
    }
}

/// Starts redis A (direct), redis B and a proxy in front of B.
fn setup() -> (RedisServer, RedisServer, Dynomite) {
    let direct = RedisServer::start();
    let backend = RedisServer::start();
    let proxy = Dynomite::start(&[backend.port()]);
    (direct, backend, proxy)
}

#[test]
fn corpus_has_enough_commands() {
    let steps = corpus();
    assert!(steps.len() >= 150, "only {} steps", steps.len());
    for step in &steps {
        assert!(!step.args.is_empty(), "empty command on line {}", step.line);
    }
}

#[test]
fn differential_one_at_a_time() {
    let (direct_srv, _backend, proxy_srv) = setup();
    let steps = corpus();
    let mut direct = direct_srv.client();
    let mut proxy = proxy_srv.client();
    let mut got_direct = Vec::new();
    let mut got_proxy = Vec::new();
    // Interleave the two sides command by command so that time-dependent
    // replies (TTLs) are read at nearly the same moment.
    for req in requests(&steps) {
        direct.send(&req);
        got_direct.push(direct.read_reply());
        proxy.send(&req);
        match proxy.try_read_reply() {
            Ok(r) => got_proxy.push(r),
            Err(e) => {
                // Report what matched so far, then the broken step.
                let n = got_proxy.len();
                panic!(
                    "proxy gave no reply to request #{n} \"{}\": {e}",
                    show(&req)
                );
            }
        }
    }
    verify(&steps, &got_direct, &got_proxy);
}

#[test]
fn differential_pipelined() {
    let (direct_srv, _backend, proxy_srv) = setup();
    let steps = corpus();
    let reqs = requests(&steps);
    let all: Vec<u8> = reqs.concat();
    let mut results = Vec::new();
    for port in [direct_srv.port(), proxy_srv.port()] {
        let mut c = Client::connect(port);
        // The whole corpus in one write, from a second thread so neither side
        // can block the other on full socket buffers.
        let mut w = c.writer();
        let bytes = all.clone();
        let writer = thread::spawn(move || w.write_all(&bytes));
        let mut replies = Vec::with_capacity(reqs.len());
        for (i, req) in reqs.iter().enumerate() {
            match c.try_read_reply() {
                Ok(r) => replies.push(r),
                Err(e) => panic!(
                    "port {port}: no reply to pipelined request #{i} \"{}\": {e}",
                    show(req)
                ),
            }
        }
        writer.join().unwrap().expect("pipelined write");
        results.push(replies);
    }
    verify(&steps, &results[0], &results[1]);
}
