//! Start-up of a node (dyn_core.c `core_start`, `core_ctx_create`): the
//! context, the admin mode, and the listeners registered with the loop. The
//! binary and the in-process test harness both start a node here, so tests
//! run the real start-up.
//!
//! ```text
//!  main: bind listeners (foreground) ─► daemonize ─► pid file
//!        ─► Context::start(conf, topology, listeners)
//!             Context::new ─► admin_op ─► sp, p, dp listeners added
//!        ─► signals ─► run: connect_all, then turn after turn
//! ```

use std::io;

use log::{error, info};

use crate::cluster::topology::Topology;
use crate::conf::Conf;
use crate::conn::{ConnKind, Sock};
use crate::core::Context;
use crate::proxy;

/// The bound listening sockets of a node. The binary binds them before it
/// daemonizes, so that a taken port fails in the foreground.
#[derive(Debug)]
pub struct Listeners {
    /// `listen:` (clients).
    pub client: Sock,
    /// `stats_listen:` (stats and admin HTTP).
    pub stats: Sock,
    /// `dyn_listen:` (peers), when the pool has one.
    pub peer: Option<Sock>,
}

impl Context {
    /// Builds the context of `conf`'s pool and adds its listeners to the
    /// loop; failures are logged here and returned. `admin_op` is the `-x`
    /// mode. Nothing is connected yet: `run` (or the caller, turn by turn)
    /// calls `connect_all` first.
    pub fn start(
        conf: &Conf,
        topology: Topology,
        listeners: Listeners,
        mbuf_size: usize,
        max_msgs: usize,
        admin_op: u32,
    ) -> io::Result<Context> {
        let pool = &conf.pool;
        let npeers = topology.peer_count();
        let mut ctx = Context::new(pool, topology, mbuf_size, max_msgs).inspect_err(|e| {
            error!("event loop setup failed: {e}");
        })?;
        ctx.admin_op = admin_op;
        ctx.crypto.key = crate::dnode::crypto::PeerKey::for_node(pool, mbuf_size).map_err(|e| {
            error!("{e}");
            io::Error::new(io::ErrorKind::InvalidInput, e)
        })?;
        ctx.log_peer_crypto();
        ctx.handoff_load();
        ctx.tls = crate::tls::TlsConfigs::load(&pool.tls).map_err(|e| {
            error!("{e}");
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
        })?;
        let stats_name = proxy::endpoint_name(&pool.stats_listen);
        ctx.add_listener(listeners.stats, ConnKind::StatsProxy, stats_name.clone())
            .inspect_err(|e| error!("listening on {stats_name} failed: {e}"))?;
        info!("sp listening on {stats_name} for stats and admin requests");
        let name = proxy::endpoint_name(&pool.listen);
        ctx.add_listener(listeners.client, ConnKind::Proxy, name.clone())
            .inspect_err(|e| error!("listening on {name} failed: {e}"))?;
        info!(
            "p listening on {name} for clients{}, {} datastore(s)",
            if ctx.tls.client.is_some() {
                " (TLS)"
            } else {
                ""
            },
            pool.servers.len()
        );
        if let (Some(l), Some(e)) = (listeners.peer, &pool.dyn_listen) {
            let name = proxy::endpoint_name(e);
            ctx.add_listener(l, ConnKind::DnodeProxy, name.clone())
                .inspect_err(|err| error!("listening on {name} failed: {err}"))?;
            info!("dp listening on {name} for peers, {npeers} node(s) in the cluster");
        }
        ctx.gossip_start();
        Ok(ctx)
    }
}
