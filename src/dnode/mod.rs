//! The peer side of a node (dyn_dnode_*.c): the frame format peers speak,
//! the frame layer of a peer connection, inbound peer connections and
//! outbound peer pools.

pub mod client;
pub mod frame;
pub mod msg;
pub mod peer;
