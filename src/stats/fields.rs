//! Counter tables (the `STATS_POOL_CODEC`/`STATS_SERVER_CODEC` macros of
//! dyn_stats.h): the pool and datastore counter structs, each field's kind,
//! `-D` description and Prometheus help, one line per counter, and the
//! Redis command classes of the `redis_req_*` counters.
//!
//! ```text
//!  stats_struct! { PoolStats, POOL_FIELDS, ...; client_eof, Counter, "desc", "help"; ... }
//!      ├─► struct PoolStats { client_eof: u64, ... }
//!      ├─► POOL_FIELDS: [FieldDesc; N]        (name, kind, desc, help)
//!      └─► PoolStats::fields() -> [(name, value); N], in /info order
//! ```

use std::fmt::Write as _;

/// How a counter behaves over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Cumulative since start, never decreases.
    Counter,
    /// Current value.
    Gauge,
    /// A point in time (milliseconds since the epoch), replaced when it changes.
    Timestamp,
}

impl Kind {
    /// The one-letter type used in the spec tables (C, G, T).
    pub fn letter(self) -> char {
        match self {
            Kind::Counter => 'C',
            Kind::Gauge => 'G',
            Kind::Timestamp => 'T',
        }
    }
}

/// Static description of one counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    /// Name as it appears in `/info` and `-D`.
    pub name: &'static str,
    /// Counter, gauge or timestamp.
    pub kind: Kind,
    /// The exact `-D` description (typos of the original kept).
    pub desc: &'static str,
    /// What the value really means; used for Prometheus `# HELP`.
    pub help: &'static str,
}

/// Declares a counter struct, its description table and its ordered view.
macro_rules! stats_struct {
    (
        $(#[$meta:meta])*
        $name:ident, $table:ident, $count:ident;
        $( $field:ident, $kind:ident, $desc:literal, $help:literal; )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $(
                #[doc = $help]
                pub $field: u64,
            )*
        }

        #[doc = concat!("Number of counters in [`", stringify!($name), "`].")]
        pub const $count: usize = [$(stringify!($field)),*].len();

        #[doc = concat!("Description of every counter of [`", stringify!($name),
                        "`], in `/info` order.")]
        pub const $table: [FieldDesc; $count] = [
            $(
                FieldDesc {
                    name: stringify!($field),
                    kind: Kind::$kind,
                    desc: $desc,
                    help: $help,
                },
            )*
        ];

        impl $name {
            /// Every counter as (name, value), in `/info` order.
            pub fn fields(&self) -> [(&'static str, u64); $count] {
                [$( (stringify!($field), self.$field), )*]
            }
        }
    };
}

