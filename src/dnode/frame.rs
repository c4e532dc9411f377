//! The frame layer of a peer connection (the receiving half of
//! dyn_dnode_msg.c: `dmsg_parse` and the payload rules of `dmsg_process`):
//! one [`Framer`] per peer connection, inbound (`DnodeClient`) and outbound
//! (`DnodePeer`) alike, owns the header parser and the state of the frame
//! being read. Plain client and datastore connections never pass through it.
//!
//! ```text
//!  bytes ─► Framer::next ─┬─ Datastore(header) ─► the datastore parser reads
//!                         │     one request (inbound) or reply (outbound) ─►
//!                         │     Framer::datastore_done() gives the header back
//!                         ├─ Gossip {header, payload range} (type 7; the
//!                         │     caller gathers it for cluster/gossip.rs)
//!                         ├─ Encrypted(header): an encrypted datastore frame
//!                         │     starts (its data field may carry a session key,
//!                         │     `key_block`); then Cipher {payload range, done}
//!                         │     pieces until payload_len bytes are given, and the
//!                         │     framer stands at its Datastore message
//!                         ├─ Skipped {header}: header-only types, and
//!                         │     datastore frames of the other direction (their
//!                         │     payload_len bytes are skipped inside)
//!                         ├─ Again: every byte given was consumed
//!                         └─ Err: a length over its cap
//! ```
//!
//! Decryption (peer spec §6): the framer also keeps what the encrypted
//! frames of its connection need, [`FrameCrypt`]: the session key (received
//! in the RSA block of an encrypted frame, or this node's own on an outbound
//! connection), the ciphertext unit being collected, the decrypted units of
//! the current frame and the socket's unread bytes set aside while the
//! datastore parser reads those units. `Context::frame_next` (dnode/mod.rs)
//! does the decrypting into fresh chunks and hands them to the datastore
//! parser in place of the socket's bytes; the parser does not change.
//! Encrypted gossip is skipped by its length (the original decrypts it and
//! then fails in the Redis parser). Gossip frames are delivered as
//! [`Frame::Gossip`]; `cluster/gossip.rs` reads their records with
//! `dnode::msg::gossip_records`.
//!
//! `Context::frame_next` (dnode/mod.rs) runs a connection's framer
//! over its buffered bytes for `dnode_client_parse` and `peer_parse`.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Range;

use crate::dnode::crypto::{CryptoError, SessionKey};
use crate::dnode::msg::{DmsgHeader, DmsgInfo, DmsgParser, DmsgPayload, DmsgType};
use crate::mbuf::{MbufId, Seg};
use crate::proto::Parse;

/// Which way the connection's requests go: it decides which datastore frames
/// carry a message this side reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A peer connected to us (`DnodeClient`): requests (types 3 and 4) come in.
    Inbound,
    /// Our connection to a peer (`DnodePeer`): replies (type 5, and 0 from old
    /// nodes) come in.
    Outbound,
}

/// What [`Framer::next`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Every byte given was consumed (header bytes, or payload skipped); feed
    /// more.
    Again,
    /// The connection stands at the datastore message of this frame: the bytes
    /// from here on go to the datastore parser until one message is complete,
    /// then [`Framer::datastore_done`] ends the frame. Until then `next`
    /// returns this again without consuming anything.
    Datastore(DmsgHeader),
    /// Bytes `payload` of the input are (a piece of) the payload of a gossip
    /// frame (type 7); `done` when the payload's last byte is in it. An empty
    /// payload gives one empty range.
    Gossip {
        header: DmsgHeader,
        payload: Range<usize>,
        done: bool,
    },
    /// A frame this side has no use for: a header-only type, or (when
    /// `unexpected`) a datastore frame of the other direction, whose
    /// `payload_len` bytes the framer skips.
    Skipped {
        header: DmsgHeader,
        unexpected: bool,
    },
    /// An encrypted datastore frame of this side's direction starts: the
    /// caller takes the session key from [`Framer::key_block`] when
    /// `header.carries_key()`, and checks that it has one. Its ciphertext
    /// follows as [`Frame::Cipher`] pieces.
    Encrypted(DmsgHeader),
    /// Bytes `payload` of the input are (a piece of) the ciphertext of the
    /// current encrypted frame; `done` when its last byte is in it. The
    /// framer then stands at the frame's datastore message.
    Cipher {
        header: DmsgHeader,
        payload: Range<usize>,
        done: bool,
    },
}

