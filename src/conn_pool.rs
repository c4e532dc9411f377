//! Connection pools (dyn_connection_pool.c): the connect, back-off and eject
//! bookkeeping that datastore pools (server.rs) and peer pools
//! (dnode/peer.rs) share. Pure state: no socket, no `Context`, no clock read;
//! the callers pass `now` and open the sockets.
//!
//! ```text
//!   Slot: idle ──connecting(cid)──► conn ──connected()──► back-off reset
//!            ▲                        │ failure(now): conn gone,
//!            └── reconnect_due(now) ◄─┘ retry_at = now + back-off
//!   back-off: 1 s, 2 s, … capped at 2 s (datastores: or server_retry_timeout
//!   when lower): the reconnect is the probe that brings a target back
//!
//!   Progress (read by the watchdog, core/timers.rs): when the connect
//!   started, when bytes were last written, when a reply last came. A
//!   connection with requests outstanding and none of these for a timeout
//!   is stuck: it is closed, and for a peer failure detection hears of it
//!   (PeerPool::detect, cluster/health.rs).
//!
//!   Ejection (datastores, auto_eject_hosts): failures counted across the
//!   server's slots; at server_failure_limit the server leaves key placement
//!   for server_retry_timeout; a completed connect resets the count.
//! ```

use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use crate::auth::LogLimit;
use crate::cluster::health::{Detector, Fault, RateLimit};
use crate::conf::{PoolConf, ServerConf};
use crate::ids::{ConnId, PeerId};
use crate::stats::faults::PeerFaultCounts;

/// Reconnect back-off starts here and doubles.
pub const BACKOFF_START: Duration = Duration::from_secs(1);
/// Cap of a peer slot's back-off: a peer that is down is probed (a
/// reconnect and a request on it) at least this often, so that it is back
/// within a few seconds of its return.
pub const PEER_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// State of one connection slot of a pool.
#[derive(Debug, Clone, Default)]
pub struct Slot {
    /// The live connection, if any.
    pub conn: Option<ConnId>,
    /// A reconnect is scheduled for this instant; until then requests fail.
    pub retry_at: Option<Instant>,
    /// Current back-off.
    pub backoff: Duration,
    /// The datastore refused this slot's handshake (a wrong `redis_auth`):
    /// requests that find the slot waiting to reconnect get this error
    /// instead of the usual one. Cleared when a handshake succeeds.
    pub refused: Option<&'static str>,
    /// When the connect of the current connection started.
    pub since: Option<Instant>,
    /// When bytes were last written on it.
    pub written_at: Option<Instant>,
    /// When a reply last came on it.
    pub answered_at: Option<Instant>,
    /// Bytes of the requests queued on it, written or not (peers).
    pub queued_bytes: u64,
    /// Why the watchdog closed it, if it did (taken by the close handler).
    pub fault: Option<Fault>,
}

impl Slot {
    /// A connect was started on `cid`.
    pub fn connecting(&mut self, cid: ConnId, now: Instant) {
        self.conn = Some(cid);
        self.retry_at = None;
        self.since = Some(now);
        self.written_at = None;
        self.answered_at = None;
        self.queued_bytes = 0;
        self.fault = None;
    }

    /// The connect completed: the next failure starts the back-off afresh.
    pub fn connected(&mut self) {
        self.backoff = Duration::ZERO;
    }

    /// The slot's connection failed (or could not be opened): the back-off
    /// doubles from [`BACKOFF_START`] up to `max`, and the instant of the
    /// reconnect is returned (the caller arms its timer).
    pub fn failure(&mut self, now: Instant, max: Duration) -> Instant {
        self.conn = None;
        self.queued_bytes = 0;
        self.backoff = if self.backoff.is_zero() {
            BACKOFF_START
        } else {
            self.backoff * 2
        }
        .min(max);
        let at = now + self.backoff;
        self.retry_at = Some(at);
        at
    }

