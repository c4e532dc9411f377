//! The stats and admin listener (the HTTP side of dyn_stats.c), served by
//! the same event loop as everything else: one slow HTTP client cannot block
//! anything, and every figure is live.
//!
//! ```text
//!  StatsProxy ─accept─► StatsClient ─read─► stats_http::parse_request
//!      ─► stats_http::route ─► Admin action on the Context ─► response bytes
//! ```

use std::io::{self, IoSlice, Read};

use log::{debug, info, warn};
use mio::Interest;

use crate::cluster::state::PeerState;
use crate::cluster::topology::Change;
use crate::conf::Consistency;
use crate::conn::{CloseReason, Conn, ConnKind, ConnState, Outcome, Role, Sock};
use crate::core::Context;
use crate::ids::PeerId;
use crate::logging;
use crate::msg::ConnId;
use crate::stats::http::{self as http, Admin, HttpParse, Method, PeerVerb};
use crate::stats::{self, faults, DcDesc, InfoMeta, NodeDesc, RackDesc};

impl Context {
    /// Accepts HTTP clients of the stats listener.
    pub(crate) fn stats_accept(&mut self, lid: ConnId) {
        loop {
            let Some(l) = self.conns.get(lid.0) else {
                return;
            };
            let Sock::TcpListener(listener) = &l.sock else {
                return;
            };
            match listener.accept() {
                Ok((s, addr)) => {
                    let c = Conn::new(
                        Role::StatsClient(Box::default()),
                        ConnState::Connected,
                        Sock::Tcp(s),
                        addr.to_string(),
                    );
                    if let Err(e) = self.add_conn(c, Interest::READABLE) {
                        warn!("registering a stats client failed: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!("sp {} accept failed: {}", lid.0, e);
                    return;
                }
            }
        }
    }

    /// Reads HTTP requests and answers every complete one.
    pub(crate) fn stats_recv(&mut self, cid: ConnId) -> Outcome {
        let mut buf = [0u8; 4096];
        loop {
            let c = &mut self.conns[cid.0];
            let Sock::Tcp(s) = &mut c.sock else {
                return Outcome::Ok;
            };
            match s.read(&mut buf) {
                Ok(0) => return Outcome::Close(CloseReason::Eof),
                Ok(n) => {
                    let Role::StatsClient(h) = &mut c.role else {
                        unreachable!("stats conn");
                    };
                    h.input.extend_from_slice(&buf[..n]);
                    if h.input.len() > http::MAX_REQUEST_BYTES + buf.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    debug!("sc {} read failed: {}", cid.0, e);
                    return Outcome::Close(CloseReason::Error);
                }
            }
        }
        loop {
            let h = self.conns[cid.0].http_mut().expect("stats conn");
            if h.close || h.input.is_empty() {
                break;
            }
            match http::parse_request(&h.input) {
                HttpParse::Partial => break,
                HttpParse::Bad(why) => {
                    let out = http::bad_request(why, false, false);
                    h.output.extend_from_slice(&out);
                    h.close = true;
                    h.input.clear();
                }
                HttpParse::Request {
                    method,
                    path,
                    keep_alive,
                    consumed,
                } => {
                    h.input.drain(..consumed);
                    self.stats.pool.stats_count += 1;
                    let out = match method {
                        Method::Other => http::method_not_allowed(keep_alive),
                        Method::Get | Method::Head => {
                            self.admin(&path, keep_alive, method == Method::Head)
                        }
                    };
                    let h = self.conns[cid.0].http_mut().expect("stats conn");
                    h.output.extend_from_slice(&out);
                    h.close |= !keep_alive;
                }
            }
        }
        self.schedule_flush(cid);
        Outcome::Ok
    }

    /// Writes pending HTTP output; closes when told to.
    pub(crate) fn stats_send(&mut self, cid: ConnId) -> Outcome {
        loop {
            let c = &mut self.conns[cid.0];
            let Role::StatsClient(h) = &mut c.role else {
                unreachable!("stats conn");
            };
            if h.output.is_empty() {
                if h.close {
                    return Outcome::Close(CloseReason::Done);
                }
                self.set_write_interest(cid, false);
                return Outcome::Ok;
            }
            match c.sock.write_vectored(&[IoSlice::new(&h.output)]) {
                Ok(n) => {
                    h.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.set_write_interest(cid, true);
                    return Outcome::Ok;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Outcome::Close(CloseReason::Error),
            }
        }
    }

    /// Runs one admin command; returns the whole HTTP response.
    fn admin(&mut self, path: &str, keep_alive: bool, head: bool) -> Vec<u8> {
        let text = |body: &str| {
            http::response(
                200,
                http::CONTENT_TYPE_TEXT,
                body.as_bytes(),
                keep_alive,
                head,
            )
        };
        match http::route(path) {
            Admin::Info => {
                let body = self.render_info();
                http::response(
                    200,
                    http::CONTENT_TYPE_JSON,
                    body.as_bytes(),
                    keep_alive,
                    head,
                )
            }
            Admin::Metrics => {
                let body = self.render_metrics();
                http::response(
                    200,
                    stats::PROMETHEUS_CONTENT_TYPE,
                    body.as_bytes(),
                    keep_alive,
                    head,
                )
            }
            Admin::ClusterDescribe => {
                let body = stats::render_cluster_describe(&self.describe_cluster());
                http::response(
                    200,
                    http::CONTENT_TYPE_JSON,
                    body.as_bytes(),
                    keep_alive,
                    head,
                )
            }
            Admin::Gossip => http::response(
                200,
                http::CONTENT_TYPE_JSON,
                self.gossip_json().as_bytes(),
                keep_alive,
                head,
            ),
            Admin::WarmupStart => {
                self.warmup_start(false);
                http::response(
                    200,
                    http::CONTENT_TYPE_JSON,
                    self.warmup_json().as_bytes(),
                    keep_alive,
                    head,
                )
            }
            Admin::WarmupStatus => http::response(
                200,
                http::CONTENT_TYPE_JSON,
                self.warmup_json().as_bytes(),
                keep_alive,
                head,
            ),
            Admin::EntropyStart => {
                self.entropy_start(false);
                http::response(
                    200,
                    http::CONTENT_TYPE_JSON,
                    self.entropy_json().as_bytes(),
                    keep_alive,
                    head,
                )
            }
            Admin::EntropyStatus => http::response(
                200,
                http::CONTENT_TYPE_JSON,
                self.entropy_json().as_bytes(),
                keep_alive,
                head,
            ),
            Admin::Help => text(http::help_text()),
            Admin::Ping => text(http::OK_BODY),
            Admin::LogLevelUp => {
                let l = logging::level_up();
                logging::always(&format!("up log level to {l}"));
                text(http::OK_BODY)
            }
            Admin::LogLevelDown => {
                let l = logging::level_down();
                logging::always(&format!("down log level to {l}"));
                text(http::OK_BODY)
            }
            Admin::SetLogLevel(n) => {
                let l = logging::set_level(n as usize);
                logging::always(&format!("set log level to {l}"));
                text(http::OK_BODY)
            }
            Admin::HistoReset => {
                self.stats.request_reset();
                self.stats.maybe_reset(self.now);
                text(http::OK_BODY)
            }
            Admin::GetConsistency => text(&http::consistency_body(
                self.settings.read_consistency,
                self.settings.write_consistency,
            )),
            Admin::SetConsistency { write, level } => {
                self.set_consistency(write, level);
                text(http::OK_BODY)
            }
            Admin::GetTimeoutFactor => text(&http::timeout_factor_body(self.timeout_factor)),
            Admin::SetTimeoutFactor(f) => {
                self.timeout_factor = f;
                info!("timeout factor set to {f}");
                text(http::OK_BODY)
            }
            Admin::Peer { verb, name } => match self.peer_admin(verb, &name) {
                Ok(()) => text(http::OK_BODY),
                Err(e) => http::bad_request(&e, keep_alive, head),
            },
            Admin::ReadRepairs(on) => {
                self.read_repairs = on;
                text(http::read_repairs_body(on))
            }
            Admin::GetState => text(&http::state_body(self.state)),
            Admin::SetState(s) => {
                info!("node state set to {}", s.name());
                self.state = s;
                text(http::OK_BODY)
            }
            Admin::NotFound => http::not_found(keep_alive, head),
            Admin::BadRequest(why) => http::bad_request(&why, keep_alive, head),
        }
    }

    /// Sets the node-wide level; existing client connections follow too.
    fn set_consistency(&mut self, write: bool, level: Consistency) {
        info!(
            "{} consistency set to {}",
            if write { "write" } else { "read" },
            level.name()
        );
        if write {
            self.settings.write_consistency = level;
        } else {
            self.settings.read_consistency = level;
        }
        for (_, c) in self.conns.iter_mut() {
            if let Role::Client(c) = &mut c.role {
                if write {
                    c.write_consistency = level;
                } else {
                    c.read_consistency = level;
                }
            }
        }
    }

    /// `/peer/<up|down|reset>/<name|all>`: DOWN keeps a peer out of routing
    /// (its replicas fail as unreachable, reads fail over), UP brings it back,
    /// RESET closes its connections so that they are opened afresh.
    fn peer_admin(&mut self, verb: PeerVerb, name: &str) -> Result<(), String> {
        let targets: Vec<PeerId> = self
            .topology
            .peers()
            .filter(|(id, peer)| {
                !id.is_local()
                    && (name == "all"
                        || peer.name == name
                        || format!("{}:{}", peer.host, peer.port) == name)
            })
            .map(|(id, _)| id)
            .collect();
        if targets.is_empty() && name != "all" {
            return Err(format!("no peer named '{name}'"));
        }
        let verb = if name == "all" { PeerVerb::Reset } else { verb };
        for p in targets {
            let state = match verb {
                PeerVerb::Down => PeerState::Down,
                PeerVerb::Up | PeerVerb::Reset => PeerState::Normal,
            };
            if self.topology.peer(p).state != state {
                self.apply_topology(Change::SetState { peer: p, state })
                    .map_err(|e| e.to_string())?;
            }
            if verb == PeerVerb::Reset {
                let conns: Vec<ConnId> =
                    self.peers[p].slots.iter().filter_map(|s| s.conn).collect();
                for c in conns {
                    self.close_conn(c);
                }
            }
        }
        Ok(())
    }

    /// Brings the gauges up to date (they are derived from the queues).
    pub(crate) fn update_gauges(&mut self) {
        let pool = &mut self.stats.pool;
        pool.client_connections = 0;
        pool.dnode_client_connections = 0;
        pool.dnode_client_out_queue = 0;
        pool.dnode_client_out_queue_bytes = 0;
        pool.peer_connections = 0;
        pool.peer_in_queue = 0;
        pool.peer_in_queue_bytes = 0;
        pool.peer_out_queue = 0;
        pool.peer_out_queue_bytes = 0;
        pool.remote_peer_in_queue = 0;
        pool.remote_peer_in_queue_bytes = 0;
        pool.remote_peer_out_queue = 0;
        pool.remote_peer_out_queue_bytes = 0;
        for (_, st) in self.stats.servers.iter_mut() {
            st.in_queue = 0;
            st.in_queue_bytes = 0;
            st.out_queue = 0;
            st.out_queue_bytes = 0;
        }
        let bytes = |q: &std::collections::VecDeque<crate::msg::MsgId>| -> u64 {
            q.iter().map(|&m| self.msgs[m].mlen).sum()
        };
        for (_, c) in self.conns.iter() {
            if c.state == ConnState::Closing {
                continue;
            }
            let pool = &mut self.stats.pool;
            match c.kind() {
                ConnKind::Client => pool.client_connections += 1,
                ConnKind::DnodeClient => {
                    pool.dnode_client_connections += 1;
                    pool.dnode_client_out_queue += c.omsg_q.len() as u64;
                    pool.dnode_client_out_queue_bytes += bytes(&c.omsg_q);
                }
                ConnKind::DnodePeer => {
                    if c.state == ConnState::Connected {
                        pool.peer_connections += 1;
                    }
                    let same = c.peer_slot().is_some_and(|(p, _)| self.topology.same_dc(p));
                    let (iq, ib, oq, ob) = (
                        c.imsg_q.len() as u64,
                        bytes(&c.imsg_q),
                        c.omsg_q.len() as u64,
                        bytes(&c.omsg_q),
                    );
                    if same {
                        pool.peer_in_queue += iq;
                        pool.peer_in_queue_bytes += ib;
                        pool.peer_out_queue += oq;
                        pool.peer_out_queue_bytes += ob;
                    } else {
                        pool.remote_peer_in_queue += iq;
                        pool.remote_peer_in_queue_bytes += ib;
                        pool.remote_peer_out_queue += oq;
                        pool.remote_peer_out_queue_bytes += ob;
                    }
                }
                ConnKind::Server => {
                    let Some(slot) = c.server_slot() else {
                        continue;
                    };
                    let (iq, ib, oq, ob) = (
                        c.imsg_q.len() as u64,
                        bytes(&c.imsg_q),
                        c.omsg_q.len() as u64,
                        bytes(&c.omsg_q),
                    );
                    if let Some((_, st)) = self.stats.servers.get_mut(slot.server) {
                        st.in_queue += iq;
                        st.in_queue_bytes += ib;
                        st.out_queue += oq;
                        st.out_queue_bytes += ob;
                    }
                }
                _ => {}
            }
        }
    }

    fn info_meta_values(&self) -> (u64, u64, u64, u64, u64) {
        let maxrss = crate::sys::rusage_self().ru_maxrss.max(0) as u64;
        (
            self.msgs.in_use() as u64 + self.msgs.spare_count() as u64,
            self.msgs.spare_count() as u64,
            self.mbufs.in_use() as u64 + self.mbufs.free_count() as u64,
            self.mbufs.free_count() as u64,
            maxrss,
        )
    }

    /// Runs `f` with live figures: gauges brought up to date, histograms
    /// reset when due, and the `/info` top-level values.
    fn with_meta<R>(&mut self, f: impl FnOnce(&Self, &InfoMeta) -> R) -> R {
        self.update_gauges();
        self.stats.maybe_reset(self.now);
        let (alloc_msgs, free_msgs, alloc_mbufs, free_mbufs, rss) = self.info_meta_values();
        let host = hostname();
        let meta = InfoMeta {
            hostname: &host,
            version: crate::VERSION,
            rack: &self.node.rack,
            dc: &self.node.dc,
            pool_name: &self.node.pool,
            alloc_msgs,
            free_msgs,
            alloc_mbufs,
            free_mbufs,
            dyn_memory_kib: rss,
            now_unix: unix_now(),
        };
        f(self, &meta)
    }

    /// The `/info` JSON; in a cluster, the fault counters and each peer's
    /// health follow the pool object (`"faults"`, `"peers"`).
    pub(crate) fn render_info(&mut self) -> String {
        let mut out = self.with_meta(|ctx, meta| stats::render_info(&ctx.stats, meta));
        if !self.topology.is_single() {
            let rows = self.peer_rows();
            // Before the document's closing brace.
            if out.ends_with("}\n") {
                out.truncate(out.len() - 2);
                out.push_str(&faults::info_objects(&self.stats.faults, &rows));
                out.push_str("}\n");
            }
        }
        // The warm-up's progress, last, in a cluster (a single node's
        // /info keeps the original's layout).
        let w = &self.warmup;
        if !self.topology.is_single() && out.ends_with("}\n") {
            out.truncate(out.len() - 2);
            out.push_str(&format!(
                ",\"warmup\": {{\"state\": \"{}\", \"keys_scanned\": {}, \"keys_copied\": {}, \
                 \"keys_present\": {}, \"bytes_copied\": {}}}}}\n",
                w.state.name(),
                w.keys_scanned,
                w.keys_copied,
                w.keys_present,
                w.bytes_copied
            ));
        }
        // Anti-entropy after it, in a cluster too.
        if !self.topology.is_single() && out.ends_with("}\n") {
            out.truncate(out.len() - 2);
            out.push_str(&self.entropy_info());
            out.push_str("}\n");
        }
        out
    }

    /// Each peer's health, queue and fault counts, for `/info` and
    /// `/metrics`.
    fn peer_rows(&self) -> Vec<faults::PeerRow> {
        let now = std::time::Instant::now();
        self.topology
            .peers()
            .filter(|(id, _)| !id.is_local())
            .map(|(id, p)| {
                let pool = &self.peers[id];
                let (queued_msgs, queued_bytes) = self.peer_queued(id);
                let connections = pool
                    .slots
                    .iter()
                    .filter_map(|s| s.conn)
                    .filter(|c| {
                        self.conns
                            .get(c.0)
                            .is_some_and(|c| c.state == ConnState::Connected)
                    })
                    .count() as u64;
                faults::PeerRow {
                    name: format!("{}:{}", p.host, p.port),
                    admin: p.state.name(),
                    health: p.health.name(),
                    health_number: p.health.number(),
                    failures: pool.detect.failures,
                    last_fault: pool.detect.last_fault.map_or("", |f| f.name()),
                    since_secs: pool
                        .detect
                        .since
                        .map_or(0, |t| now.saturating_duration_since(t).as_secs()),
                    connections,
                    queued_msgs,
                    queued_bytes,
                    counts: pool.counts.clone(),
                    hints: self.handoff.figures(id),
                }
            })
            .collect()
    }

    /// The `/metrics` Prometheus text.
    pub(crate) fn render_metrics(&mut self) -> String {
        self.with_meta(|ctx, meta| {
            let extra = [
                (
                    "msgs_in_use",
                    "Message objects in use.",
                    ctx.msgs.in_use() as u64,
                ),
                (
                    "mbufs_in_use",
                    "Buffer chunks in use.",
                    ctx.mbufs.in_use() as u64,
                ),
                (
                    "mbuf_bytes_in_use",
                    "Bytes of buffer chunks in use.",
                    (ctx.mbufs.in_use() * ctx.mbufs.chunk_size()) as u64,
                ),
                (
                    "node_state",
                    "Node state number (4 = NORMAL).",
                    ctx.state.number() as u64,
                ),
                (
                    "timeout_factor",
                    "Multiplier of request timeouts.",
                    ctx.timeout_factor as u64,
                ),
                (
                    "warmup_running",
                    "1 while a warm-up copies keys from another rack.",
                    u64::from(ctx.warmup.running()),
                ),
                (
                    "warmup_keys_copied",
                    "Keys the last warm-up restored here.",
                    ctx.warmup.keys_copied,
                ),
                (
                    "warmup_bytes_copied",
                    "Bytes of DUMP payloads the last warm-up restored.",
                    ctx.warmup.bytes_copied,
                ),
                (
                    "warmup_keys_scanned",
                    "Keys of this node the last warm-up found on its donors.",
                    ctx.warmup.keys_scanned,
                ),
            ];
            let t = ctx.entropy.totals();
            let entropy = [
                (
                    "entropy_running",
                    "1 while an anti-entropy run compares keys (paused included).",
                    u64::from(ctx.entropy.active()),
                ),
                (
                    "entropy_runs",
                    "Anti-entropy runs started.",
                    ctx.entropy.runs,
                ),
                (
                    "entropy_keys_compared",
                    "Keys anti-entropy compared with their replicas.",
                    t.keys_compared,
                ),
                (
                    "entropy_keys_missing",
                    "Keys anti-entropy found missing on a replica (here or there).",
                    t.keys_missing_here + t.keys_missing_there,
                ),
                (
                    "entropy_keys_differ",
                    "Replicas anti-entropy found holding another value, repaired by majority.",
                    t.keys_differ,
                ),
                (
                    "entropy_conflicts",
                    "Keys anti-entropy left alone: values differ and no majority agrees.",
                    t.conflicts,
                ),
                (
                    "entropy_repairs_sent",
                    "RESTOREs anti-entropy sent to replicas.",
                    t.repairs_sent,
                ),
                (
                    "entropy_repairs_failed",
                    "Anti-entropy repairs that failed.",
                    t.repairs_failed,
                ),
                (
                    "entropy_rate_waits",
                    "Times an anti-entropy batch waited for entropy_keys_per_sec.",
                    t.rate_waits,
                ),
            ];
            let extra: Vec<(&str, &str, u64)> = extra.into_iter().chain(entropy).collect();
            let mut out = stats::render_prometheus(&ctx.stats, meta, &extra);
            faults::prometheus_families(&mut out, &ctx.stats.faults, &ctx.peer_rows());
            out
        })
    }

    /// The topology for `/cluster_describe`.
    fn describe_cluster(&self) -> Vec<DcDesc> {
        self.topology
            .dcs
            .iter()
            .map(|dc| DcDesc {
                name: dc.name.clone(),
                racks: dc
                    .racks
                    .iter()
                    .map(|r| RackDesc {
                        name: r.name.clone(),
                        servers: r
                            .peers
                            .iter()
                            .map(|&p| {
                                let peer = &self.topology.peer(p);
                                NodeDesc {
                                    name: peer.name.clone(),
                                    host: peer.host.clone(),
                                    port: peer.port,
                                    token: peer.tokens.first().copied().unwrap_or(0),
                                    health: (!p.is_local())
                                        .then(|| (peer.health.name(), peer.state.name())),
                                }
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect()
    }
}

/// This machine's host name (`unknown` if it cannot be read).
fn hostname() -> String {
    let mut buf = [0u8; 256];
    let ok = crate::sys::gethostname(&mut buf).is_ok();
    if !ok {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
