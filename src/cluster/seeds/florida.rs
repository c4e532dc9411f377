//! The Florida provider (seedsprovider/dyn_florida.c, spec §1.4): an HTTP
//! GET of the record list from a small service beside the node.
//!
//! The original's variable `DYNOMITE_FLORIDA_REQUEST` holds the whole
//! request, headers included, so the request is sent as written; the answer
//! is read until the server closes (or up to [`MAX_ANSWER`]) and parsed by
//! `httparse`. A status other than 200 or an empty body is a failed query.
//! A `Content-Length` shorter than what arrived cuts the body; a chunked
//! answer is decoded.
//!
//! Runs on the provider thread: the connect, write and read block it, each
//! bounded by [`TIMEOUT`], never the event loop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Default request (spec §1.4).
pub const DEFAULT_REQUEST: &str =
    "GET /REST/v1/admin/get_seeds HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: HTMLGET 1.0\r\n\r\n";

/// Bound on each of connect, write and read.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Largest answer read (a record is under 300 bytes: this is thousands).
pub const MAX_ANSWER: usize = 4 << 20;

/// Where and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Florida {
    pub host: String,
    pub port: u16,
    pub request: String,
}

impl Florida {
    /// `DYNOMITE_FLORIDA_IP` (default 127.0.0.1), `DYNOMITE_FLORIDA_PORT`
    /// (default 8080), `DYNOMITE_FLORIDA_REQUEST` (default
    /// [`DEFAULT_REQUEST`]).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Florida, String> {
        let host = env("DYNOMITE_FLORIDA_IP").unwrap_or_else(|| "127.0.0.1".into());
        let port = match env("DYNOMITE_FLORIDA_PORT") {
            None => 8080,
            Some(p) => p
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| format!("DYNOMITE_FLORIDA_PORT: '{p}' is not a port"))?,
        };
        let request = env("DYNOMITE_FLORIDA_REQUEST").unwrap_or_else(|| DEFAULT_REQUEST.into());
        Ok(Florida {
            host,
            port,
            request,
        })
    }

    /// One GET: the body, or why not.
    pub fn query(&self) -> Result<String, String> {
        let addr: SocketAddr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{} has no address", self.host))?;
        let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        s.set_read_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        s.set_write_timeout(Some(TIMEOUT))
            .map_err(|e| e.to_string())?;
        s.write_all(self.request.as_bytes())
            .map_err(|e| format!("request to {addr}: {e}"))?;
        let mut answer = Vec::new();
        s.take(MAX_ANSWER as u64)
            .read_to_end(&mut answer)
            .map_err(|e| format!("answer from {addr}: {e}"))?;
        body_of(&answer).map_err(|e| format!("answer from {addr}: {e}"))
    }
}

/// The body of a complete HTTP answer, which must be a 200 with a non-empty
/// body.
pub fn body_of(answer: &[u8]) -> Result<String, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut rsp = httparse::Response::new(&mut headers);
    let head_len = match rsp.parse(answer) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err("incomplete HTTP header".into()),
        Err(e) => return Err(format!("malformed HTTP answer ({e})")),
    };
    if rsp.code != Some(200) {
        return Err(format!(
            "status {} {}",
            rsp.code.unwrap_or(0),
            rsp.reason.unwrap_or("")
        ));
    }
    let header = |name: &str| {
        rsp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    let mut body = answer[head_len..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        body = unchunk(&body)?;
    } else if let Some(n) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(n);
    }
    let body = String::from_utf8(body).map_err(|_| "body is not UTF-8 text".to_string())?;
    if body.trim().is_empty() {
        return Err("empty body".into());
    }
    Ok(body)
}

/// Decodes a chunked body.
fn unchunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete((start, 0))) => {
                let _ = start;
                return Ok(out);
            }
            Ok(httparse::Status::Complete((start, len))) => {
                let len = usize::try_from(len).map_err(|_| "chunk too large".to_string())?;
                let end = start
                    .checked_add(len)
                    .filter(|&e| e <= data.len())
                    .ok_or("truncated chunk")?;
                out.extend_from_slice(&data[start..end]);
                data = data[end..].strip_prefix(b"\r\n").ok_or("bad chunk end")?;
            }
            Ok(httparse::Status::Partial) => return Err("truncated chunked body".into()),
            Err(_) => return Err("bad chunk size".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_and_variables() {
        let f = Florida::from_env(&env_of(&[])).unwrap();
        assert_eq!((f.host.as_str(), f.port), ("127.0.0.1", 8080));
        assert_eq!(f.request, DEFAULT_REQUEST);
        let f = Florida::from_env(&env_of(&[
            ("DYNOMITE_FLORIDA_IP", "10.0.0.1"),
            ("DYNOMITE_FLORIDA_PORT", "9090"),
            ("DYNOMITE_FLORIDA_REQUEST", "GET /seeds HTTP/1.0\r\n\r\n"),
        ]))
        .unwrap();
        assert_eq!((f.host.as_str(), f.port), ("10.0.0.1", 9090));
        assert_eq!(f.request, "GET /seeds HTTP/1.0\r\n\r\n");
        let e = Florida::from_env(&env_of(&[("DYNOMITE_FLORIDA_PORT", "http")])).unwrap_err();
        assert!(e.contains("DYNOMITE_FLORIDA_PORT"), "{e}");
    }

    #[test]
    fn bodies() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\na:1:r:d:1|b:1:r:d:2";
        assert_eq!(body_of(ok).unwrap(), "a:1:r:d:1|b:1:r:d:2");
        let sized = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\na:1:r:d:1garbage";
        assert_eq!(body_of(sized).unwrap(), "a:1:r:d:1");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na:1:\r\n5\r\nr:d:1\r\n0\r\n\r\n";
        assert_eq!(body_of(chunked).unwrap(), "a:1:r:d:1");
        for (bad, why) in [
            (&b"HTTP/1.0 404 Not Found\r\n\r\nnope"[..], "status 404"),
            (&b"HTTP/1.0 200 OK\r\n\r\n \r\n"[..], "empty body"),
            (&b"HTTP/1.0 200 OK\r\nX: y"[..], "incomplete"),
            (&b"garbage\r\n\r\n"[..], "malformed"),
        ] {
            let e = body_of(bad).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn a_refused_connection_is_a_failed_query() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let f = Florida {
            host: "127.0.0.1".into(),
            port,
            request: DEFAULT_REQUEST.into(),
        };
        assert!(f.query().unwrap_err().contains("connect"));
    }
}
