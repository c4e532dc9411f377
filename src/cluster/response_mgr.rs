//! Quorum decisions (dyn_response_mgr.c): collect the answers of one DC's
//! replicas and decide when the client gets which one.
//!
//! ```text
//!  answer ─► add(is_error, checksum) ─► Wait | Reply(i) | Error(i) | NoQuorum
//! ```
//!
//! Departures from the original, as users expect them: up to
//! [`MAX_RACKS`] racks (not three at most); one good answer with a quorum of
//! one is a reply at every level; checksums compare the bytes exactly (no
//! lower-casing).
//!
//! Read repair (cluster/repair.rs) decides by its own rule, where a value
//! beats a missing key ([`RspMgr::set_repair`]):
//!
//! ```text
//!  answers (good ones grouped by checksum; "empty" = nil, empty aggregate, :0)
//!  a value group reaches the quorum            ─► Reply(it), clear winner
//!  an empty group reaches the quorum, answers
//!    still out                                 ─► Wait (one may hold the key)
//!  too few good answers possible               ─► Error / NoQuorum, as above
//!  every answer in: one largest value group    ─► Reply(it), clear winner
//!                   values tied                ─► DC_QUORUM: first value, no
//!                                                 repair; SAFE: NoQuorum
//!                   empties only               ─► the empty group (quorum),
//!                                                 else as without repair
//! ```
//!
//! A clear winner that is a value is what repair copies to every replica
//! that answered something else. An empty answer never wins over a value
//! (there is no tombstone to tell a delete from a lost key).
//!
//! A quorum request keeps a [`QuorumState`]: one manager per DC taking part
//! and the arrival order of its children's answers, in fixed arrays (no heap
//! per request; the state is boxed once per pooled message and reused).

use crate::cluster::plan::{Fixed, Target, MAX_COUNTED, MAX_DCS, MAX_RACKS};
use crate::conf::Consistency;

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// More answers are needed.
    Wait,
    /// Done: the answer with this arrival index is the reply.
    Reply(usize),
    /// Done: quorum is impossible; the first error answer (this arrival
    /// index) is the reply.
    Error(usize),
    /// Done: every answer is in and not enough of them agree
    /// (`Dynomite: Failed to achieve Quorum`).
    NoQuorum,
}

impl Verdict {
    /// True once the decision is taken.
    pub fn is_done(self) -> bool {
        self != Verdict::Wait
    }
}

/// The answers of one DC for one request.
#[derive(Debug, Clone, Copy)]
pub struct RspMgr {
    /// Answers expected (racks of the DC). Counts and indices are small
    /// (at most `MAX_RACKS`) and kept in bytes: a quorum state holds one
    /// manager per DC.
    max: u8,
    quorum: u8,
    /// DC_QUORUM returns the first good answer when answers disagree; the
    /// SAFE levels return the quorum error.
    safe: bool,
    /// (arrival index, checksum) of the good answers (at most one per rack).
    good: Fixed<(u8, u32), MAX_RACKS>,
    /// Arrival index of the first error answer.
    first_error: Option<u8>,
    errors: u8,
    /// Answers seen.
    seen: u8,
    verdict: Verdict,
    /// Read repair's rule decides (see the module comment).
    repair: bool,
    /// Bit per arrival index: the answer was empty (nil, empty aggregate,
    /// `:0`).
    empty: u16,
    /// The decision is a clear winner (repair's rule only).
    clear: bool,
}

const _: () = assert!(MAX_RACKS <= 16, "RspMgr::empty holds a bit per rack");

impl RspMgr {
    /// A manager for `racks` replicas at `level`.
    pub fn new(racks: usize, level: Consistency) -> RspMgr {
        debug_assert!(racks > 0);
        debug_assert!(racks <= MAX_RACKS);
        RspMgr {
            max: racks as u8,
            quorum: (racks / 2 + 1) as u8,
            safe: level != Consistency::DcQuorum,
            good: Fixed::default(),
            first_error: None,
            errors: 0,
            seen: 0,
            verdict: Verdict::Wait,
            repair: false,
            empty: 0,
            clear: false,
        }
    }

    /// Decides by read repair's rule from now on (before any answer).
    pub fn set_repair(&mut self, on: bool) {
        debug_assert_eq!(self.seen, 0);
        self.repair = on;
    }

    /// True when read repair's rule decides.
    pub fn repairs(&self) -> bool {
        self.repair
    }

