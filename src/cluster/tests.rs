//! Reactor tests of the coordinator and quorum decisions (coordinator.rs,
//! response_mgr.rs): several nodes run in the test thread through
//! `core::harness`, each in front of its own redis-server.
//!
//! ```text
//!  three racks, one node each (every node holds every key):
//!      n0 (r1) ── n1 (r2) ── n2 (r3)      DC_QUORUM: 2 of 3 answers agree
//!  one rack, two nodes (keys split by owner):
//!      n0 owns hashes ≤ 2147483647, n1 the rest
//! ```

use std::time::{Duration, Instant};

use crate::core::harness::{
    bulk, key_hash, key_where, keys_where, msgs_in_use, peer_connected, pool_stats, pump, pump_for,
    spec, Client, Cluster, Hang, Refuse,
};

/// Pool directives of the quorum tests.
const QUORUM: &str = "read_consistency: DC_QUORUM\nwrite_consistency: DC_QUORUM\ntimeout: 200\n";
/// Half of the token space: in a rack of two nodes, the first owns hashes up
/// to here.
const HALF: u32 = 2147483647;

fn three_racks() -> Cluster {
    Cluster::start(
        &[
            spec("dc1", "r1", "1"),
            spec("dc1", "r2", "1"),
            spec("dc1", "r3", "1"),
        ],
        &[],
        QUORUM,
    )
}

/// An array reply of `items`, each already encoded.
fn array(items: &[String]) -> String {
    format!("*{}\r\n{}", items.len(), items.concat())
}

#[test]
fn dc_quorum_write_and_read_on_three_racks() {
    let mut cl = three_racks();
    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &[b"SET", b"qk", b"v1"]), "+OK\r\n");
    // The client has its answer after two racks; the third follows.
    pump(&mut cl.nodes, "the write on every rack", |_| {
        cl.redis
            .iter()
            .all(|r| r.cmd(&[b"GET", b"qk"]) == bulk(b"v1"))
    });
    let mut c1 = cl.nodes[1].client();
    assert_eq!(c1.call(&mut cl.nodes, &[b"GET", b"qk"]), bulk(b"v1"));
    assert_eq!(c1.call(&mut cl.nodes, &[b"GET", b"nokey"]), "$-1\r\n");
    for n in &cl.nodes {
        let pool = pool_stats(&n.ctx);
        assert_eq!(pool.client_non_quorum_w_responses, 0);
        assert_eq!(pool.client_non_quorum_r_responses, 0);
        assert_eq!(pool.forward_error, 0);
    }
}

#[test]
fn dc_quorum_answers_with_one_rack_stopped() {
    let mut cl = three_racks();
    cl.redis(2).stop();
    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &[b"SET", b"qk", b"v2"]), "+OK\r\n");
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", b"qk"]), bulk(b"v2"));
    // Through a node whose own datastore is the stopped one, too.
    let mut c2 = cl.nodes[2].client();
    assert_eq!(c2.call(&mut cl.nodes, &[b"GET", b"qk"]), bulk(b"v2"));
    for i in 0..2 {
        assert_eq!(cl.redis(i).cmd(&[b"GET", b"qk"]), bulk(b"v2"));
    }
    assert_eq!(pool_stats(&cl.nodes[0].ctx).forward_error, 0);
}

#[test]
fn dc_quorum_answers_without_a_hung_rack_and_drops_its_late_child() {
    // Racks r1 and r2 are nodes of the test; r3 is a peer that takes
    // requests and never answers.
    let hung = Hang::bind();
    let seed = format!("{}:r3:dc1:1 hung", hung.addr());
    let mut cl = Cluster::start(
        &[spec("dc1", "r1", "1"), spec("dc1", "r2", "1")],
        &[seed],
        QUORUM,
    );
    pump(&mut cl.nodes, "connections to the hung peer", |n| {
        n.iter().all(|n| peer_connected(&n.ctx, hung.addr()))
    });
    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &[b"SET", b"qk", b"v"]), "+OK\r\n");
    let sent = Instant::now();
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", b"qk"]), bulk(b"v"));
    // Answered by the two live racks, before the hung one's read timeout
    // (timeout + 200 ms).
    assert!(sent.elapsed() < Duration::from_millis(400));
    // The hung rack's copy times out later and is dropped: no second reply.
    pump_for(&mut cl.nodes, Duration::from_millis(600));
    assert_eq!(c.try_reply(), None);
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", b"qk"]), bulk(b"v"));
    assert_eq!(pool_stats(&cl.nodes[0].ctx).forward_error, 0);
}

