//! Timers (dyn_task.c, the timeout part of dyn_core.c): reconnects and
//! accept retries in one heap, request deadlines in one FIFO per timeout
//! class, and what happens when a request's deadline passes.
//!
//! ```text
//!  add_timer(at, Timer)          ─► timers (BinaryHeap, stale entries skipped)
//!  arm_timeout(req, class)       ─► req_timers[class] (FIFO: one timeout per
//!                                   class, so pushing in order keeps it sorted)
//!  turn: poll(next_deadline) … expire_timers ─► reconnect / accept /
//!                                               request_timed_out
//! ```
//!
//! A timed-out request fails alone: it is answered with its class's error
//! at once and marked `swallow`, so that its reply, should it come, is read
//! and dropped. The connection stays, unless the watchdog finds it stuck:
//! every `WATCHDOG_TICK` it looks at each datastore and peer connection,
//! and closes one whose connect has not completed within `timeout`, or
//! that has requests outstanding and has answered nothing (or written
//! nothing) for its class's read timeout (a peer) or twice `timeout`, at
//! least 1 s (a datastore). Closing it fails what it carries
//! at once, frees the memory its queue held, and (for a peer) tells failure
//! detection (dnode/peer.rs `peers_watchdog`, server.rs
//! `servers_watchdog`). Timeouts are logged at most once a second per peer
//! or datastore, with the count of those not logged.

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use log::warn;

use crate::core::Context;
use crate::errors::{ERR_PEER_TIMEOUT, ERR_TIMEOUT};
use crate::ids::{ConnId, MsgId, PeerId};

/// Request timeout classes: each has its own FIFO of deadlines (all requests
/// of a class share one timeout, so each FIFO stays sorted).
pub const TIMEOUT_DATASTORE: usize = 0;
pub const TIMEOUT_PEER_READ: usize = 1;
pub const TIMEOUT_PEER_WRITE: usize = 2;
pub const TIMEOUT_REMOTE_READ: usize = 3;
pub const TIMEOUT_REMOTE_WRITE: usize = 4;
pub const TIMEOUT_CLASSES: usize = 5;

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// Reconnect a datastore connection slot.
    Reconnect {
        server: usize,
        proto: usize,
        slot: usize,
    },
    /// Reconnect a peer connection slot.
    PeerReconnect { peer: PeerId, slot: usize },
    /// Retry accepting after running out of descriptors.
    Accept(ConnId),
    /// A gossip round (`cluster/gossip.rs`).
    Gossip,
    /// The warm-up's next step (`cluster/warmup.rs`).
    Warmup,
    /// The warm-up's check that the datastore is empty, again.
    WarmupCheck,
    /// The anti-entropy run's next step (`cluster/entropy.rs`).
    Entropy,
    /// A scheduled anti-entropy run (`entropy_interval`).
    EntropySchedule,
    /// Look for stuck connections and suspect peers; re-armed each time.
    Watchdog,
    /// A blocking command's own timeout plus the node's `timeout` passed
    /// (blocking.rs).
    Blocked { mid: MsgId, uid: u64 },
    /// Close dedicated connection `conn` of client `owner` if it is idle
    /// (blocking.rs, pubsub.rs): decided in a reply handler, done here.
    ReleaseDedicated { conn: ConnId, owner: ConnId },
    /// Close subscriber `client` (CLIENT ID `id`), whose backlog passed its
    /// bound (pubsub.rs).
    DropSubscriber { client: ConnId, id: u64 },
}

/// How often the watchdog runs.
pub const WATCHDOG_TICK: Duration = Duration::from_millis(250);

impl Context {
    /// Arms a timer.
    pub(crate) fn add_timer(&mut self, at: Instant, t: Timer) {
        self.timers.push(Reverse((at, t)));
    }

