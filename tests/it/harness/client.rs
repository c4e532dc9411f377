//! Tiny synchronous test clients with their own one-shot reply readers,
//! deliberately independent of the crate's parsers so that a parser bug
//! cannot hide itself: `Client` speaks RESP (2 and 3), `McClient`
//! memcached's text protocol.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use super::{encode, show, READ_TIMEOUT};

// ---------------------------------------------------------------------------
// RESP test client
// ---------------------------------------------------------------------------

/// Why a reply could not be read.
#[derive(Debug)]
pub enum ReplyError {
    /// The peer closed the connection; `partial` holds unconsumed bytes.
    Eof { partial: Vec<u8> },
    /// Nothing complete arrived within the read timeout.
    Timeout { partial: Vec<u8> },
    /// Bytes that are not RESP.
    Malformed { reason: String, partial: Vec<u8> },
    /// Any other socket error (e.g. connection reset).
    Io(io::Error),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Eof { partial } => {
                write!(f, "connection closed (unconsumed: \"{}\")", show(partial))
            }
            ReplyError::Timeout { partial } => {
                write!(f, "timed out (unconsumed: \"{}\")", show(partial))
            }
            ReplyError::Malformed { reason, partial } => {
                write!(f, "malformed reply: {reason} (\"{}\")", show(partial))
            }
            ReplyError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// A blocking RESP client for tests. Replies are returned as the exact raw
/// bytes of one complete reply, RESP2 or RESP3, with nesting.
pub struct Client {
    stream: TcpStream,
    /// Received bytes; those before `start` were already returned.
    buf: Vec<u8>,
    /// Start of the first byte not yet returned as part of a reply.
    start: usize,
}

impl Client {
    /// Connects to 127.0.0.1:`port`, failing the test on error.
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            start: 0,
        })
    }

    /// Changes the read timeout (the time one read may block).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
    }

    /// A second handle on the socket, e.g. to write from another thread.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone stream")
    }

    /// Writes raw bytes, failing the test on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write of {} bytes failed: {e}", bytes.len()));
    }

    /// Writes raw bytes.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Shuts down the sending side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends one request (array of bulks) and returns its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("no reply to {}: {e}", show(&encode(args))),
        }
    }

    /// Reads exactly one complete reply, failing the test on error.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads exactly one complete reply.
    pub fn try_read_reply(&mut self) -> Result<Vec<u8>, ReplyError> {
        let end = self.parse_value(self.start)?;
        Ok(self.consume(end))
    }

    /// Returns the received bytes from `start` to `end` and moves past them.
    fn consume(&mut self, end: usize) -> Vec<u8> {
        let reply = self.buf[self.start..end].to_vec();
        self.start = end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 1 << 20 {
            // Compact now and then rather than after every reply, so long
            // pipelines stay linear.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        reply
    }

    /// Waits up to `timeout` for the peer to close; true on EOF (or reset),
    /// false if data or nothing arrived. Received bytes are kept.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.set_read_timeout(left);
            match self.fill() {
                Ok(()) => continue,
                Err(ReplyError::Eof { .. }) | Err(ReplyError::Io(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Bytes received but not consumed by a reply yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more bytes into `buf`.
    fn fill(&mut self) -> Result<(), ReplyError> {
        const CHUNK: usize = 256 * 1024;
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    return Err(ReplyError::Eof {
                        partial: self.buf[self.start..].to_vec(),
                    });
                }
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    self.buf.truncate(old);
                    return Err(ReplyError::Timeout {
                        partial: self.buf[self.start..].to_vec(),
                    });
                }
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(ReplyError::Io(e));
                }
            }
        }
    }

    /// Makes sure `buf` holds at least `n` bytes.
    fn ensure(&mut self, n: usize) -> Result<(), ReplyError> {
        if self.buf.capacity() < n {
            self.buf.reserve(n - self.buf.len());
        }
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(())
    }

    /// Index of the CR of the first CRLF at or after `pos`.
    fn line_end(&mut self, pos: usize) -> Result<usize, ReplyError> {
        let mut from = pos;
        loop {
            if let Some(i) = self.buf[from..].windows(2).position(|w| w == b"\r\n") {
                return Ok(from + i);
            }
            from = self.buf.len().saturating_sub(1).max(pos);
            self.fill()?;
        }
    }

    fn malformed(&self, reason: &str) -> ReplyError {
        ReplyError::Malformed {
            reason: reason.to_string(),
            partial: self.buf[self.start..].to_vec(),
        }
    }

    /// Parses a signed decimal header field.
    fn number(&self, bytes_at: (usize, usize)) -> Result<i64, ReplyError> {
        let digits = &self.buf[bytes_at.0..bytes_at.1];
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| self.malformed("bad length or count"))
    }

    /// Parses one value starting at `pos`; returns the index just past it.
    fn parse_value(&mut self, pos: usize) -> Result<usize, ReplyError> {
        self.ensure(pos + 1)?;
        let kind = self.buf[pos];
        let eol = self.line_end(pos)?;
        let head = (pos + 1, eol);
        let next = eol + 2;
        let streamed = &self.buf[head.0..head.1] == b"?";
        match kind {
            // Simple types: the line is the whole value.
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(next),
            // Blob string, blob error, verbatim string.
            b'$' | b'!' | b'=' => {
                if streamed {
                    return self.parse_streamed_string(next);
                }
                let len = self.number(head)?;
                if len < 0 {
                    return if len == -1 && kind == b'$' {
                        Ok(next)
                    } else {
                        Err(self.malformed("negative blob length"))
                    };
                }
                let end = next + len as usize;
                self.ensure(end + 2)?;
                if &self.buf[end..end + 2] != b"\r\n" {
                    return Err(self.malformed("blob not followed by CRLF"));
                }
                Ok(end + 2)
            }
            // Aggregates: array, set, push, map, attribute.
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let per_entry = if kind == b'%' || kind == b'|' { 2 } else { 1 };
                let mut at = next;
                if streamed {
                    loop {
                        self.ensure(at + 1)?;
                        if self.buf[at] == b'.' {
                            let e = self.line_end(at)?;
                            at = e + 2;
                            break;
                        }
                        for _ in 0..per_entry {
                            at = self.parse_value(at)?;
                        }
                    }
                } else {
                    let count = self.number(head)?;
                    if count < -1 || (count == -1 && kind != b'*') {
                        return Err(self.malformed("bad aggregate count"));
                    }
                    for _ in 0..count.max(0) * per_entry {
                        at = self.parse_value(at)?;
                    }
                }
                if kind == b'|' {
                    // An attribute is followed by the value it describes.
                    at = self.parse_value(at)?;
                }
                Ok(at)
            }
            _ => Err(self.malformed("unknown reply type byte")),
        }
    }

    /// Parses the `;<len>` chunks of a streamed string, ending at `;0`.
    fn parse_streamed_string(&mut self, mut at: usize) -> Result<usize, ReplyError> {
        loop {
            self.ensure(at + 1)?;
            if self.buf[at] != b';' {
                return Err(self.malformed("streamed string chunk without ';'"));
            }
            let eol = self.line_end(at)?;
            let len = self.number((at + 1, eol))?;
            if len < 0 {
                return Err(self.malformed("negative chunk length"));
            }
            if len == 0 {
                return Ok(eol + 2);
            }
            let end = eol + 2 + len as usize;
            self.ensure(end + 2)?;
            at = end + 2;
        }
    }
}

