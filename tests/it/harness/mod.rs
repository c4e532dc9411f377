//! Shared harness for the integration tests: free loopback ports, real
//! `redis-server` and `memcached` processes, the `dynomite` binary under
//! test, and tiny synchronous RESP and memcached clients with their own
//! one-shot reply readers (deliberately independent of the crate's parsers,
//! so a parser bug cannot hide itself).
//!
//! Everything waits with deadlines, never with fixed sleeps, and every child
//! process is killed by PID and reaped on drop.
//!
//! `DYN_TEST_DIRECT=1` is a self-check of the harness and of the test corpora
//! only: `Dynomite::start` then starts no proxy and hands out the address of
//! the first backend redis (or memcached) instead. CI never sets it.
//!
//! `DYN_TEST_VERBOSITY=N` passes `-v N` to every proxy started; its log is
//! printed when a test fails.

use std::env;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

pub mod cluster;

/// How long a process may take to start answering.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Default read timeout of a test client: a reply slower than this is a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a polling loop pauses between two attempts.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How much of a log is printed when a test fails.
const LOG_TAIL_BYTES: usize = 64 * 1024;

/// True when the harness self-check is requested (see the module docs).
pub fn direct_mode() -> bool {
    env::var_os("DYN_TEST_DIRECT").is_some_and(|v| v == "1")
}

/// A loopback TCP port that was free a moment ago (the kernel picks it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Raises this process's RLIMIT_NOFILE soft limit to the hard limit, once.
/// Children spawned afterwards (redis-server, dynomite) inherit it.
pub fn raise_nofile_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        if rc != 0 {
            return;
        }
        let target = if lim.rlim_max == libc::RLIM_INFINITY {
            1 << 20
        } else {
            lim.rlim_max
        };
        if lim.rlim_cur >= target {
            return;
        }
        lim.rlim_cur = target;
        // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard
        // limit needs no privilege.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    });
}

/// Current RLIMIT_NOFILE soft limit.
pub fn nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit failed");
    lim.rlim_cur
}

/// Printable form of raw protocol bytes: escapes, truncated to `max` bytes.
pub fn show_n(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > max {
        out.push_str(&format!("... ({} bytes in all)", bytes.len()));
    }
    out
}

/// Printable form of raw protocol bytes, truncated to 300 bytes.
pub fn show(bytes: &[u8]) -> String {
    show_n(bytes, 300)
}

/// Encodes a request as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Encodes a reply-side bulk string (`$<len>\r\n<bytes>\r\n`).
pub fn bulk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// Last `LOG_TAIL_BYTES` of a file, lossily decoded.
fn file_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(LOG_TAIL_BYTES);
            String::from_utf8_lossy(&bytes[start..]).into_owned()
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates a new, uniquely named directory.
    pub fn new(prefix: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("dyn-itest-{prefix}-{}-{seq}-{nanos}", std::process::id());
        let path = env::temp_dir().join(name);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Kills a child by PID (SIGTERM first when `graceful`, SIGKILL after
/// `grace`) and reaps it.
fn stop_child(child: &mut Child, graceful: bool, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if graceful {
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the PID of our own, not yet reaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Checks that a program can be started, or fails the test with a hint.
pub fn require_program(program: &str, args: &[&str], hint: &str) {
    match Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(st) if st.success() => {}
        Ok(st) => panic!("`{program} {}` failed ({st}); {hint}", args.join(" ")),
        Err(e) => panic!("`{program}` cannot be run ({e}); {hint}"),
    }
}

/// Hint printed when a required external program is missing.
pub const INSTALL_HINT: &str = "run tests/clients/install.sh to install the test dependencies";

// ---------------------------------------------------------------------------
// redis-server
// ---------------------------------------------------------------------------

/// A `redis-server` child on a free loopback port, without persistence.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl RedisServer {
    /// Starts a fresh redis-server and waits until it answers PING.
    pub fn start() -> RedisServer {
        raise_nofile_limit();
        require_program("redis-server", &["--version"], INSTALL_HINT);
        let dir = TempDir::new("redis");
        let mut server = RedisServer {
            port: 0,
            child: None,
            dir,
        };
        // The port was free when picked but another process may take it
        // before redis binds it; try a few ports.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "redis-server did not start; log:\n{}",
            file_tail(&server.log_path())
        );
    }

    /// The TCP port redis listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new test client connected straight to this redis.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Spawns redis on `self.port`; true once it answers PING, false when it
    /// exited (e.g. port taken) or did not answer in time.
    fn spawn(&mut self) -> bool {
        debug_assert!(self.child.is_none());
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn redis-server ({e}); {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if ping_ok(self.port) {
                return true;
            }
            thread::sleep(POLL_INTERVAL);
        }
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, false, Duration::ZERO);
        }
        false
    }

    /// Kills redis (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, false, Duration::ZERO);
        }
    }

    /// Starts redis again on the same port (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "redis-server did not restart on port {}; log:\n{}",
            self.port,
            file_tail(&self.log_path())
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// True when something on `port` answers `PING` with `+PONG`.
fn ping_ok(port: u16) -> bool {
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(1));
    c.send(b"*1\r\n$4\r\nPING\r\n");
    matches!(c.try_read_reply(), Ok(r) if r == b"+PONG\r\n")
}