    /// True when the connection is stuck at `now`: its oldest request
    /// waiting for a reply was queued (`oldest_unanswered`), or its oldest
    /// request not yet written (`oldest_unwritten`), longer than `limit`
    /// ago, and nothing came back (or was written) since.
    pub fn stalled(
        &self,
        now: Instant,
        oldest_unanswered: Option<Instant>,
        oldest_unwritten: Option<Instant>,
        limit: Duration,
    ) -> bool {
        let waited = |oldest: Option<Instant>, progress: Option<Instant>| {
            let Some(mut from) = oldest else {
                return false;
            };
            for t in [progress, self.since].into_iter().flatten() {
                from = from.max(t);
            }
            now.saturating_duration_since(from) > limit
        };
        waited(oldest_unanswered, self.answered_at) || waited(oldest_unwritten, self.written_at)
    }

    /// True when the reconnect timer of this slot may open a connection (it
    /// has none and its retry instant has come).
    pub fn reconnect_due(&self, now: Instant) -> bool {
        self.conn.is_none() && self.retry_at.is_some_and(|t| t <= now)
    }
}

/// Failure counting and ejection of a pool's target (`auto_eject_hosts`).
#[derive(Debug, Clone, Default)]
pub struct Ejection {
    /// Consecutive failures (connect refused, connection lost).
    pub failures: u32,
    /// Ejected from key placement until this instant.
    pub ejected_until: Option<Instant>,
}

impl Ejection {
    /// True while ejected.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.is_some_and(|t| t > now)
    }

    /// Counts a failure; with `eject` on, the target is ejected for `eject_for`
    /// once `limit` failures are reached. Returns true when this failure
    /// ejected it.
    pub fn failure(&mut self, now: Instant, eject: bool, limit: u32, eject_for: Duration) -> bool {
        self.failures = self.failures.saturating_add(1);
        if eject && self.failures >= limit && !self.is_ejected(now) {
            self.ejected_until = Some(now + eject_for);
            return true;
        }
        false
    }

    /// A connect completed: the count starts over and the target is back.
    pub fn connected(&mut self) {
        self.failures = 0;
        self.ejected_until = None;
    }
}

/// One `servers` entry and its connection pools.
#[derive(Debug)]
pub struct Server {
    pub conf: ServerConf,
    /// `pools[0]` serves RESP2 clients, `pools[1]` RESP3 clients.
    pub pools: [Vec<Slot>; 2],
    /// Failures across both pools, and ejection from key placement
    /// (`auto_eject_hosts`).
    pub health: Ejection,
    /// Rate limit of the log line about a refused `redis_auth`.
    pub auth_log: LogLimit,
    /// Rate limit of this datastore's fault log lines.
    pub log: RateLimit,
    /// Dedicated connections open to it (server.rs
    /// `server_connect_dedicated`), at most `DEDICATED_MAX`.
    pub dedicated: usize,
    /// Connections outside `pools` (server.rs `server_db_conn`,
    /// `server_owned_open`).
    pub extra: ExtraPools,
}

/// A server's connections outside its two pools: a pool per database in
/// use other than `redis_db` (SELECT), opened on demand, and connections
/// owned by one client each (WATCH). Both are bounded (server.rs
/// `DB_POOLS_MAX`, `OWNED_CONNS_MAX`).
#[derive(Debug, Default)]
pub struct ExtraPools {
    /// (protocol pool, database) to its slots (`datastore_connections` of
    /// them, filled on demand; `None` when closed).
    pub db: std::collections::HashMap<(usize, u32), Vec<Option<crate::ids::ConnId>>>,
    /// Connections owned by a client, open or closing.
    pub owned: usize,
}

impl Server {
    /// A server with `n` connection slots per protocol.
    pub fn new(conf: ServerConf, n: usize) -> Server {
        Server {
            conf,
            pools: [vec![Slot::default(); n], vec![Slot::default(); n]],
            health: Ejection::default(),
            auth_log: LogLimit::default(),
            log: RateLimit::default(),
            dedicated: 0,
            extra: ExtraPools::default(),
        }
    }

