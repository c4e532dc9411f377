//! Peer encryption (peer spec §6): clusters whose links encrypt under
//! `secure_server_option` (values checked on the other rack's or DC's own
//! redis), large values, pipelines and timeouts over encrypted links, and a
//! test-owned peer that speaks the original's scheme with the OpenSSL
//! command line (what the C nodes use): the spec's frames bit for bit,
//! nodes without a key, corrupt key blocks and bad padding.

use std::io::{ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::cluster::{node, Cluster};
use crate::harness::conf::{self, addr, server, ConfYaml, POOL};
use crate::harness::peer::{header, RawPeer, FRAME_TIMEOUT};
use crate::harness::{
    bulk, encode, free_port, pattern, require_program, run_with_deadline, show_n, Client,
    RedisServer, TempDir, DYNOMITE_BIN,
};

/// The original's key pair (a copy of its conf/dynomite.pem).
const PEM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dynomite.pem");
/// The default `mbuf_size`: plaintext segments of 16320 bytes, ciphertext
/// units of 16336.
const MBUF: usize = 16384;
const PLAIN_UNIT: usize = MBUF - 64;
const CIPHER_UNIT: usize = MBUF - 48;
/// The spec's session key (§9.5): bytes 00 .. 1f; AES key and IV are its
/// first 16 bytes.
const SPEC_AES_HEX: &str = "000102030405060708090a0b0c0d0e0f";

const OPENSSL_HINT: &str = "install the openssl command line (Debian package openssl)";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Runs the OpenSSL command line with `input` on stdin; its stdout.
fn openssl(args: &[&str], input: &[u8]) -> Result<Vec<u8>, String> {
    require_program("openssl", &["version"], OPENSSL_HINT);
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("openssl output");
    writer.join().expect("writer");
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// RSA-OAEP (SHA-1, MGF1-SHA-1) with the shipped key's public half, by
/// OpenSSL: the session-key block a C node sends.
fn rsa_wrap(session: &[u8]) -> Vec<u8> {
    openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-inkey",
            PEM,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
        ],
        session,
    )
    .expect("openssl RSA-OAEP encrypt")
}

/// The inverse of `rsa_wrap`, with the private half.
fn rsa_unwrap(block: &[u8]) -> Vec<u8> {
    openssl(
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            PEM,
            "-pkeyopt",
            "rsa_padding_mode:oaep",
        ],
        block,
    )
    .expect("openssl RSA-OAEP decrypt")
}

/// AES-128-CBC with key = IV = `aes_hex`, PKCS#7, of one segment or unit.
fn aes(decrypt: bool, aes_hex: &str, data: &[u8]) -> Result<Vec<u8>, String> {
    let dir = if decrypt { "-d" } else { "-e" };
    openssl(
        &["enc", dir, "-aes-128-cbc", "-K", aes_hex, "-iv", aes_hex],
        data,
    )
}

/// The ciphertext length of a payload of `plain` bytes: full segments of
/// 16320 bytes become 16336, the rest is padded to the next block.
fn cipher_len(plain: usize) -> usize {
    let rest = plain % PLAIN_UNIT;
    let last = if rest > 0 || plain == 0 {
        (rest / 16 + 1) * 16
    } else {
        0
    };
    plain / PLAIN_UNIT * CIPHER_UNIT + last
}

/// A payload encrypted as a sender does: segments of 16320 bytes, each on
/// its own.
fn encrypt_payload(aes_hex: &str, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut segs: Vec<&[u8]> = plain.chunks(PLAIN_UNIT).collect();
    if segs.is_empty() {
        segs.push(&[]);
    }
    for seg in segs {
        out.extend(aes(false, aes_hex, seg).expect("openssl AES encrypt"));
    }
    out
}

/// A payload decrypted as a receiver does: units of 16336 bytes, each on
/// its own.
fn decrypt_payload(aes_hex: &str, cipher: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for unit in cipher.chunks(CIPHER_UNIT) {
        out.extend(aes(true, aes_hex, unit)?);
    }
    Ok(out)
}

