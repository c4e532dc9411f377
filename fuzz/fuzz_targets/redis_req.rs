//! `proto::redis::ReqParser`: pipelined RESP and inline requests, then the
//! command table on each parsed request.

#![no_main]

use std::borrow::Cow;

use dynomite::proto::redis::{
    check_arity, eval_keys, inline_arg, key_indices, lookup, select_db, ReqInfo, ReqParser, Route,
};
use dynomite::proto::Parse;
use dynomite_fuzz::{assert_bounded, check, span, Target};
use libfuzzer_sys::fuzz_target;

/// Command names up to this length are looked up.
const NAME_MAX: usize = 64;

struct ReqTarget {
    p: ReqParser,
    /// Length of the whole stream.
    stream: usize,
}

/// The value of an argument: a bulk string as it is, an inline token decoded.
fn value<'a>(msg: &'a [u8], info: &ReqInfo, k: usize) -> Cow<'a, [u8]> {
    let a = info.args[k];
    let raw = span(msg, a.off, u64::from(a.len));
    if info.inline {
        let v = inline_arg(raw);
        assert!(v.len() <= raw.len());
        v
    } else {
        Cow::Borrowed(raw)
    }
}

/// Arguments lie inside `fed`, in order, without overlapping. A bulk string
/// may still be arriving (only its start is inside), an inline token not.
fn check_args(fed: &[u8], info: &ReqInfo, complete: bool, stream: usize) {
    assert_bounded(
        "args",
        info.args.len(),
        info.args.capacity(),
        fed.len(),
        stream,
    );
    let mut prev_end = 0u64;
    for a in &info.args {
        assert!(a.off >= prev_end, "overlapping args {:?}", info.args);
        assert!(a.off <= fed.len() as u64);
        let end = a.off + u64::from(a.len);
        if info.inline {
            assert!(a.len > 0);
            span(fed, a.off, u64::from(a.len));
        } else if complete {
            // The payload and its two trailer bytes.
            span(fed, a.off, u64::from(a.len) + 2);
        }
        prev_end = end;
    }
}

/// Runs the command table on a complete request.
fn check_command(msg: &[u8], info: &ReqInfo) {
    let n = info.args.len();
    let name = value(msg, info, 0);
    if name.len() > NAME_MAX {
        return;
    }
    let sub = (n > 1).then(|| value(msg, info, 1));
    match lookup(&name, sub.as_deref()) {
        Ok(cmd) => {
            assert!(cmd.route != Route::Unsupported);
            if check_arity(cmd, n) {
                let mut last = 0;
                for k in key_indices(cmd, n) {
                    assert!(k >= 1 && k < n, "key index {k} of {n} args ({})", cmd.name);
                    assert!(k > last);
                    last = k;
                }
                if cmd.route == Route::Eval && n >= 3 {
                    if let Ok(keys) = eval_keys(&value(msg, info, 2), n) {
                        assert!(keys.start == 3 && keys.end <= n);
                    }
                }
            }
            if cmd.name == "select" && n == 2 {
                let _ = select_db(&value(msg, info, 1));
            }
        }
        Err(e) => {
            let rest: Vec<Cow<[u8]>> = (1..n.min(32)).map(|k| value(msg, info, k)).collect();
            let rest: Vec<&[u8]> = rest.iter().map(|v| v.as_ref()).collect();
            let text = e.text(&name, &rest);
            assert!(
                !text.contains(['\r', '\n']),
                "error text with CR/LF: {text:?}"
            );
        }
    }
}

impl Target for ReqTarget {
    type Info = ReqInfo;

    fn parse(&mut self, chunk: &[u8], info: &mut ReqInfo) -> Parse {
        self.p.parse(chunk, info)
    }

    fn done(&mut self, msg: &[u8], _rest: &[u8], info: &ReqInfo) -> usize {
        assert!(!info.args.is_empty());
        check_args(msg, info, true, self.stream);
        if info.inline {
            assert_eq!(msg.last(), Some(&b'\n'));
        }
        check_command(msg, info);
        0
    }

    fn again(&mut self, fed: &[u8], info: &ReqInfo) {
        check_args(fed, info, false, self.stream);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, || ReqTarget {
        p: ReqParser::new(),
        stream: data.len(),
    });
});
