//! Encrypted peer traffic through real nodes turned by the test thread
//! (core/harness.rs): payloads of many units in small chunks, and the
//! chunks of an encrypted frame cut off by a close all come back.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;

use crate::core::harness::{bulk, key_where, only_context_chunks, pump, spec, Cluster};
use crate::dnode::crypto::{cipher_len, plain_unit, segments, PeerKey, SessionKey};
use crate::dnode::msg::{write_header_data, DmsgHeader, DmsgType, FLAG_ENCRYPTED};

/// Both nodes in one rack, every link encrypted, 512-byte chunks (448
/// bytes of plaintext per segment).
const BODY: &str = "secure_server_option: all\npem_key_file: conf/dynomite.pem\nmbuf_size: 512\n";

fn pair() -> Cluster {
    Cluster::start(
        &[
            spec("dc1", "rack1", "1073741824"),
            spec("dc1", "rack1", "3221225472"),
        ],
        &[],
        BODY,
    )
}

#[test]
fn values_of_many_units_cross_and_every_chunk_comes_back() {
    let mut cl = pair();
    let key = key_where(&cl.nodes[0].ctx, |ctx, k| {
        crate::core::harness::key_hash(ctx, k) > 1073741824
            && crate::core::harness::key_hash(ctx, k) <= 3221225472
    });
    let value: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut c = cl.nodes[0].client();
    assert_eq!(c.call(&mut cl.nodes, &[b"SET", &key, &value]), "+OK\r\n");
    assert_eq!(cl.redis(1).cmd(&[b"GET", &key]), bulk(&value));
    assert_eq!(c.call(&mut cl.nodes, &[b"GET", &key]), bulk(&value));
    drop(c);
    pump(&mut cl.nodes, "idle nodes", |n| {
        n.iter().all(|n| only_context_chunks(&n.ctx))
    });
}

#[test]
fn a_frame_cut_off_by_a_close_gives_its_chunks_back() {
    let mut cl = pair();
    let key = PeerKey::load(Path::new("conf/dynomite.pem")).expect("the shipped key");
    let session = SessionKey::random();
    // A SET of 5000 bytes: 12 segments; send the header and 7 of them.
    let mut payload = b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5000\r\n".to_vec();
    payload.extend(std::iter::repeat_n(b'x', 5000));
    payload.extend_from_slice(b"\r\n");
    let mut cipher = Vec::new();
    for (off, n) in segments(payload.len() as u64, plain_unit(512)) {
        let mut buf = payload[off as usize..off as usize + n].to_vec();
        buf.resize(cipher_len(n), 0);
        let k = session.encrypt_segment(&mut buf, n);
        cipher.extend_from_slice(&buf[..k]);
    }
    let block = key.wrap(&session);
    let mut h = DmsgHeader::new(7, DmsgType::Req, true);
    h.flags = FLAG_ENCRYPTED;
    h.data_len = block.len() as u32;
    let mut frame = Vec::new();
    write_header_data(&mut frame, &h, &block, cipher.len());
    let header_len = frame.len();
    frame.extend_from_slice(&cipher);
    let mut peer = TcpStream::connect(cl.peer_addr(1)).expect("connect");
    peer.write_all(&frame[..header_len + 7 * 464 + 100])
        .expect("send");
    // The node reads the part (decrypting seven units), then sees the close.
    crate::core::harness::pump_for(&mut cl.nodes, std::time::Duration::from_millis(200));
    drop(peer);
    pump(&mut cl.nodes, "the cut frame's chunks back", |n| {
        only_context_chunks(&n[1].ctx)
    });
    assert_eq!(cl.redis(1).cmd(&[b"EXISTS", b"k"]), ":0\r\n");
}
