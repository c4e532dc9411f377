//! Cluster harness: several `dynomite` nodes, each in front of its own
//! `redis-server`, wired together with `dyn_seeds` generated from a layout
//! (datacenter, rack and tokens of every node). Everything listens on
//! loopback ports picked at start-up.
//!
//! ```text
//!   Cluster::start(&[node("dc1", "rack1", &[100]), node("dc1", "rack2", &[100])])
//!     ├─ one RedisServer per node
//!     ├─ one YAML per node: listen, dyn_listen, stats_listen, tokens,
//!     │  dyn_seeds = every other node
//!     ├─ spawn every node, wait until each answers PING
//!     └─ wait_connected: through every node, write a key owned by every
//!        node and wait until that node's redis holds it
//! ```
//!
//! The test-side oracle for placement (`murmur`, `Cluster::owner`) is written
//! from the specification, independently of the crate, so a routing bug in the
//! crate cannot hide itself.
//!
//! Nodes are killed by PID (SIGKILL for `kill`, SIGTERM then SIGKILL on drop)
//! and their logs are printed when a test fails.

use std::io;
use std::thread;
use std::time::{Duration, Instant};

use super::conf::{addr, seed, server, ConfYaml, POOL};
use super::{
    encode, free_port, ping_ok, ping_or_noauth_ok, poll_until, raise_nofile_limit, require_program,
    show, Client, DynomiteProcess, RedisServer, Start, INSTALL_HINT, START_TIMEOUT,
};

/// How long the peers of a fresh (or restarted) cluster may take to connect
/// to each other. Peers reconnect after 1 s, then every 2 s.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default hash of the original (`hash: murmur`); the library's, whose
/// golden vectors are checked in golden_hashkit.rs.
pub fn murmur(key: &[u8]) -> u32 {
    dynomite::hashkit::HashKind::Murmur.hash(key)
}

/// The bytes hashed for `key` with `hash_tag: '{}'`.
pub fn tag_part(key: &[u8]) -> &[u8] {
    dynomite::hashkit::hash_tag_part(key, Some(*b"{}"))
}

/// Where a node sits in the cluster.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// `datacenter:`.
    pub dc: String,
    /// `rack:`.
    pub rack: String,
    /// `tokens:` (at least one).
    pub tokens: Vec<u32>,
    /// Directives of this node alone, set after the cluster's (`with`).
    pub extra: Vec<(String, String)>,
}

impl NodeSpec {
    /// This node with `key: value` in its configuration (overriding the
    /// cluster-wide directives), e.g. a node with its own
    /// `secure_server_option`.
    pub fn with(mut self, key: &str, value: &str) -> NodeSpec {
        self.extra.push((key.to_string(), value.to_string()));
        self
    }
}

/// A node of datacenter `dc`, rack `rack`, with `tokens`.
pub fn node(dc: &str, rack: &str, tokens: &[u32]) -> NodeSpec {
    assert!(!tokens.is_empty(), "a node needs a token");
    NodeSpec {
        dc: dc.to_string(),
        rack: rack.to_string(),
        tokens: tokens.to_vec(),
        extra: Vec::new(),
    }
}

