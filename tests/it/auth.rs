//! Passwords: client AUTH (`requirepass`) compared byte for byte with a
//! real redis-server that has the same password, the client libraries with
//! right and wrong passwords, the node's own AUTH and SELECT to its
//! datastore (`redis_auth`, `redis_auth_user`, `redis_db`) against a
//! redis-server with a password and an ACL user, a wrong `redis_auth`
//! reported in replies, /info, /metrics and the log, peers not asked for
//! the password, and the passwords never shown anywhere.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::clients::{require_node_package, require_redis_py};
use crate::harness::cluster::{node, Cluster};
use crate::harness::conf::{addr, server, ConfYaml, POOL};
use crate::harness::{
    encode, free_port, ping_or_noauth_ok, poll_until, run_client, run_with_deadline, show, Client,
    DynomiteProcess, PasswordRedisServer, RedisServer, Start, TempDir, DATASTORE_PASSWORD,
    DATASTORE_USER, DATASTORE_USER_PASSWORD, DYNOMITE_BIN,
};

/// `requirepass` of the nodes under test.
const PASSWORD: &str = "node-Pw-81xq";
/// How long a deadline-bound wait may last (a reconnect takes 1 s).
const WAIT: Duration = Duration::from_secs(15);

/// One node started by these tests: its own configuration, `-v 11`, and a
/// readiness probe that copes with a password.
struct Node {
    process: DynomiteProcess,
    port: u16,
    stats_port: u16,
}

impl Node {
    /// A node in front of the redis on `redis_port`, with `extra`
    /// directives, ready when `ready(port)` holds.
    fn start(redis_port: u16, extra: &[(&str, &str)], ready: fn(u16) -> bool) -> Node {
        let mut n = Node {
            process: DynomiteProcess::new("auth"),
            port: 0,
            stats_port: 0,
        };
        n.process.add_args(&["-v", "11"]);
        for _ in 0..3 {
            n.port = free_port();
            n.stats_port = free_port();
            let conf = ConfYaml::new(POOL)
                .set("listen", addr(n.port))
                .set("stats_listen", addr(n.stats_port))
                .set("data_store", 0)
                .set("timeout", 5000)
                .set("server_retry_timeout", 1000)
                .set_all(extra)
                .list("servers", [server(redis_port)]);
            n.process.write_conf(&conf);
            let port = n.port;
            match n.process.start(|| ready(port)) {
                Start::Serving => return n,
                Start::Hung => break,
                Start::Exited => {}
            }
        }
        panic!(
            "node did not start; config:\n{}\nlog:\n{}",
            n.process.conf_text(),
            n.process.log()
        );
    }

    fn client(&self) -> Client {
        let c = Client::connect(self.port);
        c.set_read_timeout(WAIT);
        c
    }

    /// A client that gave `PASSWORD`.
    fn authed_client(&self) -> Client {
        let mut c = self.client();
        assert_eq!(c.cmd(&[b"AUTH", PASSWORD.as_bytes()]), b"+OK\r\n");
        c
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- node log ----\n{}", self.process.log());
        }
    }
}

/// Ready when a GET through the node is answered by its datastore.
fn serves_get(port: u16) -> bool {
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(2));
    c.send(&encode(&[b"GET", b"__ready"]));
    matches!(c.try_read_reply(), Ok(r) if r.starts_with(b"$"))
}

/// Ready when the node answers anything.
fn answers(port: u16) -> bool {
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(2));
    c.send(&encode(&[b"GET", b"__ready"]));
    c.try_read_reply().is_ok()
}

/// `GET path` over HTTP/1.1 with `Connection: close`: the whole response.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to stats port");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("send");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read the response");
    String::from_utf8_lossy(&out).into_owned()
}

