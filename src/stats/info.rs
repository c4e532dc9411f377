//! The JSON bodies of the stats listener (dyn_stats.c `stats_make_info_rsp`,
//! `stats_make_cl_desc_rsp`): `/info` and `/cluster_describe`, laid out
//! byte for byte as the original (field order, newlines, nesting).
//!
//! ```text
//!  Stats + InfoMeta ─► render_info()            {"service":..,"source":..,<top fields>,"<pool>": {<counters>,"<server>": {..}}}
//!  [DcDesc]         ─► render_cluster_describe() {"dcs": [{"name":..,"racks": [{"name":..,"servers": [..]}]}]}
//! ```

use std::fmt::Write as _;

use super::Stats;

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
    /// For a peer (not this node): its detected health (`up`, `suspect`,
    /// `down`) and the state an operator set (`NORMAL`, `DOWN` …), shown
    /// after the original's fields as `state` and `admin_state`.
    pub health: Option<(&'static str, &'static str)>,
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
                add_num(
                    &mut out,
                    "token",
                    u64::from(node.token),
                    node.health.is_none(),
                );
                if let Some((health, admin)) = node.health {
                    add_string(&mut out, "state", health);
                    json_str(&mut out, "admin_state");
                    out.push(':');
                    json_str(&mut out, admin);
                    out.push('\n');
                }
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tests::{meta, sample_stats};
    use crate::stats::{ServerStats, POOL_FIELDS, SERVER_FIELDS};
    use std::time::Instant;

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
        assert!(text.ends_with("\"redis_req_other\":9,\n\"server_auth_failures\":0\n}}}\n"));

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
            health: None,
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

        // A peer shows its detected health and its operator state.
        let mut peer = node("10.0.0.2", "h", 8101, 7);
        peer.health = Some(("down", "NORMAL"));
        let dcs = vec![DcDesc {
            name: "dc".to_owned(),
            racks: vec![RackDesc {
                name: "rack".to_owned(),
                servers: vec![node("1.2.3.4", "host", 8101, 12), peer],
            }],
        }];
        let text = render_cluster_describe(&dcs);
        assert!(text.contains("\"token\":7,\n\"state\":\"down\",\"admin_state\":\"NORMAL\"\n}"));
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(v["dcs"][0]["racks"][0]["servers"][1]["state"], "down");
        assert!(v["dcs"][0]["racks"][0]["servers"][0].get("state").is_none());
    }
}