/// Comma-separated decimal tokens, as in `tokens:` and seed entries.
fn tokens_text(tokens: &[u32]) -> String {
    tokens
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The owner of `hash` among `ring` (node index, token) pairs: the smallest
/// token >= hash, wrapping to the smallest token.
fn ring_owner(ring: &[(usize, u32)], hash: u32) -> usize {
    assert!(!ring.is_empty(), "empty rack");
    let mut sorted = ring.to_vec();
    sorted.sort_by_key(|&(_, t)| t);
    sorted
        .iter()
        .find(|&&(_, t)| t >= hash)
        .unwrap_or(&sorted[0])
        .0
}

/// One node: its redis, its ports, its configuration and its process.
pub struct Node {
    /// The dynomite process. Declared first so that it is stopped before
    /// its redis when the node is dropped.
    process: DynomiteProcess,
    /// Where it sits.
    pub spec: NodeSpec,
    /// Its datastore.
    pub redis: RedisServer,
    port: u16,
    dyn_port: u16,
    stats_port: u16,
}

impl Node {
    /// The client port (`listen`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The peer port (`dyn_listen`).
    pub fn dyn_port(&self) -> u16 {
        self.dyn_port
    }

    /// A new test client connected to the node's client port.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A new test client connected straight to the node's redis.
    pub fn redis_client(&self) -> Client {
        self.redis.client()
    }

    /// True when the node's redis holds `key` (asked directly).
    pub fn redis_has(&self, key: &[u8]) -> bool {
        let reply = self.redis.client().cmd(&[b"EXISTS", key]);
        match reply.as_slice() {
            b":1\r\n" => true,
            b":0\r\n" => false,
            other => panic!("EXISTS answered \"{}\"", show(other)),
        }
    }

    /// `GET key` straight from the node's redis (raw reply).
    pub fn redis_get(&self, key: &[u8]) -> Vec<u8> {
        self.redis.client().cmd(&[b"GET", key])
    }

    /// The tail of the node's log file (and of its stderr).
    pub fn log(&self) -> String {
        format!(
            "{}\n-- stderr --\n{}",
            self.process.log(),
            self.process.stderr()
        )
    }

    /// Prints the tail of the node's log to stderr.
    pub fn dump_log(&self, name: &str) {
        eprintln!(
            "---- {name} ({}/{}, client :{}, peer :{}) log ----\n{}",
            self.spec.dc,
            self.spec.rack,
            self.port,
            self.dyn_port,
            self.log()
        );
    }

    /// The stats and admin port (`stats_listen`).
    pub fn stats_port(&self) -> u16 {
        self.stats_port
    }

    /// The whole log file of the node (not only its tail).
    pub fn full_log(&self) -> String {
        self.process.full_log()
    }

    /// Freezes the dynomite process (SIGSTOP); its redis keeps running.
    pub fn pause(&self) {
        self.process.pause();
    }

    /// Lets a paused dynomite process run again (SIGCONT).
    pub fn resume(&self) {
        self.process.resume();
    }

    /// Kills the dynomite process (SIGKILL) and waits until it is gone. Its
    /// redis keeps running.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts the dynomite process again with the same configuration and
    /// ports, and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill();
        // The ports were ours a moment ago; a start that fails because the
        // kernel still holds one is retried.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let port = self.port;
            match self.process.start(|| ping_ok(port)) {
                Start::Serving => return,
                Start::Exited if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(100));
                }
                other => panic!(
                    "node on :{} did not restart ({other:?}); log:\n{}",
                    self.port,
                    self.log()
                ),
            }
        }
    }

    fn write_conf(&self, seeds: &[String], extra: &[(&str, &str)]) {
        let conf = ConfYaml::new(POOL)
            .set("listen", addr(self.port))
            .set("dyn_listen", addr(self.dyn_port))
            .set("stats_listen", addr(self.stats_port))
            .set("datacenter", &self.spec.dc)
            .set("rack", &self.spec.rack)
            .set("tokens", format!("'{}'", tokens_text(&self.spec.tokens)))
            .set("data_store", 0)
            .set("timeout", 2000)
            .set("read_consistency", "DC_ONE")
            .set("write_consistency", "DC_ONE")
            .set_all(extra)
            .set_all(
                &self
                    .spec
                    .extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect::<Vec<_>>(),
            )
            .list("servers", [server(self.redis.port())])
            .list("dyn_seeds", seeds);
        self.process.write_conf(&conf);
    }

    /// Waits until the launched process answers PING (a local-only command,
    /// so this checks the process and its own datastore), or asks for a
    /// password first (`requirepass`).
    fn await_serving(&mut self) -> Start {
        let port = self.port;
        self.process.await_start(|| ping_or_noauth_ok(port))
    }
}

/// A running cluster. Dropping it stops every node, then every redis.
pub struct Cluster {
    /// The nodes, in layout order (`n0`, `n1`, ...).
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Starts one node per layout entry with the default settings and waits
    /// until every node reaches every other.
    pub fn start(layout: &[NodeSpec]) -> Cluster {
        Cluster::start_with(layout, &[])
    }

