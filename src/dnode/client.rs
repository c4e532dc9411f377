//! Incoming peer connections (dyn_dnode_client.c, dyn_dnode_proxy.c): the
//! frame layer in front of the datastore protocol, shared with outgoing peer
//! connections, and the frame header of replies sent back to peers.
//!
//! ```text
//!  bytes ─► frame_layer: "   $2014$ id type flags ver same_dc *1 d *len\r\n"
//!             │ types 3/4 (5 on outgoing connections): the RESP parser reads
//!             │   the payload as one request (reply); dhdr keeps the header
//!             │ gossip and other sized payloads: skipped
//!             └ header-only types: nothing follows
//! ```

use std::io;

use log::{debug, warn};

use crate::conn::ConnKind;
use crate::core::Context;
use crate::dnode::msg::{write_header, DmsgHeader, DmsgPayload, DmsgType, FLAG_RESP3};
use crate::mbuf::MbufId;
use crate::msg::{ConnId, MsgId};
use crate::proto::Parse;

impl Context {
    /// On a peer connection, consumes frame headers (and payloads to skip)
    /// until the connection stands at a datastore payload. Returns `Ok(true)`
    /// there (always for non-peer connections), `Ok(false)` when more bytes
    /// are needed.
    pub fn frame_layer(&mut self, cid: ConnId, buf: MbufId, filled: usize) -> io::Result<bool> {
        loop {
            let c = &mut self.conns[cid.0];
            let outgoing = match c.kind {
                ConnKind::DnodeClient => false,
                ConnKind::DnodePeer => true,
                _ => return Ok(true),
            };
            if c.dhdr.is_some() {
                return Ok(true);
            }
            if c.rpos >= filled {
                return Ok(false);
            }
            if c.skip > 0 {
                let n = c.skip.min((filled - c.rpos) as u64);
                c.rpos += n as usize;
                c.skip -= n;
                continue;
            }
            let chunk = self.mbufs.range(buf, c.rpos, filled);
            match c.dmsg_parser.parse(chunk, &mut c.dmsg_info) {
                Parse::Again => {
                    c.rpos = filled;
                    return Ok(false);
                }
                Parse::Error(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                Parse::Done(k) => {
                    c.rpos += k;
                    let info = &c.dmsg_info;
                    let h = info.header;
                    if h.is_encrypted() {
                        warn!(
                            "{} {} encrypted peer traffic is not supported yet",
                            c.kind.tag(),
                            cid.0
                        );
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "encrypted frame",
                        ));
                    }
                    match info.payload {
                        DmsgPayload::Datastore => {
                            let expected = if outgoing {
                                matches!(h.ty, DmsgType::Res | DmsgType::Undefined)
                            } else {
                                matches!(h.ty, DmsgType::Req | DmsgType::ReqForward)
                            };
                            if expected {
                                c.dhdr = Some(h);
                            } else {
                                debug!(
                                    "{} {} unexpected frame type {}, skipped",
                                    c.kind.tag(),
                                    cid.0,
                                    h.ty.num()
                                );
                                c.skip = info.payload_len;
                            }
                        }
                        DmsgPayload::Sized => {
                            // Gossip (type 7): membership is static in this
                            // version; the payload is read and dropped.
                            debug!(
                                "{} {} frame type {} skipped",
                                c.kind.tag(),
                                cid.0,
                                h.ty.num()
                            );
                            c.skip = info.payload_len;
                        }
                        DmsgPayload::HeaderOnly => {}
                    }
                }
            }
        }
    }

    /// A request from a peer has its reply: put the reply frame's header in
    /// front of it (same id and same_dc as the request).
    pub fn add_reply_header(&mut self, req: MsgId, rsp: MsgId) {
        let Some(origin) = self.msgs[req].dnode else {
            return;
        };
        let mut h =
            DmsgHeader::reply_to(&DmsgHeader::new(origin.id, DmsgType::Req, origin.same_dc));
        if self.msgs[req].resp3 {
            h.flags |= FLAG_RESP3;
        }
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        write_header(&mut bytes, &h, self.msgs[rsp].mlen as usize);
        let seg = self.small_seg(&bytes);
        self.scratch = bytes;
        if let Some(old) = self.msgs[rsp].hdr.take() {
            self.mbufs.put(old.buf);
        }
        self.msgs[rsp].hdr = Some(seg);
    }
}
