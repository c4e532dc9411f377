//! The stats/admin HTTP listener against a running node in front of a real
//! redis: every admin URL through a real HTTP client (a small HTTP/1.1
//! client over `TcpStream` below, plus curl), live counters in `/info`,
//! Prometheus text checked with the `prometheus_client` parser, node states
//! gating client requests, the `-D` description and the systemd unit.
//!
//! Expected names, orders and texts are written out here from the spec
//! (stats-and-admin.md §4, §5, §9), not taken from the crate, so that a
//! table mistake in the code cannot hide itself.

use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::conf::{self, POOL};
use crate::harness::{
    self, encode, require_program, run_with_deadline, show, Client, Dynomite, RedisServer, TempDir,
    DYNOMITE_BIN, INSTALL_HINT,
};

/// How long an HTTP exchange or a polled condition may take.
const DEADLINE: Duration = Duration::from_secs(10);
/// The invalid-state error of client-protocols.md §3.1/§4, as sent.
const ERR_STATE: &[u8] = b"-ERR Dynomite: Dynomite's current state does not allow this request\r\n";

/// The first top-level fields of `/info`, in order (§4.1).
const TOP_HEAD: [&str; 7] = [
    "service",
    "source",
    "version",
    "uptime",
    "timestamp",
    "rack",
    "dc",
];

/// Numeric top-level fields of `/info` after `dc`, in order (§4.1).
const TOP_NUMBERS: [&str; 35] = [
    "latency_max",
    "latency_999th",
    "latency_99th",
    "latency_95th",
    "latency_mean",
    "payload_size_max",
    "payload_size_999th",
    "payload_size_99th",
    "payload_size_95th",
    "payload_size_mean",
    "average_cross_region_rtt",
    "99_cross_region_rtt",
    "average_cross_zone_latency",
    "99_cross_zone_latency",
    "average_server_latency",
    "99_server_latency",
    "average_cross_region_queue_wait",
    "99_cross_region_queue_wait",
    "average_cross_zone_queue_wait",
    "99_cross_zone_queue_wait",
    "average_server_queue_wait",
    "99_server_queue_wait",
    "client_out_queue_99",
    "server_in_queue_99",
    "server_out_queue_99",
    "dnode_client_out_queue_99",
    "peer_in_queue_99",
    "peer_out_queue_99",
    "remote_peer_out_queue_99",
    "remote_peer_in_queue_99",
    "alloc_msgs",
    "free_msgs",
    "alloc_mbufs",
    "free_mbufs",
    "dyn_memory",
];

/// Pool counters and their `-D` descriptions, in order (§5.1).
const POOL_COUNTERS: [(&str, &str); 45] = [
    ("client_eof", "# eof on client connections"),
    ("client_err", "# errors on client connections"),
    ("client_connections", "# active client connections"),
    ("client_read_requests", "# client read requests"),
    ("client_write_requests", "# client write responses"),
    ("client_dropped_requests", "# client dropped requests"),
    (
        "client_non_quorum_w_responses",
        "# client non quorum write responses",
    ),
    (
        "client_non_quorum_r_responses",
        "# client non quorum read responses",
    ),
    ("server_ejects", "# times backend server was ejected"),
    ("dnode_client_eof", "# eof on dnode client connections"),
    ("dnode_client_err", "# errors on dnode client connections"),
    (
        "dnode_client_connections",
        "# active dnode client connections",
    ),
    (
        "dnode_client_in_queue",
        "# dnode client requests in incoming queue",
    ),
    (
        "dnode_client_in_queue_bytes",
        "current dnode client request bytes in incoming queue",
    ),
    (
        "dnode_client_out_queue",
        "# dnode client requests in outgoing queue",
    ),
    (
        "dnode_client_out_queue_bytes",
        "current dnode client request bytes in outgoing queue",
    ),
    ("peer_dropped_requests", "# local dc peer dropped requests"),
    (
        "peer_timedout_requests",
        "# local dc peer timedout requests",
    ),
    (
        "remote_peer_dropped_requests",
        "# remote dc peer dropped requests",
    ),
    (
        "remote_peer_timedout_requests",
        "# remote dc peer timedout requests",
    ),
    (
        "remote_peer_failover_requests",
        "# remote dc peer failover requests",
    ),
    ("peer_eof", "# eof on peer connections"),
    ("peer_err", "# errors on peer connections"),
    ("peer_timedout", "# timeouts on local dc peer connections"),
    (
        "remote_peer_timedout",
        "# timeouts on remote dc peer connections",
    ),
    ("peer_connections", "# active peer connections"),
    (
        "peer_forward_error",
        "# times we encountered a peer forwarding error",
    ),
    ("peer_requests", "# peer requests"),
    ("peer_request_bytes", "total peer request bytes"),
    ("peer_responses", "# peer respones"),
    ("peer_response_bytes", "total peer response bytes"),
    ("peer_ejected_at", "timestamp when peer was ejected"),
    ("peer_ejects", "# times a peer was ejected"),
    (
        "peer_in_queue",
        "# local dc peer requests in incoming queue",
    ),
    (
        "remote_peer_in_queue",
        "# remote dc peer requests in incoming queue",
    ),
    (
        "peer_in_queue_bytes",
        "current peer request bytes in incoming queue",
    ),
    (
        "remote_peer_in_queue_bytes",
        "current peer request bytes in incoming queue to remote DC",
    ),
    (
        "peer_out_queue",
        "# local dc peer requests in outgoing queue",
    ),
    (
        "remote_peer_out_queue",
        "# remote dc peer requests in outgoing queue",
    ),
    (
        "peer_out_queue_bytes",
        "current peer request bytes in outgoing queue",
    ),
    (
        "remote_peer_out_queue_bytes",
        "current peer request bytes in outgoing queue to remote DC",
    ),
    (
        "peer_mismatch_requests",
        "current dnode peer mismatched messages",
    ),
    ("forward_error", "# times we encountered a forwarding error"),
    (
        "fragments",
        "# fragments created from a multi-vector request",
    ),
    ("stats_count", "# stats request"),
];

