//! Failure detection (what the original's `dyn_dnode_peer.c` never fed to
//! routing): each peer's [`PeerHealth`] from the faults its connections
//! meet and the answers they bring, and a rate limit for the log lines that
//! report faults. Pure state: no socket, no `Context`, no clock read; the
//! callers (dnode/peer.rs) pass `now` and apply the transitions.
//!
//! ```text
//!   fault(ConnectFailed | ConnectTimeout | ConnLost):
//!        up ─► suspect,   suspect ─► down
//!   fault(Stalled)   (requests outstanding, nothing answered or written
//!                     for a timeout):  up | suspect ─► down
//!   fault(GossipSilent) (gossip on: no news of it for 40 intervals and no
//!                     answer on its connections meanwhile): as a lost
//!                     connection
//!   tick: suspect for longer than a timeout without an answer ─► down
//!   answered (a reply frame on any of its connections,
//!             the probe sent on every new connection included) ─► up
//! ```
//!
//! A connect alone never brings a peer back: a stopped process still
//! completes TCP handshakes from its listen backlog. The peer is up again
//! when a request sent on the new connection (the probe) is answered.

use std::time::{Duration, Instant};

use crate::cluster::state::PeerHealth;

/// A fault seen on a peer's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connect was refused or failed.
    ConnectFailed,
    /// The connect did not complete within the timeout.
    ConnectTimeout,
    /// An established connection was closed by the peer or failed.
    ConnLost,
    /// Requests were outstanding and nothing was answered (or nothing could
    /// be written) for a timeout: the connection was closed.
    Stalled,
    /// Gossip has not heard of the peer for 40 gossip intervals, and its
    /// connections have answered nothing in that time either.
    GossipSilent,
}

impl Fault {
    /// Name for log lines.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ConnectFailed => "connect failed",
            Fault::ConnectTimeout => "connect timed out",
            Fault::ConnLost => "connection lost",
            Fault::Stalled => "no progress",
            Fault::GossipSilent => "no gossip and no answer for 40 gossip intervals",
        }
    }
}

/// A health change: from, to.
pub type Transition = (PeerHealth, PeerHealth);

/// The failure detector of one peer.
#[derive(Clone, Debug)]
pub struct Detector {
    /// The current health.
    pub health: PeerHealth,
    /// When the current health began.
    pub since: Option<Instant>,
    /// Faults since the last answer.
    pub failures: u32,
    /// When the last answer came.
    pub answered_at: Option<Instant>,
    /// The last fault seen, for `/info`.
    pub last_fault: Option<Fault>,
}

impl Default for Detector {
    fn default() -> Self {
        Detector {
            health: PeerHealth::Up,
            since: None,
            failures: 0,
            answered_at: None,
            last_fault: None,
        }
    }
}

impl Detector {
    fn set(&mut self, now: Instant, to: PeerHealth) -> Option<Transition> {
        let from = self.health;
        if from == to {
            return None;
        }
        self.health = to;
        self.since = Some(now);
        Some((from, to))
    }

    /// A fault was seen; returns the change it makes, if any.
    pub fn fault(&mut self, now: Instant, fault: Fault) -> Option<Transition> {
        self.failures = self.failures.saturating_add(1);
        self.last_fault = Some(fault);
        let to = match (fault, self.health) {
            (Fault::Stalled, _) | (_, PeerHealth::Suspect) | (_, PeerHealth::Down) => {
                PeerHealth::Down
            }
            (_, PeerHealth::Up) => PeerHealth::Suspect,
        };
        self.set(now, to)
    }

    /// The peer answered a request: it is up.
    pub fn answered(&mut self, now: Instant) -> Option<Transition> {
        self.failures = 0;
        self.answered_at = Some(now);
        self.set(now, PeerHealth::Up)
    }

