//! The stats/admin listener's HTTP layer (dyn_stats.c `parse_request`,
//! `stats_http_rsp`, `stats_send_rsp`): request parsing, routing of the
//! admin paths, and response framing. Pure functions over bytes; the
//! reactor owns the sockets.
//!
//! ```text
//!  recv ─► parse_request(buf) ─► Partial: read more
//!                │              └► Bad: 400, close
//!                ▼
//!          Request { method, path, keep_alive, consumed }
//!                │  not GET/HEAD: 405
//!                ▼
//!          route(path) ─► Admin ─► (the node acts) ─► response(...)
//! ```
//!
//! Unlike the original (one request per connection, bare LF, always 200
//! with a JSON content type), this speaks well-formed HTTP/1.1 with
//! keep-alive and pipelining, answers 400/404/405 where due, and reports
//! bad admin arguments instead of ignoring them. Bodies of the text
//! endpoints keep the original bytes, as clients parse them.

use std::fmt::Write as _;

use crate::cluster::state::NodeState;

/// Longest request (head and body) accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Most request headers accepted.
const MAX_HEADERS: usize = 64;

/// Highest log level.
pub const LOG_LEVEL_MAX: u8 = 11;

/// Timeout factor range.
pub const TIMEOUT_FACTOR_MIN: u32 = 1;
/// Timeout factor range.
pub const TIMEOUT_FACTOR_MAX: u32 = 10;

/// Request method, as far as the listener cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET: run the command and send the body.
    Get,
    /// HEAD: as GET, without the body.
    Head,
    /// Anything else: 405.
    Other,
}

/// Outcome of [`parse_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpParse {
    /// The request is not complete yet: read more.
    Partial,
    /// Malformed or too large: answer 400 and close.
    Bad(&'static str),
    /// One complete request.
    Request {
        /// Its method.
        method: Method,
        /// Request target as sent (query string included).
        path: String,
        /// Whether the connection stays open after the reply.
        keep_alive: bool,
        /// Bytes taken from the buffer (head and body).
        consumed: usize,
    },
}

/// True if a comma-separated header value lists `token` (case-insensitive).
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Parses the first request in `buf`. Pipelined requests follow at
/// `consumed`. A body announced by Content-Length is consumed as well;
/// chunked bodies are refused.
pub fn parse_request(buf: &[u8]) -> HttpParse {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() > MAX_REQUEST_BYTES {
                return HttpParse::Bad("request too large");
            }
            return HttpParse::Partial;
        }
        Err(httparse::Error::TooManyHeaders) => return HttpParse::Bad("too many headers"),
        Err(_) => return HttpParse::Bad("malformed request"),
    };
    debug_assert!(head_len <= buf.len());
    if head_len > MAX_REQUEST_BYTES {
        return HttpParse::Bad("request too large");
    }
    let (Some(method), Some(path), Some(version)) = (req.method, req.path, req.version) else {
        return HttpParse::Bad("malformed request");
    };

    let mut keep_alive = version == 1;
    let mut content_length: Option<usize> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            if has_token(h.value, "close") {
                keep_alive = false;
            } else if has_token(h.value, "keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
            else {
                return HttpParse::Bad("bad Content-Length");
            };
            if content_length.is_some_and(|prev| prev != n) {
                return HttpParse::Bad("conflicting Content-Length");
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return HttpParse::Bad("request bodies must use Content-Length");
        }
    }

    let body_len = content_length.unwrap_or(0);
    if body_len > MAX_REQUEST_BYTES - head_len {
        return HttpParse::Bad("request too large");
    }
    let consumed = head_len + body_len;
    if buf.len() < consumed {
        return HttpParse::Partial;
    }

    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    HttpParse::Request {
        method,
        path: path.to_owned(),
        keep_alive,
        consumed,
    }
}

/// Node-wide consistency level: the configuration's type.
pub use crate::conf::Consistency as Level;

