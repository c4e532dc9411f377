//! Gossip (dyn_gossip.c, spec gossip-and-membership §3, peer-protocol §8):
//! nodes tell each other who is in the cluster, at which address, in which
//! state, and when they last heard of each.
//!
//! ```text
//!  every gos_interval (a Timer on the loop, only with enable_gossip):
//!    this node alone             ─► NORMAL
//!    JOINING                     ─► announcement (one record: this node)
//!                                   to every peer; NORMAL after two more
//!                                   rounds if nobody answered
//!    STANDBY                     ─► nothing
//!    otherwise                   ─► state message (a record per node)
//!                                   to one peer picked at random
//!  any gossip frame received (with or without enable_gossip):
//!    this node JOINING           ─► NORMAL (an operator's STANDBY,
//!                                   WRITES_ONLY or RESUMING is kept)
//!    each record (dc, rack, token, timestamp, state, address):
//!      this node                 ─► nothing
//!      known node, same address  ─► timestamp and state, when newer
//!      known node, new address   ─► Change::ReplaceAddr
//!      unknown node              ─► Change::AddNode on the inferred port
//! ```
//!
//! Frames are type 7 with data `a`, never answered: a gossip frame is a
//! message marked `noreply` (freed once written) and `swallow` (freed if its
//! connection closes first). A record is
//! `<dc>$<rack>$<token>,<timestamp>,<state>,<address>` (unix seconds, the
//! state's number); the bytes match the original's captured state message,
//! so C nodes read ours and we read theirs. A node whose last news is older
//! than 40 intervals is written DOWN, as the original does.
//!
//! Differences from the original, each what an operator expects: the
//! announcement is a well-formed frame (the original's corrupted memory);
//! received gossip never overrides STANDBY, WRITES_ONLY or RESUMING set by
//! an operator; a node learnt from gossip gets this node's own peer port
//! (the original guessed 8101 when its own port was 8101 and 8103
//! otherwise: the same answer in the deployments it got right); a new
//! address given as a host name is resolved off the loop; replacement
//! matches the DC as well as the rack.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use log::{debug, info, warn};

use crate::cluster::state::NodeState;
use crate::cluster::topology::{Change, NodeSpec, Topology};
use crate::conf::{Endpoint, PoolConf};
use crate::conn::ConnState;
use crate::core::Context;
use crate::core::Timer;
use crate::dnode::msg::{
    gossip_records, write_gossip, write_header, DmsgHeader, DmsgType, GossipNode,
};
use crate::ids::PeerId;
use crate::msg::MsgKind;

/// The state number gossip writes for a node not heard of for too long.
pub const GOSSIP_DOWN: u8 = 8;

/// Rounds a JOINING node waits for an answer to its announcement before it
/// serves as NORMAL on its own (the original's extra sleep of two intervals).
const JOINING_ROUNDS: u32 = 3;

