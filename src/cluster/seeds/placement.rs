//! Placement of nodes found by DNS A records: the convention for a
//! Kubernetes StatefulSet behind a headless service.
//!
//! An A record carries an address and nothing else, and a pod's address
//! changes whenever it is rescheduled. Its *ordinal* (the `N` of
//! `dynomite-N`) does not, so placement follows the ordinal:
//!
//! ```text
//!  nodes N (DYNOMITE_DNS_NODES), racks R0..Rr-1 (DYNOMITE_DNS_RACKS)
//!  pod i:  name   <prefix>-i.<DYNOMITE_DNS_NAME>     (its per-pod DNS name)
//!          rack   R[i mod r]
//!          token  k * 2^32 / n    with k = i div r, n = ceil(N / r)
//!          dc     this node's datacenter;  port  this node's dyn_listen port
//!  e.g. N = 6, racks a,b,c: a gets pods 0 3, b 1 4, c 2 5; tokens 0, 2^31
//! ```
//!
//! Every rack holds one full copy of the ring, so each rack needs as many
//! pods as the others (N a multiple of r) for an even share. A node whose
//! YAML has no `tokens:` takes its own rack and token by the same rule from
//! its ordinal ([`local_placement`]), so one ConfigMap serves every pod. A
//! rescheduled pod comes back at a new address with the same token: the
//! other nodes replace its address (spec §2), no data moves.

/// This node's datacenter and peer port, which every record shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Here {
    pub dc: String,
    pub port: u16,
}

/// The StatefulSet's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convention {
    /// Number of pods (`DYNOMITE_DNS_NODES`, the StatefulSet's replicas).
    pub nodes: usize,
    /// Rack names (`DYNOMITE_DNS_RACKS`, comma-separated).
    pub racks: Vec<String>,
    /// Pod name without its ordinal (`DYNOMITE_DNS_POD_PREFIX`, default
    /// this host's name without its `-N`).
    pub pod_prefix: String,
    /// The headless service's domain (`DYNOMITE_DNS_NAME`).
    pub service: String,
}

impl Convention {
    /// Reads the convention's variables; `service` is `DYNOMITE_DNS_NAME`.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        service: String,
    ) -> Result<Convention, String> {
        let nodes = env("DYNOMITE_DNS_NODES")
            .ok_or("DYNOMITE_DNS_TYPE=A needs DYNOMITE_DNS_NODES (the number of pods)")?;
        let nodes = nodes
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0 && n <= 4096)
            .ok_or_else(|| format!("DYNOMITE_DNS_NODES: '{nodes}' is not a number of pods"))?;
        let racks: Vec<String> = env("DYNOMITE_DNS_RACKS")
            .ok_or("DYNOMITE_DNS_TYPE=A needs DYNOMITE_DNS_RACKS (rack names, comma-separated)")?
            .split(',')
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if racks.is_empty() {
            return Err("DYNOMITE_DNS_RACKS names no rack".into());
        }
        let pod_prefix = match env("DYNOMITE_DNS_POD_PREFIX") {
            Some(p) if !p.trim().is_empty() => p.trim().to_string(),
            _ => {
                let host = host_name(env).ok_or(
                    "DYNOMITE_DNS_TYPE=A needs DYNOMITE_DNS_POD_PREFIX or a host name ending in -N",
                )?;
                split_ordinal(&host)
                    .map(|(p, _)| p.to_string())
                    .ok_or_else(|| {
                        format!(
                            "host name '{host}' does not end in -N: set DYNOMITE_DNS_POD_PREFIX"
                        )
                    })?
            }
        };
        Ok(Convention {
            nodes,
            racks,
            pod_prefix,
            service: service.trim_end_matches('.').to_string(),
        })
    }

    /// The DNS name of pod `i`.
    pub fn pod_name(&self, i: usize) -> String {
        format!("{}-{}.{}", self.pod_prefix, i, self.service)
    }

    /// The rack of pod `i`.
    pub fn rack_of(&self, i: usize) -> &str {
        &self.racks[i % self.racks.len()]
    }

    /// The token of pod `i`: evenly spaced within its rack.
    pub fn token_of(&self, i: usize) -> u32 {
        let r = self.racks.len();
        let per_rack = self.nodes.div_ceil(r).max(1) as u64;
        let k = (i / r) as u64;
        ((k << 32) / per_rack) as u32
    }

    /// The record text of pod `i` at `ip`.
    pub fn record(&self, i: usize, ip: std::net::Ipv4Addr, here: &Here) -> String {
        format!(
            "{ip}:{}:{}:{}:{}",
            here.port,
            self.rack_of(i),
            here.dc,
            self.token_of(i)
        )
    }
}