/// A reply with the parts that differ between redis and the node by design
/// (HELLO's `version` and `id`) replaced.
fn normalize(reply: &[u8]) -> String {
    let text = show(reply);
    if !(reply.starts_with(b"%7\r\n") || reply.starts_with(b"*14\r\n")) {
        return text;
    }
    let mut lines: Vec<String> = text.split("\\r\\n").map(str::to_string).collect();
    for i in 0..lines.len() {
        if (lines[i] == "version" || lines[i] == "id") && i + 2 < lines.len() {
            if lines[i] == "version" {
                lines[i + 1] = "$V".into();
                lines[i + 2] = "VERSION".into();
            } else {
                lines[i + 1] = "ID".into();
            }
        }
    }
    lines.join("\\r\\n")
}

/// Sends every request of `script` (`$PW` stands for `password`) on one
/// connection each to redis and to the node, and compares the replies.
fn same_as_redis(redis: u16, node: u16, password: &str, script: &[&[&str]]) {
    let mut a = Client::connect(redis);
    let mut b = Client::connect(node);
    a.set_read_timeout(WAIT);
    b.set_read_timeout(WAIT);
    for req in script {
        let args: Vec<Vec<u8>> = req
            .iter()
            .map(|s| s.replace("$PW", password).into_bytes())
            .collect();
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let (ra, rb) = (a.cmd(&args), b.cmd(&args));
        assert_eq!(
            normalize(&ra),
            normalize(&rb),
            "{req:?}: redis said \"{}\", the node \"{}\"",
            show(&ra),
            show(&rb)
        );
    }
}

/// Every case of redis 7's AUTH and HELLO, before and after authentication.
const AUTH_SCRIPT: &[&[&str]] = &[
    &["PING"],
    &["GET", "auth:k"],
    &["SET", "auth:k", "v"],
    &["CLIENT", "SETNAME", "x"],
    &["SELECT", "0"],
    &["MULTI"],
    &["FOOBAR"],
    &["GET"],
    &["HELLO"],
    &["HELLO", "3"],
    &["HELLO", "2", "SETNAME", "n"],
    &["HELLO", "4"],
    &["HELLO", "x"],
    &["HELLO", "3", "AUTH", "default"],
    &["HELLO", "3", "AUTH", "default", "wrong"],
    &["HELLO", "3", "AUTH", "nobody", "$PW"],
    &[
        "HELLO", "3", "AUTH", "default", "wrong", "SETNAME", "bad name",
    ],
    &["AUTH"],
    &["AUTH", "a", "b", "c"],
    &["AUTH", "wrong"],
    &["AUTH", "default", "wrong"],
    &["AUTH", "nobody", "$PW"],
    &["AUTH", "$PW"],
    &["PING"],
    &["AUTH", "wrong"],
    &["PING"],
    &["AUTH", "default", "$PW"],
    &[
        "HELLO", "3", "AUTH", "default", "$PW", "SETNAME", "bad name",
    ],
    &["HELLO", "3", "AUTH", "default", "$PW", "SETNAME", "n3"],
    &["CLIENT", "GETNAME"],
    &["HELLO", "2"],
    &["SET", "auth:k", "v"],
    &["GET", "auth:k"],
    &["QUIT"],
];

#[test]
fn requirepass_matches_redis_byte_for_byte() {
    let backend = RedisServer::start();
    let reference = PasswordRedisServer::start();
    let node = Node::start(
        backend.port(),
        &[("requirepass", DATASTORE_PASSWORD)],
        ping_or_noauth_ok,
    );
    same_as_redis(reference.port(), node.port, DATASTORE_PASSWORD, AUTH_SCRIPT);
    // HELLO with AUTH authenticates the connection by itself.
    same_as_redis(
        reference.port(),
        node.port,
        DATASTORE_PASSWORD,
        &[
            &["HELLO", "3", "AUTH", "default", "$PW"],
            &["SET", "auth:h", "1"],
            &["GET", "auth:h"],
        ],
    );
    // QUIT before AUTH, and inline requests.
    let mut c = node.client();
    c.send(b"GET auth:k\r\n");
    assert_eq!(c.read_reply(), b"-NOAUTH Authentication required.\r\n");
    c.send(format!("AUTH {DATASTORE_PASSWORD}\r\nGET auth:k\r\n").as_bytes());
    assert_eq!(c.read_reply(), b"+OK\r\n");
    assert_eq!(c.read_reply(), b"$1\r\nv\r\n");
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"QUIT"]), b"+OK\r\n");
    assert!(c.wait_closed(WAIT));
    // Wrong passwords are logged, without the password.
    let log = node.process.log_all();
    assert!(log.contains("gave a wrong password"), "{log}");
}

