//! Anti-entropy (cluster/entropy.rs) on loopback clusters of real nodes
//! and real redis: keys written through the cluster, then one replica's
//! redis changed behind the cluster's back (keys deleted, a value changed,
//! a TTL removed); a run started with `/entropy/start` brings the missing
//! keys back, reports the differences, repairs them by majority when a
//! third rack has a copy, keeps to `entropy_keys_per_sec`, and pauses
//! while a replica is down.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster::{node, Cluster, NodeSpec};
use crate::harness::{bulk, poll_until, show, Client};

/// How long a run over the few hundred keys of these tests may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// `n` racks of one node each, every node owning every key.
fn one_node_per_rack(racks: usize) -> Vec<NodeSpec> {
    (1..=racks)
        .map(|r| node("dc1", &format!("rack{r}"), &[2147483647]))
        .collect()
}

/// The whole HTTP response to `GET path` on a stats port.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    text
}

/// `GET path` on node `i`'s stats port, its JSON body parsed.
fn admin_json(cl: &Cluster, i: usize, path: &str) -> Value {
    let text = http_get(cl.node(i).stats_port(), path);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: bad JSON ({e}): {body}"))
}

/// The value of an unlabelled sample of node `i`'s /metrics.
fn metric(cl: &Cluster, i: usize, name: &str) -> u64 {
    let text = http_get(cl.node(i).stats_port(), "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in /metrics"))
}

