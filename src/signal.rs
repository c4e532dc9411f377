//! Signals (dyn_signal.c). Handlers only write the signal number into a pipe
//! that the event loop reads, so every action runs on the loop's thread.
//!
//! | signal | action |
//! |---|---|
//! | SIGTERM, SIGINT | graceful shutdown: stop, remove the pid file, exit 0 |
//! | SIGHUP | reopen the log file; reload the TLS certificates and keys |
//! | SIGTTIN / SIGTTOU | raise / lower the log level |
//! | SIGUSR1, SIGUSR2 | logged |
//! | SIGPIPE | ignored |

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use log::info;

use crate::logging;
use crate::sys;

/// Write end of the signal pipe, for the handler (the only global: a signal
/// handler has nowhere else to look).
static PIPE_WR: AtomicI32 = AtomicI32::new(-1);

/// What the loop must do after reading the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    Shutdown,
    /// SIGHUP: read the TLS certificates and keys again (tls.rs).
    Reload,
    Other,
}

/// The read end of the signal pipe.
pub struct Signals {
    rx: mio::unix::pipe::Receiver,
    _tx: mio::unix::pipe::Sender,
}

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WR.load(Ordering::Relaxed);
    if fd >= 0 {
        sys::write_byte(fd, sig as u8);
    }
}

/// Handled signals.
const HANDLED: [libc::c_int; 7] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

impl Signals {
    /// Installs the handlers.
    pub fn install() -> io::Result<Signals> {
        let (tx, rx) = mio::unix::pipe::new()?;
        PIPE_WR.store(tx.as_raw_fd(), Ordering::Relaxed);
        sys::ignore(libc::SIGPIPE)?;
        for sig in HANDLED {
            sys::set_handler(sig, on_signal)?;
        }
        Ok(Signals { rx, _tx: tx })
    }

    /// The source to register with the loop.
    pub fn source(&mut self) -> &mut mio::unix::pipe::Receiver {
        &mut self.rx
    }

    /// Reads every pending signal and performs the logging actions.
    pub fn drain(&mut self) -> Vec<SignalAction> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match self.rx.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        out.push(handle(b as libc::c_int));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        out
    }
}

fn handle(sig: libc::c_int) -> SignalAction {
    match sig {
        libc::SIGTERM => {
            logging::always("signal 15 (SIGTERM) received, shutting down");
            SignalAction::Shutdown
        }
        libc::SIGINT => {
            logging::always("signal 2 (SIGINT) received, shutting down");
            SignalAction::Shutdown
        }
        libc::SIGHUP => {
            logging::always("signal 1 (SIGHUP) received, reopening log file");
            logging::reopen();
            SignalAction::Reload
        }
        libc::SIGTTIN => {
            logging::always("signal 21 (SIGTTIN) received, up logging level");
            let l = logging::level_up();
            logging::always(&format!("up log level to {l}"));
            SignalAction::Other
        }
        libc::SIGTTOU => {
            logging::always("signal 22 (SIGTTOU) received, down logging level");
            let l = logging::level_down();
            logging::always(&format!("down log level to {l}"));
            SignalAction::Other
        }
        libc::SIGUSR1 => {
            info!("signal 10 (SIGUSR1) received");
            SignalAction::Other
        }
        libc::SIGUSR2 => {
            info!("signal 12 (SIGUSR2) received");
            SignalAction::Other
        }
        _ => SignalAction::Other,
    }
}
