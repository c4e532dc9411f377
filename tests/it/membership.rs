//! Membership while nodes run. Seed providers against real servers: a
//! Florida HTTP server (Python's `http.server` serving the record list as a
//! file) and a DNS server (`dnsmasq`, with TXT and A records written by the
//! test); nodes started with no static seeds learn each other from the
//! provider, replicate, and replace a node that moved to a new address,
//! without a restart. Gossip: nodes converge on one view, survive a restart,
//! and learn of nodes no configuration named.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::conf::{addr, server, ConfYaml, POOL};
use crate::harness::{
    free_port, ping_ok, poll_until, require_program, show, Client, DynomiteProcess, RedisServer,
    Start, TempDir,
};

/// How long a provider change may take to reach routing (polls every 200 ms).
const CONVERGE: Duration = Duration::from_secs(20);

/// A child process of the test, killed by PID and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Florida server: the record list is the file
/// `REST/v1/admin/get_seeds` of a folder that Python's `http.server` serves,
/// so the provider's default request finds it.
struct Florida {
    _child: ChildGuard,
    dir: TempDir,
    port: u16,
}

impl Florida {
    fn start(records: &[String]) -> Florida {
        require_program(
            "python3",
            &["--version"],
            "install python3 (tests/clients/install.sh)",
        );
        let dir = TempDir::new("florida");
        let port = free_port();
        // http.server serves its working folder.
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(dir.path())
            .spawn()
            .expect("spawn python3 -m http.server");
        let florida = Florida {
            _child: ChildGuard(child),
            dir,
            port,
        };
        florida.publish(records);
        assert!(
            poll_until(Duration::from_secs(10), || {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            }),
            "the Florida server did not start"
        );
        florida
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("REST/v1/admin/get_seeds")
    }

    /// Replaces the list (written aside and renamed: never read half-written).
    fn publish(&self, records: &[String]) {
        let path = self.path();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, records.join("|")).unwrap();
        fs::rename(&tmp, &path).unwrap();
    }
}

/// A dnsmasq serving the given records on a loopback port.
struct Dnsmasq {
    _child: ChildGuard,
    port: u16,
}