/// Why a peer connection's stream cannot be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header parser refused a length.
    Header(&'static str),
    /// An encrypted frame whose payload_len cannot be AES-CBC ciphertext
    /// (zero, or not a multiple of 16).
    CipherLen(DmsgHeader),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Header(e) => f.write_str(e),
            FrameError::CipherLen(_) => {
                f.write_str("encrypted frame with a payload_len that is no AES ciphertext")
            }
        }
    }
}

/// Where the framer stands in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Reading a frame header.
    Header,
    /// At (or inside) the datastore message of this frame.
    Datastore(DmsgHeader),
    /// Inside a sized payload with `left` bytes to go; gossip payloads are
    /// delivered, others skipped.
    Payload {
        header: DmsgHeader,
        left: u64,
        gossip: bool,
    },
    /// Inside the ciphertext of an encrypted datastore frame, `left` bytes
    /// to go.
    Cipher { header: DmsgHeader, left: u64 },
}

/// What encrypted frames need on one connection (peer spec §6). Filled and
/// used by `Context` (dnode/mod.rs); the chunks it names hold one reference
/// each, released by `Context::frame_release` when the connection closes.
#[derive(Debug, Default)]
pub struct FrameCrypt {
    /// The connection's session key: received in an RSA block (inbound), or
    /// made for the first encrypted frame sent (outbound).
    pub session: Option<SessionKey>,
    /// Outbound: the session key was put in a frame (the first encrypted
    /// frame queued carries it).
    pub key_sent: bool,
    /// Ciphertext of the unit being collected across reads.
    pub unit: Vec<u8>,
    /// Decrypted units of the current frame not yet handed to the parser.
    pub plain: VecDeque<Seg>,
    /// While decrypted bytes stand in for the socket's (`Conn::rbuf`): the
    /// socket's chunk and its unread range.
    pub stash: Option<(MbufId, usize, usize)>,
}

impl FrameCrypt {
    /// Takes ciphertext from `piece` into the unit being collected, until
    /// it holds `unit` bytes; returns how many bytes of `piece` it took.
    pub fn collect(&mut self, piece: &[u8], unit: usize) -> usize {
        debug_assert!(self.unit.len() <= unit);
        let n = piece.len().min(unit - self.unit.len());
        self.unit.extend_from_slice(&piece[..n]);
        n
    }

    /// Decrypts the collected unit in place with the session key; its
    /// plaintext is `unit[..n]` for the returned `n`. The caller copies it
    /// out and clears `unit`.
    pub fn decrypt_unit(&mut self) -> Result<usize, CryptoError> {
        let key = self.session.as_ref().ok_or(CryptoError::KeyBlock)?;
        key.decrypt_unit(&mut self.unit)
    }
}

/// The frame state of one peer connection.
#[derive(Debug)]
pub struct Framer {
    /// Header parser; resumes across reads.
    parser: DmsgParser,
    /// What the parser learned about the last header (its data field's
    /// buffer is reused from frame to frame).
    info: DmsgInfo,
    /// Where the stream stands.
    at: At,
    /// Which datastore frames carry a message for this side.
    dir: Direction,
    /// Session key and buffers of encrypted frames.
    pub crypt: FrameCrypt,
}

