//! YAML configuration (dyn_conf.c): load, validate, and describe errors with the
//! file and the key.
//!
//! ```text
//!   Conf::load(path)
//!     └─ read_to_string ── Conf::parse_str(path, text)
//!          ├─ check_tokens   scanner pass: no ---/..., %YAML/%TAG, flow, &anchor, *alias, !tag
//!          ├─ read_tree      event pass: one document, root -> pool -> directive -> scalar | [scalar]
//!          ├─ Draft::apply   directives in file order; the first bad one aborts
//!          └─ Draft::finish  required keys, defaults, cross-checks
//! ```
//!
//! Where the original is surprising this loader does what an operator expects
//! (see the spec's Notes):
//! - every error names the file and the key and says why ([`ConfError`]);
//! - `false` means false (`preconnect: false`, `auto_eject_hosts: false`);
//! - more than one pool is an error, not "last one wins";
//! - every `servers:` entry is kept, in order (they are the node's shards);
//! - `tokens` (and the tokens of a seed) must be decimal numbers in
//!   `0..=4294967295` separated by commas;
//! - unknown consistency names and `secure_server_option` values are errors
//!   (a value that merely starts with a valid name is still accepted, with a
//!   warning, as the original did);
//! - `data_store` must be 0 or 1;
//! - 8-bit keys take 1..=255 and reject larger values instead of wrapping;
//! - `[::1]:port` is accepted for IPv6, and `stats_listen` follows the same
//!   address rules as the other listeners;
//! - a second occurrence of any key in the pool mapping is a duplicate.
//!
//! As in the original, `0` given to an integer key means "unset" and selects the
//! key's default (for example `timeout: 0` gives 5000 ms), and `dyn_listen` and
//! `tokens` are optional (a single-node proxy needs neither).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, Scanner, TokenType};

use crate::hashkit::HashKind;

/// Default `timeout:` (datastore request timeout).
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
/// Default `backlog:` of the client and peer listeners.
pub const DEFAULT_BACKLOG: u32 = 512;
/// Default `server_retry_timeout:`.
pub const DEFAULT_SERVER_RETRY_TIMEOUT_MS: u64 = 10_000;
/// Default `server_failure_limit:`.
pub const DEFAULT_SERVER_FAILURE_LIMIT: u32 = 3;
/// Default `datastore_connections:`, `local_peer_connections:`, `remote_peer_connections:`.
pub const DEFAULT_CONNECTIONS: u32 = 1;
/// Default `stats_interval:`.
pub const DEFAULT_STATS_INTERVAL_MS: u64 = 30_000;
/// Default `stats_listen:` port (on 0.0.0.0).
pub const DEFAULT_STATS_PORT: u16 = 22222;
/// Default `gos_interval:`.
pub const DEFAULT_GOS_INTERVAL_MS: u64 = 30_000;
/// Default `conn_msg_rate:` (messages per second on a peer connection).
pub const DEFAULT_CONN_MSG_RATE: u32 = 50_000;
/// Default `dyn_read_timeout:` and `dyn_write_timeout:`.
pub const DEFAULT_DYN_TIMEOUT_MS: u64 = 10_000;
/// Default `dyn_connections:`.
pub const DEFAULT_DYN_CONNECTIONS: u32 = 100;
/// Default `dyn_seed_provider:`.
pub const DEFAULT_SEED_PROVIDER: &str = "simple_provider";
/// Default `rack:`.
pub const DEFAULT_RACK: &str = "localrack";
/// Default `datacenter:`.
pub const DEFAULT_DC: &str = "localdc";
/// Default `env:`.
pub const DEFAULT_ENV: &str = "aws";
/// Default `pem_key_file:`.
pub const DEFAULT_PEM_KEY_FILE: &str = "conf/dynomite.pem";
/// Default `recon_key_file:`.
pub const DEFAULT_RECON_KEY_FILE: &str = "conf/recon_key.pem";
/// Default `recon_iv_file:`.
pub const DEFAULT_RECON_IV_FILE: &str = "conf/recon_iv.pem";
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
const SERVER_FORMAT: &str =
    "has an invalid \"hostname:port:weight [name]\"or \"/path/unix_socket:weight [name]\" format string";
/// Reason for a bad port in a `servers:` or `dyn_seeds:` entry.
const SERVER_PORT: &str = "has an invalid port in \"hostname:port:weight [name]\" format string";
/// Reason for a malformed `dyn_seeds:` entry.
const SEED_FORMAT: &str =
    "has an invalid format must match \"hostname:port:rack:dc:tokens [name]\"";
/// Reason for a listen address without a `:`.
const LISTEN_FORMAT: &str = "has an invalid \"hostname:port\" format string";
/// Reason for a bad port in a listen address.
const LISTEN_PORT: &str = "has an invalid port in \"hostname:port\" format string";
/// Reason for an unknown consistency name.
const CONSISTENCY_NAMES: &str =
    "must be one of 'DC_ONE' 'DC_QUORUM' 'DC_SAFE_QUORUM' 'DC_EACH_SAFE_QUORUM'";
/// Reason for an unknown `secure_server_option:` value.
const SECURE_NAMES: &str = "must be one of 'none' 'rack' 'datacenter' 'all'";

/// A listening or connecting endpoint: `host:port` resolved at load time, or a
/// Unix-domain socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP: the host as written (without IPv6 brackets), the port, and the
    /// first address the host resolved to.
    Tcp {
        host: String,
        port: u16,
        addr: SocketAddr,
    },
    /// Unix-domain socket path (value started with `/`).
    Unix(PathBuf),
}

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

    /// True for a Unix-domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Endpoint::Unix(_))
    }

    /// The resolved TCP address, `None` for a Unix-domain socket.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Endpoint::Tcp { addr, .. } => Some(*addr),
            Endpoint::Unix(_) => None,
        }
    }
}

impl std::fmt::Display for Endpoint {
    /// `host:port` as written (IPv6 hosts unbracketed, as the original prints
    /// them), or the socket path.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
            Endpoint::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One `servers:` entry (`host:port:weight[ name]` or `/path:weight[ name]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConf {
    pub endpoint: Endpoint,
    /// Display name: explicit name, else `host:port` (port omitted when 11211).
    pub name: String,
    /// The weight text, kept verbatim (the original ignores it).
    pub weight: String,
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

/// One `dyn_seeds:` entry (`host:port:rack:dc:tokens[ name]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedConf {
    pub host: String,
    pub port: u16,
    pub rack: String,
    pub dc: String,
    pub tokens: Vec<u32>,
    /// Display name: explicit name, else the host.
    pub name: String,
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

/// Backend datastore protocol (`data_store:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStore {
    Redis,
    Memcache,
}

impl DataStore {
    /// `redis` or `memcache`.
    pub fn name(self) -> &'static str {
        match self {
            DataStore::Redis => "redis",
            DataStore::Memcache => "memcache",
        }
    }
}

/// Consistency level (`read_consistency:` / `write_consistency:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    DcOne,
    DcQuorum,
    DcSafeQuorum,
    DcEachSafeQuorum,
}

impl Consistency {
    /// Every level with its name, in the order the original tries prefixes.
    pub const ALL: [(Consistency, &'static str); 4] = [
        (Consistency::DcOne, "DC_ONE"),
        (Consistency::DcSafeQuorum, "DC_SAFE_QUORUM"),
        (Consistency::DcQuorum, "DC_QUORUM"),
        (Consistency::DcEachSafeQuorum, "DC_EACH_SAFE_QUORUM"),
    ];

    /// Exact name, case-insensitive (`dc_quorum` is `DcQuorum`).
    pub fn from_name(name: &str) -> Option<Consistency> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(c, _)| *c)
    }

    /// The original's rule: the first name the value starts with,
    /// case-insensitive (`dc_one_foo` is `DcOne`).
    pub fn from_prefix(value: &str) -> Option<Consistency> {
        Self::ALL
            .iter()
            .find(|(_, n)| starts_with_ignore_case(value, n))
            .map(|(c, _)| *c)
    }

    /// The upper-case name, as in `DC_ONE`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(c, _)| *c == self)
            .map(|(_, n)| *n)
            .unwrap_or("DC_ONE")
    }
}