stats_struct! {
    /// Pool counters (spec §5.1), in `/info` order.
    PoolStats, POOL_FIELDS, POOL_FIELD_COUNT;
    client_eof, Counter, "# eof on client connections",
        "Client connections closed by the client (EOF).";
    client_err, Counter, "# errors on client connections",
        "Client connections closed for any other reason.";
    client_connections, Gauge, "# active client connections",
        "Open client connections.";
    client_read_requests, Counter, "# client read requests",
        "Client requests classified as reads, per fragment, PING excluded.";
    client_write_requests, Counter, "# client write responses",
        "Client requests classified as writes, per fragment.";
    client_dropped_requests, Counter, "# client dropped requests",
        "Requests still outstanding when their client connection closed.";
    client_non_quorum_w_responses, Counter, "# client non quorum write responses",
        "Write requests whose quorum could not be formed.";
    client_non_quorum_r_responses, Counter, "# client non quorum read responses",
        "Read requests whose quorum could not be formed.";
    server_ejects, Counter, "# times backend server was ejected",
        "Datastore connection failures.";
    dnode_client_eof, Counter, "# eof on dnode client connections",
        "Inbound peer connections closed by EOF.";
    dnode_client_err, Counter, "# errors on dnode client connections",
        "Inbound peer connections closed on error.";
    dnode_client_connections, Gauge, "# active dnode client connections",
        "Open inbound peer connections.";
    dnode_client_in_queue, Gauge, "# dnode client requests in incoming queue",
        "Peer requests received and not yet forwarded.";
    dnode_client_in_queue_bytes, Gauge, "current dnode client request bytes in incoming queue",
        "Bytes of peer requests received and not yet forwarded.";
    dnode_client_out_queue, Gauge, "# dnode client requests in outgoing queue",
        "Peer requests awaiting a reply from this node.";
    dnode_client_out_queue_bytes, Gauge, "current dnode client request bytes in outgoing queue",
        "Bytes of peer requests awaiting a reply from this node.";
    peer_dropped_requests, Counter, "# local dc peer dropped requests",
        "Requests lost when a same-DC peer connection closed.";
    peer_timedout_requests, Counter, "# local dc peer timedout requests",
        "Requests to same-DC peers that timed out.";
    remote_peer_dropped_requests, Counter, "# remote dc peer dropped requests",
        "Requests to remote DCs lost: connection closed or no rack reachable.";
    remote_peer_timedout_requests, Counter, "# remote dc peer timedout requests",
        "Requests to remote-DC peers that timed out.";
    remote_peer_failover_requests, Counter, "# remote dc peer failover requests",
        "Remote-DC requests sent to a fallback rack.";
    peer_eof, Counter, "# eof on peer connections",
        "Outbound peer connections closed by EOF.";
    peer_err, Counter, "# errors on peer connections",
        "Outbound peer connections closed on error, timeouts excluded.";
    peer_timedout, Counter, "# timeouts on local dc peer connections",
        "Same-DC peer connections closed by a timeout.";
    remote_peer_timedout, Counter, "# timeouts on remote dc peer connections",
        "Remote-DC peer connections closed by a timeout.";
    peer_connections, Gauge, "# active peer connections",
        "Established outbound peer connections.";
    peer_forward_error, Gauge, "# times we encountered a peer forwarding error",
        "Error replies this node sent to peers.";
    peer_requests, Counter, "# peer requests",
        "Requests forwarded to peers.";
    peer_request_bytes, Counter, "total peer request bytes",
        "Bytes of requests forwarded to peers.";
    peer_responses, Counter, "# peer respones",
        "Replies received from peers.";
    peer_response_bytes, Counter, "total peer response bytes",
        "Bytes of replies received from peers.";
    peer_ejected_at, Timestamp, "timestamp when peer was ejected",
        "Time of the last peer connection failure, milliseconds since the epoch.";
    peer_ejects, Counter, "# times a peer was ejected",
        "Peer connection failures.";
    peer_in_queue, Gauge, "# local dc peer requests in incoming queue",
        "Requests queued to same-DC peers, not yet written.";
    remote_peer_in_queue, Gauge, "# remote dc peer requests in incoming queue",
        "Requests queued to remote-DC peers, not yet written.";
    peer_in_queue_bytes, Gauge, "current peer request bytes in incoming queue",
        "Bytes of requests queued to same-DC peers, not yet written.";
    remote_peer_in_queue_bytes, Gauge, "current peer request bytes in incoming queue to remote DC",
        "Bytes of requests queued to remote-DC peers, not yet written.";
    peer_out_queue, Gauge, "# local dc peer requests in outgoing queue",
        "Requests written to same-DC peers, awaiting a reply.";
    remote_peer_out_queue, Gauge, "# remote dc peer requests in outgoing queue",
        "Requests written to remote-DC peers, awaiting a reply.";
    peer_out_queue_bytes, Gauge, "current peer request bytes in outgoing queue",
        "Bytes of requests written to same-DC peers, awaiting a reply.";
    remote_peer_out_queue_bytes, Gauge, "current peer request bytes in outgoing queue to remote DC",
        "Bytes of requests written to remote-DC peers, awaiting a reply.";
    peer_mismatch_requests, Counter, "current dnode peer mismatched messages",
        "Peer replies whose id did not match the expected request.";
    forward_error, Counter, "# times we encountered a forwarding error",
        "Error replies sent to clients, generated here or passed through.";
    fragments, Counter, "# fragments created from a multi-vector request",
        "Sub-requests created by splitting multi-key requests.";
    stats_count, Counter, "# stats request",
        "HTTP requests served by the stats listener.";
}

