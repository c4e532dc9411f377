//! Membership changes applied to the running node (the node add and replace
//! paths of dyn_gossip.c, `gossip_add_node` / `gossip_replace_node`): the
//! topology changes, then the connections and stats follow in the same call,
//! so that no pool or stats entry ever names a node the topology lacks.
//!
//! ```text
//!  apply_topology(change) ─► Topology::apply ─► Applied
//!      Added(id)     ─► peer_added(id): pool slots + stats entries ─► connect
//!      Replaced(id)  ─► close its connections ─► connect to the new address
//!      StateSet(id)  ─► stored (DOWN keeps it out of routing)
//! ```
//!
//! The static seeds are applied before the loop starts; a seed provider's
//! records (`cluster/seeds`) arrive while it runs and go through
//! `apply_seed_records`, which turns each into a change (spec §2):
//!
//! ```text
//!  record (dc, rack, first token, address)
//!      no node of that dc and rack has that first token ─► AddNode
//!      this node has it                                 ─► nothing
//!      a peer has it at the same address                ─► nothing
//!      a peer has it at another address                 ─► ReplaceAddr
//! ```
//!
//! The original matched a replacement on the rack name alone; here the DC
//! must match too, so two DCs with the same rack names and tokens never take
//! each other's nodes.

use std::time::Duration;

use log::{info, warn};

use std::io;
use std::sync::Arc;

use crate::cluster::seeds::{Poller, ProviderConf, SeedRecord};
use crate::cluster::topology::{Applied, Change, NodeSpec, TopologyError};
use crate::conf::SeedConf;
use crate::core::{Context, SEEDS_TOKEN};
use crate::ids::PeerId;
use crate::msg::ConnId;

impl Context {
    /// Registers a node the topology holds: its connection slots and its
    /// stats entries (at start for every node, then for each node added).
    pub(crate) fn peer_added(&mut self, peer: PeerId) {
        let p = self.topology.peer(peer);
        self.peers.add(peer, p.dc_idx == 0);
        self.stats.add_dc(p.dc_idx, &p.dc);
        self.stats.add_peer(peer, &p.name, p.dc_idx);
        self.handoff_peer_added(peer);
    }

    /// Applies a topology change and brings the connections in line in the
    /// same call: an added node gets its slots, connected at once; a node
    /// whose address changed has its connections closed (their requests fail
    /// or fail over as on any close) and opened to the new address; a state
    /// is stored (DOWN keeps the peer out of routing).
    pub(crate) fn apply_topology(&mut self, change: Change) -> Result<Applied, TopologyError> {
        let applied = self.topology.apply(change)?;
        match applied {
            Applied::Added { peer, .. } => {
                self.peer_added(peer);
                let p = self.topology.peer(peer);
                info!("peer {} added ({}/{})", p.name, p.dc, p.rack);
                self.peer_pool_connect(peer);
            }
            Applied::Replaced { peer, old } => {
                let p = self.topology.peer(peer);
                info!("peer {} moved from {:?} to {:?}", p.name, old, p.addr);
                let conns: Vec<ConnId> = self.peers[peer]
                    .slots
                    .iter()
                    .filter_map(|s| s.conn)
                    .collect();
                for c in conns {
                    self.close_conn(c);
                }
                // Reconnect now, not after the back-off of the closes (their
                // reconnect timers find the slots connected and do nothing).
                for sl in self.peers[peer].slots.iter_mut() {
                    sl.conn = None;
                    sl.retry_at = None;
                    sl.backoff = Duration::ZERO;
                }
                self.peer_pool_connect(peer);
            }
            Applied::StateSet { peer, old } => {
                let p = self.topology.peer(peer);
                info!("peer {} state {} -> {}", p.name, old.name(), p.state.name());
            }
        }
        #[cfg(debug_assertions)]
        self.check_membership();
        Ok(applied)
    }

