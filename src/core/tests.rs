//! Reactor tests of one node (server.rs, dnode/peer.rs timeouts; core's
//! loop): the node runs in the test thread through `harness`, in front of a
//! real redis-server or of a socket that hangs or refuses.

use std::time::{Duration, Instant};

use crate::core::harness::{
    bulk, datastore_backoff, datastore_ejected, datastore_failures, datastore_timers,
    expire_datastore_backoff, fault_stats, key_hash, key_shard, key_where, msgs_in_use,
    peer_connected, pool_stats, pump, server_stats, spec, Cluster, Hang, Node, Redis, Refuse,
};

/// `timeout:` of these tests, in ms.
const TIMEOUT_MS: u64 = 200;

#[test]
fn a_node_started_in_process_proxies_to_redis() {
    let redis = Redis::start();
    let mut nodes = [Node::start(&format!("servers:\n- {}:1\n", redis.addr()))];
    let mut c = nodes[0].client();
    assert_eq!(c.call(&mut nodes, &[b"SET", b"k", b"v"]), "+OK\r\n");
    assert_eq!(c.call(&mut nodes, &[b"GET", b"k"]), bulk(b"v"));
    assert_eq!(redis.cmd(&[b"GET", b"k"]), bulk(b"v"));
    drop(c);
    pump(&mut nodes, "client close", |n| {
        pool_stats(&n[0].ctx).client_eof == 1
    });
    assert_eq!(msgs_in_use(&nodes[0].ctx), 0, "every message freed");
}

#[test]
fn a_datastore_that_never_answers_times_out_alone() {
    let hang = Hang::bind();
    let redis = Redis::start();
    let mut nodes = [Node::start(&format!(
        "servers:\n- {}:1\n- {}:1\ntimeout: {TIMEOUT_MS}\n",
        hang.addr(),
        redis.addr()
    ))];
    let slow = key_where(&nodes[0].ctx, |ctx, k| key_shard(ctx, k) == 0);
    let fast = key_where(&nodes[0].ctx, |ctx, k| key_shard(ctx, k) == 1);

    let mut a = nodes[0].client();
    let sent = Instant::now();
    a.send(&[b"GET", &slow]);
    // Another client's request to the live shard is not held up.
    let mut b = nodes[0].client();
    assert_eq!(b.call(&mut nodes, &[b"GET", &fast]), "$-1\r\n");
    assert_eq!(a.try_reply(), None, "answered before its timeout");

    assert_eq!(
        a.wait_reply(&mut nodes),
        "-ERR Storage: Datastore timed out\r\n"
    );
    assert!(sent.elapsed() >= Duration::from_millis(TIMEOUT_MS));
    assert_eq!(server_stats(&nodes[0].ctx, 0).server_timedout_requests, 1);
    // The connection that saw the timeout goes on.
    assert_eq!(a.call(&mut nodes, &[b"GET", &fast]), "$-1\r\n");

    // A fresh connection's request to the hung shard gets its own deadline,
    // behind the swallowed one on the same datastore connection.
    let mut c = nodes[0].client();
    let sent = Instant::now();
    let reply = c.call(&mut nodes, &[b"GET", &slow]);
    assert_eq!(reply, "-ERR Storage: Datastore timed out\r\n");
    assert!(sent.elapsed() >= Duration::from_millis(TIMEOUT_MS));
    assert_eq!(server_stats(&nodes[0].ctx, 0).server_timedout_requests, 2);
    assert_eq!(server_stats(&nodes[0].ctx, 1).server_timedout_requests, 0);

    // The datastore connection has answered nothing for twice the timeout
    // (at least 1 s): the watchdog closes it and reconnects at once (the
    // hung server completes connects from its backlog), without a back-off.
    pump(&mut nodes, "the stuck datastore connection closed", |n| {
        fault_stats(&n[0].ctx).server_stalls == 1
    });
    assert_eq!(
        datastore_backoff(&nodes[0].ctx, 0, 0).1,
        None,
        "no back-off"
    );
    let sent = Instant::now();
    let reply = c.call(&mut nodes, &[b"GET", &slow]);
    assert_eq!(reply, "-ERR Storage: Datastore timed out\r\n");
    assert!(sent.elapsed() >= Duration::from_millis(TIMEOUT_MS));
    assert_eq!(server_stats(&nodes[0].ctx, 0).server_timedout_requests, 3);
    // The other shard was never affected.
    assert_eq!(a.call(&mut nodes, &[b"GET", &fast]), "$-1\r\n");
}

