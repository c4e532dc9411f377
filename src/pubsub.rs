//! Pub/Sub (beyond the original, which refuses it): SUBSCRIBE, PSUBSCRIBE,
//! SSUBSCRIBE and their UNSUBSCRIBEs on a datastore connection of the
//! client's own; PUBLISH and SPUBLISH to every node; PUBSUB on this node.
//!
//! ```text
//!  client ─► request.rs ─► pubsub_request
//!     (P|S)(UN)SUBSCRIBE, and in RESP2 every request of a subscribed
//!     client but QUIT ─► the client's subscription connection (server.rs
//!     dedicated, first datastore of the node, the client's protocol;
//!     written and forgotten: `noreply`)
//!  subscription connection ─► server.rs server_reply ─► pubsub_relay
//!     every reply and push, as it comes, appended to the client's output
//!     (confirmations update the subscription counts; at 0 the connection
//!     is released)
//!  PUBLISH / SPUBLISH ─► the table's AllNodes: every node of the cluster
//!     (each runs it on its own datastore once), the client gets this
//!     node's answer
//!  PUBSUB CHANNELS / NUMSUB / NUMPAT / SHARD... ─► this node's datastore
//! ```
//!
//! Counts are redis' local counts: PUBLISH answers the number of clients
//! that received the message through this node's datastore, PUBSUB the
//! channels and subscribers of this node's datastore. Subscribers
//! connected through other nodes receive the message too but are not
//! counted.
//!
//! RESP2: as in redis, a subscribed client may only (un)subscribe, PING and
//! QUIT; everything it sends goes to its subscription connection, where
//! redis answers (PONG as an array, the context error for the rest). RESP3:
//! other commands run as usual and the messages arrive as push frames
//! between their replies.
//!
//! A subscriber that does not read: its messages wait in its output queue.
//! Past `PUBSUB_BACKLOG_MSGS` messages or `PUBSUB_BACKLOG_BYTES` bytes (or
//! a sixteenth of the message pool, or while the pools are exhausted) the
//! client is dropped with a log line, as redis' `client-output-buffer-limit
//! pubsub` does, and nobody else is affected.

use log::warn;

use crate::blocking::{parse_value, Value};
use crate::conn::ConnKind;
use crate::core::{Context, Timer};
use crate::msg::{ConnId, MsgId, MsgKind};
use crate::proto::redis::Command;

/// Most messages waiting to be written to one subscriber.
pub const PUBSUB_BACKLOG_MSGS: usize = 10_000;
/// Most bytes waiting to be written to one subscriber (redis' default hard
/// limit for pub/sub clients).
pub const PUBSUB_BACKLOG_BYTES: u64 = 32 * 1024 * 1024;
/// Replies larger than this are messages, never confirmations: they are
/// relayed without being looked at.
const CONFIRMATION_MAX: u64 = 4096;

/// The subscription commands, and whether each subscribes.
fn subscription(name: &str) -> Option<bool> {
    match name {
        "subscribe" | "psubscribe" | "ssubscribe" => Some(true),
        "unsubscribe" | "punsubscribe" | "sunsubscribe" => Some(false),
        _ => None,
    }
}

impl Context {
    /// The front door's hook: true when the request went to the client's
    /// subscription connection (or was refused).
    pub(crate) fn pubsub_request(&mut self, cid: ConnId, mid: MsgId, cmd: &Command) -> bool {
        let sub = subscription(cmd.name);
        if self.conns[cid.0].kind() != ConnKind::Client {
            if sub.is_some() {
                self.reply_error(mid, &crate::errors::unsupported_command(cmd.name));
                return true;
            }
            return false;
        }
        let cs = self.conns[cid.0].client();
        let resp3 = cs.resp3;
        let subscribed = cs.subscribed;
        let conn = cs.sub_conn.filter(|&c| self.is_dedicated_of(c, cid));
        let relay_all = subscribed && !resp3 && cmd.name != "quit" && conn.is_some();
        if sub.is_none() && !relay_all {
            return false;
        }
        let conn = match conn {
            Some(c) => c,
            None => match self.server_connect_dedicated(cid, 0, resp3) {
                Ok(c) => {
                    if let Some(st) = self.conns[c.0].server_state_mut() {
                        st.relay = true;
                    }
                    self.conns[cid.0].client_mut().sub_conn = Some(c);
                    c
                }
                Err(e) => {
                    self.reply_error(mid, e);
                    return true;
                }
            },
        };
        if sub == Some(true) {
            self.conns[cid.0].client_mut().subscribed = true;
        }
        // Its answers come as relayed replies: the request leaves the
        // client's queue and is forgotten once written.
        let q = &mut self.conns[cid.0].omsg_q;
        if q.back() == Some(&mid) {
            q.pop_back();
        }
        let m = &mut self.msgs[mid];
        m.in_client = false;
        m.noreply = true;
        self.server_forward_dedicated(mid, conn);
        true
    }

