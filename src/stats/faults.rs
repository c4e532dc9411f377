//! Fault figures (not in the original, whose faults were invisible): what
//! failure detection and the queue bounds did, node-wide and per peer, and
//! their renderings: the `"faults"` and `"peers"` objects that `/info`
//! appends in a cluster, and the `dynomite_fault_*` and `dynomite_peer_*`
//! families of `/metrics`.
//!
//! ```text
//!  dnode/peer.rs, server.rs, core/timers.rs ──count──► FaultStats (Stats::faults)
//!                                            ──count──► PeerFaultCounts (per peer pool)
//!  admin.rs: PeerRow per peer ─► info_objects() ─► /info
//!                              ─► prometheus_families() ─► /metrics
//! ```
//!
//! Pure: no socket, no clock, no `Context`.

use std::fmt::Write as _;

use super::prometheus::{prom_family, prom_sample};

/// Declares [`FaultStats`] and its ordered view.
macro_rules! fault_counters {
    ($( $field:ident, $help:literal; )*) => {
        /// Node-wide fault counters (cumulative since start).
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct FaultStats {
            $( #[doc = $help] pub $field: u64, )*
        }

        impl FaultStats {
            /// Every counter as (name, help, value), in output order.
            pub fn fields(&self) -> Vec<(&'static str, &'static str, u64)> {
                vec![$( (stringify!($field), $help, self.$field), )*]
            }
        }
    };
}

fault_counters! {
    peer_undeliverable, "Copies and requests for a peer that could not be delivered (peer down or not connected, its queue full, or lost with its connection).";
    peer_queue_full, "Requests and copies refused because the peer's queue held peer_queue_max_msgs messages or peer_queue_max_bytes bytes.";
    peer_fail_fast, "Requests answered at once with an error because their peer was known down.";
    peer_stalls, "Peer connections closed because requests were outstanding and nothing was answered or written for a timeout.";
    peer_connect_timeouts, "Peer connects that did not complete within the timeout.";
    peer_probes, "Probes (a PING on every new peer connection) sent.";
    peer_state_changes, "Peer health changes (up, suspect, down).";
    server_stalls, "Datastore connections closed because requests were outstanding and nothing was answered or written for twice the timeout (at least 1 s).";
    server_queue_full, "Requests refused because a datastore connection already held the most requests it may hold (half of max_msgs).";
    server_connect_timeouts, "Datastore connects that did not complete within the timeout.";
    dedicated_refused, "Blocking commands and subscriptions refused because DEDICATED_MAX (1024) dedicated connections were open to the datastore.";
    subscribers_dropped, "Subscribers closed because the messages waiting for them passed the bound (10000 messages or 32 MiB), or their subscription connection was lost.";
    hints_dropped, "Hints dropped by a bound (hints_max_age, hints_max_memory_bytes, hints_max_disk_bytes) or a failed hint file.";
    storage_error_failovers, "DC_ONE reads sent to another rack's replica because the owner's datastore failed (its storage error, or this node's datastore unreachable).";
    read_repair_divergent, "Replica answers to quorum reads that differed from the winning answer (read repair).";
    read_repairs_sent, "Read repairs sent: RESTORE REPLACE of the winning value to a replica that answered otherwise.";
    read_repairs_ok, "Read repairs the replica applied.";
    read_repairs_failed, "Read repairs that failed: the RESTORE refused or lost, or the winning value could not be read back (DUMP/PTTL failed).";
    read_repairs_dropped, "Read repairs not attempted because too many were already under way.";
    read_repairs_kept, "Read repairs not applied because the replica, which answered empty (for a field or member), holds the key: it is left as it is.";
    read_repairs_meta_sent, "Read repairs with metadata (read_repairs_enabled) sent: the newest write or delete, with its timestamp, to a replica that answered older or never saw it.";
    read_repairs_meta_ok, "Read repairs with metadata the replica answered without an error.";
    read_repairs_meta_failed, "Read repairs with metadata that failed (an error answer, or lost).";
    read_repair_tombstones_cleaned, "Tombstone clean-ups sent (one per replica) after every replica answered a delete (read_repairs_enabled).";
}

/// Fault counts of one peer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerFaultCounts {
    /// Copies and requests not delivered.
    pub undeliverable: u64,
    /// Of those, refused by the queue bound.
    pub queue_full: u64,
    /// Connections closed for making no progress.
    pub stalls: u64,
    /// Health changes.
    pub state_changes: u64,
}