/// The states `/state/<s>` can set, by their path word.
fn settable_state(word: &str) -> Option<NodeState> {
    [
        ("standby", NodeState::Standby),
        ("writes_only", NodeState::WritesOnly),
        ("resuming", NodeState::Resuming),
        ("normal", NodeState::Normal),
    ]
    .into_iter()
    .find(|(w, _)| w.eq_ignore_ascii_case(word))
    .map(|(_, s)| s)
}

/// What `/peer/<verb>/<name>` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerVerb {
    /// Mark NORMAL.
    Up,
    /// Mark DOWN.
    Down,
    /// Mark RESET.
    Reset,
}

/// An admin command decoded from a request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admin {
    /// `/info` and `/`: the stats JSON.
    Info,
    /// `/help`.
    Help,
    /// `/ping`.
    Ping,
    /// `/cluster_describe`.
    ClusterDescribe,
    /// `/gossip`: what gossip knows of every node (JSON).
    Gossip,
    /// `/warmup/start`: copy this node's keys from another rack.
    WarmupStart,
    /// `/warmup/status`: the warm-up's progress (JSON).
    WarmupStatus,
    /// `/entropy/start`: compare this node's keys with another rack's.
    EntropyStart,
    /// `/entropy/status`: the anti-entropy run's progress (JSON).
    EntropyStatus,
    /// `/loglevelup`.
    LogLevelUp,
    /// `/logleveldown`.
    LogLevelDown,
    /// `/setloglevel/<n>`, clamped to 0..=11.
    SetLogLevel(u8),
    /// `/historeset`.
    HistoReset,
    /// `/get_consistency`.
    GetConsistency,
    /// `/set_consistency/<read|write>/<level>`.
    SetConsistency {
        /// True for the write level, false for read.
        write: bool,
        /// The new level.
        level: Level,
    },
    /// `/get_timeout_factor`.
    GetTimeoutFactor,
    /// `/set_timeout_factor/<n>`, clamped to 1..=10.
    SetTimeoutFactor(u32),
    /// `/peer/<up|down|reset>/<name>`; the name `all` resets every peer
    /// whatever the verb.
    Peer {
        /// What to do.
        verb: PeerVerb,
        /// Peer name, or `all`.
        name: String,
    },
    /// `/read_repairs/<enable|disable>`.
    ReadRepairs(bool),
    /// `/state/get_state`.
    GetState,
    /// `/state/<standby|writes_only|resuming|normal>`.
    SetState(NodeState),
    /// `/metrics`: Prometheus text.
    Metrics,
    /// Unknown path: 404.
    NotFound,
    /// Known command with a bad argument: 400 with this message.
    BadRequest(String),
}

/// Parses a decimal number, saturating on overflow; None if not all digits.
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    }))
}

