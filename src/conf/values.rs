//! Value parsers of the configuration (the `conf_set_*` helpers and
//! `conf_add_server`/`conf_add_dyn_server` of dyn_conf.c): `host:port`,
//! `host:port:weight [name]` and `host:port:rack:dc:tokens [name]` entries,
//! token lists, integers (timeouts and intervals in milliseconds, counts),
//! booleans, ports and Unix socket paths, with the limits they are held to.
//!
//! Each parser returns the reason text of a [`ConfError`]; the directive
//! that called it adds the file and the key.

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use super::directives::DEFAULT_CONNECTIONS;
#[cfg(doc)]
use super::types::ConfError;
use super::types::{Endpoint, SeedConf, ServerConf};

/// Smallest accepted `mbuf_size:` (also `-m`).
pub const MBUF_MIN_SIZE: usize = 512;
/// Largest accepted `mbuf_size:` (also `-m`).
pub const MBUF_MAX_SIZE: usize = 512_000;
/// Smallest accepted `max_msgs:` (also `-M`).
pub const MIN_ALLOC_MSGS: usize = 100_000;
/// Largest accepted `max_msgs:` (also `-M`).
pub const MAX_ALLOC_MSGS: usize = 1_000_000;
/// Largest value of an integer key (the original stores them in a C `int`).
pub const INT_MAX: u64 = i32::MAX as u64;
/// Longest Unix-domain socket path (`sun_path` less its NUL on Linux).
pub const UNIX_PATH_MAX: usize = 107;

const _: () = assert!(MBUF_MIN_SIZE <= MBUF_MAX_SIZE);
const _: () = assert!(MBUF_MIN_SIZE.is_multiple_of(16));
const _: () = assert!(MIN_ALLOC_MSGS <= MAX_ALLOC_MSGS);

/// Reason for a malformed `servers:` entry (the original's text, verbatim).
pub(super) const SERVER_FORMAT: &str =
    "has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string";
/// Reason for a bad port in a `servers:` or `dyn_seeds:` entry.
pub(super) const SERVER_PORT: &str =
    "has an invalid port in \"hostname:port:weight [name]\" format string";
/// Reason for a malformed `dyn_seeds:` entry.
pub(super) const SEED_FORMAT: &str =
    "has an invalid format must match \"hostname:port:rack:dc:tokens [name]\"";
/// Reason for a listen address without a `:`.
pub(super) const LISTEN_FORMAT: &str = "has an invalid \"hostname:port\" format string";
/// Reason for a bad port in a listen address.
pub(super) const LISTEN_PORT: &str = "has an invalid port in \"hostname:port\" format string";

impl Endpoint {
    /// Parses a listen address (`listen:`, `dyn_listen:`, `stats_listen:`):
    /// `/unix/path`, `host:port` (split at the last `:`, so `::1:8102` works)
    /// or `[v6addr]:port`. The host is resolved now. The error is the reason
    /// text of a [`ConfError`].
    pub fn parse_listen(value: &str) -> Result<Endpoint, String> {
        if value.starts_with('/') {
            return unix_endpoint(value);
        }
        let (host, port) = split_host_port(value).ok_or_else(|| LISTEN_FORMAT.to_string())?;
        let port = parse_port(port).ok_or_else(|| LISTEN_PORT.to_string())?;
        tcp_endpoint(host, port)
    }
}

impl ServerConf {
    /// Parses one `servers:` entry from the right: an optional ` name` after
    /// the last space, the weight after the last `:`, then the port (TCP form
    /// only), the rest is the host (resolved now) or the socket path.
    pub fn parse(value: &str) -> Result<ServerConf, String> {
        let (body, name) = split_name(value).ok_or_else(|| SERVER_FORMAT.to_string())?;
        let (addr, weight) = body
            .rsplit_once(':')
            .ok_or_else(|| SERVER_FORMAT.to_string())?;
        if weight.is_empty() || addr.is_empty() {
            return Err(SERVER_FORMAT.to_string());
        }
        let (endpoint, default_name) = if addr.starts_with('/') {
            (unix_endpoint(addr)?, addr.to_string())
        } else {
            let (host, port) = split_host_port(addr).ok_or_else(|| SERVER_FORMAT.to_string())?;
            let port = parse_port(port).ok_or_else(|| SERVER_PORT.to_string())?;
            let name = if port == 11211 {
                host.to_string()
            } else {
                format!("{host}:{port}")
            };
            (tcp_endpoint(host, port)?, name)
        };
        Ok(ServerConf {
            endpoint,
            name: name.map(str::to_string).unwrap_or(default_name),
            weight: weight.to_string(),
        })
    }
}

