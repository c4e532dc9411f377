//! Seed providers (dyn_seeds_provider.h, seedsprovider/dyn_florida.c,
//! seedsprovider/dyn_dns.c): where a running node learns of nodes it was not
//! started with, and of nodes that moved to a new address.
//!
//! ```text
//!  provider thread (one per node, off the event loop)
//!    every gos_interval: query if the last query is older than the floor
//!      florida: HTTP GET ──┐
//!      dns TXT: strings  ──┼─► record list text ─► unchanged? ─► skip
//!      dns A: pod names  ──┘                          │ changed
//!                                   parse, resolve host names (may block)
//!                                                     ▼
//!                              channel ─► mio Waker ─► event loop
//!  event loop: Context::apply_seed_records (cluster/membership.rs)
//!      unknown (dc, rack, first token) ─► Change::AddNode
//!      known token, new address         ─► Change::ReplaceAddr
//! ```
//!
//! The provider is chosen by `dyn_seed_provider` (prefix match, spec §1.2);
//! its settings come from the original's environment variables, read once at
//! start, plus three of this implementation (see [`ProviderConf::from_env`]).
//! Nothing here touches the event loop's state: the thread sends parsed and
//! resolved records, the loop applies them.
//!
//! Differences from the original, each what an operator expects: every TXT
//! answer record and every string in it counts (the original kept the first
//! string of the last record); A records name one node each, placed by the
//! convention of [`placement`]; every token of a record is used (the original
//! kept the last); a host name that does not resolve is retried at the next
//! poll instead of being kept as text; a trailing newline in a Florida body
//! is not part of the last token.

pub mod dns;
pub mod florida;
pub mod placement;

use std::hash::{Hash, Hasher};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use mio::Waker;

use crate::conf::{Endpoint, PoolConf, SeedConf};

/// Default smallest time between two queries (spec §1.3).
pub const DEFAULT_MIN_GAP: Duration = Duration::from_secs(30);

/// One node as a provider names it: `host:port:rack:dc:tokens` (spec §1.1),
/// with the host resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRecord {
    /// Host as the provider wrote it.
    pub host: String,
    /// Peer port.
    pub port: u16,
    pub rack: String,
    pub dc: String,
    /// Ring points; the first one identifies the node in its rack.
    pub tokens: Vec<u32>,
    /// Where to connect.
    pub addr: SocketAddr,
}

/// Parses a record list: records separated by `|` (or by line breaks, which
/// a hand-written list may carry), each parsed from the right as in
/// `dyn_seeds`. Malformed records are returned apart, for a log line; the
/// others are kept.
pub fn parse_records(text: &str) -> (Vec<SeedConf>, Vec<String>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for rec in text.split(['|', '\n', '\r']) {
        let rec = rec.trim();
        if rec.is_empty() {
            continue;
        }
        match SeedConf::parse(rec) {
            // A provider record has no name of its own: the host names it.
            Ok(s) if !rec.contains(' ') => good.push(s),
            _ => bad.push(rec.to_string()),
        }
    }
    (good, bad)
}

/// Resolves a record's host (spec §1.1: a host that does not start with a
/// digit is a name; its first IPv4 address is used). `None` when it does not
/// resolve now.
pub fn resolve(s: &SeedConf) -> Option<SeedRecord> {
    let addrs: Vec<SocketAddr> = (s.host.as_str(), s.port).to_socket_addrs().ok()?.collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()?;
    Some(SeedRecord {
        host: s.host.clone(),
        port: s.port,
        rack: s.rack.clone(),
        dc: s.dc.clone(),
        tokens: s.tokens.clone(),
        addr,
    })
}

/// Where the record list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `florida_provider`: an HTTP GET.
    Florida(florida::Florida),
    /// `dns_provider`: TXT records, or A records of per-node names.
    Dns(dns::Dns),
}

/// A configured provider: its source and its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConf {
    pub source: Source,
    /// How often the thread wakes (`gos_interval`).
    pub interval: Duration,
    /// Smallest time between two queries: 30 s as in the original, or
    /// `DYNOMITE_SEEDS_MIN_INTERVAL_MS`.
    pub min_gap: Duration,
}

