//! Real client libraries, with their default settings, against the proxy:
//! redis-py 8.x (default protocol, RESP2 and RESP3), ioredis 5.x,
//! node-redis 5.x (RESP2 and RESP3) and redis-cli. The scripts live in
//! `tests/clients/`; `tests/clients/install.sh` installs what they need.
//! A missing client fails the test with a message saying what to install.

use crate::harness::{clients_dir, python_module_version, require_program, run_client, single};
use std::fs;

const INSTALL: &str = "run tests/clients/install.sh";

/// Major version number of a dotted version string.
fn major(version: &str) -> u32 {
    version
        .trim()
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// Fails unless redis-py 8.x can be imported by `python3`.
pub(crate) fn require_redis_py() {
    let hint = format!("redis-py 8.x is required: pip install 'redis>=8,<9' (or {INSTALL})");
    let version = python_module_version("redis", &hint);
    assert_eq!(
        major(&version),
        8,
        "redis-py {} found; {hint}",
        version.trim()
    );
}

/// Fails unless node and the npm package `name` (major version `want`) are
/// installed in `tests/clients/node_modules`.
pub(crate) fn require_node_package(name: &str, want: u32) {
    let hint = format!("node and the npm packages of tests/clients are required ({INSTALL}, or `npm ci` in tests/clients)");
    require_program("node", &["--version"], &hint);
    let manifest = clients_dir()
        .join("node_modules")
        .join(name)
        .join("package.json");
    let text = fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("npm package {name} is not installed ({e}); {hint}"));
    let version = text
        .split("\"version\"")
        .nth(1)
        .and_then(|rest| rest.split('"').nth(1))
        .unwrap_or("");
    assert_eq!(
        major(version),
        want,
        "npm package {name} {version} found, {want}.x expected; {hint}"
    );
}

#[test]
fn redis_py() {
    require_redis_py();
    let (_redis, proxy) = single();
    let port = proxy.port().to_string();
    let out = run_client("python3", &["redis_py_check.py", &port]);
    for line in ["pydefault: ok", "py2: ok", "py3: ok", "all checks passed"] {
        assert!(out.contains(line), "redis-py output lacks {line:?}:\n{out}");
    }
}

#[test]
fn ioredis() {
    require_node_package("ioredis", 5);
    let (_redis, proxy) = single();
    let port = proxy.port().to_string();
    let out = run_client("node", &["ioredis_check.js", &port]);
    assert!(
        out.contains("ioredis: all checks passed"),
        "ioredis output:\n{out}"
    );
}

#[test]
fn node_redis() {
    require_node_package("redis", 5);
    let (_redis, proxy) = single();
    let port = proxy.port().to_string();
    let out = run_client("node", &["node_redis_check.js", &port]);
    for line in [
        "noderedisdefault: ok",
        "noderedis3: ok",
        "node-redis: all checks passed",
    ] {
        assert!(
            out.contains(line),
            "node-redis output lacks {line:?}:\n{out}"
        );
    }
}

#[test]
fn redis_cli() {
    require_program(
        "redis-cli",
        &["--version"],
        &format!("redis-cli is required: apt-get install redis-tools ({INSTALL})"),
    );
    let (_redis, proxy) = single();
    let port = proxy.port().to_string();
    let cli = |args: &[&str]| -> String {
        let mut all = vec!["-h", "127.0.0.1", "-p", port.as_str()];
        all.extend_from_slice(args);
        run_client("redis-cli", &all)
    };
    assert_eq!(cli(&["set", "cli:a", "b"]), "OK\n");
    assert_eq!(cli(&["get", "cli:a"]), "b\n");
    assert_eq!(cli(&["--no-raw", "ping"]), "PONG\n");
    assert_eq!(cli(&["--no-raw", "get", "cli:missing"]), "(nil)\n");
    assert_eq!(cli(&["--no-raw", "incr", "cli:n"]), "(integer) 1\n");
    assert_eq!(
        cli(&["--no-raw", "mget", "cli:a", "cli:missing"]),
        "1) \"b\"\n2) (nil)\n"
    );
    assert_eq!(cli(&["hset", "cli:h", "f", "v"]), "1\n");
    assert_eq!(
        cli(&["--no-raw", "hgetall", "cli:h"]),
        "1) \"f\"\n2) \"v\"\n"
    );
    assert_eq!(
        cli(&["-3", "--no-raw", "hgetall", "cli:h"]),
        "1# \"f\" => \"v\"\n"
    );
    let err = cli(&["foobar"]);
    assert!(err.starts_with("ERR"), "redis-cli foobar: {err:?}");
}
