//! TLS (beyond the original, whose users put ghostunnel or NGINX in front):
//! the certificate configurations built from PEM files, and the TLS
//! transport of one connection, [`TlsStream`], which `conn.rs` keeps as the
//! `Sock::Tls` variant. Plain sockets never pass through here.
//!
//! ```text
//!  conf (tls_*, datastore_tls_*, peer_tls_*) ─► TlsConfigs::load ─► Context::tls
//!        SIGHUP ─► TlsConfigs::reload: new handshakes use the new files;
//!                  a bad file keeps the old configuration (and is logged)
//!
//!  read:  socket ─read_tls─► rustls ─process_new_packets─► reader ─► chunk
//!                               └─ handshake / alert bytes ─write_tls─► socket
//!  write: iovecs ─writer─► rustls (bounded buffer) ─write_tls─► socket
//!  close: close_notify, written if the socket takes it (Drop)
//! ```
//!
//! Three places speak TLS:
//!
//! * the client listener (`tls_cert_file`, `tls_key_file`, optionally
//!   `tls_ca_file` with `tls_client_auth`): every accepted client is a TLS
//!   server session from its first byte;
//! * datastore connections (`datastore_tls`): a TLS client session towards
//!   redis, verified against `datastore_tls_ca_file`;
//! * peer links between Rust nodes (`peer_tls`): the connecting node writes
//!   one plain frame of type 6 with flag [`FLAG_TLS`] (dnode/msg.rs) and then
//!   a TLS handshake on the same connection. The accepting node sees the
//!   frame in its framer and turns the link into a TLS server session
//!   ([`TlsStream::start_server`]), handing it the bytes it had already read
//!   past the frame. C nodes never send that flag, so their plain (and
//!   encrypted) links keep working on the same port.
//!
//! Non-blocking rules: [`TlsStream::read`] and [`TlsStream::write_vectored`]
//! never block and report `WouldBlock` as a socket does. Bytes that rustls
//! still holds for the socket ([`TlsStream::wants_write`]) are written by
//! [`TlsStream::flush`], which the send handlers call first; after every TLS
//! read the connection is queued for a flush, so handshake replies and
//! requests written during the handshake go out (conn.rs).
//!
//! Secrets: key file contents never reach a log line; a key that cannot be
//! read is reported by file name and kind of fault only.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use log::{debug, error, info, warn};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::conf::{Endpoint, TlsConf};
use crate::conn::{ConnKind, Sock};
use crate::core::Context;
use crate::dnode::frame::{Frame, FrameError};
use crate::dnode::msg::{starttls_header, write_header};
use crate::ids::{ConnId, PeerId};

pub use crate::dnode::msg::FLAG_TLS;

/// Most plaintext rustls buffers for one connection before `write_vectored`
/// reports `WouldBlock` (the requests of a connection still handshaking,
/// or replies the socket does not take): the connection's queue holds the
/// rest, as it does for a plain socket.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// Why a certificate, key or CA file could not be used. `Display` names the
/// YAML key and the file, never the file's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError {
    /// The YAML key that names the file.
    pub key: &'static str,
    /// The file.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tls: \"{}\" '{}': {}", self.key, self.path, self.reason)
    }
}

impl std::error::Error for TlsError {}

/// The TLS configurations of a node, built from the files its YAML names.
/// Sessions hold an `Arc` of the configuration they started with, so a
/// reload changes only the handshakes that follow it.
#[derive(Clone, Default)]
pub struct TlsConfigs {
    /// The client listener speaks TLS with this.
    pub client: Option<Arc<ServerConfig>>,
    /// Datastore connections speak TLS with this.
    pub datastore: Option<Arc<ClientConfig>>,
    /// The name datastore certificates are checked against, when the YAML
    /// gives one (otherwise the host of the `servers` entry).
    pub datastore_name: Option<ServerName<'static>>,
    /// Inbound peer links that ask for TLS get this; without it such a link
    /// is refused.
    pub peer_server: Option<Arc<ServerConfig>>,
    /// Outbound peer links start TLS with this (`peer_tls: true`).
    pub peer_client: Option<Arc<ClientConfig>>,
    /// Inbound peer links that do not start TLS are refused.
    pub peer_required: bool,
    /// The file names, read again on reload.
    conf: TlsConf,
}