#[test]
fn dc_quorum_fails_with_two_racks_stopped() {
    let mut cl = three_racks();
    cl.redis(1).stop();
    cl.redis(2).stop();
    let mut c = cl.nodes[0].client();
    // Quorum is impossible once two replicas failed: the client gets the
    // first failure (both stopped datastores time out on their nodes).
    let timed_out = "-ERR Storage: Datastore timed out\r\n";
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", b"qk"]), timed_out);
    assert_eq!(c.call(&mut cl.nodes, &[b"SET", b"qk", b"v"]), timed_out);
    let pool = pool_stats(&cl.nodes[0].ctx);
    assert_eq!(pool.forward_error, 2);
    assert_eq!(pool.peer_timedout_requests, 0, "the peers answered in time");
}

#[test]
fn disagreeing_replicas_fail_safe_quorum_and_pass_dc_quorum() {
    let mut cl = three_racks();
    let values: [&[u8]; 3] = [b"x", b"y", b"z"];
    for (i, v) in values.iter().enumerate() {
        assert_eq!(cl.redis(i).cmd(&[b"SET", b"dk", v]), "+OK\r\n");
    }
    let mut safe = cl.nodes[0].client();
    let set = [&b"DYNO_CONFIG:CONN_CONSISTENCY"[..], b"DC_SAFE_QUORUM"];
    assert_eq!(safe.call(&mut cl.nodes, &set), "+OK\r\n");
    assert_eq!(
        safe.call(&mut cl.nodes, &[b"GET", b"dk"]),
        "-ERR Dynomite: Failed to achieve Quorum\r\n"
    );
    assert_eq!(
        pool_stats(&cl.nodes[0].ctx).client_non_quorum_r_responses,
        1
    );
    // DC_QUORUM takes the first good answer.
    let mut c = cl.nodes[0].client();
    let reply = c.call(&mut cl.nodes, &[b"GET", b"dk"]);
    assert!(values.iter().any(|v| reply == bulk(v)), "{reply:?}");
    assert_eq!(
        pool_stats(&cl.nodes[0].ctx).client_non_quorum_r_responses,
        1
    );
}