/// `secure_server_option:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureOption {
    None,
    Rack,
    Datacenter,
    All,
}

impl SecureOption {
    /// Every option with its name.
    pub const ALL: [(SecureOption, &'static str); 4] = [
        (SecureOption::None, "none"),
        (SecureOption::Rack, "rack"),
        (SecureOption::Datacenter, "datacenter"),
        (SecureOption::All, "all"),
    ];

    /// Exact name, case-insensitive.
    pub fn from_name(name: &str) -> Option<SecureOption> {
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(name))
            .map(|(o, _)| *o)
    }

    /// The original's rule: the first name the value starts with.
    pub fn from_prefix(value: &str) -> Option<SecureOption> {
        Self::ALL
            .iter()
            .find(|(_, n)| starts_with_ignore_case(value, n))
            .map(|(o, _)| *o)
    }

    /// The lower-case name, as in `datacenter`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(o, _)| *o == self)
            .map(|(_, n)| *n)
            .unwrap_or("none")
    }
}

/// The effective, validated configuration of the one pool. Every default is
/// filled in; `*_ms` fields are milliseconds.
#[derive(Debug, Clone)]
pub struct PoolConf {
    /// The pool name (the root key); shown in stats and logs.
    pub name: String,
    /// Client listener (`listen:`), required.
    pub listen: Endpoint,
    /// Peer listener (`dyn_listen:`); `None` means no peer listener.
    pub dyn_listen: Option<Endpoint>,
    /// Stats/admin HTTP listener (`stats_listen:`, default 0.0.0.0:22222).
    pub stats_listen: Endpoint,
    /// The datastores (`servers:`), at least one, in file order; each is a
    /// shard of this node.
    pub servers: Vec<ServerConf>,
    /// Protocol of the datastores (`data_store:` 0 or 1).
    pub data_store: DataStore,
    /// Key hash (`hash:`, default murmur).
    pub hash: HashKind,
    /// Hash tag open and close characters (`hash_tag:`).
    pub hash_tag: Option<[u8; 2]>,
    /// Datastore request timeout (`timeout:`, default 5000).
    pub timeout_ms: u64,
    /// `listen()` backlog (`backlog:`, default 512).
    pub backlog: u32,
    /// `client_connections:`, accepted and ignored (0 when not given).
    pub client_connections: u32,
    /// Connect to the datastores at start (`preconnect:`, default true).
    pub preconnect: bool,
    /// `auto_eject_hosts:` (default true); no effect in the original.
    pub auto_eject_hosts: bool,
    /// Upper bound of the reconnect back-off (`server_retry_timeout:`, default 10000).
    pub server_retry_timeout_ms: u64,
    /// `server_failure_limit:` (default 3), accepted, unused.
    pub server_failure_limit: u32,
    /// Persistent connections per datastore (`datastore_connections:`, 1..=255, default 1).
    pub datastore_connections: u32,
    /// Buffer chunk size (`mbuf_size:`); `None` lets `-m` or 16384 apply.
    pub mbuf_size: Option<usize>,
    /// Cap on message objects (`max_msgs:`); `None` lets `-M` or 200000 apply.
    pub max_msgs: Option<usize>,
    /// Stats aggregation period (`stats_interval:`, default 30000).
    pub stats_interval_ms: u64,
    /// Initial read consistency of client connections (default DC_ONE).
    pub read_consistency: Consistency,
    /// Initial write consistency of client connections (default DC_ONE).
    pub write_consistency: Consistency,
    /// `read_repairs_enabled:` (default false).
    pub read_repairs_enabled: bool,
    /// This node's tokens (`tokens:`); empty when not given.
    pub tokens: Vec<u32>,
    /// Static peers (`dyn_seeds:`).
    pub dyn_seeds: Vec<SeedConf>,
    /// `dyn_seed_provider:` as written (default `simple_provider`).
    pub dyn_seed_provider: String,
    /// This node's rack (`rack:`, default `localrack`).
    pub rack: String,
    /// This node's datacenter (`datacenter:`, default `localdc`).
    pub datacenter: String,
    /// `env:` (default `aws`).
    pub env: String,
    /// `enable_gossip:` (default false).
    pub enable_gossip: bool,
    /// Gossip round interval (`gos_interval:`, default 30000).
    pub gos_interval_ms: u64,
    /// Token bucket rate on peer connections (`conn_msg_rate:`, default 50000).
    pub conn_msg_rate: u32,
    /// Connections per peer in the same DC (1..=255, default 1).
    pub local_peer_connections: u32,
    /// Connections per peer in other DCs (1..=255, default 1).
    pub remote_peer_connections: u32,
    /// Which peer links are encrypted (default none).
    pub secure_server_option: SecureOption,
    /// RSA key file for inter-node encryption.
    pub pem_key_file: String,
    /// `recon_key_file:`, accepted, unused.
    pub recon_key_file: String,
    /// `recon_iv_file:`, accepted, unused.
    pub recon_iv_file: String,
    /// `dyn_read_timeout:` (default 10000), accepted, unused.
    pub dyn_read_timeout_ms: u64,
    /// `dyn_write_timeout:` (default 10000), accepted, unused.
    pub dyn_write_timeout_ms: u64,
    /// `dyn_connections:` (default 100), accepted, unused.
    pub dyn_connections: u32,
    /// `dyn_port:`, accepted, unused.
    pub dyn_port: Option<u16>,
}

/// A loaded configuration file.
#[derive(Debug, Clone)]
pub struct Conf {
    /// The path as given on the command line.
    pub path: String,
    pub pool: PoolConf,
    /// Non-fatal diagnostics (deprecated keys, defaults used) to log at start.
    pub warnings: Vec<String>,
}

/// Why a configuration could not be loaded. `Display` gives one line that
/// names the file and, where there is one, the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfError {
    pub path: String,
    pub key: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for ConfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(k) => write!(
                f,
                "conf: '{}': directive \"{}\" {}",
                self.path, k, self.reason
            ),
            None => write!(f, "conf: '{}': {}", self.path, self.reason),
        }
    }
}

impl std::error::Error for ConfError {}

impl Conf {
    /// Loads and validates `path`.
    pub fn load(path: &str) -> Result<Conf, ConfError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfError {
            path: path.to_string(),
            key: None,
            reason: format!("failed to open configuration: {e}"),
        })?;
        Conf::parse_str(path, &text)
    }

    /// Parses and validates configuration text; `path` is used in errors.
    pub fn parse_str(path: &str, text: &str) -> Result<Conf, ConfError> {
        let fail = |reason: String| ConfError {
            path: path.to_string(),
            key: None,
            reason,
        };
        check_tokens(text).map_err(fail)?;
        let pool = read_tree(text).map_err(|e| match e {
            TreeError::File(reason) => fail(reason),
            TreeError::Key(key, reason) => ConfError {
                path: path.to_string(),
                key: Some(key),
                reason,
            },
        })?;
        let mut draft = Draft::new(path, &pool.name);
        for directive in &pool.directives {
            draft.apply(directive)?;
        }
        draft.finish()
    }

    /// Buffer chunk size to use: the file's, else `cli` (`-m`), else 16384.
    pub fn mbuf_size_or(&self, cli: Option<usize>) -> usize {
        self.pool.mbuf_size.or(cli).unwrap_or(16384)
    }

    /// Message cap to use: the file's, else `cli` (`-M`), else 200000.
    pub fn max_msgs_or(&self, cli: Option<usize>) -> usize {
        self.pool.max_msgs.or(cli).unwrap_or(200_000)
    }
}

// ---------------------------------------------------------------------------
// Structure: tokens and events.

