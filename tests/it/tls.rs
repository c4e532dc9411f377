//! TLS (beyond the original): the client port with redis-cli, redis-py,
//! ioredis and a rustls client; bad input on a TLS port; client
//! certificates; certificate reload on SIGHUP; datastore TLS to a real
//! `redis-server --tls-port`; peer TLS between nodes, with plain links still
//! accepted on the same peer port (or refused when `peer_tls_required`).
//!
//! Certificates are made at run time with the `openssl` command line: one
//! CA, and leaf certificates for 127.0.0.1 signed by it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::harness::cluster::{node, Cluster};
use crate::harness::conf::{addr, server, ConfYaml, POOL};
use crate::harness::{
    encode, free_port, poll_until, python_module_version, require_program, run_client,
    run_with_deadline, wait_for, Client, Dynomite, DynomiteProcess, RedisServer, Start, TempDir,
    INSTALL_HINT, READ_TIMEOUT,
};

/// How long a reload (a signal through the loop) may take to show.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// certificates
// ---------------------------------------------------------------------------

/// A CA and the certificates it signed, in a folder of their own.
struct Pki {
    dir: TempDir,
}

/// A leaf certificate and its key.
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let (out, in_time) = run_with_deadline(
        Command::new("openssl").args(args).current_dir(dir),
        Duration::from_secs(30),
    );
    assert!(
        in_time && out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new CA (EC P-256, valid two days).
    fn new() -> Pki {
        require_program(
            "openssl",
            &["version"],
            "the openssl command line is required",
        );
        let pki = Pki {
            dir: TempDir::new("tls-pki"),
        };
        openssl(
            pki.dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=dynomite test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        pki
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn ca_str(&self) -> String {
        self.ca().display().to_string()
    }

    /// A certificate for 127.0.0.1 and localhost (server and client use),
    /// with common name `cn` and serial `serial`.
    fn leaf(&self, cn: &str, serial: u32) -> Leaf {
        let d = self.dir.path();
        let ext = d.join(format!("{cn}.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write ext file");
        let key = format!("{cn}.key");
        let csr = format!("{cn}.csr");
        let cert = format!("{cn}.pem");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={cn}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                &serial.to_string(),
                "-days",
                "2",
                "-out",
                &cert,
                "-extfile",
                &ext.display().to_string(),
            ],
        );
        Leaf {
            cert: d.join(cert),
            key: d.join(key),
        }
    }
}

impl Leaf {
    fn cert_str(&self) -> String {
        self.cert.display().to_string()
    }

    fn key_str(&self) -> String {
        self.key.display().to_string()
    }

    /// The DER bytes of the certificate, to compare with what a client saw.
    fn der(&self) -> Vec<u8> {
        CertificateDer::from_pem_file(&self.cert)
            .expect("read certificate")
            .to_vec()
    }
}

// ---------------------------------------------------------------------------
// a small blocking TLS client (rustls)
// ---------------------------------------------------------------------------

/// A RESP client over TLS, verifying the server against a CA.
struct TlsClient {
    s: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl TlsClient {
    /// Connects and finishes the handshake; `ident` is a client certificate.
    fn connect(port: u16, ca: &Path, ident: Option<&Leaf>) -> io::Result<TlsClient> {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(ca).map_err(io::Error::other)? {
            roots
                .add(c.map_err(io::Error::other)?)
                .map_err(io::Error::other)?;
        }
        let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
        let config = match ident {
            Some(l) => {
                let chain = vec![CertificateDer::from_pem_file(&l.cert).map_err(io::Error::other)?];
                let key = PrivateKeyDer::from_pem_file(&l.key).map_err(io::Error::other)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(io::Error::other)?
            }
            None => builder.with_no_client_auth(),
        };
        let name = ServerName::try_from("127.0.0.1").expect("IP name");
        let conn =
            rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
        let tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(TlsClient { s, buf: Vec::new() })
    }

    /// The certificate the server showed.
    fn server_cert(&self) -> Vec<u8> {
        self.s
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .expect("a server certificate")
            .to_vec()
    }

    /// Sends a command and reads one reply (raw bytes).
    fn try_cmd(&mut self, args: &[&[u8]]) -> io::Result<Vec<u8>> {
        self.s.write_all(&encode(args))?;
        self.s.flush()?;
        loop {
            if let Some(end) = reply_end(&self.buf, 0) {
                let rest = self.buf.split_off(end);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.s.read(&mut chunk)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("TLS command failed: {e}"))
    }
}

/// The end of the RESP value starting at `pos`, if it is complete (simple
/// lines, integers, bulk strings and arrays of them).
fn reply_end(buf: &[u8], pos: usize) -> Option<usize> {
    let line = buf[pos..].windows(2).position(|w| w == b"\r\n")? + pos;
    let after = line + 2;
    match buf.get(pos)? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let n: i64 = std::str::from_utf8(&buf[pos + 1..line])
                .ok()?
                .parse()
                .ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' => {
            let n: i64 = std::str::from_utf8(&buf[pos + 1..line])
                .ok()?
                .parse()
                .ok()?;
            let mut at = after;
            for _ in 0..n.max(0) {
                at = reply_end(buf, at)?;
            }
            Some(at)
        }
        _ => panic!(
            "unexpected reply byte in {:?}",
            String::from_utf8_lossy(buf)
        ),
    }
}

// ---------------------------------------------------------------------------
// a node with a TLS client port
// ---------------------------------------------------------------------------

/// One node whose client port speaks TLS, in front of one redis.
struct TlsNode {
    process: DynomiteProcess,
    port: u16,
    ca: PathBuf,
}

impl TlsNode {
    /// Starts a node with `tls` directives (plus the usual ones) and waits
    /// until a TLS client verified against `ca` gets PONG.
    fn start(redis: u16, ca: &Path, tls: &[(&str, &str)], ident: Option<&Leaf>) -> TlsNode {
        for _ in 0..3 {
            let port = free_port();
            let conf = ConfYaml::new(POOL)
                .set("listen", addr(port))
                .set("stats_listen", addr(free_port()))
                .set("data_store", 0)
                .set("timeout", 5000)
                .set_all(tls)
                .list("servers", [server(redis)]);
            let mut process = DynomiteProcess::new("tls-node");
            process.write_conf(&conf);
            let ready = || {
                TlsClient::connect(port, ca, ident)
                    .and_then(|mut c| c.try_cmd(&[b"PING"]))
                    .is_ok_and(|r| r == b"+PONG\r\n")
            };
            match process.start(ready) {
                Start::Serving => {
                    return TlsNode {
                        process,
                        port,
                        ca: ca.to_path_buf(),
                    }
                }
                other => eprintln!(
                    "TLS node did not start ({other:?}); config:\n{}log:\n{}\nstderr:\n{}",
                    process.conf_text(),
                    process.log(),
                    process.stderr()
                ),
            }
        }
        panic!("the TLS node did not start");
    }

    fn client(&self) -> TlsClient {
        TlsClient::connect(self.port, &self.ca, None)
            .unwrap_or_else(|e| panic!("TLS connect failed: {e}\nlog:\n{}", self.log()))
    }

    fn log(&self) -> String {
        self.process.log()
    }
}

impl Drop for TlsNode {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- TLS node :{} log ----\n{}\n-- stderr --\n{}",
                self.port,
                self.process.log(),
                self.process.stderr()
            );
        }
    }
}

