//! `proto::memcache::RspParser`: pipelined memcached ASCII replies, retrieval
//! replies with their VALUE blocks.

#![no_main]

use dynomite::proto::memcache::{McRsp, McRspType, RspParser, KEY_MAX_LEN};
use dynomite::proto::Parse;
use dynomite_fuzz::{assert_bounded, check, span, Target};
use libfuzzer_sys::fuzz_target;

struct RspTarget {
    p: RspParser,
    /// Length of the whole stream.
    stream: usize,
}

/// VALUE blocks lie inside `fed`, in order, each key inside its block.
fn check_values(fed: &[u8], info: &McRsp, stream: usize) {
    assert_bounded(
        "values",
        info.values.len(),
        info.values.capacity(),
        fed.len(),
        stream,
    );
    let mut prev_end = 0;
    for v in &info.values {
        assert!(
            v.start >= prev_end && v.start < v.end,
            "values {:?}",
            info.values
        );
        let block = span(fed, v.start, v.end - v.start);
        assert!(block.starts_with(b"VALUE "));
        assert!(block.ends_with(b"\r\n"));
        assert_eq!(v.key.off, v.start + 6);
        let key = span(fed, v.key.off, u64::from(v.key.len));
        assert!(!key.is_empty() && key.len() <= KEY_MAX_LEN);
        assert!(!key.contains(&b' '));
        assert!(v.key.off + u64::from(v.key.len) < v.end);
        prev_end = v.end;
    }
}

impl Target for RspTarget {
    type Info = McRsp;

    fn parse(&mut self, chunk: &[u8], info: &mut McRsp) -> Parse {
        self.p.parse(chunk, info)
    }

    fn done(&mut self, msg: &[u8], _rest: &[u8], info: &McRsp) -> usize {
        assert!(msg.ends_with(b"\r\n"));
        check_values(msg, info, self.stream);
        if !info.values.is_empty() {
            assert!(info.ty == McRspType::Values || info.ty.is_error());
        }
        if info.ty != McRspType::Number {
            assert_eq!(info.number, 0);
        }
        0
    }

    fn again(&mut self, fed: &[u8], info: &McRsp) {
        check_values(fed, info, self.stream);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, || RspTarget {
        p: RspParser::new(),
        stream: data.len(),
    });
});
