//! Anti-entropy (beyond the original, which has none; spec
//! replication-and-consistency, Notes): a background, rate-limited
//! comparison of the keys this node owns with their replicas in another
//! rack, repairing what differs the way read repair does.
//!
//! ```text
//!  /entropy/start, or every entropy_interval seconds
//!    partner rack: another rack of this DC (one whose nodes are all up
//!    first), else the rack a remote DC replicates this one to; arbiter:
//!    a third rack of this DC, when there is one
//!  phase 1: SCAN this node's datastore ──► keys this node owns
//!  phase 2: SCAN each partner node      ──► keys this node owns
//!  per batch of at most BATCH_MAX keys (entropy_keys_per_sec tokens):
//!    EVAL DIGEST_SCRIPT n k1..kn ──► this node's datastore, and (phase 1)
//!      the keys' owners in the partner and arbiter racks as type-3 peer
//!      requests (a C peer answers too): per key its type and the SHA-1 of
//!      its DUMP payload (footer cut) or, for a hash or a set, of its
//!      sorted members; and its PTTL
//!    decide() per key ─► same | missing on a side | values differ
//!      a key missing on a side ─► RESTORE (no REPLACE) from a side that
//!                                 has it (read repair's jobs, repair.rs)
//!      values differ: a strict majority of the replicas asked agrees ─►
//!                     RESTORE ... REPLACE on the others; else a conflict,
//!                     counted, listed and left alone
//!      phase 2 acts only on keys missing here (phase 1 compared the rest)
//!  a node of the partner rack down: the run pauses (checked each second)
//!  and gives up after PAUSE_MAX; an arbiter down is left out
//! ```
//!
//! Why conflicts are left alone: with two replicas and no metadata there is
//! no telling which value is newer (no timestamps are kept), and choosing
//! a side by rack name would overwrite the newer value half of the time.
//! A third replica decides by majority, as read repair does; without one,
//! an operator sees the keys in `/entropy/status` and the log.
//!
//! A key deleted while a replica was away comes back from that replica
//! (without tombstones a missing key cannot be told from a lost one, as in
//! read repair). A key written while it is compared can look missing or
//! different: a missing key is restored without REPLACE (a write that
//! lands first wins), and a difference seen in a write's window is at
//! worst reported as a conflict or repaired to the majority's value.
//!
//! Every request is the node's own (`Msg::internal`), answered through
//! `entropy_reply`; repairs are read repair's jobs, counted here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{info, warn};
use slab::Slab;

use crate::cluster::gossip::unix_now;
use crate::cluster::health::RateLimit;
use crate::cluster::plan::Target;
use crate::cluster::repair::Loser;
use crate::cluster::resp::{decode, Value};
use crate::cluster::state::PeerHealth;
use crate::core::{Context, Timer};
use crate::ids::{MsgId, PeerId};
use crate::msg::Internal;

/// Most keys in one digest request.
pub const BATCH_MAX: usize = 64;
/// Batches in flight at once.
const WINDOW: usize = 2;
/// Keys asked for per SCAN.
const SCAN_COUNT: &str = "256";
/// Wait before a paused run looks again.
const RETRY: Duration = Duration::from_secs(1);
/// Longest pause (a partner node down) before the run gives up.
pub const PAUSE_MAX: Duration = Duration::from_secs(600);
/// Tries of one key before it counts as an error.
const KEY_TRIES: u8 = 3;
/// Expiry times closer than this are the same TTL (the sides are read a
/// few milliseconds apart).
pub const TTL_SLACK_MS: i64 = 1000;
/// Replicas compared: this node, the partner, the arbiter.
pub const SIDES_MAX: usize = 3;
/// Conflicting keys listed in the status.
const CONFLICTS_LISTED: usize = 16;

/// Per key of KEYS: its digest (`type:sha1`, or false when missing) and
/// its PTTL. DUMP's last 10 bytes (RDB version and CRC) are cut, so
/// replicas of different Redis versions that encode alike agree; a hash or
/// a set is digested from its sorted members, since its DUMP follows the
/// process's hash table order.
pub const DIGEST_SCRIPT: &str = "\
local out = {}
for i, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  if t == 'none' then
    out[2 * i - 1] = false
    out[2 * i] = -2
  else
    local body
    if t == 'hash' or t == 'set' then
      local m
      local step = 1
      if t == 'hash' then
        m = redis.call('HGETALL', k)
        step = 2
      else
        m = redis.call('SMEMBERS', k)
      end
      local items = {}
      for j = 1, #m, step do
        local it = #m[j] .. ':' .. m[j]
        if step == 2 then
          it = it .. #m[j + 1] .. ':' .. m[j + 1]
        end
        items[#items + 1] = it
      end
      table.sort(items)
      body = table.concat(items, ',')
    else
      body = string.sub(redis.call('DUMP', k), 1, -11)
    end
    out[2 * i - 1] = t .. ':' .. redis.sha1hex(body)
    out[2 * i] = redis.call('PTTL', k)
  end
end
return out
";

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntState {
    /// Never started.
    Idle,
    /// Comparing.
    Running,
    /// Waiting for a partner node to come back, or after a failed request.
    Paused,
    /// Both scans reached their end.
    Done,
    /// Could not run, or gave up.
    Failed,
}

impl EntState {
    pub fn name(self) -> &'static str {
        match self {
            EntState::Idle => "idle",
            EntState::Running => "running",
            EntState::Paused => "paused",
            EntState::Done => "done",
            EntState::Failed => "failed",
        }
    }
}

/// What one replica holds of a key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Seen {
    /// No answer (the request failed).
    #[default]
    Unknown,
    /// No such key.
    Missing,
    /// The key: its digest, and when it expires (milliseconds after the
    /// batch was sent; `None` without a TTL).
    Value {
        digest: Vec<u8>,
        expire_ms: Option<i64>,
    },
}