    /// True while the server is ejected from placement.
    pub fn is_ejected(&self, now: Instant) -> bool {
        self.health.is_ejected(now)
    }
}

/// The outgoing connections to one peer.
#[derive(Debug, Clone)]
pub struct PeerPool {
    /// One slot per connection; none for this node.
    pub slots: Vec<Slot>,
    /// Failure detection of this peer (its health is mirrored in the
    /// topology, where routing reads it).
    pub detect: Detector,
    /// Rate limit of this peer's fault log lines.
    pub log: RateLimit,
    /// What went wrong with this peer, counted.
    pub counts: PeerFaultCounts,
}

/// The outgoing pools of every node, keyed by the topology's `PeerId`: a
/// pool is created in the same call that adds its node
/// (`Context::peer_added`), so the two never disagree on who exists. Indexed
/// by `PeerId` only, never by a position.
#[derive(Debug, Clone)]
pub struct PeerPools {
    /// Pool of node `i` at `i`; `None` where no node has that id.
    pools: Vec<Option<PeerPool>>,
    /// Slots for a peer of this DC (`local_peer_connections`).
    local_conns: usize,
    /// Slots for a peer of another DC (`remote_peer_connections`).
    remote_conns: usize,
}

impl PeerPools {
    /// No pool yet; slot counts from the configuration (at least one).
    pub fn new(pool: &PoolConf) -> PeerPools {
        PeerPools {
            pools: Vec::new(),
            local_conns: pool.local_peer_connections.max(1) as usize,
            remote_conns: pool.remote_peer_connections.max(1) as usize,
        }
    }

    /// Creates the pool of node `id`: `local_peer_connections` slots for a
    /// peer of this DC, `remote_peer_connections` for others, none for this
    /// node.
    pub fn add(&mut self, id: PeerId, same_dc: bool) {
        let n = if id.is_local() {
            0
        } else if same_dc {
            self.local_conns
        } else {
            self.remote_conns
        };
        if self.pools.len() <= id.idx() {
            self.pools.resize_with(id.idx() + 1, || None);
        }
        debug_assert!(self.pools[id.idx()].is_none(), "peer {} added twice", id.0);
        self.pools[id.idx()] = Some(PeerPool {
            slots: vec![Slot::default(); n],
            detect: Detector::default(),
            log: RateLimit::default(),
            counts: PeerFaultCounts::default(),
        });
    }

    /// The pool of node `id`, if it exists.
    pub fn get(&self, id: PeerId) -> Option<&PeerPool> {
        self.pools.get(id.idx()).and_then(Option::as_ref)
    }

    /// One past the largest id that may have a pool: `PeerId(0..ids_end())`
    /// covers every pool (walked without allocating).
    pub fn ids_end(&self) -> u32 {
        self.pools.len() as u32
    }
}

impl Index<PeerId> for PeerPools {
    type Output = PeerPool;

    fn index(&self, id: PeerId) -> &PeerPool {
        self.pools[id.idx()].as_ref().expect("peer has a pool")
    }
}

impl IndexMut<PeerId> for PeerPools {
    fn index_mut(&mut self, id: PeerId) -> &mut PeerPool {
        self.pools[id.idx()].as_mut().expect("peer has a pool")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let now = Instant::now();
        let mut s = Slot::default();
        s.connecting(ConnId(7), now);
        let mut seen = Vec::new();
        for _ in 0..6 {
            let at = s.failure(now, 10 * S);
            assert_eq!(s.conn, None);
            assert_eq!(s.retry_at, Some(at));
            seen.push(at - now);
        }
        assert_eq!(seen, [S, 2 * S, 4 * S, 8 * S, 10 * S, 10 * S]);
    }