impl Framer {
    /// A framer at the start of a peer connection's stream.
    pub fn new(dir: Direction) -> Framer {
        Framer {
            parser: DmsgParser::new(),
            info: DmsgInfo::default(),
            at: At::Header,
            dir,
            crypt: FrameCrypt::default(),
        }
    }

    /// The data field of the last header: the RSA block of a frame that
    /// carries a session key.
    pub fn key_block(&self) -> &[u8] {
        &self.info.data
    }

    /// Which way this connection's requests go.
    pub fn direction(&self) -> Direction {
        self.dir
    }

    /// True while the connection stands at (or inside) a datastore message.
    pub fn at_datastore(&self) -> bool {
        matches!(self.at, At::Datastore(_))
    }

    /// The datastore message of the current frame is complete: returns its
    /// header, and the next bytes are read as a header again.
    pub fn datastore_done(&mut self) -> Option<DmsgHeader> {
        match self.at {
            At::Datastore(h) => {
                self.at = At::Header;
                Some(h)
            }
            _ => None,
        }
    }

    /// Reads frame structure from `input`, the bytes not consumed yet: returns
    /// how many of them were consumed and what was found. One call reports at
    /// most one frame; call again with the rest.
    pub fn next(&mut self, input: &[u8]) -> (usize, Result<Frame, FrameError>) {
        let mut pos = 0;
        loop {
            match self.at {
                At::Datastore(h) => return (pos, Ok(Frame::Datastore(h))),
                At::Payload {
                    header,
                    left,
                    gossip,
                } => {
                    debug_assert!(left > 0);
                    if pos == input.len() {
                        return (pos, Ok(Frame::Again));
                    }
                    let n = left.min((input.len() - pos) as u64) as usize;
                    let start = pos;
                    pos += n;
                    let left = left - n as u64;
                    self.at = if left == 0 {
                        At::Header
                    } else {
                        At::Payload {
                            header,
                            left,
                            gossip,
                        }
                    };
                    if gossip {
                        let payload = start..pos;
                        let done = left == 0;
                        return (
                            pos,
                            Ok(Frame::Gossip {
                                header,
                                payload,
                                done,
                            }),
                        );
                    }
                }
                At::Cipher { header, left } => {
                    debug_assert!(left > 0);
                    if pos == input.len() {
                        return (pos, Ok(Frame::Again));
                    }
                    let n = left.min((input.len() - pos) as u64) as usize;
                    let start = pos;
                    pos += n;
                    let left = left - n as u64;
                    let done = left == 0;
                    self.at = if done {
                        At::Datastore(header)
                    } else {
                        At::Cipher { header, left }
                    };
                    let payload = start..pos;
                    return (
                        pos,
                        Ok(Frame::Cipher {
                            header,
                            payload,
                            done,
                        }),
                    );
                }
                At::Header => {
                    if pos == input.len() {
                        return (pos, Ok(Frame::Again));
                    }
                    match self.parser.parse(&input[pos..], &mut self.info) {
                        Parse::Again => return (input.len(), Ok(Frame::Again)),
                        Parse::Error(e) => return (pos, Err(FrameError::Header(e))),
                        Parse::Done(k) => {
                            pos += k;
                            debug_assert!(pos <= input.len());
                            if let Some(f) = self.header_done() {
                                return (pos, f);
                            }
                        }
                    }
                }
            }
        }
    }

