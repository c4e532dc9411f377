//! Pub/Sub through the node (src/pubsub.rs): the subscription context's
//! replies byte for byte against a direct redis, PUBLISH reaching every
//! node's datastore exactly once, redis-py subscribing through one node of
//! one rack and publishing through a node of another (RESP2 and RESP3), and
//! a subscriber that never reads: dropped alone, with a log line.

use std::thread;
use std::time::Duration;

use crate::harness::cluster::{node, Cluster};
use crate::harness::{bulk, encode, require_program, run_client, show, single, wait_for, Client};

/// Requests of a subscribed RESP2 client, pipelined in one write.
const PIPELINE: &[&[&str]] = &[
    &["SUBSCRIBE", "a", "b"],
    &["PING"],
    &["PING", "hi"],
    &["GET", "x"],
    &["UNSUBSCRIBE"],
    &["GET", "x"],
    &["PSUBSCRIBE", "p*"],
    &["PUNSUBSCRIBE"],
    &["SSUBSCRIBE", "s1"],
    &["SUNSUBSCRIBE"],
    &["UNSUBSCRIBE", "never"],
    &["PING"],
];

/// Sends `PIPELINE` at once, then reads `replies` replies.
fn pipeline_replies(c: &mut Client, replies: usize) -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for args in PIPELINE {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        all.extend(encode(&a));
    }
    c.send(&all);
    (0..replies).map(|_| c.read_reply()).collect()
}

#[test]
fn subscription_replies_match_redis() {
    let (redis, proxy) = single();
    // SUBSCRIBE 2, PING 2, GET 1, UNSUBSCRIBE 2, GET 1, PSUBSCRIBE 1,
    // PUNSUBSCRIBE 1, SSUBSCRIBE 1, SUNSUBSCRIBE 1, UNSUBSCRIBE never 1,
    // PING 1.
    let n = 14;
    let want = pipeline_replies(&mut redis.client(), n);
    let got = pipeline_replies(&mut proxy.client(), n);
    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
        assert_eq!(show(g), show(w), "reply {i}");
    }
    // After the last UNSUBSCRIBE the client is an ordinary client again.
    let mut c = proxy.client();
    c.cmd(&[b"SUBSCRIBE", b"c"]);
    let r = c.cmd(&[b"UNSUBSCRIBE", b"c"]);
    assert!(show(&r).ends_with(":0\\r\\n"), "{}", show(&r));
    assert_eq!(c.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"k"]), bulk(b"v"));
}