fn server_tls(leaf: &Leaf) -> Vec<(&'static str, String)> {
    vec![
        ("tls_cert_file", leaf.cert_str()),
        ("tls_key_file", leaf.key_str()),
    ]
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

// ---------------------------------------------------------------------------
// client port
// ---------------------------------------------------------------------------

#[test]
fn clients_speak_tls_to_the_client_port() {
    let pki = Pki::new();
    let leaf = pki.leaf("dyn-server", 11);
    let redis = RedisServer::start();
    let node = TlsNode::start(redis.port(), &pki.ca(), &pairs(&server_tls(&leaf)), None);
    let port = node.port.to_string();
    let ca = pki.ca_str();

    // A rustls client: the node shows the configured certificate.
    let mut c = node.client();
    assert_eq!(c.server_cert(), leaf.der());
    assert_eq!(c.cmd(&[b"SET", b"tls:k", b"v1"]), b"+OK\r\n");
    assert_eq!(redis.client().cmd(&[b"GET", b"tls:k"]), b"$2\r\nv1\r\n");
    // A 4 MB value both ways: larger than the session's buffer.
    let big: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(c.cmd(&[b"SET", b"tls:big", &big]), b"+OK\r\n");
    let got = c.cmd(&[b"GET", b"tls:big"]);
    assert_eq!(&got[..9], b"$4194304\r");
    assert!(got[10..got.len() - 2] == big[..], "big value differs");

    // redis-cli --tls.
    require_program("redis-cli", &["--version"], INSTALL_HINT);
    let cli = |args: &[&str]| {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "--cacert", &ca, "-h", "127.0.0.1", "-p", &port]);
        cmd.args(args);
        let (out, in_time) = run_with_deadline(&mut cmd, Duration::from_secs(30));
        assert!(
            in_time && out.status.success(),
            "redis-cli {args:?}: {out:?}"
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["SET", "tls:cli", "hello"]), "OK");
    assert_eq!(cli(&["GET", "tls:cli"]), "hello");
    assert_eq!(cli(&["GET", "tls:k"]), "v1");

    // redis-py with ssl=True and ioredis with tls: {ca}.
    let hint = format!("redis-py 8.x is required ({INSTALL_HINT})");
    python_module_version("redis", &hint);
    let out = run_client("python3", &["redis_py_tls_check.py", &port, &ca]);
    assert!(out.contains("redis-py tls: all checks passed"), "{out}");
    require_program("node", &["--version"], INSTALL_HINT);
    let out = run_client("node", &["ioredis_tls_check.js", &port, &ca]);
    assert!(out.contains("ioredis tls: all checks passed"), "{out}");

    // The first connection is still there.
    assert_eq!(c.cmd(&[b"GET", b"tls:cli"]), b"$5\r\nhello\r\n");
}