/// What this node knows from gossip.
#[derive(Debug)]
pub struct Gossip {
    /// `enable_gossip`: send announcements and state messages.
    pub enabled: bool,
    /// `gos_interval`.
    pub interval: Duration,
    /// Unix seconds of the last news of each node, by `PeerId` index (0:
    /// never heard of).
    pub heard: Vec<u64>,
    /// The state number each node last announced, by `PeerId` index.
    pub states: Vec<u8>,
    /// Gossip ageing already reported this node's silence.
    pub aged: Vec<bool>,
    /// Where this node says it is.
    pub address: String,
    /// The peer port of nodes learnt from gossip (this node's own).
    pub peer_port: u16,
    /// Ids of the frames this node sends (the original's gossip counter).
    next_id: u64,
    /// Rounds spent JOINING.
    joining_rounds: u32,
    /// Gossip frames received, and records that could not be read.
    pub received: u64,
    pub bad_records: u64,
    /// Random peer choice (xorshift; no crate needed for a coin).
    rng: u64,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Gossip {
    /// The gossip settings of a pool; `env` looks up the advertised address
    /// (`EC2_PUBLIC_HOSTNAME`, then `PUBLIC_HOSTNAME`).
    pub fn new(pool: &PoolConf, env: &dyn Fn(&str) -> Option<String>) -> Gossip {
        let (host, port) = match &pool.dyn_listen {
            Some(Endpoint::Tcp { host, port, .. }) => (host.clone(), *port),
            _ => (String::new(), 0),
        };
        let address = env("EC2_PUBLIC_HOSTNAME")
            .or_else(|| env("PUBLIC_HOSTNAME"))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| advertised(&host));
        Gossip {
            enabled: pool.enable_gossip,
            interval: Duration::from_millis(pool.gos_interval_ms.max(1)),
            heard: Vec::new(),
            states: Vec::new(),
            aged: Vec::new(),
            address,
            peer_port: port,
            next_id: 0,
            joining_rounds: 0,
            received: 0,
            bad_records: 0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()),
        }
    }

    /// Seconds without news after which a node is gossiped DOWN.
    pub fn down_after(&self) -> u64 {
        (self.interval.as_millis() as u64 / 1000).max(1) * 40
    }

    fn slot(&mut self, id: PeerId) -> usize {
        let i = id.idx();
        if self.heard.len() <= i {
            self.heard.resize(i + 1, 0);
            self.states.resize(i + 1, NodeState::Normal.number());
            self.aged.resize(i + 1, false);
        }
        i
    }

    fn random(&mut self, n: usize) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % n as u64) as usize
    }

    /// The record of one node, or `None` when a field cannot be written.
    fn record(&self, topo: &Topology, id: PeerId, now: u64, local: u8, out: &mut Vec<u8>) {
        let p = topo.peer(id);
        let Some(token) = p.tokens.first() else {
            return;
        };
        let token = token.to_string();
        let (timestamp, state, address) = if id.is_local() {
            (now, local, self.address.clone())
        } else {
            let i = id.idx();
            let heard = self.heard.get(i).copied().unwrap_or(0);
            let mut state = self
                .states
                .get(i)
                .copied()
                .unwrap_or(NodeState::Normal.number());
            if heard == 0 || now.saturating_sub(heard) > self.down_after() {
                state = GOSSIP_DOWN;
            }
            let address = match p.addr {
                Some(a) if p.host.parse::<IpAddr>().is_ok() || p.host.is_empty() => {
                    a.ip().to_string()
                }
                _ => p.host.clone(),
            };
            (heard, state, address)
        };
        let node = GossipNode {
            dc: p.dc.as_bytes(),
            rack: p.rack.as_bytes(),
            token: token.as_bytes(),
            timestamp,
            state,
            address: address.as_bytes(),
        };
        let sep = !out.is_empty();
        let before = out.len();
        if sep {
            out.push(b'|');
        }
        if let Err(e) = write_gossip(out, &[node]) {
            out.truncate(before);
            debug!("gossip: node {} left out: {e}", p.name);
        }
    }

    /// The announcement: this node's record alone.
    pub fn announcement(&self, topo: &Topology, now: u64, local: u8) -> Vec<u8> {
        let mut out = Vec::new();
        self.record(topo, PeerId::LOCAL, now, local, &mut out);
        out
    }

    /// The state message: a record per node, this node first.
    pub fn state_message(&self, topo: &Topology, now: u64, local: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for id in topo.peer_ids() {
            self.record(topo, id, now, local, &mut out);
        }
        out
    }

    /// A whole frame: header (data `a`, flags 0) and payload.
    pub fn frame(&mut self, same_dc: bool, payload: &[u8]) -> (Vec<u8>, u64) {
        let id = self.next_id;
        self.next_id += 1;
        let mut out = Vec::with_capacity(40 + payload.len());
        write_header(
            &mut out,
            &DmsgHeader::new(id, DmsgType::GossipSyn, same_dc),
            payload.len(),
        );
        (out, id)
    }
}

/// The name of a state number (spec §5.1).
pub fn state_name(n: u8) -> &'static str {
    match n {
        0 => "INIT",
        1 => "STANDBY",
        2 => "WRITES_ONLY",
        3 => "RESUMING",
        4 => "NORMAL",
        7 => "JOINING",
        8 => "DOWN",
        11 => "RESET",
        _ => "UNKNOWN",
    }
}

