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

impl Context {
    /// Runs the framer of a peer connection over its buffered bytes until it
    /// stands at a datastore message with bytes to parse (`Ok(true)`) or
    /// needs more (`Ok(false)`). Gossip payloads are dropped here (membership
    /// is the static seed list); an encrypted frame or a bad length ends the
    /// connection.
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
            let (n, r) = framer.next(self.mbufs.range(buf, c.rpos, filled));
            c.rpos += n;
            debug_assert!(c.rpos <= filled);
            if self.tls_gate_frame(cid, &r)? {
                continue; // the rest of the bytes went to a TLS session
            }
            let c = &mut self.conns[cid.0];
            let tag = c.kind().tag();
            match r {
                Ok(Frame::Again) => return Ok(false),
                Ok(Frame::Datastore(_)) => return Ok(c.rpos < filled),
                Ok(Frame::Gossip { header, done, .. }) => {
                    // Gossip (type 7): membership is static in this version;
                    // the payload is read and dropped.
                    if done {
                        debug!("{} {} frame type {} skipped", tag, cid.0, header.ty.num());
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