/// Datastore counters and their `-D` descriptions, in order (§5.2).
const SERVER_COUNTERS: [(&str, &str); 35] = [
    ("server_eof", "# eof on server connections"),
    ("server_err", "# errors on server connections"),
    ("server_timedout", "# timeouts on server connections"),
    (
        "server_ejected_at",
        "timestamp when server was ejected in usec since epoch",
    ),
    ("server_dropped_requests", "# server dropped requests"),
    ("server_timedout_requests", "# server timedout requests"),
    ("read_requests", "# read requests"),
    ("read_request_bytes", "total read request bytes"),
    ("write_requests", "# write requests"),
    ("write_request_bytes", "total write request bytes"),
    ("read_responses", "# read respones"),
    ("read_response_bytes", "total read response bytes"),
    ("write_responses", "# write respones"),
    ("write_response_bytes", "total write response bytes"),
    ("in_queue", "# requests in incoming queue"),
    ("in_queue_bytes", "current request bytes in incoming queue"),
    ("out_queue", "# requests in outgoing queue"),
    ("out_queue_bytes", "current request bytes in outgoing queue"),
    ("redis_req_get", "# Redis get"),
    ("redis_req_set", "# Redis set"),
    ("redis_req_del", "# Redis del"),
    ("redis_req_incr_decr", "# Redis incr or decr"),
    ("redis_req_keys", "# Redis keys"),
    ("redis_req_mget", "# Redis mget"),
    ("redis_req_scan", "# Redis scan"),
    ("redis_req_sort", "# Redis sort"),
    ("redis_req_lreqm", "# Redis lreqm"),
    ("redis_req_sunion", "# Redis sunion"),
    ("redis_req_ping", "# Redis ping"),
    ("redis_req_lists", "# Redis lists"),
    ("redis_req_sets", "# Redis sets"),
    ("redis_req_hashes", "# Redis hashes"),
    ("redis_req_sortedsets", "# Redis sortedsets"),
    ("redis_req_other", "# Redis other"),
    // Beyond the original: datastore connections that refused redis_auth.
    (
        "server_auth_failures",
        "# datastore authentication failures",
    ),
];

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client
// ---------------------------------------------------------------------------

/// One HTTP response as received.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8.
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body)
            .unwrap_or_else(|e| panic!("body is not UTF-8 ({e}): \"{}\"", show(&self.body)))
    }

    /// The body parsed as JSON.
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not valid JSON ({e}): \"{}\"",
                harness::show_n(&self.body, 4000)
            )
        })
    }

    /// Fails unless the status and the Content-Type's media type match.
    fn expect(&self, status: u16, media_type: &str, what: &str) {
        assert_eq!(
            self.status,
            status,
            "{what}: status (body \"{}\")",
            show(&self.body)
        );
        let ct = self.header("content-type").unwrap_or("");
        assert!(
            ct.split(';').next().unwrap_or("").trim() == media_type,
            "{what}: Content-Type is {ct:?}, expected {media_type}"
        );
    }
}

/// An HTTP connection to the stats listener.
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    fn connect(port: u16) -> Http {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to stats port {port}: {e}"));
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        stream.set_write_timeout(Some(DEADLINE)).expect("timeout");
        Http {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream
            .write_all(raw)
            .unwrap_or_else(|e| panic!("sending \"{}\": {e}", show(raw)));
    }

    /// A keep-alive GET on this connection.
    fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes());
        self.read_response()
    }

    /// Reads more bytes; false on EOF.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no complete HTTP response in time (got \"{}\")",
            show(&self.buf)
        );
        self.stream.set_read_timeout(Some(left)).expect("timeout");
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "reading an HTTP response: {e} (got \"{}\")",
                    show(&self.buf)
                ),
            }
        }
    }

    /// Reads one response: status line and headers up to the empty line,
    /// then exactly Content-Length bytes of body.
    fn read_response(&mut self) -> Response {
        let deadline = Instant::now() + DEADLINE;
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            assert!(
                self.fill(deadline),
                "connection closed before the end of the response head (got \"{}\")",
                show(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ASCII head");
        assert!(
            !head.replace("\r\n", "").contains('\n'),
            "bare LF in the response head: \"{}\"",
            show(head.as_bytes())
        );
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        assert!(
            parts
                .next()
                .is_some_and(|r| !r.is_empty() && !r.ends_with(' ')),
            "status line {status_line:?} has no clean reason phrase"
        );
        let mut headers = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header line {line:?}"));
            assert!(!v.ends_with(' '), "trailing space in header {line:?}");
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("numeric Content-Length"))
            .unwrap_or_else(|| panic!("no Content-Length in \"{}\"", show(head.as_bytes())));
        let body_start = head_end + 4;
        while self.buf.len() < body_start + len {
            assert!(
                self.fill(deadline),
                "connection closed inside a {len}-byte body (got \"{}\")",
                show(&self.buf)
            );
        }
        let body = self.buf[body_start..body_start + len].to_vec();
        self.buf.drain(..body_start + len);
        Response {
            status,
            headers,
            body,
        }
    }

    /// True once the server has closed the connection, with nothing more sent.
    fn closed_by_server(&mut self) -> bool {
        let deadline = Instant::now() + DEADLINE;
        let more = self.fill(deadline);
        !more && self.buf.is_empty()
    }
}