#[test]
fn plain_text_and_garbage_on_the_tls_port_close_only_that_connection() {
    let pki = Pki::new();
    let leaf = pki.leaf("dyn-server", 12);
    let redis = RedisServer::start();
    let node = TlsNode::start(redis.port(), &pki.ca(), &pairs(&server_tls(&leaf)), None);
    let mut good = node.client();
    assert_eq!(good.cmd(&[b"SET", b"g:k", b"1"]), b"+OK\r\n");

    // A plain-text RESP client.
    let mut plain = Client::connect(node.port);
    plain.send(&encode(&[b"PING"]));
    assert!(plain.wait_closed(READ_TIMEOUT), "plain client not closed");
    assert!(
        !plain.pending().windows(4).any(|w| w == b"PONG"),
        "a plain client was answered"
    );
    // Garbage bytes, and a broken TLS record header.
    let mut junk = Client::connect(node.port);
    junk.send(b"\x00\x01\x02garbage\xff\xfe\r\n\r\n");
    assert!(junk.wait_closed(READ_TIMEOUT), "garbage client not closed");
    let mut bad_record = Client::connect(node.port);
    bad_record.send(b"\x16\x03\x01\xff\xff\x01\x00\x00\x00");
    assert!(
        bad_record.wait_closed(READ_TIMEOUT),
        "bad record not closed"
    );
    // A client that goes away in the middle of its handshake.
    let half = TcpStream::connect(("127.0.0.1", node.port)).expect("connect");
    (&half)
        .write_all(b"\x16\x03\x01\x00\xc8\x01")
        .expect("write");
    drop(half);

    // The TLS client already connected, and a new one, still work.
    assert_eq!(good.cmd(&[b"INCR", b"g:k"]), b":2\r\n");
    assert_eq!(node.client().cmd(&[b"GET", b"g:k"]), b"$1\r\n2\r\n");
    let log = node.log();
    assert!(
        log.contains("closed: TLS"),
        "no log line for the bad input:\n{log}"
    );
}