// ---------------------------------------------------------------------------
// memcached
// ---------------------------------------------------------------------------

/// Largest item a test memcached stores (`-I`): room for 1 MB values.
pub const MEMCACHED_ITEM_MAX: &str = "2m";

/// A `memcached` child on a free loopback TCP port (UDP off, one worker
/// thread, items up to `MEMCACHED_ITEM_MAX`).
pub struct MemcachedServer {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl MemcachedServer {
    /// Starts a fresh memcached and waits until it answers `version`.
    pub fn start() -> MemcachedServer {
        raise_nofile_limit();
        require_program("memcached", &["-V"], INSTALL_HINT);
        let dir = TempDir::new("memcached");
        let mut server = MemcachedServer {
            port: 0,
            child: None,
            dir,
        };
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "memcached did not start; log:\n{}",
            file_tail(&server.log_path())
        );
    }

    /// The TCP port memcached listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new test client connected straight to this memcached.
    pub fn client(&self) -> McClient {
        McClient::connect(self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("memcached.log")
    }

    /// Spawns memcached on `self.port`; true once it answers `version`.
    fn spawn(&mut self) -> bool {
        debug_assert!(self.child.is_none());
        let port = self.port.to_string();
        let mut cmd = Command::new("memcached");
        // memcached refuses to run as root unless told which user to be.
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "root"]);
        }
        let log = fs::File::create(self.log_path()).expect("memcached log");
        let child = cmd
            .args(["-p", &port, "-l", "127.0.0.1", "-U", "0", "-t", "1"])
            .args(["-I", MEMCACHED_ITEM_MAX])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn memcached ({e}); {INSTALL_HINT}"));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if mc_version_ok(self.port) {
                return true;
            }
            thread::sleep(POLL_INTERVAL);
        }
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, false, Duration::ZERO);
        }
        false
    }

    /// Sends `signal` to the running memcached.
    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("memcached is not running");
        // SAFETY: plain kill(2) on the PID of our own, not yet reaped child.
        let rc = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill({}, {signal}) failed", child.id());
    }

    /// Freezes memcached (SIGSTOP): connections stay open, nothing is
    /// answered until `resume`.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
        // kill(2) only queues the signal: wait until the process is stopped,
        // or it may still answer the next request.
        let pid = self.child.as_ref().expect("memcached is not running").id();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            if state == Some("T") {
                return;
            }
            thread::sleep(POLL_INTERVAL);
        }
        panic!("memcached {pid} did not stop");
    }

    /// Lets a paused memcached run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills memcached (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, false, Duration::ZERO);
        }
    }

    /// Starts memcached again, empty, on the same port (after `kill`).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "memcached did not restart on port {}; log:\n{}",
            self.port,
            file_tail(&self.log_path())
        );
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        // SIGKILL also ends a process stopped by `pause`.
        self.kill();
    }
}

