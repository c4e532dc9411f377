//! The peer side of a node (dyn_dnode_*.c): the frame format peers speak,
//! the frame layer of a peer connection, inbound peer connections and
//! outbound peer pools, and the original's peer encryption (dyn_crypto.c).
//!
//! The frame layer of both directions lives here as `Context` methods:
//! `frame_next` reads frames (decrypting encrypted payloads into fresh
//! chunks that the datastore parser reads in place of the socket's bytes),
//! `frame_out` writes a frame header in front of a request or reply
//! (encrypting the payload when the link or the connection asks for it).
//!
//! ```text
//!  socket chunk ─► Framer ─ plain 3/4/5 ─► datastore parser reads the chunk
//!                    │
//!                    └ encrypted: Encrypted(header) ─► session key (RSA block)
//!                        Cipher pieces ─► units of mbuf_size-48 ─► AES ─►
//!                        plaintext chunks ─► Conn::rbuf while the parser
//!                        reads them (socket chunk set aside in FrameCrypt)
//! ```

pub mod client;
pub mod crypto;
pub mod frame;
pub mod msg;
pub mod peer;
#[cfg(test)]
mod tests;

use std::io;

use log::{debug, info, warn};

use crate::conn::Role;
use crate::core::Context;
use crate::dnode::crypto::{cipher_len, SessionKey};
use crate::dnode::frame::{Frame, Framer};
use crate::dnode::msg::{write_header, write_header_data, DmsgHeader, FLAG_ENCRYPTED};
use crate::dnode::peer::bad_frame;
use crate::ids::{ConnId, PeerId};
use crate::mbuf::{MbufId, MbufPool, Seg};
use crate::msg::MsgId;

/// The framer of a peer connection.
fn framer_of(role: &mut Role) -> &mut Framer {
    match role {
        Role::DnodeClient(p) => &mut p.framer,
        Role::DnodePeer(p) => &mut p.framer,
        _ => unreachable!("only peer connections carry frames"),
    }
}

/// Copies `data` (at most a chunk) into the chunk shared by encrypted and
/// decrypted pieces, taking a new one when it has too little room left;
/// returns its segment, which holds one reference.
fn crypt_seg(mbufs: &mut MbufPool, out: &mut Option<MbufId>, data: &[u8]) -> Seg {
    debug_assert!(data.len() <= mbufs.chunk_size());
    let b = match *out {
        Some(b) if mbufs.spare_len(b) >= data.len() => b,
        old => {
            if let Some(b) = old {
                mbufs.put(b);
            }
            let b = mbufs.get();
            *out = Some(b);
            b
        }
    };
    let start = mbufs.filled(b);
    mbufs.spare_mut(b)[..data.len()].copy_from_slice(data);
    mbufs.commit(b, data.len());
    mbufs.incref(b);
    Seg {
        buf: b,
        start: start as u32,
        end: (start + data.len()) as u32,
    }
}

/// Largest gossip payload read (a record is under 300 bytes).
const MAX_GOSSIP: usize = 1 << 20;

