//! Daemonizing (dynomite.c `dn_daemonize`): the classic double fork.

use std::io;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Detaches from the terminal: fork, setsid, fork again; the working directory
/// is kept (relative paths in the configuration keep working); stdin and
/// stdout go to /dev/null, and stderr too unless `keep_stderr` is false...
/// stderr always goes to /dev/null when a log file is given.
pub fn daemonize(has_log_file: bool) -> io::Result<()> {
    // SAFETY: fork/setsid/umask/open/dup2/close are called with valid
    // arguments; the process is single-threaded at this point.
    unsafe {
        match check(libc::fork())? {
            0 => {}
            _ => libc::_exit(0),
        }
        check(libc::setsid())?;
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        match check(libc::fork())? {
            0 => {}
            _ => libc::_exit(0),
        }
        libc::signal(libc::SIGHUP, libc::SIG_DFL);
        libc::umask(0);
        let fd = check(libc::open(c"/dev/null".as_ptr(), libc::O_RDWR))?;
        check(libc::dup2(fd, libc::STDIN_FILENO))?;
        check(libc::dup2(fd, libc::STDOUT_FILENO))?;
        if has_log_file {
            check(libc::dup2(fd, libc::STDERR_FILENO))?;
        }
        if fd > libc::STDERR_FILENO {
            libc::close(fd);
        }
    }
    Ok(())
}