impl Seen {
    /// The same value and the same TTL (expiry times within the slack).
    fn same(&self, other: &Seen) -> bool {
        match (self, other) {
            (
                Seen::Value {
                    digest: a,
                    expire_ms: ea,
                },
                Seen::Value {
                    digest: b,
                    expire_ms: eb,
                },
            ) => {
                a == b
                    && match (ea, eb) {
                        (None, None) => true,
                        (Some(x), Some(y)) => (x - y).abs() <= TTL_SLACK_MS,
                        _ => false,
                    }
            }
            _ => false,
        }
    }
}

/// What to do about one key, from what its replicas hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every replica holds the same value.
    Same,
    /// Gone from every replica (deleted or expired since the SCAN).
    Gone,
    /// Copy side `from`'s value to the sides listed (`true`: it holds
    /// another value, RESTORE with REPLACE; `false`: it misses the key).
    Repair { from: usize, to: Vec<(usize, bool)> },
    /// Values differ and no strict majority agrees: left alone.
    Conflict,
}

/// The rule (pure): a value beats a missing key; among differing values a
/// strict majority of the replicas asked wins; else a conflict. `seen`
/// holds known answers only.
pub fn decide(seen: &[Seen]) -> Verdict {
    debug_assert!(!seen.contains(&Seen::Unknown));
    // Groups of agreeing values: (first side, count).
    let mut groups: Vec<(usize, usize)> = Vec::with_capacity(seen.len());
    for (i, s) in seen.iter().enumerate() {
        if !matches!(s, Seen::Value { .. }) {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| seen[*g].same(s)) {
            Some(g) => g.1 += 1,
            None => groups.push((i, 1)),
        }
    }
    let Some(&(best, count)) = groups.iter().max_by_key(|(_, n)| *n) else {
        return Verdict::Gone;
    };
    let ties = groups.iter().filter(|(_, n)| *n == count).count();
    if groups.len() > 1 && (ties > 1 || count * 2 <= seen.len()) {
        return Verdict::Conflict;
    }
    let to: Vec<(usize, bool)> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !seen[best].same(s))
        .map(|(i, s)| (i, matches!(s, Seen::Value { .. })))
        .collect();
    if to.is_empty() {
        Verdict::Same
    } else {
        Verdict::Repair { from: best, to }
    }
}

/// Keys per batch for a rate: a batch never takes more than a second's
/// budget.
pub fn batch_size(keys_per_sec: u64) -> usize {
    keys_per_sec.clamp(1, BATCH_MAX as u64) as usize
}

/// A token bucket of keys (pure, `now` passed in): holds at most one
/// batch, refilled at `rate` keys a second.
#[derive(Debug, Clone)]
pub struct Throttle {
    rate: u64,
    tokens: f64,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(rate: u64) -> Throttle {
        debug_assert!(rate > 0);
        Throttle {
            rate: rate.max(1),
            tokens: batch_size(rate) as f64,
            last: None,
        }
    }

    /// Takes `n` keys' worth, or says how long until they are there.
    pub fn take(&mut self, now: Instant, n: usize) -> Result<(), Duration> {
        debug_assert!(n <= batch_size(self.rate));
        let cap = batch_size(self.rate) as f64;
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate as f64).min(cap);
        }
        self.last = Some(now);
        let want = n as f64;
        if self.tokens + 1e-9 >= want {
            self.tokens = (self.tokens - want).max(0.0);
            return Ok(());
        }
        let secs = (want - self.tokens) / self.rate as f64;
        Err(Duration::from_secs_f64(secs).max(Duration::from_millis(1)))
    }
}

/// What a run counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Keys the scans listed that this node owns.
    pub keys_scanned: u64,
    /// Keys sent in digest batches (each takes a token of the rate).
    pub keys_sent: u64,
    /// Keys of this node's datastore decided (every replica answered);
    /// phase 2 only looks for keys missing here and counts those.
    pub keys_compared: u64,
    pub keys_same: u64,
    /// Missing on this node and copied here.
    pub keys_missing_here: u64,
    /// Missing on another replica and copied there.
    pub keys_missing_there: u64,
    /// Replicas holding another value (or TTL), repaired by majority.
    pub keys_differ: u64,
    /// Keys whose values differ with no majority: left alone.
    pub conflicts: u64,
    /// Gone from every replica before they were compared.
    pub keys_gone: u64,
    /// Keys no answer was had for after `KEY_TRIES`.
    pub key_errors: u64,
    pub repairs_sent: u64,
    pub repairs_ok: u64,
    /// RESTORE without REPLACE found the key there (written meanwhile).
    pub repairs_kept: u64,
    /// The source no longer had the key when it was read.
    pub repairs_gone: u64,
    pub repairs_failed: u64,
    pub batches: u64,
    /// Times a batch waited for the rate limit.
    pub rate_waits: u64,
    pub pauses: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        let pairs = [
            (&mut self.keys_scanned, o.keys_scanned),
            (&mut self.keys_sent, o.keys_sent),
            (&mut self.keys_compared, o.keys_compared),
            (&mut self.keys_same, o.keys_same),
            (&mut self.keys_missing_here, o.keys_missing_here),
            (&mut self.keys_missing_there, o.keys_missing_there),
            (&mut self.keys_differ, o.keys_differ),
            (&mut self.conflicts, o.conflicts),
            (&mut self.keys_gone, o.keys_gone),
            (&mut self.key_errors, o.key_errors),
            (&mut self.repairs_sent, o.repairs_sent),
            (&mut self.repairs_ok, o.repairs_ok),
            (&mut self.repairs_kept, o.repairs_kept),
            (&mut self.repairs_gone, o.repairs_gone),
            (&mut self.repairs_failed, o.repairs_failed),
            (&mut self.batches, o.batches),
            (&mut self.rate_waits, o.rate_waits),
            (&mut self.pauses, o.pauses),
        ];
        for (a, b) in pairs {
            *a += b;
        }
    }
}

/// One batch of keys being compared.
#[derive(Debug)]
struct Batch {
    /// The keys and the tries each had.
    keys: Vec<(Vec<u8>, u8)>,
    /// Phase 2: only a key missing here is acted on.
    only_missing_here: bool,
    /// Per key, what each side holds.
    seen: Vec<[Seen; SIDES_MAX]>,
    /// Per key, where each side's replica is.
    owners: Vec<[Option<Target>; SIDES_MAX]>,
    /// The requests: side and the indexes of their keys.
    reqs: Vec<(usize, Vec<u16>)>,
    /// Sides asked (1 in phase 2; 2, or 3 with an arbiter).
    sides: usize,
    outstanding: u32,
    sent_at: Instant,
}

