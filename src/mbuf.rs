//! Buffer chunks (dyn_mbuf.c).
//!
//! Every byte the proxy reads or generates lives in a fixed-size chunk of
//! `mbuf_size` bytes taken from one bounded [`MbufPool`]. Unlike twemproxy, a
//! chunk is not owned by one message: messages hold [`Seg`]ments (chunk,
//! start, end), and a chunk carries a reference count. A read fills a chunk
//! once; every request (or reply) parsed out of it refers to its own range, so
//! a pipeline of small commands shares one chunk and nothing is copied between
//! the socket and the other socket.
//!
//! ```text
//!   read(2) ──► [ chunk 7: "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET…" ]
//!                 ▲ Seg{7, 0, 22} = msg A     ▲ Seg{7, 22, …} = msg B
//!   writev(2) ◄── segments of A, B, … in queue order
//! ```
//!
//! A chunk returns to the free list when its last reference goes. The free
//! list itself is capped so that an idle proxy gives memory back.

use std::io::IoSlice;

use slab::Slab;

/// Smallest, default and largest chunk size (`mbuf_size`, `-m`).
pub const MBUF_MIN_SIZE: usize = 512;
pub const MBUF_SIZE: usize = 16384;
pub const MBUF_MAX_SIZE: usize = 512_000;
const _: () = assert!(MBUF_MIN_SIZE <= MBUF_SIZE && MBUF_SIZE <= MBUF_MAX_SIZE);

/// Chunks kept on the free list at most, whatever the chunk size: beyond that
/// (or beyond 4 MiB of chunks) a released chunk goes back to the allocator.
const FREE_MAX_CHUNKS: usize = 64;
const FREE_MAX_BYTES: usize = 1 << 20;

/// Index of a chunk in the pool.
pub type MbufId = usize;

/// One chunk: the bytes, how many are filled, and how many segments (plus the
/// connection reading into it) still refer to it.
#[derive(Debug)]
struct Mbuf {
    data: Box<[u8]>,
    /// Bytes `0..last` are filled.
    last: usize,
    /// Live references; the chunk is released when this drops to zero.
    refs: u32,
}

/// A range of one chunk that belongs to a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub buf: MbufId,
    pub start: u32,
    pub end: u32,
}

impl Seg {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when the segment covers no byte.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// The bounded pool of chunks.
#[derive(Debug)]
pub struct MbufPool {
    chunks: Slab<Mbuf>,
    free: Vec<Box<[u8]>>,
    size: usize,
    /// Most chunks that may be in use at once by client reads (`max_msgs`).
    limit: usize,
    free_max: usize,
    /// Chunks handed back to the allocator since the last [`MbufPool::take_released`].
    released: usize,
}

impl MbufPool {
    /// A pool of chunks of `size` bytes; `limit` bounds what client reads may take.
    pub fn new(size: usize, limit: usize) -> MbufPool {
        debug_assert!(size >= MBUF_MIN_SIZE);
        debug_assert!(size <= MBUF_MAX_SIZE);
        debug_assert!(limit > 0);
        MbufPool {
            chunks: Slab::new(),
            free: Vec::new(),
            size,
            limit,
            free_max: FREE_MAX_CHUNKS.min(FREE_MAX_BYTES / size).max(1),
            released: 0,
        }
    }

    /// The chunk size in bytes.
    pub fn chunk_size(&self) -> usize {
        self.size
    }

    /// Chunks in use.
    pub fn in_use(&self) -> usize {
        self.chunks.len()
    }

    /// How many chunks went back to the allocator since the last call.
    pub fn take_released(&mut self) -> usize {
        std::mem::take(&mut self.released)
    }

    /// Chunks on the free list.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// True when client reads must wait for chunks to come back (backpressure).
    pub fn exhausted(&self) -> bool {
        self.chunks.len() >= self.limit
    }