#[test]
fn client_certificates_are_required_with_tls_client_auth() {
    let pki = Pki::new();
    let leaf = pki.leaf("dyn-server", 13);
    let client_leaf = pki.leaf("dyn-client", 14);
    let other = Pki::new();
    let stranger = other.leaf("stranger", 15);
    let redis = RedisServer::start();
    let mut tls = server_tls(&leaf);
    tls.push(("tls_ca_file", pki.ca_str()));
    tls.push(("tls_client_auth", "true".to_string()));
    let node = TlsNode::start(redis.port(), &pki.ca(), &pairs(&tls), Some(&client_leaf));

    let mut c = TlsClient::connect(node.port, &pki.ca(), Some(&client_leaf)).expect("connect");
    assert_eq!(c.cmd(&[b"SET", b"ca:k", b"1"]), b"+OK\r\n");
    // No certificate, or one from another CA: no reply, the connection ends.
    for ident in [None, Some(&stranger)] {
        let r =
            TlsClient::connect(node.port, &pki.ca(), ident).and_then(|mut c| c.try_cmd(&[b"PING"]));
        assert!(
            r.is_err(),
            "a client without a valid certificate was answered"
        );
    }
    assert_eq!(c.cmd(&[b"GET", b"ca:k"]), b"$1\r\n1\r\n");
}

// ---------------------------------------------------------------------------
// reload
// ---------------------------------------------------------------------------

#[test]
fn sighup_reloads_certificates_without_dropping_connections() {
    let pki = Pki::new();
    let one = pki.leaf("dyn-one", 21);
    let two = pki.leaf("dyn-two", 22);
    let files = TempDir::new("tls-live");
    let cert = files.path().join("server.pem");
    let key = files.path().join("server.key");
    let install = |leaf: &Leaf| {
        std::fs::copy(&leaf.cert, &cert).expect("copy cert");
        std::fs::copy(&leaf.key, &key).expect("copy key");
    };
    install(&one);
    let redis = RedisServer::start();
    let tls = [
        ("tls_cert_file", cert.display().to_string()),
        ("tls_key_file", key.display().to_string()),
    ];
    let node = TlsNode::start(redis.port(), &pki.ca(), &pairs(&tls), None);
    let mut old = node.client();
    assert_eq!(old.server_cert(), one.der());
    assert_eq!(old.cmd(&[b"SET", b"r:k", b"1"]), b"+OK\r\n");

    // New files, SIGHUP: new connections see the new certificate.
    install(&two);
    node.process.signal(libc::SIGHUP);
    wait_for(RELOAD_TIMEOUT, "the new certificate", || {
        node.client().server_cert() == two.der()
    });
    assert_eq!(old.cmd(&[b"INCR", b"r:k"]), b":2\r\n");
    assert!(node.log().contains("TLS certificates and keys reloaded"));

    // A broken certificate file: the reload fails, the node keeps serving
    // with the certificate it had.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").expect("write");
    node.process.signal(libc::SIGHUP);
    wait_for(RELOAD_TIMEOUT, "the failed reload in the log", || {
        node.log().contains("TLS reload failed")
    });
    let mut fresh = node.client();
    assert_eq!(fresh.server_cert(), two.der());
    assert_eq!(fresh.cmd(&[b"INCR", b"r:k"]), b":3\r\n");
    assert_eq!(old.cmd(&[b"GET", b"r:k"]), b"$1\r\n3\r\n");

    // A key file that is not a key: also refused, and its text is not logged.
    install(&two);
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    node.process.signal(libc::SIGHUP);
    wait_for(RELOAD_TIMEOUT, "the failed key reload in the log", || {
        node.log().matches("TLS reload failed").count() >= 2
    });
    assert_eq!(node.client().cmd(&[b"GET", b"r:k"]), b"$1\r\n3\r\n");
    let log = node.log();
    assert!(
        !log.contains("c2VjcmV0"),
        "key file contents in the log:\n{log}"
    );
    for leaf in [&one, &two] {
        let text = std::fs::read_to_string(&leaf.key).expect("key");
        for line in text.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!log.contains(line), "key file contents in the log");
        }
    }
}

// ---------------------------------------------------------------------------
// datastore TLS
// ---------------------------------------------------------------------------

