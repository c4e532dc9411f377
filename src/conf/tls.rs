//! The TLS directives (beyond the original): which files the client
//! listener, the datastore connections and the peer links use. They live in
//! a table of their own, applied before the original's table, so that the
//! original's directives stay as they were.
//!
//! | key | value |
//! |---|---|
//! | `tls_cert_file`, `tls_key_file` | PEM certificate chain and key: the client port speaks TLS |
//! | `tls_ca_file`, `tls_client_auth` | clients must present a certificate signed by this CA |
//! | `datastore_tls` | connect to the datastores over TLS |
//! | `datastore_tls_ca_file` | CA that signed the datastores' certificates (required) |
//! | `datastore_tls_cert_file`, `datastore_tls_key_file` | client certificate for the datastores |
//! | `datastore_tls_server_name` | name checked in the datastores' certificates (default: the host of each `servers` entry) |
//! | `peer_tls` | outbound peer links start TLS |
//! | `peer_tls_cert_file`, `peer_tls_key_file`, `peer_tls_ca_file` | this node's peer certificate and key, and the CA of every node's |
//! | `peer_tls_required` | refuse inbound peer links that do not start TLS |

use super::types::{ConfError, Endpoint, PoolConf};
use super::values::parse_bool;

/// The TLS settings of a pool. File names are kept as given and read at
/// start and on every SIGHUP (tls.rs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConf {
    /// `tls_cert_file:` certificate chain of the client listener.
    pub cert_file: Option<String>,
    /// `tls_key_file:` its private key.
    pub key_file: Option<String>,
    /// `tls_ca_file:` CA that signs client certificates.
    pub ca_file: Option<String>,
    /// `tls_client_auth:` clients must present a certificate (default false).
    pub client_auth: bool,
    /// `datastore_tls:` datastore connections speak TLS (default false).
    pub datastore_tls: bool,
    /// `datastore_tls_ca_file:` CA that signs the datastores' certificates.
    pub datastore_ca_file: Option<String>,
    /// `datastore_tls_cert_file:` client certificate shown to datastores.
    pub datastore_cert_file: Option<String>,
    /// `datastore_tls_key_file:` its private key.
    pub datastore_key_file: Option<String>,
    /// `datastore_tls_server_name:` name checked in datastore certificates.
    pub datastore_server_name: Option<String>,
    /// `peer_tls:` outbound peer links start TLS (default false).
    pub peer_tls: bool,
    /// `peer_tls_cert_file:` this node's certificate on peer links.
    pub peer_cert_file: Option<String>,
    /// `peer_tls_key_file:` its private key.
    pub peer_key_file: Option<String>,
    /// `peer_tls_ca_file:` CA that signs every node's peer certificate.
    pub peer_ca_file: Option<String>,
    /// `peer_tls_required:` inbound peer links must start TLS (default false).
    pub peer_tls_required: bool,
}

/// Every TLS directive name.
pub const TLS_DIRECTIVES: [&str; 14] = [
    "tls_cert_file",
    "tls_key_file",
    "tls_ca_file",
    "tls_client_auth",
    "datastore_tls",
    "datastore_tls_ca_file",
    "datastore_tls_cert_file",
    "datastore_tls_key_file",
    "datastore_tls_server_name",
    "peer_tls",
    "peer_tls_cert_file",
    "peer_tls_key_file",
    "peer_tls_ca_file",
    "peer_tls_required",
];

/// The slot of a TLS directive, if `key` is one.
pub(super) fn tls_slot(key: &str) -> Option<&'static str> {
    TLS_DIRECTIVES.iter().copied().find(|d| *d == key)
}

impl TlsConf {
    /// Applies one TLS directive with its single value `v`.
    pub(super) fn apply(&mut self, slot: &str, v: &str) -> Result<(), String> {
        let file = || Some(v.to_string());
        match slot {
            "tls_cert_file" => self.cert_file = file(),
            "tls_key_file" => self.key_file = file(),
            "tls_ca_file" => self.ca_file = file(),
            "tls_client_auth" => self.client_auth = parse_bool(v)?,
            "datastore_tls" => self.datastore_tls = parse_bool(v)?,
            "datastore_tls_ca_file" => self.datastore_ca_file = file(),
            "datastore_tls_cert_file" => self.datastore_cert_file = file(),
            "datastore_tls_key_file" => self.datastore_key_file = file(),
            "datastore_tls_server_name" => self.datastore_server_name = file(),
            "peer_tls" => self.peer_tls = parse_bool(v)?,
            "peer_tls_cert_file" => self.peer_cert_file = file(),
            "peer_tls_key_file" => self.peer_key_file = file(),
            "peer_tls_ca_file" => self.peer_ca_file = file(),
            "peer_tls_required" => self.peer_tls_required = parse_bool(v)?,
            _ => unreachable!("TLS directive {slot} has no handler"),
        }
        Ok(())
    }
}

