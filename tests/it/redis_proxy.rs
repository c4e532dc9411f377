//! The proxy in front of real redis servers: pipelining, very large values,
//! multi-key commands split over two shards, commands the proxy answers
//! itself (HELLO, CLIENT, QUIT), error replies for unknown commands,
//! protocol abuse, a datastore restart and many concurrent clients.

use crate::harness::{
    bulk, direct_mode, encode, nofile_limit, pattern, raise_nofile_limit, show, single, Client,
    Dynomite, RedisServer, ReplyError,
};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Writes `bytes` in one `write_all` from another thread, so the test can
/// read replies while the request is still being sent.
fn write_in_background(mut w: TcpStream, bytes: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || w.write_all(&bytes).expect("pipelined write"))
}

/// True when `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts a reply is an error starting with `-ERR` on a single line.
fn assert_err_line(reply: &[u8], context: &str) {
    assert!(
        reply.starts_with(b"-ERR"),
        "{context}: expected -ERR, got \"{}\"",
        show(reply)
    );
    let body = &reply[..reply.len() - 2];
    assert!(
        !body.contains(&b'\r') && !body.contains(&b'\n'),
        "{context}: error text contains CR or LF: \"{}\"",
        show(reply)
    );
}

#[test]
fn pipeline_of_10000_incr_replies_in_order() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    let all = encode(&[b"INCR", b"pipeline:ctr"]).repeat(10_000);
    let writer = write_in_background(c.writer(), all);
    for i in 1..=10_000 {
        let r = c.read_reply();
        assert_eq!(
            r,
            format!(":{i}\r\n").as_bytes(),
            "reply #{i} out of order: \"{}\"",
            show(&r)
        );
    }
    writer.join().unwrap();
    assert_eq!(c.cmd(&[b"GET", b"pipeline:ctr"]), b"$5\r\n10000\r\n");
}

#[test]
fn value_of_100_mb_round_trips() {
    const LEN: usize = 100 << 20;
    let (redis, proxy) = single();
    let value = pattern(LEN, 7);
    let mut c = proxy.client();
    c.set_read_timeout(Duration::from_secs(60));
    let head = format!("*3\r\n$3\r\nSET\r\n$8\r\nbig:100m\r\n${LEN}\r\n");
    c.send(head.as_bytes());
    c.send(&value);
    c.send(b"\r\n");
    assert_eq!(c.read_reply(), b"+OK\r\n");

    // The backend holds exactly the bytes that were sent.
    let mut direct = redis.client();
    assert_eq!(
        direct.cmd(&[b"STRLEN", b"big:100m"]),
        format!(":{LEN}\r\n").as_bytes()
    );

    c.send(&encode(&[b"GET", b"big:100m"]));
    let reply = c.read_reply();
    let head = format!("${LEN}\r\n");
    assert!(
        reply.starts_with(head.as_bytes()),
        "GET reply starts \"{}\"",
        show(&reply[..reply.len().min(40)])
    );
    assert_eq!(reply.len(), head.len() + LEN + 2, "GET reply length");
    let body = &reply[head.len()..head.len() + LEN];
    if let Some(at) = body.iter().zip(&value).position(|(a, b)| a != b) {
        panic!("GET returned different bytes from offset {at} on");
    }
    assert!(reply.ends_with(b"\r\n"));
    // The connection is still in step.
    assert_eq!(
        c.cmd(&[b"STRLEN", b"big:100m"]),
        format!(":{LEN}\r\n").as_bytes()
    );
}