/// Anti-entropy runs of this node.
#[derive(Debug)]
pub struct Entropy {
    pub state: EntState,
    /// Why it paused or failed.
    pub reason: String,
    /// `entropy_keys_per_sec`.
    pub keys_per_sec: u64,
    /// `entropy_interval` (None: no schedule).
    pub interval: Option<Duration>,
    /// The last run was started by the schedule.
    pub scheduled: bool,
    /// Runs started.
    pub runs: u64,
    /// A node of the partner rack.
    partner: Option<PeerId>,
    /// A node of the arbiter rack.
    arbiter: Option<PeerId>,
    /// Phase 2 scans these (the partner rack's nodes).
    scan_nodes: Vec<PeerId>,
    /// 0: this node's datastore; i: `scan_nodes[i - 1]`.
    phase: usize,
    cursor: String,
    scan_done: bool,
    scan_inflight: bool,
    pending: VecDeque<(Vec<u8>, u8)>,
    batches: Slab<Batch>,
    throttle: Throttle,
    paused_since: Option<Instant>,
    /// The earliest `Timer::Entropy` armed.
    tick_at: Option<Instant>,
    /// In `entropy_pump` (answers given at once do not pump again).
    busy: bool,
    /// This run's counts.
    pub run: Counts,
    /// Earlier runs' counts.
    totals: Counts,
    /// The first conflicting keys of this run.
    pub conflict_keys: Vec<String>,
    pub started_at: u64,
    pub ended_at: u64,
    started: Option<Instant>,
    ended: Option<Instant>,
    log: RateLimit,
}

impl Entropy {
    pub fn new(keys_per_sec: u64, interval_s: u64) -> Entropy {
        let keys_per_sec = keys_per_sec.max(1);
        Entropy {
            state: EntState::Idle,
            reason: String::new(),
            keys_per_sec,
            interval: (interval_s > 0).then(|| Duration::from_secs(interval_s)),
            scheduled: false,
            runs: 0,
            partner: None,
            arbiter: None,
            scan_nodes: Vec::new(),
            phase: 0,
            cursor: "0".into(),
            scan_done: false,
            scan_inflight: false,
            pending: VecDeque::new(),
            batches: Slab::new(),
            throttle: Throttle::new(keys_per_sec),
            paused_since: None,
            tick_at: None,
            busy: false,
            run: Counts::default(),
            totals: Counts::default(),
            conflict_keys: Vec::new(),
            started_at: 0,
            ended_at: 0,
            started: None,
            ended: None,
            log: RateLimit::default(),
        }
    }

    /// Running or paused.
    pub fn active(&self) -> bool {
        matches!(self.state, EntState::Running | EntState::Paused)
    }

    /// Every run's counts, this one's included (`/metrics`).
    pub fn totals(&self) -> Counts {
        let mut t = self.totals.clone();
        t.add(&self.run);
        t
    }

    /// Milliseconds the run took (or has taken so far).
    pub fn elapsed_ms(&self, now: Instant) -> u64 {
        self.started.map_or(0, |s| {
            self.ended
                .unwrap_or(now)
                .saturating_duration_since(s)
                .as_millis() as u64
        })
    }
}

/// Reads one digest answer: per key, what the side holds (`None` for an
/// error or a shape the script never answers with). `elapsed_ms`: since the
/// batch was sent, to place expiry times on the batch's clock.
pub fn parse_digests(v: Option<Value>, keys: usize, elapsed_ms: i64) -> Option<Vec<Seen>> {
    let Some(Value::Array(items)) = v else {
        return None;
    };
    if items.len() != keys * 2 {
        return None;
    }
    let mut out = Vec::with_capacity(keys);
    let mut it = items.into_iter();
    while let (Some(d), Some(t)) = (it.next(), it.next()) {
        out.push(match (d, t) {
            (Value::Bulk(None), _) => Seen::Missing,
            (Value::Bulk(Some(digest)), Value::Int(t)) if t >= -1 => Seen::Value {
                digest,
                expire_ms: (t >= 0).then_some(elapsed_ms + t),
            },
            // Expired between the digest and the PTTL.
            (Value::Bulk(Some(_)), Value::Int(-2)) => Seen::Missing,
            _ => return None,
        });
    }
    Some(out)
}

impl Context {
    /// Starts a run (`/entropy/start`, or the schedule). False when one is
    /// under way; a run that cannot start ends at once as failed.
    pub(crate) fn entropy_start(&mut self, scheduled: bool) -> bool {
        if self.entropy.active() {
            return false;
        }
        let e = &mut self.entropy;
        let last = std::mem::take(&mut e.run);
        e.totals.add(&last);
        e.runs += 1;
        e.scheduled = scheduled;
        e.conflict_keys.clear();
        e.reason.clear();
        e.phase = 0;
        e.cursor = "0".into();
        e.scan_done = false;
        e.pending.clear();
        e.throttle = Throttle::new(e.keys_per_sec);
        e.paused_since = None;
        e.started_at = unix_now();
        e.ended_at = 0;
        e.started = Some(self.now);
        e.ended = None;
        debug_assert!(e.batches.is_empty() && !e.scan_inflight);
        if self.settings.memcache {
            return self.entropy_fail("memcached has no SCAN or DUMP");
        }
        if self.warmup.running() {
            // Every key would look missing here; the warm-up copies them.
            return self.entropy_fail("a warm-up is copying this node's keys");
        }
        let (partner, arbiter) = self.entropy_racks();
        let Some(partner) = partner else {
            return self.entropy_fail("no replica in another rack to compare with");
        };
        let p = self.topology.peer(partner);
        let scan_nodes = self.topology.dcs[p.dc_idx].racks[p.rack_idx].peers.clone();
        let e = &mut self.entropy;
        e.partner = Some(partner);
        e.arbiter = arbiter;
        e.scan_nodes = scan_nodes;
        e.state = EntState::Running;
        info!(
            "anti-entropy run {} started ({}): comparing with rack {}{}, {} keys/s",
            self.entropy.runs,
            if scheduled { "scheduled" } else { "admin" },
            self.rack_name(partner),
            arbiter.map_or(String::new(), |a| format!(
                ", rack {} breaks ties",
                self.rack_name(a)
            )),
            self.entropy.keys_per_sec
        );
        self.entropy_pump();
        true
    }