impl Context {
    /// Runs the framer of a peer connection over its buffered bytes until it
    /// stands at a datastore message with bytes to parse (`Ok(true)`) or
    /// needs more (`Ok(false)`). Gossip payloads go to `gossip_received`
    /// once whole. Encrypted payloads are decrypted and their
    /// plaintext stands in for the socket's bytes until the parser has read
    /// it. A bad length, an encrypted frame this node cannot decrypt, or a
    /// decrypted payload that is not exactly one message ends the connection.
    pub(crate) fn frame_next(&mut self, cid: ConnId) -> io::Result<bool> {
        loop {
            let c = &mut self.conns[cid.0];
            let framer = framer_of(&mut c.role);
            if framer.crypt.stash.is_some() {
                // Reading a decrypted payload.
                if c.rpos < c.rend {
                    if framer.at_datastore() {
                        return Ok(true);
                    }
                    return Err(bad_frame("decrypted payload holds more than one message"));
                }
                if let Some(b) = c.rbuf.take() {
                    self.mbufs.put(b);
                }
                if let Some(seg) = framer.crypt.plain.pop_front() {
                    // The segment's reference passes to the connection.
                    c.rbuf = Some(seg.buf);
                    c.rpos = seg.start as usize;
                    c.rend = seg.end as usize;
                    continue;
                }
                if framer.at_datastore() {
                    return Err(bad_frame("decrypted payload is not a complete message"));
                }
                let (b, start, end) = framer.crypt.stash.take().expect("checked above");
                c.rbuf = Some(b);
                c.rpos = start;
                c.rend = end;
                continue;
            }
            let Some(buf) = c.rbuf else { return Ok(false) };
            let filled = c.rend;
            if c.rpos >= filled {
                return Ok(false);
            }
            let base = c.rpos;
            let (n, r) = framer.next(self.mbufs.range(buf, base, filled));
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
                        .range(buf, base + payload.start, base + payload.end);
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
                            "{} {} unexpected frame type {} (flags {}), skipped",
                            tag,
                            cid.0,
                            header.ty.num(),
                            header.flags
                        );
                    }
                }
                Ok(Frame::Encrypted(header)) => self.frame_session(cid, &header)?,
                Ok(Frame::Cipher { payload, done, .. }) => {
                    self.frame_decrypt(cid, buf, base + payload.start, base + payload.end, done)?;
                    if done {
                        // Set the socket's bytes aside; the decrypted units
                        // are read first (above).
                        let c = &mut self.conns[cid.0];
                        let b = c.rbuf.take().expect("reading a frame");
                        let stash = Some((b, c.rpos, c.rend));
                        c.rpos = 0;
                        c.rend = 0;
                        framer_of(&mut c.role).crypt.stash = stash;
                    }
                }
                Err(e) => {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
                }
            }
        }
    }

    /// An encrypted frame starts: takes the session key its data field
    /// carries, or checks that the connection has one.
    fn frame_session(&mut self, cid: ConnId, header: &DmsgHeader) -> io::Result<()> {
        let c = &mut self.conns[cid.0];
        let tag = c.kind().tag();
        let framer = framer_of(&mut c.role);
        let Some(key) = &self.crypto.key else {
            return Err(bad_frame(&format!(
                "encrypted frame, but this node has no RSA key (pem_key_file '{}' not loaded)",
                self.crypto.pem_key_file
            )));
        };
        if header.carries_key() {
            let session = key
                .unwrap(framer.key_block())
                .map_err(|e| bad_frame(&format!("encrypted frame {}: {}", header.id, e)))?;
            if framer.crypt.session.is_none() {
                info!(
                    "{} {} peer {}: session key received, encrypted traffic",
                    tag, cid.0, c.peer
                );
            }
            framer.crypt.session = Some(session);
            framer.crypt.key_sent = true;
        } else if framer.crypt.session.is_none() {
            return Err(bad_frame(&format!(
                "encrypted frame {} before any session key",
                header.id
            )));
        }
        Ok(())
    }

    /// Takes the ciphertext bytes `start..end` of chunk `buf` (a piece of the
    /// current encrypted frame, its last when `done`): every unit completed
    /// is decrypted on its own into the shared crypt chunk and queued for
    /// the parser.
    fn frame_decrypt(
        &mut self,
        cid: ConnId,
        buf: MbufId,
        start: usize,
        end: usize,
        done: bool,
    ) -> io::Result<()> {
        let unit = crypto::cipher_unit(self.mbufs.chunk_size());
        let framer = framer_of(&mut self.conns[cid.0].role);
        let mut pos = start;
        loop {
            pos += framer.crypt.collect(self.mbufs.range(buf, pos, end), unit);
            if framer.crypt.unit.len() == unit || (done && pos == end) {
                let n = framer
                    .crypt
                    .decrypt_unit()
                    .map_err(|e| bad_frame(&format!("encrypted frame: {e}")))?;
                if n > 0 {
                    let seg = crypt_seg(
                        &mut self.mbufs,
                        &mut self.crypto.out,
                        &framer.crypt.unit[..n],
                    );
                    framer.crypt.plain.push_back(seg);
                }
                framer.crypt.unit.clear();
            }
            if pos == end {
                return Ok(());
            }
        }
    }

    /// Releases the chunks a closing peer connection's framer holds
    /// (decrypted units not read, the socket's bytes set aside).
    pub(crate) fn frame_release(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        let crypt = match &mut c.role {
            Role::DnodeClient(p) => &mut p.framer.crypt,
            Role::DnodePeer(p) => &mut p.framer.crypt,
            _ => return,
        };
        for s in crypt.plain.drain(..) {
            self.mbufs.put(s.buf);
        }
        if let Some((b, _, _)) = crypt.stash.take() {
            self.mbufs.put(b);
        }
        crypt.unit.clear();
    }

    /// Says at start what the node does with encrypted peer traffic.
    pub(crate) fn log_peer_crypto(&self) {
        let c = &self.crypto;
        match (&c.key, c.option) {
            (None, _) => {
                let why = match crypto::PeerKey::load(std::path::Path::new(&c.pem_key_file)) {
                    Ok(_) => "not loaded".to_string(),
                    Err(e) => e.to_string(),
                };
                let text = format!(
                    "secure_server_option: none, no RSA key from pem_key_file '{}' ({}): \
                     encrypted frames from peers will be refused",
                    c.pem_key_file, why
                );
                // A file that is there but unusable is worth a warning.
                if std::path::Path::new(&c.pem_key_file).exists() {
                    log::warn!("{text}");
                } else {
                    info!("{text}");
                }
            }
            (Some(k), crate::conf::SecureOption::None) => info!(
                "secure_server_option: none; encrypted frames from peers are \
                 decrypted with the {}-bit key of pem_key_file '{}'",
                k.block_len() * 8,
                c.pem_key_file
            ),
            (Some(k), o) => {
                info!(
                    "secure_server_option: {}: peer links encrypted with the {}-bit key \
                     of pem_key_file '{}'",
                    o.name(),
                    k.block_len() * 8,
                    c.pem_key_file
                );
                if k.block_len() != 128 {
                    log::warn!(
                        "pem_key_file '{}' holds a {}-bit key; C nodes handle 1024-bit keys only",
                        c.pem_key_file,
                        k.block_len() * 8
                    );
                }
            }
        }
    }

    /// True when requests to `peer` go encrypted: this node's
    /// `secure_server_option` covers the peer's rack or DC, and it has the
    /// key to send a session key with.
    pub(crate) fn link_encrypts(&self, peer: PeerId) -> bool {
        let option = self.crypto.option;
        if option == crate::conf::SecureOption::None || self.crypto.key.is_none() {
            return false;
        }
        let p = self.topology.peer(peer);
        let local = self.topology.peer(PeerId::LOCAL);
        let same_dc = p.dc_idx == local.dc_idx;
        crypto::encrypts(option, same_dc, same_dc && p.rack == local.rack)
    }

    /// Puts frame header `h` in front of message `mid`, which goes out on
    /// peer connection `cid` (a request on an outbound one, a reply on an
    /// inbound one). Plain unless `encrypt`: then the payload is encrypted
    /// with the connection's session key into `Msg::enc`, the header says
    /// so, and the first encrypted frame of an outbound connection carries
    /// the session key (made here) encrypted with the node's RSA key.
    pub(crate) fn frame_out(&mut self, cid: ConnId, mid: MsgId, mut h: DmsgHeader, encrypt: bool) {
        // A request sent again (failover) drops its earlier ciphertext.
        let m = &mut self.msgs[mid];
        self.mbufs.put_segs(&mut m.enc);
        m.enc_len = 0;
        let mut bytes = std::mem::take(&mut self.scratch);
        bytes.clear();
        if !encrypt {
            write_header(&mut bytes, &h, m.mlen as usize);
        } else {
            let crypt = &mut framer_of(&mut self.conns[cid.0].role).crypt;
            let session = crypt.session.get_or_insert_with(SessionKey::random).clone();
            let block = if crypt.key_sent {
                None
            } else {
                crypt.key_sent = true;
                self.crypto.key.as_ref().map(|k| k.wrap(&session))
            };
            let len = self.encrypt_payload(mid, &session);
            h.flags |= FLAG_ENCRYPTED;
            match block {
                Some(block) => {
                    h.data_len = block.len() as u32;
                    write_header_data(&mut bytes, &h, &block, len as usize);
                }
                None => write_header(&mut bytes, &h, len as usize),
            }
        }
        let seg = if bytes.len() <= self.mbufs.chunk_size() / 8 {
            self.small_seg(&bytes)
        } else {
            // A header with an RSA block (checked at start to fit a chunk).
            crypt_seg(&mut self.mbufs, &mut self.crypto.out, &bytes)
        };
        self.scratch = bytes;
        let m = &mut self.msgs[mid];
        if let Some(old) = m.hdr.take() {
            self.mbufs.put(old.buf);
        }
        m.hdr = Some(seg);
    }

    /// Encrypts message `mid` segment by segment (`mbuf_size - 64` bytes of
    /// plaintext each, peer spec §6.5) into `Msg::enc`; returns the
    /// ciphertext length.
    fn encrypt_payload(&mut self, mid: MsgId, session: &SessionKey) -> u64 {
        let unit = crypto::plain_unit(self.mbufs.chunk_size());
        let mut buf = std::mem::take(&mut self.crypto.buf);
        let mut enc = std::mem::take(&mut self.msgs[mid].enc);
        debug_assert!(enc.is_empty());
        let mut total = 0u64;
        for (off, n) in crypto::segments(self.msgs[mid].mlen, unit) {
            buf.clear();
            buf.resize(cipher_len(n), 0);
            let got = self
                .mbufs
                .copy_to_slice(&self.msgs[mid].segs, off, &mut buf[..n]);
            debug_assert_eq!(got, n);
            let k = session.encrypt_segment(&mut buf, n);
            enc.push(crypt_seg(&mut self.mbufs, &mut self.crypto.out, &buf[..k]));
            total += k as u64;
        }
        let m = &mut self.msgs[mid];
        m.enc = enc;
        m.enc_len = total;
        self.crypto.buf = buf;
        total
    }
}
