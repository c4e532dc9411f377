//! Helpers shared by the configuration's unit tests: a minimal valid pool
//! and loading text that must pass or fail.

use super::{Conf, ConfError, Endpoint};

/// The path the test texts are loaded under.
pub const PATH: &str = "test.yml";

/// A minimal valid pool followed by `extra` directive lines.
pub fn with(extra: &str) -> String {
    format!("dyn_o_mite:\n  listen: 127.0.0.1:8102\n  servers:\n  - 127.0.0.1:6379:1\n{extra}")
}

/// The configuration `text` loads to; panics with the error if it fails.
pub fn ok(text: &str) -> Conf {
    match Conf::parse_str(PATH, text) {
        Ok(conf) => conf,
        Err(e) => panic!("expected success for {text:?}, got {e}"),
    }
}

/// The error `text` fails with; panics if it loads.
pub fn err(text: &str) -> ConfError {
    match Conf::parse_str(PATH, text) {
        Ok(conf) => panic!("expected an error for {text:?}, got {:?}", conf.pool),
        Err(e) => e,
    }
}

/// The endpoint of `host:port`, resolved.
pub fn tcp(host: &str, port: u16) -> Endpoint {
    Endpoint::parse_listen(&format!("{host}:{port}")).unwrap()
}
