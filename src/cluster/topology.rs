//! The cluster's shape (dyn_vnode.c, the datacenter and rack objects of
//! dyn_server.c): peers, datacenters, racks, and one token ring per rack.
//!
//! ```text
//!  peers: Slab<Peer>, keyed by PeerId
//!    PeerId::LOCAL = this node (dyn_listen, rack, datacenter, tokens)
//!    then dyn_seeds, in file order, then nodes added later
//!
//!  dcs[0] = this node's DC ─ racks sorted by name ─ ring: token → PeerId
//!  dcs[1..] = other DCs, in order of first appearance
//!
//!  apply(AddNode)     ─► its DC (new ones appended) ─► its rack (new ones
//!                        inserted in name order) ─► that rack's ring rebuilt
//!  apply(ReplaceAddr) ─► host/port/addr changed; id, tokens, ring kept
//!  apply(SetState)    ─► state stored (DOWN keeps it out of routing)
//! ```
//!
//! Each rack holds one full copy of the data: a key's replica in a rack is
//! the peer with the smallest token ≥ the key's token, wrapping. Several
//! tokens per peer (vnodes) are ring points like any other.
//!
//! A `PeerId` stays valid while its node exists, whatever joins later:
//! rings, connection pools, timers and stats hold ids, never positions. DC
//! indices never change either (new DCs are appended); rack indices inside
//! a DC shift when a rack sorting before them appears, and `apply` fixes
//! every `Peer::rack_idx` and `local_rack` when that happens.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};

use slab::Slab;

use crate::cluster::state::{PeerHealth, PeerState};
use crate::conf::{Endpoint, PoolConf};
use crate::hashkit::token::Ring;
use crate::ids::PeerId;

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Display name (seed name, or host).
    pub name: String,
    /// Host as configured (or as last replaced).
    pub host: String,
    /// Its peer port (`dyn_listen` port).
    pub port: u16,
    /// Where to connect (None for this node).
    pub addr: Option<SocketAddr>,
    /// Datacenter name.
    pub dc: String,
    /// Rack name.
    pub rack: String,
    /// Its ring points.
    pub tokens: Vec<u32>,
    /// Index of its DC in `Topology::dcs` (never changes).
    pub dc_idx: usize,
    /// Index of its rack in that DC (shifts when a rack sorting before it
    /// is added).
    pub rack_idx: usize,
    /// What this node knows of the peer's state.
    pub state: PeerState,
    /// What failure detection found (cluster/health.rs); set with
    /// [`Topology::set_health`], never by an operator's `SetState`.
    pub health: PeerHealth,
}

/// A rack: a name and the ring of its peers' tokens.
#[derive(Debug, Clone)]
pub struct Rack {
    /// Rack name.
    pub name: String,
    /// The peers of this rack, in the order they were added.
    pub peers: Vec<PeerId>,
    /// Every token of `peers`; a rack whose peers have no token at all is
    /// owned wholly by its first peer.
    pub ring: Ring<PeerId>,
}

/// A datacenter.
#[derive(Debug, Clone)]
pub struct Dc {
    /// Datacenter name.
    pub name: String,
    /// Racks sorted by name (byte-wise).
    pub racks: Vec<Rack>,
    /// For a remote DC: the rack that receives this node's single copy.
    pub preselected: usize,
}

impl Dc {
    /// Replicas needed for a quorum in this DC: racks / 2 + 1.
    pub fn quorum(&self) -> usize {
        self.racks.len() / 2 + 1
    }
}

/// A node as a change describes it: everything but its place, which the
/// topology decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Display name (seed name, or host).
    pub name: String,
    /// Host as configured.
    pub host: String,
    /// Peer port.
    pub port: u16,
    /// Where to connect; None only for this node (a remote node without an
    /// address keeps its slots unconnected).
    pub addr: Option<SocketAddr>,
    /// Datacenter name.
    pub dc: String,
    /// Rack name.
    pub rack: String,
    /// Ring points.
    pub tokens: Vec<u32>,
}

/// One change of the cluster's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A node joins its rack's ring (the rack and DC are created if new).
    AddNode(NodeSpec),
    /// A node moved: same id, tokens and ring position, new address.
    ReplaceAddr {
        peer: PeerId,
        host: String,
        port: u16,
        addr: SocketAddr,
    },
    /// A peer's state as this node knows it.
    SetState { peer: PeerId, state: PeerState },
}