/// A `redis-server` serving TLS only (`--port 0 --tls-port`), killed by PID
/// on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    /// redis-cli's TLS arguments (CA, and a client certificate).
    cli_tls: Vec<String>,
    _dir: TempDir,
}

impl TlsRedis {
    /// Starts redis with `leaf` as its certificate; with
    /// `require_client_certs`, clients must show a certificate of `pki`
    /// (`client`, also used by redis-cli here).
    fn start(pki: &Pki, leaf: &Leaf, require_client_certs: bool, client: &Leaf) -> TlsRedis {
        require_program("redis-server", &["--version"], INSTALL_HINT);
        let cli_tls = vec![
            "--cacert".to_string(),
            pki.ca_str(),
            "--cert".to_string(),
            client.cert_str(),
            "--key".to_string(),
            client.key_str(),
        ];
        for _ in 0..5 {
            let dir = TempDir::new("tls-redis");
            let port = free_port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                ])
                .args(["--save", "", "--appendonly", "no"])
                .args([
                    "--tls-cert-file",
                    &leaf.cert_str(),
                    "--tls-key-file",
                    &leaf.key_str(),
                ])
                .args(["--tls-ca-cert-file", &pki.ca_str()])
                .args([
                    "--tls-auth-clients",
                    if require_client_certs { "yes" } else { "no" },
                ])
                .arg("--dir")
                .arg(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn redis-server ({e}); {INSTALL_HINT}"));
            let mut r = TlsRedis {
                child,
                port,
                cli_tls: cli_tls.clone(),
                _dir: dir,
            };
            let up = poll_until(Duration::from_secs(10), || {
                matches!(r.child.try_wait(), Ok(Some(_)))
                    || r.cli(&["PING"]).is_some_and(|o| o == "PONG")
            });
            if up && matches!(r.child.try_wait(), Ok(None)) {
                return r;
            }
            // Exited (port taken) or not answering: try another port.
        }
        panic!("a TLS redis-server did not start");
    }

    /// redis-cli over TLS; its stdout when it succeeds.
    fn cli(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["--tls", "-h", "127.0.0.1", "-p", &self.port.to_string()]);
        cmd.args(&self.cli_tls);
        cmd.args(args);
        let (out, in_time) = run_with_deadline(&mut cmd, Duration::from_secs(10));
        (in_time && out.status.success())
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_node_speaks_tls_to_a_tls_redis() {
    let pki = Pki::new();
    let redis_leaf = pki.leaf("redis", 31);
    let node_leaf = pki.leaf("dyn-node", 32);
    let ca = pki.ca_str();
    for require_client_certs in [false, true] {
        let redis = TlsRedis::start(&pki, &redis_leaf, require_client_certs, &node_leaf);
        let mut tls = vec![
            ("datastore_tls", "true".to_string()),
            ("datastore_tls_ca_file", ca.clone()),
        ];
        if require_client_certs {
            tls.push(("datastore_tls_cert_file", node_leaf.cert_str()));
            tls.push(("datastore_tls_key_file", node_leaf.key_str()));
        }
        let proxy = Dynomite::start_with(&[redis.port], &pairs(&tls));
        let mut c = proxy.client();
        assert_eq!(c.cmd(&[b"SET", b"ds:k", b"through tls"]), b"+OK\r\n");
        assert_eq!(redis.cli(&["GET", "ds:k"]).as_deref(), Some("through tls"));
        let big: Vec<u8> = (0..3 << 20).map(|i| (i % 253) as u8).collect();
        assert_eq!(c.cmd(&[b"SET", b"ds:big", &big]), b"+OK\r\n");
        let got = c.cmd(&[b"GET", b"ds:big"]);
        assert!(got.ends_with(b"\r\n") && got[got.len() - 2 - big.len()..got.len() - 2] == big[..]);
        // A pipeline of many small requests.
        let mut batch = Vec::new();
        for _ in 0..500 {
            batch.extend(encode(&[b"INCR", b"ds:ctr"]));
        }
        c.send(&batch);
        for i in 1..=500 {
            assert_eq!(c.read_reply(), format!(":{i}\r\n").into_bytes());
        }
        // A RESP3 client: its requests go on the RESP3 pool, a second TLS
        // connection that says HELLO 3 first.
        let mut v3 = proxy.client();
        assert!(v3.cmd(&[b"HELLO", b"3"]).starts_with(b"%"));
        assert_eq!(v3.cmd(&[b"HSET", b"ds:h", b"f", b"v"]), b":1\r\n");
        assert_eq!(
            v3.cmd(&[b"HGETALL", b"ds:h"]),
            b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n"
        );
    }
}