#[test]
fn a_resp3_subscriber_gets_push_messages_and_runs_commands() {
    let (_redis, proxy) = single();
    let mut c = proxy.client();
    c.cmd(&[b"HELLO", b"3"]);
    let mut want = b">3\r\n".to_vec();
    want.extend(bulk(b"subscribe"));
    want.extend(bulk(b"ch"));
    want.extend(b":1\r\n");
    assert_eq!(show(&c.cmd(&[b"SUBSCRIBE", b"ch"])), show(&want));
    // A RESP3 subscriber may run other commands.
    assert_eq!(c.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    let mut p = proxy.client();
    assert_eq!(p.cmd(&[b"PUBLISH", b"ch", b"hello"]), b":1\r\n");
    let mut want = b">3\r\n".to_vec();
    want.extend(bulk(b"message"));
    want.extend(bulk(b"ch"));
    want.extend(bulk(b"hello"));
    assert_eq!(show(&c.read_reply()), show(&want));
    assert_eq!(p.cmd(&[b"PUBSUB", b"CHANNELS"]), {
        let mut v = b"*1\r\n".to_vec();
        v.extend(bulk(b"ch"));
        v
    });
}

/// Two racks of one node each in dc1, and a second node in rack1.
fn three_nodes_two_racks() -> Cluster {
    Cluster::start(&[
        node("dc1", "rack1", &[0]),
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack2", &[0]),
    ])
}

#[test]
fn publish_reaches_every_nodes_datastore_once() {
    let cl = three_nodes_two_racks();
    // One subscriber straight at each node's redis.
    let mut subs: Vec<Client> = (0..3)
        .map(|i| {
            let mut c = cl.node(i).redis_client();
            c.cmd(&[b"SUBSCRIBE", b"news"]);
            c
        })
        .collect();
    let mut p = cl.node(0).client();
    // The answer is this node's datastore's count.
    assert_eq!(p.cmd(&[b"PUBLISH", b"news", b"one"]), b":1\r\n");
    assert_eq!(p.cmd(&[b"SPUBLISH", b"news", b"two"]), b":0\r\n");
    assert_eq!(p.cmd(&[b"PUBLISH", b"news", b"end"]), b":1\r\n");
    for (i, s) in subs.iter_mut().enumerate() {
        for body in [&b"one"[..], b"end"] {
            let mut want = b"*3\r\n".to_vec();
            want.extend(bulk(b"message"));
            want.extend(bulk(b"news"));
            want.extend(bulk(body));
            // Exactly once: "one" then "end", nothing in between.
            assert_eq!(show(&s.read_reply()), show(&want), "node {i}");
        }
    }
}

#[test]
fn redis_py_pubsub_across_two_racks() {
    crate::clients::require_redis_py();
    let cl = Cluster::start(&[
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack2", &[2147483647]),
    ]);
    let a = cl.node(0).port().to_string();
    let b = cl.node(1).port().to_string();
    for proto in ["2", "3"] {
        let out = run_client("python3", &["pubsub_check.py", &a, &b, proto]);
        assert!(
            out.contains(&format!("pubsub protocol {proto}: ok")),
            "pubsub_check.py output:\n{out}"
        );
    }
}

#[test]
fn a_subscriber_that_never_reads_is_dropped_alone() {
    require_program("redis-server", &["--version"], "install redis-server");
    let (redis, proxy) = single();
    let mut slow = proxy.client();
    assert!(show(&slow.cmd(&[b"SUBSCRIBE", b"big"])).ends_with(":1\\r\\n"));
    let mut good = proxy.client();
    assert!(show(&good.cmd(&[b"SUBSCRIBE", b"big"])).ends_with(":1\\r\\n"));
    const MESSAGES: usize = 600;
    let body = vec![b'x'; 100 * 1024];
    let reader = thread::spawn(move || {
        let mut n = 0;
        for _ in 0..MESSAGES {
            let r = good.read_reply();
            assert!(r.starts_with(b"*3\r\n$7\r\nmessage\r\n"), "{}", show(&r));
            n += 1;
        }
        (good, n)
    });
    let mut p = proxy.client();
    for _ in 0..MESSAGES {
        let r = p.cmd(&[b"PUBLISH", b"big", &body]);
        assert!(r.starts_with(b":"), "{}", show(&r));
    }
    let (mut good, n) = reader.join().expect("reader");
    assert_eq!(n, MESSAGES, "the reading subscriber got every message");
    // The slow one is closed (what was already in its socket buffers may
    // still be read first), and the node says why.
    assert!(
        slow.wait_closed(Duration::from_secs(30)),
        "slow subscriber not closed"
    );
    wait_for(Duration::from_secs(10), "the log line", || {
        proxy.log().contains("subscriber does not read")
    });
    // Its subscription connection is gone too; the others serve on.
    let mut direct = redis.client();
    wait_for(
        Duration::from_secs(10),
        "one subscriber left at redis",
        || {
            let r = direct.cmd(&[b"PUBSUB", b"NUMSUB", b"big"]);
            r.ends_with(b":1\r\n")
        },
    );
    assert_eq!(p.cmd(&[b"PUBLISH", b"big", b"last"]), b":1\r\n");
    let r = good.read_reply();
    assert!(r.ends_with(b"$4\r\nlast\r\n"), "{}", show(&r));
    assert_eq!(p.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn a_lost_subscription_connection_closes_its_client() {
    let (redis, proxy) = single();
    let mut sub = proxy.client();
    assert!(show(&sub.cmd(&[b"SUBSCRIBE", b"ch"])).ends_with(":1\\r\\n"));
    let mut other = proxy.client();
    assert_eq!(other.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    // The datastore drops the subscription connection.
    let killed = redis
        .client()
        .cmd(&[b"CLIENT", b"KILL", b"TYPE", b"pubsub"]);
    assert_eq!(killed, b":1\r\n");
    assert!(
        sub.wait_closed(Duration::from_secs(10)),
        "the subscriber was left waiting"
    );
    // Nobody else noticed; a new subscriber is served.
    assert_eq!(other.cmd(&[b"GET", b"k"]), bulk(b"v"));
    let mut again = proxy.client();
    assert!(show(&again.cmd(&[b"SUBSCRIBE", b"ch"])).ends_with(":1\\r\\n"));
    assert_eq!(other.cmd(&[b"PUBLISH", b"ch", b"x"]), b":1\r\n");
    assert!(show(&again.read_reply()).ends_with("$1\\r\\nx\\r\\n"));
}
