//! Node statistics (dyn_stats.c, dyn_histogram.c): the pool and datastore
//! counters, the latency/size/queue histograms, and the three renderings
//! served by the stats listener: `/info` JSON, `/cluster_describe` JSON and
//! Prometheus text for `/metrics`; plus the `-D` description.
//!
//! ```text
//!  event loop ──count──► Stats { pool, servers, histograms, by_command, by_peer, by_dc }
//!                          │  maybe_reset(now): histograms emptied every 5 min
//!                          │                    and after /historeset
//!                          ├─► render_info()        /info, fixed field order
//!                          ├─► render_prometheus()  /metrics
//!                          └─► describe()           -D
//! ```
//!
//! The original keeps three copies (current, shadow, sum) because a separate
//! thread serves HTTP. Here the reactor owns one `Stats` and serves the
//! listener itself, so values are published live: no swap, no fold, no lag.
//! Gauges are plain values set by the caller, not sums of deltas.
//!
//! This module is pure: it never touches a socket, a thread or a global.

pub mod admin;
pub mod http;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

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
}

const _: () = assert!(POOL_FIELD_COUNT == 45);
const _: () = assert!(SERVER_FIELD_COUNT == 34);

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

// ---------------------------------------------------------------------------
// Histogram (dyn_histogram.c)
// ---------------------------------------------------------------------------

/// Number of histogram buckets.
pub const HISTO_BUCKETS: usize = 94;

/// Lower bound of each bucket: 1, then ×1.2 rounded down, +1 when that
/// would not grow. Integer arithmetic gives the same bounds as the
/// original's floating point.
pub const HISTO_BOUNDS: [u64; HISTO_BUCKETS] = histo_bounds();

const fn histo_bounds() -> [u64; HISTO_BUCKETS] {
    let mut bounds = [0u64; HISTO_BUCKETS];
    bounds[0] = 1;
    let mut i = 1;
    while i < HISTO_BUCKETS {
        let last = bounds[i - 1];
        let next = last * 6 / 5;
        bounds[i] = if next == last { next + 1 } else { next };
        i += 1;
    }
    bounds
}

const _: () = assert!(HISTO_BOUNDS[0] == 1);
const _: () = assert!(HISTO_BOUNDS[HISTO_BUCKETS - 1] == 36_157_192);

/// A fixed-bucket histogram of non-negative integer samples (µs, bytes or
/// queue depths), after Cassandra's EstimatedHistogram as the original.
///
/// A sample goes to the bucket with the largest lower bound ≤ the sample;
/// 0 goes to the first bucket, anything from the last bound up to the last
/// bucket (the original put values above the last bound in the
/// second-to-last bucket, which understated them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Histogram {
    /// Sample count of each bucket.
    buckets: [u64; HISTO_BUCKETS],
    /// Number of samples since the last reset.
    count: u64,
    /// Exact sum of the samples since the last reset (saturating).
    sum: u64,
    /// Largest sample since the last reset.
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

/// The figures `/info` shows for one histogram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistoSummary {
    /// Largest sample.
    pub max: u64,
    /// 99.9th percentile (bucket lower bound).
    pub p999: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 95th percentile.
    pub p95: u64,
    /// Mean from the bucket lower bounds, rounded up.
    pub mean: u64,
}

impl Histogram {
    /// An empty histogram.
    pub const fn new() -> Self {
        Histogram {
            buckets: [0; HISTO_BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Index of the bucket a value falls in.
    pub fn bucket_index(value: u64) -> usize {
        let above = HISTO_BOUNDS.partition_point(|&b| b <= value);
        let index = above.saturating_sub(1);
        debug_assert!(index < HISTO_BUCKETS);
        index
    }

    /// Adds one sample.
    pub fn record(&mut self, value: u64) {
        let index = Self::bucket_index(value);
        self.buckets[index] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(value);
        self.max = self.max.max(value);
    }

    /// Empties the histogram.
    pub fn reset(&mut self) {
        *self = Histogram::new();
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Exact sum of the samples.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Largest sample, 0 when empty.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Per-bucket sample counts; bucket `i` covers
    /// `HISTO_BOUNDS[i] ..= HISTO_BOUNDS[i + 1] - 1` (and 0 for the first,
    /// everything above for the last).
    pub fn buckets(&self) -> &[u64; HISTO_BUCKETS] {
        &self.buckets
    }

    /// Lower bound of the first bucket whose cumulative count reaches
    /// ⌊count × q⌋ (at least one sample), `q` in 0.0..=1.0. 0 when empty
    /// (the original reported 1).
    pub fn percentile(&self, q: f64) -> u64 {
        debug_assert!((0.0..=1.0).contains(&q));
        if self.count == 0 {
            return 0;
        }
        let wanted = ((self.count as f64 * q).floor() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= wanted {
                return HISTO_BOUNDS[i];
            }
        }
        debug_assert!(false, "bucket counts do not add up to count");
        HISTO_BOUNDS[HISTO_BUCKETS - 1]
    }

    /// ⌈Σ(bucket count × lower bound) / count⌉, 0 when empty.
    pub fn mean(&self) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let total: u128 = self
            .buckets
            .iter()
            .zip(HISTO_BOUNDS.iter())
            .map(|(&n, &b)| u128::from(n) * u128::from(b))
            .sum();
        let count = u128::from(self.count);
        u64::try_from(total.div_ceil(count)).unwrap_or(u64::MAX)
    }

    /// max, p99.9, p99, p95 and mean.
    pub fn summary(&self) -> HistoSummary {
        HistoSummary {
            max: self.max(),
            p999: self.percentile(0.999),
            p99: self.percentile(0.99),
            p95: self.percentile(0.95),
            mean: self.mean(),
        }
    }
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

/// Histograms are emptied this often.
pub const HISTO_RESET_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// Requests and latency of one command type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandStats {
    /// Requests classified as reads.
    pub reads: u64,
    /// Requests classified as writes.
    pub writes: u64,
    /// Client latency, µs.
    pub latency: Histogram,
}

/// Requests, failures and round trips towards one peer or one DC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Requests forwarded.
    pub requests: u64,
    /// Requests that failed (error reply, dropped with the connection).
    pub errors: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Round trip, µs.
    pub rtt: Histogram,
}

/// Every statistic of the node. One owner (the reactor's context); the
/// counting code updates the public fields directly or through the
/// `record_*` helpers.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Pool counters.
    pub pool: PoolStats,
    /// Datastore counters, one per server, with its display name.
    pub servers: Vec<(String, ServerStats)>,
    /// Client request latency, µs: request received → reply written.
    pub latency: Histogram,
    /// Size of client write requests, bytes.
    pub payload_size: Histogram,
    /// Datastore round trip, µs.
    pub server_latency: Histogram,
    /// Wait in the datastore send queue, µs.
    pub server_queue_wait: Histogram,
    /// Round trip to same-DC peers, µs.
    pub cross_zone_latency: Histogram,
    /// Wait before being written to same-DC peers, µs.
    pub cross_zone_queue_wait: Histogram,
    /// Round trip to remote-DC peers, µs.
    pub cross_region_latency: Histogram,
    /// Wait before being written to remote-DC peers, µs.
    pub cross_region_queue_wait: Histogram,
    /// Outstanding requests on a client connection.
    pub client_out_queue: Histogram,
    /// Datastore send-queue depth.
    pub server_in_queue: Histogram,
    /// Datastore awaiting-reply depth.
    pub server_out_queue: Histogram,
    /// Outstanding requests on inbound peer connections.
    pub dnode_client_out_queue: Histogram,
    /// Send-queue depth towards same-DC peers.
    pub peer_in_queue: Histogram,
    /// Awaiting-reply depth towards same-DC peers.
    pub peer_out_queue: Histogram,
    /// Send-queue depth towards remote-DC peers.
    pub remote_peer_in_queue: Histogram,
    /// Awaiting-reply depth towards remote-DC peers.
    pub remote_peer_out_queue: Histogram,
    /// Per command type (lower-case name from the parser).
    pub by_command: BTreeMap<&'static str, CommandStats>,
    /// Per peer name.
    pub by_peer: BTreeMap<String, PeerStats>,
    /// Per datacenter of the peers.
    pub by_dc: BTreeMap<String, PeerStats>,
    /// When the node started; `uptime` counts from here.
    pub started: Instant,
    /// When the histograms were last emptied.
    pub last_reset: Instant,
    /// Set by `/historeset`; honoured by the next [`Stats::maybe_reset`].
    pub reset_requested: bool,
}

/// The entry for `key`, created on first use without allocating afterwards.
fn peer_entry<'a>(map: &'a mut BTreeMap<String, PeerStats>, key: &str) -> &'a mut PeerStats {
    if map.get(key).is_none() {
        map.insert(key.to_owned(), PeerStats::default());
    }
    map.get_mut(key).expect("entry inserted above")
}

