//! Peer frames (dyn_dnode_msg.c): the dnode header writer, the lenient
//! resumable header parser, and the gossip record list carried by type-7
//! frames.
//!
//! A frame is an ASCII header followed by a payload:
//!
//! ```text
//! "   $2014$ <id> <type> <flags> <version> <same_dc> *<data_len> <data> *<payload_len>\r\n" <payload>
//! ```
//!
//! [`write_header`] writes exactly the bytes the original writes. The
//! [`DmsgParser`] reads headers the way the original does: it scans for the
//! magic `$2014$`, skips anything before it, and abandons a candidate header at
//! the first unexpected byte, resuming the scan at that byte. It parses the
//! header only; what follows depends on the frame ([`DmsgPayload`]):
//!
//! ```text
//!   chunk ──> DmsgParser::parse ──> Again (every byte consumed) ──> next chunk
//!                   │
//!                   ├──> Error(text): a length over its cap; close the connection
//!                   │
//!                   └──> Done(n): header = previous chunks + chunk[..n]
//!                          │      (info.data holds the data field's bytes)
//!                          │
//!                          ├── Datastore  (plain 3/4/5): the next bytes are one
//!                          │              Redis/Memcached message; run the
//!                          │              datastore parser on them, not
//!                          │              payload_len (which may be wrong)
//!                          ├── Sized      (plain 7, encrypted 3/4/5/7): the next
//!                          │              payload_len bytes are the payload
//!                          └── HeaderOnly (every other type): nothing follows;
//!                                         feed the next bytes to this parser
//!                                         again, which skips to the next magic
//! ```
//!
//! The parser keeps no reference to the bytes it consumed: the few it needs
//! (the data field, at most [`MAX_DATA_LEN`]) are copied into
//! [`DmsgInfo::data`], so the caller may release header bytes (and skipped
//! garbage) as soon as a call returns. Offsets in [`DmsgInfo`] count from the
//! first byte fed after the previous `Done`.
//!
//! Accepted as the original accepts them: garbage (or nothing) before the
//! magic; any number of `*` (or none) before data_len; data taken blindly,
//! whatever bytes it holds; anything between the data and the `*` of
//! payload_len; leading zeros; any version; same_dc read from its last digit.
//! Where the original leaves room, this parser:
//!
//! * requires at least one digit in every number field;
//! * wraps an overlong id (mod 2^64), keeps the low eight bits of flags and
//!   version (the original keeps four of the flags), and saturates the type,
//!   so such headers are read, not dropped;
//! * rejects data_len over [`MAX_DATA_LEN`] and payload_len over
//!   [`MAX_PAYLOAD_LEN`] with `Error`, as soon as the digits pass the cap,
//!   even for plain datastore frames whose payload_len is advisory (the
//!   original accepts any value and waits for all of a claimed data field);
//! * reports `Done` at the LF, where the original waits for one more byte;
//! * treats type 0 as header-only, where the original parses a datastore
//!   message after it and then stops answering;
//! * delimits encrypted gossip by payload_len, where the original decrypts it
//!   and fails in the Redis parser.
//!
//! Flags: bit 0 is "encrypted" and bit 1 "compressed" (reserved). The original
//! keeps only the low four bits of the flags number and then tests them for
//! exactly 1, so bits 4..7 reach a C node as if they were clear. Bit 4
//! ([`FLAG_RESP3`]) carries the client protocol between Rust nodes, and bit
//! 5 ([`FLAG_TLS`]) asks for TLS on a peer link; see their documentation.

use memchr::memchr;

use crate::proto::Parse;

/// The magic that starts every header (after three spaces when written).
pub const MAGIC: &[u8; 6] = b"$2014$";
/// Written in front of the magic, as the original does.
const LEAD: &[u8; 3] = b"   ";
/// The only version the original writes (it never checks it).
pub const DMSG_VERSION: u8 = 1;

/// Flags bit 0: the payload is AES ciphertext (peer spec 6). A receiver tests
/// the low four bits for exactly this value, as the original does.
pub const FLAG_ENCRYPTED: u8 = 1;
/// Flags bit 1: compressed. Reserved by the original, never implemented;
/// never set it.
pub const FLAG_COMPRESSED: u8 = 2;
/// Flags bit 4: the payload speaks RESP3 (a Rust-only extension).
///
/// * In a request (type 3 or 4): the client that sent it negotiated RESP3
///   (`HELLO 3`); a Rust replica runs it on a RESP3 datastore connection and
///   answers in RESP3.
/// * In a reply (type 5): the payload is a RESP3 reply. A replica sets it only
///   when it honoured the bit of the request; a reply without it is RESP2.
///
/// Why C nodes ignore it: the original keeps only the low four bits of the
/// flags number (so 16 arrives as 0 and 17 as 1) and treats every value other
/// than 1 as plain text anyway. Bits 2 and 3 would survive that mask and turn
/// an encrypted frame (flags 1) into one read as plain, which is why the
/// extension uses bit 4. A C replica therefore executes a flagged request
/// normally and answers in RESP2 without the bit, which tells a Rust
/// coordinator to treat that reply as RESP2. No negotiation is needed and a
/// Rust node never has to know whether a peer is C or Rust.
pub const FLAG_RESP3: u8 = 0x10;
/// Flags bit 5: "TLS follows" (a Rust-only extension, peer TLS in tls.rs).
///
/// A node with `peer_tls: true` writes one frame with this flag as the
/// first bytes of every outbound peer connection: type 6
/// (`CRYPTO_HANDSHAKE`), id 0, data `d`, payload_len 0, no payload
/// ([`starttls_header`]). The TLS handshake follows at once on the same
/// connection, and every later frame travels inside TLS. The accepting node
/// recognises the frame ([`DmsgHeader::is_starttls`]) and turns the link
/// into a TLS server session, giving it the bytes it already read past the
/// header.
///
/// Why C nodes are safe: they never send bit 5 (they send flags 0 or 1), so
/// a plain or encrypted link from a C node never looks like this frame; and a
/// C node that received it would keep only the low four bits (0) and drop a
/// type-6 frame as header-only. Bits 2 and 3 are avoided for the reason given
/// at [`FLAG_RESP3`]; bit 4 is RESP3's.
pub const FLAG_TLS: u8 = 0x20;
/// Flags bit 6: the request runs in database `version` (a Rust-only
/// extension, SELECT in select.rs).
///
/// * In a request (type 3 or 4): the client selected a database other than
///   its node's `redis_db`; the version field holds that database (0..=255)
///   instead of [`DMSG_VERSION`]. A Rust replica runs the request on a
///   connection of that database.
/// * In a reply (type 5): the replica honoured the bit of the request. A
///   reply to a flagged request without it came from a node that ran the
///   request in its default database (a C node: it keeps only the low four
///   bits of the flags and never reads the version); the coordinator then
///   answers an error instead of that reply.
///
/// Bits 2 and 3 are avoided for the reason given at [`FLAG_RESP3`].
pub const FLAG_DB: u8 = 0x40;
/// The part of the flags the original keeps.
pub const C_FLAGS_MASK: u8 = 0x0f;

/// Most bytes the data field may claim. The original sends 1, or the RSA
/// modulus size (128 with the shipped 1024-bit key); this leaves room for
/// 8192-bit keys.
pub const MAX_DATA_LEN: u64 = 1024;
/// Most bytes payload_len may claim: a 512 MiB bulk value (redis
/// `proto-max-bulk-len`) plus room for the command around it and the
/// encryption padding (16 bytes per 16320-byte segment, about 0.1%).
pub const MAX_PAYLOAD_LEN: u64 = 512 * 1024 * 1024 + 1024 * 1024;

const _: () = assert!(MAX_DATA_LEN <= u32::MAX as u64);
const _: () = assert!(MAX_PAYLOAD_LEN <= u32::MAX as u64);
const _: () = assert!(FLAG_RESP3 & C_FLAGS_MASK == 0);
const _: () = assert!(FLAG_TLS & C_FLAGS_MASK == 0);
const _: () = assert!(FLAG_TLS & FLAG_RESP3 == 0);
const _: () = assert!(FLAG_DB & C_FLAGS_MASK == 0);
const _: () = assert!(FLAG_DB & (FLAG_RESP3 | FLAG_TLS) == 0);
const _: () = assert!(FLAG_ENCRYPTED & C_FLAGS_MASK == FLAG_ENCRYPTED);

pub use crate::errors::{ERR_DATA_LEN, ERR_PAYLOAD_LEN};