    /// `entropy_interval`: arms the next scheduled run.
    pub(crate) fn entropy_schedule(&mut self) {
        if self.settings.memcache {
            return;
        }
        if let Some(every) = self.entropy.interval {
            let at = self.now + every;
            self.add_timer(at, Timer::EntropySchedule);
        }
    }

    /// The schedule's timer: a run, unless one is under way.
    pub(crate) fn entropy_scheduled(&mut self) {
        // A node alone (seeds may add peers later) or warming up waits for
        // the next turn of the schedule.
        if !self.topology.is_single() && !self.warmup.running() {
            self.entropy_start(true);
        }
        self.entropy_schedule();
    }

    /// `dc/rack` of a peer.
    fn rack_name(&self, p: PeerId) -> String {
        let p = self.topology.peer(p);
        format!("{}/{}", p.dc, p.rack)
    }

    /// A node of the partner rack and of the arbiter rack: other racks of
    /// this DC whose nodes are all up first; without another rack here,
    /// the rack a remote DC replicates this one to.
    fn entropy_racks(&self) -> (Option<PeerId>, Option<PeerId>) {
        let up = |p: &PeerId| !self.peer_down(*p);
        let local = self.topology.peer(PeerId::LOCAL).rack_idx;
        let dc0 = &self.topology.dcs[0];
        let mut racks: Vec<&Vec<PeerId>> = dc0
            .racks
            .iter()
            .enumerate()
            .filter(|&(r, rack)| r != local && !rack.peers.is_empty())
            .map(|(_, rack)| &rack.peers)
            .collect();
        // Racks whose nodes are all up first (a stable sort keeps the
        // order of names otherwise).
        racks.sort_by_key(|peers| !peers.iter().all(up));
        let mut first = racks.iter().map(|r| r[0]);
        let partner = first.next();
        let arbiter = first.next();
        if partner.is_some() {
            return (partner, arbiter);
        }
        let remote = self
            .topology
            .dcs
            .iter()
            .skip(1)
            .filter_map(|dc| dc.racks.get(dc.preselected))
            .find(|r| !r.peers.is_empty())
            .map(|r| r.peers[0]);
        (remote, None)
    }

    /// A peer no request may go to: set DOWN by an operator, or found down.
    fn peer_down(&self, p: PeerId) -> bool {
        let p = self.topology.peer(p);
        !p.state.routable() || p.health == PeerHealth::Down
    }

    /// The partner rack's node that is down, if any.
    fn entropy_partner_down(&self) -> Option<PeerId> {
        self.entropy
            .scan_nodes
            .iter()
            .copied()
            .find(|&p| self.peer_down(p))
    }

    /// The owner of `hash` in the rack of `member`.
    fn owner_in_rack_of(&self, member: PeerId, hash: u32) -> PeerId {
        let p = self.topology.peer(member);
        self.topology.owner(p.dc_idx, p.rack_idx, hash)
    }

    /// The run's timer: resumes a pause, sends what the budget allows.
    pub(crate) fn entropy_tick(&mut self) {
        // A timer armed earlier and overtaken fires too: one more look at
        // the budget, harmless.
        self.entropy.tick_at = None;
        if self.entropy.state == EntState::Paused {
            let since = self.entropy.paused_since.unwrap_or(self.now);
            let e = &self.entropy;
            if self.now.saturating_duration_since(since) >= PAUSE_MAX
                && e.batches.is_empty()
                && !e.scan_inflight
            {
                let why = format!(
                    "paused for {} s ({}): run abandoned",
                    PAUSE_MAX.as_secs(),
                    e.reason
                );
                self.entropy_fail(&why);
                return;
            }
            if self.entropy_partner_down().is_some() {
                self.entropy_arm(RETRY);
                return;
            }
            let e = &mut self.entropy;
            e.state = EntState::Running;
            e.paused_since = None;
            info!("anti-entropy resumed ({} paused it)", e.reason);
            e.reason.clear();
        }
        self.entropy_pump();
    }

    /// Arms the run's timer `after` from now unless it fires earlier already.
    /// `after` is counted from the clock, not from the turn's `now`: the
    /// loop fires every timer due by its own later reading, and a timer
    /// armed behind that reading would fire again in the same call.
    fn entropy_arm(&mut self, after: Duration) {
        let at = Instant::now() + after;
        if self.entropy.tick_at.is_some_and(|t| t <= at) {
            return;
        }
        self.entropy.tick_at = Some(at);
        self.add_timer(at, Timer::Entropy);
    }

    /// Stops sending until a second has passed and the partner rack is up.
    fn entropy_pause(&mut self, why: String) {
        let e = &mut self.entropy;
        if e.state == EntState::Running {
            e.run.pauses += 1;
            e.paused_since = Some(self.now);
            warn!("anti-entropy paused: {why}");
        }
        if e.active() {
            e.state = EntState::Paused;
            e.reason = why;
        }
        self.entropy_arm(RETRY);
    }

    /// The run could not go on.
    fn entropy_fail(&mut self, why: &str) -> bool {
        let e = &mut self.entropy;
        e.state = EntState::Failed;
        e.reason = why.to_string();
        e.ended_at = unix_now();
        e.ended = Some(self.now);
        e.pending.clear();
        warn!("anti-entropy run {} failed: {why}", e.runs);
        true
    }