    /// A header was parsed: decides what follows. `None` when the payload
    /// is to be read in the same call (gossip).
    fn header_done(&mut self) -> Option<Result<Frame, FrameError>> {
        let info = &self.info;
        let header = info.header;
        if header.is_encrypted() && info.payload == DmsgPayload::Sized {
            return Some(self.encrypted_header());
        }
        match info.payload {
            DmsgPayload::Datastore => {
                let expected = match self.dir {
                    Direction::Outbound => matches!(header.ty, DmsgType::Res | DmsgType::Undefined),
                    Direction::Inbound => matches!(header.ty, DmsgType::Req | DmsgType::ReqForward),
                };
                if expected {
                    self.at = At::Datastore(header);
                    return Some(Ok(Frame::Datastore(header)));
                }
                if info.payload_len > 0 {
                    self.at = At::Payload {
                        header,
                        left: info.payload_len,
                        gossip: false,
                    };
                }
                Some(Ok(Frame::Skipped {
                    header,
                    unexpected: true,
                }))
            }
            DmsgPayload::Sized => {
                // Plain gossip (encrypted frames were taken above).
                debug_assert_eq!(header.ty, DmsgType::GossipSyn);
                if info.payload_len == 0 {
                    return Some(Ok(Frame::Gossip {
                        header,
                        payload: 0..0,
                        done: true,
                    }));
                }
                self.at = At::Payload {
                    header,
                    left: info.payload_len,
                    gossip: true,
                };
                None
            }
            DmsgPayload::HeaderOnly => Some(Ok(Frame::Skipped {
                header,
                unexpected: false,
            })),
        }
    }

    /// An encrypted frame with a sized payload: the ciphertext of a
    /// datastore message for this side, or a frame skipped by its length
    /// (the other direction's, or encrypted gossip).
    fn encrypted_header(&mut self) -> Result<Frame, FrameError> {
        let header = self.info.header;
        let len = self.info.payload_len;
        let expected = match self.dir {
            Direction::Outbound => header.ty == DmsgType::Res,
            Direction::Inbound => header.ty.is_request(),
        };
        if !expected {
            if len > 0 {
                self.at = At::Payload {
                    header,
                    left: len,
                    gossip: false,
                };
            }
            return Ok(Frame::Skipped {
                header,
                unexpected: true,
            });
        }
        if len == 0 || !len.is_multiple_of(crate::dnode::crypto::BLOCK as u64) {
            return Err(FrameError::CipherLen(header));
        }
        self.at = At::Cipher { header, left: len };
        Ok(Frame::Encrypted(header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnode::crypto::{cipher_unit, plain_unit};
    use crate::proto::redis::{ReqInfo, ReqParser, RspInfo, RspParser};

    // Captured frames of the original (src/dnode/msg.rs, tests/peer_protocol.rs).
    const SET_FOO_BAR: &[u8] =
        b"   $2014$ 2 3 0 1 1 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
    const SET_FOO_BAR_REMOTE: &[u8] =
        b"   $2014$ 3 4 0 1 0 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
    const GET_FOO_77: &[u8] = b"   $2014$ 77 3 0 1 1 *1 d *22\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n";
    const GET_FOO_77_REPLY: &[u8] = b"   $2014$ 77 5 0 1 1 *1 d *9\r\n$3\r\nbar\r\n";
    const NIL_78: &[u8] = b"   $2014$ 78 5 0 1 1 *1 d *5\r\n$-1\r\n";
    const OK_79: &[u8] = b"   $2014$ 79 5 0 1 0 *1 d *5\r\n+OK\r\n";
    const GOSSIP: &[u8] = b"   $2014$ 0 7 0 1 1 *1 a *77\r\ndc1$rack1$1000,1795404652,4,127.0.0.77|dc1$rack2$1000,1795404649,4,127.0.0.77";
    const HEADER_ONLY: &[u8] = b"   $2014$ 5 13 0 1 1 *1 d *0\r\n   $2014$ 6 6 0 1 1 *1 d *0\r\n";
    const EMPTY_GOSSIP: &[u8] = b"   $2014$ 0 7 0 1 1 *1 a *0\r\n";
    /// payload_len is advisory for datastore frames (too large here).
    const WRONG_LEN: &[u8] =
        b"   $2014$ 80 3 0 1 1 *1 d *999\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";

    /// What a connection sees, as a comparable record.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Seen {
        /// A datastore message and its frame's id and type.
        Message(u64, u8, Vec<u8>),
        Gossip(u64, Vec<u8>),
        Skipped(u8, bool),
        /// The data field of an encrypted frame carrying a session key.
        KeyBlock(Vec<u8>),
        Error(FrameError),
        Crypto(CryptoError),
    }

    /// The session key of the spec's example (§9.5): bytes 00 .. 1f.
    fn spec_key() -> SessionKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8;
        }
        SessionKey::from_bytes(k)
    }