impl ProviderConf {
    /// The provider of a pool, from `dyn_seed_provider` and the environment
    /// (`env` looks a variable up; the binary passes `std::env::var`). `None`
    /// for `simple_provider` and anything that is not a known provider's
    /// name (spec §1.2).
    ///
    /// Variables: `DYNOMITE_FLORIDA_IP`, `DYNOMITE_FLORIDA_PORT`,
    /// `DYNOMITE_FLORIDA_REQUEST` (the original's), `DYNOMITE_DNS_NAME`,
    /// `DYNOMITE_DNS_TYPE` (the original's), `DYNOMITE_DNS_SERVER`,
    /// `DYNOMITE_DNS_NODES`, `DYNOMITE_DNS_RACKS`, `DYNOMITE_DNS_POD_PREFIX`
    /// (the A-record convention of [`placement`]) and
    /// `DYNOMITE_SEEDS_MIN_INTERVAL_MS`.
    pub fn from_env(
        pool: &PoolConf,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<ProviderConf>, String> {
        let name = pool.dyn_seed_provider.as_str();
        let source = if name.starts_with("florida_provider") {
            Source::Florida(florida::Florida::from_env(env)?)
        } else if name.starts_with("dns_provider") {
            let port = match &pool.dyn_listen {
                Some(Endpoint::Tcp { port, .. }) => *port,
                _ => return Err("dns_provider needs dyn_listen (the peer port)".into()),
            };
            let here = placement::Here {
                dc: pool.datacenter.clone(),
                port,
            };
            Source::Dns(dns::Dns::from_env(env, here)?)
        } else {
            return Ok(None);
        };
        let min_gap = match env("DYNOMITE_SEEDS_MIN_INTERVAL_MS") {
            None => DEFAULT_MIN_GAP,
            Some(v) => Duration::from_millis(v.trim().parse::<u64>().map_err(|_| {
                format!("DYNOMITE_SEEDS_MIN_INTERVAL_MS: '{v}' is not a number of milliseconds")
            })?),
        };
        if pool.dyn_listen.is_none() {
            return Err(format!(
                "{name} needs dyn_listen (the peer port of this node)"
            ));
        }
        if pool.tokens.is_empty() {
            return Err(format!("{name} needs tokens for this node"));
        }
        Ok(Some(ProviderConf {
            source,
            interval: Duration::from_millis(pool.gos_interval_ms.max(1)),
            min_gap,
        }))
    }

    /// The provider's name for log lines.
    pub fn name(&self) -> &'static str {
        match self.source {
            Source::Florida(_) => "florida_provider",
            Source::Dns(_) => "dns_provider",
        }
    }

    /// One query: the record list as text.
    fn query(&self) -> Result<String, String> {
        match &self.source {
            Source::Florida(f) => f.query(),
            Source::Dns(d) => d.query(),
        }
    }
}

/// The event loop's end of the threads that find nodes: the provider's,
/// and short-lived ones that resolve a host name learnt from gossip. Lists
/// arrive on one channel; each sender wakes the loop through the one
/// `Waker` a mio `Poll` may have. Dropping it stops the provider at its
/// next wake-up.
pub struct Poller {
    rx: Receiver<Vec<SeedRecord>>,
    tx: Sender<Vec<SeedRecord>>,
    waker: Arc<Waker>,
    stop: Option<SyncSender<()>>,
}

impl Poller {
    /// The channel and the waker, no thread yet.
    pub fn new(waker: Arc<Waker>) -> Poller {
        let (tx, rx) = mpsc::channel();
        Poller {
            rx,
            tx,
            waker,
            stop: None,
        }
    }

    /// Starts the provider thread.
    pub fn spawn(&mut self, conf: ProviderConf) -> io::Result<()> {
        let (stop_tx, stop_rx) = mpsc::sync_channel(0);
        let tx = self.tx.clone();
        let waker = self.waker.clone();
        thread::Builder::new()
            .name("seeds".into())
            .spawn(move || run(conf, tx, stop_rx, waker))?;
        self.stop = Some(stop_tx);
        Ok(())
    }

    /// Resolves one record's host on a thread of its own and delivers it
    /// like a provider's record (a name that does not resolve is logged).
    pub fn resolve(&self, seed: SeedConf) {
        let tx = self.tx.clone();
        let waker = self.waker.clone();
        let spawned = thread::Builder::new()
            .name("resolve".into())
            .spawn(move || match resolve(&seed) {
                Some(r) => {
                    if tx.send(vec![r]).is_ok() {
                        let _ = waker.wake();
                    }
                }
                None => warn!("cannot resolve '{}', node not added", seed.host),
            });
        if let Err(e) = spawned {
            warn!("cannot start a resolver thread: {e}");
        }
    }

    /// Every list received since the last call, oldest first.
    pub fn drain(&self) -> Vec<Vec<SeedRecord>> {
        let mut out = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(v) => out.push(v),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }
}

/// What the thread remembers between polls.
#[derive(Debug, Default)]
pub struct PollState {
    last_query: Option<Instant>,
    /// Fingerprint of the last list that was delivered in full.
    last_list: Option<u64>,
}

impl PollState {
    /// Whether a query is due at `now` (the first always is).
    pub fn due(&self, now: Instant, min_gap: Duration) -> bool {
        self.last_query
            .is_none_or(|t| now.saturating_duration_since(t) >= min_gap)
    }

    /// Takes a query's text: the records to deliver, or `None` when the list
    /// is unchanged (or the query failed). A list whose hosts did not all
    /// resolve is delivered in part and not remembered, so the next poll
    /// tries the rest again.
    pub fn take(
        &mut self,
        now: Instant,
        result: Result<String, String>,
        provider: &str,
    ) -> Option<Vec<SeedRecord>> {
        self.take_with(now, result, provider, &resolve)
    }