/// The hints of one peer (cluster/handoff.rs): gauges and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HintFigures {
    /// Hints held now (memory and file).
    pub queued: u64,
    /// Their bytes in memory.
    pub memory_bytes: u64,
    /// Size of the peer's hint file.
    pub disk_bytes: u64,
    /// Age of the oldest hint in memory, in ms (0 when none).
    pub oldest_age_ms: u64,
    /// Hints made (copies kept).
    pub hinted: u64,
    /// Hints replayed and applied by the peer.
    pub replayed: u64,
    /// Hints the peer's datastore refused (a client error such as
    /// WRONGTYPE): dropped.
    pub rejected: u64,
    /// Replays that failed and were tried again later.
    pub retries: u64,
    /// Dropped: older than `hints_max_age`.
    pub dropped_age: u64,
    /// Dropped: memory full and no file.
    pub dropped_memory: u64,
    /// Dropped: the file full or failing.
    pub dropped_disk: u64,
    /// Damaged or torn records skipped in the file.
    pub corrupt: u64,
}

impl HintFigures {
    /// Every figure as (name, value), in output order.
    pub fn fields(&self) -> [(&'static str, u64); 12] {
        [
            ("queued", self.queued),
            ("memory_bytes", self.memory_bytes),
            ("disk_bytes", self.disk_bytes),
            ("oldest_age_ms", self.oldest_age_ms),
            ("hinted", self.hinted),
            ("replayed", self.replayed),
            ("rejected", self.rejected),
            ("retries", self.retries),
            ("dropped_age", self.dropped_age),
            ("dropped_memory", self.dropped_memory),
            ("dropped_disk", self.dropped_disk),
            ("corrupt", self.corrupt),
        ]
    }
}

/// One peer as `/info` and `/metrics` show its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRow {
    /// The peer's address, `host:port` (its peer port): unique where seed
    /// names may repeat; the key in `/info` and the `peer` label.
    pub name: String,
    /// The state an operator (or gossip) set: `NORMAL`, `DOWN` …
    pub admin: &'static str,
    /// Detected health: `up`, `suspect`, `down`.
    pub health: &'static str,
    /// Its number (0 up, 1 suspect, 2 down).
    pub health_number: u8,
    /// Faults since the last answer.
    pub failures: u32,
    /// The last fault seen, if any.
    pub last_fault: &'static str,
    /// Seconds in the current health (0 when it never changed).
    pub since_secs: u64,
    /// Established connections.
    pub connections: u64,
    /// Requests and copies queued (written or not).
    pub queued_msgs: u64,
    /// Their bytes.
    pub queued_bytes: u64,
    /// Its fault counts.
    pub counts: PeerFaultCounts,
    /// Its hints.
    pub hints: HintFigures,
}