/// True when something on `port` answers memcached's `version`.
fn mc_version_ok(port: u16) -> bool {
    let Ok(mut c) = McClient::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(1));
    c.send(b"version\r\n");
    matches!(c.try_read_reply(), Ok(r) if r.starts_with(b"VERSION "))
}

// ---------------------------------------------------------------------------
// dynomite
// ---------------------------------------------------------------------------

/// Outcome of one start attempt of the proxy.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Start {
    /// It answers keyed requests.
    Serving,
    /// It exited during start-up.
    Exited,
    /// It ran but did not serve within `START_TIMEOUT`.
    Hung,
}

/// The `dynomite` binary under test, configured in front of redis servers
/// (or memcached servers, see `start_memcached`).
pub struct Dynomite {
    port: u16,
    stats_port: u16,
    child: Option<Child>,
    dir: TempDir,
    /// `data_store: 1`: probe readiness with memcached requests.
    memcached: bool,
}

impl Dynomite {
    /// Starts a proxy in front of the redis servers on `servers` (one entry:
    /// one datastore; several: shards) with the default test settings.
    pub fn start(servers: &[u16]) -> Dynomite {
        Dynomite::start_with(servers, &[])
    }

    /// Like `start`, with extra or overriding YAML directives, e.g.
    /// `&[("server_retry_timeout", "1000")]`.
    pub fn start_with(servers: &[u16], extra: &[(&str, &str)]) -> Dynomite {
        Dynomite::launch(servers, extra, &[], false)
    }

    /// Starts a proxy with `data_store: 1` in front of the memcached servers
    /// on `servers` (one entry: one datastore; several: shards).
    pub fn start_memcached(servers: &[u16]) -> Dynomite {
        Dynomite::start_memcached_with(servers, &[], &[])
    }

    /// Like `start_memcached`, with extra or overriding YAML directives and
    /// `dyn_seeds` entries (`host:port:rack:dc:tokens`, none for a single
    /// node).
    pub fn start_memcached_with(
        servers: &[u16],
        extra: &[(&str, &str)],
        seeds: &[String],
    ) -> Dynomite {
        let mut all = vec![("data_store", "1")];
        all.extend_from_slice(extra);
        Dynomite::launch(servers, &all, seeds, true)
    }

    fn launch(
        servers: &[u16],
        extra: &[(&str, &str)],
        seeds: &[String],
        memcached: bool,
    ) -> Dynomite {
        assert!(!servers.is_empty(), "a proxy needs at least one server");
        raise_nofile_limit();
        let dir = TempDir::new("dynomite");
        if direct_mode() {
            return Dynomite {
                port: servers[0],
                stats_port: 0,
                child: None,
                dir,
                memcached,
            };
        }
        let mut node = Dynomite {
            port: 0,
            stats_port: 0,
            child: None,
            dir,
            memcached,
        };
        // A port picked as free may be taken before the proxy binds it; an
        // early exit is retried on new ports, a proxy that hangs is not.
        for attempt in 1..=3 {
            node.port = free_port();
            node.stats_port = free_port();
            node.write_conf(servers, extra, seeds);
            let started = node.spawn();
            if started == Start::Serving {
                return node;
            }
            eprintln!(
                "dynomite failed to start (attempt {attempt}: {started:?}); config:\n{}log:\n{}",
                fs::read_to_string(node.conf_path()).unwrap_or_default(),
                node.log()
            );
            if started == Start::Hung {
                break;
            }
        }
        panic!("dynomite did not start; see its config and log above");
    }

    /// The client port (`listen`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The stats/admin HTTP port (`stats_listen`).
    pub fn stats_port(&self) -> u16 {
        self.stats_port
    }