    /// A reply or push arrived on subscription connection `cid`: it goes to
    /// the client's output as it is.
    pub(crate) fn pubsub_relay(&mut self, cid: ConnId, rsp: MsgId) {
        let owner = self.conns[cid.0].server_slot().and_then(|s| s.owner);
        let dropping = self.conns[cid.0]
            .server_state_mut()
            .is_some_and(|st| st.dropping);
        let Some(client) = owner.filter(|&c| {
            !dropping
                && self.conns.get(c.0).is_some_and(|x| {
                    x.is_active() && x.client_state().is_some_and(|s| s.sub_conn == Some(cid))
                })
        }) else {
            self.msgs.put(&mut self.mbufs, rsp);
            return;
        };
        if self.msgs[rsp].mlen <= CONFIRMATION_MAX {
            self.pubsub_confirmation(cid, client, rsp);
        }
        let len = self.msgs[rsp].mlen;
        let req = self.msgs.get(MsgKind::Request);
        let m = &mut self.msgs[req];
        m.owner = Some(client);
        m.in_client = true;
        self.conns[client.0].omsg_q.push_back(req);
        self.attach_reply(req, rsp);
        self.pubsub_backlog(cid, client, len);
    }

    /// Reads a (un)subscribe confirmation's count: at none left the client
    /// leaves the subscription context and the connection is released.
    fn pubsub_confirmation(&mut self, cid: ConnId, client: ConnId, rsp: MsgId) {
        let r = &self.msgs[rsp];
        let mut bytes = Vec::with_capacity(r.mlen as usize);
        self.mbufs.copy_out(&r.segs, 0, r.mlen, &mut bytes);
        let Some(Value::Array(items)) = parse_value(&bytes) else {
            return;
        };
        let [Value::Str(kind), _, Value::Int(count)] = items.as_slice() else {
            return;
        };
        let kind = kind.to_ascii_lowercase();
        let which = match kind.as_slice() {
            b"subscribe" | b"psubscribe" | b"unsubscribe" | b"punsubscribe" => 0,
            b"ssubscribe" | b"sunsubscribe" => 1,
            _ => return,
        };
        let Some(st) = self.conns[cid.0].server_state_mut() else {
            return;
        };
        st.subs[which] = *count;
        let left = st.subs[0] > 0 || st.subs[1] > 0;
        let cs = self.conns[client.0].client_mut();
        cs.subscribed = left;
        if !left {
            self.add_timer(
                self.now,
                Timer::ReleaseDedicated {
                    conn: cid,
                    owner: client,
                },
            );
        }
    }

    /// Drops `client` (subscription connection `cid`) when what waits to be
    /// written to it passed the bound.
    fn pubsub_backlog(&mut self, cid: ConnId, client: ConnId, last_len: u64) {
        let q = &self.conns[client.0].omsg_q;
        let n = q.len();
        // A large message counts at once; small ones every 64.
        let large = last_len >= PUBSUB_BACKLOG_BYTES / 64;
        if n < 2 || (n < 64 && !large) {
            return;
        }
        let cap = PUBSUB_BACKLOG_MSGS
            .min(self.settings.server_queue_max / 8)
            .max(64);
        let exhausted = n >= 64 && (self.msgs.exhausted() || self.mbufs.exhausted());
        let mut over = n > cap || exhausted;
        let mut bytes = 0;
        if !over && (large || n.is_multiple_of(64)) {
            for &req in q.iter() {
                if let Some(r) = self.msgs[req].peer {
                    bytes += self.msgs[r].wire_len();
                }
            }
            over = bytes > PUBSUB_BACKLOG_BYTES;
        }
        if !over {
            return;
        }
        if let Some(st) = self.conns[cid.0].server_state_mut() {
            st.dropping = true;
        }
        let c = &self.conns[client.0];
        let id = c.client().client_id;
        warn!(
            "c {} {} subscriber does not read: {} messages{} waiting, closing it",
            client.0,
            c.peer,
            n,
            if bytes > 0 {
                format!(" ({bytes} bytes)")
            } else if exhausted {
                " (message or chunk pool exhausted)".to_string()
            } else {
                String::new()
            }
        );
        self.add_timer(self.now, Timer::DropSubscriber { client, id });
    }

    /// `Timer::DropSubscriber`: closes the subscriber, and with it its
    /// subscription connection.
    pub(crate) fn subscriber_drop(&mut self, client: ConnId, id: u64) {
        let live = self.conns.get(client.0).is_some_and(|c| {
            c.is_active()
                && c.kind() == ConnKind::Client
                && c.client_state().is_some_and(|s| s.client_id == id)
        });
        if live {
            self.stats.faults.subscribers_dropped += 1;
            self.close_conn(client);
        }
    }
}
