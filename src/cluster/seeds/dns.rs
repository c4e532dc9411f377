//! The DNS provider (seedsprovider/dyn_dns.c, spec §1.5): the record list
//! from TXT records, or nodes from A records.
//!
//! * TXT (`DYNOMITE_DNS_TYPE` unset or `TXT`): every string of every TXT
//!   answer record of `DYNOMITE_DNS_NAME` is a record list; they are joined.
//!   A list longer than one string (255 bytes) is split at a `|` into
//!   several strings or records.
//! * A (`DYNOMITE_DNS_TYPE=A`): one node per pod name of the convention in
//!   [`super::placement`]; a name without an answer (a pod not scheduled or
//!   not ready) is skipped this round.
//!
//! Messages are built and parsed by `hickory-proto`; they go over UDP to
//! `DYNOMITE_DNS_SERVER` (`ip` or `ip:port`), else to the first `nameserver`
//! of /etc/resolv.conf, and over TCP when the answer is truncated. Runs on
//! the provider thread; every exchange is bounded by [`TIMEOUT`].

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

use super::placement::{Convention, Here};

/// Default `DYNOMITE_DNS_NAME` (spec §1.5).
pub const DEFAULT_NAME: &str = "_dynomite.ec2-internal";

/// Bound on one exchange.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// What to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Txt,
    A(Convention),
}

/// Where and what to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dns {
    pub server: SocketAddr,
    pub name: String,
    pub kind: Kind,
    pub here: Here,
}

impl Dns {
    /// `DYNOMITE_DNS_NAME`, `DYNOMITE_DNS_TYPE`, `DYNOMITE_DNS_SERVER` and,
    /// for A records, the convention's variables.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, here: Here) -> Result<Dns, String> {
        let name = env("DYNOMITE_DNS_NAME").unwrap_or_else(|| DEFAULT_NAME.into());
        Name::from_ascii(&name).map_err(|e| format!("DYNOMITE_DNS_NAME: '{name}': {e}"))?;
        let kind = match env("DYNOMITE_DNS_TYPE") {
            None => Kind::Txt,
            Some(t) if t.trim().eq_ignore_ascii_case("TXT") => Kind::Txt,
            Some(t) if t.trim().eq_ignore_ascii_case("A") => {
                Kind::A(Convention::from_env(env, name.clone())?)
            }
            Some(t) => return Err(format!("DYNOMITE_DNS_TYPE: '{t}' is not TXT or A")),
        };
        let server = match env("DYNOMITE_DNS_SERVER") {
            Some(s) => parse_server(&s)
                .ok_or_else(|| format!("DYNOMITE_DNS_SERVER: '{s}' is not an ip or ip:port"))?,
            None => system_server(),
        };
        Ok(Dns {
            server,
            name,
            kind,
            here,
        })
    }

    /// One round of queries: the record list as text.
    pub fn query(&self) -> Result<String, String> {
        match &self.kind {
            Kind::Txt => {
                let rsp = exchange(self.server, &self.name, RecordType::TXT)?;
                let mut lists = Vec::new();
                for rec in &rsp.answers {
                    if let RData::TXT(txt) = &rec.data {
                        for s in txt.txt_data.iter() {
                            lists.push(String::from_utf8_lossy(s).trim().to_string());
                        }
                    }
                }
                lists.retain(|l| !l.is_empty());
                if lists.is_empty() {
                    return Err(format!("no TXT record for {}", self.name));
                }
                Ok(lists.join("|"))
            }
            Kind::A(conv) => {
                let mut records = Vec::new();
                let mut last_err = None;
                for i in 0..conv.nodes {
                    let name = conv.pod_name(i);
                    match exchange(self.server, &name, RecordType::A) {
                        Ok(rsp) => {
                            let ip = rsp.answers.iter().find_map(|r| match &r.data {
                                RData::A(a) => Some(a.0),
                                _ => None,
                            });
                            if let Some(ip) = ip {
                                records.push(conv.record(i, ip, &self.here));
                            }
                        }
                        Err(e) => last_err = Some(e),
                    }
                }
                if records.is_empty() {
                    return Err(last_err.unwrap_or_else(|| {
                        format!("no A record for any of {} pod name(s)", conv.nodes)
                    }));
                }
                Ok(records.join("|"))
            }
        }
    }
}

/// `ip` or `ip:port` (port 53 by default).
fn parse_server(s: &str) -> Option<SocketAddr> {
    let s = s.trim();
    s.parse::<SocketAddr>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53)))
}