    /// Sends batches up to the window and the rate limit, a SCAN when the
    /// pending keys run low, and moves to the next phase or ends.
    fn entropy_pump(&mut self) {
        if self.entropy.state != EntState::Running || self.entropy.busy {
            return;
        }
        if let Some(down) = self.entropy_partner_down() {
            let p = self.topology.peer(down);
            let why = format!("replica {}:{} is down", p.host, p.port);
            self.entropy_pause(why);
            return;
        }
        self.entropy.busy = true;
        let bs = batch_size(self.entropy.keys_per_sec);
        while self.entropy.state == EntState::Running
            && self.entropy.batches.len() < WINDOW
            && !self.entropy.pending.is_empty()
        {
            let e = &self.entropy;
            if e.pending.len() < bs && !e.scan_done {
                break; // a fuller batch once the SCAN answers
            }
            if !self.repair_room() {
                self.entropy_arm(Duration::from_millis(100));
                break;
            }
            let n = bs.min(self.entropy.pending.len());
            if let Err(wait) = self.entropy.throttle.take(Instant::now(), n) {
                self.entropy.run.rate_waits += 1;
                self.entropy_arm(wait);
                break;
            }
            let keys: Vec<(Vec<u8>, u8)> = self.entropy.pending.drain(..n).collect();
            self.entropy_send(keys);
        }
        self.entropy.busy = false;
        let e = &self.entropy;
        if e.state != EntState::Running || e.scan_inflight {
            return;
        }
        if !e.scan_done {
            if e.pending.len() < bs * 2 {
                self.entropy_scan();
            }
            return;
        }
        if !e.pending.is_empty() || !e.batches.is_empty() {
            return;
        }
        // This scan is done: the next phase, or the end.
        let e = &mut self.entropy;
        if e.phase < e.scan_nodes.len() {
            e.phase += 1;
            e.cursor = "0".into();
            e.scan_done = false;
            self.entropy_scan();
            return;
        }
        e.state = EntState::Done;
        e.ended_at = unix_now();
        e.ended = Some(self.now);
        let c = &e.run;
        info!(
            "anti-entropy run {} done in {} ms: {} keys compared, {} same, {} missing here, \
             {} missing on a replica, {} differing repaired, {} conflicts, {} errors; \
             {} repairs sent, {} failed",
            e.runs,
            e.elapsed_ms(self.now),
            c.keys_compared,
            c.keys_same,
            c.keys_missing_here,
            c.keys_missing_there,
            c.keys_differ,
            c.conflicts,
            c.key_errors,
            c.repairs_sent,
            c.repairs_failed
        );
    }

    /// SCAN of this node's datastore (phase 0) or of a partner node.
    fn entropy_scan(&mut self) {
        let e = &mut self.entropy;
        debug_assert!(!e.scan_inflight);
        e.scan_inflight = true;
        let cursor = e.cursor.clone();
        let phase = e.phase;
        let mid = self.internal_request(
            &[b"SCAN", cursor.as_bytes(), b"COUNT", SCAN_COUNT.as_bytes()],
            Internal::EntropyScan,
        );
        let to = match phase {
            0 => Target::Local,
            i => Target::Peer {
                peer: self.entropy.scan_nodes[i - 1],
                forward: false,
            },
        };
        self.entropy_send_to(mid, to);
    }

    /// Sends one of the run's requests; one that cannot be sent fails at
    /// once (its error comes back through `entropy_reply`).
    fn entropy_send_to(&mut self, mid: MsgId, to: Target) {
        match to {
            Target::Local => self.execute_local(mid),
            Target::Peer { peer, .. } => {
                if let Err(why) = self.peer_forward(mid, peer, false) {
                    self.reply_error(mid, why.error());
                }
            }
        }
    }

    /// Asks every side for the digests of `keys`, one request per owner.
    fn entropy_send(&mut self, keys: Vec<(Vec<u8>, u8)>) {
        debug_assert!(!keys.is_empty() && keys.len() <= BATCH_MAX);
        let e = &self.entropy;
        let only_missing_here = e.phase > 0;
        let mut members = vec![Some(PeerId::LOCAL)];
        if !only_missing_here {
            members.push(e.partner);
            members.push(e.arbiter.filter(|&a| !self.peer_down(a)));
        }
        let sides = if members.get(2).copied().flatten().is_some() {
            3
        } else {
            members.len().min(2)
        };
        let mut owners = Vec::with_capacity(keys.len());
        for (key, _) in &keys {
            let h = self.key_token(key);
            let mut o = [None; SIDES_MAX];
            o[0] = Some(Target::Local);
            for s in 1..sides {
                if let Some(m) = members[s] {
                    o[s] = Some(Target::Peer {
                        peer: self.owner_in_rack_of(m, h),
                        forward: false,
                    });
                }
            }
            owners.push(o);
        }
        // One request per (side, owner), in order of first appearance.
        let mut reqs: Vec<(usize, Target, Vec<u16>)> = Vec::new();
        for (i, o) in owners.iter().enumerate() {
            for (s, t) in o.iter().enumerate().take(sides) {
                let Some(t) = *t else { continue };
                match reqs.iter_mut().find(|(rs, rt, _)| *rs == s && *rt == t) {
                    Some(r) => r.2.push(i as u16),
                    None => reqs.push((s, t, vec![i as u16])),
                }
            }
        }
        let n = self.entropy.batches.insert(Batch {
            seen: vec![Default::default(); keys.len()],
            keys,
            only_missing_here,
            owners,
            reqs: reqs.iter().map(|(s, _, k)| (*s, k.clone())).collect(),
            sides,
            outstanding: reqs.len() as u32,
            sent_at: self.now,
        }) as u32;
        self.entropy.run.batches += 1;
        self.entropy.run.keys_sent += self.entropy.batches[n as usize].keys.len() as u64;
        let mut out = Vec::with_capacity(reqs.len());
        for (r, (_, to, idx)) in reqs.iter().enumerate() {
            let b = &self.entropy.batches[n as usize];
            let keys: Vec<Vec<u8>> = idx.iter().map(|&i| b.keys[i as usize].0.clone()).collect();
            let count = idx.len().to_string();
            let mut args: Vec<&[u8]> = vec![b"EVAL", DIGEST_SCRIPT.as_bytes(), count.as_bytes()];
            args.extend(keys.iter().map(|k| k.as_slice()));
            let tag = Internal::EntropyDigest {
                batch: n,
                req: r as u16,
            };
            out.push((self.internal_request(&args, tag), *to));
        }
        // Every request is made before any is sent: an answer given at
        // once finds the batch whole.
        for (mid, to) in out {
            self.entropy_send_to(mid, to);
        }
    }

