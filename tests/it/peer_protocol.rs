//! Interoperability of the peer ("dnode") protocol with the original C nodes,
//! from the frames captured in the specification: requests written to a
//! node's `dyn_listen` port by hand, and a fake peer (a listener owned by the
//! test) that checks the bytes a node sends and answers them.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::cluster::{node, Cluster};
use crate::harness::conf;
use crate::harness::peer::RawPeer;
use crate::harness::{bulk, show, Client};

/// How long a reply frame may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// §9.1: `set foo bar`, type 3, id 2, same DC.
const SET_FOO_BAR: &[u8] =
    b"   $2014$ 2 3 0 1 1 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n";
/// The reply to `SET_FOO_BAR`.
const SET_FOO_BAR_REPLY: &[u8] = b"   $2014$ 2 5 0 1 1 *1 d *5\r\n+OK\r\n";
/// §9.3: `get foo`, id 77.
const GET_FOO_77: &[u8] = b"   $2014$ 77 3 0 1 1 *1 d *22\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n";
/// §9.3: the captured reply to `GET_FOO_77` when foo is `bar`.
const GET_FOO_77_REPLY: &[u8] = b"   $2014$ 77 5 0 1 1 *1 d *9\r\n$3\r\nbar\r\n";
/// §9.4: a gossip state message (type 7), never answered.
const GOSSIP: &[u8] = b"   $2014$ 0 7 0 1 1 *1 a *77\r\ndc1$rack1$1000,1795404652,4,127.0.0.77|dc1$rack2$1000,1795404649,4,127.0.0.77";

/// Splits a frame the node wrote into (msg_id, the header with the id
/// replaced by `<id>`, payload).
fn split_frame(frame: &[u8]) -> (u64, String, Vec<u8>) {
    let text = show(frame);
    let eol = frame
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or_else(|| panic!("no CRLF in \"{text}\""));
    let header = std::str::from_utf8(&frame[..eol]).expect("ascii header");
    let rest = header
        .strip_prefix("   $2014$ ")
        .unwrap_or_else(|| panic!("frame does not start with the magic: \"{text}\""));
    let (id, tail) = rest
        .split_once(' ')
        .unwrap_or_else(|| panic!("no id in \"{text}\""));
    assert!(
        !id.is_empty() && id.bytes().all(|c| c.is_ascii_digit()) && !id.starts_with('0'),
        "msg id {id:?} in \"{text}\""
    );
    (
        id.parse().expect("id"),
        format!("   $2014$ <id> {tail}"),
        frame[eol + 2..].to_vec(),
    )
}

/// A single node (one rack, one token) with its own redis and a peer port.
fn single_node() -> Cluster {
    Cluster::start(&[node("dc1", "rack1", &[1000])])
}

/// A single node and a raw connection to its peer port.
fn single_node_raw() -> (Cluster, RawPeer) {
    let cl = single_node();
    let raw = RawPeer::connect(cl.node(0).dyn_port());
    (cl, raw)
}

#[test]
fn the_captured_set_frame_is_applied_and_answered() {
    let (cl, mut raw) = single_node_raw();
    raw.send(SET_FOO_BAR);
    raw.expect(SET_FOO_BAR_REPLY);
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
}

#[test]
fn the_captured_get_frame_gets_the_captured_reply() {
    let (cl, mut raw) = single_node_raw();
    assert_eq!(
        cl.node(0).redis_client().cmd(&[b"SET", b"foo", b"bar"]),
        b"+OK\r\n"
    );
    raw.send(GET_FOO_77);
    raw.expect(GET_FOO_77_REPLY);
}

#[test]
fn a_missing_key_is_answered_with_a_nil_frame() {
    let (_cl, mut raw) = single_node_raw();
    raw.send(b"   $2014$ 78 3 0 1 1 *1 d *22\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n");
    raw.expect(b"   $2014$ 78 5 0 1 1 *1 d *5\r\n$-1\r\n");
}

#[test]
fn same_dc_zero_is_echoed_in_the_reply() {
    let (cl, mut raw) = single_node_raw();
    raw.send(b"   $2014$ 79 3 0 1 0 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbaz\r\n");
    raw.expect(b"   $2014$ 79 5 0 1 0 *1 d *5\r\n+OK\r\n");
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"baz"));
}

#[test]
fn a_frame_without_the_leading_spaces_is_answered() {
    let (cl, mut raw) = single_node_raw();
    raw.send(&SET_FOO_BAR[3..]);
    raw.expect(SET_FOO_BAR_REPLY);
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
}

#[test]
fn garbage_before_the_magic_is_skipped() {
    let (_cl, mut raw) = single_node_raw();
    raw.send(b"hello, this is not a frame *12 $ 2014\r\n");
    raw.send(SET_FOO_BAR);
    raw.expect(SET_FOO_BAR_REPLY);
    raw.send(b"xx");
    raw.send(GET_FOO_77);
    raw.expect(GET_FOO_77_REPLY);
}

