//! Where a request's copies go, as a pure plan (the target choice of
//! dyn_request.c `req_forward` and the fan-out of dyn_client.c): from the
//! topology, a key's token, the consistency level, read or write, and where
//! the request came from, list every copy to send. Nothing here touches a
//! message, a socket or a clock; `Context::replicate` executes the plan.
//!
//! ```text
//!  plan(topo, hash, level, write, origin)
//!    Peer (type 3) ─────────────► primary = Local (applied here)
//!    DC_ONE, RackOwner, Forwarded (type 4):
//!        primary  = owner in the local rack
//!        orphans  = owner in every other local rack   (writes; not RackOwner)
//!                 + one per remote DC, its racks' owners, preselected rack
//!                   first, as candidates               (client writes)
//!        failover = owner in every other local rack   (client reads)
//!    DC_QUORUM, DC_SAFE_QUORUM (client):
//!        counted  = owner in every local rack, the local rack first (group 0)
//!        orphans  = one per remote DC, as above        (writes)
//!    DC_EACH_SAFE_QUORUM (client):
//!        counted  = every local rack (group 0), then every rack of remote DC
//!                   d, preselected rack first (group d)
//! ```
//!
//! Failure detection steers the plan (cluster/health.rs): a peer that is not
//! routable (detected down, or set DOWN by an operator) is never a DC_ONE
//! read's primary or failover while a live replica exists (the read goes
//! to the next rack's owner at once), and a copy nobody waits for whose
//! every candidate is down is listed in `undeliverable` instead of
//! `orphans` (the coordinator hands it to `copy_undeliverable`). At the
//! quorum levels a down replica stays counted: `dispatch` answers for it
//! at once with an error, so the quorum is decided without waiting.
//!
//! A plan is a fixed-size value: no list in it is on the heap. The cluster's
//! shape is bounded to [`MAX_DCS`] datacenters of at most [`MAX_RACKS`]
//! racks each: `Topology::apply` refuses a node beyond them, at start and
//! later alike.

use crate::cluster::topology::Topology;
use crate::conf::Consistency;
use crate::ids::PeerId;

pub use crate::cluster::topology::{MAX_DCS, MAX_RACKS};
/// Most replicas whose answers count (DC_EACH_SAFE_QUORUM: every rack of
/// every DC).
pub const MAX_COUNTED: usize = MAX_RACKS * MAX_DCS;
/// Most copies sent without waiting for their answer (DC_ONE writes: the
/// other local racks, then one per remote DC).
pub const MAX_ORPHANS: usize = (MAX_RACKS - 1) + (MAX_DCS - 1);
/// Most replicas a DC_ONE read can fail over to (the other local racks).
pub const MAX_FAILOVER: usize = MAX_RACKS - 1;

// Child and arrival indices are kept in `u8`.
const _: () = assert!(MAX_COUNTED <= u8::MAX as usize);
const _: () = assert!(MAX_RACKS >= 1 && MAX_DCS >= 1);

/// Where one copy of a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Target {
    /// This node's datastore(s).
    #[default]
    Local,
    /// A peer; `forward` asks it to replicate to every rack of its DC (type 4).
    Peer { peer: PeerId, forward: bool },
}

impl Target {
    /// The target for a key owner: this node runs it itself.
    pub fn of(peer: PeerId, forward: bool) -> Target {
        if peer.is_local() {
            Target::Local
        } else {
            Target::Peer { peer, forward }
        }
    }
}

/// Where a request came from, as far as replication cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node: the level of its connection applies.
    Client,
    /// A command served by the key's owner in the local rack only
    /// (`Route::LocalRackOwner`: HGETALL, HSCAN …), from a client or a peer:
    /// DC_ONE, no copy anywhere else, no failover.
    RackOwner,
    /// A peer's type 3 request: applied by this node.
    Peer,
    /// A peer's type 4 request: this node's DC gets it in every rack (writes
    /// copied to the other racks, answers of the copies dropped).
    Forwarded,
}

/// A list of at most `N` values kept inline (no heap).
#[derive(Clone, Copy)]
pub struct Fixed<T: Copy, const N: usize> {
    items: [T; N],
    len: u8,
}

