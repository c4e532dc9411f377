//! Memcached beyond the text storage commands, against real memcached
//! servers: the meta protocol (`mg ms md ma mn`, quiet mode, base64 keys)
//! compared byte for byte with a direct memcached, `stats` and `version`
//! from the datastore (pymemcache included), `stats dynomite`, `verbosity`,
//! `flush_all` over a two-rack cluster, and the binary protocol
//! (libmemcached's `memcapable` conformance run, libmemcached's tools in a
//! two-rack cluster, a bad packet closing that client alone).

use crate::harness::conf;
use crate::harness::{
    direct_mode, free_port, python_module_version, require_program, run_client, run_with_deadline,
    show, wait_for, Dynomite, McClient, MemcachedServer, TempDir, INSTALL_HINT,
};
use crate::memcached::{holds, rack_node};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Meta requests (CRLF appended, `\n` inside a request is sent as CRLF),
/// each followed by `mn` on the wire; the replies up to `MN` are compared.
/// Keys are fresh per run; `<K251>` is a 251-byte key.
const META: &[&str] = &[
    // Misses, then values and their flags.
    "mg m:a v",
    "mg m:a",
    "ms m:a 2\nhi",
    "mg m:a v",
    "mg m:a",
    "mg m:a v f t c k s O123",
    "mg m:a k v O9 q",
    "ms m:a 5 F7 T0\nworld",
    "mg m:a v f s",
    // Quiet mode: misses and successes vanish, the rest is answered.
    "mg m:miss v q",
    "mg m:miss v q k O9",
    "mg m:a q",
    "mg m:a v q",
    "ms m:q 2 q\nqq",
    "mg m:q v",
    "ms m:q 2 ME q\nxx",
    "ms m:q 3 MA q\n-ap",
    "mg m:q v",
    "md m:q q",
    "md m:q q",
    "md m:none",
    "mg m:a qx v",
    "mg m:a q q",
    // Arithmetic.
    "ma m:n",
    "ma m:n q",
    "ma m:n N0 J5 v",
    "ma m:n q",
    "ma m:n v",
    "ma m:n v q",
    "ma m:n MD D3 v",
    "ma m:a",
    // Base64 keys: "m:b64" is bTpiNjQ=.
    "ms bTpiNjQ= 3 b\nb64",
    "mg bTpiNjQ= b v k",
    "mg m:b64 v k",
    "mg !!! b v",
    // Invalidation.
    "md m:a I",
    "mg m:a v c",
    // Bad input memcached answers itself.
    "mg",
    "ms",
    "ms m:a",
    "ms m:a x\nhi",
    "ms m:a -1",
    "ms m:a 2 Z\nhi",
    "ms m:a 2\nhiXX",
    "mg <K251> v",
    "me",
    "me m:none",
    // Text and meta on the same items, mn itself, pipelined.
    "set m:t 0 0 1\nt\nmg m:t v\nmg m:t v q\nmd m:t q\nget m:t",
    "mn",
    "mg m:t v q\nmg m:t v q\nmn\nmg m:a v q",
    // The other commands served here.
    "verbosity 1",
    "verbosity 1 noreply",
    "verbosity",
    "version",
    "stats sizes",
    "stats bogus",
    "stats detail on",
    "stats detail off",
    "flush_all",
    "flush_all 0 noreply",
    "flush_all x",
    "mg m:b64 v",
];

/// The request bytes of a corpus entry, with the closing `mn`.
fn meta_request(entry: &str) -> Vec<u8> {
    let text = entry.replace("<K251>", &"k".repeat(251));
    let mut out = text.replace('\n', "\r\n").into_bytes();
    out.extend_from_slice(b"\r\nmn\r\n");
    out
}

/// The number of `mn` lines in a request: the `MN` replies to read.
fn mn_count(request: &[u8]) -> usize {
    request
        .split(|&b| b == b'\n')
        .filter(|l| *l == b"mn\r")
        .count()
}

