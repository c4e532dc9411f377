//! Replies nested deeper than any fixed limit: redis lets a script return a
//! table nested a thousand levels deep (and more, up to its Lua stack), and
//! the proxy relays it byte for byte on the datastore connection it shares
//! with every other client, which keeps serving them.

use crate::harness::{encode, show_n, single, Client};
use std::thread;

/// Returns `{1, {2, {3, … {n}}}}`: `*2 :1 *2 :2 … *1 :n` on the wire.
const NESTED: &str = "local root = {1} local cur = root \
    for i = 2, tonumber(ARGV[1]) do local t = {i} cur[2] = t cur = t end \
    return root";

/// Returns `n` tables each holding only the next: `*1 *1 … *1 :1`.
const CHAIN: &str = "local root = {} local cur = root \
    for i = 2, tonumber(ARGV[1]) do local t = {} cur[1] = t cur = t end \
    cur[1] = 1 return root";

/// Runs `f` on a thread with a stack big enough for the test client, whose
/// reply reader recurses once per level.
fn on_big_stack<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn a test thread")
}

fn eval(script: &str, depth: usize) -> Vec<u8> {
    let n = depth.to_string();
    encode(&[b"EVAL", script.as_bytes(), b"0", n.as_bytes()])
}

/// The aggregate headers a reply opens before its first scalar.
fn leading_depth(reply: &[u8]) -> usize {
    let mut depth = 0;
    let mut at = 0;
    while at < reply.len() && reply[at] == b'*' {
        depth += 1;
        at += reply[at..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("a line")
            + 1;
    }
    depth
}

#[test]
fn a_script_reply_nested_a_thousand_deep_equals_redis() {
    on_big_stack(script_reply_nested_a_thousand_deep)
        .join()
        .expect("the test thread");
}

fn script_reply_nested_a_thousand_deep() {
    let (redis, proxy) = single();
    let mut direct = redis.client();
    let mut c = proxy.client();
    for (script, depth) in [(NESTED, 129), (NESTED, 1000), (CHAIN, 1000), (NESTED, 2000)] {
        let req = eval(script, depth);
        direct.send(&req);
        let want = direct.read_reply();
        assert!(
            want.starts_with(b"*"),
            "redis answered {}",
            show_n(&want, 200)
        );
        assert_eq!(
            leading_depth(&want),
            if script == CHAIN { depth } else { 1 }
        );
        c.send(&req);
        let got = c.read_reply();
        assert!(
            got == want,
            "depth {depth}: proxy {} != redis {}",
            show_n(&got, 200),
            show_n(&want, 200)
        );
    }
    // The same connection goes on.
    assert_eq!(c.cmd(&[b"SET", b"after", b"1"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"after"]), b"$1\r\n1\r\n");
}

#[test]
fn deep_replies_do_not_disturb_other_clients_of_the_node() {
    let (_redis, proxy) = single();
    let port = proxy.port();
    // One client pipelines deep replies between plain commands while
    // others run their own traffic on the same datastore connection.
    let deep = on_big_stack(move || {
        let mut c = Client::connect(port);
        let mut pipeline = Vec::new();
        for i in 0..20 {
            pipeline.extend(encode(&[b"SET", b"deep:k", i.to_string().as_bytes()]));
            pipeline.extend(eval(NESTED, 1000));
            pipeline.extend(encode(&[b"GET", b"deep:k"]));
        }
        c.send(&pipeline);
        for i in 0..20 {
            assert_eq!(c.read_reply(), b"+OK\r\n");
            let r = c.read_reply();
            assert!(
                r.starts_with(b"*2\r\n:1\r\n*2\r\n:2\r\n"),
                "{}",
                show_n(&r, 80)
            );
            let v = i.to_string();
            assert_eq!(
                c.read_reply(),
                format!("${}\r\n{v}\r\n", v.len()).into_bytes()
            );
        }
    });
    let others: Vec<_> = (0..3)
        .map(|t| {
            thread::spawn(move || {
                let mut c = Client::connect(port);
                for i in 0..200 {
                    let key = format!("other:{t}");
                    let val = i.to_string();
                    assert_eq!(c.cmd(&[b"SET", key.as_bytes(), val.as_bytes()]), b"+OK\r\n");
                    assert_eq!(
                        c.cmd(&[b"GET", key.as_bytes()]),
                        format!("${}\r\n{val}\r\n", val.len()).into_bytes()
                    );
                }
            })
        })
        .collect();
    deep.join().expect("the deep client");
    for t in others {
        t.join().expect("another client");
    }
    let log = proxy.log();
    assert!(
        !log.contains("bad reply") && !log.contains("closed the connection"),
        "the datastore connection was dropped:\n{log}"
    );
}