/// What a change did, for the caller to act on (open or close connections,
/// add stats entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A node was added with this id; `new_dc` when its DC is new.
    Added { peer: PeerId, new_dc: bool },
    /// A node's address changed from `old`.
    Replaced {
        peer: PeerId,
        old: Option<SocketAddr>,
    },
    /// A peer's state changed from `old`.
    StateSet { peer: PeerId, old: PeerState },
}

/// A change the topology refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopologyError {
    /// No node has this id.
    UnknownPeer(PeerId),
    /// The node would make more datacenters than [`MAX_DCS`].
    TooManyDcs,
    /// More racks in the named datacenter than [`MAX_RACKS`].
    TooManyRacks(String),
    /// The change does not apply to this node (its address is its
    /// listener; its state is the node state).
    LocalPeer,
}

impl fmt::Display for TopologyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TopologyError::UnknownPeer(p) => write!(f, "no peer with id {}", p.0),
            TopologyError::TooManyDcs => {
                write!(f, "more than {MAX_DCS} datacenters are not supported")
            }
            TopologyError::TooManyRacks(dc) => write!(
                f,
                "datacenter '{dc}' would have more than {MAX_RACKS} racks, which is not supported"
            ),
            TopologyError::LocalPeer => write!(f, "the change does not apply to this node"),
        }
    }
}

impl std::error::Error for TopologyError {}

/// Most racks in one datacenter (a routing plan's lists are this long).
pub const MAX_RACKS: usize = 8;
/// Most datacenters in the cluster.
pub const MAX_DCS: usize = 8;

/// The whole cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Every node, this node at `PeerId::LOCAL`. Private: reach a peer by
    /// its id, never by a position.
    peers: Slab<Peer>,
    /// `dcs[0]` is this node's DC. Changed only by [`Topology::apply`].
    pub dcs: Vec<Dc>,
    /// This node's rack in `dcs[0]`.
    pub local_rack: usize,
}

impl Topology {
    /// A topology of this node alone.
    pub fn new(local: NodeSpec) -> Topology {
        let mut peers = Slab::new();
        let rack = Rack {
            name: local.rack.clone(),
            peers: vec![PeerId::LOCAL],
            ring: Ring::default(),
        };
        let dc = Dc {
            name: local.dc.clone(),
            racks: vec![rack],
            preselected: 0,
        };
        let key = peers.insert(Peer::from_spec(local, 0, 0));
        debug_assert_eq!(key, PeerId::LOCAL.idx());
        let mut t = Topology {
            peers,
            dcs: vec![dc],
            local_rack: 0,
        };
        t.rebuild_ring(0, 0);
        t
    }

    /// Builds the topology of a pool: this node, then one `AddNode` per
    /// `dyn_seeds` entry. Seed hosts are resolved here (once, at start).
    pub fn from_conf(pool: &PoolConf) -> Result<Topology, String> {
        let (host, port) = match &pool.dyn_listen {
            Some(Endpoint::Tcp { host, port, .. }) => (host.clone(), *port),
            Some(Endpoint::Unix(p)) => (p.display().to_string(), 0),
            None => ("localhost".to_string(), 0),
        };
        if !pool.dyn_seeds.is_empty() {
            if pool.dyn_listen.is_none() {
                return Err("dyn_seeds needs dyn_listen (the peer port of this node)".into());
            }
            if pool.tokens.is_empty() {
                return Err("dyn_seeds needs tokens for this node".into());
            }
        }
        let mut topo = Topology::new(NodeSpec {
            name: host.clone(),
            host,
            port,
            addr: None,
            dc: pool.datacenter.clone(),
            rack: pool.rack.clone(),
            tokens: pool.tokens.clone(),
        });
        for s in &pool.dyn_seeds {
            let addr = (s.host.as_str(), s.port)
                .to_socket_addrs()
                .map_err(|e| format!("seed '{}': cannot resolve '{}': {}", s.name, s.host, e))?
                .next()
                .ok_or_else(|| format!("seed '{}': '{}' has no address", s.name, s.host))?;
            topo.apply(Change::AddNode(NodeSpec {
                name: s.name.clone(),
                host: s.host.clone(),
                port: s.port,
                addr: Some(addr),
                dc: s.dc.clone(),
                rack: s.rack.clone(),
                tokens: s.tokens.clone(),
            }))
            .map_err(|e| format!("seed '{}': {}", s.name, e))?;
        }
        Ok(topo)
    }

