//! The node's own RESP requests and the replies they get, for the copies
//! it makes of its own accord (warm-up, read repair, anti-entropy, the
//! other racks' copies of a blocking pop, a transaction's `DYNO_EXEC`
//! wrapper): a request is encoded with its arguments' places (`Msg::req`), a complete
//! reply decoded into a small tree. Pure: fed slices.

use crate::proto::redis::Arg;

/// A reply of the node's own requests, decoded (the few shapes SCAN, DUMP,
/// PTTL, RESTORE and DBSIZE answer with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Value>),
}

/// Decodes one RESP2/RESP3 value of a complete reply (`None` for a shape
/// these requests never get).
pub fn decode(buf: &[u8]) -> Option<Value> {
    fn line(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
        let end = memchr::memmem::find(&buf[pos..], b"\r\n")? + pos;
        Some((&buf[pos..end], end + 2))
    }
    fn num(s: &[u8]) -> Option<i64> {
        std::str::from_utf8(s).ok()?.parse().ok()
    }
    fn value(buf: &[u8], pos: usize, depth: u32) -> Option<(Value, usize)> {
        if depth > 8 {
            return None;
        }
        let ty = *buf.get(pos)?;
        let (l, next) = line(buf, pos + 1)?;
        match ty {
            b'+' => Some((Value::Simple(l.to_vec()), next)),
            b'-' => Some((Value::Error(l.to_vec()), next)),
            b':' => Some((Value::Int(num(l)?), next)),
            b'_' => Some((Value::Bulk(None), next)),
            b'$' => {
                let n = num(l)?;
                if n < 0 {
                    return Some((Value::Bulk(None), next));
                }
                let end = next.checked_add(n as usize)?;
                let data = buf.get(next..end)?.to_vec();
                if buf.get(end..end + 2)? != b"\r\n" {
                    return None;
                }
                Some((Value::Bulk(Some(data)), end + 2))
            }
            b'*' | b'~' | b'>' => {
                let n = num(l)?;
                if n < 0 {
                    return Some((Value::Bulk(None), next));
                }
                let mut items = Vec::with_capacity(n.min(4096) as usize);
                let mut p = next;
                for _ in 0..n {
                    let (v, q) = value(buf, p, depth + 1)?;
                    items.push(v);
                    p = q;
                }
                Some((Value::Array(items), p))
            }
            _ => None,
        }
    }
    value(buf, 0, 0).map(|(v, _)| v)
}

/// A RESP request and its arguments' places, for `Msg::req`.
pub fn encode(args: &[&[u8]]) -> (Vec<u8>, Vec<Arg>) {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    let mut places = Vec::with_capacity(args.len());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        places.push(Arg {
            off: out.len() as u64,
            len: a.len() as u32,
        });
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    (out, places)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_replies_the_copy_gets() {
        assert_eq!(
            decode(b"*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$3\r\nb\r\n\r\n"),
            Some(Value::Array(vec![
                Value::Bulk(Some(b"17".to_vec())),
                Value::Array(vec![
                    Value::Bulk(Some(b"a".to_vec())),
                    Value::Bulk(Some(b"b\r\n".to_vec()))
                ])
            ]))
        );
        assert_eq!(decode(b":-2\r\n"), Some(Value::Int(-2)));
        assert_eq!(decode(b"$-1\r\n"), Some(Value::Bulk(None)));
        assert_eq!(decode(b"_\r\n"), Some(Value::Bulk(None)));
        assert_eq!(decode(b"+OK\r\n"), Some(Value::Simple(b"OK".to_vec())));
        assert_eq!(
            decode(b"-BUSYKEY Target key name already exists.\r\n"),
            Some(Value::Error(
                b"BUSYKEY Target key name already exists.".to_vec()
            ))
        );
        assert_eq!(decode(b"$5\r\nab"), None);
        assert_eq!(decode(b"?"), None);
    }

    #[test]
    fn requests_carry_their_argument_places() {
        let (bytes, args) = encode(&[b"DUMP", b"k\r\n1"]);
        assert_eq!(bytes, b"*2\r\n$4\r\nDUMP\r\n$4\r\nk\r\n1\r\n");
        let k = args[1];
        assert_eq!(
            &bytes[k.off as usize..(k.off + k.len as u64) as usize],
            b"k\r\n1"
        );
    }
}