#[test]
fn multi_key_commands_split_over_two_shards() {
    const N: usize = 1000;
    let r1 = RedisServer::start();
    let r2 = RedisServer::start();
    let proxy = Dynomite::start(&[r1.port(), r2.port()]);
    let keys: Vec<Vec<u8>> = (0..N).map(|i| format!("mk:{i}").into_bytes()).collect();
    let values: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            let mut v = format!("value-{i}-").into_bytes();
            v.extend(pattern(i % 50, i as u64));
            v
        })
        .collect();
    let mut c = proxy.client();

    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for i in 0..N {
        mset.push(&keys[i]);
        mset.push(&values[i]);
    }
    assert_eq!(c.cmd(&mset), b"+OK\r\n", "MSET of {N} keys");

    // MGET in a scrambled order, with a missing key and a duplicate.
    let order: Vec<usize> = (0..N).map(|i| (i * 7919) % N).collect();
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    let mut expected = format!("*{}\r\n", N + 2).into_bytes();
    for &i in &order {
        mget.push(&keys[i]);
        expected.extend(bulk(&values[i]));
    }
    mget.push(b"mk:missing");
    expected.extend_from_slice(b"$-1\r\n");
    mget.push(&keys[order[0]]);
    expected.extend(bulk(&values[order[0]]));
    let got = c.cmd(&mget);
    if got != expected {
        let at = got.iter().zip(&expected).position(|(a, b)| a != b);
        panic!(
            "MGET reply differs (first difference at byte {at:?}); got \"{}\"",
            show(&got)
        );
    }

    // EXISTS counts every key argument, duplicates included.
    let mut exists: Vec<&[u8]> = vec![b"EXISTS"];
    exists.extend(keys.iter().map(|k| k.as_slice()));
    exists.push(b"mk:missing");
    exists.push(&keys[0]);
    assert_eq!(c.cmd(&exists), format!(":{}\r\n", N + 1).as_bytes());

    // Each key lives in exactly one backend, and both backends got keys.
    let mut counts = [0usize; 2];
    let mut per_key = vec![0u8; N];
    for (b, port) in [r1.port(), r2.port()].into_iter().enumerate() {
        let mut direct = Client::connect(port);
        let mut req = Vec::new();
        for k in &keys {
            req.extend(encode(&[b"GET", k]));
        }
        direct.send(&req);
        for i in 0..N {
            let r = direct.read_reply();
            if r == b"$-1\r\n" {
                continue;
            }
            assert_eq!(r, bulk(&values[i]), "backend {b} holds a wrong value");
            per_key[i] += 1;
            counts[b] += 1;
        }
    }
    if direct_mode() {
        eprintln!("direct mode: shard placement not checked");
    } else {
        for (i, n) in per_key.iter().enumerate() {
            assert_eq!(*n, 1, "key mk:{i} is stored in {n} backends");
        }
        assert!(
            counts[0] > 0 && counts[1] > 0,
            "keys not spread over both shards: {counts:?}"
        );
    }

    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(|k| k.as_slice()));
    del.push(b"mk:missing");
    assert_eq!(c.cmd(&del), format!(":{N}\r\n").as_bytes());
    assert_eq!(c.cmd(&exists), b":0\r\n");
    for port in [r1.port(), r2.port()] {
        assert_eq!(Client::connect(port).cmd(&[b"DBSIZE"]), b":0\r\n");
    }
}