/// The address a node advertises from its `dyn_listen` host: the host,
/// unless it is the unspecified address, then the host's name.
fn advertised(host: &str) -> String {
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => crate::sys::host_name().unwrap_or_else(|| host.into()),
        _ => host.to_string(),
    }
}

impl Context {
    /// Arms the first gossip round when gossip is on; the node is JOINING
    /// until it hears gossip or its announcement goes unanswered.
    pub(crate) fn gossip_start(&mut self) {
        if !self.gossip.enabled {
            return;
        }
        if self.state == NodeState::Normal {
            self.state = NodeState::Joining;
        }
        let at = self.now + self.gossip.interval;
        self.add_timer(at, Timer::Gossip);
        info!(
            "gossip on, every {} ms, advertising {}",
            self.gossip.interval.as_millis(),
            self.gossip.address
        );
    }

    /// One gossip round (spec §3.2, steps 3 to 9).
    pub(crate) fn gossip_round(&mut self) {
        let at = self.now + self.gossip.interval;
        self.add_timer(at, Timer::Gossip);
        let now = unix_now();
        let slot = self.gossip.slot(PeerId::LOCAL);
        self.gossip.heard[slot] = now;
        let local = self.state.number();
        if self.topology.is_single() {
            self.set_joined("this node is the whole cluster");
            return;
        }
        self.gossip_ageing(now);
        match self.state {
            NodeState::Standby => {}
            NodeState::Joining | NodeState::Init => {
                let payload = self.gossip.announcement(&self.topology, now, local);
                let peers: Vec<PeerId> =
                    self.topology.peer_ids().filter(|p| !p.is_local()).collect();
                for p in peers {
                    self.gossip_send(p, &payload);
                }
                self.gossip.joining_rounds += 1;
                if self.gossip.joining_rounds >= JOINING_ROUNDS {
                    self.set_joined("no gossip answered the announcement");
                }
            }
            _ => {
                let peers: Vec<PeerId> =
                    self.topology.peer_ids().filter(|p| !p.is_local()).collect();
                let p = peers[self.gossip.random(peers.len())];
                let payload = self.gossip.state_message(&self.topology, now, local);
                self.gossip_send(p, &payload);
            }
        }
    }

    /// Gossip ageing feeds failure detection: a peer gossip once heard of
    /// but silent for 40 intervals, whose connections have answered nothing
    /// in that time either, is a fault (a peer that answers requests is
    /// alive, whatever gossip says; hearsay about a third node never
    /// counts). Reported once per silence.
    fn gossip_ageing(&mut self, now: u64) {
        let window = self.gossip.down_after();
        let since = std::time::Duration::from_secs(window);
        let peers: Vec<PeerId> = self.topology.peer_ids().filter(|p| !p.is_local()).collect();
        for p in peers {
            let i = self.gossip.slot(p);
            let heard = self.gossip.heard[i];
            if heard == 0 || now.saturating_sub(heard) <= window || self.gossip.aged[i] {
                continue;
            }
            let answered = self.peers[p]
                .detect
                .answered_at
                .is_some_and(|t| self.now.saturating_duration_since(t) < since);
            if answered {
                continue;
            }
            self.gossip.aged[i] = true;
            self.peer_fault(p, crate::cluster::health::Fault::GossipSilent);
        }
    }

    /// JOINING (or INIT) becomes NORMAL; an operator's state stays.
    fn set_joined(&mut self, why: &str) {
        // A warm-up ends JOINING itself, once the data is in.
        if self.warmup.running() {
            return;
        }
        if matches!(self.state, NodeState::Joining | NodeState::Init) {
            info!("node state {} -> NORMAL ({why})", self.state.name());
            self.state = NodeState::Normal;
        }
    }