impl<T: Copy + Default, const N: usize> Default for Fixed<T, N> {
    fn default() -> Self {
        const { assert!(N <= u8::MAX as usize) };
        Fixed {
            items: [T::default(); N],
            len: 0,
        }
    }
}

impl<T: Copy, const N: usize> Fixed<T, N> {
    /// Appends `v`; false (and nothing changes) when the list is full.
    pub fn push(&mut self, v: T) -> bool {
        let n = self.len as usize;
        if n == N {
            return false;
        }
        self.items[n] = v;
        self.len += 1;
        true
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Replaces the contents with `src` (cut at `N`).
    pub fn set(&mut self, src: &[T]) {
        let n = src.len().min(N);
        debug_assert_eq!(n, src.len());
        self.items[..n].copy_from_slice(&src[..n]);
        self.len = n as u8;
    }
}

impl<T: Copy, const N: usize> std::ops::Deref for Fixed<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..self.len as usize]
    }
}

impl<T: Copy, const N: usize> std::ops::DerefMut for Fixed<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len as usize]
    }
}

impl<T: Copy + std::fmt::Debug, const N: usize> std::fmt::Debug for Fixed<T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Copy + PartialEq, const N: usize> PartialEq for Fixed<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

/// The candidates of one copy nobody waits for: tried in order until one
/// takes it.
pub type Orphan = Fixed<Target, MAX_RACKS>;

/// Every copy of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The level the request runs at (DC_ONE for anything not from a client).
    pub level: Consistency,
    /// DC_ONE: where the request itself goes. Quorum levels: the first
    /// counted replica (the local rack's owner).
    pub primary: Target,
    /// Quorum levels: the replicas whose answers count, each with its group
    /// (one response manager per group: 0 is the local DC, then each remote
    /// DC taking part). Empty at DC_ONE.
    pub counted: Fixed<(Target, u8), MAX_COUNTED>,
    /// Quorum levels: replicas in each group (racks of its DC).
    pub groups: Fixed<u8, MAX_DCS>,
    /// Copies whose answers are dropped, each with its candidates; sent
    /// before the request itself or its counted copies.
    pub orphans: Fixed<Orphan, MAX_ORPHANS>,
    /// DC_ONE reads: the replicas to try, in order, when the primary cannot
    /// be reached.
    pub failover: Fixed<Target, MAX_FAILOVER>,
    /// Copies nobody waits for that have no routable candidate: the
    /// target each was meant for (its first candidate). Not sent; counted
    /// and logged as undeliverable (later kept as hints).
    pub undeliverable: Fixed<Target, MAX_ORPHANS>,
}

impl Plan {
    fn new(level: Consistency, primary: Target) -> Plan {
        Plan {
            level,
            primary,
            counted: Fixed::default(),
            groups: Fixed::default(),
            orphans: Fixed::default(),
            failover: Fixed::default(),
            undeliverable: Fixed::default(),
        }
    }

    /// Adds a copy nobody waits for: its routable candidates, in order, or
    /// an undeliverable entry for the first candidate when none is.
    fn add_orphan(&mut self, topo: &Topology, candidates: &[Target]) {
        let mut o = Orphan::default();
        for &t in candidates.iter().filter(|&&t| routable(topo, t)) {
            o.push(t);
        }
        if !o.is_empty() {
            self.orphans.push(o);
        } else if let Some(&first) = candidates.first() {
            self.undeliverable.push(first);
        }
    }

    /// True when answers are counted by response managers (quorum levels).
    pub fn is_quorum(&self) -> bool {
        !self.counted.is_empty()
    }
}

/// True when `t` may be sent to now (this node always may).
fn routable(topo: &Topology, t: Target) -> bool {
    match t {
        Target::Local => true,
        Target::Peer { peer, .. } => topo.routable(peer),
    }
}