    /// The checksum of the winning answer when read repair should copy it
    /// to the replicas that answered otherwise: a clear winner that is a
    /// value (an empty winner is never written over a value).
    pub fn repair_winner(&self) -> Option<u32> {
        let Verdict::Reply(idx) = self.verdict else {
            return None;
        };
        if !self.repair || !self.clear || self.is_empty(idx) {
            return None;
        }
        self.checksum_of(idx)
    }

    /// The checksum of good answer `idx` (arrival index).
    pub fn checksum_of(&self, idx: usize) -> Option<u32> {
        self.good
            .iter()
            .find(|&&(i, _)| i as usize == idx)
            .map(|&(_, s)| s)
    }

    /// True when the good answers so far are not all equal.
    pub fn diverged(&self) -> bool {
        let mut sums = self.good.iter().map(|&(_, s)| s);
        let first = sums.next();
        sums.any(|s| Some(s) != first)
    }

    /// Answers still expected.
    pub fn pending(&self) -> usize {
        (self.max as usize).saturating_sub(self.seen as usize)
    }

    /// True when answer `idx` (arrival index) was empty.
    pub fn is_empty(&self, idx: usize) -> bool {
        idx < 16 && self.empty & (1 << idx) != 0
    }

    /// The decision so far.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// True when the decision is a group of equal answers that reached the
    /// quorum (not a fallback after disagreement).
    pub fn agreed(&self) -> bool {
        match self.verdict {
            Verdict::Reply(idx) => {
                let sum = self
                    .good
                    .iter()
                    .find(|&&(i, _)| i as usize == idx)
                    .map(|&(_, s)| s);
                self.good.iter().filter(|&&(_, s)| Some(s) == sum).count() >= self.quorum()
            }
            _ => false,
        }
    }

    /// Arrival indices of the good answers.
    pub fn good_answers(&self) -> impl Iterator<Item = usize> + '_ {
        self.good.iter().map(|&(i, _)| i as usize)
    }

    /// Replicas needed to agree.
    pub fn quorum(&self) -> usize {
        self.quorum as usize
    }

    /// True at the SAFE levels (disagreement is an error).
    pub fn is_safe(&self) -> bool {
        self.safe
    }

    /// Adds an answer; returns its arrival index and the decision.
    pub fn add(&mut self, is_error: bool, checksum: u32) -> (usize, Verdict) {
        self.add_answer(is_error, false, checksum)
    }

    /// Adds an answer that may be `empty` (nil, empty aggregate, `:0`);
    /// returns its arrival index and the decision.
    pub fn add_answer(&mut self, is_error: bool, empty: bool, checksum: u32) -> (usize, Verdict) {
        let idx = self.seen;
        self.seen = self.seen.saturating_add(1);
        if self.verdict.is_done() {
            return (idx as usize, self.verdict);
        }
        if is_error {
            self.errors += 1;
            self.first_error.get_or_insert(idx);
        } else {
            let pushed = self.good.push((idx, checksum));
            debug_assert!(pushed, "more answers than racks");
            if empty && (idx as usize) < 16 {
                self.empty |= 1 << idx;
            }
        }
        if self.repair {
            (self.verdict, self.clear) = self.decide_repair();
        } else {
            self.verdict = self.decide();
        }
        (idx as usize, self.verdict)
    }

    /// Read repair's rule (module comment): the verdict, and whether it is
    /// a clear winner.
    fn decide_repair(&self) -> (Verdict, bool) {
        let good = self.good.len();
        let quorum = self.quorum();
        let pending = (self.max as usize).saturating_sub(good + self.errors as usize);
        // The largest group of equal values (n, first arrival), whether
        // another value group is as large, and the largest empty group.
        let mut best_value: Option<(usize, usize)> = None;
        let mut tie = false;
        let mut best_empty: Option<(usize, usize)> = None;
        for (i, &(idx, sum)) in self.good.iter().enumerate() {
            if self.good[..i].iter().any(|&(_, s)| s == sum) {
                continue;
            }
            let n = self.good.iter().filter(|&&(_, s)| s == sum).count();
            let idx = idx as usize;
            if self.is_empty(idx) {
                if best_empty.is_none_or(|(bn, _)| n > bn) {
                    best_empty = Some((n, idx));
                }
                continue;
            }
            match best_value {
                Some((bn, _)) if n < bn => {}
                Some((bn, _)) if n == bn => tie = true,
                _ => {
                    best_value = Some((n, idx));
                    tie = false;
                }
            }
        }
        if let Some((n, idx)) = best_value {
            if n >= quorum {
                return (Verdict::Reply(idx), true);
            }
        }
        if good + pending < quorum {
            return match self.first_error {
                Some(e) if good < quorum => (Verdict::Error(e as usize), false),
                _ => (Verdict::NoQuorum, false),
            };
        }
        if pending > 0 {
            return (Verdict::Wait, false);
        }
        match (best_value, best_empty) {
            (Some((_, idx)), _) if !tie => (Verdict::Reply(idx), true),
            (Some((_, idx)), _) if !self.safe => (Verdict::Reply(idx), false),
            (None, Some((n, idx))) if n >= quorum => (Verdict::Reply(idx), true),
            (None, _) if !self.safe => (Verdict::Reply(self.good[0].0 as usize), false),
            _ => (Verdict::NoQuorum, false),
        }
    }

    fn decide(&self) -> Verdict {
        let good = self.good.len();
        let quorum = self.quorum();
        let pending = (self.max as usize).saturating_sub(good + self.errors as usize);
        // The largest group of equal answers, and its first member.
        let mut best: Option<(usize, usize)> = None;
        for (i, &(idx, sum)) in self.good.iter().enumerate() {
            if self.good[..i].iter().any(|&(_, s)| s == sum) {
                continue;
            }
            let n = self.good.iter().filter(|&&(_, s)| s == sum).count();
            if best.is_none_or(|(bn, _)| n > bn) {
                best = Some((n, idx as usize));
            }
        }
        if let Some((n, idx)) = best {
            if n >= quorum {
                return Verdict::Reply(idx);
            }
        }
        if good + pending < quorum {
            return match self.first_error {
                Some(e) if good < quorum => Verdict::Error(e as usize),
                _ => Verdict::NoQuorum,
            };
        }
        if pending > 0 {
            return Verdict::Wait;
        }
        // Every answer is in, enough are good, but they disagree.
        if self.safe {
            Verdict::NoQuorum
        } else {
            Verdict::Reply(self.good[0].0 as usize)
        }
    }
}