    /// The ciphertext unit of the tests' encrypted frames: that of 512-byte
    /// chunks (448 bytes of plaintext per segment), so that payloads of a
    /// few units stay small enough to split at every byte.
    const MBUF: usize = 512;

    /// An encrypted frame as a sender writes it: `payload` cut into
    /// segments of `plain_unit(MBUF)` bytes, each encrypted on its own with
    /// the spec's key; `key_block` stands for the RSA block.
    fn encrypted(id: u64, ty: DmsgType, payload: &[u8], key_block: Option<&[u8]>) -> Vec<u8> {
        let key = spec_key();
        let mut cipher = Vec::new();
        for (off, n) in crate::dnode::crypto::segments(payload.len() as u64, plain_unit(MBUF)) {
            let mut buf = payload[off as usize..off as usize + n].to_vec();
            buf.resize(crate::dnode::crypto::cipher_len(n), 0);
            let k = key.encrypt_segment(&mut buf, n);
            cipher.extend_from_slice(&buf[..k]);
        }
        let mut h = DmsgHeader::new(id, ty, true);
        h.flags = crate::dnode::msg::FLAG_ENCRYPTED;
        let mut out = Vec::new();
        match key_block {
            Some(b) => {
                h.data_len = b.len() as u32;
                crate::dnode::msg::write_header_data(&mut out, &h, b, cipher.len());
            }
            None => crate::dnode::msg::write_header(&mut out, &h, cipher.len()),
        }
        out.extend_from_slice(&cipher);
        out
    }