fn json_str(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// The objects `/info` appends in a cluster, each preceded by a comma:
/// `,"faults": {...},"peers": {"<name>": {...}, ...}`.
pub fn info_objects(faults: &FaultStats, peers: &[PeerRow]) -> String {
    let mut out = String::with_capacity(256 + 256 * peers.len());
    out.push_str(",\"faults\": {");
    let fields = faults.fields();
    for (i, (name, _, value)) in fields.iter().enumerate() {
        json_str(&mut out, name);
        let _ = write!(out, ":{value}");
        out.push_str(if i + 1 == fields.len() { "}" } else { "," });
    }
    out.push_str(",\"peers\": {");
    for (i, p) in peers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&mut out, &p.name);
        out.push_str(": {\"state\":");
        json_str(&mut out, p.health);
        out.push_str(",\"admin_state\":");
        json_str(&mut out, p.admin);
        out.push_str(",\"last_fault\":");
        json_str(&mut out, p.last_fault);
        let nums = [
            ("failures", u64::from(p.failures)),
            ("state_secs", p.since_secs),
            ("connections", p.connections),
            ("queued_msgs", p.queued_msgs),
            ("queued_bytes", p.queued_bytes),
            ("undeliverable", p.counts.undeliverable),
            ("queue_full", p.counts.queue_full),
            ("stalls", p.counts.stalls),
            ("state_changes", p.counts.state_changes),
        ];
        for (k, v) in nums {
            out.push(',');
            json_str(&mut out, k);
            let _ = write!(out, ":{v}");
        }
        out.push_str(",\"hints\":{");
        for (i, (k, v)) in p.hints.fields().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json_str(&mut out, k);
            let _ = write!(out, ":{v}");
        }
        out.push_str("}}");
    }
    out.push('}');
    out
}