    /// The answer to one of the run's requests (both are freed here).
    pub(crate) fn entropy_reply(&mut self, req: MsgId, rsp: MsgId, tag: Internal) {
        debug_assert!(tag.is_entropy());
        let mut bytes = Vec::new();
        {
            let r = &self.msgs[rsp];
            self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        }
        self.msgs[req].peer = None;
        self.msgs.put(&mut self.mbufs, rsp);
        self.msgs[req].done = true;
        self.try_free(req);
        let v = decode(&bytes);
        match tag {
            Internal::EntropyScan => self.entropy_scanned(v),
            Internal::EntropyDigest { batch, req } => self.entropy_digested(batch, req, v),
            _ => {}
        }
        if self.entropy.state == EntState::Running {
            self.entropy_pump();
        }
    }

    fn entropy_scanned(&mut self, v: Option<Value>) {
        self.entropy.scan_inflight = false;
        let (cursor, keys) = match v {
            Some(Value::Array(mut a)) if a.len() == 2 => match (a.pop(), a.pop()) {
                (Some(Value::Array(keys)), Some(Value::Bulk(Some(c)))) => (c, keys),
                _ => return self.entropy_pause("SCAN: unexpected answer".into()),
            },
            Some(Value::Error(e)) => {
                let why = format!("SCAN: {}", String::from_utf8_lossy(&e));
                return self.entropy_pause(why);
            }
            _ => return self.entropy_pause("SCAN: unexpected answer".into()),
        };
        if !self.entropy.active() {
            return;
        }
        for k in keys {
            if let Value::Bulk(Some(key)) = k {
                let h = self.key_token(&key);
                if self.topology.local_owner(h).is_local() {
                    self.entropy.run.keys_scanned += 1;
                    self.entropy.pending.push_back((key, 0));
                }
            }
        }
        let e = &mut self.entropy;
        e.cursor = String::from_utf8_lossy(&cursor).into_owned();
        e.scan_done = e.cursor == "0";
    }

    fn entropy_digested(&mut self, n: u32, r: u16, v: Option<Value>) {
        let now = self.now;
        let Some(b) = self.entropy.batches.get_mut(n as usize) else {
            return;
        };
        b.outstanding = b.outstanding.saturating_sub(1);
        let (side, idx) = b.reqs[r as usize].clone();
        let elapsed = now.saturating_duration_since(b.sent_at).as_millis() as i64;
        let err = match &v {
            Some(Value::Error(e)) => Some(String::from_utf8_lossy(e).into_owned()),
            _ => None,
        };
        match parse_digests(v, idx.len(), elapsed) {
            Some(seen) => {
                for (&i, s) in idx.iter().zip(seen) {
                    b.seen[i as usize][side] = s;
                }
            }
            None => {
                let outstanding = b.outstanding;
                let why = format!(
                    "digest script answered {}",
                    err.unwrap_or_else(|| "an unexpected answer".into())
                );
                if side == 2 {
                    // The arbiter only breaks ties: decided without it.
                    if let Some(h) = self.entropy.log.allow(now) {
                        warn!("anti-entropy: arbiter's {why} ({h} more not logged)");
                    }
                } else {
                    self.entropy_pause(why);
                }
                if outstanding > 0 {
                    return;
                }
            }
        }
        if self.entropy.batches[n as usize].outstanding == 0 {
            self.entropy_decide(n);
        }
    }

    /// Every answer of batch `n` is in: decide each key.
    fn entropy_decide(&mut self, n: u32) {
        let b = self.entropy.batches.remove(n as usize);
        for ((key, tries), (seen, owners)) in
            b.keys.into_iter().zip(b.seen.into_iter().zip(b.owners))
        {
            if seen[0] == Seen::Unknown || (b.sides > 1 && seen[1] == Seen::Unknown) {
                if tries + 1 >= KEY_TRIES {
                    self.entropy.run.key_errors += 1;
                } else {
                    self.entropy.pending.push_front((key, tries + 1));
                }
                continue;
            }
            if b.only_missing_here {
                // Phase 2: the key is on the partner (its SCAN listed it).
                if seen[0] == Seen::Missing {
                    let h = self.key_token(&key);
                    let partner = self.entropy.scan_nodes[0];
                    let from = Target::Peer {
                        peer: self.owner_in_rack_of(partner, h),
                        forward: false,
                    };
                    self.entropy.run.keys_missing_here += 1;
                    let to = [Loser {
                        to: Target::Local,
                        replace: false,
                    }];
                    self.repair_start(key, from, &to, true);
                }
                continue;
            }
            self.entropy.run.keys_compared += 1;
            // The sides that answered (an arbiter that failed is left out).
            let mut sides: Vec<usize> = (0..b.sides).collect();
            sides.retain(|&s| seen[s] != Seen::Unknown);
            let known: Vec<Seen> = sides.iter().map(|&s| seen[s].clone()).collect();
            match decide(&known) {
                Verdict::Same => self.entropy.run.keys_same += 1,
                Verdict::Gone => self.entropy.run.keys_gone += 1,
                Verdict::Conflict => {
                    let c = &mut self.entropy;
                    c.run.conflicts += 1;
                    let name = String::from_utf8_lossy(&key).into_owned();
                    if let Some(h) = c.log.allow(self.now) {
                        warn!(
                            "anti-entropy: replicas of {name:?} differ and no majority agrees; \
                             left alone ({h} more not logged)"
                        );
                    }
                    if c.conflict_keys.len() < CONFLICTS_LISTED {
                        c.conflict_keys.push(name);
                    }
                }
                Verdict::Repair { from, to } => {
                    let Some(source) = owners[sides[from]] else {
                        continue;
                    };
                    let mut losers = Vec::with_capacity(to.len());
                    for (i, replace) in to {
                        let s = sides[i];
                        let c = &mut self.entropy.run;
                        match (replace, s) {
                            (true, _) => c.keys_differ += 1,
                            (false, 0) => c.keys_missing_here += 1,
                            (false, _) => c.keys_missing_there += 1,
                        }
                        if let Some(t) = owners[s] {
                            losers.push(Loser { to: t, replace });
                        }
                    }
                    if !losers.is_empty() {
                        self.repair_start(key, source, &losers, true);
                    }
                }
            }
        }
    }