/// Rejects the YAML features the original's token check disallows, before
/// the document is looked at.
fn check_tokens(text: &str) -> Result<(), String> {
    let mut scanner = Scanner::new(text.chars());
    loop {
        let token = match scanner.next_token() {
            Ok(Some(token)) => token,
            Ok(None) => return Ok(()),
            Err(e) => return Err(syntax_error(&e)),
        };
        let kind = match token.1 {
            TokenType::VersionDirective(..) => "a %YAML directive",
            TokenType::TagDirective(..) => "a %TAG directive",
            TokenType::DocumentStart => "a document start marker '---'",
            TokenType::DocumentEnd => "a document end marker '...'",
            TokenType::FlowSequenceStart | TokenType::FlowSequenceEnd => "a flow sequence '[...]'",
            TokenType::FlowMappingStart | TokenType::FlowMappingEnd => "a flow mapping '{...}'",
            TokenType::FlowEntry => "a flow entry ','",
            TokenType::Alias(_) => "an alias '*'",
            TokenType::Anchor(_) => "an anchor '&'",
            TokenType::Tag(..) => "a tag '!'",
            TokenType::StreamStart(_) | TokenType::StreamEnd => continue,
            TokenType::BlockSequenceStart
            | TokenType::BlockMappingStart
            | TokenType::BlockEnd
            | TokenType::BlockEntry
            | TokenType::Key
            | TokenType::Value
            | TokenType::Scalar(..) => continue,
        };
        return Err(format!(
            "has {kind} at {}, which is not allowed",
            at(&token.0)
        ));
    }
}

fn syntax_error(e: &yaml_rust2::ScanError) -> String {
    format!("is not valid YAML: {} at {}", e.info(), at(e.marker()))
}

fn at(mark: &Marker) -> String {
    format!("line {} column {}", mark.line(), mark.col() + 1)
}

/// A directive value: a scalar or a block sequence of scalars.
#[derive(Debug)]
enum RawValue {
    Scalar(String),
    Seq(Vec<String>),
}

/// One `key: value` of the pool mapping.
#[derive(Debug)]
struct RawDirective {
    key: String,
    value: RawValue,
}

/// The pool: its name and its directives in file order.
#[derive(Debug)]
struct RawPool {
    name: String,
    directives: Vec<RawDirective>,
}

/// A structural error, about the file or about one key.
enum TreeError {
    File(String),
    Key(String, String),
}

struct Events<'a> {
    parser: Parser<std::str::Chars<'a>>,
}

impl Events<'_> {
    fn next(&mut self) -> Result<(Event, Marker), TreeError> {
        self.parser
            .next_token()
            .map_err(|e| TreeError::File(syntax_error(&e)))
    }
}

/// Reads the one document: root mapping -> one pool -> mapping of directives
/// -> scalar or sequence of scalars. Nothing deeper.
fn read_tree(text: &str) -> Result<RawPool, TreeError> {
    let mut events = Events {
        parser: Parser::new_from_str(text),
    };
    let mut documents = 0usize;
    let mut pool = None;
    loop {
        match events.next()?.0 {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(TreeError::File(
                        "must contain only 1 document; found more".into(),
                    ));
                }
                pool = Some(read_root(&mut events)?);
            }
            _ => return Err(TreeError::File("has an unexpected YAML event".into())),
        }
    }
    pool.ok_or_else(|| TreeError::File("must contain only 1 document; found 0 documents".into()))
}

fn read_root(events: &mut Events<'_>) -> Result<RawPool, TreeError> {
    let (event, mark) = events.next()?;
    match event {
        Event::MappingStart(..) => {}
        Event::Scalar(..) => {
            return Err(TreeError::File(format!(
                "has a scalar at the root ({}); the root must be a mapping with the pool name as its one key",
                at(&mark)
            )))
        }
        _ => {
            return Err(TreeError::File(format!(
                "has a sequence at the root ({}); the root must be a mapping with the pool name as its one key",
                at(&mark)
            )))
        }
    }
    let mut pool: Option<RawPool> = None;
    loop {
        let (event, mark) = events.next()?;
        let name = match event {
            Event::MappingEnd => break,
            Event::Scalar(name, ..) => name,
            _ => {
                return Err(TreeError::File(format!(
                    "has a complex key at {}",
                    at(&mark)
                )))
            }
        };
        if let Some(first) = &pool {
            return Err(TreeError::File(format!(
                "has more than one pool ('{}' and '{}' at {}); only one pool is supported",
                first.name,
                name,
                at(&mark)
            )));
        }
        if name.is_empty() {
            return Err(TreeError::File(format!(
                "has an empty pool name at {}",
                at(&mark)
            )));
        }
        let (event, mark) = events.next()?;
        match event {
            Event::MappingStart(..) => {}
            Event::Scalar(v, ..) if v.is_empty() => {
                return Err(TreeError::File(format!(
                    "pool '{name}' has no directives ({})",
                    at(&mark)
                )))
            }
            _ => {
                return Err(TreeError::File(format!(
                    "pool '{name}' must be a mapping of directives ({})",
                    at(&mark)
                )))
            }
        }
        let directives = read_directives(events)?;
        pool = Some(RawPool { name, directives });
    }
    pool.ok_or_else(|| TreeError::File("has no pool".into()))
}

fn read_directives(events: &mut Events<'_>) -> Result<Vec<RawDirective>, TreeError> {
    let mut directives = Vec::new();
    loop {
        let (event, mark) = events.next()?;
        let key = match event {
            Event::MappingEnd => return Ok(directives),
            Event::Scalar(key, ..) => key,
            _ => {
                return Err(TreeError::File(format!(
                    "has a complex key at {}",
                    at(&mark)
                )))
            }
        };
        let (event, mark) = events.next()?;
        let value = match event {
            Event::Scalar(v, ..) => RawValue::Scalar(v),
            Event::SequenceStart(..) => {
                let mut items = Vec::new();
                loop {
                    let (event, mark) = events.next()?;
                    match event {
                        Event::SequenceEnd => break,
                        Event::Scalar(v, ..) => items.push(v),
                        _ => {
                            return Err(TreeError::Key(
                                key,
                                format!(
                                    "has a depth greater than 2 at {}: list elements must be scalars",
                                    at(&mark)
                                ),
                            ))
                        }
                    }
                }
                RawValue::Seq(items)
            }
            _ => {
                return Err(TreeError::Key(
                    key,
                    format!(
                        "has a mapping as its value at {}: a directive takes a scalar or a list of scalars",
                        at(&mark)
                    ),
                ))
            }
        };
        directives.push(RawDirective { key, value });
    }
}

// ---------------------------------------------------------------------------
// Directives.

/// The pool being built: defaults first, overwritten by directives.
struct Draft {
    path: String,
    pool: PoolConf,
    /// Keys (or shared slots) already given, for duplicate detection.
    seen: HashSet<&'static str>,
    warnings: Vec<String>,
}

/// Every directive name the loader accepts.
pub const DIRECTIVES: [&str; 42] = [
    "listen",
    "servers",
    "data_store",
    "hash",
    "hash_tag",
    "timeout",
    "backlog",
    "client_connections",
    "preconnect",
    "auto_eject_hosts",
    "server_retry_timeout",
    "server_failure_limit",
    "datastore_connections",
    "mbuf_size",
    "max_msgs",
    "stats_listen",
    "stats_interval",
    "read_consistency",
    "write_consistency",
    "read_repairs_enabled",
    "dyn_listen",
    "tokens",
    "dyn_seeds",
    "dyn_seed_provider",
    "rack",
    "datacenter",
    "env",
    "enable_gossip",
    "gos_interval",
    "conn_msg_rate",
    "local_peer_connections",
    "remote_peer_connections",
    "secure_server_option",
    "pem_key_file",
    "recon_key_file",
    "recon_iv_file",
    "dyn_read_timeout",
    "dyn_write_timeout",
    "dyn_connections",
    "dyn_port",
    "distribution",
    "server_connections",
];