/// Frame types (the original's `dmsg_type_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmsgType {
    /// 0, the original's `DMSG_UNKNOWN`. Never sent; a C node receiving it
    /// stops answering on that connection. Skipped here (header only).
    Undefined,
    /// 1, never sent; header only.
    Debug,
    /// 2, never sent; header only.
    ParseError,
    /// 3: a request to apply to the receiver's datastore.
    Req,
    /// 4: a request the receiver replicates to every rack of its DC.
    ReqForward,
    /// 5: a reply, carrying the id of the request it answers.
    Res,
    /// 6, never sent; header only.
    CryptoHandshake,
    /// 7: gossip (a record list, see [`gossip_records`]). Never answered.
    GossipSyn,
    /// 8, never sent; header only.
    GossipSynReply,
    /// 9, never sent; header only.
    GossipAck,
    /// 10, never sent; header only.
    GossipDigestSyn,
    /// 11, never sent; header only.
    GossipDigestAck,
    /// 12, never sent; header only.
    GossipDigestAck2,
    /// 13, never sent; header only.
    GossipShutdown,
    /// Any other number (always above 13); 255 also stands for every number
    /// too large for a byte. Header only.
    Unknown(u8),
}

impl DmsgType {
    /// The type for a number read off the wire.
    pub fn from_num(n: u64) -> DmsgType {
        match n {
            0 => DmsgType::Undefined,
            1 => DmsgType::Debug,
            2 => DmsgType::ParseError,
            3 => DmsgType::Req,
            4 => DmsgType::ReqForward,
            5 => DmsgType::Res,
            6 => DmsgType::CryptoHandshake,
            7 => DmsgType::GossipSyn,
            8 => DmsgType::GossipSynReply,
            9 => DmsgType::GossipAck,
            10 => DmsgType::GossipDigestSyn,
            11 => DmsgType::GossipDigestAck,
            12 => DmsgType::GossipDigestAck2,
            13 => DmsgType::GossipShutdown,
            _ => DmsgType::Unknown(u8::try_from(n).unwrap_or(u8::MAX)),
        }
    }

    /// The number written on the wire.
    pub fn num(self) -> u8 {
        match self {
            DmsgType::Undefined => 0,
            DmsgType::Debug => 1,
            DmsgType::ParseError => 2,
            DmsgType::Req => 3,
            DmsgType::ReqForward => 4,
            DmsgType::Res => 5,
            DmsgType::CryptoHandshake => 6,
            DmsgType::GossipSyn => 7,
            DmsgType::GossipSynReply => 8,
            DmsgType::GossipAck => 9,
            DmsgType::GossipDigestSyn => 10,
            DmsgType::GossipDigestAck => 11,
            DmsgType::GossipDigestAck2 => 12,
            DmsgType::GossipShutdown => 13,
            DmsgType::Unknown(n) => {
                debug_assert!(n > 13);
                n
            }
        }
    }

    /// A request (type 3 or 4).
    pub fn is_request(self) -> bool {
        matches!(self, DmsgType::Req | DmsgType::ReqForward)
    }
}

/// The fields of one frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmsgHeader {
    /// Message id: the sender's request id, the answered request's id in a
    /// reply, or the gossip counter.
    pub id: u64,
    /// Frame type.
    pub ty: DmsgType,
    /// Flag bits ([`FLAG_ENCRYPTED`], [`FLAG_RESP3`]). Parsed numbers keep
    /// their low eight bits.
    pub flags: u8,
    /// Written as [`DMSG_VERSION`]; parsed numbers keep their low eight bits
    /// and are never checked.
    pub version: u8,
    /// The sender believes the receiver is in its DC; a reply echoes the
    /// request's value. Parsed from the last digit of the field only.
    pub same_dc: bool,
    /// Length of the data field: 1 (`d`, or `a` for gossip), or the size of
    /// the RSA block that carries a session key.
    pub data_len: u32,
}

impl DmsgHeader {
    /// A plain header with data `d` (or `a` for gossip), as the original
    /// writes for requests, replies and gossip.
    pub fn new(id: u64, ty: DmsgType, same_dc: bool) -> DmsgHeader {
        DmsgHeader {
            id,
            ty,
            flags: 0,
            version: DMSG_VERSION,
            same_dc,
            data_len: 1,
        }
    }

    /// The plain header of a reply to `req`: its id and same_dc echoed. The
    /// caller adds [`FLAG_ENCRYPTED`] or [`FLAG_RESP3`] as they apply.
    pub fn reply_to(req: &DmsgHeader) -> DmsgHeader {
        debug_assert!(req.ty.is_request());
        DmsgHeader::new(req.id, DmsgType::Res, req.same_dc)
    }

    /// The payload is encrypted, by the original's rule: the low four bits of
    /// the flags are exactly 1.
    pub fn is_encrypted(&self) -> bool {
        self.flags & C_FLAGS_MASK == FLAG_ENCRYPTED
    }

    /// The RESP3 extension bit is set ([`FLAG_RESP3`]).
    pub fn is_resp3(&self) -> bool {
        self.flags & FLAG_RESP3 != 0
    }

    /// The frame that asks for TLS on a peer link ([`FLAG_TLS`]): type 6
    /// with the flag.
    pub fn is_starttls(&self) -> bool {
        self.ty == DmsgType::CryptoHandshake && self.flags & FLAG_TLS != 0
    }

    /// This header's data field carries an RSA-encrypted session key (an
    /// encrypted frame whose data is longer than one byte).
    pub fn carries_key(&self) -> bool {
        self.is_encrypted() && self.data_len > 1
    }
}

/// What follows a parsed header, and who delimits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmsgPayload {
    /// Plain type 3, 4 or 5: exactly one Redis or Memcached message follows;
    /// the datastore parser finds its end. payload_len is advisory only (the
    /// original ignores it here, and can send it too large when relaying).
    Datastore,
    /// Plain type 7, or an encrypted type 3, 4, 5 or 7: exactly payload_len
    /// bytes follow (a gossip record list, or ciphertext to decrypt and then
    /// parse as datastore message; gossip never decrypts in the original).
    Sized,
    /// Any other type (0, 1, 2, 6, 8..): the frame is the header alone. The
    /// bytes after it go back to the [`DmsgParser`], which skips them up to the
    /// next magic, as the original does.
    HeaderOnly,
}

impl DmsgPayload {
    /// The payload rule for a header.
    pub fn of(h: &DmsgHeader) -> DmsgPayload {
        match h.ty {
            DmsgType::Req | DmsgType::ReqForward | DmsgType::Res => {
                if h.is_encrypted() {
                    DmsgPayload::Sized
                } else {
                    DmsgPayload::Datastore
                }
            }
            DmsgType::GossipSyn => DmsgPayload::Sized,
            _ => DmsgPayload::HeaderOnly,
        }
    }
}

/// What the parser learned about one header. Offsets count from the first
/// byte fed after the previous `Done` (the "message"), skipped bytes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmsgInfo {
    /// The header fields.
    pub header: DmsgHeader,
    /// Offset of the magic's `$`; the bytes before it (normally the three
    /// leading spaces) were skipped.
    pub magic_start: u64,
    /// Length of the header from the magic through the LF.
    pub header_len: u64,
    /// Offset of the data field.
    pub data_start: u64,
    /// The data field's bytes (`header.data_len` of them): `d`, `a`, or an
    /// RSA block holding a session key. Filled while parsing; valid after
    /// `Done`.
    pub data: Vec<u8>,
    /// Offset of the payload's first byte: the `n` of `Done(n)`, counted from
    /// the message start.
    pub payload_start: u64,
    /// payload_len as claimed by the header (at most [`MAX_PAYLOAD_LEN`]).
    pub payload_len: u64,
    /// Who delimits the payload.
    pub payload: DmsgPayload,
}

impl Default for DmsgInfo {
    fn default() -> Self {
        DmsgInfo {
            header: DmsgHeader::new(0, DmsgType::Undefined, false),
            magic_start: 0,
            header_len: 0,
            data_start: 0,
            data: Vec::new(),
            payload_start: 0,
            payload_len: 0,
            payload: DmsgPayload::HeaderOnly,
        }
    }
}

/// The header of the frame that asks a peer for TLS ([`FLAG_TLS`]); it is
/// written with payload_len 0 and nothing after it but the handshake.
pub fn starttls_header(same_dc: bool) -> DmsgHeader {
    DmsgHeader {
        flags: FLAG_TLS,
        ..DmsgHeader::new(0, DmsgType::CryptoHandshake, same_dc)
    }
}

/// Writes a plain header: data `a` for gossip, `d` otherwise (h.data_len must
/// be 1), then payload_len; the payload follows it.
pub fn write_header(out: &mut Vec<u8>, h: &DmsgHeader, payload_len: usize) {
    debug_assert_eq!(h.data_len, 1);
    let data = if h.ty == DmsgType::GossipSyn {
        b'a'
    } else {
        b'd'
    };
    write_header_data(out, h, &[data], payload_len);
}