    /// The `/entropy/status` body.
    pub(crate) fn entropy_json(&self) -> String {
        let e = &self.entropy;
        let c = &e.run;
        let phase = match e.phase {
            0 => "local".to_string(),
            i => e.scan_nodes.get(i - 1).map_or(String::new(), |&p| {
                let p = self.topology.peer(p);
                format!("{}:{}", p.host, p.port)
            }),
        };
        let body = serde_json::json!({
            "state": e.state.name(),
            "run": e.runs,
            "scheduled": e.scheduled,
            "interval_s": e.interval.map_or(0, |d| d.as_secs()),
            "keys_per_sec": e.keys_per_sec,
            "batch_size": batch_size(e.keys_per_sec),
            "partner_rack": e.partner.map(|p| self.rack_name(p)),
            "arbiter_rack": e.arbiter.map(|p| self.rack_name(p)),
            "scanning": phase,
            "cursor": e.cursor,
            "keys_scanned": c.keys_scanned,
            "keys_sent": c.keys_sent,
            "keys_compared": c.keys_compared,
            "keys_same": c.keys_same,
            "keys_missing_here": c.keys_missing_here,
            "keys_missing_there": c.keys_missing_there,
            "keys_differ": c.keys_differ,
            "conflicts": c.conflicts,
            "conflict_keys": e.conflict_keys,
            "keys_gone": c.keys_gone,
            "key_errors": c.key_errors,
            "repairs_sent": c.repairs_sent,
            "repairs_ok": c.repairs_ok,
            "repairs_kept": c.repairs_kept,
            "repairs_gone": c.repairs_gone,
            "repairs_failed": c.repairs_failed,
            "batches": c.batches,
            "rate_waits": c.rate_waits,
            "pauses": c.pauses,
            "in_flight": e.batches.len(),
            "pending": e.pending.len(),
            "started_at": e.started_at,
            "ended_at": e.ended_at,
            "elapsed_ms": e.elapsed_ms(std::time::Instant::now()),
            "last_error": e.reason,
        });
        format!("{body}\n")
    }