#[test]
fn ping_echo_command_and_quit() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(c.cmd(&[b"PING", b"hello there"]), b"$11\r\nhello there\r\n");
    assert_eq!(c.cmd(&[b"ping"]), b"+PONG\r\n");
    c.send(b"PING\r\n");
    assert_eq!(c.read_reply(), b"+PONG\r\n", "inline PING");
    assert_eq!(
        c.cmd(&[b"ECHO", b"a\r\nb\x00\xff"]),
        b"$6\r\na\r\nb\x00\xff\r\n"
    );
    let r = c.cmd(&[b"COMMAND"]);
    assert!(r.starts_with(b"*"), "COMMAND: \"{}\"", show(&r));

    // QUIT is answered after the earlier replies; later requests are ignored.
    let mut q = proxy.client();
    let mut req = encode(&[b"SET", b"quit:k", b"1"]);
    req.extend(encode(&[b"GET", b"quit:k"]));
    req.extend(encode(&[b"QUIT"]));
    req.extend(encode(&[b"GET", b"quit:k"]));
    q.send(&req);
    assert_eq!(q.read_reply(), b"+OK\r\n");
    assert_eq!(q.read_reply(), b"$1\r\n1\r\n");
    assert_eq!(q.read_reply(), b"+OK\r\n", "QUIT reply");
    assert!(
        q.wait_closed(Duration::from_secs(5)),
        "connection not closed after QUIT"
    );
    assert!(
        q.pending().is_empty(),
        "data after QUIT: \"{}\"",
        show(q.pending())
    );
    // Other clients are unaffected.
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn hello_switches_the_connection_protocol() {
    let (_redis, proxy) = single();
    let mut plain = proxy.client();
    assert_eq!(plain.cmd(&[b"HSET", b"hello:h", b"f", b"v"]), b":1\r\n");

    let mut v3 = proxy.client();
    let r = v3.cmd(&[b"HELLO", b"3"]);
    assert!(
        r.starts_with(b"%"),
        "HELLO 3 must return a map: \"{}\"",
        show(&r)
    );
    assert!(
        contains(&r, b"$5\r\nproto\r\n:3\r\n"),
        "HELLO 3 reply lacks proto 3: \"{}\"",
        show(&r)
    );
    // RESP3 on this connection, RESP2 on the other, through the same
    // datastore connection and interleaved.
    for _ in 0..3 {
        assert_eq!(
            v3.cmd(&[b"HGETALL", b"hello:h"]),
            b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        assert_eq!(
            plain.cmd(&[b"HGETALL", b"hello:h"]),
            b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
        assert_eq!(v3.cmd(&[b"GET", b"hello:missing"]), b"_\r\n");
        assert_eq!(plain.cmd(&[b"GET", b"hello:missing"]), b"$-1\r\n");
    }

    // HELLO 3 and a request in the same write.
    let mut piped = proxy.client();
    let mut req = encode(&[b"HELLO", b"3"]);
    req.extend(encode(&[b"HGETALL", b"hello:h"]));
    piped.send(&req);
    assert!(piped.read_reply().starts_with(b"%"));
    assert_eq!(piped.read_reply(), b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n");

    // Back to RESP2.
    let r = v3.cmd(&[b"HELLO", b"2"]);
    assert!(
        r.starts_with(b"*"),
        "HELLO 2 must return an array: \"{}\"",
        show(&r)
    );
    assert!(contains(&r, b"$5\r\nproto\r\n:2\r\n"));
    assert_eq!(
        v3.cmd(&[b"HGETALL", b"hello:h"]),
        b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );

    let mut v2 = proxy.client();
    let r = v2.cmd(&[b"HELLO", b"2"]);
    assert!(r.starts_with(b"*"), "HELLO 2: \"{}\"", show(&r));
    assert_eq!(v2.cmd(&[b"GET", b"hello:missing"]), b"$-1\r\n");
    let r = v2.cmd(&[b"HELLO", b"4"]);
    assert!(r.starts_with(b"-"), "HELLO 4 must fail: \"{}\"", show(&r));
    assert_eq!(v2.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn client_subcommands() {
    let (_redis, proxy) = single();
    let mut a = proxy.client();
    let mut b = proxy.client();
    assert_eq!(a.cmd(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
    assert_eq!(a.cmd(&[b"CLIENT", b"SETNAME", b"itest-a"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"CLIENT", b"GETNAME"]), b"$7\r\nitest-a\r\n");
    assert_eq!(b.cmd(&[b"CLIENT", b"GETNAME"]), b"$-1\r\n");
    let id_a = a.cmd(&[b"CLIENT", b"ID"]);
    let id_b = b.cmd(&[b"CLIENT", b"ID"]);
    assert!(id_a.starts_with(b":"), "CLIENT ID: \"{}\"", show(&id_a));
    assert!(id_b.starts_with(b":"), "CLIENT ID: \"{}\"", show(&id_b));
    assert_ne!(id_a, id_b, "two connections share a CLIENT ID");
    assert_eq!(a.cmd(&[b"CLIENT", b"ID"]), id_a, "CLIENT ID changed");
    for info in [
        [b"LIB-NAME".as_slice(), b"itest-lib"],
        [b"LIB-VER".as_slice(), b"1.2.3"],
    ] {
        let r = a.cmd(&[b"CLIENT", b"SETINFO", info[0], info[1]]);
        if direct_mode() && r.starts_with(b"-") {
            eprintln!("direct mode: this redis has no CLIENT SETINFO");
        } else {
            assert_eq!(r, b"+OK\r\n", "CLIENT SETINFO");
        }
    }
    assert_eq!(a.cmd(&[b"SET", b"client:k", b"v"]), b"+OK\r\n");
    assert_eq!(b.cmd(&[b"GET", b"client:k"]), b"$1\r\nv\r\n");
}

#[test]
fn unknown_commands_and_wrong_arity_keep_the_connection() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    for req in [
        vec![b"FOOBAR".as_slice()],
        vec![b"FOOBAR", b"x", b"y"],
        vec![b"GET", b"a", b"b"],
        vec![b"GET"],
        vec![b"HGET", b"h"],
    ] {
        let r = c.cmd(&req);
        assert_err_line(&r, &show(&encode(&req)));
        assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n", "after {}", show(req[0]));
    }
    // Within a pipeline, error replies take their place and nothing is lost.
    let mut req = encode(&[b"SET", b"unk:k", b"1"]);
    req.extend(encode(&[b"FOOBAR"]));
    req.extend(encode(&[b"GET", b"unk:k"]));
    req.extend(encode(&[b"GET", b"a", b"b"]));
    req.extend(encode(&[b"INCR", b"unk:k"]));
    c.send(&req);
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_err_line(&c.read_reply(), "pipelined FOOBAR");
    assert_eq!(c.read_reply(), b"$1\r\n1\r\n");
    assert_err_line(&c.read_reply(), "pipelined GET a b");
    assert_eq!(c.read_reply(), b":2\r\n");
}

/// Sends `payload` on a fresh connection and checks that the proxy answers
/// with a protocol error and/or closes that connection (`must_close`), while
/// a client connected beforehand is served throughout. `before` are replies
/// due for complete requests at the start of the payload.
fn abuse(payload: &[u8], before: &[&[u8]], must_close: bool) {
    let (_redis, proxy) = single();
    let mut bystander = proxy.client();
    assert_eq!(bystander.cmd(&[b"SET", b"abuse:k", b"safe"]), b"+OK\r\n");

    let mut bad = proxy.client();
    bad.set_read_timeout(Duration::from_secs(5));
    // The proxy may close while we are still writing; that is fine.
    let _ = bad.try_send(payload);
    for want in before {
        match bad.try_read_reply() {
            Ok(r) => assert_eq!(r, *want, "reply to a complete request before the junk"),
            Err(e) => panic!("reply to a complete request before the junk was lost: {e}"),
        }
    }
    match bad.try_read_reply() {
        Ok(r) => {
            assert!(
                r.starts_with(b"-ERR"),
                "junk \"{}\" got a non-error reply \"{}\"",
                show(payload),
                show(&r)
            );
            if must_close {
                assert!(
                    r.starts_with(b"-ERR Protocol error"),
                    "framing error reply: \"{}\"",
                    show(&r)
                );
                assert!(
                    bad.wait_closed(Duration::from_secs(5)),
                    "connection not closed after a framing error"
                );
            }
        }
        Err(ReplyError::Eof { .. }) | Err(ReplyError::Io(_)) => {}
        Err(e) => panic!(
            "junk \"{}\": neither an error reply nor a close: {e}",
            show(payload)
        ),
    }

    // The other client never noticed.
    assert_eq!(bystander.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(bystander.cmd(&[b"GET", b"abuse:k"]), b"$4\r\nsafe\r\n");
    let mut fresh = proxy.client();
    assert_eq!(fresh.cmd(&[b"GET", b"abuse:k"]), b"$4\r\nsafe\r\n");
}

#[test]
fn abuse_garbage_bytes() {
    abuse(b"*\xff\xfe garbage\r\n\x00\x01\x02\r\n", &[], true);
}

#[test]
fn abuse_binary_junk_without_array_header() {
    abuse(b"\x01\x02\x03\xff\xfe junk\r\n\x80junk\r\n", &[], false);
}

#[test]
fn abuse_bulk_claiming_2_pow_40_bytes() {
    abuse(b"*2\r\n$3\r\nGET\r\n$1099511627776\r\nabcdefgh", &[], true);
}

#[test]
fn abuse_array_claiming_2_pow_31_elements() {
    abuse(b"*2147483648\r\n$3\r\nGET\r\n$1\r\nk\r\n", &[], true);
}

#[test]
fn abuse_after_complete_requests_keeps_their_replies() {
    let mut payload = encode(&[b"SET", b"abuse:k2", b"1"]);
    payload.extend(encode(&[b"GET", b"abuse:k2"]));
    payload.extend_from_slice(b"*1\r\n$-5\r\n\x00\x01");
    abuse(&payload, &[b"+OK\r\n", b"$1\r\n1\r\n"], true);
}

#[test]
fn half_close_still_delivers_replies() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    let mut req = encode(&[b"SET", b"half:k", b"v"]);
    req.extend(encode(&[b"GET", b"half:k"]));
    c.send(&req);
    c.shutdown_write();
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$1\r\nv\r\n");
    assert!(
        c.wait_closed(Duration::from_secs(5)),
        "not closed after half-close"
    );
}

/// What one traffic thread saw.
#[derive(Default)]
struct Traffic {
    ok: AtomicUsize,
    storage_errors: AtomicUsize,
    ok_after_restart: AtomicUsize,
}

#[test]
fn datastore_restart_gives_errors_then_service_resumes() {
    if direct_mode() {
        eprintln!("direct mode: the datastore restart needs a proxy; skipped");
        return;
    }
    const THREADS: usize = 4;
    let mut redis = RedisServer::start();
    let proxy = Dynomite::start_with(
        &[redis.port()],
        &[("server_retry_timeout", "1000"), ("timeout", "2000")],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let stats: Arc<Vec<Traffic>> = Arc::new((0..THREADS).map(|_| Traffic::default()).collect());

    let mut threads = Vec::new();
    for n in 0..THREADS {
        let mut c = proxy.client();
        let (stop, restarted, stats) = (stop.clone(), restarted.clone(), stats.clone());
        threads.push(thread::spawn(move || -> Result<(), String> {
            let s = &stats[n];
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let key = format!("restart:{n}:{i}");
                let was_restarted = restarted.load(Ordering::SeqCst);
                c.try_send(&encode(&[b"SET", key.as_bytes(), b"v"]))
                    .map_err(|e| format!("thread {n}: write failed: {e}"))?;
                match c.try_read_reply() {
                    Ok(r) if r == b"+OK\r\n" => {
                        s.ok.fetch_add(1, Ordering::SeqCst);
                        if was_restarted {
                            s.ok_after_restart.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    Ok(r) if r.starts_with(b"-ERR Storage: Datastore ") => {
                        s.storage_errors.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => return Err(format!("thread {n}: unexpected \"{}\"", show(&r))),
                    Err(e) => return Err(format!("thread {n}: {e}")),
                }
                // Pace the loop: during the outage errors come back at once.
                thread::sleep(Duration::from_millis(2));
            }
            Ok(())
        }));
    }
    let wait_for = |what: &str, timeout: Duration, cond: &dyn Fn() -> bool| {
        let deadline = Instant::now() + timeout;
        while !cond() {
            if Instant::now() > deadline {
                stop.store(true, Ordering::SeqCst);
                panic!("timed out waiting for {what}");
            }
            thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("traffic before the kill", Duration::from_secs(10), &|| {
        stats.iter().all(|s| s.ok.load(Ordering::SeqCst) > 0)
    });

    redis.kill();
    wait_for(
        "storage errors after the kill",
        Duration::from_secs(10),
        &|| {
            stats
                .iter()
                .all(|s| s.storage_errors.load(Ordering::SeqCst) > 0)
        },
    );
    // A client that connects during the outage gets the error too.
    let mut late = proxy.client();
    let r = late.cmd(&[b"GET", b"restart:k"]);
    assert!(
        r.starts_with(b"-ERR Storage: Datastore "),
        "during the outage: \"{}\"",
        show(&r)
    );

    restarted.store(true, Ordering::SeqCst);
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = late.cmd(&[b"SET", b"restart:k", b"back"]);
        if r == b"+OK\r\n" {
            break;
        }
        assert!(
            r.starts_with(b"-ERR Storage: Datastore "),
            "while reconnecting: \"{}\"",
            show(&r)
        );
        assert!(
            Instant::now() < deadline,
            "proxy did not serve again within 15 s of the restart"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(late.cmd(&[b"GET", b"restart:k"]), b"$4\r\nback\r\n");
    wait_for(
        "traffic after the restart",
        Duration::from_secs(10),
        &|| {
            stats
                .iter()
                .all(|s| s.ok_after_restart.load(Ordering::SeqCst) > 0)
        },
    );
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        if let Err(e) = t.join().unwrap() {
            panic!("{e}");
        }
    }
}

#[test]
fn datastore_timeout_gives_an_error_then_service_resumes() {
    if direct_mode() {
        eprintln!("direct mode: the datastore timeout needs a proxy; skipped");
        return;
    }
    let redis = RedisServer::start();
    let proxy = Dynomite::start_with(
        &[redis.port()],
        &[("timeout", "500"), ("server_retry_timeout", "1000")],
    );
    let mut c = proxy.client();
    assert_eq!(c.cmd(&[b"SET", b"slow:k", b"v"]), b"+OK\r\n");

    // Redis stops answering every client but this one for 3 s.
    let mut direct = redis.client();
    assert_eq!(
        direct.cmd(&[b"CLIENT", b"PAUSE", b"3000", b"ALL"]),
        b"+OK\r\n"
    );
    let t0 = Instant::now();
    let r = c.cmd(&[b"GET", b"slow:k"]);
    let waited = t0.elapsed();
    assert!(
        r.starts_with(b"-ERR Storage: Datastore timed out"),
        "request to a paused redis: \"{}\"",
        show(&r)
    );
    assert!(
        waited < Duration::from_millis(2500),
        "timeout of 500 ms reported after {waited:?}"
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = c.cmd(&[b"GET", b"slow:k"]);
        if r == b"$1\r\nv\r\n" {
            break;
        }
        assert!(
            r.starts_with(b"-ERR Storage: Datastore "),
            "while recovering: \"{}\"",
            show(&r)
        );
        assert!(
            Instant::now() < deadline,
            "proxy did not serve again within 15 s of the pause"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_thousand_concurrent_clients() {
    const CLIENTS: usize = 1000;
    const THREADS: usize = 8;
    raise_nofile_limit();
    let limit = nofile_limit();
    assert!(
        limit >= 2 * CLIENTS as u64 + 200,
        "RLIMIT_NOFILE is {limit}: too low for {CLIENTS} clients (raise the hard limit)"
    );
    let (_redis, proxy) = single();
    let mut clients: Vec<(usize, Client)> = Vec::with_capacity(CLIENTS);
    for i in 0..CLIENTS {
        clients.push((i, proxy.client()));
    }
    let mut handles = Vec::new();
    let per_thread = CLIENTS / THREADS;
    while !clients.is_empty() {
        let chunk: Vec<(usize, Client)> = clients.drain(..per_thread.min(clients.len())).collect();
        handles.push(thread::spawn(move || {
            let mut chunk = chunk;
            for (i, c) in chunk.iter_mut() {
                c.send(&encode(&[
                    b"SET",
                    format!("many:{i}").as_bytes(),
                    format!("value-{i}").as_bytes(),
                ]));
            }
            for (i, c) in chunk.iter_mut() {
                assert_eq!(c.read_reply(), b"+OK\r\n", "SET by client {i}");
            }
            for (i, c) in chunk.iter_mut() {
                c.send(&encode(&[b"GET", format!("many:{i}").as_bytes()]));
            }
            for (i, c) in chunk.iter_mut() {
                assert_eq!(
                    c.read_reply(),
                    bulk(format!("value-{i}").as_bytes()),
                    "GET by client {i}"
                );
            }
            chunk
        }));
    }
    for h in handles {
        clients.extend(h.join().expect("client thread"));
    }
    // All of them are still connected and served.
    assert_eq!(clients.len(), CLIENTS);
    for (_, c) in clients.iter_mut() {
        c.send(&encode(&[b"PING"]));
    }
    for (i, c) in clients.iter_mut() {
        assert_eq!(c.read_reply(), b"+PONG\r\n", "PING by client {i}");
    }
}

#[test]
fn exhausted_message_pool_pauses_clients_instead_of_failing_them() {
    if direct_mode() {
        return;
    }
    let redis = RedisServer::start();
    // The smallest pool the configuration allows; 8 clients pipelining
    // 15,000 requests each to a paused redis need more messages than that.
    let proxy = Dynomite::start_with(
        &[redis.port()],
        &[
            ("max_msgs", "100000"),
            ("timeout", "20000"),
            ("datastore_connections", "4"),
        ],
    );
    let mut direct = redis.client();
    assert_eq!(
        direct.cmd(&[b"CLIENT", b"PAUSE", b"1500", b"ALL"]),
        b"+OK\r\n"
    );
    const CLIENTS: usize = 8;
    const EACH: usize = 15_000;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|t| {
            let port = proxy.port();
            thread::spawn(move || {
                let mut c = Client::connect(port);
                c.set_read_timeout(Duration::from_secs(60));
                let key = format!("bp:{t}");
                let mut req = Vec::new();
                for _ in 0..EACH {
                    req.extend(encode(&[b"INCR", key.as_bytes()]));
                }
                let mut w = c.writer();
                let sender = thread::spawn(move || w.write_all(&req).expect("send"));
                for i in 1..=EACH {
                    let r = c.read_reply();
                    assert_eq!(r, format!(":{i}\r\n").into_bytes(), "client {t} reply {i}");
                }
                sender.join().expect("sender");
            })
        })
        .collect();
    for w in workers {
        w.join().expect("client");
    }
    // Every request was served, in order, none failed: the clients were
    // paused while the pool was full (with -v 7 the log shows
    // "paused: message or buffer pool exhausted").
    assert_eq!(
        redis.client().cmd(&[b"GET", b"bp:0"]),
        format!("$5\r\n{EACH}\r\n").into_bytes()
    );
}
