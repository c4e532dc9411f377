//! The cluster (dyn_vnode.c, dyn_response_mgr.c, the fan-out of
//! dyn_client.c): who owns a key, where a request's copies go, and which
//! answer a client gets.

pub mod coordinator;
pub mod entropy;
pub mod gossip;
pub mod handoff;
pub mod health;
pub mod membership;
pub mod plan;
pub mod repair;
pub mod resp;
pub mod response_mgr;
pub mod rr_meta;
pub mod seeds;
pub mod state;
pub mod topology;
pub mod warmup;

#[cfg(test)]
mod tests;