    /// The `"entropy"` object of a cluster's `/info` (after a comma).
    pub(crate) fn entropy_info(&self) -> String {
        let e = &self.entropy;
        let c = &e.run;
        format!(
            ",\"entropy\": {{\"state\": \"{}\", \"runs\": {}, \"keys_scanned\": {}, \
             \"keys_compared\": {}, \"keys_missing_here\": {}, \"keys_missing_there\": {}, \
             \"keys_differ\": {}, \"conflicts\": {}, \"repairs_sent\": {}}}",
            e.state.name(),
            e.runs,
            c.keys_scanned,
            c.keys_compared,
            c.keys_missing_here,
            c.keys_missing_there,
            c.keys_differ,
            c.conflicts,
            c.repairs_sent
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(d: &str, e: Option<i64>) -> Seen {
        Seen::Value {
            digest: d.as_bytes().to_vec(),
            expire_ms: e,
        }
    }
    use Seen::Missing as M;

    #[test]
    fn the_rule() {
        let cases: Vec<(Vec<Seen>, Verdict)> = vec![
            (vec![v("a", None), v("a", None)], Verdict::Same),
            (vec![M, M], Verdict::Gone),
            (
                vec![v("a", None), M],
                Verdict::Repair {
                    from: 0,
                    to: vec![(1, false)],
                },
            ),
            (
                vec![M, v("a", Some(5000))],
                Verdict::Repair {
                    from: 1,
                    to: vec![(0, false)],
                },
            ),
            // Two values, two replicas: no majority.
            (vec![v("a", None), v("b", None)], Verdict::Conflict),
            // A TTL removed on one side is a different value.
            (vec![v("a", None), v("a", Some(9000))], Verdict::Conflict),
            // Expiry times within the slack agree.
            (vec![v("a", Some(9000)), v("a", Some(9400))], Verdict::Same),
            (
                vec![v("a", Some(9000)), v("a", Some(10_100))],
                Verdict::Conflict,
            ),
            // A third replica breaks the tie.
            (
                vec![v("a", None), v("b", None), v("b", None)],
                Verdict::Repair {
                    from: 1,
                    to: vec![(0, true)],
                },
            ),
            (
                vec![v("a", None), v("a", Some(70)), v("a", None)],
                Verdict::Repair {
                    from: 0,
                    to: vec![(1, true)],
                },
            ),
            (
                vec![v("a", None), M, v("a", None)],
                Verdict::Repair {
                    from: 0,
                    to: vec![(1, false)],
                },
            ),
            // Two values and a missing key among three: no majority.
            (vec![v("a", None), v("b", None), M], Verdict::Conflict),
            (
                vec![v("a", None), v("b", None), v("c", None)],
                Verdict::Conflict,
            ),
            (
                vec![M, M, v("c", None)],
                Verdict::Repair {
                    from: 2,
                    to: vec![(0, false), (1, false)],
                },
            ),
            (vec![v("a", None)], Verdict::Same),
            (vec![M], Verdict::Gone),
        ];
        for (seen, want) in cases {
            assert_eq!(decide(&seen), want, "{seen:?}");
        }
    }

    #[test]
    fn batches_fit_the_rate() {
        assert_eq!(batch_size(1), 1);
        assert_eq!(batch_size(10), 10);
        assert_eq!(batch_size(64), 64);
        assert_eq!(batch_size(100_000), BATCH_MAX);
    }

    #[test]
    fn the_throttle_hands_out_the_rate() {
        let t0 = Instant::now();
        let mut t = Throttle::new(10);
        assert_eq!(t.take(t0, 10), Ok(()), "one batch at once");
        let wait = t.take(t0, 10).unwrap_err();
        assert!(wait >= Duration::from_millis(990) && wait <= Duration::from_secs(1));
        // Half a second later: 5 keys' worth.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(t.take(t1, 5), Ok(()));
        assert!(t.take(t1, 1).is_err());
        // A long idle time does not save more than a batch.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(t.take(t2, 10), Ok(()));
        assert!(t.take(t2, 1).is_err());
        // Over a simulated minute the keys taken stay within the rate.
        let mut t = Throttle::new(50);
        let (mut now, mut taken) = (t0, 0u64);
        let end = t0 + Duration::from_secs(60);
        while now < end {
            match t.take(now, 50) {
                Ok(()) => taken += 50,
                Err(w) => now += w,
            }
        }
        assert!(taken <= 50 * 60 + 50, "{taken}");
        assert!(taken >= 50 * 59, "{taken}");
    }

    #[test]
    fn digest_answers() {
        let a = Value::Array(vec![
            Value::Bulk(Some(b"string:ab".to_vec())),
            Value::Int(-1),
            Value::Bulk(None),
            Value::Int(-2),
            Value::Bulk(Some(b"hash:cd".to_vec())),
            Value::Int(1500),
            Value::Bulk(Some(b"set:ef".to_vec())),
            Value::Int(-2),
        ]);
        assert_eq!(
            parse_digests(Some(a), 4, 20),
            Some(vec![v("string:ab", None), M, v("hash:cd", Some(1520)), M])
        );
        let short = Value::Array(vec![Value::Bulk(None), Value::Int(-2)]);
        assert_eq!(parse_digests(Some(short), 2, 0), None);
        assert_eq!(
            parse_digests(Some(Value::Error(b"ERR".to_vec())), 1, 0),
            None
        );
        assert_eq!(parse_digests(None, 1, 0), None);
        let bad = Value::Array(vec![Value::Int(3), Value::Int(-2)]);
        assert_eq!(parse_digests(Some(bad), 1, 0), None);
    }

    /// A reactor run: two racks in the test thread, one replica's redis
    /// changed behind the cluster's back; every message and repair job is
    /// freed at the end, and a second run finds nothing to do.
    #[test]
    fn a_run_in_the_reactor_repairs_and_frees_everything() {
        use crate::core::harness::{bulk, msgs_in_use, pump, spec, Cluster};
        let mut cl = Cluster::start(
            &[spec("dc1", "r1", "1"), spec("dc1", "r2", "1")],
            &[],
            "entropy_keys_per_sec: 7\n",
        );
        let mut c = cl.nodes[0].client();
        for k in 0..20 {
            let key = format!("ek{k}");
            assert_eq!(
                c.call(&mut cl.nodes, &[b"SET", key.as_bytes(), b"v"]),
                "+OK\r\n"
            );
        }
        pump(&mut cl.nodes, "every write on both racks", |_| {
            cl.redis[1].cmd(&[b"EXISTS", b"ek19"]) == ":1\r\n"
        });
        for r in 0..2 {
            // The harness's probe keys aside.
            let keys = cl.redis(r).cmd(&[b"KEYS", b"ek*"]);
            assert!(keys.starts_with("*20\r\n"), "{keys}");
        }
        assert_eq!(cl.redis(1).cmd(&[b"DEL", b"ek3", b"ek4"]), ":2\r\n");
        assert_eq!(cl.redis(0).cmd(&[b"DEL", b"ek5"]), ":1\r\n");
        assert_eq!(cl.redis(1).cmd(&[b"SET", b"ek6", b"other"]), "+OK\r\n");
        assert!(cl.nodes[0].ctx.entropy_start(false));
        assert!(!cl.nodes[0].ctx.entropy_start(false), "one run at a time");
        pump(
            &mut cl.nodes,
            "the run done and every repair answered",
            |nodes| {
                let e = &nodes[0].ctx.entropy;
                e.state == EntState::Done
                    && nodes
                        .iter()
                        .all(|n| n.ctx.repairs_in_flight() == 0 && msgs_in_use(&n.ctx) == 0)
            },
        );
        let e = &cl.nodes[0].ctx.entropy;
        assert_eq!(e.run.keys_missing_there, 2, "{:?}", e.run);
        assert_eq!(e.run.keys_missing_here, 1, "{:?}", e.run);
        assert_eq!(e.run.conflicts, 1, "{:?}", e.run);
        assert_eq!(e.conflict_keys, ["ek6"]);
        assert_eq!(e.run.repairs_ok, 3, "{:?}", e.run);
        // Batches never hold more than a second's budget.
        assert!(e.run.batches * 7 >= e.run.keys_sent, "{:?}", e.run);
        assert!(e.run.rate_waits > 0, "{:?}", e.run);
        assert!(e.batches.is_empty() && e.pending.is_empty());
        for k in [b"ek3", b"ek4", b"ek5"] {
            assert_eq!(cl.redis(0).cmd(&[b"GET", k]), bulk(b"v"));
            assert_eq!(cl.redis(1).cmd(&[b"GET", k]), bulk(b"v"));
        }
        assert_eq!(cl.redis(1).cmd(&[b"GET", b"ek6"]), bulk(b"other"));
        // A second run: the conflict again, nothing else.
        assert!(cl.nodes[0].ctx.entropy_start(false));
        pump(&mut cl.nodes, "the second run done", |nodes| {
            nodes[0].ctx.entropy.state == EntState::Done
                && nodes.iter().all(|n| msgs_in_use(&n.ctx) == 0)
        });
        let e = &cl.nodes[0].ctx.entropy;
        assert_eq!(e.runs, 2);
        assert_eq!(e.run.repairs_sent, 0, "{:?}", e.run);
        assert_eq!(e.run.conflicts, 1, "{:?}", e.run);
        assert_eq!(e.totals().repairs_ok, 3);
    }

    #[test]
    fn totals_add_runs() {
        let mut e = Entropy::new(0, 0);
        assert_eq!(e.keys_per_sec, 1);
        assert!(e.interval.is_none());
        e.run.keys_compared = 5;
        e.totals.keys_compared = 7;
        assert_eq!(e.totals().keys_compared, 12);
        assert!(!e.active());
        assert_eq!(Entropy::new(10, 60).interval, Some(Duration::from_secs(60)));
    }
}