/// An encrypted request frame: the payload encrypted with `aes_hex`, and
/// `key_block` in the data field when given (else `d`).
fn encrypted_request(id: u64, aes_hex: &str, key_block: Option<&[u8]>, payload: &[u8]) -> Vec<u8> {
    let cipher = encrypt_payload(aes_hex, payload);
    let mut f = header(id, 3, 1, key_block.unwrap_or(b"d"), cipher.len());
    f.extend_from_slice(&cipher);
    f
}

/// A one-node cluster (so it has a peer port) with `extra` directives.
fn single_node(extra: &[(&str, &str)]) -> Cluster {
    Cluster::start_with(&[node("dc1", "rack1", &[1000])], extra)
}

/// Lines of `log` that contain `what`.
fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

const SESSION_RECEIVED: &str = "session key received";

#[test]
fn a_node_with_option_none_and_a_key_answers_the_spec_frames_bit_for_bit() {
    let cl = single_node(&[("pem_key_file", PEM)]);
    assert_eq!(
        cl.node(0).redis_client().cmd(&[b"SET", b"foo", b"bar"]),
        b"+OK\r\n"
    );
    let session: Vec<u8> = (0u8..32).collect();
    let block = rsa_wrap(&session);
    assert_eq!(block.len(), 128);
    let mut raw = RawPeer::connect(cl.node(0).dyn_port());
    // §9.5: the first frame carries the key; its ciphertext is the spec's.
    let get = encrypted_request(
        500,
        SPEC_AES_HEX,
        Some(&block),
        b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n",
    );
    assert!(get.ends_with(&unhex(
        "de40c32b0cdbfdd91147e6c16607a599 975767f66d25edea3d4d1806ab97d0de"
    )));
    raw.send(&get);
    let mut want = b"   $2014$ 500 5 1 1 1 *1 d *16\r\n".to_vec();
    want.extend(unhex("4cf0424acc44be02c000b31dcab3b4bf"));
    assert_eq!(raw.frame().raw, want, "the spec's reply, bit for bit");

    // Later frames carry `d`; a 40000-byte value crosses three units each
    // way (the spec's capture: payload_len 40080).
    let value = pattern(40_000, 7);
    let set = encode(&[b"set", b"big", &value]);
    let f = encrypted_request(501, SPEC_AES_HEX, None, &set);
    assert!(f.starts_with(b"   $2014$ 501 3 1 1 1 *1 d *40080\r\n"));
    raw.send(&f);
    let r = raw.frame();
    assert_eq!((r.id, r.ty, r.flags, &r.data[..]), (501, 5, 1, &b"d"[..]));
    assert_eq!(
        decrypt_payload(SPEC_AES_HEX, &r.payload).unwrap(),
        b"+OK\r\n"
    );
    assert_eq!(cl.node(0).redis_get(b"big"), bulk(&value));
    raw.send(&encrypted_request(
        502,
        SPEC_AES_HEX,
        None,
        &encode(&[b"get", b"big"]),
    ));
    let r = raw.frame();
    assert_eq!(r.id, 502);
    assert_eq!(r.payload.len(), cipher_len(bulk(&value).len()));
    assert_eq!(
        decrypt_payload(SPEC_AES_HEX, &r.payload).unwrap(),
        bulk(&value)
    );
}

#[test]
fn a_node_without_a_key_closes_only_the_encrypted_connection() {
    let cl = single_node(&[("pem_key_file", "/nonexistent/dynomite.pem")]);
    let port = cl.node(0).dyn_port();
    let mut plain = RawPeer::connect(port);
    let mut client = cl.node(0).client();
    let mut enc = RawPeer::connect(port);
    enc.send(&encrypted_request(
        1,
        SPEC_AES_HEX,
        Some(&rsa_wrap(&[7u8; 32])),
        b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n",
    ));
    assert!(
        enc.closed_within(FRAME_TIMEOUT),
        "the encrypted connection is closed"
    );
    assert!(enc.pending().is_empty(), "and not answered");
    // Everyone else is served.
    plain.send(b"   $2014$ 2 3 0 1 1 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    assert_eq!(
        plain.frame().raw,
        b"   $2014$ 2 5 0 1 1 *1 d *5\r\n+OK\r\n".to_vec()
    );
    assert_eq!(client.cmd(&[b"GET", b"foo"]), bulk(b"bar"));
    assert_eq!(cl.node(0).redis_get(b"k"), b"$-1\r\n");
    let log = cl.node(0).log();
    assert!(
        log.contains("this node has no RSA key (pem_key_file '/nonexistent/dynomite.pem'"),
        "a log line says why: {log}"
    );
}