impl Draft {
    fn new(path: &str, name: &str) -> Draft {
        let stats = default_stats_listen();
        Draft {
            path: path.to_string(),
            pool: PoolConf {
                name: name.to_string(),
                // Placeholder: `finish` fails unless `listen` was given.
                listen: stats.clone(),
                dyn_listen: None,
                stats_listen: stats,
                servers: Vec::new(),
                data_store: DataStore::Redis,
                hash: HashKind::Murmur,
                hash_tag: None,
                timeout_ms: DEFAULT_TIMEOUT_MS,
                backlog: DEFAULT_BACKLOG,
                client_connections: 0,
                preconnect: true,
                auto_eject_hosts: true,
                server_retry_timeout_ms: DEFAULT_SERVER_RETRY_TIMEOUT_MS,
                server_failure_limit: DEFAULT_SERVER_FAILURE_LIMIT,
                datastore_connections: DEFAULT_CONNECTIONS,
                mbuf_size: None,
                max_msgs: None,
                stats_interval_ms: DEFAULT_STATS_INTERVAL_MS,
                read_consistency: Consistency::DcOne,
                write_consistency: Consistency::DcOne,
                read_repairs_enabled: false,
                tokens: Vec::new(),
                dyn_seeds: Vec::new(),
                dyn_seed_provider: DEFAULT_SEED_PROVIDER.to_string(),
                rack: DEFAULT_RACK.to_string(),
                datacenter: DEFAULT_DC.to_string(),
                env: DEFAULT_ENV.to_string(),
                enable_gossip: false,
                gos_interval_ms: DEFAULT_GOS_INTERVAL_MS,
                conn_msg_rate: DEFAULT_CONN_MSG_RATE,
                local_peer_connections: DEFAULT_CONNECTIONS,
                remote_peer_connections: DEFAULT_CONNECTIONS,
                secure_server_option: SecureOption::None,
                pem_key_file: DEFAULT_PEM_KEY_FILE.to_string(),
                recon_key_file: DEFAULT_RECON_KEY_FILE.to_string(),
                recon_iv_file: DEFAULT_RECON_IV_FILE.to_string(),
                dyn_read_timeout_ms: DEFAULT_DYN_TIMEOUT_MS,
                dyn_write_timeout_ms: DEFAULT_DYN_TIMEOUT_MS,
                dyn_connections: DEFAULT_DYN_CONNECTIONS,
                dyn_port: None,
            },
            seen: HashSet::new(),
            warnings: Vec::new(),
        }
    }

    fn error(&self, key: &str, reason: impl Into<String>) -> ConfError {
        ConfError {
            path: self.path.clone(),
            key: Some(key.to_string()),
            reason: reason.into(),
        }
    }

    fn warn(&mut self, key: &str, text: &str) {
        self.warnings.push(format!(
            "conf: '{}': directive \"{}\" {}",
            self.path, key, text
        ));
    }

    /// Marks `slot` as given; a second time is a duplicate of `key`.
    fn claim(&mut self, key: &str, slot: &'static str) -> Result<(), ConfError> {
        if self.seen.insert(slot) {
            Ok(())
        } else {
            Err(self.error(key, "is a duplicate"))
        }
    }