/// A counter of a status document.
fn n(v: &Value, name: &str) -> u64 {
    v[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a counter in {v}"))
}

/// Polls `/entropy/status` of node `i` until the run is done and every
/// repair it sent has been answered; the last status.
fn wait_done(cl: &Cluster, i: usize) -> Value {
    let mut last = Value::Null;
    let ok = poll_until(RUN_TIMEOUT, || {
        last = admin_json(cl, i, "/entropy/status");
        last["state"] == "done"
            && n(&last, "repairs_sent")
                == n(&last, "repairs_ok") + n(&last, "repairs_kept") + n(&last, "repairs_failed")
    });
    if !ok {
        cl.dump_logs();
    }
    assert!(ok, "the run on n{i} never ended: {last}");
    last
}

/// Writes `count` keys `prefix:<k>` through node 0 (every third with a
/// TTL) and waits until every redis of the first `racks` nodes holds them.
fn write_keys(cl: &Cluster, racks: usize, prefix: &str, count: usize) {
    let mut c = cl.node(0).client();
    for k in 0..count {
        let key = format!("{prefix}:{k}");
        let r = if k % 3 == 0 {
            c.cmd(&[b"SET", key.as_bytes(), b"v", b"EX", b"3600"])
        } else {
            c.cmd(&[b"SET", key.as_bytes(), format!("value {k}").as_bytes()])
        };
        assert_eq!(r, b"+OK\r\n", "SET {key}: {}", show(&r));
    }
    for i in 0..racks {
        let last = format!("{prefix}:{}", count - 1);
        let ok = poll_until(RUN_TIMEOUT, || cl.node(i).redis_has(last.as_bytes()));
        assert!(ok, "n{i} never got {last}");
    }
}

/// A connected cluster of `racks` one-node racks with `extra` settings,
/// its redis emptied of the probe keys the harness wrote.
fn start(racks: usize, extra: &[(&str, &str)]) -> Cluster {
    let cl = Cluster::start_with(&one_node_per_rack(racks), extra);
    cl.wait_connected();
    for i in 0..racks {
        assert_eq!(cl.node(i).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    }
    cl
}

fn dbsize(c: &mut Client) -> Vec<u8> {
    c.cmd(&[b"DBSIZE"])
}

#[test]
fn missing_keys_come_back_and_differences_are_reported() {
    let cl = start(2, &[("entropy_keys_per_sec", "100000")]);
    write_keys(&cl, 2, "ae", 300);
    // A big hash and a set: their DUMPs follow each process's hash table
    // order, their digests must not.
    let mut c = cl.node(0).client();
    let mut hset: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"ae:hash".to_vec()];
    let mut sadd: Vec<Vec<u8>> = vec![b"SADD".to_vec(), b"ae:set".to_vec()];
    for f in 0..300 {
        hset.push(format!("field{f}").into_bytes());
        hset.push(format!("value{f}").into_bytes());
        sadd.push(format!("member{f}").into_bytes());
    }
    let refs = |v: &[Vec<u8>]| -> Vec<Vec<u8>> { v.to_vec() };
    for cmd in [refs(&hset), refs(&sadd)] {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        assert_eq!(c.cmd(&args), b":300\r\n");
    }
    let ok = poll_until(RUN_TIMEOUT, || {
        dbsize(&mut cl.node(1).redis_client()) == b":302\r\n"
    });
    assert!(ok, "n1 never held every key");

    // Behind the cluster's back: 40 keys deleted on n1 (a third of them
    // with a TTL), 10 on n0, a value changed on n1, a TTL removed on n1.
    let mut r1 = cl.node(1).redis_client();
    let mut r0 = cl.node(0).redis_client();
    for k in 0..40 {
        assert_eq!(r1.cmd(&[b"DEL", format!("ae:{k}").as_bytes()]), b":1\r\n");
    }
    for k in 100..110 {
        assert_eq!(r0.cmd(&[b"DEL", format!("ae:{k}").as_bytes()]), b":1\r\n");
    }
    assert_eq!(r1.cmd(&[b"SET", b"ae:200", b"changed"]), b"+OK\r\n");
    assert_eq!(r1.cmd(&[b"PERSIST", b"ae:201"]), b":1\r\n");

    let started = admin_json(&cl, 0, "/entropy/start");
    assert!(
        started["state"] == "running" || started["state"] == "done",
        "{started}"
    );
    assert_eq!(started["partner_rack"], "dc1/rack2", "{started}");
    let s = wait_done(&cl, 0);
    // n0 holds 292 keys: each compared once; the 10 it lost were found on
    // n1's scan.
    assert_eq!(n(&s, "keys_compared"), 292, "{s}");
    assert_eq!(n(&s, "keys_missing_there"), 40, "{s}");
    assert_eq!(n(&s, "keys_missing_here"), 10, "{s}");
    assert_eq!(n(&s, "conflicts"), 2, "{s}");
    assert_eq!(n(&s, "keys_differ"), 0, "{s}");
    assert_eq!(n(&s, "keys_same"), 250, "{s}");
    assert_eq!(n(&s, "key_errors"), 0, "{s}");
    assert_eq!(n(&s, "repairs_sent"), 50, "{s}");
    assert_eq!(n(&s, "repairs_ok"), 50, "{s}");
    let mut conflicts: Vec<&str> = s["conflict_keys"]
        .as_array()
        .expect("conflict_keys")
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    conflicts.sort();
    assert_eq!(conflicts, ["ae:200", "ae:201"], "{s}");

    // The missing keys are back, with their values and TTLs.
    assert_eq!(dbsize(&mut r1), b":302\r\n");
    assert_eq!(dbsize(&mut r0), b":302\r\n");
    assert_eq!(r1.cmd(&[b"GET", b"ae:1"]), bulk(b"value 1"));
    assert_eq!(r0.cmd(&[b"GET", b"ae:101"]), bulk(b"value 101"));
    let ttl = r1.cmd(&[b"TTL", b"ae:3"]);
    let secs: i64 = std::str::from_utf8(&ttl[1..ttl.len() - 2])
        .expect("TTL reply")
        .parse()
        .expect("TTL number");
    assert!(
        secs > 3000 && secs <= 3600,
        "restored without its TTL: {secs}"
    );
    // Conflicts are left alone.
    assert_eq!(r1.cmd(&[b"GET", b"ae:200"]), bulk(b"changed"));
    assert_eq!(r0.cmd(&[b"GET", b"ae:200"]), bulk(b"value 200"));
    assert_eq!(r1.cmd(&[b"TTL", b"ae:201"]), b":-1\r\n");

    // /info (a cluster's) and /metrics carry it; the log has both ends.
    let info = admin_json(&cl, 0, "/info");
    assert_eq!(info["entropy"]["state"], "done", "{info}");
    assert_eq!(info["entropy"]["keys_missing_there"], 40, "{info}");
    assert_eq!(info["entropy"]["conflicts"], 2, "{info}");
    assert_eq!(metric(&cl, 0, "dynomite_entropy_keys_missing"), 50);
    assert_eq!(metric(&cl, 0, "dynomite_entropy_conflicts"), 2);
    assert_eq!(metric(&cl, 0, "dynomite_entropy_runs"), 1);
    assert_eq!(metric(&cl, 0, "dynomite_entropy_running"), 0);
    let log = cl.node(0).full_log();
    assert!(log.contains("anti-entropy run 1 started (admin)"), "{log}");
    assert!(log.contains("anti-entropy run 1 done"), "{log}");
    assert!(log.contains("ae:20"), "a conflict is logged: {log}");

    // A second run finds nothing missing and the same two conflicts.
    admin_json(&cl, 0, "/entropy/start");
    let s = wait_done(&cl, 0);
    assert_eq!(n(&s, "run"), 2, "{s}");
    assert_eq!(n(&s, "keys_compared"), 302, "{s}");
    assert_eq!(n(&s, "keys_missing_there") + n(&s, "keys_missing_here"), 0);
    assert_eq!(n(&s, "conflicts"), 2, "{s}");
    assert_eq!(metric(&cl, 0, "dynomite_entropy_keys_missing"), 50);
}

#[test]
fn a_third_rack_breaks_ties() {
    let cl = start(3, &[("entropy_keys_per_sec", "5000")]);
    write_keys(&cl, 3, "tie", 30);
    let mut r1 = cl.node(1).redis_client();
    let mut r2 = cl.node(2).redis_client();
    assert_eq!(r1.cmd(&[b"SET", b"tie:1", b"odd"]), b"+OK\r\n");
    assert_eq!(r1.cmd(&[b"PERSIST", b"tie:3"]), b":1\r\n");
    assert_eq!(r2.cmd(&[b"DEL", b"tie:4"]), b":1\r\n");
    let st = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(st["arbiter_rack"], "dc1/rack3", "{st}");
    let s = wait_done(&cl, 0);
    assert_eq!(n(&s, "keys_differ"), 2, "{s}");
    assert_eq!(n(&s, "keys_missing_there"), 1, "{s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "repairs_ok"), 3, "{s}");
    assert_eq!(r1.cmd(&[b"GET", b"tie:1"]), bulk(b"value 1"));
    let ttl = r1.cmd(&[b"TTL", b"tie:3"]);
    assert!(ttl != b":-1\r\n" && ttl.starts_with(b":"), "{}", show(&ttl));
    assert_eq!(r2.cmd(&[b"GET", b"tie:4"]), bulk(b"value 4"));
}

#[test]
fn the_rate_limit_is_kept() {
    let rate = 20;
    let cl = start(2, &[("entropy_keys_per_sec", &rate.to_string())]);
    write_keys(&cl, 2, "rate", 60);
    let st = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(n(&st, "batch_size"), rate, "{st}");
    let s = wait_done(&cl, 0);
    assert_eq!(n(&s, "keys_compared"), 60, "{s}");
    // Both scans' keys go through the budget: 120 keys at 20 a second.
    let sent = n(&s, "keys_sent");
    assert_eq!(sent, 120, "{s}");
    assert!(n(&s, "batches") >= sent / rate, "{s}");
    assert!(n(&s, "rate_waits") > 0, "{s}");
    // The node's own clock: never more than one batch ahead of the rate.
    let elapsed_ms = n(&s, "elapsed_ms");
    assert!(
        (sent - rate) * 1000 <= rate * elapsed_ms,
        "{sent} keys in {elapsed_ms} ms at {rate} keys/s: {s}"
    );
}

#[test]
fn a_down_replica_pauses_the_run() {
    let cl = start(2, &[("entropy_keys_per_sec", "5000")]);
    write_keys(&cl, 2, "down", 50);
    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"DEL", b"down:7"]),
        b":1\r\n"
    );
    let name = format!("127.0.0.1:{}", cl.node(1).dyn_port());
    let text = http_get(cl.node(0).stats_port(), &format!("/peer/down/{name}"));
    assert!(
        text.starts_with("HTTP/1.0 200") || text.starts_with("HTTP/1.1 200"),
        "{text}"
    );

    let st = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(st["state"], "paused", "{st}");
    assert!(
        st["last_error"].as_str().unwrap_or("").contains("is down"),
        "{st}"
    );
    assert_eq!(n(&st, "pauses"), 1, "{st}");
    assert_eq!(n(&st, "batches"), 0, "nothing sent to a down replica: {st}");
    // Still paused a while later, and the node serves its clients.
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"GET", b"down:1"]), bulk(b"value 1"));
    let again = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(again["run"], st["run"], "no second run while one is paused");
    assert_eq!(admin_json(&cl, 0, "/entropy/status")["state"], "paused");
    assert_eq!(metric(&cl, 0, "dynomite_entropy_running"), 1);

    let text = http_get(cl.node(0).stats_port(), &format!("/peer/up/{name}"));
    assert!(text.contains(" 200 "), "{text}");
    let s = wait_done(&cl, 0);
    assert_eq!(n(&s, "keys_compared"), 50, "{s}");
    assert_eq!(n(&s, "keys_missing_there"), 1, "{s}");
    assert_eq!(n(&s, "pauses"), 1, "{s}");
    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"GET", b"down:7"]),
        bulk(b"value 7")
    );
    let log = cl.node(0).full_log();
    assert!(log.contains("anti-entropy paused: replica"), "{log}");
    assert!(log.contains("anti-entropy resumed"), "{log}");
}