impl Dnsmasq {
    fn start(records: &[String]) -> Dnsmasq {
        // Debian installs it in /usr/sbin, which a user's PATH may lack.
        let bin = if Path::new("/usr/sbin/dnsmasq").exists() {
            "/usr/sbin/dnsmasq"
        } else {
            "dnsmasq"
        };
        require_program(
            bin,
            &["--version"],
            "install dnsmasq-base (tests/clients/install.sh)",
        );
        for attempt in 0..3 {
            let port = free_port();
            let child = Command::new(bin)
                .args(["--keep-in-foreground", "--no-resolv", "--no-hosts"])
                .args(["--conf-file=/dev/null", "--pid-file", "--bind-interfaces"])
                .args(["--listen-address=127.0.0.1", &format!("--port={port}")])
                .args(records)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn dnsmasq");
            let mut guard = ChildGuard(child);
            let up = poll_until(Duration::from_secs(5), || {
                matches!(guard.0.try_wait(), Ok(None))
                    && TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if up {
                return Dnsmasq {
                    _child: guard,
                    port,
                };
            }
            eprintln!("dnsmasq attempt {attempt} on :{port} did not start");
            let _ = guard.0.kill();
        }
        panic!("dnsmasq did not start");
    }
}

/// A node with its redis, configured for a seed provider (no static seeds).
struct Node {
    process: DynomiteProcess,
    redis: RedisServer,
    port: u16,
    stats_port: u16,
    dyn_ip: String,
    dyn_port: u16,
    rack: String,
}

impl Node {
    /// A node in dc1 on `dyn_ip:dyn_port`; `tokens` None leaves them out of
    /// the YAML (the DNS A-record convention places the node).
    fn start(
        rack: &str,
        tokens: Option<u32>,
        dyn_ip: &str,
        dyn_port: u16,
        provider: &str,
        env: &[(&str, String)],
    ) -> Node {
        Node::start_with(rack, tokens, dyn_ip, dyn_port, provider, env, &[], &[])
    }

    /// `start` with static seeds and extra directives.
    #[allow(clippy::too_many_arguments)]
    fn start_with(
        rack: &str,
        tokens: Option<u32>,
        dyn_ip: &str,
        dyn_port: u16,
        provider: &str,
        env: &[(&str, String)],
        seeds: &[String],
        extra: &[(&str, &str)],
    ) -> Node {
        let mut n = Node {
            process: DynomiteProcess::new("seeds-node"),
            redis: RedisServer::start(),
            port: free_port(),
            stats_port: free_port(),
            dyn_ip: dyn_ip.to_string(),
            dyn_port,
            rack: rack.to_string(),
        };
        let mut conf = ConfYaml::new(POOL)
            .set("listen", addr(n.port))
            .set("dyn_listen", format!("{dyn_ip}:{dyn_port}"))
            .set("stats_listen", addr(n.stats_port))
            .set("datacenter", "dc1")
            .set("rack", rack)
            .set("data_store", 0)
            .set("timeout", 2000)
            .set("gos_interval", 200)
            .set("dyn_seed_provider", provider)
            .set("read_consistency", "DC_ONE")
            .set("write_consistency", "DC_ONE")
            .set_all(extra)
            .list("servers", [server(n.redis.port())])
            .list("dyn_seeds", seeds);
        if let Some(t) = tokens {
            conf = conf.set("tokens", format!("'{t}'"));
        }
        n.process.write_conf(&conf);
        n.process.set_env("DYNOMITE_SEEDS_MIN_INTERVAL_MS", 200);
        for (k, v) in env {
            n.process.set_env(k, v);
        }
        let port = n.port;
        let started = n.process.start(|| ping_ok(port));
        assert_eq!(
            started,
            Start::Serving,
            "node did not start; log:\n{}",
            n.process.log()
        );
        n
    }

    /// This node's provider record.
    fn record(&self, token: u32) -> String {
        format!(
            "{}:{}:{}:dc1:{token}",
            self.dyn_ip, self.dyn_port, self.rack
        )
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// `GET /gossip` on the stats port, parsed.
    fn gossip(&self) -> Option<serde_json::Value> {
        self.admin_json("/gossip")
    }

    /// `GET path` on the stats port, its JSON body parsed.
    fn admin_json(&self, path: &str) -> Option<serde_json::Value> {
        let mut s = TcpStream::connect(("127.0.0.1", self.stats_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
    }

    /// Whether this node's gossip says every one of `n` nodes is NORMAL
    /// and was heard of at or after `since` (unix seconds).
    fn sees_all_normal(&self, n: usize, since: u64) -> bool {
        let Some(g) = self.gossip() else { return false };
        let nodes = g["nodes"].as_array().cloned().unwrap_or_default();
        g["state"] == "NORMAL"
            && nodes.len() == n
            && nodes
                .iter()
                .all(|x| x["state"] == 4 && x["heard"].as_u64().unwrap_or(0) >= since)
    }

    fn kill(&mut self) {
        self.process.kill();
    }

    fn restart(&mut self) {
        self.process.kill();
        let port = self.port;
        let started = self.process.start(|| ping_ok(port));
        assert_eq!(started, Start::Serving, "restart; log:\n{}", self.log());
    }

    fn log(&self) -> String {
        format!(
            "{}\n-- stderr --\n{}",
            self.process.log(),
            self.process.stderr()
        )
    }
}

/// Writes fresh keys through `from` until one shows up in `to`'s redis:
/// `to` is in `from`'s ring and takes its copies.
fn replicates(from: &Node, to: &Node, tag: &str) -> bool {
    let mut c = from.client();
    let mut r = to.redis.client();
    let mut i = 0u32;
    poll_until(CONVERGE, || {
        i += 1;
        let key = format!("{tag}-{i}");
        let reply = c.cmd(&[b"SET", key.as_bytes(), b"v"]);
        assert_eq!(reply, b"+OK\r\n", "SET {key}: {}", show(&reply));
        // A copy is sent at once; give it a moment before looking.
        poll_until(Duration::from_millis(300), || {
            r.cmd(&[b"EXISTS", key.as_bytes()]) == b":1\r\n"
        })
    })
}

/// A port free on every address in `ips` (the DNS A convention gives every
/// node the same peer port, on its own address).
fn port_free_on(ips: &[&str]) -> u16 {
    for _ in 0..50 {
        let p = free_port();
        let all = ips.iter().all(|ip| TcpListener::bind((*ip, p)).is_ok());
        if all {
            return p;
        }
    }
    panic!("no port free on {ips:?}");
}

fn florida_env(f: &Florida) -> Vec<(&'static str, String)> {
    vec![
        ("DYNOMITE_FLORIDA_IP", "127.0.0.1".to_string()),
        ("DYNOMITE_FLORIDA_PORT", f.port.to_string()),
    ]
}

/// Two nodes on the Florida provider, racks r1 and r2, token 0 each; the
/// list names neither yet.
fn florida_pair(env: &[(&str, String)]) -> (Node, Node) {
    (florida_node("r1", env), florida_node("r2", env))
}

/// A node on the Florida provider in rack `rack`, token 0, on 127.0.0.1.
fn florida_node(rack: &str, env: &[(&str, String)]) -> Node {
    Node::start(
        rack,
        Some(0),
        "127.0.0.1",
        free_port(),
        "florida_provider",
        env,
    )
}

#[test]
fn florida_adds_a_node_and_replaces_one_that_moved() {
    let florida = Florida::start(&[]);
    let env = florida_env(&florida);
    let (a, b) = florida_pair(&env);
    // A list that names only A: each node stays alone.
    florida.publish(&[a.record(0)]);
    std::thread::sleep(Duration::from_millis(600));
    let mut c = a.client();
    assert_eq!(c.cmd(&[b"SET", b"alone", b"1"]), b"+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.redis.client().cmd(&[b"EXISTS", b"alone"]), b":0\r\n");

    // B appears in the list: both nodes add the other and replicate.
    florida.publish(&[a.record(0), b.record(0)]);
    assert!(
        replicates(&a, &b, "a-to-b"),
        "A never replicated to B; A's log:\n{}",
        a.log()
    );
    assert!(
        replicates(&b, &a, "b-to-a"),
        "B never replicated to A; B's log:\n{}",
        b.log()
    );
    assert!(a.log().contains("added (dc1/r2)"), "{}", a.log());

    // B dies; B2 takes its token on a new address and the list says so.
    let b2 = florida_node("r2", &env);
    drop(b);
    florida.publish(&[a.record(0), b2.record(0)]);
    assert!(
        replicates(&a, &b2, "a-to-b2"),
        "A never replicated to B2; A's log:\n{}",
        a.log()
    );
    assert!(a.log().contains("moved from"), "{}", a.log());
    // Clients of A never saw an error meanwhile (replicates asserts every
    // SET), and reads through B2 find what A writes.
    assert_eq!(c.cmd(&[b"SET", b"after", b"2"]), b"+OK\r\n");
    let mut c2 = b2.client();
    assert!(poll_until(Duration::from_secs(5), || c2
        .cmd(&[b"GET", b"after"])
        == b"$1\r\n2\r\n"));
}

#[test]
fn dns_txt_reads_every_record_and_every_string() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let rec = |i: usize, rack: &str| format!("127.0.0.1:{}:{rack}:dc1:0", ports[i]);
    // One TXT record with a two-record list, and one record with one list
    // per string: the original kept only the first string of the last one.
    let dns = Dnsmasq::start(&[
        format!(
            "--txt-record=_dynomite.test,{}|{}",
            rec(0, "r1"),
            rec(1, "r2")
        ),
        format!(
            "--txt-record=_dynomite.test,{},{}",
            rec(2, "r3"),
            rec(0, "r1")
        ),
    ]);
    let env = vec![
        ("DYNOMITE_DNS_NAME", "_dynomite.test".to_string()),
        ("DYNOMITE_DNS_SERVER", format!("127.0.0.1:{}", dns.port)),
    ];
    let nodes: Vec<Node> = ["r1", "r2", "r3"]
        .iter()
        .enumerate()
        .map(|(i, rack)| Node::start(rack, Some(0), "127.0.0.1", ports[i], "dns_provider", &env))
        .collect();
    for (i, from) in nodes.iter().enumerate() {
        for (j, to) in nodes.iter().enumerate() {
            if i != j {
                assert!(
                    replicates(from, to, &format!("txt-{i}-{j}")),
                    "n{i} never replicated to n{j}; n{i}'s log:\n{}",
                    from.log()
                );
            }
        }
    }
}

#[test]
fn dns_a_records_place_pods_by_ordinal() {
    // Two pods of a StatefulSet "dyno" behind the headless service
    // "dyno.svc.test", one per rack; each pod has its own address and the
    // same peer port, as in Kubernetes.
    let ips = ["127.0.0.21", "127.0.0.22"];
    let dyn_port = port_free_on(&ips);
    let dns = Dnsmasq::start(&[
        format!("--host-record=dyno-0.dyno.svc.test,{}", ips[0]),
        format!("--host-record=dyno-1.dyno.svc.test,{}", ips[1]),
    ]);
    let env = |ordinal: usize| {
        vec![
            ("DYNOMITE_DNS_TYPE", "A".to_string()),
            ("DYNOMITE_DNS_NAME", "dyno.svc.test".to_string()),
            ("DYNOMITE_DNS_SERVER", format!("127.0.0.1:{}", dns.port)),
            ("DYNOMITE_DNS_NODES", "2".to_string()),
            ("DYNOMITE_DNS_RACKS", "rack-a,rack-b".to_string()),
            ("DYNOMITE_DNS_POD_PREFIX", "dyno".to_string()),
            ("DYNOMITE_DNS_ORDINAL", ordinal.to_string()),
        ]
    };
    // The YAML says rack "ignored" and has no tokens: the ordinal decides.
    let p0 = Node::start("ignored", None, ips[0], dyn_port, "dns_provider", &env(0));
    let p1 = Node::start("ignored", None, ips[1], dyn_port, "dns_provider", &env(1));
    assert!(
        replicates(&p0, &p1, "a-0-1"),
        "pod 0 never replicated to pod 1; log:\n{}",
        p0.log()
    );
    assert!(
        replicates(&p1, &p0, "a-1-0"),
        "pod 1 never replicated to pod 0; log:\n{}",
        p1.log()
    );
    for (p, rack) in [(&p0, "rack-a"), (&p1, "rack-b")] {
        assert!(
            p.log().contains(&format!("rack '{rack}', token 0")),
            "{}",
            p.log()
        );
    }
    assert!(p0.log().contains("added (dc1/rack-b)"), "{}", p0.log());
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const GOSSIP: &[(&str, &str)] = &[("enable_gossip", "true")];

#[test]
fn gossip_converges_among_three_nodes_and_survives_a_restart() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let racks = ["r1", "r2", "r3"];
    let seeds_of = |i: usize| -> Vec<String> {
        (0..3)
            .filter(|&j| j != i)
            .map(|j| format!("127.0.0.1:{}:{}:dc1:0", ports[j], racks[j]))
            .collect()
    };
    let mut nodes: Vec<Node> = (0..3)
        .map(|i| {
            Node::start_with(
                racks[i],
                Some(0),
                "127.0.0.1",
                ports[i],
                "simple_provider",
                &[],
                &seeds_of(i),
                GOSSIP,
            )
        })
        .collect();
    let t0 = unix_now();
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            poll_until(CONVERGE, || n.sees_all_normal(3, t0)),
            "n{i} did not converge: {:?}\n{}",
            n.gossip(),
            n.log()
        );
    }
    // n1 restarts: it is JOINING until gossip reaches it, then everyone
    // hears of it again.
    nodes[1].kill();
    std::thread::sleep(Duration::from_millis(1100));
    nodes[1].restart();
    let t1 = unix_now();
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            poll_until(CONVERGE, || n.sees_all_normal(3, t1)),
            "n{i} did not converge after the restart: {:?}\n{}",
            n.gossip(),
            n.log()
        );
    }
    assert!(nodes[1].log().contains("-> NORMAL"), "{}", nodes[1].log());
    // Replication never depended on gossip: it still works.
    assert!(replicates(&nodes[0], &nodes[1], "after-restart"));
}

#[test]
fn gossip_teaches_a_node_of_a_node_no_configuration_named() {
    // a knows b, c knows b, b knows both: a and c learn of each other
    // through b. Gossip records carry no port: a node learnt from gossip
    // gets the receiver's own peer port, so all three share one port on
    // their own addresses.
    let ips = ["127.0.0.41", "127.0.0.42", "127.0.0.43"];
    let port = port_free_on(&ips);
    let rec = |i: usize, rack: &str| format!("{}:{port}:{rack}:dc1:0", ips[i]);
    let a = Node::start_with(
        "ra",
        Some(0),
        ips[0],
        port,
        "simple_provider",
        &[],
        &[rec(1, "rb")],
        GOSSIP,
    );
    let b = Node::start_with(
        "rb",
        Some(0),
        ips[1],
        port,
        "simple_provider",
        &[],
        &[rec(0, "ra"), rec(2, "rc")],
        GOSSIP,
    );
    let c = Node::start_with(
        "rc",
        Some(0),
        ips[2],
        port,
        "simple_provider",
        &[],
        &[rec(1, "rb")],
        GOSSIP,
    );
    assert!(
        replicates(&a, &c, "a-to-c"),
        "a never learnt of c: {:?}\n{}",
        a.gossip(),
        a.log()
    );
    assert!(
        replicates(&c, &a, "c-to-a"),
        "c never learnt of a: {:?}\n{}",
        c.gossip(),
        c.log()
    );
    assert!(b.gossip().is_some());
}

/// A key's type reply, its value's parts and whether it expires.
type Entry = (Vec<u8>, Vec<Vec<u8>>, bool);

/// Every key of a redis with its type, value (sorted where redis does not
/// order) and whether it expires, for comparing two replicas.
fn dataset(c: &mut Client) -> std::collections::BTreeMap<Vec<u8>, Entry> {
    let mut out = std::collections::BTreeMap::new();
    let mut cursor = b"0".to_vec();
    loop {
        let reply = c.cmd(&[b"SCAN", &cursor, b"COUNT", b"1000"]);
        let (next, keys) = parse_scan(&reply);
        for k in keys {
            let ty = c.cmd(&[b"TYPE", &k]);
            let mut value = match ty.as_slice() {
                b"+string\r\n" => vec![c.cmd(&[b"GET", &k])],
                b"+hash\r\n" => split_array(&c.cmd(&[b"HGETALL", &k])),
                b"+list\r\n" => split_array(&c.cmd(&[b"LRANGE", &k, b"0", b"-1"])),
                b"+set\r\n" => split_array(&c.cmd(&[b"SMEMBERS", &k])),
                b"+zset\r\n" => split_array(&c.cmd(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])),
                _ => continue, // expired meanwhile
            };
            if matches!(ty.as_slice(), b"+hash\r\n") {
                let mut pairs: Vec<Vec<u8>> = value.chunks(2).map(|p| p.concat()).collect();
                pairs.sort();
                value = pairs;
            } else if ty.as_slice() == b"+set\r\n" {
                value.sort();
            }
            let ttl = c.cmd(&[b"PTTL", &k]);
            out.insert(k, (ty, value, ttl != b":-1\r\n"));
        }
        if next == b"0" {
            return out;
        }
        cursor = next;
    }
}

