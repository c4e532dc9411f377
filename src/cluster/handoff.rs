//! Hinted handoff (what the original never shipped: its copies to a replica
//! that could not take them were dropped). A replica's copy of a write that
//! cannot reach its peer is kept as a *hint* for that peer and replayed, in
//! order, once the peer is back.
//!
//! ```text
//!  copy_undeliverable(peer, copy, why)  (dnode/peer.rs: down, not connected,
//!      queue full, connection lost, the peer's storage error, or queued
//!      behind this peer's pending hints)
//!        └─► hint_keep ─► HintQueue of the peer: memory (hints_max_memory_bytes)
//!                         + append-only file <hints_dir>/<host>_<port>.hints
//!                           (buffered, written each loop turn, fsync optional)
//!  peer_forward(copy) while the peer has hints ─► Err(Behind) ─► hint_keep
//!  handoff_turn (every loop turn, before the flush):
//!        peer up (health Up, answered its probe) and not backing off
//!          ─► up to hints_replay_window hints in flight, as requests of the
//!             node's own (Msg::internal = Hint), oldest first, one connection
//!  handoff_reply: OK ─► popped once every older one is done (replayed)
//!                 a client error (WRONGTYPE …) ─► popped (rejected, counted)
//!                 a storage error, a peer error, a timeout, a lost
//!                 connection ─► the round fails: every hint stays, sent again
//!                 in order after HINT_RETRY
//! ```
//!
//! Order: while a peer has hints, every newer copy for it joins the tail of
//! its hints instead of going out, so two writes of one key reach the peer
//! in the order the client made them; once the hints are drained, copies go
//! direct again. Delivery is at least once: a failed round is sent again
//! whole, and a copy lost with its connection may have been applied.
//!
//! Files: one per peer, named by its peer address (`<host>_<port>.hints`),
//! which is how a restarted node matches files to peers. Records are
//! length-prefixed and checksummed (`encode_record`); a torn last record
//! (the node killed mid-write) or a record whose checksum does not match is
//! skipped and logged, never a crash. `Done` records say up to which hint
//! the peer has everything; the file is truncated when the queue drains,
//! and rewritten when its replayed part outweighs what is left. When memory
//! is full the newest hints live in the file only and are read back as the
//! queue drains.
//!
//! Bounds: a hint older than `hints_max_age` is dropped, so is a hint that
//! fits neither memory nor the file; each drop is counted per peer and
//! logged at most once a second per peer.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use log::{error, info, warn};
use sha2::{Digest, Sha256};

use crate::cluster::health::RateLimit;
use crate::cluster::state::PeerHealth;
use crate::conf::HandoffConf;
use crate::core::Context;
use crate::dnode::peer::Undeliverable;
use crate::ids::PeerId;
use crate::msg::{Internal, MsgId, MsgKind};
use crate::stats::faults::HintFigures;

/// The first bytes of every hint file.
pub const MAGIC: &[u8; 8] = b"DYNHINT1";
/// Bytes before a record's body: its length (u32 LE) and checksum.
pub const RECORD_HEAD: usize = 4 + SUM_LEN;
/// Checksum bytes: the first 8 bytes of the body's SHA-256 (sha2 is
/// already a dependency; strong enough to tell a torn or damaged record).
const SUM_LEN: usize = 8;
/// The largest record body read back (a request is at most 512 MiB).
const MAX_BODY: u32 = 512 << 20;
/// Bytes a hint costs in memory besides its request bytes.
const HINT_OVERHEAD: u64 = 64;
/// How long a peer's replay waits after a failed round.
pub const HINT_RETRY: Duration = Duration::from_secs(1);
/// How much of a file is read back at once when memory has room again.
const REFILL_CHUNK: usize = 1 << 20;
/// Record kinds.
const KIND_HINT: u8 = 1;
const KIND_DONE: u8 = 2;
/// Bytes of a hint record's body before the request: kind, seq, order,
/// created_ms, token, flags.
const HINT_HEAD: usize = 1 + 8 + 8 + 8 + 4 + 1;
/// Hint flags: the copy asked the peer to replicate in its DC (type 4).
pub const FLAG_FORWARD: u8 = 1;
/// Hint flags: a memcached `noreply` request (no answer comes).
pub const FLAG_NOREPLY: u8 = 2;

/// One kept copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    /// Order of creation for its peer (never reused, also across restarts).
    pub seq: u64,
    /// Order of the copy it keeps among all copies of this node (the
    /// copy's message id over a base that grows across restarts): a copy
    /// sent before the peer had hints, whose failure is heard only later,
    /// still goes before the copies that queued behind the hints.
    pub order: u64,
    /// When it was made, in ms since the Unix epoch.
    pub created_ms: u64,
    /// Its key's token.
    pub token: u32,
    /// `FLAG_*`.
    pub flags: u8,
    /// The datastore command as the client sent it (RESP or memcached text).
    pub bytes: Vec<u8>,
}

impl Hint {
    fn cost(&self) -> u64 {
        self.bytes.len() as u64 + HINT_OVERHEAD
    }
}

/// A record of a hint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A hint.
    Hint(Hint),
    /// The peer has every hint up to this sequence number.
    Done(u64),
}

/// What `decode_record` found at the start of a buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A record and the bytes it took.
    Record(Record, usize),
    /// Not enough bytes for the record announced (or its head).
    Torn,
    /// A complete record whose checksum or layout is wrong; skip its bytes.
    Corrupt(usize),
    /// A length no record can have: nothing after it can be trusted.
    Garbage,
}

fn checksum(body: &[u8]) -> [u8; SUM_LEN] {
    let d = Sha256::digest(body);
    let mut s = [0u8; SUM_LEN];
    s.copy_from_slice(&d[..SUM_LEN]);
    s
}