/// `HOSTNAME` (set by Kubernetes to the pod's name), else the kernel's.
fn host_name(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env("HOSTNAME")
        .filter(|h| !h.is_empty())
        .or_else(crate::sys::host_name)
        .map(|h| h.split('.').next().unwrap_or_default().to_string())
}

/// `dynomite-12` → (`dynomite`, 12).
pub fn split_ordinal(host: &str) -> Option<(&str, usize)> {
    let (prefix, n) = host.rsplit_once('-')?;
    if prefix.is_empty() || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((prefix, n.parse().ok()?))
}

/// This node's own rack and token under the convention, when the pool asks
/// for it: `dyn_seed_provider: dns_provider`, `DYNOMITE_DNS_TYPE=A` and no
/// `tokens:` in the YAML. The ordinal is `DYNOMITE_DNS_ORDINAL` or the end
/// of the host name. `Ok(None)` when the convention does not apply.
pub fn local_placement(
    pool: &crate::conf::PoolConf,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, u32, usize)>, String> {
    if !pool.dyn_seed_provider.starts_with("dns_provider")
        || !pool.tokens.is_empty()
        || !env("DYNOMITE_DNS_TYPE").is_some_and(|t| t.trim().eq_ignore_ascii_case("A"))
    {
        return Ok(None);
    }
    let service = env("DYNOMITE_DNS_NAME").unwrap_or_else(|| super::dns::DEFAULT_NAME.into());
    let conv = Convention::from_env(env, service)?;
    let ordinal = match env("DYNOMITE_DNS_ORDINAL") {
        Some(o) => o
            .trim()
            .parse::<usize>()
            .map_err(|_| format!("DYNOMITE_DNS_ORDINAL: '{o}' is not a number"))?,
        None => {
            let host = host_name(env).ok_or("no host name to take the ordinal from")?;
            split_ordinal(&host)
                .map(|(_, n)| n)
                .ok_or_else(|| format!("host name '{host}' does not end in -N"))?
        }
    };
    if ordinal >= conv.nodes {
        return Err(format!(
            "ordinal {ordinal} is not below DYNOMITE_DNS_NODES ({})",
            conv.nodes
        ));
    }
    Ok(Some((
        conv.rack_of(ordinal).to_string(),
        conv.token_of(ordinal),
        ordinal,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(nodes: usize, racks: &[&str]) -> Convention {
        Convention {
            nodes,
            racks: racks.iter().map(|r| r.to_string()).collect(),
            pod_prefix: "dynomite".into(),
            service: "dynomite.default.svc.cluster.local".into(),
        }
    }

    #[test]
    fn six_pods_over_three_racks() {
        let c = conv(6, &["a", "b", "c"]);
        let got: Vec<(String, &str, u32)> = (0..6)
            .map(|i| (c.pod_name(i), c.rack_of(i), c.token_of(i)))
            .collect();
        let half = 1u32 << 31;
        let svc = "dynomite.default.svc.cluster.local";
        assert_eq!(
            got,
            vec![
                (format!("dynomite-0.{svc}"), "a", 0),
                (format!("dynomite-1.{svc}"), "b", 0),
                (format!("dynomite-2.{svc}"), "c", 0),
                (format!("dynomite-3.{svc}"), "a", half),
                (format!("dynomite-4.{svc}"), "b", half),
                (format!("dynomite-5.{svc}"), "c", half),
            ]
        );
        let here = Here {
            dc: "dc1".into(),
            port: 8101,
        };
        assert_eq!(
            c.record(4, "10.1.2.3".parse().unwrap(), &here),
            format!("10.1.2.3:8101:b:dc1:{half}")
        );
    }

    #[test]
    fn tokens_spread_evenly_in_a_rack() {
        let c = conv(8, &["r"]);
        let t: Vec<u32> = (0..8).map(|i| c.token_of(i)).collect();
        assert_eq!(t[0], 0);
        assert_eq!(t[4], 1 << 31);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(t[7], (7u64 * (1u64 << 32) / 8) as u32);
    }

    #[test]
    fn ordinals() {
        assert_eq!(split_ordinal("dynomite-12"), Some(("dynomite", 12)));
        assert_eq!(split_ordinal("my-db-0"), Some(("my-db", 0)));
        assert_eq!(split_ordinal("dynomite"), None);
        assert_eq!(split_ordinal("dynomite-x1"), None);
        assert_eq!(split_ordinal("-3"), None);
    }

    fn pool(provider: &str, tokens: Vec<u32>) -> crate::conf::PoolConf {
        let yaml = format!(
            "p:\n  listen: 127.0.0.1:8102\n  dyn_listen: 127.0.0.1:8101\n  \
             dyn_seed_provider: {provider}\n  servers:\n  - 127.0.0.1:6379:1\n"
        );
        let mut c = crate::conf::Conf::parse_str("test.yml", &yaml).expect("conf");
        c.pool.tokens = tokens;
        c.pool
    }

    fn env_of(vars: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn a_node_takes_its_place_from_its_host_name() {
        let env = env_of(vec![
            ("DYNOMITE_DNS_TYPE", "A"),
            ("DYNOMITE_DNS_NODES", "4"),
            ("DYNOMITE_DNS_RACKS", "r1,r2"),
            ("HOSTNAME", "dynomite-3"),
        ]);
        let got = local_placement(&pool("dns_provider", vec![]), &env).unwrap();
        assert_eq!(got, Some(("r2".to_string(), 1 << 31, 3)));
        // Tokens in the YAML, another provider or TXT records: the YAML rules.
        assert_eq!(
            local_placement(&pool("dns_provider", vec![5]), &env).unwrap(),
            None
        );
        assert_eq!(
            local_placement(&pool("florida_provider", vec![]), &env).unwrap(),
            None
        );
        let txt = env_of(vec![("DYNOMITE_DNS_TYPE", "TXT")]);
        assert_eq!(
            local_placement(&pool("dns_provider", vec![]), &txt).unwrap(),
            None
        );
    }

    #[test]
    fn a_bad_convention_is_refused() {
        for (vars, why) in [
            (
                vec![("DYNOMITE_DNS_TYPE", "A"), ("HOSTNAME", "d-0")],
                "DYNOMITE_DNS_NODES",
            ),
            (
                vec![
                    ("DYNOMITE_DNS_TYPE", "A"),
                    ("DYNOMITE_DNS_NODES", "2"),
                    ("HOSTNAME", "d-0"),
                ],
                "DYNOMITE_DNS_RACKS",
            ),
            (
                vec![
                    ("DYNOMITE_DNS_TYPE", "A"),
                    ("DYNOMITE_DNS_NODES", "2"),
                    ("DYNOMITE_DNS_RACKS", "r"),
                    ("HOSTNAME", "d-5"),
                ],
                "not below",
            ),
            (
                vec![
                    ("DYNOMITE_DNS_TYPE", "A"),
                    ("DYNOMITE_DNS_NODES", "2"),
                    ("DYNOMITE_DNS_RACKS", "r"),
                    ("HOSTNAME", "plainhost"),
                ],
                "does not end in -N",
            ),
        ] {
            let e = local_placement(&pool("dns_provider", vec![]), &env_of(vars)).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