#[test]
fn auth_without_requirepass_matches_redis() {
    let backend = RedisServer::start();
    let reference = RedisServer::start();
    let node = Node::start(backend.port(), &[], serves_get);
    let script: &[&[&str]] = &[
        &["AUTH", "anything"],
        &["AUTH", "default", "anything"],
        &["AUTH", "nobody", "anything"],
        &["AUTH", "a", "b", "c"],
        &["HELLO", "3", "AUTH", "default", "anything"],
        &["HELLO", "3", "AUTH", "nobody", "anything"],
        &["HELLO", "2"],
        &["PING"],
        &["SET", "noauth:k", "v"],
        &["GET", "noauth:k"],
    ];
    same_as_redis(reference.port(), node.port, "unused", script);
}

#[test]
fn client_libraries_with_a_password() {
    require_redis_py();
    require_node_package("ioredis", 5);
    require_node_package("redis", 5);
    let backend = RedisServer::start();
    let node = Node::start(
        backend.port(),
        &[("requirepass", PASSWORD)],
        ping_or_noauth_ok,
    );
    let port = node.port.to_string();
    let out = run_client("python3", &["auth_redis_py_check.py", &port, PASSWORD]);
    assert!(out.contains("redis-py auth: all checks passed"), "{out}");
    let out = run_client("node", &["auth_ioredis_check.js", &port, PASSWORD]);
    assert!(out.contains("ioredis auth: all checks passed"), "{out}");
    let out = run_client("node", &["auth_node_redis_check.js", &port, PASSWORD]);
    assert!(out.contains("node-redis auth: all checks passed"), "{out}");
}

#[test]
fn redis_auth_reaches_a_protected_redis_and_survives_its_restart() {
    let mut redis = PasswordRedisServer::start();
    let node = Node::start(
        redis.port(),
        &[("redis_auth", DATASTORE_PASSWORD)],
        serves_get,
    );
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"SET", b"ra:k", b"1"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"ra:k"]), b"$1\r\n1\r\n");
    // The RESP3 pool authenticates too (AUTH before its HELLO 3).
    let mut c3 = node.client();
    assert!(c3.cmd(&[b"HELLO", b"3"]).starts_with(b"%7\r\n"));
    assert_eq!(c3.cmd(&[b"GET", b"ra:k"]), b"$1\r\n1\r\n");
    assert_eq!(redis.client().cmd(&[b"GET", b"ra:k"]), b"$1\r\n1\r\n");

    // The restarted redis is empty and asks for the password again: the
    // node's new connection sends AUTH first.
    redis.restart();
    let mut last = Vec::new();
    let back = poll_until(WAIT, || {
        let mut c = node.client();
        last = c.cmd(&[b"SET", b"ra:k2", b"2"]);
        last == b"+OK\r\n"
    });
    assert!(back, "after the restart: {}", show(&last));
    assert_eq!(redis.client().cmd(&[b"GET", b"ra:k2"]), b"$1\r\n2\r\n");
    let info = http_get(node.stats_port, "/info");
    assert!(info.contains("\"server_auth_failures\":0"), "{info}");
}

#[test]
fn redis_auth_user_authenticates_as_the_acl_user() {
    let redis = PasswordRedisServer::start();
    let node = Node::start(
        redis.port(),
        &[
            ("redis_auth_user", DATASTORE_USER),
            ("redis_auth", DATASTORE_USER_PASSWORD),
        ],
        serves_get,
    );
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"SET", b"acl:k", b"1"]), b"+OK\r\n");
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&[b"GET", b"acl:k"]), b"$1\r\n1\r\n");
    // redis sees the node's connection as the ACL user.
    let list = direct.cmd(&[b"CLIENT", b"LIST"]);
    let list = String::from_utf8_lossy(&list);
    assert!(
        list.lines()
            .any(|l| l.contains(&format!(" user={DATASTORE_USER} "))),
        "{list}"
    );
}

