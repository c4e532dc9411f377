//! Daemonizing (dynomite.c `dn_daemonize`): the classic double fork.

use std::io;

use crate::sys::{self, Disposition};

/// Detaches from the terminal: fork, setsid, fork again; the working directory
/// is kept (relative paths in the configuration keep working); stdin and
/// stdout go to /dev/null, and stderr too unless `keep_stderr` is false...
/// stderr always goes to /dev/null when a log file is given.
pub fn daemonize(has_log_file: bool) -> io::Result<()> {
    // The process is single-threaded at this point, as fork requires.
    sys::fork_exit_parent()?;
    sys::setsid()?;
    // The session leader's exit sends SIGHUP to the second child: ignore it
    // across the fork, then put back what was there (the handler that
    // reopens the log and reloads TLS certificates), not SIG_DFL, which
    // would make a later SIGHUP kill the daemon.
    let hup = sys::signal_swap(libc::SIGHUP, Disposition::Ignore);
    sys::fork_exit_parent()?;
    sys::signal_restore(libc::SIGHUP, hup);
    sys::umask(0);
    let fd = sys::open_dev_null()?;
    sys::dup2(fd, libc::STDIN_FILENO)?;
    sys::dup2(fd, libc::STDOUT_FILENO)?;
    if has_log_file {
        sys::dup2(fd, libc::STDERR_FILENO)?;
    }
    if fd > libc::STDERR_FILENO {
        sys::close(fd);
    }
    Ok(())
}