impl Stats {
    /// Zeroed statistics for a node with the given servers (display names).
    pub fn new(now: Instant, servers: Vec<String>) -> Self {
        Stats {
            pool: PoolStats::default(),
            servers: servers
                .into_iter()
                .map(|name| (name, ServerStats::default()))
                .collect(),
            latency: Histogram::new(),
            payload_size: Histogram::new(),
            server_latency: Histogram::new(),
            server_queue_wait: Histogram::new(),
            cross_zone_latency: Histogram::new(),
            cross_zone_queue_wait: Histogram::new(),
            cross_region_latency: Histogram::new(),
            cross_region_queue_wait: Histogram::new(),
            client_out_queue: Histogram::new(),
            server_in_queue: Histogram::new(),
            server_out_queue: Histogram::new(),
            dnode_client_out_queue: Histogram::new(),
            peer_in_queue: Histogram::new(),
            peer_out_queue: Histogram::new(),
            remote_peer_in_queue: Histogram::new(),
            remote_peer_out_queue: Histogram::new(),
            by_command: BTreeMap::new(),
            by_peer: BTreeMap::new(),
            by_dc: BTreeMap::new(),
            started: now,
            last_reset: now,
            reset_requested: false,
        }
    }

    /// Every histogram with a stable name, in `/info` order.
    pub fn histograms(&self) -> [(&'static str, &Histogram); 16] {
        [
            ("latency", &self.latency),
            ("payload_size", &self.payload_size),
            ("cross_region_latency", &self.cross_region_latency),
            ("cross_zone_latency", &self.cross_zone_latency),
            ("server_latency", &self.server_latency),
            ("cross_region_queue_wait", &self.cross_region_queue_wait),
            ("cross_zone_queue_wait", &self.cross_zone_queue_wait),
            ("server_queue_wait", &self.server_queue_wait),
            ("client_out_queue", &self.client_out_queue),
            ("server_in_queue", &self.server_in_queue),
            ("server_out_queue", &self.server_out_queue),
            ("dnode_client_out_queue", &self.dnode_client_out_queue),
            ("peer_in_queue", &self.peer_in_queue),
            ("peer_out_queue", &self.peer_out_queue),
            ("remote_peer_out_queue", &self.remote_peer_out_queue),
            ("remote_peer_in_queue", &self.remote_peer_in_queue),
        ]
    }

    /// A client request (or fragment) was received: counts it as a read or
    /// a write (PING is not counted in the pool counters, as the original),
    /// per command, and records the size of writes in `payload_size`.
    pub fn record_request(&mut self, cmd: &'static str, is_write: bool, bytes: u64) {
        let is_ping = cmd.eq_ignore_ascii_case("ping");
        if is_write {
            if !is_ping {
                self.pool.client_write_requests += 1;
            }
            self.payload_size.record(bytes);
        } else if !is_ping {
            self.pool.client_read_requests += 1;
        }
        let entry = self.by_command.entry(cmd).or_default();
        if is_write {
            entry.writes += 1;
        } else {
            entry.reads += 1;
        }
    }

    /// A client request got its reply after `micros`.
    pub fn record_latency(&mut self, cmd: &'static str, micros: u64) {
        self.latency.record(micros);
        self.by_command
            .entry(cmd)
            .or_default()
            .latency
            .record(micros);
    }

    /// A request was written to datastore `server` (index into `servers`);
    /// `redis` selects the `redis_req_*` classification.
    pub fn record_server_request(
        &mut self,
        server: usize,
        cmd: &str,
        is_write: bool,
        bytes: u64,
        redis: bool,
    ) {
        debug_assert!(server < self.servers.len());
        let Some((_, st)) = self.servers.get_mut(server) else {
            return;
        };
        if is_write {
            st.write_requests += 1;
            st.write_request_bytes += bytes;
        } else {
            st.read_requests += 1;
            st.read_request_bytes += bytes;
        }
        if redis {
            st.count_redis_command(cmd);
        }
    }

    /// Datastore `server` replied to a request of the given class after
    /// `micros`. Replies are counted by their request's class (the original
    /// counted every reply as a read).
    pub fn record_server_response(
        &mut self,
        server: usize,
        is_write: bool,
        bytes: u64,
        micros: u64,
    ) {
        debug_assert!(server < self.servers.len());
        self.server_latency.record(micros);
        let Some((_, st)) = self.servers.get_mut(server) else {
            return;
        };
        if is_write {
            st.write_responses += 1;
            st.write_response_bytes += bytes;
        } else {
            st.read_responses += 1;
            st.read_response_bytes += bytes;
        }
    }

    /// A request was forwarded to `peer` in datacenter `dc`.
    pub fn record_peer_request(&mut self, peer: &str, dc: &str, bytes: u64) {
        self.pool.peer_requests += 1;
        self.pool.peer_request_bytes += bytes;
        peer_entry(&mut self.by_peer, peer).requests += 1;
        peer_entry(&mut self.by_dc, dc).requests += 1;
    }

    /// `peer` replied after `micros`; `same_dc` selects the cross-zone or
    /// cross-region histogram.
    pub fn record_peer_response(
        &mut self,
        peer: &str,
        dc: &str,
        same_dc: bool,
        bytes: u64,
        micros: u64,
    ) {
        self.pool.peer_responses += 1;
        self.pool.peer_response_bytes += bytes;
        if same_dc {
            self.cross_zone_latency.record(micros);
        } else {
            self.cross_region_latency.record(micros);
        }
        peer_entry(&mut self.by_peer, peer).rtt.record(micros);
        peer_entry(&mut self.by_dc, dc).rtt.record(micros);
    }

    /// A request to `peer` failed (error or lost with its connection).
    pub fn record_peer_error(&mut self, peer: &str, dc: &str) {
        peer_entry(&mut self.by_peer, peer).errors += 1;
        peer_entry(&mut self.by_dc, dc).errors += 1;
    }

    /// A request to `peer` timed out; counts the pool counter of its side.
    pub fn record_peer_timeout(&mut self, peer: &str, dc: &str, same_dc: bool) {
        if same_dc {
            self.pool.peer_timedout_requests += 1;
        } else {
            self.pool.remote_peer_timedout_requests += 1;
        }
        peer_entry(&mut self.by_peer, peer).timeouts += 1;
        peer_entry(&mut self.by_dc, dc).timeouts += 1;
    }

    /// Asks for the histograms to be emptied at the next
    /// [`Stats::maybe_reset`] (`/historeset`).
    pub fn request_reset(&mut self) {
        self.reset_requested = true;
    }

    /// Empties every histogram (node-wide, per command, per peer and per
    /// DC) if a reset was requested or [`HISTO_RESET_INTERVAL`] has passed.
    /// Returns true if it did.
    pub fn maybe_reset(&mut self, now: Instant) -> bool {
        let due = now.saturating_duration_since(self.last_reset) >= HISTO_RESET_INTERVAL;
        if !(due || self.reset_requested) {
            return false;
        }
        self.reset_histograms(now);
        true
    }

    /// Empties every histogram now.
    pub fn reset_histograms(&mut self, now: Instant) {
        for h in [
            &mut self.latency,
            &mut self.payload_size,
            &mut self.server_latency,
            &mut self.server_queue_wait,
            &mut self.cross_zone_latency,
            &mut self.cross_zone_queue_wait,
            &mut self.cross_region_latency,
            &mut self.cross_region_queue_wait,
            &mut self.client_out_queue,
            &mut self.server_in_queue,
            &mut self.server_out_queue,
            &mut self.dnode_client_out_queue,
            &mut self.peer_in_queue,
            &mut self.peer_out_queue,
            &mut self.remote_peer_in_queue,
            &mut self.remote_peer_out_queue,
        ] {
            h.reset();
        }
        for c in self.by_command.values_mut() {
            c.latency.reset();
        }
        for p in self.by_peer.values_mut().chain(self.by_dc.values_mut()) {
            p.rtt.reset();
        }
        self.last_reset = now;
        self.reset_requested = false;
    }

    /// Seconds since start.
    pub fn uptime_s(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }
}

// ---------------------------------------------------------------------------
// /info
// ---------------------------------------------------------------------------

/// Node facts shown by `/info` that do not live in [`Stats`].
#[derive(Clone, Copy, Debug)]
pub struct InfoMeta<'a> {
    /// Host name (`source`).
    pub hostname: &'a str,
    /// Build version.
    pub version: &'a str,
    /// Configured rack.
    pub rack: &'a str,
    /// Configured datacenter.
    pub dc: &'a str,
    /// Pool name (root key of the YAML file).
    pub pool_name: &'a str,
    /// Message objects allocated so far.
    pub alloc_msgs: u64,
    /// Message objects in the free pool.
    pub free_msgs: u64,
    /// Buffer chunks allocated so far.
    pub alloc_mbufs: u64,
    /// Buffer chunks in the free pool.
    pub free_mbufs: u64,
    /// Peak resident set size, KiB.
    pub dyn_memory_kib: u64,
    /// Current Unix time, seconds.
    pub now_unix: u64,
}