    /// [`PollState::take`] with the host resolution given.
    pub fn take_with(
        &mut self,
        now: Instant,
        result: Result<String, String>,
        provider: &str,
        resolve: &dyn Fn(&SeedConf) -> Option<SeedRecord>,
    ) -> Option<Vec<SeedRecord>> {
        self.last_query = Some(now);
        let text = match result {
            Ok(t) => t,
            Err(e) => {
                warn!("seed provider {provider}: query failed: {e}");
                return None;
            }
        };
        let fingerprint = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.trim().hash(&mut h);
            h.finish()
        };
        if self.last_list == Some(fingerprint) {
            debug!("seed provider {provider}: list unchanged");
            return None;
        }
        let (seeds, bad) = parse_records(&text);
        for b in &bad {
            warn!("seed provider {provider}: malformed record '{b}' ignored");
        }
        let mut records = Vec::with_capacity(seeds.len());
        let mut unresolved = 0;
        for s in &seeds {
            match resolve(s) {
                Some(r) => records.push(r),
                None => {
                    unresolved += 1;
                    warn!(
                        "seed provider {provider}: cannot resolve '{}', retried at the next poll",
                        s.host
                    );
                }
            }
        }
        if unresolved == 0 {
            self.last_list = Some(fingerprint);
        }
        info!(
            "seed provider {provider}: {} record(s) received",
            records.len()
        );
        Some(records)
    }
}

/// The provider thread: polls until the loop's end is dropped.
fn run(conf: ProviderConf, tx: Sender<Vec<SeedRecord>>, stop: Receiver<()>, waker: Arc<Waker>) {
    let name = conf.name();
    info!(
        "seed provider {name} started (every {} ms, at most one query per {} ms)",
        conf.interval.as_millis(),
        conf.min_gap.as_millis()
    );
    let mut state = PollState::default();
    loop {
        let now = Instant::now();
        if state.due(now, conf.min_gap) {
            if let Some(records) = state.take(now, conf.query(), name) {
                if tx.send(records).is_err() {
                    return;
                }
                if let Err(e) = waker.wake() {
                    warn!("seed provider {name}: waking the event loop failed: {e}");
                }
            }
        }
        match stop.recv_timeout(conf.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_on_bars_and_lines_and_keep_every_token() {
        let (good, bad) = parse_records(
            "127.0.0.1:8101:rack1:dc1:100|127.0.0.2:8101:rack2:dc1:1,2\n\
             bad-record|host.example:8102:r:dc2:7\n",
        );
        assert_eq!(bad, vec!["bad-record".to_string()]);
        let got: Vec<(&str, u16, &str, &str, &[u32])> = good
            .iter()
            .map(|s| {
                (
                    s.host.as_str(),
                    s.port,
                    s.rack.as_str(),
                    s.dc.as_str(),
                    s.tokens.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("127.0.0.1", 8101, "rack1", "dc1", &[100][..]),
                ("127.0.0.2", 8101, "rack2", "dc1", &[1, 2][..]),
                ("host.example", 8102, "r", "dc2", &[7][..]),
            ]
        );
    }

    #[test]
    fn empty_fields_and_names_are_malformed() {
        let (good, bad) = parse_records("h:1::dc:1|h:1:r:dc:|h:1:r:dc:5 name|h:x:r:dc:1");
        assert!(good.is_empty());
        assert_eq!(bad.len(), 4);
    }

    #[test]
    fn an_unchanged_list_is_delivered_once() {
        let mut st = PollState::default();
        let t0 = Instant::now();
        assert!(st.due(t0, DEFAULT_MIN_GAP));
        let list = "127.0.0.1:8101:r1:dc:1|127.0.0.2:8101:r2:dc:1".to_string();
        let first = st.take(t0, Ok(list.clone()), "test").expect("first list");
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].addr, "127.0.0.2:8101".parse().unwrap());
        assert!(!st.due(t0 + Duration::from_secs(29), DEFAULT_MIN_GAP));
        assert!(st.due(t0 + DEFAULT_MIN_GAP, DEFAULT_MIN_GAP));
        assert_eq!(st.take(t0, Ok(list.clone() + "\n"), "test"), None);
        assert_eq!(st.take(t0, Err("refused".into()), "test"), None);
        let changed = st
            .take(t0, Ok(list + "|127.0.0.3:8101:r3:dc:1"), "test")
            .expect("changed list");
        assert_eq!(changed.len(), 3);
    }

    #[test]
    fn an_unresolved_host_is_retried() {
        let mut st = PollState::default();
        let t0 = Instant::now();
        // Names are looked up by the system resolver: the test's stands in
        // for one that does not know "later" yet.
        let known = |s: &SeedConf| (s.host != "later").then(|| resolve(s)).flatten();
        let list = "127.0.0.1:8101:r1:dc:1|later:8101:r2:dc:1".to_string();
        let got = st
            .take_with(t0, Ok(list.clone()), "test", &known)
            .expect("partial list");
        assert_eq!(got.len(), 1);
        // Not remembered: the same list is delivered again.
        assert!(st.take_with(t0, Ok(list), "test", &known).is_some());
    }
}
