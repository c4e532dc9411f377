//! `dnode_msg::DmsgParser`: peer frame headers with garbage around them,
//! payloads skipped as their header says; and the gossip record list read
//! from the same bytes.

#![no_main]

use dynomite::dnode::msg::{
    gossip_records, write_gossip, DmsgInfo, DmsgParser, DmsgPayload, DmsgType, GossipNode, MAGIC,
    MAX_DATA_LEN, MAX_PAYLOAD_LEN,
};
use dynomite::proto::Parse;
use dynomite_fuzz::{check, span, Target};
use libfuzzer_sys::fuzz_target;

struct DnodeTarget {
    p: DmsgParser,
    /// Length of the whole stream.
    stream: usize,
}

/// Reads every record of a gossip payload; each record read back from what
/// it writes is the same record.
fn check_gossip(payload: &[u8]) {
    let mut n = 0;
    for rec in gossip_records(payload) {
        n += 1;
        let Ok(node) = rec else {
            continue;
        };
        let _ = node.token_u32();
        let mut out = Vec::new();
        write_gossip(&mut out, &[node]).expect("a parsed record writes");
        assert_eq!(GossipNode::parse(&out), Ok(node));
    }
    assert_eq!(n, payload.iter().filter(|&&b| b == b'|').count() + 1);
}

impl Target for DnodeTarget {
    type Info = DmsgInfo;

    fn parse(&mut self, chunk: &[u8], info: &mut DmsgInfo) -> Parse {
        self.p.parse(chunk, info)
    }

    fn done(&mut self, msg: &[u8], rest: &[u8], info: &DmsgInfo) -> usize {
        let len = msg.len() as u64;
        assert_eq!(info.payload_start, len);
        assert_eq!(info.magic_start + info.header_len, len);
        assert_eq!(span(msg, info.magic_start, MAGIC.len() as u64), MAGIC);
        assert!(msg.ends_with(b"\r\n"));
        let data_len = u64::from(info.header.data_len);
        assert!(data_len <= MAX_DATA_LEN);
        assert_eq!(info.data.len() as u64, data_len);
        if data_len > 0 {
            assert!(info.data_start > info.magic_start);
            assert_eq!(span(msg, info.data_start, data_len), &info.data[..]);
        }
        assert!(info.payload_len <= MAX_PAYLOAD_LEN);
        assert_eq!(info.payload, DmsgPayload::of(&info.header));
        match info.payload {
            DmsgPayload::Sized => {
                let n = rest.len().min(info.payload_len as usize);
                if info.header.ty == DmsgType::GossipSyn && !info.header.is_encrypted() {
                    check_gossip(&rest[..n]);
                }
                n
            }
            // The datastore parser would delimit the payload; leave it to
            // the frame parser, which skips it up to the next magic.
            DmsgPayload::Datastore | DmsgPayload::HeaderOnly => 0,
        }
    }

    fn again(&mut self, _fed: &[u8], info: &DmsgInfo) {
        // `data` is only valid after Done: while the parser scans for the
        // next magic it still holds the previous header's data field.
        assert!(info.data.len() <= self.stream);
        assert!(info.data.len() as u64 <= MAX_DATA_LEN);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, || DnodeTarget {
        p: DmsgParser::new(),
        stream: data.len(),
    });
    check_gossip(data);
});