/// Appends one record: length (u32 LE), checksum, body. A hint's body is
/// kind, seq, order, created_ms, token, flags, bytes (integers LE); a done record's is kind, seq.
pub fn encode_record(out: &mut Vec<u8>, r: &Record) {
    let start = out.len();
    out.extend_from_slice(&[0u8; RECORD_HEAD]);
    match r {
        Record::Hint(h) => {
            out.push(KIND_HINT);
            out.extend_from_slice(&h.seq.to_le_bytes());
            out.extend_from_slice(&h.order.to_le_bytes());
            out.extend_from_slice(&h.created_ms.to_le_bytes());
            out.extend_from_slice(&h.token.to_le_bytes());
            out.push(h.flags);
            out.extend_from_slice(&h.bytes);
        }
        Record::Done(seq) => {
            out.push(KIND_DONE);
            out.extend_from_slice(&seq.to_le_bytes());
        }
    }
    let body_len = (out.len() - start - RECORD_HEAD) as u32;
    let sum = checksum(&out[start + RECORD_HEAD..]);
    out[start..start + 4].copy_from_slice(&body_len.to_le_bytes());
    out[start + 4..start + RECORD_HEAD].copy_from_slice(&sum);
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Reads the record at the start of `buf`.
pub fn decode_record(buf: &[u8]) -> Decoded {
    if buf.len() < RECORD_HEAD {
        return Decoded::Torn;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len == 0 || len > MAX_BODY {
        return Decoded::Garbage;
    }
    let total = RECORD_HEAD + len as usize;
    if buf.len() < total {
        return Decoded::Torn;
    }
    let body = &buf[RECORD_HEAD..total];
    if checksum(body) != buf[4..RECORD_HEAD] {
        return Decoded::Corrupt(total);
    }
    match body[0] {
        KIND_HINT if body.len() >= HINT_HEAD => {
            let h = Hint {
                seq: u64_at(body, 1),
                order: u64_at(body, 9),
                created_ms: u64_at(body, 17),
                token: u32::from_le_bytes([body[25], body[26], body[27], body[28]]),
                flags: body[29],
                bytes: body[30..].to_vec(),
            };
            Decoded::Record(Record::Hint(h), total)
        }
        KIND_DONE if body.len() == 9 => Decoded::Record(Record::Done(u64_at(body, 1)), total),
        _ => Decoded::Corrupt(total),
    }
}

/// What reading a file found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Offset just past the last complete record.
    pub end: u64,
    /// Records skipped for a bad checksum or layout.
    pub corrupt: u64,
    /// A torn or unreadable tail was cut off at `end`.
    pub torn: bool,
}

/// Reads the records of `r` from offset `from` (just after the magic or
/// any record boundary), handing each with its offset to `f` until it
/// returns false. Stops at a torn or untrustworthy record.
pub fn read_records(
    r: &mut impl Read,
    from: u64,
    mut f: impl FnMut(u64, Record) -> bool,
) -> io::Result<ReadSummary> {
    let mut s = ReadSummary {
        end: from,
        ..Default::default()
    };
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut start = 0usize;
    let mut eof = false;
    loop {
        match decode_record(&buf[start..]) {
            Decoded::Record(rec, n) => {
                let at = s.end;
                start += n;
                s.end += n as u64;
                if !f(at, rec) {
                    return Ok(s);
                }
            }
            Decoded::Corrupt(n) => {
                start += n;
                s.end += n as u64;
                s.corrupt += 1;
            }
            Decoded::Garbage => {
                s.torn = true;
                return Ok(s);
            }
            Decoded::Torn if eof => {
                s.torn = start < buf.len();
                return Ok(s);
            }
            Decoded::Torn => {
                buf.drain(..start);
                start = 0;
                let want = if buf.len() >= RECORD_HEAD {
                    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                    RECORD_HEAD + len
                } else {
                    RECORD_HEAD
                };
                let have = buf.len();
                let grow = (want.saturating_sub(have)).max(64 << 10);
                buf.resize(have + grow, 0);
                let mut got = 0;
                while got < grow {
                    let n = r.read(&mut buf[have + got..])?;
                    if n == 0 {
                        eof = true;
                        break;
                    }
                    got += n;
                }
                buf.truncate(have + got);
            }
        }
    }
}

/// True when a memcached request's command line ends in `noreply` (the
/// peer's memcached answers nothing to it).
pub fn mc_noreply(bytes: &[u8]) -> bool {
    let line = memchr::memmem::find(bytes, b"\r\n").map_or(bytes, |n| &bytes[..n]);
    line.split(|&b| b == b' ')
        .rfind(|t| !t.is_empty())
        .is_some_and(|t| t == b"noreply")
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why a hint was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Older than `hints_max_age`.
    Age,
    /// Memory full and no file (or no room in it).
    Memory,
    /// Its file full, or a write to it failed.
    Disk,
}

impl DropReason {
    fn name(self) -> &'static str {
        match self {
            DropReason::Age => "older than hints_max_age",
            DropReason::Memory => "hints_max_memory_bytes reached",
            DropReason::Disk => "hints_max_disk_bytes reached or the hint file failed",
        }
    }
}

/// The hint file of one peer.
#[derive(Debug)]
pub struct HintFile {
    path: PathBuf,
    file: File,
    /// Records made since the last write (written each loop turn).
    wbuf: Vec<u8>,
    /// File size, buffered records included.
    size: u64,
    /// Hints in the file only (memory was full), oldest first from `read_off`.
    spilled: u64,
    /// Offset of the first record not read back into memory.
    read_off: u64,
    /// Hints up to this sequence number are delivered (as last written).
    done_written: u64,
}

/// The hints of one peer.
#[derive(Debug)]
pub struct HintQueue {
    /// Hints in memory, oldest first; the first `sent` are in flight or
    /// answered in the current round.
    pub q: VecDeque<Hint>,
    /// What each of the first `sent` hints got: `None` waiting, `Some(ok)`.
    acks: VecDeque<Option<bool>>,
    /// Hints of the current round sent and not yet answered.
    outstanding: usize,
    /// A hint of this round failed: nothing is popped, the round is sent
    /// again from the start after `HINT_RETRY`.
    failed_round: bool,
    /// Bytes of `q` (with their overhead).
    pub mem_bytes: u64,
    /// No replay before this instant.
    retry_at: Option<Instant>,
    /// Next sequence number.
    next_seq: u64,
    /// Every hint up to this sequence number is delivered.
    done_seq: u64,
    /// The largest `Hint::order` held.
    max_order: u64,
    /// Hints of copies that failed after newer copies became hints (a
    /// connection closed with copies in it), in memory, merged into `q` in
    /// order before the next replay: a burst of them costs one sort, not a
    /// shift of the queue each.
    late: Vec<Hint>,
    /// After a failed round: 1, the next batch that succeeds is kept and
    /// sent again once `HINT_RETRY` has passed (2), and only then popped.
    /// A request that failed (timed out) may still be applied later by a
    /// datastore that was stopped, after a newer one; the second pass puts
    /// the newer values back.
    confirm: u8,
    /// The file, when `hints_dir` is set and it could be opened.
    file: Option<HintFile>,
    /// Counters and the log limit.
    pub figures: HintFigures,
    log: RateLimit,
}

impl HintQueue {
    fn new() -> HintQueue {
        HintQueue {
            q: VecDeque::new(),
            acks: VecDeque::new(),
            outstanding: 0,
            failed_round: false,
            mem_bytes: 0,
            retry_at: None,
            next_seq: 1,
            done_seq: 0,
            max_order: 0,
            late: Vec::new(),
            confirm: 0,
            file: None,
            figures: HintFigures::default(),
            log: RateLimit::default(),
        }
    }

    /// Hints held (memory and file).
    pub fn len(&self) -> u64 {
        (self.q.len() + self.late.len()) as u64 + self.file.as_ref().map_or(0, |f| f.spilled)
    }

    /// Merges the late hints into the part of `q` not sent yet, in order.
    fn merge_late(&mut self) {
        if self.late.is_empty() {
            return;
        }
        let mut tail: Vec<Hint> = self.q.split_off(self.acks.len()).into();
        tail.append(&mut self.late);
        // Stable: hints of one order keep their creation order.
        tail.sort_by_key(|h| h.order);
        self.q.extend(tail);
    }

    /// True when no hint is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn spilled(&self) -> u64 {
        self.file.as_ref().map_or(0, |f| f.spilled)
    }
}

/// Hinted handoff of the node: settings and one queue per peer that has
/// (or had) hints, by `PeerId`.
#[derive(Debug)]
pub struct Handoff {
    /// The settings (conf/handoff.rs).
    pub conf: HandoffConf,
    /// The queue of peer `i` at `i`.
    queues: Vec<Option<HintQueue>>,
    /// Peers whose replay should be tried this turn (one came up).
    kicked: Vec<PeerId>,
    /// When the queues were last checked for age and retries.
    last_tick: Option<Instant>,
    /// Added to a copy's message id to make its hint's order: above every
    /// order read back from the files.
    pub order_base: u64,
}

/// How often queues are checked for retries and age without a kick.
const TICK: Duration = Duration::from_millis(200);

impl Handoff {
    /// No hint yet.
    pub fn new(conf: &HandoffConf) -> Handoff {
        Handoff {
            conf: conf.clone(),
            queues: Vec::new(),
            kicked: Vec::new(),
            last_tick: None,
            order_base: 0,
        }
    }

    /// The queue of `peer`, if it has one.
    pub fn queue(&self, peer: PeerId) -> Option<&HintQueue> {
        self.queues.get(peer.idx()).and_then(Option::as_ref)
    }

    fn queue_mut(&mut self, peer: PeerId) -> Option<&mut HintQueue> {
        self.queues.get_mut(peer.idx()).and_then(Option::as_mut)
    }

    /// True while `peer` has hints: its newer copies go behind them.
    pub fn pending(&self, peer: PeerId) -> bool {
        self.queue(peer).is_some_and(|q| !q.is_empty())
    }

    /// The figures of `peer` for `/info` and `/metrics`.
    pub fn figures(&self, peer: PeerId) -> HintFigures {
        let Some(q) = self.queue(peer) else {
            return HintFigures::default();
        };
        let mut f = q.figures.clone();
        f.queued = q.len();
        f.memory_bytes = q.mem_bytes;
        f.disk_bytes = q.file.as_ref().map_or(0, |f| f.size);
        f.oldest_age_ms =
            q.q.front()
                .map_or(0, |h| unix_ms().saturating_sub(h.created_ms));
        f
    }

