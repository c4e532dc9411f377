//! Read repair without metadata (not in the original, whose "redis repair"
//! needed metadata keys, spec replication-and-consistency §8): at the
//! quorum levels, a replica whose answer to a single-key read differs from
//! the winning answer gets the winner's value, whatever the key's type.
//!
//! ```text
//!  replicate: a single-key read at a quorum level ─► QuorumState::set_repair
//!             (the rule of response_mgr.rs: a value beats a missing key,
//!              a majority of values beats the others)
//!  quorum_decide ─► repair_decided(parent), before the client's answer:
//!     per DC with a clear winner that is a value
//!       answers that differ ─► repair_start(key, winner's replica, losers)
//!       copies still out    ─► Internal::RepairLate: their answer comes to
//!                              repair_reply, and starts a repair if it differs
//!  repair_start:   DUMP key + PTTL key ──► the winner's replica
//!  both answered:  RESTORE key ttl payload REPLACE ──► each replica that
//!                    answered another value, or answered empty against a
//!                    majority of replicas agreeing on the value
//!                  RESTORE key ttl payload ──► each replica that answered
//!                    empty when the value won without a majority: it fills
//!                    a missing key and leaves a key that exists alone
//!                    (BUSYKEY: the answer was empty for a field or member,
//!                    which the majority may have removed on purpose)
//!                  (a key gone from the winner meanwhile: nothing to copy)
//! ```
//!
//! Every request is the node's own (`Msg::internal`), sent like the warm-up's
//! (cluster/warmup.rs): this node's datastore through `execute_local`, a peer
//! as a type-3 request (a C peer answers too). A repair never delays the
//! client's answer and never deletes: without a tombstone a missing key
//! cannot be told from a lost one, so an empty answer never wins over a
//! value (a key deleted while one replica was away can come back; the
//! original's metadata scheme, `read_repairs_enabled`, is what tells them
//! apart). Tied values (two racks, or no majority) are answered as before
//! and left alone.
//!
//! A value written between the DUMP and a RESTORE can be overwritten on the
//! loser by the older winner's value; the next quorum read repairs it
//! again (the quorum still holds the newer value).

use log::{debug, warn};
use slab::Slab;

use crate::cluster::health::RateLimit;
use crate::cluster::plan::Target;
use crate::cluster::resp::{decode, Value};
use crate::cluster::response_mgr::Verdict;
use crate::core::Context;
use crate::ids::MsgId;
use crate::msg::Internal;
use crate::proto::redis::{Multi, Route, RspInfo};

/// Repairs under way at once; beyond, a divergent read is answered but not
/// repaired (`read_repairs_dropped`).
pub const JOBS_MAX: usize = 1024;

/// Reads whose replicas may differ without any of them being wrong
/// (random members, clocks, memory), never repaired.
const NOT_REPAIRED: &[&str] = &[
    "srandmember",
    "hrandfield",
    "zrandmember",
    "ttl",
    "pttl",
    "expiretime",
    "pexpiretime",
    "object",
    "memory",
    "debug",
    "dump",
];

/// Reads whose answer lists members in an order that differs between
/// replicas holding the same value (a hash table's order depends on the
/// process's seed): compared as sets (`repair_checksum`).
const UNORDERED: &[&str] = &["smembers"];

/// True for an answer that says the key (or what was asked of it) is
/// missing: nil, an empty aggregate, `:0`. `$0` (an empty string) is a
/// value.
pub fn is_empty_reply(info: &RspInfo) -> bool {
    match info.ty {
        b'_' => true,
        b'$' => info.count < 0,
        b'*' | b'%' | b'~' => info.count <= 0,
        b':' => info.integer == 0,
        _ => false,
    }
}

/// A replica to repair.
#[derive(Debug, Clone, Copy, Default)]
pub struct Loser {
    pub to: Target,
    /// RESTORE … REPLACE: it answered another value, or a majority agreed
    /// on the winner; else RESTORE without REPLACE (it answered empty and
    /// the winner had no majority).
    pub replace: bool,
}

/// One repair: the winner's value read back, then written to the losers.
#[derive(Debug)]
struct Job {
    key: Vec<u8>,
    /// Replicas to write it to.
    losers: Vec<Loser>,
    /// DUMP's answer: `Some(None)` when it failed or the key was gone.
    payload: Option<Option<Vec<u8>>>,
    /// PTTL's answer.
    pttl: Option<i64>,
    /// DUMP or PTTL failed.
    failed: bool,
    /// Requests of this job still out.
    outstanding: u32,
    /// An anti-entropy repair (cluster/entropy.rs): counted there, not
    /// in the read repair counters.
    entropy: bool,
}

/// Read repairs under way.
#[derive(Debug, Default)]
pub struct Repairs {
    /// `quorum_read_repair` (default true).
    pub enabled: bool,
    jobs: Slab<Job>,
    /// One warning a second about failed repairs.
    log: RateLimit,
}