    /// Takes an empty chunk with one reference. Never fails: callers that must
    /// respect the limit check [`MbufPool::exhausted`] first (server replies
    /// are always read, or the pool could never drain).
    pub fn get(&mut self) -> MbufId {
        let size = self.size;
        let data = self
            .free
            .pop()
            .unwrap_or_else(|| vec![0u8; size].into_boxed_slice());
        debug_assert_eq!(data.len(), size);
        self.chunks.insert(Mbuf {
            data,
            last: 0,
            refs: 1,
        })
    }

    /// Adds a reference to a chunk.
    pub fn incref(&mut self, id: MbufId) {
        let m = &mut self.chunks[id];
        debug_assert!(m.refs > 0);
        m.refs += 1;
    }

    /// Drops a reference; the last one releases the chunk.
    pub fn put(&mut self, id: MbufId) {
        let m = &mut self.chunks[id];
        debug_assert!(m.refs > 0);
        m.refs -= 1;
        if m.refs == 0 {
            let mut m = self.chunks.remove(id);
            if self.free.len() < self.free_max {
                if cfg!(debug_assertions) {
                    m.data.fill(0xdb);
                }
                self.free.push(m.data);
            } else {
                self.released += 1;
            }
        }
    }

    /// Releases every segment of a list.
    pub fn put_segs(&mut self, segs: &mut Vec<Seg>) {
        for s in segs.drain(..) {
            self.put(s.buf);
        }
    }

    /// Filled bytes of a chunk.
    pub fn filled(&self, id: MbufId) -> usize {
        self.chunks[id].last
    }

    /// Free space left at the end of a chunk.
    pub fn spare_len(&self, id: MbufId) -> usize {
        self.size - self.chunks[id].last
    }

    /// The unfilled tail of a chunk, to read into.
    pub fn spare_mut(&mut self, id: MbufId) -> &mut [u8] {
        let m = &mut self.chunks[id];
        &mut m.data[m.last..]
    }

    /// Marks `n` more bytes of the tail as filled.
    pub fn commit(&mut self, id: MbufId, n: usize) {
        let m = &mut self.chunks[id];
        debug_assert!(m.last + n <= m.data.len());
        m.last += n;
    }

    /// The bytes of a segment.
    pub fn bytes(&self, s: Seg) -> &[u8] {
        &self.chunks[s.buf].data[s.start as usize..s.end as usize]
    }

    /// Bytes `start..end` of a chunk.
    pub fn range(&self, id: MbufId, start: usize, end: usize) -> &[u8] {
        &self.chunks[id].data[start..end]
    }

    /// Appends generated bytes to a segment list, filling the last chunk when
    /// this list is its only user and its tail is the list's tail.
    pub fn append(&mut self, segs: &mut Vec<Seg>, mut data: &[u8]) {
        if let Some(last) = segs.last_mut() {
            let m = &mut self.chunks[last.buf];
            if m.refs == 1 && last.end as usize == m.last && m.last < m.data.len() {
                let n = data.len().min(m.data.len() - m.last);
                m.data[m.last..m.last + n].copy_from_slice(&data[..n]);
                m.last += n;
                last.end += n as u32;
                data = &data[n..];
            }
        }
        while !data.is_empty() {
            let id = self.get();
            let n = data.len().min(self.size);
            let m = &mut self.chunks[id];
            m.data[..n].copy_from_slice(&data[..n]);
            m.last = n;
            segs.push(Seg {
                buf: id,
                start: 0,
                end: n as u32,
            });
            data = &data[n..];
        }
    }

    /// Appends references to the bytes `off..off + len` of the message made of
    /// `src` (offsets count from the start of `src`).
    pub fn append_ref(&mut self, segs: &mut Vec<Seg>, src: &[Seg], off: u64, len: u64) {
        for part in seg_ranges(src, off, len) {
            self.incref(part.buf);
            segs.push(part);
        }
    }