#[test]
fn a_wrong_datastore_ca_fails_requests_with_an_error_not_a_hang() {
    let pki = Pki::new();
    let redis_leaf = pki.leaf("redis", 41);
    let cli_leaf = pki.leaf("cli", 42);
    let other = Pki::new();
    let redis = TlsRedis::start(&pki, &redis_leaf, false, &cli_leaf);
    // The node trusts another CA: every handshake fails, every request gets
    // an error reply.
    let port = free_port();
    let conf = ConfYaml::new(POOL)
        .set("listen", addr(port))
        .set("stats_listen", addr(free_port()))
        .set("timeout", 2000)
        .set("server_retry_timeout", 500)
        .set("datastore_tls", "true")
        .set("datastore_tls_ca_file", other.ca_str())
        .list("servers", [server(redis.port)]);
    let mut process = DynomiteProcess::new("tls-bad-ca");
    process.write_conf(&conf);
    // Ready once it answers at all (an error, as redis cannot be reached).
    let answers = || {
        Client::try_connect(port).is_ok_and(|mut c| {
            c.set_read_timeout(Duration::from_secs(1));
            c.try_send(&encode(&[b"GET", b"k"])).is_ok() && c.try_read_reply().is_ok()
        })
    };
    assert_eq!(process.start(answers), Start::Serving, "{}", process.log());
    let mut c = Client::connect(port);
    for _ in 0..3 {
        let r = c.cmd(&[b"GET", b"k"]);
        assert!(
            r.starts_with(b"-"),
            "expected an error, got {:?}",
            String::from_utf8_lossy(&r)
        );
    }
    wait_for(RELOAD_TIMEOUT, "the handshake failure in the log", || {
        process.log().contains("TLS: invalid peer certificate")
    });
}

// ---------------------------------------------------------------------------
// peer TLS
// ---------------------------------------------------------------------------

fn peer_tls(pki: &Pki, leaf: &Leaf, start: bool, required: bool) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("peer_tls_cert_file", leaf.cert_str()),
        ("peer_tls_key_file", leaf.key_str()),
        ("peer_tls_ca_file", pki.ca_str()),
    ];
    if start {
        v.push(("peer_tls", "true".to_string()));
    }
    if required {
        v.push(("peer_tls_required", "true".to_string()));
    }
    v
}

/// Sends a plain GET frame to a peer port and reads what comes back (until
/// a reply frame or the end of the connection).
fn plain_peer_get(dyn_port: u16, key: &[u8]) -> Vec<u8> {
    let payload = encode(&[b"GET", key]);
    let mut frame = format!("   $2014$ 77 3 0 1 1 *1 d *{}\r\n", payload.len()).into_bytes();
    frame.extend_from_slice(&payload);
    let mut s = TcpStream::connect(("127.0.0.1", dyn_port)).expect("connect peer port");
    s.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    s.write_all(&frame).expect("write frame");
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
        // A whole reply frame: header line and one RESP value.
        if let Some(h) = got.windows(2).position(|w| w == b"\r\n") {
            if reply_end(&got, h + 2).is_some() {
                return got;
            }
        }
    }
}