/// The elements of a flat RESP2 array of bulk strings.
fn split_array(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut items = Vec::new();
    let mut rest = reply.splitn(2, |&b| b == b'\n').nth(1).unwrap_or(&[]);
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let len: usize = std::str::from_utf8(&rest[1..nl - 1])
            .unwrap()
            .parse()
            .unwrap();
        items.push(rest[nl + 1..nl + 1 + len].to_vec());
        rest = &rest[nl + 1 + len + 2..];
    }
    items
}

/// A SCAN reply: the next cursor and the keys.
fn parse_scan(reply: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    // *2\r\n$n\r\ncursor\r\n*m\r\n...
    let after = &reply[4..];
    let nl = after.iter().position(|&b| b == b'\n').unwrap();
    let len: usize = std::str::from_utf8(&after[1..nl - 1])
        .unwrap()
        .parse()
        .unwrap();
    let cursor = after[nl + 1..nl + 1 + len].to_vec();
    let keys = split_array(&after[nl + 1 + len + 2..]);
    (cursor, keys)
}

/// `GET /warmup/status` on a node, parsed.
fn warmup_status(n: &Node) -> Option<serde_json::Value> {
    n.admin_json("/warmup/status")
}

#[test]
fn a_replacement_on_a_new_address_is_warmed_from_the_other_rack_while_clients_work() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let florida = Florida::start(&[]);
    let env = florida_env(&florida);
    let (a, b) = florida_pair(&env);
    florida.publish(&[a.record(0), b.record(0)]);
    assert!(replicates(&a, &b, "warm-join"), "{}", a.log());

    // Data of every type, some with a TTL, written through A (and so on B).
    let mut c = a.client();
    for i in 0..3000u32 {
        let k = format!("k{i}");
        let k = k.as_bytes();
        let v = format!("v{i}");
        let v = v.as_bytes();
        let r = match i % 6 {
            0 => c.cmd(&[b"SET", k, v]),
            1 => c.cmd(&[b"SET", k, v, b"EX", b"3600"]),
            2 => c.cmd(&[b"HSET", k, b"f1", v, b"f2", b"x"]),
            3 => c.cmd(&[b"RPUSH", k, v, b"b", b"c"]),
            4 => c.cmd(&[b"SADD", k, v, b"m"]),
            _ => c.cmd(&[b"ZADD", k, b"1.5", v, b"2", b"z"]),
        };
        assert!(!r.starts_with(b"-"), "write {i}: {}", show(&r));
    }

    // B goes away with its data; a writer and a reader work through A all
    // along, and the reader also through the replacement once it is up.
    drop(b);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, errors, port) = (stop.clone(), errors.clone(), a.port);
        std::thread::spawn(move || {
            let mut c = Client::connect(port);
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                // New keys, and overwrites of old ones.
                let k = if i.is_multiple_of(2) {
                    format!("new{i}")
                } else {
                    format!("k{}", (i * 7) % 3000 / 6 * 6)
                };
                if c.cmd(&[b"SET", k.as_bytes(), format!("w{i}").as_bytes()]) != b"+OK\r\n" {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            i
        })
    };

    // The replacement: new address and an empty redis; it knows A from its
    // seeds, A learns its address from Florida.
    let b2 = Node::start_with(
        "r2",
        Some(0),
        "127.0.0.1",
        free_port(),
        "florida_provider",
        &env,
        &[a.record(0)],
        &[("warmup_on_start", "true")],
    );
    florida.publish(&[a.record(0), b2.record(0)]);

    // Reads through B2 while it warms: every key that exists is found.
    let mut nils = 0;
    let mut reads = 0;
    let mut r = b2.client();
    let done = poll_until(Duration::from_secs(60), || {
        for i in (0..3000u32).step_by(97) {
            if i % 6 == 0 || i % 6 == 1 {
                let got = r.cmd(&[b"GET", format!("k{i}").as_bytes()]);
                reads += 1;
                if got == b"$-1\r\n" || got.starts_with(b"-") {
                    nils += 1;
                }
            }
        }
        warmup_status(&b2).is_some_and(|s| s["state"] == "done")
    });
    assert!(
        done,
        "warm-up did not finish: {:?}\n{}",
        warmup_status(&b2),
        b2.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert_eq!(errors.load(Ordering::Relaxed), 0, "writes through A failed");
    assert_eq!(nils, 0, "{nils} of {reads} reads through B2 missed a key");
    let status = warmup_status(&b2).unwrap();
    assert!(status["keys_copied"].as_u64().unwrap() >= 2000, "{status}");
    assert!(written > 10, "the writer ran");

    // Both replicas hold the same data: every key, value and TTL.
    std::thread::sleep(Duration::from_millis(500));
    let da = dataset(&mut a.redis.client());
    let db = dataset(&mut b2.redis.client());
    let missing: Vec<_> = da.keys().filter(|k| !db.contains_key(*k)).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} keys missing on B2, e.g. {:?}; warm-up: {status}\nA:\n{}\nB2:\n{}",
        da.len() - db.len(),
        missing.iter().map(|k| show(k)).collect::<Vec<_>>(),
        a.log(),
        b2.log()
    );
    assert_eq!(da.len(), db.len());
    for (k, v) in &da {
        assert_eq!(Some(v), db.get(k), "key {}", show(k));
    }
    assert!(b2.log().contains("warm-up done"), "{}", b2.log());
}