    /// A new test client connected to the proxy.
    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// A new memcached test client connected to the proxy.
    pub fn mc_client(&self) -> McClient {
        McClient::connect(self.port)
    }

    /// Path of the configuration file written for this node.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("dynomite.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("dynomite.log")
    }

    /// The tail of the proxy's log file.
    pub fn log(&self) -> String {
        if self.child.is_none() && direct_mode() {
            return "(direct mode: no proxy running)".to_string();
        }
        file_tail(&self.log_path())
    }

    /// Prints the tail of the proxy's log to stderr.
    pub fn dump_log(&self) {
        eprintln!("---- dynomite :{} log ----\n{}", self.port, self.log());
    }

    fn write_conf(&self, servers: &[u16], extra: &[(&str, &str)], seeds: &[String]) {
        let listen = format!("127.0.0.1:{}", self.port);
        let stats = format!("127.0.0.1:{}", self.stats_port);
        let mut directives: Vec<(String, String)> = vec![
            ("listen".into(), listen),
            ("stats_listen".into(), stats),
            ("data_store".into(), "0".into()),
            ("timeout".into(), "5000".into()),
            ("datastore_connections".into(), "1".into()),
        ];
        for (key, value) in extra {
            match directives.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value.to_string(),
                None => directives.push((key.to_string(), value.to_string())),
            }
        }
        let mut yaml = String::from("dyn_o_mite:\n");
        for (key, value) in &directives {
            yaml.push_str(&format!("  {key}: {value}\n"));
        }
        yaml.push_str("  servers:\n");
        for port in servers {
            yaml.push_str(&format!("  - 127.0.0.1:{port}:1\n"));
        }
        if !seeds.is_empty() {
            yaml.push_str("  dyn_seeds:\n");
            for seed in seeds {
                yaml.push_str(&format!("  - {seed}\n"));
            }
        }
        fs::write(self.conf_path(), yaml).expect("write dynomite config");
    }

    /// Spawns the proxy and waits until it serves keyed requests on every
    /// server.
    fn spawn(&mut self) -> Start {
        debug_assert!(self.child.is_none());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dynomite"));
        cmd.arg("-c").arg(self.conf_path());
        cmd.arg("-o").arg(self.log_path());
        if let Ok(v) = env::var("DYN_TEST_VERBOSITY") {
            cmd.args(["-v", &v]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                fs::File::create(self.dir.path().join("stderr.log")).expect("stderr log"),
            ))
            .spawn()
            .expect("spawn dynomite");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    eprintln!(
                        "dynomite exited during start-up ({status}); stderr:\n{}",
                        file_tail(&self.dir.path().join("stderr.log"))
                    );
                    self.child = None;
                    return Start::Exited;
                }
            }
            let ready = if self.memcached {
                serves_mc_keys(self.port)
            } else {
                serves_keys(self.port)
            };
            if ready {
                return Start::Serving;
            }
            thread::sleep(POLL_INTERVAL);
        }
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, true, Duration::from_secs(5));
        }
        Start::Hung
    }
}

impl Drop for Dynomite {
    fn drop(&mut self) {
        if thread::panicking() && self.child.is_some() {
            self.dump_log();
        }
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, true, Duration::from_secs(5));
        }
    }
}

/// True when `port` accepts and answers GETs of a spread of keys (so every
/// shard has its datastore connection up) without an error.
fn serves_keys(port: u16) -> bool {
    const PROBES: usize = 32;
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(2));
    let mut req = Vec::new();
    for i in 0..PROBES {
        req.extend(encode(&[b"GET", format!("__ready_probe:{i}").as_bytes()]));
    }
    c.send(&req);
    for _ in 0..PROBES {
        match c.try_read_reply() {
            Ok(r) if r.starts_with(b"$") => {}
            _ => return false,
        }
    }
    true
}