/// Writes a header with an explicit data field (the RSA block of the first
/// encrypted frame on a connection); `data.len()` must equal h.data_len.
pub fn write_header_data(out: &mut Vec<u8>, h: &DmsgHeader, data: &[u8], payload_len: usize) {
    debug_assert_eq!(data.len() as u64, u64::from(h.data_len));
    debug_assert!(data.len() as u64 <= MAX_DATA_LEN);
    debug_assert!(payload_len as u64 <= MAX_PAYLOAD_LEN);
    out.extend_from_slice(LEAD);
    out.extend_from_slice(MAGIC);
    out.push(b' ');
    push_dec(out, h.id);
    out.push(b' ');
    push_dec(out, u64::from(h.ty.num()));
    out.push(b' ');
    push_dec(out, u64::from(h.flags));
    out.push(b' ');
    push_dec(out, u64::from(h.version));
    out.push(b' ');
    out.push(if h.same_dc { b'1' } else { b'0' });
    out.extend_from_slice(b" *");
    push_dec(out, data.len() as u64);
    out.push(b' ');
    out.extend_from_slice(data);
    out.extend_from_slice(b" *");
    push_dec(out, payload_len as u64);
    out.extend_from_slice(b"\r\n");
    debug_assert!(out.ends_with(b"\r\n"));
}

/// Appends `v` in decimal, without leading zeros.
fn push_dec(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// The five space-terminated numbers after the magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Type,
    Flags,
    Version,
    SameDc,
}

/// Header parser states. `bool` fields record whether a digit was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Scanning for the magic; this many of its bytes matched.
    Magic(u8),
    /// The single space after the magic.
    MagicSpace,
    /// Digits of a field, ended by one space.
    Num(Field, bool),
    /// `*`s, then digits of data_len, ended by one space.
    DataLen(bool),
    /// Data bytes still to take blindly.
    Data(u32),
    /// Skipping anything up to the `*` of payload_len.
    Star,
    /// Digits of payload_len, ended by CR.
    PayloadLen(bool),
    /// The LF after that CR.
    Lf,
}

/// Resumable, resynchronising frame header parser.
#[derive(Debug)]
pub struct DmsgParser {
    state: State,
    /// Bytes of the current message consumed before the current chunk.
    off: u64,
    /// Offset of the current candidate's magic.
    magic_start: u64,
    /// Offset of the current candidate's data field.
    data_start: u64,
    id: u64,
    /// Saturates: any number over 255 is an unknown type all the same.
    ty: u64,
    /// Low eight bits of the flags number.
    flags: u8,
    /// Low eight bits of the version number.
    version: u8,
    /// Last digit of the same_dc number.
    same_dc: u8,
    data_len: u32,
    payload_len: u32,
}

impl Default for DmsgParser {
    fn default() -> Self {
        Self::new()
    }
}

impl DmsgParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        DmsgParser {
            state: State::Magic(0),
            off: 0,
            magic_start: 0,
            data_start: 0,
            id: 0,
            ty: 0,
            flags: 0,
            version: 0,
            same_dc: 0,
            data_len: 0,
            payload_len: 0,
        }
    }

    fn reset(&mut self) {
        *self = Self::new();
    }

    /// Feeds the next bytes of the stream; see [`Parse`] and the module
    /// documentation. `info` must be the same value across the calls for one
    /// header; it is complete after `Done(n)`, where `n` counts the bytes of
    /// this chunk up to and including the header's LF. After `Done` and
    /// `Error` the parser is reset.
    pub fn parse(&mut self, chunk: &[u8], info: &mut DmsgInfo) -> Parse {
        let r = self.parse_inner(chunk, info);
        match r {
            Parse::Done(n) => {
                debug_assert!(n >= 1 && n <= chunk.len());
                debug_assert_eq!(info.payload_start, self.off + n as u64);
                debug_assert_eq!(info.data.len() as u64, u64::from(info.header.data_len));
                debug_assert!(info.payload_len <= MAX_PAYLOAD_LEN);
                self.reset();
            }
            Parse::Error(_) => self.reset(),
            Parse::Again => self.off += chunk.len() as u64,
        }
        r
    }

    /// Enters the fields of a candidate whose magic ends at `at`.
    fn start_frame(&mut self, at: u64, info: &mut DmsgInfo) {
        debug_assert!(at + 1 >= MAGIC.len() as u64);
        let off = self.off;
        *self = Self::new();
        self.off = off;
        self.magic_start = at + 1 - MAGIC.len() as u64;
        self.state = State::MagicSpace;
        info.data.clear();
    }

    fn push_field(&mut self, field: Field, d: u8) {
        debug_assert!(d <= 9);
        match field {
            // Overflow is as meaningless as in the original; wrap rather than
            // reject, so every header the original accepts is accepted.
            Field::Id => self.id = self.id.wrapping_mul(10).wrapping_add(u64::from(d)),
            Field::Type => self.ty = self.ty.saturating_mul(10).saturating_add(u64::from(d)),
            Field::Flags => self.flags = self.flags.wrapping_mul(10).wrapping_add(d),
            Field::Version => self.version = self.version.wrapping_mul(10).wrapping_add(d),
            Field::SameDc => self.same_dc = d,
        }
    }

    fn parse_inner(&mut self, chunk: &[u8], info: &mut DmsgInfo) -> Parse {
        let base = self.off;
        let mut i = 0;
        while i < chunk.len() {
            let b = chunk[i];
            let at = base + i as u64;
            match self.state {
                State::Magic(0) => {
                    match memchr(MAGIC[0], &chunk[i..]) {
                        Some(k) => {
                            i += k + 1;
                            self.state = State::Magic(1);
                        }
                        None => i = chunk.len(),
                    }
                    continue;
                }
                State::Magic(n) => {
                    let n = usize::from(n);
                    debug_assert!(n < MAGIC.len());
                    if b == MAGIC[n] {
                        if n + 1 == MAGIC.len() {
                            self.start_frame(at, info);
                        } else {
                            self.state = State::Magic(n as u8 + 1);
                        }
                    } else {
                        // The byte may start the magic again (`$` is both its
                        // first and last byte, nothing else repeats).
                        self.state = State::Magic(u8::from(b == MAGIC[0]));
                    }
                }
                State::MagicSpace => {
                    if b != b' ' {
                        self.state = State::Magic(0);
                        continue; // resume the scan at this byte
                    }
                    self.state = State::Num(Field::Id, false);
                }
                State::Num(field, seen) => {
                    if b.is_ascii_digit() {
                        self.push_field(field, b - b'0');
                        self.state = State::Num(field, true);
                    } else if b == b' ' && seen {
                        self.state = match field {
                            Field::Id => State::Num(Field::Type, false),
                            Field::Type => State::Num(Field::Flags, false),
                            Field::Flags => State::Num(Field::Version, false),
                            Field::Version => State::Num(Field::SameDc, false),
                            Field::SameDc => State::DataLen(false),
                        };
                    } else {
                        self.state = State::Magic(0);
                        continue;
                    }
                }
                State::DataLen(seen) => {
                    if b == b'*' && !seen {
                        // any number of stars before the digits
                    } else if b.is_ascii_digit() {
                        let v = u64::from(self.data_len) * 10 + u64::from(b - b'0');
                        if v > MAX_DATA_LEN {
                            return Parse::Error(ERR_DATA_LEN);
                        }
                        self.data_len = v as u32;
                        self.state = State::DataLen(true);
                    } else if b == b' ' && seen {
                        self.data_start = at + 1;
                        self.state = if self.data_len == 0 {
                            State::Star
                        } else {
                            State::Data(self.data_len)
                        };
                    } else {
                        self.state = State::Magic(0);
                        continue;
                    }
                }
                State::Data(left) => {
                    let take = (left as usize).min(chunk.len() - i);
                    info.data.extend_from_slice(&chunk[i..i + take]);
                    i += take;
                    let left = left - take as u32;
                    self.state = if left == 0 {
                        State::Star
                    } else {
                        State::Data(left)
                    };
                    continue;
                }
                State::Star => {
                    match memchr(b'*', &chunk[i..]) {
                        Some(k) => {
                            i += k + 1;
                            self.state = State::PayloadLen(false);
                        }
                        None => i = chunk.len(),
                    }
                    continue;
                }
                State::PayloadLen(seen) => {
                    if b.is_ascii_digit() {
                        let v = u64::from(self.payload_len) * 10 + u64::from(b - b'0');
                        if v > MAX_PAYLOAD_LEN {
                            return Parse::Error(ERR_PAYLOAD_LEN);
                        }
                        self.payload_len = v as u32;
                        self.state = State::PayloadLen(true);
                    } else if b == b'\r' && seen {
                        self.state = State::Lf;
                    } else {
                        self.state = State::Magic(0);
                        continue;
                    }
                }
                State::Lf => {
                    if b != b'\n' {
                        self.state = State::Magic(0);
                        continue;
                    }
                    self.done(at + 1, info);
                    return Parse::Done(i + 1);
                }
            }
            i += 1;
        }
        Parse::Again
    }

    /// Fills `info` for a header whose LF ends before offset `end`.
    fn done(&self, end: u64, info: &mut DmsgInfo) {
        debug_assert!(end > self.magic_start);
        info.header = DmsgHeader {
            id: self.id,
            ty: DmsgType::from_num(self.ty),
            flags: self.flags,
            version: self.version,
            same_dc: self.same_dc != 0,
            data_len: self.data_len,
        };
        info.magic_start = self.magic_start;
        info.header_len = end - self.magic_start;
        info.data_start = self.data_start;
        info.payload_start = end;
        info.payload_len = u64::from(self.payload_len);
        info.payload = DmsgPayload::of(&info.header);
    }
}

