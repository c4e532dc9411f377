//! The peer side of a node (dyn_dnode_*.c): the frame format peers speak,
//! the frame layer of a peer connection, inbound peer connections and
//! outbound peer pools.

pub mod client;
pub mod frame;
pub mod msg;
pub mod peer;

use std::io;

use log::{debug, warn};

use crate::conn::Role;
use crate::core::Context;
use crate::dnode::frame::{Frame, FrameError};
use crate::ids::ConnId;

/// Largest gossip payload read (a record is under 300 bytes).
const MAX_GOSSIP: usize = 1 << 20;

impl Context {
    /// Runs the framer of a peer connection over its buffered bytes until it
    /// stands at a datastore message with bytes to parse (`Ok(true)`) or
    /// needs more (`Ok(false)`). Gossip payloads go to `gossip_received`
    /// once whole; an encrypted frame or a bad length ends the connection.
    pub(crate) fn frame_next(&mut self, cid: ConnId) -> io::Result<bool> {
        loop {
            let c = &mut self.conns[cid.0];
            let Some(buf) = c.rbuf else { return Ok(false) };
            let filled = c.rend;
            if c.rpos >= filled {
                return Ok(false);
            }
            let framer = match &mut c.role {
                Role::DnodeClient(p) => &mut p.framer,
                Role::DnodePeer(p) => &mut p.framer,
                _ => unreachable!("only peer connections carry frames"),
            };
            let start = c.rpos;
            let (n, r) = framer.next(self.mbufs.range(buf, start, filled));
            c.rpos += n;
            debug_assert!(c.rpos <= filled);
            let tag = c.kind().tag();
            match r {
                Ok(Frame::Again) => return Ok(false),
                Ok(Frame::Datastore(_)) => return Ok(c.rpos < filled),
                Ok(Frame::Gossip {
                    header,
                    payload,
                    done,
                }) => {
                    let partial = match &mut self.conns[cid.0].role {
                        Role::DnodeClient(p) => &mut p.gossip,
                        Role::DnodePeer(p) => &mut p.gossip,
                        _ => unreachable!("only peer connections carry frames"),
                    };
                    let piece = self
                        .mbufs
                        .range(buf, start + payload.start, start + payload.end);
                    if partial.len() + piece.len() > MAX_GOSSIP {
                        if !partial.is_empty() || done {
                            warn!(
                                "{tag} {} gossip payload over {MAX_GOSSIP} bytes dropped",
                                cid.0
                            );
                        }
                        partial.clear();
                        partial.shrink_to_fit();
                        continue;
                    }
                    partial.extend_from_slice(piece);
                    if done {
                        let whole = std::mem::take(partial);
                        debug!(
                            "{tag} {} gossip {} ({} bytes)",
                            cid.0,
                            header.id,
                            whole.len()
                        );
                        self.gossip_received(&whole);
                    }
                }
                Ok(Frame::Skipped { header, unexpected }) => {
                    if unexpected {
                        debug!(
                            "{} {} unexpected frame type {}, skipped",
                            tag,
                            cid.0,
                            header.ty.num()
                        );
                    }
                }
                Err(e) => {
                    if let FrameError::Encrypted(_) = e {
                        warn!(
                            "{} {} encrypted peer traffic is not supported yet",
                            tag, cid.0
                        );
                    }
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
            }
        }
    }
}