    /// A suspect peer that has not answered for `suspect_for` is down.
    pub fn tick(&mut self, now: Instant, suspect_for: Duration) -> Option<Transition> {
        if self.health != PeerHealth::Suspect {
            return None;
        }
        let since = self.since?;
        if now.saturating_duration_since(since) < suspect_for {
            return None;
        }
        self.set(now, PeerHealth::Down)
    }
}

/// At most one log line per interval for one source (a peer, a
/// datastore), with the count of the lines held back in between.
#[derive(Clone, Debug, Default)]
pub struct RateLimit {
    /// When the last line was written.
    last: Option<Instant>,
    /// Events not logged since then.
    suppressed: u64,
}

/// One log line per second and source.
pub const LOG_INTERVAL: Duration = Duration::from_secs(1);

impl RateLimit {
    /// An event to log: `Some(n)` when a line may be written now, `n` being
    /// the events held back since the last line; `None` (counted) when not.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < LOG_INTERVAL => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PeerHealth::*;

    const S: Duration = Duration::from_secs(1);

    /// Table: a sequence of events from a fresh detector and the health
    /// after each.
    #[test]
    fn transitions() {
        #[derive(Clone, Copy)]
        enum Ev {
            F(Fault),
            Answer,
            Tick(u64),
        }
        use Ev::*;
        use Fault::*;
        let cases: &[(&str, &[(Ev, PeerHealth)])] = &[
            (
                "killed peer: lost, then refused",
                &[(F(ConnLost), Suspect), (F(ConnectFailed), Down)],
            ),
            (
                "stuck peer: no progress is down at once",
                &[(F(Stalled), Down), (F(ConnectFailed), Down)],
            ),
            (
                "restarted peer: lost, reconnected, probe answered",
                &[(F(ConnLost), Suspect), (Answer, Up), (F(ConnLost), Suspect)],
            ),
            (
                "down peer back when a probe is answered",
                &[(F(Stalled), Down), (Answer, Up)],
            ),
            (
                "connect timeouts",
                &[(F(ConnectTimeout), Suspect), (F(ConnectTimeout), Down)],
            ),
            (
                "suspect without an answer for the timeout",
                &[(F(ConnLost), Suspect), (Tick(4), Suspect), (Tick(5), Down)],
            ),
            ("ticks leave an up peer alone", &[(Tick(100), Up)]),
        ];
        for (name, steps) in cases {
            let t0 = Instant::now();
            let mut d = Detector::default();
            let mut prev = d.health;
            for (i, &(ev, want)) in steps.iter().enumerate() {
                let change = match ev {
                    F(f) => d.fault(t0, f),
                    Answer => d.answered(t0),
                    Tick(secs) => d.tick(t0 + Duration::from_secs(secs), 5 * S),
                };
                assert_eq!(d.health, want, "{name}: step {i}");
                let expect = (prev != want).then_some((prev, want));
                assert_eq!(change, expect, "{name}: step {i} transition");
                prev = want;
            }
        }
    }

    #[test]
    fn an_answer_resets_the_failures() {
        let now = Instant::now();
        let mut d = Detector::default();
        d.fault(now, Fault::ConnLost);
        d.fault(now, Fault::ConnectFailed);
        assert_eq!(d.failures, 2);
        assert_eq!(d.last_fault, Some(Fault::ConnectFailed));
        d.answered(now + S);
        assert_eq!(d.failures, 0);
        assert_eq!(d.answered_at, Some(now + S));
        assert_eq!(d.since, Some(now + S));
    }

    #[test]
    fn rate_limit_one_line_per_second_with_the_count_held_back() {
        let t0 = Instant::now();
        let mut r = RateLimit::default();
        assert_eq!(r.allow(t0), Some(0));
        for i in 1..=9 {
            assert_eq!(r.allow(t0 + Duration::from_millis(100 * i)), None);
        }
        assert_eq!(r.allow(t0 + S), Some(9));
        assert_eq!(r.allow(t0 + S + Duration::from_millis(1)), None);
        assert_eq!(r.allow(t0 + 5 * S), Some(1));
    }
}