#[test]
fn a_peer_that_never_answers_times_out() {
    let hang = Hang::bind();
    // One rack: this node owns the lower half of the ring, the hung peer the
    // upper half.
    let seed = format!("{}:r1:dc1:4294967295 hung", hang.addr());
    let mut cl = Cluster::start(
        &[spec("dc1", "r1", "2147483647")],
        &[seed],
        &format!("timeout: {TIMEOUT_MS}\n"),
    );
    let nodes = &mut cl.nodes;
    pump(nodes, "connection to the hung peer", |n| {
        peer_connected(&n[0].ctx, hang.addr())
    });
    let remote = key_where(&nodes[0].ctx, |ctx, k| key_hash(ctx, k) > 2147483647);
    let local = key_where(&nodes[0].ctx, |ctx, k| key_hash(ctx, k) <= 2147483647);

    let mut a = nodes[0].client();
    let sent = Instant::now();
    a.send(&[b"GET", &remote]);
    let mut b = nodes[0].client();
    assert_eq!(b.call(nodes, &[b"GET", &local]), "$-1\r\n");
    assert_eq!(a.try_reply(), None, "answered before its timeout");

    assert_eq!(a.wait_reply(nodes), "-ERR Peer: Peer Node timed out\r\n");
    // A same-DC peer read waits `timeout` plus 200 ms.
    assert!(sent.elapsed() >= Duration::from_millis(TIMEOUT_MS + 200));
    assert_eq!(pool_stats(&nodes[0].ctx).peer_timedout_requests, 1);
}

#[test]
fn a_refusing_datastore_backs_off_then_is_ejected() {
    let refuse = Refuse::bind();
    let redis = Redis::start();
    let mut nodes = [Node::start(&format!(
        "servers:\n- {}:1\n- {}:1\nserver_retry_timeout: 3000\nserver_failure_limit: 3\n\
         auto_eject_hosts: true\n",
        refuse.addr(),
        redis.addr()
    ))];
    let key = key_where(&nodes[0].ctx, |ctx, k| key_shard(ctx, k) == 0);
    let mut c = nodes[0].client();

    // Each failed connect doubles the back-off, up to 2 s (the reconnect
    // probes a datastore at least that often, even while it is ejected for
    // server_retry_timeout); the third consecutive failure ejects the shard.
    let steps = [
        (1, 1000, false),
        (2, 2000, false),
        (3, 2000, true),
        (4, 2000, true),
    ];
    for (failures, backoff_ms, ejected) in steps {
        if failures > 1 {
            expire_datastore_backoff(&mut nodes[0].ctx, 0, 0);
        }
        pump(&mut nodes, "a failed connect", |n| {
            datastore_failures(&n[0].ctx, 0) == failures
        });
        let ctx = &nodes[0].ctx;
        let (backoff, retry_at) = datastore_backoff(ctx, 0, 0);
        assert_eq!(
            backoff,
            Duration::from_millis(backoff_ms),
            "failure {failures}"
        );
        let retry_at = retry_at.expect("a reconnect is scheduled");
        let left = retry_at.saturating_duration_since(Instant::now());
        assert!(left <= backoff && left > backoff / 2, "retry in {left:?}");
        assert!(datastore_timers(ctx, 0, 0).contains(&retry_at));
        assert_eq!(datastore_ejected(ctx, 0), ejected, "failure {failures}");

        if !ejected {
            // During the back-off a request fails at once, without a connect.
            let reply = c.call(&mut nodes, &[b"GET", &key]);
            assert_eq!(reply, "-ERR Storage: Datastore refused connection\r\n");
            assert_eq!(datastore_failures(&nodes[0].ctx, 0), failures);
        }
    }
    // Ejected: the shard's keys go to the live datastore.
    assert_eq!(redis.cmd(&[b"SET", &key, b"moved"]), "+OK\r\n");
    assert_eq!(c.call(&mut nodes, &[b"GET", &key]), bulk(b"moved"));
    assert_eq!(pool_stats(&nodes[0].ctx).forward_error, 2);
}
