//! Blocking commands through the node (src/blocking.rs): replies byte for
//! byte against a direct redis (RESP2 and RESP3), a blocked client woken by
//! another client, blocked clients that disconnect (their dedicated
//! datastore connections go, nothing is popped for them), WAIT refused,
//! BRPOP woken by an LPUSH through a node of another rack with both racks'
//! data identical afterwards, keys of other owners refused, and real
//! workers: Sidekiq's server (BRPOP) running a job, and Celery.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::cluster::{node, Cluster};
use crate::harness::{
    bulk, clients_dir, encode, poll_until, require_program, run_with_deadline, show, single,
    wait_for, Client,
};

/// How long a copy sent to another rack may take to land.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// A request sequence whose replies must be redis' own. Every blocking
/// command finds its data or times out after a short wait.
const SCRIPT: &[&[&str]] = &[
    &["RPUSH", "l", "a", "b", "c", "d"],
    &["BLPOP", "l", "0"],
    &["BRPOP", "nothing", "l", "0"],
    &["BLPOP", "nothing", "0.05"],
    &["BRPOPLPUSH", "l", "l2", "0"],
    &["BLMOVE", "l2", "l", "LEFT", "RIGHT", "0"],
    &["BLMPOP", "0.05", "2", "nothing", "l", "LEFT", "COUNT", "5"],
    &["BLMPOP", "0.05", "1", "l", "RIGHT"],
    &["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"],
    &["BZPOPMIN", "z", "0"],
    &["BZPOPMAX", "nothing", "z", "0"],
    &["BZMPOP", "0.05", "1", "z", "MIN", "COUNT", "5"],
    &["BZPOPMIN", "z", "0.05"],
    &["XADD", "s", "1-1", "f", "v"],
    &["XREAD", "BLOCK", "50", "STREAMS", "s", "0"],
    &["XREAD", "BLOCK", "50", "STREAMS", "s", "$"],
    &["XREAD", "COUNT", "1", "STREAMS", "s", "0"],
    &["XGROUP", "CREATE", "s", "g", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "50",
        "STREAMS",
        "s",
        ">",
    ],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "50",
        "STREAMS",
        "s",
        ">",
    ],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "0"],
    &["BLPOP", "l", "notanumber"],
    &["BLPOP", "l", "-1"],
    &["BLMPOP", "0", "0", "l", "LEFT"],
    &["BZMPOP", "0", "1", "z", "SIDEWAYS"],
    &["SET", "str", "v"],
    &["BLPOP", "str", "0"],
    &["LLEN", "l"],
];

/// Runs `SCRIPT` on `c` and returns the replies.
fn run_script(c: &mut Client) -> Vec<Vec<u8>> {
    SCRIPT
        .iter()
        .map(|args| {
            let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
            c.cmd(&a)
        })
        .collect()
}

/// The replies of `SCRIPT` from a direct redis and through the node, in
/// RESP2 or RESP3.
fn compare_script(resp3: bool) {
    let (redis, proxy) = single();
    let mut direct = redis.client();
    let mut through = proxy.client();
    if resp3 {
        direct.cmd(&[b"HELLO", b"3"]);
        through.cmd(&[b"HELLO", b"3"]);
    }
    let want = run_script(&mut direct);
    assert_eq!(direct.cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    let got = run_script(&mut through);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(
            show(g),
            show(w),
            "reply to {:?} (RESP{})",
            SCRIPT[i],
            if resp3 { 3 } else { 2 }
        );
    }
}

#[test]
fn replies_match_redis_resp2() {
    compare_script(false);
}

#[test]
fn replies_match_redis_resp3() {
    compare_script(true);
}

#[test]
fn wait_is_refused_clearly() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    let reply = c.cmd(&[b"WAIT", b"1", b"0"]);
    assert_eq!(
        show(&reply),
        "-ERR unsupported command 'wait': copies go to the other racks by the consistency \
         level\\r\\n"
    );
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

