//! The configuration's types (the `conf_pool`, `conf_server` and friends of
//! dyn_conf.h): the loaded file [`Conf`], its one pool [`PoolConf`] with
//! every default filled in, endpoints, datastores and seeds, the consistency
//! and encryption levels, and [`ConfError`].
//!
//! Nothing here reads YAML; the parsers of entries and values are in
//! [`super::values`], the directives that fill a [`PoolConf`] in
//! [`super::directives`].

use std::net::SocketAddr;
use std::path::PathBuf;

use super::values::starts_with_ignore_case;
use crate::auth::Secret;
use crate::hashkit::HashKind;

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
    /// `quorum_read_repair:` (default true): single-key reads at the quorum
    /// levels prefer a value to a missing key and repair replicas that
    /// answered otherwise (cluster/repair.rs).
    pub quorum_read_repair: bool,
    /// `warmup_on_start:` (default false): copy the keys this node owns
    /// from a replica in another rack when its datastore is empty at start.
    pub warmup_on_start: bool,
    /// `warmup_state_file:` (default none): where a warm-up notes its
    /// progress, so that one a restart interrupted resumes.
    pub warmup_state_file: Option<String>,
    /// `entropy_interval:` seconds between scheduled anti-entropy runs
    /// (cluster/entropy.rs); 0 (the default) schedules none.
    pub entropy_interval_s: u64,
    /// `entropy_keys_per_sec:` (default 1000): keys an anti-entropy run
    /// compares per second at most.
    pub entropy_keys_per_sec: u64,
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
    /// Most requests and copies queued for one peer, written or not, before
    /// more are refused as undeliverable (`peer_queue_max_msgs:`, default
    /// 10000; never more than a quarter of `max_msgs`).
    pub peer_queue_max_msgs: u64,
    /// Most bytes queued for one peer (`peer_queue_max_bytes:`, default
    /// 32 MiB).
    pub peer_queue_max_bytes: u64,
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
    /// `requirepass:` (redis pools): the password clients give with AUTH
    /// or HELLO ... AUTH before any other command. Requests from peers are
    /// not asked for it.
    pub requirepass: Option<Secret>,
    /// `redis_auth:` (redis pools): the password the node sends with AUTH
    /// on every datastore connection before any request.
    pub redis_auth: Option<Secret>,
    /// `redis_auth_user:` (redis pools, needs `redis_auth`): the ACL user of
    /// that AUTH; without it the AUTH has the password alone.
    pub redis_auth_user: Option<String>,
    /// `redis_db:` (redis pools, default 0): the database every datastore
    /// connection SELECTs (not sent for 0), and the only one clients may
    /// SELECT.
    pub redis_db: u32,
    /// TLS of the client port, the datastores and the peer links (conf/tls.rs).
    pub tls: super::tls::TlsConf,
    /// Hinted handoff: where hints live, their bounds (conf/handoff.rs).
    pub handoff: super::handoff::HandoffConf,
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
    /// Buffer chunk size to use: the file's, else `cli` (`-m`), else 16384.
    pub fn mbuf_size_or(&self, cli: Option<usize>) -> usize {
        self.pool.mbuf_size.or(cli).unwrap_or(16384)
    }

    /// Message cap to use: the file's, else `cli` (`-M`), else 200000.
    pub fn max_msgs_or(&self, cli: Option<usize>) -> usize {
        self.pool.max_msgs.or(cli).unwrap_or(200_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
