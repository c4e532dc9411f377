//! Cold-cache warm-up (spec gossip-and-membership §7, which the original
//! left to an external manager): a node that takes over a token with an
//! empty datastore copies its keys from a replica in another rack.
//!
//! ```text
//!  /warmup/start, or warmup_on_start with an empty datastore (DBSIZE 0)
//!    donor rack: another rack of this DC, else the rack a remote DC
//!    replicates this one to; its nodes are scanned one after another
//!    per donor node:  SCAN cursor COUNT n  ──► keys whose owner in this
//!                     node's rack is this node
//!    per key:         DUMP key + PTTL key (to the key's owner in the donor
//!                     rack, as type-3 peer requests: a C donor answers too)
//!                     RESTORE key ttl payload on this node's datastore,
//!                     without REPLACE: a key written meanwhile (BUSYKEY)
//!                     keeps its newer value
//!    at most WINDOW keys in flight; a donor that fails is retried from
//!    its cursor after RETRY (the copy resumes where it stopped)
//!  while it runs:  the node is JOINING; replicated writes are applied;
//!                  single-key reads for this node's datastore go to the
//!                  key's owner in the donor rack (`warmup_read_target`)
//!  at the end:     NORMAL (unless an operator set another state)
//! ```
//!
//! The copy's requests are the node's own (`Msg::internal`): their replies
//! come back to `warmup_reply`, never to a client. A key deleted on the
//! donor after its DUMP and before the RESTORE may come back once; a key
//! written on the donor after its DUMP is overwritten by the replicated
//! write, or refused to the RESTORE (BUSYKEY), so no write is lost.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{info, warn};
use slab::Slab;

use crate::cluster::gossip::unix_now;
use crate::cluster::state::NodeState;
use crate::core::Context;
use crate::core::{Target, Timer};
use crate::ids::{MsgId, PeerId};
use crate::msg::{Internal, MsgKind};
use crate::proto::redis::{self, Arg};

/// Keys copied at once.
pub const WINDOW: usize = 32;
/// Keys asked for per SCAN.
const SCAN_COUNT: &str = "256";
/// Wait before a failed donor request is tried again.
const RETRY: Duration = Duration::from_secs(1);
/// Longest wait for the donors' own connections to this node.
const INBOUND_WAIT: Duration = Duration::from_secs(10);
/// Tries of one key before it counts as an error.
const KEY_TRIES: u8 = 3;

/// Where a warm-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmState {
    /// Never started.
    Idle,
    /// Checking that the local datastore is empty (`warmup_on_start`).
    Checking,
    /// Copying.
    Running,
    /// Every donor node was scanned to its end.
    Done,
    /// No donor could be found.
    Failed,
}

impl WarmState {
    pub fn name(self) -> &'static str {
        match self {
            WarmState::Idle => "idle",
            WarmState::Checking => "checking",
            WarmState::Running => "running",
            WarmState::Done => "done",
            WarmState::Failed => "failed",
        }
    }
}

/// One key being copied.
#[derive(Debug)]
struct KeyCopy {
    key: Vec<u8>,
    dump: Option<Option<Vec<u8>>>,
    pttl: Option<i64>,
    tries: u8,
    failed: bool,
}

/// The warm-up of this node.
#[derive(Debug)]
pub struct Warmup {
    pub state: WarmState,
    /// Why it failed or what went wrong last.
    pub reason: String,
    /// The donor rack's nodes, scanned in this order.
    pub donors: Vec<PeerId>,
    /// The node being scanned.
    pub donor_idx: usize,
    /// Its SCAN cursor ("0" at the start and at the end).
    pub cursor: String,
    /// The current SCAN returned its last page.
    scan_done: bool,
    scan_inflight: bool,
    pending: VecDeque<Vec<u8>>,
    copies: Slab<KeyCopy>,
    /// A donor request failed: nothing new before this instant.
    pub paused_until: Option<Instant>,
    /// Keys the donors listed that this node owns.
    pub keys_scanned: u64,
    pub keys_copied: u64,
    /// Already present here (written meanwhile): left as they are.
    pub keys_present: u64,
    /// Gone from the donor between SCAN and DUMP.
    pub keys_gone: u64,
    pub key_errors: u64,
    pub bytes_copied: u64,
    pub started_at: u64,
    pub ended_at: u64,
    /// `warmup_on_start`.
    pub on_start: bool,
    /// `warmup_state_file`: where the copy notes the donor and SCAN cursor
    /// it resumes from after a restart.
    pub state_file: Option<std::path::PathBuf>,
    /// Until when the copy waits for the donors to connect to this node.
    wait_inbound_until: Option<Instant>,
}