/// Number of numeric top-level `/info` fields after `dc`.
pub const INFO_TOP_COUNT: usize = 35;

/// The numeric top-level `/info` fields that follow `rack` and `dc`, in
/// order: histogram figures, then pool usage and memory.
pub fn info_top_fields(stats: &Stats, meta: &InfoMeta) -> [(&'static str, u64); INFO_TOP_COUNT] {
    let lat = stats.latency.summary();
    let size = stats.payload_size.summary();
    [
        ("latency_max", lat.max),
        ("latency_999th", lat.p999),
        ("latency_99th", lat.p99),
        ("latency_95th", lat.p95),
        ("latency_mean", lat.mean),
        ("payload_size_max", size.max),
        ("payload_size_999th", size.p999),
        ("payload_size_99th", size.p99),
        ("payload_size_95th", size.p95),
        ("payload_size_mean", size.mean),
        (
            "average_cross_region_rtt",
            stats.cross_region_latency.mean(),
        ),
        (
            "99_cross_region_rtt",
            stats.cross_region_latency.percentile(0.99),
        ),
        (
            "average_cross_zone_latency",
            stats.cross_zone_latency.mean(),
        ),
        (
            "99_cross_zone_latency",
            stats.cross_zone_latency.percentile(0.99),
        ),
        ("average_server_latency", stats.server_latency.mean()),
        ("99_server_latency", stats.server_latency.percentile(0.99)),
        (
            "average_cross_region_queue_wait",
            stats.cross_region_queue_wait.mean(),
        ),
        (
            "99_cross_region_queue_wait",
            stats.cross_region_queue_wait.percentile(0.99),
        ),
        (
            "average_cross_zone_queue_wait",
            stats.cross_zone_queue_wait.mean(),
        ),
        (
            "99_cross_zone_queue_wait",
            stats.cross_zone_queue_wait.percentile(0.99),
        ),
        ("average_server_queue_wait", stats.server_queue_wait.mean()),
        (
            "99_server_queue_wait",
            stats.server_queue_wait.percentile(0.99),
        ),
        (
            "client_out_queue_99",
            stats.client_out_queue.percentile(0.99),
        ),
        ("server_in_queue_99", stats.server_in_queue.percentile(0.99)),
        (
            "server_out_queue_99",
            stats.server_out_queue.percentile(0.99),
        ),
        (
            "dnode_client_out_queue_99",
            stats.dnode_client_out_queue.percentile(0.99),
        ),
        ("peer_in_queue_99", stats.peer_in_queue.percentile(0.99)),
        ("peer_out_queue_99", stats.peer_out_queue.percentile(0.99)),
        (
            "remote_peer_out_queue_99",
            stats.remote_peer_out_queue.percentile(0.99),
        ),
        (
            "remote_peer_in_queue_99",
            stats.remote_peer_in_queue.percentile(0.99),
        ),
        ("alloc_msgs", meta.alloc_msgs),
        ("free_msgs", meta.free_msgs),
        ("alloc_mbufs", meta.alloc_mbufs),
        ("free_mbufs", meta.free_mbufs),
        ("dyn_memory", meta.dyn_memory_kib),
    ]
}

/// `s` as a JSON string literal, quotes included.
fn json_str(out: &mut String, s: &str) {
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        // Serializing a str cannot fail; keep the document valid anyway.
        Err(_) => out.push_str("\"\""),
    }
}

/// `"key":"value",` as the original's stats_add_string.
fn add_string(out: &mut String, key: &str, value: &str) {
    json_str(out, key);
    out.push(':');
    json_str(out, value);
    out.push(',');
}

/// `"key":value,\n` as the original's stats_add_num (`last` drops the comma).
fn add_num(out: &mut String, key: &str, value: u64, last: bool) {
    json_str(out, key);
    let _ = write!(out, ":{value}");
    out.push_str(if last { "\n" } else { ",\n" });
}

/// `"key": {` as the original's stats_begin_nesting.
fn begin_object(out: &mut String, key: &str) {
    json_str(out, key);
    out.push_str(": {");
}

/// The `/info` body: top-level fields, then the pool object with its
/// counters and one object per server, laid out as the original.
pub fn render_info(stats: &Stats, meta: &InfoMeta) -> String {
    let mut out = String::with_capacity(8192);
    out.push('{');
    add_string(&mut out, "service", "dynomite");
    add_string(&mut out, "source", meta.hostname);
    add_string(&mut out, "version", meta.version);
    add_num(&mut out, "uptime", stats.started.elapsed().as_secs(), false);
    add_num(&mut out, "timestamp", meta.now_unix, false);
    add_string(&mut out, "rack", meta.rack);
    add_string(&mut out, "dc", meta.dc);
    for (name, value) in info_top_fields(stats, meta) {
        add_num(&mut out, name, value, false);
    }
    begin_object(&mut out, meta.pool_name);
    let pool = stats.pool.fields();
    for (i, (name, value)) in pool.iter().enumerate() {
        // The last pool counter keeps its comma when a server follows.
        let last = i + 1 == pool.len() && stats.servers.is_empty();
        add_num(&mut out, name, *value, last);
    }
    for (i, (server, st)) in stats.servers.iter().enumerate() {
        begin_object(&mut out, server);
        let fields = st.fields();
        for (j, (name, value)) in fields.iter().enumerate() {
            add_num(&mut out, name, *value, j + 1 == fields.len());
        }
        out.push('}');
        if i + 1 < stats.servers.len() {
            out.push(',');
        }
    }
    out.push_str("}}\n");
    out
}

// ---------------------------------------------------------------------------
// /cluster_describe
// ---------------------------------------------------------------------------

/// One node of the gossip table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDesc {
    /// Node name (public IPv4 for the local node).
    pub name: String,
    /// Host part of its address (public host name for the local node).
    pub host: String,
    /// Peer (`dyn_listen`) port.
    pub port: u16,
    /// First token.
    pub token: u32,
}

/// One rack and its nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackDesc {
    /// Rack name.
    pub name: String,
    /// Its nodes.
    pub servers: Vec<NodeDesc>,
}