#[test]
fn a_corrupt_key_block_or_bad_padding_closes_only_that_connection() {
    let cl = single_node(&[("pem_key_file", PEM), ("secure_server_option", "rack")]);
    let port = cl.node(0).dyn_port();
    let mut client = cl.node(0).client();
    let set = b"*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n";

    // A key block that does not decrypt.
    let mut block = rsa_wrap(&[1u8; 32]);
    block[60] ^= 0x40;
    let mut bad_key = RawPeer::connect(port);
    bad_key.send(&encrypted_request(1, SPEC_AES_HEX, Some(&block), set));
    // A good key, then ciphertext whose padding is wrong (another AES key).
    let mut bad_pad = RawPeer::connect(port);
    let good = rsa_wrap(&(0u8..32).collect::<Vec<_>>());
    let mut f = header(1, 3, 1, &good, 32);
    f.extend(encrypt_payload("ffeeddccbbaa99887766554433221100", set));
    bad_pad.send(&f);
    // Ciphertext that is not a whole number of blocks.
    let mut bad_len = RawPeer::connect(port);
    let mut f = header(1, 3, 1, &good, 17);
    f.extend_from_slice(&[0u8; 17]);
    bad_len.send(&f);
    // A frame without a key on a connection that never got one.
    let mut no_key = RawPeer::connect(port);
    no_key.send(&encrypted_request(1, SPEC_AES_HEX, None, set));

    let mut good_peer = RawPeer::connect(port);
    good_peer.send(&encrypted_request(9, SPEC_AES_HEX, Some(&good), set));
    for (what, raw) in [
        ("corrupt key block", &mut bad_key),
        ("bad padding", &mut bad_pad),
        ("not whole blocks", &mut bad_len),
        ("no session key", &mut no_key),
    ] {
        assert!(raw.closed_within(FRAME_TIMEOUT), "{what}: closed");
        assert!(raw.pending().is_empty(), "{what}: not answered");
    }
    let r = good_peer.frame();
    assert_eq!(r.id, 9);
    assert_eq!(
        decrypt_payload(SPEC_AES_HEX, &r.payload).unwrap(),
        b"+OK\r\n"
    );
    assert_eq!(client.cmd(&[b"GET", b"k"]), bulk(b"v"));
    let log = cl.node(0).log();
    for line in [
        "the session key block does not decrypt",
        "bad ciphertext or padding",
        "payload_len that is no AES ciphertext",
        "before any session key",
    ] {
        assert!(log.contains(line), "log line \"{line}\": {log}");
    }
    // No key material in the log.
    assert!(!log.contains(&hex(&good[..16])));
    assert!(!log.contains(SPEC_AES_HEX));
}

