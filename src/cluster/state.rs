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
}