    /// Asks for `peer`'s replay to be tried this turn.
    pub fn kick(&mut self, peer: PeerId) {
        if self.pending(peer) && !self.kicked.contains(&peer) {
            self.kicked.push(peer);
        }
        if let Some(q) = self.queue_mut(peer) {
            q.retry_at = None;
        }
    }

    /// The file name of a peer's hints.
    pub fn file_name(host: &str, port: u16) -> String {
        let host: String = host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("{host}_{port}.hints")
    }
}

/// Opens (or creates) a peer's file and reads back what it holds: returns
/// the hints to keep in memory (up to `max_memory` bytes, none older than
/// `max_age_ms`), the file state and the figures of what was skipped.
fn open_file(
    path: &Path,
    conf: &HandoffConf,
    q: &mut HintQueue,
    now_ms: u64,
) -> io::Result<HintFile> {
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let len = file.metadata()?.len();
    if len < MAGIC.len() as u64 {
        file.set_len(0)?;
        file.write_all(MAGIC)?;
        return Ok(HintFile {
            path: path.to_path_buf(),
            file,
            wbuf: Vec::new(),
            size: MAGIC.len() as u64,
            spilled: 0,
            read_off: MAGIC.len() as u64,
            done_written: 0,
        });
    }
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0)?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a hint file (bad magic)",
        ));
    }
    // Pass 1: the highest sequence number seen, and up to where the peer
    // has everything.
    let mut max_seq = 0;
    let mut max_order = 0;
    let mut done = 0;
    file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    let s = read_records(&mut BufReader::new(&file), MAGIC.len() as u64, |_, r| {
        match r {
            Record::Hint(h) => {
                max_seq = max_seq.max(h.seq);
                max_order = max_order.max(h.order);
            }
            Record::Done(d) => done = done.max(d),
        }
        true
    })?;
    if s.torn {
        warn!(
            "hint file {}: torn record at offset {} cut off ({} bytes)",
            path.display(),
            s.end,
            len - s.end
        );
        file.set_len(s.end)?;
    }
    if s.corrupt > 0 {
        warn!(
            "hint file {}: {} damaged records skipped",
            path.display(),
            s.corrupt
        );
    }
    q.figures.corrupt += s.corrupt + u64::from(s.torn);
    q.next_seq = q.next_seq.max(max_seq + 1);
    q.max_order = q.max_order.max(max_order);
    q.done_seq = done;
    // Pass 2: the hints still owed, into memory while it has room.
    let mut hf = HintFile {
        path: path.to_path_buf(),
        file,
        wbuf: Vec::new(),
        size: s.end,
        spilled: 0,
        read_off: s.end,
        done_written: done,
    };
    let mut spilling = false;
    let mut first_spilled = None;
    hf.file.seek(SeekFrom::Start(MAGIC.len() as u64))?;
    let reader = hf.file.try_clone()?;
    read_records(&mut BufReader::new(reader), MAGIC.len() as u64, |at, r| {
        let Record::Hint(h) = r else { return true };
        if h.seq <= done {
            return true;
        }
        if now_ms.saturating_sub(h.created_ms) > conf.max_age_ms {
            q.figures.dropped_age += 1;
            return true;
        }
        if !spilling && q.mem_bytes + h.cost() <= conf.max_memory_bytes {
            q.mem_bytes += h.cost();
            q.q.push_back(h);
        } else {
            spilling = true;
            first_spilled.get_or_insert(at);
            hf.spilled += 1;
        }
        true
    })?;
    if let Some(at) = first_spilled {
        hf.read_off = at;
    }
    // A late copy's hint was appended after newer ones: memory is in order.
    q.q.make_contiguous().sort_by_key(|h| h.order);
    hf.file.seek(SeekFrom::End(0))?;
    Ok(hf)
}

impl Context {
    /// The queue of `peer`, made (and its file opened and read back) on
    /// first use.
    fn hint_queue(&mut self, peer: PeerId) -> &mut HintQueue {
        let idx = peer.idx();
        let h = &mut self.handoff;
        if h.queues.len() <= idx {
            h.queues.resize_with(idx + 1, || None);
        }
        if h.queues[idx].is_none() {
            let mut q = HintQueue::new();
            if let Some(dir) = h.conf.dir.clone() {
                let p = self.topology.peer(peer);
                let path = Path::new(&dir).join(Handoff::file_name(&p.host, p.port));
                match open_file(&path, &h.conf, &mut q, unix_ms()) {
                    Ok(f) => {
                        if !q.is_empty() || f.spilled > 0 {
                            info!(
                                "hint file {}: {} hints for peer {}:{} to replay",
                                path.display(),
                                q.q.len() as u64 + f.spilled,
                                p.host,
                                p.port
                            );
                        }
                        q.file = Some(f);
                    }
                    Err(e) => error!(
                        "hint file {} cannot be used, hints for this peer stay in memory: {e}",
                        path.display()
                    ),
                }
            }
            h.queues[idx] = Some(q);
        }
        h.queues[idx].as_mut().expect("made above")
    }

