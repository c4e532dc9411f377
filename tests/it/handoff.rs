//! Hinted handoff on loopback clusters of two racks at DC_ONE (short
//! variants of contrib/faults/handoff.sh): a writer goes through n0 while
//! n1, or n1's redis, is away for a few seconds; afterwards every
//! acknowledged write is in n1's redis, with the value written last, and
//! n0's hint figures show the hints made and replayed. A node killed with
//! -9 while it holds hints replays them after its restart.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster::{node, Cluster, NodeSpec};
use crate::harness::{bulk, encode, poll_until, show, Client, TempDir};

/// How long n1 may take to get every acknowledged write after its return.
const CONVERGE: Duration = Duration::from_secs(30);
/// How long a fault takes to show.
const DETECT: Duration = Duration::from_secs(15);

/// Two racks of one node each, each owning every key; hints under `dir`.
fn two_racks(dir: &TempDir) -> Vec<NodeSpec> {
    let d = dir.path().display().to_string();
    vec![
        node("dc1", "rack1", &[2147483647]).with("hints_dir", &format!("{d}/n0")),
        node("dc1", "rack2", &[2147483647]).with("hints_dir", &format!("{d}/n1")),
    ]
}

/// n0's /info view of n1 (the peer named after n1's peer port).
fn hints_of_n1(cl: &Cluster) -> Value {
    hints_of(cl, 1)
}

/// Node 0's `/info` entry for node `n` (its `hints` object and health).
fn hints_of(cl: &Cluster, n: usize) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", cl.node(0).stats_port())).expect("stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET /info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON ({e}): {body}"));
    let port = format!(":{}", cl.node(n).dyn_port());
    v["peers"]
        .as_object()
        .and_then(|o| o.iter().find(|(name, _)| name.ends_with(&port)))
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no peer n{n} in {v}"))
}

fn figure(p: &Value, name: &str) -> u64 {
    p["hints"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no hints.{name} in {p}"))
}

/// What n1 may hold for a key: the value last acknowledged, or a value
/// written after it whose write failed (a write answered with an error,
/// e.g. a timeout, may still have been applied).
type Acked = BTreeMap<String, Vec<String>>;

/// A writer through n0 on a thread of its own: batches of pipelined SETs
/// (new keys, and every fifth write a key written before, so that some
/// keys are written many times), until stopped.
struct Writer {
    stop: Arc<AtomicBool>,
    handle: thread::JoinHandle<Acked>,
}

impl Writer {
    fn start(port: u16, prefix: &'static str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut c = Client::connect(port);
            let mut acked: Acked = BTreeMap::new();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                let mut out = Vec::new();
                let mut batch = Vec::new();
                for _ in 0..20 {
                    let key = if i % 5 == 4 {
                        format!("{prefix}:{}", i / 2)
                    } else {
                        format!("{prefix}:{i}")
                    };
                    let value = format!("v{i}");
                    out.extend_from_slice(&encode(&[b"SET", key.as_bytes(), value.as_bytes()]));
                    batch.push((key, value));
                    i += 1;
                }
                c.send(&out);
                for (key, value) in batch {
                    let r = c.read_reply();
                    if r == b"+OK\r\n" {
                        acked.insert(key, vec![value]);
                    } else if let Some(later) = acked.get_mut(&key) {
                        later.push(value);
                    }
                }
                thread::sleep(Duration::from_millis(10));
            }
            acked
        });
        Writer { stop, handle }
    }

    fn finish(self) -> Acked {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer thread")
    }
}

/// The acknowledged writes that n1's redis does not hold with the value
/// written last (asked straight, pipelined).
fn missing_on_n1(cl: &Cluster, acked: &Acked) -> Vec<(String, String)> {
    let mut c = cl.node(1).redis_client();
    let mut missing = Vec::new();
    let all: Vec<_> = acked.iter().collect();
    for chunk in all.chunks(500) {
        let mut out = Vec::new();
        for (k, _) in chunk {
            out.extend_from_slice(&encode(&[b"GET", k.as_bytes()]));
        }
        c.send(&out);
        for (k, vs) in chunk {
            let r = c.read_reply();
            if !vs.iter().any(|v| r == bulk(v.as_bytes())) {
                missing.push(((*k).clone(), format!("{} (wanted {})", show(&r), vs[0])));
            }
        }
    }
    missing
}

