//! Node and peer states (the `dyn_state_t` enum of dyn_core.h): what this
//! node serves (admin `/state/...`) and what this node knows of each peer.
//! A data module: it imports nothing but std.
//!
//! ```text
//!  INIT ─► JOINING ─► NORMAL ◄──► STANDBY / WRITES_ONLY / RESUMING   (this node)
//!  NORMAL ◄──► DOWN                                                  (a peer)
//! ```
//!
//! Both enums keep the original's numbers, which gossip carries on the wire.
//!
//! Apart from the state an operator (or, later, gossip) sets, each peer has
//! a detected [`PeerHealth`] (cluster/health.rs decides it from connection
//! failures and answers). The two never overwrite each other: a peer takes
//! requests only when both allow it (`Peer::routable` in topology.rs).
//!
//! ```text
//!  up ──first failure──► suspect ──second failure, or no answer──► down
//!   ▲                       │          within a timeout                │
//!   └──── an answer ────────┴──────── a probe answered ◄───────────────┘
//!  (a connection that makes no progress for a timeout: straight to down)
//! ```

/// This node's state (spec §8), with the original's numbers. It gates the
/// requests run on the local datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Process start.
    Init = 0,
    /// Reads and writes rejected.
    Standby = 1,
    /// Reads rejected, writes served.
    WritesOnly = 2,
    /// Reads rejected, writes served, until set NORMAL.
    Resuming = 3,
    /// Everything served.
    Normal = 4,
    /// Until gossip completes.
    Joining = 7,
}

impl NodeState {
    /// Name as printed by `/state/get_state`.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Init => "INIT",
            NodeState::Standby => "STANDBY",
            NodeState::WritesOnly => "WRITES_ONLY",
            NodeState::Resuming => "RESUMING",
            NodeState::Normal => "NORMAL",
            NodeState::Joining => "JOINING",
        }
    }

    /// The original's numeric value.
    pub fn number(self) -> u8 {
        self as u8
    }
}

/// What this node knows of a peer's state (the `state` of the original's
/// `struct node`), with the original's numbers. Stored and reported; only
/// `Down` changes routing for now: no request is sent to a DOWN peer (its
/// replicas fail as unreachable and reads fail over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Reads and writes rejected by the peer.
    Standby = 1,
    /// The peer serves writes only.
    WritesOnly = 2,
    /// The peer serves writes only, until set NORMAL.
    Resuming = 3,
    /// Takes requests: every peer starts here.
    Normal = 4,
    /// The peer is joining.
    Joining = 7,
    /// Kept out of routing (admin `/peer/down/NAME`, later gossip).
    Down = 8,
}

impl PeerState {
    /// The original's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            PeerState::Standby => "STANDBY",
            PeerState::WritesOnly => "WRITES_ONLY",
            PeerState::Resuming => "RESUMING",
            PeerState::Normal => "NORMAL",
            PeerState::Joining => "JOINING",
            PeerState::Down => "DOWN",
        }
    }

    /// The original's numeric value.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// Whether requests may be sent to a peer in this state.
    pub fn routable(self) -> bool {
        self != PeerState::Down
    }
}

/// What this node has detected of a peer's health (failure detection),
/// kept apart from the [`PeerState`] an operator sets. Only `Down` keeps a
/// peer out of routing; `Suspect` peers still take requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PeerHealth {
    /// Answering (or not seen failing yet: every peer starts here).
    #[default]
    Up = 0,
    /// One failure seen (connection lost or refused, connect timed out);
    /// routed as usual while its connections are re-made.
    Suspect = 1,
    /// Known unreachable: skipped by routing at once, probed with back-off.
    Down = 2,
}

impl PeerHealth {
    /// Name as shown in `/info`, `/cluster_describe` and the log.
    pub fn name(self) -> &'static str {
        match self {
            PeerHealth::Up => "up",
            PeerHealth::Suspect => "suspect",
            PeerHealth::Down => "down",
        }
    }

    /// The value of the `/metrics` gauge (0 up, 1 suspect, 2 down).
    pub fn number(self) -> u8 {
        self as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_states() {
        let states = [
            (NodeState::Init, "INIT", 0),
            (NodeState::Standby, "STANDBY", 1),
            (NodeState::WritesOnly, "WRITES_ONLY", 2),
            (NodeState::Resuming, "RESUMING", 3),
            (NodeState::Normal, "NORMAL", 4),
            (NodeState::Joining, "JOINING", 7),
        ];
        for (s, name, n) in states {
            assert_eq!(s.name(), name);
            assert_eq!(s.number(), n);
        }
    }

    #[test]
    fn peer_states() {
        let states = [
            (PeerState::Standby, "STANDBY", 1, true),
            (PeerState::WritesOnly, "WRITES_ONLY", 2, true),
            (PeerState::Resuming, "RESUMING", 3, true),
            (PeerState::Normal, "NORMAL", 4, true),
            (PeerState::Joining, "JOINING", 7, true),
            (PeerState::Down, "DOWN", 8, false),
        ];
        for (s, name, n, routable) in states {
            assert_eq!(s.name(), name);
            assert_eq!(s.number(), n);
            assert_eq!(s.routable(), routable, "{name}");
        }
    }

    #[test]
    fn peer_health_names() {
        let all = [
            (PeerHealth::Up, "up", 0),
            (PeerHealth::Suspect, "suspect", 1),
            (PeerHealth::Down, "down", 2),
        ];
        for (h, name, n) in all {
            assert_eq!(h.name(), name);
            assert_eq!(h.number(), n);
        }
        assert_eq!(PeerHealth::default(), PeerHealth::Up);
    }
}