impl Repairs {
    /// Read repair at the quorum levels, on (`quorum_read_repair`) or off.
    pub fn new(enabled: bool) -> Repairs {
        Repairs {
            enabled,
            ..Repairs::default()
        }
    }
}

impl Context {
    /// True when a read runs under read repair's rule at a quorum level:
    /// Redis, one key, not a command whose replicas may differ by nature.
    pub(crate) fn repair_applies(&self, mid: MsgId) -> bool {
        if self.settings.memcache || !self.repair.enabled {
            return false;
        }
        let m = &self.msgs[mid];
        let Some(cmd) = m.cmd else {
            return false;
        };
        !cmd.write
            && m.internal.is_none()
            && cmd.route == Route::Key
            && cmd.multi == Multi::None
            && cmd.first_key > 0
            && cmd.last_key == cmd.first_key
            && (cmd.first_key as usize) < m.req.args.len()
            && !NOT_REPAIRED.contains(&cmd.name)
    }

    /// The checksum by which read repair compares the answers `rsp` to
    /// request `req`: the reply's bytes, or for the members of a set
    /// (`UNORDERED`) a sum over its elements, whatever their order.
    pub(crate) fn repair_checksum(&self, req: MsgId, rsp: MsgId) -> u32 {
        let unordered = self.msgs[req]
            .cmd
            .is_some_and(|c| UNORDERED.contains(&c.name));
        let r = &self.msgs[rsp];
        let whole = r.rsp.elems.len() as i64 == r.rsp.count;
        if !unordered || !matches!(r.rsp.ty, b'*' | b'~') || !whole {
            return self.reply_checksum(rsp);
        }
        let mut sum = r.rsp.count as u32;
        for &(a, b) in &r.rsp.elems {
            let mut crc = !0u32;
            for part in crate::mbuf::seg_ranges(&r.segs, a, b - a) {
                crc = crate::hashkit::crc32::crc32_update(crc, self.mbufs.bytes(part));
            }
            sum = sum.wrapping_add(!crc);
        }
        sum
    }

    /// A quorum read under read repair's rule is decided: repair the
    /// replicas that answered otherwise, and keep the copies still out
    /// (their answers come to `repair_reply`). Runs before the parent's
    /// children are released.
    pub(crate) fn repair_decided(&mut self, parent: MsgId) {
        let fp = &self.msgs[parent].frag;
        let Some(q) = fp.quorum.as_ref() else {
            return;
        };
        let mut late = [(MsgId(0), Internal::RepairDump(0)); crate::cluster::plan::MAX_COUNTED];
        let mut nlate = 0;
        let mut losers = [Loser::default(); crate::cluster::plan::MAX_COUNTED];
        let mut jobs = [(Target::Local, 0usize, 0usize); crate::cluster::plan::MAX_DCS];
        let mut njobs = 0;
        for (g, mgr) in q.mgrs.iter().enumerate() {
            let (Some(sum), Verdict::Reply(w)) = (mgr.repair_winner(), mgr.verdict()) else {
                continue;
            };
            let source = q.targets[q.child_at(g, w) as usize];
            let majority = mgr.agreed();
            let first = njobs_losers(&jobs[..njobs]);
            let mut n = first;
            for i in mgr.good_answers() {
                if mgr.checksum_of(i) != Some(sum) {
                    losers[n] = Loser {
                        to: q.targets[q.child_at(g, i) as usize],
                        replace: majority || !mgr.is_empty(i),
                    };
                    n += 1;
                }
            }
            if n > first {
                jobs[njobs] = (source, first, n);
                njobs += 1;
            }
            for (c, &cg) in q.child_mgr[..fp.frags.len()].iter().enumerate() {
                let child = fp.frags[c];
                if cg as usize == g && !self.msgs[child].done {
                    // Answers are still out only after a majority agreed
                    // (an empty majority waits for every answer).
                    debug_assert!(majority);
                    let tag = Internal::RepairLate {
                        sum,
                        source,
                        to: q.targets[c],
                    };
                    late[nlate] = (child, tag);
                    nlate += 1;
                }
            }
        }
        for &(child, tag) in &late[..nlate] {
            self.msgs[child].internal = Some(tag);
        }
        if njobs == 0 {
            return;
        }
        let k = self.msgs[parent].cmd.map_or(1, |c| c.first_key.max(1)) as usize;
        let key = self.arg_vec(parent, k);
        for &(source, a, b) in &jobs[..njobs] {
            self.stats.faults.read_repair_divergent += (b - a) as u64;
            self.repair_start(key.clone(), source, &losers[a..b], false);
        }
    }

