//! The datastores behind the proxy: one `Datastore` life cycle (start on a
//! free loopback port, pause, resume, kill, restart, stop on drop) for every
//! kind, and per kind only what differs: the command line, the readiness
//! probe and the test client.
//!
//! ```text
//!   RedisServer     = Datastore<Redis>      redis-server, no persistence, Client
//!   MemcachedServer = Datastore<Memcached>  memcached, TCP only, McClient
//!   PasswordRedisServer = Datastore<PasswordRedis>
//!                                           redis-server with requirepass and an ACL user
//! ```

use std::fs;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{
    await_start, file_tail, free_port, raise_nofile_limit, require_program, Client, McClient,
    Start, TempDir, INSTALL_HINT, START_TIMEOUT,
};

/// What differs between the datastores the harness runs.
pub trait Kind {
    /// The program run; also names the log file and the error messages.
    const PROGRAM: &'static str;
    /// Arguments with which `PROGRAM` only prints its version (the
    /// "is it installed" check).
    const VERSION_ARGS: &'static [&'static str];
    /// The test client of the datastore's protocol.
    type Client;

    /// The command line of a datastore serving on 127.0.0.1:`port`, with
    /// `dir` as its working folder and `log` as its log file (stderr goes
    /// there too).
    fn command(port: u16, dir: &Path, log: &Path) -> Command;

    /// True when something on `port` answers like this datastore.
    fn ready(port: u16) -> bool;

    /// A new test client connected to 127.0.0.1:`port`.
    fn connect(port: u16) -> Self::Client;
}

/// `redis-server` without persistence.
pub struct Redis;

impl Kind for Redis {
    const PROGRAM: &'static str = "redis-server";
    const VERSION_ARGS: &'static [&'static str] = &["--version"];
    type Client = Client;

    fn command(port: u16, dir: &Path, log: &Path) -> Command {
        let mut cmd = Command::new(Self::PROGRAM);
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(log);
        cmd
    }

    fn ready(port: u16) -> bool {
        super::ping_ok(port)
    }

    fn connect(port: u16) -> Client {
        Client::connect(port)
    }
}

/// `requirepass` of a `PasswordRedisServer`.
pub const DATASTORE_PASSWORD: &str = "ds-Pw-4kq9";
/// The ACL user of a `PasswordRedisServer` and its password.
pub const DATASTORE_USER: &str = "app";
pub const DATASTORE_USER_PASSWORD: &str = "app-Pw-7zr2";

/// `redis-server` as `Redis`, with `requirepass DATASTORE_PASSWORD` and an
/// ACL user `DATASTORE_USER` (password `DATASTORE_USER_PASSWORD`, every key
/// and command).
pub struct PasswordRedis;

impl Kind for PasswordRedis {
    const PROGRAM: &'static str = "redis-server";
    const VERSION_ARGS: &'static [&'static str] = &["--version"];
    type Client = Client;

    fn command(port: u16, dir: &Path, log: &Path) -> Command {
        let mut cmd = Redis::command(port, dir, log);
        cmd.args(["--requirepass", DATASTORE_PASSWORD])
            .args(["--user", DATASTORE_USER, "on"])
            .arg(format!(">{DATASTORE_USER_PASSWORD}"))
            .args(["~*", "&*", "+@all"]);
        cmd
    }

    fn ready(port: u16) -> bool {
        let Ok(mut c) = Client::try_connect(port) else {
            return false;
        };
        c.set_read_timeout(Duration::from_secs(1));
        let mut req = super::encode(&[b"AUTH", DATASTORE_PASSWORD.as_bytes()]);
        req.extend(super::encode(&[b"PING"]));
        if c.try_send(&req).is_err() {
            return false;
        }
        matches!(c.try_read_reply(), Ok(r) if r == b"+OK\r\n")
            && matches!(c.try_read_reply(), Ok(r) if r == b"+PONG\r\n")
    }

    /// A client already authenticated as `default`.
    fn connect(port: u16) -> Client {
        let mut c = Client::connect(port);
        let r = c.cmd(&[b"AUTH", DATASTORE_PASSWORD.as_bytes()]);
        assert_eq!(r, b"+OK\r\n", "AUTH to the test redis");
        c
    }
}