/// The cross-checks of the TLS keys once the pool is read: a key that needs
/// another names it. Returns the key at fault and the reason.
pub(super) fn check(pool: &PoolConf) -> Result<(), (&'static str, String)> {
    let t = &pool.tls;
    let needs = |key: &'static str, other: &str| Err((key, format!("needs \"{other}\"")));
    match (&t.cert_file, &t.key_file) {
        (Some(_), None) => return needs("tls_cert_file", "tls_key_file"),
        (None, Some(_)) => return needs("tls_key_file", "tls_cert_file"),
        _ => {}
    }
    if t.client_auth && t.cert_file.is_none() {
        return needs("tls_client_auth", "tls_cert_file");
    }
    if t.client_auth && t.ca_file.is_none() {
        return needs("tls_client_auth", "tls_ca_file");
    }
    if t.ca_file.is_some() && !t.client_auth {
        return needs("tls_ca_file", "tls_client_auth: true");
    }
    if t.cert_file.is_some() && matches!(pool.listen, Endpoint::Unix(_)) {
        return Err((
            "tls_cert_file",
            "needs a TCP \"listen\" address (TLS is not offered on a Unix socket)".into(),
        ));
    }
    let datastore_keys = [
        ("datastore_tls_ca_file", t.datastore_ca_file.is_some()),
        ("datastore_tls_cert_file", t.datastore_cert_file.is_some()),
        ("datastore_tls_key_file", t.datastore_key_file.is_some()),
        (
            "datastore_tls_server_name",
            t.datastore_server_name.is_some(),
        ),
    ];
    if !t.datastore_tls {
        if let Some((key, _)) = datastore_keys.iter().find(|(_, set)| *set) {
            return needs(key, "datastore_tls: true");
        }
    } else {
        if t.datastore_ca_file.is_none() {
            return needs("datastore_tls", "datastore_tls_ca_file");
        }
        match (&t.datastore_cert_file, &t.datastore_key_file) {
            (Some(_), None) => return needs("datastore_tls_cert_file", "datastore_tls_key_file"),
            (None, Some(_)) => return needs("datastore_tls_key_file", "datastore_tls_cert_file"),
            _ => {}
        }
        if pool
            .servers
            .iter()
            .any(|s| matches!(s.endpoint, Endpoint::Unix(_)))
        {
            return Err((
                "datastore_tls",
                "needs TCP datastores (a \"servers\" entry is a Unix socket)".into(),
            ));
        }
    }
    let peer_files = [
        ("peer_tls_cert_file", t.peer_cert_file.is_some()),
        ("peer_tls_key_file", t.peer_key_file.is_some()),
        ("peer_tls_ca_file", t.peer_ca_file.is_some()),
    ];
    if peer_files.iter().any(|(_, set)| *set) || t.peer_tls || t.peer_tls_required {
        let first = if t.peer_tls {
            "peer_tls"
        } else if t.peer_tls_required {
            "peer_tls_required"
        } else {
            peer_files
                .iter()
                .find(|(_, set)| *set)
                .map_or("peer_tls", |f| f.0)
        };
        if let Some((missing, _)) = peer_files.iter().find(|(_, set)| !*set) {
            return needs(first, missing);
        }
    }
    Ok(())
}