// ---------------------------------------------------------------------------
// Gossip payload (gossip spec 3.3)

/// Separates records in a gossip payload.
pub const GOSSIP_RECORD_SEP: u8 = b'|';

/// One gossip record, `<dc>$<rack>$<token>,<timestamp>,<state>,<address>`.
/// Text fields borrow the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GossipNode<'a> {
    /// Datacenter name (may contain `$` and `,`).
    pub dc: &'a [u8],
    /// Rack name (no `$`).
    pub rack: &'a [u8],
    /// The node's first token as decimal text (no `$`); see
    /// [`GossipNode::token_u32`].
    pub token: &'a [u8],
    /// Unix seconds of the last news about the node.
    pub timestamp: u64,
    /// Node state number (gossip spec 5.1: 4 NORMAL, 7 JOINING, 8 DOWN, ...).
    pub state: u8,
    /// IPv4 address or host name, without port (no `,`).
    pub address: &'a [u8],
}

/// Why a gossip record cannot be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipError {
    /// Fewer than three `,` or two `$`.
    MissingField,
    /// dc, rack, token or address is empty.
    EmptyField,
    /// The timestamp is not a decimal u64.
    BadTimestamp,
    /// The state is not a decimal number up to 255.
    BadState,
    /// A field holds a byte that would split it when read back (`|`
    /// anywhere, `$` in rack or token, `,` in the address).
    Separator,
}

impl std::fmt::Display for GossipError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GossipError::MissingField => "gossip record lacks a field",
            GossipError::EmptyField => "gossip record has an empty field",
            GossipError::BadTimestamp => "gossip record has an invalid timestamp",
            GossipError::BadState => "gossip record has an invalid state",
            GossipError::Separator => "gossip field contains a separator",
        })
    }
}

impl std::error::Error for GossipError {}

/// A decimal number of 1 or more digits (leading zeros allowed), no sign.
fn dec(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if v > max {
            return None;
        }
    }
    Some(v)
}

impl<'a> GossipNode<'a> {
    /// Reads one record, splitting from the right as the original does: three
    /// `,` give address, state and timestamp; in the rest, two `$` give token
    /// and rack; what remains is the DC.
    pub fn parse(rec: &'a [u8]) -> Result<GossipNode<'a>, GossipError> {
        let mut it = rec.rsplitn(4, |&b| b == b',');
        let (Some(address), Some(state), Some(timestamp), Some(host)) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(GossipError::MissingField);
        };
        let mut it = host.rsplitn(3, |&b| b == b'$');
        let (Some(token), Some(rack), Some(dc)) = (it.next(), it.next(), it.next()) else {
            return Err(GossipError::MissingField);
        };
        if dc.is_empty() || rack.is_empty() || token.is_empty() || address.is_empty() {
            return Err(GossipError::EmptyField);
        }
        let timestamp = dec(timestamp, u64::MAX).ok_or(GossipError::BadTimestamp)?;
        let state = dec(state, u64::from(u8::MAX)).ok_or(GossipError::BadState)? as u8;
        Ok(GossipNode {
            dc,
            rack,
            token,
            timestamp,
            state,
            address,
        })
    }

    /// The token as a plain decimal u32 (the form every tool of the original
    /// writes), if it is one.
    pub fn token_u32(&self) -> Option<u32> {
        dec(self.token, u64::from(u32::MAX)).map(|v| v as u32)
    }

    /// Checks that the record reads back as written.
    fn check(&self) -> Result<(), GossipError> {
        let sep = |s: &[u8], extra: u8| s.iter().any(|&b| b == GOSSIP_RECORD_SEP || b == extra);
        if self.dc.is_empty()
            || self.rack.is_empty()
            || self.token.is_empty()
            || self.address.is_empty()
        {
            return Err(GossipError::EmptyField);
        }
        if sep(self.dc, GOSSIP_RECORD_SEP)
            || sep(self.rack, b'$')
            || sep(self.token, b'$')
            || sep(self.address, b',')
        {
            return Err(GossipError::Separator);
        }
        Ok(())
    }

    /// Appends the record; `out` is left unchanged on error.
    pub fn write(&self, out: &mut Vec<u8>) -> Result<(), GossipError> {
        self.check()?;
        out.extend_from_slice(self.dc);
        out.push(b'$');
        out.extend_from_slice(self.rack);
        out.push(b'$');
        out.extend_from_slice(self.token);
        out.push(b',');
        push_dec(out, self.timestamp);
        out.push(b',');
        push_dec(out, u64::from(self.state));
        out.push(b',');
        out.extend_from_slice(self.address);
        Ok(())
    }
}

/// The records of a gossip payload (an announcement holds one, a state message
/// one per known node), each read by [`GossipNode::parse`]. A bad record does
/// not hide the others. Nothing is allocated.
pub fn gossip_records(
    payload: &[u8],
) -> impl Iterator<Item = Result<GossipNode<'_>, GossipError>> + '_ {
    payload
        .split(|&b| b == GOSSIP_RECORD_SEP)
        .map(GossipNode::parse)
}