/// Accepts one connection on `listener` within `timeout`.
fn accept_within(listener: &TcpListener, timeout: Duration) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the node never connected");
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn a_node_sends_what_a_c_node_decrypts() {
    // The test's peer stands for a C node of another rack: it reads the
    // frames with OpenSSL and answers encrypted with the session key.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
    let fake_port = listener.local_addr().expect("addr").port();
    let seed = conf::seed(fake_port, "rack2", "dc1", "1000");
    let cl = Cluster::start_with_seeds(
        &[node("dc1", "rack1", &[1000])],
        &[("secure_server_option", "rack"), ("pem_key_file", PEM)],
        &[seed],
    );
    let mut fake = RawPeer::from_stream(accept_within(&listener, Duration::from_secs(15)));
    let mut c = cl.node(0).client();
    // The first frame on a new connection is the node's probe (a PING),
    // encrypted like everything on this link: it carries the session key.
    let probe = fake.frame();
    assert_eq!((probe.ty, probe.flags, probe.same_dc), (3, 1, 1));
    assert_eq!(probe.data.len(), 128, "the first frame carries the key");
    let session = rsa_unwrap(&probe.data);
    assert_eq!(session.len(), 32);
    let aes_hex = hex(&session[..16]);
    assert_eq!(
        decrypt_payload(&aes_hex, &probe.payload).unwrap(),
        b"*1\r\n$4\r\nPING\r\n"
    );
    let pong = encrypt_payload(&aes_hex, b"+PONG\r\n");
    let mut reply = header(probe.id, 5, 1, b"d", pong.len());
    reply.extend(pong);
    fake.send(&reply);
    // Copies go out once the node has seen its connection complete.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        assert_eq!(c.cmd(&[b"set", b"foo", b"bar"]), b"+OK\r\n");
        if let Some(f) = fake.try_frame(Duration::from_secs(1)) {
            break f;
        }
        assert!(Instant::now() < deadline, "no frame reached the fake peer");
    };
    assert_eq!((first.ty, first.flags, first.same_dc), (3, 1, 1));
    assert_eq!(first.data, b"d", "later frames carry `d`");
    assert_eq!(
        decrypt_payload(&aes_hex, &first.payload).unwrap(),
        b"*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n"
    );
    let ok = encrypt_payload(&aes_hex, b"+OK\r\n");
    let mut reply = header(first.id, 5, 1, b"d", ok.len());
    reply.extend(ok);
    fake.send(&reply);

    // A value of several segments is cut at 16320 bytes of plaintext.
    let value = pattern(50_000, 3);
    assert_eq!(c.cmd(&[b"set", b"foo", &value]), b"+OK\r\n");
    let f = loop {
        let f = fake.frame();
        if f.id != first.id {
            break f;
        }
    };
    assert_eq!(f.data, b"d");
    let plain = encode(&[b"set", b"foo", &value]);
    assert_eq!(f.payload.len(), cipher_len(plain.len()));
    assert_eq!(decrypt_payload(&aes_hex, &f.payload).unwrap(), plain);
}

#[test]
fn a_two_rack_cluster_replicates_over_encrypted_links() {
    let cl = Cluster::start_with(
        &[node("dc1", "rack1", &[1000]), node("dc1", "rack2", &[1000])],
        &[("secure_server_option", "rack"), ("pem_key_file", PEM)],
    );
    for (from, to) in [(0, 1), (1, 0)] {
        let mut c = cl.node(from).client();
        for i in 0..50 {
            let key = format!("k{from}:{i}");
            let value = format!("v{i}");
            assert_eq!(
                c.cmd(&[b"SET", key.as_bytes(), value.as_bytes()]),
                b"+OK\r\n"
            );
        }
        for i in 0..50 {
            let key = format!("k{from}:{i}");
            let value = format!("v{i}");
            let other = cl.node(to);
            let seen = crate::harness::poll_until(Duration::from_secs(5), || {
                other.redis_get(key.as_bytes()) == bulk(value.as_bytes())
            });
            assert!(seen, "{key} reached n{to}'s redis");
        }
    }
    for i in 0..2 {
        assert!(
            count(&cl.node(i).log(), SESSION_RECEIVED) >= 1,
            "n{i} received encrypted frames"
        );
    }
}

#[test]
fn a_two_dc_cluster_replicates_over_encrypted_links() {
    for option in ["datacenter", "all"] {
        let cl = Cluster::start_with(
            &[
                node("dc1", "rack1", &[1000]),
                node("dc1", "rack2", &[1000]),
                node("dc2", "rack1", &[1000]),
            ],
            &[("secure_server_option", option), ("pem_key_file", PEM)],
        );
        let mut c = cl.node(0).client();
        for i in 0..20 {
            let key = format!("{option}:{i}");
            assert_eq!(c.cmd(&[b"SET", key.as_bytes(), b"x"]), b"+OK\r\n");
        }
        for i in 0..20 {
            let key = format!("{option}:{i}");
            for n in [1, 2] {
                let seen = crate::harness::poll_until(Duration::from_secs(5), || {
                    cl.node(n).redis_get(key.as_bytes()) == bulk(b"x")
                });
                assert!(seen, "{option}: {key} reached n{n}'s redis");
            }
        }
        // dc2's node hears from both dc1 nodes over encrypted links; its
        // copies to dc1 go to one node there, which passes them on.
        assert!(count(&cl.node(2).log(), SESSION_RECEIVED) >= 2, "{option}");
        assert!(count(&cl.node(0).log(), SESSION_RECEIVED) >= 1, "{option}");
        if option == "all" {
            assert!(
                count(&cl.node(1).log(), SESSION_RECEIVED) >= 1,
                "all: the link between dc1's racks is encrypted too"
            );
        }
    }
}