stats_struct! {
    /// Datastore counters of one server (spec §5.2), in `/info` order.
    ServerStats, SERVER_FIELDS, SERVER_FIELD_COUNT;
    server_eof, Counter, "# eof on server connections",
        "Datastore connections closed by the datastore.";
    server_err, Counter, "# errors on server connections",
        "Datastore connections closed on error.";
    server_timedout, Counter, "# timeouts on server connections",
        "Datastore connections closed because a request timed out.";
    server_ejected_at, Timestamp, "timestamp when server was ejected in usec since epoch",
        "Time of the last datastore connection failure, milliseconds since the epoch.";
    server_dropped_requests, Counter, "# server dropped requests",
        "Requests lost when a datastore connection closed.";
    server_timedout_requests, Counter, "# server timedout requests",
        "Datastore requests that timed out.";
    read_requests, Counter, "# read requests",
        "Read requests written to the datastore.";
    read_request_bytes, Counter, "total read request bytes",
        "Bytes of read requests written to the datastore.";
    write_requests, Counter, "# write requests",
        "Write requests written to the datastore.";
    write_request_bytes, Counter, "total write request bytes",
        "Bytes of write requests written to the datastore.";
    read_responses, Counter, "# read respones",
        "Datastore replies to read requests.";
    read_response_bytes, Counter, "total read response bytes",
        "Bytes of datastore replies to read requests.";
    write_responses, Counter, "# write respones",
        "Datastore replies to write requests.";
    write_response_bytes, Counter, "total write response bytes",
        "Bytes of datastore replies to write requests.";
    in_queue, Gauge, "# requests in incoming queue",
        "Requests queued for the datastore, not yet written.";
    in_queue_bytes, Gauge, "current request bytes in incoming queue",
        "Bytes of requests queued for the datastore, not yet written.";
    out_queue, Gauge, "# requests in outgoing queue",
        "Requests written to the datastore, awaiting a reply.";
    out_queue_bytes, Gauge, "current request bytes in outgoing queue",
        "Bytes of requests written to the datastore, awaiting a reply.";
    redis_req_get, Counter, "# Redis get",
        "Redis GET requests.";
    redis_req_set, Counter, "# Redis set",
        "Redis SET requests.";
    redis_req_del, Counter, "# Redis del",
        "Redis DEL requests.";
    redis_req_incr_decr, Counter, "# Redis incr or decr",
        "Redis INCR and DECR requests.";
    redis_req_keys, Counter, "# Redis keys",
        "Redis KEYS requests.";
    redis_req_mget, Counter, "# Redis mget",
        "Redis MGET requests.";
    redis_req_scan, Counter, "# Redis scan",
        "Redis SCAN requests.";
    redis_req_sort, Counter, "# Redis sort",
        "Redis SORT requests.";
    redis_req_lreqm, Counter, "# Redis lreqm",
        "Redis LREM requests (also counted in lists).";
    redis_req_sunion, Counter, "# Redis sunion",
        "Redis SUNION requests (also counted in sets).";
    redis_req_ping, Counter, "# Redis ping",
        "Redis PING requests.";
    redis_req_lists, Counter, "# Redis lists",
        "Redis LREM, LRANGE, LSET, LTRIM, LINDEX and LPUSHX requests.";
    redis_req_sets, Counter, "# Redis sets",
        "Redis set-type requests (SADD, SREM, SDIFF, SINTER, SUNION and their STORE forms, SSCAN).";
    redis_req_hashes, Counter, "# Redis hashes",
        "Redis HINCRBY, HINCRBYFLOAT, HSET and HSETNX requests.";
    redis_req_sortedsets, Counter, "# Redis sortedsets",
        "Redis sorted-set requests (ZADD, ZRANGE, ZREM, ZCOUNT and the like).";
    redis_req_other, Counter, "# Redis other",
        "Every other Redis request.";
    server_auth_failures, Counter, "# datastore authentication failures",
        "Datastore connections closed because the datastore refused redis_auth (or the SELECT of redis_db).";
}

const _: () = assert!(POOL_FIELD_COUNT == 45);
const _: () = assert!(SERVER_FIELD_COUNT == 35);

/// Set-type commands counted in `redis_req_sets`.
const REDIS_SET_TYPE: [&str; 9] = [
    "sadd",
    "sdiff",
    "sdiffstore",
    "sinter",
    "sinterstore",
    "srem",
    "sunion",
    "sunionstore",
    "sscan",
];
/// List commands counted in `redis_req_lists`.
const REDIS_LIST: [&str; 6] = ["lrem", "lrange", "lset", "ltrim", "lindex", "lpushx"];
/// Hash commands counted in `redis_req_hashes`.
const REDIS_HASH: [&str; 4] = ["hincrby", "hincrbyfloat", "hset", "hsetnx"];
/// Sorted-set commands counted in `redis_req_sortedsets`.
const REDIS_SORTED_SET: [&str; 17] = [
    "zadd",
    "zinterstore",
    "zrange",
    "zrangebyscore",
    "zrem",
    "zrevrange",
    "zrevrangebyscore",
    "zunionstore",
    "zscan",
    "zcount",
    "zincrby",
    "zlexcount",
    "zrangebylex",
    "zremrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zrevrangebylex",
];

fn is_one_of(cmd: &str, set: &[&str]) -> bool {
    set.iter().any(|c| c.eq_ignore_ascii_case(cmd))
}