/// Appends a gossip payload: the records joined by `|`. `out` is left
/// unchanged on error.
pub fn write_gossip(out: &mut Vec<u8>, nodes: &[GossipNode<'_>]) -> Result<(), GossipError> {
    debug_assert!(!nodes.is_empty());
    let before = out.len();
    for (k, n) in nodes.iter().enumerate() {
        if k > 0 {
            out.push(GOSSIP_RECORD_SEP);
        }
        if let Err(e) = n.write(out) {
            out.truncate(before);
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::redis::{ReqInfo, ReqParser, RspInfo, RspParser};

    /// 9.1: a write to a peer in the same DC, another rack (captured).
    const EX_91: &[u8] =
        b"   $2014$ 2 3 0 1 1 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
    const EX_91_HEX: &str = "
        20 20 20 24 32 30 31 34 24 20 32 20 33 20 30 20
        31 20 31 20 2a 31 20 64 20 2a 33 31 0d 0a 2a 33
        0d 0a 24 33 0d 0a 73 65 74 0d 0a 24 33 0d 0a 66
        6f 6f 0d 0a 24 33 0d 0a 62 61 72 0d 0a";
    /// 9.2: the same write towards another DC (captured).
    const EX_92: &[u8] =
        b"   $2014$ 3 4 0 1 0 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
    /// 9.3: the request sent to a C node, and its answers (captured).
    const EX_93_REQ: &[u8] = b"   $2014$ 77 3 0 1 1 *1 d *22\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n";
    const EX_93: &[u8] = b"   $2014$ 77 5 0 1 1 *1 d *9\r\n$3\r\nbar\r\n";
    const EX_93_HEX: &str = "
        20 20 20 24 32 30 31 34 24 20 37 37 20 35 20 30
        20 31 20 31 20 2a 31 20 64 20 2a 39 0d 0a 24 33
        0d 0a 62 61 72 0d 0a";
    const EX_93_NIL: &[u8] = b"   $2014$ 78 5 0 1 1 *1 d *5\r\n$-1\r\n";
    const EX_93_OK: &[u8] = b"   $2014$ 79 5 0 1 0 *1 d *5\r\n+OK\r\n";
    /// 9.4: a gossip state message (captured).
    const EX_94: &[u8] = b"   $2014$ 0 7 0 1 1 *1 a *77\r\ndc1$rack1$1000,1795404652,4,127.0.0.77|dc1$rack2$1000,1795404649,4,127.0.0.77";
    const EX_94_HEX: &str = "
        20 20 20 24 32 30 31 34 24 20 30 20 37 20 30 20
        31 20 31 20 2a 31 20 61 20 2a 37 37 0d 0a 64 63
        31 24 72 61 63 6b 31 24 31 30 30 30 2c 31 37 39
        35 34 30 34 36 35 32 2c 34 2c 31 32 37 2e 30 2e
        30 2e 37 37 7c 64 63 31 24 72 61 63 6b 32 24 31
        30 30 30 2c 31 37 39 35 34 30 34 36 34 39 2c 34
        2c 31 32 37 2e 30 2e 30 2e 37 37";
    const EX_94_BODY: &[u8] =
        b"dc1$rack1$1000,1795404652,4,127.0.0.77|dc1$rack2$1000,1795404649,4,127.0.0.77";
    /// 9.6: a Memcached payload (constructed from the grammar).
    const EX_96: &[u8] = b"   $2014$ 41 3 0 1 1 *1 d *20\r\nset foo 0 0 3\r\nbar\r\n";

    /// Hex digits to bytes; whitespace is ignored.
    fn unhex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        digits
            .chunks(2)
            .map(|h| u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap())
            .collect()
    }

    fn hdr(id: u64, ty: DmsgType, flags: u8, same_dc: bool) -> DmsgHeader {
        DmsgHeader {
            flags,
            ..DmsgHeader::new(id, ty, same_dc)
        }
    }

    /// One frame as a connection would see it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Frame {
        info: DmsgInfo,
        /// Stream offset of the message start (skipped bytes included).
        start: u64,
        /// Stream offset just past the frame's payload.
        end: u64,
        /// The payload bytes as delimited by its rule.
        payload: Vec<u8>,
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Run {
        frames: Vec<Frame>,
        err: Option<&'static str>,
        /// Where the stream ended: parser and phase state.
        tail: String,
    }

    /// What the connection does after a header.
    #[derive(Debug)]
    enum Phase {
        Header,
        Req(ReqParser, ReqInfo),
        Rsp(RspParser, RspInfo),
        Sized(u64),
    }

    /// Drives the header parser and the payload rules the way a connection
    /// would, over `input` cut at `cuts`.
    fn drive(input: &[u8], cuts: &[usize]) -> Run {
        let mut dp = DmsgParser::new();
        let mut info = DmsgInfo::default();
        let mut phase = Phase::Header;
        let mut start = 0u64;
        let mut frames = Vec::new();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(input.len());
        let mut frame = |info: &DmsgInfo, start: u64, end: u64| {
            let from = (start + info.payload_start) as usize;
            assert!(from <= end as usize);
            frames.push(Frame {
                info: info.clone(),
                start,
                end,
                payload: input[from..end as usize].to_vec(),
            });
        };
        for w in bounds.windows(2) {
            let chunk = &input[w[0]..w[1]];
            let mut pos = 0;
            while pos < chunk.len() {
                let rest = &chunk[pos..];
                let (r, next) = match &mut phase {
                    Phase::Header => {
                        let r = dp.parse(rest, &mut info);
                        let next = match (r, info.payload) {
                            (Parse::Done(_), DmsgPayload::Datastore) => {
                                if info.header.ty == DmsgType::Res {
                                    Some(Phase::Rsp(RspParser::new(), RspInfo::default()))
                                } else {
                                    Some(Phase::Req(ReqParser::new(), ReqInfo::default()))
                                }
                            }
                            (Parse::Done(_), DmsgPayload::Sized) if info.payload_len > 0 => {
                                Some(Phase::Sized(info.payload_len))
                            }
                            _ => None,
                        };
                        (r, next)
                    }
                    Phase::Req(p, ri) => (p.parse(rest, ri), None),
                    Phase::Rsp(p, ri) => (p.parse(rest, ri), None),
                    Phase::Sized(left) => {
                        let take = (*left).min(rest.len() as u64);
                        *left -= take;
                        if *left == 0 {
                            (Parse::Done(take as usize), None)
                        } else {
                            (Parse::Again, None)
                        }
                    }
                };
                match r {
                    Parse::Done(n) => {
                        assert!(n >= 1 && n <= rest.len());
                        pos += n;
                        let end = (w[0] + pos) as u64;
                        if let Some(next) = next {
                            assert!(matches!(phase, Phase::Header));
                            assert_eq!(end - start, info.payload_start);
                            phase = next;
                        } else {
                            if matches!(phase, Phase::Header) {
                                assert_eq!(end - start, info.payload_start);
                            }
                            frame(&info, start, end);
                            start = end;
                            phase = Phase::Header;
                        }
                    }
                    Parse::Again => break,
                    Parse::Error(e) => {
                        return Run {
                            frames,
                            err: Some(e),
                            tail: String::new(),
                        }
                    }
                }
            }
        }
        let tail = match phase {
            Phase::Header => format!("header {:?}", dp.state),
            Phase::Req(..) => "datastore request".to_string(),
            Phase::Rsp(..) => "datastore reply".to_string(),
            Phase::Sized(left) => format!("sized {left}"),
        };
        Run {
            frames,
            err: None,
            tail,
        }
    }

    /// Drives `input` one-shot, split in two at every position, and one byte
    /// at a time; all runs must agree. Returns the one-shot run.
    fn drive_all(input: &[u8]) -> Run {
        let oracle = drive(input, &[]);
        for cut in 1..input.len() {
            let run = drive(input, &[cut]);
            assert_eq!(
                run,
                oracle,
                "split at {cut}: {:?}",
                input.escape_ascii().to_string()
            );
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        let run = drive(input, &bytes);
        assert_eq!(
            run,
            oracle,
            "bytewise: {:?}",
            input.escape_ascii().to_string()
        );
        oracle
    }

    /// The single frame of `input`, which must parse cleanly to its end.
    fn one(input: &[u8]) -> Frame {
        let run = drive_all(input);
        assert_eq!(run.err, None);
        assert_eq!(run.frames.len(), 1, "{run:?}");
        assert_eq!(run.frames[0].end, input.len() as u64);
        assert_eq!(run.tail, "header Magic(0)");
        run.frames.into_iter().next().unwrap()
    }

    fn write(h: &DmsgHeader, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_header(&mut out, h, payload.len());
        out.extend_from_slice(payload);
        out
    }

    fn payload_of(frame: &[u8]) -> &[u8] {
        let lf = frame.iter().position(|&b| b == b'\n').unwrap();
        &frame[lf + 1..]
    }

    #[test]
    fn captured_hex_dumps_match_the_strings() {
        assert_eq!(unhex(EX_91_HEX), EX_91);
        assert_eq!(EX_91.len(), 61);
        assert_eq!(unhex(EX_93_HEX), EX_93);
        assert_eq!(EX_93.len(), 39);
        assert_eq!(unhex(EX_94_HEX), EX_94);
        assert_eq!(EX_94.len(), 107);
    }

    #[test]
    fn writes_the_captured_frames() {
        let set = payload_of(EX_91);
        assert_eq!(write(&hdr(2, DmsgType::Req, 0, true), set), EX_91);
        assert_eq!(write(&hdr(3, DmsgType::ReqForward, 0, false), set), EX_92);
        let get = payload_of(EX_93_REQ);
        let req = hdr(77, DmsgType::Req, 0, true);
        assert_eq!(write(&req, get), EX_93_REQ);
        let rsp = DmsgHeader::reply_to(&req);
        assert_eq!(write(&rsp, b"$3\r\nbar\r\n"), EX_93);
        let nil = DmsgHeader::reply_to(&hdr(78, DmsgType::Req, 0, true));
        assert_eq!(write(&nil, b"$-1\r\n"), EX_93_NIL);
        let ok = DmsgHeader::reply_to(&hdr(79, DmsgType::ReqForward, 0, false));
        assert_eq!(write(&ok, b"+OK\r\n"), EX_93_OK);
        let mut body = Vec::new();
        let nodes: Vec<GossipNode> = gossip_records(EX_94_BODY).map(Result::unwrap).collect();
        write_gossip(&mut body, &nodes).unwrap();
        assert_eq!(body, EX_94_BODY);
        assert_eq!(write(&hdr(0, DmsgType::GossipSyn, 0, true), &body), EX_94);
        let mc = payload_of(EX_96);
        assert_eq!(write(&hdr(41, DmsgType::Req, 0, true), mc), EX_96);
    }

    #[test]
    fn writes_numbers_without_padding() {
        let mut out = Vec::new();
        let h = DmsgHeader::new(u64::MAX, DmsgType::Res, false);
        write_header(&mut out, &h, 0);
        assert_eq!(out, b"   $2014$ 18446744073709551615 5 0 1 0 *1 d *0\r\n");
        out.clear();
        write_header(&mut out, &hdr(10, DmsgType::Req, FLAG_RESP3, true), 1234567);
        assert_eq!(out, b"   $2014$ 10 3 16 1 1 *1 d *1234567\r\n");
    }

    #[test]
    fn parses_the_captured_requests() {
        let f = one(EX_91);
        let h = f.info.header;
        assert_eq!(h, hdr(2, DmsgType::Req, 0, true));
        assert_eq!(f.info.magic_start, 3);
        assert_eq!(f.info.data_start, 23);
        assert_eq!(f.info.data, b"d");
        assert_eq!(f.info.header_len, 27);
        assert_eq!(f.info.payload_start, 30);
        assert_eq!(f.info.payload_len, 31);
        assert_eq!(f.info.payload, DmsgPayload::Datastore);
        assert_eq!(f.payload, payload_of(EX_91));
        assert!(!h.is_encrypted() && !h.is_resp3() && !h.carries_key());

        let f = one(EX_92);
        assert_eq!(f.info.header, hdr(3, DmsgType::ReqForward, 0, false));
        assert_eq!(f.info.payload, DmsgPayload::Datastore);
        assert_eq!(f.payload, payload_of(EX_92));

        let f = one(EX_93_REQ);
        assert_eq!(f.info.header, hdr(77, DmsgType::Req, 0, true));
        assert_eq!(f.info.payload_len, 22);
        assert_eq!(f.payload, b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n");
    }

    #[test]
    fn parses_the_captured_replies() {
        for (input, id, same_dc, payload) in [
            (EX_93, 77, true, &b"$3\r\nbar\r\n"[..]),
            (EX_93_NIL, 78, true, b"$-1\r\n"),
            (EX_93_OK, 79, false, b"+OK\r\n"),
        ] {
            let f = one(input);
            assert_eq!(f.info.header, hdr(id, DmsgType::Res, 0, same_dc));
            assert_eq!(f.info.payload, DmsgPayload::Datastore);
            assert_eq!(f.info.payload_len, payload.len() as u64);
            assert_eq!(f.payload, payload);
        }
    }

    #[test]
    fn parses_the_captured_gossip() {
        let f = one(EX_94);
        assert_eq!(f.info.header, hdr(0, DmsgType::GossipSyn, 0, true));
        assert_eq!(f.info.data, b"a");
        assert_eq!(f.info.payload, DmsgPayload::Sized);
        assert_eq!(f.info.payload_len, 77);
        assert_eq!(f.payload, EX_94_BODY);
        let nodes: Vec<_> = gossip_records(&f.payload).collect();
        let node = |rack: &'static [u8], timestamp| GossipNode {
            dc: b"dc1",
            rack,
            token: b"1000",
            timestamp,
            state: 4,
            address: b"127.0.0.77",
        };
        assert_eq!(
            nodes,
            [
                Ok(node(b"rack1", 1795404652)),
                Ok(node(b"rack2", 1795404649))
            ]
        );
        assert_eq!(nodes[0].unwrap().token_u32(), Some(1000));
    }

    #[test]
    fn parses_the_memcached_example() {
        // No Memcached parser here: check the header and that the payload is
        // what follows it.
        let mut p = DmsgParser::new();
        let mut info = DmsgInfo::default();
        let Parse::Done(n) = p.parse(EX_96, &mut info) else {
            panic!("header not parsed");
        };
        assert_eq!(info.header, hdr(41, DmsgType::Req, 0, true));
        assert_eq!(info.payload, DmsgPayload::Datastore);
        assert_eq!(&EX_96[n..], b"set foo 0 0 3\r\nbar\r\n");
        assert_eq!(info.payload_len, 20);
        for cut in 1..n {
            let mut p = DmsgParser::new();
            let mut i2 = DmsgInfo::default();
            assert_eq!(p.parse(&EX_96[..cut], &mut i2), Parse::Again);
            assert_eq!(p.parse(&EX_96[cut..], &mut i2), Parse::Done(n - cut));
            assert_eq!(i2, info);
        }
    }

    #[test]
    fn a_stream_of_frames() {
        let mut s = Vec::new();
        for f in [EX_91, EX_93, EX_94, EX_92, EX_93_NIL, EX_96, EX_93_OK] {
            s.extend_from_slice(f);
        }
        // EX_96 is read with the RESP request parser here: its first line is
        // taken as an inline command.
        let run = drive_all(&s);
        assert_eq!(run.err, None);
        let ids: Vec<u64> = run.frames.iter().map(|f| f.info.header.id).collect();
        assert_eq!(ids, [2, 77, 0, 3, 78, 41, 79]);
        // `bar\r\n` became garbage in front of the last header.
        assert_eq!(run.frames[6].info.magic_start, 5 + 3);
        assert_eq!(run.frames.last().unwrap().end, s.len() as u64);
        assert_eq!(run.tail, "header Magic(0)");
    }

    #[test]
    fn leniency() {
        // (header bytes, header); each is followed by the payload `+OK\r\n`
        let req2 = hdr(2, DmsgType::Req, 0, true);
        let rsp2 = hdr(2, DmsgType::Res, 0, true);
        let req7 = hdr(7, DmsgType::Req, 0, true);
        let req7_other_dc = hdr(7, DmsgType::Req, 0, false);
        let req7_v9 = DmsgHeader { version: 9, ..req7 };
        let cases: &[(&[u8], DmsgHeader)] = &[
            // no leading spaces (verified), or garbage in front
            (b"$2014$ 2 3 0 1 1 *1 d *5\r\n", req2),
            (b"xx\r\n$$2014$ 2 3 0 1 1 *1 d *5\r\n", req2),
            (b"$201$2014$ 2 5 0 1 1 *1 d *5\r\n", rsp2),
            // many stars, or none, before data_len; leading zeros anywhere
            (b"   $2014$ 7 3 0 1 1 ***1 d *5\r\n", req7),
            (b"   $2014$ 7 3 0 1 1 1 d *5\r\n", req7),
            (b"   $2014$ 007 03 00 01 01 *01 d *05\r\n", req7),
            // same_dc keeps its last digit
            (b"   $2014$ 7 3 0 1 21 *1 d *5\r\n", req7),
            (b"   $2014$ 7 3 0 1 10 *1 d *5\r\n", req7_other_dc),
            // anything between the data and the `*`
            (b"   $2014$ 7 3 0 1 1 *1 dxyz\r\n? *5\r\n", req7),
            (b"   $2014$ 7 3 0 1 1 *1 d*5\r\n", req7),
            // version is never checked; payload_len is ignored for plain
            // datastore frames (verified with 999)
            (b"   $2014$ 7 3 0 9 1 *1 d *999\r\n", req7_v9),
            (b"   $2014$ 7 3 0 1 1 *1 x *0\r\n", req7),
        ];
        for (input, h) in cases {
            let input = [input, &b"+OK\r\n"[..]].concat();
            let f = one(&input);
            assert_eq!(f.info.header, *h, "{:?}", input.escape_ascii().to_string());
            assert_eq!(f.payload, b"+OK\r\n");
            assert_eq!(f.info.payload, DmsgPayload::Datastore);
        }
    }

    #[test]
    fn data_is_taken_blindly() {
        // A data field holding the magic, stars, CR LF and a NUL.
        let data = b"$2014$ 9 *1\r\n\0";
        let h = DmsgHeader {
            data_len: data.len() as u32,
            ..hdr(5, DmsgType::Req, 0, true)
        };
        let mut s = Vec::new();
        write_header_data(&mut s, &h, data, 5);
        s.extend_from_slice(b"+OK\r\n");
        let f = one(&s);
        assert_eq!(f.info.header, h);
        assert_eq!(f.info.data, data);
        assert_eq!(f.info.data_start, 24);
        assert_eq!(f.payload, b"+OK\r\n");
        // data_len 0
        let f = one(b"   $2014$ 5 3 0 1 1 *0 *5\r\n+OK\r\n");
        assert_eq!(f.info.header.data_len, 0);
        assert!(f.info.data.is_empty());
        assert_eq!(f.payload, b"+OK\r\n");
    }

    #[test]
    fn malformed_candidates_are_abandoned() {
        let good = b"   $2014$ 9 3 0 1 1 *1 d *5\r\n+OK\r\n";
        let bad: &[&[u8]] = &[
            b"   $2014$  1 3 0 1 1 *1 d *5\r\n", // two spaces after the magic
            b"   $2014$1 3 0 1 1 *1 d *5\r\n",   // no space after the magic
            b"   $2014$ 1  3 0 1 1 *1 d *5\r\n", // two spaces between fields
            b"   $2014$ 1a 3 0 1 1 *1 d *5\r\n", // a letter in a number
            b"   $2014$ -1 3 0 1 1 *1 d *5\r\n", // a sign
            b"   $2014$ 1 3 0 1 *1 d *5\r\n",    // a field missing
            b"   $2014$ 1 3 0 1 1 *1* d *5\r\n", // a star after the digits
            b"   $2014$ 1 3 0 1 1 * d *5\r\n",   // no data_len digits
            b"   $2014$ 1 3 0 1 1 *1 d **5\r\n", // two stars before payload_len
            b"   $2014$ 1 3 0 1 1 *1 d *\r\n",   // no payload_len digits
            b"   $2014$ 1 3 0 1 1 *1 d *5 \r\n", // a space before CR
            b"   $2014$ 1 3 0 1 1 *1 d *5\n",    // LF without CR
            b"   $2014$ 1 3 0 1 1 *1 d *5\rx\n", // CR not followed by LF
            b"   $2014$\t1 3 0 1 1 *1 d *5\r\n", // a tab
            b"   $2014 1 3 0 1 1 *1 d *5\r\n",   // a broken magic
        ];
        for b in bad {
            let mut s = b.to_vec();
            s.extend_from_slice(good);
            let run = drive_all(&s);
            assert_eq!(run.err, None);
            assert_eq!(run.frames.len(), 1, "{:?}", b.escape_ascii().to_string());
            let f = &run.frames[0];
            assert_eq!(f.info.header.id, 9);
            assert_eq!(f.info.magic_start, (b.len() + 3) as u64);
            assert_eq!(f.payload, b"+OK\r\n");
        }
    }

    #[test]
    fn the_scan_resumes_at_the_unexpected_byte() {
        // The `$` that breaks the type field starts the next magic.
        let s = b"$2014$ 1 3$2014$ 9 5 0 1 1 *1 d *5\r\n+OK\r\n";
        let f = one(s);
        assert_eq!(f.info.header.id, 9);
        assert_eq!(f.info.magic_start, 10);
        let s = b"$2014$$2014$ 9 5 0 1 1 *1 d *5\r\n+OK\r\n";
        assert_eq!(one(s).info.magic_start, 6);
    }

    #[test]
    fn garbage_alone_waits() {
        let run = drive_all(b"GET foo\r\n $201");
        assert!(run.frames.is_empty());
        assert_eq!(run.err, None);
        assert_eq!(run.tail, "header Magic(4)");
        // The header is done at its LF, without waiting for a payload byte.
        let mut p = DmsgParser::new();
        let mut info = DmsgInfo::default();
        let h = b"   $2014$ 1 9 0 1 1 *1 d *0\r\n";
        assert_eq!(p.parse(h, &mut info), Parse::Done(h.len()));
    }

    #[test]
    fn random_streams_parse_alike_however_split() {
        // Bytes drawn from the header's own alphabet, so candidates start,
        // break and complete often; the RESP parsers see what follows.
        const ALPHABET: &[u8] = b"$$$2014   **d\r\n013579+-:";
        let mut seed = 0x2014_u64;
        let mut frames = 0;
        for _ in 0..60 {
            let mut s = Vec::new();
            for _ in 0..160 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if seed >> 60 == 0 {
                    s.extend_from_slice(EX_93);
                } else {
                    s.push(ALPHABET[(seed >> 33) as usize % ALPHABET.len()]);
                }
            }
            frames += drive_all(&s).frames.len();
        }
        assert!(frames >= 60, "{frames}");
    }

    #[test]
    fn type_numbers() {
        for n in 0..=300u64 {
            let t = DmsgType::from_num(n);
            if n <= 255 {
                assert_eq!(u64::from(t.num()), n);
            } else {
                assert_eq!(t, DmsgType::Unknown(255));
            }
            assert_eq!(matches!(t, DmsgType::Unknown(_)), n > 13);
        }
        assert_eq!(DmsgType::from_num(u64::MAX), DmsgType::Unknown(255));
        assert!(DmsgType::Req.is_request() && DmsgType::ReqForward.is_request());
        assert!(!DmsgType::Res.is_request());
    }

    #[test]
    fn payload_rules() {
        use DmsgPayload::*;
        for n in 0..=20u64 {
            let t = DmsgType::from_num(n);
            let plain = DmsgPayload::of(&hdr(1, t, 0, true));
            let enc = DmsgPayload::of(&hdr(1, t, FLAG_ENCRYPTED, true));
            let (p, e) = match n {
                3..=5 => (Datastore, Sized),
                7 => (Sized, Sized),
                _ => (HeaderOnly, HeaderOnly),
            };
            assert_eq!((plain, enc), (p, e), "type {n}");
        }
    }

    #[test]
    fn unknown_types_are_skipped() {
        // Header-only types: the payload after them is skipped by the scan
        // (verified for type 9), whatever it holds and whatever its length.
        let mut s = Vec::new();
        for (ty, payload) in [
            ("0", &b"*1\r\n$4\r\nPING\r\n"[..]),
            ("1", b""),
            ("2", b"xx"),
            ("6", b"\r\n"),
            ("8", b"abc"),
            ("9", b"dc1$rack1$1000,1,4,127.0.0.1"),
            ("13", b""),
            ("14", b"*1\r\n"),
            ("200", b"zzz"),
            ("99999999999999999999", b""),
        ] {
            s.extend_from_slice(format!("   $2014$ {ty} {ty} 0 1 1 *1 d *4096\r\n").as_bytes());
            s.extend_from_slice(payload);
        }
        s.extend_from_slice(EX_93);
        let run = drive_all(&s);
        assert_eq!(run.err, None);
        let tys: Vec<u8> = run.frames.iter().map(|f| f.info.header.ty.num()).collect();
        assert_eq!(tys, [0, 1, 2, 6, 8, 9, 13, 14, 200, 255, 5]);
        for f in &run.frames[..10] {
            assert_eq!(f.info.payload, DmsgPayload::HeaderOnly);
            assert!(f.payload.is_empty());
        }
        let last = run.frames.last().unwrap();
        assert_eq!(last.info.header.id, 77);
        assert_eq!(last.payload, b"$3\r\nbar\r\n");
        assert_eq!(last.end, s.len() as u64);
    }

    #[test]
    fn huge_lengths_are_rejected() {
        let max = MAX_PAYLOAD_LEN;
        let ok = format!("   $2014$ 1 7 0 1 1 *1 a *{max}\r\n");
        let mut p = DmsgParser::new();
        let mut info = DmsgInfo::default();
        assert_eq!(p.parse(ok.as_bytes(), &mut info), Parse::Done(ok.len()));
        assert_eq!(info.payload_len, max);
        for input in [
            format!("   $2014$ 1 3 0 1 1 *1 d *{}\r\n", max + 1),
            "   $2014$ 1 3 0 1 1 *1 d *4294967296\r\n".to_string(),
            "   $2014$ 1 3 0 1 1 *1 d *99999999999999999999999999999999".to_string(),
            "   $2014$ 1 3 0 1 1 *1025 ".to_string(),
            "   $2014$ 1 3 0 1 1 *4294967295 ".to_string(),
            "   $2014$ 1 3 0 1 1 *000099999999999999999999999".to_string(),
        ] {
            let run = drive_all(input.as_bytes());
            let want = if input.contains("*1 d") {
                ERR_PAYLOAD_LEN
            } else {
                ERR_DATA_LEN
            };
            assert_eq!(run.err, Some(want), "{input}");
            assert!(run.frames.is_empty());
        }
        // The error comes as soon as the digits pass the cap.
        let mut p = DmsgParser::new();
        let s = b"   $2014$ 1 3 0 1 1 *1 d *9999999999";
        assert_eq!(p.parse(s, &mut info), Parse::Error(ERR_PAYLOAD_LEN));
        // and the parser is reset
        assert_eq!(p.parse(EX_93, &mut info), Parse::Done(30));
    }

    #[test]
    fn encrypted_frames_are_sized() {
        // 9.5: the first request carries the RSA block (random bytes here),
        // the reply `*1 d`; the payloads are opaque ciphertext.
        let block: Vec<u8> = (0..128u32).map(|i| (i * 37 + 11) as u8).collect();
        let req = DmsgHeader {
            data_len: 128,
            ..hdr(500, DmsgType::Req, FLAG_ENCRYPTED, true)
        };
        let ct = unhex("de40c32b0cdbfdd91147e6c16607a599 975767f66d25edea3d4d1806ab97d0de");
        assert_eq!(ct.len(), 32);
        let mut s = Vec::new();
        write_header_data(&mut s, &req, &block, ct.len());
        assert!(s.starts_with(b"   $2014$ 500 3 1 1 1 *128 "));
        assert!(s.ends_with(b" *32\r\n"));
        s.extend_from_slice(&ct);
        let f = one(&s);
        assert_eq!(f.info.header, req);
        assert!(f.info.header.is_encrypted() && f.info.header.carries_key());
        assert_eq!(f.info.data, block);
        assert_eq!(f.info.payload, DmsgPayload::Sized);
        assert_eq!(f.payload, ct);

        let rsp = unhex("4c f0 42 4a cc 44 be 02 c0 00 b3 1d ca b3 b4 bf");
        let mut s = b"   $2014$ 500 5 1 1 1 *1 d *16\r\n".to_vec();
        let h = DmsgHeader {
            flags: FLAG_ENCRYPTED,
            ..DmsgHeader::reply_to(&req)
        };
        assert_eq!(write(&h, &rsp), [&s[..], &rsp[..]].concat());
        s.extend_from_slice(&rsp);
        let f = one(&s);
        assert!(f.info.header.is_encrypted() && !f.info.header.carries_key());
        assert_eq!(f.payload, rsp);
        // Encrypted gossip is sized too; the original fails on it.
        let f = one(b"   $2014$ 4 7 1 1 1 *1 d *3\r\nabc");
        assert_eq!(f.info.payload, DmsgPayload::Sized);
        assert_eq!(f.payload, b"abc");
    }

    #[test]
    fn flags_as_the_original_reads_them() {
        // (flags field, kept value, encrypted, resp3)
        for (text, flags, enc, resp3) in [
            ("0", 0u8, false, false),
            ("1", 1, true, false),
            ("2", 2, false, false),
            ("3", 3, false, false),
            ("16", 16, false, true),
            ("17", 17, true, true),
            ("33", 33, true, false),
            ("257", 1, true, false),
            ("18446744073709551633", 17, true, true), // 2^64 + 17
        ] {
            let s = format!("   $2014$ 1 3 {text} 1 1 *1 d *5\r\n+OK\r\n");
            let mut p = DmsgParser::new();
            let mut info = DmsgInfo::default();
            assert!(matches!(p.parse(s.as_bytes(), &mut info), Parse::Done(_)));
            let h = info.header;
            assert_eq!(h.flags, flags, "{text}");
            assert_eq!(h.is_encrypted(), enc, "{text}");
            assert_eq!(h.is_resp3(), resp3, "{text}");
        }
    }

    #[test]
    fn resp3_bit_round_trip() {
        // A RESP3 request, and the RESP3 reply of a Rust replica.
        let req = hdr(12, DmsgType::Req, FLAG_RESP3, true);
        let s = write(&req, b"*2\r\n$3\r\nget\r\n$1\r\nk\r\n");
        assert!(s.starts_with(b"   $2014$ 12 3 16 1 1 *1 d *"));
        let f = one(&s);
        assert!(f.info.header.is_resp3() && !f.info.header.is_encrypted());
        // What a C node keeps of it: the same frame with flags 0.
        assert_eq!(f.info.header.flags & C_FLAGS_MASK, 0);
        let rsp = DmsgHeader {
            flags: FLAG_RESP3,
            ..DmsgHeader::reply_to(&f.info.header)
        };
        let s = write(&rsp, b"%1\r\n+a\r\n:1\r\n");
        let f = one(&s);
        assert_eq!(f.info.header, rsp);
        assert_eq!(f.payload, b"%1\r\n+a\r\n:1\r\n");
        // Encrypted and RESP3 together stay encrypted for a C node.
        let h = hdr(13, DmsgType::Req, FLAG_ENCRYPTED | FLAG_RESP3, true);
        let s = write(&h, b"0123456789abcdef");
        assert!(s.starts_with(b"   $2014$ 13 3 17 1 1 *1 d *16\r\n"));
        let f = one(&s);
        assert!(f.info.header.is_encrypted() && f.info.header.is_resp3());
        assert_eq!(f.info.payload, DmsgPayload::Sized);
    }

    #[test]
    fn offsets_count_skipped_bytes() {
        let mut s = b"junk".to_vec();
        s.extend_from_slice(EX_91);
        let f = one(&s);
        assert_eq!(f.start, 0);
        assert_eq!(f.info.magic_start, 7);
        assert_eq!(f.info.data_start, 27);
        assert_eq!(f.info.header_len, 27);
        assert_eq!(f.info.payload_start, 34);
    }

    #[test]
    fn gossip_records_parse_from_the_right() {
        let body = b"us-east-1$dyno$pds--useast1e$3000000000,1700000000,7,ec2-1-2-3-4.compute-1.amazonaws.com";
        let n: Vec<_> = gossip_records(body).collect();
        assert_eq!(
            n,
            [Ok(GossipNode {
                dc: b"us-east-1$dyno",
                rack: b"pds--useast1e",
                token: b"3000000000",
                timestamp: 1700000000,
                state: 7,
                address: b"ec2-1-2-3-4.compute-1.amazonaws.com",
            })]
        );
        assert_eq!(n[0].unwrap().token_u32(), Some(3000000000));
        // commas may sit in dc, rack and token
        let n = GossipNode::parse(b"d,c$r,k$1,2,3,4,h").unwrap();
        assert_eq!(
            (n.dc, n.rack, n.token),
            (&b"d,c"[..], &b"r,k"[..], &b"1,2"[..])
        );
        assert_eq!((n.timestamp, n.state, n.address), (3, 4, &b"h"[..]));
    }

    #[test]
    fn bad_gossip_records() {
        use GossipError::*;
        for (rec, err) in [
            (&b""[..], MissingField),
            (b"dc1$rack1$1000,1,4", MissingField),
            (b"rack1$1000,1,4,127.0.0.1", MissingField),
            (b"$rack1$1000,1,4,127.0.0.1", EmptyField),
            (b"dc1$$1000,1,4,127.0.0.1", EmptyField),
            (b"dc1$rack1$,1,4,127.0.0.1", EmptyField),
            (b"dc1$rack1$1000,1,4,", EmptyField),
            (b"dc1$rack1$1000,,4,h", BadTimestamp),
            (b"dc1$rack1$1000,-1,4,h", BadTimestamp),
            (b"dc1$rack1$1000,99999999999999999999,4,h", BadTimestamp),
            (b"dc1$rack1$1000,1,256,h", BadState),
            (b"dc1$rack1$1000,1,x,h", BadState),
            (b"dc1$rack1$1000,1, 4,h", BadState),
        ] {
            assert_eq!(
                GossipNode::parse(rec),
                Err(err),
                "{:?}",
                rec.escape_ascii().to_string()
            );
        }
        // A bad record does not hide its neighbours; a trailing `|` yields
        // one bad empty record.
        let r: Vec<_> = gossip_records(b"a$b$1,2,3,h|junk|c$d$4,5,6,i|").collect();
        assert_eq!(r.len(), 4);
        assert!(r[0].is_ok() && r[2].is_ok());
        assert_eq!(r[1], Err(MissingField));
        assert_eq!(r[3], Err(MissingField));
        assert_eq!(GossipNode::parse(b"a$b$x,2,3,h").unwrap().token_u32(), None);
    }

    #[test]
    fn gossip_writer_refuses_separators() {
        let good = GossipNode {
            dc: b"dc1",
            rack: b"rack1",
            token: b"1000",
            timestamp: 17,
            state: 4,
            address: b"10.0.0.1",
        };
        for (bad, err) in [
            (GossipNode { dc: b"d|c", ..good }, GossipError::Separator),
            (
                GossipNode {
                    rack: b"r$k",
                    ..good
                },
                GossipError::Separator,
            ),
            (
                GossipNode {
                    token: b"1$0",
                    ..good
                },
                GossipError::Separator,
            ),
            (
                GossipNode {
                    address: b"h,1",
                    ..good
                },
                GossipError::Separator,
            ),
            (
                GossipNode {
                    address: b"h|1",
                    ..good
                },
                GossipError::Separator,
            ),
            (GossipNode { rack: b"", ..good }, GossipError::EmptyField),
        ] {
            let mut out = b"keep".to_vec();
            assert_eq!(write_gossip(&mut out, &[good, bad]), Err(err));
            assert_eq!(out, b"keep");
        }
        // What the writer accepts reads back as written.
        let odd = GossipNode {
            dc: b"d$c,1",
            rack: b"r,k",
            token: b"t,1",
            ..good
        };
        let mut out = Vec::new();
        write_gossip(&mut out, &[good, odd]).unwrap();
        let back: Vec<_> = gossip_records(&out).map(Result::unwrap).collect();
        assert_eq!(back, [good, odd]);
        // An announcement: one record.
        let mut out = Vec::new();
        let joining = GossipNode {
            state: 7,
            timestamp: 1795404652,
            ..good
        };
        write_gossip(&mut out, &[joining]).unwrap();
        assert_eq!(out, b"dc1$rack1$1000,1795404652,7,10.0.0.1");
    }

    /// The frame that asks for TLS: its exact bytes, how it parses, and
    /// what a C node makes of it (flags masked to 0, a header-only type 6).
    #[test]
    fn starttls_frame() {
        let mut out = Vec::new();
        write_header(&mut out, &starttls_header(true), 0);
        assert_eq!(out, b"   $2014$ 0 6 32 1 1 *1 d *0\r\n");
        let mut info = DmsgInfo::default();
        let mut p = DmsgParser::new();
        assert_eq!(p.parse(&out, &mut info), Parse::Done(out.len()));
        assert!(info.header.is_starttls());
        assert_eq!(info.payload, DmsgPayload::HeaderOnly);
        assert_eq!(info.header.flags & C_FLAGS_MASK, 0);
        assert!(!info.header.is_encrypted());
        // Neither a plain request nor the RESP3 bit nor type 6 alone asks for TLS.
        assert!(!hdr(1, DmsgType::Req, FLAG_TLS, true).is_starttls());
        assert!(!hdr(1, DmsgType::CryptoHandshake, FLAG_RESP3, true).is_starttls());
        assert!(!hdr(1, DmsgType::CryptoHandshake, 0, true).is_starttls());
    }
}
