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
//!                         ├─ Skipped {header}: header-only types, and
//!                         │     datastore frames of the other direction (their
//!                         │     payload_len bytes are skipped inside)
//!                         ├─ Again: every byte given was consumed
//!                         └─ Err: a length over its cap, or an encrypted frame
//! ```
//!
//! Where decryption goes: an encrypted frame (flags bit 0) is refused today
//! with [`FrameError::Encrypted`] and the connection closes. With encryption,
//! the framer keeps the connection's session key (the RSA block in the data
//! field of the first encrypted frame, [`DmsgInfo::data`]), reads the
//! `payload_len` ciphertext bytes in its `Payload` state, decrypts them into
//! fresh chunks and yields [`Frame::Datastore`] for a message whose bytes come
//! from those chunks instead of the socket's; the datastore parser after it
//! does not change. Gossip frames are delivered as [`Frame::Gossip`];
//! `cluster/gossip.rs` reads their records with `dnode::msg::gossip_records`.
//!
//! `Context::frame_next` (dnode/mod.rs) runs a connection's framer
//! over its buffered bytes for `dnode_client_parse` and `peer_parse`.

use std::fmt;
use std::ops::Range;

use crate::dnode::msg::{DmsgHeader, DmsgInfo, DmsgParser, DmsgPayload, DmsgType};
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
}

/// Why a peer connection's stream cannot be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The header parser refused a length.
    Header(&'static str),
    /// An encrypted frame (not supported yet).
    Encrypted(DmsgHeader),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Header(e) => f.write_str(e),
            FrameError::Encrypted(_) => f.write_str("encrypted frame"),
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
}

impl Framer {
    /// A framer at the start of a peer connection's stream.
    pub fn new(dir: Direction) -> Framer {
        Framer {
            parser: DmsgParser::new(),
            info: DmsgInfo::default(),
            at: At::Header,
            dir,
        }
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
        if header.is_encrypted() {
            return Some(Err(FrameError::Encrypted(header)));
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
                // Plain gossip (encrypted frames were refused above).
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
}

#[cfg(test)]
mod tests {
    use super::*;
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
        Error(FrameError),
    }

    /// Drives a framer and the datastore parsers over `input` cut at `cuts`,
    /// the way a peer connection does.
    fn drive(dir: Direction, input: &[u8], cuts: &[usize]) -> Vec<Seen> {
        let mut f = Framer::new(dir);
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

    #[test]
    fn encrypted_frames_and_huge_lengths_are_errors() {
        let enc = b"   $2014$ 500 5 1 1 1 *1 d *16\r\n0123456789abcdef";
        let input = [OK_79, &enc[..]].concat();
        let seen = agree(Direction::Outbound, &input);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], Seen::Message(79, 5, payload(OK_79)));
        assert!(matches!(seen[1], Seen::Error(FrameError::Encrypted(h)) if h.id == 500));
        let seen = agree(Direction::Inbound, b"   $2014$ 1 3 0 1 1 *1 d *9999999999");
        assert!(matches!(seen[..], [Seen::Error(FrameError::Header(_))]));
    }
}