/// `GET path` on a new connection that asks to be closed afterwards.
fn http_get(port: u16, path: &str) -> Response {
    let mut c = Http::connect(port);
    c.send(
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let r = c.read_response();
    assert!(
        c.closed_by_server(),
        "GET {path} with Connection: close: connection left open or extra bytes \"{}\"",
        show(&c.buf)
    );
    r
}

/// GET of a text endpoint: 200, text/plain, and its body.
fn text_get(port: u16, path: &str) -> String {
    let r = http_get(port, path);
    r.expect(200, "text/plain", path);
    r.text().to_string()
}

// ---------------------------------------------------------------------------
// /info
// ---------------------------------------------------------------------------

/// A JSON document with the order of object keys kept (serde_json's map
/// sorts them). serde_json checks validity; this only records structure.
#[derive(Debug)]
enum Json {
    Object(Vec<(String, Json)>),
    Array(Vec<Json>),
    Scalar,
}

impl Json {
    fn keys(&self) -> Vec<&str> {
        match self {
            Json::Object(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses `text` (already known to be valid JSON) keeping key order.
fn ordered_json(text: &str) -> Json {
    fn ws(b: &[u8], i: &mut usize) {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    }
    fn string(b: &[u8], i: &mut usize) -> String {
        assert_eq!(b[*i], b'"');
        *i += 1;
        let start = *i;
        while b[*i] != b'"' {
            *i += if b[*i] == b'\\' { 2 } else { 1 };
        }
        let s = String::from_utf8_lossy(&b[start..*i]).into_owned();
        *i += 1;
        s
    }
    fn value(b: &[u8], i: &mut usize) -> Json {
        ws(b, i);
        match b[*i] {
            b'{' => {
                *i += 1;
                let mut entries = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b'}' {
                        *i += 1;
                        return Json::Object(entries);
                    }
                    if b[*i] == b',' {
                        *i += 1;
                        ws(b, i);
                    }
                    let k = string(b, i);
                    ws(b, i);
                    assert_eq!(b[*i], b':');
                    *i += 1;
                    entries.push((k, value(b, i)));
                }
            }
            b'[' => {
                *i += 1;
                let mut items = Vec::new();
                loop {
                    ws(b, i);
                    if b[*i] == b']' {
                        *i += 1;
                        return Json::Array(items);
                    }
                    if b[*i] == b',' {
                        *i += 1;
                    }
                    items.push(value(b, i));
                }
            }
            b'"' => {
                string(b, i);
                Json::Scalar
            }
            _ => {
                while *i < b.len() && !b",}] \t\r\n".contains(&b[*i]) {
                    *i += 1;
                }
                Json::Scalar
            }
        }
    }
    let mut i = 0;
    value(text.as_bytes(), &mut i)
}

/// One `/info` snapshot.
struct Info {
    v: Value,
    servers: Vec<String>,
}

impl Info {
    /// A top-level number.
    fn top(&self, key: &str) -> i64 {
        self.v[key]
            .as_i64()
            .unwrap_or_else(|| panic!("/info: {key} is not an integer: {}", self.v[key]))
    }

    /// A pool counter.
    fn pool(&self, key: &str) -> i64 {
        self.v[POOL][key]
            .as_i64()
            .unwrap_or_else(|| panic!("/info: {POOL}.{key} is not an integer"))
    }

    /// A datastore counter, summed over the servers.
    fn srv(&self, key: &str) -> i64 {
        self.servers
            .iter()
            .map(|s| {
                self.v[POOL][s][key]
                    .as_i64()
                    .unwrap_or_else(|| panic!("/info: {POOL}.{s}.{key} is not an integer"))
            })
            .sum()
    }

    /// A datastore counter of one server.
    fn srv_of(&self, server: &str, key: &str) -> i64 {
        self.v[POOL][server][key]
            .as_i64()
            .unwrap_or_else(|| panic!("/info: {POOL}.{server}.{key} is not an integer"))
    }
}

/// Fetches `/info`, checks it is 200 JSON, and finds the server objects.
fn info(port: u16) -> Info {
    let r = http_get(port, "/info");
    r.expect(200, "application/json", "/info");
    let v = r.json();
    let servers = v[POOL]
        .as_object()
        .unwrap_or_else(|| panic!("/info has no object {POOL:?}: {v}"))
        .iter()
        .filter(|(_, x)| x.is_object())
        .map(|(k, _)| k.clone())
        .collect();
    Info { v, servers }
}

/// Polls `/info` until `ok` holds; returns that snapshot.
fn wait_info(port: u16, what: &str, mut ok: impl FnMut(&Info) -> bool) -> Info {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let i = info(port);
        if ok(&i) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last /info:\n{:#}",
            i.v
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// `/info` once no client connection (e.g. the harness's readiness probe)
/// is open any more, so later deltas only see this test's clients.
fn quiet_info(port: u16) -> Info {
    wait_info(port, "client_connections to drop to 0", |i| {
        i.pool("client_connections") == 0
    })
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// Collects failed checks so that one run reports all of them.
#[derive(Default)]
struct Checks(Vec<String>);

impl Checks {
    fn eq(&mut self, what: &str, got: i64, want: i64) {
        if got != want {
            self.0.push(format!("{what}: got {got}, expected {want}"));
        }
    }

    fn that(&mut self, ok: bool, what: String) {
        if !ok {
            self.0.push(what);
        }
    }

    fn done(self, context: &str) {
        assert!(self.0.is_empty(), "{context}:\n  {}", self.0.join("\n  "));
    }
}

fn ok_reply(c: &mut Client, args: &[&[u8]]) {
    let r = c.cmd(args);
    assert_eq!(r, b"+OK\r\n", "{} → \"{}\"", show(&encode(args)), show(&r));
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn info_json_layout_follows_the_spec() {
    let redis = RedisServer::start();
    let dyn_port = harness::free_port();
    let dyn_listen = conf::addr(dyn_port);
    let node = Dynomite::start_with(
        &[redis.port()],
        &[
            ("rack", "rack_a"),
            ("datacenter", "dc_x"),
            ("dyn_listen", &dyn_listen),
            ("tokens", "12345"),
        ],
    );
    let port = node.stats_port();
    let server_name = format!("127.0.0.1:{}", redis.port());

    for path in ["/", "/info"] {
        let r = http_get(port, path);
        r.expect(200, "application/json", path);
        let text = r.text();
        let v = r.json();
        let doc = ordered_json(text);

        let mut want_top: Vec<&str> = TOP_HEAD.to_vec();
        want_top.extend(TOP_NUMBERS);
        want_top.push(POOL);
        assert_eq!(doc.keys(), want_top, "{path}: top-level keys and order");

        let pool = doc.get(POOL).expect("pool object");
        let mut want_pool: Vec<&str> = POOL_COUNTERS.iter().map(|(n, _)| *n).collect();
        want_pool.push(&server_name);
        assert_eq!(pool.keys(), want_pool, "{path}: pool keys and order");

        let server = pool.get(&server_name).expect("server object");
        let want_server: Vec<&str> = SERVER_COUNTERS.iter().map(|(n, _)| *n).collect();
        assert_eq!(server.keys(), want_server, "{path}: server keys and order");

        assert_eq!(v["service"], "dynomite", "{path}");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{path}");
        assert_eq!(v["rack"], "rack_a", "{path}");
        assert_eq!(v["dc"], "dc_x", "{path}");
        assert!(
            v["source"].as_str().is_some_and(|s| !s.is_empty()),
            "{path}: source {}",
            v["source"]
        );
        for key in TOP_HEAD.iter().skip(3).take(2).chain(TOP_NUMBERS.iter()) {
            assert!(
                v[key].is_i64(),
                "{path}: {key} = {} is not an integer",
                v[key]
            );
        }
        for (key, _) in POOL_COUNTERS {
            assert!(
                v[POOL][key].is_i64(),
                "{path}: {POOL}.{key} = {}",
                v[POOL][key]
            );
        }
        for (key, _) in SERVER_COUNTERS {
            assert!(
                v[POOL][&server_name][key].is_i64(),
                "{path}: server {key} = {}",
                v[POOL][&server_name][key]
            );
        }
        let now_s = unix_ms() / 1000;
        let ts = v["timestamp"].as_i64().unwrap();
        assert!(
            (now_s - ts).abs() <= 5,
            "{path}: timestamp {ts}, now {now_s}"
        );
        let uptime = v["uptime"].as_i64().unwrap();
        assert!((0..600).contains(&uptime), "{path}: uptime {uptime}");
        assert!(v["dyn_memory"].as_i64().unwrap() > 0, "{path}: dyn_memory");
        assert!(
            v["alloc_msgs"].as_i64().unwrap() >= v["free_msgs"].as_i64().unwrap(),
            "{path}: alloc_msgs < free_msgs"
        );
        assert!(
            v["alloc_mbufs"].as_i64().unwrap() >= v["free_mbufs"].as_i64().unwrap(),
            "{path}: alloc_mbufs < free_mbufs"
        );
    }

    // /cluster_describe: this node, in its DC and rack, with its peer port
    // and first token.
    let r = http_get(port, "/cluster_describe");
    r.expect(200, "application/json", "/cluster_describe");
    let v = r.json();
    let dcs = v["dcs"].as_array().expect("dcs array");
    assert_eq!(dcs.len(), 1, "{v}");
    assert_eq!(dcs[0]["name"], "dc_x", "{v}");
    let racks = dcs[0]["racks"].as_array().expect("racks array");
    assert_eq!(racks.len(), 1, "{v}");
    assert_eq!(racks[0]["name"], "rack_a", "{v}");
    let servers = racks[0]["servers"].as_array().expect("servers array");
    assert_eq!(servers.len(), 1, "{v}");
    assert_eq!(servers[0]["name"], "127.0.0.1", "{v}");
    assert_eq!(servers[0]["port"], i64::from(dyn_port), "{v}");
    assert_eq!(servers[0]["token"], 12345, "{v}");
    assert!(servers[0]["host"].is_string(), "{v}");
    let doc = ordered_json(r.text());
    let node_keys = match doc.get("dcs") {
        Some(Json::Array(dcs)) => match dcs[0].get("racks") {
            Some(Json::Array(racks)) => match racks[0].get("servers") {
                Some(Json::Array(servers)) => servers[0].keys(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    assert_eq!(node_keys, ["name", "host", "port", "token"], "{v}");
}

#[test]
fn counters_move_live_with_traffic() {
    const N: usize = 25;
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let server_name = format!("127.0.0.1:{}", redis.port());

    let before = quiet_info(port);
    assert_eq!(before.servers, std::slice::from_ref(&server_name));
    let mut c = node.client();
    let mut get_bytes = 0i64;
    let mut set_bytes = 0i64;
    for i in 0..N {
        let key = format!("live:{i}");
        let set: [&[u8]; 3] = [b"SET", key.as_bytes(), b"value"];
        set_bytes += encode(&set).len() as i64;
        ok_reply(&mut c, &set);
        let get: [&[u8]; 2] = [b"GET", key.as_bytes()];
        get_bytes += encode(&get).len() as i64;
        assert_eq!(c.cmd(&get), b"$5\r\nvalue\r\n");
    }
    // No stats_interval lag: the very next /info shows all of it.
    let after = info(port);
    let n = N as i64;
    let d = |k: &str| after.pool(k) - before.pool(k);
    let ds = |k: &str| after.srv(k) - before.srv(k);
    let mut ck = Checks::default();
    ck.eq("client_read_requests", d("client_read_requests"), n);
    ck.eq("client_write_requests", d("client_write_requests"), n);
    ck.eq("client_connections", after.pool("client_connections"), 1);
    ck.eq("read_requests", ds("read_requests"), n);
    ck.eq("write_requests", ds("write_requests"), n);
    ck.eq("read_request_bytes", ds("read_request_bytes"), get_bytes);
    ck.eq("write_request_bytes", ds("write_request_bytes"), set_bytes);
    ck.eq("read_responses", ds("read_responses"), n);
    // Replies are counted by their request's class (spec Notes 6).
    ck.eq("write_responses", ds("write_responses"), n);
    ck.eq(
        "read_response_bytes",
        ds("read_response_bytes"),
        n * b"$5\r\nvalue\r\n".len() as i64,
    );
    ck.eq(
        "write_response_bytes",
        ds("write_response_bytes"),
        n * b"+OK\r\n".len() as i64,
    );
    ck.eq("redis_req_get", ds("redis_req_get"), n);
    ck.eq("redis_req_set", ds("redis_req_set"), n);
    ck.eq("redis_req_other", ds("redis_req_other"), 0);
    ck.eq("forward_error", d("forward_error"), 0);
    ck.eq("in_queue", after.srv("in_queue"), 0);
    ck.eq("out_queue", after.srv("out_queue"), 0);
    // Every HTTP request is counted, the one being answered included.
    ck.eq("stats_count", d("stats_count"), 1);
    for key in [
        "latency_max",
        "latency_999th",
        "latency_99th",
        "latency_95th",
        "latency_mean",
        "payload_size_max",
        "payload_size_mean",
        "average_server_latency",
        "99_server_latency",
    ] {
        ck.that(
            after.top(key) > 0,
            format!("{key} is {} after traffic", after.top(key)),
        );
    }
    ck.that(
        after.top("latency_max") >= after.top("latency_95th"),
        "latency_max below latency_95th".into(),
    );
    ck.done("counters after SET/GET traffic");

    // More clients: the gauge follows them, closes count as client_eof.
    let base = info(port);
    let mut extra: Vec<Client> = (0..3).map(|_| node.client()).collect();
    for e in &mut extra {
        assert_eq!(e.cmd(&[b"PING"]), b"+PONG\r\n");
    }
    let open = info(port);
    assert_eq!(open.pool("client_connections"), 4, "4 clients open");
    drop(extra.pop());
    drop(extra.pop());
    let closed = wait_info(port, "client_connections back to 2", |i| {
        i.pool("client_connections") == 2
    });
    assert_eq!(
        closed.pool("client_eof") - base.pool("client_eof"),
        2,
        "client_eof after two clients closed"
    );
    assert_eq!(closed.pool("client_err") - base.pool("client_err"), 0);
    // PING is not a read request (spec §5.1).
    assert_eq!(
        closed.pool("client_read_requests"),
        base.pool("client_read_requests"),
        "PING counted as a client read request"
    );

    // stats_count counts every HTTP request.
    let a = info(port);
    for _ in 0..3 {
        assert_eq!(text_get(port, "/ping"), "OK\r\n");
    }
    let b = info(port);
    assert_eq!(b.pool("stats_count") - a.pool("stats_count"), 4);

    // /historeset empties the histograms.
    assert_eq!(text_get(port, "/historeset"), "OK\r\n");
    let reset = info(port);
    for key in ["latency_max", "payload_size_max", "latency_mean"] {
        assert_eq!(reset.top(key), 0, "{key} after /historeset");
    }
    // ... and they fill again with new traffic.
    ok_reply(&mut c, &[b"SET", b"again", b"1"]);
    let refill = info(port);
    assert!(
        refill.top("latency_max") > 0,
        "latency_max after new traffic"
    );
    assert!(refill.top("payload_size_max") > 0, "payload_size_max");
    // Counters are cumulative: the reset does not touch them.
    assert!(refill.pool("client_write_requests") > n);
    assert_eq!(
        refill.srv_of(&server_name, "redis_req_get"),
        after.srv("redis_req_get")
    );
}

#[test]
fn error_replies_count_as_forward_errors() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let before = quiet_info(port);
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"LPUSH", b"fe:list", b"a"]), b":1\r\n");
    let r = c.cmd(&[b"GET", b"fe:list"]);
    assert!(r.starts_with(b"-WRONGTYPE"), "\"{}\"", show(&r));
    let r = c.cmd(&[b"NOSUCHCOMMAND", b"x"]);
    assert!(r.starts_with(b"-ERR"), "\"{}\"", show(&r));
    let after = info(port);
    assert_eq!(
        after.pool("forward_error") - before.pool("forward_error"),
        2,
        "forward_error after a WRONGTYPE reply and an unknown command"
    );
    assert_eq!(
        after.srv("redis_req_lists") - before.srv("redis_req_lists"),
        0
    );
    assert_eq!(after.srv("redis_req_get") - before.srv("redis_req_get"), 1);
}

#[test]
fn datastore_failure_counters() {
    let mut redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let before = quiet_info(port);

    // Hold a GET inside redis, so that it is in flight when redis dies.
    let mut direct = redis.client();
    ok_reply(&mut direct, &[b"CLIENT", b"PAUSE", b"20000", b"ALL"]);
    let mut c = node.client();
    c.send(&encode(&[b"GET", b"dead:key"]));
    let inflight = wait_info(port, "the GET to be written to redis", |i| {
        i.srv("out_queue") == 1
    });
    assert!(inflight.srv("out_queue_bytes") > 0, "out_queue_bytes");
    let t0 = unix_ms();
    redis.kill();
    let r = c.read_reply();
    let t1 = unix_ms();
    assert_eq!(r, b"-ERR Storage: Datastore refused connection\r\n");

    let after = info(port);
    // The first reconnect comes 1 s after the failure and fails again; only
    // a snapshot taken before it can expect exact figures.
    let exact = unix_ms() - t0 < 900;
    let ds = |k: &str| after.srv(k) - before.srv(k);
    let mut ck = Checks::default();
    ck.eq("server_dropped_requests", ds("server_dropped_requests"), 1);
    let closes = ds("server_eof") + ds("server_err");
    let ejects = after.pool("server_ejects") - before.pool("server_ejects");
    let at = after.srv("server_ejected_at");
    if exact {
        ck.eq("server_eof + server_err", closes, 1);
        ck.eq("server_ejects", ejects, 1);
        ck.that(
            (t0..=t1).contains(&at),
            format!("server_ejected_at {at} not within [{t0}, {t1}] (ms since epoch)"),
        );
    } else {
        ck.that(closes >= 1, format!("server_eof + server_err: {closes}"));
        ck.that(ejects >= 1, format!("server_ejects: {ejects}"));
        ck.that(
            at >= t0 && at <= unix_ms(),
            format!("server_ejected_at {at} before the kill at {t0} (ms since epoch)"),
        );
    }
    ck.eq(
        "forward_error",
        after.pool("forward_error") - before.pool("forward_error"),
        1,
    );
    ck.eq("out_queue", after.srv("out_queue"), 0);
    ck.done("after redis was killed with a request in flight");

    // The reconnect attempts are refused: connection errors.
    let err_before = after.srv("server_err");
    let r = c.cmd(&[b"GET", b"dead:key"]);
    assert!(r.starts_with(b"-ERR Storage:"), "\"{}\"", show(&r));
    wait_info(port, "server_err after a refused reconnect", |i| {
        i.srv("server_err") > err_before
    });
}

#[test]
fn datastore_timeout_counts_timedout_requests() {
    let redis = RedisServer::start();
    let node = Dynomite::start_with(&[redis.port()], &[("timeout", "200")]);
    let port = node.stats_port();
    let mut direct = redis.client();
    ok_reply(&mut direct, &[b"SET", b"to:a", b"A"]);
    ok_reply(&mut direct, &[b"SET", b"to:b", b"B"]);
    let before = quiet_info(port);

    let mut c = node.client();
    let started = Instant::now();
    ok_reply(&mut direct, &[b"CLIENT", b"PAUSE", b"800", b"ALL"]);
    let r = c.cmd(&[b"GET", b"to:a"]);
    let took = started.elapsed();
    assert_eq!(r, b"-ERR Storage: Datastore timed out\r\n");
    assert!(
        took < Duration::from_millis(800),
        "timeout reply after {took:?}"
    );
    let after = info(port);
    assert_eq!(
        after.srv("server_timedout_requests") - before.srv("server_timedout_requests"),
        1,
        "server_timedout_requests after one datastore timeout"
    );
    assert_eq!(
        after.pool("forward_error") - before.pool("forward_error"),
        1,
        "the timeout error reply is a forwarding error"
    );
    // Once redis resumes, late replies are dropped, never handed to a later
    // request: GETs of another key time out or answer that key's value.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let r = c.cmd(&[b"GET", b"to:b"]);
        if r == b"$1\r\nB\r\n" {
            break;
        }
        assert_eq!(r, b"-ERR Storage: Datastore timed out\r\n", "GET to:b");
        assert!(Instant::now() < deadline, "redis never resumed");
    }
}

#[test]
fn mget_over_two_servers_counts_fragments() {
    let r1 = RedisServer::start();
    let r2 = RedisServer::start();
    let node = Dynomite::start(&[r1.port(), r2.port()]);
    let port = node.stats_port();
    let mut c = node.client();
    let mut d1 = r1.client();
    // One key on each server.
    let (mut on1, mut on2) = (None, None);
    for i in 0..200 {
        let key = format!("frag:{i}");
        ok_reply(&mut c, &[b"SET", key.as_bytes(), key.as_bytes()]);
        if d1.cmd(&[b"EXISTS", key.as_bytes()]) == b":1\r\n" {
            on1.get_or_insert(key);
        } else {
            on2.get_or_insert(key);
        }
        if on1.is_some() && on2.is_some() {
            break;
        }
    }
    let (k1, k2) = (
        on1.expect("a key on server 1"),
        on2.expect("a key on server 2"),
    );
    drop(c);
    let before = quiet_info(port);
    assert_eq!(before.servers.len(), 2, "one object per server");
    let mut c = node.client();
    let r = c.cmd(&[b"MGET", k1.as_bytes(), k2.as_bytes()]);
    let mut want = b"*2\r\n".to_vec();
    want.extend(harness::bulk(k1.as_bytes()));
    want.extend(harness::bulk(k2.as_bytes()));
    assert_eq!(r, want);
    let after = info(port);
    let mut ck = Checks::default();
    ck.eq(
        "fragments",
        after.pool("fragments") - before.pool("fragments"),
        2,
    );
    // Read requests are counted per fragment (§5.1).
    ck.eq(
        "client_read_requests",
        after.pool("client_read_requests") - before.pool("client_read_requests"),
        2,
    );
    for s in &after.servers {
        ck.eq(
            &format!("{s} redis_req_mget"),
            after.srv_of(s, "redis_req_mget") - before.srv_of(s, "redis_req_mget"),
            1,
        );
        ck.eq(
            &format!("{s} read_requests"),
            after.srv_of(s, "read_requests") - before.srv_of(s, "read_requests"),
            1,
        );
    }
    ck.done("after one MGET split over two servers");
}

#[test]
fn text_admin_endpoints() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();

    let help = text_get(port, "/help");
    assert!(
        help.starts_with("/info\n/help\n/ping\n/cluster_describe\n"),
        "{help:?}"
    );
    assert!(help.ends_with("\n\n"), "{help:?}");
    for line in help.lines().filter(|l| !l.is_empty()) {
        assert!(line.starts_with('/'), "help line {line:?}");
    }
    for endpoint in [
        "/info",
        "/help",
        "/ping",
        "/cluster_describe",
        "/setloglevel/<0-11>",
        "/loglevelup",
        "/logleveldown",
        "/historeset",
        "/get_consistency",
        "/set_consistency/<read|write>/",
        "/get_timeout_factor",
        "/set_timeout_factor/<1-10>",
        "/peer/<up|down|reset>",
        "/state/<get_state|standby|writes_only|normal|resuming>",
        "/read_repairs/",
        "/metrics",
    ] {
        assert!(
            help.lines().any(|l| l.starts_with(endpoint)),
            "/help does not list {endpoint}: {help:?}"
        );
    }

    assert_eq!(text_get(port, "/ping"), "OK\r\n");
    assert_eq!(text_get(port, "/historeset"), "OK\r\n");

    // Consistency.
    assert_eq!(
        text_get(port, "/get_consistency"),
        "Read Consistency: DC_ONE\r\nWrite Consistency: DC_ONE\r\n"
    );
    assert_eq!(text_get(port, "/set_consistency/read/dc_quorum"), "OK\r\n");
    assert_eq!(
        text_get(port, "/get_consistency"),
        "Read Consistency: DC_QUORUM\r\nWrite Consistency: DC_ONE\r\n"
    );
    for (level, name) in [
        ("dc_one", "DC_ONE"),
        ("dc_quorum", "DC_QUORUM"),
        ("dc_safe_quorum", "DC_SAFE_QUORUM"),
        ("dc_each_safe_quorum", "DC_EACH_SAFE_QUORUM"),
    ] {
        assert_eq!(
            text_get(port, &format!("/set_consistency/write/{level}")),
            "OK\r\n",
            "{level}"
        );
        assert_eq!(
            text_get(port, "/get_consistency"),
            format!("Read Consistency: DC_QUORUM\r\nWrite Consistency: {name}\r\n")
        );
    }
    let r = http_get(port, "/set_consistency/read/bogus");
    r.expect(400, "text/plain", "/set_consistency/read/bogus");
    assert!(
        r.text().contains("bogus") && r.text().contains("dc_quorum"),
        "400 body names the bad and the valid levels: {:?}",
        r.text()
    );
    assert_eq!(
        text_get(port, "/get_consistency"),
        "Read Consistency: DC_QUORUM\r\nWrite Consistency: DC_EACH_SAFE_QUORUM\r\n",
        "a rejected level changes nothing"
    );
    assert_eq!(text_get(port, "/set_consistency/read/DC_ONE"), "OK\r\n");
    assert_eq!(text_get(port, "/set_consistency/write/dc_one"), "OK\r\n");
    assert_eq!(
        text_get(port, "/get_consistency"),
        "Read Consistency: DC_ONE\r\nWrite Consistency: DC_ONE\r\n"
    );

    // Timeout factor.
    assert_eq!(text_get(port, "/get_timeout_factor"), "Timeout factor: 1\n");
    assert_eq!(text_get(port, "/set_timeout_factor/3"), "OK\r\n");
    assert_eq!(text_get(port, "/get_timeout_factor"), "Timeout factor: 3\n");
    assert_eq!(text_get(port, "/set_timeout_factor/1"), "OK\r\n");

    // Peers: an unknown name is refused, `all` is accepted.
    let r = http_get(port, "/peer/up/no-such-peer");
    r.expect(400, "text/plain", "/peer/up/no-such-peer");
    assert!(r.text().contains("no-such-peer"), "{:?}", r.text());
    assert_eq!(text_get(port, "/peer/reset/all"), "OK\r\n");

    // Read repairs.
    assert_eq!(
        text_get(port, "/read_repairs/enable"),
        "Read Repairs: ENABLED\r\n"
    );
    assert_eq!(
        text_get(port, "/read_repairs/disable"),
        "Read Repairs: DISABLED\r\n"
    );

    assert_eq!(text_get(port, "/state/get_state"), "State: NORMAL\n");

    // Unknown paths and methods.
    let r = http_get(port, "/no/such/endpoint");
    assert_eq!(r.status, 404, "unknown path: \"{}\"", show(&r.body));
    let r = http_get(port, "/pingx");
    assert_eq!(r.status, 404, "/pingx");

    let mut h = Http::connect(port);
    h.send(b"POST /state/standby HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let r = h.read_response();
    assert_eq!(r.status, 405, "POST: \"{}\"", show(&r.body));
    assert!(
        r.header("allow").is_some_and(|a| a.contains("GET")),
        "405 without Allow: GET: {:?}",
        r.headers
    );
    assert_eq!(
        text_get(port, "/state/get_state"),
        "State: NORMAL\n",
        "a POST must not run the command"
    );

    for raw in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /info HTTP/2.0\r\n\r\n",
        b"GET\r\n\r\n",
    ] {
        let mut h = Http::connect(port);
        h.send(raw);
        let r = h.read_response();
        assert_eq!(r.status, 400, "\"{}\" → \"{}\"", show(raw), show(&r.body));
        assert!(
            h.closed_by_server(),
            "connection open after a malformed request"
        );
    }

    // The node still serves clients after all of the above.
    let mut c = node.client();
    ok_reply(&mut c, &[b"SET", b"admin:k", b"v"]);
    assert_eq!(c.cmd(&[b"GET", b"admin:k"]), b"$1\r\nv\r\n");
}

#[test]
fn log_level_commands() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let wait_log = |line: &str| {
        let deadline = Instant::now() + DEADLINE;
        while !node.log().contains(line) {
            assert!(
                Instant::now() < deadline,
                "log never showed {line:?}:\n{}",
                node.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(text_get(port, "/setloglevel/7"), "OK\r\n");
    wait_log("set log level to 7");
    assert_eq!(text_get(port, "/loglevelup"), "OK\r\n");
    wait_log("up log level to 8");
    assert_eq!(text_get(port, "/logleveldown"), "OK\r\n");
    wait_log("down log level to 7");

    let r = http_get(port, "/setloglevel/abc");
    r.expect(400, "text/plain", "/setloglevel/abc");
    assert!(r.text().contains("abc"), "{:?}", r.text());
    // The level is still 7: one up gives 8 again (not 1).
    assert_eq!(text_get(port, "/loglevelup"), "OK\r\n");
    let ups = node.log().matches("up log level to 8").count();
    assert_eq!(ups, 2, "log:\n{}", node.log());
    assert!(!node.log().contains("up log level to 1"));

    assert_eq!(text_get(port, "/setloglevel/99"), "OK\r\n");
    wait_log("set log level to 11");
    assert_eq!(text_get(port, "/setloglevel/5"), "OK\r\n");
    wait_log("set log level to 5");
}

#[test]
fn keep_alive_and_pipelining() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();

    // Two requests, one after the other, on one connection.
    let mut h = Http::connect(port);
    let r = h.get("/ping");
    r.expect(200, "text/plain", "first /ping");
    assert_eq!(r.text(), "OK\r\n");
    assert_ne!(r.header("connection"), Some("close"));
    let r = h.get("/state/get_state");
    assert_eq!(r.text(), "State: NORMAL\n");
    let r = h.get("/info");
    r.expect(200, "application/json", "/info on a kept-alive connection");
    r.json();

    // Two requests in one write: two responses, in order.
    h.send(
        b"GET /get_timeout_factor HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(h.read_response().text(), "Timeout factor: 1\n");
    assert_eq!(h.read_response().text(), "OK\r\n");

    // HTTP/1.0 without keep-alive: one response, then the server closes.
    let mut h = Http::connect(port);
    h.send(b"GET /ping HTTP/1.0\r\n\r\n");
    assert_eq!(h.read_response().text(), "OK\r\n");
    assert!(h.closed_by_server(), "HTTP/1.0 connection left open");
}

#[test]
fn slow_http_client_does_not_block_the_node() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();

    // One client sends half a request, another nothing at all.
    let mut slow = Http::connect(port);
    slow.send(b"GET /state/get_state HTTP/1.1\r\nHost: x\r\n");
    let _silent = Http::connect(port);

    let started = Instant::now();
    let mut c = node.client();
    for i in 0..50 {
        let key = format!("slow:{i}");
        ok_reply(&mut c, &[b"SET", key.as_bytes(), b"v"]);
        assert_eq!(c.cmd(&[b"GET", key.as_bytes()]), b"$1\r\nv\r\n");
    }
    for _ in 0..5 {
        assert_eq!(text_get(port, "/ping"), "OK\r\n");
    }
    let i = info(port);
    assert!(i.pool("client_write_requests") >= 50);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "traffic took {took:?} with a stalled HTTP client"
    );

    // The slow request is still pending and is answered once complete.
    slow.send(b"\r\n");
    let r = slow.read_response();
    assert_eq!(r.text(), "State: NORMAL\n");
}

#[test]
fn node_states_gate_client_requests() {
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let mut c = node.client();
    let mut direct = redis.client();
    ok_reply(&mut c, &[b"SET", b"st:k", b"v0"]);

    assert_eq!(text_get(port, "/state/standby"), "OK\r\n");
    assert_eq!(text_get(port, "/state/get_state"), "State: STANDBY\n");
    assert_eq!(c.cmd(&[b"GET", b"st:k"]), ERR_STATE, "GET in STANDBY");
    assert_eq!(
        c.cmd(&[b"SET", b"st:k", b"standby"]),
        ERR_STATE,
        "SET in STANDBY"
    );
    assert_eq!(direct.cmd(&[b"GET", b"st:k"]), b"$2\r\nv0\r\n");

    for (state, name) in [("writes_only", "WRITES_ONLY"), ("resuming", "RESUMING")] {
        assert_eq!(text_get(port, &format!("/state/{state}")), "OK\r\n");
        assert_eq!(
            text_get(port, "/state/get_state"),
            format!("State: {name}\n")
        );
        let key = format!("st:{state}");
        let r = c.cmd(&[b"SET", key.as_bytes(), name.as_bytes()]);
        assert_eq!(r, b"+OK\r\n", "SET in {name}: \"{}\"", show(&r));
        assert_eq!(
            direct.cmd(&[b"GET", key.as_bytes()]),
            harness::bulk(name.as_bytes()),
            "the SET in {name} reached redis"
        );
        assert_eq!(c.cmd(&[b"GET", key.as_bytes()]), ERR_STATE, "GET in {name}");
    }

    assert_eq!(text_get(port, "/state/normal"), "OK\r\n");
    assert_eq!(text_get(port, "/state/get_state"), "State: NORMAL\n");
    assert_eq!(
        c.cmd(&[b"GET", b"st:writes_only"]),
        harness::bulk(b"WRITES_ONLY")
    );
    ok_reply(&mut c, &[b"SET", b"st:k", b"v1"]);
    assert_eq!(c.cmd(&[b"GET", b"st:k"]), b"$2\r\nv1\r\n");

    let r = http_get(port, "/state/sideways");
    assert_eq!(r.status, 400, "unknown state: \"{}\"", show(&r.body));
    assert_eq!(text_get(port, "/state/get_state"), "State: NORMAL\n");
}

/// Parses Prometheus text with `prometheus_client`; prints the families as
/// JSON: `[{"name", "type", "samples": [[name, labels, value], ...]}, ...]`.
const PROM_PARSE_PY: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
with open(sys.argv[1]) as f:
    text = f.read()
out = []
for fam in text_string_to_metric_families(text):
    out.append({"name": fam.name, "type": fam.type,
                "samples": [[s.name, s.labels, float(s.value)] for s in fam.samples]})
print(json.dumps(out))
"#;

/// The families of a `/metrics` body as parsed by `prometheus_client`.
fn parse_prometheus(text: &str) -> Vec<Value> {
    let (out, in_time) = run_with_deadline(
        Command::new("python3").args(["-c", "import prometheus_client.parser"]),
        DEADLINE,
    );
    assert!(
        in_time && out.status.success(),
        "the Python package prometheus_client is missing ({}); install it with \
         `python3 -m pip install prometheus_client` or {INSTALL_HINT}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let dir = TempDir::new("metrics");
    let path = dir.path().join("metrics.txt");
    fs::write(&path, text).expect("write metrics");
    let (out, in_time) = run_with_deadline(
        Command::new("python3")
            .args(["-c", PROM_PARSE_PY])
            .arg(&path),
        DEADLINE,
    );
    assert!(in_time, "the prometheus_client parser did not finish");
    assert!(
        out.status.success(),
        "prometheus_client rejected /metrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("parser output")
        .as_array()
        .expect("families")
        .clone()
}

fn family<'a>(families: &'a [Value], name: &str) -> &'a Value {
    families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("/metrics has no family {name}"))
}

/// The value of the sample `name` with exactly `labels`.
fn sample(fam: &Value, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    fam["samples"].as_array()?.iter().find_map(|s| {
        let l = s[1].as_object()?;
        let same = s[0] == name
            && l.len() == labels.len()
            && labels
                .iter()
                .all(|(k, v)| l.get(*k).is_some_and(|x| x == v));
        if same {
            s[2].as_f64()
        } else {
            None
        }
    })
}

#[test]
fn metrics_parse_as_prometheus_text() {
    const N: usize = 7;
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let server = format!("127.0.0.1:{}", redis.port());

    let r = http_get(port, "/metrics");
    r.expect(200, "text/plain", "/metrics");
    assert!(
        r.header("content-type")
            .is_some_and(|ct| ct.contains("version=0.0.4")),
        "{:?}",
        r.header("content-type")
    );
    let before = parse_prometheus(r.text());

    let mut c = node.client();
    for i in 0..N {
        let key = format!("prom:{i}");
        ok_reply(&mut c, &[b"SET", key.as_bytes(), b"x"]);
        assert_eq!(c.cmd(&[b"GET", key.as_bytes()]), b"$1\r\nx\r\n");
    }
    let r = http_get(port, "/metrics");
    let after = parse_prometheus(r.text());

    // prometheus_client names counter families without `_total`.
    let f = family(&after, "dynomite_client_read_requests");
    assert_eq!(f["type"], "counter");
    let reads_before = sample(
        family(&before, "dynomite_client_read_requests"),
        "dynomite_client_read_requests_total",
        &[],
    )
    .expect("client reads before");
    let reads_after = sample(f, "dynomite_client_read_requests_total", &[]).expect("reads");
    assert_eq!(reads_after - reads_before, N as f64);

    let f = family(&after, "dynomite_client_connections");
    assert_eq!(f["type"], "gauge");

    let f = family(&after, "dynomite_read_requests");
    assert_eq!(f["type"], "counter");
    let v = sample(f, "dynomite_read_requests_total", &[("server", &server)])
        .unwrap_or_else(|| panic!("no read_requests sample for server {server}: {f}"));
    assert!(v >= N as f64, "server read requests {v}");
    let f = family(&after, "dynomite_redis_req_set");
    assert_eq!(f["type"], "counter");
    assert!(sample(f, "dynomite_redis_req_set_total", &[("server", &server)]).unwrap() >= N as f64);

    let get = [("command", "get"), ("kind", "read")];
    let f = family(&after, "dynomite_requests");
    assert_eq!(f["type"], "counter");
    let gets_after = sample(f, "dynomite_requests_total", &get).expect("get/read sample");
    let gets_before = before
        .iter()
        .find(|f| f["name"] == "dynomite_requests")
        .and_then(|f| sample(f, "dynomite_requests_total", &get))
        .unwrap_or(0.0);
    assert_eq!(gets_after - gets_before, N as f64, "GETs counted");
    assert!(
        sample(
            f,
            "dynomite_requests_total",
            &[("command", "set"), ("kind", "write")]
        )
        .is_some_and(|v| v >= N as f64),
        "SETs counted as writes: {f}"
    );

    let f = family(&after, "dynomite_request_duration_seconds");
    assert_eq!(f["type"], "histogram");
    let samples = f["samples"].as_array().unwrap();
    let count = sample(
        f,
        "dynomite_request_duration_seconds_count",
        &[("command", "get")],
    )
    .expect("_count for get");
    assert!(count >= N as f64, "get count {count}");
    let sum = sample(
        f,
        "dynomite_request_duration_seconds_sum",
        &[("command", "get")],
    )
    .expect("_sum for get");
    assert!(sum > 0.0, "get latency sum {sum}");
    let inf = sample(
        f,
        "dynomite_request_duration_seconds_bucket",
        &[("command", "get"), ("le", "+Inf")],
    )
    .expect("+Inf bucket for get");
    assert_eq!(inf, count, "+Inf bucket equals _count");
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| s[0] == "dynomite_request_duration_seconds_bucket" && s[1]["command"] == "get")
        .map(|s| s[2].as_f64().unwrap())
        .collect();
    assert!(buckets.len() > 10, "get buckets: {}", buckets.len());
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "buckets are not cumulative"
    );
    let f = family(&after, "dynomite_client_latency_seconds");
    assert_eq!(f["type"], "histogram");
    assert!(sample(f, "dynomite_client_latency_seconds_count", &[]).unwrap() >= 2.0 * N as f64);
}

#[test]
fn curl_reads_the_endpoints() {
    require_program(
        "curl",
        &["--version"],
        "curl is not installed; install it (apt-get install curl) or run tests/clients/install.sh",
    );
    let redis = RedisServer::start();
    let node = Dynomite::start(&[redis.port()]);
    let port = node.stats_port();
    let curl = |args: &[&str]| {
        let (out, in_time) = run_with_deadline(
            Command::new("curl")
                .args(["-sS", "--max-time", "10"])
                .args(args),
            DEADLINE,
        );
        assert!(in_time, "curl {args:?} did not finish");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let base = format!("http://127.0.0.1:{port}");
    let body = curl(&[&format!("{base}/info")]);
    let v: Value = serde_json::from_str(&body).expect("/info through curl is JSON");
    assert_eq!(v["service"], "dynomite");
    assert!(v[POOL]["stats_count"].as_i64().is_some_and(|n| n >= 1));
    assert_eq!(curl(&[&format!("{base}/ping")]), "OK\r\n");
    assert_eq!(
        curl(&[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/nope")
        ]),
        "404"
    );
    assert_eq!(
        curl(&[
            "-X",
            "POST",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}/ping")
        ]),
        "405"
    );
    // curl reuses one connection for several URLs (keep-alive).
    let two = curl(&[&format!("{base}/ping"), &format!("{base}/state/get_state")]);
    assert_eq!(two, "OK\r\nState: NORMAL\n");
}

#[test]
fn describe_stats_matches_the_spec() {
    let (out, in_time) = run_with_deadline(Command::new(DYNOMITE_BIN).arg("-D"), DEADLINE);
    assert!(in_time, "dynomite -D did not finish");
    assert_eq!(out.status.code(), Some(0), "dynomite -D exit status");
    let text = String::from_utf8(out.stderr).expect("UTF-8");
    let mut want = format!(
        "This is dynomite-{}\n\npool stats:\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, desc) in POOL_COUNTERS {
        want.push_str(&format!("  {name:<20}\"{desc}\"\n"));
    }
    want.push_str("\nserver stats:\n");
    for (name, desc) in SERVER_COUNTERS {
        want.push_str(&format!("  {name:<20}\"{desc}\"\n"));
    }
    let got: Vec<&str> = text.lines().collect();
    let lines: Vec<&str> = want.lines().collect();
    assert_eq!(got.len(), 3 + 45 + 2 + 35, "number of -D lines:\n{text}");
    // Spot checks written out byte for byte.
    assert_eq!(
        got[0],
        format!("This is dynomite-{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(got[1], "");
    assert_eq!(got[2], "pool stats:");
    assert_eq!(
        got[3],
        "  client_eof          \"# eof on client connections\""
    );
    assert_eq!(
        got[9],
        "  client_non_quorum_w_responses\"# client non quorum write responses\""
    );
    assert_eq!(got[47], "  stats_count         \"# stats request\"");
    assert_eq!(got[48], "");
    assert_eq!(got[49], "server stats:");
    assert_eq!(
        got[53],
        "  server_ejected_at   \"timestamp when server was ejected in usec since epoch\""
    );
    assert_eq!(got[82], "  redis_req_sortedsets\"# Redis sortedsets\"");
    assert_eq!(got[83], "  redis_req_other     \"# Redis other\"");
    for (i, (g, w)) in got.iter().zip(lines.iter()).enumerate() {
        assert_eq!(g, w, "-D line {}", i + 1);
    }
    assert_eq!(text, want);
    assert!(out.stdout.is_empty(), "-D wrote to stdout");
}

#[test]
fn systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/dynomite.service");
    assert!(unit.is_file(), "{} missing", unit.display());
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed: contrib/dynomite.service not verified");
        return;
    }
    let (out, in_time) = run_with_deadline(
        Command::new("systemd-analyze").arg("verify").arg(&unit),
        Duration::from_secs(60),
    );
    assert!(in_time, "systemd-analyze verify did not finish");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // On a build machine the binary, its user and its man page are not
    // installed; those complaints are expected. Anything else (unknown
    // keys or sections, bad values, lines without '=') is a unit error.
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !(l.contains("is not executable")
                || l.contains("Command 'man ")
                || l.contains("Failed to resolve user")
                || l.contains("Failed to resolve group"))
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "systemd-analyze verify complained about the unit:\n{}",
        unexpected.join("\n")
    );
}