/// The copies of a request whose key hashes to `hash`.
pub fn plan(topo: &Topology, hash: u32, level: Consistency, write: bool, origin: Origin) -> Plan {
    if origin == Origin::Peer {
        return Plan::new(Consistency::DcOne, Target::Local);
    }
    let level = if origin == Origin::Client {
        level
    } else {
        Consistency::DcOne
    };
    let mut p = Plan::new(level, Target::of(topo.local_owner(hash), false));
    let local_rack = topo.local_rack;
    let nracks = topo.dcs[0].racks.len();
    debug_assert!(nracks <= MAX_RACKS);
    debug_assert!(topo.dcs.len() <= MAX_DCS);
    // The owner in every other rack of this DC, in rack order.
    let mut others: Fixed<Target, MAX_FAILOVER> = Fixed::default();
    for r in (0..nracks).filter(|&r| r != local_rack) {
        others.push(Target::of(topo.owner(0, r, hash), false));
    }
    // Remote DCs get a copy of a client's writes (and every read at
    // DC_EACH_SAFE_QUORUM).
    let remote = origin == Origin::Client && (write || level == Consistency::DcEachSafeQuorum);
    let ndcs = topo.dcs.len().min(MAX_DCS);

    if level == Consistency::DcOne {
        if write && origin != Origin::RackOwner {
            for &t in others.iter() {
                p.add_orphan(topo, &[t]);
            }
        }
        if remote {
            for d in 1..ndcs {
                p.add_orphan(topo, &remote_racks(topo, d, hash, true));
            }
        }
        if !write && origin == Origin::Client {
            // Down replicas are not tried; a down owner gives its place to
            // the first live replica of another rack.
            for &t in others.iter().filter(|&&t| routable(topo, t)) {
                p.failover.push(t);
            }
            if !routable(topo, p.primary) && !p.failover.is_empty() {
                p.primary = p.failover[0];
                let rest: Fixed<Target, MAX_FAILOVER> = {
                    let mut r = Fixed::default();
                    r.set(&p.failover[1..]);
                    r
                };
                p.failover = rest;
            }
        }
        return p;
    }

    // Quorum levels: one counted copy per local rack, the local rack first.
    p.counted.push((p.primary, 0));
    for &t in others.iter() {
        p.counted.push((t, 0));
    }
    p.groups.push(nracks.min(MAX_RACKS) as u8);
    if level == Consistency::DcEachSafeQuorum {
        // A direct copy to every remote rack, applied there only.
        for d in 1..ndcs {
            let racks = remote_racks(topo, d, hash, false);
            p.groups.push(racks.len() as u8);
            for &t in racks.iter() {
                p.counted.push((t, p.groups.len() as u8 - 1));
            }
        }
    } else if remote {
        for d in 1..ndcs {
            p.add_orphan(topo, &remote_racks(topo, d, hash, true));
        }
    }
    p
}

/// The owners of `hash` in every rack of remote DC `d`, its preselected rack
/// first.
fn remote_racks(topo: &Topology, d: usize, hash: u32, forward: bool) -> Orphan {
    debug_assert!(d > 0);
    let dc = &topo.dcs[d];
    let n = dc.racks.len();
    debug_assert!(n <= MAX_RACKS);
    let mut out = Orphan::default();
    for k in 0..n.min(MAX_RACKS) {
        let r = (dc.preselected + k) % n;
        // Remote owners are never this node (it is in DC 0).
        out.push(Target::Peer {
            peer: topo.owner(d, r, hash),
            forward,
        });
    }
    out
}

/// The read-failover list of a DC_ONE read, kept in its message: the plan's
/// `failover` and a cursor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Failover {
    list: Fixed<Target, MAX_FAILOVER>,
    next: u8,
}

impl Failover {
    /// Starts over with `list`.
    pub fn set(&mut self, list: &[Target]) {
        self.list.set(list);
        self.next = 0;
    }