    /// Applies one change, rebuilding only what it touches.
    pub fn apply(&mut self, change: Change) -> Result<Applied, TopologyError> {
        match change {
            Change::AddNode(spec) => {
                self.check_room(&spec)?;
                Ok(self.add_node(spec))
            }
            Change::ReplaceAddr {
                peer,
                host,
                port,
                addr,
            } => {
                let p = self.remote_mut(peer)?;
                let old = p.addr.replace(addr);
                p.host = host;
                p.port = port;
                // A new address is a new process: nothing detected of the
                // old one holds.
                p.health = PeerHealth::Up;
                Ok(Applied::Replaced { peer, old })
            }
            Change::SetState { peer, state } => {
                let p = self.remote_mut(peer)?;
                let old = std::mem::replace(&mut p.state, state);
                Ok(Applied::StateSet { peer, old })
            }
        }
    }

    /// Refuses a node that would take the cluster past [`MAX_DCS`]
    /// datacenters or a datacenter past [`MAX_RACKS`] racks: a routing plan
    /// holds its replicas in fixed-size lists of those sizes.
    fn check_room(&self, spec: &NodeSpec) -> Result<(), TopologyError> {
        match self.dcs.iter().find(|dc| dc.name == spec.dc) {
            None if self.dcs.len() >= MAX_DCS => Err(TopologyError::TooManyDcs),
            Some(dc)
                if dc.racks.len() >= MAX_RACKS && !dc.racks.iter().any(|r| r.name == spec.rack) =>
            {
                Err(TopologyError::TooManyRacks(dc.name.clone()))
            }
            _ => Ok(()),
        }
    }

    /// A remote peer, for a change.
    fn remote_mut(&mut self, peer: PeerId) -> Result<&mut Peer, TopologyError> {
        if peer.is_local() {
            return Err(TopologyError::LocalPeer);
        }
        self.peers
            .get_mut(peer.idx())
            .ok_or(TopologyError::UnknownPeer(peer))
    }

    /// Adds a node: finds or creates its DC and rack, then rebuilds that one
    /// rack's ring. Duplicate tokens are accepted, as in a configuration:
    /// the smaller id keeps the point (see [`Ring`]).
    fn add_node(&mut self, spec: NodeSpec) -> Applied {
        let id = PeerId(u32::try_from(self.peers.vacant_key()).expect("fewer than 2^32 peers"));
        let (d, new_dc) = match self.dcs.iter().position(|dc| dc.name == spec.dc) {
            Some(d) => (d, false),
            None => {
                self.dcs.push(Dc {
                    name: spec.dc.clone(),
                    racks: Vec::new(),
                    preselected: 0,
                });
                (self.dcs.len() - 1, true)
            }
        };
        let r = match self.dcs[d]
            .racks
            .binary_search_by(|rack| rack.name.as_str().cmp(&spec.rack))
        {
            Ok(r) => r,
            Err(r) => {
                self.insert_rack(d, r, spec.rack.clone());
                r
            }
        };
        let key = self.peers.insert(Peer::from_spec(spec, d, r));
        debug_assert_eq!(key, id.idx());
        self.dcs[d].racks[r].peers.push(id);
        self.rebuild_ring(d, r);
        self.update_preselected();
        debug_assert_eq!(self.peer(PeerId::LOCAL).rack_idx, self.local_rack);
        Applied::Added { peer: id, new_dc }
    }

    /// Inserts an empty rack at `r` of DC `d` (its sorted place) and moves
    /// the rack index of every later rack's peers, and `local_rack`, by one.
    fn insert_rack(&mut self, d: usize, r: usize, name: String) {
        let dc = &mut self.dcs[d];
        debug_assert!(r == dc.racks.len() || dc.racks[r].name > name);
        debug_assert!(r == 0 || dc.racks[r - 1].name < name);
        dc.racks.insert(
            r,
            Rack {
                name,
                peers: Vec::new(),
                ring: Ring::default(),
            },
        );
        for (k, rack) in dc.racks.iter().enumerate().skip(r + 1) {
            for &p in &rack.peers {
                self.peers[p.idx()].rack_idx = k;
            }
        }
        if d == 0 && self.local_rack >= r {
            self.local_rack += 1;
        }
    }