/// Reads replies until the `n`th bare `MN`; returns everything read.
fn read_through_mn(c: &mut McClient, n: usize, what: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        let r = c
            .try_read_reply()
            .unwrap_or_else(|e| panic!("{what}: {e} after \"{}\"", show(&out)));
        seen += usize::from(r == b"MN\r\n");
        out.extend(r);
    }
    out
}

/// A proxy in front of one memcached, and a fresh memcached used directly.
fn pair() -> (MemcachedServer, MemcachedServer, Dynomite) {
    let backend = MemcachedServer::start();
    let direct = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    (backend, direct, proxy)
}

#[test]
fn meta_commands_match_memcached_byte_for_byte() {
    if direct_mode() {
        return;
    }
    // One request (and its mn) at a time.
    let (_backend, direct, proxy) = pair();
    let (mut p, mut d) = (proxy.mc_client(), direct.client());
    let mut all_direct = Vec::new();
    for entry in META {
        let req = meta_request(entry);
        let n = mn_count(&req);
        p.send(&req);
        d.send(&req);
        let pr = read_through_mn(&mut p, n, &format!("proxy, {entry:?}"));
        let dr = read_through_mn(&mut d, n, &format!("direct, {entry:?}"));
        assert!(
            pr == dr,
            "{entry:?}:\n proxy: \"{}\"\ndirect: \"{}\"",
            show(&pr),
            show(&dr)
        );
        all_direct.extend(dr);
    }
    // The corpus says something: values, quiet misses left out, errors.
    let text = String::from_utf8_lossy(&all_direct).into_owned();
    for part in [
        "VA 2\r\nhi\r\n",
        "VA 5 f7 s5\r\nworld\r\n",
        "VA 2 km:a O9\r\nhi\r\n",
        "VA 5\r\nqq-ap\r\n",
        "VA 3 kbTpiNjQ= b\r\nb64\r\n",
        "CLIENT_ERROR duplicate flag\r\n",
        "CLIENT_ERROR error decoding key\r\n",
        "VERSION 1.6.",
    ] {
        assert!(
            text.contains(part),
            "missing {part:?} in {:?}",
            String::from_utf8_lossy(&all_direct)
        );
    }
    assert!(!text.contains("EN\r\nEN\r\n"), "quiet misses answered");

    // The whole corpus in one write, on fresh servers.
    let (_backend, direct, proxy) = pair();
    let (mut p, mut d) = (proxy.mc_client(), direct.client());
    let all: Vec<u8> = META.iter().flat_map(|e| meta_request(e)).collect();
    let n = mn_count(&all);
    let (pr, dr) = thread::scope(|s| {
        let h = s.spawn(|| {
            let mut w = d.writer();
            w.write_all(&all).expect("write to memcached");
            read_through_mn(&mut d, n, "direct, pipelined")
        });
        let mut w = p.writer();
        w.write_all(&all).expect("write to the proxy");
        let pr = read_through_mn(&mut p, n, "proxy, pipelined");
        (pr, h.join().expect("direct side"))
    });
    assert!(
        pr == dr,
        "pipelined:\n proxy: \"{}\"\ndirect: \"{}\"",
        show(&pr),
        show(&dr)
    );
}

#[test]
fn quiet_requests_answer_only_what_memcached_answers() {
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut c = proxy.mc_client();
    // A multi-get the Dalli way: quiet gets, then mn.
    let mut req = Vec::new();
    for i in 0..50 {
        if i % 5 == 0 {
            req.extend(format!("ms q:{i} 1 q\r\n{}\r\n", i % 10).as_bytes());
        }
    }
    req.extend_from_slice(b"mn\r\n");
    assert_eq!(c.cmd(&req), b"MN\r\n");
    let mut get = Vec::new();
    let mut want = Vec::new();
    for i in 0..50 {
        get.extend(format!("mg q:{i} v k q\r\n").as_bytes());
        if i % 5 == 0 {
            want.extend(format!("VA 1 kq:{i}\r\n{}\r\n", i % 10).as_bytes());
        }
    }
    get.extend_from_slice(b"mn\r\n");
    want.extend_from_slice(b"MN\r\n");
    c.send(&get);
    assert_eq!(show(&read_through_mn(&mut c, 1, "quiet gets")), show(&want));
    // The datastore saw no q flag: nothing is left unanswered on its
    // connection, and a plain request after the pipeline is answered.
    assert_eq!(c.cmd(b"mg q:0 v\r\n"), b"VA 1\r\n0\r\n");
    assert_eq!(c.cmd(b"md q:0 q\r\nmd q:0 q\r\nmn\r\n"), b"NF\r\n");
    assert_eq!(c.read_reply(), b"MN\r\n");
}