    /// Overwrites the bytes `off..off + len` of the message made of `src`
    /// with `byte` (a request edited in place before it is forwarded).
    pub fn overwrite(&mut self, src: &[Seg], off: u64, len: u64, byte: u8) {
        for part in seg_ranges(src, off, len) {
            self.chunks[part.buf].data[part.start as usize..part.end as usize].fill(byte);
        }
    }

    /// Copies the bytes `off..off + out.len()` of the message made of `src`
    /// into `out`; returns how many bytes were there.
    pub fn copy_to_slice(&self, src: &[Seg], off: u64, out: &mut [u8]) -> usize {
        let mut n = 0usize;
        for part in seg_ranges(src, off, out.len() as u64) {
            let b = self.bytes(part);
            out[n..n + b.len()].copy_from_slice(b);
            n += b.len();
        }
        n
    }

    /// Copies the bytes `off..off + len` of the message made of `src` into `out`.
    pub fn copy_out(&self, src: &[Seg], off: u64, len: u64, out: &mut Vec<u8>) {
        for part in seg_ranges(src, off, len) {
            out.extend_from_slice(self.bytes(part));
        }
    }

    /// Adds the segments of `segs`, minus their first `skip` bytes, to `iov`
    /// from position `*n`. Returns false once `iov` is full.
    pub fn fill_iov<'a>(
        &'a self,
        segs: impl Iterator<Item = &'a Seg>,
        skip: &mut u64,
        iov: &mut [IoSlice<'a>],
        n: &mut usize,
    ) -> bool {
        for s in segs {
            let b = self.bytes(*s);
            if *skip >= b.len() as u64 {
                *skip -= b.len() as u64;
                continue;
            }
            if *n >= iov.len() {
                return false;
            }
            iov[*n] = IoSlice::new(&b[*skip as usize..]);
            *n += 1;
            *skip = 0;
        }
        *n < iov.len()
    }
}

/// The parts of the segments `src` that hold the message bytes
/// `off..off + len` (offsets count from the start of `src`).
pub fn seg_ranges(src: &[Seg], off: u64, len: u64) -> impl Iterator<Item = Seg> + '_ {
    let end = off + len;
    let mut pos = 0u64;
    src.iter().filter_map(move |s| {
        let (a, b) = (pos, pos + s.len() as u64);
        pos = b;
        if b <= off || a >= end {
            return None;
        }
        let from = (off.max(a) - a) as u32;
        let to = (end.min(b) - a) as u32;
        Some(Seg {
            buf: s.buf,
            start: s.start + from,
            end: s.start + to,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_fills_then_chains() {
        let mut p = MbufPool::new(512, 10);
        let mut segs = Vec::new();
        p.append(&mut segs, &[1u8; 300]);
        p.append(&mut segs, &[2u8; 300]);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].len(), 512);
        assert_eq!(segs[1].len(), 88);
        let mut out = Vec::new();
        p.copy_out(&segs, 290, 20, &mut out);
        assert_eq!(&out[..10], &[1u8; 10]);
        assert_eq!(&out[10..], &[2u8; 10]);
        let mut refs = Vec::new();
        p.append_ref(&mut refs, &segs, 500, 30);
        assert_eq!(refs.len(), 2);
        p.put_segs(&mut segs);
        assert_eq!(p.in_use(), 2, "references keep chunks alive");
        p.put_segs(&mut refs);
        assert_eq!(p.in_use(), 0, "every chunk came back");
    }

    #[test]
    fn shared_chunk_is_not_extended() {
        let mut p = MbufPool::new(512, 10);
        let mut a = Vec::new();
        p.append(&mut a, b"abc");
        let mut b = Vec::new();
        p.append_ref(&mut b, &a, 0, 3);
        p.append(&mut b, b"def");
        assert_eq!(b.len(), 2, "a shared chunk is never written past its users");
        p.put_segs(&mut a);
        p.put_segs(&mut b);
        assert_eq!(p.in_use(), 0);
    }
}
