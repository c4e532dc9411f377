//! A test's own end of a peer connection: `RawPeer` speaks frames over a
//! plain TCP stream, on either side (it connects to a node's peer port, or
//! it is the peer a node connects to), and `Frame` is one frame as a node
//! writes it (payload_len exact).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{show, show_n};

/// How long `frame` and `expect` wait.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// One frame as read off a peer connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: u64,
    pub ty: u64,
    pub flags: u64,
    pub same_dc: u64,
    pub data: Vec<u8>,
    pub payload: Vec<u8>,
    /// The whole frame as received.
    pub raw: Vec<u8>,
}

/// Parses the frame at the start of `b` as a node writes it (payload_len
/// exact); `None` until it is complete.
pub fn parse_frame(b: &[u8]) -> Option<Frame> {
    const LEAD: &[u8] = b"   $2014$";
    if b.len() < LEAD.len() {
        return None;
    }
    assert_eq!(&b[..LEAD.len()], LEAD, "frame start: {}", show_n(b, 64));
    let mut p = LEAD.len();
    let num = |p: &mut usize, sep: &[u8]| -> Option<u64> {
        if b.len() < *p + sep.len() {
            return None;
        }
        assert_eq!(&b[*p..*p + sep.len()], sep, "in {}", show_n(b, 64));
        *p += sep.len();
        let start = *p;
        while *p < b.len() && b[*p].is_ascii_digit() {
            *p += 1;
        }
        if *p == b.len() {
            return None;
        }
        std::str::from_utf8(&b[start..*p]).ok()?.parse().ok()
    };
    let id = num(&mut p, b" ")?;
    let ty = num(&mut p, b" ")?;
    let flags = num(&mut p, b" ")?;
    let _version = num(&mut p, b" ")?;
    let same_dc = num(&mut p, b" ")?;
    let data_len = num(&mut p, b" *")? as usize;
    p += 1; // the space before the data
    if b.len() < p + data_len {
        return None;
    }
    let data = b[p..p + data_len].to_vec();
    p += data_len;
    let payload_len = num(&mut p, b" *")? as usize;
    if b.len() < p + 2 + payload_len {
        return None;
    }
    assert_eq!(&b[p..p + 2], b"\r\n");
    p += 2;
    Some(Frame {
        id,
        ty,
        flags,
        same_dc,
        data,
        payload: b[p..p + payload_len].to_vec(),
        raw: b[..p + payload_len].to_vec(),
    })
}

/// A frame header as the original writes it (version 1, same_dc 1).
pub fn header(id: u64, ty: u8, flags: u8, data: &[u8], payload_len: usize) -> Vec<u8> {
    let mut h = format!("   $2014$ {id} {ty} {flags} 1 1 *{} ", data.len()).into_bytes();
    h.extend_from_slice(data);
    h.extend_from_slice(format!(" *{payload_len}\r\n").as_bytes());
    h
}

/// A raw TCP connection speaking frames, on either side.
pub struct RawPeer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawPeer {
    /// Connects to a node's peer port.
    pub fn connect(port: u16) -> RawPeer {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connect to peer port {port}: {e}"));
        RawPeer::from_stream(stream)
    }

    /// Takes a connection a node opened to the test's listener.
    pub fn from_stream(stream: TcpStream) -> RawPeer {
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        RawPeer {
            stream,
            buf: Vec::new(),
        }
    }

    /// Bytes received and not read as a frame yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write {}: {e}", show_n(bytes, 200)));
    }

    /// Reads until `pred(buf)` or `timeout`; false on timeout. Panics when
    /// the node closes the connection or on an error.
    pub fn read_until(&mut self, timeout: Duration, pred: impl Fn(&[u8]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = vec![0u8; 256 * 1024];
        while !pred(&self.buf) {
            if Instant::now() >= deadline {
                return false;
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "the node closed the connection (received so far: {})",
                    show_n(&self.buf, 200)
                ),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e} (received so far: {})", show_n(&self.buf, 200)),
            }
        }
        true
    }

    /// Expects exactly `want` as the next bytes.
    pub fn expect(&mut self, want: &[u8]) {
        let n = want.len();
        self.read_until(FRAME_TIMEOUT, |b| b.len() >= n);
        let got: Vec<u8> = self.buf.drain(..self.buf.len().min(n)).collect();
        assert_eq!(
            show(&got),
            show(want),
            "reply frame (bytes after it: \"{}\")",
            show(&self.buf)
        );
    }

    /// The next frame, or `None` when none is complete within `timeout`.
    pub fn try_frame(&mut self, timeout: Duration) -> Option<Frame> {
        if !self.read_until(timeout, |b| parse_frame(b).is_some()) {
            return None;
        }
        let f = parse_frame(&self.buf).expect("complete");
        self.buf.drain(..f.raw.len());
        Some(f)
    }

    /// The next frame (panics after `FRAME_TIMEOUT`).
    pub fn frame(&mut self) -> Frame {
        self.try_frame(FRAME_TIMEOUT)
            .unwrap_or_else(|| panic!("no frame (received: {})", show_n(&self.buf, 200)))
    }

    /// True when the node closes the connection within `timeout`, having
    /// sent nothing more.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read: {e}"),
            }
        }
    }
}