    /// Like `start`, with extra or overriding YAML directives for every node,
    /// e.g. `&[("hash_tag", "'{}'")]`.
    pub fn start_with(layout: &[NodeSpec], extra: &[(&str, &str)]) -> Cluster {
        let cluster = Cluster::start_with_seeds(layout, extra, &[]);
        cluster.wait_connected();
        cluster
    }

    /// Starts the nodes with `external_seeds` (full seed entries, e.g. a fake
    /// peer owned by the test) appended to every node's `dyn_seeds`. Waits
    /// only until every node answers PING: connectivity to the external
    /// peers is the caller's business, and `wait_connected` is not called.
    pub fn start_with_seeds(
        layout: &[NodeSpec],
        extra: &[(&str, &str)],
        external_seeds: &[String],
    ) -> Cluster {
        Cluster::start_nodes(layout, extra, &[], external_seeds)
    }

    /// Like `start_with`, with `per_node[i]` added to node `i`'s directives
    /// after `extra` (nodes configured differently, e.g. one without TLS).
    pub fn start_with_each(
        layout: &[NodeSpec],
        extra: &[(&str, &str)],
        per_node: &[&[(&str, &str)]],
    ) -> Cluster {
        let cluster = Cluster::start_nodes(layout, extra, per_node, &[]);
        cluster.wait_connected();
        cluster
    }