#[test]
fn redis_db_selects_the_database_on_every_connection() {
    let redis = RedisServer::start();
    let node = Node::start(redis.port(), &[("redis_db", "3")], serves_get);
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"SET", b"db:k", b"v"]), b"+OK\r\n");
    let mut c3 = node.client();
    assert!(c3.cmd(&[b"HELLO", b"3"]).starts_with(b"%7\r\n"));
    assert_eq!(c3.cmd(&[b"SET", b"db:k3", b"w"]), b"+OK\r\n");
    // SELECT of the node's database keeps its pools; another database runs
    // on connections of its own.
    assert_eq!(c.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
    let mut c0 = node.client();
    assert_eq!(c0.cmd(&[b"SELECT", b"0"]), b"+OK\r\n");
    assert_eq!(c0.cmd(&[b"SET", b"db:k0", b"z"]), b"+OK\r\n");
    assert_eq!(c0.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(c0.cmd(&[b"GET", b"db:k"]), b"$1\r\nv\r\n");

    let mut direct = redis.client();
    assert_eq!(direct.cmd(&[b"GET", b"db:k"]), b"$-1\r\n");
    assert_eq!(direct.cmd(&[b"GET", b"db:k0"]), b"$1\r\nz\r\n");
    assert_eq!(direct.cmd(&[b"SELECT", b"3"]), b"+OK\r\n");
    assert_eq!(direct.cmd(&[b"GET", b"db:k"]), b"$1\r\nv\r\n");
    assert_eq!(direct.cmd(&[b"GET", b"db:k3"]), b"$1\r\nw\r\n");
}

#[test]
fn a_wrong_redis_auth_is_a_clear_error_and_is_reported() {
    let redis = PasswordRedisServer::start();
    let wrong = "wrong-Pw-55ab";
    let node = Node::start(redis.port(), &[("redis_auth", wrong)], answers);
    let err = b"-ERR Storage: datastore authentication failed\r\n";
    let mut c = node.client();
    // Requests queued behind the refused AUTH, and those that find the
    // connection waiting to reconnect, get the same error; none hangs.
    c.send(&[encode(&[b"GET", b"w:1"]), encode(&[b"GET", b"w:2"])].concat());
    assert_eq!(c.read_reply(), err);
    assert_eq!(c.read_reply(), err);
    for _ in 0..3 {
        assert_eq!(c.cmd(&[b"SET", b"w:3", b"x"]), err);
    }
    let info = http_get(node.stats_port, "/info");
    let failures = info
        .split("\"server_auth_failures\":")
        .nth(1)
        .and_then(|t| t.split(|ch: char| !ch.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(failures >= 1, "{info}");
    let metrics = http_get(node.stats_port, "/metrics");
    assert!(
        metrics.contains("dynomite_server_auth_failures_total{server="),
        "{metrics}"
    );
    let log = node.process.log_all();
    assert!(
        log.contains("refused the password of redis_auth (WRONGPASS)"),
        "{log}"
    );
    assert!(!log.contains(wrong), "the password is in the log");
    // The node keeps serving its other clients.
    assert_eq!(node.client().cmd(&[b"GET", b"w:4"]), err);
}

#[test]
fn passwords_never_appear_in_logs_stats_or_conf_checks() {
    let redis = PasswordRedisServer::start();
    let node = Node::start(
        redis.port(),
        &[
            ("requirepass", PASSWORD),
            ("redis_auth", DATASTORE_PASSWORD),
        ],
        ping_or_noauth_ok,
    );
    let mut c = node.client();
    assert_eq!(
        c.cmd(&[b"AUTH", format!("{PASSWORD}x").as_bytes()]),
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    let mut c = node.authed_client();
    assert_eq!(c.cmd(&[b"SET", b"s:k", b"1"]), b"+OK\r\n");
    let mut c3 = node.client();
    let hello = c3.cmd(&[b"HELLO", b"3", b"AUTH", b"default", PASSWORD.as_bytes()]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    assert_eq!(c3.cmd(&[b"GET", b"s:k"]), b"$1\r\n1\r\n");

    let secrets = [PASSWORD, DATASTORE_PASSWORD];
    let mut shown = vec![
        ("/info", http_get(node.stats_port, "/info")),
        ("/metrics", http_get(node.stats_port, "/metrics")),
        (
            "/cluster_describe",
            http_get(node.stats_port, "/cluster_describe"),
        ),
        ("log at -v 11", node.process.log_all()),
    ];
    let conf = node.process.conf_path();
    let conf = conf.to_str().expect("path");
    for args in [
        &["-t", "-c", conf][..],
        &["-t", "-v", "11", "-c", conf],
        &["-D"],
    ] {
        let (out, in_time) = run_with_deadline(Command::new(DYNOMITE_BIN).args(args), WAIT);
        assert!(in_time);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        shown.push(("dynomite -t / -D", text));
    }
    for (what, text) in &shown {
        assert!(!text.is_empty(), "{what} is empty");
        for s in secrets {
            assert!(!text.contains(s), "a password is in {what}:\n{text}");
        }
    }
    assert!(shown[0].1.contains("server_auth_failures"));
    assert!(shown[3].1.contains("gave a wrong password"));
}

#[test]
fn password_keys_on_a_memcached_pool_are_refused() {
    let dir = TempDir::new("auth-conf");
    for (key, value) in [
        ("requirepass", "Mc-Secret-1"),
        ("redis_auth", "Mc-Secret-1"),
        ("redis_db", "2"),
    ] {
        let path = dir.path().join(format!("{key}.yml"));
        ConfYaml::new(POOL)
            .set("listen", addr(free_port()))
            .set("data_store", 1)
            .set(key, value)
            .list("servers", [server(11211)])
            .write(&path);
        let path = path.to_str().expect("path");
        let (out, in_time) =
            run_with_deadline(Command::new(DYNOMITE_BIN).args(["-t", "-c", path]), WAIT);
        assert!(in_time);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "conf: '{path}': directive \"{key}\" is not allowed with \"data_store: 1\""
            )),
            "{err}"
        );
        assert!(!err.contains("Mc-Secret-1"), "{err}");
    }
}

#[test]
fn peers_are_not_asked_for_the_password() {
    let cluster = Cluster::start_with_seeds(
        &[node("dc1", "rack1", &[0]), node("dc1", "rack2", &[0])],
        &[("requirepass", PASSWORD)],
        &[],
    );
    let (a, b) = (cluster.node(0), cluster.node(1));
    assert_eq!(
        a.client().cmd(&[b"GET", b"k"]),
        b"-NOAUTH Authentication required.\r\n"
    );
    // A write through rack1 reaches rack2's redis through the peer link,
    // which is not asked for AUTH (peers connect with back-off: retry).
    let mut n = 0;
    let replicated = poll_until(Duration::from_secs(30), || {
        n += 1;
        let key = format!("peer:{n}");
        let mut c = Client::connect(a.port());
        c.set_read_timeout(WAIT);
        assert_eq!(c.cmd(&[b"AUTH", PASSWORD.as_bytes()]), b"+OK\r\n");
        c.cmd(&[b"SET", key.as_bytes(), b"v"]) == b"+OK\r\n"
            && poll_until(Duration::from_millis(500), || b.redis_has(key.as_bytes()))
    });
    if !replicated {
        cluster.dump_logs();
    }
    assert!(replicated, "writes did not replicate to the other rack");
    let mut c = Client::connect(b.port());
    c.set_read_timeout(WAIT);
    assert_eq!(
        c.cmd(&[b"AUTH", b"default", PASSWORD.as_bytes()]),
        b"+OK\r\n"
    );
    assert_eq!(
        c.cmd(&[b"GET", format!("peer:{n}").as_bytes()]),
        b"$1\r\nv\r\n"
    );
}