#[test]
fn base64_keys_are_placed_like_their_decoded_keys() {
    if direct_mode() {
        return;
    }
    // Two shards behind one node: a key written in base64 through meta must
    // be found by a text get of the decoded key, on the shard that holds it.
    let (s1, s2) = (MemcachedServer::start(), MemcachedServer::start());
    let proxy = Dynomite::start_memcached(&[s1.port(), s2.port()]);
    let mut c = proxy.mc_client();
    let (mut d1, mut d2) = (s1.client(), s2.client());
    let mut on = [0, 0];
    for i in 0..40 {
        let key = format!("b64:key:{i}");
        let enc = base64(key.as_bytes());
        let set = format!("ms {enc} 2 b\r\nv{}\r\n", i % 10);
        assert_eq!(c.cmd(set.as_bytes()), b"HD\r\n", "{key}");
        assert_eq!(
            c.cmd(format!("get {key}\r\n").as_bytes()),
            format!("VALUE {key} 0 2\r\nv{}\r\nEND\r\n", i % 10).into_bytes(),
            "{key} ({enc})"
        );
        let (a, b) = (holds(&mut d1, &key), holds(&mut d2, &key));
        assert!(a != b, "{key} on both or neither shard");
        on[usize::from(b)] += 1;
        // And back through meta with the encoded key.
        assert_eq!(
            c.cmd(format!("mg {enc} b v\r\n").as_bytes()),
            format!("VA 2\r\nv{}\r\n", i % 10).into_bytes()
        );
    }
    assert!(on[0] > 0 && on[1] > 0, "every key on one shard: {on:?}");
}

