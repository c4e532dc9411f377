//! YAML configuration (dyn_conf.c): load, validate, and describe errors with the
//! file and the key.
//!
//! STUB: the loader is being written; the types below are the interface the
//! rest of the node uses.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::hashkit::HashKind;

/// A listening or connecting endpoint: `host:port` resolved at load time, or a
/// Unix-domain socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP: the text as written and the first address it resolved to.
    Tcp {
        host: String,
        port: u16,
        addr: SocketAddr,
    },
    /// Unix-domain socket path (value started with `/`).
    Unix(PathBuf),
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

/// Backend datastore protocol (`data_store:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataStore {
    Redis,
    Memcache,
}

/// Consistency level (`read_consistency:` / `write_consistency:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    DcOne,
    DcQuorum,
    DcSafeQuorum,
    DcEachSafeQuorum,
}

/// `secure_server_option:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureOption {
    None,
    Rack,
    Datacenter,
    All,
}

/// The effective, validated configuration of the one pool. Every default is
/// filled in; `*_ms` fields are milliseconds.
#[derive(Debug, Clone)]
pub struct PoolConf {
    pub name: String,
    pub listen: Endpoint,
    pub dyn_listen: Option<Endpoint>,
    pub stats_listen: Endpoint,
    pub servers: Vec<ServerConf>,
    pub data_store: DataStore,
    pub hash: HashKind,
    pub hash_tag: Option<[u8; 2]>,
    pub timeout_ms: u64,
    pub backlog: u32,
    pub client_connections: u32,
    pub preconnect: bool,
    pub auto_eject_hosts: bool,
    pub server_retry_timeout_ms: u64,
    pub server_failure_limit: u32,
    pub datastore_connections: u32,
    pub mbuf_size: Option<usize>,
    pub max_msgs: Option<usize>,
    pub stats_interval_ms: u64,
    pub read_consistency: Consistency,
    pub write_consistency: Consistency,
    pub read_repairs_enabled: bool,
    pub tokens: Vec<u32>,
    pub dyn_seeds: Vec<SeedConf>,
    pub dyn_seed_provider: String,
    pub rack: String,
    pub datacenter: String,
    pub env: String,
    pub enable_gossip: bool,
    pub gos_interval_ms: u64,
    pub conn_msg_rate: u32,
    pub local_peer_connections: u32,
    pub remote_peer_connections: u32,
    pub secure_server_option: SecureOption,
    pub pem_key_file: String,
    pub recon_key_file: String,
    pub recon_iv_file: String,
    pub dyn_read_timeout_ms: u64,
    pub dyn_write_timeout_ms: u64,
    pub dyn_connections: u32,
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
    pub fn parse_str(path: &str, _text: &str) -> Result<Conf, ConfError> {
        Err(ConfError {
            path: path.to_string(),
            key: None,
            reason: "loader not written yet".into(),
        })
    }
}