    /// Drives a framer and the datastore parsers over `input` cut at `cuts`,
    /// the way a peer connection does. Encrypted frames are decrypted in
    /// units of `cipher_unit(MBUF)` with the spec's key, as
    /// `Context::frame_decrypt` does, and their plaintext parsed whole.
    fn drive(dir: Direction, input: &[u8], cuts: &[usize]) -> Vec<Seen> {
        let mut f = Framer::new(dir);
        f.crypt.session = Some(spec_key());
        let mut plain = Vec::new();
        let mut seen = Vec::new();
        let mut gossip = Vec::new();
        let mut msg = Vec::new();
        let (mut req, mut rsp) = (ReqParser::new(), RspParser::new());
        let (mut ri, mut si) = (ReqInfo::default(), RspInfo::default());
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(input.len());
        for w in bounds.windows(2) {
            let chunk = &input[w[0]..w[1]];
            let mut pos = 0;
            loop {
                let (n, r) = f.next(&chunk[pos..]);
                let piece = &chunk[pos..];
                pos += n;
                match r {
                    Err(e) => {
                        seen.push(Seen::Error(e));
                        return seen;
                    }
                    Ok(Frame::Again) => {
                        assert_eq!(pos, chunk.len());
                        break;
                    }
                    Ok(Frame::Gossip {
                        header,
                        payload,
                        done,
                    }) => {
                        gossip.extend_from_slice(&piece[payload]);
                        if done {
                            seen.push(Seen::Gossip(header.id, std::mem::take(&mut gossip)));
                        }
                    }
                    Ok(Frame::Skipped { header, unexpected }) => {
                        seen.push(Seen::Skipped(header.ty.num(), unexpected))
                    }
                    Ok(Frame::Encrypted(h)) => {
                        if h.carries_key() {
                            seen.push(Seen::KeyBlock(f.key_block().to_vec()));
                        }
                    }
                    Ok(Frame::Cipher {
                        header,
                        payload,
                        done,
                    }) => {
                        let unit = cipher_unit(MBUF);
                        let mut piece = &piece[payload];
                        loop {
                            let n = f.crypt.collect(piece, unit);
                            piece = &piece[n..];
                            if f.crypt.unit.len() == unit || (done && piece.is_empty()) {
                                match f.crypt.decrypt_unit() {
                                    Ok(k) => plain.extend_from_slice(&f.crypt.unit[..k]),
                                    Err(e) => {
                                        seen.push(Seen::Crypto(e));
                                        return seen;
                                    }
                                }
                                f.crypt.unit.clear();
                            }
                            if piece.is_empty() {
                                break;
                            }
                        }
                        if done {
                            assert!(f.at_datastore());
                            let all = std::mem::take(&mut plain);
                            let r = match dir {
                                Direction::Inbound => req.parse(&all, &mut ri),
                                Direction::Outbound => rsp.parse(&all, &mut si),
                            };
                            assert_eq!(r, Parse::Done(all.len()), "one whole message");
                            assert_eq!(f.datastore_done(), Some(header));
                            seen.push(Seen::Message(header.id, header.ty.num(), all));
                            ri = ReqInfo::default();
                            si = RspInfo::default();
                        }
                    }
                    Ok(Frame::Datastore(h)) => {
                        assert!(f.at_datastore());
                        if pos == chunk.len() {
                            break;
                        }
                        let rest = &chunk[pos..];
                        let r = match dir {
                            Direction::Inbound => req.parse(rest, &mut ri),
                            Direction::Outbound => rsp.parse(rest, &mut si),
                        };
                        match r {
                            Parse::Again => {
                                msg.extend_from_slice(rest);
                                break;
                            }
                            Parse::Done(k) => {
                                msg.extend_from_slice(&rest[..k]);
                                pos += k;
                                let done = f.datastore_done().expect("at a message");
                                assert_eq!(done, h);
                                seen.push(Seen::Message(
                                    h.id,
                                    h.ty.num(),
                                    std::mem::take(&mut msg),
                                ));
                                ri = ReqInfo::default();
                                si = RspInfo::default();
                            }
                            Parse::Error(e) => panic!("datastore parser: {e}"),
                        }
                    }
                }
            }
        }
        seen
    }

    /// Whole, split at every byte, and one byte at a time: all agree.
    fn agree(dir: Direction, input: &[u8]) -> Vec<Seen> {
        let whole = drive(dir, input, &[]);
        for cut in 1..input.len() {
            assert_eq!(drive(dir, input, &[cut]), whole, "cut at {cut}");
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(drive(dir, input, &bytes), whole, "one byte at a time");
        whole
    }

    fn payload(frame: &[u8]) -> Vec<u8> {
        let at = frame.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        frame[at..].to_vec()
    }

    #[test]
    fn inbound_requests() {
        let input = [SET_FOO_BAR, SET_FOO_BAR_REMOTE, GET_FOO_77, WRONG_LEN].concat();
        let seen = agree(Direction::Inbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Message(2, 3, payload(SET_FOO_BAR)),
                Seen::Message(3, 4, payload(SET_FOO_BAR_REMOTE)),
                Seen::Message(77, 3, payload(GET_FOO_77)),
                Seen::Message(80, 3, payload(WRONG_LEN)),
            ]
        );
    }