/// Standard base64 with padding.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn stats_version_and_verbosity() {
    if direct_mode() {
        return;
    }
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut c = proxy.mc_client();
    let mut d = backend.client();
    // version: the datastore's own line.
    let v = d.cmd(b"version\r\n");
    assert!(v.starts_with(b"VERSION 1.6."), "{}", show(&v));
    assert_eq!(c.cmd(b"version\r\n"), v);
    // stats: the datastore's, the same names in the same order.
    let names = |r: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(r)
            .lines()
            .filter_map(|l| l.strip_prefix("STAT ")?.split(' ').next().map(String::from))
            .collect()
    };
    let mine = c.cmd(b"stats\r\n");
    let theirs = d.cmd(b"stats\r\n");
    assert!(mine.ends_with(b"END\r\n"), "{}", show(&mine));
    assert_eq!(names(&mine), names(&theirs));
    assert!(names(&mine).contains(&"curr_connections".to_string()));
    // stats dynomite: the node's own counters.
    let node = String::from_utf8_lossy(&c.cmd(b"stats dynomite\r\n")).into_owned();
    assert!(node.ends_with("END\r\n"), "{node}");
    for name in ["pid", "uptime", "client_connections", "server_0_server_eof"] {
        assert!(
            node.contains(&format!("STAT {name} ")),
            "no {name} in {node}"
        );
    }
    assert!(
        node.contains(&format!(
            "STAT version dynomite-{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{node}"
    );
    assert!(node.contains("STAT client_connections 1\r\n"), "{node}");
    // verbosity: OK, or nothing with noreply.
    assert_eq!(c.cmd(b"verbosity 1\r\n"), b"OK\r\n");
    assert_eq!(c.cmd(b"verbosity 1 noreply\r\nmn\r\n"), b"MN\r\n");
}

#[test]
fn pymemcache_stats_version_and_flush_all() {
    let hint = format!("pymemcache is required: pip install pymemcache (or {INSTALL_HINT})");
    python_module_version("pymemcache", &hint);
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let stdout = run_client(
        "python3",
        &[
            "memcache_admin_check.py",
            &proxy.port().to_string(),
            &backend.port().to_string(),
            if direct_mode() { "direct" } else { "proxy" },
        ],
    );
    assert!(
        stdout.contains("pymemcache admin: all checks passed"),
        "output:\n{stdout}"
    );
}

/// Two single-node racks of one DC, each in front of its own memcached,
/// connected to each other, at DC_ONE.
fn two_racks() -> (MemcachedServer, MemcachedServer, Dynomite, Dynomite, u16) {
    let (ma, mb) = (MemcachedServer::start(), MemcachedServer::start());
    let (pa, pb) = (free_port(), free_port());
    let a = rack_node(&ma, "rack1", pa, &conf::seed(pb, "rack2", "dc1", "0"));
    let b = rack_node(&mb, "rack2", pb, &conf::seed(pa, "rack1", "dc1", "0"));
    // Wait until each node replicates to the other.
    let mut n = 0;
    for (from, to) in [(&a, &mb), (&b, &ma)] {
        let mut c = from.mc_client();
        let mut to = to.client();
        wait_for(Duration::from_secs(30), "the peers to connect", || {
            n += 1;
            let key = format!("ready:{n}");
            assert_eq!(
                c.cmd(format!("set {key} 0 0 1\r\nr\r\n").as_bytes()),
                b"STORED\r\n"
            );
            let until = Instant::now() + Duration::from_millis(300);
            while Instant::now() < until {
                if holds(&mut to, &key) {
                    return true;
                }
                thread::sleep(Duration::from_millis(10));
            }
            false
        });
    }
    (ma, mb, a, b, pb)
}

#[test]
fn flush_all_empties_every_datastore_of_a_two_rack_cluster() {
    if direct_mode() {
        return;
    }
    let (ma, mut mb, a, b, pb) = two_racks();
    let (mut da, mut db) = (ma.client(), mb.client());
    let mut ca = a.mc_client();
    for i in 0..20 {
        let set = format!("fl:{i} 0 0 1\r\n{}\r\n", i % 10);
        assert_eq!(ca.cmd(format!("set {set}").as_bytes()), b"STORED\r\n");
        // Meta writes replicate like text writes.
        let ms = format!("ms flm:{i} 1\r\n{}\r\n", i % 10);
        assert_eq!(ca.cmd(ms.as_bytes()), b"HD\r\n");
    }
    wait_for(Duration::from_secs(5), "the writes to reach rack2", || {
        (0..20).all(|i| holds(&mut db, &format!("fl:{i}")) && holds(&mut db, &format!("flm:{i}")))
    });
    for i in 0..20 {
        assert!(holds(&mut da, &format!("flm:{i}")), "flm:{i} not in rack1");
    }
    // Through the other node: every datastore is emptied.
    let mut cb = b.mc_client();
    assert_eq!(cb.cmd(b"flush_all\r\n"), b"OK\r\n");
    for i in 0..20 {
        for (rack, d) in [("rack1", &mut da), ("rack2", &mut db)] {
            assert!(!holds(d, &format!("fl:{i}")), "fl:{i} left in {rack}");
            assert!(!holds(d, &format!("flm:{i}")), "flm:{i} left in {rack}");
        }
    }
    // noreply: nothing is answered, and it still reaches both.
    assert_eq!(ca.cmd(b"set nr 0 0 1\r\nx\r\n"), b"STORED\r\n");
    wait_for(Duration::from_secs(5), "nr to reach rack2", || {
        holds(&mut db, "nr")
    });
    assert_eq!(ca.cmd(b"flush_all noreply\r\nmn\r\n"), b"MN\r\n");
    wait_for(Duration::from_secs(5), "the quiet flush", || {
        !holds(&mut da, "nr") && !holds(&mut db, "nr")
    });
    // A datastore that cannot flush is named in the error.
    mb.kill();
    let reply = String::from_utf8_lossy(&ca.cmd(b"flush_all\r\n")).into_owned();
    assert!(
        reply.starts_with("SERVER_ERROR flush_all failed on ")
            && reply.contains(&format!(":{pb} (dc1/rack2)"))
            && !reply.contains("rack1")
            && reply.ends_with("\r\n")
            && reply.matches("\r\n").count() == 1,
        "{reply:?}"
    );
    // The node goes on serving.
    assert_eq!(ca.cmd(b"get fl:1\r\n"), b"END\r\n");
}

#[test]
fn cas_values_do_not_break_a_quorum() {
    if direct_mode() {
        return;
    }
    // Each memcached numbers its items itself: make the two counters differ,
    // then read and write through a DC_SAFE_QUORUM cluster (every answer
    // must agree). Replicas that agree on everything but the CAS value
    // agree.
    let (ma, mb, a, b, _) = two_racks();
    for node in [&a, &b] {
        for what in ["read", "write"] {
            let mut http = TcpStream::connect(("127.0.0.1", node.stats_port())).expect("admin");
            let req = format!("GET /set_consistency/{what}/dc_safe_quorum HTTP/1.0\r\n\r\n");
            http.write_all(req.as_bytes()).expect("admin request");
            let mut answer = String::new();
            http.read_to_string(&mut answer).expect("admin answer");
            assert!(answer.contains("OK"), "{answer}");
        }
    }
    let mut da = ma.client();
    for i in 0..5 {
        assert_eq!(
            da.cmd(format!("set skew:{i} 0 0 1\r\nx\r\n").as_bytes()),
            b"STORED\r\n"
        );
    }
    let mut c = a.mc_client();
    assert_eq!(c.cmd(b"set q:a 3 0 2\r\nhi\r\n"), b"STORED\r\n");
    let (mut ra, mut rb) = (ma.client(), mb.client());
    let (ga, gb) = (ra.cmd(b"gets q:a\r\n"), rb.cmd(b"gets q:a\r\n"));
    assert!(
        ga != gb,
        "the CAS values agree: {} {}",
        show(&ga),
        show(&gb)
    );
    let gets = String::from_utf8_lossy(&c.cmd(b"gets q:a\r\n")).into_owned();
    assert!(
        gets.starts_with("VALUE q:a 3 2 ") && gets.ends_with("\r\nhi\r\nEND\r\n"),
        "{gets}"
    );
    let mg = String::from_utf8_lossy(&c.cmd(b"mg q:a v c f\r\n")).into_owned();
    assert!(
        mg.starts_with("VA 2 c") && mg.ends_with(" f3\r\nhi\r\n"),
        "{mg}"
    );
    let ms = String::from_utf8_lossy(&c.cmd(b"ms q:b 1 c\r\nz\r\n")).into_owned();
    assert!(ms.starts_with("HD c"), "{ms}");
    // Binary get and set carry CAS values too.
    let mut s = TcpStream::connect(("127.0.0.1", a.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let extras = [0, 0, 0, 1, 0, 0, 0, 0];
    let mut req = bin_packet(0x01, &extras, b"q:c", b"bin", [0, 0, 0, 1]);
    req.extend(bin_packet(0x00, &[], b"q:c", &[], [0, 0, 0, 2]));
    s.write_all(&req).expect("send");
    let set = read_bin(&mut s);
    assert_eq!((set.0, set.1), (0x01, 0), "binary set");
    let get = read_bin(&mut s);
    assert_eq!(
        (get.1, get.3, get.5),
        (0, vec![0, 0, 0, 1], b"bin".to_vec()),
        "binary get"
    );
    // Replicas that really disagree still fail the quorum.
    assert_eq!(rb.cmd(b"set q:d 0 0 1\r\nb\r\n"), b"STORED\r\n");
    assert_eq!(ra.cmd(b"set q:d 0 0 1\r\na\r\n"), b"STORED\r\n");
    let reply = c.cmd(b"get q:d\r\n");
    assert!(reply.starts_with(b"SERVER_ERROR"), "{}", show(&reply));
}

/// A binary-protocol request packet.
fn bin_packet(opcode: u8, extras: &[u8], key: &[u8], value: &[u8], opaque: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&opaque);
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// Reads one binary response: (opcode, status, opaque, extras, key, value).
type BinRsp = (u8, u16, [u8; 4], Vec<u8>, Vec<u8>, Vec<u8>);

fn read_bin(s: &mut TcpStream) -> BinRsp {
    let mut h = [0u8; 24];
    s.read_exact(&mut h).expect("a response header");
    assert_eq!(h[0], 0x81, "response magic");
    let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let ext = usize::from(h[4]);
    let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let mut b = vec![0u8; body];
    s.read_exact(&mut b).expect("a response body");
    (
        h[1],
        u16::from_be_bytes([h[6], h[7]]),
        [h[12], h[13], h[14], h[15]],
        b[..ext].to_vec(),
        b[ext..ext + key_len].to_vec(),
        b[ext + key_len..].to_vec(),
    )
}

/// Runs a libmemcached tool (stdout, success), with a deadline.
fn tool(program: &str, args: &[&str]) -> (String, bool) {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let (out, in_time) = run_with_deadline(&mut cmd, Duration::from_secs(60));
    assert!(in_time, "`{program} {}` hung", args.join(" "));
    (
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        out.status.success(),
    )
}

#[test]
fn libmemcached_memcapable_passes_in_binary_and_text() {
    require_program(
        "sh",
        &["-c", "command -v memccapable && command -v memccp"],
        &format!("memccapable (Debian libmemcached-tools) is required ({INSTALL_HINT})"),
    );
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let port = proxy.port().to_string();
    for protocol in ["-b", "-a"] {
        let (out, ok) = tool(
            "memccapable",
            &["-h", "127.0.0.1", "-p", &port, protocol, "-v", "-t", "10"],
        );
        assert!(
            ok && out.contains("All tests passed"),
            "memcapable {protocol}:\n{out}"
        );
    }
}

#[test]
fn binary_clients_are_served_in_a_two_rack_cluster() {
    if direct_mode() {
        return;
    }
    require_program(
        "sh",
        &[
            "-c",
            "command -v memccp && command -v memccat && command -v memcrm",
        ],
        &format!("libmemcached's tools (Debian libmemcached-tools) are required ({INSTALL_HINT})"),
    );
    let (ma, mb, a, b, _) = two_racks();
    let (mut da, mut db) = (ma.client(), mb.client());
    let dir = TempDir::new("memcp");
    let file = dir.path().join("bin-file");
    fs::write(&file, b"binary through the cluster\n").expect("write a file");
    let servers = |n: &Dynomite| format!("--servers=127.0.0.1:{}", n.port());
    let (out, ok) = tool(
        "memccp",
        &[&servers(&a), "--binary", file.to_str().expect("utf-8 path")],
    );
    assert!(ok, "memccp: {out}");
    wait_for(
        Duration::from_secs(5),
        "the binary set to reach rack2",
        || holds(&mut db, "bin-file"),
    );
    assert!(holds(&mut da, "bin-file"));
    let (out, ok) = tool("memccat", &[&servers(&b), "--binary", "bin-file"]);
    assert!(
        ok && out.trim_end() == "binary through the cluster",
        "memccat: {out:?}"
    );
    let (out, ok) = tool("memcrm", &[&servers(&b), "--binary", "bin-file"]);
    assert!(ok, "memcrm: {out}");
    wait_for(
        Duration::from_secs(5),
        "the binary delete on both racks",
        || !holds(&mut da, "bin-file") && !holds(&mut db, "bin-file"),
    );
    let (_, ok) = tool("memccat", &[&servers(&a), "--binary", "bin-file"]);
    assert!(!ok, "a deleted key was found");
}

#[test]
fn binary_requests_and_a_bad_packet() {
    if direct_mode() {
        return;
    }
    let backend = MemcachedServer::start();
    let proxy = Dynomite::start_memcached(&[backend.port()]);
    let mut other = proxy.mc_client();
    assert_eq!(other.cmd(b"set bin:a 9 0 1\r\na\r\n"), b"STORED\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", proxy.port())).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // getk of a text-set key, a quiet miss, noop, then an unknown opcode.
    let mut req = bin_packet(0x0c, &[], b"bin:a", &[], [0, 0, 0, 1]);
    req.extend(bin_packet(0x09, &[], b"bin:none", &[], [0, 0, 0, 2]));
    req.extend(bin_packet(0x0a, &[], &[], &[], [0, 0, 0, 3]));
    req.extend(bin_packet(0x2b, &[], &[], &[], [0, 0, 0, 4]));
    s.write_all(&req).expect("send");
    assert_eq!(
        read_bin(&mut s),
        (
            0x0c,
            0,
            [0, 0, 0, 1],
            9u32.to_be_bytes().to_vec(),
            b"bin:a".to_vec(),
            b"a".to_vec()
        )
    );
    assert_eq!(
        read_bin(&mut s),
        (0x0a, 0, [0, 0, 0, 3], vec![], vec![], vec![])
    );
    let unknown = read_bin(&mut s);
    assert_eq!(
        (unknown.0, unknown.1, unknown.2),
        (0x2b, 0x0081, [0, 0, 0, 4])
    );
    // touch, gat, and a gatq miss (not answered) before a noop.
    let ttl = 1000u32.to_be_bytes();
    let mut req = bin_packet(0x1c, &ttl, b"bin:a", &[], [0, 0, 0, 6]);
    req.extend(bin_packet(0x1c, &ttl, b"bin:none", &[], [0, 0, 0, 7]));
    req.extend(bin_packet(0x1d, &ttl, b"bin:a", &[], [0, 0, 0, 8]));
    req.extend(bin_packet(0x1e, &ttl, b"bin:none", &[], [0, 0, 0, 9]));
    req.extend(bin_packet(0x0a, &[], &[], &[], [0, 0, 0, 10]));
    s.write_all(&req).expect("send");
    assert_eq!(
        read_bin(&mut s),
        (0x1c, 0, [0, 0, 0, 6], vec![], vec![], vec![])
    );
    let miss = read_bin(&mut s);
    assert_eq!((miss.0, miss.1, miss.2), (0x1c, 0x0001, [0, 0, 0, 7]));
    assert_eq!(
        read_bin(&mut s),
        (
            0x1d,
            0,
            [0, 0, 0, 8],
            9u32.to_be_bytes().to_vec(),
            vec![],
            b"a".to_vec()
        )
    );
    assert_eq!(
        read_bin(&mut s),
        (0x0a, 0, [0, 0, 0, 10], vec![], vec![], vec![])
    );
    let mut d = backend.client();
    let me = String::from_utf8_lossy(&d.cmd(b"me bin:a\r\n")).into_owned();
    assert!(!me.contains("exp=-1 "), "touch did not set an expiry: {me}");
    // A packet without the request magic: one error response, then the
    // close.
    let mut bad = bin_packet(0x00, &[], b"bin:a", &[], [0, 0, 0, 5]);
    bad[0] = 0x81;
    s.write_all(&bad).expect("send");
    let started = Instant::now();
    let r = read_bin(&mut s);
    assert_eq!(r.1, 0x0083);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the proxy closes the connection");
    assert!(rest.is_empty() && started.elapsed() < Duration::from_secs(5));
    // Everyone else goes on.
    assert_eq!(
        other.cmd(b"get bin:a\r\n"),
        b"VALUE bin:a 9 1\r\na\r\nEND\r\n"
    );
    assert!(
        proxy.log().contains("binary protocol"),
        "no log line for the bad packet"
    );
}