/// A `redis-server` child with a password and an ACL user.
pub type PasswordRedisServer = Datastore<PasswordRedis>;

/// Largest item a test memcached stores (`-I`): room for 1 MB values.
pub const MEMCACHED_ITEM_MAX: &str = "2m";

/// `memcached` on TCP only (UDP off), one worker thread, items up to
/// `MEMCACHED_ITEM_MAX`.
pub struct Memcached;

impl Kind for Memcached {
    const PROGRAM: &'static str = "memcached";
    const VERSION_ARGS: &'static [&'static str] = &["-V"];
    type Client = McClient;

    fn command(port: u16, _dir: &Path, _log: &Path) -> Command {
        let mut cmd = Command::new(Self::PROGRAM);
        // memcached refuses to run as root unless told which user to be.
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.args(["-u", "root"]);
        }
        cmd.args([
            "-p",
            &port.to_string(),
            "-l",
            "127.0.0.1",
            "-U",
            "0",
            "-t",
            "1",
        ])
        .args(["-I", MEMCACHED_ITEM_MAX]);
        cmd
    }

    fn ready(port: u16) -> bool {
        mc_version_ok(port)
    }

    fn connect(port: u16) -> McClient {
        McClient::connect(port)
    }
}

/// A `redis-server` child on a free loopback port, without persistence.
pub type RedisServer = Datastore<Redis>;

/// A `memcached` child on a free loopback TCP port.
pub type MemcachedServer = Datastore<Memcached>;

/// A datastore child process of kind `K` on a free loopback port, in a
/// folder of its own. Dropping it kills it (SIGKILL, which also ends a
/// paused one).
pub struct Datastore<K: Kind> {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
    kind: PhantomData<K>,
}

impl<K: Kind> Datastore<K> {
    /// Starts a fresh datastore and waits until it answers.
    pub fn start() -> Datastore<K> {
        raise_nofile_limit();
        require_program(K::PROGRAM, K::VERSION_ARGS, INSTALL_HINT);
        let mut server = Datastore {
            port: 0,
            child: None,
            dir: TempDir::new(K::PROGRAM),
            kind: PhantomData,
        };
        // The port was free when picked but another process may take it
        // before the datastore binds it; try a few ports.
        for _ in 0..5 {
            server.port = free_port();
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "{} did not start; log:\n{}",
            K::PROGRAM,
            file_tail(&server.log_path())
        );
    }

    /// The TCP port the datastore listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new test client connected straight to this datastore.
    pub fn client(&self) -> K::Client {
        K::connect(self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(format!("{}.log", K::PROGRAM))
    }

    /// Spawns the datastore on `self.port`; true once it answers, false when
    /// it exited (e.g. port taken) or did not answer in time.
    fn spawn(&mut self) -> bool {
        debug_assert!(self.child.is_none());
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|e| panic!("{} log: {e}", K::PROGRAM));
        let child = K::command(self.port, self.dir.path(), &self.log_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {} ({e}); {INSTALL_HINT}", K::PROGRAM));
        self.child = Some(child);
        let port = self.port;
        await_start(&mut self.child, Duration::ZERO, || K::ready(port)) == Start::Serving
    }

    /// The PID of the running datastore.
    fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", K::PROGRAM))
            .id()
    }

    /// Sends `signal` to the running datastore.
    fn signal(&self, signal: libc::c_int) {
        super::signal_pid(self.pid(), signal);
    }

    /// Freezes the datastore (SIGSTOP): connections stay open, nothing is
    /// answered until `resume`. Waits until the process is stopped.
    pub fn pause(&self) {
        super::freeze_pid(self.pid(), K::PROGRAM);
    }

    /// Lets a paused datastore run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Kills the datastore (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::stop_child(&mut child, Duration::ZERO);
        }
    }

    /// Starts the datastore again, empty, on the same port (after `kill`).
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
            "{} did not restart on port {}; log:\n{}",
            K::PROGRAM,
            self.port,
            file_tail(&self.log_path())
        );
    }
}

impl<K: Kind> Drop for Datastore<K> {
    fn drop(&mut self) {
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