#[test]
fn peers_replicate_over_tls_and_the_peer_port_still_takes_plain_links() {
    let pki = Pki::new();
    let leaves: Vec<Leaf> = (0..3)
        .map(|i| pki.leaf(&format!("node{i}"), 50 + i))
        .collect();
    // n0 and n1 start TLS on their links; n2 has certificates (it accepts
    // TLS) but starts plain links, as an upgrading node would.
    let n0 = peer_tls(&pki, &leaves[0], true, false);
    let n1 = peer_tls(&pki, &leaves[1], true, false);
    let n2 = peer_tls(&pki, &leaves[2], false, false);
    let layout = [
        node("dc1", "rack1", &[100]),
        node("dc1", "rack2", &[100]),
        node("dc1", "rack3", &[100]),
    ];
    let cluster = Cluster::start_with_each(&layout, &[], &[&pairs(&n0), &pairs(&n1), &pairs(&n2)]);
    // Every write reaches every rack, whichever node takes it.
    for (i, key) in [b"p:a".as_slice(), b"p:b", b"p:c"].iter().enumerate() {
        assert_eq!(
            cluster.node(i).client().cmd(&[b"SET", key, b"v"]),
            b"+OK\r\n"
        );
        for n in 0..3 {
            wait_for(READ_TIMEOUT, "the copy in every rack", || {
                cluster.node(n).redis_has(key)
            });
        }
    }
    // A 2 MB value crosses the TLS links.
    let big: Vec<u8> = (0..2 << 20).map(|i| (i % 241) as u8).collect();
    assert_eq!(
        cluster.node(0).client().cmd(&[b"SET", b"p:big", &big]),
        b"+OK\r\n"
    );
    for n in 0..3 {
        wait_for(READ_TIMEOUT, "the big copy", || {
            cluster.node(n).redis_has(b"p:big")
        });
        let got = cluster.node(n).redis_get(b"p:big");
        let head = format!("${}\r\n", big.len()).len();
        assert!(
            got[head..got.len() - 2] == big[..],
            "n{n} holds another value"
        );
    }
    // n0 and n1 speak TLS to each other and to n2; n2's links are plain.
    let log = |n: usize| cluster.node(n).log();
    assert!(log(0).contains("dn ") && log(0).contains("TLS established: TLSv1_3"));
    assert!(log(2).contains("dc ") && log(2).contains("TLS established"));
    assert!(!log(2)
        .lines()
        .any(|l| l.contains("dn ") && l.contains("TLS established")));
    // A plain link (a C node's) on a TLS node's peer port is served.
    let reply = plain_peer_get(cluster.node(0).dyn_port(), b"p:a");
    assert!(
        reply.starts_with(b"   $2014$ 77 5 ") && reply.ends_with(b"$1\r\nv\r\n"),
        "{:?}",
        String::from_utf8_lossy(&reply)
    );
}

#[test]
fn peer_tls_required_refuses_plain_links() {
    let pki = Pki::new();
    let leaves: Vec<Leaf> = (0..2)
        .map(|i| pki.leaf(&format!("node{i}"), 60 + i))
        .collect();
    let n0 = peer_tls(&pki, &leaves[0], true, true);
    let n1 = peer_tls(&pki, &leaves[1], true, true);
    let layout = [node("dc1", "rack1", &[100]), node("dc1", "rack2", &[100])];
    let cluster = Cluster::start_with_each(&layout, &[], &[&pairs(&n0), &pairs(&n1)]);
    assert_eq!(
        cluster.node(1).client().cmd(&[b"SET", b"q:a", b"1"]),
        b"+OK\r\n"
    );
    wait_for(READ_TIMEOUT, "the copy in rack1", || {
        cluster.node(0).redis_has(b"q:a")
    });
    // A plain link is closed without an answer, with a log line.
    let reply = plain_peer_get(cluster.node(0).dyn_port(), b"q:a");
    assert!(reply.is_empty(), "{:?}", String::from_utf8_lossy(&reply));
    assert!(cluster.node(0).log().contains("peer_tls_required"));
    // The TLS links keep working.
    assert_eq!(
        cluster.node(0).client().cmd(&[b"SET", b"q:b", b"2"]),
        b"+OK\r\n"
    );
    wait_for(READ_TIMEOUT, "the copy in rack2", || {
        cluster.node(1).redis_has(b"q:b")
    });
}

/// The frame that asks for TLS (type 6, flags 32), as a node writes it.
const STARTTLS: &[u8] = b"   $2014$ 0 6 32 1 1 *1 d *0\r\n";