/// Two nodes sharing one rack, every link encrypted; `extra` added.
fn one_rack_pair(extra: &[(&str, &str)]) -> Cluster {
    let mut all = vec![("secure_server_option", "all"), ("pem_key_file", PEM)];
    all.extend_from_slice(extra);
    Cluster::start_with(
        &[
            node("dc1", "rack1", &[0x4000_0000]),
            node("dc1", "rack1", &[0xc000_0000]),
        ],
        &all,
    )
}

#[test]
fn a_10mb_value_crosses_encrypted_links_both_ways() {
    // Each node owns half of the ring: a key of the other node's half goes
    // to it as an encrypted request, and its value comes back as an
    // encrypted reply.
    let cl = one_rack_pair(&[("timeout", "20000")]);
    let value = pattern(10 * 1024 * 1024, 11);
    for (via, owner) in [(0, 1), (1, 0)] {
        let key = cl.key_owned_by(&format!("big{via}:"), owner);
        let mut c = cl.node(via).client();
        assert_eq!(c.cmd(&[b"SET", &key, &value]), b"+OK\r\n");
        assert!(
            cl.node(owner).redis_get(&key) == bulk(&value),
            "the value is in n{owner}'s redis"
        );
        assert!(
            c.cmd(&[b"GET", &key]) == bulk(&value),
            "GET through n{via} reads it back from n{owner}"
        );
        assert!(
            cl.node(owner).client().cmd(&[b"GET", &key]) == bulk(&value),
            "and through its owner"
        );
    }
}

#[test]
fn a_pipeline_over_an_encrypted_link_is_answered_in_order() {
    let cl = one_rack_pair(&[]);
    let n = 2000;
    let keys: Vec<Vec<u8>> = (0..n)
        .map(|i| cl.key_owned_by(&format!("p{i}:"), 1))
        .collect();
    let mut batch = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        batch.extend(encode(&[b"SET", k, format!("v{i}").as_bytes()]));
        batch.extend(encode(&[b"GET", k]));
    }
    let mut c = cl.node(0).client();
    c.send(&batch);
    for i in 0..n {
        assert_eq!(c.read_reply(), b"+OK\r\n", "SET {i}");
        assert_eq!(c.read_reply(), bulk(format!("v{i}").as_bytes()), "GET {i}");
    }
    assert_eq!(
        cl.node(1).redis_get(&keys[n - 1]),
        bulk(format!("v{}", n - 1).as_bytes())
    );
}

#[test]
fn small_chunks_cut_encrypted_payloads_into_many_units() {
    // mbuf_size 512: 448 bytes of plaintext per segment, so a 100 kB value
    // is 229 units each way, and frame headers (one with an RSA block)
    // straddle chunk ends.
    let cl = one_rack_pair(&[("mbuf_size", "512")]);
    let mut c = cl.node(0).client();
    let mut batch = Vec::new();
    let mut keys = Vec::new();
    for i in 0..20 {
        let key = cl.key_owned_by(&format!("small{i}:"), 1);
        batch.extend(encode(&[b"SET", &key, &pattern(100 + i * 5003, i as u64)]));
        batch.extend(encode(&[b"GET", &key]));
        keys.push(key);
    }
    c.send(&batch);
    for (i, key) in keys.iter().enumerate() {
        let value = pattern(100 + i * 5003, i as u64);
        assert_eq!(c.read_reply(), b"+OK\r\n", "SET {i}");
        assert!(c.read_reply() == bulk(&value), "GET {i}");
        assert!(cl.node(1).redis_get(key) == bulk(&value), "n1's redis {i}");
    }
}

