//! The directives of the pool (the `conf_commands` table and
//! `conf_validate_pool` of dyn_conf.c): the defaults, every accepted key,
//! what each key sets, duplicates, deprecated keys, and the checks made once
//! the whole pool is read.
//!
//! ```text
//!   Draft::new      every default
//!   Draft::apply    directives in file order; the first bad one aborts
//!   Draft::finish   required keys, defaults, cross-checks
//! ```

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::types::{
    Conf, ConfError, Consistency, DataStore, Endpoint, PoolConf, SecureOption, SeedConf, ServerConf,
};
use super::values::MAX_ALLOC_MSGS;
use super::values::{
    int_or, is_digits, max_msgs_value, mbuf_size_value, parse_bool, parse_int, parse_tokens,
    u8_value,
};
use super::yaml::{RawDirective, RawValue};
use crate::auth::Secret;
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
/// Default `peer_queue_max_msgs:` (messages queued for one peer).
pub const DEFAULT_PEER_QUEUE_MAX_MSGS: u64 = 10_000;
/// Default `peer_queue_max_bytes:` (bytes queued for one peer, 32 MiB).
pub const DEFAULT_PEER_QUEUE_MAX_BYTES: u64 = 32 << 20;
/// Default `entropy_keys_per_sec:` (keys an anti-entropy run compares a second).
pub const DEFAULT_ENTROPY_KEYS_PER_SEC: u64 = 1000;
/// Largest `entropy_interval:` (seconds, a week).
pub const MAX_ENTROPY_INTERVAL_S: u64 = 7 * 24 * 3600;
/// Smallest `peer_queue_max_bytes:` (one large request must fit).
pub const MIN_PEER_QUEUE_BYTES: u64 = 64 << 10;
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

/// Reason for an unknown consistency name.
const CONSISTENCY_NAMES: &str =
    "must be one of 'DC_ONE' 'DC_QUORUM' 'DC_SAFE_QUORUM' 'DC_EACH_SAFE_QUORUM'";
/// Reason for an unknown `secure_server_option:` value.
const SECURE_NAMES: &str = "must be one of 'none' 'rack' 'datacenter' 'all'";

/// The pool being built: defaults first, overwritten by directives.
pub(super) struct Draft {
    path: String,
    pool: PoolConf,
    /// Keys (or shared slots) already given, for duplicate detection.
    seen: HashSet<&'static str>,
    warnings: Vec<String>,
}

/// Every directive name the loader accepts.
pub const DIRECTIVES: [&str; 53] = [
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
    "quorum_read_repair",
    "warmup_on_start",
    "warmup_state_file",
    "entropy_interval",
    "entropy_keys_per_sec",
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
    "peer_queue_max_msgs",
    "peer_queue_max_bytes",
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
    "requirepass",
    "redis_auth",
    "redis_auth_user",
    "redis_db",
];