/// The `/metrics` families of the fault counters and of each peer's health.
pub fn prometheus_families(out: &mut String, faults: &FaultStats, peers: &[PeerRow]) {
    for (name, help, value) in faults.fields() {
        let family = format!("dynomite_fault_{name}_total");
        prom_family(out, &family, "counter", help);
        prom_sample(out, &family, &[], &value.to_string());
    }
    if peers.is_empty() {
        return;
    }
    let mut rows: Vec<&PeerRow> = peers.iter().collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    rows.dedup_by(|a, b| a.name == b.name);
    type Get = fn(&PeerRow) -> u64;
    let gauges: [(&str, &str, &str, Get); 5] = [
        (
            "dynomite_peer_health",
            "gauge",
            "Detected health of each peer: 0 up, 1 suspect, 2 down.",
            |p| u64::from(p.health_number),
        ),
        (
            "dynomite_peer_admin_down",
            "gauge",
            "1 when an operator set the peer DOWN (/peer/down).",
            |p| u64::from(p.admin == "DOWN"),
        ),
        (
            "dynomite_peer_queued_messages",
            "gauge",
            "Requests and copies queued for each peer, written or not.",
            |p| p.queued_msgs,
        ),
        (
            "dynomite_peer_queued_bytes",
            "gauge",
            "Bytes queued for each peer.",
            |p| p.queued_bytes,
        ),
        (
            "dynomite_peer_undeliverable_total",
            "counter",
            "Copies and requests for each peer that could not be delivered.",
            |p| p.counts.undeliverable,
        ),
    ];
    for (family, kind, help, get) in gauges {
        prom_family(out, family, kind, help);
        for p in &rows {
            prom_sample(out, family, &[("peer", &p.name)], &get(p).to_string());
        }
    }
    let hint_gauges: [(&str, &str, &str, Get); 4] = [
        (
            "dynomite_peer_hints_queued",
            "gauge",
            "Hints held for each peer (memory and file).",
            |p| p.hints.queued,
        ),
        (
            "dynomite_peer_hints_memory_bytes",
            "gauge",
            "Bytes of the hints held in memory for each peer.",
            |p| p.hints.memory_bytes,
        ),
        (
            "dynomite_peer_hints_disk_bytes",
            "gauge",
            "Size of each peer's hint file.",
            |p| p.hints.disk_bytes,
        ),
        (
            "dynomite_peer_hints_oldest_age_seconds",
            "gauge",
            "Age of the oldest hint held for each peer.",
            |p| p.hints.oldest_age_ms / 1000,
        ),
    ];
    let hint_counters: [(&str, &str, Get); 5] = [
        (
            "dynomite_peer_hints_total",
            "Hints made for each peer (copies it could not take).",
            |p| p.hints.hinted,
        ),
        (
            "dynomite_peer_hints_replayed_total",
            "Hints replayed to and applied by each peer.",
            |p| p.hints.replayed,
        ),
        (
            "dynomite_peer_hints_rejected_total",
            "Replayed hints each peer's datastore refused (client errors), dropped.",
            |p| p.hints.rejected,
        ),
        (
            "dynomite_peer_hints_retries_total",
            "Hint replays that failed and were tried again.",
            |p| p.hints.retries,
        ),
        (
            "dynomite_peer_hints_corrupt_total",
            "Damaged or torn hint file records skipped.",
            |p| p.hints.corrupt,
        ),
    ];
    for (family, kind, help, get) in hint_gauges {
        prom_family(out, family, kind, help);
        for p in &rows {
            prom_sample(out, family, &[("peer", &p.name)], &get(p).to_string());
        }
    }
    for (family, help, get) in hint_counters {
        prom_family(out, family, "counter", help);
        for p in &rows {
            prom_sample(out, family, &[("peer", &p.name)], &get(p).to_string());
        }
    }
    let family = "dynomite_peer_hints_dropped_total";
    prom_family(
        out,
        family,
        "counter",
        "Hints dropped for each peer, by the bound that dropped them.",
    );
    for p in &rows {
        for (reason, v) in [
            ("age", p.hints.dropped_age),
            ("memory", p.hints.dropped_memory),
            ("disk", p.hints.dropped_disk),
        ] {
            prom_sample(
                out,
                family,
                &[("peer", &p.name), ("reason", reason)],
                &v.to_string(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> PeerRow {
        PeerRow {
            name: name.into(),
            admin: "NORMAL",
            health: "down",
            health_number: 2,
            failures: 3,
            last_fault: "no progress",
            since_secs: 4,
            connections: 0,
            queued_msgs: 5,
            queued_bytes: 600,
            counts: PeerFaultCounts {
                undeliverable: 7,
                queue_full: 1,
                stalls: 2,
                state_changes: 2,
            },
            hints: HintFigures {
                queued: 3,
                dropped_age: 1,
                ..HintFigures::default()
            },
        }
    }

    #[test]
    fn info_objects_are_valid_json_after_a_document() {
        let faults = FaultStats {
            peer_undeliverable: 7,
            ..FaultStats::default()
        };
        let text = format!(
            "{{\"a\":1{}}}",
            info_objects(&faults, &[row("b\"x"), row("c")])
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["faults"]["peer_undeliverable"], 7);
        assert_eq!(v["faults"]["server_stalls"], 0);
        assert_eq!(v["peers"]["b\"x"]["state"], "down");
        assert_eq!(v["peers"]["c"]["admin_state"], "NORMAL");
        assert_eq!(v["peers"]["c"]["queued_bytes"], 600);
        assert_eq!(v["peers"]["c"]["last_fault"], "no progress");
        assert_eq!(v["peers"]["c"]["hints"]["queued"], 3);
        assert_eq!(v["peers"]["c"]["hints"]["replayed"], 0);
        let empty = format!("{{\"a\":1{}}}", info_objects(&faults, &[]));
        let v: serde_json::Value = serde_json::from_str(&empty).expect("valid JSON");
        assert!(v["peers"].as_object().is_some_and(|o| o.is_empty()));
    }

    #[test]
    fn prometheus_families_label_each_peer_once() {
        let mut out = String::new();
        prometheus_families(
            &mut out,
            &FaultStats::default(),
            &[row("z"), row("a"), row("z")],
        );
        assert!(out.contains("# TYPE dynomite_fault_peer_stalls_total counter\n"));
        assert!(out.contains("dynomite_fault_peer_stalls_total 0\n"));
        assert!(out.contains("dynomite_peer_health{peer=\"a\"} 2\n"));
        assert_eq!(out.matches("dynomite_peer_health{peer=\"z\"}").count(), 1);
        assert!(out.contains("dynomite_peer_undeliverable_total{peer=\"z\"} 7\n"));
        assert!(out.contains("dynomite_peer_hints_queued{peer=\"a\"} 3\n"));
        assert!(out.contains("dynomite_peer_hints_dropped_total{peer=\"a\",reason=\"age\"} 1\n"));
    }
}
