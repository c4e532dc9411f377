//! The `dynomite` binary (dynomite.c): options, config, daemon, pid file,
//! then the event loop.

use std::process::exit;

use dynomite::cluster::seeds::{placement, ProviderConf};
use dynomite::cluster::topology::Topology;
use dynomite::conf::{Conf, Endpoint};
use dynomite::core::{Context, Listeners};
use dynomite::signal::Signals;
use dynomite::sys;
use dynomite::{logging, options, proxy, VERSION};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = match options::parse(&args) {
        Ok(o) => o,
        Err(msg) => {
            eprintln!("{msg}");
            eprint!("{}", options::usage());
            exit(1);
        }
    };
    for w in &opts.warnings {
        eprintln!("{w}");
    }
    if opts.help || opts.version || opts.describe_stats {
        eprintln!("This is dynomite-{VERSION}");
        eprintln!();
        if opts.help {
            eprint!("{}", options::usage());
        }
        if opts.describe_stats {
            eprint!("{}", dynomite::stats::describe());
        }
        exit(0);
    }
    if opts.test_conf {
        match Conf::load(&opts.conf_file) {
            Ok(mut conf) => {
                for w in &conf.warnings {
                    eprintln!("dynomite: warning: {w}");
                }
                let checked = topology_of(&mut conf.pool);
                if let Ok((_, Some(placed))) = &checked {
                    eprintln!("dynomite: {placed}");
                }
                if let Err(e) = checked.map(|_| ()).and_then(|()| tls_of(&conf.pool)) {
                    eprintln!("dynomite: configuration file '{}': {}", opts.conf_file, e);
                    eprintln!(
                        "dynomite: configuration file '{}' syntax is invalid",
                        opts.conf_file
                    );
                    exit(1);
                }
                eprintln!(
                    "dynomite: configuration file '{}' syntax is valid",
                    opts.conf_file
                );
                exit(0);
            }
            Err(e) => {
                eprintln!("dynomite: {e}");
                eprintln!(
                    "dynomite: configuration file '{}' syntax is invalid",
                    opts.conf_file
                );
                exit(1);
            }
        }
    }
    exit(run(opts));
}

/// The pool's topology (refused when larger than a routing plan holds),
/// after the node took its place from its ordinal when the DNS A-record
/// convention asks for it, and with the seed provider's settings checked.
/// Also returns a line saying where the convention placed the node.
fn topology_of(pool: &mut dynomite::conf::PoolConf) -> Result<(Topology, Option<String>), String> {
    let env = |k: &str| std::env::var(k).ok();
    let mut placed = None;
    if let Some((rack, token, ordinal)) = placement::local_placement(pool, &env)? {
        placed = Some(format!(
            "ordinal {ordinal}: rack '{rack}', token {token} (DNS A-record placement)"
        ));
        pool.rack = rack;
        pool.tokens = vec![token];
    }
    ProviderConf::from_env(pool, &env)?;
    Ok((Topology::from_conf(pool)?, placed))
}