#[test]
fn dc_quorum_mget_merges_replicas_key_by_key() {
    let mut cl = three_racks();
    // Per rack, the values of k1..k5 (None: missing). No two racks give the
    // same whole answer; k1..k4 each have a majority, k5 has none.
    let racks: [[Option<&[u8]>; 5]; 3] = [
        [Some(b"a"), Some(b"p"), Some(b"v"), Some(b"m"), Some(b"x")],
        [Some(b"a"), Some(b"q"), Some(b"v"), Some(b"n"), Some(b"y")],
        [Some(b"b"), Some(b"q"), None, Some(b"m"), Some(b"z")],
    ];
    let keys: [&[u8]; 5] = [b"k1", b"k2", b"k3", b"k4", b"k5"];
    for (i, vals) in racks.iter().enumerate() {
        for (k, v) in keys.iter().zip(vals) {
            if let Some(v) = v {
                assert_eq!(cl.redis(i).cmd(&[b"SET", k, v]), "+OK\r\n");
            }
        }
    }
    let merged4 = [bulk(b"a"), bulk(b"q"), bulk(b"v"), bulk(b"m")];
    let mget4 = [&b"MGET"[..], b"k1", b"k2", b"k3", b"k4"];
    let mget5 = [&b"MGET"[..], b"k1", b"k2", b"k3", b"k4", b"k5"];

    // DC_QUORUM: each key takes its majority value; without one, the first
    // answer's.
    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &mget4), array(&merged4));
    let reply = c.call(&mut cl.nodes, &mget5);
    let prefix = format!("*5\r\n{}", merged4.concat());
    assert!(reply.starts_with(&prefix), "{reply:?}");
    let last = &reply[prefix.len()..];
    assert!(
        [bulk(b"x"), bulk(b"y"), bulk(b"z")]
            .iter()
            .any(|v| v == last),
        "{reply:?}"
    );

    // DC_SAFE_QUORUM: merged while every key has a majority, else no quorum.
    let mut safe = cl.nodes[1].client();
    let set = [&b"DYNO_CONFIG:CONN_CONSISTENCY"[..], b"DC_SAFE_QUORUM"];
    assert_eq!(safe.call(&mut cl.nodes, &set), "+OK\r\n");
    assert_eq!(safe.call(&mut cl.nodes, &mget4), array(&merged4));
    assert_eq!(
        safe.call(&mut cl.nodes, &mget5),
        "-ERR Dynomite: Failed to achieve Quorum\r\n"
    );
    assert_eq!(
        pool_stats(&cl.nodes[1].ctx).client_non_quorum_r_responses,
        1
    );
}

#[test]
fn multi_key_commands_split_and_merge_across_two_nodes_of_a_rack() {
    let mut cl = Cluster::start(
        &[
            spec("dc1", "r1", "2147483647"),
            spec("dc1", "r1", "4294967295"),
        ],
        &[],
        "",
    );
    let ctx = &cl.nodes[0].ctx;
    let low = keys_where(ctx, 3, |ctx, k| key_hash(ctx, k) <= HALF);
    let high = keys_where(ctx, 3, |ctx, k| key_hash(ctx, k) > HALF);
    let (a0, a1, a_missing) = (&low[0][..], &low[1][..], &low[2][..]);
    let (b0, b1, b_missing) = (&high[0][..], &high[1][..], &high[2][..]);

    let mut c0 = cl.nodes[0].client();
    let mset = [&b"MSET"[..], a0, b"1", b0, b"2", a1, b"3", b1, b"4"];
    assert_eq!(c0.call(&mut cl.nodes, &mset), "+OK\r\n");
    // Each key went to its owner only.
    assert_eq!(
        cl.redis(0).cmd(&[b"MGET", a0, a1]),
        array(&[bulk(b"1"), bulk(b"3")])
    );
    assert_eq!(cl.redis(0).cmd(&[b"EXISTS", b0, b1]), ":0\r\n");
    assert_eq!(
        cl.redis(1).cmd(&[b"MGET", b0, b1]),
        array(&[bulk(b"2"), bulk(b"4")])
    );
    assert_eq!(cl.redis(1).cmd(&[b"EXISTS", a0, a1]), ":0\r\n");

    // Through the other node: the answers come back in the keys' order.
    let mut c1 = cl.nodes[1].client();
    let mget = [&b"MGET"[..], b0, a0, a_missing, b1, a1];
    let expected = array(&[
        bulk(b"2"),
        bulk(b"1"),
        "$-1\r\n".to_string(),
        bulk(b"4"),
        bulk(b"3"),
    ]);
    assert_eq!(c1.call(&mut cl.nodes, &mget), expected);
    assert_eq!(
        c1.call(&mut cl.nodes, &[b"EXISTS", a0, b0, b_missing, a1]),
        ":3\r\n"
    );
    assert_eq!(
        c1.call(&mut cl.nodes, &[b"DEL", a0, b0, b_missing]),
        ":2\r\n"
    );
    assert_eq!(cl.redis(0).cmd(&[b"EXISTS", a0, a1]), ":1\r\n");
    assert_eq!(cl.redis(1).cmd(&[b"EXISTS", b0, b1]), ":1\r\n");
    for n in &cl.nodes {
        assert_eq!(msgs_in_use(&n.ctx), 0, "every fragment freed");
    }
}

