//! Transactions, databases and the keyless/admin commands: MULTI/EXEC
//! against a direct redis byte for byte, WATCH and its connection of its
//! own, the transaction limits, SELECT checked on the datastore, FLUSHDB
//! on two racks, a transaction replicated to two racks, keys of two owners,
//! CLIENT LIST/KILL, SCRIPT KILL reaching a busy redis, and the real
//! libraries (redis-py's transactional pipeline and WATCH loop, Django's
//! RedisCache, RQ).

use std::time::Duration;

use crate::clients::require_redis_py;
use crate::harness::cluster::{node, Cluster, NodeSpec};
use crate::harness::{
    bulk, encode, poll_until, python_module_version, run_client, show, single, Client, Dynomite,
    RedisServer,
};

/// How long a copy sent to another rack may take to land.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends every request of `script` at once and reads one reply per request.
fn pipeline(c: &mut Client, script: &[&[&[u8]]]) -> Vec<Vec<u8>> {
    let mut bytes = Vec::new();
    for args in script {
        bytes.extend_from_slice(&encode(args));
    }
    c.send(&bytes);
    script.iter().map(|_| c.read_reply()).collect()
}

/// The number of clients connected to a redis (asked directly).
fn redis_clients(redis: &mut Client) -> usize {
    let reply = redis.cmd(&[b"CLIENT", b"LIST"]);
    String::from_utf8_lossy(&reply)
        .lines()
        .filter(|l| l.starts_with("id="))
        .count()
}

#[test]
fn transaction_replies_match_redis() {
    let (_redis, proxy) = single();
    let direct = RedisServer::start();
    let script: &[&[&[u8]]] = &[
        &[b"DISCARD"],
        &[b"EXEC"],
        &[b"MULTI"],
        &[b"MULTI"],
        &[b"GET"],
        &[b"NOSUCH", b"x"],
        &[b"DYNO_EXEC", b"0", b"t:a", b"x"],
        &[b"WATCH", b"t:a"],
        &[b"SET", b"t:a", b"1"],
        &[b"EXEC"],
        &[b"GET", b"t:a"],
        &[b"MULTI"],
        &[b"SET", b"t:a", b"1"],
        &[b"INCR", b"t:a"],
        &[b"LPUSH", b"t:a", b"x"],
        &[b"GET", b"t:a"],
        &[b"EXEC"],
        &[b"MULTI"],
        &[b"SET", b"t:b", b"1"],
        &[b"DISCARD"],
        &[b"EXISTS", b"t:b"],
        &[b"MULTI"],
        &[b"EXEC"],
        &[b"WATCH", b"t:a"],
        &[b"GET", b"t:a"],
        &[b"MULTI"],
        &[b"UNWATCH"],
        &[b"INCR", b"t:a"],
        &[b"EXEC"],
        &[b"UNWATCH"],
        &[b"MULTI"],
        &[b"HSET", b"t:h", b"f", b"v"],
        &[b"HGETALL", b"t:h"],
        &[b"PING"],
        &[b"EXEC"],
    ];
    let got = pipeline(&mut proxy.client(), script);
    let want = pipeline(&mut direct.client(), script);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            show(g),
            show(w),
            "reply {i} to {:?}",
            String::from_utf8_lossy(&script[i].concat())
        );
    }
}

