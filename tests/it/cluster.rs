//! Cluster behaviour on loopback: placement on the token ring, replication to
//! every rack and datacenter, the quorum levels, DC_ONE read failover,
//! multi-key commands across nodes, hash tags, and a peer restarted under
//! traffic. Every node is a real `dynomite` in front of its own
//! `redis-server`; placement is checked by asking each redis directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::golden::{node_index, rows, unhex, NODES_3, PLACEMENT_3NODE, PLACEMENT_3NODE_HASHTAG};
use crate::harness::cluster::{murmur, node, tag_part, Cluster, NodeSpec};
use crate::harness::{bulk, encode, poll_until, show, Client, ReplyError};

/// How long a copy sent to another rack or datacenter may take to land.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The error prefixes a client may see when replicas are unreachable.
const REPLICA_ERRORS: [&str; 3] = [
    "-ERR Storage:",
    "-ERR Dynomite: Failed to achieve Quorum",
    "-ERR Peer:",
];

/// The three-node, one-rack ring of the placement golden files.
fn ring_3() -> Vec<NodeSpec> {
    NODES_3
        .iter()
        .map(|&(_, t)| node("dc1", "rack1", &[t]))
        .collect()
}

/// `n` racks of one node each in dc1, every node with the same token, so
/// every node holds every key.
fn one_node_per_rack(racks: usize) -> Vec<NodeSpec> {
    (1..=racks)
        .map(|r| node("dc1", &format!("rack{r}"), &[2147483647]))
        .collect()
}

/// True when `reply` is one of the errors expected while replicas are down.
fn is_replica_error(reply: &[u8]) -> bool {
    REPLICA_ERRORS
        .iter()
        .any(|p| reply.starts_with(p.as_bytes()) && reply.ends_with(b"\r\n"))
}

/// Sets the consistency level of one client connection.
fn set_conn_consistency(c: &mut Client, level: &str) {
    assert_eq!(
        c.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", level.as_bytes()]),
        b"+OK\r\n",
        "DYNO_CONFIG:CONN_CONSISTENCY {level}"
    );
}

/// Polls until node `i`'s redis holds `key` with `value`.
fn wait_value(cl: &Cluster, i: usize, key: &[u8], value: &[u8]) {
    let want = bulk(value);
    let mut last = Vec::new();
    let ok = poll_until(REPLICATION_TIMEOUT, || {
        last = cl.node(i).redis_get(key);
        last == want
    });
    assert!(
        ok,
        "n{i}'s redis never held {} = {} (last: \"{}\")",
        show(key),
        show(value),
        show(&last)
    );
}

#[test]
fn placement_reproduces_the_golden_three_node_ring() {
    let cl = Cluster::start(&ring_3());
    let mut c = cl.node(0).client();
    let rows = rows(PLACEMENT_3NODE);
    assert_eq!(rows.len(), 50, "golden rows");
    for row in &rows {
        let key = unhex(row[0]);
        assert_eq!(key.len(), row[1].parse::<usize>().unwrap(), "key_len");
        let token: u32 = row[2].parse().unwrap();
        assert_eq!(murmur(&key), token, "test oracle for {}", row[5]);
        let value = format!("v-{}", row[0].len());
        assert_eq!(
            c.cmd(&[b"SET", &key, value.as_bytes()]),
            b"+OK\r\n",
            "SET {} through n0",
            row[5]
        );
    }
    let mut wrong = Vec::new();
    for row in &rows {
        let key = unhex(row[0]);
        let owner = node_index(row[3]);
        let holders: Vec<usize> = (0..3).filter(|&i| cl.node(i).redis_has(&key)).collect();
        if holders != [owner] {
            wrong.push(format!(
                "{} (token {}): expected on n{owner}, found on {holders:?}",
                row[5], row[2]
            ));
        }
    }
    assert!(wrong.is_empty(), "misplaced keys:\n{}", wrong.join("\n"));

    // Every node finds every key, whoever owns it.
    for i in 1..3 {
        let mut c = cl.node(i).client();
        for row in &rows {
            let key = unhex(row[0]);
            let value = format!("v-{}", row[0].len());
            assert_eq!(
                c.cmd(&[b"GET", &key]),
                bulk(value.as_bytes()),
                "GET {} through n{i}",
                row[5]
            );
        }
    }
}