#[test]
fn dc_one_read_fails_over_to_the_other_rack() {
    // Rack r1: this node (lower half) and a peer that refuses connections
    // (upper half). Rack r2: one node owning everything.
    let down = Refuse::bind();
    let seed = format!("{}:r1:dc1:4294967295 down", down.addr());
    let mut cl = Cluster::start(
        &[spec("dc1", "r1", "2147483647"), spec("dc1", "r2", "1")],
        &[seed],
        "",
    );
    let key = key_where(&cl.nodes[0].ctx, |ctx, k| key_hash(ctx, k) > HALF);
    assert_eq!(cl.redis(1).cmd(&[b"SET", &key, b"there"]), "+OK\r\n");

    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", &key]), bulk(b"there"));
    assert_eq!(cl.redis(0).cmd(&[b"EXISTS", &key]), ":0\r\n");
    // A write has no failover: its owner is down.
    assert_eq!(
        c.call(&mut cl.nodes, &[b"SET", &key, b"new"]),
        "-ERR Peer: Peer Node is not connected\r\n"
    );
    // Its copy to the other rack still goes out.
    pump(&mut cl.nodes, "the copy on the other rack", |_| {
        cl.redis[1].cmd(&[b"GET", &key]) == bulk(b"new")
    });
    pump_for(&mut cl.nodes, Duration::from_millis(20));
    assert_eq!(pool_stats(&cl.nodes[0].ctx).forward_error, 1);
}

#[test]
fn dc_one_read_in_flight_fails_over_when_its_peer_closes() {
    // As above, but the owner in rack r1 accepts, takes the request, and
    // closes the connection without answering.
    let mut owner = Hang::bind();
    let seed = format!("{}:r1:dc1:4294967295 closing", owner.addr());
    let mut cl = Cluster::start(
        &[spec("dc1", "r1", "2147483647"), spec("dc1", "r2", "1")],
        &[seed],
        "",
    );
    pump(&mut cl.nodes, "connection to the closing peer", |n| {
        peer_connected(&n[0].ctx, owner.addr())
    });
    let key = key_where(&cl.nodes[0].ctx, |ctx, k| key_hash(ctx, k) > HALF);
    assert_eq!(cl.redis(1).cmd(&[b"SET", &key, b"there"]), "+OK\r\n");

    let mut c = cl.nodes[0].client();
    c.send(&[b"GET", &key]);
    pump(&mut cl.nodes, "the request at the owner", |_| {
        owner.close_after_request()
    });
    assert_eq!(c.wait_reply(&mut cl.nodes), bulk(b"there"));
    let pool = pool_stats(&cl.nodes[0].ctx);
    assert_eq!(pool.peer_eof + pool.peer_err, 1);
    assert_eq!(pool.forward_error, 0);
}

/// Turns the nodes until no message is alive on any of them.
fn until_idle(cl: &mut Cluster) {
    pump(&mut cl.nodes, "idle nodes", |nodes| {
        nodes.iter().all(|n| msgs_in_use(&n.ctx) == 0)
    });
}

/// 100 SETs and 100 GETs through `c`, one at a time. Every request runs the
/// same course: the other racks' answers (dropped at DC_ONE, late at a
/// quorum) are in before the next one.
fn one_at_a_time(cl: &mut Cluster, c: &mut Client, keys: &[Vec<u8>]) {
    for k in keys.iter().cycle().take(100) {
        assert_eq!(c.call(&mut cl.nodes, &[b"SET", k, b"value"]), "+OK\r\n");
        assert_eq!(c.call(&mut cl.nodes, &[b"GET", k]), bulk(b"value"));
        until_idle(cl);
    }
}