    /// Room for another repair job (anti-entropy waits for it rather than
    /// dropping a repair).
    pub(crate) fn repair_room(&self) -> bool {
        self.repair.jobs.len() < JOBS_MAX
    }

    /// Reads the winner's value from `source` to write it to `losers`;
    /// `entropy` for an anti-entropy repair. False when the jobs are full.
    pub(crate) fn repair_start(
        &mut self,
        key: Vec<u8>,
        source: Target,
        losers: &[Loser],
        entropy: bool,
    ) -> bool {
        debug_assert!(!losers.is_empty());
        if self.repair.jobs.len() >= JOBS_MAX {
            if entropy {
                self.entropy.run.repairs_failed += losers.len() as u64;
            } else {
                self.stats.faults.read_repairs_dropped += losers.len() as u64;
            }
            return false;
        }
        debug!(
            "read repair of {:?}: {} replicas differ from {:?}",
            String::from_utf8_lossy(&key),
            losers.len(),
            source
        );
        let n = self.repair.jobs.insert(Job {
            key,
            losers: losers.to_vec(),
            payload: None,
            pttl: None,
            failed: false,
            outstanding: 2,
            entropy,
        }) as u32;
        let key = std::mem::take(&mut self.repair.jobs[n as usize].key);
        let d = self.internal_request(&[b"DUMP", &key], Internal::RepairDump(n));
        let p = self.internal_request(&[b"PTTL", &key], Internal::RepairPttl(n));
        self.repair.jobs[n as usize].key = key;
        self.repair_send(d, source);
        self.repair_send(p, source);
        true
    }

    /// Sends one of read repair's requests; one that cannot be sent fails
    /// at once (its error comes back through `repair_reply`).
    fn repair_send(&mut self, mid: MsgId, to: Target) {
        match to {
            Target::Local => self.execute_local(mid),
            Target::Peer { peer, .. } => {
                if let Err(why) = self.peer_forward(mid, peer, false) {
                    self.reply_error(mid, why.error());
                }
            }
        }
    }

    /// The answer to one of read repair's requests (both are freed here).
    pub(crate) fn repair_reply(&mut self, req: MsgId, rsp: MsgId, tag: Internal) {
        debug_assert!(tag.is_repair());
        // A late copy: compared with the winner, its key read from it.
        let late = match tag {
            Internal::RepairLate { sum, source, to } => {
                let r = &self.msgs[rsp];
                let is_err = matches!(r.rsp.ty, b'-' | b'!') || r.generated;
                let differs = !is_err && self.repair_checksum(req, rsp) != sum;
                let k = self.msgs[req].cmd.map_or(1, |c| c.first_key.max(1)) as usize;
                let key =
                    (differs && k < self.msgs[req].req.args.len()).then(|| self.arg_vec(req, k));
                // A late answer: a majority agreed on the winner.
                let replace = true;
                key.map(|key| (key, source, Loser { to, replace }))
            }
            _ => None,
        };
        let mut bytes = Vec::new();
        if !matches!(tag, Internal::RepairLate { .. }) {
            let r = &self.msgs[rsp];
            self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        }
        self.msgs[req].peer = None;
        self.msgs.put(&mut self.mbufs, rsp);
        self.msgs[req].done = true;
        self.try_free(req);
        match tag {
            Internal::RepairLate { .. } => {
                if let Some((key, source, loser)) = late {
                    self.stats.faults.read_repair_divergent += 1;
                    self.repair_start(key, source, &[loser], false);
                }
            }
            Internal::RepairDump(n) | Internal::RepairPttl(n) => {
                self.repair_fetched(n, tag, decode(&bytes))
            }
            Internal::RepairRestore(n) => self.repair_restored(n, decode(&bytes)),
            _ => {}
        }
    }