    fn start_nodes(
        layout: &[NodeSpec],
        extra: &[(&str, &str)],
        per_node: &[&[(&str, &str)]],
        external_seeds: &[String],
    ) -> Cluster {
        assert!(!layout.is_empty(), "a cluster needs a node");
        raise_nofile_limit();
        require_program("redis-server", &["--version"], INSTALL_HINT);
        let mut nodes: Vec<Node> = layout
            .iter()
            .map(|spec| Node {
                process: DynomiteProcess::new("cluster-node"),
                spec: spec.clone(),
                redis: RedisServer::start(),
                port: 0,
                dyn_port: 0,
                stats_port: 0,
            })
            .collect();
        // A port picked as free may be taken before a node binds it: an early
        // exit restarts every node on new ports.
        for attempt in 1..=3 {
            let mut taken = Vec::new();
            for n in nodes.iter_mut() {
                n.port = distinct_free_port(&mut taken);
                n.dyn_port = distinct_free_port(&mut taken);
                n.stats_port = distinct_free_port(&mut taken);
            }
            for i in 0..nodes.len() {
                let mut seeds: Vec<String> = nodes
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, p)| {
                        seed(
                            p.dyn_port,
                            &p.spec.rack,
                            &p.spec.dc,
                            &tokens_text(&p.spec.tokens),
                        )
                    })
                    .collect();
                seeds.extend(external_seeds.iter().cloned());
                let mut all = extra.to_vec();
                all.extend_from_slice(per_node.get(i).copied().unwrap_or_default());
                nodes[i].write_conf(&seeds, &all);
            }
            // Spawn them all first so that they find each other quickly.
            let mut spawn_failed = false;
            for n in nodes.iter_mut() {
                if let Err(e) = n.process.launch() {
                    eprintln!("cannot spawn dynomite: {e}");
                    spawn_failed = true;
                }
            }
            let states: Vec<Start> = if spawn_failed {
                vec![Start::Exited]
            } else {
                nodes.iter_mut().map(|n| n.await_serving()).collect()
            };
            if states.iter().all(|&s| s == Start::Serving) {
                return Cluster { nodes };
            }
            for (i, n) in nodes.iter_mut().enumerate() {
                eprintln!(
                    "cluster start attempt {attempt}: n{i} {:?}; config:\n{}",
                    states.get(i),
                    n.process.conf_text()
                );
                n.dump_log(&format!("n{i}"));
                n.kill();
            }
            if states.contains(&Start::Hung) {
                break;
            }
        }
        panic!("the cluster did not start; see the configs and logs above");
    }

    /// Node `i`.
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// Node `i`, mutable (to kill or restart it).
    pub fn node_mut(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    /// The owner of token `hash` in rack (`dc`, `rack`), by the placement
    /// rule of the specification.
    pub fn owner_in(&self, dc: &str, rack: &str, hash: u32) -> usize {
        let ring: Vec<(usize, u32)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.spec.dc == dc && n.spec.rack == rack)
            .flat_map(|(i, n)| n.spec.tokens.iter().map(move |&t| (i, t)))
            .collect();
        ring_owner(&ring, hash)
    }

    /// The owner of `key` (whole key hashed) in the rack of node `of`.
    pub fn owner(&self, of: usize, key: &[u8]) -> usize {
        let spec = &self.nodes[of].spec;
        self.owner_in(&spec.dc, &spec.rack, murmur(key))
    }

    /// Every (dc, rack) pair of the layout, in first-appearance order.
    pub fn racks(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for n in &self.nodes {
            let r = (n.spec.dc.clone(), n.spec.rack.clone());
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// The replicas of token `hash`: its owner in every rack of every DC.
    pub fn replicas_of_hash(&self, hash: u32) -> Vec<usize> {
        self.racks()
            .iter()
            .map(|(dc, rack)| self.owner_in(dc, rack, hash))
            .collect()
    }

    /// The replicas of `key` (whole key hashed).
    pub fn replicas(&self, key: &[u8]) -> Vec<usize> {
        self.replicas_of_hash(murmur(key))
    }

    /// A key starting with `prefix` whose owner in its rack is node `target`.
    pub fn key_owned_by(&self, prefix: &str, target: usize) -> Vec<u8> {
        (0..100_000)
            .map(|i| format!("{prefix}{i}").into_bytes())
            .find(|k| self.owner(target, k) == target)
            .unwrap_or_else(|| panic!("no key with prefix {prefix} lands on n{target}"))
    }

    /// Waits until every running node can reach every other running node:
    /// through each node, a key owned by each node is written until it shows
    /// up in that node's redis. Probe keys start with `__probe:`.
    pub fn wait_connected(&self) {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let alive: Vec<bool> = self
            .nodes
            .iter()
            .map(|n| n.process.is_started() && ping_ok(n.port))
            .collect();
        for (a, na) in self.nodes.iter().enumerate() {
            if !alive[a] {
                continue;
            }
            for (p, np) in self.nodes.iter().enumerate() {
                if !alive[p] {
                    continue;
                }
                let key = self.key_owned_by(&format!("__probe:{a}:{p}:"), p);
                loop {
                    let last = match set_once(na.port, &key, format!("from n{a}").as_bytes()) {
                        Ok(r) if r == b"+OK\r\n" => {
                            let seen =
                                poll_until(Duration::from_millis(500), || np.redis_has(&key));
                            if seen {
                                break;
                            }
                            "written, not seen in the owner's redis".to_string()
                        }
                        Ok(r) => format!("reply \"{}\"", show(&r)),
                        Err(e) => format!("{e}"),
                    };
                    if Instant::now() > deadline {
                        self.dump_logs();
                        panic!(
                            "n{a} cannot reach n{p} within {CONNECT_TIMEOUT:?} \
                             (probe key {}: {last})",
                            show(&key)
                        );
                    }
                    thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Prints every node's log.
    pub fn dump_logs(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            n.dump_log(&format!("n{i}"));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            self.dump_logs();
        }
        // Nodes first (each stops its process, then its redis).
        self.nodes.clear();
    }
}

/// A free port not already in `taken`.
fn distinct_free_port(taken: &mut Vec<u16>) -> u16 {
    loop {
        let p = free_port();
        if !taken.contains(&p) {
            taken.push(p);
            return p;
        }
    }
}

/// One `SET key value` on a fresh connection to `port`; the raw reply.
fn set_once(port: u16, key: &[u8], value: &[u8]) -> io::Result<Vec<u8>> {
    let mut c = Client::try_connect(port)?;
    c.set_read_timeout(Duration::from_secs(5));
    c.try_send(&encode(&[b"SET", key, value]))?;
    c.try_read_reply()
        .map_err(|e| io::Error::other(format!("{e}")))
}