    /// Rebuilds the ring of one rack from its peers' tokens. A node with no
    /// tokens owns nothing, except in a rack where no node has a token: its
    /// first node owns everything (single-node proxies need no tokens).
    fn rebuild_ring(&mut self, d: usize, r: usize) {
        let rack = &mut self.dcs[d].racks[r];
        let mut entries = Vec::new();
        for &p in &rack.peers {
            for &t in &self.peers[p.idx()].tokens {
                entries.push((t, p));
            }
        }
        if entries.is_empty() {
            if let Some(&first) = rack.peers.first() {
                entries.push((u32::MAX, first));
            }
        }
        rack.ring = Ring::new(entries);
    }

    /// Each remote DC sends this node's single copy to rack
    /// `local_rack % its rack count`.
    fn update_preselected(&mut self) {
        let local_rack = self.local_rack;
        for dc in self.dcs.iter_mut().skip(1) {
            dc.preselected = local_rack % dc.racks.len().max(1);
        }
    }

    /// True when this node is the whole cluster.
    pub fn is_single(&self) -> bool {
        self.peers.len() == 1
    }

    /// Number of nodes, this node included.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// The owner of a token in rack `rack` of DC `dc`.
    pub fn owner(&self, dc: usize, rack: usize, hash: u32) -> PeerId {
        self.dcs[dc].racks[rack]
            .ring
            .owner(hash)
            .unwrap_or(PeerId::LOCAL)
    }

    /// The owner of a token in this node's rack.
    pub fn local_owner(&self, hash: u32) -> PeerId {
        self.owner(0, self.local_rack, hash)
    }

    /// True when `peer` is in this node's DC.
    pub fn same_dc(&self, peer: PeerId) -> bool {
        self.peer(peer).dc_idx == 0
    }

    /// Records what failure detection found of peer `id` (not this node);
    /// returns the health it replaces. Not a `Change`: health is this
    /// node's observation, not a membership fact, and never touches the
    /// state an operator set.
    pub fn set_health(&mut self, id: PeerId, health: PeerHealth) -> PeerHealth {
        match self.peers.get_mut(id.idx()) {
            Some(p) if !id.is_local() => std::mem::replace(&mut p.health, health),
            _ => {
                debug_assert!(false, "health of peer {} set", id.0);
                PeerHealth::Up
            }
        }
    }

    /// True when `id` is this node or a peer requests may be sent to.
    pub fn routable(&self, id: PeerId) -> bool {
        id.is_local() || self.get(id).is_some_and(Peer::routable)
    }

    /// The node `id`; it must exist.
    pub fn peer(&self, id: PeerId) -> &Peer {
        &self.peers[id.idx()]
    }

    /// The node `id`, if it exists.
    pub fn get(&self, id: PeerId) -> Option<&Peer> {
        self.peers.get(id.idx())
    }

    /// Every node's id, this node first.
    pub fn peer_ids(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.peers.iter().map(|(k, _)| PeerId(k as u32))
    }

    /// Every node with its id, this node first.
    pub fn peers(&self) -> impl Iterator<Item = (PeerId, &Peer)> + '_ {
        self.peers.iter().map(|(k, p)| (PeerId(k as u32), p))
    }
}

impl Peer {
    /// A peer in rack `rack_idx` of DC `dc_idx`, in state NORMAL.
    fn from_spec(spec: NodeSpec, dc_idx: usize, rack_idx: usize) -> Peer {
        Peer {
            name: spec.name,
            host: spec.host,
            port: spec.port,
            addr: spec.addr,
            dc: spec.dc,
            rack: spec.rack,
            tokens: spec.tokens,
            dc_idx,
            rack_idx,
            state: PeerState::Normal,
            health: PeerHealth::Up,
        }
    }