    /// The next replica to try, if any is left.
    pub fn next_target(&mut self) -> Option<Target> {
        let t = self.list.get(self.next as usize).copied()?;
        self.next += 1;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::topology::{Change, NodeSpec};
    use Consistency::*;

    /// A node; `local` marks this node, which must come first.
    fn peer(name: &str, dc: &str, rack: &str, tokens: &[u32], local: bool) -> NodeSpec {
        NodeSpec {
            name: name.into(),
            host: name.into(),
            port: 8101,
            addr: (!local).then(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8101))),
            dc: dc.into(),
            rack: rack.into(),
            tokens: tokens.to_vec(),
        }
    }

    /// This node (the first) and the others added in order.
    fn build(nodes: Vec<NodeSpec>) -> Topology {
        let mut nodes = nodes.into_iter();
        let mut t = Topology::new(nodes.next().expect("this node"));
        for n in nodes {
            t.apply(Change::AddNode(n)).expect("added");
        }
        t
    }

    fn p(i: u32) -> Target {
        Target::Peer {
            peer: PeerId(i),
            forward: false,
        }
    }

    fn fw(i: u32) -> Target {
        Target::Peer {
            peer: PeerId(i),
            forward: true,
        }
    }

    /// One rack of three nodes, this node (0) owning tokens up to 1000.
    fn one_rack() -> Topology {
        build(vec![
            peer("a", "dc1", "r1", &[1000], true),
            peer("b", "dc1", "r1", &[2000], false),
            peer("c", "dc1", "r1", &[3000], false),
        ])
    }

    /// Two racks of two nodes; this node (0) is in r2 (rack index 1).
    fn two_racks() -> Topology {
        build(vec![
            peer("a", "dc1", "r2", &[1000], true),
            peer("b", "dc1", "r2", &[2000], false),
            peer("c", "dc1", "r1", &[1000], false),
            peer("d", "dc1", "r1", &[2000], false),
        ])
    }

    /// Three racks of one node each; this node (0) in r1.
    fn three_racks() -> Topology {
        build(vec![
            peer("a", "dc1", "r1", &[1000], true),
            peer("b", "dc1", "r2", &[1000], false),
            peer("c", "dc1", "r3", &[1000], false),
        ])
    }

    /// Two DCs: dc1 with racks r1 (this node 0, node 1) and r2 (node 2);
    /// dc2 with racks x1 (node 3), x2 (node 4), x3 (nodes 5, 6). This node's
    /// rack index is 0, so dc2's preselected rack is x1.
    fn two_dcs() -> Topology {
        build(vec![
            peer("a", "dc1", "r1", &[1000], true),
            peer("b", "dc1", "r1", &[2000], false),
            peer("c", "dc1", "r2", &[5000], false),
            peer("d", "dc2", "x1", &[5000], false),
            peer("e", "dc2", "x2", &[5000], false),
            peer("f", "dc2", "x3", &[1000], false),
            peer("g", "dc2", "x3", &[2000], false),
        ])
    }

    /// Like `two_dcs` but this node is in rack r2 (index 1): dc2's
    /// preselected rack is x2.
    fn two_dcs_second_rack() -> Topology {
        build(vec![
            peer("a", "dc1", "r2", &[1000], true),
            peer("b", "dc1", "r1", &[5000], false),
            peer("d", "dc2", "x1", &[5000], false),
            peer("e", "dc2", "x2", &[5000], false),
            peer("f", "dc2", "x3", &[5000], false),
        ])
    }

    fn orphans(lists: &[&[Target]]) -> Vec<Vec<Target>> {
        lists.iter().map(|l| l.to_vec()).collect()
    }

    /// A plan as plain vectors: primary, counted, groups, orphans, failover.
    type Shape = (
        Target,
        Vec<(Target, u8)>,
        Vec<u8>,
        Vec<Vec<Target>>,
        Vec<Target>,
    );

    fn shape(p: &Plan) -> Shape {
        (
            p.primary,
            p.counted.to_vec(),
            p.groups.to_vec(),
            p.orphans.iter().map(|o| o.to_vec()).collect(),
            p.failover.to_vec(),
        )
    }

    struct Row {
        what: &'static str,
        topo: fn() -> Topology,
        hash: u32,
        level: Consistency,
        write: bool,
        origin: Origin,
        primary: Target,
        counted: &'static [(Target, u8)],
        groups: &'static [u8],
        orphans: &'static [&'static [Target]],
        failover: &'static [Target],
    }

    const L: Target = Target::Local;
    const P1: Target = Target::Peer {
        peer: PeerId(1),
        forward: false,
    };
    const P2: Target = Target::Peer {
        peer: PeerId(2),
        forward: false,
    };
    const P3: Target = Target::Peer {
        peer: PeerId(3),
        forward: false,
    };
    const P4: Target = Target::Peer {
        peer: PeerId(4),
        forward: false,
    };
    const P5: Target = Target::Peer {
        peer: PeerId(5),
        forward: false,
    };
    const F2: Target = Target::Peer {
        peer: PeerId(2),
        forward: true,
    };
    const F3: Target = Target::Peer {
        peer: PeerId(3),
        forward: true,
    };
    const F4: Target = Target::Peer {
        peer: PeerId(4),
        forward: true,
    };
    const F5: Target = Target::Peer {
        peer: PeerId(5),
        forward: true,
    };
    const F6: Target = Target::Peer {
        peer: PeerId(6),
        forward: true,
    };

    #[rustfmt::skip]
    fn rows() -> Vec<Row> {
        let r = |what, topo, hash, level, write, origin, primary, counted, groups, orphans, failover| Row {
            what, topo, hash, level, write, origin, primary, counted, groups, orphans, failover,
        };
        vec![
            // One rack: the owner, nothing else, at every level.
            r("1 rack read local", one_rack, 500, DcOne, false, Origin::Client, L, &[], &[], &[], &[]),
            r("1 rack read remote owner", one_rack, 1500, DcOne, false, Origin::Client, P1, &[], &[], &[], &[]),
            r("1 rack write", one_rack, 2500, DcOne, true, Origin::Client, P2, &[], &[], &[], &[]),
            r("1 rack quorum read", one_rack, 2500, DcQuorum, false, Origin::Client, P2, &[(P2, 0)], &[1], &[], &[]),
            r("1 rack safe write", one_rack, 500, DcSafeQuorum, true, Origin::Client, L, &[(L, 0)], &[1], &[], &[]),
            // Two racks (this node in the second): DC_ONE reads fail over to
            // the other rack, writes copy to it.
            r("2 racks read", two_racks, 500, DcOne, false, Origin::Client, L, &[], &[], &[], &[P2]),
            r("2 racks read 2", two_racks, 1500, DcOne, false, Origin::Client, P1, &[], &[], &[], &[P3]),
            r("2 racks write", two_racks, 1500, DcOne, true, Origin::Client, P1, &[], &[], &[&[P3]], &[]),
            r("2 racks quorum read", two_racks, 1500, DcQuorum, false, Origin::Client, P1, &[(P1, 0), (P3, 0)], &[2], &[], &[]),
            r("2 racks safe write", two_racks, 500, DcSafeQuorum, true, Origin::Client, L, &[(L, 0), (P2, 0)], &[2], &[], &[]),
            r("2 racks each-safe read", two_racks, 500, DcEachSafeQuorum, false, Origin::Client, L, &[(L, 0), (P2, 0)], &[2], &[], &[]),
            // Three racks.
            r("3 racks read", three_racks, 7, DcOne, false, Origin::Client, L, &[], &[], &[], &[P1, P2]),
            r("3 racks write", three_racks, 7, DcOne, true, Origin::Client, L, &[], &[], &[&[P1], &[P2]], &[]),
            r("3 racks quorum", three_racks, 7, DcQuorum, true, Origin::Client, L, &[(L, 0), (P1, 0), (P2, 0)], &[3], &[], &[]),
            r("3 racks safe read", three_racks, 7, DcSafeQuorum, false, Origin::Client, L, &[(L, 0), (P1, 0), (P2, 0)], &[3], &[], &[]),
            r("3 racks each-safe", three_racks, 7, DcEachSafeQuorum, true, Origin::Client, L, &[(L, 0), (P1, 0), (P2, 0)], &[3], &[], &[]),
            // LocalRackOwner: the local owner only, whatever the level.
            r("3 racks rack owner", three_racks, 7, DcSafeQuorum, false, Origin::RackOwner, L, &[], &[], &[], &[]),
            r("3 racks rack owner write", three_racks, 7, DcOne, true, Origin::RackOwner, L, &[], &[], &[], &[]),
            // From a peer: type 3 runs here; type 4 copies writes to the other racks.
            r("peer type 3", three_racks, 7, DcQuorum, true, Origin::Peer, L, &[], &[], &[], &[]),
            r("peer type 3 remote owner", two_racks, 1500, DcOne, true, Origin::Peer, L, &[], &[], &[], &[]),
            r("type 4 write", three_racks, 7, DcSafeQuorum, true, Origin::Forwarded, L, &[], &[], &[&[P1], &[P2]], &[]),
            r("type 4 read", three_racks, 7, DcOne, false, Origin::Forwarded, L, &[], &[], &[], &[]),
            // Two DCs: remote DC gets one forwarded copy of writes, tried on
            // its preselected rack (x1) first, then x2, x3.
            r("2 dcs read", two_dcs, 1500, DcOne, false, Origin::Client, P1, &[], &[], &[], &[P2]),
            r("2 dcs write", two_dcs, 1500, DcOne, true, Origin::Client, P1, &[], &[], &[&[P2], &[F3, F4, F6]], &[]),
            r("2 dcs type 4 write", two_dcs, 1500, DcOne, true, Origin::Forwarded, P1, &[], &[], &[&[P2]], &[]),
            r("2 dcs quorum read", two_dcs, 1500, DcQuorum, false, Origin::Client, P1, &[(P1, 0), (P2, 0)], &[2], &[], &[]),
            r("2 dcs quorum write", two_dcs, 1500, DcQuorum, true, Origin::Client, P1, &[(P1, 0), (P2, 0)], &[2], &[&[F3, F4, F6]], &[]),
            r("2 dcs safe write", two_dcs, 500, DcSafeQuorum, true, Origin::Client, L, &[(L, 0), (P2, 0)], &[2], &[&[F3, F4, F5]], &[]),
            r("2 dcs each-safe read", two_dcs, 500, DcEachSafeQuorum, false, Origin::Client, L,
              &[(L, 0), (P2, 0), (P3, 1), (P4, 1), (P5, 1)], &[2, 3], &[], &[]),
            r("2 dcs each-safe write", two_dcs, 500, DcEachSafeQuorum, true, Origin::Client, L,
              &[(L, 0), (P2, 0), (P3, 1), (P4, 1), (P5, 1)], &[2, 3], &[], &[]),
            r("2 dcs rack owner", two_dcs, 500, DcEachSafeQuorum, false, Origin::RackOwner, L, &[], &[], &[], &[]),
            // Preselected rack x2 (this node's rack index is 1): x2, x3, x1.
            r("2 dcs preselected write", two_dcs_second_rack, 500, DcOne, true, Origin::Client, L, &[], &[], &[&[P1], &[F3, F4, F2]], &[]),
            r("2 dcs preselected each-safe", two_dcs_second_rack, 500, DcEachSafeQuorum, true, Origin::Client, L,
              &[(L, 0), (P1, 0), (P3, 1), (P4, 1), (P2, 1)], &[2, 3], &[], &[]),
        ]
    }

    #[test]
    fn plans() {
        for row in rows() {
            let topo = (row.topo)();
            let got = plan(&topo, row.hash, row.level, row.write, row.origin);
            let want = (
                row.primary,
                row.counted.to_vec(),
                row.groups.to_vec(),
                orphans(row.orphans),
                row.failover.to_vec(),
            );
            assert_eq!(shape(&got), want, "{}", row.what);
            assert_eq!(got.is_quorum(), !row.counted.is_empty(), "{}", row.what);
            if got.is_quorum() {
                assert_eq!(got.counted[0].0, got.primary, "{}", row.what);
                let total: usize = got.groups.iter().map(|&g| g as usize).sum();
                assert_eq!(total, got.counted.len(), "{}", row.what);
            }
        }
    }

    /// The target choice as the coordinator made it before plans (its
    /// `level_of`, `others`, `remote`, `send_orphan` and failover steps),
    /// kept to check that a plan lists exactly the same copies.
    fn reference(
        topo: &Topology,
        hash: u32,
        level: Consistency,
        write: bool,
        forwarded: bool,
        rack_only: bool,
    ) -> Shape {
        let level = if forwarded || rack_only { DcOne } else { level };
        let local_rack = topo.local_rack;
        let primary = Target::of(topo.local_owner(hash), false);
        let others: Vec<Target> = (0..topo.dcs[0].racks.len())
            .filter(|&r| r != local_rack)
            .map(|r| Target::of(topo.owner(0, r, hash), false))
            .collect();
        let remote_on = !forwarded && !rack_only && (write || level == DcEachSafeQuorum);
        let remote: Vec<Vec<Target>> = if remote_on {
            topo.dcs
                .iter()
                .enumerate()
                .skip(1)
                .map(|(d, dc)| {
                    let n = dc.racks.len();
                    (0..n)
                        .map(|k| (dc.preselected + k) % n)
                        .map(|r| Target::Peer {
                            peer: topo.owner(d, r, hash),
                            forward: true,
                        })
                        .collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut sent = Vec::new();
        let mut failover = Vec::new();
        if level == DcOne || rack_only || forwarded {
            if write && !rack_only {
                for &t in &others {
                    sent.push(vec![t]);
                }
            }
            sent.extend(remote.iter().cloned());
            if !write && !rack_only && !forwarded && !others.is_empty() {
                failover = others;
            }
            return (primary, vec![], vec![], sent, failover);
        }
        let mut targets = vec![(primary, 0u8)];
        targets.extend(others.iter().map(|&t| (t, 0u8)));
        let mut groups = vec![topo.dcs[0].racks.len() as u8];
        if level == DcEachSafeQuorum {
            for (d, racks) in remote.iter().enumerate() {
                groups.push(racks.len() as u8);
                for &t in racks {
                    let Target::Peer { peer, .. } = t else {
                        continue;
                    };
                    targets.push((
                        Target::Peer {
                            peer,
                            forward: false,
                        },
                        (d + 1) as u8,
                    ));
                }
            }
        } else {
            sent.extend(remote.iter().cloned());
        }
        (primary, targets, groups, sent, failover)
    }

    #[test]
    fn plans_match_the_coordinator_before_plans() {
        let topos = [
            one_rack(),
            two_racks(),
            three_racks(),
            two_dcs(),
            two_dcs_second_rack(),
        ];
        let hashes = [
            0,
            7,
            500,
            999,
            1000,
            1001,
            1500,
            2000,
            2500,
            4999,
            5000,
            u32::MAX,
        ];
        for topo in &topos {
            for &hash in &hashes {
                for level in [DcOne, DcQuorum, DcSafeQuorum, DcEachSafeQuorum] {
                    for write in [false, true] {
                        for (origin, forwarded, rack_only) in [
                            (Origin::Client, false, false),
                            (Origin::RackOwner, false, true),
                            (Origin::Forwarded, true, false),
                            // A type 4 request for a rack-owner command.
                            (Origin::RackOwner, true, true),
                        ] {
                            let got = plan(topo, hash, level, write, origin);
                            let want = reference(topo, hash, level, write, forwarded, rack_only);
                            assert_eq!(
                                shape(&got),
                                want,
                                "hash {hash} {level:?} write {write} {origin:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A topology with the peers `down` detected down.
    fn with_down(topo: fn() -> Topology, down: &[u32]) -> Topology {
        let mut t = topo();
        for &d in down {
            t.set_health(PeerId(d), crate::cluster::state::PeerHealth::Down);
        }
        t
    }

    #[test]
    #[rustfmt::skip]
    fn down_peers_are_skipped() {
        use crate::cluster::state::PeerHealth::Suspect;
        // (what, topo, down, hash, level, write, primary, counted, orphans,
        //  failover, undeliverable)
        type Case = (&'static str, fn() -> Topology, &'static [u32], u32, Consistency, bool,
                     Target, &'static [(Target, u8)], &'static [&'static [Target]],
                     &'static [Target], &'static [Target]);
        let cases: &[Case] = &[
            // DC_ONE read: the down owner gives way to the other rack's.
            ("2 racks read, owner down", two_racks, &[1], 1500, DcOne, false, P3, &[], &[], &[], &[]),
            ("2 racks read, replica down", two_racks, &[3], 1500, DcOne, false, P1, &[], &[], &[], &[]),
            ("2 racks read, both down", two_racks, &[1, 3], 1500, DcOne, false, P1, &[], &[], &[], &[]),
            ("3 racks read, one replica down", three_racks, &[1], 7, DcOne, false, L, &[], &[], &[P2], &[]),
            ("local owner never gives way", two_racks, &[2], 500, DcOne, false, L, &[], &[], &[], &[]),
            // DC_ONE write: a copy for a down rack is undeliverable; the
            // primary stays (its error is the client's answer).
            ("2 racks write, copy down", two_racks, &[3], 1500, DcOne, true, P1, &[], &[], &[], &[P3]),
            ("2 racks write, owner down", two_racks, &[1], 1500, DcOne, true, P1, &[], &[&[P3]], &[], &[]),
            ("3 racks write, one down", three_racks, &[2], 7, DcOne, true, L, &[], &[&[P1]], &[], &[P2]),
            // Remote DC: down candidates are skipped; all down: undeliverable.
            ("2 dcs write, preselected down", two_dcs, &[3], 1500, DcOne, true, P1, &[], &[&[P2], &[F4, F6]], &[], &[]),
            ("2 dcs write, remote dc down", two_dcs, &[3, 4, 6], 1500, DcOne, true, P1, &[], &[&[P2]], &[], &[F3]),
            // Quorum: a down replica stays counted (it fails at once).
            ("3 racks quorum, one down", three_racks, &[1], 7, DcQuorum, true, L,
             &[(L, 0), (P1, 0), (P2, 0)], &[], &[], &[]),
        ];
        for &(what, topo, down, hash, level, write, primary, counted, orph, failover, undeliv) in cases {
            let t = with_down(topo, down);
            let got = plan(&t, hash, level, write, Origin::Client);
            assert_eq!(got.primary, primary, "{what}: primary");
            assert_eq!(&*got.counted, counted, "{what}: counted");
            assert_eq!(shape(&got).3, orphans(orph), "{what}: orphans");
            assert_eq!(&*got.failover, failover, "{what}: failover");
            assert_eq!(&*got.undeliverable, undeliv, "{what}: undeliverable");
        }
        // A suspect peer is routed as usual; an operator's DOWN is obeyed
        // whatever was detected.
        let mut t = two_racks();
        t.set_health(PeerId(1), Suspect);
        assert_eq!(plan(&t, 1500, DcOne, false, Origin::Client).primary, P1);
        t.apply(Change::SetState { peer: PeerId(1), state: crate::cluster::state::PeerState::Down })
            .expect("set");
        t.set_health(PeerId(1), crate::cluster::state::PeerHealth::Up);
        assert_eq!(plan(&t, 1500, DcOne, false, Origin::Client).primary, P3);
    }

    #[test]
    fn failover_is_taken_in_order_once() {
        let mut f = Failover::default();
        assert_eq!(f.next_target(), None);
        f.set(&[p(2), p(3)]);
        assert_eq!(f.next_target(), Some(p(2)));
        assert_eq!(f.next_target(), Some(p(3)));
        assert_eq!(f.next_target(), None);
        assert_eq!(f.next_target(), None);
        f.set(&[fw(4)]);
        assert_eq!(f.next_target(), Some(fw(4)));
    }

    #[test]
    fn the_topology_refuses_more_racks_or_dcs_than_a_plan_holds() {
        let racks: Vec<NodeSpec> = (0..=MAX_RACKS)
            .map(|i| peer(&format!("n{i}"), "dc", &format!("r{i}"), &[1], i == 0))
            .collect();
        let mut nodes = racks.into_iter();
        let mut t = Topology::new(nodes.next().expect("this node"));
        let last = nodes.next_back().expect("one too many");
        for n in nodes {
            t.apply(Change::AddNode(n)).expect("within the bound");
        }
        let err = t.apply(Change::AddNode(last)).unwrap_err();
        assert!(err.to_string().contains("racks"), "{err}");
        assert_eq!(t.dcs[0].racks.len(), MAX_RACKS, "nothing changed");
        let dcs: Vec<NodeSpec> = (0..=MAX_DCS)
            .map(|i| peer(&format!("n{i}"), &format!("dc{i}"), "r", &[1], i == 0))
            .collect();
        let mut nodes = dcs.into_iter();
        let mut t = Topology::new(nodes.next().expect("this node"));
        let last = nodes.next_back().expect("one too many");
        for n in nodes {
            t.apply(Change::AddNode(n)).expect("within the bound");
        }
        let err = t.apply(Change::AddNode(last)).unwrap_err();
        assert!(err.to_string().contains("datacenters"), "{err}");
        assert_eq!(t.dcs.len(), MAX_DCS, "nothing changed");
    }

    #[test]
    fn fixed_list_stops_at_capacity() {
        let mut f: Fixed<u8, 2> = Fixed::default();
        assert!(f.push(1));
        assert!(f.push(2));
        assert!(!f.push(3));
        assert_eq!(&*f, &[1, 2]);
        f.clear();
        assert!(f.is_empty());
    }
}