/// The memcached form of `serves_keys`: `get`s of a spread of keys all
/// answered with a retrieval reply.
fn serves_mc_keys(port: u16) -> bool {
    const PROBES: usize = 32;
    let Ok(mut c) = McClient::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(2));
    let mut req = Vec::new();
    for i in 0..PROBES {
        req.extend(format!("get __ready_probe:{i}\r\n").as_bytes());
    }
    c.send(&req);
    for _ in 0..PROBES {
        match c.try_read_reply() {
            Ok(r) if r.ends_with(b"END\r\n") => {}
            _ => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------
// RESP test client
// ---------------------------------------------------------------------------

/// Why a reply could not be read.
#[derive(Debug)]
pub enum ReplyError {
    /// The peer closed the connection; `partial` holds unconsumed bytes.
    Eof { partial: Vec<u8> },
    /// Nothing complete arrived within the read timeout.
    Timeout { partial: Vec<u8> },
    /// Bytes that are not RESP.
    Malformed { reason: String, partial: Vec<u8> },
    /// Any other socket error (e.g. connection reset).
    Io(io::Error),
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Eof { partial } => {
                write!(f, "connection closed (unconsumed: \"{}\")", show(partial))
            }
            ReplyError::Timeout { partial } => {
                write!(f, "timed out (unconsumed: \"{}\")", show(partial))
            }
            ReplyError::Malformed { reason, partial } => {
                write!(f, "malformed reply: {reason} (\"{}\")", show(partial))
            }
            ReplyError::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// A blocking RESP client for tests. Replies are returned as the exact raw
/// bytes of one complete reply, RESP2 or RESP3, with nesting.
pub struct Client {
    stream: TcpStream,
    /// Received bytes; those before `start` were already returned.
    buf: Vec<u8>,
    /// Start of the first byte not yet returned as part of a reply.
    start: usize,
}

impl Client {
    /// Connects to 127.0.0.1:`port`, failing the test on error.
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Client {
            stream,
            buf: Vec::new(),
            start: 0,
        })
    }

    /// Changes the read timeout (the time one read may block).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.stream
            .set_read_timeout(Some(timeout))
            .expect("set_read_timeout");
    }

    /// A second handle on the socket, e.g. to write from another thread.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone stream")
    }

    /// Writes raw bytes, failing the test on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write of {} bytes failed: {e}", bytes.len()));
    }

    /// Writes raw bytes.
    pub fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Shuts down the sending side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Sends one request (array of bulks) and returns its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&encode(args));
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("no reply to {}: {e}", show(&encode(args))),
        }
    }

    /// Reads exactly one complete reply, failing the test on error.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads exactly one complete reply.
    pub fn try_read_reply(&mut self) -> Result<Vec<u8>, ReplyError> {
        let end = self.parse_value(self.start)?;
        Ok(self.consume(end))
    }

    /// Returns the received bytes from `start` to `end` and moves past them.
    fn consume(&mut self, end: usize) -> Vec<u8> {
        let reply = self.buf[self.start..end].to_vec();
        self.start = end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 1 << 20 {
            // Compact now and then rather than after every reply, so long
            // pipelines stay linear.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        reply
    }

    /// Waits up to `timeout` for the peer to close; true on EOF (or reset),
    /// false if data or nothing arrived. Received bytes are kept.
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.set_read_timeout(left);
            match self.fill() {
                Ok(()) => continue,
                Err(ReplyError::Eof { .. }) | Err(ReplyError::Io(_)) => return true,
                Err(_) => return false,
            }
        }
    }

    /// Bytes received but not consumed by a reply yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads more bytes into `buf`.
    fn fill(&mut self) -> Result<(), ReplyError> {
        const CHUNK: usize = 256 * 1024;
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        loop {
            match self.stream.read(&mut self.buf[old..]) {
                Ok(0) => {
                    self.buf.truncate(old);
                    return Err(ReplyError::Eof {
                        partial: self.buf[self.start..].to_vec(),
                    });
                }
                Ok(n) => {
                    self.buf.truncate(old + n);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    self.buf.truncate(old);
                    return Err(ReplyError::Timeout {
                        partial: self.buf[self.start..].to_vec(),
                    });
                }
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(ReplyError::Io(e));
                }
            }
        }
    }

    /// Makes sure `buf` holds at least `n` bytes.
    fn ensure(&mut self, n: usize) -> Result<(), ReplyError> {
        if self.buf.capacity() < n {
            self.buf.reserve(n - self.buf.len());
        }
        while self.buf.len() < n {
            self.fill()?;
        }
        Ok(())
    }

    /// Index of the CR of the first CRLF at or after `pos`.
    fn line_end(&mut self, pos: usize) -> Result<usize, ReplyError> {
        let mut from = pos;
        loop {
            if let Some(i) = self.buf[from..].windows(2).position(|w| w == b"\r\n") {
                return Ok(from + i);
            }
            from = self.buf.len().saturating_sub(1).max(pos);
            self.fill()?;
        }
    }

    fn malformed(&self, reason: &str) -> ReplyError {
        ReplyError::Malformed {
            reason: reason.to_string(),
            partial: self.buf[self.start..].to_vec(),
        }
    }

    /// Parses a signed decimal header field.
    fn number(&self, bytes_at: (usize, usize)) -> Result<i64, ReplyError> {
        let digits = &self.buf[bytes_at.0..bytes_at.1];
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| self.malformed("bad length or count"))
    }

    /// Parses one value starting at `pos`; returns the index just past it.
    fn parse_value(&mut self, pos: usize) -> Result<usize, ReplyError> {
        self.ensure(pos + 1)?;
        let kind = self.buf[pos];
        let eol = self.line_end(pos)?;
        let head = (pos + 1, eol);
        let next = eol + 2;
        let streamed = &self.buf[head.0..head.1] == b"?";
        match kind {
            // Simple types: the line is the whole value.
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Ok(next),
            // Blob string, blob error, verbatim string.
            b'$' | b'!' | b'=' => {
                if streamed {
                    return self.parse_streamed_string(next);
                }
                let len = self.number(head)?;
                if len < 0 {
                    return if len == -1 && kind == b'$' {
                        Ok(next)
                    } else {
                        Err(self.malformed("negative blob length"))
                    };
                }
                let end = next + len as usize;
                self.ensure(end + 2)?;
                if &self.buf[end..end + 2] != b"\r\n" {
                    return Err(self.malformed("blob not followed by CRLF"));
                }
                Ok(end + 2)
            }
            // Aggregates: array, set, push, map, attribute.
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let per_entry = if kind == b'%' || kind == b'|' { 2 } else { 1 };
                let mut at = next;
                if streamed {
                    loop {
                        self.ensure(at + 1)?;
                        if self.buf[at] == b'.' {
                            let e = self.line_end(at)?;
                            at = e + 2;
                            break;
                        }
                        for _ in 0..per_entry {
                            at = self.parse_value(at)?;
                        }
                    }
                } else {
                    let count = self.number(head)?;
                    if count < -1 || (count == -1 && kind != b'*') {
                        return Err(self.malformed("bad aggregate count"));
                    }
                    for _ in 0..count.max(0) * per_entry {
                        at = self.parse_value(at)?;
                    }
                }
                if kind == b'|' {
                    // An attribute is followed by the value it describes.
                    at = self.parse_value(at)?;
                }
                Ok(at)
            }
            _ => Err(self.malformed("unknown reply type byte")),
        }
    }

    /// Parses the `;<len>` chunks of a streamed string, ending at `;0`.
    fn parse_streamed_string(&mut self, mut at: usize) -> Result<usize, ReplyError> {
        loop {
            self.ensure(at + 1)?;
            if self.buf[at] != b';' {
                return Err(self.malformed("streamed string chunk without ';'"));
            }
            let eol = self.line_end(at)?;
            let len = self.number((at + 1, eol))?;
            if len < 0 {
                return Err(self.malformed("negative chunk length"));
            }
            if len == 0 {
                return Ok(eol + 2);
            }
            let end = eol + 2 + len as usize;
            self.ensure(end + 2)?;
            at = end + 2;
        }
    }
}