/// Decodes an admin path. The query string, if any, is ignored.
pub fn route(path: &str) -> Admin {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match path {
        "/" | "/info" => return Admin::Info,
        "/help" => return Admin::Help,
        "/ping" => return Admin::Ping,
        "/cluster_describe" => return Admin::ClusterDescribe,
        "/gossip" => return Admin::Gossip,
        "/warmup/start" => return Admin::WarmupStart,
        "/warmup/status" => return Admin::WarmupStatus,
        "/entropy/start" => return Admin::EntropyStart,
        "/entropy/status" => return Admin::EntropyStatus,
        "/loglevelup" => return Admin::LogLevelUp,
        "/logleveldown" => return Admin::LogLevelDown,
        "/historeset" => return Admin::HistoReset,
        "/get_consistency" => return Admin::GetConsistency,
        "/get_timeout_factor" => return Admin::GetTimeoutFactor,
        "/metrics" => return Admin::Metrics,
        _ => {}
    }

    if path == "/setloglevel" {
        return Admin::BadRequest("missing log level: use /setloglevel/<0-11>".to_owned());
    }
    if let Some(arg) = path.strip_prefix("/setloglevel/") {
        return match parse_decimal(arg) {
            Some(n) => Admin::SetLogLevel(n.min(u64::from(LOG_LEVEL_MAX)) as u8),
            None => Admin::BadRequest(format!(
                "bad log level '{arg}': expected a number from 0 to {LOG_LEVEL_MAX}"
            )),
        };
    }

    if let Some(rest) = path.strip_prefix("/set_consistency/") {
        let (side, arg) = rest.split_once('/').unwrap_or((rest, ""));
        let write = match side {
            "read" => false,
            "write" => true,
            _ => {
                return Admin::BadRequest(format!(
                    "bad consistency target '{side}': expected read or write"
                ))
            }
        };
        return match Level::from_name(arg) {
            Some(level) => Admin::SetConsistency { write, level },
            None => Admin::BadRequest(format!(
                "unknown consistency level '{arg}': expected one of \
                 dc_one, dc_quorum, dc_safe_quorum, dc_each_safe_quorum"
            )),
        };
    }

    if let Some(arg) = path.strip_prefix("/set_timeout_factor/") {
        return match parse_decimal(arg) {
            Some(n) => {
                let n = n.clamp(u64::from(TIMEOUT_FACTOR_MIN), u64::from(TIMEOUT_FACTOR_MAX));
                Admin::SetTimeoutFactor(n as u32)
            }
            None => Admin::BadRequest(format!(
                "bad timeout factor '{arg}': expected a number from \
                 {TIMEOUT_FACTOR_MIN} to {TIMEOUT_FACTOR_MAX}"
            )),
        };
    }

    if let Some(rest) = path.strip_prefix("/peer/") {
        let (verb, name) = rest.split_once('/').unwrap_or((rest, ""));
        let verb = match verb {
            "up" => PeerVerb::Up,
            "down" => PeerVerb::Down,
            "reset" => PeerVerb::Reset,
            _ => {
                return Admin::BadRequest(format!(
                    "bad peer command '{verb}': expected up, down or reset"
                ))
            }
        };
        if name.is_empty() {
            return Admin::BadRequest(
                "missing peer name: use /peer/<up|down|reset>/<name|all>".to_owned(),
            );
        }
        return Admin::Peer {
            verb,
            name: name.to_owned(),
        };
    }

    if let Some(arg) = path.strip_prefix("/read_repairs/") {
        return match arg {
            "enable" => Admin::ReadRepairs(true),
            "disable" => Admin::ReadRepairs(false),
            _ => Admin::BadRequest(format!(
                "bad read repairs setting '{arg}': expected enable or disable"
            )),
        };
    }

    if let Some(arg) = path.strip_prefix("/state/") {
        if arg == "get_state" {
            return Admin::GetState;
        }
        return match settable_state(arg) {
            Some(s) => Admin::SetState(s),
            None => Admin::BadRequest(format!(
                "bad state '{arg}': expected get_state, standby, writes_only, resuming or normal"
            )),
        };
    }

    Admin::NotFound
}

/// Reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Content-Type of JSON bodies.
pub const CONTENT_TYPE_JSON: &str = "application/json; charset=utf-8";
/// Content-Type of text bodies.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

