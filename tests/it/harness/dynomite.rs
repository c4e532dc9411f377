//! The `dynomite` binary under test: `DynomiteProcess`, one process with its
//! folder (configuration, log and stderr files), shared by `Dynomite` (a
//! single proxy in front of datastores) and the cluster harness's nodes.

use std::env;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use super::conf::{addr, server, ConfYaml, POOL};
use super::{
    await_start, direct_mode, encode, file_tail, free_port, raise_nofile_limit, stop_child, Client,
    McClient, Start, TempDir,
};

/// The binary under test.
pub const DYNOMITE_BIN: &str = env!("CARGO_BIN_EXE_dynomite");

/// How long a stopped node may take to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// One `dynomite` process and its folder: `dynomite.yml` (its
/// configuration), `dynomite.log` (`-o`) and `stderr.log`. `DYN_TEST_VERBOSITY`
/// is passed on as `-v`. Dropping it stops the process (SIGTERM, then
/// SIGKILL after a grace period).
pub struct DynomiteProcess {
    dir: TempDir,
    child: Option<Child>,
    /// Command-line arguments added after `-c` and `-o` (e.g. `-v 11`).
    args: Vec<String>,
    /// Environment variables added to the process's (seed providers).
    env: Vec<(String, String)>,
}

impl DynomiteProcess {
    /// A process not started yet, in a new folder named after `prefix`.
    pub fn new(prefix: &str) -> DynomiteProcess {
        DynomiteProcess {
            dir: TempDir::new(prefix),
            child: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for the next launches.
    pub fn set_env(&mut self, key: &str, value: impl ToString) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_string(), value.to_string()));
    }

    /// Path of the configuration file.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.path().join("dynomite.yml")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("dynomite.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("stderr.log")
    }

    /// Writes the configuration file.
    pub fn write_conf(&self, conf: &ConfYaml) {
        conf.write(&self.conf_path());
    }

    /// The configuration file's text (for failure reports).
    pub fn conf_text(&self) -> String {
        fs::read_to_string(self.conf_path()).unwrap_or_default()
    }

    /// Spawns the process without waiting for it.
    pub fn launch(&mut self) -> io::Result<()> {
        debug_assert!(self.child.is_none());
        let mut cmd = Command::new(DYNOMITE_BIN);
        cmd.arg("-c").arg(self.conf_path());
        cmd.arg("-o").arg(self.log_path());
        cmd.args(&self.args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Ok(v) = env::var("DYN_TEST_VERBOSITY") {
            cmd.args(["-v", &v]);
        }
        let stderr = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr))
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until `ready` holds while the launched process runs; a process
    /// that does not get ready in time is stopped.
    pub fn await_start(&mut self, ready: impl FnMut() -> bool) -> Start {
        await_start(&mut self.child, STOP_GRACE, ready)
    }

    /// `launch`, then `await_start`; a failed spawn counts as an exit.
    pub fn start(&mut self, ready: impl FnMut() -> bool) -> Start {
        if let Err(e) = self.launch() {
            eprintln!("cannot spawn dynomite: {e}");
            return Start::Exited;
        }
        self.await_start(ready)
    }

    /// True while a started process has not been killed or stopped.
    pub fn is_started(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the process (SIGKILL) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Duration::ZERO);
        }
    }

    /// Stops the process (SIGTERM, then SIGKILL after a grace period).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, STOP_GRACE);
        }
    }

    /// Freezes the process (SIGSTOP): its sockets stay open, and the kernel
    /// still completes connects to its listeners, but it reads nothing
    /// until `resume`. Waits until the process is stopped.
    pub fn pause(&self) {
        let pid = self.child.as_ref().expect("dynomite is running").id();
        super::freeze_pid(pid, "dynomite");
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Sends `signal` to the running process (SIGHUP: reload; SIGSTOP,
    /// SIGCONT: `pause`, `resume`); returns its PID.
    pub fn signal(&self, signal: libc::c_int) -> u32 {
        let pid = self.child.as_ref().expect("dynomite is running").id();
        super::signal_pid(pid, signal);
        pid
    }

    /// The whole log file.
    pub fn full_log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The tail of the log file.
    pub fn log(&self) -> String {
        file_tail(&self.log_path())
    }

    /// Adds command-line arguments for the next launch (e.g. `["-v", "11"]`).
    pub fn add_args(&mut self, args: &[&str]) {
        self.args.extend(args.iter().map(|a| a.to_string()));
    }

    /// The whole log file (not only its tail), empty when there is none.
    pub fn log_all(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The tail of stderr.
    pub fn stderr(&self) -> String {
        file_tail(&self.stderr_path())
    }
}

impl Drop for DynomiteProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `dynomite` binary under test, configured in front of redis servers
/// (or memcached servers, see `start_memcached`).
pub struct Dynomite {
    port: u16,
    stats_port: u16,
    process: DynomiteProcess,
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

    /// Starts the proxy; `memcached` (`data_store: 1`) probes readiness
    /// with memcached requests.
    fn launch(
        servers: &[u16],
        extra: &[(&str, &str)],
        seeds: &[String],
        memcached: bool,
    ) -> Dynomite {
        assert!(!servers.is_empty(), "a proxy needs at least one server");
        raise_nofile_limit();
        let mut node = Dynomite {
            port: 0,
            stats_port: 0,
            process: DynomiteProcess::new("dynomite"),
        };
        if direct_mode() {
            node.port = servers[0];
            return node;
        }
        // A port picked as free may be taken before the proxy binds it; an
        // early exit is retried on new ports, a proxy that hangs is not.
        for attempt in 1..=3 {
            node.port = free_port();
            node.stats_port = free_port();
            node.write_conf(servers, extra, seeds);
            let port = node.port;
            let started = node.process.start(|| {
                if memcached {
                    serves_mc_keys(port)
                } else {
                    serves_keys(port)
                }
            });
            if started == Start::Serving {
                return node;
            }
            eprintln!(
                "dynomite failed to start (attempt {attempt}: {started:?}); config:\n{}log:\n{}\nstderr:\n{}",
                node.process.conf_text(),
                node.process.log(),
                node.process.stderr()
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

    /// The tail of the proxy's log file.
    pub fn log(&self) -> String {
        if !self.process.is_started() && direct_mode() {
            return "(direct mode: no proxy running)".to_string();
        }
        self.process.log()
    }

    /// Prints the tail of the proxy's log (and of its stderr) to stderr.
    pub fn dump_log(&self) {
        eprintln!(
            "---- dynomite :{} log ----\n{}\n-- stderr --\n{}",
            self.port,
            self.log(),
            self.process.stderr()
        );
    }

    fn write_conf(&self, servers: &[u16], extra: &[(&str, &str)], seeds: &[String]) {
        let conf = ConfYaml::new(POOL)
            .set("listen", addr(self.port))
            .set("stats_listen", addr(self.stats_port))
            .set("data_store", 0)
            .set("timeout", 5000)
            .set("datastore_connections", 1)
            .set_all(extra)
            .list("servers", servers.iter().map(|&port| server(port)))
            .list("dyn_seeds", seeds);
        self.process.write_conf(&conf);
    }
}

impl Drop for Dynomite {
    fn drop(&mut self) {
        if thread::panicking() && self.process.is_started() {
            self.dump_log();
        }
        // The process stops itself when it is dropped.
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