/// Turns a check failure into the loader's error.
pub(super) fn check_error(path: &str, (key, reason): (&'static str, String)) -> ConfError {
    ConfError {
        path: path.to_string(),
        key: Some(key.to_string()),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::testing::{err, ok, with, PATH};
    use crate::conf::Conf;

    fn load(extra: &str) -> TlsConf {
        ok(&with(extra)).pool.tls
    }

    #[test]
    fn no_tls_by_default() {
        assert_eq!(load(""), TlsConf::default());
    }

    #[test]
    fn every_tls_directive_is_applied() {
        let t = load(
            "  tls_cert_file: /etc/dyn/server.pem\n  tls_key_file: /etc/dyn/server.key\n  \
             tls_ca_file: /etc/dyn/clients-ca.pem\n  tls_client_auth: true\n  \
             datastore_tls: true\n  datastore_tls_ca_file: /etc/dyn/redis-ca.pem\n  \
             datastore_tls_cert_file: /etc/dyn/to-redis.pem\n  \
             datastore_tls_key_file: /etc/dyn/to-redis.key\n  \
             datastore_tls_server_name: redis.internal\n  peer_tls: true\n  \
             peer_tls_cert_file: /etc/dyn/node.pem\n  peer_tls_key_file: /etc/dyn/node.key\n  \
             peer_tls_ca_file: /etc/dyn/cluster-ca.pem\n  peer_tls_required: true\n",
        );
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            t,
            TlsConf {
                cert_file: s("/etc/dyn/server.pem"),
                key_file: s("/etc/dyn/server.key"),
                ca_file: s("/etc/dyn/clients-ca.pem"),
                client_auth: true,
                datastore_tls: true,
                datastore_ca_file: s("/etc/dyn/redis-ca.pem"),
                datastore_cert_file: s("/etc/dyn/to-redis.pem"),
                datastore_key_file: s("/etc/dyn/to-redis.key"),
                datastore_server_name: s("redis.internal"),
                peer_tls: true,
                peer_cert_file: s("/etc/dyn/node.pem"),
                peer_key_file: s("/etc/dyn/node.key"),
                peer_ca_file: s("/etc/dyn/cluster-ca.pem"),
                peer_tls_required: true,
            }
        );
        // The smallest useful settings of each part.
        let t = load("  tls_cert_file: a.pem\n  tls_key_file: a.key\n");
        assert_eq!(
            (t.cert_file.as_deref(), t.client_auth),
            (Some("a.pem"), false)
        );
        let t = load("  datastore_tls: true\n  datastore_tls_ca_file: ca.pem\n");
        assert!(t.datastore_tls && t.datastore_cert_file.is_none());
        // Certificates without peer_tls: inbound TLS links are accepted, no
        // outbound link starts TLS.
        let t = load(
            "  peer_tls_cert_file: n.pem\n  peer_tls_key_file: n.key\n  peer_tls_ca_file: ca.pem\n",
        );
        assert!(!t.peer_tls && t.peer_ca_file.is_some());
        let t = load("  datastore_tls: false\n  peer_tls: false\n  tls_client_auth: false\n");
        assert_eq!(t, TlsConf::default());
    }

    #[test]
    fn tls_errors_name_the_key() {
        let table: &[(&str, &str, &str)] = &[
            ("tls_cert_file: a.pem", "tls_cert_file", "needs \"tls_key_file\""),
            ("tls_key_file: a.key", "tls_key_file", "needs \"tls_cert_file\""),
            ("tls_cert_file: a.pem\n  tls_key_file: a.key\n  tls_client_auth: true", "tls_client_auth", "needs \"tls_ca_file\""),
            ("tls_client_auth: true\n  tls_ca_file: ca.pem", "tls_client_auth", "needs \"tls_cert_file\""),
            ("tls_cert_file: a.pem\n  tls_key_file: a.key\n  tls_ca_file: ca.pem", "tls_ca_file", "needs \"tls_client_auth: true\""),
            ("tls_client_auth: yes", "tls_client_auth", "is not \"true\" or \"false\""),
            ("tls_cert_file:", "tls_cert_file", "has an empty value"),
            ("tls_cert_file: a.pem\n  tls_cert_file: b.pem", "tls_cert_file", "is a duplicate"),
            ("datastore_tls: on", "datastore_tls", "is not \"true\" or \"false\""),
            ("datastore_tls: true", "datastore_tls", "needs \"datastore_tls_ca_file\""),
            ("datastore_tls_ca_file: ca.pem", "datastore_tls_ca_file", "needs \"datastore_tls: true\""),
            ("datastore_tls_server_name: r", "datastore_tls_server_name", "needs \"datastore_tls: true\""),
            ("datastore_tls: true\n  datastore_tls_ca_file: ca.pem\n  datastore_tls_cert_file: c.pem", "datastore_tls_cert_file", "needs \"datastore_tls_key_file\""),
            ("datastore_tls: true\n  datastore_tls_ca_file: ca.pem\n  datastore_tls_key_file: c.key", "datastore_tls_key_file", "needs \"datastore_tls_cert_file\""),
            ("peer_tls: true", "peer_tls", "needs \"peer_tls_cert_file\""),
            ("peer_tls: true\n  peer_tls_cert_file: n.pem\n  peer_tls_key_file: n.key", "peer_tls", "needs \"peer_tls_ca_file\""),
            ("peer_tls_required: true", "peer_tls_required", "needs \"peer_tls_cert_file\""),
            ("peer_tls_key_file: n.key", "peer_tls_key_file", "needs \"peer_tls_cert_file\""),
            ("peer_tls: 1", "peer_tls", "is not \"true\" or \"false\""),
        ];
        for (extra, key, reason) in table {
            let e = err(&with(&format!("  {extra}\n")));
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
    fn tls_needs_tcp_endpoints() {
        let e = err(
            "dyn_o_mite:\n  listen: /tmp/dyn.sock\n  servers:\n  - 127.0.0.1:6379:1\n  \
                     tls_cert_file: a.pem\n  tls_key_file: a.key\n",
        );
        assert_eq!(e.key.as_deref(), Some("tls_cert_file"));
        assert!(e.reason.contains("Unix socket"), "{e}");
        let e = err(
            "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - /tmp/redis.sock:1\n  \
                     datastore_tls: true\n  datastore_tls_ca_file: ca.pem\n",
        );
        assert_eq!(e.key.as_deref(), Some("datastore_tls"));
    }

    #[test]
    fn every_tls_directive_name_is_handled() {
        for name in TLS_DIRECTIVES {
            let r = Conf::parse_str(PATH, &with(&format!("  {name}: \"1\"\n")));
            if let Err(e) = r {
                assert_ne!(e.reason, "is unknown", "{name}");
            }
        }
    }
}
