//! Command soup: seeded random commands (known names with random arguments,
//! unknown names, junk bytes, half-closed connections) against a node and a
//! two-rack cluster. Whatever a client sends, the nodes keep running and keep
//! answering other clients.

use std::io::Write;
use std::time::Duration;

use crate::harness::cluster::{node, Cluster};
use crate::harness::{encode, Client, Dynomite, RedisServer};

/// xorshift64: deterministic runs from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const NAMES: &[&str] = &[
    "get",
    "set",
    "mget",
    "mset",
    "del",
    "exists",
    "unlink",
    "touch",
    "incr",
    "incrby",
    "hset",
    "hgetall",
    "hmget",
    "lpush",
    "lrange",
    "sadd",
    "smembers",
    "zadd",
    "zrange",
    "expire",
    "ttl",
    "eval",
    "evalsha",
    "script",
    "ping",
    "echo",
    "info",
    "keys",
    "scan",
    "config",
    "command",
    "hello",
    "client",
    "select",
    "dyno_config:conn_consistency",
    "multi",
    "subscribe",
    "blpop",
    "sort",
    "bitcount",
    "setbit",
    "pfadd",
    "pfcount",
    "geoadd",
    "xadd",
    "object",
    "memory",
    "nosuchcommand",
    "GET",
    "Set",
    "quit",
];

const ARGS: &[&[u8]] = &[
    b"k",
    b"{t}a",
    b"{t}b",
    b"",
    b"0",
    b"1",
    b"2",
    b"3",
    b"-1",
    b"99999999999999999999",
    b"setname",
    b"getname",
    b"id",
    b"setinfo",
    b"lib-name",
    b"load",
    b"exists",
    b"flush",
    b"return 1",
    b"return redis.call('get', KEYS[1])",
    b"DC_QUORUM",
    b"DC_SAFE_QUORUM",
    b"DC_EACH_SAFE_QUORUM",
    b"dc_one",
    b"bogus",
    b"get",
    b"\r\n",
    b"*",
    b"$",
];

fn arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => (0..rng.below(12)).map(|_| rng.next() as u8).collect(),
        1 => vec![b'x'; rng.below(400)],
        _ => ARGS[rng.below(ARGS.len())].to_vec(),
    }
}

fn batch(rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..1 + rng.below(20) {
        let name = NAMES[rng.below(NAMES.len())].as_bytes().to_vec();
        let mut args = vec![name];
        for _ in 0..rng.below(7) {
            args.push(arg(rng));
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        out.extend(encode(&refs));
    }
    if rng.below(10) == 0 {
        out.extend((0..rng.below(60)).map(|_| rng.next() as u8));
    }
    out
}

/// Sends `rounds` random batches to `port`, each on its own connection,
/// reading whatever comes back until the node closes or goes quiet.
fn stir(port: u16, seed: u64, rounds: usize) {
    let mut rng = Rng(seed);
    for _ in 0..rounds {
        let Ok(mut c) = Client::try_connect(port) else {
            panic!("the node at {port} stopped accepting connections");
        };
        c.set_read_timeout(Duration::from_millis(300));
        let mut w = c.writer();
        let _ = w.write_all(&batch(&mut rng));
        c.shutdown_write();
        // Replies, errors or a close: anything but a hang of the node.
        while c.try_read_reply().is_ok() {}
    }
}

fn still_serves(c: &mut Client) {
    assert_eq!(c.cmd(&[b"SET", b"after-soup", b"ok"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"after-soup"]), b"$2\r\nok\r\n");
}

#[test]
fn a_node_survives_the_soup() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let proxy = Dynomite::start(&[a.port(), b.port()]);
    let mut witness = proxy.client();
    for seed in 1..=3 {
        stir(proxy.port(), seed, 150);
        still_serves(&mut witness);
    }
}

#[test]
fn a_cluster_survives_the_soup() {
    let layout = [
        node("dc1", "rack1", &[0]),
        node("dc1", "rack1", &[2147483648]),
        node("dc1", "rack2", &[0]),
        node("dc1", "rack2", &[2147483648]),
    ];
    let cl = Cluster::start(&layout);
    let mut witness = cl.node(3).client();
    for (i, seed) in (11..=14).enumerate() {
        stir(cl.node(i).port(), seed, 100);
        still_serves(&mut witness);
    }
    for i in 0..4 {
        still_serves(&mut cl.node(i).client());
    }
}
