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
//! The files: `fields.rs` (counter tables, `-D`), `histogram.rs`,
//! `info.rs` (`/info`, `/cluster_describe`), `prometheus.rs` (`/metrics`),
//! this file (`Stats` and its `record_*` helpers), then the listener:
//! `http.rs` (parsing, routes) and `admin.rs` (on the event loop).
//!
//! Everything but `admin.rs` is pure: it never touches a socket, a thread
//! or a global.

pub mod admin;
pub mod faults;
pub mod fields;
pub mod histogram;
pub mod http;
pub mod info;
pub mod prometheus;

pub use fields::{
    describe, FieldDesc, Kind, PoolStats, ServerStats, POOL_FIELDS, POOL_FIELD_COUNT,
    SERVER_FIELDS, SERVER_FIELD_COUNT,
};
pub use histogram::{HistoSummary, Histogram, HISTO_BOUNDS, HISTO_BUCKETS};
pub use info::{
    info_top_fields, render_cluster_describe, render_info, DcDesc, InfoMeta, NodeDesc, RackDesc,
    INFO_TOP_COUNT,
};
pub use prometheus::{render_prometheus, PROMETHEUS_CONTENT_TYPE};

use std::collections::BTreeMap;

use crate::ids::PeerId;
use std::time::{Duration, Instant};

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

impl PeerStats {
    /// Adds `other`'s figures (peers shown under one name).
    pub fn merge(&mut self, other: &PeerStats) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.rtt.merge(&other.rtt);
    }
}

/// One peer's figures and the names they are shown under.
#[derive(Clone, Debug, Default)]
pub struct PeerEntry {
    /// The peer's display name (the `peer` label).
    pub name: String,
    /// Index of its DC in [`Stats::by_dc`]; 0 is this node's DC.
    pub dc: usize,
    /// Set by the first `record_*`: only peers that saw a request are shown.
    pub seen: bool,
    /// The figures.
    pub stats: PeerStats,
}

/// One datacenter's figures (every peer of it summed).
#[derive(Clone, Debug, Default)]
pub struct DcEntry {
    /// The DC's name (the `dc` label).
    pub name: String,
    /// Set by the first `record_*`: only DCs that saw a request are shown.
    pub seen: bool,
    /// The figures.
    pub stats: PeerStats,
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
    /// Per peer, indexed by `PeerId` (entries made by [`Stats::add_peer`]).
    pub by_peer: Vec<PeerEntry>,
    /// Per datacenter, indexed by the topology's DC index (entries made by
    /// [`Stats::add_dc`]).
    pub by_dc: Vec<DcEntry>,
    /// When the node started; `uptime` counts from here.
    pub started: Instant,
    /// When the histograms were last emptied.
    pub last_reset: Instant,
    /// Set by `/historeset`; honoured by the next [`Stats::maybe_reset`].
    pub reset_requested: bool,
    /// What failure detection and the queue bounds did (faults.rs).
    pub faults: faults::FaultStats,
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
            by_peer: Vec::new(),
            by_dc: Vec::new(),
            started: now,
            last_reset: now,
            reset_requested: false,
            faults: faults::FaultStats::default(),
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

    /// Makes the entry of DC `dc` (its index in the topology, which never
    /// changes), named `name`. Adding a known DC again changes nothing.
    pub fn add_dc(&mut self, dc: usize, name: &str) {
        if self.by_dc.len() <= dc {
            self.by_dc.resize_with(dc + 1, DcEntry::default);
        }
        let e = &mut self.by_dc[dc];
        debug_assert!(e.name.is_empty() || e.name == name, "DC {dc} renamed");
        if e.name.is_empty() {
            e.name = name.to_owned();
        }
    }

    /// Makes the entry of peer `id`, shown as `name`, in DC `dc` (added
    /// first with [`Stats::add_dc`]).
    pub fn add_peer(&mut self, id: PeerId, name: &str, dc: usize) {
        debug_assert!(dc < self.by_dc.len());
        if self.by_peer.len() <= id.idx() {
            self.by_peer.resize_with(id.idx() + 1, PeerEntry::default);
        }
        self.by_peer[id.idx()] = PeerEntry {
            name: name.to_owned(),
            dc,
            seen: false,
            stats: PeerStats::default(),
        };
    }

    /// The figures of `peer` and of its DC, marked seen; `None` (and
    /// nothing counted) for a peer never added. Also says whether the peer
    /// is in this node's DC.
    fn peer_and_dc(&mut self, peer: PeerId) -> Option<(&mut PeerStats, &mut PeerStats, bool)> {
        let Some(p) = self.by_peer.get_mut(peer.idx()) else {
            debug_assert!(false, "stats of peer {} never added", peer.0);
            return None;
        };
        let d = &mut self.by_dc[p.dc];
        p.seen = true;
        d.seen = true;
        Some((&mut p.stats, &mut d.stats, p.dc == 0))
    }

    /// A request was forwarded to `peer`.
    pub fn record_peer_request(&mut self, peer: PeerId, bytes: u64) {
        self.pool.peer_requests += 1;
        self.pool.peer_request_bytes += bytes;
        if let Some((p, d, _)) = self.peer_and_dc(peer) {
            p.requests += 1;
            d.requests += 1;
        }
    }

    /// `peer` replied after `micros`; its DC selects the cross-zone (this
    /// node's DC) or cross-region histogram.
    pub fn record_peer_response(&mut self, peer: PeerId, bytes: u64, micros: u64) {
        self.pool.peer_responses += 1;
        self.pool.peer_response_bytes += bytes;
        let Some((p, d, same_dc)) = self.peer_and_dc(peer) else {
            return;
        };
        p.rtt.record(micros);
        d.rtt.record(micros);
        if same_dc {
            self.cross_zone_latency.record(micros);
        } else {
            self.cross_region_latency.record(micros);
        }
    }