fn response_with(
    status: u16,
    content_type: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) -> Vec<u8> {
    debug_assert!((100..=999).contains(&status));
    debug_assert!(!content_type.contains(['\r', '\n']));
    let mut head = String::with_capacity(160);
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    for (name, value) in extra_headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = Vec::with_capacity(head.len() + if head_only { 0 } else { body.len() });
    out.extend_from_slice(head.as_bytes());
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// A complete HTTP/1.1 response. `head_only` (HEAD) keeps the headers,
/// Content-Length included, and drops the body.
pub fn response(
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    head_only: bool,
) -> Vec<u8> {
    response_with(status, content_type, &[], body, keep_alive, head_only)
}

/// 404 for an unknown path.
pub fn not_found(keep_alive: bool, head_only: bool) -> Vec<u8> {
    response(
        404,
        CONTENT_TYPE_TEXT,
        b"Not Found\n",
        keep_alive,
        head_only,
    )
}

/// 405 for a method other than GET and HEAD.
pub fn method_not_allowed(keep_alive: bool) -> Vec<u8> {
    response_with(
        405,
        CONTENT_TYPE_TEXT,
        &[("Allow", "GET, HEAD")],
        b"Method Not Allowed\n",
        keep_alive,
        false,
    )
}

/// 400 with `message` (CR and LF replaced) as the body.
pub fn bad_request(message: &str, keep_alive: bool, head_only: bool) -> Vec<u8> {
    let mut body: String = message
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    body.push('\n');
    response(
        400,
        CONTENT_TYPE_TEXT,
        body.as_bytes(),
        keep_alive,
        head_only,
    )
}

/// The `/help` body.
pub fn help_text() -> &'static str {
    "/info\n\
     /help\n\
     /ping\n\
     /cluster_describe\n\
     /setloglevel/<0-11>\n\
     /loglevelup\n\
     /logleveldown\n\
     /historeset\n\
     /get_consistency\n\
     /set_consistency/<read|write>/<dc_one|dc_quorum|dc_safe_quorum|dc_each_safe_quorum>\n\
     /get_timeout_factor\n\
     /set_timeout_factor/<1-10>\n\
     /peer/<up|down|reset>/<name|all>\n\
     /state/<get_state|standby|writes_only|normal|resuming>\n\
     /read_repairs/<enable|disable>\n\
     /gossip\n\
     /warmup/<start|status>\n\
     /entropy/<start|status>\n\
     /metrics\n\
     \n"
}

/// Body of the commands that only acknowledge.
pub const OK_BODY: &str = "OK\r\n";

/// The `/get_consistency` body.
pub fn consistency_body(read: Level, write: Level) -> String {
    format!(
        "Read Consistency: {}\r\nWrite Consistency: {}\r\n",
        read.name(),
        write.name()
    )
}

/// The `/get_timeout_factor` body.
pub fn timeout_factor_body(factor: u32) -> String {
    format!("Timeout factor: {factor}\n")
}

/// The `/state/get_state` body.
pub fn state_body(state: NodeState) -> String {
    format!("State: {}\n", state.name())
}

