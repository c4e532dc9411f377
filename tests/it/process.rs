//! The binary as an operator runs it: options, `-t`, daemon mode, pid file,
//! signals and the log file.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::conf::{addr, seed, server, ConfYaml, POOL};
use crate::harness::{
    free_port, ping_ok, run_with_deadline, wait_for, Client, RedisServer, TempDir, DYNOMITE_BIN,
};

const DEADLINE: Duration = Duration::from_secs(15);

fn dynomite(args: &[&str]) -> (i32, String) {
    let (out, in_time) = run_with_deadline(Command::new(DYNOMITE_BIN).args(args), DEADLINE);
    assert!(in_time, "dynomite {args:?} did not finish");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_conf(dir: &Path, redis_port: u16, listen_port: u16) -> String {
    let path = dir.join("node.yml");
    ConfYaml::new(POOL)
        .set("listen", addr(listen_port))
        .set("stats_listen", addr(free_port()))
        .list("servers", [server(redis_port)])
        .set("data_store", 0)
        .set("server_retry_timeout", 1000)
        .write(&path);
    path.to_string_lossy().into_owned()
}

fn kill(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) on a pid this test started.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Stops a daemon this test started, whatever happened.
struct DaemonGuard(i32);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if self.0 > 0 && alive(self.0) {
            kill(self.0, libc::SIGKILL);
        }
    }
}

#[test]
fn test_conf_accepts_every_shipped_and_original_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["conf", "tests/data/original-conf"] {
        for e in fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml") {
                let (code, err) = dynomite(&["-t", "-c", p.to_str().unwrap()]);
                assert_eq!(code, 0, "{}: {err}", p.display());
                assert!(err.contains("syntax is valid"), "{err}");
                n += 1;
            }
        }
    }
    assert!(n >= 20, "only {n} files checked");
}