impl Default for RspMgr {
    fn default() -> RspMgr {
        RspMgr::new(1, Consistency::DcQuorum)
    }
}

/// Which child answers a quorum parent, once every DC has decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The reply of this child.
    Child(u32),
    /// `Dynomite: Failed to achieve Quorum`.
    NoQuorum,
}

/// The quorum bookkeeping of one parent (dyn_response_mgr.c's `rspmgr`
/// array of a request, one per DC).
#[derive(Debug, Clone)]
pub struct QuorumState {
    /// One manager per DC taking part, the local DC first.
    pub mgrs: Fixed<RspMgr, MAX_DCS>,
    /// Per manager: child indices in arrival order.
    pub arrivals: [Fixed<u8, MAX_RACKS>; MAX_DCS],
    /// Per child: its manager.
    pub child_mgr: [u8; MAX_COUNTED],
    /// Per child: the replica it was sent to (read repair's sources and
    /// destinations).
    pub targets: [Target; MAX_COUNTED],
}

impl Default for QuorumState {
    fn default() -> QuorumState {
        QuorumState {
            mgrs: Fixed::default(),
            arrivals: [Fixed::default(); MAX_DCS],
            child_mgr: [0; MAX_COUNTED],
            targets: [Target::Local; MAX_COUNTED],
        }
    }
}

impl QuorumState {
    /// Starts over: one manager per group of `groups` (its replica count),
    /// and child `i` counted by manager `child_groups[i]`.
    pub fn init(
        &mut self,
        level: Consistency,
        groups: &[u8],
        child_groups: impl Iterator<Item = u8>,
    ) {
        debug_assert!(!groups.is_empty());
        self.mgrs.clear();
        for (g, &n) in groups.iter().enumerate() {
            self.mgrs.push(RspMgr::new(n as usize, level));
            self.arrivals[g].clear();
        }
        for (i, g) in child_groups.enumerate() {
            debug_assert!((g as usize) < groups.len());
            self.child_mgr[i] = g;
        }
    }

    /// Child `idx` answered (an error or not, and its reply's checksum).
    pub fn record(&mut self, idx: u32, is_error: bool, checksum: u32) {
        self.record_answer(idx, is_error, false, checksum);
    }

