//! contrib/kubernetes/dynomite.yaml: the manifests parse, agree with each
//! other, and the configuration they carry passes `dynomite -t` in every
//! pod, which places itself by its ordinal.

use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::harness::{TempDir, DYNOMITE_BIN};

const MANIFEST: &str = include_str!("../../contrib/kubernetes/dynomite.yaml");

fn kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in the manifest"))
}

/// The dynomite container's environment, with Kubernetes' `$(VAR)`
/// expansion of the variables it defines before (the namespace: `default`).
fn container_env(sts: &Yaml) -> Vec<(String, String)> {
    let containers = sts["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("containers");
    let dyn_c = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("dynomite"))
        .expect("a dynomite container");
    let mut env: Vec<(String, String)> = Vec::new();
    for e in dyn_c["env"].as_vec().expect("env") {
        let name = e["name"].as_str().expect("env name").to_string();
        let value = match e["value"].as_str() {
            Some(v) => v.to_string(),
            // fieldRef: the namespace.
            None => "default".to_string(),
        };
        let mut expanded = value.clone();
        for (k, v) in &env {
            expanded = expanded.replace(&format!("$({k})"), v);
        }
        env.push((name, expanded));
    }
    env
}

#[test]
fn manifests_parse_agree_and_carry_a_valid_configuration() {
    let docs = YamlLoader::load_from_str(MANIFEST).expect("the manifest is YAML");
    let docs: Vec<Yaml> = docs.into_iter().filter(|d| !d.is_null()).collect();
    assert_eq!(docs.len(), 3, "ConfigMap, Service, StatefulSet");
    let cm = kind(&docs, "ConfigMap");
    let svc = kind(&docs, "Service");
    let sts = kind(&docs, "StatefulSet");

    // A headless service that the StatefulSet names and selects.
    assert_eq!(svc["spec"]["clusterIP"].as_str(), Some("None"));
    let svc_name = svc["metadata"]["name"].as_str().expect("service name");
    assert_eq!(sts["spec"]["serviceName"].as_str(), Some(svc_name));
    assert_eq!(
        svc["spec"]["selector"]["app"],
        sts["spec"]["template"]["metadata"]["labels"]["app"]
    );
    let sts_name = sts["metadata"]["name"].as_str().expect("statefulset name");

    // The convention's variables match the StatefulSet's shape.
    let env = container_env(sts);
    let var = |k: &str| {
        env.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{k} not set"))
    };
    let replicas = sts["spec"]["replicas"].as_i64().expect("replicas") as usize;
    assert_eq!(var("DYNOMITE_DNS_NODES"), replicas.to_string());
    assert_eq!(var("DYNOMITE_DNS_TYPE"), "A");
    assert_eq!(
        var("DYNOMITE_DNS_NAME"),
        format!("{svc_name}.default.svc.cluster.local")
    );
    let racks: Vec<String> = var("DYNOMITE_DNS_RACKS")
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(replicas % racks.len(), 0, "each rack holds a full copy");

    // The mounted configuration passes `dynomite -t` in every pod.
    let conf = cm["data"]["dynomite.yml"].as_str().expect("dynomite.yml");
    let dir = TempDir::new("k8s");
    let path = dir.path().join("dynomite.yml");
    std::fs::write(&path, conf).unwrap();
    for ordinal in 0..replicas {
        let out = Command::new(DYNOMITE_BIN)
            .arg("-t")
            .arg("-c")
            .arg(&path)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("HOSTNAME", format!("{sts_name}-{ordinal}"))
            .output()
            .expect("run dynomite -t");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "pod {ordinal}: {stderr}");
        assert!(stderr.contains("syntax is valid"), "{stderr}");
        let rack = &racks[ordinal % racks.len()];
        assert!(
            stderr.contains(&format!("ordinal {ordinal}: rack '{rack}'")),
            "pod {ordinal}: {stderr}"
        );
    }
}