    /// The seeds inbox, made on first use (a `Poll` has one `Waker`).
    fn seeds_inbox(&mut self) -> io::Result<&mut Poller> {
        if self.seeds.is_none() {
            let waker = Arc::new(mio::Waker::new(self.poll.registry(), SEEDS_TOKEN)?);
            self.seeds = Some(Poller::new(waker));
        }
        Ok(self.seeds.as_mut().expect("made above"))
    }

    /// Starts the seed provider's thread; its lists wake the loop.
    pub fn start_seeds(&mut self, conf: ProviderConf) -> io::Result<()> {
        self.seeds_inbox()?.spawn(conf)
    }

    /// A node learnt by host name (gossip): resolved off the loop, then
    /// applied as a provider record.
    pub(crate) fn resolve_later(
        &mut self,
        host: &str,
        port: u16,
        rack: &str,
        dc: &str,
        token: u32,
    ) {
        let seed = SeedConf {
            host: host.to_string(),
            port,
            rack: rack.to_string(),
            dc: dc.to_string(),
            tokens: vec![token],
            name: host.to_string(),
        };
        match self.seeds_inbox() {
            Ok(inbox) => inbox.resolve(seed),
            Err(e) => warn!("cannot resolve '{host}' off the event loop: {e}"),
        }
    }

    /// The seed provider woke the loop: applies every list it sent.
    pub(crate) fn seeds_received(&mut self) {
        let lists = match &self.seeds {
            Some(p) => p.drain(),
            None => return,
        };
        for records in lists {
            self.apply_seed_records(&records);
        }
    }

    /// Applies a provider's records (spec §2, matching on DC and rack): new
    /// nodes join, known tokens at a new address are replaced. Returns the
    /// number of changes made.
    pub(crate) fn apply_seed_records(&mut self, records: &[SeedRecord]) -> usize {
        let mut changes = 0;
        for r in records {
            let Some(&first) = r.tokens.first() else {
                continue;
            };
            let found = self.topology.peers().find_map(|(id, p)| {
                (p.dc == r.dc && p.rack == r.rack && p.tokens.first() == Some(&first))
                    .then_some((id, p.addr))
            });
            let change = match found {
                None => Change::AddNode(NodeSpec {
                    name: r.host.clone(),
                    host: r.host.clone(),
                    port: r.port,
                    addr: Some(r.addr),
                    dc: r.dc.clone(),
                    rack: r.rack.clone(),
                    tokens: r.tokens.clone(),
                }),
                Some((id, _)) if id.is_local() => continue,
                Some((_, addr)) if addr == Some(r.addr) => continue,
                Some((peer, _)) => Change::ReplaceAddr {
                    peer,
                    host: r.host.clone(),
                    port: r.port,
                    addr: r.addr,
                },
            };
            match self.apply_topology(change) {
                Ok(_) => changes += 1,
                Err(e) => warn!(
                    "seed record {}:{}:{}:{} not applied: {}",
                    r.host, r.port, r.rack, r.dc, e
                ),
            }
        }
        changes
    }