/// Waits until n1 holds every acknowledged write; fails with the first
/// ones it lacks.
fn assert_converges(cl: &Cluster, acked: &Acked) {
    let mut missing = Vec::new();
    let ok = poll_until(CONVERGE, || {
        missing = missing_on_n1(cl, acked);
        missing.is_empty()
    });
    if !ok {
        cl.dump_logs();
        eprintln!("n0's view of n1: {}", hints_of_n1(cl));
    }
    assert!(
        ok,
        "{} of {} acknowledged writes not on n1 after {CONVERGE:?}, first: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn a_killed_peer_gets_every_write_it_missed_in_order() {
    let dir = TempDir::new("hints-kill");
    let mut cl = Cluster::start(&two_racks(&dir));
    let w = Writer::start(cl.node(0).port(), "kill");
    thread::sleep(Duration::from_millis(500));
    cl.node_mut(1).kill();
    // One key written twice while n1 is away: the second value wins there.
    let mut c = cl.node(0).client();
    thread::sleep(Duration::from_secs(1));
    assert_eq!(c.cmd(&[b"SET", b"order", b"first"]), b"+OK\r\n");
    thread::sleep(Duration::from_secs(2));
    assert_eq!(c.cmd(&[b"SET", b"order", b"second"]), b"+OK\r\n");
    thread::sleep(Duration::from_secs(2));
    let p = hints_of_n1(&cl);
    assert!(
        figure(&p, "queued") > 0,
        "no hint held while n1 is away: {p}"
    );
    cl.node_mut(1).restart();
    thread::sleep(Duration::from_secs(1));
    let mut acked = w.finish();
    acked.insert("order".into(), vec!["second".into()]);
    assert_converges(&cl, &acked);
    let p = hints_of_n1(&cl);
    assert!(figure(&p, "hinted") > 0, "{p}");
    assert!(figure(&p, "replayed") > 0, "{p}");
    let ok = poll_until(DETECT, || figure(&hints_of_n1(&cl), "queued") == 0);
    assert!(ok, "hints left: {}", hints_of_n1(&cl));
    assert_eq!(figure(&p, "dropped_memory") + figure(&p, "dropped_disk"), 0);
    // Drained: new writes reach n1 directly.
    assert_eq!(c.cmd(&[b"SET", b"after", b"x"]), b"+OK\r\n");
    let ok = poll_until(DETECT, || cl.node(1).redis_get(b"after") == bulk(b"x"));
    assert!(ok, "a write after the replay never reached n1");
    let log = cl.node(0).full_log();
    assert!(log.contains("kept as a hint"), "no hint logged:\n{log}");
}

#[test]
fn a_stopped_datastore_of_a_peer_gets_every_write_it_missed() {
    let dir = TempDir::new("hints-stop");
    let cl = Cluster::start_with(&two_racks(&dir), &[("timeout", "1000")]);
    let w = Writer::start(cl.node(0).port(), "stop");
    thread::sleep(Duration::from_millis(500));
    // n1 stays up and answers its datastore's failures: storage errors.
    cl.node(1).redis.pause();
    thread::sleep(Duration::from_secs(5));
    let p = hints_of_n1(&cl);
    assert!(
        figure(&p, "queued") > 0,
        "no hint held while n1's redis is stopped: {p}"
    );
    cl.node(1).redis.resume();
    thread::sleep(Duration::from_secs(1));
    let acked = w.finish();
    assert_converges(&cl, &acked);
    let p = hints_of_n1(&cl);
    assert!(figure(&p, "hinted") > 0, "{p}");
    assert!(figure(&p, "replayed") > 0, "{p}");
}

#[test]
fn hints_survive_a_kill_of_the_coordinator_and_are_replayed_after_its_restart() {
    let dir = TempDir::new("hints-crash");
    let mut cl = Cluster::start(&two_racks(&dir));
    cl.node_mut(1).kill();
    // Written while n1 is away: acknowledged by n0, kept as hints.
    let mut c = cl.node(0).client();
    let mut acked = BTreeMap::new();
    for i in 0..300 {
        let (k, v) = (format!("crash:{i}"), format!("v{i}"));
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), v.as_bytes()]), b"+OK\r\n");
        acked.insert(k, vec![v]);
    }
    assert_eq!(figure(&hints_of_n1(&cl), "queued"), 300);
    drop(c);
    // n0 dies at once (SIGKILL), then comes back with the same hints_dir;
    // n1 comes back after it.
    cl.node_mut(0).kill();
    cl.node_mut(0).restart();
    let p = hints_of_n1(&cl);
    assert_eq!(figure(&p, "queued"), 300, "hints read back: {p}");
    cl.node_mut(1).restart();
    assert_converges(&cl, &acked);
    let ok = poll_until(DETECT, || figure(&hints_of_n1(&cl), "replayed") == 300);
    assert!(ok, "{}", hints_of_n1(&cl));
    let log = cl.node(0).full_log();
    assert!(
        log.contains("hints for peer"),
        "no read-back logged:\n{log}"
    );
}

#[test]
fn a_replica_down_during_quorum_writes_gets_them_as_hints() {
    // Three racks at DC_QUORUM: with C down, A and B acknowledge the
    // writes; C's copies are kept as hints and replayed when it is back,
    // without any read to repair it.
    let layout = [
        node("dc1", "rack1", &[0]),
        node("dc1", "rack2", &[0]),
        node("dc1", "rack3", &[0]),
    ];
    let quorum = [
        ("read_consistency", "DC_QUORUM"),
        ("write_consistency", "DC_QUORUM"),
    ];
    let mut cl = Cluster::start_with(&layout, &quorum);
    cl.node_mut(2).kill();
    let mut c = cl.node(0).client();
    // The first write may find C not yet known down: it is answered by A
    // and B all the same.
    for i in 0..200 {
        let k = format!("qh{i}");
        assert_eq!(
            c.cmd(&[b"SET", k.as_bytes(), b"v"]),
            b"+OK\r\n",
            "write {i} with one replica of three down"
        );
    }
    cl.node_mut(2).restart();
    let all_there = poll_until(Duration::from_secs(30), || {
        let mut r = cl.node(2).redis_client();
        (0..200).all(|i| r.cmd(&[b"EXISTS", format!("qh{i}").as_bytes()]) == b":1\r\n")
    });
    assert!(
        all_there,
        "C never got the writes it missed; A's log:\n{}",
        cl.node(0).log()
    );
    let hints = hints_of(&cl, 2);
    assert!(figure(&hints, "replayed") >= 200, "{hints}");
}