#[test]
fn hash_tags_reproduce_the_golden_ring_and_keep_tagged_keys_together() {
    let cl = Cluster::start_with(&ring_3(), &[("hash_tag", "'{}'")]);
    let rows = rows(PLACEMENT_3NODE_HASHTAG);
    assert_eq!(rows.len(), 25, "golden rows");
    let mut c = cl.node(0).client();
    for row in &rows {
        let key = unhex(row[0]);
        assert_eq!(tag_part(&key), unhex(row[1]), "test oracle for {}", row[4]);
        assert_eq!(
            murmur(&unhex(row[1])),
            row[2].parse::<u32>().unwrap(),
            "test oracle for {}",
            row[4]
        );
        assert_eq!(
            c.cmd(&[b"SET", &key, row[1].as_bytes()]),
            b"+OK\r\n",
            "SET {} through n0",
            row[4]
        );
    }
    let mut wrong = Vec::new();
    let mut by_tag: HashMap<&str, Vec<usize>> = HashMap::new();
    for row in &rows {
        let key = unhex(row[0]);
        let owner = node_index(row[3]);
        let holders: Vec<usize> = (0..3).filter(|&i| cl.node(i).redis_has(&key)).collect();
        if holders != [owner] {
            wrong.push(format!(
                "{}: expected on n{owner}, found on {holders:?}",
                row[4]
            ));
        }
        by_tag.entry(row[1]).or_default().extend(holders);
    }
    assert!(wrong.is_empty(), "misplaced keys:\n{}", wrong.join("\n"));
    for (tag, holders) in &by_tag {
        assert!(
            holders.windows(2).all(|w| w[0] == w[1]),
            "keys tagged {tag} are spread over {holders:?}"
        );
    }

    // MSET and MGET of tagged keys, through a node that owns none of them.
    let pairs: [(&[u8], &[u8], usize); 6] = [
        (b"{alice}.a", b"1", 1),
        (b"{dave}.a", b"2", 2),
        (b"{alice}.b", b"3", 1),
        (b"{dave}.b", b"4", 2),
        (b"x{alice}y", b"5", 1),
        (b"{dave}", b"6", 2),
    ];
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for (k, v, _) in &pairs {
        mset.push(k);
        mset.push(v);
    }
    assert_eq!(cl.node(0).client().cmd(&mset), b"+OK\r\n", "tagged MSET");
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    let mut want = format!("*{}\r\n", pairs.len()).into_bytes();
    for (k, v, _) in &pairs {
        mget.push(k);
        want.extend(bulk(v));
    }
    assert_eq!(cl.node(2).client().cmd(&mget), want, "tagged MGET");
    for (k, v, owner) in &pairs {
        for i in 0..3 {
            let want = if i == *owner {
                bulk(v)
            } else {
                b"$-1\r\n".to_vec()
            };
            assert_eq!(cl.node(i).redis_get(k), want, "{} in n{i}'s redis", show(k));
        }
    }
}

#[test]
fn two_racks_of_two_nodes_hold_one_copy_per_rack_and_serve_every_key_everywhere() {
    // Different token layouts per rack: single-key placement is per rack.
    let layout = [
        node("dc1", "rack1", &[1073741823]),
        node("dc1", "rack1", &[3221225471]),
        node("dc1", "rack2", &[536870911]),
        node("dc1", "rack2", &[2684354559]),
    ];
    let cl = Cluster::start(&layout);
    let mut written = Vec::new();
    for via in 0..4 {
        let mut c = cl.node(via).client();
        for j in 0..12 {
            let key = format!("w{via}:{j}").into_bytes();
            let value = format!("value of w{via}:{j}").into_bytes();
            assert_eq!(
                c.cmd(&[b"SET", &key, &value]),
                b"+OK\r\n",
                "SET {} through n{via}",
                show(&key)
            );
            // Same rack as the coordinator: the reply came from the owner.
            let mut same_rack = cl.node(via).client();
            assert_eq!(same_rack.cmd(&[b"GET", &key]), bulk(&value));
            written.push((key, value));
        }
    }
    for (key, value) in &written {
        let replicas = cl.replicas(key);
        assert_eq!(replicas.len(), 2, "one owner per rack");
        assert_ne!(replicas[0], replicas[1]);
        for &r in &replicas {
            wait_value(&cl, r, key, value);
        }
        for i in 0..4 {
            assert_eq!(
                cl.node(i).redis_has(key),
                replicas.contains(&i),
                "{} in n{i}'s redis (replicas {replicas:?})",
                show(key)
            );
        }
    }
    let mut spread = [0usize; 4];
    for (key, _) in &written {
        for r in cl.replicas(key) {
            spread[r] += 1;
        }
    }
    assert!(
        spread.iter().all(|&n| n > 0),
        "every node owns some keys: {spread:?}"
    );
    for i in 0..4 {
        let mut c = cl.node(i).client();
        for (key, value) in &written {
            assert_eq!(
                c.cmd(&[b"GET", key]),
                bulk(value),
                "GET {} through n{i}",
                show(key)
            );
        }
    }
}