    /// Debug builds check after each change that every node has its pool
    /// and stats entry, and that the pools name no other node.
    #[cfg(debug_assertions)]
    fn check_membership(&self) {
        for (id, p) in self.topology.peers() {
            let pool = self.peers.get(id);
            debug_assert!(pool.is_some(), "peer {} has no pool", id.0);
            debug_assert_eq!(
                pool.map(|pl| pl.slots.is_empty()),
                Some(id.is_local()),
                "peer {} slots",
                id.0
            );
            let st = self.stats.by_peer.get(id.idx());
            debug_assert_eq!(st.map(|e| e.dc), Some(p.dc_idx), "peer {} stats", id.0);
            debug_assert_eq!(
                self.stats.by_dc.get(p.dc_idx).map(|d| d.name.as_str()),
                Some(p.dc.as_str())
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::time::Instant;

    use crate::cluster::state::PeerState;
    use crate::cluster::topology::{NodeSpec, Topology};
    use crate::conf::Conf;
    use crate::conn::{ConnKind, ConnState};

    /// A loopback listener standing for a peer.
    fn listener() -> (TcpListener, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        l.set_nonblocking(true).expect("nonblocking");
        let a = l.local_addr().expect("local addr");
        (l, a)
    }

    /// Accepts `n` connections, failing after a deadline.
    fn accept(l: &TcpListener, n: usize) -> Vec<TcpStream> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = Vec::new();
        while got.len() < n {
            match l.accept() {
                Ok((s, _)) => got.push(s),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "{} of {n} connections",
                        got.len()
                    );
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        got
    }

    /// A node in dc1/r1 (2 connections per local peer, 3 per remote one)
    /// with one seed in its rack listening at `seed`. Nothing is bound: the
    /// loop is not run; connects go out as soon as they are asked for.
    fn context(seed: SocketAddr) -> Context {
        let yaml = format!(
            "dyn_o_mite:\n  listen: 127.0.0.1:1\n  dyn_listen: 127.0.0.1:2\n  \
             datacenter: dc1\n  rack: r1\n  tokens: '100'\n  servers:\n  - 127.0.0.1:3:1\n  \
             local_peer_connections: 2\n  remote_peer_connections: 3\n  \
             dyn_seeds:\n  - 127.0.0.1:{}:r1:dc1:200 seed\n",
            seed.port()
        );
        let conf = Conf::parse_str("t.yml", &yaml).expect("valid conf");
        let topo = Topology::from_conf(&conf.pool).expect("topology");
        Context::new(&conf.pool, topo, 16 * 1024, 1024).expect("context")
    }

    /// The live connections of a peer's slots, checked to be outbound peer
    /// connections of that peer.
    fn slot_conns(ctx: &Context, peer: PeerId) -> Vec<ConnId> {
        let conns: Vec<ConnId> = ctx.peers[peer]
            .slots
            .iter()
            .filter_map(|s| s.conn)
            .collect();
        for (i, c) in conns.iter().enumerate() {
            let conn = &ctx.conns[c.0];
            assert_eq!(conn.kind(), ConnKind::DnodePeer);
            assert_eq!(conn.peer_slot(), Some((peer, i)));
            assert_ne!(conn.state, ConnState::Closing);
        }
        conns
    }

    #[test]
    fn start_makes_slots_and_stats_for_every_node() {
        let (_l, a) = listener();
        let ctx = context(a);
        assert!(ctx.peers[PeerId::LOCAL].slots.is_empty());
        assert_eq!(ctx.peers[PeerId(1)].slots.len(), 2);
        assert!(ctx.peers.get(PeerId(2)).is_none());
        assert_eq!(ctx.stats.by_peer.len(), 2);
        assert_eq!(ctx.stats.by_peer[1].name, "seed");
        assert_eq!(ctx.stats.by_dc[0].name, "dc1");
        // Nothing is connected before the loop starts.
        assert!(slot_conns(&ctx, PeerId(1)).is_empty());
    }

    #[test]
    fn added_node_is_connected_at_once() {
        let (_la, a) = listener();
        let (lb, b) = listener();
        let mut ctx = context(a);
        let applied = ctx
            .apply_topology(Change::AddNode(NodeSpec {
                name: "far".into(),
                host: "127.0.0.1".into(),
                port: b.port(),
                addr: Some(b),
                dc: "dc2".into(),
                rack: "q1".into(),
                tokens: vec![300],
            }))
            .expect("added");
        assert_eq!(
            applied,
            Applied::Added {
                peer: PeerId(2),
                new_dc: true
            }
        );
        // Remote DC: remote_peer_connections slots, each connecting.
        assert_eq!(slot_conns(&ctx, PeerId(2)).len(), 3);
        accept(&lb, 3);
        assert_eq!(ctx.topology.owner(1, 0, 5), PeerId(2));
        assert_eq!(ctx.stats.by_peer[2].name, "far");
        assert_eq!(ctx.stats.by_peer[2].dc, 1);
        assert_eq!(ctx.stats.by_dc[1].name, "dc2");
        // The seed was not touched.
        assert!(slot_conns(&ctx, PeerId(1)).is_empty());
    }

    /// A provider record as the seeds thread delivers it.
    fn record(addr: SocketAddr, rack: &str, dc: &str, token: u32) -> SeedRecord {
        SeedRecord {
            host: addr.ip().to_string(),
            port: addr.port(),
            rack: rack.into(),
            dc: dc.into(),
            tokens: vec![token],
            addr,
        }
    }

    #[test]
    fn seed_records_add_replace_or_leave_alone_by_dc_rack_and_token() {
        let (_la, a) = listener();
        let (_lb, b) = listener();
        let (_lc, c) = listener();
        let mut ctx = context(a);
        // The same rack name and token in another DC is another node.
        let n = ctx.apply_seed_records(&[record(b, "r1", "dc2", 200)]);
        assert_eq!(n, 1);
        let far = PeerId(2);
        assert_eq!(ctx.topology.peer(far).dc, "dc2");
        // Known records change nothing: the seed, the new node, this node.
        let here: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let n = ctx.apply_seed_records(&[
            record(a, "r1", "dc1", 200),
            record(b, "r1", "dc2", 200),
            record(here, "r1", "dc1", 100),
        ]);
        assert_eq!(n, 0);
        // dc2's node moves: dc1's node with the same rack and token stays.
        let n = ctx.apply_seed_records(&[record(c, "r1", "dc2", 200)]);
        assert_eq!(n, 1);
        assert_eq!(ctx.topology.peer(far).addr, Some(c));
        assert_eq!(ctx.topology.peer(PeerId(1)).addr, Some(a));
        assert_eq!(ctx.topology.peer_count(), 3);
        // A record naming this node's token at another address is not a
        // replacement of this node.
        assert_eq!(ctx.apply_seed_records(&[record(c, "r1", "dc1", 100)]), 0);
    }

    #[test]
    fn replaced_address_moves_the_connections() {
        let (la, a) = listener();
        let (lb, b) = listener();
        let mut ctx = context(a);
        ctx.peers_connect();
        let old = slot_conns(&ctx, PeerId(1));
        assert_eq!(old.len(), 2);
        accept(&la, 2);
        let applied = ctx
            .apply_topology(Change::ReplaceAddr {
                peer: PeerId(1),
                host: "127.0.0.1".into(),
                port: b.port(),
                addr: b,
            })
            .expect("replaced");
        assert_eq!(
            applied,
            Applied::Replaced {
                peer: PeerId(1),
                old: Some(a)
            }
        );
        for c in &old {
            assert_eq!(ctx.conns[c.0].state, ConnState::Closing);
        }
        let new = slot_conns(&ctx, PeerId(1));
        assert_eq!(new.len(), 2);
        assert!(new.iter().all(|c| !old.contains(c)));
        accept(&lb, 2);
        // Same id, same ring, same stats entry.
        assert_eq!(ctx.topology.local_owner(150), PeerId(1));
        assert_eq!(ctx.stats.by_peer[1].name, "seed");
        // No back-off left from the closes.
        assert!(ctx.peers[PeerId(1)]
            .slots
            .iter()
            .all(|s| s.backoff.is_zero()));
    }

    #[test]
    fn state_is_stored_and_connections_kept() {
        let (la, a) = listener();
        let mut ctx = context(a);
        ctx.peers_connect();
        let before = slot_conns(&ctx, PeerId(1));
        accept(&la, 2);
        let down = Change::SetState {
            peer: PeerId(1),
            state: PeerState::Down,
        };
        assert_eq!(
            ctx.apply_topology(down),
            Ok(Applied::StateSet {
                peer: PeerId(1),
                old: PeerState::Normal
            })
        );
        assert_eq!(ctx.topology.peer(PeerId(1)).state, PeerState::Down);
        assert_eq!(slot_conns(&ctx, PeerId(1)), before);
        let unknown = Change::SetState {
            peer: PeerId(9),
            state: PeerState::Down,
        };
        assert_eq!(
            ctx.apply_topology(unknown),
            Err(TopologyError::UnknownPeer(PeerId(9)))
        );
        assert!(ctx.peers.get(PeerId(9)).is_none());
    }
}