impl fmt::Debug for TlsConfigs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigs")
            .field("client", &self.client.is_some())
            .field("datastore", &self.datastore.is_some())
            .field("peer_server", &self.peer_server.is_some())
            .field("peer_client", &self.peer_client.is_some())
            .field("peer_required", &self.peer_required)
            .finish()
    }
}

impl TlsConfigs {
    /// Reads every file `conf` names and builds the configurations; nothing
    /// is built for the parts `conf` leaves off.
    pub fn load(conf: &TlsConf) -> Result<TlsConfigs, TlsError> {
        let mut out = TlsConfigs {
            conf: conf.clone(),
            peer_required: conf.peer_tls_required,
            ..TlsConfigs::default()
        };
        if let (Some(cert), Some(key)) = (&conf.cert_file, &conf.key_file) {
            let ca = if conf.client_auth {
                conf.ca_file.as_deref().map(|p| ("tls_ca_file", p))
            } else {
                None
            };
            out.client = Some(server_config(
                ("tls_cert_file", cert),
                ("tls_key_file", key),
                ca,
            )?);
        }
        if conf.datastore_tls {
            let ca = conf.datastore_ca_file.as_deref().unwrap_or_default();
            let ident = match (&conf.datastore_cert_file, &conf.datastore_key_file) {
                (Some(c), Some(k)) => Some((
                    ("datastore_tls_cert_file", c.as_str()),
                    ("datastore_tls_key_file", k.as_str()),
                )),
                _ => None,
            };
            out.datastore = Some(client_config(("datastore_tls_ca_file", ca), ident)?);
            if let Some(name) = &conf.datastore_server_name {
                out.datastore_name =
                    Some(ServerName::try_from(name.clone()).map_err(|_| TlsError {
                        key: "datastore_tls_server_name",
                        path: name.clone(),
                        reason: "is not a valid DNS name or IP address".into(),
                    })?);
            }
        }
        if let (Some(cert), Some(key), Some(ca)) = (
            &conf.peer_cert_file,
            &conf.peer_key_file,
            &conf.peer_ca_file,
        ) {
            let cert = ("peer_tls_cert_file", cert.as_str());
            let key = ("peer_tls_key_file", key.as_str());
            let ca = ("peer_tls_ca_file", ca.as_str());
            out.peer_server = Some(server_config(cert, key, Some(ca))?);
            if conf.peer_tls {
                out.peer_client = Some(client_config(ca, Some((cert, key)))?);
            }
        }
        Ok(out)
    }

    /// Reads the files again (SIGHUP). On success the new configurations
    /// replace the old ones for every handshake from now on; on failure
    /// nothing changes and the error names the file at fault.
    pub fn reload(&mut self) -> Result<(), TlsError> {
        let fresh = TlsConfigs::load(&self.conf)?;
        *self = fresh;
        Ok(())
    }

    /// True when any part of the node speaks TLS.
    pub fn any(&self) -> bool {
        self.client.is_some()
            || self.datastore.is_some()
            || self.peer_server.is_some()
            || self.peer_client.is_some()
    }
}

