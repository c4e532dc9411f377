//! dynomite-rs: a Dynamo layer (sharding, replication, multi-rack, multi-DC) in
//! front of Redis and Memcached, wire-compatible with Netflix Dynomite.
//!
//! See ARCHITECTURE.md for the code map; every module names the file of the
//! original it plays.

pub mod auth;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod conf;
pub mod conn;
pub mod conn_pool;
pub mod core;
pub mod daemon;
pub mod dnode;
pub mod errors;
pub mod fragment;
pub mod hashkit;
pub mod ids;
pub mod keyless;
pub mod logging;
pub mod mbuf;
pub mod memcache;
pub mod memcache_binary;
pub mod msg;
pub mod options;
pub mod proto;
pub mod proxy;
pub mod pubsub;
pub mod request;
pub mod response;
pub mod select;
pub mod server;
pub mod signal;
pub mod stats;
pub mod sys;
pub mod tls;
pub mod txn;

/// The unit tests count allocations (see `sys::alloc_count`).
#[cfg(test)]
#[global_allocator]
static ALLOC: sys::alloc_count::Counting = sys::alloc_count::Counting;

/// Version string printed by `-V`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