// ---------------------------------------------------------------------------
// memcached test client
// ---------------------------------------------------------------------------

/// A blocking memcached text-protocol client for tests, with its own reply
/// reader. One reply is one line (`STORED`, `ERROR`, a number, ...), or the
/// `VALUE` blocks of a retrieval up to and including `END`, or the `STAT`
/// lines of `stats` up to and including `END`; it is returned as raw bytes.
pub struct McClient {
    inner: Client,
}

impl McClient {
    /// Connects to 127.0.0.1:`port`, failing the test on error.
    pub fn connect(port: u16) -> McClient {
        McClient::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<McClient> {
        Ok(McClient {
            inner: Client::try_connect(port)?,
        })
    }

    /// Changes the read timeout (the time one read may block).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.inner.set_read_timeout(timeout);
    }

    /// A second handle on the socket, e.g. to write from another thread.
    pub fn writer(&self) -> TcpStream {
        self.inner.writer()
    }

    /// Writes raw bytes, failing the test on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.inner.send(bytes);
    }

    /// Sends one request (raw bytes, CRLFs included) and returns its reply.
    pub fn cmd(&mut self, request: &[u8]) -> Vec<u8> {
        self.send(request);
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("no reply to \"{}\": {e}", show(request)),
        }
    }

    /// Reads exactly one complete reply, failing the test on error.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads exactly one complete reply.
    pub fn try_read_reply(&mut self) -> Result<Vec<u8>, ReplyError> {
        let c = &mut self.inner;
        let mut at = c.start;
        loop {
            c.ensure(at + 1)?;
            let eol = c.line_end(at)?;
            let line = &c.buf[at..eol];
            if line.starts_with(b"VALUE ") {
                // VALUE <key> <flags> <bytes> [<cas unique>]
                let len = line
                    .split(|&b| b == b' ')
                    .nth(3)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<usize>().ok())
                    .ok_or_else(|| c.malformed("bad VALUE line"))?;
                let end = eol + 2 + len;
                c.ensure(end + 2)?;
                if &c.buf[end..end + 2] != b"\r\n" {
                    return Err(c.malformed("data block not followed by CRLF"));
                }
                at = end + 2;
            } else if line.starts_with(b"VA ") {
                // Meta value: VA <size> <flag>*, its data block, the whole
                // reply.
                let len = line
                    .split(|&b| b == b' ')
                    .nth(1)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<usize>().ok())
                    .ok_or_else(|| c.malformed("bad VA line"))?;
                let end = eol + 2 + len;
                c.ensure(end + 2)?;
                if &c.buf[end..end + 2] != b"\r\n" {
                    return Err(c.malformed("data block not followed by CRLF"));
                }
                at = end + 2;
                break;
            } else if line.starts_with(b"STAT ")
                || line.starts_with(b"ITEM ")
                || line.starts_with(b"PREFIX ")
            {
                at = eol + 2;
            } else {
                // END, or any reply that is a single line.
                at = eol + 2;
                break;
            }
        }
        Ok(c.consume(at))
    }

    /// Waits up to `timeout` for the peer to close; true on EOF (or reset),
    /// false if nothing arrived or the connection stays open. Received bytes
    /// are kept (see `pending`).
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.inner.wait_closed(timeout)
    }

    /// Bytes received but not consumed by a reply yet.
    pub fn pending(&self) -> &[u8] {
        self.inner.pending()
    }
}