/// One datacenter and its racks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcDesc {
    /// Datacenter name.
    pub name: String,
    /// Its racks.
    pub racks: Vec<RackDesc>,
}

/// The `/cluster_describe` body, laid out as the original.
pub fn render_cluster_describe(dcs: &[DcDesc]) -> String {
    let mut out = String::with_capacity(256 + 128 * dcs.len());
    out.push_str("{\"dcs\": [");
    for (di, dc) in dcs.iter().enumerate() {
        if di > 0 {
            out.push(',');
        }
        out.push('{');
        add_string(&mut out, "name", &dc.name);
        out.push_str("\"racks\": [");
        for (ri, rack) in dc.racks.iter().enumerate() {
            if ri > 0 {
                out.push(',');
            }
            out.push('{');
            add_string(&mut out, "name", &rack.name);
            out.push_str("\"servers\": [");
            for (ni, node) in rack.servers.iter().enumerate() {
                if ni > 0 {
                    out.push(',');
                }
                out.push('{');
                add_string(&mut out, "name", &node.name);
                add_string(&mut out, "host", &node.host);
                add_num(&mut out, "port", u64::from(node.port), false);
                add_num(&mut out, "token", u64::from(node.token), true);
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

// ---------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4
// ---------------------------------------------------------------------------

/// Content-Type of [`render_prometheus`] output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and newline.
fn prom_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes `# HELP` (backslash and newline escaped) and `# TYPE`.
fn prom_family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} ");
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = writeln!(out, "\n# TYPE {name} {kind}");
}

/// Formats `k="v",...` (values escaped), without braces.
fn prom_labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        prom_label_value(&mut out, v);
        out.push('"');
    }
    out
}

/// Writes one sample line; `labels` as made by [`prom_labels`].
fn prom_sample_raw(out: &mut String, name: &str, labels: &str, value: &str) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// Writes one sample line; `value` is already formatted.
fn prom_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
    prom_sample_raw(out, name, &prom_labels(labels), value);
}

/// Unit of a histogram's samples, and how to print them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// Samples are µs, exported as seconds.
    Micros,
    /// Samples are plain numbers (bytes, queue depth).
    Plain,
}

impl Unit {
    fn format(self, value: u64) -> String {
        match self {
            Unit::Plain => value.to_string(),
            Unit::Micros => {
                let secs = value / 1_000_000;
                let frac = value % 1_000_000;
                if frac == 0 {
                    secs.to_string()
                } else {
                    let s = format!("{secs}.{frac:06}");
                    s.trim_end_matches('0').to_owned()
                }
            }
        }
    }
}

/// Writes the `_bucket`, `_sum` and `_count` samples of one histogram.
/// Bucket `i` holds integers up to `HISTO_BOUNDS[i + 1] - 1`, so that is its
/// exact `le`; the last bucket is `+Inf`.
fn prom_histogram(
    out: &mut String,
    name: &str,
    labels: &[(&str, &str)],
    unit: Unit,
    h: &Histogram,
) {
    let base = prom_labels(labels);
    let sep = if base.is_empty() { "" } else { "," };
    let mut cumulative = 0u64;
    for (i, &n) in h.buckets().iter().enumerate() {
        cumulative += n;
        let le = match HISTO_BOUNDS.get(i + 1) {
            Some(next) => unit.format(next - 1),
            None => "+Inf".to_owned(),
        };
        let _ = writeln!(out, "{name}_bucket{{{base}{sep}le=\"{le}\"}} {cumulative}");
    }
    debug_assert_eq!(cumulative, h.count());
    prom_sample_raw(out, &format!("{name}_sum"), &base, &unit.format(h.sum()));
    prom_sample_raw(out, &format!("{name}_count"), &base, &h.count().to_string());
}

/// Family name and help for each node-wide histogram of [`Stats::histograms`].
const PROM_HISTOGRAMS: [(&str, &str, Unit, &str); 16] = [
    (
        "latency",
        "dynomite_client_latency_seconds",
        Unit::Micros,
        "Client request latency: request received to reply written.",
    ),
    (
        "payload_size",
        "dynomite_payload_size_bytes",
        Unit::Plain,
        "Size of client write requests.",
    ),
    (
        "cross_region_latency",
        "dynomite_cross_region_rtt_seconds",
        Unit::Micros,
        "Round trip of requests to peers in other DCs.",
    ),
    (
        "cross_zone_latency",
        "dynomite_cross_zone_latency_seconds",
        Unit::Micros,
        "Round trip of requests to peers in this DC.",
    ),
    (
        "server_latency",
        "dynomite_server_latency_seconds",
        Unit::Micros,
        "Datastore round trip: request written to reply received.",
    ),
    (
        "cross_region_queue_wait",
        "dynomite_cross_region_queue_wait_seconds",
        Unit::Micros,
        "Time requests to remote-DC peers wait before being written.",
    ),
    (
        "cross_zone_queue_wait",
        "dynomite_cross_zone_queue_wait_seconds",
        Unit::Micros,
        "Time requests to same-DC peers wait before being written.",
    ),
    (
        "server_queue_wait",
        "dynomite_server_queue_wait_seconds",
        Unit::Micros,
        "Time requests wait in the datastore send queue.",
    ),
    (
        "client_out_queue",
        "dynomite_client_out_queue_depth",
        Unit::Plain,
        "Outstanding requests on a client connection, sampled on every change.",
    ),
    (
        "server_in_queue",
        "dynomite_server_in_queue_depth",
        Unit::Plain,
        "Datastore send-queue depth, sampled on every change.",
    ),
    (
        "server_out_queue",
        "dynomite_server_out_queue_depth",
        Unit::Plain,
        "Datastore awaiting-reply queue depth, sampled on every change.",
    ),
    (
        "dnode_client_out_queue",
        "dynomite_dnode_client_out_queue_depth",
        Unit::Plain,
        "Outstanding requests on inbound peer connections.",
    ),
    (
        "peer_in_queue",
        "dynomite_peer_in_queue_depth",
        Unit::Plain,
        "Send-queue depth towards same-DC peers.",
    ),
    (
        "peer_out_queue",
        "dynomite_peer_out_queue_depth",
        Unit::Plain,
        "Awaiting-reply queue depth towards same-DC peers.",
    ),
    (
        "remote_peer_out_queue",
        "dynomite_remote_peer_out_queue_depth",
        Unit::Plain,
        "Awaiting-reply queue depth towards remote-DC peers.",
    ),
    (
        "remote_peer_in_queue",
        "dynomite_remote_peer_in_queue_depth",
        Unit::Plain,
        "Send-queue depth towards remote-DC peers.",
    ),
];

/// Family suffix and `# TYPE` of a counter kind.
fn prom_kind(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Counter => ("_total", "counter"),
        Kind::Gauge | Kind::Timestamp => ("", "gauge"),
    }
}

/// Per-peer or per-DC families: requests, errors, timeouts and RTT.
fn prom_peer_families(
    out: &mut String,
    prefix: &str,
    label: &str,
    what: &str,
    map: &BTreeMap<String, PeerStats>,
) {
    if map.is_empty() {
        return;
    }
    type Get = fn(&PeerStats) -> u64;
    let counters: [(&str, &str, Get); 3] = [
        ("requests", "Requests forwarded to each", |p| p.requests),
        ("errors", "Failed requests to each", |p| p.errors),
        ("timeouts", "Timed-out requests to each", |p| p.timeouts),
    ];
    for (suffix, help, get) in counters {
        let name = format!("{prefix}_{suffix}_total");
        prom_family(out, &name, "counter", &format!("{help} {what}."));
        for (key, p) in map {
            prom_sample(out, &name, &[(label, key)], &get(p).to_string());
        }
    }
    let name = format!("{prefix}_rtt_seconds");
    prom_family(
        out,
        &name,
        "histogram",
        &format!("Round trip of requests to each {what}."),
    );
    for (key, p) in map {
        prom_histogram(out, &name, &[(label, key)], Unit::Micros, &p.rtt);
    }
}