#[test]
fn a_timed_out_request_over_an_encrypted_link_leaves_the_link_working() {
    let cl = one_rack_pair(&[("timeout", "1000")]);
    let key = cl.key_owned_by("slow:", 1);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SET", &key, b"before"]), b"+OK\r\n");
    cl.node(1).redis.pause();
    let big = pattern(100_000, 5);
    let r = c.cmd(&[b"SET", &key, &big]);
    assert!(r.starts_with(b"-"), "timed out: {}", show_n(&r, 80));
    cl.node(1).redis.resume();
    // The late, encrypted reply is read and dropped; the link goes on.
    assert_eq!(c.cmd(&[b"SET", &key, b"after"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", &key]), bulk(b"after"));
    assert_eq!(cl.node(1).redis_get(&key), bulk(b"after"));
}

#[test]
fn a_node_with_option_none_decrypts_and_answers_encrypted_in_a_cluster() {
    // n0 encrypts everything; n1 encrypts nothing but has the key.
    let cl = Cluster::start_with(
        &[
            node("dc1", "rack1", &[0x4000_0000])
                .with("secure_server_option", "all")
                .with("pem_key_file", PEM),
            node("dc1", "rack1", &[0xc000_0000]).with("pem_key_file", PEM),
        ],
        &[],
    );
    for (via, owner) in [(0, 1), (1, 0)] {
        let key = cl.key_owned_by(&format!("mixed{via}:"), owner);
        let mut c = cl.node(via).client();
        assert_eq!(c.cmd(&[b"SET", &key, b"v"]), b"+OK\r\n");
        assert_eq!(c.cmd(&[b"GET", &key]), bulk(b"v"));
        assert_eq!(cl.node(owner).redis_get(&key), bulk(b"v"));
    }
    assert!(count(&cl.node(1).log(), SESSION_RECEIVED) >= 1);
    assert_eq!(
        count(&cl.node(0).log(), SESSION_RECEIVED),
        0,
        "n1 sends plain"
    );
}

/// Starts the binary on `conf` and expects it to exit 1 at once; its stderr.
fn start_fails(dir: &Path, conf: ConfYaml) -> String {
    let path: PathBuf = dir.join("node.yml");
    conf.write(&path);
    let (out, in_time) = run_with_deadline(
        Command::new(DYNOMITE_BIN).arg("-c").arg(&path),
        Duration::from_secs(15),
    );
    assert!(in_time, "the node exits at once");
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_node_that_must_encrypt_refuses_to_start_without_a_usable_key() {
    let redis = RedisServer::start();
    let dir = TempDir::new("enc-conf");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "-----BEGIN RSA PRIVATE KEY-----\nnope\n").expect("write");
    let not_pem = not_pem.to_string_lossy().into_owned();
    for (file, why) in [
        ("/nonexistent/key.pem", "cannot read it"),
        (not_pem.as_str(), "no RSA private key in PEM form"),
    ] {
        let conf = ConfYaml::new(POOL)
            .set("listen", addr(free_port()))
            .set("stats_listen", addr(free_port()))
            .set("dyn_listen", addr(free_port()))
            .set("tokens", "'1'")
            .set("data_store", 0)
            .set("secure_server_option", "datacenter")
            .set("pem_key_file", file)
            .list("servers", [server(redis.port())]);
        let err = start_fails(dir.path(), conf);
        assert!(
            err.contains(&format!("pem_key_file '{file}': {why}"))
                && err.contains("secure_server_option: datacenter needs it"),
            "stderr names the file and the key: {err}"
        );
    }
}

#[test]
fn clients_of_an_encrypted_cluster_see_plain_redis() {
    // A sanity check of the whole path with a real client library's bytes:
    // MSET and MGET split over both nodes' halves.
    let cl = one_rack_pair(&[]);
    let mut c: Client = cl.node(0).client();
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..40)
        .map(|i| (format!("m{i}").into_bytes(), format!("val{i}").into_bytes()))
        .collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for (k, v) in &pairs {
        mset.push(k);
        mset.push(v);
    }
    assert_eq!(c.cmd(&mset), b"+OK\r\n");
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(pairs.iter().map(|(k, _)| k.as_slice()));
    let mut want = format!("*{}\r\n", pairs.len()).into_bytes();
    for (_, v) in &pairs {
        want.extend(bulk(v));
    }
    assert_eq!(cl.node(1).client().cmd(&mget), want);
}
