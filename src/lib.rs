//! dynomite-rs: a Dynamo layer (sharding, replication, multi-rack, multi-DC) in
//! front of Redis and Memcached, wire-compatible with Netflix Dynomite.
//!
//! See ARCHITECTURE.md for the code map; every module names the file of the
//! original it plays.

pub mod conf;
pub mod hashkit;
pub mod options;
pub mod proto;