    /// The one scalar of a single-valued directive (a one-element list is
    /// accepted, as the original applies a list once per element).
    fn single<'v>(&self, key: &str, value: &'v RawValue) -> Result<&'v str, ConfError> {
        let v = match value {
            RawValue::Scalar(v) => v.as_str(),
            RawValue::Seq(items) if items.len() == 1 => items[0].as_str(),
            RawValue::Seq(items) if items.is_empty() => "",
            RawValue::Seq(_) => return Err(self.error(key, "is a duplicate")),
        };
        if v.is_empty() {
            return Err(self.error(key, "has an empty value"));
        }
        Ok(v)
    }

    /// Every scalar of a list-valued directive (a lone scalar is one element).
    fn list<'v>(&self, key: &str, value: &'v RawValue) -> Result<Vec<&'v str>, ConfError> {
        let items: Vec<&str> = match value {
            RawValue::Scalar(v) => vec![v.as_str()],
            RawValue::Seq(items) => items.iter().map(String::as_str).collect(),
        };
        if items.is_empty() {
            return Err(self.error(key, "has no entries"));
        }
        if items.iter().any(|v| v.is_empty()) {
            return Err(self.error(key, "has an empty value"));
        }
        Ok(items)
    }

    fn apply(&mut self, directive: &RawDirective) -> Result<(), ConfError> {
        let key = directive.key.as_str();
        let Some(slot) = DIRECTIVES.iter().copied().find(|d| *d == key) else {
            return Err(self.error(key, "is unknown"));
        };
        let value = &directive.value;
        match slot {
            "distribution" => {
                self.claim(key, slot)?;
                self.warn(key, "is DEPRECATED and ignored");
                return Ok(());
            }
            "server_connections" => {
                let v = self.single(key, value)?;
                if !is_digits(v) {
                    self.claim(key, slot)?;
                    self.warn(
                        key,
                        "is DEPRECATED and ignored (use \"datastore_connections\")",
                    );
                    return Ok(());
                }
                // Alias of datastore_connections: the two share one slot.
                self.claim(key, "datastore_connections")?;
                self.pool.datastore_connections = self.u8_key(key, v)?;
                self.warn(
                    key,
                    "is DEPRECATED; its value is used as \"datastore_connections\"",
                );
                return Ok(());
            }
            "servers" | "dyn_seeds" | "tokens" => {
                self.claim(key, slot)?;
                let items = self.list(key, value)?;
                for item in items {
                    match slot {
                        "servers" => {
                            let server = ServerConf::parse(item).map_err(|r| self.error(key, r))?;
                            self.pool.servers.push(server);
                        }
                        "dyn_seeds" => {
                            let seed = SeedConf::parse(item).map_err(|r| self.error(key, r))?;
                            self.pool.dyn_seeds.push(seed);
                        }
                        _ => {
                            let tokens = parse_tokens(item).map_err(|r| self.error(key, r))?;
                            self.pool.tokens.extend(tokens);
                        }
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        self.claim(key, slot)?;
        let v = self.single(key, value)?;
        let e = |reason: String| ConfError {
            path: self.path.clone(),
            key: Some(key.to_string()),
            reason,
        };
        let p = &mut self.pool;
        match slot {
            "listen" => p.listen = Endpoint::parse_listen(v).map_err(e)?,
            "dyn_listen" => p.dyn_listen = Some(Endpoint::parse_listen(v).map_err(e)?),
            "stats_listen" => p.stats_listen = Endpoint::parse_listen(v).map_err(e)?,
            "data_store" => {
                p.data_store = match parse_int(v).map_err(e)? {
                    0 => DataStore::Redis,
                    1 => DataStore::Memcache,
                    _ => return Err(self.error(key, "must be 0 (redis) or 1 (memcache)")),
                }
            }
            "hash" => {
                p.hash = HashKind::from_name(v).ok_or_else(|| e("is not a valid hash".into()))?;
            }
            "hash_tag" => {
                let b = v.as_bytes();
                if b.len() != 2 {
                    return Err(e(
                        "is not a valid hash tag string with two characters".into()
                    ));
                }
                p.hash_tag = Some([b[0], b[1]]);
            }
            "timeout" => p.timeout_ms = int_or(v, DEFAULT_TIMEOUT_MS).map_err(e)?,
            "backlog" => p.backlog = int_or(v, DEFAULT_BACKLOG as u64).map_err(e)? as u32,
            "client_connections" => p.client_connections = parse_int(v).map_err(e)? as u32,
            "preconnect" => p.preconnect = parse_bool(v).map_err(e)?,
            "auto_eject_hosts" => p.auto_eject_hosts = parse_bool(v).map_err(e)?,
            "server_retry_timeout" => {
                p.server_retry_timeout_ms = int_or(v, DEFAULT_SERVER_RETRY_TIMEOUT_MS).map_err(e)?
            }
            "server_failure_limit" => {
                p.server_failure_limit =
                    int_or(v, DEFAULT_SERVER_FAILURE_LIMIT as u64).map_err(e)? as u32
            }
            "datastore_connections" => p.datastore_connections = u8_value(v).map_err(e)?,
            "local_peer_connections" => p.local_peer_connections = u8_value(v).map_err(e)?,
            "remote_peer_connections" => p.remote_peer_connections = u8_value(v).map_err(e)?,
            "mbuf_size" => p.mbuf_size = mbuf_size_value(v).map_err(e)?,
            "max_msgs" => p.max_msgs = max_msgs_value(v).map_err(e)?,
            "stats_interval" => {
                p.stats_interval_ms = int_or(v, DEFAULT_STATS_INTERVAL_MS).map_err(e)?
            }
            "read_consistency" | "write_consistency" => {
                let (level, exact) = match Consistency::from_name(v) {
                    Some(level) => (level, true),
                    None => (
                        Consistency::from_prefix(v).ok_or_else(|| e(CONSISTENCY_NAMES.into()))?,
                        false,
                    ),
                };
                if slot == "read_consistency" {
                    p.read_consistency = level;
                } else {
                    p.write_consistency = level;
                }
                if !exact {
                    let text = format!(
                        "value \"{v}\" is not an exact consistency name; using {} (prefix match)",
                        level.name()
                    );
                    self.warn(key, &text);
                }
            }
            "read_repairs_enabled" => p.read_repairs_enabled = parse_bool(v).map_err(e)?,
            "dyn_seed_provider" => {
                p.dyn_seed_provider = v.to_string();
                let known = ["simple_provider", "florida_provider", "dns_provider"];
                if !known.iter().any(|k| v.starts_with(k)) {
                    self.warn(
                        key,
                        &format!("value \"{v}\" is not one of 'simple_provider' 'florida_provider' 'dns_provider'"),
                    );
                }
            }
            "rack" => p.rack = v.to_string(),
            "datacenter" => p.datacenter = v.to_string(),
            "env" => p.env = v.to_string(),
            "enable_gossip" => p.enable_gossip = parse_bool(v).map_err(e)?,
            "gos_interval" => p.gos_interval_ms = int_or(v, DEFAULT_GOS_INTERVAL_MS).map_err(e)?,
            "conn_msg_rate" => {
                p.conn_msg_rate = int_or(v, DEFAULT_CONN_MSG_RATE as u64).map_err(e)? as u32
            }
            "secure_server_option" => {
                let (option, exact) = match SecureOption::from_name(v) {
                    Some(option) => (option, true),
                    None => (
                        SecureOption::from_prefix(v).ok_or_else(|| e(SECURE_NAMES.into()))?,
                        false,
                    ),
                };
                p.secure_server_option = option;
                if !exact {
                    let text = format!(
                        "value \"{v}\" is not an exact option name; using {} (prefix match)",
                        option.name()
                    );
                    self.warn(key, &text);
                }
            }
            "pem_key_file" => p.pem_key_file = v.to_string(),
            "recon_key_file" => p.recon_key_file = v.to_string(),
            "recon_iv_file" => p.recon_iv_file = v.to_string(),
            "dyn_read_timeout" => {
                p.dyn_read_timeout_ms = int_or(v, DEFAULT_DYN_TIMEOUT_MS).map_err(e)?
            }
            "dyn_write_timeout" => {
                p.dyn_write_timeout_ms = int_or(v, DEFAULT_DYN_TIMEOUT_MS).map_err(e)?
            }
            "dyn_connections" => {
                p.dyn_connections = int_or(v, DEFAULT_DYN_CONNECTIONS as u64).map_err(e)? as u32
            }
            "dyn_port" => {
                p.dyn_port = match parse_int(v).map_err(e)? {
                    0 => None,
                    port => Some(
                        u16::try_from(port)
                            .map_err(|_| e("must be a port between 1 and 65535".into()))?,
                    ),
                }
            }
            _ => unreachable!("directive {slot} has no handler"),
        }
        Ok(())
    }

    fn u8_key(&self, key: &str, v: &str) -> Result<u32, ConfError> {
        u8_value(v).map_err(|r| self.error(key, r))
    }

    /// Required keys, the stats default, and cross-checks.
    fn finish(mut self) -> Result<Conf, ConfError> {
        if !self.seen.contains("listen") {
            return Err(self.error("listen", "is missing"));
        }
        if self.pool.servers.is_empty() {
            let reason = format!("is missing: pool '{}' has no datastores", self.pool.name);
            return Err(self.error("servers", reason));
        }
        if !self.seen.contains("stats_listen") {
            self.warn("stats_listen", "is missing - using defaults 0.0.0.0:22222");
        }
        let listeners = [
            ("listen", Some(&self.pool.listen)),
            ("dyn_listen", self.pool.dyn_listen.as_ref()),
            ("stats_listen", Some(&self.pool.stats_listen)),
        ];
        for (i, (key, endpoint)) in listeners.iter().enumerate() {
            for (other, other_endpoint) in &listeners[..i] {
                if endpoint.is_some() && endpoint == other_endpoint {
                    return Err(self.error(key, format!("uses the same address as \"{other}\"")));
                }
            }
        }
        debug_assert!(!self.pool.servers.is_empty());
        debug_assert!((1..=255).contains(&self.pool.datastore_connections));
        Ok(Conf {
            path: self.path,
            pool: self.pool,
            warnings: self.warnings,
        })
    }
}

// ---------------------------------------------------------------------------
// Values.

fn default_stats_listen() -> Endpoint {
    Endpoint::Tcp {
        host: "0.0.0.0".to_string(),
        port: DEFAULT_STATS_PORT,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_STATS_PORT),
    }
}

fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len()
        && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Decimal digits only, at most `INT_MAX`.
fn parse_int(v: &str) -> Result<u64, String> {
    if !is_digits(v) {
        return Err("is not a number".into());
    }
    match v.parse::<u64>() {
        Ok(n) if n <= INT_MAX => Ok(n),
        _ => Err(format!("is too large (the largest value is {INT_MAX})")),
    }
}

/// An int key where `0` selects the default.
fn int_or(v: &str, default: u64) -> Result<u64, String> {
    Ok(match parse_int(v)? {
        0 => default,
        n => n,
    })
}

/// An 8-bit key: 1..=255, `0` selects the default (1).
fn u8_value(v: &str) -> Result<u32, String> {
    match parse_int(v)? {
        0 => Ok(DEFAULT_CONNECTIONS),
        n if n <= 255 => Ok(n as u32),
        _ => Err("must be between 1 and 255 (0 selects the default 1)".into()),
    }
}

fn mbuf_size_value(v: &str) -> Result<Option<usize>, String> {
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

fn max_msgs_value(v: &str) -> Result<Option<usize>, String> {
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

fn parse_bool(v: &str) -> Result<bool, String> {
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

    const PATH: &str = "test.yml";

    /// A minimal valid pool followed by `extra` directive lines.
    fn with(extra: &str) -> String {
        format!("dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n{extra}")
    }

    fn ok(text: &str) -> Conf {
        match Conf::parse_str(PATH, text) {
            Ok(conf) => conf,
            Err(e) => panic!("expected success for {text:?}, got {e}"),
        }
    }

    fn err(text: &str) -> ConfError {
        match Conf::parse_str(PATH, text) {
            Ok(conf) => panic!("expected an error for {text:?}, got {:?}", conf.pool),
            Err(e) => e,
        }
    }

    fn tcp(host: &str, port: u16) -> Endpoint {
        Endpoint::parse_listen(&format!("{host}:{port}")).unwrap()
    }

    #[test]
    fn minimal_pool_gets_every_default() {
        let conf = ok(&with(""));
        let p = &conf.pool;
        assert_eq!(conf.path, PATH);
        assert_eq!(p.name, "dyn_o_mite");
        assert_eq!(p.listen, tcp("127.0.0.1", 8102));
        assert_eq!(p.dyn_listen, None);
        assert_eq!(p.stats_listen, tcp("0.0.0.0", 22222));
        assert_eq!(p.servers.len(), 1);
        assert_eq!(p.servers[0].name, "127.0.0.1:6379");
        assert_eq!(p.servers[0].weight, "1");
        assert_eq!(p.data_store, DataStore::Redis);
        assert_eq!(p.hash, HashKind::Murmur);
        assert_eq!(p.hash_tag, None);
        assert_eq!(p.timeout_ms, 5000);
        assert_eq!(p.backlog, 512);
        assert_eq!(p.client_connections, 0);
        assert!(p.preconnect);
        assert!(p.auto_eject_hosts);
        assert_eq!(p.server_retry_timeout_ms, 10000);
        assert_eq!(p.server_failure_limit, 3);
        assert_eq!(p.datastore_connections, 1);
        assert_eq!(p.mbuf_size, None);
        assert_eq!(p.max_msgs, None);
        assert_eq!(p.stats_interval_ms, 30000);
        assert_eq!(p.read_consistency, Consistency::DcOne);
        assert_eq!(p.write_consistency, Consistency::DcOne);
        assert!(!p.read_repairs_enabled);
        assert!(p.tokens.is_empty());
        assert!(p.dyn_seeds.is_empty());
        assert_eq!(p.dyn_seed_provider, "simple_provider");
        assert_eq!(p.rack, "localrack");
        assert_eq!(p.datacenter, "localdc");
        assert_eq!(p.env, "aws");
        assert!(!p.enable_gossip);
        assert_eq!(p.gos_interval_ms, 30000);
        assert_eq!(p.conn_msg_rate, 50000);
        assert_eq!(p.local_peer_connections, 1);
        assert_eq!(p.remote_peer_connections, 1);
        assert_eq!(p.secure_server_option, SecureOption::None);
        assert_eq!(p.pem_key_file, "conf/dynomite.pem");
        assert_eq!(p.recon_key_file, "conf/recon_key.pem");
        assert_eq!(p.recon_iv_file, "conf/recon_iv.pem");
        assert_eq!(p.dyn_read_timeout_ms, 10000);
        assert_eq!(p.dyn_write_timeout_ms, 10000);
        assert_eq!(p.dyn_connections, 100);
        assert_eq!(p.dyn_port, None);
        assert_eq!(conf.warnings.len(), 1, "{:?}", conf.warnings);
        assert!(conf.warnings[0].contains("stats_listen"));
        assert_eq!(conf.mbuf_size_or(None), 16384);
        assert_eq!(conf.mbuf_size_or(Some(1024)), 1024);
        assert_eq!(conf.max_msgs_or(None), 200_000);
        assert_eq!(conf.max_msgs_or(Some(300_000)), 300_000);
    }

    /// Every directive with a valid value, and what it must produce.
    #[test]
    fn every_directive_is_applied() {
        type Check = fn(&PoolConf) -> bool;
        let table: &[(&str, Check)] = &[
            ("data_store: 1", |p| p.data_store == DataStore::Memcache),
            ("data_store: 0", |p| p.data_store == DataStore::Redis),
            ("hash: murmur3", |p| p.hash == HashKind::Murmur3),
            ("hash: fnv1a_64", |p| p.hash == HashKind::Fnv1a_64),
            ("hash: one_at_a_time", |p| p.hash == HashKind::OneAtATime),
            ("hash_tag: \"{}\"", |p| p.hash_tag == Some(*b"{}")),
            ("timeout: 400", |p| p.timeout_ms == 400),
            ("timeout: 0", |p| p.timeout_ms == 5000),
            ("backlog: 1024", |p| p.backlog == 1024),
            ("backlog: 0", |p| p.backlog == 512),
            ("client_connections: 10", |p| p.client_connections == 10),
            ("preconnect: false", |p| !p.preconnect),
            ("preconnect: true", |p| p.preconnect),
            ("auto_eject_hosts: false", |p| !p.auto_eject_hosts),
            ("server_retry_timeout: 2000", |p| {
                p.server_retry_timeout_ms == 2000
            }),
            ("server_failure_limit: 7", |p| p.server_failure_limit == 7),
            ("datastore_connections: 3", |p| p.datastore_connections == 3),
            ("datastore_connections: 255", |p| {
                p.datastore_connections == 255
            }),
            ("datastore_connections: 0", |p| p.datastore_connections == 1),
            ("mbuf_size: 512", |p| p.mbuf_size == Some(512)),
            ("mbuf_size: 512000", |p| p.mbuf_size == Some(512_000)),
            ("mbuf_size: 0", |p| p.mbuf_size.is_none()),
            ("max_msgs: 100000", |p| p.max_msgs == Some(100_000)),
            ("max_msgs: 1000000", |p| p.max_msgs == Some(1_000_000)),
            ("stats_listen: 127.0.0.1:22223", |p| {
                p.stats_listen.to_string() == "127.0.0.1:22223"
            }),
            ("stats_listen: /tmp/stats.sock", |p| {
                p.stats_listen == Endpoint::Unix("/tmp/stats.sock".into())
            }),
            ("stats_interval: 1000", |p| p.stats_interval_ms == 1000),
            ("read_consistency: DC_QUORUM", |p| {
                p.read_consistency == Consistency::DcQuorum
            }),
            ("read_consistency: dc_safe_quorum", |p| {
                p.read_consistency == Consistency::DcSafeQuorum
            }),
            ("write_consistency: DC_EACH_SAFE_QUORUM", |p| {
                p.write_consistency == Consistency::DcEachSafeQuorum
            }),
            ("write_consistency : Dc_One", |p| {
                p.write_consistency == Consistency::DcOne
            }),
            ("read_repairs_enabled: true", |p| p.read_repairs_enabled),
            ("dyn_listen: 127.0.0.1:8101", |p| {
                p.dyn_listen.as_ref().map(Endpoint::to_string).as_deref() == Some("127.0.0.1:8101")
            }),
            ("tokens: '101134286'", |p| p.tokens == [101_134_286]),
            ("tokens: 0,2147483648,4294967295", |p| {
                p.tokens == [0, 2_147_483_648, 4_294_967_295]
            }),
            ("tokens:\n  - '1'\n  - 2,3", |p| p.tokens == [1, 2, 3]),
            ("dyn_seeds:\n  - 127.0.0.2:8101:rack2:dc:1383429731", |p| {
                p.dyn_seeds.len() == 1
                    && p.dyn_seeds[0].host == "127.0.0.2"
                    && p.dyn_seeds[0].tokens == [1_383_429_731]
            }),
            ("dyn_seed_provider: florida_provider", |p| {
                p.dyn_seed_provider == "florida_provider"
            }),
            ("rack: rack1", |p| p.rack == "rack1"),
            ("datacenter: \"us-east-1\"", |p| p.datacenter == "us-east-1"),
            ("env: network", |p| p.env == "network"),
            ("enable_gossip: true", |p| p.enable_gossip),
            ("gos_interval: 1000", |p| p.gos_interval_ms == 1000),
            ("conn_msg_rate: 1000", |p| p.conn_msg_rate == 1000),
            ("local_peer_connections: 4", |p| {
                p.local_peer_connections == 4
            }),
            ("remote_peer_connections: 5", |p| {
                p.remote_peer_connections == 5
            }),
            ("secure_server_option: datacenter", |p| {
                p.secure_server_option == SecureOption::Datacenter
            }),
            ("secure_server_option: rack", |p| {
                p.secure_server_option == SecureOption::Rack
            }),
            ("secure_server_option: all", |p| {
                p.secure_server_option == SecureOption::All
            }),
            ("secure_server_option: none", |p| {
                p.secure_server_option == SecureOption::None
            }),
            ("pem_key_file: /etc/dynomite/key.pem", |p| {
                p.pem_key_file == "/etc/dynomite/key.pem"
            }),
            ("recon_key_file: a.pem", |p| p.recon_key_file == "a.pem"),
            ("recon_iv_file: b.pem", |p| p.recon_iv_file == "b.pem"),
            ("dyn_read_timeout: 1", |p| p.dyn_read_timeout_ms == 1),
            ("dyn_write_timeout: 2", |p| p.dyn_write_timeout_ms == 2),
            ("dyn_connections: 3", |p| p.dyn_connections == 3),
            ("dyn_port: 8101", |p| p.dyn_port == Some(8101)),
            ("dyn_port: 0", |p| p.dyn_port.is_none()),
            ("distribution: ketama", |_| true),
            ("server_connections: 4", |p| p.datastore_connections == 4),
            ("server_connections: many", |p| p.datastore_connections == 1),
            ("rack:\n  - only", |p| p.rack == "only"),
        ];
        for (line, check) in table {
            let conf = ok(&with(&format!("  {}\n", line.replace('\n', "\n  "))));
            assert!(check(&conf.pool), "{line}: {:?}", conf.pool);
        }
    }

    /// Every directive error: the extra lines, the key named, and the reason.
    #[test]
    fn directive_errors_name_the_key_and_the_reason() {
        let table: &[(&str, &str, &str)] = &[
            ("redis: true", "redis", "is unknown"),
            ("Listen: 127.0.0.1:1", "Listen", "is unknown"),
            ("listen: 127.0.0.1:9", "listen", "is a duplicate"),
            ("rack: a\n  rack: b", "rack", "is a duplicate"),
            ("rack:\n  - a\n  - b", "rack", "is a duplicate"),
            ("rack:", "rack", "has an empty value"),
            ("rack: \"\"", "rack", "has an empty value"),
            ("data_store: 2", "data_store", "must be 0 (redis) or 1 (memcache)"),
            ("data_store: redis", "data_store", "is not a number"),
            ("timeout: -1", "timeout", "is not a number"),
            ("timeout: +5", "timeout", "is not a number"),
            ("timeout: 0x10", "timeout", "is not a number"),
            ("timeout: 10ms", "timeout", "is not a number"),
            ("timeout: 2147483648", "timeout", "is too large (the largest value is 2147483647)"),
            ("backlog: 1.5", "backlog", "is not a number"),
            ("preconnect: yes", "preconnect", "is not \"true\" or \"false\""),
            ("preconnect: True", "preconnect", "is not \"true\" or \"false\""),
            ("auto_eject_hosts: 1", "auto_eject_hosts", "is not \"true\" or \"false\""),
            ("enable_gossip: no", "enable_gossip", "is not \"true\" or \"false\""),
            ("read_repairs_enabled: on", "read_repairs_enabled", "is not \"true\" or \"false\""),
            ("hash: MURMUR", "hash", "is not a valid hash"),
            ("hash: sha1", "hash", "is not a valid hash"),
            ("hash_tag: \"{\"", "hash_tag", "is not a valid hash tag string with two characters"),
            ("hash_tag: \"{}}\"", "hash_tag", "is not a valid hash tag string with two characters"),
            (
                "datastore_connections: 256",
                "datastore_connections",
                "must be between 1 and 255 (0 selects the default 1)",
            ),
            (
                "local_peer_connections: 1000",
                "local_peer_connections",
                "must be between 1 and 255 (0 selects the default 1)",
            ),
            (
                "remote_peer_connections: 257",
                "remote_peer_connections",
                "must be between 1 and 255 (0 selects the default 1)",
            ),
            (
                "server_connections: 300",
                "server_connections",
                "must be between 1 and 255 (0 selects the default 1)",
            ),
            ("datastore_connections: 2\n  server_connections: 3", "server_connections", "is a duplicate"),
            ("mbuf_size: 496", "mbuf_size", "is invalid: mbuf chunk size must be between 512 and 512000 bytes"),
            ("mbuf_size: 512016", "mbuf_size", "is invalid: mbuf chunk size must be between 512 and 512000 bytes"),
            ("mbuf_size: 520", "mbuf_size", "is invalid: mbuf size must be a multiple of 16"),
            (
                "max_msgs: 99999",
                "max_msgs",
                "is invalid: max allocated messages buffer must be between 100000 and 1000000 messages",
            ),
            (
                "max_msgs: 1000001",
                "max_msgs",
                "is invalid: max allocated messages buffer must be between 100000 and 1000000 messages",
            ),
            ("read_consistency: DC_TWO", "read_consistency", CONSISTENCY_NAMES),
            ("write_consistency: one", "write_consistency", CONSISTENCY_NAMES),
            ("secure_server_option: everything", "secure_server_option", SECURE_NAMES),
            ("dyn_port: 65536", "dyn_port", "must be a port between 1 and 65535"),
            ("tokens: -1", "tokens", "has an invalid token list \"-1\" (token '-1' is not a plain decimal number): tokens are decimal numbers between 0 and 4294967295 separated by commas"),
            ("tokens: 4294967296", "tokens", "has an invalid token list \"4294967296\""),
            ("tokens: '1, 2'", "tokens", "has an invalid token list \"1, 2\""),
            ("tokens: 1,,2", "tokens", "has an invalid token list \"1,,2\""),
            ("tokens: abc", "tokens", "has an invalid token list \"abc\""),
            ("tokens: 0x10", "tokens", "has an invalid token list \"0x10\""),
            ("dyn_seeds:\n  - 127.0.0.2:8101:rack2:dc:12a", "dyn_seeds", "has an invalid token list \"12a\""),
            ("dyn_seeds:\n  - 127.0.0.2:8101:rack2:dc", "dyn_seeds", SEED_FORMAT),
            ("dyn_seeds:\n  - :8101:rack2:dc:1", "dyn_seeds", SEED_FORMAT),
            ("dyn_seeds:\n  - 127.0.0.2:81x:rack2:dc:1", "dyn_seeds", SERVER_PORT),
            ("dyn_seeds:\n  - 127.0.0.2:0:rack2:dc:1", "dyn_seeds", SERVER_PORT),
            ("dyn_listen: 127.0.0.1", "dyn_listen", LISTEN_FORMAT),
            ("dyn_listen: \"127.0.0.1:\"", "dyn_listen", LISTEN_PORT),
            ("dyn_listen: 127.0.0.1:65536", "dyn_listen", LISTEN_PORT),
            ("dyn_listen: 127.0.0.1:0", "dyn_listen", LISTEN_PORT),
            ("dyn_listen: 127.0.0.1:-1", "dyn_listen", LISTEN_PORT),
            ("dyn_listen: :8101", "dyn_listen", LISTEN_FORMAT),
            ("dyn_listen: \"a\\0b:8101\"", "dyn_listen", "has an invalid value: cannot resolve host"),
            ("dyn_listen: nosuchhost.invalid:8101", "dyn_listen", "has an invalid value"),
            ("dyn_listen: 127.0.0.1:8102", "dyn_listen", "uses the same address as \"listen\""),
            ("stats_listen: 127.0.0.1:8102", "stats_listen", "uses the same address as \"listen\""),
            ("stats_listen: 0.0.0.0", "stats_listen", LISTEN_FORMAT),
            ("pem_key_file:", "pem_key_file", "has an empty value"),
            ("servers: 127.0.0.1:6380:1", "servers", "is a duplicate"),
            ("port:\n    a: b", "port", "has a mapping as its value at line 6"),
            ("tokens:\n  - - 1", "tokens", "has a depth greater than 2"),
        ];
        for (extra, key, reason) in table {
            let e = err(&with(&format!("  {}\n", extra)));
            assert_eq!(e.path, PATH);
            assert_eq!(e.key.as_deref(), Some(*key), "{extra}: {e}");
            assert!(
                e.reason.starts_with(reason),
                "{extra}: got {:?}, want {reason:?}",
                e.reason
            );
        }
    }

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
    fn required_keys() {
        let e = err("dyn_o_mite:\n  servers:\n  - 127.0.0.1:6379:1\n");
        assert_eq!(
            (e.key.as_deref(), e.reason.as_str()),
            (Some("listen"), "is missing")
        );
        assert_eq!(
            e.to_string(),
            "conf: 'test.yml': directive \"listen\" is missing"
        );
        let e = err("dyn_o_mite:\n  listen: 127.0.0.1:8102\n");
        assert_eq!(e.key.as_deref(), Some("servers"));
        assert_eq!(e.reason, "is missing: pool 'dyn_o_mite' has no datastores");
        let e = err("dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n");
        assert_eq!(
            (e.key.as_deref(), e.reason.as_str()),
            (Some("servers"), "has an empty value")
        );
    }

    #[test]
    fn warnings() {
        let conf = ok(&with(
            "  distribution: vnode\n  stats_listen: 127.0.0.1:22222\n",
        ));
        assert_eq!(
            conf.warnings,
            ["conf: 'test.yml': directive \"distribution\" is DEPRECATED and ignored"]
        );
        let conf = ok(&with(
            "  server_connections: 2\n  stats_listen: 127.0.0.1:22222\n",
        ));
        assert_eq!(conf.pool.datastore_connections, 2);
        assert_eq!(conf.warnings.len(), 1);
        assert!(conf.warnings[0].contains("\"server_connections\" is DEPRECATED"));
        let conf = ok(&with(
            "  read_consistency: dc_one_foo\n  write_consistency: DC_QUORUMX\n",
        ));
        assert_eq!(conf.pool.read_consistency, Consistency::DcOne);
        assert_eq!(conf.pool.write_consistency, Consistency::DcQuorum);
        assert!(conf
            .warnings
            .iter()
            .any(|w| w.contains("\"read_consistency\" value \"dc_one_foo\"")));
        assert!(conf
            .warnings
            .iter()
            .any(|w| w.contains("using DC_QUORUM (prefix match)")));
        let conf = ok(&with("  secure_server_option: datacenters\n"));
        assert_eq!(conf.pool.secure_server_option, SecureOption::Datacenter);
        assert!(conf
            .warnings
            .iter()
            .any(|w| w.contains("secure_server_option")));
        let conf = ok(&with("  dyn_seed_provider: my_provider\n"));
        assert!(conf
            .warnings
            .iter()
            .any(|w| w.contains("dyn_seed_provider")));
    }

    /// Whole-file structure errors: the text, and a piece of the reason.
    #[test]
    fn structure_errors() {
        let pool = "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n";
        let table: Vec<(String, &str)> = vec![
            (
                String::new(),
                "must contain only 1 document; found 0 documents",
            ),
            ("# only a comment\n".into(), "found 0 documents"),
            (
                format!("---\n{pool}"),
                "has a document start marker '---' at line 1",
            ),
            (format!("{pool}...\n"), "has a document end marker '...'"),
            (format!("%YAML 1.1\n---\n{pool}"), "has a %YAML directive"),
            (
                format!("%TAG ! tag:x,2000:\n---\n{pool}"),
                "has a %TAG directive",
            ),
            (
                format!("{pool}  rack: [a]\n"),
                "has a flow sequence '[...]' at line 5 column 9",
            ),
            (
                "dyn_o_mite: {listen: 127.0.0.1:8102}\n".into(),
                "has a flow mapping '{...}'",
            ),
            (format!("{pool}  rack: &r a\n"), "has an anchor '&'"),
            (
                format!("{pool}  rack: &r a\n  env: *r\n"),
                "has an anchor '&'",
            ),
            (format!("{pool}  rack: !!str a\n"), "has a tag '!'"),
            ("just a scalar\n".into(), "has a scalar at the root"),
            ("- a\n- b\n".into(), "has a sequence at the root"),
            (
                "dyn_o_mite:\n".into(),
                "pool 'dyn_o_mite' has no directives",
            ),
            (
                "dyn_o_mite: x\n".into(),
                "pool 'dyn_o_mite' must be a mapping of directives",
            ),
            (
                "dyn_o_mite:\n  - listen\n".into(),
                "pool 'dyn_o_mite' must be a mapping of directives",
            ),
            (
                format!("{pool}other:\n  listen: 127.0.0.1:9102\n"),
                "has more than one pool ('dyn_o_mite' and 'other'",
            ),
            (format!("{pool}  rack: 'a\n"), "is not valid YAML"),
            ("a:\n  b: c\n d: e\n".into(), "is not valid YAML"),
        ];
        for (text, reason) in &table {
            let e = err(text);
            assert_eq!(e.key, None, "{text:?}: {e}");
            assert!(
                e.reason.contains(reason),
                "{text:?}: got {:?}, want {reason:?}",
                e.reason
            );
            assert!(e.to_string().starts_with("conf: 'test.yml': "), "{e}");
        }
    }

    #[test]
    fn scalar_styles_and_spacing() {
        let text = "dyn_o_mite:\n    listen: \"127.0.0.1:8102\"\n    servers:\n        - '127.0.0.1:6379:1'\n    \
                    read_consistency : DC_SAFE_QUORUM\n    tokens: 437425602   # trailing comment\n";
        let conf = ok(text);
        assert_eq!(conf.pool.tokens, [437_425_602]);
        assert_eq!(conf.pool.read_consistency, Consistency::DcSafeQuorum);
        // A sequence at the same indentation as its key, as the samples write it.
        let conf = ok("p:\n listen: 127.0.0.1:8102\n servers:\n - 127.0.0.1:6379:1\n");
        assert_eq!(conf.pool.name, "p");
    }

    #[test]
    fn load_reports_a_missing_file() {
        let e = Conf::load("/nonexistent/dynomite.yml").unwrap_err();
        assert_eq!(e.path, "/nonexistent/dynomite.yml");
        assert_eq!(e.key, None);
        assert!(
            e.reason.starts_with("failed to open configuration: "),
            "{e}"
        );
    }

    #[test]
    fn every_directive_name_is_handled() {
        // A value every directive accepts as a type error or success, never
        // the "unreachable" arm: each name must reach its own handler.
        for name in DIRECTIVES {
            let r = Conf::parse_str(PATH, &with(&format!("  {name}: \"1\"\n")));
            if let Err(e) = r {
                assert_ne!(e.reason, "is unknown", "{name}");
            }
        }
    }

    /// The original's samples, compiled in: each must parse unchanged.
    const ORIGINAL_SAMPLES: [(&str, &str); 14] = [
        (
            "dynomite.yml",
            include_str!("../../tests/data/original-conf/dynomite.yml"),
        ),
        (
            "dynomite_dns_single.yml",
            include_str!("../../tests/data/original-conf/dynomite_dns_single.yml"),
        ),
        (
            "dynomite_florida_single.yml",
            include_str!("../../tests/data/original-conf/dynomite_florida_single.yml"),
        ),
        (
            "mc_single.yml",
            include_str!("../../tests/data/original-conf/mc_single.yml"),
        ),
        (
            "node1.yml",
            include_str!("../../tests/data/original-conf/node1.yml"),
        ),
        (
            "node2.yml",
            include_str!("../../tests/data/original-conf/node2.yml"),
        ),
        (
            "redis_dc1.yml",
            include_str!("../../tests/data/original-conf/redis_dc1.yml"),
        ),
        (
            "redis_dc2.yml",
            include_str!("../../tests/data/original-conf/redis_dc2.yml"),
        ),
        (
            "redis_node1.yml",
            include_str!("../../tests/data/original-conf/redis_node1.yml"),
        ),
        (
            "redis_node2.yml",
            include_str!("../../tests/data/original-conf/redis_node2.yml"),
        ),
        (
            "redis_rack1_node.yml",
            include_str!("../../tests/data/original-conf/redis_rack1_node.yml"),
        ),
        (
            "redis_rack2_node.yml",
            include_str!("../../tests/data/original-conf/redis_rack2_node.yml"),
        ),
        (
            "redis_rack3_node.yml",
            include_str!("../../tests/data/original-conf/redis_rack3_node.yml"),
        ),
        (
            "redis_single.yml",
            include_str!("../../tests/data/original-conf/redis_single.yml"),
        ),
    ];

    #[test]
    fn original_samples_parse() {
        for (name, text) in ORIGINAL_SAMPLES {
            let conf = Conf::parse_str(name, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(conf.pool.servers.len(), 1, "{name}");
            assert!(conf.pool.dyn_listen.is_some(), "{name}");
            assert_eq!(conf.pool.tokens.len(), 1, "{name}");
            // Only the missing stats_listen of dynomite.yml is worth a warning.
            let want = usize::from(name == "dynomite.yml");
            assert_eq!(conf.warnings.len(), want, "{name}: {:?}", conf.warnings);
        }
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

    #[test]
    fn consistency_and_secure_names() {
        for (c, name) in Consistency::ALL {
            assert_eq!(Consistency::from_name(name), Some(c));
            assert_eq!(Consistency::from_name(&name.to_lowercase()), Some(c));
            assert_eq!(c.name(), name);
        }
        assert_eq!(Consistency::from_name("DC_ONEX"), None);
        assert_eq!(
            Consistency::from_prefix("DC_ONEX"),
            Some(Consistency::DcOne)
        );
        assert_eq!(
            Consistency::from_prefix("DC_EACH_SAFE_QUORUM_X"),
            Some(Consistency::DcEachSafeQuorum)
        );
        assert_eq!(Consistency::from_prefix("DC"), None);
        for (o, name) in SecureOption::ALL {
            assert_eq!(SecureOption::from_name(name), Some(o));
            assert_eq!(o.name(), name);
        }
        assert_eq!(
            SecureOption::from_prefix("rackish"),
            Some(SecureOption::Rack)
        );
        assert_eq!(DataStore::Memcache.name(), "memcache");
    }
}