impl ServerStats {
    /// Counts one Redis request written to the datastore in its
    /// `redis_req_*` counters. `redis_req_set` is SET alone; the set-type
    /// commands go to `redis_req_sets` (the original never updated it).
    pub fn count_redis_command(&mut self, cmd: &str) {
        let is = |name: &str| cmd.eq_ignore_ascii_case(name);
        if is("get") {
            self.redis_req_get += 1;
        } else if is("set") {
            self.redis_req_set += 1;
        } else if is("del") {
            self.redis_req_del += 1;
        } else if is("incr") || is("decr") {
            self.redis_req_incr_decr += 1;
        } else if is("keys") {
            self.redis_req_keys += 1;
        } else if is("mget") {
            self.redis_req_mget += 1;
        } else if is("scan") {
            self.redis_req_scan += 1;
        } else if is("sort") {
            self.redis_req_sort += 1;
        } else if is("ping") {
            self.redis_req_ping += 1;
        } else if is_one_of(cmd, &REDIS_LIST) {
            if is("lrem") {
                self.redis_req_lreqm += 1;
            }
            self.redis_req_lists += 1;
        } else if is_one_of(cmd, &REDIS_SET_TYPE) {
            if is("sunion") {
                self.redis_req_sunion += 1;
            }
            self.redis_req_sets += 1;
        } else if is_one_of(cmd, &REDIS_HASH) {
            self.redis_req_hashes += 1;
        } else if is_one_of(cmd, &REDIS_SORTED_SET) {
            self.redis_req_sortedsets += 1;
        } else {
            self.redis_req_other += 1;
        }
    }
}

/// The `-D` text that follows the `This is dynomite-<version>` line and the
/// empty line after it: every pool counter, then every server counter.
pub fn describe() -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("pool stats:\n");
    for f in POOL_FIELDS.iter() {
        let _ = writeln!(out, "  {:<20}\"{}\"", f.name, f.desc);
    }
    out.push_str("\nserver stats:\n");
    for f in SERVER_FIELDS.iter() {
        let _ = writeln!(out, "  {:<20}\"{}\"", f.name, f.desc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_text() {
        let text = describe();
        assert!(text
            .starts_with("pool stats:\n  client_eof          \"# eof on client connections\"\n"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 45 + 1 + 1 + 35);
        let expect = [
            "  client_non_quorum_w_responses\"# client non quorum write responses\"",
            "  dnode_client_in_queue_bytes\"current dnode client request bytes in incoming queue\"",
            "  peer_responses      \"# peer respones\"",
            "  stats_count         \"# stats request\"",
            "",
            "server stats:",
            "  server_ejected_at   \"timestamp when server was ejected in usec since epoch\"",
            "  redis_req_other     \"# Redis other\"",
        ];
        for e in expect {
            assert!(lines.contains(&e), "missing line {e:?}");
        }
        assert_eq!(lines[46], "");
        assert_eq!(lines[47], "server stats:");
        assert!(text.ends_with("\"# datastore authentication failures\"\n"));
    }

    #[test]
    fn field_tables_match_structs() {
        let pool = PoolStats::default().fields();
        for (d, (n, _)) in POOL_FIELDS.iter().zip(pool.iter()) {
            assert_eq!(d.name, *n);
        }
        let server = ServerStats::default().fields();
        for (d, (n, _)) in SERVER_FIELDS.iter().zip(server.iter()) {
            assert_eq!(d.name, *n);
        }
        let kinds: String = POOL_FIELDS.iter().map(|f| f.kind.letter()).collect();
        assert_eq!(kinds, "CCGCCCCCCCCGGGGGCCCCCCCCCGGCCCCTCGGGGGGGGCCCC");
        let kinds: String = SERVER_FIELDS.iter().map(|f| f.kind.letter()).collect();
        assert_eq!(kinds, "CCCTCCCCCCCCCCGGGGCCCCCCCCCCCCCCCCC");
        assert_eq!(POOL_FIELDS[0].name, "client_eof");
        assert_eq!(POOL_FIELDS[44].name, "stats_count");
        assert_eq!(SERVER_FIELDS[0].name, "server_eof");
        assert_eq!(SERVER_FIELDS[33].name, "redis_req_other");
        assert_eq!(SERVER_FIELDS[34].name, "server_auth_failures");
    }

    #[test]
    fn redis_command_classes() {
        let cases: [(&str, &[&str]); 12] = [
            ("GET", &["redis_req_get"]),
            ("set", &["redis_req_set"]),
            ("setex", &["redis_req_other"]),
            ("incr", &["redis_req_incr_decr"]),
            ("incrby", &["redis_req_other"]),
            ("lrem", &["redis_req_lreqm", "redis_req_lists"]),
            ("lpush", &["redis_req_other"]),
            ("sunion", &["redis_req_sunion", "redis_req_sets"]),
            ("sadd", &["redis_req_sets"]),
            ("hset", &["redis_req_hashes"]),
            ("zrangebylex", &["redis_req_sortedsets"]),
            ("ping", &["redis_req_ping"]),
        ];
        for (cmd, counters) in cases {
            let mut st = ServerStats::default();
            st.count_redis_command(cmd);
            for (name, value) in st.fields() {
                let want = u64::from(counters.contains(&name));
                assert_eq!(value, want, "{cmd}: {name}");
            }
        }
    }
}