#[test]
fn test_conf_names_the_file_the_key_and_the_reason() {
    let dir = TempDir::new("conf");
    let path = dir.path().join("bad.yml");
    // A port out of range.
    ConfYaml::new(POOL)
        .set("listen", "127.0.0.1:99999")
        .list("servers", [server(6379)])
        .write(&path);
    let p = path.to_str().unwrap();
    let (code, err) = dynomite(&["-t", "-c", p]);
    assert_eq!(code, 1);
    assert!(
        err.contains(p) && err.contains("listen") && err.contains("port"),
        "{err}"
    );
    assert_eq!(err.matches("syntax is invalid").count(), 1, "{err}");

    // Structural errors never crash the checker. These texts are not
    // configurations but malformed YAML, so they are written by hand.
    for text in [
        "--- \ndyn_o_mite:\n  listen: 1\n",
        "dyn_o_mite: {listen: 1}\n",
        "a: &x 1\nb: *x\n",
        "",
    ] {
        fs::write(&path, text).unwrap();
        let (code, err) = dynomite(&["-t", "-c", p]);
        assert_eq!(code, 1, "{text:?}: {err}");
        assert!(err.contains("syntax is invalid"), "{err}");
    }
    let (code, err) = dynomite(&["-t", "-c", "/nonexistent/dynomite.yml"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/dynomite.yml"), "{err}");
}

#[test]
fn informational_flags_and_option_errors() {
    let (code, err) = dynomite(&["-V"]);
    assert_eq!(code, 0);
    assert!(err.starts_with("This is dynomite-"), "{err}");
    let (code, err) = dynomite(&["-h"]);
    assert_eq!(code, 0);
    assert!(
        err.contains("--conf-file") && err.contains("--verbosity"),
        "{err}"
    );
    let (code, err) = dynomite(&["-v", "abc"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("dynomite: option -v requires a number"),
        "{err}"
    );
    let (code, err) = dynomite(&["-m", "100"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("mbuf chunk size must be between 512 and 512000 bytes"),
        "{err}"
    );
    let (code, err) = dynomite(&["-y"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("dynomite: invalid option -- 'y'"), "{err}");
}

#[test]
fn daemon_with_bad_config_fails_in_the_foreground() {
    let dir = TempDir::new("daemon-bad");
    let path = dir.path().join("bad.yml");
    ConfYaml::new(POOL)
        .list("servers", [server(6379)])
        .write(&path);
    let (code, err) = dynomite(&["-d", "-c", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("listen"), "{err}");
}

#[test]
fn daemon_writes_pid_file_serves_and_stops_cleanly_on_sigterm() {
    let redis = RedisServer::start();
    let dir = TempDir::new("daemon");
    let port = free_port();
    let conf = write_conf(dir.path(), redis.port(), port);
    let pid_path = dir.path().join("dynomite.pid");
    let log_path = dir.path().join("dynomite.log");
    let (code, err) = dynomite(&[
        "-d",
        "-c",
        &conf,
        "-p",
        pid_path.to_str().unwrap(),
        "-o",
        log_path.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "launcher: {err}");
    wait_for(DEADLINE, "the pid file", || {
        fs::read_to_string(&pid_path).is_ok_and(|s| s.parse::<i32>().is_ok())
    });
    let pid: i32 = fs::read_to_string(&pid_path).unwrap().parse().unwrap();
    let _guard = DaemonGuard(pid);
    wait_for(DEADLINE, "the daemon to serve", || {
        Client::try_connect(port).is_ok()
    });
    let mut c = Client::connect(port);
    assert_eq!(c.cmd(&[b"SET", b"k", b"v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    // SIGHUP reaches the daemon's handler (log reopen, TLS reload), not the
    // default action that would end it.
    kill(pid, libc::SIGHUP);
    wait_for(DEADLINE, "SIGHUP in the log", || {
        fs::read_to_string(&log_path).is_ok_and(|l| l.contains("SIGHUP"))
    });
    assert!(alive(pid), "SIGHUP ended the daemon");
    assert_eq!(c.cmd(&[b"GET", b"k"]), b"$1\r\nv\r\n");
    kill(pid, libc::SIGTERM);
    wait_for(DEADLINE, "the daemon to exit", || !alive(pid));
    assert!(!pid_path.exists(), "the pid file is removed on SIGTERM");
    let log = fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("SIGTERM"), "{log}");
}

#[test]
fn signals_reopen_the_log_and_change_the_level() {
    let redis = RedisServer::start();
    let dir = TempDir::new("signals");
    let port = free_port();
    let conf = write_conf(dir.path(), redis.port(), port);
    let log_path = dir.path().join("dynomite.log");
    let mut child = Command::new(DYNOMITE_BIN)
        .args(["-c", &conf, "-o", log_path.to_str().unwrap(), "-v", "5"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let _guard = DaemonGuard(pid);
    // The listener accepts before the signal handlers are installed, and
    // SIGTTIN's default action stops the process: wait for an answer.
    wait_for(DEADLINE, "the node to serve", || ping_ok(port));

    kill(pid, libc::SIGTTIN);
    wait_for(DEADLINE, "the level change", || {
        fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("up log level to 6")
    });
    // Pending signals of one kind merge: wait for each before the next.
    kill(pid, libc::SIGTTOU);
    wait_for(DEADLINE, "the level change", || {
        fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("down log level to 5")
    });
    kill(pid, libc::SIGTTOU);
    wait_for(DEADLINE, "the level change", || {
        fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("down log level to 4")
    });

    // logrotate moves the file away, then sends SIGHUP.
    let rotated = dir.path().join("dynomite.log.1");
    fs::rename(&log_path, &rotated).unwrap();
    kill(pid, libc::SIGHUP);
    wait_for(DEADLINE, "a new log file", || log_path.exists());
    assert!(fs::read_to_string(&rotated).unwrap().contains("SIGHUP"));

    kill(pid, libc::SIGINT);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGINT");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "SIGINT is a clean shutdown");
    assert!(fs::read_to_string(&log_path)
        .unwrap()
        .contains("done, rabbit done"));
}

#[test]
fn admin_mode_deletes_only_keys_this_node_owns() {
    let redis = RedisServer::start();
    let dir = TempDir::new("admin-mode");
    let port = free_port();
    let path = dir.path().join("node.yml");
    // Two nodes in one rack: this one owns (3579139412, 715827882], the seed
    // (never started) the rest. murmur("a") = 1262581116 is the seed's,
    // murmur("foo") = 3303027599 too, murmur("key:1") = 3691594071 is ours.
    ConfYaml::new(POOL)
        .set("listen", addr(port))
        .set("dyn_listen", addr(free_port()))
        .set("stats_listen", addr(free_port()))
        .set("tokens", "'715827882'")
        .list("servers", [server(redis.port())])
        .list(
            "dyn_seeds",
            [seed(free_port(), "localrack", "localdc", "3579139412")],
        )
        .write(&path);
    let mut child = Command::new(DYNOMITE_BIN)
        .args([
            "-c",
            path.to_str().unwrap(),
            "-x",
            "1",
            "-o",
            dir.path().join("log").to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = DaemonGuard(child.id() as i32);
    wait_for(DEADLINE, "the node to serve", || {
        Client::try_connect(port).is_ok()
    });
    let mut direct = redis.client();
    assert_eq!(direct.cmd(&[b"SET", b"key:1", b"v"]), b"+OK\r\n");
    let mut c = Client::connect(port);
    assert_eq!(c.cmd(&[b"DEL", b"key:1"]), b":1\r\n");
    assert_eq!(direct.cmd(&[b"EXISTS", b"key:1"]), b":0\r\n");
    assert_eq!(
        c.cmd(&[b"DEL", b"a"]),
        b"-ERR Dynomite: Invalid request in Dynomite's admin mode\r\n"
    );
    let _ = child.kill();
    let _ = child.wait();
}