impl Warmup {
    pub fn new(on_start: bool, state_file: Option<std::path::PathBuf>) -> Warmup {
        Warmup {
            state: WarmState::Idle,
            reason: String::new(),
            donors: Vec::new(),
            donor_idx: 0,
            cursor: "0".into(),
            scan_done: false,
            scan_inflight: false,
            pending: VecDeque::new(),
            copies: Slab::new(),
            paused_until: None,
            keys_scanned: 0,
            keys_copied: 0,
            keys_present: 0,
            keys_gone: 0,
            key_errors: 0,
            bytes_copied: 0,
            started_at: 0,
            ended_at: 0,
            on_start,
            state_file,
            wait_inbound_until: None,
        }
    }

    /// Copying.
    pub fn running(&self) -> bool {
        self.state == WarmState::Running
    }

    /// Reads for this node's datastore are served by the donors: while
    /// copying, and while checking that the datastore is empty.
    pub fn reads_elsewhere(&self) -> bool {
        matches!(self.state, WarmState::Running | WarmState::Checking) && !self.donors.is_empty()
    }
}

/// A reply of the node's own requests, decoded (the few shapes SCAN, DUMP,
/// PTTL, RESTORE and DBSIZE answer with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
}

/// Decodes one RESP2/RESP3 value of a complete reply (`None` for a shape
/// these requests never get).
pub fn decode(buf: &[u8]) -> Option<Value> {
    fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
        let end = memchr::memmem::find(&buf[pos..], b"\r\n")? + pos;
        Some((&buf[pos..end], end + 2))
    }
    fn num(s: &[u8]) -> Option<i64> {
        std::str::from_utf8(s).ok()?.parse().ok()
    }
    fn value(buf: &[u8], pos: usize, depth: u32) -> Option<(Value, usize)> {
        if depth > 8 {
            return None;
        }
        let ty = *buf.get(pos)?;
        let (l, next) = line(buf, pos + 1)?;
        match ty {
            b'+' => Some((Value::Simple(l.to_vec()), next)),
            b'-' => Some((Value::Error(l.to_vec()), next)),
            b':' => Some((Value::Int(num(l)?), next)),
            b'_' => Some((Value::Bulk(None), next)),
            b'$' => {
                let n = num(l)?;
                if n < 0 {
                    return Some((Value::Bulk(None), next));
                }
                let end = next.checked_add(n as usize)?;
                let data = buf.get(next..end)?.to_vec();
                if buf.get(end..end + 2)? != b"\r\n" {
                    return None;
                }
                Some((Value::Bulk(Some(data)), end + 2))
            }
            b'*' | b'~' | b'>' => {
                let n = num(l)?;
                if n < 0 {
                    return Some((Value::Bulk(None), next));
                }
                let mut items = Vec::with_capacity(n.min(4096) as usize);
                let mut p = next;
                for _ in 0..n {
                    let (v, q) = value(buf, p, depth + 1)?;
                    items.push(v);
                    p = q;
                }
                Some((Value::Array(items), p))
            }
            _ => None,
        }
    }
    value(buf, 0, 0).map(|(v, _)| v)
}

/// A RESP request and its arguments' places, for `Msg::req`.
pub(crate) fn encode(args: &[&[u8]]) -> (Vec<u8>, Vec<Arg>) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    let mut places = Vec::with_capacity(args.len());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        places.push(Arg {
            off: out.len() as u64,
            len: a.len() as u32,
        });
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    (out, places)
}