// ---------------------------------------------------------------------------
// memcached test client
// ---------------------------------------------------------------------------

/// A blocking memcached text-protocol client for tests, with its own reply
/// reader. One reply is one line (`STORED`, `ERROR`, a number, ...), or the
/// `VALUE` blocks of a retrieval up to and including `END`, or the `STAT`
/// lines of `stats` up to and including `END`; it is returned as raw bytes.
pub struct McClient {
    inner: Client,
}

impl McClient {
    /// Connects to 127.0.0.1:`port`, failing the test on error.
    pub fn connect(port: u16) -> McClient {
        McClient::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<McClient> {
        Ok(McClient {
            inner: Client::try_connect(port)?,
        })
    }

    /// Changes the read timeout (the time one read may block).
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.inner.set_read_timeout(timeout);
    }

    /// A second handle on the socket, e.g. to write from another thread.
    pub fn writer(&self) -> TcpStream {
        self.inner.writer()
    }

    /// Writes raw bytes, failing the test on error.
    pub fn send(&mut self, bytes: &[u8]) {
        self.inner.send(bytes);
    }

    /// Sends one request (raw bytes, CRLFs included) and returns its reply.
    pub fn cmd(&mut self, request: &[u8]) -> Vec<u8> {
        self.send(request);
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("no reply to \"{}\": {e}", show(request)),
        }
    }

    /// Reads exactly one complete reply, failing the test on error.
    pub fn read_reply(&mut self) -> Vec<u8> {
        match self.try_read_reply() {
            Ok(r) => r,
            Err(e) => panic!("reading a reply: {e}"),
        }
    }

    /// Reads exactly one complete reply.
    pub fn try_read_reply(&mut self) -> Result<Vec<u8>, ReplyError> {
        let c = &mut self.inner;
        let mut at = c.start;
        loop {
            c.ensure(at + 1)?;
            let eol = c.line_end(at)?;
            let line = &c.buf[at..eol];
            if line.starts_with(b"VALUE ") {
                // VALUE <key> <flags> <bytes> [<cas unique>]
                let len = line
                    .split(|&b| b == b' ')
                    .nth(3)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| t.parse::<usize>().ok())
                    .ok_or_else(|| c.malformed("bad VALUE line"))?;
                let end = eol + 2 + len;
                c.ensure(end + 2)?;
                if &c.buf[end..end + 2] != b"\r\n" {
                    return Err(c.malformed("data block not followed by CRLF"));
                }
                at = end + 2;
            } else if line.starts_with(b"STAT ") {
                at = eol + 2;
            } else {
                // END, or any reply that is a single line.
                at = eol + 2;
                break;
            }
        }
        Ok(c.consume(at))
    }

    /// Waits up to `timeout` for the peer to close; true on EOF (or reset),
    /// false if nothing arrived or the connection stays open. Received bytes
    /// are kept (see `pending`).
    pub fn wait_closed(&mut self, timeout: Duration) -> bool {
        self.inner.wait_closed(timeout)
    }

    /// Bytes received but not consumed by a reply yet.
    pub fn pending(&self) -> &[u8] {
        self.inner.pending()
    }
}

// ---------------------------------------------------------------------------
// external programs
// ---------------------------------------------------------------------------

/// Runs a command with a deadline; kills it (by PID) when it overruns.
/// Returns its output and whether it finished in time.
pub fn run_with_deadline(cmd: &mut Command, timeout: Duration) -> (Output, bool) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut in_time = true;
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() >= deadline {
            in_time = false;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        thread::sleep(POLL_INTERVAL);
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    (
        Output {
            status,
            stdout,
            stderr,
        },
        in_time,
    )
}