/// The first `nameserver` of /etc/resolv.conf, else 127.0.0.1:53.
fn system_server() -> SocketAddr {
    std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("nameserver"))
                    .then(|| w.next().and_then(parse_server))
                    .flatten()
            })
        })
        .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53))
}

/// One question to `server`: the answer message when its code is NOERROR
/// (an empty answer for NXDOMAIN, a name that does not exist yet).
pub fn exchange(server: SocketAddr, name: &str, ty: RecordType) -> Result<Message, String> {
    let qname = Name::from_ascii(name).map_err(|e| format!("'{name}': {e}"))?;
    let mut q = Message::query();
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(qname, ty));
    let wire = q.to_vec().map_err(|e| format!("query for {name}: {e}"))?;
    let id = q.metadata.id;
    let mut rsp = udp_exchange(server, &wire, id)?;
    if rsp.metadata.truncation {
        rsp = tcp_exchange(server, &wire, id)?;
    }
    match rsp.metadata.response_code {
        ResponseCode::NoError => Ok(rsp),
        ResponseCode::NXDomain => {
            let mut empty = rsp;
            empty.answers.clear();
            Ok(empty)
        }
        code => Err(format!("{ty} {name}: server {server} answered {code}")),
    }
}

/// Parses an answer to query `id`.
fn answer(bytes: &[u8], id: u16, server: SocketAddr) -> Result<Option<Message>, String> {
    let m = Message::from_vec(bytes).map_err(|e| format!("bad answer from {server}: {e}"))?;
    if m.metadata.id != id || m.metadata.message_type != MessageType::Response {
        return Ok(None);
    }
    Ok(Some(m))
}

fn udp_exchange(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(local).map_err(|e| format!("udp socket: {e}"))?;
    sock.connect(server)
        .map_err(|e| format!("udp to {server}: {e}"))?;
    sock.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65535];
    // One retry: a lost datagram is not a failed poll.
    for _ in 0..2 {
        sock.send(wire)
            .map_err(|e| format!("udp to {server}: {e}"))?;
        loop {
            match sock.recv(&mut buf) {
                Ok(n) => {
                    if let Some(m) = answer(&buf[..n], id, server)? {
                        return Ok(m);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(format!("udp from {server}: {e}")),
            }
        }
    }
    Err(format!("no answer from {server}"))
}

fn tcp_exchange(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let io = |e: std::io::Error| format!("tcp to {server}: {e}");
    let mut s = TcpStream::connect_timeout(&server, TIMEOUT).map_err(io)?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(io)?;
    s.set_write_timeout(Some(TIMEOUT)).map_err(io)?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    s.write_all(&framed).map_err(io)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(io)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).map_err(io)?;
    answer(&buf, id, server)?.ok_or_else(|| format!("mismatched answer from {server}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> Here {
        Here {
            dc: "dc1".into(),
            port: 8101,
        }
    }

    #[test]
    fn variables() {
        let env = |k: &str| match k {
            "DYNOMITE_DNS_SERVER" => Some("127.0.0.1:5353".to_string()),
            _ => None,
        };
        let d = Dns::from_env(&env, here()).unwrap();
        assert_eq!(d.name, DEFAULT_NAME);
        assert_eq!(d.kind, Kind::Txt);
        assert_eq!(d.server, "127.0.0.1:5353".parse().unwrap());
        let env = |k: &str| match k {
            "DYNOMITE_DNS_SERVER" => Some("10.0.0.2".to_string()),
            "DYNOMITE_DNS_TYPE" => Some("MX".to_string()),
            _ => None,
        };
        assert!(Dns::from_env(&env, here())
            .unwrap_err()
            .contains("TXT or A"));
        let env = |k: &str| match k {
            "DYNOMITE_DNS_SERVER" => Some("dns.example".to_string()),
            _ => None,
        };
        assert!(Dns::from_env(&env, here())
            .unwrap_err()
            .contains("DYNOMITE_DNS_SERVER"));
        assert_eq!(
            parse_server("10.0.0.2"),
            Some("10.0.0.2:53".parse().unwrap())
        );
    }

    #[test]
    fn no_server_is_a_failed_query() {
        // A UDP port nobody listens on: refused or silent, never a hang.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = s.local_addr().unwrap();
        drop(s);
        assert!(exchange(addr, "x.example", RecordType::TXT).is_err());
    }
}