impl Draft {
    pub(super) fn new(path: &str, name: &str) -> Draft {
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
                quorum_read_repair: true,
                warmup_on_start: false,
                warmup_state_file: None,
                entropy_interval_s: 0,
                entropy_keys_per_sec: DEFAULT_ENTROPY_KEYS_PER_SEC,
                tokens: Vec::new(),
                dyn_seeds: Vec::new(),
                dyn_seed_provider: DEFAULT_SEED_PROVIDER.to_string(),
                rack: DEFAULT_RACK.to_string(),
                datacenter: DEFAULT_DC.to_string(),
                env: DEFAULT_ENV.to_string(),
                enable_gossip: false,
                gos_interval_ms: DEFAULT_GOS_INTERVAL_MS,
                conn_msg_rate: DEFAULT_CONN_MSG_RATE,
                peer_queue_max_msgs: DEFAULT_PEER_QUEUE_MAX_MSGS,
                peer_queue_max_bytes: DEFAULT_PEER_QUEUE_MAX_BYTES,
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
                requirepass: None,
                redis_auth: None,
                redis_auth_user: None,
                redis_db: 0,
                tls: Default::default(),
                handoff: Default::default(),
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

    pub(super) fn apply(&mut self, directive: &RawDirective) -> Result<(), ConfError> {
        let key = directive.key.as_str();
        if let Some(slot) = super::tls::tls_slot(key) {
            self.claim(key, slot)?;
            let v = self.single(key, &directive.value)?;
            return self.pool.tls.apply(slot, v).map_err(|r| self.error(key, r));
        }
        if let Some(slot) = super::handoff::handoff_slot(key) {
            self.claim(key, slot)?;
            let v = self.single(key, &directive.value)?;
            return self
                .pool
                .handoff
                .apply(slot, v)
                .map_err(|r| self.error(key, r));
        }
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
            "quorum_read_repair" => p.quorum_read_repair = parse_bool(v).map_err(e)?,
            "warmup_on_start" => p.warmup_on_start = parse_bool(v).map_err(e)?,
            "warmup_state_file" => p.warmup_state_file = Some(v.to_string()),
            "entropy_interval" => {
                p.entropy_interval_s = match parse_int(v).map_err(e)? {
                    n if n <= MAX_ENTROPY_INTERVAL_S => n,
                    _ => {
                        return Err(e(format!(
                    "must be at most {MAX_ENTROPY_INTERVAL_S} seconds (0 turns the schedule off)"
                )))
                    }
                }
            }
            "entropy_keys_per_sec" => {
                p.entropy_keys_per_sec = int_or(v, DEFAULT_ENTROPY_KEYS_PER_SEC).map_err(e)?
            }
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
            "peer_queue_max_msgs" => {
                p.peer_queue_max_msgs = match int_or(v, DEFAULT_PEER_QUEUE_MAX_MSGS).map_err(e)? {
                    n if n <= MAX_ALLOC_MSGS as u64 => n,
                    _ => {
                        return Err(e(format!(
                            "must be between 1 and {MAX_ALLOC_MSGS} (0 selects the default \
                             {DEFAULT_PEER_QUEUE_MAX_MSGS})"
                        )))
                    }
                }
            }
            "peer_queue_max_bytes" => {
                p.peer_queue_max_bytes = match int_or(v, DEFAULT_PEER_QUEUE_MAX_BYTES).map_err(e)? {
                    n if n >= MIN_PEER_QUEUE_BYTES => n,
                    _ => {
                        return Err(e(format!(
                            "must be at least {MIN_PEER_QUEUE_BYTES} (0 selects the default \
                                 {DEFAULT_PEER_QUEUE_MAX_BYTES})"
                        )))
                    }
                }
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
            // Passwords: the value is never repeated in an error or warning.
            "requirepass" => p.requirepass = Some(Secret::new(v)),
            "redis_auth" => p.redis_auth = Some(Secret::new(v)),
            "redis_auth_user" => p.redis_auth_user = Some(v.to_string()),
            // parse_int caps at INT_MAX: the value fits.
            "redis_db" => p.redis_db = parse_int(v).map_err(e)? as u32,
            _ => unreachable!("directive {slot} has no handler"),
        }
        Ok(())
    }

    /// The password keys: redis pools only (memcached's text protocol has
    /// no AUTH), and `redis_auth_user` only with `redis_auth`.
    fn check_auth(&self) -> Result<(), ConfError> {
        let p = &self.pool;
        if p.data_store == DataStore::Memcache {
            let given = [
                ("requirepass", p.requirepass.is_some()),
                ("redis_auth", p.redis_auth.is_some()),
                ("redis_auth_user", p.redis_auth_user.is_some()),
                ("redis_db", self.seen.contains("redis_db")),
            ];
            if let Some((key, _)) = given.iter().find(|(_, g)| *g) {
                return Err(self.error(
                    key,
                    "is not allowed with \"data_store: 1\" (memcached has no AUTH or databases)",
                ));
            }
        }
        if p.redis_auth_user.is_some() && p.redis_auth.is_none() {
            return Err(self.error(
                "redis_auth_user",
                "needs \"redis_auth\" (the password of that user)",
            ));
        }
        Ok(())
    }

    fn u8_key(&self, key: &str, v: &str) -> Result<u32, ConfError> {
        u8_value(v).map_err(|r| self.error(key, r))
    }

    /// Required keys, the stats default, and cross-checks.
    pub(super) fn finish(mut self) -> Result<Conf, ConfError> {
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
        self.check_auth()?;
        super::tls::check(&self.pool).map_err(|e| super::tls::check_error(&self.path, e))?;
        debug_assert!(!self.pool.servers.is_empty());
        debug_assert!((1..=255).contains(&self.pool.datastore_connections));
        Ok(Conf {
            path: self.path,
            pool: self.pool,
            warnings: self.warnings,
        })
    }
}

/// `stats_listen:` when the file does not give it: 0.0.0.0:22222.
fn default_stats_listen() -> Endpoint {
    Endpoint::Tcp {
        host: "0.0.0.0".to_string(),
        port: DEFAULT_STATS_PORT,
        addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_STATS_PORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::conf::testing::{err, ok, tcp, with, PATH};
    use crate::conf::values::{LISTEN_FORMAT, LISTEN_PORT, SEED_FORMAT, SERVER_PORT};

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
        assert_eq!(p.peer_queue_max_msgs, 10_000);
        assert_eq!(p.peer_queue_max_bytes, 32 << 20);
        assert_eq!(p.stats_interval_ms, 30000);
        assert_eq!(p.read_consistency, Consistency::DcOne);
        assert_eq!(p.write_consistency, Consistency::DcOne);
        assert!(!p.read_repairs_enabled);
        assert!(p.quorum_read_repair);
        assert_eq!(p.entropy_interval_s, 0);
        assert_eq!(p.entropy_keys_per_sec, 1000);
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
        assert!(p.requirepass.is_none());
        assert!(p.redis_auth.is_none());
        assert!(p.redis_auth_user.is_none());
        assert_eq!(p.redis_db, 0);
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
            ("peer_queue_max_msgs: 500", |p| p.peer_queue_max_msgs == 500),
            ("peer_queue_max_msgs: 0", |p| {
                p.peer_queue_max_msgs == 10_000
            }),
            ("peer_queue_max_bytes: 65536", |p| {
                p.peer_queue_max_bytes == 65536
            }),
            ("peer_queue_max_bytes: 0", |p| {
                p.peer_queue_max_bytes == 32 << 20
            }),
            ("max_msgs: 1000000", |p| p.max_msgs == Some(1_000_000)),
            ("entropy_interval: 3600", |p| p.entropy_interval_s == 3600),
            ("entropy_interval: 0", |p| p.entropy_interval_s == 0),
            ("entropy_keys_per_sec: 50", |p| p.entropy_keys_per_sec == 50),
            ("entropy_keys_per_sec: 0", |p| {
                p.entropy_keys_per_sec == 1000
            }),
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
            ("quorum_read_repair: false", |p| !p.quorum_read_repair),
            ("warmup_on_start: true", |p| p.warmup_on_start),
            ("warmup_state_file: /var/lib/dynomite/warmup.json", |p| {
                p.warmup_state_file.as_deref() == Some("/var/lib/dynomite/warmup.json")
            }),
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
            ("requirepass: \"s3 cret\"", |p| {
                p.requirepass
                    .as_ref()
                    .is_some_and(|s| s.expose() == "s3 cret")
            }),
            ("redis_auth: pw", |p| {
                p.redis_auth.as_ref().is_some_and(|s| s.expose() == "pw")
            }),
            ("redis_auth: pw\nredis_auth_user: app", |p| {
                p.redis_auth_user.as_deref() == Some("app")
            }),
            ("redis_db: 3", |p| p.redis_db == 3),
            ("redis_db: 0", |p| p.redis_db == 0),
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
            ("entropy_interval: 1h", "entropy_interval", "is not a number"),
            (
                "entropy_interval: 604801",
                "entropy_interval",
                "must be at most 604800 seconds (0 turns the schedule off)",
            ),
            ("entropy_keys_per_sec: -1", "entropy_keys_per_sec", "is not a number"),
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
            ("quorum_read_repair: off", "quorum_read_repair", "is not \"true\" or \"false\""),
            ("warmup_on_start: yes", "warmup_on_start", "is not \"true\" or \"false\""),
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
                "peer_queue_max_msgs: 1000001",
                "peer_queue_max_msgs",
                "must be between 1 and 1000000 (0 selects the default 10000)",
            ),
            ("peer_queue_max_msgs: -5", "peer_queue_max_msgs", "is not a number"),
            (
                "peer_queue_max_bytes: 1024",
                "peer_queue_max_bytes",
                "must be at least 65536 (0 selects the default 33554432)",
            ),
            ("peer_queue_max_bytes: 1MB", "peer_queue_max_bytes", "is not a number"),
            ("peer_queue_max_msgs: 5\n  peer_queue_max_msgs: 6", "peer_queue_max_msgs", "is a duplicate"),
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
            ("requirepass:", "requirepass", "has an empty value"),
            ("requirepass: a\n  requirepass: b", "requirepass", "is a duplicate"),
            ("redis_auth: \"\"", "redis_auth", "has an empty value"),
            ("redis_auth_user: app", "redis_auth_user", "needs \"redis_auth\""),
            ("redis_db: -1", "redis_db", "is not a number"),
            ("redis_db: 2147483648", "redis_db", "is too large"),
            ("data_store: 1\n  requirepass: pw", "requirepass", "is not allowed with \"data_store: 1\""),
            ("redis_auth: pw\n  data_store: 1", "redis_auth", "is not allowed with \"data_store: 1\""),
            ("data_store: 1\n  redis_db: 0", "redis_db", "is not allowed with \"data_store: 1\""),
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

    /// A password is never repeated by an error or a warning, and the
    /// configuration printed whole does not show it.
    #[test]
    fn passwords_stay_out_of_errors_and_debug() {
        let secret = "Zq-very-secret-9";
        let texts = [
            format!("  requirepass: {secret}\n  requirepass: {secret}\n"),
            format!("  redis_auth: {secret}\n  redis_auth: x\n"),
            format!("  data_store: 1\n  requirepass: {secret}\n"),
            format!("  data_store: 1\n  redis_auth: {secret}\n  redis_auth_user: u\n"),
            format!("  redis_auth: {secret}\n  listen: 127.0.0.1:9\n"),
            format!("  requirepass:\n    a: {secret}\n"),
            format!("  requirepass: [{secret}]\n"),
        ];
        for text in texts {
            let e = err(&with(&text));
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
        let conf = ok(&with(&format!(
            "  requirepass: {secret}\n  redis_auth: {secret}\n  redis_auth_user: app\n"
        )));
        assert!(!format!("{conf:?}").contains(secret));
        assert!(format!("{:?}", conf.pool).contains("requirepass: Some(<redacted>)"));
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
}