    #[test]
    fn a_pipelined_batch_and_its_replies() {
        let reqs: &[&[u8]] = &[
            b"   $2014$ 101 3 0 1 1 *1 d *29\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$3\r\none\r\n",
            b"   $2014$ 102 3 0 1 1 *1 d *20\r\n*2\r\n$3\r\nget\r\n$1\r\na\r\n",
            b"   $2014$ 103 3 0 1 1 *1 d *24\r\n*2\r\n$3\r\nget\r\n$5\r\nnokey\r\n",
            b"   $2014$ 104 3 0 1 1 *1 d *23\r\n*2\r\n$6\r\nexists\r\n$1\r\na\r\n",
            b"   $2014$ 105 3 0 1 1 *1 d *14\r\n*1\r\n$4\r\nping\r\n",
        ];
        let rsps: &[&[u8]] = &[
            b"   $2014$ 101 5 0 1 1 *1 d *5\r\n+OK\r\n",
            b"   $2014$ 102 5 0 1 1 *1 d *9\r\n$3\r\none\r\n",
            b"   $2014$ 103 5 0 1 1 *1 d *5\r\n$-1\r\n",
            b"   $2014$ 104 5 0 1 1 *1 d *4\r\n:1\r\n",
            b"   $2014$ 105 5 0 1 1 *1 d *7\r\n+PONG\r\n",
        ];
        for (dir, frames, ty) in [
            (Direction::Inbound, reqs, 3),
            (Direction::Outbound, rsps, 5),
        ] {
            let seen = agree(dir, &frames.concat());
            let want: Vec<Seen> = frames
                .iter()
                .zip(101..)
                .map(|(f, id)| Seen::Message(id, ty, payload(f)))
                .collect();
            assert_eq!(seen, want);
        }
    }