impl SeedConf {
    /// Parses one seed string, as written in `dyn_seeds:` or returned by a
    /// seed provider. Parsed from the right (tokens, dc, rack, port); the rest
    /// is the host, which may contain `:` or be bracketed. The host is not
    /// resolved here: peers may not be resolvable yet when a node starts.
    pub fn parse(value: &str) -> Result<SeedConf, String> {
        let (body, name) = split_name(value).ok_or_else(|| SEED_FORMAT.to_string())?;
        let mut parts = body.rsplitn(5, ':');
        let tokens = parts.next().unwrap_or("");
        let dc = parts.next().unwrap_or("");
        let rack = parts.next().unwrap_or("");
        let port = parts.next();
        let host = parts.next().unwrap_or("");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if tokens.is_empty() || dc.is_empty() || rack.is_empty() || host.is_empty() {
            return Err(SEED_FORMAT.to_string());
        }
        let port = parse_port(port.unwrap_or("")).ok_or_else(|| SERVER_PORT.to_string())?;
        let tokens = parse_tokens(tokens)?;
        Ok(SeedConf {
            host: host.to_string(),
            port,
            rack: rack.to_string(),
            dc: dc.to_string(),
            tokens,
            name: name.unwrap_or(host).to_string(),
        })
    }
}

/// Parses a token list: unsigned decimal numbers in `0..=4294967295`
/// separated by commas, no spaces, at least one (the ring's own rule,
/// `hashkit::token::parse_tokens`). The error is the reason text of a
/// [`ConfError`].
pub fn parse_tokens(value: &str) -> Result<Vec<u32>, String> {
    crate::hashkit::token::parse_tokens(value).map_err(|why| {
        format!(
            "has an invalid token list \"{value}\" ({why}): tokens are decimal numbers \
             between 0 and 4294967295 separated by commas"
        )
    })
}

pub(super) fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len()
        && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Decimal digits only, at most `INT_MAX`.
pub(super) fn parse_int(v: &str) -> Result<u64, String> {
    if !is_digits(v) {
        return Err("is not a number".into());
    }
    match v.parse::<u64>() {
        Ok(n) if n <= INT_MAX => Ok(n),
        _ => Err(format!("is too large (the largest value is {INT_MAX})")),
    }
}

/// An int key where `0` selects the default.
pub(super) fn int_or(v: &str, default: u64) -> Result<u64, String> {
    Ok(match parse_int(v)? {
        0 => default,
        n => n,
    })
}

/// An 8-bit key: 1..=255, `0` selects the default (1).
pub(super) fn u8_value(v: &str) -> Result<u32, String> {
    match parse_int(v)? {
        0 => Ok(DEFAULT_CONNECTIONS),
        n if n <= 255 => Ok(n as u32),
        _ => Err("must be between 1 and 255 (0 selects the default 1)".into()),
    }
}

pub(super) fn mbuf_size_value(v: &str) -> Result<Option<usize>, String> {
    let n = parse_int(v)? as usize;
    if n == 0 {
        return Ok(None);
    }
    if !(MBUF_MIN_SIZE..=MBUF_MAX_SIZE).contains(&n) {
        return Err(format!(
            "is invalid: mbuf chunk size must be between {MBUF_MIN_SIZE} and {MBUF_MAX_SIZE} bytes"
        ));
    }
    if !n.is_multiple_of(16) {
        return Err("is invalid: mbuf size must be a multiple of 16".into());
    }
    Ok(Some(n))
}

pub(super) fn max_msgs_value(v: &str) -> Result<Option<usize>, String> {
    let n = parse_int(v)? as usize;
    if n == 0 {
        return Ok(None);
    }
    if !(MIN_ALLOC_MSGS..=MAX_ALLOC_MSGS).contains(&n) {
        return Err(format!(
            "is invalid: max allocated messages buffer must be between {MIN_ALLOC_MSGS} and \
             {MAX_ALLOC_MSGS} messages"
        ));
    }
    Ok(Some(n))
}