/// The `/metrics` body in Prometheus text format 0.0.4: every `/info`
/// figure as `dynomite_<name>` (counters with `_total`), server counters
/// labelled by `server`, per-command request counts and latency
/// histograms, node-wide histograms, per-peer and per-DC figures when
/// present, and `extra_gauges` as (name, help, value) under `dynomite_`.
pub fn render_prometheus(
    stats: &Stats,
    meta: &InfoMeta,
    extra_gauges: &[(&str, &str, u64)],
) -> String {
    let mut out = String::with_capacity(64 * 1024);

    prom_family(
        &mut out,
        "dynomite_info",
        "gauge",
        "Node identity; the value is always 1.",
    );
    prom_sample(
        &mut out,
        "dynomite_info",
        &[
            ("source", meta.hostname),
            ("version", meta.version),
            ("rack", meta.rack),
            ("dc", meta.dc),
            ("pool", meta.pool_name),
        ],
        "1",
    );
    prom_family(
        &mut out,
        "dynomite_uptime",
        "gauge",
        "Seconds since the node started.",
    );
    prom_sample(
        &mut out,
        "dynomite_uptime",
        &[],
        &stats.started.elapsed().as_secs().to_string(),
    );
    prom_family(
        &mut out,
        "dynomite_timestamp",
        "gauge",
        "Current Unix time, seconds.",
    );
    prom_sample(
        &mut out,
        "dynomite_timestamp",
        &[],
        &meta.now_unix.to_string(),
    );
    for (name, value) in info_top_fields(stats, meta) {
        let family = format!("dynomite_{name}");
        prom_family(&mut out, &family, "gauge", &info_top_help(name));
        prom_sample(&mut out, &family, &[], &value.to_string());
    }

    for (desc, (name, value)) in POOL_FIELDS.iter().zip(stats.pool.fields()) {
        debug_assert_eq!(desc.name, name);
        let (suffix, kind) = prom_kind(desc.kind);
        let family = format!("dynomite_{name}{suffix}");
        prom_family(&mut out, &family, kind, desc.help);
        prom_sample(&mut out, &family, &[], &value.to_string());
    }

    if !stats.servers.is_empty() {
        for (i, desc) in SERVER_FIELDS.iter().enumerate() {
            let (suffix, kind) = prom_kind(desc.kind);
            let family = format!("dynomite_{}{suffix}", desc.name);
            prom_family(&mut out, &family, kind, desc.help);
            for (server, st) in &stats.servers {
                let (name, value) = st.fields()[i];
                debug_assert_eq!(name, desc.name);
                prom_sample(&mut out, &family, &[("server", server)], &value.to_string());
            }
        }
    }

    if !stats.by_command.is_empty() {
        prom_family(
            &mut out,
            "dynomite_requests_total",
            "counter",
            "Client requests by command and read/write class.",
        );
        for (cmd, c) in &stats.by_command {
            if c.reads > 0 || c.writes == 0 {
                let v = c.reads.to_string();
                prom_sample(
                    &mut out,
                    "dynomite_requests_total",
                    &[("command", cmd), ("kind", "read")],
                    &v,
                );
            }
            if c.writes > 0 {
                let v = c.writes.to_string();
                prom_sample(
                    &mut out,
                    "dynomite_requests_total",
                    &[("command", cmd), ("kind", "write")],
                    &v,
                );
            }
        }
        prom_family(
            &mut out,
            "dynomite_request_duration_seconds",
            "histogram",
            "Client request latency by command.",
        );
        for (cmd, c) in &stats.by_command {
            prom_histogram(
                &mut out,
                "dynomite_request_duration_seconds",
                &[("command", cmd)],
                Unit::Micros,
                &c.latency,
            );
        }
    }

    for ((key, h), (expected, family, unit, help)) in
        stats.histograms().iter().zip(PROM_HISTOGRAMS.iter())
    {
        debug_assert_eq!(key, expected);
        prom_family(&mut out, family, "histogram", help);
        prom_histogram(&mut out, family, &[], *unit, h);
    }

    prom_peer_families(
        &mut out,
        "dynomite_peer_node",
        "peer",
        "peer",
        &stats.by_peer,
    );
    prom_peer_families(&mut out, "dynomite_dc", "dc", "datacenter", &stats.by_dc);

    for (name, help, value) in extra_gauges {
        let family = format!("dynomite_{name}");
        prom_family(&mut out, &family, "gauge", help);
        prom_sample(&mut out, &family, &[], &value.to_string());
    }
    out
}