impl Context {
    /// Makes a request of the node's own: its reply goes to `warmup_reply`.
    pub(crate) fn internal_request(&mut self, args: &[&[u8]], tag: Internal) -> MsgId {
        let (bytes, places) = encode(args);
        let mid = self.msgs.get(MsgKind::Request);
        let cmd = redis::lookup(args[0], None).ok();
        let m = &mut self.msgs[mid];
        self.mbufs.append(&mut m.segs, &bytes);
        m.mlen = bytes.len() as u64;
        m.req.args.extend_from_slice(&places);
        m.cmd = cmd;
        m.internal = Some(tag);
        mid
    }

    /// Starts a warm-up now (admin `/warmup/start`), or checks first that
    /// the datastore is empty (`warmup_on_start`). False when one runs.
    /// With `warmup_on_start`, a warm-up a restart interrupted (its
    /// `warmup_state_file` is there) resumes instead, empty or not.
    pub(crate) fn warmup_start(&mut self, only_if_empty: bool) -> bool {
        if matches!(self.warmup.state, WarmState::Running | WarmState::Checking) {
            return false;
        }
        if only_if_empty && self.warmup_resume() {
            return true;
        }
        let donors = self.warmup_donors();
        let w = &mut self.warmup;
        *w = Warmup::new(w.on_start, w.state_file.take());
        w.donors = donors;
        if only_if_empty {
            // Reads go to the donors already: an empty node has nothing.
            w.state = WarmState::Checking;
            let mid = self.internal_request(&[b"DBSIZE"], Internal::WarmCheck);
            self.execute_local(mid);
            return true;
        }
        self.warmup_begin(false)
    }

    /// The check found the datastore empty (`checked`), or an operator
    /// asked: copy now. With no donor known yet after a check, the check
    /// is repeated (a seed provider may not have answered yet).
    fn warmup_begin(&mut self, checked: bool) -> bool {
        if self.warmup.donors.is_empty() {
            self.warmup.donors = self.warmup_donors();
        }
        let w = &mut self.warmup;
        w.started_at = unix_now();
        if w.donors.is_empty() {
            w.reason = "no replica in another rack to copy from".into();
            if checked {
                w.state = WarmState::Checking;
                let at = self.now + RETRY;
                self.add_timer(at, Timer::WarmupCheck);
                return true;
            }
            w.state = WarmState::Failed;
            w.ended_at = w.started_at;
            warn!("warm-up: {}", w.reason);
            return true;
        }
        w.reason.clear();
        w.state = WarmState::Running;
        w.wait_inbound_until = Some(self.now + INBOUND_WAIT);
        if matches!(self.state, NodeState::Normal | NodeState::Init) {
            self.state = NodeState::Joining;
        }
        let names: Vec<&str> = self
            .warmup
            .donors
            .iter()
            .map(|&p| self.topology.peer(p).name.as_str())
            .collect();
        info!("warm-up started from {}", names.join(", "));
        self.add_timer(self.now, Timer::Warmup);
        true
    }