    /// At start: makes `hints_dir` and reads back the file of every peer
    /// that has one; files that name no known peer are left as they are
    /// (a peer added later with that address reads its file then).
    pub(crate) fn handoff_load(&mut self) {
        let Some(dir) = self.handoff.conf.dir.clone() else {
            return;
        };
        if !self.handoff.conf.enabled {
            return;
        }
        if let Err(e) = std::fs::create_dir_all(&dir) {
            error!("hints_dir {dir} cannot be made, hints stay in memory: {e}");
            self.handoff.conf.dir = None;
            return;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                error!("hints_dir {dir} cannot be read, hints stay in memory: {e}");
                self.handoff.conf.dir = None;
                return;
            }
        };
        let names: Vec<(PeerId, String)> = self
            .topology
            .peers()
            .filter(|(id, _)| !id.is_local())
            .map(|(id, p)| (id, Handoff::file_name(&p.host, p.port)))
            .collect();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".hints") {
                continue;
            }
            match names.iter().find(|(_, n)| *n == name) {
                Some(&(peer, _)) => {
                    let max = self.hint_queue(peer).max_order;
                    self.handoff.order_base = self.handoff.order_base.max(max + 1);
                    self.handoff.kick(peer);
                }
                None => warn!("hint file {dir}/{name} names no known peer: left as it is"),
            }
        }
    }

    /// Keeps copy `mid` (nobody waits for its answer) as a hint for `peer`
    /// and releases the message; false (the message untouched) when hints
    /// are off or the copy is not a write.
    pub(crate) fn hint_keep(&mut self, peer: PeerId, mid: MsgId, why: Undeliverable) -> bool {
        if !self.handoff.conf.enabled || peer.is_local() {
            return false;
        }
        let m = &self.msgs[mid];
        let write = m.cmd.is_some_and(|c| c.write);
        if !write || m.internal.is_some() || m.mlen == 0 {
            return false;
        }
        let mut bytes = Vec::with_capacity(m.mlen as usize);
        self.mbufs.copy_out(&m.segs, 0, m.mlen, &mut bytes);
        let token = match m.cmd {
            Some(c) if c.first_key > 0 && (c.first_key as usize) < m.req.args.len() => {
                self.arg_hash(mid, c.first_key as usize)
            }
            _ => 0,
        };
        let m = &self.msgs[mid];
        let mut flags = 0;
        if !self.topology.same_dc(peer) {
            flags |= FLAG_FORWARD;
        }
        if m.noreply || (self.settings.memcache && mc_noreply(&bytes)) {
            flags |= FLAG_NOREPLY;
        }
        let uid = m.id;
        self.msgs[mid].swallow = true;
        self.try_free(mid);
        let hint = Hint {
            seq: 0,
            order: self.handoff.order_base + uid,
            created_ms: unix_ms(),
            token,
            flags,
            bytes,
        };
        let kept = self.hint_add(peer, hint);
        if kept && why != Undeliverable::Behind {
            let name = self.peer_label(peer);
            let line = format!("copy {uid} for peer {name} kept as a hint: {}", why.name());
            self.peer_log(peer, || line);
        }
        true
    }

    /// Appends a hint to `peer`'s queue (and file); false when a bound
    /// dropped it.
    pub(crate) fn hint_add(&mut self, peer: PeerId, mut hint: Hint) -> bool {
        let (max_memory, max_disk) = (
            self.handoff.conf.max_memory_bytes,
            self.handoff.conf.max_disk_bytes,
        );
        let q = self.hint_queue(peer);
        hint.seq = q.next_seq;
        q.next_seq += 1;
        let cost = hint.cost();
        // A late copy (older than hints held) goes to memory, in its place.
        let late = hint.order < q.max_order;
        q.max_order = q.max_order.max(hint.order);
        let spilling = q.spilled() > 0;
        let mem_room = late || (!spilling && q.mem_bytes + cost <= max_memory);
        let verdict = match q.file.as_mut() {
            Some(f) => {
                let mut rec = std::mem::take(&mut f.wbuf);
                let before = rec.len();
                encode_record(&mut rec, &Record::Hint(hint.clone()));
                let n = (rec.len() - before) as u64;
                if f.size + n > max_disk {
                    rec.truncate(before);
                    f.wbuf = rec;
                    Err(DropReason::Disk)
                } else {
                    f.wbuf = rec;
                    f.size += n;
                    if !mem_room {
                        f.spilled += 1;
                    }
                    Ok(mem_room)
                }
            }
            None if mem_room => Ok(true),
            None => Err(DropReason::Memory),
        };
        match verdict {
            Ok(in_memory) => {
                q.figures.hinted += 1;
                if in_memory {
                    q.mem_bytes += cost;
                    if late {
                        q.late.push(hint);
                    } else {
                        q.q.push_back(hint);
                    }
                }
                true
            }
            Err(why) => {
                self.hint_dropped(peer, why, 1);
                false
            }
        }
    }

    /// Counts and logs (at most once a second per peer) `n` hints dropped.
    fn hint_dropped(&mut self, peer: PeerId, why: DropReason, n: u64) {
        let label = self.peer_label(peer);
        let Some(q) = self.handoff.queue_mut(peer) else {
            return;
        };
        match why {
            DropReason::Age => q.figures.dropped_age += n,
            DropReason::Memory => q.figures.dropped_memory += n,
            DropReason::Disk => q.figures.dropped_disk += n,
        }
        self.stats.faults.hints_dropped += n;
        if let Some(held) = q.log.allow(Instant::now()) {
            warn!(
                "{n} hints for peer {label} dropped: {} ({held} similar events not logged)",
                why.name()
            );
        }
    }

    /// Once per loop turn, before the flush: replays for peers that came
    /// up, retries and age checks (every `TICK`), and the hint files'
    /// writes of this turn.
    pub(crate) fn handoff_turn(&mut self) {
        if self.handoff.queues.is_empty() {
            return;
        }
        let now = self.now;
        let tick = self
            .handoff
            .last_tick
            .is_none_or(|t| now.saturating_duration_since(t) >= TICK);
        let kicked = std::mem::take(&mut self.handoff.kicked);
        if tick {
            self.handoff.last_tick = Some(now);
            for i in 0..self.handoff.queues.len() {
                let peer = PeerId(i as u32);
                if self.handoff.pending(peer) {
                    self.hints_expire(peer);
                    self.hint_replay(peer);
                }
            }
        } else {
            for &peer in &kicked {
                self.hint_replay(peer);
            }
        }
        self.handoff.kicked = kicked;
        self.handoff.kicked.clear();
        self.hints_write();
    }

    /// Drops the hints at the front of `peer`'s queue that are older than
    /// `hints_max_age` (only between rounds).
    fn hints_expire(&mut self, peer: PeerId) {
        let max_age = self.handoff.conf.max_age_ms;
        let now_ms = unix_ms();
        let Some(q) = self.handoff.queue_mut(peer) else {
            return;
        };
        if !q.acks.is_empty() {
            return;
        }
        let mut n = 0;
        while let Some(h) = q.q.front() {
            if now_ms.saturating_sub(h.created_ms) <= max_age {
                break;
            }
            let h = q.q.pop_front().expect("front");
            q.mem_bytes -= h.cost();
            q.done_seq = q.done_seq.max(h.seq);
            n += 1;
        }
        if n > 0 {
            self.hint_dropped(peer, DropReason::Age, n);
            self.hints_drained(peer);
        }
    }

    /// Sends `peer`'s next hints while its window has room, the peer is up
    /// and its retry time has come.
    fn hint_replay(&mut self, peer: PeerId) {
        let p = self.topology.peer(peer);
        if p.health != PeerHealth::Up || !p.state.routable() {
            return;
        }
        if self.copies_in_flight(peer) {
            // Their failures would be hints older than those held: wait
            // until each is answered (or hinted, in its place).
            return;
        }
        if let Some(q) = self.handoff.queue_mut(peer) {
            q.merge_late();
        }
        self.hints_refill(peer);
        let window = self.handoff.conf.replay_window.max(1) as usize;
        let now = self.now;
        loop {
            let Some(q) = self.handoff.queue_mut(peer) else {
                return;
            };
            if q.failed_round || q.retry_at.is_some_and(|t| now < t) {
                return;
            }
            let i = q.acks.len();
            if q.outstanding >= window || i >= q.q.len() {
                return;
            }
            match q.confirm {
                // A batch at a time until one has succeeded twice.
                1 if i >= window => return,
                2 => q.confirm = 0,
                _ => {}
            }
            let h = &q.q[i];
            let (seq, flags) = (h.seq, h.flags);
            let mid = self.msgs.get(MsgKind::Request);
            let mut segs = std::mem::take(&mut self.msgs[mid].segs);
            let h = &self.handoff.queue(peer).expect("queue").q[i];
            self.mbufs.append(&mut segs, &h.bytes);
            let len = h.bytes.len() as u64;
            let m = &mut self.msgs[mid];
            m.segs = segs;
            m.mlen = len;
            m.internal = Some(Internal::Hint(seq));
            m.noreply = flags & FLAG_NOREPLY != 0;
            let q = self.handoff.queue_mut(peer).expect("queue");
            q.acks.push_back(None);
            q.outstanding += 1;
            match self.peer_forward(mid, peer, flags & FLAG_FORWARD != 0) {
                Ok(()) => {
                    if flags & FLAG_NOREPLY != 0 {
                        // No answer comes: done once queued (in order).
                        self.hint_answered(peer, seq, HintOutcome::Delivered);
                    }
                }
                Err(_) => {
                    self.msgs.put(&mut self.mbufs, mid);
                    self.hint_answered(peer, seq, HintOutcome::Retry);
                    return;
                }
            }
        }
    }

    /// True while a copy sent straight to `peer` (before it had hints) is
    /// still unanswered: copies are sent in order, so one at the front of
    /// a connection's queues tells.
    fn copies_in_flight(&self, peer: PeerId) -> bool {
        self.peers[peer].slots.iter().any(|sl| {
            let Some(c) = sl.conn.and_then(|c| self.conns.get(c.0)) else {
                return false;
            };
            c.omsg_q.front().or(c.imsg_q.front()).is_some_and(|&m| {
                let m = &self.msgs[m];
                m.swallow && m.internal.is_none() && m.cmd.is_some_and(|c| c.write)
            })
        })
    }

    /// Reads hints that live only in the file back into memory while it
    /// has room.
    fn hints_refill(&mut self, peer: PeerId) {
        let (max_memory, max_age) = (
            self.handoff.conf.max_memory_bytes,
            self.handoff.conf.max_age_ms,
        );
        let now_ms = unix_ms();
        let Some(q) = self.handoff.queue_mut(peer) else {
            return;
        };
        let Some(f) = q.file.as_mut() else { return };
        if f.spilled == 0 || q.mem_bytes > max_memory / 2 {
            return;
        }
        // What was buffered must be in the file before reading it back.
        if !f.wbuf.is_empty() {
            if let Err(e) = f.file.write_all(&f.wbuf) {
                error!("hint file {}: write failed: {e}", f.path.display());
            }
            f.wbuf.clear();
        }
        let mut buf = vec![0u8; REFILL_CHUNK];
        let mut aged = 0;
        while f.spilled > 0 && q.mem_bytes <= max_memory / 2 {
            let n = match f.file.read_at(&mut buf, f.read_off) {
                Ok(n) => n,
                Err(e) => {
                    error!("hint file {}: read failed: {e}", f.path.display());
                    0
                }
            };
            let mut at = 0;
            let mut progressed = false;
            while at < n && f.spilled > 0 {
                match decode_record(&buf[at..n]) {
                    Decoded::Record(r, k) => {
                        at += k;
                        progressed = true;
                        f.read_off += k as u64;
                        let Record::Hint(h) = r else { continue };
                        if h.seq <= q.done_seq {
                            continue;
                        }
                        f.spilled -= 1;
                        if now_ms.saturating_sub(h.created_ms) > max_age {
                            aged += 1;
                            continue;
                        }
                        q.mem_bytes += h.cost();
                        q.q.push_back(h);
                    }
                    Decoded::Corrupt(k) => {
                        at += k;
                        progressed = true;
                        f.read_off += k as u64;
                        q.figures.corrupt += 1;
                    }
                    Decoded::Torn if at > 0 => break,
                    Decoded::Torn if n == buf.len() => {
                        // One record larger than the buffer.
                        let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                        buf.resize(RECORD_HEAD + len as usize, 0);
                        break;
                    }
                    Decoded::Torn | Decoded::Garbage => {
                        // The file ends before the hints it should hold.
                        warn!(
                            "hint file {}: {} hints could not be read back",
                            f.path.display(),
                            f.spilled
                        );
                        q.figures.corrupt += f.spilled;
                        f.spilled = 0;
                        break;
                    }
                }
            }
            if !progressed && f.spilled > 0 && buf.len() == REFILL_CHUNK {
                break;
            }
        }
        if aged > 0 {
            self.hint_dropped(peer, DropReason::Age, aged);
        }
    }

    /// The answer to replayed hint `seq` of `peer` (a request of the node's
    /// own, `Internal::Hint`): both messages are released here.
    pub(crate) fn handoff_reply(&mut self, req: MsgId, rsp: MsgId, seq: u64) {
        let peer = PeerId(self.msgs[req].dest);
        let outcome = self.hint_outcome(rsp);
        if outcome == HintOutcome::Rejected {
            let mut text = Vec::new();
            let r = &self.msgs[rsp];
            self.mbufs.copy_out(&r.segs, 0, r.mlen.min(200), &mut text);
            let label = self.peer_label(peer);
            let line = format!(
                "hint {seq} for peer {label} rejected by its datastore, dropped: {}",
                String::from_utf8_lossy(&text).trim_end()
            );
            self.peer_log(peer, || line);
        }
        self.msgs[req].peer = None;
        self.msgs.put(&mut self.mbufs, rsp);
        let m = &mut self.msgs[req];
        m.done = true;
        m.swallow = true;
        self.try_free(req);
        self.hint_answered(peer, seq, outcome);
    }

    /// What an answer means for a hint: an error made by a node (`ERR
    /// Storage:`, `ERR Peer:`, `ERR Dynomite:`, memcached's `SERVER_ERROR
    /// Storage:`) is retried; any other error is the datastore rejecting
    /// the command (WRONGTYPE …), which no retry changes.
    fn hint_outcome(&self, rsp: MsgId) -> HintOutcome {
        // Memcached's errors read as `-` too (`summarize_mc_reply`).
        let r = &self.msgs[rsp];
        if r.rsp.ty != b'-' {
            return HintOutcome::Delivered;
        }
        let mut head = [0u8; 24];
        let n = self.mbufs.copy_to_slice(&r.segs, 0, &mut head);
        let h = &head[..n];
        let retry = [
            &b"-ERR Storage:"[..],
            b"-ERR Peer",
            b"-ERR Dynomite:",
            b"SERVER_ERROR Storage:",
            b"SERVER_ERROR Peer",
            b"SERVER_ERROR Dynomite:",
        ];
        if retry.iter().any(|p| h.starts_with(p)) {
            HintOutcome::Retry
        } else {
            HintOutcome::Rejected
        }
    }

    /// Records the outcome of hint `seq`: delivered (or rejected) hints
    /// are popped once every older one of the round is; a failure keeps
    /// the whole round for a later retry.
    fn hint_answered(&mut self, peer: PeerId, seq: u64, outcome: HintOutcome) {
        let now = self.now;
        let Some(q) = self.handoff.queue_mut(peer) else {
            return;
        };
        let Some(i) = q.q.iter().take(q.acks.len()).position(|h| h.seq == seq) else {
            return;
        };
        q.outstanding = q.outstanding.saturating_sub(1);
        match outcome {
            HintOutcome::Retry => {
                q.failed_round = true;
                q.confirm = 1;
                q.figures.retries += 1;
            }
            HintOutcome::Delivered | HintOutcome::Rejected => {
                q.acks[i] = Some(outcome == HintOutcome::Delivered);
            }
        }
        if q.failed_round {
            if q.outstanding == 0 {
                q.acks.clear();
                q.failed_round = false;
                q.retry_at = Some(now + HINT_RETRY);
            }
            return;
        }
        if q.confirm == 1 {
            if q.outstanding == 0 {
                // The batch succeeded once: again after a pause, then popped.
                q.acks.clear();
                q.confirm = 2;
                q.retry_at = Some(now + HINT_RETRY);
            }
            return;
        }
        let mut popped = false;
        while let Some(Some(ok)) = q.acks.front().copied() {
            q.acks.pop_front();
            let h = q.q.pop_front().expect("an answered hint is queued");
            q.mem_bytes -= h.cost();
            q.done_seq = q.done_seq.max(h.seq);
            if ok {
                q.figures.replayed += 1;
            } else {
                q.figures.rejected += 1;
            }
            popped = true;
        }
        if popped {
            self.hints_drained(peer);
            self.hint_replay(peer);
        }
    }

    /// After hints were popped: a file whose queue is empty is cut back to
    /// its magic; otherwise the progress is recorded for the next write.
    fn hints_drained(&mut self, peer: PeerId) {
        let drained = self
            .handoff
            .queue(peer)
            .is_some_and(|q| q.is_empty() && q.acks.is_empty());
        if drained {
            let label = self.peer_label(peer);
            let q = self.handoff.queue_mut(peer).expect("a queue");
            let f = &q.figures;
            let (replayed, rejected) = (f.replayed, f.rejected);
            if let Some(f) = q.file.as_mut() {
                f.wbuf.clear();
                if let Err(e) = f.file.set_len(MAGIC.len() as u64) {
                    error!("hint file {}: truncate failed: {e}", f.path.display());
                }
                f.size = MAGIC.len() as u64;
                f.read_off = f.size;
                f.done_written = q.done_seq;
            }
            info!(
                "hints for peer {label} drained ({replayed} replayed, {rejected} rejected since start)"
            );
        }
    }

    /// Writes every file's buffered records (and the progress made) with
    /// one write each; rewrites a file whose delivered part outweighs what
    /// is left.
    fn hints_write(&mut self) {
        let fsync = self.handoff.conf.fsync;
        for i in 0..self.handoff.queues.len() {
            let peer = PeerId(i as u32);
            let mut failed = false;
            {
                let Some(q) = self.handoff.queue_mut(peer) else {
                    continue;
                };
                let done = q.done_seq;
                let live = q.mem_bytes;
                let spilled = q.spilled();
                let Some(f) = q.file.as_mut() else { continue };
                if done > f.done_written {
                    encode_record(&mut f.wbuf, &Record::Done(done));
                    f.size += (RECORD_HEAD + 9) as u64;
                    f.done_written = done;
                }
                if f.wbuf.is_empty() {
                    continue;
                }
                // Compaction: everything owed is in memory and the file is
                // mostly delivered hints.
                if spilled == 0 && q.late.is_empty() && f.size > (1 << 20) && f.size > 4 * live {
                    let mut all = Vec::with_capacity(live as usize + MAGIC.len());
                    all.extend_from_slice(MAGIC);
                    for h in q.q.iter() {
                        encode_record(&mut all, &Record::Hint(h.clone()));
                    }
                    let tmp = f.path.with_extension("hints.tmp");
                    let res = std::fs::write(&tmp, &all)
                        .and_then(|()| std::fs::rename(&tmp, &f.path))
                        .and_then(|()| OpenOptions::new().read(true).append(true).open(&f.path));
                    match res {
                        Ok(file) => {
                            f.file = file;
                            f.size = all.len() as u64;
                            f.read_off = f.size;
                            f.wbuf.clear();
                            continue;
                        }
                        Err(e) => {
                            error!("hint file {}: rewrite failed: {e}", f.path.display());
                        }
                    }
                }
                let res = f.file.write_all(&f.wbuf).and_then(|()| {
                    if fsync {
                        f.file.sync_data()
                    } else {
                        Ok(())
                    }
                });
                f.wbuf.clear();
                if let Err(e) = res {
                    error!(
                        "hint file {}: write failed, hints for this peer stay in memory: {e}",
                        f.path.display()
                    );
                    failed = true;
                }
            }
            if failed {
                let q = self.handoff.queue_mut(peer).expect("queue");
                let lost = q.spilled();
                q.file = None;
                if lost > 0 {
                    self.hint_dropped(peer, DropReason::Disk, lost);
                }
            }
        }
    }

    /// A peer was added (at start, or later by a seed provider or gossip):
    /// a hint file left for its address is read back and replayed.
    pub(crate) fn handoff_peer_added(&mut self, peer: PeerId) {
        let h = &self.handoff;
        if !h.conf.enabled || peer.is_local() || h.queue(peer).is_some() {
            return;
        }
        let Some(dir) = h.conf.dir.as_deref() else {
            return;
        };
        let p = self.topology.peer(peer);
        if Path::new(dir)
            .join(Handoff::file_name(&p.host, p.port))
            .exists()
        {
            let max = self.hint_queue(peer).max_order;
            self.handoff.order_base = self.handoff.order_base.max(max + 1);
            self.handoff.kick(peer);
        }
    }

    /// A peer came up: its hints are sent this turn.
    pub(crate) fn handoff_peer_up(&mut self, peer: PeerId) {
        self.handoff.kick(peer);
    }
}