/// Sends `bytes` to a peer port and waits until the node closes the link.
fn peer_link_closed(dyn_port: u16, bytes: &[u8]) -> bool {
    let mut c = Client::connect(dyn_port);
    c.send(bytes);
    c.wait_closed(READ_TIMEOUT)
}

#[test]
fn bad_peer_tls_requests_close_that_link_only() {
    // A node without peer certificates: a link that asks for TLS is closed.
    let layout = [node("dc1", "rack1", &[100]), node("dc1", "rack2", &[100])];
    let plain = Cluster::start(&layout);
    assert!(peer_link_closed(plain.node(0).dyn_port(), STARTTLS));
    wait_for(READ_TIMEOUT, "the refusal in the log", || {
        plain.node(0).log().contains("asks for TLS")
    });
    assert_eq!(
        plain.node(1).client().cmd(&[b"SET", b"b:a", b"1"]),
        b"+OK\r\n"
    );
    wait_for(READ_TIMEOUT, "the copy in rack1", || {
        plain.node(0).redis_has(b"b:a")
    });
    drop(plain);

    // TLS nodes: garbage, or a plain frame, where the handshake should be
    // closes that link; the cluster's own TLS links carry on.
    let pki = Pki::new();
    let leaves: Vec<Leaf> = (0..2)
        .map(|i| pki.leaf(&format!("node{i}"), 70 + i))
        .collect();
    let n0 = peer_tls(&pki, &leaves[0], true, false);
    let n1 = peer_tls(&pki, &leaves[1], true, false);
    let tls = Cluster::start_with_each(&layout, &[], &[&pairs(&n0), &pairs(&n1)]);
    let mut junk = STARTTLS.to_vec();
    junk.extend_from_slice(b"this is not a TLS client hello\r\n");
    assert!(peer_link_closed(tls.node(0).dyn_port(), &junk));
    // A plain request frame right after the frame that asked for TLS.
    let mut plain_after = STARTTLS.to_vec();
    plain_after.extend_from_slice(b"   $2014$ 9 3 0 1 1 *1 d *14\r\n*1\r\n$4\r\nPING\r\n");
    assert!(peer_link_closed(tls.node(0).dyn_port(), &plain_after));
    wait_for(READ_TIMEOUT, "the TLS failure in the log", || {
        tls.node(0).log().contains("TLS")
    });
    assert_eq!(
        tls.node(1).client().cmd(&[b"SET", b"b:b", b"2"]),
        b"+OK\r\n"
    );
    wait_for(READ_TIMEOUT, "the copy in rack1", || {
        tls.node(0).redis_has(b"b:b")
    });
    assert_eq!(
        tls.node(0).client().cmd(&[b"SET", b"b:c", b"3"]),
        b"+OK\r\n"
    );
    wait_for(READ_TIMEOUT, "the copy in rack2", || {
        tls.node(1).redis_has(b"b:c")
    });
}

#[test]
fn the_files_are_checked_by_dash_t_and_before_start() {
    let pki = Pki::new();
    let leaf = pki.leaf("dyn-server", 81);
    let dir = TempDir::new("tls-conf");
    let conf_path = dir.path().join("dynomite.yml");
    let write = |cert: &str| {
        ConfYaml::new(POOL)
            .set("listen", addr(free_port()))
            .set("stats_listen", addr(free_port()))
            .list("servers", [server(free_port())])
            .set("tls_cert_file", cert)
            .set("tls_key_file", leaf.key_str())
            .write(&conf_path)
    };
    let run = |args: &[&str]| {
        let mut cmd = Command::new(crate::harness::DYNOMITE_BIN);
        cmd.args(args).arg("-c").arg(&conf_path);
        run_with_deadline(&mut cmd, Duration::from_secs(30)).0
    };
    write(&leaf.cert_str());
    let out = run(&["-t"]);
    assert!(out.status.success(), "{out:?}");
    // The key of another certificate: refused by -t, and at start.
    let other = pki.leaf("other", 82);
    write(&other.cert_str());
    for args in [&["-t"][..], &[][..]] {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("\"tls_key_file\"") && err.contains("does not fit"),
            "{err}"
        );
    }
}