    /// Notes where the copy stands (`warmup_state_file`): the donors by
    /// name, the one being scanned and the cursor of the page about to be
    /// asked for (every key before it is copied). Written aside and renamed.
    fn warmup_save(&mut self) {
        let Some(path) = self.warmup.state_file.clone() else {
            return;
        };
        let w = &self.warmup;
        let donors: Vec<&str> = w
            .donors
            .iter()
            .map(|&p| self.topology.peer(p).name.as_str())
            .collect();
        let body = serde_json::json!({
            "donors": donors,
            "donor_idx": w.donor_idx,
            "cursor": w.cursor,
            "started_at": w.started_at,
        });
        let tmp = path.with_extension("tmp");
        let r =
            std::fs::write(&tmp, format!("{body}\n")).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            if self.warmup.reason.is_empty() {
                warn!("warm-up: cannot write {}: {e}", path.display());
            }
            self.warmup.reason = format!("cannot write {}: {e}", path.display());
        }
    }

    /// Resumes the warm-up a restart interrupted, from its state file;
    /// false when there is none (or it names donors this node does not
    /// know: the copy then starts over).
    fn warmup_resume(&mut self) -> bool {
        let Some(path) = self.warmup.state_file.clone() else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return false;
        };
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                warn!(
                    "warm-up: {} is not a warm-up state ({e}); ignored",
                    path.display()
                );
                return false;
            }
        };
        let names: Vec<&str> = v["donors"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
            .unwrap_or_default();
        let donors: Vec<PeerId> = names
            .iter()
            .filter_map(|n| {
                self.topology
                    .peers()
                    .find(|(id, p)| !id.is_local() && p.name == *n)
                    .map(|(id, _)| id)
            })
            .collect();
        let idx = v["donor_idx"].as_u64().unwrap_or(0) as usize;
        if donors.is_empty() || donors.len() != names.len() || idx >= donors.len() {
            warn!(
                "warm-up: {} names donors this node does not know; starting over",
                path.display()
            );
            return false;
        }
        let w = &mut self.warmup;
        *w = Warmup::new(w.on_start, w.state_file.take());
        w.donors = donors;
        w.donor_idx = idx;
        w.cursor = v["cursor"].as_str().unwrap_or("0").to_string();
        w.started_at = v["started_at"].as_u64().unwrap_or_else(unix_now);
        info!(
            "warm-up resumes from {} (donor {} of {}, cursor {})",
            path.display(),
            idx + 1,
            w.donors.len(),
            w.cursor
        );
        self.warmup_begin(false)
    }

    /// The repeated check of `warmup_on_start` (a timer).
    pub(crate) fn warmup_recheck(&mut self) {
        if self.warmup.state == WarmState::Checking {
            self.warmup.state = WarmState::Idle;
            self.warmup_start(true);
        }
    }

    /// Whether every donor has a connection to this node, so that the
    /// writes it takes from now on reach this node as copies (a key the copy
    /// has passed is kept up to date by them).
    fn donors_connected_in(&self) -> bool {
        self.warmup.donors.iter().all(|&d| {
            let Some(addr) = self.topology.peer(d).addr else {
                return true;
            };
            self.conns.iter().any(|(_, c)| {
                c.kind() == crate::conn::ConnKind::DnodeClient
                    && c.peer
                        .parse::<std::net::SocketAddr>()
                        .is_ok_and(|a| a.ip() == addr.ip())
            })
        })
    }

    /// The donor rack's nodes: another rack of this DC (the first by name
    /// whose nodes are all known), else the rack a remote DC replicates
    /// this one to.
    fn warmup_donors(&self) -> Vec<PeerId> {
        let local = self.topology.local_rack;
        let dc0 = &self.topology.dcs[0];
        let routable = |p: &PeerId| self.topology.peer(*p).state.routable();
        let mut racks: Vec<&crate::cluster::topology::Rack> = dc0
            .racks
            .iter()
            .enumerate()
            .filter(|&(r, rack)| r != local && !rack.peers.is_empty())
            .map(|(_, rack)| rack)
            .collect();
        for dc in self.topology.dcs.iter().skip(1) {
            if let Some(rack) = dc.racks.get(dc.preselected) {
                racks.push(rack);
            }
        }
        racks
            .iter()
            .find(|r| r.peers.iter().all(routable))
            .or_else(|| racks.first())
            .map(|r| r.peers.clone())
            .unwrap_or_default()
    }

    /// The owner of `hash` in the donor rack.
    fn donor_owner(&self, hash: u32) -> Option<PeerId> {
        let first = *self.warmup.donors.first()?;
        let p = self.topology.peer(first);
        Some(self.topology.owner(p.dc_idx, p.rack_idx, hash))
    }

    /// While copying, a single-key read for this node's datastore is served
    /// by the key's owner in the donor rack.
    pub(crate) fn warmup_read_target(&mut self, mid: MsgId) -> Option<Target> {
        if !self.warmup.reads_elsewhere() {
            return None;
        }
        let m = &self.msgs[mid];
        let cmd = m.cmd?;
        if cmd.write
            || m.internal.is_some()
            || cmd.multi != redis::Multi::None
            || cmd.first_key <= 0
            || cmd.first_key as usize >= m.req.args.len()
        {
            return None;
        }
        let h = self.arg_hash(mid, cmd.first_key as usize);
        let peer = self.donor_owner(h)?;
        (!peer.is_local()).then_some(Target::Peer {
            peer,
            forward: false,
        })
    }

    /// The warm-up's timer: sends what the window allows.
    pub(crate) fn warmup_tick(&mut self) {
        if !self.warmup.running() {
            return;
        }
        if let Some(until) = self.warmup.wait_inbound_until {
            if !self.donors_connected_in() && self.now < until {
                let at = self.now + Duration::from_millis(100);
                self.add_timer(at, Timer::Warmup);
                return;
            }
            self.warmup.wait_inbound_until = None;
        }
        if let Some(t) = self.warmup.paused_until {
            if t > self.now {
                self.add_timer(t, Timer::Warmup);
                return;
            }
            self.warmup.paused_until = None;
        }
        self.warmup_pump();
    }

    /// Sends DUMP/PTTL for pending keys up to the window, a SCAN when the
    /// pending keys run low, and moves to the next donor or ends.
    fn warmup_pump(&mut self) {
        if self.warmup.wait_inbound_until.is_some() {
            return; // warmup_tick starts the copy once the donors are in
        }
        while self.warmup.copies.len() < WINDOW {
            let Some(key) = self.warmup.pending.pop_front() else {
                break;
            };
            let n = self.warmup.copies.insert(KeyCopy {
                key,
                dump: None,
                pttl: None,
                tries: 0,
                failed: false,
            }) as u32;
            self.warmup_fetch(n);
        }
        let w = &self.warmup;
        // The next page once this one is copied: the cursor it starts from
        // is then a safe place to resume from (warmup_state_file).
        if w.scan_inflight || !w.pending.is_empty() || !w.copies.is_empty() {
            return;
        }
        if !w.scan_done {
            self.warmup_save();
            self.warmup_scan();
            return;
        }
        // This donor is done.
        let w = &mut self.warmup;
        w.donor_idx += 1;
        if w.donor_idx < w.donors.len() {
            w.cursor = "0".into();
            w.scan_done = false;
            self.warmup_scan();
            return;
        }
        w.state = WarmState::Done;
        w.ended_at = unix_now();
        if let Some(path) = &w.state_file {
            if let Err(e) = std::fs::remove_file(path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!("warm-up: cannot remove {}: {e}", path.display());
                }
            }
        }
        info!(
            "warm-up done in {} s: {} keys copied ({} bytes), {} already here, {} gone, {} errors",
            w.ended_at.saturating_sub(w.started_at),
            w.keys_copied,
            w.bytes_copied,
            w.keys_present,
            w.keys_gone,
            w.key_errors
        );
        if self.state == NodeState::Joining {
            self.state = NodeState::Normal;
            info!("node state JOINING -> NORMAL (warm-up done)");
        }
    }

    fn warmup_scan(&mut self) {
        let w = &mut self.warmup;
        let donor = w.donors[w.donor_idx];
        let cursor = w.cursor.clone();
        w.scan_inflight = true;
        let mid = self.internal_request(
            &[b"SCAN", cursor.as_bytes(), b"COUNT", SCAN_COUNT.as_bytes()],
            Internal::WarmScan,
        );
        self.dispatch_internal(mid, donor);
    }

    fn warmup_fetch(&mut self, n: u32) {
        let key = self.warmup.copies[n as usize].key.clone();
        let h = self.key_token(&key);
        let Some(owner) = self.donor_owner(h) else {
            return;
        };
        let d = self.internal_request(&[b"DUMP", &key], Internal::WarmDump(n));
        self.dispatch_internal(d, owner);
        let p = self.internal_request(&[b"PTTL", &key], Internal::WarmPttl(n));
        self.dispatch_internal(p, owner);
    }

    /// Sends a request of the warm-up to a donor; one that cannot be sent
    /// fails at once (its error comes back through `warmup_reply`).
    fn dispatch_internal(&mut self, mid: MsgId, peer: PeerId) {
        if let Err(why) = self.peer_forward(mid, peer, false) {
            self.reply_error(mid, why.error());
        }
    }

    /// The token of a key (hash tag applied).
    fn key_token(&self, key: &[u8]) -> u32 {
        let part = crate::hashkit::hash_tag_part(key, self.settings.hash_tag);
        self.settings.hash.hash(part)
    }

    /// The reply of one of the warm-up's requests (both are freed here).
    pub(crate) fn warmup_reply(&mut self, req: MsgId, rsp: MsgId, tag: Internal) {
        let mut bytes = Vec::new();
        {
            let r = &self.msgs[rsp];
            self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        }
        self.msgs[req].peer = None;
        self.msgs.put(&mut self.mbufs, rsp);
        let m = &mut self.msgs[req];
        m.done = true;
        self.try_free(req);
        let v = decode(&bytes);
        match tag {
            Internal::WarmCheck => self.warmup_checked(v),
            Internal::WarmScan => self.warmup_scanned(v),
            Internal::WarmDump(n) | Internal::WarmPttl(n) => self.warmup_fetched(n, tag, v),
            Internal::WarmRestore(n) => self.warmup_restored(n, v),
            // Read repair's own (attach_reply sends them to repair_reply).
            _ => {}
        }
        if self.warmup.running() && self.warmup.paused_until.is_none() {
            self.warmup_pump();
        }
    }

    fn warmup_checked(&mut self, v: Option<Value>) {
        self.warmup.state = WarmState::Idle;
        let donors = std::mem::take(&mut self.warmup.donors);
        match v {
            Some(Value::Int(0)) => {
                info!("warm-up on start: the datastore is empty");
                self.warmup_begin(true);
            }
            Some(Value::Int(n)) => {
                info!("warm-up on start skipped: the datastore holds {n} keys");
                return;
            }
            other => {
                warn!("warm-up on start: DBSIZE answered {other:?}; tried again in 1 s");
                self.warmup.state = WarmState::Checking;
                let at = self.now + RETRY;
                self.add_timer(at, Timer::WarmupCheck);
            }
        }
        if self.warmup.donors.is_empty() {
            self.warmup.donors = donors;
        }
    }

    /// A donor request failed: stop sending for a while.
    fn warmup_pause(&mut self, what: &str, err: &[u8]) {
        let w = &mut self.warmup;
        w.reason = format!("{what}: {}", String::from_utf8_lossy(err));
        if w.paused_until.is_none() {
            warn!("warm-up: {}; resuming in 1 s", w.reason);
            let at = self.now + RETRY;
            w.paused_until = Some(at);
            self.add_timer(at, Timer::Warmup);
        }
    }

    fn warmup_scanned(&mut self, v: Option<Value>) {
        self.warmup.scan_inflight = false;
        let (cursor, keys) = match v {
            Some(Value::Array(mut a)) if a.len() == 2 => {
                let keys = a.pop();
                let cursor = a.pop();
                match (cursor, keys) {
                    (Some(Value::Bulk(Some(c))), Some(Value::Array(keys))) => (c, keys),
                    _ => return self.warmup_pause("SCAN", b"unexpected answer"),
                }
            }
            Some(Value::Error(e)) => return self.warmup_pause("SCAN", &e),
            _ => return self.warmup_pause("SCAN", b"unexpected answer"),
        };
        for k in keys {
            if let Value::Bulk(Some(key)) = k {
                let h = self.key_token(&key);
                if self.topology.local_owner(h).is_local() {
                    self.warmup.keys_scanned += 1;
                    self.warmup.pending.push_back(key);
                }
            }
        }
        let w = &mut self.warmup;
        w.cursor = String::from_utf8_lossy(&cursor).into_owned();
        w.scan_done = w.cursor == "0";
    }

    fn warmup_fetched(&mut self, n: u32, tag: Internal, v: Option<Value>) {
        let Some(c) = self.warmup.copies.get_mut(n as usize) else {
            return;
        };
        match (tag, v) {
            (Internal::WarmDump(_), Some(Value::Bulk(b))) => c.dump = Some(b),
            (Internal::WarmPttl(_), Some(Value::Int(t))) => c.pttl = Some(t),
            (_, other) => {
                // Both halves are asked again once both are in.
                c.failed = true;
                let err = match other {
                    Some(Value::Error(e)) => e,
                    _ => b"unexpected answer".to_vec(),
                };
                if tag == Internal::WarmDump(n) {
                    c.dump = Some(None);
                } else {
                    c.pttl = Some(-2);
                }
                self.warmup_pause("DUMP/PTTL", &err);
            }
        }
        let c = &self.warmup.copies[n as usize];
        let (Some(dump), Some(pttl)) = (&c.dump, c.pttl) else {
            return;
        };
        if c.failed {
            let c = &mut self.warmup.copies[n as usize];
            c.tries += 1;
            if c.tries >= KEY_TRIES {
                self.warmup.key_errors += 1;
                self.warmup.copies.remove(n as usize);
            } else {
                c.failed = false;
                c.dump = None;
                c.pttl = None;
                let key = c.key.clone();
                self.warmup.copies.remove(n as usize);
                self.warmup.pending.push_front(key);
            }
            return;
        }
        let Some(payload) = dump.clone() else {
            self.warmup.keys_gone += 1;
            self.warmup.copies.remove(n as usize);
            return;
        };
        if pttl == -2 {
            self.warmup.keys_gone += 1;
            self.warmup.copies.remove(n as usize);
            return;
        }
        let ttl = pttl.max(0).to_string();
        let key = c.key.clone();
        self.warmup.bytes_copied += payload.len() as u64;
        let r = self.internal_request(
            &[b"RESTORE", &key, ttl.as_bytes(), &payload],
            Internal::WarmRestore(n),
        );
        self.execute_local(r);
    }

    fn warmup_restored(&mut self, n: u32, v: Option<Value>) {
        if self.warmup.copies.try_remove(n as usize).is_none() {
            return;
        }
        let w = &mut self.warmup;
        match v {
            Some(Value::Simple(_)) => w.keys_copied += 1,
            Some(Value::Error(e)) if e.starts_with(b"BUSYKEY") => w.keys_present += 1,
            other => {
                w.key_errors += 1;
                if w.key_errors <= 10 {
                    warn!("warm-up: RESTORE answered {other:?}");
                }
            }
        }
    }

    /// The `/warmup/status` body.
    pub(crate) fn warmup_json(&self) -> String {
        let w = &self.warmup;
        let donor = w
            .donors
            .get(w.donor_idx.min(w.donors.len().saturating_sub(1)))
            .map(|&p| self.topology.peer(p).name.clone());
        let donors: Vec<String> = w
            .donors
            .iter()
            .map(|&p| self.topology.peer(p).name.clone())
            .collect();
        let body = serde_json::json!({
            "state": w.state.name(),
            "donor": donor,
            "donors": donors,
            "cursor": w.cursor,
            "keys_scanned": w.keys_scanned,
            "keys_copied": w.keys_copied,
            "keys_present": w.keys_present,
            "keys_gone": w.keys_gone,
            "key_errors": w.key_errors,
            "bytes_copied": w.bytes_copied,
            "in_flight": w.copies.len(),
            "started_at": w.started_at,
            "ended_at": w.ended_at,
            "last_error": w.reason,
        });
        format!("{body}\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_replies_the_copy_gets() {
        assert_eq!(
            decode(b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$3\r\nb\r\n\r\n"),
            Some(Value::Array(vec![
                Value::Bulk(Some(b"17".to_vec())),
                Value::Array(vec![
                    Value::Bulk(Some(b"a".to_vec())),
                    Value::Bulk(Some(b"b\r\n".to_vec()))
                ])
            ]))
        );
        assert_eq!(decode(b":-2\r\n"), Some(Value::Int(-2)));
        assert_eq!(decode(b"$-1\r\n"), Some(Value::Bulk(None)));
        assert_eq!(decode(b"_\r\n"), Some(Value::Bulk(None)));
        assert_eq!(decode(b"+OK\r\n"), Some(Value::Simple(b"OK".to_vec())));
        assert_eq!(
            decode(b"-BUSYKEY Target key name already exists.\r\n"),
            Some(Value::Error(
                b"BUSYKEY Target key name already exists.".to_vec()
            ))
        );
        assert_eq!(decode(b"$5\r\nab"), None);
        assert_eq!(decode(b"?"), None);
    }

    #[test]
    fn requests_carry_their_argument_places() {
        let (bytes, args) = encode(&[b"DUMP", b"k\r\n1"]);
        assert_eq!(bytes, b"*2\r\n$4\r\nDUMP\r\n$4\r\nk\r\n1\r\n");
        let k = args[1];
        assert_eq!(
            &bytes[k.off as usize..(k.off + k.len as u64) as usize],
            b"k\r\n1"
        );
    }
}