/// How a replayed hint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintOutcome {
    /// Applied.
    Delivered,
    /// The datastore refused the command itself: dropped, counted.
    Rejected,
    /// Not applied (peer or its datastore failed, timed out, connection
    /// lost): sent again later.
    Retry,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(seq: u64, bytes: &[u8]) -> Hint {
        Hint {
            seq,
            order: seq,
            created_ms: 1_700_000_000_000 + seq,
            token: 42,
            flags: FLAG_FORWARD,
            bytes: bytes.to_vec(),
        }
    }

    fn read_all(bytes: &[u8]) -> (Vec<Record>, ReadSummary) {
        let mut out = Vec::new();
        let s = read_records(&mut &bytes[..], 0, |_, r| {
            out.push(r);
            true
        })
        .expect("read");
        (out, s)
    }

    #[test]
    fn records_read_back_as_written_whole_and_split_at_every_byte() {
        let recs = vec![
            Record::Hint(hint(1, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")),
            Record::Done(1),
            Record::Hint(hint(2, b"set k 0 0 1\r\nv\r\n")),
            Record::Hint(hint(3, &vec![7u8; 200_000])),
        ];
        let mut buf = Vec::new();
        for r in &recs {
            encode_record(&mut buf, r);
        }
        let (got, s) = read_all(&buf);
        assert_eq!(got, recs);
        assert_eq!(s.end, buf.len() as u64);
        assert!(!s.torn);
        // Every prefix: the complete records, the rest cut off as torn.
        let ends: Vec<usize> = {
            let mut at = 0;
            let mut v = Vec::new();
            for r in &recs {
                let mut one = Vec::new();
                encode_record(&mut one, r);
                at += one.len();
                v.push(at);
            }
            v
        };
        for cut in (0..buf.len())
            .step_by(997)
            .chain(ends.iter().map(|e| e - 1))
        {
            let (got, s) = read_all(&buf[..cut]);
            let whole = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got, recs[..whole].to_vec(), "cut at {cut}");
            assert_eq!(s.end as usize, if whole == 0 { 0 } else { ends[whole - 1] });
            assert_eq!(s.torn, cut != s.end as usize, "cut at {cut}");
        }
    }

    #[test]
    fn a_damaged_record_is_skipped_and_the_rest_is_read() {
        let mut buf = Vec::new();
        encode_record(&mut buf, &Record::Hint(hint(1, b"one")));
        let second = buf.len();
        encode_record(&mut buf, &Record::Hint(hint(2, b"two")));
        encode_record(&mut buf, &Record::Hint(hint(3, b"three")));
        // A flipped byte in the second record's body.
        buf[second + RECORD_HEAD + 5] ^= 0x40;
        let (got, s) = read_all(&buf);
        assert_eq!(
            got,
            vec![
                Record::Hint(hint(1, b"one")),
                Record::Hint(hint(3, b"three"))
            ]
        );
        assert_eq!(s.corrupt, 1);
        assert!(!s.torn);
        // A length no record can have: nothing after it is trusted.
        let mut bad = Vec::new();
        encode_record(&mut bad, &Record::Hint(hint(1, b"one")));
        bad.extend_from_slice(&u32::MAX.to_le_bytes());
        bad.extend_from_slice(&[0u8; 40]);
        let (got, s) = read_all(&bad);
        assert_eq!(got.len(), 1);
        assert!(s.torn);
        assert_eq!(decode_record(&[0u8; 20]), Decoded::Garbage);
    }

    fn conf(dir: Option<&Path>) -> HandoffConf {
        HandoffConf {
            dir: dir.map(|d| d.display().to_string()),
            ..HandoffConf::default()
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dyn-hints-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn a_file_is_read_back_after_a_torn_write_and_its_delivered_hints_skipped() {
        let dir = temp_dir("torn");
        let path = dir.join("h.hints");
        let mut bytes = MAGIC.to_vec();
        let now = unix_ms();
        for seq in 1..=5 {
            let mut h = hint(seq, format!("SET k {seq}").as_bytes());
            h.created_ms = now;
            encode_record(&mut bytes, &Record::Hint(h));
        }
        encode_record(&mut bytes, &Record::Done(2));
        let whole = bytes.len();
        let mut h = hint(6, b"torn");
        h.created_ms = now;
        encode_record(&mut bytes, &Record::Hint(h));
        bytes.truncate(whole + 7);
        std::fs::write(&path, &bytes).expect("write");

        let c = conf(Some(&dir));
        let mut q = HintQueue::new();
        let f = open_file(&path, &c, &mut q, now).expect("open");
        let seqs: Vec<u64> = q.q.iter().map(|h| h.seq).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(q.next_seq, 6);
        assert_eq!(q.figures.corrupt, 1, "the torn record is counted");
        assert_eq!(f.size, whole as u64);
        assert_eq!(
            std::fs::metadata(&path).expect("meta").len(),
            whole as u64,
            "the torn tail is cut off"
        );

        // Aged hints are dropped on the way in; memory full: the rest is
        // left in the file.
        let mut c = c;
        c.max_memory_bytes = hint(3, b"SET k 3").cost() + 1;
        let mut q = HintQueue::new();
        let f = open_file(&path, &c, &mut q, now).expect("open");
        assert_eq!(q.q.len(), 1);
        assert_eq!(f.spilled, 2);
        c.max_age_ms = 1;
        let mut q = HintQueue::new();
        let f = open_file(&path, &c, &mut q, now + 10).expect("open");
        assert_eq!((q.q.len(), f.spilled), (0, 0));
        assert_eq!(q.figures.dropped_age, 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_is_not_a_hint_file_is_refused() {
        let dir = temp_dir("magic");
        let path = dir.join("x.hints");
        std::fs::write(&path, b"something else entirely").expect("write");
        let mut q = HintQueue::new();
        let e = open_file(&path, &conf(Some(&dir)), &mut q, 0).expect_err("bad magic");
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A node of rack1 with peers in rack2 and rack3 on listeners that
    /// never accept; their first connections are marked connected (nothing
    /// is polled: handlers are called directly).
    fn node(dir: Option<&Path>) -> (Context, Vec<std::net::TcpListener>, PeerId) {
        let l: Vec<_> = (0..2)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
            .collect();
        let port = |i: usize| l[i].local_addr().expect("addr").port();
        let hints = dir.map_or(String::new(), |d| format!("  hints_dir: {}\n", d.display()));
        let text = format!(
            "t:\n  datacenter: dc\n  rack: rack1\n  listen: 127.0.0.1:8102\n  \
             dyn_listen: 127.0.0.1:8101\n  dyn_seeds:\n  - 127.0.0.1:{}:rack2:dc:1\n  \
             - 127.0.0.1:{}:rack3:dc:1\n  tokens: '1'\n  servers:\n  - 127.0.0.1:22121:1\n{hints}",
            port(0),
            port(1)
        );
        let conf = crate::conf::Conf::parse_str("test.yml", &text).expect("conf");
        let topology = crate::cluster::topology::Topology::from_conf(&conf.pool).expect("topology");
        let mut ctx = Context::new(&conf.pool, topology, 16 * 1024, 1024).expect("context");
        ctx.handoff_load();
        ctx.peers_connect();
        let remote: Vec<PeerId> = ctx.topology.peer_ids().filter(|p| !p.is_local()).collect();
        for &p in &remote {
            let cid = ctx.peers[p].slots[0].conn.expect("opened");
            ctx.conns[cid.0].state = crate::conn::ConnState::Connected;
        }
        (ctx, l, remote[0])
    }

    /// A write copy of `SET k <v>` nobody waits for, as `send_orphan`
    /// makes it, offered to `peer` (sent, or handed to copy_undeliverable).
    fn send_copy(ctx: &mut Context, peer: PeerId, v: &str) {
        let mid = ctx.msgs.get(MsgKind::Request);
        let text = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{v}\r\n", v.len());
        let mut segs = std::mem::take(&mut ctx.msgs[mid].segs);
        ctx.mbufs.append(&mut segs, text.as_bytes());
        let m = &mut ctx.msgs[mid];
        m.segs = segs;
        m.mlen = text.len() as u64;
        m.swallow = true;
        m.cmd = crate::proto::redis::lookup(b"set", None).ok();
        if let Err(why) = ctx.peer_forward(mid, peer, false) {
            ctx.copy_undeliverable(peer, mid, why);
        }
    }

    /// The messages queued on `peer`'s first connection, taken off it.
    fn take_queued(ctx: &mut Context, peer: PeerId) -> Vec<MsgId> {
        let cid = ctx.peers[peer].slots[0].conn.expect("open");
        let q: Vec<MsgId> = ctx.conns[cid.0].imsg_q.drain(..).collect();
        ctx.peers[peer].slots[0].queued_bytes = 0;
        for &m in &q {
            ctx.msgs[m].in_server = false;
        }
        q
    }

    fn bytes_of(ctx: &Context, mid: MsgId) -> String {
        let m = &ctx.msgs[mid];
        let mut v = Vec::new();
        ctx.mbufs.copy_out(&m.segs, 0, m.mlen, &mut v);
        String::from_utf8(v).expect("text")
    }

    fn answer(ctx: &mut Context, req: MsgId, text: &[u8]) {
        let rsp = ctx.reply_made(text, text[0] == b'-');
        ctx.attach_reply(req, rsp);
    }

    fn queued_values(ctx: &Context, peer: PeerId) -> Vec<String> {
        let q = ctx.handoff.queue(peer).expect("queue");
        q.q.iter()
            .map(|h| {
                String::from_utf8_lossy(&h.bytes)
                    .rsplit("\r\n")
                    .nth(1)
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn copies_queue_behind_pending_hints_and_replay_in_order() {
        let (mut ctx, _l, a) = node(None);
        ctx.topology.set_health(a, PeerHealth::Down);
        send_copy(&mut ctx, a, "1");
        assert!(
            take_queued(&mut ctx, a).is_empty(),
            "not sent to a down peer"
        );
        assert_eq!(ctx.handoff.figures(a).queued, 1);
        assert_eq!(ctx.stats.pool.peer_dropped_requests, 0, "kept, not dropped");
        assert_eq!(ctx.stats.faults.peer_undeliverable, 1);
        // Up again: the next copy of the key goes behind the hint.
        ctx.topology.set_health(a, PeerHealth::Up);
        send_copy(&mut ctx, a, "2");
        assert!(take_queued(&mut ctx, a).is_empty(), "behind its hints");
        assert_eq!(queued_values(&ctx, a), ["1", "2"]);
        assert_eq!(
            ctx.stats.faults.peer_undeliverable, 1,
            "queuing behind is no fault"
        );

        // The replay sends both, oldest first; the first fails (the peer's
        // datastore is down), the second is applied: both stay, in order.
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        let sent = take_queued(&mut ctx, a);
        assert_eq!(sent.len(), 2);
        assert!(bytes_of(&ctx, sent[0]).ends_with("$1\r\n1\r\n"));
        assert!(bytes_of(&ctx, sent[1]).ends_with("$1\r\n2\r\n"));
        answer(
            &mut ctx,
            sent[0],
            b"-ERR Storage: Datastore refused connection\r\n",
        );
        answer(&mut ctx, sent[1], b"+OK\r\n");
        assert_eq!(
            queued_values(&ctx, a),
            ["1", "2"],
            "the round is kept whole"
        );
        let f = ctx.handoff.figures(a);
        assert_eq!((f.replayed, f.retries), (0, 1));
        // Not before the retry time.
        ctx.handoff_turn();
        assert!(take_queued(&mut ctx, a).is_empty());
        // After a failure, a batch is sent twice (a request that failed may
        // still be applied later by a stopped datastore): once ...
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        let sent = take_queued(&mut ctx, a);
        assert_eq!(sent.len(), 2);
        for m in sent {
            answer(&mut ctx, m, b"+OK\r\n");
        }
        assert_eq!(
            queued_values(&ctx, a),
            ["1", "2"],
            "kept after the first pass"
        );
        ctx.handoff_turn();
        assert!(take_queued(&mut ctx, a).is_empty(), "the second pass waits");
        // ... and again, now popped as answered.
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        let sent = take_queued(&mut ctx, a);
        assert_eq!(sent.len(), 2);
        // A copy made meanwhile still queues behind.
        send_copy(&mut ctx, a, "3");
        assert!(take_queued(&mut ctx, a).is_empty());
        answer(&mut ctx, sent[0], b"+OK\r\n");
        // The next hint goes out as soon as the window has room.
        let next = take_queued(&mut ctx, a);
        assert_eq!(next.len(), 1);
        answer(
            &mut ctx,
            sent[1],
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        );
        answer(&mut ctx, next[0], b"+OK\r\n");
        let f = ctx.handoff.figures(a);
        assert_eq!((f.queued, f.replayed, f.rejected, f.hinted), (0, 2, 1, 3));
        assert!(!ctx.handoff.pending(a));
        // Drained: copies go direct again.
        send_copy(&mut ctx, a, "4");
        assert_eq!(take_queued(&mut ctx, a).len(), 1);
        assert_eq!(ctx.msgs.in_use(), 1, "only the direct copy is held");
    }

    #[test]
    fn a_copy_whose_failure_is_heard_late_keeps_its_place_before_newer_ones() {
        let (mut ctx, _l, a) = node(None);
        // Sent straight to the peer, not answered yet.
        send_copy(&mut ctx, a, "old");
        let cid = ctx.peers[a].slots[0].conn.expect("open");
        let old = ctx.conns[cid.0].imsg_q.pop_front().expect("queued");
        ctx.conns[cid.0].omsg_q.push_back(old);
        // Meanwhile the peer gets hints (another copy failed) and a newer
        // write of the key queues behind them.
        ctx.topology.set_health(a, PeerHealth::Down);
        send_copy(&mut ctx, a, "x");
        ctx.topology.set_health(a, PeerHealth::Up);
        send_copy(&mut ctx, a, "new");
        assert_eq!(queued_values(&ctx, a), ["x", "new"]);
        // Nothing is replayed while the older copy is unanswered.
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        assert_eq!(ctx.conns[cid.0].imsg_q.len(), 0);
        // Its storage error comes: its hint goes before the newer ones.
        let rsp = ctx.reply_made(b"-ERR Storage: Datastore timed out\r\n", true);
        let id = ctx.msgs[old].id;
        ctx.peer_reply(cid, rsp, id);
        assert_eq!(ctx.handoff.figures(a).queued, 3);
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        assert_eq!(queued_values(&ctx, a), ["old", "x", "new"]);
        assert_eq!(take_queued(&mut ctx, a).len(), 3, "replayed now");
    }

    #[test]
    fn a_copy_lost_with_its_connection_or_refused_by_storage_becomes_a_hint() {
        let (mut ctx, _l, a) = node(None);
        send_copy(&mut ctx, a, "1");
        let cid = ctx.peers[a].slots[0].conn.expect("open");
        assert_eq!(ctx.conns[cid.0].imsg_q.len(), 1);
        ctx.close_conn(cid);
        assert_eq!(queued_values(&ctx, a), ["1"]);
        assert_eq!(ctx.stats.pool.peer_dropped_requests, 0);
        let (mut ctx, _l, a) = node(None);
        send_copy(&mut ctx, a, "2");
        let cid = ctx.peers[a].slots[0].conn.expect("open");
        let q = ctx.conns[cid.0].imsg_q.pop_front().expect("queued");
        ctx.conns[cid.0].omsg_q.push_back(q);
        let rsp = ctx.reply_made(b"-ERR Storage: Datastore timed out\r\n", true);
        let id = ctx.msgs[q].id;
        ctx.peer_reply(cid, rsp, id);
        assert_eq!(queued_values(&ctx, a), ["2"]);
        assert_eq!(ctx.msgs.in_use(), 0);
    }

    #[test]
    fn bounds_drop_hints_and_count_them() {
        let (mut ctx, _l, a) = node(None);
        ctx.topology.set_health(a, PeerHealth::Down);
        let one = Hint {
            seq: 0,
            order: 0,
            created_ms: unix_ms(),
            token: 0,
            flags: 0,
            bytes: vec![b'x'; 1000],
        };
        ctx.handoff.conf.max_memory_bytes = 3 * one.cost();
        for _ in 0..5 {
            ctx.hint_add(a, one.clone());
        }
        let f = ctx.handoff.figures(a);
        assert_eq!((f.queued, f.dropped_memory, f.hinted), (3, 2, 3));
        assert_eq!(ctx.stats.faults.hints_dropped, 2);
        // Age: hints older than hints_max_age go.
        ctx.handoff.conf.max_age_ms = 60_000;
        let mut old = one.clone();
        old.created_ms -= 120_000;
        let (mut ctx2, _l2, b) = node(None);
        ctx2.topology.set_health(b, PeerHealth::Down);
        ctx2.handoff.conf.max_age_ms = 60_000;
        ctx2.hint_add(b, old.clone());
        ctx2.hint_add(b, old);
        ctx2.hint_add(b, one);
        ctx2.hints_expire(b);
        let f = ctx2.handoff.figures(b);
        assert_eq!((f.queued, f.dropped_age), (1, 2));
        assert!(f.oldest_age_ms < 60_000);
    }

    #[test]
    fn a_full_hint_file_drops_hints_and_counts_them() {
        let dir = temp_dir("disk");
        let (mut ctx, _l, a) = node(Some(&dir));
        ctx.topology.set_health(a, PeerHealth::Down);
        let one = Hint {
            seq: 0,
            order: 0,
            created_ms: unix_ms(),
            token: 0,
            flags: 0,
            bytes: vec![b'x'; 1000],
        };
        let mut rec = Vec::new();
        encode_record(&mut rec, &Record::Hint(one.clone()));
        ctx.handoff.conf.max_disk_bytes = MAGIC.len() as u64 + 2 * rec.len() as u64;
        for _ in 0..4 {
            ctx.hint_add(a, one.clone());
        }
        ctx.handoff_turn();
        let f = ctx.handoff.figures(a);
        assert_eq!((f.queued, f.dropped_disk), (2, 2));
        assert_eq!(f.disk_bytes, MAGIC.len() as u64 + 2 * rec.len() as u64);
        assert_eq!(
            std::fs::metadata(
                dir.join(
                    std::fs::read_dir(&dir)
                        .expect("dir")
                        .flatten()
                        .next()
                        .expect("file")
                        .file_name()
                )
            )
            .expect("meta")
            .len(),
            f.disk_bytes
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hints_past_memory_live_in_the_file_and_survive_a_restart() {
        let dir = temp_dir("spill");
        {
            let (mut ctx, _l, a) = node(Some(&dir));
            ctx.topology.set_health(a, PeerHealth::Down);
            let probe = Hint {
                seq: 0,
                order: 0,
                created_ms: 0,
                token: 0,
                flags: 0,
                bytes: b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n0\r\n".to_vec(),
            };
            ctx.handoff.conf.max_memory_bytes = 2 * probe.cost();
            for v in 0..5 {
                send_copy(&mut ctx, a, &v.to_string());
            }
            let f = ctx.handoff.figures(a);
            assert_eq!(f.queued, 5);
            assert_eq!(
                queued_values(&ctx, a),
                ["0", "1"],
                "the rest is in the file"
            );
            ctx.handoff_turn();
            // The node dies here: nothing else is written.
        }
        let (mut ctx, _l, a) = node(Some(&dir));
        // The peers' addresses differ from the first node's (new ports):
        // the file of the first node's peer names no peer of this one.
        assert_eq!(ctx.handoff.figures(a).queued, 0);
        let _ = &mut ctx;
        // Read back by a node whose peer has that address.
        let name = std::fs::read_dir(&dir)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".hints"))
            .expect("a hint file");
        let p = ctx.topology.peer(a);
        let mine = Handoff::file_name(&p.host, p.port);
        std::fs::rename(dir.join(&name), dir.join(&mine)).expect("rename");
        ctx.handoff_load();
        ctx.handoff.conf.max_memory_bytes = 1 << 20;
        assert_eq!(ctx.handoff.figures(a).queued, 5);
        ctx.handoff.kick(a);
        ctx.handoff_turn();
        let sent = take_queued(&mut ctx, a);
        let values: Vec<String> = sent
            .iter()
            .map(|&m| {
                bytes_of(&ctx, m)
                    .rsplit("\r\n")
                    .nth(1)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(values, ["0", "1", "2", "3", "4"]);
        for m in sent {
            answer(&mut ctx, m, b"+OK\r\n");
        }
        assert_eq!(ctx.handoff.figures(a).queued, 0);
        ctx.handoff_turn();
        assert_eq!(
            std::fs::metadata(dir.join(&mine)).expect("file").len(),
            MAGIC.len() as u64,
            "drained: the file is cut back"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn memcached_noreply_is_read_from_the_command_line() {
        assert!(mc_noreply(b"set k 0 0 1 noreply\r\nv\r\n"));
        assert!(mc_noreply(b"delete k noreply\r\n"));
        assert!(!mc_noreply(b"set k 0 0 7\r\nnoreply\r\n"));
        assert!(!mc_noreply(b"set k 0 0 1\r\nv\r\n"));
    }

    #[test]
    fn file_names_follow_the_peer_address() {
        assert_eq!(
            Handoff::file_name("127.0.0.1", 8101),
            "127.0.0.1_8101.hints"
        );
        assert_eq!(Handoff::file_name("a/b c", 1), "a_b_c_1.hints");
    }
}