    /// Whether requests may be sent to this peer: the operator's state
    /// allows it and failure detection has not found it down.
    pub fn routable(&self) -> bool {
        self.state.routable() && self.health != PeerHealth::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, dc: &str, rack: &str, tokens: &[u32]) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            host: name.into(),
            port: 8101,
            addr: Some(SocketAddr::from(([127, 0, 0, 1], 8101))),
            dc: dc.into(),
            rack: rack.into(),
            tokens: tokens.to_vec(),
        }
    }

    /// This node (the first spec) and the others added in order.
    fn build(nodes: &[NodeSpec]) -> Topology {
        let mut local = nodes[0].clone();
        local.addr = None;
        let mut t = Topology::new(local);
        for n in &nodes[1..] {
            t.apply(Change::AddNode(n.clone())).expect("added");
        }
        check(&t);
        t
    }

    /// The cross-references every change must keep.
    fn check(t: &Topology) {
        for (id, p) in t.peers() {
            let rack = &t.dcs[p.dc_idx].racks[p.rack_idx];
            assert_eq!(rack.name, p.rack, "peer {}", id.0);
            assert_eq!(t.dcs[p.dc_idx].name, p.dc, "peer {}", id.0);
            assert_eq!(rack.peers.iter().filter(|&&q| q == id).count(), 1);
        }
        for dc in &t.dcs {
            assert!(dc.racks.windows(2).all(|w| w[0].name < w[1].name));
        }
        let local = t.peer(PeerId::LOCAL);
        assert_eq!(local.dc_idx, 0);
        assert_eq!(local.rack_idx, t.local_rack);
        for dc in t.dcs.iter().skip(1) {
            assert_eq!(dc.preselected, t.local_rack % dc.racks.len());
        }
        let total: usize = t
            .dcs
            .iter()
            .flat_map(|d| &d.racks)
            .map(|r| r.peers.len())
            .sum();
        assert_eq!(total, t.peer_count());
    }

    /// Hashes around every token of the ring and some in between.
    fn probes(t: &Topology) -> Vec<u32> {
        let mut v = vec![0, 1, u32::MAX - 1, u32::MAX];
        for (_, p) in t.peers() {
            for &tok in &p.tokens {
                v.extend([tok.saturating_sub(1), tok, tok.saturating_add(1)]);
            }
        }
        v.extend((0..64u32).map(|i| i.wrapping_mul(67_108_864).wrapping_add(12_345)));
        v
    }

    #[test]
    fn three_node_ring_owner_rule() {
        let t = build(&[
            spec("n0", "dc1", "rack1", &[715827882]),
            spec("n1", "dc1", "rack1", &[2147483647]),
            spec("n2", "dc1", "rack1", &[3579139412]),
        ]);
        assert_eq!(t.local_owner(0), PeerId(0));
        assert_eq!(t.local_owner(715827882), PeerId(0));
        assert_eq!(t.local_owner(715827883), PeerId(1));
        assert_eq!(t.local_owner(2147483647), PeerId(1));
        assert_eq!(t.local_owner(3579139412), PeerId(2));
        assert_eq!(t.local_owner(3579139413), PeerId(0), "wraps");
        assert_eq!(t.local_owner(u32::MAX), PeerId(0));
    }

    #[test]
    fn racks_sorted_and_remote_rack_preselected() {
        let t = build(&[
            spec("a", "dc1", "rackb", &[1]),
            spec("b", "dc1", "racka", &[1]),
            spec("c", "dc2", "r2", &[1]),
            spec("d", "dc2", "r1", &[1]),
            spec("e", "dc2", "r3", &[1]),
        ]);
        assert_eq!(t.dcs[0].name, "dc1");
        assert_eq!(t.dcs[0].racks[0].name, "racka");
        assert_eq!(t.local_rack, 1);
        assert_eq!(
            t.dcs[1]
                .racks
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["r1", "r2", "r3"]
        );
        assert_eq!(t.dcs[1].preselected, 1);
        assert_eq!(t.dcs[0].quorum(), 2);
        assert_eq!(t.dcs[1].quorum(), 2);
        assert_eq!(t.owner(1, 1, 5), PeerId(2));
    }

    #[test]
    fn vnodes_are_ring_points() {
        let t = build(&[
            spec("a", "dc", "r", &[100, 300]),
            spec("b", "dc", "r", &[200, 400]),
        ]);
        assert_eq!(t.local_owner(50), PeerId(0));
        assert_eq!(t.local_owner(150), PeerId(1));
        assert_eq!(t.local_owner(250), PeerId(0));
        assert_eq!(t.local_owner(350), PeerId(1));
        assert_eq!(t.local_owner(450), PeerId(0));
    }

    #[test]
    fn lone_node_without_tokens_owns_everything() {
        let t = build(&[spec("a", "dc", "r", &[])]);
        assert!(t.is_single());
        assert_eq!(t.peer_count(), 1);
        assert_eq!(t.local_owner(12345), PeerId(0));
        assert_eq!(t.peer(PeerId::LOCAL).addr, None);
    }

    #[test]
    fn add_to_existing_rack_takes_exactly_one_range() {
        let mut t = build(&[
            spec("n0", "dc1", "r1", &[1000]),
            spec("n1", "dc1", "r1", &[3000]),
            spec("m0", "dc1", "r2", &[500]),
        ]);
        let before = t.clone();
        let applied = t
            .apply(Change::AddNode(spec("n2", "dc1", "r1", &[2000])))
            .unwrap();
        let n2 = PeerId(3);
        assert_eq!(
            applied,
            Applied::Added {
                peer: n2,
                new_dc: false
            }
        );
        check(&t);
        assert_eq!(t.peer(n2).rack_idx, 0);
        assert_eq!(t.dcs[0].racks[0].peers, [PeerId(0), PeerId(1), n2]);
        for h in probes(&t).into_iter().chain(990..3010) {
            let was = before.owner(0, 0, h);
            let now = t.owner(0, 0, h);
            if (1001..=2000).contains(&h) {
                assert_eq!((was, now), (PeerId(1), n2), "hash {h}");
            } else {
                assert_eq!(now, was, "hash {h}");
            }
            // The other rack's ring is untouched.
            assert_eq!(t.owner(0, 1, h), before.owner(0, 1, h), "hash {h}");
        }
        assert!(t.dcs[0].racks[1]
            .ring
            .points()
            .eq(before.dcs[0].racks[1].ring.points()));
        // Ids already handed out did not move.
        for (id, p) in before.peers() {
            assert_eq!(t.peer(id).name, p.name);
        }
    }

    #[test]
    fn adding_a_token_holder_to_a_tokenless_rack_replaces_the_catch_all() {
        let mut t = build(&[spec("a", "dc", "r", &[])]);
        t.apply(Change::AddNode(spec("b", "dc", "r", &[100])))
            .unwrap();
        check(&t);
        // `a` has no token: it owns nothing once another node has one.
        for h in [0, 100, 101, u32::MAX] {
            assert_eq!(t.local_owner(h), PeerId(1), "hash {h}");
        }
    }

    #[test]
    fn add_new_rack_keeps_racks_sorted_and_fixes_indices() {
        let mut t = build(&[
            spec("a", "dc1", "rc", &[10]),
            spec("b", "dc1", "re", &[10]),
            spec("x", "dc2", "q1", &[10]),
            spec("y", "dc2", "q2", &[10]),
        ]);
        assert_eq!(t.local_rack, 0);
        assert_eq!(t.dcs[1].preselected, 0);
        // A rack sorting first in this node's DC: every index after it moves.
        let id = match t
            .apply(Change::AddNode(spec("c", "dc1", "ra", &[10])))
            .unwrap()
        {
            Applied::Added { peer, new_dc } => {
                assert!(!new_dc);
                peer
            }
            other => panic!("unexpected {other:?}"),
        };
        check(&t);
        let names: Vec<&str> = t.dcs[0].racks.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ra", "rc", "re"]);
        assert_eq!(t.local_rack, 1);
        assert_eq!(t.peer(id).rack_idx, 0);
        assert_eq!(t.peer(PeerId(1)).rack_idx, 2);
        assert_eq!(t.local_owner(5), PeerId::LOCAL);
        assert_eq!(t.owner(0, 0, 5), id);
        assert_eq!(t.owner(0, 2, 5), PeerId(1));
        // The remote DC's preselected rack follows the local rack.
        assert_eq!(t.dcs[1].preselected, 1);
        // A rack sorting last: nothing moves.
        t.apply(Change::AddNode(spec("d", "dc1", "rz", &[10])))
            .unwrap();
        check(&t);
        assert_eq!(t.local_rack, 1);
        assert_eq!(t.dcs[0].racks[3].name, "rz");
        // A rack in the middle of a remote DC.
        t.apply(Change::AddNode(spec("z", "dc2", "q0", &[10])))
            .unwrap();
        check(&t);
        assert_eq!(t.dcs[1].racks[0].name, "q0");
        assert_eq!(t.peer(PeerId(2)).rack_idx, 1);
        assert_eq!(t.dcs[1].preselected, 1, "local rack 1 of 3 racks");
    }

    #[test]
    fn add_new_dc_is_appended() {
        let mut t = build(&[
            spec("a", "dc2", "r1", &[10]),
            spec("b", "dc1", "r1", &[10]),
            spec("c", "dc1", "r2", &[10]),
        ]);
        assert_eq!(t.dcs[0].name, "dc2");
        assert_eq!(t.dcs[1].name, "dc1");
        let applied = t
            .apply(Change::AddNode(spec("d", "dc0", "r9", &[10])))
            .unwrap();
        assert_eq!(
            applied,
            Applied::Added {
                peer: PeerId(3),
                new_dc: true
            }
        );
        check(&t);
        // Existing DC indices stay; the new one goes last, whatever its name.
        let names: Vec<&str> = t.dcs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["dc2", "dc1", "dc0"]);
        assert_eq!(t.peer(PeerId(3)).dc_idx, 2);
        assert_eq!(t.peer(PeerId(1)).dc_idx, 1);
        assert_eq!(t.dcs[2].preselected, 0);
        assert_eq!(t.owner(2, 0, 0), PeerId(3));
        assert!(!t.same_dc(PeerId(3)));
    }

    #[test]
    fn incremental_adds_match_any_order() {
        // The same nodes added in another order (this node first) give the
        // same racks, owners and preselected racks.
        let nodes = [
            spec("l", "dc1", "r2", &[100]),
            spec("a", "dc1", "r1", &[200]),
            spec("b", "dc1", "r2", &[300]),
            spec("c", "dc2", "r2", &[400]),
            spec("d", "dc2", "r1", &[500]),
            spec("e", "dc1", "r3", &[600]),
        ];
        let t1 = build(&nodes);
        let mut reordered = vec![nodes[0].clone()];
        reordered.extend(nodes[1..].iter().rev().cloned());
        let t2 = build(&reordered);
        assert_eq!(t1.local_rack, t2.local_rack);
        for (d1, d2) in t1.dcs.iter().zip(&t2.dcs) {
            assert_eq!(d1.preselected, d2.preselected);
            for (r1, r2) in d1.racks.iter().zip(&d2.racks) {
                assert_eq!(r1.name, r2.name);
                for h in probes(&t1) {
                    let o1 = r1.ring.owner(h).map(|p| &t1.peer(p).name);
                    let o2 = r2.ring.owner(h).map(|p| &t2.peer(p).name);
                    assert_eq!(o1, o2, "hash {h}");
                }
            }
        }
    }

    #[test]
    fn replace_address_keeps_id_and_ring() {
        let mut t = build(&[spec("a", "dc", "r", &[100]), spec("b", "dc", "r", &[200])]);
        let before = t.clone();
        let new_addr = SocketAddr::from(([127, 0, 0, 2], 9101));
        let applied = t
            .apply(Change::ReplaceAddr {
                peer: PeerId(1),
                host: "127.0.0.2".into(),
                port: 9101,
                addr: new_addr,
            })
            .unwrap();
        assert_eq!(
            applied,
            Applied::Replaced {
                peer: PeerId(1),
                old: Some(SocketAddr::from(([127, 0, 0, 1], 8101)))
            }
        );
        check(&t);
        let p = t.peer(PeerId(1));
        assert_eq!(
            (p.host.as_str(), p.port, p.addr),
            ("127.0.0.2", 9101, Some(new_addr))
        );
        assert_eq!(p.name, "b");
        assert_eq!(p.tokens, [200]);
        assert_eq!((p.dc_idx, p.rack_idx), (0, 0));
        assert!(t.dcs[0].racks[0]
            .ring
            .points()
            .eq(before.dcs[0].racks[0].ring.points()));
        assert_eq!(t.dcs[0].racks[0].peers, before.dcs[0].racks[0].peers);
        assert_eq!(t.peer_count(), 2);
    }

    #[test]
    fn set_state_is_stored() {
        let mut t = build(&[spec("a", "dc", "r", &[100]), spec("b", "dc", "r", &[200])]);
        assert_eq!(t.peer(PeerId(1)).state, PeerState::Normal);
        let applied = t
            .apply(Change::SetState {
                peer: PeerId(1),
                state: PeerState::Down,
            })
            .unwrap();
        assert_eq!(
            applied,
            Applied::StateSet {
                peer: PeerId(1),
                old: PeerState::Normal
            }
        );
        assert_eq!(t.peer(PeerId(1)).state, PeerState::Down);
        // Routing decisions are the caller's: the ring still names it.
        assert_eq!(t.local_owner(150), PeerId(1));
    }

    #[test]
    fn errors() {
        let mut t = build(&[spec("a", "dc", "r", &[100]), spec("b", "dc", "r", &[200])]);
        let addr = SocketAddr::from(([127, 0, 0, 9], 1));
        let replace = |peer| Change::ReplaceAddr {
            peer,
            host: "h".into(),
            port: 1,
            addr,
        };
        let down = |peer| Change::SetState {
            peer,
            state: PeerState::Down,
        };
        assert_eq!(
            t.apply(replace(PeerId(7))),
            Err(TopologyError::UnknownPeer(PeerId(7)))
        );
        assert_eq!(
            t.apply(down(PeerId(2))),
            Err(TopologyError::UnknownPeer(PeerId(2)))
        );
        assert_eq!(
            t.apply(replace(PeerId::LOCAL)),
            Err(TopologyError::LocalPeer)
        );
        assert_eq!(t.apply(down(PeerId::LOCAL)), Err(TopologyError::LocalPeer));
        assert_eq!(
            TopologyError::UnknownPeer(PeerId(7)).to_string(),
            "no peer with id 7"
        );
        // Nothing changed.
        check(&t);
        assert_eq!(t.peer_count(), 2);
        assert_eq!(
            t.peer(PeerId(1)).addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 8101)))
        );
    }

    #[test]
    fn duplicate_token_is_kept_by_the_older_node() {
        // As in a configuration: accepted, and the smaller id keeps the
        // point, so the newcomer owns nothing there.
        let mut t = build(&[spec("a", "dc", "r", &[100]), spec("b", "dc", "r", &[200])]);
        t.apply(Change::AddNode(spec("c", "dc", "r", &[200])))
            .unwrap();
        check(&t);
        assert_eq!(t.dcs[0].racks[0].ring.len(), 3);
        for h in [101, 150, 200] {
            assert_eq!(t.local_owner(h), PeerId(1), "hash {h}");
        }
    }

    #[test]
    fn from_conf_is_this_node_then_the_seeds() {
        let yaml = "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  dyn_listen: 127.0.0.1:8101\n  \
                    datacenter: dc1\n  rack: rb\n  tokens: '1000'\n  servers:\n  - 127.0.0.1:6379:1\n  \
                    dyn_seeds:\n  - 127.0.0.1:8201:ra:dc1:2000\n  - 127.0.0.1:8301:rb:dc1:3000 n3\n  \
                    - 127.0.0.1:8401:r1:dc2:4000\n";
        let conf = crate::conf::Conf::parse_str("t.yml", yaml).expect("valid conf");
        let t = Topology::from_conf(&conf.pool).expect("topology");
        check(&t);
        assert_eq!(t.peer_count(), 4);
        let local = t.peer(PeerId::LOCAL);
        assert_eq!(
            (local.host.as_str(), local.port, local.addr),
            ("127.0.0.1", 8101, None)
        );
        assert_eq!(t.peer(PeerId(2)).name, "n3");
        assert_eq!(
            t.peer(PeerId(1)).addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 8201)))
        );
        assert_eq!(t.local_rack, 1);
        assert_eq!(t.dcs[1].preselected, 0);
        assert_eq!(t.local_owner(1500), PeerId(2));
        assert_eq!(t.owner(0, 0, 1500), PeerId(1));
        assert_eq!(t.owner(1, 0, 1500), PeerId(3));
    }
}