    /// DUMP or PTTL answered: once both are in, RESTORE on every loser.
    fn repair_fetched(&mut self, n: u32, tag: Internal, v: Option<Value>) {
        let Some(job) = self.repair.jobs.get_mut(n as usize) else {
            return;
        };
        job.outstanding = job.outstanding.saturating_sub(1);
        match (tag, v) {
            (Internal::RepairDump(_), Some(Value::Bulk(b))) => job.payload = Some(b),
            (Internal::RepairPttl(_), Some(Value::Int(t))) => job.pttl = Some(t),
            (Internal::RepairDump(_), other) => {
                job.payload = Some(None);
                job.failed = true;
                self.repair_warn("DUMP", other);
            }
            (_, other) => {
                job.pttl = Some(-2);
                job.failed = true;
                self.repair_warn("PTTL", other);
            }
        }
        let job = &self.repair.jobs[n as usize];
        let (Some(payload), Some(pttl)) = (&job.payload, job.pttl) else {
            return;
        };
        let payload = match payload {
            Some(p) if pttl >= -1 && !job.failed => p.clone(),
            _ => {
                // Failed, or the key is gone from the winner (deleted or
                // expired since): nothing to copy.
                if job.failed && job.entropy {
                    self.entropy.run.repairs_failed += job.losers.len() as u64;
                } else if job.failed {
                    self.stats.faults.read_repairs_failed += job.losers.len() as u64;
                } else if job.entropy {
                    self.entropy.run.repairs_gone += job.losers.len() as u64;
                }
                self.repair_finish(n);
                return;
            }
        };
        let ttl = pttl.max(0).to_string();
        let job = &mut self.repair.jobs[n as usize];
        let losers = std::mem::take(&mut job.losers);
        let key = std::mem::take(&mut job.key);
        job.outstanding += losers.len() as u32;
        let entropy = job.entropy;
        let mut reqs = Vec::with_capacity(losers.len());
        for l in &losers {
            let restore = [&b"RESTORE"[..], &key, ttl.as_bytes(), &payload, b"REPLACE"];
            let args = if l.replace {
                &restore[..]
            } else {
                &restore[..4]
            };
            reqs.push(self.internal_request(args, Internal::RepairRestore(n)));
        }
        if entropy {
            self.entropy.run.repairs_sent += losers.len() as u64;
        } else {
            self.stats.faults.read_repairs_sent += losers.len() as u64;
        }
        for (mid, l) in reqs.into_iter().zip(losers) {
            self.repair_send(mid, l.to);
        }
        self.repair_finish(n);
    }

    /// RESTORE answered.
    fn repair_restored(&mut self, n: u32, v: Option<Value>) {
        let Some(job) = self.repair.jobs.get_mut(n as usize) else {
            return;
        };
        job.outstanding = job.outstanding.saturating_sub(1);
        let (e, f) = (&mut self.entropy, &mut self.stats.faults);
        let (ok, kept, failed) = if job.entropy {
            (
                &mut e.run.repairs_ok,
                &mut e.run.repairs_kept,
                &mut e.run.repairs_failed,
            )
        } else {
            (
                &mut f.read_repairs_ok,
                &mut f.read_repairs_kept,
                &mut f.read_repairs_failed,
            )
        };
        match v {
            Some(Value::Simple(_)) => *ok += 1,
            // A replica that answered empty holds the key: left alone.
            Some(Value::Error(e)) if e.starts_with(b"BUSYKEY") => *kept += 1,
            other => {
                *failed += 1;
                self.repair_warn("RESTORE", other);
            }
        }
        self.repair_finish(n);
    }

    /// Forgets job `n` once nothing of it is out.
    fn repair_finish(&mut self, n: u32) {
        if self
            .repair
            .jobs
            .get(n as usize)
            .is_some_and(|j| j.outstanding == 0)
        {
            self.repair.jobs.remove(n as usize);
        }
    }

    /// Logs a failed repair step (one line a second at most).
    fn repair_warn(&mut self, what: &str, answer: Option<Value>) {
        if let Some(held) = self.repair.log.allow(self.now) {
            let text = match answer {
                Some(Value::Error(e)) => String::from_utf8_lossy(&e).into_owned(),
                other => format!("{other:?}"),
            };
            warn!("read repair: {what} answered {text} ({held} more failures not logged)");
        }
    }

    /// Repairs under way (tests).
    #[cfg(test)]
    pub(crate) fn repairs_in_flight(&self) -> usize {
        self.repair.jobs.len()
    }
}

/// The number of losers listed by the jobs made so far (each job's losers
/// follow the previous job's).
fn njobs_losers(jobs: &[(Target, usize, usize)]) -> usize {
    jobs.last().map_or(0, |&(_, _, b)| b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(ty: u8, count: i64, integer: i64) -> RspInfo {
        RspInfo {
            ty,
            count,
            integer,
            ..RspInfo::default()
        }
    }

    #[test]
    fn empty_answers() {
        assert!(is_empty_reply(&info(b'$', -1, 0)));
        assert!(is_empty_reply(&info(b'_', -1, 0)));
        assert!(is_empty_reply(&info(b'*', 0, 0)));
        assert!(is_empty_reply(&info(b'*', -1, 0)));
        assert!(is_empty_reply(&info(b'%', 0, 0)));
        assert!(is_empty_reply(&info(b'~', 0, 0)));
        assert!(is_empty_reply(&info(b':', 0, 0)));
        assert!(
            !is_empty_reply(&info(b'$', 0, 0)),
            "an empty string is a value"
        );
        assert!(!is_empty_reply(&info(b'$', 3, 0)));
        assert!(!is_empty_reply(&info(b'*', 2, 0)));
        assert!(!is_empty_reply(&info(b':', 0, 1)));
        assert!(!is_empty_reply(&info(b'+', 0, 0)));
        assert!(!is_empty_reply(&info(b'-', 0, 0)));
    }
}