    #[test]
    fn a_cap_below_the_start_caps_the_first_backoff() {
        let now = Instant::now();
        let mut s = Slot::default();
        let half = Duration::from_millis(500);
        assert_eq!(s.failure(now, half) - now, half);
        assert_eq!(s.failure(now, half) - now, half);
        let mut s = Slot::default();
        let odd = Duration::from_millis(3000);
        let steps: Vec<_> = (0..4).map(|_| s.failure(now, odd) - now).collect();
        assert_eq!(steps, [S, 2 * S, odd, odd]);
    }

    #[test]
    fn connect_resets_the_backoff_and_reconnect_waits_for_its_instant() {
        let now = Instant::now();
        let mut s = Slot::default();
        assert!(!s.reconnect_due(now), "never failed: nothing to retry");
        s.failure(now, 10 * S);
        s.failure(now, 10 * S);
        assert!(!s.reconnect_due(now + S));
        assert!(s.reconnect_due(now + 2 * S));
        s.connecting(ConnId(3), now);
        assert!(!s.reconnect_due(now + 20 * S), "a connection is open");
        assert_eq!(s.retry_at, None);
        s.connected();
        assert_eq!(s.failure(now, 10 * S) - now, S);
    }

    #[test]
    fn a_connection_is_stuck_when_nothing_came_back_for_the_limit() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = Slot::default();
        s.connecting(ConnId(1), t0);
        let limit = ms(1000);
        // Nothing outstanding: never stuck.
        assert!(!s.stalled(t0 + 10 * S, None, None, limit));
        // A reply outstanding since t0: stuck after the limit.
        assert!(!s.stalled(t0 + ms(1000), Some(t0), None, limit));
        assert!(s.stalled(t0 + ms(1001), Some(t0), None, limit));
        // A reply came at t0 + 500 ms: the clock starts over from it.
        s.answered_at = Some(t0 + ms(500));
        assert!(!s.stalled(t0 + ms(1400), Some(t0), None, limit));
        assert!(s.stalled(t0 + ms(1501), Some(t0), None, limit));
        // A request queued later than the last answer starts its own clock.
        assert!(!s.stalled(t0 + ms(2500), Some(t0 + ms(2000)), None, limit));
        // Bytes not written: writes are progress for them, answers are not.
        s.written_at = Some(t0 + ms(3000));
        assert!(!s.stalled(t0 + ms(3900), None, Some(t0), limit));
        assert!(s.stalled(t0 + ms(4001), None, Some(t0), limit));
        // A new connection: the connect start is the baseline.
        s.connecting(ConnId(2), t0 + 10 * S);
        assert!(!s.stalled(t0 + 10 * S + ms(900), Some(t0), Some(t0), limit));
        assert!(s.stalled(t0 + 11 * S + ms(1), Some(t0), None, limit));
    }

    #[test]
    fn ejection_after_the_failure_limit() {
        let now = Instant::now();
        let mut e = Ejection::default();
        assert!(!e.failure(now, true, 3, 30 * S));
        assert!(!e.failure(now, true, 3, 30 * S));
        assert!(!e.is_ejected(now));
        assert!(e.failure(now, true, 3, 30 * S), "the third failure ejects");
        assert!(e.is_ejected(now + 29 * S));
        assert!(!e.is_ejected(now + 30 * S));
        // Further failures while ejected do not extend it.
        assert!(!e.failure(now + S, true, 3, 30 * S));
        assert_eq!(e.ejected_until, Some(now + 30 * S));
        assert_eq!(e.failures, 4);
        e.connected();
        assert_eq!(e.failures, 0);
        assert!(!e.is_ejected(now));
    }

    #[test]
    fn no_ejection_without_auto_eject() {
        let now = Instant::now();
        let mut e = Ejection::default();
        for _ in 0..10 {
            assert!(!e.failure(now, false, 2, 30 * S));
        }
        assert_eq!(e.failures, 10);
        assert!(!e.is_ejected(now));
    }
}
