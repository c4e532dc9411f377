//! The integration tests, in one test binary (`cargo test --test it`): one
//! module per area, and the harness (`harness/`) and the golden vectors
//! (`golden.rs`) compiled once for all of them.
//!
//! Run one area with `cargo test --test it MODULE::`, e.g.
//! `cargo test --test it memcached::`.

mod golden;
mod harness;

mod admin;
mod auth;
mod blocking;
mod clients;
mod cluster;
mod conf_files;
mod datastore;
mod entropy;
mod faults;
mod golden_hashkit;
mod handoff;
mod hash_tool;
mod kubernetes;
mod membership;
mod memcached;
mod memcached_meta;
mod peer_encryption;
mod peer_protocol;
mod process;
mod pubsub;
mod read_repair;
mod read_repair_meta;
mod redis_differential;
mod redis_nested_replies;
mod redis_proxy;
mod soup;
mod tls;
mod transactions;