/// Allocations the nodes of a `racks`-rack cluster make for 100 SETs and
/// 100 GETs at `level` through node 0 (and the copies' answers that follow),
/// after the same load twice and a pipelined burst as a warm-up.
fn steady_state_allocations(level: &str, racks: usize) -> u64 {
    let specs: Vec<_> = ["r1", "r2", "r3"][..racks]
        .iter()
        .map(|&r| spec("dc1", r, "1"))
        .collect();
    let body = format!("read_consistency: {level}\nwrite_consistency: {level}\n");
    let mut cl = Cluster::start(&specs, &[], &body);
    let mut c = cl.nodes[0].client();
    let keys: Vec<Vec<u8>> = (0..20).map(|i| format!("steady{i}").into_bytes()).collect();
    one_at_a_time(&mut cl, &mut c, &keys);
    one_at_a_time(&mut cl, &mut c, &keys);
    // A pipelined burst takes the pools (messages, parents' parts, chunks,
    // queues) past anything one request at a time needs, whatever the order
    // in which answers arrive under load.
    for k in keys.iter().cycle().take(100) {
        c.send(&[b"SET", k, b"value"]);
        c.send(&[b"GET", k]);
    }
    for _ in 0..200 {
        c.wait_reply(&mut cl.nodes);
    }
    until_idle(&mut cl);
    let before = crate::sys::alloc_count::allocations();
    one_at_a_time(&mut cl, &mut c, &keys);
    crate::sys::alloc_count::allocations() - before
}

#[test]
fn clustered_requests_allocate_nothing_in_steady_state() {
    assert_eq!(
        steady_state_allocations("DC_ONE", 2),
        0,
        "DC_ONE, two racks"
    );
    assert_eq!(
        steady_state_allocations("DC_QUORUM", 3),
        0,
        "DC_QUORUM, three racks"
    );
}

#[test]
fn read_repair_refills_an_emptied_replica_and_frees_everything() {
    let mut cl = three_racks();
    let mut c = cl.nodes[0].client();
    assert_eq!(
        c.call(&mut cl.nodes, &[b"SET", b"rk", b"v", b"PX", b"60000"]),
        "+OK\r\n"
    );
    pump(&mut cl.nodes, "the write on every rack", |_| {
        cl.redis
            .iter()
            .all(|r| r.cmd(&[b"GET", b"rk"]) == bulk(b"v"))
    });
    assert_eq!(cl.redis(2).cmd(&[b"FLUSHALL"]), "+OK\r\n");
    // Through the emptied node: its own nil comes first and loses.
    let mut c2 = cl.nodes[2].client();
    assert_eq!(c2.call(&mut cl.nodes, &[b"GET", b"rk"]), bulk(b"v"));
    pump(&mut cl.nodes, "the emptied replica repaired", |nodes| {
        nodes
            .iter()
            .all(|n| n.ctx.repairs_in_flight() == 0 && msgs_in_use(&n.ctx) == 0)
            && cl.redis[2].cmd(&[b"GET", b"rk"]) == bulk(b"v")
    });
    let pttl = cl.redis(2).cmd(&[b"PTTL", b"rk"]);
    let ms: i64 = pttl
        .trim_start_matches(':')
        .trim_end()
        .parse()
        .expect("PTTL");
    assert!(ms > 0 && ms <= 60000, "TTL kept: {pttl}");
    let faults = crate::core::harness::fault_stats(&cl.nodes[2].ctx);
    assert_eq!(faults.read_repair_divergent, 1);
    assert_eq!(faults.read_repairs_sent, 1);
    assert_eq!(faults.read_repairs_ok, 1);
    assert_eq!(faults.read_repairs_failed, 0);
    // Agreeing replicas: nothing more is sent.
    assert_eq!(c2.call(&mut cl.nodes, &[b"GET", b"rk"]), bulk(b"v"));
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", b"rk"]), bulk(b"v"));
    pump(&mut cl.nodes, "idle nodes", |nodes| {
        nodes.iter().all(|n| msgs_in_use(&n.ctx) == 0)
    });
    let sent: u64 = cl
        .nodes
        .iter()
        .map(|n| crate::core::harness::fault_stats(&n.ctx).read_repairs_sent)
        .sum();
    assert_eq!(sent, 1);
}