    /// A request to `peer` failed (error or lost with its connection).
    pub fn record_peer_error(&mut self, peer: PeerId) {
        if let Some((p, d, _)) = self.peer_and_dc(peer) {
            p.errors += 1;
            d.errors += 1;
        }
    }

    /// A request to `peer` timed out; counts the pool counter of its side.
    pub fn record_peer_timeout(&mut self, peer: PeerId) {
        let Some((p, d, same_dc)) = self.peer_and_dc(peer) else {
            return;
        };
        p.timeouts += 1;
        d.timeouts += 1;
        if same_dc {
            self.pool.peer_timedout_requests += 1;
        } else {
            self.pool.remote_peer_timedout_requests += 1;
        }
    }

    /// The figures of every peer that saw a request, sorted by name; peers
    /// sharing a name are shown as one (summed), as names are the labels.
    pub fn peer_rows(&self) -> Vec<(&str, PeerStats)> {
        named_rows(
            self.by_peer
                .iter()
                .filter(|p| p.seen)
                .map(|p| (p.name.as_str(), &p.stats)),
        )
    }

    /// The figures of every DC that saw a request, sorted by name.
    pub fn dc_rows(&self) -> Vec<(&str, PeerStats)> {
        named_rows(
            self.by_dc
                .iter()
                .filter(|d| d.seen)
                .map(|d| (d.name.as_str(), &d.stats)),
        )
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
        for p in self.by_peer.iter_mut() {
            p.stats.rtt.reset();
        }
        for d in self.by_dc.iter_mut() {
            d.stats.rtt.reset();
        }
        self.last_reset = now;
        self.reset_requested = false;
    }

    /// Seconds since start.
    pub fn uptime_s(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }
}

/// Rows sorted by name (byte-wise, as the labels were always ordered),
/// rows of the same name merged.
fn named_rows<'a>(
    rows: impl Iterator<Item = (&'a str, &'a PeerStats)>,
) -> Vec<(&'a str, PeerStats)> {
    let mut rows: Vec<(&str, &PeerStats)> = rows.collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut out: Vec<(&str, PeerStats)> = Vec::with_capacity(rows.len());
    for (name, st) in rows {
        match out.last_mut() {
            Some((last, sum)) if *last == name => sum.merge(st),
            _ => out.push((name, st.clone())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn sample_stats() -> Stats {
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

    pub(super) fn meta<'a>(pool: &'a str, host: &'a str) -> InfoMeta<'a> {
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

        st.add_dc(0, "dc1");
        st.add_dc(1, "dc2");
        st.add_peer(PeerId(1), "10.0.0.2", 1);
        st.add_peer(PeerId(2), "10.0.0.3", 0);
        st.record_peer_request(PeerId(1), 40);
        st.record_peer_response(PeerId(1), 50, 900);
        st.record_peer_error(PeerId(1));
        st.record_peer_timeout(PeerId(2));
        assert_eq!(st.pool.peer_requests, 1);
        assert_eq!(st.pool.peer_response_bytes, 50);
        assert_eq!(st.pool.peer_timedout_requests, 1);
        assert_eq!(st.cross_region_latency.count(), 1);
        assert_eq!(st.cross_zone_latency.count(), 0);
        assert_eq!(st.by_peer[1].stats.errors, 1);
        assert_eq!(st.by_dc[1].stats.rtt.count(), 1);
        assert_eq!(st.by_dc[0].stats.timeouts, 1);
        assert_eq!(st.pool.remote_peer_timedout_requests, 0);
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
    fn peer_rows_sorted_by_name_and_merged() {
        let mut st = sample_stats();
        st.add_dc(0, "dc1");
        st.add_dc(1, "dc0");
        st.add_dc(2, "dc-unused");
        // Ids in another order than names; two peers share a name (the
        // default name is the host, the same for every loopback node).
        st.add_peer(PeerId::LOCAL, "self", 0);
        st.add_peer(PeerId(1), "b", 0);
        st.add_peer(PeerId(2), "a", 1);
        st.add_peer(PeerId(3), "b", 1);
        st.add_peer(PeerId(4), "never", 0);
        st.record_peer_request(PeerId(1), 1);
        st.record_peer_request(PeerId(3), 1);
        st.record_peer_response(PeerId(3), 1, 100);
        st.record_peer_timeout(PeerId(2));
        assert_eq!(st.pool.remote_peer_timedout_requests, 1);
        assert_eq!(st.cross_region_latency.count(), 1);
        let rows = st.peer_rows();
        let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(rows[0].1.timeouts, 1);
        assert_eq!(rows[1].1.requests, 2);
        assert_eq!(rows[1].1.rtt.count(), 1);
        let rows = st.dc_rows();
        let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
        assert_eq!(names, ["dc0", "dc1"]);
        assert_eq!(rows[0].1.requests, 1);
        assert_eq!(rows[0].1.timeouts, 1);
        assert_eq!(rows[1].1.requests, 1);
        // A reset empties the round trips, not the counters; seen entries
        // stay shown.
        st.request_reset();
        assert!(st.maybe_reset(st.last_reset));
        assert_eq!(st.peer_rows()[1].1.rtt.count(), 0);
        assert_eq!(st.peer_rows()[1].1.requests, 2);
        // A peer added again (its id reused) starts from zero.
        st.add_peer(PeerId(2), "c", 0);
        assert_eq!(st.peer_rows().len(), 1);
    }
}