pub(super) fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("is not \"true\" or \"false\"".into()),
    }
}

/// Decimal port 1..=65535.
fn parse_port(v: &str) -> Option<u16> {
    if !is_digits(v) || v.len() > 5 {
        return None;
    }
    v.parse::<u16>().ok().filter(|p| *p != 0)
}

/// `[v6]:port` or `host:port` split at the last `:`; `None` when malformed.
fn split_host_port(v: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = v.strip_prefix('[') {
        let (host, rest) = rest.split_once(']')?;
        (host, rest.strip_prefix(':')?)
    } else {
        v.rsplit_once(':')?
    };
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

/// Splits an optional ` name` off after the last space; `None` when the name
/// or the rest is empty.
fn split_name(v: &str) -> Option<(&str, Option<&str>)> {
    match v.rsplit_once(' ') {
        None => Some((v, None)),
        Some((body, name)) => {
            let body = body.trim_end();
            if body.is_empty() || name.is_empty() {
                None
            } else {
                Some((body, Some(name)))
            }
        }
    }
}

fn unix_endpoint(path: &str) -> Result<Endpoint, String> {
    debug_assert!(path.starts_with('/'));
    if path.len() > UNIX_PATH_MAX {
        return Err(format!(
            "has an invalid unix socket path: longer than {UNIX_PATH_MAX} bytes"
        ));
    }
    Ok(Endpoint::Unix(PathBuf::from(path)))
}

fn tcp_endpoint(host: &str, port: u16) -> Result<Endpoint, String> {
    let resolved = (host, port).to_socket_addrs().map(|mut addrs| addrs.next());
    match resolved {
        Ok(Some(addr)) => Ok(Endpoint::Tcp {
            host: host.to_string(),
            port,
            addr,
        }),
        Ok(None) => Err(format!(
            "has an invalid value: host \"{host}\" has no address"
        )),
        Err(err) => Err(format!(
            "has an invalid value: cannot resolve host \"{host}\": {err}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conf::testing::{err, ok, with};

    fn servers_conf(entries: &[&str]) -> String {
        let mut text = String::from("dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n");
        for entry in entries {
            text.push_str(&format!("  - {entry}\n"));
        }
        text
    }

    #[test]
    fn server_entries_and_display_names() {
        let table: &[(&str, &str, &str, &str)] = &[
            // entry, endpoint text, display name, weight
            ("127.0.0.1:6379:1", "127.0.0.1:6379", "127.0.0.1:6379", "1"),
            ("127.0.0.1:11211:1", "127.0.0.1:11211", "127.0.0.1", "1"),
            ("127.0.0.1:6379:1 redis-a", "127.0.0.1:6379", "redis-a", "1"),
            (
                "localhost:6379:any",
                "localhost:6379",
                "localhost:6379",
                "any",
            ),
            ("::1:6379:1", "::1:6379", "::1:6379", "1"),
            ("'[::1]:6379:1'", "::1:6379", "::1:6379", "1"),
            (
                "/tmp/redis.sock:1",
                "/tmp/redis.sock",
                "/tmp/redis.sock",
                "1",
            ),
            ("/tmp/redis.sock:1 local", "/tmp/redis.sock", "local", "1"),
        ];
        for (entry, endpoint, name, weight) in table {
            let conf = ok(&servers_conf(&[entry]));
            let s = &conf.pool.servers[0];
            assert_eq!(s.endpoint.to_string(), *endpoint, "{entry}");
            assert_eq!(s.name, *name, "{entry}");
            assert_eq!(s.weight, *weight, "{entry}");
        }
        let conf = ok(&servers_conf(&[
            "127.0.0.1:6379:1",
            "127.0.0.1:6380:1",
            "/tmp/r.sock:1",
        ]));
        let names: Vec<&str> = conf.pool.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["127.0.0.1:6379", "127.0.0.1:6380", "/tmp/r.sock"]);
        assert!(conf.pool.servers[2].endpoint.is_unix());
        assert_eq!(
            conf.pool.servers[0].endpoint.socket_addr(),
            Some("127.0.0.1:6379".parse().unwrap())
        );

        let bad: &[(&str, &str)] = &[
            ("127.0.0.1:6379", SERVER_FORMAT),
            ("127.0.0.1", SERVER_FORMAT),
            ("'127.0.0.1:6379:'", SERVER_FORMAT),
            (":6379:1", SERVER_FORMAT),
            ("'127.0.0.1:6379:1 '", SERVER_FORMAT),
            ("127.0.0.1:99999:1", SERVER_PORT),
            ("127.0.0.1:http:1", SERVER_PORT),
            ("'[::1:6379:1'", SERVER_FORMAT),
            ("nosuchhost.invalid:6379:1", "has an invalid value"),
        ];
        for (entry, reason) in bad {
            let e = err(&servers_conf(&[entry]));
            assert_eq!(e.key.as_deref(), Some("servers"), "{entry}");
            assert!(e.reason.starts_with(reason), "{entry}: {}", e.reason);
        }
        let long = format!("/{}:1", "s".repeat(UNIX_PATH_MAX));
        let e = err(&servers_conf(&[&long]));
        assert!(e.reason.contains("longer than 107 bytes"), "{e}");
    }

    #[test]
    fn seed_entries() {
        let s = SeedConf::parse("127.0.0.2:8101:rack2:dc:1,2 seed-b").unwrap();
        assert_eq!(
            s,
            SeedConf {
                host: "127.0.0.2".into(),
                port: 8101,
                rack: "rack2".into(),
                dc: "dc".into(),
                tokens: vec![1, 2],
                name: "seed-b".into()
            }
        );
        let s = SeedConf::parse("::1:8101:r:d:5").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.name.as_str()),
            ("::1", 8101, "::1")
        );
        let s = SeedConf::parse("[fe80::1]:8101:r:d:5").unwrap();
        assert_eq!(s.host, "fe80::1");
        // Seed hosts are not resolved at load time.
        let s = SeedConf::parse("dynomite-3.example:8101:r:d:5").unwrap();
        assert_eq!(s.host, "dynomite-3.example");
        let conf = ok(&with(
            "  dyn_seeds:\n  - 127.0.0.2:8101:rack2:dc:1\n  - 127.0.0.3:8101:rack3:dc:2\n",
        ));
        let hosts: Vec<&str> = conf
            .pool
            .dyn_seeds
            .iter()
            .map(|s| s.host.as_str())
            .collect();
        assert_eq!(hosts, ["127.0.0.2", "127.0.0.3"]);
    }

    #[test]
    fn listen_addresses() {
        let table: &[(&str, &str)] = &[
            ("127.0.0.1:8102", "127.0.0.1:8102"),
            ("0.0.0.0:8102", "0.0.0.0:8102"),
            ("localhost:8102", "localhost:8102"),
            ("::1:8102", "::1:8102"),
            ("[::1]:8102", "::1:8102"),
            ("/var/run/dynomite.sock", "/var/run/dynomite.sock"),
        ];
        for (text, shown) in table {
            let e = Endpoint::parse_listen(text).unwrap();
            assert_eq!(e.to_string(), *shown);
        }
        let e = Endpoint::parse_listen("[::1]:8102").unwrap();
        assert_eq!(e.socket_addr(), Some("[::1]:8102".parse().unwrap()));
        assert_eq!(
            Endpoint::parse_listen("[::1]8102").unwrap_err(),
            LISTEN_FORMAT
        );
        assert!(Endpoint::parse_listen(&format!("/{}", "a".repeat(UNIX_PATH_MAX))).is_err());
        assert!(Endpoint::parse_listen(&format!("/{}", "a".repeat(UNIX_PATH_MAX - 1))).is_ok());
    }

    #[test]
    fn token_lists() {
        assert_eq!(parse_tokens("0").unwrap(), [0]);
        assert_eq!(parse_tokens("4294967295").unwrap(), [u32::MAX]);
        assert_eq!(
            parse_tokens("00000000001")
                .unwrap_err()
                .split(':')
                .next()
                .unwrap(),
            "has an invalid token list \"00000000001\" (token '00000000001' is larger than 4294967295)"
        );
        for bad in ["", ",", "1,", ",1", " 1", "1 ", "+1", "1e3", "１"] {
            assert!(parse_tokens(bad).is_err(), "{bad:?}");
        }
    }
}