/// Reads the TLS certificate, key and CA files the pool names (a file that
/// cannot be used fails in the foreground, before the node starts).
fn tls_of(pool: &dynomite::conf::PoolConf) -> Result<(), String> {
    dynomite::tls::TlsConfigs::load(&pool.tls)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Starts the node; returns the exit status.
fn run(opts: options::Options) -> i32 {
    // Configuration first, so that `-d` with a bad file fails in the foreground.
    let mut conf = match Conf::load(&opts.conf_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("dynomite: {e}");
            eprintln!(
                "dynomite: configuration file '{}' syntax is invalid",
                opts.conf_file
            );
            return 1;
        }
    };
    apply_stats_options(&opts, &mut conf);
    let (topology, placed) = match topology_of(&mut conf.pool) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("dynomite: configuration file '{}': {}", opts.conf_file, e);
            return 1;
        }
    };
    // The peer key is checked here too, so that a node that cannot encrypt
    // fails in the foreground; Context::start loads it again.
    let mbuf_size = conf.mbuf_size_or(opts.mbuf_size);
    if let Err(e) = dynomite::dnode::crypto::PeerKey::for_node(&conf.pool, mbuf_size) {
        eprintln!("dynomite: configuration file '{}': {}", opts.conf_file, e);
        return 1;
    }
    if let Err(e) = tls_of(&conf.pool) {
        eprintln!("dynomite: configuration file '{}': {}", opts.conf_file, e);
        return 1;
    }
    if let Err(e) = logging::init(opts.verbosity as usize, opts.output.as_deref()) {
        eprintln!(
            "opening log file '{}' failed: {}",
            opts.output.as_deref().unwrap_or("-"),
            e
        );
        return 1;
    }
    if let Some(placed) = placed {
        log::info!("{placed}");
    }
    raise_nofile_limit();
    // Handlers go in before anything listens: a signal that arrives as soon
    // as the first client connects (SIGTTIN from a test, SIGTERM from a
    // supervisor) must find them, not the default action that would stop
    // or kill the process. They survive daemonizing.
    let signals = match Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("signal setup failed: {e}");
            eprintln!("dynomite: signal setup failed: {e}");
            return 1;
        }
    };
    let pool = &conf.pool;
    let listener = match proxy::bind(&pool.listen, pool.backlog) {
        Ok(l) => l,
        Err(e) => {
            log::error!(
                "bind on '{}' failed: {}",
                proxy::endpoint_name(&pool.listen),
                e
            );
            eprintln!(
                "dynomite: bind on '{}' failed: {}",
                proxy::endpoint_name(&pool.listen),
                e
            );
            return 1;
        }
    };
    let peer_listener = match &pool.dyn_listen {
        Some(e) => match proxy::bind(e, pool.backlog) {
            Ok(l) => Some(l),
            Err(err) => {
                eprintln!(
                    "dynomite: bind on '{}' failed: {}",
                    proxy::endpoint_name(e),
                    err
                );
                return 1;
            }
        },
        None => None,
    };
    let stats_listener = match proxy::bind(&pool.stats_listen, pool.backlog) {
        Ok(l) => l,
        Err(err) => {
            let name = proxy::endpoint_name(&pool.stats_listen);
            eprintln!("dynomite: bind on '{name}' (stats_listen) failed: {err}");
            return 1;
        }
    };
    if opts.daemonize {
        if let Err(e) = dynomite::daemon::daemonize(opts.output.is_some()) {
            eprintln!("dynomite: daemonize failed: {e}");
            return 1;
        }
    }
    let pid_file = opts.pid_file.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, std::process::id().to_string()) {
            log::error!("opening pid file '{p}' failed: {e}");
            eprintln!("opening pid file '{p}' failed: {e}");
            return 1;
        }
    }
    let listeners = Listeners {
        client: listener,
        stats: stats_listener,
        peer: peer_listener,
    };
    let status = serve(&opts, &conf, topology, listeners, signals);
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::remove_file(p) {
            log::error!("unlink of pid file '{p}' failed, ignored: {e}");
        }
    }
    if let Endpoint::Unix(path) = &conf.pool.listen {
        let _ = std::fs::remove_file(path);
    }
    logging::always("done, rabbit done");
    status
}

fn serve(
    opts: &options::Options,
    conf: &Conf,
    topology: Topology,
    listeners: Listeners,
    signals: Signals,
) -> i32 {
    let pool = &conf.pool;
    let mbuf_size = conf.mbuf_size_or(opts.mbuf_size);
    let max_msgs = conf.max_msgs_or(opts.max_msgs);
    logging::always(&format!(
        "dynomite-{} started on pid {} (pool '{}', mbuf_size {}, max_msgs {})",
        VERSION,
        std::process::id(),
        pool.name,
        mbuf_size,
        max_msgs
    ));
    for w in &conf.warnings {
        log::warn!("{w}");
    }
    let Ok(mut ctx) = Context::start(
        conf,
        topology,
        listeners,
        mbuf_size,
        max_msgs,
        opts.admin_op,
    ) else {
        return 1;
    };
    if let Err(e) = ctx.set_signals(signals) {
        log::error!("signal pipe setup failed: {e}");
        return 1;
    }
    // Checked by topology_of before anything started.
    if let Ok(Some(seeds)) = ProviderConf::from_env(pool, &|k| std::env::var(k).ok()) {
        if let Err(e) = ctx.start_seeds(seeds) {
            log::error!("seed provider start failed: {e}");
            return 1;
        }
    }
    match ctx.run() {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// `-s`, `-a` and `-i` override `stats_listen` and `stats_interval`.
fn apply_stats_options(opts: &options::Options, conf: &mut Conf) {
    let pool = &mut conf.pool;
    if let Some(i) = opts.stats_interval {
        pool.stats_interval_ms = i;
    }
    if opts.stats_port.is_none() && opts.stats_addr.is_none() {
        return;
    }
    let (host, port) = match &pool.stats_listen {
        Endpoint::Tcp { host, port, .. } => (host.clone(), *port),
        Endpoint::Unix(_) => ("0.0.0.0".to_string(), 22222),
    };
    let host = opts.stats_addr.clone().unwrap_or(host);
    let port = opts.stats_port.unwrap_or(port);
    if let Ok(e) = Endpoint::parse_listen(&format!("{host}:{port}")) {
        pool.stats_listen = e;
    }
}

/// Raises the open-files soft limit to the hard limit: every client and
/// datastore connection is a descriptor.
fn raise_nofile_limit() {
    if let Ok(mut rl) = sys::nofile_limit() {
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            let _ = sys::set_nofile_limit(&rl);
        }
    }
}
