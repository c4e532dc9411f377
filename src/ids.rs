//! Identities (the `id` fields of dyn_message.h, dyn_connection.h and the
//! peer objects of dyn_vnode.c): small copyable newtypes that name a slab
//! entry. They sit below everything: this module imports nothing.
//!
//! A `ConnId` is a connection's slab key and its mio token. A `MsgId` is a
//! message's slab key; the message also keeps a never-reused `u64` id so that
//! a timer holding a stale key can tell. A `PeerId` names a node of the
//! cluster and stays valid while that node exists, whatever else joins,
//! leaves or moves: rings, pools, timers and stats hold it, never a position
//! in a list.

/// Index of a connection in the connection slab (also its mio token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub usize);

/// Index of a message in the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub usize);

/// A node of the cluster: its key in the topology's peer slab. This node is
/// always [`PeerId::LOCAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u32);

impl PeerId {
    /// This node.
    pub const LOCAL: PeerId = PeerId(0);

    /// The slab key.
    pub fn idx(self) -> usize {
        self.0 as usize
    }

    /// True for this node.
    pub fn is_local(self) -> bool {
        self == PeerId::LOCAL
    }
}