/// The crypto provider: *ring*, which builds with a C compiler alone (the
/// aws-lc-rs provider wants cmake and a much longer build). rustls marks
/// ring's provider deprecated only because it has no post-quantum key
/// exchange; X25519 and the NIST curves it offers are what redis and its
/// clients negotiate today.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from a certificate chain and key, verifying client
/// certificates against `ca` when given.
fn server_config(
    cert: KeyFile<'_>,
    key: KeyFile<'_>,
    ca: Option<KeyFile<'_>>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_certs(cert.0, cert.1)?;
    let key_der = load_key(key.0, key.1)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(cert.0, cert.1, e.to_string()))?;
    let builder = match ca {
        Some((ca_key, ca_path)) => {
            let roots = load_roots(ca_key, ca_path)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| error(ca_key, ca_path, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key_der)
        .map_err(|e| error(key.0, key.1, format!("does not fit the certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// A client configuration trusting the certificates of `ca`, presenting
/// `ident` (certificate, key) when given.
fn client_config(
    ca: KeyFile<'_>,
    ident: Option<(KeyFile<'_>, KeyFile<'_>)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = Arc::new(load_roots(ca.0, ca.1)?);
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| error(ca.0, ca.1, e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| error(ca.0, ca.1, e.to_string()))?
        .with_webpki_verifier(verifier);
    let config = match ident {
        Some((cert, key)) => {
            let chain = load_certs(cert.0, cert.1)?;
            let key_der = load_key(key.0, key.1)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| error(key.0, key.1, format!("does not fit the certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A file and the YAML key that names it (for error messages).
type KeyFile<'a> = (&'static str, &'a str);

fn error(key: &'static str, path: &str, reason: String) -> TlsError {
    TlsError {
        key,
        path: path.to_string(),
        reason,
    }
}

/// Why a PEM file could not be read, without any of its contents (the PEM
/// error of a malformed line would quote the line).
fn pem_reason(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as E;
    match e {
        E::Io(io) => io.to_string(),
        E::NoItemsFound => "holds no item of the expected kind".into(),
        E::SectionTooLarge => "has a PEM section over 256 MB".into(),
        _ => "is not a valid PEM file".into(),
    }
}

/// Every certificate of a PEM file (a chain: leaf first).
fn load_certs(key: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| error(key, path, pem_reason(&e)))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(key, path, pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(error(key, path, "holds no certificate".into()));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn load_key(key: &'static str, path: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            error(key, path, "holds no private key".into())
        }
        e => error(key, path, pem_reason(&e)),
    })
}

/// The trusted certificates of a CA file.
fn load_roots(key: &'static str, path: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs(key, path)? {
        roots
            .add(cert)
            .map_err(|e| error(key, path, format!("holds a bad CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The name a certificate is checked against for `host` (a DNS name or an
/// IP address, as a `servers` or `dyn_seeds` entry gives it).
pub fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_string()).ok()
}

/// One connection's TLS transport: the TCP socket and its rustls session.
/// An inbound peer link starts plain (`session` is `None`) and may turn into
/// TLS at its first frame ([`TlsStream::start_server`]).
pub struct TlsStream {
    tcp: mio::net::TcpStream,
    session: Option<rustls::Connection>,
    /// Plain bytes written before any TLS record: the frame that asks a peer
    /// for TLS. Empty (and unallocated) otherwise.
    preamble: Vec<u8>,
    /// The socket reached end of stream.
    eof: bool,
    /// The end of the handshake was reported ([`TlsStream::handshake_done`]).
    reported: bool,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("tls", &self.session.is_some())
            .field("eof", &self.eof)
            .finish()
    }
}

impl TlsStream {
    /// An accepted client: a TLS server session from the first byte.
    pub fn server(tcp: mio::net::TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let session = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        Ok(TlsStream::with(tcp, rustls::Connection::Server(session)))
    }

    /// A connection this node opens (datastore, peer): a TLS client session;
    /// `preamble` is written in plain before the handshake.
    pub fn client(
        tcp: mio::net::TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
        preamble: Vec<u8>,
    ) -> io::Result<TlsStream> {
        let session = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
        let mut s = TlsStream::with(tcp, rustls::Connection::Client(session));
        s.preamble = preamble;
        Ok(s)
    }

    /// An accepted peer link: plain until it asks for TLS.
    pub fn plain(tcp: mio::net::TcpStream) -> TlsStream {
        TlsStream {
            tcp,
            session: None,
            preamble: Vec::new(),
            eof: false,
            reported: false,
        }
    }

    fn with(tcp: mio::net::TcpStream, mut session: rustls::Connection) -> TlsStream {
        session.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        TlsStream {
            tcp,
            session: Some(session),
            preamble: Vec::new(),
            eof: false,
            reported: false,
        }
    }

    /// Turns a plain link into a TLS server session. `early` are the bytes
    /// already read off the socket past the frame that asked for TLS: the
    /// start of the handshake, fed to the session before the socket.
    pub fn start_server(&mut self, config: Arc<ServerConfig>, early: &[u8]) -> io::Result<()> {
        debug_assert!(self.session.is_none(), "TLS starts once");
        let session = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
        let mut session = rustls::Connection::Server(session);
        session.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        let mut rest = early;
        while !rest.is_empty() {
            let n = session.read_tls(&mut rest)?;
            if n == 0 {
                break;
            }
            if let Err(e) = session.process_new_packets() {
                self.session = Some(session);
                let _ = self.flush();
                return Err(tls_error(e));
            }
        }
        self.session = Some(session);
        match self.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// The TCP socket (registration, connect state).
    pub fn tcp(&self) -> &mio::net::TcpStream {
        &self.tcp
    }

    /// The TCP socket, mutably (registration).
    pub fn tcp_mut(&mut self) -> &mut mio::net::TcpStream {
        &mut self.tcp
    }

    /// True once the link speaks TLS (always, but for a peer link that has
    /// not asked for it).
    pub fn is_tls(&self) -> bool {
        self.session.is_some()
    }

    /// Once, when the handshake has just finished: the protocol version and
    /// cipher suite agreed, for the log.
    pub fn handshake_done(&mut self) -> Option<String> {
        let s = self.session.as_ref()?;
        if self.reported || s.is_handshaking() {
            return None;
        }
        self.reported = true;
        let version = s.protocol_version().map(|v| format!("{v:?}"));
        let suite = s
            .negotiated_cipher_suite()
            .map(|c| format!("{:?}", c.suite()));
        Some(format!(
            "{} {}",
            version.as_deref().unwrap_or("?"),
            suite.as_deref().unwrap_or("?")
        ))
    }

    /// True while bytes wait for the socket (plain preamble, handshake
    /// records, encrypted data, alerts).
    pub fn wants_write(&self) -> bool {
        !self.preamble.is_empty() || self.session.as_ref().is_some_and(|s| s.wants_write())
    }

    /// Writes what waits for the socket; `WouldBlock` when some is left.
    pub fn flush(&mut self) -> io::Result<()> {
        while !self.preamble.is_empty() {
            match self.tcp.write(&self.preamble) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.preamble.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.preamble = Vec::new();
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        while session.wants_write() {
            match session.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads plaintext into `buf`: `Ok(0)` at the end of the stream (with or
    /// without the other side's close_notify), `WouldBlock` when nothing is
    /// there yet (a handshake in progress included), `InvalidData` when the
    /// bytes are not TLS or fail it (the alert is sent first).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.session.is_none() {
            return self.tcp.read(buf);
        }
        loop {
            let session = self.session.as_mut().expect("TLS session");
            match session.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.eof {
                        return Ok(0);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match session.read_tls(&mut self.tcp) {
                Ok(0) => self.eof = true,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return match self.flush() {
                        Err(f) if f.kind() != io::ErrorKind::WouldBlock => Err(f),
                        _ => Err(e),
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = session.process_new_packets() {
                // The alert rustls queued goes out if the socket takes it.
                let _ = self.flush();
                return Err(tls_error(e));
            }
            if self.wants_write() {
                match self.flush() {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                    _ => {}
                }
            }
        }
    }

    /// Writes `bufs` through the session: first what already waits for the
    /// socket (`WouldBlock` if it still does not all go), then as much new
    /// plaintext as the session's buffer takes, flushed as far as the socket
    /// allows. Returns the plaintext bytes taken.
    pub fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.flush()?;
        let Some(session) = self.session.as_mut() else {
            return self.tcp.write_vectored(bufs);
        };
        let n = session.writer().write_vectored(bufs)?;
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            // The session's buffer is full (a handshake in progress).
            return Err(io::ErrorKind::WouldBlock.into());
        }
        match self.flush() {
            Ok(()) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            Err(e) => Err(e),
        }
    }
}

impl Drop for TlsStream {
    /// Says close_notify, if the socket takes it now.
    fn drop(&mut self) {
        if let Some(s) = self.session.as_mut() {
            s.send_close_notify();
            if let Err(e) = self.flush() {
                debug!("close_notify not written: {e}");
            }
        }
    }
}

/// A TLS failure as an I/O error of kind `InvalidData` (bad input: the
/// connection closes with a log line, as for any protocol error).
fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

impl Context {
    /// After a read on a TLS connection: the session may have handshake
    /// bytes, or requests written while it shook hands, to send now, so the
    /// connection is queued for a flush; the end of a handshake is logged
    /// (peers and datastores at info, clients at debug).
    pub(crate) fn tls_read_done(&mut self, cid: ConnId) {
        let c = &mut self.conns[cid.0];
        if let Sock::Tls(t) = &mut c.sock {
            if let Some(what) = t.handshake_done() {
                let kind = c.kind();
                let line = format!(
                    "{} {} {} TLS established: {what}",
                    kind.tag(),
                    cid.0,
                    c.peer
                );
                if kind == ConnKind::Client {
                    debug!("{line}");
                } else {
                    info!("{line}");
                }
            }
        }
        self.schedule_flush(cid);
    }

    /// Writes what a TLS session holds for the socket of `cid` (the send
    /// handlers call it first). `Ok(true)` when nothing is left (always, for
    /// a plain socket); `Ok(false)` when the socket would block, WRITABLE
    /// then being on.
    pub(crate) fn tls_flush(&mut self, cid: ConnId) -> io::Result<bool> {
        let Sock::Tls(t) = &mut self.conns[cid.0].sock else {
            return Ok(true);
        };
        if !t.wants_write() {
            return Ok(true);
        }
        match t.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.set_write_interest(cid, true);
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// SIGHUP: reads the certificate, key and CA files again. Connections
    /// already open keep their sessions; a file that fails keeps the old
    /// configuration, with an error line.
    pub(crate) fn tls_reload(&mut self) {
        if !self.tls.any() {
            return;
        }
        match self.tls.reload() {
            Ok(()) => info!("TLS certificates and keys reloaded"),
            Err(e) => error!("TLS reload failed, the previous certificates stay in use: {e}"),
        }
    }

    /// The socket of a connection accepted on a listener of `kind`: a TLS
    /// server session on a TLS client port, a link that may start TLS on the
    /// peer port of a node with peer certificates, the plain socket
    /// otherwise.
    pub(crate) fn tls_accept(&self, kind: ConnKind, tcp: mio::net::TcpStream) -> io::Result<Sock> {
        match kind {
            ConnKind::Proxy => match &self.tls.client {
                Some(cfg) => Ok(Sock::Tls(Box::new(TlsStream::server(tcp, cfg.clone())?))),
                None => Ok(Sock::Tcp(tcp)),
            },
            ConnKind::DnodeProxy if self.tls.peer_server.is_some() => {
                Ok(Sock::Tls(Box::new(TlsStream::plain(tcp))))
            }
            _ => Ok(Sock::Tcp(tcp)),
        }
    }

    /// A datastore connection just opened to `endpoint`: wrapped in a TLS
    /// client session when `datastore_tls` is on.
    pub(crate) fn datastore_tls_sock(&self, sock: Sock, endpoint: &Endpoint) -> io::Result<Sock> {
        let (Some(cfg), Endpoint::Tcp { host, .. }) = (&self.tls.datastore, endpoint) else {
            return Ok(sock);
        };
        let Sock::Tcp(tcp) = sock else {
            return Ok(sock);
        };
        let name = match &self.tls.datastore_name {
            Some(n) => n.clone(),
            None => server_name(host).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{host}' is not a name a certificate can be checked against"),
                )
            })?,
        };
        let t = TlsStream::client(tcp, cfg.clone(), name, Vec::new())?;
        Ok(Sock::Tls(Box::new(t)))
    }

    /// An outbound link just opened to `peer`: with `peer_tls`, it asks for
    /// TLS in its first frame ([`FLAG_TLS`]) and shakes hands right after,
    /// checking the peer's certificate against its seed host.
    pub(crate) fn peer_tls_sock(&self, sock: Sock, peer: PeerId) -> io::Result<Sock> {
        let Some(cfg) = &self.tls.peer_client else {
            return Ok(sock);
        };
        let Sock::Tcp(tcp) = sock else {
            return Ok(sock);
        };
        let p = self.topology.peer(peer);
        let name = server_name(&p.host).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "'{}' is not a name a certificate can be checked against",
                    p.host
                ),
            )
        })?;
        let same_dc = p.dc == self.node.dc;
        let mut preamble = Vec::new();
        write_header(&mut preamble, &starttls_header(same_dc), 0);
        let t = TlsStream::client(tcp, cfg.clone(), name, preamble)?;
        Ok(Sock::Tls(Box::new(t)))
    }

    /// Looks at a frame the framer of `cid` found, for peer TLS: the frame
    /// that asks for TLS turns an inbound link into a TLS session
    /// (`Ok(true)`: the bytes after it went to the session); a plain frame
    /// on a node with `peer_tls_required` is refused. `Ok(false)`: carry on.
    pub(crate) fn tls_gate_frame(
        &mut self,
        cid: ConnId,
        r: &Result<Frame, FrameError>,
    ) -> io::Result<bool> {
        let header = match r {
            // Cipher pieces follow an Encrypted frame, gated when it began.
            Ok(Frame::Again) | Ok(Frame::Cipher { .. }) | Err(_) => return Ok(false),
            Ok(Frame::Datastore(h)) | Ok(Frame::Encrypted(h)) => h,
            Ok(Frame::Gossip { header, .. }) | Ok(Frame::Skipped { header, .. }) => header,
        };
        if header.is_starttls() {
            self.peer_start_tls(cid)?;
            return Ok(true);
        }
        let c = &self.conns[cid.0];
        let tls = matches!(&c.sock, Sock::Tls(t) if t.is_tls());
        if self.tls.peer_required && c.kind() == ConnKind::DnodeClient && !tls {
            warn!(
                "dc {} peer {} refused: plain link, and peer_tls_required is set",
                cid.0, c.peer
            );
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "plain peer link refused (peer_tls_required)",
            ));
        }
        Ok(false)
    }

    /// An inbound peer asked for TLS: the link becomes a TLS server session,
    /// fed first with the bytes already read past the asking frame.
    fn peer_start_tls(&mut self, cid: ConnId) -> io::Result<()> {
        let refuse = |why: &str| Err(io::Error::new(io::ErrorKind::InvalidData, why.to_string()));
        let c = &mut self.conns[cid.0];
        let tag = c.kind().tag();
        if c.kind() != ConnKind::DnodeClient {
            return refuse("a peer's reply stream asks for TLS");
        }
        let Some(cfg) = self.tls.peer_server.clone() else {
            warn!(
                "{tag} {} peer {} asks for TLS, but this node has no peer_tls_cert_file",
                cid.0, c.peer
            );
            return refuse("peer TLS is not configured on this node");
        };
        let Sock::Tls(t) = &mut c.sock else {
            return refuse("peer TLS is not configured on this node");
        };
        if t.is_tls() {
            return refuse("a TLS peer link asks for TLS again");
        }
        let early = match c.rbuf {
            Some(b) => self.mbufs.range(b, c.rpos, c.rend),
            None => &[],
        };
        t.start_server(cfg, early)?;
        c.rpos = c.rend;
        debug!("{tag} {} peer {} starts TLS", cid.0, c.peer);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder of test files, removed on drop.
    struct Files(std::path::PathBuf);

    impl Files {
        fn new(name: &str) -> Files {
            let dir = std::env::temp_dir().join(format!("dyn-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("mkdir");
            Files(dir)
        }

        fn put(&self, name: &str, text: &str) -> String {
            let p = self.0.join(name);
            std::fs::write(&p, text).expect("write");
            p.display().to_string()
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const SECRET: &str = "c2VjcmV0LWtleS1tYXRlcmlhbC1uZXZlci1sb2dnZWQ=";

    fn client_conf(cert: &str, key: &str) -> TlsConf {
        TlsConf {
            cert_file: Some(cert.to_string()),
            key_file: Some(key.to_string()),
            ..TlsConf::default()
        }
    }

    #[test]
    fn nothing_configured_builds_nothing() {
        let t = TlsConfigs::load(&TlsConf::default()).expect("load");
        assert!(!t.any());
        assert!(t.client.is_none() && t.datastore.is_none() && t.peer_server.is_none());
    }

    #[test]
    fn bad_files_are_named_by_key_and_path_never_by_contents() {
        let f = Files::new("bad");
        let missing = f.0.join("missing.pem").display().to_string();
        let garbage = f.put("garbage.pem", "not a certificate\n");
        let broken = f.put(
            "broken.pem",
            &format!("-----BEGIN CERTIFICATE-----\n{SECRET}!!\n"),
        );
        let secret_key = f.put(
            "secret.key",
            &format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
        );
        let cases = [
            (
                client_conf(&missing, &secret_key),
                "tls_cert_file",
                &missing,
            ),
            (
                client_conf(&garbage, &secret_key),
                "tls_cert_file",
                &garbage,
            ),
            (client_conf(&broken, &secret_key), "tls_cert_file", &broken),
        ];
        for (conf, key, path) in cases {
            let e = TlsConfigs::load(&conf).expect_err("must fail");
            assert_eq!((e.key, e.path.as_str()), (key, path.as_str()), "{e}");
            assert!(!e.to_string().contains(SECRET), "{e}");
        }
        // Datastore and peer keys name their own YAML keys.
        let conf = TlsConf {
            datastore_tls: true,
            datastore_ca_file: Some(garbage.clone()),
            ..TlsConf::default()
        };
        assert_eq!(
            TlsConfigs::load(&conf).unwrap_err().key,
            "datastore_tls_ca_file"
        );
        let conf = TlsConf {
            peer_cert_file: Some(missing.clone()),
            peer_key_file: Some(secret_key.clone()),
            peer_ca_file: Some(garbage.clone()),
            ..TlsConf::default()
        };
        assert_eq!(
            TlsConfigs::load(&conf).unwrap_err().key,
            "peer_tls_cert_file"
        );
        // A key file whose contents are not a usable key: the error says so
        // without quoting it (checked with a real certificate in tests/it).
        assert!(!format!("{:?}", load_key("tls_key_file", &secret_key)).contains(SECRET));
        assert_eq!(
            load_key("tls_key_file", &garbage).unwrap_err().reason,
            "holds no private key"
        );
    }

    #[test]
    fn a_failed_reload_keeps_the_old_configuration() {
        let f = Files::new("reload");
        let garbage = f.put("garbage.pem", "x\n");
        // Nothing loaded yet: a reload of a configuration with bad files
        // fails and leaves it as it was.
        let mut t = TlsConfigs {
            conf: client_conf(&garbage, &garbage),
            ..TlsConfigs::default()
        };
        assert!(t.reload().is_err());
        assert!(t.client.is_none());
        assert_eq!(t.conf, client_conf(&garbage, &garbage));
    }

    #[test]
    fn server_names_for_hosts() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Some(ServerName::IpAddress(_))));
        assert!(matches!(
            server_name("redis.internal"),
            Some(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name!").is_none());
    }
}
