//! The one writer of dynomite YAML configurations in the tests: every
//! configuration a test hands the binary is built with `ConfYaml`, so the
//! shape of the file (a pool key, scalar directives, lists) is written here
//! only.
//!
//! ```text
//!   ConfYaml::new(POOL)                  dyn_o_mite:
//!       .set("listen", addr(8102))         listen: 127.0.0.1:8102
//!       .list("servers", [server(6379)])   servers:
//!       .render()                          - 127.0.0.1:6379:1
//! ```
//!
//! Only deliberately malformed YAML (flow mappings, aliases, a document
//! marker: inputs that check the parser's error path) is written by hand.

use std::path::Path;

/// The pool name the harness writes as the YAML root key.
pub const POOL: &str = "dyn_o_mite";

/// A loopback listen address: `127.0.0.1:port`.
pub fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// A `servers:` entry for a datastore on a loopback port, weight 1:
/// `127.0.0.1:port:1`.
pub fn server(port: u16) -> String {
    format!("127.0.0.1:{port}:1")
}

/// A `dyn_seeds:` entry for a peer on a loopback port:
/// `127.0.0.1:port:rack:dc:tokens` (`tokens` comma-separated).
pub fn seed(port: u16, rack: &str, dc: &str, tokens: &str) -> String {
    format!("127.0.0.1:{port}:{rack}:{dc}:{tokens}")
}

/// One directive of the pool.
enum Value {
    /// `key: value`, the value written as given (quote it yourself where
    /// YAML needs quotes, e.g. `'715827882'`).
    Scalar(String),
    /// `key:` followed by one `- item` line per item.
    List(Vec<String>),
}

/// A dynomite configuration: one pool with its directives, in the order
/// they were first set.
pub struct ConfYaml {
    pool: String,
    entries: Vec<(String, Value)>,
}

impl ConfYaml {
    /// An empty pool named `pool` (the harness always uses `POOL`).
    pub fn new(pool: &str) -> ConfYaml {
        ConfYaml {
            pool: pool.to_string(),
            entries: Vec::new(),
        }
    }

    /// Sets `key: value`. A key set before keeps its place and takes the
    /// new value, so defaults can be overridden.
    pub fn set(self, key: &str, value: impl ToString) -> ConfYaml {
        self.put(key, Value::Scalar(value.to_string()))
    }

    /// `set` for each pair, in order: the extra or overriding directives a
    /// test passes to the harness.
    pub fn set_all(self, pairs: &[(&str, &str)]) -> ConfYaml {
        pairs.iter().fold(self, |conf, (k, v)| conf.set(k, v))
    }

    /// Sets the list `key` to `items`. An empty list is left out of the
    /// file (e.g. no `dyn_seeds:` for a single node).
    pub fn list<I>(self, key: &str, items: I) -> ConfYaml
    where
        I: IntoIterator,
        I::Item: ToString,
    {
        let items: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
        self.put(key, Value::List(items))
    }

    fn put(mut self, key: &str, value: Value) -> ConfYaml {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
        self
    }

    /// The YAML text.
    pub fn render(&self) -> String {
        let mut yaml = format!("{}:\n", self.pool);
        for (key, value) in &self.entries {
            match value {
                Value::Scalar(v) => yaml.push_str(&format!("  {key}: {v}\n")),
                Value::List(items) if items.is_empty() => {}
                Value::List(items) => {
                    yaml.push_str(&format!("  {key}:\n"));
                    for item in items {
                        yaml.push_str(&format!("  - {item}\n"));
                    }
                }
            }
        }
        yaml
    }

    /// Writes the YAML text to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.render())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// The writer itself: order, overrides and empty lists.
#[test]
fn conf_yaml_renders_directives_in_order() {
    let yaml = ConfYaml::new(POOL)
        .set("listen", addr(8102))
        .set("timeout", 5000)
        .list("servers", [server(6379), server(6380)])
        .set_all(&[("timeout", "200"), ("rack", "r1")])
        .list("dyn_seeds", Vec::<String>::new())
        .set("tokens", "'0'")
        .render();
    assert_eq!(
        yaml,
        "dyn_o_mite:\n  listen: 127.0.0.1:8102\n  timeout: 200\n  servers:\n  - 127.0.0.1:6379:1\n  - 127.0.0.1:6380:1\n  rack: r1\n  tokens: '0'\n"
    );
    assert_eq!(seed(7000, "r2", "dc1", "1,2"), "127.0.0.1:7000:r2:dc1:1,2");
}
