//! Prometheus text exposition format 0.0.4 for `/metrics` (no counterpart
//! in the original): every `/info` figure, the per-server, per-command,
//! per-peer and per-DC figures, and the histograms with their buckets.
//!
//! ```text
//!  Stats + InfoMeta ─► render_prometheus()
//!      # HELP / # TYPE per family ─► samples: dynomite_<name>[_total]{labels} value
//!      histograms ─► _bucket{le=..} (cumulative), _sum, _count
//! ```

use std::fmt::Write as _;

use super::fields::{Kind, POOL_FIELDS, SERVER_FIELDS};
use super::histogram::{Histogram, HISTO_BOUNDS};
use super::info::{info_top_fields, InfoMeta};
use super::{PeerStats, Stats};

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
pub(super) fn prom_family(out: &mut String, name: &str, kind: &str, help: &str) {
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
pub(super) fn prom_sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: &str) {
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
    rows: &[(&str, PeerStats)],
) {
    if rows.is_empty() {
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
        for (key, p) in rows {
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
    for (key, p) in rows {
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
        &stats.peer_rows(),
    );
    prom_peer_families(
        &mut out,
        "dynomite_dc",
        "dc",
        "datacenter",
        &stats.dc_rows(),
    );

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
    use crate::ids::PeerId;
    use crate::stats::tests::{meta, sample_stats};
    use crate::stats::ServerStats;
    use std::collections::BTreeMap;
    use std::time::Instant;

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
        st.add_dc(0, "dc1");
        st.add_dc(1, "dc\"2");
        st.add_peer(PeerId(1), "10.0.0.2:8101", 1);
        st.record_peer_request(PeerId(1), 10);
        st.record_peer_response(PeerId(1), 10, 1500);
        st.record_peer_error(PeerId(1));
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
    fn prometheus_peer_labels_in_name_order() {
        let mut st = Stats::new(Instant::now(), Vec::new());
        st.add_dc(0, "dc1");
        st.add_dc(1, "a-dc");
        st.add_peer(PeerId(1), "zeta", 0);
        st.add_peer(PeerId(2), "alpha", 1);
        st.add_peer(PeerId(3), "zeta", 1);
        for id in [1, 2, 3, 3] {
            st.record_peer_request(PeerId(id), 1);
        }
        let text = render_prometheus(&st, &meta("p", "h"), &[]);
        validate_prometheus(&text);
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("dynomite_peer_node_requests_total{")
                    || l.starts_with("dynomite_dc_requests_total{")
            })
            .collect();
        assert_eq!(
            lines,
            [
                "dynomite_peer_node_requests_total{peer=\"alpha\"} 1",
                "dynomite_peer_node_requests_total{peer=\"zeta\"} 3",
                "dynomite_dc_requests_total{dc=\"a-dc\"} 3",
                "dynomite_dc_requests_total{dc=\"dc1\"} 1",
            ]
        );
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