/// The `/read_repairs/...` body.
pub fn read_repairs_body(enabled: bool) -> &'static str {
    if enabled {
        "Read Repairs: ENABLED\r\n"
    } else {
        "Read Repairs: DISABLED\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, path: &str, keep_alive: bool, consumed: usize) -> HttpParse {
        HttpParse::Request {
            method,
            path: path.to_owned(),
            keep_alive,
            consumed,
        }
    }

    #[test]
    fn parse_table() {
        let cases: Vec<(&[u8], HttpParse)> = vec![
            (
                b"GET /info HTTP/1.1\r\n\r\n",
                req(Method::Get, "/info", true, 0),
            ),
            (
                b"GET /info HTTP/1.0\r\n\r\n",
                req(Method::Get, "/info", false, 0),
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                req(Method::Get, "/", true, 0),
            ),
            (
                b"GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n",
                req(Method::Get, "/", false, 0),
            ),
            (
                b"HEAD /ping HTTP/1.1\r\n\r\n",
                req(Method::Head, "/ping", true, 0),
            ),
            (
                b"POST /ping HTTP/1.1\r\n\r\n",
                req(Method::Other, "/ping", true, 0),
            ),
            (
                b"POST /ping HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
                req(Method::Other, "/ping", true, 0),
            ),
            (
                b"GET /x?y=1 HTTP/1.1\r\n\r\n",
                req(Method::Get, "/x?y=1", true, 0),
            ),
            (
                b"GET /info HTTP/1.1\n\n",
                req(Method::Get, "/info", true, 0),
            ),
            (b"", HttpParse::Partial),
            (b"GET /info HTT", HttpParse::Partial),
            (b"GET /info HTTP/1.1\r\nHost: x\r\n", HttpParse::Partial),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
                HttpParse::Partial,
            ),
            (
                b"GET /info HTTP/2.0\r\n\r\n",
                HttpParse::Bad("malformed request"),
            ),
            (b"GET\r\n\r\n", HttpParse::Bad("malformed request")),
            (
                b"GET /a b HTTP/1.1\r\n\r\n",
                HttpParse::Bad("malformed request"),
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
                HttpParse::Bad("bad Content-Length"),
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                HttpParse::Bad("bad Content-Length"),
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                HttpParse::Bad("conflicting Content-Length"),
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                HttpParse::Bad("request bodies must use Content-Length"),
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 70000\r\n\r\n",
                HttpParse::Bad("request too large"),
            ),
        ];
        for (input, mut want) in cases {
            // consumed 0 in the table stands for the whole input.
            if let HttpParse::Request { consumed, .. } = &mut want {
                if *consumed == 0 {
                    *consumed = input.len();
                }
            }
            assert_eq!(
                parse_request(input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn parse_too_large() {
        let mut big = b"GET /info HTTP/1.1\r\nX-Pad: ".to_vec();
        big.resize(MAX_REQUEST_BYTES + 1, b'a');
        assert_eq!(parse_request(&big), HttpParse::Bad("request too large"));
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse_request(&big), HttpParse::Bad("request too large"));

        let mut headers = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS + 1 {
            headers.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        headers.extend_from_slice(b"\r\n");
        assert_eq!(parse_request(&headers), HttpParse::Bad("too many headers"));
    }

    #[test]
    fn parse_pipelined_keep_alive() {
        let stream: &[u8] = b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n\
                              POST /info HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi\
                              GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut pos = 0;
        let mut got = Vec::new();
        while pos < stream.len() {
            match parse_request(&stream[pos..]) {
                HttpParse::Request {
                    method,
                    path,
                    keep_alive,
                    consumed,
                } => {
                    assert!(consumed > 0);
                    got.push((method, path, keep_alive));
                    pos += consumed;
                }
                other => panic!("at {pos}: {other:?}"),
            }
        }
        assert_eq!(pos, stream.len());
        assert_eq!(
            got,
            vec![
                (Method::Get, "/ping".to_owned(), true),
                (Method::Other, "/info".to_owned(), true),
                (Method::Get, "/metrics".to_owned(), false),
            ]
        );
    }

    #[test]
    fn parse_every_split_is_partial_until_complete() {
        let full: &[u8] =
            b"POST /state/normal HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";
        let oracle = parse_request(full);
        assert!(matches!(oracle, HttpParse::Request { consumed, .. } if consumed == full.len()));
        for cut in 0..full.len() {
            assert_eq!(
                parse_request(&full[..cut]),
                HttpParse::Partial,
                "cut at {cut}"
            );
        }
        // Extra bytes after a complete request are left for the next one.
        let mut more = full.to_vec();
        more.extend_from_slice(b"GET /");
        assert_eq!(parse_request(&more), oracle);
    }

    #[test]
    fn route_table() {
        use Admin::*;
        let cases: Vec<(&str, Admin)> = vec![
            ("/", Info),
            ("/info", Info),
            ("/info?pretty=1", Info),
            ("/help", Help),
            ("/ping", Ping),
            ("/cluster_describe", ClusterDescribe),
            ("/gossip", Gossip),
            ("/warmup/start", WarmupStart),
            ("/warmup/status", WarmupStatus),
            ("/entropy/start", EntropyStart),
            ("/entropy/status", EntropyStatus),
            ("/loglevelup", LogLevelUp),
            ("/logleveldown", LogLevelDown),
            ("/setloglevel/0", SetLogLevel(0)),
            ("/setloglevel/7", SetLogLevel(7)),
            ("/setloglevel/11", SetLogLevel(11)),
            ("/setloglevel/12", SetLogLevel(11)),
            ("/setloglevel/99999999999999999999999", SetLogLevel(11)),
            ("/historeset", HistoReset),
            ("/get_consistency", GetConsistency),
            (
                "/set_consistency/read/dc_one",
                SetConsistency {
                    write: false,
                    level: Level::DcOne,
                },
            ),
            (
                "/set_consistency/write/DC_QUORUM",
                SetConsistency {
                    write: true,
                    level: Level::DcQuorum,
                },
            ),
            (
                "/set_consistency/read/Dc_Safe_Quorum",
                SetConsistency {
                    write: false,
                    level: Level::DcSafeQuorum,
                },
            ),
            (
                "/set_consistency/write/dc_each_safe_quorum",
                SetConsistency {
                    write: true,
                    level: Level::DcEachSafeQuorum,
                },
            ),
            ("/get_timeout_factor", GetTimeoutFactor),
            ("/set_timeout_factor/0", SetTimeoutFactor(1)),
            ("/set_timeout_factor/1", SetTimeoutFactor(1)),
            ("/set_timeout_factor/5", SetTimeoutFactor(5)),
            ("/set_timeout_factor/10", SetTimeoutFactor(10)),
            ("/set_timeout_factor/400", SetTimeoutFactor(10)),
            (
                "/peer/up/127.0.0.1:8101",
                Peer {
                    verb: PeerVerb::Up,
                    name: "127.0.0.1:8101".to_owned(),
                },
            ),
            (
                "/peer/down/node2",
                Peer {
                    verb: PeerVerb::Down,
                    name: "node2".to_owned(),
                },
            ),
            (
                "/peer/reset/all",
                Peer {
                    verb: PeerVerb::Reset,
                    name: "all".to_owned(),
                },
            ),
            ("/read_repairs/enable", ReadRepairs(true)),
            ("/read_repairs/disable", ReadRepairs(false)),
            ("/state/get_state", GetState),
            ("/state/standby", SetState(NodeState::Standby)),
            ("/state/writes_only", SetState(NodeState::WritesOnly)),
            ("/state/resuming", SetState(NodeState::Resuming)),
            ("/state/normal", SetState(NodeState::Normal)),
            ("/metrics", Metrics),
            ("/nope", NotFound),
            ("", NotFound),
            ("/info/", NotFound),
            ("/INFO", NotFound),
            ("/pingx", NotFound),
            ("/peer", NotFound),
            ("/state", NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(route(path), want, "{path}");
        }
    }

    #[test]
    fn route_bad_arguments() {
        let cases: [(&str, &str); 14] = [
            ("/setloglevel", "missing log level"),
            ("/setloglevel/", "bad log level ''"),
            ("/setloglevel/abc", "bad log level 'abc'"),
            ("/setloglevel/-1", "bad log level '-1'"),
            ("/set_consistency/read/dc_two", "dc_each_safe_quorum"),
            (
                "/set_consistency/read/dc_one_more",
                "unknown consistency level",
            ),
            ("/set_consistency/read", "unknown consistency level ''"),
            ("/set_consistency/both/dc_one", "expected read or write"),
            ("/set_timeout_factor/x", "bad timeout factor 'x'"),
            ("/set_timeout_factor/", "bad timeout factor"),
            ("/peer/sideways/n1", "expected up, down or reset"),
            ("/peer/up/", "missing peer name"),
            ("/read_repairs/maybe", "expected enable or disable"),
            ("/state/joining", "bad state 'joining'"),
        ];
        for (path, needle) in cases {
            match route(path) {
                Admin::BadRequest(msg) => {
                    assert!(msg.contains(needle), "{path}: {msg}");
                    assert!(!msg.contains(['\r', '\n']), "{path}: {msg}");
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        // The message names every valid level.
        let Admin::BadRequest(msg) = route("/set_consistency/write/x") else {
            panic!("not a bad request");
        };
        for (l, _) in Level::ALL {
            assert!(msg.contains(&l.name().to_ascii_lowercase()), "{msg}");
        }
    }

    #[test]
    fn levels() {
        for (l, _) in Level::ALL {
            assert_eq!(Level::from_name(l.name()), Some(l));
            assert_eq!(Level::from_name(&l.name().to_ascii_lowercase()), Some(l));
        }
        assert_eq!(Level::from_name("dc_"), None);
    }

    #[test]
    fn responses() {
        let r = response(200, CONTENT_TYPE_TEXT, b"OK\r\n", true, false);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Length: 4\r\nConnection: keep-alive\r\n\r\nOK\r\n"
        );
        let r = response(200, CONTENT_TYPE_JSON, b"{}", false, true);
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n\
              Content-Length: 2\r\nConnection: close\r\n\r\n"
        );
        let r = not_found(false, false);
        assert!(r.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(r.ends_with(b"Connection: close\r\n\r\nNot Found\n"));
        let r = method_not_allowed(true);
        assert!(r.starts_with(b"HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(r.windows(17).any(|w| w == b"Allow: GET, HEAD\r"));
        let r = bad_request("bad\r\nthing", false, false);
        assert!(r.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
        assert!(r.ends_with(b"\r\n\r\nbad  thing\n"));

        // Every response parses back as a well-formed HTTP/1.1 response
        // whose Content-Length matches the body.
        for (status, body, head_only) in [
            (200u16, &b"hello"[..], false),
            (404, b"", false),
            (400, b"x", true),
            (503, b"down", false),
        ] {
            let raw = response(status, CONTENT_TYPE_TEXT, body, true, head_only);
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut resp = httparse::Response::new(&mut headers);
            let httparse::Status::Complete(n) = resp.parse(&raw).expect("valid") else {
                panic!("incomplete response");
            };
            assert_eq!(resp.code, Some(status));
            assert_eq!(resp.version, Some(1));
            let cl = resp
                .headers
                .iter()
                .find(|h| h.name == "Content-Length")
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .unwrap()
                        .parse::<usize>()
                        .unwrap()
                })
                .unwrap();
            assert_eq!(cl, body.len());
            let sent = if head_only { 0 } else { body.len() };
            assert_eq!(raw.len() - n, sent);
            // No bare LF in the head.
            let head = &raw[..n];
            for (i, &b) in head.iter().enumerate() {
                if b == b'\n' {
                    assert_eq!(head[i - 1], b'\r');
                }
            }
            assert!(!String::from_utf8_lossy(head).contains(" \r\n"));
        }
    }

    #[test]
    fn text_bodies() {
        assert_eq!(OK_BODY, "OK\r\n");
        assert_eq!(
            consistency_body(Level::DcOne, Level::DcSafeQuorum),
            "Read Consistency: DC_ONE\r\nWrite Consistency: DC_SAFE_QUORUM\r\n"
        );
        assert_eq!(timeout_factor_body(3), "Timeout factor: 3\n");
        assert_eq!(state_body(NodeState::Normal), "State: NORMAL\n");
        assert_eq!(state_body(NodeState::WritesOnly), "State: WRITES_ONLY\n");
        assert_eq!(read_repairs_body(true), "Read Repairs: ENABLED\r\n");
        assert_eq!(read_repairs_body(false), "Read Repairs: DISABLED\r\n");
    }

    #[test]
    fn help_lists_every_endpoint() {
        let help = help_text();
        assert!(help.starts_with("/info\n/help\n/ping\n/cluster_describe\n"));
        assert!(help.ends_with("/metrics\n\n"));
        for line in help.lines().filter(|l| !l.is_empty()) {
            assert!(line.starts_with('/'), "{line}");
            // Each listed path, with its first alternative filled in, routes.
            let example: String = line
                .split('/')
                .map(|seg| {
                    let seg = seg.trim_start_matches('<').trim_end_matches('>');
                    let seg = seg.split('|').next().unwrap_or(seg);
                    match seg {
                        "0-11" => "3",
                        "1-10" => "2",
                        s => s,
                    }
                    .to_owned()
                })
                .collect::<Vec<_>>()
                .join("/");
            let r = route(&example);
            assert!(
                !matches!(r, Admin::NotFound | Admin::BadRequest(_)),
                "{example}: {r:?}"
            );
        }
    }
}
