//! Every shipped sample configuration loads, with the expected meaning.
//!
//! Covers `conf/*.yml` and the original's samples kept unchanged in
//! `tests/data/original-conf/`: a drop-in replacement must accept each of
//! them as the original does.

use std::path::Path;

use dynomite::conf::{Conf, DataStore};

/// File, client listener, server display names, tokens, datastore.
type Expected = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [u32],
    DataStore,
);

const SHIPPED: &[Expected] = &[
    (
        "dynomite.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:6379"],
        &[101134286],
        DataStore::Redis,
    ),
    (
        "redis_single.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:6379"],
        &[],
        DataStore::Redis,
    ),
    (
        "mc_single.yml",
        "127.0.0.1:8102",
        &["127.0.0.1"],
        &[437425602],
        DataStore::Memcache,
    ),
    (
        "redis_rack1_node.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22121"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_rack2_node.yml",
        "127.0.0.2:8102",
        &["127.0.0.1:22122"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_rack3_node.yml",
        "127.0.0.3:8102",
        &["127.0.0.1:22123"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_dc1.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22121"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_dc2.yml",
        "127.0.0.2:8102",
        &["127.0.0.1:22122"],
        &[1383429731],
        DataStore::Redis,
    ),
];

const ORIGINAL: &[Expected] = &[
    (
        "dynomite.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22122"],
        &[101134286],
        DataStore::Redis,
    ),
    (
        "dynomite_dns_single.yml",
        "0.0.0.0:8102",
        &["127.0.0.1:6379"],
        &[0],
        DataStore::Redis,
    ),
    (
        "dynomite_florida_single.yml",
        "0.0.0.0:8102",
        &["127.0.0.1:6379"],
        &[0],
        DataStore::Redis,
    ),
    (
        "mc_single.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22122"],
        &[437425602],
        DataStore::Memcache,
    ),
    (
        "node1.yml",
        "0.0.0.0:8102",
        &["127.0.0.1:11371"],
        &[101134286],
        DataStore::Redis,
    ),
    (
        "node2.yml",
        "0.0.0.0:8114",
        &["127.0.0.1:11370"],
        &[101134286],
        DataStore::Redis,
    ),
    (
        "redis_dc1.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22121"],
        &[12345678],
        DataStore::Redis,
    ),
    (
        "redis_dc2.yml",
        "127.0.0.2:8102",
        &["127.0.0.1:22122"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_node1.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22122"],
        &[12345678],
        DataStore::Redis,
    ),
    (
        "redis_node2.yml",
        "127.0.0.2:8102",
        &["127.0.0.1:22123"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_rack1_node.yml",
        "127.0.0.1:8102",
        &["127.0.0.1:22121"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_rack2_node.yml",
        "127.0.0.2:8102",
        &["127.0.0.1:22122"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_rack3_node.yml",
        "127.0.0.3:8102",
        &["127.0.0.1:22123"],
        &[1383429731],
        DataStore::Redis,
    ),
    (
        "redis_single.yml",
        "0.0.0.0:8102",
        &["127.0.0.1:22122"],
        &[437425602],
        DataStore::Redis,
    ),
];

fn yml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

fn check_dir(dir: &str, expected: &[Expected]) -> Vec<Conf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut listed: Vec<String> = expected.iter().map(|e| e.0.to_string()).collect();
    listed.sort();
    assert_eq!(
        yml_files(&dir),
        listed,
        "every .yml in {} has an expectation",
        dir.display()
    );
    let mut confs = Vec::new();
    for (file, listen, servers, tokens, data_store) in expected {
        let path = dir.join(file);
        let path = path.to_str().unwrap();
        let conf = Conf::load(path).unwrap_or_else(|e| panic!("{e}"));
        let pool = &conf.pool;
        assert_eq!(conf.path, path);
        assert_eq!(pool.name, "dyn_o_mite", "{file}");
        assert_eq!(pool.listen.to_string(), *listen, "{file}: listen");
        let names: Vec<&str> = pool.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, *servers, "{file}: servers");
        assert_eq!(pool.tokens, *tokens, "{file}: tokens");
        assert_eq!(pool.data_store, *data_store, "{file}: data_store");
        confs.push(conf);
    }
    confs
}

#[test]
fn shipped_samples_load() {
    let confs = check_dir("conf", SHIPPED);
    for conf in &confs {
        // The shipped files are meant to be warning-free.
        assert!(
            conf.warnings.is_empty(),
            "{}: {:?}",
            conf.path,
            conf.warnings
        );
    }
    let rack2 = &confs[4].pool;
    assert_eq!(rack2.rack, "rack2");
    assert_eq!(rack2.dyn_seeds.len(), 2);
    assert_eq!(
        rack2.read_consistency,
        dynomite::conf::Consistency::DcSafeQuorum
    );
    let single = &confs[1].pool;
    assert!(single.dyn_listen.is_none());
}

#[test]
fn original_samples_load_unchanged() {
    let confs = check_dir("tests/data/original-conf", ORIGINAL);
    let by_name = |name: &str| {
        let i = ORIGINAL.iter().position(|e| e.0 == name).unwrap();
        &confs[i].pool
    };
    // mbuf_size and max_msgs given in the file win over -m/-M.
    let p = by_name("dynomite.yml");
    assert_eq!((p.mbuf_size, p.max_msgs), (Some(16384), Some(300_000)));
    assert_eq!(p.stats_listen.to_string(), "0.0.0.0:22222");
    let p = by_name("redis_dc1.yml");
    assert_eq!(p.datacenter, "dc1");
    assert_eq!(
        p.secure_server_option,
        dynomite::conf::SecureOption::Datacenter
    );
    assert_eq!(p.datastore_connections, 3);
    assert_eq!(p.dyn_seeds[0].dc, "dc2");
    assert_eq!(p.dyn_seeds[0].tokens, [1383429731]);
    let p = by_name("node1.yml");
    assert!(p.preconnect);
    assert_eq!(p.stats_listen.to_string(), "0.0.0.0:33331");
    let p = by_name("dynomite_dns_single.yml");
    assert_eq!(p.dyn_seed_provider, "dns_provider");
}