#[test]
fn writes_reach_every_rack_of_the_remote_datacenter() {
    // Two DCs of two racks, one node per rack: every node holds every key.
    let layout = [
        node("dc1", "rack1", &[1000]),
        node("dc1", "rack2", &[1000]),
        node("dc2", "rack1", &[1000]),
        node("dc2", "rack2", &[1000]),
    ];
    let cl = Cluster::start(&layout);
    let mut written = Vec::new();
    for via in 0..4 {
        let mut c = cl.node(via).client();
        for j in 0..5 {
            let key = format!("dc:{via}:{j}").into_bytes();
            let value = format!("written through n{via} ({j})").into_bytes();
            assert_eq!(c.cmd(&[b"SET", &key, &value]), b"+OK\r\n");
            written.push((key, value));
        }
    }
    for (key, value) in &written {
        for i in 0..4 {
            wait_value(&cl, i, key, value);
        }
    }
    // A second write of the same keys replaces the value in every DC.
    let mut c = cl.node(0).client();
    for (key, _) in &written {
        assert_eq!(c.cmd(&[b"SET", key, b"second"]), b"+OK\r\n");
    }
    for (key, _) in &written {
        for i in 0..4 {
            wait_value(&cl, i, key, b"second");
        }
    }
    // And a DEL through dc2 removes them from dc1.
    let mut c = cl.node(3).client();
    for (key, _) in &written {
        assert_eq!(c.cmd(&[b"DEL", key]), b":1\r\n");
    }
    for (key, _) in &written {
        for i in 0..4 {
            let gone = poll_until(REPLICATION_TIMEOUT, || !cl.node(i).redis_has(key));
            assert!(gone, "{} still in n{i}'s redis after DEL", show(key));
        }
    }
}

#[test]
fn a_remote_copy_fails_over_to_another_rack_when_the_preselected_owner_is_down() {
    let layout = [
        node("dc1", "rack1", &[1000]),
        node("dc1", "rack2", &[1000]),
        node("dc2", "rack1", &[1000]),
        node("dc2", "rack2", &[1000]),
    ];
    let mut cl = Cluster::start(&layout);
    // n0 (rack1) replicates to rack1 of dc2, that is n2; with n2 down the
    // copy goes to n3, which applies it (and cannot reach n2).
    cl.node_mut(2).kill();
    let mut c = cl.node(0).client();
    let key: &[u8] = b"remote-failover";
    let mut n = 0;
    let mut value = Vec::new();
    let landed = poll_until(REPLICATION_TIMEOUT, || {
        n += 1;
        value = format!("attempt {n}").into_bytes();
        assert_eq!(c.cmd(&[b"SET", key, &value]), b"+OK\r\n");
        poll_until(Duration::from_millis(200), || {
            cl.node(3).redis_get(key) == bulk(&value)
        })
    });
    assert!(
        landed,
        "no write through n0 reached n3 with n2 down (n3 holds \"{}\")",
        show(&cl.node(3).redis_get(key))
    );
    wait_value(&cl, 1, key, &value);
    assert!(!cl.node(2).redis_has(key), "n2 was down");
}