#[test]
fn watch_has_a_connection_of_its_own_until_exec() {
    let (redis, proxy) = single();
    let mut direct = redis.client();
    let mut a = proxy.client();
    let mut b = proxy.client();
    assert_eq!(a.cmd(&[b"SET", b"w:k", b"1"]), b"+OK\r\n");
    let base = redis_clients(&mut direct);

    // A write by another client between WATCH and EXEC aborts EXEC.
    assert_eq!(a.cmd(&[b"WATCH", b"w:k"]), b"+OK\r\n");
    assert_eq!(redis_clients(&mut direct), base + 1, "WATCH's connection");
    assert_eq!(b.cmd(&[b"SET", b"w:k", b"2"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"SET", b"w:k", b"3"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*-1\r\n");
    assert_eq!(direct.cmd(&[b"GET", b"w:k"]), bulk(b"2"));
    // The connection goes once EXEC is answered.
    assert!(poll_until(Duration::from_secs(5), || redis_clients(
        &mut direct
    ) == base));

    // Without a write in between, EXEC runs.
    assert_eq!(a.cmd(&[b"WATCH", b"w:k"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"MULTI"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"INCR", b"w:k"]), b"+QUEUED\r\n");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*1\r\n:3\r\n");

    // A WATCH never followed by EXEC: the connection goes with its client.
    let mut c = proxy.client();
    assert_eq!(c.cmd(&[b"WATCH", b"w:k"]), b"+OK\r\n");
    assert_eq!(redis_clients(&mut direct), base + 1);
    drop(c);
    assert!(poll_until(Duration::from_secs(5), || redis_clients(
        &mut direct
    ) == base));
    // UNWATCH lets it go too.
    assert_eq!(a.cmd(&[b"WATCH", b"w:k"]), b"+OK\r\n");
    assert_eq!(a.cmd(&[b"UNWATCH"]), b"+OK\r\n");
    assert!(poll_until(Duration::from_secs(5), || redis_clients(
        &mut direct
    ) == base));
    assert_eq!(a.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn a_transaction_past_the_limits_is_discarded_and_costs_only_its_client() {
    let (redis, proxy) = single();
    let mut c = proxy.client();
    assert_eq!(c.cmd(&[b"MULTI"]), b"+OK\r\n");
    let mut bytes = Vec::new();
    for _ in 0..4097 {
        bytes.extend_from_slice(&encode(&[b"INCR", b"big:n"]));
    }
    c.send(&bytes);
    for _ in 0..4097 {
        assert_eq!(c.read_reply(), b"+QUEUED\r\n");
    }
    let reply = c.cmd(&[b"EXEC"]);
    assert!(
        reply.starts_with(b"-EXECABORT Transaction discarded: more than 4096"),
        "{}",
        show(&reply)
    );
    assert_eq!(redis.client().cmd(&[b"EXISTS", b"big:n"]), b":0\r\n");
    // The client and everybody else go on.
    assert_eq!(c.cmd(&[b"INCR", b"big:n"]), b":1\r\n");
    assert_eq!(proxy.client().cmd(&[b"GET", b"big:n"]), bulk(b"1"));
}

#[test]
fn select_runs_in_that_database_on_the_datastore() {
    let (redis, proxy) = single();
    let mut one = proxy.client();
    let mut zero = proxy.client();
    assert_eq!(one.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(one.cmd(&[b"SET", b"s:k", b"in-1"]), b"+OK\r\n");
    assert_eq!(zero.cmd(&[b"SET", b"s:k", b"in-0"]), b"+OK\r\n");
    assert_eq!(one.cmd(&[b"GET", b"s:k"]), bulk(b"in-1"));
    assert_eq!(zero.cmd(&[b"GET", b"s:k"]), bulk(b"in-0"));
    // A transaction of the client in database 1 runs there.
    let replies = pipeline(
        &mut one,
        &[&[b"MULTI"], &[b"INCR", b"s:n"], &[b"EXEC"], &[b"DBSIZE"]],
    );
    assert_eq!(replies[2], b"*1\r\n:1\r\n");
    assert_eq!(replies[3], b":2\r\n");

    let mut d = redis.client();
    assert_eq!(d.cmd(&[b"GET", b"s:k"]), bulk(b"in-0"));
    assert_eq!(d.cmd(&[b"EXISTS", b"s:n"]), b":0\r\n");
    assert_eq!(d.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(d.cmd(&[b"GET", b"s:k"]), bulk(b"in-1"));
    assert_eq!(d.cmd(&[b"GET", b"s:n"]), bulk(b"1"));

    // FLUSHDB empties the client's database only.
    assert_eq!(one.cmd(&[b"FLUSHDB"]), b"+OK\r\n");
    assert_eq!(d.cmd(&[b"DBSIZE"]), b":0\r\n");
    assert_eq!(zero.cmd(&[b"DBSIZE"]), b":1\r\n");

    // redis' own errors; SELECT of the default goes back to the node's pools.
    assert_eq!(
        one.cmd(&[b"SELECT", b"x"]),
        b"-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        one.cmd(&[b"SELECT", b"99"]),
        b"-ERR DB index is out of range\r\n"
    );
    assert_eq!(one.cmd(&[b"SELECT", b"0"]), b"+OK\r\n");
    assert_eq!(one.cmd(&[b"GET", b"s:k"]), bulk(b"in-0"));
    assert_eq!(
        one.cmd(&[b"MULTI"]),
        b"+OK\r\n",
        "the client is still usable"
    );
    assert_eq!(
        one.cmd(&[b"SELECT", b"1"]),
        b"-ERR Command 'select' cannot be queued in a transaction on this proxy\r\n"
    );
    assert!(one.cmd(&[b"EXEC"]).starts_with(b"-EXECABORT"));
}

/// Two racks of one node each: every node holds every key.
fn two_racks() -> Vec<NodeSpec> {
    vec![
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack2", &[2147483647]),
    ]
}

#[test]
fn a_transaction_reaches_both_racks_as_one_unit() {
    let cl = Cluster::start(&two_racks());
    let mut c = cl.node(0).client();
    let replies = pipeline(
        &mut c,
        &[
            &[b"MULTI"],
            &[b"SET", b"{u}a", b"1"],
            &[b"INCR", b"{u}a"],
            &[b"RPUSH", b"{u}l", b"x", b"y"],
            &[b"EXEC"],
        ],
    );
    assert_eq!(
        replies[4],
        b"*3\r\n+OK\r\n:2\r\n:2\r\n",
        "{}",
        show(&replies[4])
    );
    for i in 0..2 {
        let mut r = cl.node(i).redis_client();
        assert!(
            poll_until(REPLICATION_TIMEOUT, || r.cmd(&[b"LLEN", b"{u}l"])
                == b":2\r\n"),
            "n{i} never got the list"
        );
        assert_eq!(r.cmd(&[b"GET", b"{u}a"]), bulk(b"2"), "n{i}");
        assert_eq!(
            r.cmd(&[b"LRANGE", b"{u}l", b"0", b"-1"]),
            b"*2\r\n$1\r\nx\r\n$1\r\ny\r\n".to_vec(),
            "n{i}"
        );
    }
    // At DC_QUORUM the answer waits for both racks, which agree.
    assert_eq!(
        c.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_QUORUM"]),
        b"+OK\r\n"
    );
    let replies = pipeline(
        &mut c,
        &[
            &[b"MULTI"],
            &[b"INCR", b"{u}a"],
            &[b"GET", b"{u}a"],
            &[b"EXEC"],
        ],
    );
    assert_eq!(replies[3], b"*2\r\n:3\r\n$1\r\n3\r\n");
    for i in 0..2 {
        assert_eq!(cl.node(i).redis_get(b"{u}a"), bulk(b"3"), "n{i}");
    }
    // Under WATCH the unit runs here first and reaches the other rack only
    // when EXEC ran.
    let mut w = cl.node(0).client();
    assert_eq!(w.cmd(&[b"WATCH", b"{u}w"]), b"+OK\r\n");
    let replies = pipeline(
        &mut w,
        &[&[b"MULTI"], &[b"SET", b"{u}w", b"watched"], &[b"EXEC"]],
    );
    assert_eq!(replies[2], b"*1\r\n+OK\r\n");
    let mut r1 = cl.node(1).redis_client();
    assert!(poll_until(REPLICATION_TIMEOUT, || r1
        .cmd(&[b"GET", b"{u}w"])
        == bulk(b"watched")));
    assert_eq!(w.cmd(&[b"WATCH", b"{u}w"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"SET", b"{u}w", b"changed"]), b"+OK\r\n");
    let replies = pipeline(
        &mut w,
        &[&[b"MULTI"], &[b"SET", b"{u}w", b"lost"], &[b"EXEC"]],
    );
    assert_eq!(replies[2], b"*-1\r\n");
    for i in 0..2 {
        assert_eq!(cl.node(i).redis_get(b"{u}w"), bulk(b"changed"), "n{i}");
    }

    // A client in database 1: its writes and transactions reach database 1
    // of both racks.
    let mut one = cl.node(0).client();
    assert_eq!(one.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(one.cmd(&[b"SET", b"{u}a", b"db1"]), b"+OK\r\n");
    let replies = pipeline(
        &mut one,
        &[&[b"MULTI"], &[b"RPUSH", b"{u}l1", b"z"], &[b"EXEC"]],
    );
    assert_eq!(replies[2], b"*1\r\n:1\r\n");
    for i in 0..2 {
        let mut r = cl.node(i).redis_client();
        assert_eq!(r.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
        assert!(
            poll_until(REPLICATION_TIMEOUT, || r.cmd(&[b"GET", b"{u}a"])
                == bulk(b"db1")),
            "n{i}'s database 1"
        );
        assert!(poll_until(REPLICATION_TIMEOUT, || r
            .cmd(&[b"LLEN", b"{u}l1"])
            == b":1\r\n"));
        assert_eq!(
            cl.node(i).redis_get(b"{u}a"),
            bulk(b"3"),
            "n{i}'s database 0"
        );
    }
    // Read back through the other rack's node, in database 1 at DC_QUORUM.
    let mut other = cl.node(1).client();
    assert_eq!(other.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(
        other.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_QUORUM"]),
        b"+OK\r\n"
    );
    assert_eq!(other.cmd(&[b"GET", b"{u}a"]), bulk(b"db1"));
    assert!(one
        .cmd(&[b"SELECT", b"256"])
        .starts_with(b"-ERR SELECT in a cluster takes databases 0 to 255"));
}

#[test]
fn keys_of_two_owners_fail_at_exec_and_nothing_runs() {
    // One rack of two nodes: keys are split between them.
    let cl = Cluster::start(&[
        node("dc1", "rack1", &[0]),
        node("dc1", "rack1", &[2147483647]),
    ]);
    let k0 = cl.key_owned_by("x0:", 0);
    let k1 = cl.key_owned_by("x1:", 1);
    let mut c = cl.node(0).client();
    let replies = pipeline(
        &mut c,
        &[
            &[b"MULTI"],
            &[b"SET", &k0, b"1"],
            &[b"SET", &k1, b"1"],
            &[b"EXEC"],
        ],
    );
    assert_eq!(
        show(&replies[3]),
        "-ERR Transaction keys are owned by different nodes; nothing was run (keep them \
         together with a hash tag)\\r\\n"
    );
    for i in 0..2 {
        assert!(!cl.node(i).redis_has(&k0));
        assert!(!cl.node(i).redis_has(&k1));
    }
    // A transaction of the other node's keys goes there whole.
    let replies = pipeline(
        &mut c,
        &[
            &[b"MULTI"],
            &[b"SET", &k1, b"v"],
            &[b"GET", &k1],
            &[b"EXEC"],
        ],
    );
    assert_eq!(replies[3], b"*2\r\n+OK\r\n$1\r\nv\r\n");
    assert_eq!(cl.node(1).redis_get(&k1), bulk(b"v"));
    assert!(!cl.node(0).redis_has(&k1));
    // Under WATCH of a local key, keys of the other node do not run.
    assert_eq!(c.cmd(&[b"WATCH", &k0]), b"+OK\r\n");
    let replies = pipeline(&mut c, &[&[b"MULTI"], &[b"SET", &k1, b"w"], &[b"EXEC"]]);
    assert!(replies[2].starts_with(b"-ERR Transaction keys are owned by different nodes"));
    assert_eq!(cl.node(1).redis_get(&k1), bulk(b"v"));
    // WATCH of a key this node does not own is refused clearly.
    assert!(c
        .cmd(&[b"WATCH", &k1])
        .starts_with(b"-ERR WATCH needs keys this node owns in its rack"));

    // DBSIZE and KEYS cover the rack; SCAN walks both nodes.
    let mut keys = Vec::new();
    let mut cursor = b"0".to_vec();
    loop {
        let reply = c.cmd(&[b"SCAN", &cursor, b"COUNT", b"100"]);
        let text = String::from_utf8_lossy(&reply).into_owned();
        let lines: Vec<&str> = text.split("\r\n").collect();
        cursor = lines[2].as_bytes().to_vec();
        keys.extend(
            lines[4..]
                .iter()
                .filter(|l| !l.starts_with('$') && !l.is_empty())
                .map(|l| l.to_string()),
        );
        if cursor == b"0" {
            break;
        }
    }
    let k1s = String::from_utf8_lossy(&k1).into_owned();
    assert!(keys.contains(&k1s), "SCAN found {keys:?}");
    let total: usize = (0..2)
        .map(|i| {
            let r = cl.node(i).redis_client().cmd(&[b"DBSIZE"]);
            String::from_utf8_lossy(&r[1..r.len() - 2])
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(c.cmd(&[b"DBSIZE"]), format!(":{total}\r\n").into_bytes());
    assert_eq!(keys.len(), total, "SCAN returns each key once: {keys:?}");
    let reply = c.cmd(&[b"KEYS", b"x1:*"]);
    assert_eq!(
        reply,
        format!("*1\r\n{}", show(&bulk(&k1)))
            .replace("\\r\\n", "\r\n")
            .into_bytes()
    );
}

#[test]
fn flushdb_empties_every_rack() {
    let cl = Cluster::start(&two_racks());
    let mut c = cl.node(0).client();
    for i in 0..20 {
        let k = format!("f:{i}");
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), b"v"]), b"+OK\r\n");
    }
    for i in 0..2 {
        let mut r = cl.node(i).redis_client();
        assert!(poll_until(REPLICATION_TIMEOUT, || r
            .cmd(&[b"EXISTS", b"f:19"])
            == b":1\r\n"));
    }
    assert_eq!(c.cmd(&[b"FLUSHDB"]), b"+OK\r\n");
    for i in 0..2 {
        let mut r = cl.node(i).redis_client();
        // Nothing but the cluster's own probe keys may come back.
        assert_eq!(r.cmd(&[b"DBSIZE"]), b":0\r\n", "n{i}");
    }
    assert_eq!(c.cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    // A node that cannot flush is named; the others flushed.
    let mut cl = cl;
    cl.node_mut(1).kill();
    assert_eq!(c.cmd(&[b"SET", b"f:0", b"v"]), b"+OK\r\n");
    let reply = String::from_utf8_lossy(&c.cmd(&[b"FLUSHDB"])).into_owned();
    assert!(
        reply.starts_with("-ERR Storage: the flush failed on 1 of 2 (node 127.0.0.1:")
            && reply.contains("(dc1/rack2): ERR Peer"),
        "{reply}"
    );
    assert_eq!(cl.node(0).redis_client().cmd(&[b"DBSIZE"]), b":0\r\n");
}

#[test]
fn client_list_info_and_kill_in_redis_format() {
    let (_redis, proxy) = single();
    let mut a = proxy.client();
    let mut b = proxy.client();
    assert_eq!(b.cmd(&[b"CLIENT", b"SETNAME", b"worker-b"]), b"+OK\r\n");
    let id_b = String::from_utf8_lossy(&b.cmd(&[b"CLIENT", b"ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    let list = String::from_utf8_lossy(&a.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    let lines: Vec<&str> = list.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 2, "{list}");
    let fields = [
        "id=",
        " addr=127.0.0.1:",
        " laddr=127.0.0.1:",
        " fd=",
        " name=",
        " age=",
        " idle=",
        " flags=N",
        " db=0",
        " sub=0",
        " psub=0",
        " multi=-1",
        " cmd=",
        " user=default",
        " resp=2",
    ];
    for l in &lines {
        for f in fields {
            assert!(l.contains(f), "{f} missing in {l}");
        }
    }
    assert!(list.contains(&format!("id={id_b} ")), "{list}");
    assert!(list.contains("name=worker-b "), "{list}");
    let info = String::from_utf8_lossy(&a.cmd(&[b"CLIENT", b"INFO"])).into_owned();
    assert!(info.contains("cmd=client|info"), "{info}");
    assert_eq!(
        a.cmd(&[b"CLIENT", b"KILL", b"ID", id_b.as_bytes()]),
        b":1\r\n"
    );
    assert!(b.wait_closed(Duration::from_secs(5)));
    assert_eq!(
        a.cmd(&[b"CLIENT", b"KILL", b"127.0.0.1:1"]),
        b"-ERR No such client\r\n"
    );
    let info = String::from_utf8_lossy(&a.cmd(&[b"INFO"])).into_owned();
    assert!(info.contains("# Server\r\n"), "{info}");
    assert!(info.contains("# Dynomite\r\ndynomite_version:"), "{info}");
}

#[test]
fn script_kill_reaches_a_busy_redis() {
    let (redis, proxy) = single();
    redis
        .client()
        .cmd(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]);
    let mut busy = proxy.client();
    // A script that runs until it is killed.
    busy.send(&encode(&[b"EVAL", b"while true do end", b"0"]));
    let mut c = proxy.client();
    let mut last = Vec::new();
    assert!(
        poll_until(Duration::from_secs(10), || {
            last = c.cmd(&[b"SCRIPT", b"KILL"]);
            last == b"+OK\r\n"
        }),
        "SCRIPT KILL answered {}",
        show(&last)
    );
    let reply = busy.read_reply();
    assert!(
        reply.starts_with(b"-ERR Script killed by user with SCRIPT KILL"),
        "{}",
        show(&reply)
    );
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn redis_py_transactions_and_watch_loops() {
    require_redis_py();
    let (_redis, proxy) = single();
    let out = run_client(
        "python3",
        &["txn_redis_py_check.py", &proxy.port().to_string()],
    );
    assert!(out.contains("txn redis-py: all checks passed"), "{out}");
}

/// Fails unless the python module is installed (tests/clients/install.sh).
fn require_python(module: &str) {
    python_module_version(
        module,
        &format!("{module} is required: run tests/clients/install.sh"),
    );
}

#[test]
fn django_cache_set_many_and_clear_in_database_1() {
    require_python("django");
    let (redis, proxy) = single();
    let port = proxy.port().to_string();
    let out = run_client("python3", &["django_cache_check.py", &port, "1", "keep"]);
    assert!(out.contains("django: all checks passed"), "{out}");
    let mut d = redis.client();
    assert_eq!(d.cmd(&[b"DBSIZE"]), b":0\r\n", "nothing in database 0");
    assert_eq!(d.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(d.cmd(&[b"DBSIZE"]), b":3\r\n");
    let out = run_client("python3", &["django_cache_check.py", &port, "1"]);
    assert!(out.contains("django: all checks passed"), "{out}");
    assert_eq!(d.cmd(&[b"DBSIZE"]), b":0\r\n");
}

#[test]
fn django_cache_through_two_racks() {
    require_python("django");
    let cl = Cluster::start(&two_racks());
    let port = cl.node(0).port().to_string();
    let out = run_client("python3", &["django_cache_check.py", &port, "0", "keep"]);
    assert!(out.contains("django: all checks passed"), "{out}");
    for k in [":1:dj:b", ":1:dj:c", ":1:dj:n"] {
        let want = cl.node(0).redis_get(k.as_bytes());
        assert_ne!(want, b"$-1\r\n", "{k}");
        let mut r = cl.node(1).redis_client();
        assert!(
            poll_until(REPLICATION_TIMEOUT, || r.cmd(&[b"GET", k.as_bytes()])
                == want),
            "{k} differs between the racks"
        );
    }
    let out = run_client("python3", &["django_cache_check.py", &port, "0"]);
    assert!(out.contains("django: all checks passed"), "{out}");
}

#[test]
fn rq_enqueue_and_a_burst_worker() {
    require_python("rq");
    let (_redis, proxy): (RedisServer, Dynomite) = single();
    let out = run_client("python3", &["rq_check.py", &proxy.port().to_string()]);
    assert!(out.contains("rq: all checks passed"), "{out}");
}

#[test]
fn a_peer_frame_with_the_database_flag_runs_in_that_database() {
    use std::io::{Read, Write};
    let cl = Cluster::start(&[node("dc1", "rack1", &[0])]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", cl.node(0).dyn_port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Flags 64 (FLAG_DB), version 1: database 1.
    s.write_all(
        b"   $2014$ 5 3 64 1 1 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n\
          $2014$ 6 3 0 1 1 *1 d *32\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$4\r\nzero\r\n",
    )
    .unwrap();
    let want: &[u8] =
        b"   $2014$ 5 5 64 1 1 *1 d *5\r\n+OK\r\n   $2014$ 6 5 0 1 1 *1 d *5\r\n+OK\r\n";
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < want.len() {
        let n = s.read(&mut buf).expect("reply frames");
        assert!(n > 0, "closed after \"{}\"", show(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(show(&got), show(want));
    let mut r = cl.node(0).redis_client();
    assert_eq!(r.cmd(&[b"GET", b"foo"]), bulk(b"zero"));
    assert_eq!(r.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(r.cmd(&[b"GET", b"foo"]), bulk(b"bar"));
}

/// Reads from a fake peer until a whole frame whose payload contains
/// `want` has arrived, or `wait` passed; answers every other frame (the
/// probe's PING gets `+PONG`, anything else `+OK`). Returns that frame's
/// header line and id.
fn fake_peer_frame(
    s: &mut std::net::TcpStream,
    buf: &mut Vec<u8>,
    want: &[u8],
    wait: Duration,
) -> Option<(String, u64)> {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + wait;
    let mut chunk = [0u8; 4096];
    loop {
        // Whole frames at the front of the buffer: header line, payload.
        while let Some(start) = buf.windows(6).position(|w| w == b"$2014$") {
            let Some(nl) = buf[start..].windows(2).position(|w| w == b"\r\n") else {
                break;
            };
            let header = String::from_utf8_lossy(&buf[start..start + nl]).into_owned();
            let len: usize = header
                .rsplit('*')
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            let body = start + nl + 2;
            if buf.len() < body + len {
                break;
            }
            let payload = buf[body..body + len].to_vec();
            buf.drain(..body + len);
            let id: u64 = header.split(' ').nth(1).unwrap().parse().unwrap();
            if payload.windows(want.len()).any(|w| w == want) {
                return Some((header, id));
            }
            let answer: &[u8] = if payload.windows(4).any(|w| w == b"PING") {
                b"+PONG\r\n"
            } else {
                b"+OK\r\n"
            };
            let mut f = format!("   $2014$ {id} 5 0 1 1 *1 d *{}\r\n", answer.len()).into_bytes();
            f.extend_from_slice(answer);
            s.write_all(&f).unwrap();
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) => panic!("the node closed the fake peer's connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("fake peer read: {e}"),
        }
    }
}

#[test]
fn a_c_peer_that_ignores_the_database_gets_its_copy_refused() {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The fake peer (a C node) is rack2's only node.
    let seed = crate::harness::conf::seed(port, "rack2", "dc1", "1000");
    let cl = Cluster::start_with_seeds(&[node("dc1", "rack1", &[1000])], &[], &[seed]);
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = Vec::new();
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(
        c.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_QUORUM"]),
        b"+OK\r\n"
    );
    // Until the node sees the fake peer's connection up, the copy fails at
    // once: write again.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let (header, id) = loop {
        c.send(&encode(&[b"SET", b"cpeer", b"v"]));
        if let Some(f) = fake_peer_frame(&mut s, &mut buf, b"cpeer", Duration::from_secs(1)) {
            break f;
        }
        let _ = c.read_reply();
        assert!(
            std::time::Instant::now() < deadline,
            "no copy reached the fake peer"
        );
    };
    // Flags 64 (FLAG_DB), the database in the version field.
    assert!(header.contains(" 3 64 1 "), "{header}");
    // A C node answers without the flag: it ran the copy in database 0.
    s.write_all(format!("   $2014$ {id} 5 0 1 1 *1 d *5\r\n+OK\r\n").as_bytes())
        .unwrap();
    assert_eq!(
        show(&c.read_reply()),
        show(
            b"-ERR Peer: the peer cannot run requests in another database (a C node ran it in \
               its default database)\r\n"
        )
    );
    // This node's own copy ran in database 1.
    let mut r = cl.node(0).redis_client();
    assert_eq!(r.cmd(&[b"SELECT", b"1"]), b"+OK\r\n");
    assert_eq!(r.cmd(&[b"GET", b"cpeer"]), bulk(b"v"));
}

/// Every key of a redis (asked directly), sorted, without the cluster's
/// probe keys.
fn all_keys(r: &mut Client) -> Vec<String> {
    let reply = String::from_utf8_lossy(&r.cmd(&[b"KEYS", b"*"])).into_owned();
    let mut keys: Vec<String> = reply
        .split("\r\n")
        .skip(1)
        .filter(|l| !l.starts_with('$') && !l.is_empty() && !l.starts_with("__probe:"))
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

#[test]
fn rq_through_two_racks_leaves_identical_racks() {
    require_python("rq");
    let cl = Cluster::start(&two_racks());
    let out = run_client("python3", &["rq_check.py", &cl.node(0).port().to_string()]);
    assert!(out.contains("rq: all checks passed"), "{out}");
    let mut r0 = cl.node(0).redis_client();
    let mut r1 = cl.node(1).redis_client();
    let want = all_keys(&mut r0);
    assert!(want.iter().any(|k| k.starts_with("rq:job:")), "{want:?}");
    let mut last = Vec::new();
    assert!(
        poll_until(REPLICATION_TIMEOUT, || {
            last = all_keys(&mut r1);
            last == want
        }),
        "rack1 {want:?}\nrack2 {last:?}"
    );
    for k in want.iter().filter(|k| k.starts_with("rq:job:")) {
        let a = r0.cmd(&[b"HGET", k.as_bytes(), b"status"]);
        let b = r1.cmd(&[b"HGET", k.as_bytes(), b"status"]);
        assert_eq!(show(&a), show(&b), "{k}");
    }
}
