//! The cluster's shape (dyn_vnode.c, the datacenter and rack objects of
//! dyn_server.c): peers, datacenters, racks, and one token ring per rack.
//!
//! ```text
//!  peers[0] = this node (dyn_listen, rack, datacenter, tokens)
//!  peers[1..] = dyn_seeds, in file order
//!
//!  dcs[0] = this node's DC ─ racks sorted by name ─ ring: token → peer
//!  dcs[1..] = other DCs, in order of first appearance
//! ```
//!
//! Each rack holds one full copy of the data: a key's replica in a rack is
//! the peer with the smallest token ≥ the key's token, wrapping. Several
//! tokens per peer (vnodes) are ring points like any other.

use std::net::{SocketAddr, ToSocketAddrs};

use crate::conf::{Endpoint, PoolConf};
use crate::hashkit::token::Ring;
use crate::ids::PeerId;

/// One node of the cluster.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Display name (seed name, or host).
    pub name: String,
    pub host: String,
    /// Its peer port (`dyn_listen` port).
    pub port: u16,
    /// Where to connect (None for this node).
    pub addr: Option<SocketAddr>,
    pub dc: String,
    pub rack: String,
    pub tokens: Vec<u32>,
    /// True for `peers[0]`, this node.
    pub local: bool,
    /// Index of its DC in `Topology::dcs`, and of its rack in that DC.
    pub dc_idx: usize,
    pub rack_idx: usize,
}

/// A rack: a name and the ring of its peers' tokens.
#[derive(Debug, Clone)]
pub struct Rack {
    pub name: String,
    /// The peers of this rack.
    pub peers: Vec<PeerId>,
    pub ring: Ring,
}

/// A datacenter.
#[derive(Debug, Clone)]
pub struct Dc {
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

/// The whole cluster as this node sees it.
#[derive(Debug, Clone)]
pub struct Topology {
    pub peers: Vec<Peer>,
    /// `dcs[0]` is this node's DC.
    pub dcs: Vec<Dc>,
    /// This node's rack in `dcs[0]`.
    pub local_rack: usize,
}

impl Topology {
    /// Builds the topology of a pool: this node, then `dyn_seeds`. Seed hosts
    /// are resolved here (once, at start).
    pub fn from_conf(pool: &PoolConf) -> Result<Topology, String> {
        let (host, port) = match &pool.dyn_listen {
            Some(Endpoint::Tcp { host, port, .. }) => (host.clone(), *port),
            Some(Endpoint::Unix(p)) => (p.display().to_string(), 0),
            None => ("localhost".to_string(), 0),
        };
        let mut peers = vec![Peer {
            name: host.clone(),
            host,
            port,
            addr: None,
            dc: pool.datacenter.clone(),
            rack: pool.rack.clone(),
            tokens: pool.tokens.clone(),
            local: true,
            dc_idx: 0,
            rack_idx: 0,
        }];
        if !pool.dyn_seeds.is_empty() {
            if pool.dyn_listen.is_none() {
                return Err("dyn_seeds needs dyn_listen (the peer port of this node)".into());
            }
            if pool.tokens.is_empty() {
                return Err("dyn_seeds needs tokens for this node".into());
            }
        }
        for s in &pool.dyn_seeds {
            let addr = (s.host.as_str(), s.port)
                .to_socket_addrs()
                .map_err(|e| format!("seed '{}': cannot resolve '{}': {}", s.name, s.host, e))?
                .next()
                .ok_or_else(|| format!("seed '{}': '{}' has no address", s.name, s.host))?;
            peers.push(Peer {
                name: s.name.clone(),
                host: s.host.clone(),
                port: s.port,
                addr: Some(addr),
                dc: s.dc.clone(),
                rack: s.rack.clone(),
                tokens: s.tokens.clone(),
                local: false,
                dc_idx: 0,
                rack_idx: 0,
            });
        }
        Ok(Topology::build(peers))
    }