    #[test]
    fn outbound_replies() {
        let input = [GET_FOO_77_REPLY, NIL_78, OK_79].concat();
        let seen = agree(Direction::Outbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Message(77, 5, payload(GET_FOO_77_REPLY)),
                Seen::Message(78, 5, payload(NIL_78)),
                Seen::Message(79, 5, payload(OK_79)),
            ]
        );
    }

    #[test]
    fn gossip_and_header_only_frames_between_messages() {
        let input = [GOSSIP, GET_FOO_77, HEADER_ONLY, EMPTY_GOSSIP, SET_FOO_BAR].concat();
        let seen = agree(Direction::Inbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Gossip(0, payload(GOSSIP)),
                Seen::Message(77, 3, payload(GET_FOO_77)),
                Seen::Skipped(13, false),
                Seen::Skipped(6, false),
                Seen::Gossip(0, Vec::new()),
                Seen::Message(2, 3, payload(SET_FOO_BAR)),
            ]
        );
    }

    #[test]
    fn frames_of_the_other_direction_are_skipped_by_length() {
        // A reply frame on an inbound connection, a request on an outbound one.
        let input = [OK_79, GET_FOO_77].concat();
        let seen = agree(Direction::Inbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Skipped(5, true),
                Seen::Message(77, 3, payload(GET_FOO_77))
            ]
        );
        let input = [GET_FOO_77, NIL_78].concat();
        let seen = agree(Direction::Outbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Skipped(3, true),
                Seen::Message(78, 5, payload(NIL_78))
            ]
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn the_spec_encrypted_frames_decrypt_bit_exactly() {
        // §9.5: the first request carries a 128-byte RSA block (any bytes
        // here: the framer hands it over untouched), the reply does not.
        let block: Vec<u8> = (0..128u8).map(|b| b.wrapping_mul(37)).collect();
        let mut req = b"   $2014$ 500 3 1 1 1 *128 ".to_vec();
        req.extend_from_slice(&block);
        req.extend_from_slice(b" *32\r\n");
        req.extend_from_slice(&hex(
            "de40c32b0cdbfdd91147e6c16607a599 975767f66d25edea3d4d1806ab97d0de",
        ));
        let get: &[u8] = b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n";
        // A later request on the connection: `*1 d`.
        let later = encrypted(501, DmsgType::Req, get, None);
        let seen = agree(Direction::Inbound, &[&req[..], &later].concat());
        assert_eq!(
            seen,
            vec![
                Seen::KeyBlock(block.clone()),
                Seen::Message(500, 3, get.to_vec()),
                Seen::Message(501, 3, get.to_vec()),
            ]
        );
        // The sender's side writes the same bytes.
        assert_eq!(encrypted(500, DmsgType::Req, get, Some(&block)), req);

        let mut reply = b"   $2014$ 500 5 1 1 1 *1 d *16\r\n".to_vec();
        reply.extend_from_slice(&hex("4cf0424acc44be02c000b31dcab3b4bf"));
        let seen = agree(Direction::Outbound, &reply);
        assert_eq!(seen, vec![Seen::Message(500, 5, b"$3\r\nbar\r\n".to_vec())]);
        assert_eq!(encrypted(500, DmsgType::Res, b"$3\r\nbar\r\n", None), reply);
    }

    #[test]
    fn encrypted_payloads_cross_unit_boundaries() {
        // Values around the unit (448 bytes of plaintext) and several units.
        let unit = plain_unit(MBUF);
        let mut frames = Vec::new();
        let mut want = Vec::new();
        for (i, len) in [0, 1, unit - 40, unit - 30, unit, unit + 1, 3 * unit + 7]
            .into_iter()
            .enumerate()
        {
            let value = vec![b'a' + i as u8; len];
            let mut cmd = format!("*3\r\n$3\r\nset\r\n$1\r\nk\r\n${len}\r\n").into_bytes();
            cmd.extend_from_slice(&value);
            cmd.extend_from_slice(b"\r\n");
            frames.push(encrypted(10 + i as u64, DmsgType::Req, &cmd, None));
            want.push(Seen::Message(10 + i as u64, 3, cmd));
        }
        // A plain frame between encrypted ones.
        frames.insert(2, GET_FOO_77.to_vec());
        want.insert(2, Seen::Message(77, 3, payload(GET_FOO_77)));
        let input = frames.concat();
        let whole = drive(Direction::Inbound, &input, &[]);
        assert_eq!(whole, want);
        // Cut at every byte of the first frames (the last is long).
        let first: usize = frames[..5].iter().map(|f| f.len()).sum();
        for cut in 1..first {
            assert_eq!(
                drive(Direction::Inbound, &input, &[cut]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<usize> = (1..input.len()).collect();
        assert_eq!(drive(Direction::Inbound, &input, &bytes), whole);
    }

    #[test]
    fn encrypted_frames_of_the_other_direction_are_skipped() {
        let reply = encrypted(9, DmsgType::Res, b"+OK\r\n", None);
        let gossip = encrypted(0, DmsgType::GossipSyn, b"dc1$rack1$1,2,4,127.0.0.1", None);
        let input = [&reply[..], &gossip, GET_FOO_77].concat();
        let seen = agree(Direction::Inbound, &input);
        assert_eq!(
            seen,
            vec![
                Seen::Skipped(5, true),
                Seen::Skipped(7, true),
                Seen::Message(77, 3, payload(GET_FOO_77))
            ]
        );
    }

    #[test]
    fn bad_ciphertext_and_huge_lengths_are_errors() {
        // Not a whole number of blocks, or nothing at all.
        for frame in [
            &b"   $2014$ 500 5 1 1 1 *1 d *15\r\n0123456789abcde"[..],
            b"   $2014$ 500 5 1 1 1 *1 d *0\r\n",
        ] {
            let seen = agree(Direction::Outbound, &[OK_79, frame].concat());
            assert_eq!(seen[0], Seen::Message(79, 5, payload(OK_79)));
            assert!(matches!(seen[1], Seen::Error(FrameError::CipherLen(h)) if h.id == 500));
        }
        // Bad padding: garbage that is a whole number of blocks.
        let seen = agree(
            Direction::Outbound,
            b"   $2014$ 500 5 1 1 1 *1 d *16\r\n0123456789abcdef",
        );
        assert_eq!(seen, vec![Seen::Crypto(CryptoError::Padding)]);
        let seen = agree(Direction::Inbound, b"   $2014$ 1 3 0 1 1 *1 d *9999999999");
        assert!(matches!(seen[..], [Seen::Error(FrameError::Header(_))]));
    }
}
