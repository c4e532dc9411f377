//! `proto::redis::RspParser`: pipelined RESP2/RESP3 replies, with and without
//! recording the top-level elements; both must frame the stream alike.

#![no_main]

use dynomite::proto::redis::{RspInfo, RspParser};
use dynomite::proto::Parse;
use dynomite_fuzz::{assert_bounded, check, span, Target};
use libfuzzer_sys::fuzz_target;

struct RspTarget {
    p: RspParser,
    record: bool,
    /// Length of the whole stream.
    stream: usize,
}

/// Type bytes a value may start with (`|` an attribute in front of one).
const TYPES: &[u8] = b"+-:$*%~_,#!=(>|";

/// Recorded elements lie inside `fed`, in order, without overlapping.
fn check_elems(fed: &[u8], info: &RspInfo, record: bool, stream: usize) {
    if !record {
        assert!(info.elems.is_empty());
        return;
    }
    assert_bounded(
        "elems",
        info.elems.len(),
        info.elems.capacity(),
        fed.len(),
        stream,
    );
    let mut prev_end = 0;
    for &(start, end) in &info.elems {
        assert!(start >= prev_end && start < end, "elems {:?}", info.elems);
        let e = span(fed, start, end - start);
        assert!(TYPES.contains(&e[0]));
        assert!(e.ends_with(b"\r\n"));
        prev_end = end;
    }
}

impl Target for RspTarget {
    type Info = RspInfo;

    fn parse(&mut self, chunk: &[u8], info: &mut RspInfo) -> Parse {
        info.record_elems = self.record;
        self.p.parse(chunk, info)
    }

    fn done(&mut self, msg: &[u8], _rest: &[u8], info: &RspInfo) -> usize {
        assert!(msg.ends_with(b"\r\n"));
        assert!(
            TYPES.contains(&info.ty) && info.ty != b'|',
            "type {}",
            info.ty
        );
        check_elems(msg, info, self.record, self.stream);
        if self.record {
            let want = match info.ty {
                b'*' | b'~' | b'>' => info.count.max(0),
                b'%' => 2 * info.count.max(0),
                _ => 0,
            };
            assert_eq!(info.elems.len() as i64, want, "{:?}", info);
        }
        if info.ty != b':' {
            assert_eq!(info.integer, 0);
        }
        0
    }

    fn again(&mut self, fed: &[u8], info: &RspInfo) {
        check_elems(fed, info, self.record, self.stream);
    }
}

fuzz_target!(|data: &[u8]| {
    let make = |record| {
        move || RspTarget {
            p: RspParser::new(),
            record,
            stream: data.len(),
        }
    };
    let with = check(data, make(true));
    let without = check(data, make(false));
    // Recording changes what is learned, never where messages end.
    assert_eq!(with.err, without.err);
    assert_eq!(with.msgs.len(), without.msgs.len());
    for ((end_w, w), (end_o, o)) in with.msgs.iter().zip(&without.msgs) {
        assert_eq!(end_w, end_o);
        assert_eq!((w.ty, w.integer, w.count), (o.ty, o.integer, o.count));
    }
});