    /// Groups peers into DCs and racks and builds the rings.
    pub fn build(mut peers: Vec<Peer>) -> Topology {
        debug_assert!(!peers.is_empty());
        debug_assert!(peers[0].local);
        let mut dc_names: Vec<String> = Vec::new();
        for p in &peers {
            if !dc_names.contains(&p.dc) {
                dc_names.push(p.dc.clone());
            }
        }
        let mut dcs: Vec<Dc> = dc_names
            .iter()
            .map(|dc| {
                let mut names: Vec<String> = Vec::new();
                for p in peers.iter().filter(|p| &p.dc == dc) {
                    if !names.contains(&p.rack) {
                        names.push(p.rack.clone());
                    }
                }
                names.sort();
                Dc {
                    name: dc.clone(),
                    racks: names
                        .into_iter()
                        .map(|name| Rack {
                            name,
                            peers: Vec::new(),
                            ring: Ring::default(),
                        })
                        .collect(),
                    preselected: 0,
                }
            })
            .collect();
        for (i, p) in peers.iter_mut().enumerate() {
            let d = dc_names.iter().position(|n| *n == p.dc).expect("dc listed");
            let r = dcs[d]
                .racks
                .iter()
                .position(|r| r.name == p.rack)
                .expect("rack listed");
            p.dc_idx = d;
            p.rack_idx = r;
            dcs[d].racks[r].peers.push(PeerId(i as u32));
        }
        // A node with no tokens owns nothing, except a lone node, which owns
        // everything (single-node proxies need no tokens).
        for dc in dcs.iter_mut() {
            for rack in dc.racks.iter_mut() {
                let mut entries = Vec::new();
                for &i in &rack.peers {
                    for &t in &peers[i.idx()].tokens {
                        entries.push((t, i.idx()));
                    }
                }
                if entries.is_empty() {
                    if let Some(&first) = rack.peers.first() {
                        entries.push((u32::MAX, first.idx()));
                    }
                }
                rack.ring = Ring::new(entries);
            }
        }
        let local_rack = peers[0].rack_idx;
        let n = dcs.len();
        for dc in dcs.iter_mut().skip(1).take(n.saturating_sub(1)) {
            dc.preselected = local_rack % dc.racks.len().max(1);
        }
        Topology {
            peers,
            dcs,
            local_rack,
        }
    }

    /// True when this node is the whole cluster.
    pub fn is_single(&self) -> bool {
        self.peers.len() == 1
    }

    /// The owner of a token in rack `rack` of DC `dc`.
    pub fn owner(&self, dc: usize, rack: usize, hash: u32) -> PeerId {
        let owner = self.dcs[dc].racks[rack].ring.owner(hash).unwrap_or(0);
        PeerId(owner as u32)
    }

    /// The owner of a token in this node's rack.
    pub fn local_owner(&self, hash: u32) -> PeerId {
        self.owner(0, self.local_rack, hash)
    }

    /// True when `peer` is in this node's DC.
    pub fn same_dc(&self, peer: PeerId) -> bool {
        self.peer(peer).dc_idx == 0
    }

    /// The node `id`.
    pub fn peer(&self, id: PeerId) -> &Peer {
        &self.peers[id.idx()]
    }

    /// Every node's id, this node first.
    pub fn peer_ids(&self) -> impl Iterator<Item = PeerId> {
        (0..self.peers.len() as u32).map(PeerId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str, dc: &str, rack: &str, tokens: &[u32], local: bool) -> Peer {
        Peer {
            name: name.into(),
            host: name.into(),
            port: 8101,
            addr: None,
            dc: dc.into(),
            rack: rack.into(),
            tokens: tokens.to_vec(),
            local,
            dc_idx: 0,
            rack_idx: 0,
        }
    }

    #[test]
    fn three_node_ring_owner_rule() {
        let t = Topology::build(vec![
            peer("n0", "dc1", "rack1", &[715827882], true),
            peer("n1", "dc1", "rack1", &[2147483647], false),
            peer("n2", "dc1", "rack1", &[3579139412], false),
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
        let t = Topology::build(vec![
            peer("a", "dc1", "rackb", &[1], true),
            peer("b", "dc1", "racka", &[1], false),
            peer("c", "dc2", "r2", &[1], false),
            peer("d", "dc2", "r1", &[1], false),
            peer("e", "dc2", "r3", &[1], false),
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
        let t = Topology::build(vec![
            peer("a", "dc", "r", &[100, 300], true),
            peer("b", "dc", "r", &[200, 400], false),
        ]);
        assert_eq!(t.local_owner(50), PeerId(0));
        assert_eq!(t.local_owner(150), PeerId(1));
        assert_eq!(t.local_owner(250), PeerId(0));
        assert_eq!(t.local_owner(350), PeerId(1));
        assert_eq!(t.local_owner(450), PeerId(0));
    }

    #[test]
    fn lone_node_without_tokens_owns_everything() {
        let t = Topology::build(vec![peer("a", "dc", "r", &[], true)]);
        assert!(t.is_single());
        assert_eq!(t.local_owner(12345), PeerId(0));
    }
}