#[test]
fn a_warm_up_a_restart_interrupts_resumes_from_its_state_file() {
    let florida = Florida::start(&[]);
    let env = florida_env(&florida);
    let a = florida_node("r1", &env);
    // A's data, written straight into its redis (pipelined).
    let mut r = a.redis.client();
    let total = 40_000u32;
    for batch in 0..(total / 1000) {
        let mut bytes = Vec::new();
        for i in batch * 1000..(batch + 1) * 1000 {
            bytes.extend(crate::harness::encode(&[
                b"SET",
                format!("r{i}").as_bytes(),
                format!("v{i}").as_bytes(),
            ]));
        }
        r.send(&bytes);
        for _ in 0..1000 {
            assert_eq!(r.read_reply(), b"+OK\r\n");
        }
    }
    let dir = TempDir::new("warm-state");
    let state = dir.path().join("warmup.json");
    let state_text = state.display().to_string();
    let mut b = Node::start_with(
        "r2",
        Some(0),
        "127.0.0.1",
        free_port(),
        "florida_provider",
        &env,
        &[a.record(0)],
        &[
            ("warmup_on_start", "true"),
            ("warmup_state_file", &state_text),
        ],
    );
    florida.publish(&[a.record(0), b.record(0)]);
    // Freeze the donor in the middle of the copy, then kill the copier.
    let started = poll_until(Duration::from_secs(30), || {
        warmup_status(&b).is_some_and(|s| s["keys_copied"].as_u64().unwrap_or(0) >= 1000)
    });
    assert!(started, "{:?}\n{}", warmup_status(&b), b.log());
    a.process.pause();
    let copied = warmup_status(&b).unwrap()["keys_copied"].as_u64().unwrap();
    assert!(
        copied < u64::from(total),
        "the copy ended before the freeze"
    );
    b.kill();
    let saved = fs::read_to_string(&state).expect("the state file is written");
    assert!(saved.contains("\"cursor\""), "{saved}");
    // The restarted node holds part of the data: it resumes all the same.
    b.restart();
    a.process.resume();
    let done = poll_until(Duration::from_secs(60), || {
        warmup_status(&b).is_some_and(|s| s["state"] == "done")
    });
    assert!(done, "{:?}\n{}", warmup_status(&b), b.log());
    assert!(b.log().contains("warm-up resumes"), "{}", b.log());
    assert!(!state.exists(), "the state file is removed at the end");
    // Every key on B, with its value (pipelined GETs).
    let mut rb = b.redis.client();
    assert_eq!(rb.cmd(&[b"DBSIZE"]), format!(":{total}\r\n").into_bytes());
    for batch in 0..(total / 1000) {
        let mut bytes = Vec::new();
        for i in batch * 1000..(batch + 1) * 1000 {
            bytes.extend(crate::harness::encode(&[
                b"GET",
                format!("r{i}").as_bytes(),
            ]));
        }
        rb.send(&bytes);
        for i in batch * 1000..(batch + 1) * 1000 {
            assert_eq!(
                rb.read_reply(),
                crate::harness::bulk(format!("v{i}").as_bytes())
            );
        }
    }
}

