//! Shared harness for the integration tests: free loopback ports, real
//! datastores (`datastore.rs`: `redis-server` and `memcached`), the
//! `dynomite` binary under test (`dynomite.rs`, and several nodes wired
//! together in `cluster.rs`), the one writer of their YAML configurations
//! (`conf.rs`), and tiny synchronous RESP and memcached clients with their
//! own one-shot reply readers (`client.rs`).
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
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::thread;
use std::time::{Duration, Instant};

mod client;
pub mod cluster;
pub mod conf;
mod datastore;
mod dynomite;
pub mod peer;

pub use client::{Client, McClient, ReplyError};
pub use datastore::{
    MemcachedServer, PasswordRedisServer, RedisServer, DATASTORE_PASSWORD, DATASTORE_USER,
    DATASTORE_USER_PASSWORD,
};
pub use dynomite::{Dynomite, DynomiteProcess, DYNOMITE_BIN};

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

/// Kills a child by PID and reaps it: SIGKILL at once when `grace` is zero,
/// else SIGTERM first and SIGKILL after `grace`.
fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if !grace.is_zero() {
        let pid = child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the PID of our own, not yet reaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        // A process a test stopped (SIGSTOP) acts on SIGTERM once resumed.
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGCONT) };
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

/// Sends `signal` to a child of the test (by PID).
pub fn signal_pid(pid: u32, signal: libc::c_int) {
    // SAFETY: plain kill(2) on the PID of our own, not yet reaped child.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Freezes a child (SIGSTOP) and waits until it is stopped: kill(2) only
/// queues the signal, and the process may still answer the next request.
pub fn freeze_pid(pid: u32, what: &str) {
    signal_pid(pid, libc::SIGSTOP);
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
    panic!("{what} {pid} did not stop");
}

/// Outcome of one start attempt of a child process.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Start {
    /// It answers.
    Serving,
    /// It exited during start-up (e.g. a port was taken in the meantime),
    /// or could not be spawned.
    Exited,
    /// It ran but did not answer within `START_TIMEOUT`.
    Hung,
}

/// Waits up to `START_TIMEOUT` for `ready` to hold while the just spawned
/// `child` runs. A child that exits is reaped and taken (`Exited`); one that
/// is not ready in time is stopped with `stop_child(grace)` and taken
/// (`Hung`).
fn await_start(
    child: &mut Option<Child>,
    grace: Duration,
    mut ready: impl FnMut() -> bool,
) -> Start {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Some(c) = child.as_mut() {
            if let Ok(Some(_)) = c.try_wait() {
                *child = None;
                return Start::Exited;
            }
        }
        if ready() {
            return Start::Serving;
        }
        thread::sleep(POLL_INTERVAL);
    }
    if let Some(mut c) = child.take() {
        stop_child(&mut c, grace);
    }
    Start::Hung
}

/// True when something on `port` answers `PING` with `+PONG`: a node whose
/// event loop runs, not only one whose listener accepts.
pub fn ping_ok(port: u16) -> bool {
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(1));
    if c.try_send(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    matches!(c.try_read_reply(), Ok(r) if r == b"+PONG\r\n")
}

/// True when something on `port` answers PING with `+PONG`, or with the
/// `-NOAUTH` of a node or redis that wants a password first: either way it
/// serves.
pub fn ping_or_noauth_ok(port: u16) -> bool {
    let Ok(mut c) = Client::try_connect(port) else {
        return false;
    };
    c.set_read_timeout(Duration::from_secs(1));
    if c.try_send(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    matches!(c.try_read_reply(), Ok(r) if r == b"+PONG\r\n" || r.starts_with(b"-NOAUTH "))
}

/// Polls `f` every few milliseconds until it holds or `timeout` passes.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Waits until `cond` holds, failing the test with `what` after `timeout`.
pub fn wait_for(timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
    assert!(poll_until(timeout, cond), "timed out waiting for {what}");
}

/// One redis and a proxy in front of it.
pub fn single() -> (RedisServer, Dynomite) {
    let redis = RedisServer::start();
    let proxy = Dynomite::start(&[redis.port()]);
    (redis, proxy)
}

/// Deterministic filler bytes (all 256 values, no short period).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
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
// external programs
// ---------------------------------------------------------------------------

/// How long one client script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Folder of the client scripts (`tests/clients`) and their `node_modules`.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client program in `clients_dir()` with a deadline and returns its
/// stdout; fails the test (a proxy's log is printed when it is dropped) when
/// the program fails or overruns.
pub fn run_client(program: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(clients_dir());
    let (out, in_time) = run_with_deadline(&mut cmd, SCRIPT_TIMEOUT);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        in_time && out.status.success(),
        "`{program} {}` failed ({}{})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        args.join(" "),
        out.status,
        if in_time {
            ""
        } else {
            ", killed after the deadline"
        }
    );
    stdout
}

/// The `__version__` of the python3 module `module`; fails the test with
/// `hint` when python3 cannot be run or cannot import it.
pub fn python_module_version(module: &str, hint: &str) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import {module}; print({module}.__version__)"),
        ])
        .output()
        .unwrap_or_else(|e| panic!("python3 cannot be run ({e}); {hint}"));
    assert!(
        out.status.success(),
        "python3 cannot import {module}; {hint}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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