    /// Child `idx` answered; `empty` marks a nil or empty answer (read
    /// repair's rule tells it from a value).
    pub fn record_answer(&mut self, idx: u32, is_error: bool, empty: bool, checksum: u32) {
        let g = self.child_mgr[idx as usize] as usize;
        let pushed = self.arrivals[g].push(idx as u8);
        debug_assert!(pushed, "more answers than replicas");
        self.mgrs[g].add_answer(is_error, empty, checksum);
    }

    /// Read repair's rule decides every DC's answer (set after `init`).
    pub fn set_repair(&mut self, on: bool) {
        for m in self.mgrs.iter_mut() {
            m.set_repair(on);
        }
    }

    /// True when read repair's rule decides.
    pub fn repairs(&self) -> bool {
        self.mgrs.first().is_some_and(|m| m.repairs())
    }

    /// True once every DC has decided.
    pub fn all_done(&self) -> bool {
        self.mgrs.iter().all(|m| m.verdict().is_done())
    }

    /// The child whose arrival index `i` is in manager `g`.
    pub fn child_at(&self, g: usize, i: usize) -> u32 {
        self.arrivals[g][i] as u32
    }

    /// The answer once every DC has decided: the local DC's, unless another
    /// DC failed (its error answer, or no quorum).
    pub fn pick(&self) -> Pick {
        debug_assert!(self.all_done());
        let mut chosen = Pick::NoQuorum;
        for (g, mgr) in self.mgrs.iter().enumerate() {
            let pick = match mgr.verdict() {
                Verdict::Reply(i) => Ok(self.child_at(g, i)),
                Verdict::Error(i) => Err(Some(self.child_at(g, i))),
                Verdict::NoQuorum => Err(None),
                Verdict::Wait => unreachable!("all decided"),
            };
            match (g, pick) {
                (0, Ok(c)) => chosen = Pick::Child(c),
                (_, Err(Some(c))) => return Pick::Child(c),
                (_, Err(None)) => return Pick::NoQuorum,
                _ => {}
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Consistency::*;

    fn run(racks: usize, level: Consistency, answers: &[(bool, u32)]) -> Vec<Verdict> {
        let mut m = RspMgr::new(racks, level);
        answers.iter().map(|&(e, c)| m.add(e, c).1).collect()
    }

    #[test]
    fn decisions() {
        use Verdict::*;
        // One rack: one good answer is enough at every level.
        for level in [DcQuorum, DcSafeQuorum, DcEachSafeQuorum] {
            assert_eq!(run(1, level, &[(false, 7)]), [Reply(0)]);
            assert_eq!(run(1, level, &[(true, 0)]), [Error(0)]);
        }
        // Two racks: both must agree.
        assert_eq!(
            run(2, DcQuorum, &[(false, 1), (false, 1)]),
            [Wait, Reply(0)]
        );
        assert_eq!(run(2, DcQuorum, &[(false, 1), (true, 0)]), [Wait, Error(1)]);
        assert_eq!(
            run(2, DcQuorum, &[(false, 1), (false, 2)]),
            [Wait, Reply(0)]
        );
        assert_eq!(
            run(2, DcSafeQuorum, &[(false, 1), (false, 2)]),
            [Wait, NoQuorum]
        );
        // Three racks: any two.
        assert_eq!(
            run(3, DcSafeQuorum, &[(false, 1), (false, 1)]),
            [Wait, Reply(0)]
        );
        assert_eq!(
            run(3, DcSafeQuorum, &[(false, 1), (false, 2), (false, 2)]),
            [Wait, Wait, Reply(1)]
        );
        assert_eq!(
            run(3, DcSafeQuorum, &[(true, 0), (false, 3), (false, 3)]),
            [Wait, Wait, Reply(1)]
        );
        assert_eq!(
            run(3, DcSafeQuorum, &[(true, 0), (true, 0)]),
            [Wait, Error(0)]
        );
        assert_eq!(
            run(3, DcSafeQuorum, &[(false, 1), (true, 0), (false, 2)]),
            [Wait, Wait, NoQuorum]
        );
        assert_eq!(
            run(3, DcQuorum, &[(false, 1), (true, 0), (false, 2)]),
            [Wait, Wait, Reply(0)]
        );
        // Five racks: quorum three.
        assert_eq!(
            run(
                5,
                DcSafeQuorum,
                &[(false, 1), (false, 1), (false, 2), (false, 1)]
            ),
            [Wait, Wait, Wait, Reply(0)]
        );
        assert_eq!(
            run(
                5,
                DcSafeQuorum,
                &[(true, 0), (true, 0), (false, 1), (true, 0)]
            ),
            [Wait, Wait, Wait, Error(0)]
        );
    }

    /// An answer for read repair's rule: an error, an empty answer, or a
    /// value (by checksum).
    #[derive(Clone, Copy)]
    enum A {
        Err,
        Nil,
        V(u32),
    }

    /// Racks, level, answers, verdicts, winner to copy.
    type Row = (
        usize,
        Consistency,
        &'static [A],
        &'static [Verdict],
        Option<u32>,
    );

    /// Runs read repair's rule; returns each verdict and, at the end, the
    /// checksum repair would copy (values are their checksums).
    fn run_repair(racks: usize, level: Consistency, answers: &[A]) -> (Vec<Verdict>, Option<u32>) {
        let mut m = RspMgr::new(racks, level);
        m.set_repair(true);
        let v = answers
            .iter()
            .map(|&a| match a {
                A::Err => m.add_answer(true, false, 0).1,
                A::Nil => m.add_answer(false, true, 0).1,
                A::V(c) => m.add_answer(false, false, c).1,
            })
            .collect();
        (v, m.repair_winner())
    }

    #[test]
    fn the_winner_table_of_read_repair() {
        use Verdict::*;
        use A::*;
        let q = DcQuorum;
        let s = DcSafeQuorum;
        #[rustfmt::skip]
        let table: &[Row] = &[
            // Agreement: no repair needed (the winner is the value itself).
            (3, q, &[V(1), V(1)], &[Wait, Reply(0)], Some(1)),
            (2, q, &[V(1), V(1)], &[Wait, Reply(0)], Some(1)),
            // A majority of values wins, the odd one is repaired.
            (3, q, &[V(1), V(2), V(1)], &[Wait, Wait, Reply(0)], Some(1)),
            (3, s, &[V(2), V(1), V(1)], &[Wait, Wait, Reply(1)], Some(1)),
            // A replica restarted empty: the value wins, even from one
            // replica against two empties.
            (3, q, &[Nil, V(1), V(1)], &[Wait, Wait, Reply(1)], Some(1)),
            (3, q, &[V(1), Nil, Nil], &[Wait, Wait, Reply(0)], Some(1)),
            (3, s, &[Nil, Nil, V(1)], &[Wait, Wait, Reply(2)], Some(1)),
            (2, q, &[Nil, V(1)], &[Wait, Reply(1)], Some(1)),
            (2, s, &[V(1), Nil], &[Wait, Reply(0)], Some(1)),
            // One replica failed: the value of the other two still wins.
            (3, q, &[Err, Nil, V(1)], &[Wait, Wait, Reply(2)], Some(1)),
            (3, s, &[V(1), Err, Nil], &[Wait, Wait, Reply(0)], Some(1)),
            // Everybody empty: empty, nothing to repair.
            (3, q, &[Nil, Nil, Nil], &[Wait, Wait, Reply(0)], None),
            (2, s, &[Nil, Nil], &[Wait, Reply(0)], None),
            (3, q, &[Nil, Err, Nil], &[Wait, Wait, Reply(0)], None),
            // Tied values: no winner to copy; DC_QUORUM answers the first
            // value, the SAFE levels fail.
            (2, q, &[V(1), V(2)], &[Wait, Reply(0)], None),
            (2, s, &[V(1), V(2)], &[Wait, NoQuorum], None),
            (3, q, &[Nil, V(1), V(2)], &[Wait, Wait, Reply(1)], None),
            (3, s, &[V(1), Nil, V(2)], &[Wait, Wait, NoQuorum], None),
            (3, q, &[V(1), V(2), V(3)], &[Wait, Wait, Reply(0)], None),
            // Too many failures: the error, never an empty answer.
            (2, q, &[V(1), Err], &[Wait, Error(1)], None),
            (2, q, &[Nil, Err], &[Wait, Error(1)], None),
            (3, s, &[Err, V(1), Err], &[Wait, Wait, Error(0)], None),
            // Five racks: quorum three.
            (5, s, &[Nil, Nil, Nil, V(4), V(4)], &[Wait, Wait, Wait, Wait, Reply(3)], Some(4)),
            (5, q, &[V(4), V(4), V(4)], &[Wait, Wait, Reply(0)], Some(4)),
        ];
        for (i, &(racks, level, answers, verdicts, winner)) in table.iter().enumerate() {
            let (got, w) = run_repair(racks, level, answers);
            assert_eq!(got, verdicts, "row {i}: verdicts");
            assert_eq!(w, winner, "row {i}: winner to copy");
        }
    }

    #[test]
    fn read_repair_tells_divergence() {
        let mut m = RspMgr::new(3, DcQuorum);
        m.set_repair(true);
        m.add_answer(false, false, 1);
        assert!(!m.diverged());
        assert_eq!(m.pending(), 2);
        m.add_answer(false, true, 0);
        assert!(m.diverged());
        assert_eq!(m.checksum_of(1), Some(0));
        assert_eq!(m.checksum_of(2), None);
    }

    #[test]
    fn answers_after_the_decision_change_nothing() {
        let mut m = RspMgr::new(3, DcQuorum);
        m.add(false, 5);
        assert_eq!(m.add(false, 5).1, Verdict::Reply(0));
        assert_eq!(m.add(true, 0), (2, Verdict::Reply(0)));
    }

    /// Answers as (child, is_error, checksum), in arrival order.
    fn decide_quorum(
        level: Consistency,
        groups: &[u8],
        child_groups: &[u8],
        answers: &[(u32, bool, u32)],
    ) -> (bool, Option<Pick>) {
        let mut q = QuorumState::default();
        q.init(level, groups, child_groups.iter().copied());
        for &(c, e, sum) in answers {
            q.record(c, e, sum);
        }
        let done = q.all_done();
        (done, done.then(|| q.pick()))
    }

    #[test]
    fn quorum_state_picks_the_answer_of_every_dc() {
        use Pick::*;
        // One DC of three racks: the first of two equal answers, by arrival.
        let one_dc = (&[3u8][..], &[0u8, 0, 0][..]);
        assert_eq!(
            decide_quorum(
                DcQuorum,
                one_dc.0,
                one_dc.1,
                &[(1, false, 7), (0, false, 7)]
            ),
            (true, Some(Child(1)))
        );
        assert_eq!(
            decide_quorum(DcQuorum, one_dc.0, one_dc.1, &[(2, false, 7)]),
            (false, None)
        );
        // Two errors: the first error answer.
        assert_eq!(
            decide_quorum(
                DcSafeQuorum,
                one_dc.0,
                one_dc.1,
                &[(2, true, 0), (0, true, 0)]
            ),
            (true, Some(Child(2)))
        );
        // Disagreement at a SAFE level.
        assert_eq!(
            decide_quorum(
                DcSafeQuorum,
                one_dc.0,
                one_dc.1,
                &[(0, false, 1), (1, false, 2), (2, false, 3)]
            ),
            (true, Some(NoQuorum))
        );
        // Two DCs (DC_EACH_SAFE_QUORUM): children 0, 1 local, 2, 3, 4 remote.
        let two = (&[2u8, 3][..], &[0u8, 0, 1, 1, 1][..]);
        let local_ok = [(0, false, 5), (1, false, 5)];
        let mut remote_ok = local_ok.to_vec();
        remote_ok.extend([(4, false, 9), (2, false, 9)]);
        assert_eq!(
            decide_quorum(DcEachSafeQuorum, two.0, two.1, &remote_ok),
            (true, Some(Child(0))),
            "the local DC's answer"
        );
        assert_eq!(
            decide_quorum(DcEachSafeQuorum, two.0, two.1, &local_ok),
            (false, None),
            "waits for the remote DC"
        );
        let mut remote_err = local_ok.to_vec();
        remote_err.extend([(3, true, 0), (2, true, 0)]);
        assert_eq!(
            decide_quorum(DcEachSafeQuorum, two.0, two.1, &remote_err),
            (true, Some(Child(3))),
            "a remote DC's error wins"
        );
        let mut remote_split = local_ok.to_vec();
        remote_split.extend([(2, false, 1), (3, false, 2), (4, false, 3)]);
        assert_eq!(
            decide_quorum(DcEachSafeQuorum, two.0, two.1, &remote_split),
            (true, Some(NoQuorum)),
            "a remote DC without quorum fails the request"
        );
    }
}