/// Three racks at a quorum level: one dead backend is tolerated, two are
/// not. `first_kill` and `second_kill` are the nodes whose redis dies.
fn quorum_survives_one_dead_backend(
    cl: &mut Cluster,
    c: &mut Client,
    first_kill: usize,
    second_kill: usize,
) {
    let key: &[u8] = b"quorum:key";
    assert_eq!(c.cmd(&[b"SET", key, b"v1"]), b"+OK\r\n");
    for i in 0..3 {
        wait_value(cl, i, key, b"v1");
    }
    assert_eq!(c.cmd(&[b"GET", key]), bulk(b"v1"));

    cl.node_mut(first_kill).redis.kill();
    for round in 0..3 {
        let value = format!("v2-{round}").into_bytes();
        assert_eq!(
            c.cmd(&[b"SET", key, &value]),
            b"+OK\r\n",
            "SET with n{first_kill}'s redis down"
        );
        assert_eq!(
            c.cmd(&[b"GET", key]),
            bulk(&value),
            "GET with n{first_kill}'s redis down"
        );
    }
    let fresh: &[u8] = b"quorum:fresh";
    assert_eq!(c.cmd(&[b"SET", fresh, b"f"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", fresh]), bulk(b"f"));
    assert_eq!(c.cmd(&[b"GET", b"quorum:missing"]), b"$-1\r\n");

    cl.node_mut(second_kill).redis.kill();
    let set = c.cmd(&[b"SET", key, b"v3"]);
    assert!(
        is_replica_error(&set),
        "SET with two of three backends down answered \"{}\"",
        show(&set)
    );
    let get = c.cmd(&[b"GET", key]);
    assert!(
        is_replica_error(&get),
        "GET with two of three backends down answered \"{}\"",
        show(&get)
    );
    eprintln!(
        "two of three backends down: SET -> \"{}\", GET -> \"{}\"",
        show(&set),
        show(&get)
    );
}

#[test]
fn dc_quorum_per_connection_tolerates_one_dead_backend_of_three() {
    let mut cl = Cluster::start(&one_node_per_rack(3));
    let mut c = cl.node(0).client();
    set_conn_consistency(&mut c, "DC_QUORUM");
    // Remote rack first, then the coordinator's own datastore.
    quorum_survives_one_dead_backend(&mut cl, &mut c, 1, 0);
}

#[test]
fn dc_safe_quorum_from_yaml_tolerates_one_dead_backend_of_three() {
    let mut cl = Cluster::start_with(
        &one_node_per_rack(3),
        &[
            ("read_consistency", "DC_SAFE_QUORUM"),
            ("write_consistency", "DC_SAFE_QUORUM"),
        ],
    );
    let mut c = cl.node(0).client();
    // The coordinator's own datastore first, then a remote rack.
    quorum_survives_one_dead_backend(&mut cl, &mut c, 0, 2);
}

#[test]
fn dc_safe_quorum_per_connection_fails_when_two_of_three_backends_are_dead() {
    let mut cl = Cluster::start(&one_node_per_rack(3));
    let mut c = cl.node(0).client();
    set_conn_consistency(&mut c, "dc_safe_quorum");
    quorum_survives_one_dead_backend(&mut cl, &mut c, 2, 1);
}

#[test]
fn dc_safe_quorum_in_a_single_rack_datacenter_answers() {
    let layout = [
        node("dc1", "rack1", &[1073741823]),
        node("dc1", "rack1", &[3221225471]),
    ];
    let cl = Cluster::start_with(
        &layout,
        &[
            ("read_consistency", "DC_SAFE_QUORUM"),
            ("write_consistency", "DC_SAFE_QUORUM"),
        ],
    );
    for via in 0..2 {
        let mut c = cl.node(via).client();
        for owner in 0..2 {
            let key = cl.key_owned_by(&format!("single:{via}:"), owner);
            let value = format!("owned by n{owner}").into_bytes();
            assert_eq!(c.cmd(&[b"SET", &key, &value]), b"+OK\r\n");
            assert_eq!(c.cmd(&[b"GET", &key]), bulk(&value));
            assert_eq!(cl.node(owner).redis_get(&key), bulk(&value));
            let missing = cl.key_owned_by(&format!("missing:{via}:"), owner);
            assert_eq!(c.cmd(&[b"GET", &missing]), b"$-1\r\n");
        }
    }
}

#[test]
fn dc_safe_quorum_majority_wins_over_one_disagreeing_rack() {
    let cl = Cluster::start(&one_node_per_rack(3));
    let mut c = cl.node(0).client();
    set_conn_consistency(&mut c, "DC_SAFE_QUORUM");
    let key: &[u8] = b"majority";
    assert_eq!(c.cmd(&[b"SET", key, b"agreed"]), b"+OK\r\n");
    for i in 0..3 {
        wait_value(&cl, i, key, b"agreed");
    }
    for odd in 0..3 {
        let mut direct = cl.node(odd).redis_client();
        assert_eq!(direct.cmd(&[b"SET", key, b"different"]), b"+OK\r\n");
        for _ in 0..3 {
            assert_eq!(
                c.cmd(&[b"GET", key]),
                bulk(b"agreed"),
                "GET with n{odd} disagreeing"
            );
        }
        assert_eq!(direct.cmd(&[b"SET", key, b"agreed"]), b"+OK\r\n");
    }
}

#[test]
fn two_disagreeing_racks_fail_at_dc_safe_quorum_and_answer_at_dc_quorum() {
    let cl = Cluster::start(&one_node_per_rack(2));
    let mut safe = cl.node(0).client();
    set_conn_consistency(&mut safe, "DC_SAFE_QUORUM");
    let mut quorum = cl.node(0).client();
    set_conn_consistency(&mut quorum, "DC_QUORUM");
    let key: &[u8] = b"split-brain";
    assert_eq!(safe.cmd(&[b"SET", key, b"alpha"]), b"+OK\r\n");
    wait_value(&cl, 0, key, b"alpha");
    wait_value(&cl, 1, key, b"alpha");
    assert_eq!(
        safe.cmd(&[b"GET", key]),
        bulk(b"alpha"),
        "agreeing replicas"
    );

    assert_eq!(
        cl.node(1).redis_client().cmd(&[b"SET", key, b"bravo"]),
        b"+OK\r\n"
    );
    for _ in 0..3 {
        assert_eq!(
            safe.cmd(&[b"GET", key]),
            b"-ERR Dynomite: Failed to achieve Quorum\r\n",
            "DC_SAFE_QUORUM GET of disagreeing replicas"
        );
        let r = quorum.cmd(&[b"GET", key]);
        assert!(
            r == bulk(b"alpha") || r == bulk(b"bravo"),
            "DC_QUORUM GET of disagreeing replicas answered \"{}\"",
            show(&r)
        );
    }
    // Through the other rack's node as well.
    let mut safe1 = cl.node(1).client();
    set_conn_consistency(&mut safe1, "DC_SAFE_QUORUM");
    assert_eq!(
        safe1.cmd(&[b"GET", key]),
        b"-ERR Dynomite: Failed to achieve Quorum\r\n"
    );
}

#[test]
fn dc_one_read_fails_over_to_the_other_rack_when_the_owner_is_down() {
    // Identical token layouts in both racks: n1 and n3 own the same range.
    let layout = [
        node("dc1", "rack1", &[1073741823]),
        node("dc1", "rack1", &[3221225471]),
        node("dc1", "rack2", &[1073741823]),
        node("dc1", "rack2", &[3221225471]),
    ];
    let mut cl = Cluster::start(&layout);
    let key = cl.key_owned_by("failover:", 1);
    assert_eq!(cl.replicas(&key), vec![1, 3]);
    let local = cl.key_owned_by("local:", 0);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SET", &key, b"kept"]), b"+OK\r\n");
    wait_value(&cl, 3, &key, b"kept");

    cl.node_mut(1).kill();
    for attempt in 0..5 {
        assert_eq!(
            c.cmd(&[b"GET", &key]),
            bulk(b"kept"),
            "GET through n0 with the rack owner n1 down (attempt {attempt})"
        );
    }
    assert_eq!(
        cl.node(0).client().cmd(&[b"GET", &key]),
        bulk(b"kept"),
        "GET on a new connection"
    );
    for attempt in 0..3 {
        let r = c.cmd(&[b"SET", &key, b"lost"]);
        assert!(
            r == b"-ERR Peer: Peer Node is not connected\r\n"
                || r == b"-ERR Peer: Peer Node refused connection\r\n",
            "SET through n0 with the rack owner n1 down (attempt {attempt}) answered \"{}\"",
            show(&r)
        );
    }
    // Keys owned by live nodes are unaffected.
    assert_eq!(c.cmd(&[b"SET", &local, b"fine"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", &local]), bulk(b"fine"));
}

#[test]
fn multi_key_commands_split_across_three_nodes() {
    let cl = Cluster::start(&ring_3());
    const N: usize = 1000;
    let keys: Vec<Vec<u8>> = (0..N).map(|i| format!("mk:{i}").into_bytes()).collect();
    let values: Vec<Vec<u8>> = (0..N).map(|i| format!("value-{i}").into_bytes()).collect();
    let mut per_node = [0usize; 3];
    for k in &keys {
        per_node[cl.owner(0, k)] += 1;
    }
    assert!(per_node.iter().all(|&n| n > 100), "spread {per_node:?}");

    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for (k, v) in keys.iter().zip(&values) {
        mset.push(k);
        mset.push(v);
    }
    assert_eq!(cl.node(0).client().cmd(&mset), b"+OK\r\n", "MSET");
    for (k, v) in keys.iter().zip(&values) {
        let owner = cl.owner(0, k);
        for i in 0..3 {
            let want = if i == owner {
                bulk(v)
            } else {
                b"$-1\r\n".to_vec()
            };
            assert_eq!(cl.node(i).redis_get(k), want, "{} in n{i}'s redis", show(k));
        }
    }

    let all: Vec<&[u8]> = keys.iter().map(|k| k.as_slice()).collect();
    let with = |cmd: &'static [u8]| {
        let mut v: Vec<&[u8]> = vec![cmd];
        v.extend(&all);
        v
    };
    let mut want = format!("*{N}\r\n").into_bytes();
    for v in &values {
        want.extend(bulk(v));
    }
    for via in 0..3 {
        let got = cl.node(via).client().cmd(&with(b"MGET"));
        assert!(got == want, "MGET through n{via}: \"{}\"", show(&got));
    }
    assert_eq!(
        cl.node(2).client().cmd(&with(b"EXISTS")),
        format!(":{N}\r\n").into_bytes()
    );

    // DEL every other key through n1.
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().step_by(2).map(|k| k.as_slice()));
    assert_eq!(
        cl.node(1).client().cmd(&del),
        format!(":{}\r\n", N / 2).into_bytes()
    );
    assert_eq!(
        cl.node(0).client().cmd(&with(b"EXISTS")),
        format!(":{}\r\n", N / 2).into_bytes()
    );
    let mut want = format!("*{N}\r\n").into_bytes();
    for (i, v) in values.iter().enumerate() {
        if i % 2 == 0 {
            want.extend(b"$-1\r\n");
        } else {
            want.extend(bulk(v));
        }
    }
    let got = cl.node(2).client().cmd(&with(b"MGET"));
    assert!(got == want, "MGET after DEL: \"{}\"", show(&got));
    for (i, k) in keys.iter().enumerate() {
        let holders: Vec<usize> = (0..3).filter(|&n| cl.node(n).redis_has(k)).collect();
        let want = if i % 2 == 0 {
            vec![]
        } else {
            vec![cl.owner(0, k)]
        };
        assert_eq!(holders, want, "{} after DEL", show(k));
    }
}

/// What one client request of the restart test saw.
struct Outcome {
    /// When the request was sent.
    at: Instant,
    /// When its reply (or failure) came.
    done: Instant,
    /// The node owning its key.
    owner: usize,
    /// What went wrong, if anything.
    problem: Option<String>,
}

/// One client thread of the restart test: SET then GET over its own keys
/// through `port`, until `stop`. Every reply must be right, or an error
/// naming the peer or its storage; a failed SET may or may not have been
/// applied, so afterwards either value is acceptable.
fn traffic(
    port: u16,
    keys: Vec<(Vec<u8>, usize)>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Outcome>>>,
) {
    let mut acceptable: Vec<Vec<Vec<u8>>> = vec![vec![b"$-1\r\n".to_vec()]; keys.len()];
    let mut c = Client::connect(port);
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let i = (n as usize) % keys.len();
        n += 1;
        let (key, owner) = &keys[i];
        let value = format!("{}#{n}", String::from_utf8_lossy(key)).into_bytes();
        let at = Instant::now();
        let problem = match roundtrip(&mut c, &[b"SET", key, &value]) {
            Ok(r) if r == b"+OK\r\n" => {
                acceptable[i] = vec![bulk(&value)];
                None
            }
            Ok(r) if is_replica_error(&r) => {
                acceptable[i].push(bulk(&value));
                Some(format!("SET error \"{}\"", show(&r)))
            }
            Ok(r) => Some(format!("WRONG: SET answered \"{}\"", show(&r))),
            Err(e) => Some(format!("WRONG: SET {e}")),
        };
        let wrong = problem.as_ref().is_some_and(|p| p.starts_with("WRONG"));
        log.lock().unwrap().push(Outcome {
            at,
            done: Instant::now(),
            owner: *owner,
            problem,
        });
        if wrong {
            return;
        }
        let at = Instant::now();
        let problem = match roundtrip(&mut c, &[b"GET", key]) {
            Ok(r) if acceptable[i].contains(&r) => {
                acceptable[i] = vec![r];
                None
            }
            Ok(r) if is_replica_error(&r) => Some(format!("GET error \"{}\"", show(&r))),
            Ok(r) => Some(format!(
                "WRONG: GET {} answered \"{}\", expected one of {:?}",
                show(key),
                show(&r),
                acceptable[i].iter().map(|v| show(v)).collect::<Vec<_>>()
            )),
            Err(e) => Some(format!("WRONG: GET {e}")),
        };
        let wrong = problem.as_ref().is_some_and(|p| p.starts_with("WRONG"));
        log.lock().unwrap().push(Outcome {
            at,
            done: Instant::now(),
            owner: *owner,
            problem,
        });
        if wrong {
            return;
        }
    }
}

/// Sends one request and reads its reply (the harness read timeout turns a
/// hang into an error).
fn roundtrip(c: &mut Client, args: &[&[u8]]) -> Result<Vec<u8>, ReplyError> {
    c.try_send(&encode(args)).map_err(ReplyError::Io)?;
    c.try_read_reply()
}

#[test]
fn a_peer_killed_and_restarted_under_traffic_comes_back_without_restarting_others() {
    let mut cl = Cluster::start(&ring_3());
    const A: usize = 0;
    const B: usize = 1;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for t in 0..3 {
        let keys: Vec<(Vec<u8>, usize)> = (0..30)
            .map(|i| {
                let k = format!("traffic:{t}:{i}").into_bytes();
                let owner = cl.owner(A, &k);
                (k, owner)
            })
            .collect();
        assert!(keys.iter().any(|&(_, o)| o == B), "thread {t} uses n1");
        assert!(keys.iter().any(|&(_, o)| o != B), "thread {t} uses n0/n2");
        let (port, stop, log) = (cl.node(A).port(), stop.clone(), log.clone());
        threads.push(thread::spawn(move || traffic(port, keys, stop, log)));
    }
    let count = |log: &Arc<Mutex<Vec<Outcome>>>| log.lock().unwrap().len();
    assert!(
        poll_until(Duration::from_secs(10), || count(&log) >= 300),
        "traffic started"
    );

    let killed_at = Instant::now();
    cl.node_mut(B).kill();
    // Traffic goes on while B is down.
    let before = count(&log);
    assert!(
        poll_until(Duration::from_secs(10), || count(&log) >= before + 300),
        "traffic goes on while n1 is down"
    );
    cl.node_mut(B).restart();
    let restarted_at = Instant::now();

    // A reconnects on its own (back-off 1 s doubling to 10 s).
    let probe = cl.key_owned_by("restart-probe:", B);
    let mut probe_client = cl.node(A).client();
    let mut last = Vec::new();
    let recovered = poll_until(Duration::from_secs(15), || {
        last = probe_client.cmd(&[b"SET", &probe, b"back"]);
        if last != b"+OK\r\n" {
            thread::sleep(Duration::from_millis(100));
        }
        last == b"+OK\r\n"
    });
    assert!(
        recovered,
        "n0 did not reach the restarted n1 within 15 s (last reply \"{}\")",
        show(&last)
    );
    let recovered_at = Instant::now();
    let before = count(&log);
    assert!(
        poll_until(Duration::from_secs(10), || count(&log) >= before + 300),
        "traffic goes on after the restart"
    );
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("traffic thread");
    }

    let log = log.lock().unwrap();
    let wrong: Vec<&String> = log
        .iter()
        .filter_map(|o| o.problem.as_ref())
        .filter(|p| p.starts_with("WRONG"))
        .collect();
    assert!(wrong.is_empty(), "wrong replies: {wrong:?}");
    let errors: Vec<&Outcome> = log.iter().filter(|o| o.problem.is_some()).collect();
    let not_b: Vec<&String> = errors
        .iter()
        .filter(|o| o.owner != B)
        .filter_map(|o| o.problem.as_ref())
        .collect();
    assert!(
        not_b.is_empty(),
        "errors for keys n1 does not own: {not_b:?}"
    );
    let outside: Vec<&String> = errors
        .iter()
        .filter(|o| o.done < killed_at || o.at >= recovered_at)
        .filter_map(|o| o.problem.as_ref())
        .collect();
    assert!(
        outside.is_empty(),
        "errors for requests that ended before n1 was killed or began after it was \
         reachable again: {outside:?}"
    );
    assert!(
        !errors.is_empty(),
        "no request for a key of n1 failed while it was down"
    );
    eprintln!(
        "{} requests, {} errors while n1 was down ({:?}); recovered {:?} after the restart",
        log.len(),
        errors.len(),
        errors
            .iter()
            .filter_map(|o| o.problem.clone())
            .collect::<std::collections::BTreeSet<_>>(),
        recovered_at - restarted_at
    );
    // Every node serves every key again.
    cl.wait_connected();
}

#[test]
fn multi_key_commands_in_two_racks_put_one_copy_of_each_key_per_rack() {
    // Identical token layouts in both racks, as multi-key splitting expects.
    let layout = [
        node("dc1", "rack1", &[1431655765]),
        node("dc1", "rack1", &[2863311530]),
        node("dc1", "rack1", &[4294967295]),
        node("dc1", "rack2", &[1431655765]),
        node("dc1", "rack2", &[2863311530]),
        node("dc1", "rack2", &[4294967295]),
    ];
    let cl = Cluster::start(&layout);
    const N: usize = 200;
    let keys: Vec<Vec<u8>> = (0..N).map(|i| format!("rk:{i}").into_bytes()).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for k in &keys {
        mset.push(k);
        mset.push(k);
    }
    assert_eq!(cl.node(4).client().cmd(&mset), b"+OK\r\n", "MSET via n4");
    for k in &keys {
        let replicas = cl.replicas(k);
        for &r in &replicas {
            wait_value(&cl, r, k, k);
        }
        let holders: Vec<usize> = (0..6).filter(|&i| cl.node(i).redis_has(k)).collect();
        assert_eq!(holders, replicas, "{}", show(k));
    }
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(|k| k.as_slice()));
    let mut want = format!("*{N}\r\n").into_bytes();
    for k in &keys {
        want.extend(bulk(k));
    }
    for via in 0..6 {
        let got = cl.node(via).client().cmd(&mget);
        assert!(got == want, "MGET via n{via}: \"{}\"", show(&got));
    }
    let mut del: Vec<&[u8]> = vec![b"DEL"];
    del.extend(keys.iter().map(|k| k.as_slice()));
    assert_eq!(
        cl.node(0).client().cmd(&del),
        format!(":{N}\r\n").into_bytes()
    );
    for k in &keys {
        for i in 0..6 {
            let gone = poll_until(REPLICATION_TIMEOUT, || !cl.node(i).redis_has(k));
            assert!(gone, "{} still in n{i}'s redis after DEL", show(k));
        }
    }
}

/// Three racks holding `e:0`..`e:3` = a, b, c, d, then one stray value per
/// rack: n0 on `e:1`, n1 on `e:2`, n2 on `e:3`, so every whole MGET answer
/// differs from the others while every one of those elements keeps a
/// majority. With `split_first`, `e:0` also gets a different value in every
/// rack (p, q, r: no majority). Returns the cluster and the MGET command.
fn stray_mget_cluster(split_first: bool) -> (Cluster, Vec<&'static [u8]>) {
    let cl = Cluster::start(&one_node_per_rack(3));
    let keys: [&'static [u8]; 4] = [b"e:0", b"e:1", b"e:2", b"e:3"];
    let values: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
    let mut c = cl.node(0).client();
    for (k, v) in keys.iter().zip(values) {
        assert_eq!(c.cmd(&[b"SET", k, v]), b"+OK\r\n");
    }
    for i in 0..3 {
        for (k, v) in keys.iter().zip(values) {
            wait_value(&cl, i, k, v);
        }
    }
    for (i, k) in [(0, keys[1]), (1, keys[2]), (2, keys[3])] {
        assert_eq!(
            cl.node(i).redis_client().cmd(&[b"SET", k, b"stray"]),
            b"+OK\r\n"
        );
    }
    if split_first {
        for (i, v) in [(0, b"p"), (1, b"q"), (2, b"r")] {
            assert_eq!(
                cl.node(i).redis_client().cmd(&[b"SET", keys[0], v]),
                b"+OK\r\n"
            );
        }
    }
    let mget = [&b"MGET"[..]].into_iter().chain(keys).collect();
    (cl, mget)
}

/// A RESP array of bulk strings.
fn bulk_array(items: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend(bulk(i));
    }
    out
}

#[test]
fn dc_safe_quorum_mget_takes_the_majority_of_each_element() {
    let (cl, mget) = stray_mget_cluster(false);
    let mut safe = cl.node(0).client();
    set_conn_consistency(&mut safe, "DC_SAFE_QUORUM");
    for _ in 0..3 {
        let got = safe.cmd(&mget);
        assert_eq!(
            show(&got),
            show(&bulk_array(&[b"a", b"b", b"c", b"d"])),
            "DC_SAFE_QUORUM MGET, each element agreed by two of three racks"
        );
    }
}

#[test]
fn dc_quorum_mget_takes_the_majority_of_each_element_and_the_first_answer_otherwise() {
    let (cl, mget) = stray_mget_cluster(true);
    let mut quorum = cl.node(0).client();
    set_conn_consistency(&mut quorum, "DC_QUORUM");
    for _ in 0..3 {
        let got = quorum.cmd(&mget);
        let ok = [&b"p"[..], b"q", b"r"]
            .iter()
            .any(|first| got == bulk_array(&[first, b"b", b"c", b"d"]));
        assert!(
            ok,
            "DC_QUORUM MGET: expected [p|q|r, b, c, d], got \"{}\"",
            show(&got)
        );
    }
}

#[test]
fn dc_safe_quorum_mget_without_a_majority_for_one_element_fails() {
    let (cl, mget) = stray_mget_cluster(true);
    let mut safe = cl.node(0).client();
    set_conn_consistency(&mut safe, "DC_SAFE_QUORUM");
    assert_eq!(
        show(&safe.cmd(&mget)),
        show(b"-ERR Dynomite: Failed to achieve Quorum\r\n")
    );
}

#[test]
fn resp3_clients_keep_their_protocol_across_peers() {
    // One rack of two nodes: half of the keys live on the peer.
    let layout = [
        node("dc1", "rack1", &[0]),
        node("dc1", "rack1", &[2147483648]),
    ];
    let cl = Cluster::start(&layout);
    let mut c = cl.node(0).client();
    let hello = c.cmd(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    let mut on_peer = 0;
    for i in 0..20 {
        let key = format!("resp3:{i}").into_bytes();
        assert_eq!(c.cmd(&[b"HSET", &key, b"f", b"v"]), b":1\r\n");
        assert_eq!(
            c.cmd(&[b"HGETALL", &key]),
            b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n",
            "HGETALL {}",
            show(&key)
        );
        if cl.owner(0, &key) == 1 {
            on_peer += 1;
        }
    }
    assert!(on_peer > 0, "some keys live on the peer");
    // A RESP2 client on the same node still gets arrays.
    let mut c2 = cl.node(0).client();
    assert_eq!(
        c2.cmd(&[b"HGETALL", b"resp3:0"]),
        b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
}