#[test]
fn a_gossip_frame_is_not_answered_and_the_connection_goes_on() {
    let (cl, mut raw) = single_node_raw();
    raw.send(GOSSIP);
    raw.send(SET_FOO_BAR);
    // The first bytes back answer the SET: nothing was sent for the gossip.
    raw.expect(SET_FOO_BAR_REPLY);
    raw.send(GOSSIP);
    raw.send(GET_FOO_77);
    raw.expect(GET_FOO_77_REPLY);
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
}

#[test]
fn unknown_header_only_types_are_skipped() {
    let (_cl, mut raw) = single_node_raw();
    // GOSSIP_SHUTDOWN (13), CRYPTO_HANDSHAKE (6), and GOSSIP_ACK (9)
    // followed by a payload that the resynchronising scan skips.
    raw.send(b"   $2014$ 5 13 0 1 1 *1 d *0\r\n");
    raw.send(b"   $2014$ 6 6 0 1 1 *1 d *0\r\n");
    raw.send(b"   $2014$ 7 9 0 1 1 *1 d *3\r\nabc");
    raw.send(SET_FOO_BAR);
    raw.expect(SET_FOO_BAR_REPLY);
    raw.send(GET_FOO_77);
    raw.expect(GET_FOO_77_REPLY);
}

#[test]
fn a_wrong_payload_len_is_ignored_for_plain_frames() {
    let (cl, mut raw) = single_node_raw();
    // The Redis parser delimits the payload, not payload_len.
    raw.send(b"   $2014$ 80 3 0 1 1 *1 d *999\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    raw.expect(b"   $2014$ 80 5 0 1 1 *1 d *5\r\n+OK\r\n");
    raw.send(b"   $2014$ 81 3 0 1 1 *1 d *1\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n");
    raw.expect(b"   $2014$ 81 5 0 1 1 *1 d *9\r\n$3\r\nbar\r\n");
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
}

#[test]
fn pipelined_frames_are_answered_in_order_with_their_own_ids() {
    let (_cl, mut raw) = single_node_raw();
    let mut batch = Vec::new();
    batch.extend_from_slice(
        b"   $2014$ 101 3 0 1 1 *1 d *29\r\n*3\r\n$3\r\nset\r\n$1\r\na\r\n$3\r\none\r\n",
    );
    batch.extend_from_slice(b"   $2014$ 102 3 0 1 1 *1 d *20\r\n*2\r\n$3\r\nget\r\n$1\r\na\r\n");
    batch
        .extend_from_slice(b"   $2014$ 103 3 0 1 1 *1 d *24\r\n*2\r\n$3\r\nget\r\n$5\r\nnokey\r\n");
    batch.extend_from_slice(b"   $2014$ 104 3 0 1 1 *1 d *23\r\n*2\r\n$6\r\nexists\r\n$1\r\na\r\n");
    batch.extend_from_slice(b"   $2014$ 105 3 0 1 1 *1 d *14\r\n*1\r\n$4\r\nping\r\n");
    raw.send(&batch);
    let want: [&[u8]; 5] = [
        b"   $2014$ 101 5 0 1 1 *1 d *5\r\n+OK\r\n",
        b"   $2014$ 102 5 0 1 1 *1 d *9\r\n$3\r\none\r\n",
        b"   $2014$ 103 5 0 1 1 *1 d *5\r\n$-1\r\n",
        b"   $2014$ 104 5 0 1 1 *1 d *4\r\n:1\r\n",
        b"   $2014$ 105 5 0 1 1 *1 d *7\r\n+PONG\r\n",
    ];
    raw.expect(&want.concat());
}

#[test]
fn a_frame_delivered_one_byte_at_a_time_is_answered() {
    let (cl, mut raw) = single_node_raw();
    for b in SET_FOO_BAR {
        raw.send(&[*b]);
        // Pacing, so that the bytes arrive in separate reads.
        thread::sleep(Duration::from_millis(1));
    }
    raw.expect(SET_FOO_BAR_REPLY);
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
}

#[test]
fn a_forward_frame_to_a_single_node_is_applied_and_answered() {
    let (cl, mut raw) = single_node_raw();
    // §9.2: type 4 from another DC (same_dc 0).
    raw.send(b"   $2014$ 3 4 0 1 0 *1 d *31\r\n*3\r\n$3\r\nset\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");
    raw.expect(b"   $2014$ 3 5 0 1 0 *1 d *5\r\n+OK\r\n");
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));
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
                assert!(
                    Instant::now() < deadline,
                    "the node never connected to the fake peer"
                );
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn a_node_sends_the_captured_frame_to_a_fake_peer_and_takes_its_replies() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake peer");
    let fake_port = listener.local_addr().expect("addr").port();
    // The fake peer is the only node of rack2: it owns every key there.
    let seed = conf::seed(fake_port, "rack2", "dc1", "1000");
    let cl = Cluster::start_with_seeds(&[node("dc1", "rack1", &[1000])], &[], &[seed]);
    let mut fake = RawPeer::from_stream(accept_within(&listener, Duration::from_secs(15)));
    let mut c = cl.node(0).client();

    // Every new peer connection first carries a probe: a PING whose answer
    // tells failure detection the peer is up.
    let probe = fake
        .try_frame(Duration::from_secs(15))
        .map(|f| f.raw)
        .expect("the probe on the new connection");
    let (id, header, payload) = split_frame(&probe);
    assert_eq!(header, "   $2014$ <id> 3 0 1 1 *1 d *14");
    assert_eq!(show(&payload), show(b"*1\r\n$4\r\nPING\r\n"));
    fake.send(format!("   $2014$ {id} 5 0 1 1 *1 d *7\r\n+PONG\r\n").as_bytes());

    // A copy of the write goes to rack2. Until the node has seen its
    // connection complete, copies are dropped: write again.
    let deadline = Instant::now() + Duration::from_secs(15);
    let frame = loop {
        assert_eq!(
            c.cmd(&[b"set", b"foo", b"bar"]),
            b"+OK\r\n",
            "the local rack answers"
        );
        if let Some(f) = fake.try_frame(Duration::from_secs(1)).map(|f| f.raw) {
            break f;
        }
        assert!(Instant::now() < deadline, "no frame reached the fake peer");
    };
    let (id, header, payload) = split_frame(&frame);
    assert_eq!(
        format!("{header}\r\n{}", show(&payload)),
        "   $2014$ <id> 3 0 1 1 *1 d *31\r\n*3\\r\\n$3\\r\\nset\\r\\n$3\\r\\nfoo\\r\\n$3\\r\\nbar\\r\\n",
        "the copy of SET foo bar (\"{}\")",
        show(&frame)
    );
    fake.send(format!("   $2014$ {id} 5 0 1 1 *1 d *5\r\n+OK\r\n").as_bytes());
    assert_eq!(cl.node(0).redis_get(b"foo"), bulk(b"bar"));

    // At DC_SAFE_QUORUM a GET asks both racks and compares the answers, so
    // the fake peer's reply payload decides the outcome.
    let mut q = cl.node(0).client();
    assert_eq!(
        q.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_SAFE_QUORUM"]),
        b"+OK\r\n"
    );
    let mut last_id = id;
    for (answer, want) in [
        (&b"$3\r\nbar\r\n"[..], bulk(b"bar")),
        (
            &b"$3\r\nzzz\r\n"[..],
            b"-ERR Dynomite: Failed to achieve Quorum\r\n".to_vec(),
        ),
        (
            &b"-ERR Storage: Datastore refused connection\r\n"[..],
            b"-ERR Storage: Datastore refused connection\r\n".to_vec(),
        ),
    ] {
        q.send(b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n");
        // A late copy of an earlier retried SET may come first.
        let frame = loop {
            let frame = fake
                .try_frame(REPLY_TIMEOUT)
                .map(|f| f.raw)
                .expect("the quorum GET reached the fake peer");
            let (id, _, payload) = split_frame(&frame);
            if !payload.starts_with(b"*3\r\n$3\r\nset\r\n") {
                break frame;
            }
            fake.send(format!("   $2014$ {id} 5 0 1 1 *1 d *5\r\n+OK\r\n").as_bytes());
        };
        let (id, header, payload) = split_frame(&frame);
        assert_eq!(header, "   $2014$ <id> 3 0 1 1 *1 d *22");
        assert_eq!(show(&payload), show(b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n"));
        assert!(
            id > last_id,
            "ids increase on a connection: {id} after {last_id}"
        );
        last_id = id;
        let mut reply = format!("   $2014$ {id} 5 0 1 1 *1 d *{}\r\n", answer.len()).into_bytes();
        reply.extend_from_slice(answer);
        fake.send(&reply);
        let got = q.read_reply();
        assert_eq!(
            show(&got),
            show(&want),
            "client reply when the fake peer answers \"{}\"",
            show(answer)
        );
    }

    // The fake peer's connection is still in use: one more write arrives.
    assert_eq!(c.cmd(&[b"set", b"foo", b"end"]), b"+OK\r\n");
    let frame = fake
        .try_frame(REPLY_TIMEOUT)
        .map(|f| f.raw)
        .expect("a later copy");
    let (id, header, _) = split_frame(&frame);
    assert!(id > last_id);
    assert_eq!(header, "   $2014$ <id> 3 0 1 1 *1 d *31");
    fake.send(format!("   $2014$ {id} 5 0 1 1 *1 d *5\r\n+OK\r\n").as_bytes());
    let _ = Client::try_connect(cl.node(0).port()).expect("node still serves");
}