    /// Queues a gossip frame on a connected slot of `peer`; nothing when
    /// none is connected (gossip is not worth a reconnect).
    fn gossip_send(&mut self, peer: PeerId, payload: &[u8]) -> bool {
        let pool = &self.peers[peer];
        let Some(cid) = pool
            .slots
            .iter()
            .filter_map(|s| s.conn)
            .find(|c| self.conns[c.0].state == ConnState::Connected)
        else {
            return false;
        };
        let same_dc = self.topology.same_dc(peer);
        let (header, id) = self.gossip.frame(same_dc, payload);
        let mid = self.msgs.get(MsgKind::Request);
        let hseg = self.small_seg(&header);
        let m = &mut self.msgs[mid];
        m.hdr = Some(hseg);
        self.mbufs.append(&mut m.segs, payload);
        m.mlen = payload.len() as u64;
        m.noreply = true;
        m.swallow = true;
        m.generated = true;
        m.in_server = true;
        m.dest = peer.0;
        self.conns[cid.0].imsg_q.push_back(mid);
        self.schedule_flush(cid);
        debug!(
            "gossip {id} ({} bytes) to peer {}",
            payload.len(),
            self.topology.peer(peer).name
        );
        true
    }

    /// The `/gossip` body: this node's view, as a state message would carry
    /// it, plus the counters.
    pub(crate) fn gossip_json(&self) -> String {
        let now = unix_now();
        let down_after = self.gossip.down_after();
        let nodes: Vec<serde_json::Value> = self
            .topology
            .peers()
            .map(|(id, p)| {
                let (heard, state) = if id.is_local() {
                    (now, self.state.number())
                } else {
                    let i = id.idx();
                    let heard = self.gossip.heard.get(i).copied().unwrap_or(0);
                    let mut state = self.gossip.states.get(i).copied().unwrap_or(4);
                    if heard == 0 || now.saturating_sub(heard) > down_after {
                        state = GOSSIP_DOWN;
                    }
                    (heard, state)
                };
                serde_json::json!({
                    "name": p.name,
                    "dc": p.dc,
                    "rack": p.rack,
                    "token": p.tokens.first().copied().unwrap_or(0),
                    "host": p.host,
                    "port": p.port,
                    "local": id.is_local(),
                    "heard": heard,
                    "state": state,
                    "state_name": state_name(state),
                })
            })
            .collect();
        let body = serde_json::json!({
            "enabled": self.gossip.enabled,
            "interval_ms": self.gossip.interval.as_millis() as u64,
            "address": self.gossip.address,
            "state": self.state.name(),
            "received": self.gossip.received,
            "bad_records": self.gossip.bad_records,
            "nodes": nodes,
        });
        format!("{body}\n")
    }