/// `# HELP` text of a numeric top-level `/info` field.
fn info_top_help(name: &str) -> String {
    let fixed = match name {
        "alloc_msgs" => "Message objects allocated so far.",
        "free_msgs" => "Message objects in the free pool.",
        "alloc_mbufs" => "Buffer chunks allocated so far.",
        "free_mbufs" => "Buffer chunks in the free pool.",
        "dyn_memory" => "Peak resident set size, KiB.",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.to_owned();
    }
    let (figure, rest) = if let Some(r) = name.strip_prefix("average_") {
        ("Mean", r)
    } else if let Some(r) = name.strip_prefix("99_") {
        ("99th percentile", r)
    } else if let Some(r) = name.strip_suffix("_99") {
        ("99th percentile", r)
    } else if let Some(r) = name.strip_suffix("_max") {
        ("Maximum", r)
    } else if let Some(r) = name.strip_suffix("_999th") {
        ("99.9th percentile", r)
    } else if let Some(r) = name.strip_suffix("_99th") {
        ("99th percentile", r)
    } else if let Some(r) = name.strip_suffix("_95th") {
        ("95th percentile", r)
    } else if let Some(r) = name.strip_suffix("_mean") {
        ("Mean", r)
    } else {
        ("Value", name)
    };
    let unit = if rest.starts_with("payload_size") {
        "bytes"
    } else if rest.ends_with("queue") {
        "requests"
    } else {
        "microseconds"
    };
    format!(
        "{figure} of {} since the last histogram reset, {unit}.",
        rest.replace('_', " ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_stats() -> Stats {
        let now = Instant::now();
        let mut st = Stats::new(now, vec!["127.0.0.1:6379".to_owned()]);
        st.pool.client_eof = 3;
        st.pool.client_connections = 2;
        st.pool.stats_count = 7;
        st.servers[0].1.server_eof = 1;
        st.servers[0].1.redis_req_other = 9;
        st.record_request("get", false, 20);
        st.record_request("set", true, 120);
        st.record_request("ping", false, 14);
        st.record_latency("get", 150);
        st.record_latency("set", 2_000_000);
        st
    }

    fn meta<'a>(pool: &'a str, host: &'a str) -> InfoMeta<'a> {
        InfoMeta {
            hostname: host,
            version: "0.1.0",
            rack: "rack1",
            dc: "dc1",
            pool_name: pool,
            alloc_msgs: 10,
            free_msgs: 4,
            alloc_mbufs: 12,
            free_mbufs: 5,
            dyn_memory_kib: 2048,
            now_unix: 1_700_000_000,
        }
    }

    #[test]
    fn histogram_bounds() {
        let first = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 19, 22, 26, 31, 37, 44, 52,
        ];
        assert_eq!(&HISTO_BOUNDS[..first.len()], &first);
        assert_eq!(HISTO_BOUNDS.len(), 94);
        assert_eq!(HISTO_BOUNDS[93], 36_157_192);
        assert_eq!(HISTO_BOUNDS[92], 30_130_994);
        assert!(HISTO_BOUNDS.windows(2).all(|w| w[0] < w[1]));
        // Same bounds as the original's floating-point computation.
        let mut last = 1u64;
        for &b in HISTO_BOUNDS.iter().skip(1) {
            let mut next = (last as f64 * 1.2).floor() as u64;
            if next == last {
                next += 1;
            }
            assert_eq!(b, next);
            last = next;
        }
    }

    #[test]
    fn histogram_bucket_index() {
        let cases: [(u64, usize); 9] = [
            (0, 0),
            (1, 0),
            (2, 1),
            (10, 9),
            (11, 9),
            (12, 10),
            (13, 10),
            (36_157_192, 93),
            (u64::MAX, 93),
        ];
        for (value, index) in cases {
            assert_eq!(Histogram::bucket_index(value), index, "value {value}");
        }
    }

    #[test]
    fn histogram_empty_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.summary(), HistoSummary::default());
        assert_eq!(h.percentile(0.5), 0);
        assert!(h.is_empty());
    }

    #[test]
    fn histogram_percentiles() {
        let mut h = Histogram::new();
        for v in 1..=1000u64 {
            h.record(v);
        }
        assert_eq!(h.count(), 1000);
        assert_eq!(h.max(), 1000);
        assert_eq!(h.sum(), 500_500);
        // Cumulative count reaches 950 inside the bucket starting at 947.
        let p95 = h.percentile(0.95);
        assert_eq!(p95, HISTO_BOUNDS[Histogram::bucket_index(950)]);
        assert_eq!(
            h.percentile(0.99),
            HISTO_BOUNDS[Histogram::bucket_index(990)]
        );
        assert_eq!(
            h.percentile(0.999),
            HISTO_BOUNDS[Histogram::bucket_index(999)]
        );
        assert!(h.percentile(0.999) <= 999);
        assert_eq!(
            h.percentile(1.0),
            HISTO_BOUNDS[Histogram::bucket_index(1000)]
        );
        // Mean from lower bounds, rounded up: below the exact 500.5.
        let mean = h.mean();
        assert!(mean <= 501 && mean > 450, "mean {mean}");

        let cases: [(&[u64], HistoSummary); 3] = [
            (
                &[5],
                HistoSummary {
                    max: 5,
                    p999: 5,
                    p99: 5,
                    p95: 5,
                    mean: 5,
                },
            ),
            (
                &[1, 3],
                HistoSummary {
                    max: 3,
                    p999: 1,
                    p99: 1,
                    p95: 1,
                    mean: 2,
                },
            ),
            (
                &[0, 0, 0, 100],
                HistoSummary {
                    max: 100,
                    p999: 1,
                    p99: 1,
                    p95: 1,
                    mean: 23,
                },
            ),
        ];
        for (samples, want) in cases {
            let mut h = Histogram::new();
            for &s in samples {
                h.record(s);
            }
            assert_eq!(h.summary(), want, "samples {samples:?}");
        }

        h.reset();
        assert!(h.is_empty());
        assert_eq!(h.max(), 0);
        assert_eq!(h.sum(), 0);
    }

    #[test]
    fn describe_text() {
        let text = describe();
        assert!(text
            .starts_with("pool stats:\n  client_eof          \"# eof on client connections\"\n"));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 45 + 1 + 1 + 34);
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
        assert!(text.ends_with("\"# Redis other\"\n"));
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
        assert_eq!(kinds, "CCCTCCCCCCCCCCGGGGCCCCCCCCCCCCCCCC");
        assert_eq!(POOL_FIELDS[0].name, "client_eof");
        assert_eq!(POOL_FIELDS[44].name, "stats_count");
        assert_eq!(SERVER_FIELDS[0].name, "server_eof");
        assert_eq!(SERVER_FIELDS[33].name, "redis_req_other");
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

    #[test]
    fn record_helpers() {
        let mut st = sample_stats();
        assert_eq!(st.pool.client_read_requests, 1);
        assert_eq!(st.pool.client_write_requests, 1);
        assert_eq!(st.payload_size.count(), 1);
        assert_eq!(st.by_command["ping"].reads, 1);
        assert_eq!(st.by_command["set"].writes, 1);
        assert_eq!(st.latency.count(), 2);

        st.record_server_request(0, "get", false, 20, true);
        st.record_server_response(0, false, 30, 80);
        assert_eq!(st.servers[0].1.read_requests, 1);
        assert_eq!(st.servers[0].1.redis_req_get, 1);
        assert_eq!(st.servers[0].1.read_response_bytes, 30);
        assert_eq!(st.server_latency.count(), 1);

        st.record_peer_request("10.0.0.2", "dc2", 40);
        st.record_peer_response("10.0.0.2", "dc2", false, 50, 900);
        st.record_peer_error("10.0.0.2", "dc2");
        st.record_peer_timeout("10.0.0.3", "dc1", true);
        assert_eq!(st.pool.peer_requests, 1);
        assert_eq!(st.pool.peer_response_bytes, 50);
        assert_eq!(st.pool.peer_timedout_requests, 1);
        assert_eq!(st.cross_region_latency.count(), 1);
        assert_eq!(st.by_peer["10.0.0.2"].errors, 1);
        assert_eq!(st.by_dc["dc2"].rtt.count(), 1);
        assert_eq!(st.by_dc["dc1"].timeouts, 1);
    }

    #[test]
    fn histograms_reset_every_five_minutes_and_on_request() {
        let mut st = sample_stats();
        let t0 = st.last_reset;
        assert!(!st.maybe_reset(t0 + Duration::from_secs(299)));
        assert_eq!(st.latency.count(), 2);
        assert!(st.maybe_reset(t0 + HISTO_RESET_INTERVAL));
        assert!(st.latency.is_empty());
        assert!(st.payload_size.is_empty());
        assert!(st.by_command["get"].latency.is_empty());
        // Counters survive.
        assert_eq!(st.by_command["get"].reads, 1);
        assert_eq!(st.pool.client_read_requests, 1);

        let t1 = st.last_reset;
        st.record_latency("get", 5);
        assert!(!st.maybe_reset(t1 + Duration::from_secs(1)));
        st.request_reset();
        assert!(st.maybe_reset(t1 + Duration::from_secs(1)));
        assert!(st.latency.is_empty());
        assert!(!st.reset_requested);
        assert!(!st.maybe_reset(t1 + Duration::from_secs(2)));
    }

    #[test]
    fn info_layout_and_order() {
        let st = sample_stats();
        let text = render_info(&st, &meta("dyn_o_mite", "host1"));
        assert!(text.starts_with(
            "{\"service\":\"dynomite\",\"source\":\"host1\",\"version\":\"0.1.0\",\"uptime\":"
        ));
        assert!(text.contains(",\n\"timestamp\":1700000000,\n\"rack\":\"rack1\",\"dc\":\"dc1\",\"latency_max\":2000000,\n"));
        assert!(text.contains(
            "\"dyn_memory\":2048,\n\"dyn_o_mite\": {\"client_eof\":3,\n\"client_err\":0,\n"
        ));
        assert!(text.contains("\"stats_count\":7,\n\"127.0.0.1:6379\": {\"server_eof\":1,\n"));
        assert!(text.ends_with("\"redis_req_other\":9\n}}}\n"));

        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["service"], "dynomite");
        assert_eq!(v["dyn_o_mite"]["client_connections"], 2);
        assert_eq!(v["dyn_o_mite"]["127.0.0.1:6379"]["redis_req_other"], 9);
        assert_eq!(v["payload_size_max"], 120);
        assert_eq!(v["alloc_mbufs"], 12);

        // Key order as emitted.
        let mut expected: Vec<&str> = vec![
            "service",
            "source",
            "version",
            "uptime",
            "timestamp",
            "rack",
            "dc",
        ];
        expected.extend(info_top_fields(&st, &meta("p", "h")).iter().map(|f| f.0));
        expected.push("dyn_o_mite");
        expected.extend(POOL_FIELDS.iter().map(|f| f.name));
        expected.push("127.0.0.1:6379");
        expected.extend(SERVER_FIELDS.iter().map(|f| f.name));
        let mut found = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("\"") {
            let after = &rest[start + 1..];
            let end = after.find('"').expect("closing quote");
            let key = &after[..end];
            let tail = &after[end + 1..];
            if tail.starts_with(':') {
                found.push(key);
            }
            rest = tail;
        }
        assert_eq!(found, expected);
        let top_numbers = [
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
        assert_eq!(&found[7..7 + top_numbers.len()], &top_numbers);
    }

    #[test]
    fn info_escapes_names() {
        let mut st = sample_stats();
        st.servers
            .push(("weird\"srv\\\n".to_owned(), ServerStats::default()));
        let pool = "po\"ol\\name\u{1}";
        let text = render_info(&st, &meta(pool, "h\"ost"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["source"], "h\"ost");
        assert_eq!(v[pool]["stats_count"], 7);
        assert_eq!(v[pool]["127.0.0.1:6379"]["server_eof"], 1);
        assert_eq!(v[pool]["weird\"srv\\\n"]["redis_req_other"], 0);
    }

    #[test]
    fn info_without_servers_is_valid() {
        let st = Stats::new(Instant::now(), Vec::new());
        let text = render_info(&st, &meta("p", "h"));
        assert!(text.ends_with("\"stats_count\":0\n}}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["latency_99th"], 0);
    }

    #[test]
    fn cluster_describe_layout() {
        let node = |name: &str, host: &str, port, token| NodeDesc {
            name: name.to_owned(),
            host: host.to_owned(),
            port,
            token,
        };
        let dcs = vec![
            DcDesc {
                name: "dc1".to_owned(),
                racks: vec![
                    RackDesc {
                        name: "r1".to_owned(),
                        servers: vec![
                            node("127.0.0.1", "localhost", 8101, 0),
                            node("127.0.0.2", "h2", 8101, 4_294_967_295),
                        ],
                    },
                    RackDesc {
                        name: "r\"2".to_owned(),
                        servers: Vec::new(),
                    },
                ],
            },
            DcDesc {
                name: "dc2".to_owned(),
                racks: Vec::new(),
            },
        ];
        let text = render_cluster_describe(&dcs);
        assert!(text.starts_with(
            "{\"dcs\": [{\"name\":\"dc1\",\"racks\": [{\"name\":\"r1\",\"servers\": \
             [{\"name\":\"127.0.0.1\",\"host\":\"localhost\",\"port\":8101,\n\"token\":0\n},{"
        ));
        assert!(text.ends_with("\"racks\": []}]}\n"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(
            v["dcs"][0]["racks"][0]["servers"][1]["token"],
            4_294_967_295u64
        );
        assert_eq!(v["dcs"][0]["racks"][1]["name"], "r\"2");
        assert_eq!(v["dcs"][1]["name"], "dc2");

        let single = vec![DcDesc {
            name: "dc".to_owned(),
            racks: vec![RackDesc {
                name: "rack".to_owned(),
                servers: vec![node("1.2.3.4", "host", 8101, 12)],
            }],
        }];
        assert_eq!(
            render_cluster_describe(&single),
            "{\"dcs\": [{\"name\":\"dc\",\"racks\": [{\"name\":\"rack\",\"servers\": \
             [{\"name\":\"1.2.3.4\",\"host\":\"host\",\"port\":8101,\n\"token\":12\n}]}]}]}\n"
        );
        assert_eq!(render_cluster_describe(&[]), "{\"dcs\": []}\n");
    }

    // --- Prometheus text format validator --------------------------------

    #[derive(Debug, Default)]
    struct Family {
        kind: String,
        has_help: bool,
        samples: usize,
    }

    fn valid_metric_name(name: &str) -> bool {
        let mut chars = name.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
            _ => return false,
        }
        chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    fn valid_label_name(name: &str) -> bool {
        let mut chars = name.chars();
        match chars.next() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
            _ => return false,
        }
        chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }

    /// Parses `name{k="v",...} value`; returns name, labels, value.
    /// Label pairs of a parsed sample.
    type Labels = Vec<(String, String)>;

    fn parse_sample(line: &str) -> Result<(String, Labels, f64), String> {
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value: {line:?}"))?;
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(r) = rest.strip_prefix('{') {
            rest = r;
            loop {
                if let Some(r) = rest.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let eq = rest.find('=').ok_or("label without =")?;
                let lname = &rest[..eq];
                if !valid_label_name(lname) {
                    return Err(format!("bad label name {lname:?}"));
                }
                rest = rest[eq + 1..]
                    .strip_prefix('"')
                    .ok_or("label value not quoted")?;
                let mut value = String::new();
                let mut chars = rest.char_indices();
                let end = loop {
                    match chars.next() {
                        None => return Err("unterminated label value".into()),
                        Some((i, '"')) => break i,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => return Err(format!("bad escape {other:?}")),
                        },
                        Some((_, '\n')) => return Err("raw newline in label".into()),
                        Some((_, c)) => value.push(c),
                    }
                };
                if labels.iter().any(|(k, _): &(String, String)| k == lname) {
                    return Err(format!("duplicate label {lname}"));
                }
                labels.push((lname.to_owned(), value));
                rest = &rest[end + 1..];
                if let Some(r) = rest.strip_prefix(',') {
                    rest = r;
                } else if !rest.starts_with('}') {
                    return Err(format!("junk after label: {rest:?}"));
                }
            }
        }
        let value = rest.strip_prefix(' ').ok_or("no space before value")?;
        if value.contains(' ') {
            return Err(format!("timestamp or junk after value: {value:?}"));
        }
        let v = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}"))?,
        };
        Ok((name.to_owned(), labels, v))
    }

    /// A strict checker for text format 0.0.4 as this module writes it.
    /// Returns the families found.
    fn validate_prometheus(text: &str) -> BTreeMap<String, Family> {
        assert!(text.ends_with('\n'), "output must end with a newline");
        let mut families: BTreeMap<String, Family> = BTreeMap::new();
        let mut current: Option<String> = None;
        // histogram series (family, labels without le) -> (buckets, sum, count)
        type Series = (Vec<(f64, f64)>, Option<f64>, Option<f64>);
        let mut series: BTreeMap<(String, Labels), Series> = BTreeMap::new();
        let mut seen_samples = std::collections::BTreeSet::new();
        for (n, line) in text.lines().enumerate() {
            let n = n + 1;
            assert!(!line.is_empty(), "line {n}: empty line");
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("HELP has text");
                assert!(valid_metric_name(name), "line {n}: bad name");
                assert!(!help.is_empty(), "line {n}: empty help");
                let fam = families.entry(name.to_owned()).or_default();
                assert!(!fam.has_help, "line {n}: second HELP for {name}");
                assert_eq!(fam.samples, 0, "line {n}: HELP after samples");
                fam.has_help = true;
                current = Some(name.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("TYPE has kind");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "line {n}: kind {kind}"
                );
                let fam = families.entry(name.to_owned()).or_default();
                assert!(fam.kind.is_empty(), "line {n}: second TYPE for {name}");
                assert_eq!(fam.samples, 0, "line {n}: TYPE after samples");
                if kind == "counter" {
                    assert!(name.ends_with("_total"), "line {n}: counter without _total");
                }
                fam.kind = kind.to_owned();
                current = Some(name.to_owned());
                continue;
            }
            assert!(!line.starts_with('#'), "line {n}: stray comment");
            let (name, labels, value) =
                parse_sample(line).unwrap_or_else(|e| panic!("line {n}: {e}: {line:?}"));
            let fam_name = current
                .clone()
                .unwrap_or_else(|| panic!("line {n}: sample before TYPE"));
            let fam = families.get_mut(&fam_name).expect("family");
            assert!(fam.has_help, "line {n}: no HELP for {fam_name}");
            assert!(!fam.kind.is_empty(), "line {n}: no TYPE for {fam_name}");
            fam.samples += 1;
            assert!(
                seen_samples.insert(line.rsplit_once(' ').unwrap().0.to_owned()),
                "line {n}: duplicate series"
            );
            if fam.kind == "histogram" {
                let mut base = labels.clone();
                let le = base
                    .iter()
                    .position(|(k, _)| k == "le")
                    .map(|i| base.remove(i));
                let key = (fam_name.clone(), base);
                let entry = series.entry(key).or_default();
                if name == format!("{fam_name}_bucket") {
                    let (_, le) = le.unwrap_or_else(|| panic!("line {n}: bucket without le"));
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse::<f64>()
                            .unwrap_or_else(|_| panic!("line {n}: le {le}"))
                    };
                    assert!(entry.1.is_none(), "line {n}: bucket after _sum");
                    entry.0.push((le, value));
                } else if name == format!("{fam_name}_sum") {
                    assert!(le.is_none(), "line {n}: le on _sum");
                    entry.1 = Some(value);
                } else if name == format!("{fam_name}_count") {
                    assert!(le.is_none(), "line {n}: le on _count");
                    entry.2 = Some(value);
                } else {
                    panic!("line {n}: {name} in histogram {fam_name}");
                }
            } else {
                assert_eq!(name, fam_name, "line {n}: sample outside its family");
                assert!(value >= 0.0, "line {n}: negative value");
            }
        }
        // Names stay distinct once a parser strips `_total` from counters
        // and the histogram suffixes from histogram series.
        let mut taken = std::collections::BTreeSet::new();
        for (name, fam) in &families {
            assert!(fam.samples > 0, "family {name} has no samples");
            let base = if fam.kind == "counter" {
                name.strip_suffix("_total")
                    .expect("counter ends with _total")
            } else {
                name.as_str()
            };
            assert!(taken.insert(base.to_owned()), "family {base} clashes");
            if fam.kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    assert!(
                        taken.insert(format!("{base}{suffix}")),
                        "{base}{suffix} clashes"
                    );
                }
            }
        }
        for ((fam, labels), (buckets, sum, count)) in &series {
            let count = count.unwrap_or_else(|| panic!("{fam} {labels:?}: no _count"));
            assert!(sum.is_some(), "{fam} {labels:?}: no _sum");
            assert!(!buckets.is_empty(), "{fam}: no buckets");
            for w in buckets.windows(2) {
                assert!(w[0].0 < w[1].0, "{fam}: le not increasing");
                assert!(w[0].1 <= w[1].1, "{fam}: buckets not cumulative");
            }
            let last = buckets.last().unwrap();
            assert_eq!(last.0, f64::INFINITY, "{fam}: last bucket is not +Inf");
            assert_eq!(last.1, count, "{fam}: +Inf != count");
        }
        families
    }

    #[test]
    fn prometheus_output_is_valid() {
        let mut st = sample_stats();
        st.servers
            .push(("srv\"2\\\nx".to_owned(), ServerStats::default()));
        st.record_peer_request("10.0.0.2:8101", "dc\"2", 10);
        st.record_peer_response("10.0.0.2:8101", "dc\"2", false, 10, 1500);
        st.record_peer_error("10.0.0.2:8101", "dc\"2");
        st.server_queue_wait.record(36_157_192);
        st.server_queue_wait.record(u64::MAX);
        let m = meta("pool\"x", "host\nname");
        let text = render_prometheus(
            &st,
            &m,
            &[("client_conn_limit", "Most client connections.", 1024)],
        );
        let families = validate_prometheus(&text);

        assert_eq!(families["dynomite_client_eof_total"].kind, "counter");
        assert_eq!(families["dynomite_client_connections"].kind, "gauge");
        assert_eq!(families["dynomite_peer_ejected_at"].kind, "gauge");
        assert_eq!(families["dynomite_99_cross_region_rtt"].kind, "gauge");
        assert_eq!(families["dynomite_server_eof_total"].samples, 2);
        assert_eq!(
            families["dynomite_request_duration_seconds"].kind,
            "histogram"
        );
        assert_eq!(families["dynomite_peer_node_rtt_seconds"].kind, "histogram");
        assert_eq!(families["dynomite_dc_errors_total"].samples, 1);
        assert_eq!(families["dynomite_client_conn_limit"].kind, "gauge");
        for f in POOL_FIELDS.iter() {
            let suffix = if f.kind == Kind::Counter {
                "_total"
            } else {
                ""
            };
            assert!(
                families.contains_key(&format!("dynomite_{}{suffix}", f.name)),
                "{}",
                f.name
            );
        }
        for f in SERVER_FIELDS.iter() {
            let suffix = if f.kind == Kind::Counter {
                "_total"
            } else {
                ""
            };
            assert!(
                families.contains_key(&format!("dynomite_{}{suffix}", f.name)),
                "{}",
                f.name
            );
        }

        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"dynomite_client_eof_total 3"));
        assert!(lines.contains(&"dynomite_requests_total{command=\"get\",kind=\"read\"} 1"));
        assert!(lines.contains(&"dynomite_requests_total{command=\"set\",kind=\"write\"} 1"));
        assert!(lines.contains(&"dynomite_server_eof_total{server=\"127.0.0.1:6379\"} 1"));
        assert!(lines.contains(&"dynomite_server_eof_total{server=\"srv\\\"2\\\\\\nx\"} 0"));
        assert!(lines
            .contains(&"dynomite_request_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 1"));
        assert!(lines.contains(&"dynomite_request_duration_seconds_sum{command=\"get\"} 0.00015"));
        assert!(lines.contains(&"dynomite_request_duration_seconds_sum{command=\"set\"} 2"));
        assert!(lines.contains(&"dynomite_request_duration_seconds_count{command=\"set\"} 1"));
        assert!(lines.contains(&"dynomite_client_latency_seconds_bucket{le=\"0.000001\"} 0"));
        assert!(lines.contains(&"dynomite_server_queue_wait_seconds_bucket{le=\"30.130993\"} 0"));
        assert!(lines.contains(&"dynomite_server_queue_wait_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(lines.contains(&"dynomite_dc_requests_total{dc=\"dc\\\"2\"} 1"));
        assert!(lines.contains(&"dynomite_alloc_msgs 10"));
        assert!(text.contains("source=\"host\\nname\""));
    }

    #[test]
    fn prometheus_get_latency_buckets() {
        // 150 µs sits in the bucket [148, 177]: le = 0.000177.
        let st = sample_stats();
        let text = render_prometheus(&st, &meta("p", "h"), &[]);
        let i = Histogram::bucket_index(150);
        let le = Unit::Micros.format(HISTO_BOUNDS[i + 1] - 1);
        let below = Unit::Micros.format(HISTO_BOUNDS[i] - 1);
        let line = |le: &str, n: u64| {
            format!("dynomite_request_duration_seconds_bucket{{command=\"get\",le=\"{le}\"}} {n}")
        };
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&line(&le, 1).as_str()), "{le}");
        assert!(lines.contains(&line(&below, 0).as_str()), "{below}");
        validate_prometheus(&text);
    }

    #[test]
    fn prometheus_empty_stats_are_valid() {
        let st = Stats::new(Instant::now(), Vec::new());
        let text = render_prometheus(&st, &meta("p", "h"), &[]);
        let families = validate_prometheus(&text);
        assert!(!families.contains_key("dynomite_requests_total"));
        assert!(!families.contains_key("dynomite_server_eof_total"));
        assert!(!families.contains_key("dynomite_peer_node_requests_total"));
        assert_eq!(families["dynomite_latency_99th"].samples, 1);
    }

    #[test]
    fn micros_as_seconds() {
        let cases = [
            (0u64, "0"),
            (1, "0.000001"),
            (150, "0.00015"),
            (1_000_000, "1"),
            (2_500_000, "2.5"),
            (36_157_191, "36.157191"),
        ];
        for (us, want) in cases {
            assert_eq!(Unit::Micros.format(us), want);
        }
        assert_eq!(Unit::Plain.format(42), "42");
    }

    #[test]
    fn info_top_help_texts() {
        assert_eq!(
            info_top_help("99_cross_region_rtt"),
            "99th percentile of cross region rtt since the last histogram reset, microseconds."
        );
        assert_eq!(
            info_top_help("payload_size_95th"),
            "95th percentile of payload size since the last histogram reset, bytes."
        );
        assert_eq!(
            info_top_help("peer_in_queue_99"),
            "99th percentile of peer in queue since the last histogram reset, requests."
        );
    }
}
