//! Datastore connection settings: timeout, preconnect, auto_eject_hosts.

use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Dynomite, RedisServer};

fn connected_clients(redis: &RedisServer) -> usize {
    let info = redis.client().cmd(&[b"INFO", b"clients"]);
    let text = String::from_utf8_lossy(&info);
    text.lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("connected_clients in INFO")
}

#[test]
fn a_timed_out_request_fails_alone_and_the_connection_goes_on() {
    let redis = RedisServer::start();
    let node = Dynomite::start_with(&[redis.port()], &[("timeout", "200")]);
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"SET", b"k", b"before"]), b"+OK\r\n");

    // Redis stops answering every other client for a while.
    let mut direct = redis.client();
    assert_eq!(
        direct.cmd(&[b"CLIENT", b"PAUSE", b"800", b"ALL"]),
        b"+OK\r\n"
    );
    let t = Instant::now();
    assert_eq!(
        c.cmd(&[b"SET", b"k", b"during"]),
        b"-ERR Storage: Datastore timed out\r\n"
    );
    assert!(
        t.elapsed() < Duration::from_millis(700),
        "the timeout fired on time"
    );
    thread::sleep(Duration::from_millis(900).saturating_sub(t.elapsed()));

    // Same connection, same datastore connection: later requests are answered
    // with their own replies (the late reply to the timed-out SET is dropped).
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$6\r\nduring\r\n");
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
}

#[test]
fn preconnect_false_connects_on_first_use() {
    let redis = RedisServer::start();
    let base = connected_clients(&redis);
    let node = Dynomite::start_with(&[redis.port()], &[("preconnect", "false")]);
    // Starting the harness sends requests, which open the connection.
    assert_eq!(connected_clients(&redis), base + 1);
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"PING"]), b"+PONG\r\n");
    assert_eq!(
        connected_clients(&redis),
        base + 1,
        "one datastore connection"
    );
}

#[test]
fn preconnect_true_connects_at_start() {
    let redis = RedisServer::start();
    let _node = Dynomite::start_with(&[redis.port()], &[("datastore_connections", "3")]);
    // Three slots, each connected before any client used them.
    let deadline = Instant::now() + Duration::from_secs(5);
    while connected_clients(&redis) < 3 + 1 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(connected_clients(&redis), 3 + 1);
}

/// Keys that the two-shard proxy places on the second server.
fn keys_on_second_shard(node: &Dynomite, second: &RedisServer, n: usize) -> Vec<String> {
    let mut c = node.client();
    let mut d = second.client();
    let mut out = Vec::new();
    for i in 0..200 {
        let k = format!("eject:{i}");
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), b"1"]), b"+OK\r\n");
        if d.cmd(&[b"EXISTS", k.as_bytes()]) == b":1\r\n" {
            out.push(k);
            if out.len() == n {
                break;
            }
        }
    }
    assert_eq!(out.len(), n);
    out
}

#[test]
fn auto_eject_hosts_moves_keys_of_a_dead_shard() {
    let a = RedisServer::start();
    let mut b = RedisServer::start();
    let node = Dynomite::start_with(
        &[a.port(), b.port()],
        &[
            ("auto_eject_hosts", "true"),
            ("server_failure_limit", "1"),
            ("server_retry_timeout", "30000"),
        ],
    );
    let keys = keys_on_second_shard(&node, &b, 5);
    b.kill();
    let mut c = node.client();
    // The first request sees the failure; once ejected, the shard's keys go to
    // the live server.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if c.cmd(&[b"SET", keys[0].as_bytes(), b"moved"]) == b"+OK\r\n" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead shard was never ejected"
        );
        thread::sleep(Duration::from_millis(50));
    }
    for k in &keys {
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), b"moved"]), b"+OK\r\n");
    }
    assert_eq!(
        a.client().cmd(&[b"GET", keys[1].as_bytes()]),
        b"$5\r\nmoved\r\n"
    );
}

#[test]
fn without_auto_eject_a_dead_shard_answers_errors() {
    let a = RedisServer::start();
    let mut b = RedisServer::start();
    let node = Dynomite::start_with(
        &[a.port(), b.port()],
        &[("auto_eject_hosts", "false"), ("server_failure_limit", "1")],
    );
    let keys = keys_on_second_shard(&node, &b, 2);
    b.kill();
    let mut c = node.client();
    for _ in 0..5 {
        let r = c.cmd(&[b"GET", keys[0].as_bytes()]);
        assert!(
            r.starts_with(b"-ERR Storage: "),
            "{}",
            String::from_utf8_lossy(&r)
        );
    }
}