/// `INFO clients` field `name` of a redis, asked directly.
fn redis_clients_field(c: &mut Client, name: &str) -> u64 {
    let info = c.cmd(&[b"INFO", b"clients"]);
    let text = String::from_utf8_lossy(&info);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_blocked_client_is_woken_and_nobody_waits_behind_it() {
    let (_redis, proxy) = single();
    let mut blocked = proxy.client();
    blocked.send(&encode(&[b"BRPOP", b"q", b"0"]));
    // Other clients' requests share the node's datastore connections: they
    // are answered while the BRPOP waits.
    let mut other = proxy.client();
    for i in 0..50 {
        let v = format!("v{i}");
        assert_eq!(other.cmd(&[b"SET", b"k", v.as_bytes()]), b"+OK\r\n");
    }
    assert_eq!(other.cmd(&[b"LPUSH", b"q", b"job"]), b":1\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(b"q"));
    want.extend(bulk(b"job"));
    assert_eq!(show(&blocked.read_reply()), show(&want));
    // The same client blocks again (its connection was released or is
    // reused) and gets the next element.
    blocked.send(&encode(&[b"BLPOP", b"q", b"0"]));
    assert_eq!(other.cmd(&[b"RPUSH", b"q", b"second"]), b":1\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(b"q"));
    want.extend(bulk(b"second"));
    assert_eq!(show(&blocked.read_reply()), show(&want));
}

#[test]
fn blocked_clients_that_disconnect_release_their_connections() {
    let (redis, proxy) = single();
    let mut admin = redis.client();
    let mut c = proxy.client();
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    let base = redis_clients_field(&mut admin, "connected_clients");
    let mut blocked: Vec<Client> = (0..20).map(|_| proxy.client()).collect();
    for b in blocked.iter_mut() {
        b.send(&encode(&[b"BLPOP", b"q", b"0"]));
    }
    wait_for(
        Duration::from_secs(10),
        "20 blocked clients at redis",
        || redis_clients_field(&mut admin, "blocked_clients") == 20,
    );
    assert_eq!(
        redis_clients_field(&mut admin, "connected_clients"),
        base + 20,
        "one dedicated connection per blocked client"
    );
    drop(blocked);
    wait_for(
        Duration::from_secs(10),
        "the dedicated connections closed",
        || {
            redis_clients_field(&mut admin, "blocked_clients") == 0
                && redis_clients_field(&mut admin, "connected_clients") == base
        },
    );
    // Nothing was popped for the clients that left.
    assert_eq!(c.cmd(&[b"LPUSH", b"q", b"x"]), b":1\r\n");
    assert_eq!(c.cmd(&[b"LLEN", b"q"]), b":1\r\n");
    // A new blocked client is served as before.
    let mut again = proxy.client();
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(b"q"));
    want.extend(bulk(b"x"));
    assert_eq!(show(&again.cmd(&[b"BLPOP", b"q", b"0"])), show(&want));
    wait_for(
        Duration::from_secs(10),
        "the last dedicated connection released",
        || redis_clients_field(&mut admin, "connected_clients") == base,
    );
}

/// Two racks of one node each in dc1: every node holds every key.
fn two_racks() -> Cluster {
    Cluster::start(&[
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack2", &[2147483647]),
    ])
}

/// Polls until both racks' redis answer `args` alike, and returns it.
fn wait_identical(cl: &Cluster, args: &[&[u8]], want: &[u8]) {
    let ok = poll_until(REPLICATION_TIMEOUT, || {
        let a = cl.node(0).redis_client().cmd(args);
        let b = cl.node(1).redis_client().cmd(args);
        a == b && a == want
    });
    assert!(
        ok,
        "racks differ or are not as expected for {:?}: rack1 {} rack2 {} (want {})",
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>(),
        show(&cl.node(0).redis_client().cmd(args)),
        show(&cl.node(1).redis_client().cmd(args)),
        show(want)
    );
}

#[test]
fn brpop_woken_by_lpush_through_another_rack_and_racks_stay_identical() {
    let cl = two_racks();
    let mut consumer = cl.node(0).client();
    let mut producer = cl.node(1).client();
    consumer.send(&encode(&[b"BRPOP", b"q", b"30"]));
    // The consumer is blocked at its node's datastore before the push.
    wait_for(Duration::from_secs(10), "the consumer blocked", || {
        redis_clients_field(&mut cl.node(0).redis_client(), "blocked_clients") == 1
    });
    assert_eq!(producer.cmd(&[b"LPUSH", b"q", b"a", b"b", b"c"]), b":3\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(b"q"));
    want.extend(bulk(b"a"));
    assert_eq!(show(&consumer.read_reply()), show(&want));
    let mut rest = b"*2\r\n".to_vec();
    rest.extend(bulk(b"c"));
    rest.extend(bulk(b"b"));
    wait_identical(&cl, &[b"LRANGE", b"q", b"0", b"-1"], &rest);

    // A sorted set: the popped member leaves both racks.
    assert_eq!(
        producer.cmd(&[b"ZADD", b"z", b"1", b"one", b"2", b"two"]),
        b":2\r\n"
    );
    wait_identical(&cl, &[b"ZCARD", b"z"], b":2\r\n");
    let r = consumer.cmd(&[b"BZPOPMIN", b"z", b"5"]);
    assert!(show(&r).contains("one"), "BZPOPMIN: {}", show(&r));
    let mut two = b"*1\r\n".to_vec();
    two.extend(bulk(b"two"));
    wait_identical(&cl, &[b"ZRANGE", b"z", b"0", b"-1"], &two);

    // BLMOVE moves on both racks.
    let r = consumer.cmd(&[b"BLMOVE", b"q", b"dst", b"RIGHT", b"LEFT", b"5"]);
    assert_eq!(r, bulk(b"b"));
    let mut dst = b"*1\r\n".to_vec();
    dst.extend(bulk(b"b"));
    wait_identical(&cl, &[b"LRANGE", b"dst", b"0", b"-1"], &dst);
    let mut q = b"*1\r\n".to_vec();
    q.extend(bulk(b"c"));
    wait_identical(&cl, &[b"LRANGE", b"q", b"0", b"-1"], &q);

    // A stream read by a group: the entry is pending on both racks.
    assert_eq!(
        consumer.cmd(&[b"XGROUP", b"CREATE", b"s", b"g", b"$", b"MKSTREAM"]),
        b"+OK\r\n"
    );
    wait_identical(&cl, &[b"EXISTS", b"s"], b":1\r\n");
    consumer.send(&encode(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c1",
        b"BLOCK",
        b"10000",
        b"STREAMS",
        b"s",
        b">",
    ]));
    wait_for(Duration::from_secs(10), "the group reader blocked", || {
        redis_clients_field(&mut cl.node(0).redis_client(), "blocked_clients") == 1
    });
    let id = producer.cmd(&[b"XADD", b"s", b"5-1", b"f", b"v"]);
    assert_eq!(id, bulk(b"5-1"));
    let r = consumer.read_reply();
    assert!(show(&r).contains("5-1"), "XREADGROUP: {}", show(&r));
    let pending = cl.node(0).redis_client().cmd(&[b"XPENDING", b"s", b"g"]);
    assert!(
        show(&pending).starts_with("*4\\r\\n:1\\r\\n"),
        "{}",
        show(&pending)
    );
    wait_identical(&cl, &[b"XPENDING", b"s", b"g"], &pending);
}

#[test]
fn keys_of_other_owners_are_refused() {
    let cl = Cluster::start(&[
        node("dc1", "rack1", &[0]),
        node("dc1", "rack1", &[1431655765]),
        node("dc1", "rack1", &[2863311530]),
    ]);
    let mine = cl.key_owned_by("mine", 0);
    let other = cl.key_owned_by("other", 1);
    let mut c = cl.node(0).client();
    let r = c.cmd(&[b"BLPOP", &other, b"0"]);
    assert!(
        show(&r).starts_with("-ERR Dynomite: blocking commands run on the node that owns"),
        "{}",
        show(&r)
    );
    let r = c.cmd(&[b"BLPOP", &mine, &other, b"0"]);
    assert!(
        show(&r).starts_with("-ERR Dynomite: the keys of a blocking command must have one owner"),
        "{}",
        show(&r)
    );
    // A key of this node's own blocks and is served here.
    assert_eq!(c.cmd(&[b"RPUSH", &mine, b"v"]), b":1\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(&mine));
    want.extend(bulk(b"v"));
    assert_eq!(show(&c.cmd(&[b"BLPOP", &mine, b"1"])), show(&want));
}

/// A child process killed (by PID) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the Sidekiq server (one thread) on `port` with the test worker.
fn sidekiq_server(port: u16) -> Reaped {
    require_program(
        "ruby",
        &["-e", "require 'sidekiq'"],
        "Sidekiq is required: apt-get install ruby-sidekiq (or run tests/clients/install.sh)",
    );
    let child = Command::new("sidekiq")
        .args(["-r", "./sidekiq_worker.rb", "-c", "1"])
        .env("REDIS_URL", format!("redis://127.0.0.1:{port}/0"))
        .current_dir(clients_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sidekiq");
    Reaped(child)
}

/// Pushes one job with Sidekiq's client API through `port`.
fn sidekiq_push(port: u16, key: &str, value: &str) {
    let url = format!("redis://127.0.0.1:{port}/0");
    let out = Command::new("ruby")
        .args(["sidekiq_push.rb", key, value])
        .env("REDIS_URL", url)
        .current_dir(clients_dir())
        .output()
        .expect("run ruby");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("pushed"),
        "sidekiq_push.rb failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sidekiq_runs_a_job_through_one_node() {
    let (redis, proxy) = single();
    let _server = sidekiq_server(proxy.port());
    sidekiq_push(proxy.port(), "sk:result", "42");
    let mut direct = redis.client();
    wait_for(Duration::from_secs(30), "Sidekiq ran the job", || {
        direct.cmd(&[b"GET", b"sk:result"]) == bulk(b"42")
    });
    assert_eq!(direct.cmd(&[b"LLEN", b"queue:default"]), b":0\r\n");
}

#[test]
fn sidekiq_job_pushed_through_another_rack() {
    let cl = two_racks();
    let _server = sidekiq_server(cl.node(0).port());
    // Sidekiq's fetcher blocks in BRPOP at rack1's node.
    wait_for(Duration::from_secs(30), "Sidekiq's fetcher blocked", || {
        redis_clients_field(&mut cl.node(0).redis_client(), "blocked_clients") == 1
    });
    sidekiq_push(cl.node(1).port(), "sk:racks", "7");
    wait_identical(&cl, &[b"GET", b"sk:racks"], &bulk(b"7"));
    wait_identical(&cl, &[b"LLEN", b"queue:default"], b":0\r\n");
}

/// A Celery worker (`--pool=solo`) with a redis broker and result backend:
/// BRPOP for the queue, MULTI/EXEC for its writes (redis-py's transactional
/// pipeline), pub/sub for results; `delay().get()` returns the task's value.
#[test]
fn celery_runs_a_task_through_one_node() {
    let (_redis, proxy) = single();
    let mut cmd = Command::new("python3");
    cmd.arg("celery_check.py")
        .env("DYNOMITE_PORT", proxy.port().to_string())
        .current_dir(clients_dir());
    let (out, in_time) = run_with_deadline(&mut cmd, Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        in_time && out.status.success() && stdout.contains("celery: ok"),
        "celery_check.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same through two racks: the worker at rack1's node, the caller at
/// rack2's; afterwards both racks hold the same result and an empty queue.
#[test]
fn celery_runs_a_task_through_two_racks() {
    let cl = two_racks();
    let mut cmd = Command::new("python3");
    cmd.arg("celery_check.py")
        .env("DYNOMITE_PORT", cl.node(1).port().to_string())
        .env("DYNOMITE_WORKER_PORT", cl.node(0).port().to_string())
        .current_dir(clients_dir());
    let (out, in_time) = run_with_deadline(&mut cmd, Duration::from_secs(90));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        in_time && out.status.success() && stdout.contains("celery: ok"),
        "celery_check.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = stdout
        .lines()
        .find_map(|l| l.strip_prefix("task-id: "))
        .expect("the task id");
    let key = format!("celery-task-meta-{id}");
    let same = poll_until(REPLICATION_TIMEOUT, || {
        let a = cl.node(0).redis_get(key.as_bytes());
        a != b"$-1\r\n" && a == cl.node(1).redis_get(key.as_bytes())
    });
    assert!(
        same,
        "the result differs between racks: {} / {}",
        show(&cl.node(0).redis_get(key.as_bytes())),
        show(&cl.node(1).redis_get(key.as_bytes()))
    );
    wait_identical(&cl, &[b"LLEN", b"celery"], b":0\r\n");
}

#[test]
fn a_blocking_command_waits_in_the_database_its_client_selected() {
    let (redis, proxy) = single();
    let mut consumer = proxy.client();
    let mut producer = proxy.client();
    assert_eq!(consumer.cmd(&[b"SELECT", b"2"]), b"+OK\r\n");
    assert_eq!(producer.cmd(&[b"SELECT", b"2"]), b"+OK\r\n");
    consumer.send(&encode(&[b"BLPOP", b"db2q", b"10"]));
    wait_for(Duration::from_secs(10), "the consumer blocked", || {
        redis_clients_field(&mut redis.client(), "blocked_clients") == 1
    });
    assert_eq!(producer.cmd(&[b"LPUSH", b"db2q", b"x"]), b":1\r\n");
    let mut want = b"*2\r\n".to_vec();
    want.extend(bulk(b"db2q"));
    want.extend(bulk(b"x"));
    assert_eq!(show(&consumer.read_reply()), show(&want));
    // Nothing of it in database 0.
    assert_eq!(redis.client().cmd(&[b"EXISTS", b"db2q"]), b":0\r\n");
}

#[test]
fn the_node_timeout_does_not_cut_a_blocking_command_short() {
    // The node's `timeout` is 200 ms; the command's own 1.5 s applies: the
    // answer is redis' nil, not the node's timeout error.
    let redis = crate::harness::RedisServer::start();
    let proxy = crate::harness::Dynomite::start_with(&[redis.port()], &[("timeout", "200")]);
    let mut c = proxy.client();
    assert_eq!(show(&c.cmd(&[b"BLPOP", b"never", b"1.5"])), "*-1\\r\\n");
    assert_eq!(show(&c.cmd(&[b"BRPOP", b"never", b"0.5"])), "*-1\\r\\n");
}