    /// The earliest deadline of any timer or request, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.req_timers
            .iter()
            .filter_map(|q| q.front().map(|e| e.0))
            .chain(self.timers.peek().map(|Reverse((a, _))| *a))
            .min()
    }

    /// Fires what is due: request deadlines first (a request finished
    /// meanwhile is dropped from the front of its FIFO), then timers.
    pub(crate) fn expire_timers(&mut self) {
        let now = Instant::now();
        for class in 0..TIMEOUT_CLASSES {
            while let Some(&(at, mid, uid)) = self.req_timers[class].front() {
                let live = self
                    .msgs
                    .get_checked(mid, uid)
                    .is_some_and(|m| m.in_server && !m.done && !m.swallow);
                if live && at > now {
                    break;
                }
                self.req_timers[class].pop_front();
                if live {
                    self.request_timed_out(mid, uid, class);
                }
            }
        }
        // A bounded number of firings: a handler that arms a timer already
        // due (from the turn's clock, older than `now`) has it fired here,
        // but one that keeps doing so gets the rest fired next turn instead
        // of a loop that would not end.
        let mut budget = self.timers.len() + 64;
        while let Some(Reverse((at, _))) = self.timers.peek() {
            if *at > now || budget == 0 {
                break;
            }
            budget -= 1;
            let Reverse((_, t)) = self.timers.pop().expect("peeked");
            match t {
                Timer::Reconnect {
                    server,
                    proto,
                    slot,
                } => self.server_reconnect(server, proto, slot),
                Timer::PeerReconnect { peer, slot } => self.peer_reconnect(peer, slot),
                Timer::Accept(cid) => self.proxy_accept(cid),
                Timer::Gossip => self.gossip_round(),
                Timer::Warmup => self.warmup_tick(),
                Timer::WarmupCheck => self.warmup_recheck(),
                Timer::Blocked { mid, uid } => self.blocked_timed_out(mid, uid),
                Timer::ReleaseDedicated { conn, owner } => self.dedicated_idle(conn, owner),
                Timer::DropSubscriber { client, id } => self.subscriber_drop(client, id),
                Timer::Entropy => self.entropy_tick(),
                Timer::EntropySchedule => self.entropy_scheduled(),
                Timer::Watchdog => {
                    self.peers_watchdog(now);
                    self.servers_watchdog(now);
                    self.add_timer(now + WATCHDOG_TICK, Timer::Watchdog);
                }
            }
        }
    }

    /// The timeout of a request class, with the admin factor applied.
    pub(crate) fn timeout_of(&self, class: usize) -> Duration {
        let extra_ms = match class {
            TIMEOUT_PEER_READ => 200,
            TIMEOUT_PEER_WRITE => 20_200,
            TIMEOUT_REMOTE_READ => 5_000,
            TIMEOUT_REMOTE_WRITE => 25_000,
            _ => 0,
        };
        (self.settings.timeout + Duration::from_millis(extra_ms)) * self.timeout_factor.max(1)
    }

    /// How long a datastore or peer connect may take (`timeout`, with the
    /// admin factor).
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.settings.timeout * self.timeout_factor.max(1)
    }

    /// Queues a request's deadline.
    pub(crate) fn arm_timeout(&mut self, mid: MsgId, class: usize) {
        let uid = self.msgs[mid].id;
        let at = self.now + self.timeout_of(class);
        self.req_timers[class].push_back((at, mid, uid));
    }

    /// A request's deadline passed: it alone fails; its reply, if it ever
    /// comes, is dropped.
    pub(crate) fn request_timed_out(&mut self, mid: MsgId, uid: u64, class: usize) {
        let Some(m) = self.msgs.get_checked(mid, uid) else {
            return;
        };
        if m.done || !m.in_server || m.swallow {
            return;
        }
        self.msgs[mid].swallow = true;
        let dest = self.msgs[mid].dest as usize;
        if class == TIMEOUT_DATASTORE {
            let now = Instant::now();
            if let Some((name, st)) = self.stats.servers.get_mut(dest) {
                st.server_timedout_requests += 1;
                if let Some(held) = self.servers.get_mut(dest).and_then(|s| s.log.allow(now)) {
                    warn!(
                        "request {uid} to datastore {name} timed out ({held} more timeouts not logged)"
                    );
                }
            }
        } else if self.topology.get(PeerId(dest as u32)).is_some() {
            let peer = PeerId(dest as u32);
            self.stats.record_peer_timeout(peer);
            let name = self.peer_label(peer);
            let line = format!("request {uid} to peer {name} timed out");
            self.peer_log(peer, || line);
        }
        let text = if class == TIMEOUT_DATASTORE {
            ERR_TIMEOUT
        } else {
            ERR_PEER_TIMEOUT
        };
        self.reply_error(mid, text);
    }
}
