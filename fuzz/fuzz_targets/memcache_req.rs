//! `proto::memcache::ReqParser`: pipelined memcached ASCII and meta requests,
//! storage commands with their data blocks, and binary-protocol packets (an
//! input starting with 0x80).

#![no_main]

use dynomite::proto::memcache::{key_ok, McReq, ReqParser};
use dynomite::proto::Parse;
use dynomite_fuzz::{assert_bounded, check, span, Target};
use libfuzzer_sys::fuzz_target;

struct ReqTarget {
    p: ReqParser,
    /// Length of the whole stream.
    stream: usize,
}

/// Keys lie inside `fed`, in order, and are keys memcached would store.
fn check_keys(fed: &[u8], info: &McReq, stream: usize) {
    assert_bounded(
        "keys",
        info.keys.len(),
        info.keys.capacity(),
        fed.len(),
        stream,
    );
    let mut prev_end = 0;
    for k in &info.keys {
        assert!(k.off >= prev_end, "keys {:?}", info.keys);
        let key = span(fed, k.off, u64::from(k.len));
        assert!(key_ok(key), "bad key {key:?}");
        prev_end = k.off + u64::from(k.len);
    }
}

impl Target for ReqTarget {
    type Info = McReq;

    fn parse(&mut self, chunk: &[u8], info: &mut McReq) -> Parse {
        self.p.parse(chunk, info)
    }

    fn done(&mut self, msg: &[u8], _rest: &[u8], info: &McReq) -> usize {
        check_keys(msg, info, self.stream);
        if let Some(text) = info.error {
            assert!(info.keys.is_empty() && info.data.is_none());
            assert!(!text.contains(['\r', '\n']));
        }
        if let Some(bin) = info.bin {
            // A binary packet: its value ends the message.
            assert!(bin.value.0 <= bin.value.1 && bin.value.1 <= msg.len() as u64);
            if info.error.is_none() {
                assert_eq!(bin.value.1, msg.len() as u64, "value does not end the packet");
            }
            return 0;
        }
        if let Some((start, end)) = info.data {
            assert!(info.error.is_none() && info.keys.len() == 1);
            assert_eq!(end - start, u64::from(info.bytes) + 2);
            assert_eq!(end, msg.len() as u64, "data block does not end the message");
            assert!(msg.ends_with(b"\r\n"));
            assert!(start >= info.keys[0].off + u64::from(info.keys[0].len));
            assert_eq!(msg[start as usize - 1], b'\n');
        } else {
            assert!(info.error.is_some() || msg.ends_with(b"\n"));
        }
        0
    }

    fn again(&mut self, fed: &[u8], info: &McReq) {
        check_keys(fed, info, self.stream);
        if let Some((start, _)) = info.data {
            assert!(start <= fed.len() as u64);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, || ReqTarget {
        p: ReqParser::new(),
        stream: data.len(),
    });
});
