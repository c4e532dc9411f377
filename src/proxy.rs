//! Client listener (dyn_proxy.c): bind `listen`, accept clients.

use std::io;
use std::time::{Duration, Instant};

use log::{debug, warn};
use mio::Interest;

use crate::conf::Endpoint;
use crate::conn::{ClientState, Conn, ConnKind, ConnState, Role, Sock};
use crate::core::{Context, Timer};
use crate::msg::ConnId;

/// Most connections accepted per readable event, so that a flood of connects
/// cannot starve the clients already connected.
const ACCEPT_BATCH: usize = 256;
/// Pause before accepting again after running out of descriptors.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Binds a listening socket for `endpoint` (SO_REUSEADDR; a stale Unix socket
/// file is removed first).
pub fn bind(endpoint: &Endpoint, backlog: u32) -> io::Result<Sock> {
    match endpoint {
        Endpoint::Tcp { addr, .. } => {
            let domain = socket2::Domain::for_address(*addr);
            let s =
                socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
            s.set_reuse_address(true)?;
            s.set_nonblocking(true)?;
            s.bind(&(*addr).into())?;
            s.listen(backlog.min(i32::MAX as u32) as i32)?;
            Ok(Sock::TcpListener(mio::net::TcpListener::from_std(s.into())))
        }
        Endpoint::Unix(path) => {
            if path.exists() {
                std::fs::remove_file(path)?;
            }
            let l = std::os::unix::net::UnixListener::bind(path)?;
            l.set_nonblocking(true)?;
            Ok(Sock::UnixListener(mio::net::UnixListener::from_std(l)))
        }
    }
}

/// Text of an endpoint for log lines.
pub fn endpoint_name(e: &Endpoint) -> String {
    match e {
        Endpoint::Tcp { addr, .. } => addr.to_string(),
        Endpoint::Unix(p) => p.display().to_string(),
    }
}

impl Context {
    /// Accepts pending clients.
    pub(crate) fn proxy_accept(&mut self, lid: ConnId) {
        for _ in 0..ACCEPT_BATCH {
            let Some(l) = self.conns.get_mut(lid.0) else {
                return;
            };
            let kind = l.kind();
            let accepted = match &l.sock {
                Sock::TcpListener(l) => l.accept().and_then(|(s, a)| {
                    let _ = s.set_nodelay(true);
                    Ok((self.tls_accept(kind, s)?, a.to_string()))
                }),
                Sock::UnixListener(l) => {
                    l.accept().map(|(s, _)| (Sock::Unix(s), "unix".to_string()))
                }
                _ => return,
            };
            match accepted {
                Ok((sock, peer)) => {
                    let client = ClientState::new(
                        self.next_client_id,
                        self.settings.read_consistency,
                        self.settings.write_consistency,
                    );
                    self.next_client_id += 1;
                    let role = if kind == ConnKind::DnodeProxy {
                        Role::dnode_client(client)
                    } else {
                        Role::client(client)
                    };
                    let c = Conn::new(role, ConnState::Connected, sock, peer);
                    match self.add_conn(c, Interest::READABLE) {
                        Ok(cid) => debug!("c {} accepted from {}", cid.0, self.conns[cid.0].peer),
                        Err(e) => warn!("registering a client failed: {e}"),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // EMFILE/ENFILE and friends: the backlog keeps the clients
                    // until descriptors free up.
                    warn!(
                        "p {} accept failed: {}; retrying in {:?}",
                        lid.0, e, ACCEPT_RETRY
                    );
                    self.add_timer(Instant::now() + ACCEPT_RETRY, Timer::Accept(lid));
                    return;
                }
            }
        }
        // More may be waiting: come back on the next turn.
        self.add_timer(Instant::now(), Timer::Accept(lid));
    }
}