#[test]
fn a_datastore_restarted_empty_is_warmed_up_again_and_read_through_the_other_rack_meanwhile() {
    let florida = Florida::start(&[]);
    let env = florida_env(&florida);
    let a = florida_node("r1", &env);
    let mut b = Node::start_with(
        "r2",
        Some(0),
        "127.0.0.1",
        free_port(),
        "florida_provider",
        &env,
        &[a.record(0)],
        &[("warmup_on_start", "true")],
    );
    florida.publish(&[a.record(0), b.record(0)]);
    assert!(replicates(&a, &b, "restart-join"), "{}", a.log());
    let mut c = a.client();
    for i in 0..2000u32 {
        let k = format!("e{i}");
        assert_eq!(c.cmd(&[b"SET", k.as_bytes(), b"v"]), b"+OK\r\n");
    }
    // B's redis restarts with nothing (no persistence).
    b.redis.restart();
    let mut rb = b.client();
    let mut misses = 0;
    let done = poll_until(Duration::from_secs(60), || {
        // Reads through B at DC_ONE find every key all along: from its own
        // redis, or from A's while B warms up.
        for i in (0..2000u32).step_by(53) {
            let got = rb.cmd(&[b"GET", format!("e{i}").as_bytes()]);
            if got != b"$1\r\nv\r\n" {
                misses += 1;
            }
        }
        // The first warm-up (at start) copied next to nothing: this is the
        // second one.
        warmup_status(&b)
            .is_some_and(|s| s["state"] == "done" && s["keys_copied"].as_u64().unwrap_or(0) >= 2000)
    });
    assert!(done, "{:?}\n{}", warmup_status(&b), b.log());
    assert!(
        b.log().contains("checking whether it restarted empty"),
        "{}",
        b.log()
    );
    let mut r = b.redis.client();
    assert_eq!(r.cmd(&[b"EXISTS", b"e0", b"e1999"]), b":2\r\n");
    let dbsize = r.cmd(&[b"DBSIZE"]);
    assert!(
        dbsize.starts_with(b":20"),
        "B's redis holds {}",
        show(&dbsize)
    );
    assert_eq!(
        misses, 0,
        "reads through B missed keys while its redis was empty"
    );
}
