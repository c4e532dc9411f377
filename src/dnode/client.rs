//! Incoming peer connections (dyn_dnode_client.c, dyn_dnode_proxy.c): a
//! peer's requests come in frames; the connection is a client whose bytes
//! pass through its framer (dnode/frame.rs) before the request parser, and
//! whose replies get a frame header in front.
//!
//! ```text
//!  bytes ─► Framer: "   $2014$ id type flags ver same_dc *1 d *len\r\n"
//!             │ types 3/4: the request parser reads the payload as one
//!             │   request; the frame's id, type and same_dc go with it
//!             │ gossip and other sized payloads: skipped
//!             └ header-only types: nothing follows
//!  reply ─► add_reply_header: type 5, same id ─► client_send
//! ```

use std::io;

use crate::conn::Role;
use crate::core::Context;
use crate::dnode::msg::{DmsgHeader, DmsgType, FLAG_DB, FLAG_RESP3};
use crate::msg::{ConnId, DnodeOrigin, MsgId};

impl Context {
    /// Parses what is buffered for an inbound peer: frame headers, then the
    /// request each request frame carries, which goes to routing with its
    /// frame's origin. A bad frame ends the connection (`Err`).
    pub(crate) fn dnode_client_parse(&mut self, cid: ConnId) -> io::Result<()> {
        loop {
            let c = &self.conns[cid.0];
            if c.no_more_input || !c.is_active() {
                return Ok(());
            }
            if !self.frame_next(cid)? {
                return Ok(());
            }
            let Some(rmid) = self.client_parse_req(cid) else {
                if self.conns[cid.0].blocked {
                    return Ok(());
                }
                // Every buffered byte was taken; the framer may have more
                // (the next decrypted unit of an encrypted frame).
                continue;
            };
            let Role::DnodeClient(p) = &mut self.conns[cid.0].role else {
                unreachable!("dnode_client_parse on an inbound peer");
            };
            if let Some(h) = p.framer.datastore_done() {
                p.client.resp3 = h.is_resp3();
                let db = h.flags & FLAG_DB != 0;
                self.msgs[rmid].dnode = Some(DnodeOrigin {
                    id: h.id,
                    ty: h.ty.num(),
                    same_dc: h.same_dc,
                    db,
                });
                if db {
                    // The database travels in the version field (FLAG_DB).
                    let n = u32::from(h.version);
                    self.msgs[rmid].db = (n != self.settings.auth.redis_db).then_some(n);
                }
            }
            self.client_request(cid, rmid);
        }
    }

    /// A request from a peer has its reply: put the reply frame's header in
    /// front of it (same id and same_dc as the request).
    pub(crate) fn add_reply_header(&mut self, req: MsgId, rsp: MsgId) {
        let Some(origin) = self.msgs[req].dnode else {
            return;
        };
        let mut h =
            DmsgHeader::reply_to(&DmsgHeader::new(origin.id, DmsgType::Req, origin.same_dc));
        if self.msgs[req].resp3 {
            h.flags |= FLAG_RESP3;
        }
        if origin.db {
            h.flags |= FLAG_DB;
        }
        let Some(cid) = self.msgs[req].owner else {
            return;
        };
        // A connection that received a session key answers encrypted
        // (peer spec §6.3).
        let encrypt = match &self.conns[cid.0].role {
            Role::DnodeClient(p) => p.framer.crypt.session.is_some(),
            _ => false,
        };
        self.frame_out(cid, rsp, h, encrypt);
    }
}
