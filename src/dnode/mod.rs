//! The peer side of a node (dyn_dnode_*.c): the frame format peers speak,
//! inbound peer connections and outbound peer pools.

pub mod client;
pub mod msg;
pub mod peer;