#[test]
fn runs_on_a_schedule() {
    let cl = start(
        2,
        &[("entropy_interval", "1"), ("entropy_keys_per_sec", "5000")],
    );
    write_keys(&cl, 2, "sched", 20);
    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"DEL", b"sched:5"]),
        b":1\r\n"
    );
    let ok = poll_until(RUN_TIMEOUT, || cl.node(1).redis_has(b"sched:5"));
    if !ok {
        cl.dump_logs();
    }
    assert!(ok, "no scheduled run brought sched:5 back");
    let s = admin_json(&cl, 0, "/entropy/status");
    assert_eq!(s["scheduled"], true, "{s}");
    assert_eq!(n(&s, "interval_s"), 1, "{s}");
    assert!(cl.node(0).full_log().contains("started (scheduled)"));
}

#[test]
fn a_single_node_has_no_entropy_in_info() {
    let cl = Cluster::start(&one_node_per_rack(1));
    let info = admin_json(&cl, 0, "/info");
    assert!(info.get("entropy").is_none(), "{info}");
    let s = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(s["state"], "failed", "{s}");
    assert!(
        s["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("no replica"),
        "{s}"
    );
}

/// Node `i`'s detected health of node `j` (`up`, `suspect`, `down`).
fn health(cl: &Cluster, i: usize, j: usize) -> String {
    let v = admin_json(cl, i, "/info");
    let port = format!(":{}", cl.node(j).dyn_port());
    v["peers"]
        .as_object()
        .expect("a peers object in /info")
        .iter()
        .find(|(name, _)| name.ends_with(&port))
        .map(|(_, p)| p["state"].as_str().unwrap_or("").to_string())
        .unwrap_or_default()
}

#[test]
fn a_replica_found_down_pauses_the_run_until_it_is_back() {
    let mut cl = start(2, &[("entropy_keys_per_sec", "5000")]);
    write_keys(&cl, 2, "dead", 30);
    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"DEL", b"dead:2"]),
        b":1\r\n"
    );
    cl.node_mut(1).kill();
    let ok = poll_until(RUN_TIMEOUT, || health(&cl, 0, 1) == "down");
    if !ok {
        cl.dump_logs();
    }
    assert!(ok, "n0 never found n1 down");
    let st = admin_json(&cl, 0, "/entropy/start");
    assert_eq!(st["state"], "paused", "{st}");
    assert_eq!(n(&st, "batches"), 0, "{st}");
    // Its redis kept running: the node comes back with its keys.
    cl.node_mut(1).restart();
    let s = wait_done(&cl, 0);
    assert_eq!(n(&s, "keys_compared"), 30, "{s}");
    assert_eq!(n(&s, "keys_missing_there"), 1, "{s}");
    assert_eq!(n(&s, "key_errors"), 0, "{s}");
    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"GET", b"dead:2"]),
        bulk(b"value 2")
    );
}