    /// A gossip payload arrived (spec §3.3, "Receiving").
    pub(crate) fn gossip_received(&mut self, payload: &[u8]) {
        self.gossip.received += 1;
        self.set_joined("gossip received");
        let mut changes = Vec::new();
        for rec in gossip_records(payload) {
            let n = match rec {
                Ok(n) => n,
                Err(e) => {
                    self.gossip.bad_records += 1;
                    debug!("gossip record skipped: {e}");
                    continue;
                }
            };
            let Some(token) = n.token_u32() else {
                self.gossip.bad_records += 1;
                continue;
            };
            let (Ok(dc), Ok(rack), Ok(address)) = (
                std::str::from_utf8(n.dc),
                std::str::from_utf8(n.rack),
                std::str::from_utf8(n.address),
            ) else {
                self.gossip.bad_records += 1;
                continue;
            };
            let found = self.topology.peers().find_map(|(id, p)| {
                (p.dc == dc && p.rack == rack && p.tokens.first() == Some(&token))
                    .then(|| (id, p.host.clone(), p.addr))
            });
            let peer = match found {
                Some((id, _, _)) if id.is_local() => continue,
                Some((id, host, addr)) => {
                    let same = host == address
                        || address
                            .parse::<IpAddr>()
                            .is_ok_and(|ip| addr.map(|a| a.ip()) == Some(ip));
                    if same {
                        let i = self.gossip.slot(id);
                        if n.timestamp > self.gossip.heard[i] {
                            self.gossip.heard[i] = n.timestamp;
                            self.gossip.states[i] = n.state;
                            self.gossip.aged[i] = false;
                        }
                        continue;
                    }
                    Some(id)
                }
                None => None,
            };
            changes.push((
                peer,
                dc.to_string(),
                rack.to_string(),
                token,
                address.to_string(),
                n.timestamp,
                n.state,
            ));
        }
        for (id, dc, rack, token, address, ts, state) in changes {
            let Ok(ip) = address.parse::<IpAddr>() else {
                // A host name: resolved off the loop, applied as a provider
                // record would be.
                self.resolve_later(&address, self.gossip.peer_port, &rack, &dc, token);
                continue;
            };
            let addr = SocketAddr::new(ip, self.gossip.peer_port);
            let change = match id {
                Some(peer) => Change::ReplaceAddr {
                    peer,
                    host: address.clone(),
                    port: addr.port(),
                    addr,
                },
                None => Change::AddNode(NodeSpec {
                    name: address.clone(),
                    host: address.clone(),
                    port: addr.port(),
                    addr: Some(addr),
                    dc: dc.clone(),
                    rack: rack.clone(),
                    tokens: vec![token],
                }),
            };
            match self.apply_topology(change) {
                Ok(applied) => {
                    let peer = match applied {
                        crate::cluster::topology::Applied::Added { peer, .. } => peer,
                        crate::cluster::topology::Applied::Replaced { peer, .. } => peer,
                        crate::cluster::topology::Applied::StateSet { peer, .. } => peer,
                    };
                    let i = self.gossip.slot(peer);
                    self.gossip.heard[i] = ts;
                    self.gossip.states[i] = state;
                }
                Err(e) => warn!("gossip record {dc}${rack}${token} at {address} not applied: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::Conf;

    /// 9.4 of the peer spec: the state message of a node in dc1/rack1
    /// (token 1000, address 127.0.0.77), NORMAL, with a peer in rack2.
    const EX_94: &[u8] = b"   $2014$ 0 7 0 1 1 *1 a *77\r\ndc1$rack1$1000,1795404652,4,127.0.0.77|dc1$rack2$1000,1795404649,4,127.0.0.77";

    fn pool(extra: &str) -> PoolConf {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:8102\n  dyn_listen: 127.0.0.77:8101\n  datacenter: dc1\n  \
             rack: rack1\n  tokens: '1000'\n  enable_gossip: true\n  servers:\n  - 127.0.0.1:6379:1\n  \
             dyn_seeds:\n  - 127.0.0.77:8101:rack2:dc1:1000\n{extra}"
        );
        Conf::parse_str("t.yml", &yaml).expect("conf").pool
    }

    #[test]
    fn the_captured_state_message_is_reproduced_byte_for_byte() {
        let pool = pool("");
        let topo = Topology::from_conf(&pool).unwrap();
        let mut g = Gossip::new(&pool, &|_| None);
        assert_eq!(g.address, "127.0.0.77");
        let seed = PeerId(1);
        let i = g.slot(seed);
        g.heard[i] = 1_795_404_649;
        g.states[i] = 4;
        let now = 1_795_404_652;
        let payload = g.state_message(&topo, now, NodeState::Normal.number());
        let (mut frame, id) = g.frame(true, &payload);
        assert_eq!(id, 0);
        frame.extend_from_slice(&payload);
        assert_eq!(frame, EX_94);
        // The announcement: this node's record alone, JOINING.
        let ann = g.announcement(&topo, now, NodeState::Joining.number());
        assert_eq!(ann, b"dc1$rack1$1000,1795404652,7,127.0.0.77");
        // A node not heard of for 40 intervals (30 s each) is gossiped DOWN.
        let later = 1_795_404_649 + 40 * 30 + 1;
        let stale = g.state_message(&topo, later, 4);
        assert!(stale.ends_with(b"dc1$rack2$1000,1795404649,8,127.0.0.77"));
    }

    /// A node of dc1/rack1 (token 1000) on 127.0.0.77:8101 whose seed is
    /// dc1/rack2 token 1000 at 127.0.0.77:8101 (the captured cluster).
    fn context() -> Context {
        let pool = pool("");
        let topo = Topology::from_conf(&pool).unwrap();
        let mut ctx = Context::new(&pool, topo, 16 * 1024, 1024).expect("context");
        ctx.gossip_start();
        ctx
    }

    #[test]
    fn received_gossip_updates_adds_and_replaces_by_dc_rack_and_token() {
        let mut ctx = context();
        assert_eq!(ctx.state, NodeState::Joining);
        // The captured message: this node's own record and its seed's.
        ctx.gossip_received(&EX_94[30..]);
        assert_eq!(ctx.state, NodeState::Normal);
        let seed = PeerId(1);
        assert_eq!(ctx.gossip.heard[seed.idx()], 1_795_404_649);
        assert_eq!(ctx.topology.peer_count(), 2);
        // A newer record moves the seed; an unknown one joins on this node's
        // own peer port; a bad record hides nothing.
        ctx.gossip_received(
            b"dc1$rack2$1000,1795404700,4,127.0.0.78|garbage|dc2$rack1$5,1795404701,7,127.0.0.79",
        );
        assert_eq!(ctx.gossip.bad_records, 1);
        assert_eq!(
            ctx.topology.peer(seed).addr,
            Some("127.0.0.78:8101".parse().unwrap())
        );
        let added = PeerId(2);
        let p = ctx.topology.peer(added);
        assert_eq!((p.dc.as_str(), p.rack.as_str()), ("dc2", "rack1"));
        assert_eq!(p.addr, Some("127.0.0.79:8101".parse().unwrap()));
        assert_eq!(ctx.gossip.states[added.idx()], 7);
        // The state message now carries all three, as heard.
        let msg = ctx.gossip.state_message(&ctx.topology, 1_795_404_702, 4);
        assert_eq!(
            msg,
            b"dc1$rack1$1000,1795404702,4,127.0.0.77|dc1$rack2$1000,1795404700,4,127.0.0.78|\
              dc2$rack1$5,1795404701,7,127.0.0.79"
                .iter()
                .copied()
                .filter(|b| *b != b' ')
                .collect::<Vec<u8>>()
        );
        // An older record of a known node changes nothing.
        ctx.gossip_received(b"dc1$rack2$1000,1795404000,8,127.0.0.78");
        assert_eq!(ctx.gossip.states[seed.idx()], 4);
    }

    #[test]
    fn gossip_silence_without_answers_is_a_fault_once() {
        use crate::cluster::state::PeerHealth;
        let mut ctx = context();
        let seed = PeerId(1);
        let i = ctx.gossip.slot(seed);
        let t = 1_795_404_649;
        ctx.gossip.heard[i] = t;
        // Within 40 intervals (30 s each): nothing.
        ctx.gossip_ageing(t + 1200);
        assert_eq!(ctx.topology.peer(seed).health, PeerHealth::Up);
        // Past them, with no answer on its connections: suspect, once.
        ctx.gossip_ageing(t + 1201);
        assert_eq!(ctx.topology.peer(seed).health, PeerHealth::Suspect);
        ctx.gossip_ageing(t + 1300);
        assert_eq!(ctx.topology.peer(seed).health, PeerHealth::Suspect);
        // News of it ends the silence.
        ctx.gossip_received(b"dc1$rack2$1000,1795405900,4,127.0.0.77");
        assert!(!ctx.gossip.aged[i]);
        // A peer that answers requests is alive whatever gossip says.
        let mut ctx = context();
        let i = ctx.gossip.slot(seed);
        ctx.gossip.heard[i] = t;
        ctx.peers[seed].detect.answered_at = Some(ctx.now);
        ctx.gossip_ageing(t + 5000);
        assert_eq!(ctx.topology.peer(seed).health, PeerHealth::Up);
    }

    #[test]
    fn gossip_never_overrides_an_operators_state() {
        for s in [
            NodeState::Standby,
            NodeState::WritesOnly,
            NodeState::Resuming,
        ] {
            let mut ctx = context();
            ctx.state = s;
            ctx.gossip_received(&EX_94[30..]);
            assert_eq!(ctx.state, s);
        }
    }

    #[test]
    fn the_advertised_address() {
        let p = pool("");
        assert_eq!(Gossip::new(&p, &|_| None).address, "127.0.0.77");
        let env = |k: &str| (k == "PUBLIC_HOSTNAME").then(|| "db1.example".to_string());
        assert_eq!(Gossip::new(&p, &env).address, "db1.example");
        let env = |k: &str| Some(format!("{k}.example"));
        assert_eq!(Gossip::new(&p, &env).address, "EC2_PUBLIC_HOSTNAME.example");
    }
}
